//! The administration API of `dirconn serve` (role admin) against the real binary over a real slapd: a
//! mail-server token is refused on every admin route and changes nothing; the admin token does what the
//! CLI does, and each answer is the very JSON `dirconn --json` prints for the same command on the same
//! configuration and store; the audit lists the service's and the CLI's logins.

use std::{collections::BTreeSet, process::Output};

use dirconn_tests::{
    DomainSpec, Fixture, Slapd,
    http::Response,
    serve::{Serve, ServeSpec},
};
use serde_json::{Value, json};

fn serve(slapd: &Slapd) -> Serve {
    Serve::start(ServeSpec::new(vec![DomainSpec::ldap(slapd)]))
}

/// `dirconn --config <the service's> ARGS`, with `stdin` as its standard input.
fn cli(serve: &Serve, args: &[&str], stdin: Option<&str>) -> Output {
    serve.cli(args, stdin)
}

/// What `dirconn --json ARGS` prints.
fn cli_json(serve: &Serve, args: &[&str], stdin: Option<&str>) -> Value {
    let out = cli(serve, &[&["--json"], args].concat(), stdin);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{args:?}: {e}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

/// The answer's JSON, after checking its status.
#[track_caller]
fn ok(r: &Response, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    r.json()
}

/// An error answer's JSON: this status and code, `ok` false.
#[track_caller]
fn refused(r: &Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert_eq!((v["ok"].as_bool(), v["code"].as_str()), (Some(false), Some(code)), "{v}");
    v
}

/// The keys of a JSON object.
fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect()
}

/// Every operation of the OpenAPI document tagged `admin`, as (method, path with its parameters filled in).
fn admin_routes(serve: &Serve) -> Vec<(String, String)> {
    let doc = ok(&serve.anonymous().get("/v1/openapi.json"), 200);
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path} has no summary");
            if op["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "admin")) {
                let filled = path
                    .replace("{domain}", "example.org")
                    .replace("{login}", "alice")
                    .replace("{address}", "root@example.org");
                out.push((method.to_uppercase(), filled));
            }
        }
    }
    out
}

#[test]
fn a_mail_server_token_is_refused_on_every_admin_route_and_changes_nothing() {
    let slapd = Slapd::start();
    let serve = serve(&slapd);
    let routes = admin_routes(&serve);
    assert_eq!(routes.len(), 17, "{routes:?}");
    // Bodies each route would take from an admin: nothing of them may happen.
    let body = json!({ "login": "root@example.org", "password": "root-pass-1", "admin": true }).to_string();
    for (method, path) in &routes {
        let mut http = serve.client();
        let r = http.request(method, path, &[("Content-Type", "application/json")], Some(body.as_bytes()));
        let v = refused(&r, 403, "DC-811");
        assert!(v["message"].as_str().unwrap().contains("`mail`"), "{method} {path}: {v}");
        let r = serve.anonymous().request(method, path, &[], None);
        refused(&r, 401, "DC-810");
    }
    let mut admin = serve.admin();
    assert_eq!(ok(&admin.get("/v1/accounts"), 200), json!([]), "no local account was created");
    assert_eq!(ok(&admin.get("/v1/domains/example.org/sync-reports"), 200), json!([]), "no sync ran");
}

#[test]
fn directory_routes_answer_what_the_cli_prints() {
    let slapd = Slapd::start();
    let serve = serve(&slapd);
    let mut admin = serve.admin();

    // Plugins, domains and filters: the same JSON, byte for byte.
    assert_eq!(ok(&admin.get("/v1/plugins"), 200), cli_json(&serve, &["plugins"], None));
    let domains = ok(&admin.get("/v1/domains"), 200);
    assert_eq!(domains["domains"][0]["name"], "example.org");
    assert_eq!(domains, cli_json(&serve, &["domains"], None));
    let filter = ok(&admin.get("/v1/domains/example.org/filter"), 200);
    assert_eq!(filter, cli_json(&serve, &["filter", "example.org"], None));
    assert_eq!(filter["filters"]["scope"], "subtree");

    // Connection tests: every stage passes; with a login, the user's lookup and bind too.
    let plain = ok(&admin.post_raw("/v1/domains/example.org/test-connection", "application/json", b""), 200);
    assert_eq!(plain["ok"], true, "{plain}");
    let body = json!({ "login": "alice", "password": Fixture::ALICE.password });
    let full = ok(&admin.post_json("/v1/domains/example.org/test-connection", &body), 200);
    let from_cli = cli_json(
        &serve,
        &["test-connection", "example.org", "--login", "alice", "--password-stdin"],
        Some(Fixture::ALICE.password),
    );
    assert_eq!(keys(&full), keys(&from_cli));
    let stages = |v: &Value| -> Vec<(String, String)> {
        v["stages"].as_array().unwrap().iter().map(|s| (s["stage"].to_string(), s["status"].to_string())).collect()
    };
    assert_eq!(stages(&full), stages(&from_cli));
    assert!(full["stages"].as_array().unwrap().iter().any(|s| s["stage"] == "user-lookup" && s["status"] == "passed"));
    assert!(stages(&full).len() > stages(&plain).len(), "{full}");
    let r = admin.post_json("/v1/domains/example.org/test-connection", &json!({ "password": "x" }));
    refused(&r, 400, "DC-812");
    refused(&admin.post_json("/v1/domains/nowhere.org/test-connection", &json!({})), 404, "DC-010");

    // Test logins: accepted as the CLI's view; a wrong password is the CLI's refusal, 422.
    let good = json!({ "login": "alice", "password": Fixture::ALICE.password });
    let accepted = ok(&admin.post_json("/v1/domains/example.org/test-auth", &good), 200);
    let from_cli =
        cli_json(&serve, &["test-auth", "example.org", "alice", "--password-stdin"], Some(Fixture::ALICE.password));
    assert_eq!(keys(&accepted), keys(&from_cli));
    assert_eq!(accepted["user"], from_cli["user"]);
    let wrong = json!({ "login": "alice", "password": "wrong" });
    let denied = refused(&admin.post_json("/v1/domains/example.org/test-auth", &wrong), 422, "DC-203");
    let from_cli = cli_json(&serve, &["test-auth", "example.org", "alice", "--password-stdin"], Some("wrong"));
    assert_eq!(keys(&denied), keys(&from_cli));
    assert_eq!((&denied["error"], &denied["user_message"]), (&from_cli["error"], &from_cli["user_message"]));

    // Lookups and attributes.
    let alice = ok(&admin.get("/v1/domains/example.org/users/alice"), 200);
    assert_eq!(alice["user"]["dn"], Fixture::ALICE.dn());
    assert_eq!(alice, cli_json(&serve, &["lookup", "example.org", "alice"], None));
    let missing = admin.get("/v1/domains/example.org/users/nobody");
    assert_eq!(missing.status, 404, "{}", missing.text());
    let attributes = ok(&admin.get("/v1/domains/example.org/attributes"), 200);
    assert_eq!(keys(&attributes), keys(&cli_json(&serve, &["attributes", "example.org"], None)));
    assert!(attributes["schema"].as_array().unwrap().iter().any(|a| a == "mail"), "{attributes}");

    // The generic LDAP connector sets no passwords (DC-507): 501, with the CLI's view, as the CLI prints it.
    let reset = json!({ "login": "alice", "new_password": "n3w-Passw0rd" });
    let r = admin.post_json("/v1/domains/example.org/password", &reset);
    assert_eq!(r.status, 501, "{}", r.text());
    let view = r.json();
    assert_eq!((view["ok"].as_bool(), view["operation"].as_str()), (Some(false), Some("reset")), "{view}");
    assert_eq!(view["code"], "DC-507");
    let from_cli = cli_json(&serve, &["passwd", "example.org", "alice", "--password-stdin"], Some("n3w-Passw0rd"));
    assert_eq!(view, from_cli);
    assert_eq!(serve.client().login("alice", Fixture::ALICE.password).status, 200, "the password is unchanged");
    let log = serve.log();
    assert!(log.contains("dirconn serve started"), "the log is read: {log}");
    for secret in [Fixture::ALICE.password, "n3w-Passw0rd", serve.spec().token("admin")] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}

#[test]
fn sync_accounts_local_accounts_and_the_audit_answer_what_the_cli_prints() {
    let slapd = Slapd::start();
    let serve = serve(&slapd);
    let mut admin = serve.admin();

    // A dry run writes nothing but its report; the sync then creates the accounts.
    let plan = ok(&admin.post_json("/v1/domains/example.org/sync", &json!({ "dry_run": true })), 200);
    assert_eq!((plan["dry_run"].as_bool(), plan["outcome"].as_str()), (Some(true), Some("completed")), "{plan}");
    assert_eq!(ok(&admin.get("/v1/accounts"), 200), json!([]), "a dry run writes no account");
    let synced = ok(&admin.post_raw("/v1/domains/example.org/sync", "application/json", b""), 200);
    assert_eq!((synced["dry_run"].as_bool(), synced["counts"]["errors"].as_u64()), (Some(false), Some(0)));
    let created = synced["counts"]["created"].as_u64().unwrap();
    assert!(created >= 5, "{synced}");
    assert_eq!(keys(&synced), keys(&plan));
    let reports = ok(&admin.get("/v1/domains/example.org/sync-reports"), 200);
    let dry: Vec<&Value> = reports.as_array().unwrap().iter().map(|r| &r["dry_run"]).collect();
    assert_eq!(dry, [&json!(false), &json!(true)], "newest first");
    assert_eq!(reports, cli_json(&serve, &["sync-report", "example.org"], None));
    assert_eq!(ok(&admin.get("/v1/domains/example.org/sync-reports?last=1"), 200).as_array().unwrap().len(), 1);
    refused(&admin.get("/v1/domains/example.org/sync-reports?last=0"), 400, "DC-812");
    refused(&admin.post_json("/v1/domains/example.org/sync", &json!({ "dryrun": true })), 400, "DC-812");

    // The accounts, as the CLI lists and shows them.
    let listed = ok(&admin.get("/v1/accounts?domain=example.org"), 200);
    assert_eq!(listed.as_array().map(|a| a.len() as u64), Some(created));
    assert_eq!(listed, cli_json(&serve, &["accounts", "list", "example.org"], None));
    assert_eq!(ok(&admin.get("/v1/accounts"), 200), listed);
    let alice = ok(&admin.get("/v1/accounts/alice@example.org"), 200);
    assert_eq!(alice["fields"]["email"], Fixture::ALICE.mail);
    assert_eq!(alice, cli_json(&serve, &["accounts", "show", "alice@example.org"], None));
    refused(&admin.get("/v1/accounts/nobody@example.org"), 404, "DC-707");
    refused(&admin.get("/v1/accounts?domain=nowhere.org"), 404, "DC-010");

    // Local accounts: add, log in, set the password, remove.
    let root = json!({ "login": "root@example.org", "password": "root-pass-1", "admin": true });
    let done = ok(&admin.post_json("/v1/local-accounts", &root), 201);
    assert_eq!(done, json!({ "ok": true, "message": "created the local account root@example.org" }));
    refused(&admin.post_json("/v1/local-accounts", &root), 409, "DC-707");
    let from_cli = cli_json(&serve, &["local", "add", "root@example.org", "--password-stdin"], Some("x"));
    assert_eq!(from_cli["code"], "DC-707", "the CLI refuses it alike: {from_cli}");
    let mut mail = serve.client();
    let login = ok(&mail.login("root@example.org", "root-pass-1"), 200);
    assert_eq!((login["account"].as_str(), login["admin"].as_bool()), (Some("root@example.org"), Some(true)));
    let new = json!({ "password": "root-pass-2" });
    let r = admin.request("PUT", "/v1/local-accounts/root@example.org/password", &[], Some(new.to_string().as_bytes()));
    assert_eq!(ok(&r, 200), json!({ "ok": true, "message": "set the password of root@example.org" }));
    assert_eq!(mail.login("root@example.org", "root-pass-1").status, 401);
    assert_eq!(mail.login("root@example.org", "root-pass-2").status, 200);
    let r =
        admin.request("PUT", "/v1/local-accounts/alice@example.org/password", &[], Some(new.to_string().as_bytes()));
    refused(&r, 409, "DC-707");
    let r = admin.request("DELETE", "/v1/local-accounts/root@example.org", &[], None);
    assert_eq!(ok(&r, 200), json!({ "ok": true, "message": "deleted the local account root@example.org" }));
    refused(&admin.request("DELETE", "/v1/local-accounts/root@example.org", &[], None), 404, "DC-707");
    refused(&admin.get("/v1/accounts/root@example.org"), 404, "DC-707");

    // Migration: a local account no entry matches stays local.
    let zed = json!({ "login": "zed@example.org", "password": "zed-pass-1" });
    ok(&admin.post_json("/v1/local-accounts", &zed), 201);
    let migrated = ok(&admin.post_json("/v1/domains/example.org/migrate", &json!({ "all": true })), 200);
    assert_eq!(migrated, json!({ "migrated": [], "unmatched": ["zed"], "conflicts": [] }));
    assert_eq!(migrated, cli_json(&serve, &["migrate", "example.org", "--all"], None));
    refused(&admin.post_json("/v1/domains/example.org/migrate", &json!({})), 400, "DC-812");
    let r = admin.post_json("/v1/domains/example.org/migrate", &json!({ "logins": ["nobody"] }));
    refused(&r, 409, "DC-707");

    // The audit: the service's logins (interface http), newest first, then one by the CLI.
    let attempts = ok(&admin.get("/v1/audit?login=root@example.org"), 200);
    let outcomes: Vec<&str> = attempts.as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["ok", "DC-704", "ok"], "{attempts}");
    let newest = &attempts[0];
    assert_eq!((newest["interface"].as_str(), newest["account"].as_str()), (Some("http"), Some("root@example.org")));
    assert!(newest["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{newest}");
    assert!(!attempts.to_string().contains("root-pass"), "never a password: {attempts}");
    let wrong = ok(&admin.get("/v1/audit?outcome=DC-704&domain=example.org&since=1h&last=10"), 200);
    assert_eq!(wrong.as_array().unwrap().len(), 1, "{wrong}");
    assert_eq!(wrong[0]["kind"], "invalid-credentials");
    assert_eq!(attempts, cli_json(&serve, &["audit", "--login", "root@example.org"], None));
    let out = cli(&serve, &["login", "alice@example.org", "--password-stdin"], Some(Fixture::ALICE.password));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let cli_attempt = ok(&admin.get("/v1/audit?login=alice@example.org&last=1"), 200);
    assert_eq!(cli_attempt.as_array().unwrap().len(), 1, "{cli_attempt}");
    let a = &cli_attempt[0];
    assert_eq!((a["interface"].as_str(), a["outcome"].as_str()), (Some("cli"), Some("ok")), "{a}");
    assert_eq!((a["domain"].as_str(), a["account"].as_str()), (Some("example.org"), Some("alice@example.org")));
    let out = cli(&serve, &["login", "alice@example.org", "--password-stdin"], Some("wrong"));
    assert_eq!(out.status.code(), Some(1));
    let from_cli = cli_json(&serve, &["audit", "example.org", "--login", "alice@example.org", "--last", "2"], None);
    let outcomes: Vec<&Value> = from_cli.as_array().unwrap().iter().map(|a| &a["outcome"]).collect();
    assert_eq!(outcomes, [&json!("DC-203"), &json!("ok")], "{from_cli}");
    let text = cli(&serve, &["audit", "--login", "alice@example.org"], None);
    let text = String::from_utf8_lossy(&text.stdout);
    let header = text.lines().next().unwrap_or_default();
    for column in ["time (UTC)", "interface", "domain", "login", "account", "client ip", "local ip", "service"] {
        assert!(header.contains(column), "{column} in {text}");
    }
    assert!(header.contains("outcome") && header.contains("latency ms"), "{text}");
    assert!(text.lines().nth(1).is_some_and(|l| l.contains(" cli ") && l.contains("DC-203")), "{text}");
    assert!(text.contains("2 attempt(s)"), "{text}");
    refused(&admin.get("/v1/audit?since=soon"), 400, "DC-812");
    let log = serve.log();
    assert!(log.contains("local account created") && log.contains("client=admin"), "changes are logged");
    for secret in ["root-pass-1", "root-pass-2", "zed-pass-1", serve.spec().token("admin")] {
        assert!(!log.contains(secret), "{secret} in the log");
    }
}
