//! A throw-away PostgreSQL server on `127.0.0.1`, for tests of the SQL store.
//!
//! Each [`Postgres`] lives in its own temporary folder holding a cluster made with
//! `initdb --auth=trust` (superuser [`USER`]), the server's Unix socket and its log. The `postgres`
//! server process is started directly (no `pg_ctl`), so its PID is ours; it is stopped by that PID
//! (SIGINT, then SIGKILL) on [`Postgres::stop`] or drop. Durability is off (`fsync`,
//! `synchronous_commit`, `full_page_writes`): fast, and fine for throw-away data.
//!
//! `initdb` and `postgres` refuse to run as root. When the tests run as root (CI), both run as
//! the `nobody` user (supplementary groups dropped) and the temporary folder is handed to it.
//!
//! Binaries are looked up in `PATH`, then in `/usr/lib/postgresql/<version>/bin` (highest version,
//! Debian's layout: package `postgresql`). Everything panics with context on failure: this is a
//! test harness.

use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{
    net::free_port,
    process::{spawn_tied_to_process, stop_child},
};

/// The superuser `initdb` creates (trust authentication, no password).
pub const USER: &str = "dirconn";
/// The database [`Postgres::url`] points at (the one `initdb` always creates).
pub const DATABASE: &str = "postgres";

const INSTALL_HINT: &str = "install the `postgresql` package (apt-get install postgresql)";
const START_ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const LOG_TAIL: usize = 4000;

/// A running PostgreSQL server on `127.0.0.1:<port>`; stopped when dropped.
#[derive(Debug)]
pub struct Postgres {
    // Declared before `dir`, and `Drop` stops the server before the folder is removed.
    child: Option<Child>,
    pid: u32,
    port: u16,
    dir: TempDir,
}

impl Postgres {
    /// Whether `initdb` and `postgres` can be found (in `PATH` or `/usr/lib/postgresql/*/bin`).
    pub fn available() -> bool {
        bin_dir().is_some()
    }

    /// Creates a cluster in a fresh temporary folder and starts the server on a free port.
    /// Panics (with the server log) if the binaries are missing or the server does not come up.
    pub fn start() -> Postgres {
        let bin = bin_dir().unwrap_or_else(|| {
            panic!(
                "PostgreSQL not found: no `initdb` and `postgres` in PATH or /usr/lib/postgresql/*/bin; {INSTALL_HINT}"
            )
        });
        let run_as = unprivileged_user();
        let dir = temp_dir(run_as.is_some());
        let w = dir.path();
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::lchown(w, Some(uid), Some(gid))
                .unwrap_or_else(|e| panic!("cannot hand {} to uid {uid}: {e}", w.display()));
        }

        let mut initdb = command(&bin.join("initdb"), w, run_as);
        initdb.arg("-D").arg(w.join("data")).args([
            "-U",
            USER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        let out = initdb
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} ({INSTALL_HINT}): {e}", bin.join("initdb").display()));
        if !out.status.success() {
            panic!(
                "initdb failed ({}):\nstdout:\n{}\nstderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            match spawn_and_wait(&bin, w, port, run_as) {
                Ok(child) => return Postgres { pid: child.id(), child: Some(child), port, dir },
                Err(failure) => failures.push(failure),
            }
        }
        panic!("postgres did not start after {START_ATTEMPTS} attempts:\n{}", failures.join("\n---\n"));
    }

    /// `postgres://dirconn@127.0.0.1:PORT/postgres` (no password: trust authentication).
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The TCP port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// PID of the `postgres` server process (the postmaster) this harness started.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server log so far (stdout and stderr of the server process).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// Starts the stopped server again on the same data and port (a restart under load). Panics when it does
    /// not come up.
    pub fn restart(&mut self) {
        self.stop();
        let bin = bin_dir().expect("PostgreSQL binaries");
        let run_as = unprivileged_user();
        let child = spawn_and_wait(&bin, self.dir.path(), self.port, run_as)
            .unwrap_or_else(|e| panic!("postgres did not restart on port {}: {e}", self.port));
        self.pid = child.id();
        self.child = Some(child);
    }

    /// Stops the server: SIGINT ("fast" shutdown: disconnects clients), up to 10 s for it to exit,
    /// then SIGKILL; reaps it. Only ever signals the process this harness started. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, libc::SIGINT, STOP_TIMEOUT);
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The first folder holding both `initdb` and `postgres`: each `PATH` entry, then
/// `/usr/lib/postgresql/<version>/bin`, highest version first. Both come from one folder so
/// their versions match.
fn bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(path) = std::env::var_os("PATH")
        && let Some(d) = std::env::split_paths(&path).find(|d| has_both(d))
    {
        return Some(d);
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.split('.').map(str::parse).collect::<Result<Vec<u32>, _>>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, d)| has_both(d))
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

/// `Some((uid, gid))` of `nobody` when running as root (PostgreSQL refuses root), else `None`.
fn unprivileged_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = CString::new("nobody").expect("no NUL in a literal");
    // SAFETY: getpwnam_r writes into `pw` and `buf`, whose sizes are passed; `result` points at
    // `pw` or is null.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(name.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc != 0 || result.is_null() {
            panic!("running as root, and PostgreSQL refuses root, but there is no `nobody` user to run it as");
        }
        Some((pw.pw_uid, pw.pw_gid))
    }
}

/// A fresh temporary folder. When another user must use it, it lives under `TMPDIR` only if every
/// ancestor is searchable by others (e.g. not under `/root`), else under `/tmp`.
fn temp_dir(shared: bool) -> TempDir {
    let mut base = std::env::temp_dir();
    if shared && !base.ancestors().all(|a| fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 != 0)) {
        base = PathBuf::from("/tmp");
    }
    tempfile::Builder::new()
        .prefix("dirconn-pg-")
        .tempdir_in(&base)
        .unwrap_or_else(|e| panic!("cannot create a temporary folder in {}: {e}", base.display()))
}

/// A command run in `w` with a C locale, as `run_as` (supplementary groups are dropped by the
/// standard library when root sets a uid).
fn command(program: &Path, w: &Path, run_as: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(w).env("LC_ALL", "C").env("LANG", "C").env_remove("PGDATA");
    if let Some((uid, gid)) = run_as {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// Launches `postgres` on `port` and waits until it completes a protocol handshake.
/// On failure the child is reaped and the reason (with the log tail) returned.
fn spawn_and_wait(bin: &Path, w: &Path, port: u16, run_as: Option<(u32, u32)>) -> Result<Child, String> {
    let log_path = w.join("postgres.log");
    let log = File::create(&log_path).map_err(|e| format!("cannot create postgres.log: {e}"))?;
    let log2 = log.try_clone().map_err(|e| format!("cannot clone postgres.log handle: {e}"))?;
    // The socket path `<w>/.s.PGSQL.<port>` must fit in sun_path (108 bytes); a longer TMPDIR
    // gets no Unix socket at all (clients use TCP anyway).
    let socket_dir = if w.as_os_str().len() <= 80 { w.as_os_str() } else { OsStr::new("") };
    let mut cmd = command(&bin.join("postgres"), w, run_as);
    cmd.arg("-D")
        .arg(w.join("data"))
        .arg("-k")
        .arg(socket_dir)
        .arg("-p")
        .arg(port.to_string())
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    let mut child =
        spawn_tied_to_process(cmd, libc::SIGINT).map_err(|e| format!("cannot spawn postgres ({INSTALL_HINT}): {e}"))?;

    let read_log = || {
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        let start = log.len().saturating_sub(LOG_TAIL);
        let start = (start..log.len()).find(|&i| log.is_char_boundary(i)).unwrap_or(log.len());
        log[start..].to_owned()
    };
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("postgres exited early ({status}); log tail:\n{}", read_log()));
        }
        if handshake(port).is_ok() {
            // A stranger may have grabbed the port in the race; make sure ours is still alive.
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("postgres exited after launch ({status}); log tail:\n{}", read_log()));
            }
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let last = handshake(port).err().unwrap_or_default();
            stop_child(&mut child, libc::SIGINT, STOP_TIMEOUT);
            return Err(format!(
                "postgres not ready on 127.0.0.1:{port} within {READY_TIMEOUT:?} (last attempt: {last}); log tail:\n{}",
                read_log()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens a protocol 3.0 session as [`USER`] on [`DATABASE`] and expects `AuthenticationOk`;
/// a server still starting up answers with an error instead. Ends with `Terminate`.
fn handshake(port: u16) -> Result<(), String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2))).map_err(|e| e.to_string())?;
    let mut body = 196_608_u32.to_be_bytes().to_vec(); // protocol 3.0
    for part in ["user", USER, "database", DATABASE, ""] {
        body.extend_from_slice(part.as_bytes());
        body.push(0);
    }
    let len = u32::try_from(body.len() + 4).expect("a short message");
    let mut msg = len.to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    s.write_all(&msg).map_err(|e| e.to_string())?;
    let mut head = [0u8; 9];
    s.read_exact(&mut head).map_err(|e| format!("no answer to the startup message: {e}"))?;
    let _ = s.write_all(&[b'X', 0, 0, 0, 4]);
    match head {
        [b'R', 0, 0, 0, 8, 0, 0, 0, 0] => Ok(()),
        [b'E', ..] => {
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            Err(format!("server error: {}", String::from_utf8_lossy(&rest).replace('\0', " ")))
        }
        other => Err(format!("unexpected answer to the startup message: {other:?}")),
    }
}
