//! `dirconn serve` as mail servers and operators see it: the HTTP API v1 (logins, user lookups, tokens and
//! roles, the OpenAPI document), hostile input, SIGHUP reloads, the SIGTERM drain, the audit, readiness and
//! metrics, and bind_ip routing, each against the real binary over a real slapd (and PostgreSQL).

use std::{
    collections::BTreeSet,
    net::{Ipv4Addr, SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use dirconn_store::{AuditQuery, AuditRecord, Store};
use dirconn_tests::{
    DomainSpec, Fixture, Slapd, SlapdOptions,
    http::{Http, Response},
    postgres::Postgres,
    serve::{ClientSpec, Serve, ServeSpec},
    slapd::{CONTRACTORS_DN, PEOPLE_DN},
};
use serde_json::{Value, json};

const HOME: &str = "/var/vmail/%d/%n";

/// The fixture domain with a userdb template.
fn domain(slapd: &Slapd) -> DomainSpec {
    DomainSpec::ldap(slapd)
        .raw("userdb", &format!("{{ home = \"{HOME}\", uid = 5000, gid = \"5001\", mail = \"%u\" }}"))
}

fn serve(slapd: &Slapd) -> Serve {
    Serve::start(ServeSpec::new(vec![domain(slapd)]))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn auth(http: &mut Http, body: Value) -> Response {
    http.post_json("/v1/auth", &body)
}

/// Asserts an error answer: this status, a JSON body with a `DC-` code, a kind and a message; returns the body.
#[track_caller]
fn problem(r: &Response, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert!(v["code"].as_str().is_some_and(|c| c.starts_with("DC-")), "no code: {v}");
    assert!(v["kind"].as_str().is_some_and(|k| !k.is_empty()) && v["message"].is_string(), "{v}");
    assert_eq!(v["ok"], false, "{v}");
    v
}

fn connectable(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

fn signal_pid(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid");
    // SAFETY: kill(2) on the PID of a slapd this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

#[test]
fn logins_answer_the_canonical_account_and_temporary_failures_are_503() {
    let mut slapd = Slapd::start();
    let serve = serve(&slapd);
    let mut http = serve.client();
    for login in ["alice", "ALICE", "alice@example.org", "Alice@Example.Org"] {
        let r = http.login(login, Fixture::ALICE.password);
        assert_eq!(r.status, 200, "{login}: {}", r.text());
        let v = r.json();
        assert_eq!((v["ok"].as_bool(), v["account"].as_str()), (Some(true), Some("alice@example.org")), "{login}: {v}");
        assert_eq!((v["domain"].as_str(), v["login"].as_str()), (Some("example.org"), Some("alice")));
        assert_eq!(v["userdb"]["home"], "/var/vmail/example.org/alice", "{v}");
        assert_eq!((v["userdb"]["uid"].as_str(), v["userdb"]["gid"].as_str()), (Some("5000"), Some("5001")));
        assert_eq!(v["userdb"]["mail"], "alice@example.org");
        assert_eq!(v["email"], Fixture::ALICE.mail);
    }

    let r = http.login("alice", "not-her-password");
    let v = problem(&r, 401);
    assert_eq!((v["code"].as_str(), v["kind"].as_str()), (Some("DC-203"), Some("invalid-credentials")), "{v}");
    assert!(v["user_message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(v["fix"].as_str().is_some_and(|f| !f.is_empty()), "{v}");

    slapd.stop();
    let r = http.login("alice", Fixture::ALICE.password);
    let v = problem(&r, 503);
    assert_eq!(r.header("retry-after"), Some("5"), "{:?}", r.headers);
    let kind = v["kind"].as_str().unwrap_or_default();
    assert!(matches!(kind, "unreachable" | "timeout"), "a directory that is down is a temporary failure: {v}");
    assert_ne!(v["code"], "DC-203");
    assert!(v["user_message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    // A wrong password while the directory is down is still not a verdict on the password…
    let r = http.login("alice", "another-wrong-password");
    assert_eq!(r.status, 503, "{}", r.text());
    // …but the one the directory refused a moment ago is: the throttle answers it from memory.
    let r = http.login("alice", "not-her-password");
    assert_eq!(problem(&r, 401)["code"], "DC-203", "{}", r.text());
    let (status, v) = readyz(&serve);
    assert_eq!(status, 503, "a directory that failed makes the service not ready: {v}");
    assert!(v["checks"].as_array().unwrap().iter().any(|c| c["name"] == "directory:example.org" && c["ok"] == false));

    slapd.restart();
    let r = http.login("alice", Fixture::ALICE.password);
    assert_eq!(r.status, 200, "after the directory came back: {}", r.text());
    assert_eq!(readyz(&serve).0, 200);
}

#[test]
fn nginx_auth_http_answers_in_headers() {
    let mut slapd = Slapd::start();
    let mut spec = ServeSpec::new(vec![domain(&slapd)]);
    spec.service.push("nginx = { imap = \"127.0.0.1:1143\", smtp = \"127.0.0.1:1025\", wait_seconds = 2 }".into());
    let serve = Serve::start(spec);
    let mut http = serve.client();
    let mut ask = |user: &str, pass: &str, protocol: &str| {
        let headers =
            [("Auth-User", user), ("Auth-Pass", pass), ("Auth-Protocol", protocol), ("Client-IP", "192.0.2.7")];
        let r = http.request("GET", "/v1/nginx/auth", &headers, None);
        assert_eq!(r.status, 200, "nginx always gets 200: {r:?}");
        r
    };
    let r = ask("ALICE", Fixture::ALICE.password, "imap");
    assert_eq!(r.header("auth-status"), Some("OK"), "{r:?}");
    assert_eq!((r.header("auth-server"), r.header("auth-port")), (Some("127.0.0.1"), Some("1143")));
    assert_eq!(r.header("auth-user"), Some("alice@example.org"), "the canonical login goes to the backend");
    let r = ask("alice", "wrong", "smtp");
    assert!(r.header("auth-status").is_some_and(|s| s != "OK" && !s.is_empty()), "{r:?}");
    assert_eq!((r.header("auth-wait"), r.header("auth-error-code")), (Some("2"), None));
    let r = ask("al%00ice", Fixture::ALICE.password, "imap");
    assert_ne!(r.header("auth-status"), Some("OK"), "a NUL escaped by nginx is refused: {r:?}");
    // No POP3 backend is configured: a temporary failure, whatever the password.
    let r = ask("alice", Fixture::ALICE.password, "pop3");
    assert_eq!(r.header("auth-status"), Some("[SYS/TEMP] Temporary server problem, try again later"), "{r:?}");
    assert!(serve.log().contains("asked for a pop3 backend"), "{}", serve.log());
    slapd.stop();
    let r = ask("alice", Fixture::ALICE.password, "smtp");
    assert!(r.header("auth-status").is_some_and(|s| s.starts_with("Temporary")), "{r:?}");
    assert_eq!(r.header("auth-error-code"), Some("451 4.3.0"));
    let metrics = serve.metrics().get("/metrics").text();
    assert!(metrics.contains("interface=\"nginx\",outcome=\"ok\"} 1\n"), "{metrics}");
    assert_eq!(problem(&serve.anonymous().get("/v1/nginx/auth"), 401)["code"], "DC-810");
}

#[test]
fn tokens_and_roles() {
    let slapd = Slapd::start();
    let serve = serve(&slapd);
    let body = json!({ "login": "alice", "password": Fixture::ALICE.password });
    for (what, mut http) in [
        ("no token", serve.anonymous()),
        ("an unknown token", Http::new(serve.api_addr()).with_token("0123456789abcdef0123456789abcdef")),
        ("an empty token", Http::new(serve.api_addr()).with_token("")),
    ] {
        let r = auth(&mut http, body.clone());
        let v = problem(&r, 401);
        assert_eq!(v["code"], "DC-810", "{what}: {v}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{what}");
        let r = http.get("/v1/users/alice@example.org");
        assert_eq!(problem(&r, 401)["code"], "DC-810", "{what}");
        let r = http.get("/v1/nginx/auth");
        assert_eq!(problem(&r, 401)["code"], "DC-810", "{what}");
    }
    // A token under another scheme is no bearer token.
    let token = serve.spec().token("mail").to_owned();
    let r = serve.anonymous().request("POST", "/v1/auth", &[("Authorization", &format!("Basic {token}"))], None);
    assert_eq!(problem(&r, 401)["code"], "DC-810");

    // Both roles may log users in.
    assert_eq!(auth(&mut serve.client(), body.clone()).status, 200);
    assert_eq!(auth(&mut serve.admin(), body).status, 200);

    // The document needs no token.
    let r = serve.anonymous().get("/v1/openapi.json");
    assert_eq!(r.status, 200, "{}", r.text());
    let doc = r.json();
    // Every administration route refuses a mail-server token with 403 (DC-811) and takes the admin's
    // (tests/tests/service_admin.rs tests what each does).
    let mut admin_routes = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if !op["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "admin")) {
                continue;
            }
            admin_routes += 1;
            let path = path
                .replace("{domain}", "example.org")
                .replace("{login}", "alice")
                .replace("{address}", "nobody@example.org");
            let r = serve.client().request(&method.to_uppercase(), &path, &[], None);
            assert_eq!(problem(&r, 403)["code"], "DC-811", "{method} {path}");
            let r = serve.admin().request(&method.to_uppercase(), &path, &[], None);
            assert!(r.status != 401 && r.status != 403, "{method} {path} with the admin token: {}", r.text());
        }
    }
    eprintln!("admin routes checked: {admin_routes}");
}

/// Request bodies that must be refused before any directory is asked.
fn refused_up_front() -> Vec<(&'static str, Vec<u8>)> {
    let pw = Fixture::ALICE.password;
    let body =
        |login: &str, password: &str| serde_json::to_vec(&json!({ "login": login, "password": password })).unwrap();
    let long = "a".repeat(64 * 1024);
    let mut deep = "[".repeat(10_000);
    deep.push_str(&"]".repeat(10_000));
    vec![
        ("NUL at the end", body("alice\u{0}", pw)),
        ("NUL inside", body("al\u{0}ice", pw)),
        ("NUL escape as sent", format!("{{\"login\":\"alice\\u0000\",\"password\":\"{pw}\"}}").into_bytes()),
        ("CR LF", body("alice\r\nuid=bob", pw)),
        ("ESC", body("alice\u{1b}[2J", pw)),
        ("tab", body("ali\tce", pw)),
        ("DEL", body("alice\u{7f}", pw)),
        ("C1 NEL", body("alice\u{85}", pw)),
        ("lone low surrogate", format!("{{\"login\":\"alice\\udc80\",\"password\":\"{pw}\"}}").into_bytes()),
        ("lone high surrogate", format!("{{\"login\":\"\\ud800\",\"password\":\"{pw}\"}}").into_bytes()),
        ("invalid UTF-8 bytes", b"{\"login\":\"al\xffice\",\"password\":\"alice-pass\"}".to_vec()),
        ("64 KiB login", body(&long, pw)),
        ("300-byte login", body(&"a".repeat(300), pw)),
        ("64 KiB password", body("alice", &long)),
        ("2000-byte password", body("alice", &"p".repeat(2000))),
        ("NUL in the password", body("alice", "alice-pass\u{0}")),
        ("empty password", body("alice", "")),
        ("empty login", body("", pw)),
        ("blank login", body("   ", pw)),
        ("unknown field", serde_json::to_vec(&json!({ "login": "alice", "password": pw, "admin": true })).unwrap()),
        ("duplicate field", format!("{{\"login\":\"bob\",\"login\":\"alice\",\"password\":\"{pw}\"}}").into_bytes()),
        ("missing password", br#"{"login":"alice"}"#.to_vec()),
        ("number login", br#"{"login":42,"password":"alice-pass"}"#.to_vec()),
        ("bad client_ip", serde_json::to_vec(&json!({ "login": "alice", "password": pw, "client_ip": "x" })).unwrap()),
        ("form body", b"login=alice&password=alice-pass".to_vec()),
        ("JSON array", b"[\"alice\",\"alice-pass\"]".to_vec()),
        ("JSON null", b"null".to_vec()),
        ("deep nesting", deep.into_bytes()),
        ("truncated JSON", br#"{"login":"alice","password":"alice-pa"#.to_vec()),
        ("empty body", Vec::new()),
    ]
}

/// Logins with filter metacharacters: they are escaped and reach the directory, and none logs in.
const METACHARACTERS: [&str; 9] = [
    "*",
    "*)(uid=*",
    "\\2a",
    "admin)(|(uid=*",
    "alice)(uid=*",
    "alice*",
    "(uid=alice)",
    "*@example.org",
    "uid=alice,ou=people,dc=example,dc=org",
];

/// Every byte but letters, digits, `.`, `-` and `@` as `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-.@".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn directory_ops(slapd: &Slapd) -> u64 {
    let ops = slapd.operations();
    ["Bind", "Search", "Compare", "Modify", "Extended"].iter().map(|k| ops.get(*k).copied().unwrap_or(0)).sum()
}

#[test]
fn hostile_logins_are_refused_and_refusals_never_reach_the_directory() {
    let slapd = Slapd::start_with(SlapdOptions { monitor: true, ..SlapdOptions::default() });
    let serve = serve(&slapd);
    let mut http = serve.client();
    assert_eq!(http.login("alice", Fixture::ALICE.password).status, 200);
    // Let the start-up readiness probe finish, then measure what one reading of cn=Monitor costs.
    std::thread::sleep(Duration::from_millis(500));
    let r0 = directory_ops(&slapd);
    let r1 = directory_ops(&slapd);
    let reading = r1 - r0;

    for (what, bytes) in refused_up_front() {
        let r = http.post_raw("/v1/auth", "application/json", &bytes);
        assert!((400..500).contains(&r.status), "{what}: HTTP {} {}", r.status, r.text());
        let v = problem(&r, r.status);
        assert!(r.header("retry-after").is_none(), "{what} is not a temporary failure: {v}");
    }
    // A body announced far over the cap is refused at once, without waiting for it.
    let mut fresh = serve.client().with_timeout(Duration::from_secs(5));
    let r = fresh.request("POST", "/v1/auth", &[("Content-Length", "100000000")], None);
    assert_eq!(problem(&r, 413)["code"], "DC-813");
    let r2 = directory_ops(&slapd);
    assert_eq!(r2 - r1, reading, "input refused up front reached the directory ({} operations)", r2 - r1 - reading);

    for login in METACHARACTERS {
        for password in [Fixture::ALICE.password, "*"] {
            let r = http.login(login, password);
            let v = problem(&r, 401);
            assert!(v["kind"] != "unreachable" && v["kind"] != "internal", "{login:?}: {v}");
        }
    }
    // The same through the user lookup: none of these addresses exists.
    for login in METACHARACTERS {
        let path = format!("/v1/users/{}", percent_encode(login));
        let r = http.get(&path);
        problem(&r, 404);
    }
    for path in ["/v1/users/alice%00", "/v1/users/%ff", "/v1/users/a%0d%0ab"] {
        let r = http.get(path);
        assert!((400..500).contains(&r.status), "{path}: {}", r.text());
        problem(&r, r.status);
    }
    let r3 = directory_ops(&slapd);
    assert!(r3 - r2 > reading, "the metacharacter logins were expected to reach the directory (escaped)");

    // Nothing broke: the service answers, the same connection included, and nothing panicked.
    assert_eq!(http.login("alice", Fixture::ALICE.password).status, 200);
    assert_eq!(serve.metrics().get("/healthz").status, 200);
    let log = serve.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn sighup_reloads_good_configurations_and_keeps_the_old_one_on_errors() {
    let slapd = Slapd::start();
    let mut serve = serve(&slapd);
    let pid = serve.pid();
    let works = |serve: &Serve, token: &str| {
        Http::new(serve.api_addr()).with_token(token).login("alice", Fixture::ALICE.password).status
    };
    let old = serve.spec().token("mail").to_owned();
    assert_eq!(works(&serve, &old), 200);

    let mut spec = serve.spec().clone();
    let added = ClientSpec::new("postfix", "mail-server");
    spec.clients.push(added.clone());
    assert_eq!(works(&serve, &added.token), 401, "not configured yet");
    serve.set_spec(spec.clone());
    serve.reload();
    assert!(serve.wait_for_log("configuration reloaded", 1, Duration::from_secs(20)), "{}", serve.log());
    assert_eq!((works(&serve, &added.token), works(&serve, &old)), (200, 200));
    assert_eq!(serve.pid(), pid);

    // A TOML syntax error.
    let refused = "the new configuration was refused";
    serve.write_config(&format!("{}\nthis is = = not TOML\n", serve.render(&spec)));
    serve.reload();
    assert!(serve.wait_for_log(refused, 1, Duration::from_secs(20)), "{}", serve.log());
    // A [service] key that does not exist, with a client that must not come into force.
    let mut bad = spec.clone();
    bad.service.push("lisen = [\"127.0.0.1:1\"]".into());
    let third = ClientSpec::new("exim", "mail-server");
    bad.clients.push(third.clone());
    serve.write_config(&serve.render(&bad));
    serve.reload();
    assert!(serve.wait_for_log(refused, 2, Duration::from_secs(20)), "{}", serve.log());
    assert!(serve.log().contains("lisen"), "the error names the key:\n{}", serve.log());
    // A [service] value of the wrong type.
    let mut bad = spec.clone();
    bad.service.push("max_body_bytes = \"big\"".into());
    serve.write_config(&serve.render(&bad));
    serve.reload();
    assert!(serve.wait_for_log(refused, 3, Duration::from_secs(20)), "{}", serve.log());

    assert_eq!((works(&serve, &old), works(&serve, &added.token)), (200, 200), "the old configuration serves");
    assert_eq!(works(&serve, &third.token), 401, "nothing of a refused configuration is in force");
    let metrics = serve.metrics().get("/metrics").text();
    assert!(metrics.contains("dirconn_reloads_total 1\n"), "{metrics}");
    assert!(metrics.contains("dirconn_reloads_failed_total 3\n"), "{metrics}");

    // Removing a client revokes its token at the next reload.
    spec.clients.retain(|c| c.name != "postfix");
    serve.set_spec(spec);
    serve.reload();
    assert!(serve.wait_for_log("configuration reloaded", 2, Duration::from_secs(20)), "{}", serve.log());
    assert_eq!((works(&serve, &added.token), works(&serve, &old)), (401, 200));
}

#[test]
fn sigterm_lets_requests_in_flight_finish_then_exits_0() {
    let slapd = Slapd::start();
    let mut spec = ServeSpec::new(vec![domain(&slapd)]);
    spec.service.push("drain_timeout = \"30s\"".into());
    let mut serve = Serve::start(spec);
    // Connections that are idle at the stop must not hold it: one kept alive after a request, one that
    // never sent a byte.
    let mut idle = serve.client();
    assert_eq!(idle.login("alice", Fixture::ALICE.password).status, 200);
    let silent = TcpStream::connect(serve.api_addr()).unwrap();
    // The directory freezes: logins now wait in the service.
    signal_pid(slapd.pid(), libc::SIGSTOP);
    let requests: Vec<_> = (0..12)
        .map(|_| {
            let mut http = serve.client();
            std::thread::spawn(move || {
                http.send(
                    "POST",
                    "/v1/auth",
                    &[],
                    Some(json!({ "login": "alice", "password": Fixture::ALICE.password }).to_string().as_bytes()),
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(600));
    serve.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(400));
    let still_running = serve.wait_exit(Duration::ZERO).is_none();
    let listening = connectable(serve.api_addr());
    signal_pid(slapd.pid(), libc::SIGCONT);
    assert!(still_running, "the service exited with requests in flight:\n{}", serve.log());
    assert!(!listening, "the API still takes connections while draining");
    for (i, request) in requests.into_iter().enumerate() {
        let r = request.join().expect("request thread").unwrap_or_else(|e| panic!("request {i}: {e}\n{}", serve.log()));
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
        assert_eq!(r.json()["account"], "alice@example.org");
    }
    let status = serve.wait_exit(Duration::from_secs(10)).expect("the service exits once the requests are done");
    assert_eq!(status.code(), Some(0), "{}", serve.log());
    assert!(
        !serve.log().contains("after the drain timeout were cut"),
        "nothing waited for the 30 s drain timeout:\n{}",
        serve.log()
    );
    drop((idle, silent));
    assert!(!connectable(serve.api_addr()) && !connectable(serve.metrics_addr()));
    assert!(serve.log().contains("dirconn serve stopped"), "{}", serve.log());
}

fn audit_rows(url: &str, want: usize) -> Vec<AuditRecord> {
    rt().block_on(async {
        let store = Store::open(url).await.expect("store");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rows = store.audit(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.expect("audit");
            if rows.len() >= want || Instant::now() > deadline {
                store.close().await;
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

#[test]
fn the_audit_records_every_attempt_and_never_a_password() {
    let mut slapd = Slapd::start();
    let mut serve = serve(&slapd);
    let mut http = serve.client();
    let attempt = |login: &str, password: &str, ip: &str| json!({ "login": login, "password": password, "client_ip": ip, "service": "imap", "local_ip": "127.0.0.1" });
    let wrong = "Wr0ng-Needle-Pa55";
    let temporary = "T3mp-Needle-Pa55";
    assert_eq!(auth(&mut http, attempt("alice", Fixture::ALICE.password, "192.0.2.10")).status, 200);
    assert_eq!(auth(&mut http, attempt("alice", wrong, "192.0.2.11")).status, 401);
    slapd.stop();
    assert_eq!(auth(&mut http, attempt("alice@example.org", temporary, "2001:db8::12")).status, 503);

    let rows = audit_rows(&serve.store_url(), 3);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    // Newest first.
    let (temp, denied, ok) = (&rows[0], &rows[1], &rows[2]);
    for r in &rows {
        assert_eq!((r.interface.as_str(), r.domain.as_deref()), ("http", Some("example.org")), "{r:?}");
        assert_eq!((r.service.as_deref(), r.local_ip.as_deref()), (Some("imap"), Some("127.0.0.1")), "{r:?}");
        assert!(r.latency_us > 0, "{r:?}");
    }
    assert_eq!((ok.outcome.as_str(), ok.kind.as_str()), ("ok", "ok"));
    assert_eq!(
        (ok.account.as_deref(), ok.client_ip.as_deref(), ok.login.as_str()),
        (Some("alice@example.org"), Some("192.0.2.10"), "alice")
    );
    assert_eq!((denied.outcome.as_str(), denied.kind.as_str()), ("DC-203", "invalid-credentials"));
    assert_eq!((denied.account.as_deref(), denied.client_ip.as_deref()), (None, Some("192.0.2.11")));
    assert!(temp.outcome.starts_with("DC-") && temp.kind == "unreachable", "{temp:?}");
    assert_eq!((temp.client_ip.as_deref(), temp.login.as_str()), (Some("2001:db8::12"), "alice@example.org"));

    // Stopped (the audit is flushed, the store closed), no file of the store and no log line holds a password.
    serve.stop();
    let mut files = 0;
    for entry in std::fs::read_dir(serve.dir()).unwrap() {
        let path = entry.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("accounts.db") {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(&path).unwrap();
        for secret in [Fixture::ALICE.password, wrong, temporary] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} in {}", path.display());
        }
    }
    assert!(files >= 1);
    let log = serve.log();
    assert!(log.contains("DEBUG"), "the log is at debug level, so this check means something");
    for secret in [Fixture::ALICE.password, wrong, temporary, slapd.service_password(), serve.spec().token("mail")] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

fn readyz(serve: &Serve) -> (u16, Value) {
    let r = serve.metrics().get("/readyz");
    (r.status, r.json())
}

fn wait_ready(serve: &Serve, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, v) = readyz(serve);
        if s == status {
            return v;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {s}, wanted {status}: {v}\n{}", serve.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn readiness_follows_the_store_and_metrics_count_attempts() {
    let slapd = Slapd::start();
    let mut pg = Postgres::start();
    let mut spec = ServeSpec::new(vec![domain(&slapd)]);
    spec.store = Some(pg.url());
    let mut serve = Serve::start(spec);
    let v = wait_ready(&serve, 200);
    assert_eq!(v["ready"], true);
    let checks = v["checks"].as_array().unwrap();
    for name in ["store", "plugins", "directory:example.org"] {
        assert!(checks.iter().any(|c| c["name"] == name && c["ok"] == true), "{name}: {v}");
    }

    let mut http = serve.client();
    assert_eq!(http.login("alice", Fixture::ALICE.password).status, 200);
    assert_eq!(http.login("bob", Fixture::BOB.password).status, 200);
    assert_eq!(http.login("alice", "wrong").status, 401);
    let metrics = serve.metrics().get("/metrics");
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    let line = |outcome: &str, n: u64| {
        format!("dirconn_auth_attempts_total{{domain=\"example.org\",interface=\"http\",outcome=\"{outcome}\"}} {n}\n")
    };
    assert!(text.contains(&line("ok", 2)) && text.contains(&line("invalid-credentials", 1)), "{text}");
    assert!(text.contains("dirconn_auth_duration_seconds_count{interface=\"http\"} 3\n"), "{text}");
    assert!(text.contains("dirconn_directory_up{domain=\"example.org\"} 1\n"), "{text}");

    pg.stop();
    let v = wait_ready(&serve, 503);
    let store = v["checks"].as_array().unwrap().iter().find(|c| c["name"] == "store").cloned().unwrap();
    assert_eq!(store["ok"], false, "{v}");
    assert_eq!(serve.metrics().get("/healthz").status, 200, "the process still answers");
    let t = Instant::now();
    let r = http.login("alice", Fixture::ALICE.password);
    problem(&r, 503);
    assert!(r.header("retry-after").is_some());
    assert!(t.elapsed() < Duration::from_secs(10), "a login waited {:?} for a store that is down", t.elapsed());
    // Nor does a store that is down hold the stop (the audit rows of these logins cannot be written).
    let t = Instant::now();
    serve.signal(libc::SIGTERM);
    let status = serve.wait_exit(Duration::from_secs(14)).expect("the service stops with its store down");
    assert_eq!(status.code(), Some(0), "{}", serve.log());
    assert!(t.elapsed() < Duration::from_secs(14), "{:?}", t.elapsed());
}

#[test]
fn bind_ip_routes_bare_logins_by_local_address() {
    let slapd = Slapd::start();
    let people = DomainSpec::ldap(&slapd).raw("bind_ip", "[\"127.0.0.1\"]");
    let contractors = DomainSpec::ldap(&slapd)
        .set("name", "contractors.example.org")
        .set("search_base", CONTRACTORS_DN)
        .raw("bind_ip", "[\"127.0.0.2\"]")
        .raw("userdb", "{ home = \"/srv/%d/%n\" }");
    assert_eq!(PEOPLE_DN, format!("ou=people,{}", slapd.base_dn()));
    let serve = Serve::start(ServeSpec::new(vec![people, contractors]));
    let mut http = serve.client();
    let login = |http: &mut Http, password: &str, local_ip: Option<&str>| {
        let mut body = json!({ "login": "twin", "password": password });
        if let Some(ip) = local_ip {
            body["local_ip"] = ip.into();
        }
        auth(http, body)
    };
    let r = login(&mut http, Fixture::TWIN_CONTRACTOR.password, Some("127.0.0.2"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["account"], "twin@contractors.example.org");
    assert_eq!(r.json()["userdb"]["home"], "/srv/contractors.example.org/twin");
    let r = login(&mut http, Fixture::TWIN.password, Some("127.0.0.1"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["account"], "twin@example.org");
    let r = login(&mut http, Fixture::TWIN_CONTRACTOR.password, Some("::ffff:127.0.0.2"));
    assert_eq!(r.json()["account"], "twin@contractors.example.org", "an IPv4-mapped address is its IPv4");
    problem(&login(&mut http, Fixture::TWIN.password, Some("127.0.0.2")), 401);
    // No local address and two domains without a default: which domain is unknown, a denial, not a 5xx.
    problem(&login(&mut http, Fixture::TWIN.password, None), 401);

    let r = http.get("/v1/users/twin?local_ip=127.0.0.2");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (r.json()["account"].as_str(), r.json()["stored"].as_bool()),
        (Some("twin@contractors.example.org"), Some(true))
    );
    let r = http.get("/v1/users/twin?local_ip=127.0.0.1");
    assert_eq!(r.json()["account"], "twin@example.org", "{}", r.text());
    problem(&http.get("/v1/users/alice?local_ip=127.0.0.2"), 404);
    assert_eq!(http.get("/v1/users/alice?local_ip=127.0.0.1").status, 200);
    assert_eq!(problem(&http.get("/v1/users/twin?local_ip=nowhere"), 400)["code"], "DC-812");
    assert_eq!(problem(&http.get("/v1/users/twin?other=1"), 400)["code"], "DC-812");
}

#[test]
fn user_lookups_answer_active_accounts_only() {
    let slapd = Slapd::start();
    let serve = serve(&slapd);
    let mut http = serve.client();
    assert_eq!(http.login("alice", Fixture::ALICE.password).status, 200);
    for path in ["/v1/users/alice@example.org", "/v1/users/ALICE@example.org", "/v1/users/alice%40example.org"] {
        let r = http.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let v = r.json();
        assert_eq!(
            (v["account"].as_str(), v["active"].as_bool(), v["stored"].as_bool()),
            (Some("alice@example.org"), Some(true), Some(true)),
            "{path}: {v}"
        );
        assert_eq!(v["userdb"]["home"], "/var/vmail/example.org/alice");
    }
    // In the directory, not in the store yet (no login so far): found, for its first delivery.
    let v = http.get("/v1/users/bob@example.org").json();
    assert_eq!((v["account"].as_str(), v["stored"].as_bool()), (Some("bob@example.org"), Some(false)), "{v}");
    assert_eq!(v["userdb"]["home"], "/var/vmail/example.org/bob");
    problem(&http.get("/v1/users/nobody@example.org"), 404);
    problem(&http.get("/v1/users/alice@nowhere.test"), 404);

    // Deactivated in the store: no longer an address.
    rt().block_on(async {
        let store = Store::open(&serve.store_url()).await.unwrap();
        let alice = store.account("example.org", "alice").await.unwrap().expect("alice's account");
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.deactivate(std::slice::from_ref(&alice.id), dirconn_store::now()).await.unwrap(), 1);
        tx.commit().await.unwrap();
        store.close().await;
    });
    let v = problem(&http.get("/v1/users/alice@example.org"), 404);
    assert_ne!(v["code"], "DC-816", "a deactivated account says so to the administrator: {v}");

    // With the directory down, a stored account still answers from the store; one that is not stored yet
    // is a temporary failure (never "no such user", which would bounce mail).
    assert_eq!(http.login("bob", Fixture::BOB.password).status, 200);
    drop(slapd);
    assert_eq!(http.get("/v1/users/bob@example.org").status, 200);
    let r = http.get("/v1/users/carol@example.org");
    problem(&r, 503);
    assert_eq!(r.header("retry-after"), Some("5"));
}

/// Every route the server answers (method, path as in the document, a path to call it on).
const ROUTES: [(&str, &str, &str); 22] = [
    ("post", "/v1/auth", "/v1/auth"),
    ("get", "/v1/users/{address}", "/v1/users/alice@example.org"),
    ("get", "/v1/maps/{map}/{key}", "/v1/maps/mailbox/alice@example.org"),
    ("get", "/v1/nginx/auth", "/v1/nginx/auth"),
    ("get", "/v1/openapi.json", "/v1/openapi.json"),
    // The administration routes (tests/tests/service_admin.rs tests what they do).
    ("get", "/v1/plugins", "/v1/plugins"),
    ("get", "/v1/domains", "/v1/domains"),
    ("post", "/v1/domains/{domain}/test-connection", "/v1/domains/example.org/test-connection"),
    ("post", "/v1/domains/{domain}/test-auth", "/v1/domains/example.org/test-auth"),
    ("get", "/v1/domains/{domain}/users/{login}", "/v1/domains/example.org/users/alice"),
    ("get", "/v1/domains/{domain}/attributes", "/v1/domains/example.org/attributes"),
    ("get", "/v1/domains/{domain}/filter", "/v1/domains/example.org/filter"),
    ("post", "/v1/domains/{domain}/password", "/v1/domains/example.org/password"),
    ("post", "/v1/domains/{domain}/sync", "/v1/domains/example.org/sync"),
    ("get", "/v1/domains/{domain}/sync-reports", "/v1/domains/example.org/sync-reports"),
    ("post", "/v1/domains/{domain}/migrate", "/v1/domains/example.org/migrate"),
    ("get", "/v1/accounts", "/v1/accounts"),
    ("get", "/v1/accounts/{address}", "/v1/accounts/alice@example.org"),
    ("post", "/v1/local-accounts", "/v1/local-accounts"),
    ("put", "/v1/local-accounts/{address}/password", "/v1/local-accounts/root@example.org/password"),
    ("delete", "/v1/local-accounts/{address}", "/v1/local-accounts/root@example.org"),
    ("get", "/v1/audit", "/v1/audit"),
];

#[test]
fn the_openapi_document_describes_every_route_served() {
    let slapd = Slapd::start();
    let serve = serve(&slapd);
    let doc = serve.anonymous().get("/v1/openapi.json").json();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", doc["openapi"]);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let listed: BTreeSet<_> = ROUTES.iter().map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(documented, listed, "the document and this test's list of routes differ");
    let mut http = serve.client();
    for (method, _, path) in ROUTES {
        let body =
            (method == "post").then(|| json!({ "login": "alice", "password": Fixture::ALICE.password }).to_string());
        let headers: &[(&str, &str)] = &[("Auth-User", "alice"), ("Auth-Pass", Fixture::ALICE.password)];
        let r = http.request(&method.to_uppercase(), path, headers, body.as_deref().map(str::as_bytes));
        assert_ne!(r.status, 404, "{method} {path} is documented but not served: {}", r.text());
        assert!(r.status < 500, "{method} {path}: {}", r.text());
    }
    // What is not a route is a JSON 404, and a route under the wrong method is refused as JSON too.
    assert_eq!(problem(&http.get("/v1/nothing"), 404)["code"], "DC-816");
    assert_eq!(problem(&http.get("/"), 404)["code"], "DC-816");
    let r = http.get("/v1/auth");
    assert_eq!(r.status, 405, "{}", r.text());
    problem(&r, 405);
    // The address family of the listener is what the configuration says.
    assert_eq!(serve.api_addr().ip(), Ipv4Addr::LOCALHOST);
}
