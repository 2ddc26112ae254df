//! A private `dirconn serve` launcher for the mail-server tests and the Dovecot benchmark (included with
//! `#[path]`; the shared harness for the service lives elsewhere): a folder with the staged plugins, a
//! configuration of the given domains plus a `[service]` table (HTTP API and metrics on free loopback ports,
//! one `mail-server` client whose token file mail servers can read, `[service.nginx]` lines), and the binary
//! started on it (PR_SET_PDEATHSIG, inside a test's private network namespace when it entered one), stopped
//! by its PID (SIGTERM: drain, then exit).

#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dirconn_tests::net::free_port;
use dirconn_tests::process::{spawn_tied_to_process, stop_child};
use dirconn_tests::{DomainSpec, TestHost, stage};

/// The API token of the one client (`dovecot`, role mail-server).
pub const TOKEN: &str = "mail-tests-token-5b1f0c9e";
const START_ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The `dirconn` binary of a profile (`debug`, `release`), built (or found up to date) once per process.
pub fn dirconn_bin(profile: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !built.iter().any(|p| p == profile) {
        let mut args = vec!["build", "--quiet", "-p", "dirconn"];
        if profile == "release" {
            args.push("--release");
        }
        stage::cargo(&args).expect("building dirconn");
        built.push(profile.to_owned());
    }
    stage::target_dir().join(profile).join("dirconn")
}

/// What to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The `dirconn` binary.
    pub bin: PathBuf,
    /// Plugin libraries to stage.
    pub plugins: Vec<PathBuf>,
    /// The `[[domain]]` sections.
    pub domains: Vec<DomainSpec>,
    /// Lines of `[service.nginx]` (e.g. `imap = "127.0.0.1:1430"`, `wait_seconds = 1`).
    pub nginx: Vec<String>,
    /// `DIRCONN_LOG` (default `info`).
    pub log: String,
}

impl ServeOptions {
    /// The debug binary and the debug staged plugins `plugins`, serving `domains`.
    pub fn new(plugins: Vec<PathBuf>, domains: Vec<DomainSpec>) -> ServeOptions {
        ServeOptions { bin: dirconn_bin("debug"), plugins, domains, nginx: Vec::new(), log: "info".into() }
    }
}

/// A running `dirconn serve` on `127.0.0.1`.
#[derive(Debug)]
pub struct Serve {
    child: Option<Child>,
    port: u16,
    metrics_port: u16,
    config: PathBuf,
    /// The configuration without `[service.nginx]`.
    base: String,
    log_file: PathBuf,
    token_file: PathBuf,
    dir: tempfile::TempDir,
}

impl Serve {
    /// Writes the configuration and starts the service; returns once `/healthz` answers. Panics with the log
    /// on failure.
    pub fn start(opts: ServeOptions) -> Serve {
        let (dir, config) = TestHost::prepare(&opts.plugins, &opts.domains);
        // Dovecot's auth process (user `dovecot`) reads the token file.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod the serve folder");
        let token_file = dir.path().join("api.token");
        fs::write(&token_file, format!("{TOKEN}\n")).expect("write the token file");
        fs::set_permissions(&token_file, fs::Permissions::from_mode(0o644)).expect("chmod the token file");
        let domains = fs::read_to_string(&config).expect("read the configuration");
        let log_file = dir.path().join("serve.log");
        let mut failures = Vec::new();
        while failures.len() < START_ATTEMPTS {
            let port = free_port();
            let metrics_port = loop {
                let p = free_port();
                if p != port {
                    break p;
                }
            };
            let base = format!(
                "{domains}\n[service]\nlisten = [\"127.0.0.1:{port}\"]\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n\
                 drain_timeout = \"2s\"\n\n[[service.client]]\nname = \"dovecot\"\ntoken_file = \"api.token\"\n\
                 role = \"mail-server\"\n"
            );
            write_config(&config, &base, &opts.nginx);
            let log = File::create(&log_file).expect("create serve.log");
            let mut cmd = Command::new(&opts.bin);
            cmd.arg("--config")
                .arg(&config)
                .arg("serve")
                .env("DIRCONN_LOG", &opts.log)
                .env_remove("DIRCONN_PLUGIN_DIR")
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone the log handle"))
                .stderr(log);
            let mut child = spawn_tied_to_process(cmd, libc::SIGTERM)
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", opts.bin.display()));
            match wait_ready(&mut child, metrics_port) {
                Ok(()) => {
                    return Serve { child: Some(child), port, metrics_port, config, base, log_file, token_file, dir };
                }
                Err(why) => {
                    stop_child(&mut child, libc::SIGKILL, Duration::from_secs(5));
                    let log = fs::read_to_string(&log_file).unwrap_or_default();
                    failures.push(format!("attempt {}: {why}\n{log}", failures.len() + 1));
                }
            }
        }
        panic!("dirconn serve did not start:\n{}", failures.join("\n"));
    }

    /// The HTTP API's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The HTTP API's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port.
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// The file holding [`TOKEN`] (mode 0644).
    pub fn token_file(&self) -> &Path {
        &self.token_file
    }

    /// The service's log (stdout and stderr).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// The configuration's folder (the store `accounts.db` is there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The PID of the `dirconn serve` process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `GET path` on the metrics listener: the status code and the body.
    pub fn metrics_get(&self, path: &str) -> (u16, String) {
        http_get(self.metrics_port, path).unwrap_or_else(|e| panic!("GET {path} on the metrics listener: {e}"))
    }

    /// Rewrites `[service.nginx]` and reloads the service (SIGHUP); returns once it logged the reload.
    pub fn set_nginx(&mut self, lines: &[String]) {
        write_config(&self.config, &self.base, lines);
        let reloads = self.log().matches("configuration reloaded").count();
        let pid = libc::pid_t::try_from(self.pid().expect("the service runs")).expect("a PID");
        // SAFETY: kill(2) on the PID of our own, not yet reaped, child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0, "SIGHUP");
        let deadline = Instant::now() + READY_TIMEOUT;
        while self.log().matches("configuration reloaded").count() == reloads {
            assert!(Instant::now() < deadline, "no reload logged:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the service: SIGTERM (drain, flush the audit), up to 10 s, then SIGKILL. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, libc::SIGTERM, Duration::from_secs(10));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_config(path: &Path, base: &str, nginx: &[String]) {
    let mut text = base.to_owned();
    if !nginx.is_empty() {
        text.push_str("\n[service.nginx]\n");
        for line in nginx {
            text.push_str(line);
            text.push('\n');
        }
    }
    fs::write(path, text).expect("write the configuration");
}

fn wait_ready(child: &mut Child, metrics_port: u16) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("dirconn serve exited ({status})"));
        }
        match http_get(metrics_port, "/healthz") {
            Ok((200, _)) => return Ok(()),
            Ok((status, body)) => return Err(format!("/healthz answered {status}: {body}")),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("/healthz did not answer within {READY_TIMEOUT:?}: {e}")),
        }
    }
}

/// A one-shot HTTP/1.0 GET on `127.0.0.1:port`: the status and the body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}
