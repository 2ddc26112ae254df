//! End to end: IMAP logins into a real Dovecot 2.3 whose passdb and userdb are `integrations/dovecot/dirconn.lua`
//! over a real `dirconn serve`, against a real directory: OpenLDAP (generic LDAP connector) and a Samba AD DC
//! (Active Directory connector, everything inside the test's private network namespace). What a mail client
//! sees (logged in, `NO [AUTHENTICATIONFAILED]`, `NO [UNAVAILABLE]` while the directory is down), the one
//! canonical account every login form ends in, and the `[domain.userdb]` fields Dovecot receives.

#[path = "support/dirconn_serve.rs"]
mod dirconn_serve;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dirconn_serve::{Serve, ServeOptions, TOKEN};
use dirconn_store::{AuditQuery, Store};
use dirconn_tests::imap::ImapClient;
use dirconn_tests::net::refused_port;
use dirconn_tests::samba::{self, SambaDc};
use dirconn_tests::{
    DomainSpec, Dovecot, DovecotAuth, DovecotOptions, Fixture, ImapOutcome, LuaAuth, Slapd, SlapdOptions, imap_login,
    stage,
};

/// Where users' homes go (`[domain.userdb] home = "<root>/%d/%n"`): a folder any uid may create in.
struct Homes {
    dir: tempfile::TempDir,
}

impl Homes {
    fn new() -> Homes {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::Builder::new().prefix("dirconn-homes-").tempdir_in("/tmp").expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod 1777");
        Homes { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The `userdb` inline table of a domain.
    fn userdb(&self) -> String {
        format!(
            r#"{{ home = "{}/%d/%n", uid = 5000, gid = 5000, quota_rule = "*:storage=1G" }}"#,
            self.root().display()
        )
    }
}

/// Dovecot with the operators' Lua snippet over `serve`, mail in each user's home (`~/Maildir`), and logins
/// handed over as typed (`auth_username_format = %u`; Dovecot's default `%Lu` lowercases them first), so that
/// the canonical account is dirconn's doing.
fn lua_dovecot(serve: &Serve, extra: &str) -> Dovecot {
    let mut opts = DovecotOptions::new(DovecotAuth::Lua(LuaAuth {
        api_url: serve.url(),
        token_file: serve.token_file().to_path_buf(),
        timeout_msecs: Some(3000),
    }));
    opts.extra_config = format!("mail_location = maildir:~/Maildir\nauth_username_format = %u\n{extra}");
    let d = Dovecot::start(opts);
    eprintln!("dovecot (lua) started in {:?}", d.startup_time());
    d
}

/// Logs in, opens INBOX (which creates the maildir in the home), logs out.
fn login_and_select(port: u16, login: &str, password: &str) -> ImapOutcome {
    let mut c = ImapClient::connect(port).expect("IMAP session");
    let outcome = c.login(login, password).expect("LOGIN");
    if outcome.is_ok() {
        assert_eq!(c.command("SELECT INBOX").expect("SELECT"), ImapOutcome::Ok, "{login}: SELECT INBOX");
    }
    c.logout();
    outcome
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What Dovecot's userdb says of `user`, as `key -> value`: the fields of `doveadm user` (`uid`, `gid`, `home`,
/// every other userdb field) and `user`, the name the userdb answered with (from `doveadm user -u`, the lookup
/// mail processes do); with the exit code of `doveadm user` (0, 67 unknown, 75 temporary failure).
fn userdb_fields(d: &Dovecot, user: &str) -> (Option<i32>, std::collections::BTreeMap<String, String>) {
    let out = d.doveadm(&["user", user]);
    let mut fields: std::collections::BTreeMap<String, String> = stdout(&out)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if out.status.success() {
        let mail = d.doveadm(&["user", "-u", user]);
        for line in stdout(&mail).lines() {
            if let Some(("user", v)) = line.split_once(" : ").map(|(k, v)| (k.trim(), v.trim())) {
                fields.insert("user".into(), v.to_owned());
            }
        }
    }
    (out.status.code(), fields)
}

/// The audit rows the service stored (newest first), read after it stopped.
fn audit(serve: &Serve) -> Vec<dirconn_store::AuditRecord> {
    let url = serve.dir().join("accounts.db").display().to_string();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = Store::open(&url).await.expect("the service's store opens");
        let rows = store.audit(&AuditQuery { limit: 1000, ..AuditQuery::default() }).await.expect("audit");
        store.close().await;
        rows
    })
}

/// Waits up to 5 s for `needle` to be in Dovecot's log `n` times (its log process writes a little later).
fn wait_for_count(d: &Dovecot, needle: &str, n: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while d.log().matches(needle).count() < n {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

#[test]
fn generic_ldap_users_log_in_to_dovecot_through_dirconn_serve() {
    if let Some(why) = dirconn_tests::daemon::mail_unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let mut slapd = Slapd::start_with(SlapdOptions { tls: false, ..SlapdOptions::default() });
    let homes = Homes::new();
    let domain = DomainSpec::ldap(&slapd).raw("userdb", &homes.userdb());
    let mut serve = Serve::start(ServeOptions::new(vec![stage::for_tests().ldap()], vec![domain]));
    let d = lua_dovecot(&serve, "");
    let port = d.imap_port();
    let alice = Fixture::ALICE;

    // The first request of an auth worker: hyper answers Dovecot's `Expect: 100-continue` (a server that
    // does not costs 2 s here, see `lua_script_pays_for_a_server_without_100_continue`).
    let (first, took) = timed(|| imap_login(port, alice.uid, alice.password).expect("IMAP"));
    assert_eq!(first, ImapOutcome::Ok, "{}\n{}", d.log(), serve.log());
    assert!(took < Duration::from_millis(1500), "the first login took {took:?}");

    // Every form of the login ends in the one canonical account: the same user, home and maildir.
    for login in ["alice", "ALICE", "alice@example.org", "Alice@EXAMPLE.org"] {
        assert_eq!(login_and_select(port, login, alice.password), ImapOutcome::Ok, "{login}\n{}", d.log());
    }
    assert!(wait_for_count(&d, "Login: user=<alice@example.org>", 5), "{}", d.log());
    let log = d.log();
    assert!(!log.contains("user=<alice>") && !log.contains("user=<ALICE") && !log.contains("user=<Alice"), "{log}");
    let domain_homes = homes.root().join("example.org");
    assert!(domain_homes.join("alice/Maildir").is_dir(), "no ~/Maildir under the userdb home:\n{log}");
    let names: Vec<String> = std::fs::read_dir(&domain_homes)
        .expect("homes of example.org")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["alice"], "one home for every login form");
    let test = d.doveadm(&["auth", "test", "ALICE", alice.password]);
    assert_eq!(test.status.code(), Some(0), "{test:?}");
    assert!(stdout(&test).contains("user=alice@example.org"), "{}", stdout(&test));

    // The userdb fields of [domain.userdb] reach Dovecot: with a login (prefetch) and without (GET /v1/users).
    let home = domain_homes.join("bob").display().to_string();
    for user in ["bob@example.org", "BOB"] {
        let (code, fields) = userdb_fields(&d, user);
        assert_eq!(code, Some(0), "{user}: {fields:?}\n{}", d.log());
        assert_eq!(fields.get("user").map(String::as_str), Some("bob@example.org"), "{fields:?}");
        assert_eq!(fields.get("home"), Some(&home), "{fields:?}");
        assert_eq!(fields.get("uid").map(String::as_str), Some("5000"), "{fields:?}");
        assert_eq!(fields.get("gid").map(String::as_str), Some("5000"), "{fields:?}");
        assert_eq!(fields.get("quota_rule").map(String::as_str), Some("*:storage=1G"), "{fields:?}");
    }
    assert_eq!(userdb_fields(&d, "nobody-here@example.org").0, Some(67), "an unknown user");

    // A Dovecot holding a token the service does not know: every login is a temporary failure (DC-810 in its
    // log), not a wrong password.
    let tokens = tempfile::tempdir().expect("tempdir");
    let bad_token = tokens.path().join("token");
    std::fs::write(&bad_token, "not-the-service-token-0000").expect("token file");
    let stranger = Dovecot::start(DovecotOptions::new(DovecotAuth::Lua(LuaAuth {
        api_url: serve.url(),
        token_file: bad_token,
        timeout_msecs: Some(3000),
    })));
    let refused = imap_login(stranger.imap_port(), alice.uid, alice.password).expect("IMAP");
    assert_eq!(refused.code(), Some("UNAVAILABLE"), "{refused:?}");
    assert!(stranger.wait_for_log("refused the API token", Duration::from_secs(5)), "{}", stranger.log());
    drop(stranger);

    // Refusals: a wrong password and an unknown user, both AUTHENTICATIONFAILED; bob, who logged in from
    // here before (a familiar network for the throttle), still logs in after his mistake.
    assert_eq!(login_and_select(port, Fixture::BOB.uid, Fixture::BOB.password), ImapOutcome::Ok);
    let wrong = imap_login(port, Fixture::BOB.uid, "not-his-password").expect("IMAP");
    assert_eq!(wrong.code(), Some("AUTHENTICATIONFAILED"), "{wrong:?}");
    let unknown = imap_login(port, "nobody-here", "x").expect("IMAP");
    assert_eq!(unknown.code(), Some("AUTHENTICATIONFAILED"), "{unknown:?}");
    assert_eq!(login_and_select(port, Fixture::BOB.uid, Fixture::BOB.password), ImapOutcome::Ok);

    // The directory stops: a temporary failure, never a failed login; stored accounts still resolve.
    slapd.stop();
    let down = imap_login(port, Fixture::DAVE.uid, Fixture::DAVE.password).expect("IMAP");
    assert!(matches!(down, ImapOutcome::Temporary(_)), "{down:?}");
    assert_eq!(down.code(), Some("UNAVAILABLE"), "{down:?}");
    let down = imap_login(port, alice.uid, alice.password).expect("IMAP");
    assert_eq!(down.code(), Some("UNAVAILABLE"), "{down:?}");
    assert!(d.wait_for_log("dirconn: POST /v1/auth: 503", Duration::from_secs(5)), "{}", d.log());
    assert_eq!(userdb_fields(&d, "alice@example.org").0, Some(0), "a stored account resolves without the directory");
    assert_eq!(userdb_fields(&d, "dave@example.org").0, Some(75), "an unknown account is a temporary failure");
    slapd.restart();
    assert_eq!(imap_login(port, Fixture::DAVE.uid, Fixture::DAVE.password).expect("IMAP"), ImapOutcome::Ok);

    serve.stop();
    let rows = audit(&serve);
    let ok = rows
        .iter()
        .find(|r| r.login == "ALICE" && r.outcome == "ok" && r.service.as_deref() == Some("imap"))
        .unwrap_or_else(|| panic!("no ALICE in {rows:#?}\n{}", serve.log()));
    assert_eq!(ok.account.as_deref(), Some("alice@example.org"), "{ok:?}");
    assert_eq!((ok.interface.as_str(), ok.service.as_deref()), ("http", Some("imap")), "{ok:?}");
    assert_eq!((ok.client_ip.as_deref(), ok.local_ip.as_deref()), (Some("127.0.0.1"), Some("127.0.0.1")), "{ok:?}");
    assert!(rows.iter().any(|r| r.login == "dave" && r.kind == "unreachable"), "{rows:#?}");
    for log in [d.log(), serve.log()] {
        assert!(!log.contains(TOKEN), "the token reached a log");
        assert!(!log.contains(alice.password) && !log.contains("not-his-password"), "a password reached a log");
    }
}

/// Runs `scenario` after a DC started inside this test's private network namespace; skips (printing why)
/// where Samba cannot run, except in CI.
fn with_dc(scenario: impl FnOnce(SambaDc)) {
    if let Some(why) = samba::unavailable() {
        assert!(std::env::var_os("CI").is_none(), "Samba AD tests cannot run in CI: {why}");
        eprintln!("skipped: {why}");
        return;
    }
    // Built before entering the namespace (cargo runs there otherwise).
    let _ = (stage::for_tests(), dirconn_serve::dirconn_bin("debug"));
    samba::enter_private_network().expect("a private network namespace");
    scenario(SambaDc::start());
}

#[test]
fn active_directory_users_log_in_to_dovecot_through_dirconn_serve() {
    if let Some(why) = dirconn_tests::daemon::mail_unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    with_dc(|mut dc| {
        let homes = Homes::new();
        let domain = DomainSpec::active_directory(&dc)
            .raw("login_suffixes", r#"["example.test"]"#)
            .raw("connect_timeout", "\"3s\"")
            .raw("operation_timeout", "\"5s\"")
            .raw("userdb", &homes.userdb());
        let serve = Serve::start(ServeOptions::new(vec![stage::for_tests().active_directory()], vec![domain]));
        // Dovecot's default auth_username_chars refuses `\`: allow every character, as a site with
        // `DOMAIN\user` logins must.
        let d = lua_dovecot(&serve, "auth_username_chars =\n");
        let port = d.imap_port();
        let alice = samba::AdUser::ALICE.password;
        for login in ["alice", "EXAMPLE\\alice", "alice@example.test", "ALICE@example.com"] {
            let outcome = login_and_select(port, login, alice);
            assert_eq!(outcome, ImapOutcome::Ok, "{login}\n{}\n{}", d.log(), serve.log());
        }
        assert!(wait_for_count(&d, "Login: user=<alice@example.com>", 4), "{}", d.log());
        let log = d.log();
        assert!(homes.root().join("example.com/alice/Maildir").is_dir(), "no maildir in alice's home:\n{log}");
        let (code, fields) = userdb_fields(&d, "EXAMPLE\\alice");
        assert_eq!(code, Some(0), "{fields:?}\n{}", d.log());
        assert_eq!(fields.get("user").map(String::as_str), Some("alice@example.com"), "{fields:?}");
        assert_eq!(fields.get("uid").map(String::as_str), Some("5000"), "{fields:?}");

        // Account states, told only with the right password: a disabled account is refused like a wrong
        // password; an expired password, or one that must be changed, is `NO [EXPIRED]`.
        let disabled =
            imap_login(port, "disabled-user", samba::AdUser::by_sam("disabled-user").expect("fixture").password);
        assert_eq!(disabled.expect("IMAP").code(), Some("AUTHENTICATIONFAILED"));
        assert!(d.wait_for_log("(user disabled)", Duration::from_secs(5)), "{}", d.log());
        for sam in ["expired-password", "must-change"] {
            let user = samba::AdUser::by_sam(sam).expect("fixture");
            let outcome = imap_login(port, sam, user.password).expect("IMAP");
            assert_eq!(outcome.code(), Some("EXPIRED"), "{sam}: {outcome:?}\n{}", serve.log());
        }

        // One wrong password (the lockout threshold is 3), then the DC stops.
        let wrong = imap_login(port, "bob", "not-his-password").expect("IMAP");
        assert_eq!(wrong.code(), Some("AUTHENTICATIONFAILED"), "{wrong:?}");
        dc.stop();
        let down = imap_login(port, "bob", samba::AdUser::BOB.password).expect("IMAP");
        assert_eq!(down.code(), Some("UNAVAILABLE"), "{down:?}\n{}", serve.log());
        assert!(!d.log().contains(TOKEN) && !serve.log().contains(alice), "a secret reached a log");
    });
}

/// The `dirconn` URL of a service that is not there, and a token file that does not exist yet.
#[test]
fn lua_script_reports_an_unreachable_service_as_temporary() {
    if let Some(why) = dirconn_tests::daemon::mail_unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let tokens = tempfile::tempdir().expect("tempdir");
    let token_file: PathBuf = tokens.path().join("token");
    let d = Dovecot::start(DovecotOptions::new(DovecotAuth::Lua(LuaAuth {
        api_url: format!("http://127.0.0.1:{}", refused_port()),
        token_file: token_file.clone(),
        timeout_msecs: Some(3000),
    })));
    // No token file yet: a temporary failure naming the file, not a refusal.
    let outcome = imap_login(d.imap_port(), "alice", "good").expect("IMAP");
    assert!(matches!(outcome, ImapOutcome::Temporary(_)), "{outcome:?}");
    assert!(d.wait_for_log("passdb-lua: dirconn: cannot read the token file", Duration::from_secs(5)), "{}", d.log());
    std::fs::write(&token_file, TOKEN).expect("token file");
    let outcome = imap_login(d.imap_port(), "alice", "good").expect("IMAP");
    assert_eq!(outcome.code(), Some("UNAVAILABLE"), "{outcome:?}");
    assert!(d.wait_for_log("Connection refused", Duration::from_secs(5)), "{}", d.log());
    assert!(!d.log().contains(TOKEN), "the token reached the log");
}

/// A keep-alive HTTP/1.1 server that never answers `100 Continue` (it waits for the body as sent): every
/// `POST /v1/auth` logs in `<login>@example.org`. Returns its port; lives until the test process ends.
fn no_continue_server(bodies: std::sync::Arc<std::sync::Mutex<Vec<(Duration, String)>>>) -> u16 {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let bodies = bodies.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                loop {
                    let mut len = 0;
                    let mut expect = String::new();
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let head_at = Instant::now();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h.trim().is_empty() {
                            break;
                        }
                        let lower = h.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if lower.starts_with("expect:") {
                            expect = h.trim().to_owned();
                        }
                    }
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    bodies.lock().expect("lock").push((head_at.elapsed(), expect));
                    let login = v["login"].as_str().unwrap_or_default();
                    let json = format!(r#"{{"ok":true,"account":"{login}@example.org","userdb":{{}}}}"#);
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
                        json.len()
                    );
                    if (&stream).write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// What a server that ignores `Expect: 100-continue` costs (the real service answers it: see the first login
/// of `generic_ldap_users_log_in_to_dovecot_through_dirconn_serve`). The one stand-in server of these tests:
/// `dirconn serve` cannot be made to skip `100 Continue`.
#[test]
fn lua_script_pays_for_a_server_without_100_continue() {
    if let Some(why) = dirconn_tests::daemon::mail_unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let port = no_continue_server(seen.clone());
    let tokens = tempfile::tempdir().expect("tempdir");
    let token_file = tokens.path().join("token");
    std::fs::write(&token_file, TOKEN).expect("token file");
    let d = Dovecot::start(DovecotOptions::new(DovecotAuth::Lua(LuaAuth {
        api_url: format!("http://127.0.0.1:{port}"),
        token_file,
        timeout_msecs: Some(5000),
    })));
    let mut took = Vec::new();
    for i in 0..4 {
        let (outcome, t) = timed(|| imap_login(d.imap_port(), &format!("user{i}"), "pw").expect("IMAP"));
        assert_eq!(outcome, ImapOutcome::Ok, "{}", d.log());
        took.push(t);
    }
    let seen = seen.lock().expect("lock").clone();
    eprintln!("logins: {took:?}; the server saw (wait for the body, Expect) {seen:?}");
    // The first POST of the auth worker waits 2 s for a `100 Continue` that never comes, then sends its
    // body; from then on that worker sends no `Expect` to this server, and logins take milliseconds.
    assert!(took[0] >= Duration::from_millis(1900), "{took:?}");
    assert_eq!(seen[0].1, "Expect: 100-continue", "{seen:?}");
    assert!(seen[0].0 >= Duration::from_millis(1900), "{seen:?}");
    assert!(seen[1..].iter().all(|(wait, expect)| expect.is_empty() && *wait < Duration::from_millis(500)), "{seen:?}");
    assert!(took[1..].iter().all(|t| *t < Duration::from_millis(500)), "{took:?}");
}
