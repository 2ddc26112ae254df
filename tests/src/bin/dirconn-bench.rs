//! `dirconn-bench`: dirconn and a reference side by side in one run (driven by `cargo xtask bench`).
//!
//! - `auth`: one slapd with generated users; concurrent clients log random users in, (a) with raw ldap3
//!   (pooled service connections for the search, a fresh connection for the user bind) and (b) through the
//!   host and the loaded `ldap` cdylib. Rounds alternate; the median round of each side is reported.
//! - `abi`: a trivial async call (`lookup_user` of the echo fixture) with many in flight, through the loaded
//!   cdylib vs the same connector called in-process.
//!
//! Each benchmark ends with `bench <name>: ours=<value><unit> reference=<value><unit> ratio=<ours/reference>`.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use dirconn_abi::{ClientContext, Connector};
use dirconn_tests::{DomainSpec, Slapd, SlapdOptions, TestHost, slapd};
use futures::{StreamExt, stream::FuturesUnordered};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = tracing_subscriber::EnvFilter::try_from_env("DIRCONN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let plugin_dir = args
        .iter()
        .position(|a| a == "--plugin-dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .expect("--plugin-dir DIR");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    match args.first().map(String::as_str) {
        Some("auth") => runtime.block_on(auth(
            &plugin_dir,
            arg(&args, "--users", 10_000),
            arg(&args, "--clients", 16),
            arg(&args, "--logins", 4_000),
            arg(&args, "--rounds", 5),
        )),
        Some("abi") => {
            runtime.block_on(abi(&plugin_dir, arg(&args, "--calls", 500_000), arg(&args, "--in-flight", 256)))
        }
        _ => {
            eprintln!("usage: dirconn-bench auth|abi --plugin-dir DIR [--users N --clients N --logins N --rounds N]");
            std::process::exit(2);
        }
    }
}

/// One round's figures.
#[derive(Debug, Clone, Copy)]
struct Round {
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

fn round(mut latencies: Vec<Duration>, wall: Duration) -> Round {
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Round { per_second: latencies.len() as f64 / wall.as_secs_f64(), p50: at(0.50), p99: at(0.99) }
}

fn median(rounds: &mut [Round]) -> Round {
    rounds.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    rounds[rounds.len() / 2]
}

/// Runs `logins` logins from `clients` concurrent workers, each picking users at random.
async fn drive<F, Fut>(clients: usize, logins: usize, users: usize, login: F) -> Round
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|w| {
            let next = Arc::clone(&next);
            let login = login.clone();
            tokio::spawn(async move {
                let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ (w as u64 + 1);
                let mut lat = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < logins {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let user = 1 + (state as usize % users);
                    let t = Instant::now();
                    assert!(login(user).await, "login of user {user} failed");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::with_capacity(logins);
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    round(all, started.elapsed())
}

/// The reference: raw ldap3, a few shared service connections for the search, a fresh connection per bind.
struct Reference {
    url: String,
    base: String,
    service: Vec<Ldap>,
    next: AtomicUsize,
}

impl Reference {
    async fn connect(url: &str) -> Ldap {
        let (conn, ldap) = LdapConnAsync::with_settings(LdapConnSettings::new(), url).await.expect("connect");
        ldap3::drive!(conn);
        ldap
    }

    async fn new(slapd: &Slapd, pool: usize) -> Reference {
        let mut service = Vec::new();
        for _ in 0..pool {
            let mut ldap = Reference::connect(&slapd.ldap_url()).await;
            ldap.simple_bind(slapd.service_dn(), slapd.service_password()).await.unwrap().success().unwrap();
            service.push(ldap);
        }
        Reference {
            url: slapd.ldap_url(),
            base: format!("ou=people,{}", slapd.base_dn()),
            service,
            next: AtomicUsize::new(0),
        }
    }

    async fn login(&self, uid: &str, password: &str) -> bool {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.service.len();
        let mut svc = self.service[i].clone();
        let filter = format!("(&(objectClass=inetOrgPerson)(uid={}))", ldap3::ldap_escape(uid));
        let attrs = vec!["*", "entryUUID", "memberOf", "pwdAccountLockedTime"];
        let (entries, _) = svc.search(&self.base, Scope::Subtree, &filter, attrs).await.unwrap().success().unwrap();
        let Some(entry) = entries.into_iter().next().map(SearchEntry::construct) else { return false };
        let mut user = Reference::connect(&self.url).await;
        let ok = user.simple_bind(&entry.dn, password).await.map(|r| r.rc == 0).unwrap_or(false);
        let _ = user.unbind().await;
        ok
    }
}

async fn auth(plugin_dir: &std::path::Path, users: usize, clients: usize, logins: usize, rounds: usize) {
    println!("bench auth: starting slapd with {users} generated users…");
    let server = Slapd::start_with(SlapdOptions { users, ppolicy: false, ..SlapdOptions::default() });
    println!("slapd ready in {:.1} s", server.startup_time().as_secs_f64());
    let pool = 8;
    let spec = DomainSpec::ldap(&server).raw("pool_size", &pool.to_string()).raw("operation_timeout", "\"10s\"");
    let ldap_plugin = plugin_dir.join(dirconn_tests::stage::library_file_name("dirconn-plugin-ldap"));
    let host = Arc::new(TestHost::start(&[ldap_plugin], &[spec]).expect("host"));
    let reference = Arc::new(Reference::new(&server, pool).await);
    let ours_login = {
        let host = Arc::clone(&host);
        move |n: usize| {
            let host = Arc::clone(&host);
            async move {
                let login = format!("{}@example.org", slapd::generated_uid(n));
                host.host.login(&login, &slapd::generated_password(n), ClientContext::default()).await.is_ok()
            }
        }
    };
    let ref_login = {
        let reference = Arc::clone(&reference);
        move |n: usize| {
            let reference = Arc::clone(&reference);
            async move { reference.login(&slapd::generated_uid(n), &slapd::generated_password(n)).await }
        }
    };
    println!("warming up…");
    drive(clients, 300, users, ref_login.clone()).await;
    drive(clients, 300, users, ours_login.clone()).await;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for r in 1..=rounds {
        let a = drive(clients, logins, users, ref_login.clone()).await;
        let b = drive(clients, logins, users, ours_login.clone()).await;
        println!(
            "round {r}: reference {:.0} logins/s p50 {:.2} ms p99 {:.2} ms | ours {:.0} logins/s p50 {:.2} ms p99 {:.2} ms",
            a.per_second,
            ms(a.p50),
            ms(a.p99),
            b.per_second,
            ms(b.p50),
            ms(b.p99)
        );
        theirs.push(a);
        ours.push(b);
    }
    let (a, b) = (median(&mut theirs), median(&mut ours));
    println!(
        "{clients} clients, {logins} logins per round, {rounds} rounds, {users} users, pool of {pool}; median round:"
    );
    println!("bench auth-p99: ours={:.2}ms reference={:.2}ms ratio={:.3}", ms(b.p99), ms(a.p99), ms(b.p99) / ms(a.p99));
    println!(
        "bench auth: ours={:.0}logins/s reference={:.0}logins/s ratio={:.3}",
        b.per_second,
        a.per_second,
        b.per_second / a.per_second
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Makes `calls` calls with `in_flight` of them pending at any time; returns the wall time.
async fn keep_in_flight<F, Fut>(calls: usize, in_flight: usize, call: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    let mut issued = 0;
    while issued < calls || !pending.is_empty() {
        while issued < calls && pending.len() < in_flight {
            pending.push(call());
            issued += 1;
        }
        pending.next().await.expect("a call").expect("the call succeeds");
    }
    started.elapsed()
}

async fn abi(plugin_dir: &std::path::Path, calls: usize, in_flight: usize) {
    let echo = plugin_dir.join(dirconn_tests::stage::library_file_name("dirconn-fixture-echo"));
    let spec = DomainSpec::new().set("name", "fixture.test").set("connector", "fixture-echo");
    let host = TestHost::start(&[echo], &[spec]).expect("host with the echo plugin");
    let domain = host.host.domain("fixture.test").expect("domain");
    let direct = dirconn_fixture_echo::Echo::new("fixture.test");

    let through_abi = || {
        keep_in_flight(calls, in_flight, || async { domain.lookup("bench").await.map(drop).map_err(|e| e.to_string()) })
    };
    let in_process = || {
        keep_in_flight(calls, in_flight, || async {
            direct.lookup_user("bench".into()).await.into_result().map(drop).map_err(|e| e.to_string())
        })
    };
    through_abi().await;
    in_process().await;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for r in 1..=5 {
        let a = in_process().await;
        let b = through_abi().await;
        let per = |d: Duration| d.as_secs_f64() * 1e6 / calls as f64;
        println!("round {r}: in-process {:.3} us/call | through the ABI {:.3} us/call", per(a), per(b));
        theirs.push(per(a));
        ours.push(per(b));
    }
    theirs.sort_by(f64::total_cmp);
    ours.sort_by(f64::total_cmp);
    let (a, b) = (theirs[2], ours[2]);
    println!("{calls} calls, {in_flight} in flight, median of 5 rounds (goal: ours <= 1 us/call)");
    println!("bench abi: ours={b:.3}us/call reference={a:.3}us/call ratio={:.3}", b / a);
}
