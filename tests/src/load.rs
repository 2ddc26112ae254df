//! A load of logins on `dirconn serve`: keep-alive clients sending `POST /v1/auth` for generated slapd users
//! (right passwords) until stopped, each answer kept with its time and latency; and the service's RSS,
//! sampled. Used by tests/faults.rs (seconds of load around each fault) and `cargo xtask load` (the long run).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use serde_json::json;

use crate::{http::Http, slapd};

/// One answer.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// When it was sent, from the load's start.
    pub at: Duration,
    /// The status (0: no answer, the connection failed).
    pub status: u16,
    /// How long it took.
    pub latency: Duration,
}

/// A running load.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Sample>>>,
    started: Instant,
}

impl Load {
    /// Starts `clients` clients of `addr` (with the mail-server `token`) logging in users 1 to `users` in turn;
    /// `login` names user n (`slapd::generated_uid`, maybe with `@domain`).
    pub fn start(addr: SocketAddr, token: &str, clients: usize, users: usize, login: fn(usize) -> String) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let threads = (0..clients)
            .map(|_| {
                let (stop, next, token) = (Arc::clone(&stop), Arc::clone(&next), token.to_owned());
                std::thread::spawn(move || {
                    let mut http = Http::new(addr).with_token(&token).with_timeout(Duration::from_secs(30));
                    let mut samples = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let n = 1 + next.fetch_add(1, Ordering::Relaxed) % users;
                        let body = json!({ "login": login(n), "password": slapd::generated_password(n) });
                        let t = Instant::now();
                        let bytes = serde_json::to_vec(&body).expect("JSON");
                        let headers = [("Content-Type", "application/json")];
                        let status = http.send("POST", "/v1/auth", &headers, Some(&bytes)).map_or(0, |r| r.status);
                        samples.push(Sample { at: t - started, status, latency: t.elapsed() });
                        if status == 0 {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                    samples
                })
            })
            .collect();
        Load { stop, threads, started }
    }

    /// How long it has run.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops the clients and returns every answer, in time order.
    pub fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all: Vec<Sample> = self.threads.into_iter().flat_map(|t| t.join().expect("a load client")).collect();
        all.sort_by_key(|s| s.at);
        all
    }
}

/// Answers by status.
pub fn statuses(samples: &[Sample]) -> BTreeMap<u16, usize> {
    let mut out = BTreeMap::new();
    for s in samples {
        *out.entry(s.status).or_default() += 1;
    }
    out
}

/// The `q` quantile of the latencies (0 for none).
pub fn quantile(samples: &[Sample], q: f64) -> Duration {
    let mut l: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    l.sort_unstable();
    l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1))).copied().unwrap_or_default()
}

/// The answers sent between `from` and `to` (from the load's start).
pub fn between(samples: &[Sample], from: Duration, to: Duration) -> Vec<Sample> {
    samples.iter().filter(|s| s.at >= from && s.at < to).copied().collect()
}

/// The resident set size of a process, in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").to_owned()))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
