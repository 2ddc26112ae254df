//! Tests of the mail-server harness (Dovecot, Postfix, nginx) and of the Dovecot Lua script, against the
//! real servers on 127.0.0.1. Where the dirconn service would answer, a stand-in in this file does (an
//! `auth_http` responder for nginx, an HTTP/1.1 responder for the Lua script): they prove the harness and the
//! script's mapping of the API's answers; the service's own tests run the same servers against the service.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dirconn_tests::imap::{ImapClient, imap_login_many};
use dirconn_tests::net::refused_port;
use dirconn_tests::{
    Dovecot, DovecotAuth, DovecotOptions, Fixture, ImapOutcome, LdapAuth, LuaAuth, Nginx, NginxOptions, Postfix,
    PostfixOptions, Slapd, SlapdOptions, SmtpClient, SmtpMechanism, imap_login, smtp_auth,
};

const PASSWORD: &str = "static-secret";
const TOKEN: &str = "test-token-7f3a";

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
    let mut opts = DovecotOptions::new(DovecotAuth::Static { password: PASSWORD.into() });
    opts.failure_delay = true;
    let d = Dovecot::start(opts);
    let (refused, took) = timed(|| imap_login(d.imap_port(), "alice", "wrong").expect("IMAP session"));
    assert!(matches!(refused, ImapOutcome::No(_)), "{refused:?}");
    assert!(took >= Duration::from_millis(100), "a refusal with the delay kept took only {took:?}");
}

#[test]
fn dovecot_ldap_passdb_binds_as_fixture_users() {
    let slapd = Slapd::start_with(SlapdOptions { tls: false, ..SlapdOptions::default() });
    let d = Dovecot::start(DovecotOptions::new(DovecotAuth::Ldap(LdapAuth {
        url: slapd.ldap_url(),
        base: slapd.base_dn().into(),
        filter: "(&(objectClass=inetOrgPerson)(uid=%n))".into(),
        bind_dn: slapd.service_dn().into(),
        bind_password: slapd.service_password().into(),
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

/// A one-request-per-connection `auth_http` responder: `OK` at `backend` for `password`, a refusal
/// otherwise; records every request's headers.
struct AuthHttp {
    port: u16,
    requests: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AuthHttp {
    fn start(password: &'static str, imap_backend: u16, smtp_backend: u16) -> AuthHttp {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok((stream, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    stream.set_nonblocking(false).expect("blocking");
                    let headers = read_head(&mut BufReader::new(&stream)).1;
                    let backend = if headers.get("auth-protocol").map(String::as_str) == Some("smtp") {
                        smtp_backend
                    } else {
                        imap_backend
                    };
                    let answer = if headers.get("auth-pass").map(String::as_str) == Some(password) {
                        format!("Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: {backend}\r\n")
                    } else {
                        "Auth-Status: Invalid login or password\r\nAuth-Wait: 0\r\n".to_owned()
                    };
                    requests.lock().expect("lock").push(headers);
                    let _ = (&stream).write_all(format!("HTTP/1.0 200 OK\r\n{answer}\r\n").as_bytes());
                }
            })
        };
        AuthHttp { port, requests, stop, thread: Some(thread) }
    }
}

impl Drop for AuthHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads a request line and headers (names lower-cased).
fn read_head(reader: &mut impl BufRead) -> (String, BTreeMap<String, String>) {
    let mut first = String::new();
    let _ = reader.read_line(&mut first);
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    (first.trim_end().to_owned(), headers)
}

#[test]
fn nginx_proxies_imap_and_smtp_logins_it_was_told_to() {
    let d = static_dovecot(true);
    let p = Postfix::start(PostfixOptions::dovecot_inet(d.auth_port().expect("auth listener")));
    let auth = AuthHttp::start(PASSWORD, d.imap_port(), p.smtp_port());
    let n = Nginx::start(
        NginxOptions { smtp: true, ..NginxOptions::new(format!("127.0.0.1:{}/v1/nginx/auth", auth.port)) }
            .bearer(TOKEN),
    );
    eprintln!("nginx started in {:?}", n.startup_time());

    assert_eq!(imap_login(n.imap_port(), "alice", PASSWORD).expect("IMAP via nginx"), ImapOutcome::Ok);
    assert!(
        d.wait_for_log("Login: user=<alice>", Duration::from_secs(5)),
        "dovecot:\n{}\nnginx:\n{}",
        d.log(),
        n.log()
    );
    let refused = imap_login(n.imap_port(), "alice", "wrong").expect("IMAP via nginx");
    assert_eq!(refused, ImapOutcome::No("Invalid login or password".into()));
    let smtp = smtp_auth(n.smtp_port(), SmtpMechanism::Plain, "carol", PASSWORD).expect("SMTP via nginx");
    assert_eq!(smtp.code, 235, "{smtp:?}\n{}", n.log());
    assert!(n.wait_for_log("client logged in", Duration::from_secs(5)), "{}", n.log());

    let requests = auth.requests.lock().expect("lock").clone();
    assert_eq!(requests.len(), 3, "{requests:?}");
    for r in &requests {
        assert_eq!(r.get("authorization").map(String::as_str), Some(format!("Bearer {TOKEN}").as_str()), "{r:?}");
        assert_eq!(r.get("client-ip").map(String::as_str), Some("127.0.0.1"), "{r:?}");
    }
    assert_eq!(requests[0].get("auth-user").map(String::as_str), Some("alice"));
    assert_eq!(requests[0].get("auth-protocol").map(String::as_str), Some("imap"));
    assert_eq!(requests[2].get("auth-protocol").map(String::as_str), Some("smtp"));
    assert_eq!(requests[2].get("auth-method").map(String::as_str), Some("plain"));
}

/// One request the API stand-in saw.
#[derive(Debug, Clone)]
struct ApiRequest {
    line: String,
    headers: BTreeMap<String, String>,
    body: String,
}

/// An HTTP/1.1 keep-alive responder playing the dirconn API's contract for the Lua script: answers
/// `100 Continue` to `Expect`, `/v1/auth` by password, `/v1/users/{user}` by user name.
struct ApiStandIn {
    port: u16,
    requests: Arc<Mutex<Vec<ApiRequest>>>,
    connections: Arc<AtomicUsize>,
}

impl ApiStandIn {
    fn start() -> ApiStandIn {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (r, c) = (Arc::clone(&requests), Arc::clone(&connections));
        // Lives until the test process ends (the listener is never closed: each test has its own port).
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                c.fetch_add(1, Ordering::SeqCst);
                let r = Arc::clone(&r);
                std::thread::spawn(move || serve_api(stream, &r));
            }
        });
        ApiStandIn { port, requests, connections }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn serve_api(stream: TcpStream, requests: &Mutex<Vec<ApiRequest>>) {
    let mut reader = BufReader::new(&stream);
    loop {
        let (line, headers) = read_head(&mut reader);
        if line.is_empty() {
            return;
        }
        if headers.get("expect").is_some_and(|e| e.eq_ignore_ascii_case("100-continue")) {
            let _ = (&stream).write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let (status, json) = api_answer(&line, &body);
        requests.lock().expect("lock").push(ApiRequest { line, headers, body });
        let reason = match status {
            200 => "OK",
            401 => "Unauthorized",
            404 => "Not Found",
            _ => "Service Unavailable",
        };
        let extra = if status == 503 { "Retry-After: 5\r\n" } else { "" };
        let answer = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{json}",
            json.len()
        );
        if (&stream).write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn api_error(kind: &str) -> String {
    format!(
        r#"{{"ok":false,"code":"DC-203","kind":"{kind}","message":"m","fix":"f","user_message":"Invalid login or password."}}"#
    )
}

/// The contract's answers: password `good` logs in as `<login>@example.org`; `down` is a 503; users
/// `ghost` (not-found), `off` (account-disabled) and `old` (password-expired) are refused; any other
/// password is wrong.
fn api_answer(line: &str, body: &str) -> (u16, String) {
    let userdb = |account: &str| {
        let local = account.split('@').next().unwrap_or_default();
        format!(r#"{{"home":"/srv/mail/example.org/{local}","uid":"5000","gid":"5000","quota_rule":"*:storage=1G"}}"#)
    };
    if line.starts_with("POST /v1/auth ") {
        let v: serde_json::Value = serde_json::from_str(body).expect("the script sends JSON");
        let login = v["login"].as_str().unwrap_or_default();
        let account = format!("{login}@example.org");
        return match (login, v["password"].as_str().unwrap_or_default()) {
            (_, "down") => (503, api_error("unreachable")),
            ("ghost", _) => (401, api_error("not-found")),
            ("off", _) => (401, api_error("account-disabled")),
            ("old", _) => (401, api_error("password-expired")),
            (_, "good") => (
                200,
                format!(
                    r#"{{"ok":true,"account":"{account}","domain":"example.org","login":"{login}","app_groups":[],"fields":{{}},"userdb":{}}}"#,
                    userdb(&account)
                ),
            ),
            _ => (401, api_error("invalid-credentials")),
        };
    }
    if let Some(rest) = line.strip_prefix("GET /v1/users/") {
        let user = rest.split(' ').next().unwrap_or_default().replace("%40", "@");
        return match user.as_str() {
            u if u.starts_with("ghost") => (404, r#"{"code":"DC-204","kind":"not-found","message":"m"}"#.into()),
            u if u.starts_with("down") => (503, api_error("unreachable")),
            u => (200, format!(r#"{{"account":"{u}","active":true,"userdb":{}}}"#, userdb(u))),
        };
    }
    (404, "{}".into())
}

fn lua_dovecot(api_url: String, token_file: &std::path::Path) -> Dovecot {
    let d = Dovecot::start(DovecotOptions::new(DovecotAuth::Lua(LuaAuth {
        api_url,
        token_file: token_file.to_path_buf(),
        timeout_msecs: Some(3000),
    })));
    eprintln!("dovecot (lua) started in {:?}", d.startup_time());
    d
}

#[test]
fn lua_script_maps_the_api_answers() {
    let api = ApiStandIn::start();
    let tokens = tempfile::tempdir().expect("tempdir");
    let token_file = tokens.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let d = lua_dovecot(api.url(), &token_file);
    let port = d.imap_port();

    assert_eq!(imap_login(port, "alice", "good").expect("IMAP"), ImapOutcome::Ok);
    assert!(d.wait_for_log("Login: user=<alice@example.org>", Duration::from_secs(5)), "{}", d.log());
    let mut c = ImapClient::connect(port).expect("IMAP session");
    assert_eq!(c.login("alice", "good").expect("LOGIN"), ImapOutcome::Ok);
    // Mail access as the API's uid 5000 (no passwd entry) with a home that does not exist.
    assert_eq!(c.command("SELECT INBOX").expect("SELECT"), ImapOutcome::Ok, "{}", d.log());
    c.logout();
    assert!(d.mail_root().join("alice@example.org").is_dir(), "no maildir for uid 5000:\n{}", d.log());
    let (first, took) = timed(|| imap_login(port, "bob", "good").expect("IMAP"));
    assert_eq!(first, ImapOutcome::Ok);
    assert!(took < Duration::from_millis(1500), "a login took {took:?} (the 100-continue wait is 2 s)");
    for (user, password, code) in [
        ("alice", "bad", "AUTHENTICATIONFAILED"),
        ("ghost", "bad", "AUTHENTICATIONFAILED"),
        ("off", "bad", "AUTHENTICATIONFAILED"),
        ("old", "bad", "EXPIRED"),
        ("alice", "down", "UNAVAILABLE"),
    ] {
        let outcome = imap_login(port, user, password).expect("IMAP");
        assert_eq!(outcome.code(), Some(code), "{user}/{password}: {outcome:?}");
    }
    assert!(d.wait_for_log("(user disabled)", Duration::from_secs(5)), "{}", d.log());
    assert!(d.wait_for_log("503 Service Unavailable (DC-203 unreachable", Duration::from_secs(5)), "{}", d.log());

    let user = d.doveadm(&["user", "carol@example.org"]);
    let text = String::from_utf8_lossy(&user.stdout);
    assert_eq!(user.status.code(), Some(0), "{user:?}");
    assert!(text.contains("/srv/mail/example.org/carol") && text.contains("5000"), "{text}");
    assert_eq!(d.doveadm(&["user", "ghost@example.org"]).status.code(), Some(67));
    assert_eq!(d.doveadm(&["user", "down@example.org"]).status.code(), Some(75));

    let requests = api.requests.lock().expect("lock").clone();
    let auth = requests.iter().find(|r| r.line.starts_with("POST /v1/auth ")).expect("a POST /v1/auth");
    assert_eq!(auth.headers.get("authorization").map(String::as_str), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(auth.headers.get("expect").map(String::as_str), Some("100-continue"));
    let body: serde_json::Value = serde_json::from_str(&auth.body).expect("JSON");
    assert_eq!(body["login"], "alice");
    assert_eq!(body["password"], "good");
    assert_eq!(body["service"], "imap");
    assert_eq!(body["client_ip"], "127.0.0.1");
    assert_eq!(body["local_ip"], "127.0.0.1");
    assert_eq!(body["secured"], true, "Dovecot counts loopback as secured");
    // The script escapes `@` as %40; Dovecot's HTTP client sends it decoded (legal in a path segment).
    assert!(requests.iter().any(|r| r.line.starts_with("GET /v1/users/carol@example.org ")), "{requests:?}");
    // Logins with prefetch make no userdb call; the auth workers keep their connections.
    assert!(!requests.iter().any(|r| r.line.starts_with("GET /v1/users/alice")), "{requests:?}");
    let connections = api.connections.load(Ordering::SeqCst);
    assert!(connections < requests.len(), "{connections} connections for {} requests: no keep-alive", requests.len());
    assert!(!d.log().contains(TOKEN), "the token reached the log");
}

#[test]
fn lua_script_reports_an_unreachable_api_as_temporary() {
    let tokens = tempfile::tempdir().expect("tempdir");
    let token_file = tokens.path().join("token");
    let d = lua_dovecot(format!("http://127.0.0.1:{}", refused_port()), &token_file);
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
