//! Tests of the real-server harness itself, checked with the OpenLDAP command-line tools.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use dirconn_tests::net::{BlackHole, free_port, refused_port};
use dirconn_tests::slapd::{DEVS_DN, OPS_DN, STAFF_DN, generated_password, generated_user_dn};
use dirconn_tests::{Fixture, Slapd, SlapdOptions};

/// Runs an ldap-utils tool with TLS pinned to `ca` (or the instance's CA) and `REQCERT demand`.
fn tool(name: &str, ca: Option<&Path>, args: &[&str]) -> Output {
    let mut cmd = Command::new(name);
    cmd.args(args).env("LDAPTLS_REQCERT", "demand");
    if let Some(ca) = ca {
        cmd.env("LDAPTLS_CACERT", ca);
    }
    cmd.output().unwrap_or_else(|e| panic!("cannot run {name} (is ldap-utils installed?): {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `ldapsearch -LLL` bound as the service account; returns stdout, panics unless exit 0.
fn service_search(s: &Slapd, filter: &str, attrs: &[&str]) -> String {
    let url = s.ldap_url();
    let mut args = vec![
        "-LLL",
        "-o",
        "ldif-wrap=no",
        "-x",
        "-H",
        &url,
        "-D",
        s.service_dn(),
        "-w",
        s.service_password(),
        "-b",
        s.base_dn(),
        filter,
    ];
    args.extend_from_slice(attrs);
    let out = tool("ldapsearch", None, &args);
    assert!(out.status.success(), "ldapsearch {filter}: {}", text(&out));
    String::from_utf8(out.stdout).expect("ldapsearch output is UTF-8")
}

/// `ldapwhoami -e ppolicy` bound as `dn`.
fn whoami(url: &str, ca: Option<&Path>, dn: &str, password: &str) -> Output {
    tool("ldapwhoami", ca, &["-e", "ppolicy", "-x", "-H", url, "-D", dn, "-w", password])
}

use dirconn_tests::process::is_alive as process_alive;

#[test]
fn service_account_reads_and_anonymous_sees_nothing() {
    let s = Slapd::start();
    eprintln!("slapd started in {:?}", s.startup_time());
    assert!(process_alive(s.pid()));
    assert_eq!(s.base_dn(), "dc=example,dc=org");
    assert_eq!(std::fs::read_to_string(s.service_password_file()).expect("password file"), "service-secret\n");

    let found = service_search(&s, "(uid=alice)", &["mail"]);
    assert!(found.contains("dn: uid=alice,ou=people,dc=example,dc=org"), "{found}");
    assert!(found.contains("mail: alice@example.org"), "{found}");

    // Twins are ambiguous: two entries with uid=twin.
    let twins = service_search(&s, "(uid=twin)", &["1.1"]);
    assert_eq!(twins.matches("dn: ").count(), 2, "{twins}");

    // Non-ASCII cn comes back base64-encoded and decodes to the fixture value.
    let olaf = service_search(&s, "(uid=olaf)", &["cn"]);
    assert!(olaf.contains("cn:: w5ZsYWYsIEpyLg=="), "{olaf}");
    assert_eq!(Fixture::OLAF.cn, "Ölaf, Jr.");

    // The service account may read the rootDSE and the subschema.
    let url = s.ldap_url();
    let dse = tool(
        "ldapsearch",
        None,
        &[
            "-LLL",
            "-x",
            "-H",
            &url,
            "-D",
            s.service_dn(),
            "-w",
            s.service_password(),
            "-b",
            "",
            "-s",
            "base",
            "namingContexts",
        ],
    );
    assert!(String::from_utf8_lossy(&dse.stdout).contains("namingContexts: dc=example,dc=org"), "{}", text(&dse));

    // Anonymous: no entries under ou=people (slapd answers noSuchObject, 32, to hide them).
    let anon = tool("ldapsearch", None, &["-LLL", "-x", "-H", &url, "-b", "ou=people,dc=example,dc=org", "(uid=*)"]);
    assert!(!String::from_utf8_lossy(&anon.stdout).contains("dn:"), "{}", text(&anon));
    assert!(!anon.status.success(), "{}", text(&anon));

    // A fixture user does not see the others.
    let alice = Fixture::ALICE.dn();
    let own = tool(
        "ldapsearch",
        None,
        &["-LLL", "-x", "-H", &url, "-D", &alice, "-w", "alice-pass", "-b", "ou=people,dc=example,dc=org", "(uid=bob)"],
    );
    assert!(!String::from_utf8_lossy(&own.stdout).contains("dn:"), "{}", text(&own));
}

#[test]
fn ldaps_trusts_only_the_right_ca() {
    let s = Slapd::start();
    let url = s.ldaps_url();
    assert_eq!(url, format!("ldaps://127.0.0.1:{}", s.ldaps_port()));
    let ok = whoami(&url, Some(s.ca_file()), s.service_dn(), s.service_password());
    assert!(ok.status.success(), "right CA: {}", text(&ok));
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("dn:cn=dirconn,ou=services,dc=example,dc=org"),
        "{}",
        text(&ok)
    );
    let bad = whoami(&url, Some(s.wrong_ca_file()), s.service_dn(), s.service_password());
    assert!(!bad.status.success(), "wrong CA must fail: {}", text(&bad));

    // StartTLS on the plain port with the right CA.
    let ldap = s.ldap_url();
    let starttls = tool(
        "ldapwhoami",
        Some(s.ca_file()),
        &["-ZZ", "-x", "-H", &ldap, "-D", s.service_dn(), "-w", s.service_password()],
    );
    assert!(starttls.status.success(), "StartTLS: {}", text(&starttls));
}

#[test]
fn carol_must_change_her_password() {
    let s = Slapd::start();
    let out = whoami(&s.ldap_url(), None, &Fixture::CAROL.dn(), "carol-pass");
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("Password must be changed"), "{all}");
    // Alice gets no such warning.
    let alice = whoami(&s.ldap_url(), None, &Fixture::ALICE.dn(), "alice-pass");
    assert!(alice.status.success(), "{}", text(&alice));
    assert!(!text(&alice).contains("must be changed"), "{}", text(&alice));
}

#[test]
fn dave_is_locked_out_after_three_failures() {
    let s = Slapd::start();
    let url = s.ldap_url();
    let dave = Fixture::DAVE.dn();
    for i in 0..3 {
        let out = whoami(&url, None, &dave, "wrong-password");
        assert_eq!(out.status.code(), Some(49), "bad bind {i}: {}", text(&out));
    }
    let out = whoami(&url, None, &dave, Fixture::DAVE.password);
    assert_eq!(out.status.code(), Some(49), "locked: {}", text(&out));
    assert!(text(&out).contains("Account locked"), "{}", text(&out));
}

#[test]
fn without_ppolicy_there_is_no_lockout() {
    let s = Slapd::start_with(SlapdOptions { ppolicy: false, ..SlapdOptions::default() });
    let url = s.ldap_url();
    let dave = Fixture::DAVE.dn();
    for _ in 0..3 {
        let out = whoami(&url, None, &dave, "wrong-password");
        assert_eq!(out.status.code(), Some(49), "{}", text(&out));
    }
    let out = whoami(&url, None, &dave, Fixture::DAVE.password);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn alice_is_member_of_staff_and_devs() {
    let s = Slapd::start();
    let found = service_search(&s, "(uid=alice)", &["memberOf"]);
    assert!(found.contains(&format!("memberOf: {STAFF_DN}")), "{found}");
    assert!(found.contains(&format!("memberOf: {DEVS_DN}")), "{found}");
    let bob = service_search(&s, "(uid=bob)", &["memberOf"]);
    assert!(bob.contains(&format!("memberOf: {STAFF_DN}")), "{bob}");
    assert!(!bob.contains("cn=devs"), "{bob}");
    let ops = service_search(&s, "(cn=ops)", &["uniqueMember"]);
    assert!(ops.contains(&format!("dn: {OPS_DN}")), "{ops}");
    assert!(ops.contains(&format!("uniqueMember: {}", Fixture::BOB.dn())), "{ops}");

    // ldapmodify as admin: memberof follows online changes.
    s.ldapmodify(&format!("dn: {DEVS_DN}\nchangetype: modify\nadd: member\nmember: {}\n", Fixture::BOB.dn()));
    let bob = service_search(&s, "(uid=bob)", &["memberOf"]);
    assert!(bob.contains(&format!("memberOf: {DEVS_DN}")), "{bob}");
}

#[test]
#[should_panic(expected = "ldapmodify failed")]
fn ldapmodify_panics_on_error() {
    let s = Slapd::start();
    s.ldapmodify("dn: cn=nope,ou=nowhere,dc=example,dc=org\nchangetype: delete\n");
}

#[test]
fn stop_kills_the_process_and_drop_removes_the_folder() {
    let mut s = Slapd::start();
    let pid = s.pid();
    let port = s.ldap_port();
    let dir = s.dir().to_path_buf();
    assert!(process_alive(pid));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    s.stop();
    assert!(!process_alive(pid), "slapd {pid} still alive after stop()");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    s.stop(); // idempotent
    assert!(dir.exists());
    drop(s);
    assert!(!dir.exists(), "{} not removed", dir.display());
}

#[test]
fn black_hole_accepts_and_never_answers() {
    let hole = BlackHole::start();
    assert_eq!(hole.url(), format!("ldap://127.0.0.1:{}", hole.port()));
    let mut sock = TcpStream::connect(("127.0.0.1", hole.port())).expect("connect to black hole");
    sock.set_read_timeout(Some(Duration::from_millis(300))).expect("set timeout");
    // An LDAP anonymous simple bind request: it gets no answer.
    sock.write_all(&[0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00])
        .expect("write");
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let err = sock.read(&mut buf).expect_err("the black hole must not answer");
    assert!(matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    let deadline = Instant::now() + Duration::from_secs(2);
    while hole.accepted() < 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(hole.accepted(), 1);
    let port = hole.port();
    drop(hole);
    // After drop the connection is closed: a read returns EOF (or a reset).
    sock.set_read_timeout(Some(Duration::from_secs(2))).expect("set timeout");
    match sock.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("black hole sent {n} bytes"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e:?}"),
    }
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn refused_and_free_ports() {
    let port = refused_port();
    let err = TcpStream::connect(("127.0.0.1", port)).expect_err("nothing listens there");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_ne!(free_port(), 0);
}

#[test]
fn generated_users_are_loaded() {
    let started = Instant::now();
    let s = Slapd::start_with(SlapdOptions { users: 2000, ..SlapdOptions::default() });
    eprintln!("slapd with 2000 users started in {:?}", started.elapsed());
    let found = service_search(&s, "(uid=user01999)", &["mail", "cn", "sn", "givenName"]);
    assert!(found.contains(&format!("dn: {}", generated_user_dn(1999))), "{found}");
    assert!(found.contains("mail: user01999@example.org"), "{found}");
    assert!(found.contains("givenName: "), "{found}");
    let none = service_search(&s, "(uid=user02001)", &["1.1"]);
    assert!(!none.contains("dn:"), "{none}");
    // The service account is unlimited: all 2000 come back without paging.
    let all = service_search(&s, "(uid=user*)", &["1.1"]);
    assert_eq!(all.matches("dn: ").count(), 2000);
    let out = whoami(&s.ldap_url(), None, &generated_user_dn(7), &generated_password(7));
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn size_limit_applies_to_unpaged_searches_only() {
    let s = Slapd::start_with(SlapdOptions { users: 30, size_limit: Some(10), ..SlapdOptions::default() });
    let url = s.ldap_url();
    let base = ["-LLL", "-x", "-H", &url, "-D", s.service_dn(), "-w", s.service_password(), "-b", s.base_dn()];
    let mut plain = base.to_vec();
    plain.extend(["(uid=user*)", "1.1"]);
    let out = tool("ldapsearch", None, &plain);
    assert_eq!(out.status.code(), Some(4), "sizeLimitExceeded: {}", text(&out));
    let mut paged = base.to_vec();
    paged.extend(["-E", "pr=5/noprompt", "(uid=user*)", "1.1"]);
    let out = tool("ldapsearch", None, &paged);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("dn: ").count(), 30);
}

/// Timing of a benchmark-sized instance: `cargo test -p dirconn-tests --test harness -- --ignored --nocapture`.
#[test]
#[ignore = "slow: loads 100k users"]
fn hundred_thousand_users() {
    let s = Slapd::start_with(SlapdOptions { users: 100_000, ..SlapdOptions::default() });
    eprintln!("slapd with 100k users started in {:?}", s.startup_time());
    let found = service_search(&s, "(uid=user100000)", &["mail"]);
    assert!(found.contains("mail: user100000@example.org"), "{found}");
}
