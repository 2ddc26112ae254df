//! Tests of the mail-server harness (Dovecot with its static and LDAP passdbs, Postfix with Dovecot SASL)
//! against the real servers on 127.0.0.1. The Lua script and nginx's proxy run against the real `dirconn
//! serve` in `dovecot_imap.rs` and `nginx_proxy.rs`.

use std::time::{Duration, Instant};

use dirconn_tests::imap::{ImapClient, imap_login_many};
use dirconn_tests::{
    Dovecot, DovecotAuth, DovecotOptions, Fixture, ImapOutcome, LdapAuth, Postfix, PostfixOptions, Slapd, SlapdOptions,
    SmtpClient, SmtpMechanism, imap_login, smtp_auth,
};

const PASSWORD: &str = "static-secret";

fn static_dovecot(auth_listener: bool) -> Dovecot {
    let mut opts = DovecotOptions::new(DovecotAuth::Static { password: PASSWORD.into() });
    opts.auth_listener = auth_listener;
    let d = Dovecot::start(opts);
    eprintln!("dovecot started in {:?}", d.startup_time());
    d
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

#[test]
fn dovecot_static_passdb_logs_in_and_refuses_at_once() {
    if let Some(why) = dirconn_tests::daemon::mail_unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let d = static_dovecot(false);
    assert_eq!(imap_login(d.imap_port(), "alice", PASSWORD).expect("IMAP session"), ImapOutcome::Ok);
    let (refused, took) = timed(|| imap_login(d.imap_port(), "alice", "wrong").expect("IMAP session"));
    assert_eq!(refused.code(), Some("AUTHENTICATIONFAILED"), "{refused:?}");
    assert!(matches!(refused, ImapOutcome::No(_)), "{refused:?}");
    assert!(took < Duration::from_millis(300), "a refusal took {took:?}: the nodelay passdb is not working");
    // Quoted-string escapes and literals reach the passdb intact.
    assert!(matches!(imap_login(d.imap_port(), "a\"b\\c", "wrong").expect("IMAP session"), ImapOutcome::No(_)));
    // A non-ASCII password goes as a literal. (Non-ASCII logins are refused by Dovecot's default
    // `auth_username_chars`.)
    assert!(matches!(imap_login(d.imap_port(), "olaf", "pässword").expect("IMAP session"), ImapOutcome::No(_)));
    assert_eq!(imap_login(d.imap_port(), "olaf", PASSWORD).expect("IMAP session"), ImapOutcome::Ok);

    let ok = d.doveadm(&["auth", "test", "bob", PASSWORD]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    let bad = d.doveadm(&["auth", "test", "bob", "nope"]);
    assert_eq!(bad.status.code(), Some(77), "{bad:?}");
    assert!(d.wait_for_log("imap-login: Info: Login: user=<alice>", Duration::from_secs(5)), "{}", d.log());

    let mut c = ImapClient::connect(d.imap_port()).expect("IMAP session");
    assert_eq!(c.login("alice", PASSWORD).expect("LOGIN"), ImapOutcome::Ok);
    assert_eq!(c.command("SELECT INBOX").expect("SELECT"), ImapOutcome::Ok);
    c.logout();
    assert!(d.mail_root().join("alice").is_dir(), "no maildir for alice under {}", d.mail_root().display());

    let run = imap_login_many(d.imap_port(), 4, 40, |i| (format!("user{i}"), PASSWORD.to_owned()));
    assert_eq!(run.failures, 0, "{:?}", run.failure_samples);
    assert_eq!(run.latencies.len(), 40);
    eprintln!("40 IMAP logins, 4 clients: {:.0}/s, p50 {:?}", run.per_second(), run.quantile(0.5));
}

#[test]
fn dovecot_keeps_its_failure_delay_when_asked() {
    if let Some(why) = dirconn_tests::daemon::mail_unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let mut opts = DovecotOptions::new(DovecotAuth::Static { password: PASSWORD.into() });
    opts.failure_delay = true;
    let d = Dovecot::start(opts);
    let (refused, took) = timed(|| imap_login(d.imap_port(), "alice", "wrong").expect("IMAP session"));
    assert!(matches!(refused, ImapOutcome::No(_)), "{refused:?}");
    assert!(took >= Duration::from_millis(100), "a refusal with the delay kept took only {took:?}");
}

#[test]
fn dovecot_ldap_passdb_binds_as_fixture_users() {
    if let Some(why) = dirconn_tests::daemon::mail_unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let slapd = Slapd::start_with(SlapdOptions { tls: false, ..SlapdOptions::default() });
    let d = Dovecot::start(DovecotOptions::new(DovecotAuth::Ldap(LdapAuth {
        url: slapd.ldap_url(),
        base: slapd.base_dn().into(),
        filter: "(&(objectClass=inetOrgPerson)(uid=%n))".into(),
        bind_dn: slapd.service_dn().into(),
        bind_password: slapd.service_password().into(),
        blocking: false,
    })));
    eprintln!("dovecot (ldap) started in {:?}", d.startup_time());
    let alice = Fixture::ALICE;
    assert_eq!(imap_login(d.imap_port(), alice.uid, alice.password).expect("IMAP session"), ImapOutcome::Ok);
    assert_eq!(imap_login(d.imap_port(), Fixture::BOB.uid, Fixture::BOB.password).expect("IMAP"), ImapOutcome::Ok);
    let wrong = imap_login(d.imap_port(), alice.uid, "not-her-password").expect("IMAP session");
    assert_eq!(wrong.code(), Some("AUTHENTICATIONFAILED"), "{wrong:?}");
    let unknown = imap_login(d.imap_port(), "nobody-here", "x").expect("IMAP session");
    assert_eq!(unknown.code(), Some("AUTHENTICATIONFAILED"), "{unknown:?}");
    // Two entries match uid=twin: Dovecot's LDAP passdb calls that an internal error.
    let twin = imap_login(d.imap_port(), "twin", Fixture::TWIN.password).expect("IMAP session");
    assert!(matches!(twin, ImapOutcome::Temporary(_)), "{twin:?}");
    assert!(d.wait_for_log("LDAP search returned multiple entries", Duration::from_secs(5)), "{}", d.log());
}

#[test]
fn postfix_hands_auth_to_a_dovecot_auth_listener() {
    if let Some(why) = dirconn_tests::daemon::mail_unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let d = static_dovecot(true);
    let auth_port = d.auth_port().expect("an auth listener");
    let p = Postfix::start(PostfixOptions::dovecot_inet(auth_port));
    eprintln!("postfix started in {:?}", p.startup_time());
    let sasl_path = p.postconf(&["-h", "smtpd_sasl_path"]);
    assert_eq!(String::from_utf8_lossy(&sasl_path.stdout).trim(), format!("inet:127.0.0.1:{auth_port}"));

    let mut c = SmtpClient::connect(p.smtp_port()).expect("SMTP session");
    assert_eq!(c.greeting.code, 220, "{:?}", c.greeting);
    let ehlo = c.ehlo("test.invalid").expect("EHLO");
    assert_eq!(ehlo.code, 250, "{ehlo:?}");
    assert!(ehlo.advertises_auth("PLAIN") && ehlo.advertises_auth("LOGIN"), "{ehlo:?}\n{}", p.log());
    let plain = c.auth(SmtpMechanism::Plain, "alice", PASSWORD).expect("AUTH PLAIN");
    assert_eq!(plain.code, 235, "{plain:?}");
    c.quit();

    let login = smtp_auth(p.smtp_port(), SmtpMechanism::Login, "bob", PASSWORD).expect("AUTH LOGIN");
    assert_eq!(login.code, 235, "{login:?}");
    let (wrong, took) = timed(|| smtp_auth(p.smtp_port(), SmtpMechanism::Plain, "bob", "wrong").expect("AUTH"));
    assert_eq!(wrong.code, 535, "{wrong:?}");
    assert!(took < Duration::from_millis(500), "a refused AUTH took {took:?}");
    let wrong = smtp_auth(p.smtp_port(), SmtpMechanism::Login, "bob", "wrong").expect("AUTH LOGIN");
    assert_eq!(wrong.code, 535, "{wrong:?}");
    assert!(d.wait_for_log("auth: Info: static(bob,127.0.0.1", Duration::from_secs(5)), "{}", d.log());
}
