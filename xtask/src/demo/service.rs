//! The demo's second half: `[service]` and `[domain.userdb]` added to its configuration, `dirconn serve`
//! started on it, and (as root) a real Dovecot whose logins go through the shipped Lua script to the
//! service; then an HTTP login, `dirconn audit` showing those attempts, and the service's metrics.

use std::{
    fs,
    io::Write as _,
    net::SocketAddr,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use dirconn_tests::{
    Dovecot, DovecotAuth, DovecotOptions, Fixture, ImapOutcome, LuaAuth,
    http::Http,
    imap_login,
    net::free_port,
    process::{spawn_tied_to_process, stop_child},
    serve::random_token,
};

use super::{Step, run_steps};
use crate::{Error, binary, is_root};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const AUDIT_TIMEOUT: Duration = Duration::from_secs(5);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `dirconn serve` (and, as root, a Dovecot in front of it).
pub struct Running {
    serve: Child,
    api: SocketAddr,
    metrics: SocketAddr,
    socketmap: SocketAddr,
    token: String,
    config: PathBuf,
    log: PathBuf,
    dovecot: Option<Dovecot>,
    /// Holds the token file where Dovecot's processes can read it; removed last.
    tokens: tempfile::TempDir,
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { what: what.to_owned(), source }
}

/// Adds the service's sections to the configuration at `config` and starts `dirconn serve` on it; as root,
/// also a Dovecot checking passwords through the Lua script. Returns once `/healthz` answers.
pub fn start(config: &Path) -> Result<Running, Error> {
    let dir = config.parent().unwrap_or(Path::new("."));
    let root = is_root();
    // The token file must be readable by Dovecot's auth processes (group dovecot), so it lives outside the
    // demo's private folder.
    let tokens =
        tempfile::Builder::new().prefix("dirconn-demo-tokens-").tempdir_in("/tmp").map_err(io("token folder"))?;
    let token = random_token();
    let token_file = tokens.path().join("dovecot.token");
    fs::write(&token_file, format!("{token}\n")).map_err(io("writing the token file"))?;
    let dovecot_gid = if root { group_id("dovecot") } else { None };
    let (dir_mode, file_mode) = if dovecot_gid.is_some() { (0o750, 0o640) } else { (0o700, 0o600) };
    if let Some(gid) = dovecot_gid {
        std::os::unix::fs::chown(tokens.path(), None, Some(gid)).map_err(io("chown the token folder"))?;
        std::os::unix::fs::chown(&token_file, None, Some(gid)).map_err(io("chown the token file"))?;
    }
    fs::set_permissions(tokens.path(), fs::Permissions::from_mode(dir_mode)).map_err(io("chmod"))?;
    fs::set_permissions(&token_file, fs::Permissions::from_mode(file_mode)).map_err(io("chmod"))?;

    let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let socketmap = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let added = format!(
        r#"
# Added for `dirconn serve` (cargo xtask demo): the userdb fields mail servers get with each user…
[domain.userdb]
home = "/var/vmail/%d/%n"
uid = 5000
gid = 5000
quota_rule = "*:storage=1G"

# …the HTTP API, Postfix's lookup tables (socketmap), the metrics listener, and the mail server's token.
[service]
listen = ["{api}"]
postfix_socketmap = "{socketmap}"
metrics_listen = "{metrics}"

[[service.client]]
name = "dovecot"
token_file = "{token_file}"
role = "mail-server"
"#,
        token_file = token_file.display()
    );
    fs::OpenOptions::new()
        .append(true)
        .open(config)
        .and_then(|mut f| f.write_all(added.as_bytes()))
        .map_err(io("adding [service] to the configuration"))?;
    println!("\n== The service: `dirconn serve` on the same configuration, with these sections added ==");
    print!("{added}");

    let log = dir.join("serve.log");
    let log_file = fs::File::create(&log).map_err(io("creating serve.log"))?;
    let dirconn = binary(false, "dirconn");
    let mut cmd = Command::new(&dirconn);
    cmd.arg("--config")
        .arg(config)
        .arg("serve")
        .env_remove("DIRCONN_PLUGIN_DIR")
        .env("DIRCONN_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(io("serve.log"))?)
        .stderr(log_file);
    println!("$ dirconn --config {} serve   (log: {})", config.display(), log.display());
    let began = Instant::now();
    let serve = spawn_tied_to_process(cmd, libc::SIGTERM)
        .map_err(|e| Error::Command { command: format!("{} serve", dirconn.display()), reason: e.to_string() })?;
    let mut running =
        Running { serve, api, metrics, socketmap, token, config: config.to_path_buf(), log, dovecot: None, tokens };
    running.wait_ready()?;
    println!(
        "dirconn serve pid {} ready in {} ms: API http://{api}, metrics http://{metrics}",
        running.serve.id(),
        began.elapsed().as_millis()
    );
    if !root {
        println!("(not root: the real Dovecot part is skipped — Dovecot must be started as root)");
        return Ok(running);
    }
    let d = Dovecot::start(DovecotOptions::new(DovecotAuth::Lua(LuaAuth {
        api_url: format!("http://{api}"),
        token_file,
        timeout_msecs: Some(3000),
    })));
    println!(
        "Dovecot pid {} ready in {} ms: IMAP on 127.0.0.1:{}, passdb lua (integrations/dovecot/dirconn.lua) → POST \
         http://{api}/v1/auth",
        d.pid(),
        d.startup_time().as_millis(),
        d.imap_port()
    );
    running.dovecot = Some(d);
    Ok(running)
}

impl Running {
    fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut health = Http::new(self.metrics).with_timeout(Duration::from_secs(5));
        loop {
            if let Ok(Some(status)) = self.serve.try_wait() {
                return Err(Error::Check(format!("dirconn serve exited ({status}); its log:\n{}", self.log_text())));
            }
            if health.send("GET", "/healthz", &[], None).is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Check(format!(
                    "dirconn serve did not answer /healthz within {READY_TIMEOUT:?}; its log:\n{}",
                    self.log_text()
                )));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Logs in over IMAP (as root) and over HTTP, then shows the audit and the metrics; returns the steps
    /// whose outcome was not the one expected.
    pub fn show(&mut self) -> Result<Vec<String>, Error> {
        let mut surprises = Vec::new();
        let mut attempts = 0;
        if let Some(d) = &self.dovecot {
            let alice = Fixture::ALICE;
            for (title, password, ok) in [
                (
                    "alice logs in over IMAP: Dovecot → dirconn.lua → dirconn serve → the directory",
                    alice.password,
                    true,
                ),
                ("alice over IMAP with a wrong password", "not-her-password", false),
            ] {
                println!("\n== {title} ==");
                println!(
                    "$ IMAP 127.0.0.1:{}  LOGIN alice {}",
                    d.imap_port(),
                    if ok { "<her password>" } else { "<wrong>" }
                );
                attempts += 1;
                let outcome = imap_login(d.imap_port(), "alice", password).map_err(io("the IMAP session"))?;
                let expected = if ok {
                    outcome.is_ok()
                } else {
                    matches!(&outcome, ImapOutcome::No(_)) && outcome.code() == Some("AUTHENTICATIONFAILED")
                };
                match &outcome {
                    ImapOutcome::Ok => println!("OK: logged in"),
                    ImapOutcome::No(text) => println!("NO {text}"),
                    other => println!("{other:?}"),
                }
                if !expected {
                    surprises.push(format!("`{title}` gave {outcome:?}"));
                }
            }
            // Dovecot's login process logs the mailbox name the service made canonical.
            d.wait_for_log("Login: user=<alice@example.org>", Duration::from_secs(3));
            d.wait_for_log("auth failed", Duration::from_secs(3));
            println!("\nDovecot's log of those two logins:");
            // (Without the harness's readiness probe, a connection that never logs in: `user=<>`.)
            for line in d.log().lines().filter(|l| l.contains("imap-login:") && !l.contains("user=<>")) {
                println!("  {line}");
            }
        }

        let olaf = Fixture::OLAF;
        println!(
            "\n== A mail server's login over HTTP: POST /v1/auth for OLAF (any case) with the mail-server token =="
        );
        println!(
            "$ curl -H 'Authorization: Bearer …' -H 'Content-Type: application/json' \
             -d '{{\"login\":\"OLAF\",\"password\":\"…\",\"service\":\"imap\"}}' http://{}/v1/auth",
            self.api
        );
        attempts += 1;
        let body = serde_json::json!({ "login": "OLAF", "password": olaf.password, "service": "imap" });
        let r = Http::new(self.api)
            .with_token(&self.token)
            .send("POST", "/v1/auth", &[("Content-Type", "application/json")], Some(body.to_string().as_bytes()))
            .map_err(io("POST /v1/auth"))?;
        println!("HTTP {}", r.status);
        let json = r.json();
        println!("{}", serde_json::to_string_pretty(&json).unwrap_or_default());
        if r.status != 200 || json["account"] != "olaf@example.org" {
            surprises.push(format!("POST /v1/auth for OLAF answered {} {json}", r.status));
        }

        surprises.extend(self.show_postmap());
        surprises.extend(self.show_web());

        // The service writes audit rows in batches, a moment after each answer.
        if !self.wait_audit_written(attempts) {
            surprises.push(format!("the service did not write the audit rows of {attempts} attempts"));
        }
        let audit = Step {
            title: "The audit of those attempts, and of the CLI's logins before them",
            args: vec![
                "--config".into(),
                self.config.display().to_string(),
                "audit".into(),
                "--last".into(),
                "5".into(),
            ],
            stdin: None,
            expect: 0,
        };
        surprises.extend(run_steps(&[audit], "no step")?);

        println!("\n== The service's metrics (GET http://{}/metrics, a few lines) ==", self.metrics);
        let text = Http::new(self.metrics).send("GET", "/metrics", &[], None).map_err(io("GET /metrics"))?.text();
        let shown: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("dirconn_auth_attempts_total") || l.starts_with("dirconn_auth_duration_seconds_count")
            })
            .collect();
        for line in &shown {
            println!("{line}");
        }
        if shown.is_empty() {
            surprises.push("/metrics has no dirconn_auth_attempts_total".into());
        }
        Ok(surprises)
    }

    /// Postfix's own `postmap -q` asking the service's socketmap (when Postfix is installed).
    fn show_postmap(&self) -> Vec<String> {
        let table = format!("socketmap:inet:{}:mailbox", self.socketmap);
        println!("\n== Postfix's own client asks the service's recipient table (socketmap, from the store) ==");
        println!("$ postmap -q Alice@Example.org {table}");
        let Ok(etc) = tempfile::tempdir() else { return vec!["no temporary folder for postmap".into()] };
        if fs::write(etc.path().join("main.cf"), "compatibility_level = 3.7\n").is_err() {
            return vec!["cannot write postmap's main.cf".into()];
        }
        let out = Command::new("postmap")
            .arg("-c")
            .arg(etc.path())
            .args(["-q", "Alice@Example.org", &table])
            .stdin(Stdio::null())
            .output();
        match out {
            Err(_) => {
                println!("(Postfix is not installed: `dirconn postmap` above answered the same from the store)");
                Vec::new()
            }
            Ok(out) => {
                let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                print!("{stdout}{stderr}");
                println!("(exit code {})", out.status.code().unwrap_or(-1));
                if stdout.trim() != "alice@example.org" {
                    return vec![format!("postmap -q Alice@Example.org mailbox: {stdout}{stderr}")];
                }
                Vec::new()
            }
        }
    }

    /// Waits until the service has written at least `rows` audit rows (its metric), up to [`AUDIT_TIMEOUT`].
    fn wait_audit_written(&self, rows: usize) -> bool {
        let deadline = Instant::now() + AUDIT_TIMEOUT;
        let mut metrics = Http::new(self.metrics).with_timeout(Duration::from_secs(5));
        while Instant::now() < deadline {
            let written = metrics.send("GET", "/metrics", &[], None).ok().and_then(|r| {
                r.text()
                    .lines()
                    .find_map(|l| l.strip_prefix("dirconn_audit_rows_written_total ")?.trim().parse::<f64>().ok())
            });
            if written.is_some_and(|n| n >= rows as f64) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        false
    }

    /// Stops Dovecot (its process group), then the service (SIGTERM: it drains and writes the audit), by PID.
    pub fn stop(mut self) {
        if let Some(mut d) = self.dovecot.take() {
            let pid = d.pid();
            d.stop();
            drop(d);
            println!("Dovecot (pid {pid}) stopped; its folder was removed.");
        }
        let pid = self.serve.id();
        stop_child(&mut self.serve, libc::SIGTERM, STOP_TIMEOUT);
        println!("dirconn serve (pid {pid}) stopped.");
    }

    /// What to try by hand while it runs (`--keep`).
    /// The administrator's web pages: a sign-in as the demo's local administrator, and the domains page.
    fn show_web(&self) -> Vec<String> {
        println!(
            "\n== The administrator's web pages: http://{}/ui/ (sign in as postmaster@example.org, password \
             postmaster-pass) ==",
            self.api
        );
        let form = b"login=postmaster%40example.org&password=postmaster-pass";
        let headers = [("Content-Type", "application/x-www-form-urlencoded")];
        let r = match Http::new(self.api).send("POST", "/ui/signin", &headers, Some(form)) {
            Ok(r) => r,
            Err(e) => return vec![format!("POST /ui/signin failed: {e}")],
        };
        let cookie = r.header("set-cookie").and_then(|c| c.split(';').next()).unwrap_or_default().to_owned();
        println!(
            "POST /ui/signin as postmaster@example.org: HTTP {} (a session cookie: {})",
            r.status,
            !cookie.is_empty()
        );
        if r.status != 303 || !cookie.starts_with("__Host-dirconn=") {
            return vec![format!("the sign-in to the web pages answered {} without a session cookie", r.status)];
        }
        let page = match Http::new(self.api).send("GET", "/ui/domains", &[("Cookie", &cookie)], None) {
            Ok(r) => r,
            Err(e) => return vec![format!("GET /ui/domains failed: {e}")],
        };
        let shown = page.text().contains("example.org");
        println!("GET /ui/domains: HTTP {} (lists example.org: {shown})", page.status);
        if page.status != 200 || !shown {
            return vec![format!("the domains page answered {} and does not list example.org", page.status)];
        }
        Vec::new()
    }

    pub fn hint(&self) -> String {
        let mut s = format!(
            "  open http://{}/ui/ in a browser: postmaster@example.org, password postmaster-pass\n  curl -s http://{}/metrics | grep ^dirconn_auth\n  curl -s -H \"Authorization: Bearer $(cat {})\" \
             -H 'Content-Type: application/json' -d '{{\"login\":\"bob\",\"password\":\"bob-pass\"}}' \
             http://{}/v1/auth",
            self.api,
            self.metrics,
            self.tokens.path().join("dovecot.token").display(),
            self.api
        );
        if let Some(d) = &self.dovecot {
            s.push_str(&format!("\n  doveadm -c {} auth test alice alice-pass", d.config_file().display()));
        }
        s
    }
}

/// The id of a group in /etc/group.
fn group_id(name: &str) -> Option<u32> {
    fs::read_to_string("/etc/group").ok()?.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next() == Some(name)).then(|| fields.nth(1)?.parse().ok()).flatten()
    })
}
