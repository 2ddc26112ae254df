//! End to end: nginx's mail proxy (`libnginx-mod-mail`) in front of Dovecot and Postfix, its `auth_http`
//! answered by a real `dirconn serve` (`GET /v1/nginx/auth`, token in `auth_http_header`), against OpenLDAP.
//! What IMAP and SMTP clients get through nginx: logins proxied to the backend of `[service.nginx]` under the
//! canonical account, refusals after `Auth-Wait`, and temporary failures (`[UNAVAILABLE]`, `451 4.3.0`) while
//! the directory is down.

#[path = "support/dirconn_serve.rs"]
mod dirconn_serve;

use std::time::{Duration, Instant};

use dirconn_serve::{Serve, ServeOptions, TOKEN};
use dirconn_tests::imap::ImapClient;
use dirconn_tests::{
    DomainSpec, Dovecot, DovecotAuth, DovecotOptions, Fixture, ImapOutcome, LuaAuth, Nginx, NginxOptions, Postfix,
    PostfixOptions, Slapd, SlapdOptions, SmtpMechanism, imap_login, smtp_auth, stage,
};

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

/// Waits up to 5 s for `needle` to be in `log()` `n` times.
fn wait_for_count(log: impl Fn() -> String, needle: &str, n: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while log().matches(needle).count() < n {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

#[test]
fn nginx_proxies_imap_and_smtp_logins_dirconn_accepts() {
    if let Some(why) = dirconn_tests::daemon::mail_unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let mut slapd = Slapd::start_with(SlapdOptions { tls: false, ..SlapdOptions::default() });
    let mut serve = Serve::start(ServeOptions::new(vec![stage::for_tests().ldap()], vec![DomainSpec::ldap(&slapd)]));
    let mut opts = DovecotOptions::new(DovecotAuth::Lua(LuaAuth {
        api_url: serve.url(),
        token_file: serve.token_file().to_path_buf(),
        timeout_msecs: Some(3000),
    }));
    opts.auth_listener = true;
    let d = Dovecot::start(opts);
    let p = Postfix::start(PostfixOptions::dovecot_inet(d.auth_port().expect("an auth listener")));
    // The backends are known only now: a reload (SIGHUP) puts them in force.
    serve.set_nginx(&[
        format!("imap = \"127.0.0.1:{}\"", d.imap_port()),
        format!("smtp = \"127.0.0.1:{}\"", p.smtp_port()),
        "wait_seconds = 1".into(),
    ]);
    let n = Nginx::start(
        NginxOptions { smtp: true, ..NginxOptions::new(format!("127.0.0.1:{}/v1/nginx/auth", serve.port())) }
            .bearer(TOKEN),
    );
    let (alice, bob) = (Fixture::ALICE, Fixture::BOB);

    // nginx logs the client in at the backend under the account dirconn answered (`Auth-User`), so
    // Dovecot sees the canonical name whatever the client typed.
    for login in ["alice", "ALICE"] {
        let outcome = imap_login(n.imap_port(), login, alice.password).expect("IMAP through nginx");
        assert_eq!(outcome, ImapOutcome::Ok, "{login}\nnginx:\n{}\nserve:\n{}", n.log(), serve.log());
    }
    assert!(wait_for_count(|| d.log(), "Login: user=<alice@example.org>", 2), "{}", d.log());
    assert!(!d.log().contains("user=<ALICE>"), "{}", d.log());

    // A wrong password: nginx holds the answer for Auth-Wait (1 s), then lets the client try again on the
    // same connection.
    let mut c = ImapClient::connect(n.imap_port()).expect("IMAP through nginx");
    let (wrong, took) = timed(|| c.login("alice", "not-her-password").expect("LOGIN"));
    assert_eq!(wrong.code(), Some("AUTHENTICATIONFAILED"), "{wrong:?}");
    assert!(took >= Duration::from_millis(950) && took < Duration::from_millis(2500), "refused after {took:?}");
    assert_eq!(c.login("alice", alice.password).expect("LOGIN again"), ImapOutcome::Ok, "{}", n.log());
    c.logout();
    eprintln!("a refusal through nginx took {took:?} (Auth-Wait: 1)");

    // SMTP AUTH is answered by nginx itself (xclient off), then the session goes on at Postfix.
    let smtp = smtp_auth(n.smtp_port(), SmtpMechanism::Plain, bob.uid, bob.password).expect("SMTP through nginx");
    assert_eq!(smtp.code, 235, "{smtp:?}\n{}", n.log());
    let (wrong, took) = timed(|| smtp_auth(n.smtp_port(), SmtpMechanism::Login, bob.uid, "nope").expect("SMTP"));
    assert_eq!(wrong.code, 535, "{wrong:?}");
    assert!(took >= Duration::from_millis(950), "an SMTP refusal after {took:?}");

    // The directory stops: temporary failures in each protocol, never a wrong password.
    slapd.stop();
    let (smtp, took) = timed(|| smtp_auth(n.smtp_port(), SmtpMechanism::Plain, bob.uid, bob.password).expect("SMTP"));
    assert_eq!(smtp.code, 451, "{smtp:?}\n{}", n.log());
    assert!(smtp.text.starts_with("4.3.0 "), "{smtp:?}");
    assert!(took >= Duration::from_millis(950), "a temporary failure after {took:?} (Auth-Wait)");
    eprintln!("SMTP client got: {} {}", smtp.code, smtp.text);
    let imap = imap_login(n.imap_port(), alice.uid, alice.password).expect("IMAP through nginx");
    assert!(matches!(imap, ImapOutcome::Temporary(_)), "{imap:?}");
    assert_eq!(imap.code(), Some("UNAVAILABLE"), "{imap:?}");
    eprintln!("IMAP client got: NO {imap:?}");
    assert!(n.wait_for_log("client login failed", Duration::from_secs(5)), "{}", n.log());

    slapd.restart();
    assert_eq!(imap_login(n.imap_port(), alice.uid, alice.password).expect("IMAP"), ImapOutcome::Ok);
    let (status, metrics) = serve.metrics_get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.lines().any(|l| l.contains("interface=\"nginx\"")), "{metrics}");
    for log in [n.log(), d.log(), serve.log()] {
        assert!(!log.contains(TOKEN), "the token reached a log");
        assert!(!log.contains(alice.password) && !log.contains("not-her-password"), "a password reached a log");
    }
}
