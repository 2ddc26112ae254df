//! A throw-away nginx mail proxy (`libnginx-mod-mail`) on `127.0.0.1`: IMAP (and optionally SMTP) logins
//! checked by an `auth_http` service, then proxied to the backend that service names.
//!
//! Run as `nginx -p $W/ -c $W/nginx.conf -e $W/error.log` with `daemon off;` (so the master is ours,
//! PR_SET_PDEATHSIG), one worker, `pid` and `error_log` (level `info`: one line per login) under `$W`; there
//! is no `http` block, so no temp paths. `-e` keeps nginx from opening the compiled-in
//! `/var/log/nginx/error.log` before it reads the configuration. Stopped by its PID: SIGTERM (fast
//! shutdown, the master stops its workers), then SIGKILL.
//!
//! nginx asks the auth service `GET <auth_http path>` (HTTP/1.0, a new connection each time) with
//! `Auth-Method`, `Auth-User`, `Auth-Pass`, `Auth-Protocol`, `Auth-Login-Attempt`, `Client-IP` and every
//! `auth_http_header`; no `Client-Host` without a `resolver`. An answer `Auth-Status: OK` with
//! `Auth-Server`/`Auth-Port` logs the client in there (as the answer's `Auth-User` when it has one); any other
//! status text is sent to an IMAP client as `<tag> NO <text>` and to an SMTP client as `<Auth-Error-Code>
//! <text>` (default `535 5.7.0`), after `Auth-Wait` seconds when the answer has it (the connection then stays
//! open for another try), else at once (and nginx closes the connection).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::daemon::{is_listening, log_tail, require_root, shared_temp_dir, wait_for_text};
use crate::net::free_port;
use crate::process::{spawn_tied_to_process, stop_child};

/// Debian's path of the mail module.
pub const MAIL_MODULE: &str = "/usr/lib/nginx/modules/ngx_mail_module.so";
const START_ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
const INSTALL_HINT: &str = "install the packages nginx and libnginx-mod-mail";

/// How to build an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxOptions {
    /// `auth_http`: `127.0.0.1:PORT/path`, e.g. `127.0.0.1:8025/v1/nginx/auth`.
    pub auth_http: String,
    /// `auth_http_header NAME "VALUE"` lines (e.g. `Authorization`, `Bearer TOKEN`).
    pub auth_http_headers: Vec<(String, String)>,
    /// An IMAP server (`protocol imap; proxy on;`). Default `true`.
    pub imap: bool,
    /// An SMTP server (`protocol smtp; smtp_auth plain login; xclient off; proxy on;`). Default `false`.
    pub smtp: bool,
    /// Lines added verbatim inside `mail { }` (e.g. `auth_http_timeout 5s;`). Default empty.
    pub extra_mail: String,
}

impl NginxOptions {
    /// An IMAP proxy asking `auth_http` (`127.0.0.1:PORT/path`), no extra header.
    pub fn new(auth_http: impl Into<String>) -> NginxOptions {
        NginxOptions {
            auth_http: auth_http.into(),
            auth_http_headers: Vec::new(),
            imap: true,
            smtp: false,
            extra_mail: String::new(),
        }
    }

    /// Adds `auth_http_header Authorization "Bearer TOKEN"`.
    pub fn bearer(mut self, token: &str) -> NginxOptions {
        self.auth_http_headers.push(("Authorization".into(), format!("Bearer {token}")));
        self
    }
}

/// A running nginx on `127.0.0.1`; stopped (by PID) and its folder removed on drop.
#[derive(Debug)]
pub struct Nginx {
    child: Option<Child>,
    pid: u32,
    imap_port: Option<u16>,
    smtp_port: Option<u16>,
    startup: Duration,
    // Last field: dropped after the process is stopped in `Drop`.
    dir: TempDir,
}

impl Nginx {
    /// Writes `nginx.conf` and starts nginx on free ports; returns once they listen. Panics with context
    /// and the log on failure.
    pub fn start(opts: NginxOptions) -> Nginx {
        let began = Instant::now();
        require_root("nginx");
        assert!(Path::new(MAIL_MODULE).is_file(), "no {MAIL_MODULE}: {INSTALL_HINT}");
        assert!(opts.imap || opts.smtp, "NginxOptions: neither imap nor smtp");
        let dir = shared_temp_dir("dirconn-nginx-");
        let w = dir.path();
        let mut failures = Vec::new();
        while failures.len() < START_ATTEMPTS {
            let imap_port = opts.imap.then(free_port);
            let smtp_port = opts.smtp.then(|| {
                loop {
                    let p = free_port();
                    if Some(p) != imap_port {
                        break p;
                    }
                }
            });
            fs::write(w.join("nginx.conf"), config(w, &opts, imap_port, smtp_port))
                .expect("nginx: cannot write nginx.conf");
            match spawn_and_wait(w, imap_port.into_iter().chain(smtp_port)) {
                Ok(child) => {
                    return Nginx {
                        pid: child.id(),
                        child: Some(child),
                        imap_port,
                        smtp_port,
                        startup: began.elapsed(),
                        dir,
                    };
                }
                Err(failure) => failures.push(format!("attempt {}: {failure}", failures.len() + 1)),
            }
        }
        panic!("nginx did not start in {START_ATTEMPTS} attempts:\n{}", failures.join("\n"));
    }

    /// The IMAP port on `127.0.0.1` (panics if [`NginxOptions::imap`] was off).
    pub fn imap_port(&self) -> u16 {
        self.imap_port.expect("this nginx has no IMAP server")
    }

    /// The SMTP port on `127.0.0.1` (panics if [`NginxOptions::smtp`] was off).
    pub fn smtp_port(&self) -> u16 {
        self.smtp_port.expect("this nginx has no SMTP server")
    }

    /// The error log so far (`$W/error.log`, level info: connections, logins, auth_http failures).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// Waits up to `timeout` for `needle` to appear in the log.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for_text(&self.log_file(), needle, timeout)
    }

    /// `$W/error.log`.
    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("error.log")
    }

    /// The generated `nginx.conf`.
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("nginx.conf")
    }

    /// The instance's temporary folder (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The master process's PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Wall time [`Nginx::start`] took.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Stops nginx: SIGTERM to the master (fast shutdown; it stops its workers), up to 5 s, then SIGKILL.
    /// Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, libc::SIGTERM, STOP_TIMEOUT);
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `"value"` with `"` and `\` escaped, for nginx's configuration syntax.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn config(w: &Path, opts: &NginxOptions, imap_port: Option<u16>, smtp_port: Option<u16>) -> String {
    let wd = w.display();
    let mut s = format!(
        "# Generated by the dirconn test harness.
daemon off;
worker_processes 1;
pid {wd}/nginx.pid;
error_log {wd}/error.log info;
load_module {MAIL_MODULE};
events {{
  worker_connections 512;
}}
mail {{
  auth_http {auth_http};
",
        auth_http = opts.auth_http
    );
    for (name, value) in &opts.auth_http_headers {
        let _ = writeln!(s, "  auth_http_header {name} {};", quoted(value));
    }
    s.push_str(&opts.extra_mail);
    s.push('\n');
    if let Some(port) = imap_port {
        let _ = writeln!(s, "  server {{\n    listen 127.0.0.1:{port};\n    protocol imap;\n    proxy on;\n  }}");
    }
    if let Some(port) = smtp_port {
        let _ = writeln!(
            s,
            "  server {{\n    listen 127.0.0.1:{port};\n    protocol smtp;\n    smtp_auth plain login;\n    \
             xclient off;\n    proxy on;\n  }}"
        );
    }
    s.push_str("}\n");
    s
}

/// Launches nginx and waits until every port listens. On failure the child is reaped and the reason (with
/// the log) returned.
fn spawn_and_wait(w: &Path, ports: impl Iterator<Item = u16>) -> Result<Child, String> {
    let ports: Vec<u16> = ports.collect();
    let out_path = w.join("nginx.out");
    let out = File::create(&out_path).map_err(|e| format!("cannot create nginx.out: {e}"))?;
    let err = out.try_clone().map_err(|e| format!("cannot clone nginx.out: {e}"))?;
    let mut prefix = w.as_os_str().to_owned();
    prefix.push("/");
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(w.join("nginx.conf"))
        .arg("-e")
        .arg(w.join("error.log"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let mut child =
        spawn_tied_to_process(cmd, libc::SIGTERM).map_err(|e| format!("cannot spawn nginx ({INSTALL_HINT}): {e}"))?;
    let logs = || format!("nginx.out:\n{}\nerror.log:\n{}", log_tail(&out_path), log_tail(&w.join("error.log")));
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("nginx exited early ({status}); {}", logs()));
        }
        if ports.iter().all(|&p| is_listening(p)) {
            std::thread::sleep(Duration::from_millis(20));
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("nginx exited after launch ({status}); {}", logs()));
            }
            return Ok(child);
        }
        if Instant::now() >= deadline {
            stop_child(&mut child, libc::SIGTERM, STOP_TIMEOUT);
            return Err(format!("nginx not listening on {ports:?} within {READY_TIMEOUT:?}; {}", logs()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
