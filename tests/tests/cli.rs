//! The `dirconn` command line against a real slapd: outputs, JSON, exit codes, password handling.

use std::{path::PathBuf, process::Output, sync::OnceLock};

use dirconn_tests::{DomainSpec, Fixture, Slapd, TestHost, stage};

fn dirconn() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // Always (a no-op when up to date): a binary left from an older build would test old code.
        stage::cargo(&["build", "--quiet", "-p", "dirconn"]).expect("building dirconn");
        stage::target_dir().join("debug").join("dirconn")
    })
}

fn run(config: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    dirconn_tests::process::dirconn_cli(dirconn(), config, args, stdin)
}

fn setup(slapd: &Slapd) -> (tempfile::TempDir, PathBuf) {
    TestHost::prepare(&[stage::for_tests().ldap()], &[DomainSpec::ldap(slapd)])
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn login_exit_codes_and_json() {
    let slapd = Slapd::start();
    let (_dir, config) = setup(&slapd);
    let ok = run(&config, &["--json", "login", "alice@example.org", "--password-stdin"], Some(Fixture::ALICE.password));
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let v = json(&ok);
    assert_eq!(v["ok"], true);
    assert_eq!(v["user"]["dn"], Fixture::ALICE.dn());
    let denied = run(&config, &["--json", "login", "alice@example.org", "--password-stdin"], Some("wrong"));
    assert_eq!(denied.status.code(), Some(1));
    let v = json(&denied);
    assert_eq!(
        (v["ok"].as_bool(), v["code"].as_str(), v["kind"].as_str()),
        (Some(false), Some("DC-203"), Some("invalid-credentials"))
    );
    assert!(v["error"]["fix"].as_str().is_some_and(|f| !f.is_empty()));
    let text = run(&config, &["test-auth", "example.org", "carol", "--password-stdin"], Some(Fixture::CAROL.password));
    assert_eq!(text.status.code(), Some(1));
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains("DENIED") && out.contains("DC-205") && out.contains("Fix:"), "{out}");
}

#[test]
fn passwords_never_come_from_the_command_line() {
    let slapd = Slapd::start();
    let (_dir, config) = setup(&slapd);
    // With no terminal and no --password-stdin there is nobody to ask: a usage error, not a login.
    let out = run(&config, &["login", "alice@example.org"], None);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));
    let out = run(&config, &["login", "alice@example.org", "--password", "alice-pass"], None);
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown --password flag");
}

#[test]
fn test_connection_plugins_domains_filter_and_attributes() {
    let slapd = Slapd::start();
    let (_dir, config) = setup(&slapd);
    let out = run(&config, &["--json", "test-connection", "example.org", "--login", "alice"], None);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let v = json(&out);
    assert_eq!(v["ok"], true);
    assert!(v["stages"].as_array().unwrap().iter().any(|s| s["stage"] == "user-lookup" && s["status"] == "passed"));
    let plugins = json(&run(&config, &["--json", "plugins"], None));
    assert_eq!(plugins["loaded"][0]["kinds"][0], "ldap");
    let domains = json(&run(&config, &["--json", "domains"], None));
    assert_eq!(domains["domains"][0]["name"], "example.org");
    let filter = json(&run(&config, &["--json", "filter", "example.org"], None));
    assert_eq!(filter["filters"]["scope"], "subtree");
    let attrs = json(&run(&config, &["--json", "attributes", "example.org"], None));
    assert!(attrs["schema"].as_array().unwrap().iter().any(|a| a == "mail"));
    let unknown = run(&config, &["test-connection", "nowhere.org"], None);
    assert_eq!(unknown.status.code(), Some(1), "an unknown domain is a denial (DC-010)");
    let text = String::from_utf8_lossy(&unknown.stderr);
    assert!(text.starts_with("dirconn: [DC-010] No domain `nowhere.org` is configured") && text.contains(" Fix: "));
    // With --json, a failed command is the error object with ok = false.
    let unknown = run(&config, &["--json", "test-connection", "nowhere.org"], None);
    assert_eq!(unknown.status.code(), Some(1));
    let v = json(&unknown);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["code", "diagnostic", "fix", "kind", "message", "ok"], "{v}");
    assert_eq!(
        (v["ok"].as_bool(), v["code"].as_str(), v["kind"].as_str()),
        (Some(false), Some("DC-010"), Some("not-found"))
    );
    assert_eq!(v["message"], "No domain `nowhere.org` is configured (configured: example.org).");
    assert!(v["fix"].as_str().is_some_and(|f| f.contains("user@domain")) && v["diagnostic"].is_null(), "{v}");
}

#[test]
fn configuration_errors_exit_2_and_unreachable_exits_3() {
    let slapd = Slapd::start();
    let (dir, _config) = setup(&slapd);
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[[domain]]\nname = \"example.org\"\n").unwrap();
    let out = run(&broken, &["domains"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.toml") && err.contains("connector") && err.contains("DC-003"), "{err}");
    let dead = format!("[\"ldap://127.0.0.1:{}\"]", dirconn_tests::net::refused_port());
    let (_dead_dir, dead_config) =
        TestHost::prepare(&[stage::for_tests().ldap()], &[DomainSpec::ldap(&slapd).set("urls", &dead)]);
    let out = run(&dead_config, &["login", "alice@example.org", "--password-stdin"], Some("x"));
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn sync_accounts_local_and_reports_from_the_command_line() {
    let slapd = Slapd::start();
    let (_dir, config) = setup(&slapd);
    let plan = run(&config, &["--json", "sync", "example.org", "--dry-run"], None);
    assert_eq!(plan.status.code(), Some(0), "{}", String::from_utf8_lossy(&plan.stderr));
    assert_eq!(json(&plan)["dry_run"], true);
    let listed = run(&config, &["--json", "accounts", "list"], None);
    assert_eq!(json(&listed).as_array().map(Vec::len), Some(0), "a dry run writes no account");
    let synced = run(&config, &["--json", "sync", "example.org"], None);
    let v = json(&synced);
    assert_eq!((v["outcome"].as_str(), v["counts"]["errors"].as_u64()), (Some("completed"), Some(0)));
    let created = v["counts"]["created"].as_u64().unwrap();
    assert!(created >= 5, "{v}");
    let listed = json(&run(&config, &["--json", "accounts", "list", "example.org"], None));
    assert_eq!(listed.as_array().map(|a| a.len() as u64), Some(created));
    let alice = json(&run(&config, &["--json", "accounts", "show", "alice@example.org"], None));
    assert_eq!(alice["fields"]["email"], Fixture::ALICE.mail);
    let added = run(&config, &["local", "add", "root@example.org", "--admin", "--password-stdin"], Some("root-pass-1"));
    assert_eq!(added.status.code(), Some(0), "{}", String::from_utf8_lossy(&added.stdout));
    let root = run(&config, &["--json", "login", "root@example.org", "--password-stdin"], Some("root-pass-1"));
    assert_eq!(json(&root)["via"], "local");
    let twice = run(&config, &["local", "add", "root@example.org", "--password-stdin"], Some("x"));
    assert_eq!(twice.status.code(), Some(2), "{}", String::from_utf8_lossy(&twice.stdout));
    let reports = json(&run(&config, &["--json", "sync-report", "example.org"], None));
    let modes: Vec<bool> = reports.as_array().unwrap().iter().map(|r| r["dry_run"].as_bool().unwrap()).collect();
    assert_eq!(modes, [false, true], "newest first");
    let missing = run(&config, &["migrate", "example.org"], None);
    assert_eq!(missing.status.code(), Some(2), "migrate needs logins or --all");
}

/// `dirconn serve` runs an interval schedule at once, and stops cleanly on SIGTERM.
#[test]
fn serve_runs_scheduled_syncs_and_stops_on_sigterm() {
    let slapd = Slapd::start();
    let (_dir, config) = TestHost::prepare(
        &[stage::for_tests().ldap()],
        &[DomainSpec::ldap(&slapd).raw("accounts", r#"{ sync_schedule = "1h" }"#)],
    );
    // Two processes opening a new store race to create it; `serve` may start on one that exists.
    assert!(run(&config, &["accounts", "list"], None).status.success());
    let mut child = std::process::Command::new(dirconn())
        .args(["--config", config.to_str().unwrap(), "-v", "serve"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let synced = loop {
        let out = run(&config, &["--json", "sync-report", "example.org"], None);
        if out.status.success() && json(&out).as_array().is_some_and(|r| !r.is_empty()) {
            break json(&out);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("serve's output");
            panic!("no scheduled sync within 30 s; serve said: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(synced[0]["outcome"], "completed", "{synced}");
    // SAFETY: signalling the child this test started, by its PID.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let output = child.wait_with_output().expect("serve exits");
    let log = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{log}");
    assert!(log.contains("sync scheduled") && log.contains("stopping the scheduler"), "{log}");
}

/// A `debug` mapping logs every attribute of the entry at login, with secrets redacted.
#[test]
fn the_debug_mapping_logs_the_entry_at_login() {
    let slapd = Slapd::start();
    let (_dir, config) = TestHost::prepare(
        &[stage::for_tests().ldap()],
        &[DomainSpec::ldap(&slapd).raw("mapping", r#"{ debug = true, first_name = "givenName" }"#)],
    );
    let out = run(&config, &["-v", "login", "alice@example.org", "--password-stdin"], Some(Fixture::ALICE.password));
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("mapping debug") && log.contains("attribute=telephoneNumber"), "{log}");
    assert!(log.contains(Fixture::ALICE.telephone), "values are shown: {log}");
    assert!(!log.contains(Fixture::ALICE.password), "the password never is: {log}");
    let quiet = run(&config, &["login", "alice@example.org", "--password-stdin"], Some(Fixture::ALICE.password));
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("mapping debug"), "info level only");
}

#[test]
fn what_the_docs_say_of_the_command_line_holds() {
    let slapd = Slapd::start();
    let (dir, config) = setup(&slapd);
    // test-auth and lookup take the domain's own full address, as a routed login does (not
    // `mail=alice@example.org@example.org`).
    let out = run(
        &config,
        &["test-auth", "example.org", "alice@example.org", "--password-stdin"],
        Some(Fixture::ALICE.password),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&config, &["--json", "lookup", "example.org", "ALICE@EXAMPLE.ORG"], None);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(json(&out)["user"]["dn"], Fixture::ALICE.dn());
    // DC-207 names the domain in the command its fix gives.
    let out = run(&config, &["--json", "lookup", "example.org", "nobody-at-all"], None);
    let v = json(&out);
    assert_eq!(v["code"], "DC-207", "{v}");
    assert!(v["fix"].as_str().unwrap().contains("`dirconn filter example.org`"), "{v}");
    // DC-002 draws the line and a caret under the column; the fix follows on its own line.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "plugin_dir = \"plugins\"\n[[domain]\n").unwrap();
    let out = run(&broken, &["domains"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("line 2, column 10") && err.contains("2 | [[domain]\n  |          ^\nFix: "), "{err}");
    // A line that may hold a secret is never quoted.
    std::fs::write(&broken, "bind_password = \"hunter2\n").unwrap();
    let err = String::from_utf8_lossy(&run(&broken, &["domains"], None).stderr).into_owned();
    assert!(err.contains("DC-002") && !err.contains("hunter2"), "{err}");
    // `plugins` works without any configuration file when given the folder; exits 2 when it cannot read it.
    let plugin_dir = dir.path().join("plugins");
    let out = run(&dir.path().join("absent.toml"), &["plugins", "--plugin-dir", plugin_dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&dir.path().join("absent.toml"), &["plugins"], None);
    assert_eq!(out.status.code(), Some(2), "no configuration and no --plugin-dir: DC-001");
    // The store's codes exit as cli.md's generated table says: DC-601 with 2.
    let bad_store = dir.path().join("bad-store.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&bad_store, format!("store = \"mysql://db/x\"\n{text}")).unwrap();
    let out =
        run(&bad_store, &["--json", "login", "alice@example.org", "--password-stdin"], Some(Fixture::ALICE.password));
    assert_eq!((out.status.code(), json(&out)["code"].as_str().map(str::to_owned)), (Some(2), Some("DC-601".into())));
}
