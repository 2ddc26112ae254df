//! The throttle that protects the directory's accounts, attacked over `POST /v1/auth` of a real `dirconn serve`:
//! a Samba AD DC (lockoutThreshold 3, read from the domain object) and a slapd with ppolicy (pwdMaxFailure 3,
//! read from the policy entry). 50 wrong passwords for one user from 127.0.0.2, sent 10 at a time, leave the
//! directory's account unlocked while the user, familiar from 127.0.0.3, logs in; the same old password
//! retried is sent to the directory once; an unreachable directory counts nothing.
//!
//! The addresses are only the `client_ip` the mail server reports in the request body (all traffic stays on
//! 127.0.0.1). 127.0.0.2 and 127.0.0.3 are one /24, so these services count networks by address
//! (`ipv4_prefix = 32`).

use std::{collections::BTreeMap, thread};

use dirconn_tests::{
    DomainSpec, Fixture, Slapd,
    http::Response,
    postgres::Postgres,
    samba::{self, AdUser, LOCKOUT_THRESHOLD},
    serve::{Serve, ServeSpec},
};
use serde_json::json;

const ATTACKER: &str = "127.0.0.2";
const USER: &str = "127.0.0.3";

fn spec(domain: DomainSpec) -> ServeSpec {
    let mut spec = ServeSpec::new(vec![domain]);
    spec.service.push("throttle = { ipv4_prefix = 32 }".into());
    spec
}

fn serve(domain: DomainSpec) -> Serve {
    Serve::start(spec(domain))
}

fn login(serve: &Serve, login: &str, password: &str, ip: &str) -> Response {
    serve.client().post_json("/v1/auth", &json!({ "login": login, "password": password, "client_ip": ip }))
}

/// Sends `n` different wrong passwords for `user` from the attacker, `parallel` at a time, to the nodes in
/// turn; returns how many got each status, and checks every 429 (DC-819 with a Retry-After).
fn spray(nodes: &[&Serve], user: &str, n: usize, parallel: usize) -> BTreeMap<u16, usize> {
    let mut statuses = BTreeMap::new();
    for round in 0..n.div_ceil(parallel) {
        let answers: Vec<Response> = thread::scope(|s| {
            let sent: Vec<_> = (0..parallel.min(n - round * parallel))
                .map(|i| {
                    let password = format!("guess-{round}-{i}");
                    let serve = nodes[i % nodes.len()];
                    s.spawn(move || login(serve, user, &password, ATTACKER))
                })
                .collect();
            sent.into_iter().map(|t| t.join().expect("attacker thread")).collect()
        });
        for r in answers {
            if r.status == 429 {
                let v = r.json();
                assert_eq!(v["code"], "DC-819", "{v}");
                let wait: u64 = r.header("retry-after").and_then(|s| s.parse().ok()).expect("Retry-After");
                assert!((1..=1800).contains(&wait), "Retry-After {wait}");
            }
            *statuses.entry(r.status).or_default() += 1;
        }
    }
    statuses
}

#[test]
fn an_ad_spray_leaves_the_account_unlocked_and_the_familiar_user_logs_in() {
    samba::with_dc(|dc| async move {
        let serve = serve(DomainSpec::active_directory(&dc));
        let user = AdUser::LOCK_ME;
        let r = login(&serve, user.sam, user.password, USER);
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(serve.log().contains("lockoutThreshold of DC=example,DC=test"), "{}", serve.log());

        let statuses = spray(&[&serve], user.sam, 50, 10);
        // threshold 3 − margin 2: one wrong password from the attacker's network reaches the DC.
        assert_eq!(statuses, BTreeMap::from([(401, 1), (429, 49)]), "{}", serve.log());
        let ad = |attr: &str| -> String {
            let text = dc.ldapsearch(&["-b", &user.dn(), "-s", "base", "(objectClass=*)", attr]);
            text.lines().find_map(|l| l.strip_prefix(&format!("{attr}: "))).unwrap_or("0").to_owned()
        };
        let bad: u32 = ad("badPwdCount").parse().unwrap();
        assert!(bad < LOCKOUT_THRESHOLD, "badPwdCount {bad}");
        assert_eq!(ad("lockoutTime"), "0", "the DC locked the account");

        let r = login(&serve, user.sam, user.password, USER);
        assert_eq!(r.status, 200, "the familiar user is held back: {}", r.text());
        // The user's phone retries an old password: the DC sees it once.
        for _ in 0..5 {
            assert_eq!(login(&serve, user.sam, "an-old-password", USER).status, 401);
        }
        assert_eq!(ad("badPwdCount"), "1");
        assert_eq!(ad("lockoutTime"), "0");
        let metrics = serve.metrics().get("/metrics").text();
        assert!(
            metrics.contains("dirconn_throttled_total{domain=\"example.com\",reason=\"unfamiliar\"} 49"),
            "{metrics}"
        );
    });
}

#[test]
fn a_ppolicy_spray_leaves_the_entry_unlocked_and_the_familiar_user_logs_in() {
    let slapd = Slapd::start();
    let serve = serve(DomainSpec::ldap(&slapd));
    let alice = Fixture::ALICE;
    assert_eq!(login(&serve, alice.uid, alice.password, USER).status, 200);
    assert!(serve.log().contains("pwdMaxFailure of cn=default,ou=policies,dc=example,dc=org"), "{}", serve.log());

    let statuses = spray(&[&serve], alice.uid, 50, 10);
    assert_eq!(statuses, BTreeMap::from([(401, 1), (429, 49)]), "{}", serve.log());
    let state = slapd.policy_state(&alice.dn());
    assert!(state.failure_times.len() < 3 && state.locked_time.is_none(), "{state:?}");
    assert_eq!(login(&serve, alice.uid, alice.password, USER).status, 200);
    assert!(slapd.policy_state(&alice.dn()).failure_times.is_empty(), "a good bind clears ppolicy's count");

    // Another user's attacker sends the same password over and over: one failure, the rest from memory.
    let bob = Fixture::BOB;
    for _ in 0..5 {
        let r = login(&serve, bob.uid, "the-same-guess", ATTACKER);
        assert_eq!(r.status, 401, "{}", r.text());
    }
    assert_eq!(slapd.policy_state(&bob.dn()).failure_times.len(), 1);
}

#[test]
fn an_unreachable_directory_counts_nothing() {
    let mut slapd = Slapd::start();
    let serve = serve(DomainSpec::ldap(&slapd));
    let bob = Fixture::BOB;
    // Read the policy while the directory answers, then stop it.
    assert_eq!(login(&serve, bob.uid, bob.password, USER).status, 200);
    slapd.stop();
    for i in 0..10 {
        let r = login(&serve, bob.uid, &format!("guess-{i}"), ATTACKER);
        assert_eq!(r.status, 503, "{}", r.text());
    }
    slapd.restart();
    // Nothing was counted: the attacker's network still has its one try, which the directory refuses.
    let r = login(&serve, bob.uid, "guess-after", ATTACKER);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(login(&serve, bob.uid, "guess-after-2", ATTACKER).status, 429);
    assert_eq!(login(&serve, bob.uid, bob.password, USER).status, 200);
}

#[test]
fn two_nodes_on_one_postgresql_share_the_ledger() {
    let slapd = Slapd::start();
    let pg = Postgres::start();
    let mut spec = spec(DomainSpec::ldap(&slapd));
    spec.store = Some(pg.url());
    let (a, b) = (Serve::start(spec.clone()), Serve::start(spec));
    let alice = Fixture::ALICE;
    assert_eq!(login(&a, alice.uid, alice.password, USER).status, 200);
    // The spray goes to both nodes at once: together they let one wrong password through.
    let statuses = spray(&[&a, &b], alice.uid, 40, 8);
    assert_eq!(statuses, BTreeMap::from([(401, 1), (429, 39)]), "{}\n{}", a.log(), b.log());
    assert!(slapd.policy_state(&alice.dn()).locked_time.is_none());
    // The network alice logged in from on node a is familiar on node b.
    assert_eq!(login(&b, alice.uid, alice.password, USER).status, 200);
}
