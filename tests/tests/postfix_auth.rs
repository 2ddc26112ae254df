//! A real Postfix 3.7 doing SMTP AUTH through `dirconn serve`'s Dovecot auth protocol (`smtpd_sasl_type =
//! dovecot`) over a real slapd, once over the loopback TCP socket and once over the UNIX socket: PLAIN and
//! LOGIN, the login spellings, a wrong password, the audit, and a directory that is down answered as a
//! temporary failure (`454`, never `535`) from which Postfix recovers at the next AUTH.

use std::{
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::Path,
    time::{Duration, Instant},
};

use dirconn_store::{AuditQuery, AuditRecord, Store};
use dirconn_tests::{
    DomainSpec, Fixture, Postfix, PostfixOptions, Slapd, SmtpMechanism, SmtpReply,
    daemon::system_group,
    net::free_port,
    serve::{Serve, ServeSpec},
    smtp_auth,
};

/// `dirconn serve` with `dovecot_auth` on a UNIX socket and a loopback TCP port, and one Postfix on each, set
/// up as docs/src/mail-servers.md says: the socket in `<queue directory>/dirconn/`, a folder `root:postfix`
/// with mode 2750 (setgid), so that it is born `root:postfix` mode 0660 without a `chown`, and
/// `smtpd_sasl_path = dirconn/auth` relative to the queue directory. (Postfix is started first: it connects
/// to the auth service only when an SMTP client comes.)
struct Rig {
    serve: Serve,
    tcp: Postfix,
    unix: Postfix,
}

impl Rig {
    fn start(slapd: &Slapd) -> Rig {
        let postfix = system_group("postfix").expect("a `postfix` group (install the postfix package)");
        let port = free_port();
        let tcp = Postfix::start(PostfixOptions::dovecot_inet(port));
        let unix =
            Postfix::start(PostfixOptions { sasl_path: "dirconn/auth".into(), ..PostfixOptions::dovecot_inet(port) });
        let queue = postconf(&unix, "queue_directory");
        let folder = Path::new(&queue).join("dirconn");
        std::fs::create_dir(&folder).expect("mkdir");
        std::os::unix::fs::chown(&folder, Some(0), Some(postfix)).expect("chown root:postfix");
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o2750)).expect("chmod 2750");
        let socket = folder.join("auth");
        let mut spec = ServeSpec::new(vec![DomainSpec::ldap(slapd)]);
        spec.service.push(format!("dovecot_auth = [\"{}\", \"127.0.0.1:{port}\"]", socket.display()));
        let serve = Serve::start(spec);
        let meta = std::fs::metadata(&socket).expect("the socket");
        assert_eq!((meta.uid(), meta.gid(), meta.permissions().mode() & 0o777), (0, postfix, 0o660));
        Rig { serve, tcp, unix }
    }

    /// Both instances, named by how they reach dirconn.
    fn both(&self) -> [(&'static str, &Postfix); 2] {
        [("tcp", &self.tcp), ("unix", &self.unix)]
    }

    /// Postfix's and dirconn's logs, for failure messages.
    fn logs(&self) -> String {
        format!(
            "postfix (tcp):\n{}\npostfix (unix):\n{}\ndirconn:\n{}",
            self.tcp.log(),
            self.unix.log(),
            self.serve.log()
        )
    }
}

/// One AUTH in its own SMTP session; the reply as the client read it, printed for the record.
fn auth(via: &str, p: &Postfix, mechanism: SmtpMechanism, user: &str, password: &str) -> (SmtpReply, Duration) {
    let began = Instant::now();
    let reply = smtp_auth(p.smtp_port(), mechanism, user, password).expect("an SMTP session");
    let took = began.elapsed();
    eprintln!("{via} AUTH {mechanism:?} {user}: {} {} ({took:?})", reply.code, reply.text);
    (reply, took)
}

/// The audit rows once there are at least `want` of them (10 s at most: the audit is written in batches).
fn audit_rows(url: &str, want: usize) -> Vec<AuditRecord> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let store = Store::open(url).await.expect("store");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rows = store.audit(&AuditQuery { limit: 200, ..AuditQuery::default() }).await.expect("audit");
            if rows.len() >= want || Instant::now() > deadline {
                store.close().await;
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// Waits (5 s at most) until Postfix's log holds `needle` `times` times: its `postlogd` writes a moment later.
fn wait_for_log(p: &Postfix, needle: &str, times: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while p.log().matches(needle).count() < times {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Postfix logged nothing fatal and the master throttled nothing.
fn assert_no_trouble(via: &str, log: &str) {
    for bad in ["fatal:", "panic:", "throttl", "killed by signal", "exit status"] {
        assert!(!log.contains(bad), "postfix ({via}) logged {bad:?}:\n{log}");
    }
}

/// `postconf -h NAME` of the instance.
fn postconf(p: &Postfix, name: &str) -> String {
    String::from_utf8_lossy(&p.postconf(&["-h", name]).stdout).trim().to_owned()
}

#[test]
fn postfix_logs_in_through_dirconn_on_both_sockets() {
    if let Some(why) = dirconn_tests::daemon::mail_unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let slapd = Slapd::start();
    let rig = Rig::start(&slapd);
    let alice = Fixture::ALICE;
    for (via, p) in rig.both() {
        eprintln!("{via}: smtpd_sasl_path = {}", postconf(p, "smtpd_sasl_path"));
        let mut client = dirconn_tests::SmtpClient::connect(p.smtp_port()).expect("SMTP session");
        let ehlo = client.ehlo("test.invalid").expect("EHLO");
        assert!(ehlo.advertises_auth("PLAIN") && ehlo.advertises_auth("LOGIN"), "{ehlo:?}\n{}", rig.logs());
        client.quit();
        for (mechanism, user) in [
            (SmtpMechanism::Plain, "alice"),
            (SmtpMechanism::Login, "alice"),
            (SmtpMechanism::Plain, "ALICE"),
            (SmtpMechanism::Login, "alice@example.org"),
        ] {
            let (reply, _) = auth(via, p, mechanism, user, alice.password);
            assert_eq!((reply.code, reply.text.as_str()), (235, "2.7.0 Authentication successful"), "{}", rig.logs());
        }
        // (Bob, not alice: ppolicy locks an account after three failures.)
        let (wrong, took) = auth(via, p, SmtpMechanism::Plain, "bob", "not-his-password");
        assert_eq!(
            (wrong.code, wrong.text.as_str()),
            (535, "5.7.8 Error: authentication failed: Invalid login or password."),
            "{}",
            rig.logs()
        );
        assert!(took < Duration::from_secs(2), "a refused AUTH took {took:?}");
        let refused = "SASL PLAIN authentication failed: Invalid login or password., sasl_username=bob";
        assert!(wait_for_log(p, refused, 1), "{}", p.log());
        assert_no_trouble(via, &p.log());
    }

    let rows = audit_rows(&rig.serve.store_url(), 10);
    assert_eq!(rows.len(), 10, "{rows:#?}");
    for r in &rows {
        assert_eq!(
            (r.interface.as_str(), r.service.as_deref(), r.client_ip.as_deref(), r.local_ip.as_deref()),
            ("dovecot", Some("smtp"), Some("127.0.0.1"), Some("127.0.0.1")),
            "{r:?}"
        );
    }
    let ok: Vec<&str> = rows.iter().filter(|r| r.outcome == "ok").filter_map(|r| r.account.as_deref()).collect();
    assert_eq!(ok, ["alice@example.org"; 8], "{rows:#?}");
    let mut logins: Vec<&str> = rows.iter().map(|r| r.login.as_str()).collect();
    logins.sort_unstable();
    logins.dedup();
    assert_eq!(logins, ["ALICE", "alice", "alice@example.org", "bob"], "{rows:#?}");
    assert_eq!(rows.iter().filter(|r| r.outcome == "DC-203").count(), 2, "{rows:#?}");
    let log = rig.serve.log();
    assert!(!log.contains(alice.password) && !log.contains("not-his-password"), "dirconn logged a password");
}

#[test]
fn a_directory_down_is_a_temporary_failure_and_postfix_recovers_at_once() {
    if let Some(why) = dirconn_tests::daemon::mail_unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let mut slapd = Slapd::start();
    let rig = Rig::start(&slapd);
    let alice = Fixture::ALICE;
    // Each smtpd keeps its auth connection between SMTP sessions: make it exist before the failure.
    for (via, p) in rig.both() {
        assert_eq!(auth(via, p, SmtpMechanism::Plain, "alice", alice.password).0.code, 235, "{}", rig.logs());
    }

    slapd.stop();
    for (via, p) in rig.both() {
        for mechanism in [SmtpMechanism::Plain, SmtpMechanism::Login, SmtpMechanism::Plain] {
            let (reply, took) = auth(via, p, mechanism, "alice", alice.password);
            assert_eq!(
                (reply.code, reply.text.as_str()),
                (454, "4.7.0 Temporary authentication failure: Connection lost to authentication server"),
                "a directory that is down is a temporary failure, never a wrong password\n{}",
                rig.logs()
            );
            assert!(took < Duration::from_secs(5), "{took:?}");
        }
    }

    slapd.restart();
    for (via, p) in rig.both() {
        for _ in 0..2 {
            let (reply, took) = auth(via, p, SmtpMechanism::Plain, "alice", alice.password);
            assert_eq!(reply.code, 235, "{reply:?}\n{}", rig.logs());
            assert!(took < Duration::from_secs(1), "the AUTH after the directory came back took {took:?}");
        }
        let (reply, _) = auth(via, p, SmtpMechanism::Login, "alice", alice.password);
        assert_eq!(reply.code, 235, "{reply:?}\n{}", rig.logs());
        let lost = "authentication failed: Connection lost to authentication server";
        assert!(wait_for_log(p, lost, 3), "{}", p.log());
        assert_no_trouble(via, &p.log());
    }
    let log = rig.serve.log();
    assert_eq!(log.matches("closing the connection instead of answering").count(), 6, "{log}");

    let rows = audit_rows(&rig.serve.store_url(), 2 + 6 + 6);
    let temporary: Vec<&AuditRecord> = rows.iter().filter(|r| r.outcome != "ok").collect();
    assert_eq!(temporary.len(), 6, "{rows:#?}");
    for r in temporary {
        assert_eq!((r.interface.as_str(), r.service.as_deref()), ("dovecot", Some("smtp")), "{r:?}");
        assert_ne!(r.outcome, "DC-203", "{r:?}");
    }
}
