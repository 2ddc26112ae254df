//! Faults under load: keep-alive clients log generated users in through `dirconn serve` (`POST /v1/auth`)
//! while the directory is killed and restarted, the first URL is dead, the directory is a black hole, the
//! PostgreSQL store restarts, or a plugin call panics. Every answer is a login (200) or a temporary failure
//! (503), never a wrong password; the service recovers within seconds; completed logins keep their audit
//! rows. (The 60 s load run of 64 clients is `cargo xtask load`.)

use std::time::{Duration, Instant};

use dirconn_tests::{
    DomainSpec, Slapd, SlapdOptions,
    load::{Load, Sample, between, quantile, statuses},
    net::{BlackHole, refused_port},
    postgres::Postgres,
    serve::{Serve, ServeSpec},
    slapd,
};
use serde_json::json;

const USERS: usize = 200;

fn directory() -> Slapd {
    Slapd::start_with(SlapdOptions { users: USERS, ..SlapdOptions::default() })
}

fn load(serve: &Serve, clients: usize) -> Load {
    Load::start(serve.api_addr(), serve.spec().token("mail"), clients, USERS, |n| {
        format!("{}@example.org", slapd::generated_uid(n))
    })
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Every answer is a 200 or a 503 (never a wrong password, never a lost connection).
fn only_logins_and_temporary(samples: &[Sample]) {
    let s = statuses(samples);
    assert!(s.keys().all(|k| *k == 200 || *k == 503), "answers: {s:?}");
}

/// When the first 200 came after `from`, and that all answers from `settled` on are 200s.
fn recovered(samples: &[Sample], from: Duration, settled: Duration) -> Duration {
    let after = between(samples, settled, Duration::MAX);
    assert!(!after.is_empty() && after.iter().all(|s| s.status == 200), "{:?}", statuses(&after));
    between(samples, from, Duration::MAX).iter().find(|s| s.status == 200).map(|s| s.at - from).unwrap_or_default()
}

#[test]
fn slapd_killed_and_restarted_under_load() {
    let mut slapd = directory();
    let serve = Serve::start(ServeSpec::new(vec![DomainSpec::ldap(&slapd).raw("operation_timeout", "\"3s\"")]));
    let load = load(&serve, 8);
    std::thread::sleep(secs(1.5));
    let down = load.elapsed();
    slapd.stop();
    std::thread::sleep(secs(2.0));
    let up = load.elapsed();
    slapd.restart();
    std::thread::sleep(secs(4.0));
    let samples = load.stop();
    only_logins_and_temporary(&samples);
    let before = between(&samples, Duration::ZERO, down.saturating_sub(secs(0.3)));
    assert!(before.iter().all(|s| s.status == 200), "before: {:?}\n{}", statuses(&before), serve.log());
    let outage = between(&samples, down + secs(0.3), up);
    assert!(!outage.is_empty() && outage.iter().all(|s| s.status == 503), "{:?}", statuses(&outage));
    let back = recovered(&samples, up, up + secs(2.0));
    println!("slapd down: {:?} answers, then the first login {back:?} after the restart", statuses(&outage));
}

#[test]
fn a_dead_first_url_fails_over_under_load() {
    let slapd = directory();
    let urls = format!("[\"ldap://127.0.0.1:{}\", \"{}\"]", refused_port(), slapd.ldap_url());
    let serve = Serve::start(ServeSpec::new(vec![DomainSpec::ldap(&slapd).raw("urls", &urls)]));
    let load = load(&serve, 8);
    std::thread::sleep(secs(2.0));
    let samples = load.stop();
    assert_eq!(statuses(&samples).keys().copied().collect::<Vec<_>>(), [200], "{:?}", statuses(&samples));
    println!("{} logins through the second URL, p99 {:?}", samples.len(), quantile(&samples, 0.99));
}

#[test]
fn a_black_hole_directory_answers_within_the_timeouts() {
    let slapd = directory();
    let hole = BlackHole::start();
    let domain = DomainSpec::ldap(&slapd)
        .raw("urls", &format!("[\"{}\"]", hole.url()))
        .raw("connect_timeout", "\"1s\"")
        .raw("operation_timeout", "\"2s\"");
    let serve = Serve::start(ServeSpec::new(vec![domain]));
    let load = load(&serve, 4);
    std::thread::sleep(secs(5.0));
    let samples = load.stop();
    assert_eq!(statuses(&samples).keys().copied().collect::<Vec<_>>(), [503], "{:?}", statuses(&samples));
    // Bounded by the timeouts: the login's (1 s + 2 s), and at the start the throttle's read of the lockout
    // policy (3 s at most).
    let (p50, p99, slowest) = (quantile(&samples, 0.5), quantile(&samples, 0.99), quantile(&samples, 1.0));
    println!("black hole: p50 {p50:?}, p99 {p99:?}, slowest {slowest:?}");
    assert!(slowest < secs(10.0), "an answer took {slowest:?}");
    println!("{} temporary failures from a black hole, the slowest in {slowest:?}", samples.len());
}

#[test]
fn the_store_restarted_under_load_keeps_the_audit_of_completed_logins() {
    let slapd = directory();
    let mut pg = Postgres::start();
    let mut spec = ServeSpec::new(vec![DomainSpec::ldap(&slapd)]);
    spec.store = Some(pg.url());
    let serve = Serve::start(spec);
    let load = load(&serve, 4);
    std::thread::sleep(secs(1.5));
    let down = load.elapsed();
    pg.stop();
    let closed = std::net::TcpStream::connect(("127.0.0.1", pg.port())).is_err();
    assert!(closed, "PostgreSQL still listens after its stop");
    std::thread::sleep(secs(2.0));
    let up = load.elapsed();
    pg.restart();
    std::thread::sleep(secs(8.0));
    let samples = load.stop();
    only_logins_and_temporary(&samples);
    // A login while the store is down waits for a connection (the pool's 5 s): a 2 s restart is absorbed (a
    // 200 once the store is back), a longer one is a 503. Either way no completed login loses its audit row.
    let outage = between(&samples, down, up + secs(1.0));
    let back = recovered(&samples, up, up + secs(6.0));
    let ok = samples.iter().filter(|s| s.status == 200).count();
    assert!(ok < 10_000, "more logins than one audit page");
    let t = Instant::now();
    let audit = serve.admin().get("/v1/audit?outcome=ok&last=10000");
    assert_eq!(audit.status, 200, "{}", audit.text());
    let rows = audit.json().as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(rows, ok, "completed logins {ok}, audit rows {rows}\n{}", serve.log());
    println!(
        "store down: {:?} (slowest {:?}); first login {back:?} after the restart; {ok} logins, {rows} audit rows (read \
         in {:?})",
        statuses(&outage),
        quantile(&outage, 1.0),
        t.elapsed()
    );
}

#[test]
fn a_plugin_call_that_panics_is_dc_500_and_the_service_keeps_serving() {
    let slapd = directory();
    let echo = DomainSpec::new().set("name", "echo.test").set("connector", "fixture-echo");
    let serve = Serve::start(ServeSpec::new(vec![DomainSpec::ldap(&slapd), echo]));
    let load = load(&serve, 4);
    for _ in 0..10 {
        let r = serve.client().post_json("/v1/auth", &json!({ "login": "panic@echo.test", "password": "secret" }));
        assert_eq!((r.status, r.json()["code"].as_str()), (503, Some("DC-500")), "{}", r.text());
    }
    let r = serve.client().post_json("/v1/auth", &json!({ "login": "someone@echo.test", "password": "secret" }));
    assert_eq!(r.status, 200, "the echo plugin serves on after its panics: {}", r.text());
    let samples = load.stop();
    assert_eq!(statuses(&samples).keys().copied().collect::<Vec<_>>(), [200], "{:?}", statuses(&samples));
}
