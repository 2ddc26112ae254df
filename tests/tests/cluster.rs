//! Three `dirconn serve` nodes on one PostgreSQL store and one slapd: each scheduled sync of the domain runs
//! once across them (a leader per sync, under a lease of 2 s; the schedule is every 3 s); the leader killed during a sync leaves the
//! store as before that sync, and another node runs the next one; the audit and the throttle are shared.

use std::time::{Duration, Instant};

use dirconn_tests::{
    DomainSpec, Fixture, Slapd,
    postgres::Postgres,
    serve::{Serve, ServeSpec},
};
use serde_json::{Value, json};

fn reports(node: &Serve) -> Vec<Value> {
    let r = node.admin().get("/v1/domains/example.org/sync-reports?last=100");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json().as_array().cloned().unwrap_or_default()
}

fn has_account(node: &Serve, login: &str) -> bool {
    node.admin().get(&format!("/v1/accounts/{login}@example.org")).status == 200
}

fn started(node: &Serve) -> usize {
    node.log().matches("scheduled sync started").count()
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) on a PID this test started.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn three_nodes_run_each_scheduled_sync_once_and_survive_the_leader() {
    let slapd = Slapd::start();
    let pg = Postgres::start();
    let domain = DomainSpec::ldap(&slapd).raw("accounts", r#"{ sync_schedule = "*/3 * * * * *" }"#);
    let mut spec = ServeSpec::new(vec![domain]);
    spec.store = Some(pg.url());
    spec.service.push("sync_lease = \"2s\"".into());
    spec.service.push("throttle = { ipv4_prefix = 32 }".into());
    let mut nodes: Vec<Serve> = (0..3).map(|_| Serve::start(spec.clone())).collect();

    // Twelve seconds of a 3 s schedule: about four syncs in all, not one per node per interval.
    wait_until("the first sync", Duration::from_secs(10), || has_account(&nodes[0], "alice"));
    std::thread::sleep(Duration::from_secs(12));
    let mut times: Vec<i64> = reports(&nodes[1]).iter().map(|r| r["started_at"].as_i64().unwrap()).collect();
    times.sort_unstable();
    assert!((4..=6).contains(&times.len()), "{} syncs in about 12 s: {times:?}", times.len());
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= 2, "two syncs within one interval (seconds): {times:?}");
    }
    let runners = nodes.iter().filter(|n| started(n) > 0).count();
    println!("{} syncs, run by {runners} node(s)", times.len());

    // The directory freezes; the node that starts the next sync is killed in the middle of it.
    slapd.ldapmodify(
        "dn: uid=newbie,ou=people,dc=example,dc=org\nchangetype: add\nobjectClass: inetOrgPerson\nuid: newbie\n\
         cn: newbie\nsn: newbie\nmail: newbie@example.org\nuserPassword: newbie-pass\n",
    );
    signal(slapd.pid(), libc::SIGSTOP);
    let before: Vec<usize> = nodes.iter().map(started).collect();
    let mut leader = None;
    wait_until("a sync to start", Duration::from_secs(10), || {
        leader = nodes.iter().zip(&before).position(|(n, b)| started(n) > *b);
        leader.is_some()
    });
    let leader = leader.unwrap();
    let count = reports(&nodes[(leader + 1) % 3]).len();
    nodes[leader].signal(libc::SIGKILL);
    let _ = nodes[leader].wait_exit(Duration::from_secs(5));
    let dead = nodes.remove(leader);
    signal(slapd.pid(), libc::SIGCONT);
    assert!(!has_account(&nodes[0], "newbie"), "the killed sync left a write");
    assert!(reports(&nodes[0]).len() <= count + 1, "the killed sync left a report");

    // Another node runs the next one once the dead leader's lease has ended.
    wait_until("another node's sync", Duration::from_secs(15), || has_account(&nodes[0], "newbie"));
    assert!(nodes.iter().any(|n| n.log().contains("scheduled sync done")));
    drop(dead);

    // The audit and the throttle are shared: a login on one node is in the audit on the other, and a
    // wrong password sent to node 0 holds the same network back on node 1.
    let login = |node: &Serve, password: &str, ip: &str| {
        node.client().post_json("/v1/auth", &json!({ "login": "bob", "password": password, "client_ip": ip })).status
    };
    assert_eq!(login(&nodes[0], Fixture::BOB.password, "127.0.0.3"), 200);
    assert_eq!(login(&nodes[0], "guess-1", "127.0.0.2"), 401);
    assert_eq!(login(&nodes[1], "guess-2", "127.0.0.2"), 429);
    let audit = nodes[1].admin().get("/v1/audit?login=bob&last=10").json();
    assert!(audit.as_array().is_some_and(|a| a.len() >= 3), "{audit}");
}
