//! Counters and histograms for `/metrics` (Prometheus text format 0.0.4): attempts by domain, interface and
//! outcome kind; latency histograms by interface; HTTP requests by route and status; Postfix lookups by
//! reply; audit rows dropped.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::core::Interface;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// The service's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    attempts: Mutex<BTreeMap<(String, Interface, &'static str), u64>>,
    latency: Mutex<BTreeMap<Interface, Histogram>>,
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    lookups: Mutex<BTreeMap<&'static str, u64>>,
    throttled: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Audit rows dropped because the store could not keep up or failed.
    pub audit_dropped: AtomicU64,
    /// Audit rows written.
    pub audit_written: AtomicU64,
    /// Configuration reloads, by result.
    pub reloads_ok: AtomicU64,
    /// Reloads refused.
    pub reloads_failed: AtomicU64,
}

impl Metrics {
    /// One authentication attempt and how long it took.
    pub fn attempt(&self, domain: &str, interface: Interface, outcome: &'static str, took: Duration) {
        *lock(&self.attempts).entry((domain.to_owned(), interface, outcome)).or_default() += 1;
        lock(&self.latency).entry(interface).or_default().observe(took.as_secs_f64());
    }

    /// One login held back by the throttle, by domain and why (`unfamiliar`, `account`, `network`).
    pub fn throttled(&self, domain: &str, hold: crate::throttle::Hold) {
        use crate::throttle::Hold;
        let why = match hold {
            Hold::Unfamiliar { .. } => "unfamiliar",
            Hold::Account { .. } => "account",
            Hold::Network { .. } => "network",
            Hold::InFlight => "in-flight",
        };
        *lock(&self.throttled).entry((domain.to_owned(), why)).or_default() += 1;
    }

    /// One HTTP request, by matched route and status.
    pub fn request(&self, route: &str, status: u16) {
        *lock(&self.requests).entry((route.to_owned(), status)).or_default() += 1;
    }

    /// One socketmap lookup, by its reply.
    pub fn lookup(&self, reply: &crate::socketmap::Reply) {
        *lock(&self.lookups).entry(reply.outcome()).or_default() += 1;
    }

    /// The text exposition, with `extra` lines (gauges computed at scrape time) appended.
    pub fn render(&self, extra: &str) -> String {
        let mut out = String::new();
        out.push_str("# HELP dirconn_auth_attempts_total Authentication attempts by domain, interface and outcome.\n");
        out.push_str("# TYPE dirconn_auth_attempts_total counter\n");
        for ((domain, interface, outcome), n) in lock(&self.attempts).iter() {
            let _ = writeln!(
                out,
                "dirconn_auth_attempts_total{{domain=\"{}\",interface=\"{}\",outcome=\"{outcome}\"}} {n}",
                label(domain),
                interface.name()
            );
        }
        out.push_str("# HELP dirconn_auth_duration_seconds Time to answer an authentication attempt.\n");
        out.push_str("# TYPE dirconn_auth_duration_seconds histogram\n");
        for (interface, h) in lock(&self.latency).iter() {
            let i = interface.name();
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(out, "dirconn_auth_duration_seconds_bucket{{interface=\"{i}\",le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(out, "dirconn_auth_duration_seconds_bucket{{interface=\"{i}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "dirconn_auth_duration_seconds_sum{{interface=\"{i}\"}} {}", h.sum);
            let _ = writeln!(out, "dirconn_auth_duration_seconds_count{{interface=\"{i}\"}} {}", h.count);
        }
        out.push_str("# HELP dirconn_http_requests_total HTTP API requests by route and status.\n");
        out.push_str("# TYPE dirconn_http_requests_total counter\n");
        for ((route, status), n) in lock(&self.requests).iter() {
            let _ = writeln!(out, "dirconn_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}", label(route));
        }
        out.push_str("# HELP dirconn_postfix_lookups_total Postfix socketmap lookups by reply.\n");
        out.push_str("# TYPE dirconn_postfix_lookups_total counter\n");
        for (outcome, n) in lock(&self.lookups).iter() {
            let _ = writeln!(out, "dirconn_postfix_lookups_total{{outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP dirconn_throttled_total Logins held back by the throttle, by domain and reason.\n");
        out.push_str("# TYPE dirconn_throttled_total counter\n");
        for ((domain, why), n) in lock(&self.throttled).iter() {
            let _ = writeln!(out, "dirconn_throttled_total{{domain=\"{}\",reason=\"{why}\"}} {n}", label(domain));
        }
        for (name, help, value) in [
            ("dirconn_audit_rows_written_total", "Audit rows written to the store.", &self.audit_written),
            ("dirconn_audit_rows_dropped_total", "Audit rows lost (store down or too slow).", &self.audit_dropped),
            ("dirconn_reloads_total", "Configuration reloads put in force.", &self.reloads_ok),
            ("dirconn_reloads_failed_total", "Configuration reloads refused.", &self.reloads_failed),
        ] {
            let _ =
                writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Ordering::Relaxed));
        }
        out.push_str(extra);
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A label value escaped for the text format.
pub fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_and_histograms_render() {
        let m = Metrics::default();
        m.attempt("example.org", Interface::Http, "ok", Duration::from_millis(3));
        m.attempt("example.org", Interface::Http, "invalid-credentials", Duration::from_millis(30));
        let text = m.render("");
        assert!(
            text.contains("dirconn_auth_attempts_total{domain=\"example.org\",interface=\"http\",outcome=\"ok\"} 1")
        );
        assert!(text.contains("dirconn_auth_duration_seconds_bucket{interface=\"http\",le=\"0.005\"} 1"));
        assert!(text.contains("dirconn_auth_duration_seconds_count{interface=\"http\"} 2"));
        assert_eq!(label("a\"b"), "a\\\"b");
    }
}
