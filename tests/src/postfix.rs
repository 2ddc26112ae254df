//! A throw-away Postfix 3.7 on `127.0.0.1` with its own configuration directory: one `smtpd` on a free
//! port with SASL AUTH handed to a Dovecot-protocol auth service (`smtpd_sasl_type = dovecot`).
//!
//! Layout of the temporary folder `$W` (mode 0755): `$W/etc` (`main.cf`, `master.cf`: the config
//! directory), `$W/spool` (`queue_directory`), `$W/lib` (`data_directory`, owned by `postfix`) and
//! `$W/maillog` (Postfix's log, written by its `postlogd`). The harness creates the queue folders itself and
//! runs `$daemon_directory/master -c $W/etc -d` (foreground) in a process group of its own; the master is
//! stopped by its PID (SIGTERM: it stops its process group), then SIGKILL.
//!
//! Traps found making a private config directory work (Postfix 3.7.11, Debian 12, as root):
//! * `postfix -c $W/etc start` works too (0.5 s: its `post-install`/`check` scripts run first, and create the
//!   queue folders) but leaves a daemon we did not fork; the harness runs `master -d` directly.
//! * With the queue directory inside the config directory, `postfix-script` warns "not owned by root" for
//!   every queue folder: keep them apart. `data_directory` must be owned by `postfix`.
//! * `maillog_file` works once it starts with one of `maillog_file_prefixes` (default `/var, /dev/stdout`:
//!   "does not match any prefix" is what made an earlier try fail) and master.cf has the `postlog` service.
//!   Without it everything goes to syslog (`/dev/log`, absent here), and the `postfix` command prints its
//!   fatal errors to stderr only when stderr is a terminal.
//! * `master -d` does not create a process group, and its SIGTERM handler kills its group and dies with
//!   "master_sigdeath: kill process group: No such process" (leaving its children) unless it leads one:
//!   hence `process_group(0)`.
//! * Postfix re-reads a configuration file modified less than a second ago every 300 ms until it is older
//!   (`dict_load_file`: "pausing to let it cool down"): a freshly written main.cf made every start take 2 s.
//!   The harness dates its files a minute back.
//! * `alias_maps` defaults to `hash:/etc/aliases, nis:...`: smtpd logs errors without `alias_maps =`.
//! * If the Dovecot auth service is unreachable when a client connects, smtpd dies ("fatal: no SASL
//!   authentication mechanisms") and the master throttles smtpd for a minute: start the auth service first.
//! * A Dovecot `FAIL` with `code=temp_fail` is answered `535 5.7.8 Error: authentication failed` like a wrong
//!   password; only a connection lost mid-request is a `454 4.7.0` (so dirconn closes the connection instead:
//!   `tests/tests/postfix_auth.rs`). `smtpd_error_sleep_time = 0` here (default 1 s after each failed AUTH).
//! * `smtpd_sasl_path` may be relative: it is taken from the queue directory (`$W/spool`), as with a chroot.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use tempfile::TempDir;

use crate::daemon::{is_listening, log_tail, make_dir, require_root, required_user, shared_temp_dir, system_group};
use crate::net::free_port;
use crate::process::{spawn_tied_to_process, stop_child};

const DAEMON_DIRECTORY: &str = "/usr/lib/postfix/sbin";
const START_ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
const INSTALL_HINT: &str = "install the `postfix` package (preseed `postfix postfix/main_mailer_type select No \
                            configuration` first)";

/// The services master.cf declares besides the smtpd (chroot off everywhere: no copies of system files).
const MASTER_CF_SERVICES: &str = "pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
";

/// How to build an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostfixOptions {
    /// `smtpd_sasl_path`: `inet:127.0.0.1:PORT` or the path of a UNIX socket (absolute: nothing is
    /// chrooted).
    pub sasl_path: String,
    /// Lines appended verbatim to `main.cf`. Default empty.
    pub extra_main_cf: String,
}

impl PostfixOptions {
    /// SASL through the Dovecot-protocol auth service on `127.0.0.1:port`.
    pub fn dovecot_inet(port: u16) -> PostfixOptions {
        PostfixOptions { sasl_path: format!("inet:127.0.0.1:{port}"), extra_main_cf: String::new() }
    }
}

/// A running Postfix on `127.0.0.1`; stopped (by PID) and its folder removed on drop.
#[derive(Debug)]
pub struct Postfix {
    child: Option<Child>,
    pid: u32,
    smtp_port: u16,
    startup: Duration,
    // Last field: dropped after the process is stopped in `Drop`.
    dir: TempDir,
}

impl Postfix {
    /// Writes `main.cf`/`master.cf`, creates the queue and starts the master; returns once the smtpd port
    /// listens (no connection is made: connect only once the auth service is up). Panics with context and
    /// the log on failure.
    pub fn start(opts: PostfixOptions) -> Postfix {
        let began = Instant::now();
        require_root("Postfix");
        let postfix = required_user("postfix", "postfix");
        let postdrop = system_group("postdrop").unwrap_or_else(|| panic!("no `postdrop` group: {INSTALL_HINT}"));
        let dir = shared_temp_dir("dirconn-postfix-");
        let w = dir.path();
        make_dir(&w.join("etc"), 0o755, None);
        make_dir(&w.join("lib"), 0o700, Some(postfix));
        make_queue(&w.join("spool"), postfix, postdrop);

        let mut failures = Vec::new();
        while failures.len() < START_ATTEMPTS {
            let smtp_port = free_port();
            write_cooled(&w.join("etc/main.cf"), &main_cf(w, &opts));
            write_cooled(
                &w.join("etc/master.cf"),
                &format!("127.0.0.1:{smtp_port} inet n - n - - smtpd\n{MASTER_CF_SERVICES}"),
            );
            match spawn_and_wait(w, smtp_port) {
                Ok(child) => {
                    return Postfix { pid: child.id(), child: Some(child), smtp_port, startup: began.elapsed(), dir };
                }
                Err(failure) => failures.push(format!("attempt {}: {failure}", failures.len() + 1)),
            }
        }
        panic!("postfix did not start in {START_ATTEMPTS} attempts:\n{}", failures.join("\n"));
    }

    /// The smtpd port on `127.0.0.1`.
    pub fn smtp_port(&self) -> u16 {
        self.smtp_port
    }

    /// The config directory (`$W/etc`).
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    /// Runs `postconf -c $W/etc ARGS` (e.g. `["-h", "smtpd_sasl_path"]`).
    pub fn postconf(&self, args: &[&str]) -> Output {
        Command::new("postconf")
            .arg("-c")
            .arg(self.config_dir())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run postconf ({INSTALL_HINT}): {e}"))
    }

    /// Runs `postmap -c $W/etc ARGS` (e.g. `["-q", "alice@example.org", "socketmap:inet:127.0.0.1:P:mailbox"]`).
    pub fn postmap(&self, args: &[&str]) -> Output {
        postmap(&self.config_dir(), args, None)
    }

    /// Postfix's log so far (`$W/maillog`).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// The instance's temporary folder (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The master process's PID (also in `$W/spool/pid/master.pid`).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Wall time [`Postfix::start`] took (folders, configuration, launch, port listening).
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Stops Postfix: SIGTERM to the master (it stops its process group), up to 5 s, then SIGKILL to the
    /// master and its group (which only our processes are in). Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, libc::SIGTERM, STOP_TIMEOUT);
            if let Ok(pgid) = libc::pid_t::try_from(self.pid) {
                // SAFETY: kill(2) on the process group our master led; ESRCH when it is already empty.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `postmap -c CONFIG_DIR ARGS` with `input` as its standard input (`postmap -q - TABLE` looks up one
/// key per line), or none.
pub fn postmap(config_dir: &Path, args: &[&str], input: Option<&Path>) -> Output {
    let stdin = match input {
        Some(path) => Stdio::from(File::open(path).unwrap_or_else(|e| panic!("postmap: {}: {e}", path.display()))),
        None => Stdio::null(),
    };
    Command::new("postmap")
        .arg("-c")
        .arg(config_dir)
        .args(args)
        .stdin(stdin)
        .output()
        .unwrap_or_else(|e| panic!("cannot run postmap ({INSTALL_HINT}): {e}"))
}

/// The queue folders `postfix-script`'s `post-install create-missing` would make, with its owners and modes.
fn make_queue(spool: &Path, postfix: (u32, u32), postdrop: u32) {
    make_dir(spool, 0o755, None);
    let private = (postfix.0, 0);
    for name in
        ["active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "private", "saved", "trace"]
    {
        make_dir(&spool.join(name), 0o700, Some(private));
    }
    make_dir(&spool.join("maildrop"), 0o730, Some((postfix.0, postdrop)));
    make_dir(&spool.join("public"), 0o710, Some((postfix.0, postdrop)));
    make_dir(&spool.join("pid"), 0o755, None);
}

/// Writes a configuration file dated a minute ago: Postfix re-reads a file modified in the last second every
/// 300 ms until it is older ("let it cool down"), which made every start take 2 s.
fn write_cooled(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("postfix: cannot write {}: {e}", path.display()));
    let past = SystemTime::now() - Duration::from_secs(60);
    File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(past))
        .unwrap_or_else(|e| panic!("postfix: cannot date {}: {e}", path.display()));
}

fn main_cf(w: &Path, opts: &PostfixOptions) -> String {
    let wd = w.display();
    let mut s = format!(
        "# Generated by the dirconn test harness.
compatibility_level = 3.7
queue_directory = {wd}/spool
data_directory = {wd}/lib
maillog_file_prefixes = {wd}
maillog_file = {wd}/maillog
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = localhost
mydestination =
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
smtpd_banner = $myhostname ESMTP
smtpd_error_sleep_time = 0
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {path}
",
        path = opts.sasl_path
    );
    let _ = writeln!(s, "{}", opts.extra_main_cf);
    s
}

/// Launches `master -c $W/etc -d` and waits for the smtpd port. On failure the child is reaped and the
/// reason (with the log) returned.
fn spawn_and_wait(w: &Path, smtp_port: u16) -> Result<Child, String> {
    let out_path = w.join("master.out");
    let out = File::create(&out_path).map_err(|e| format!("cannot create master.out: {e}"))?;
    let err = out.try_clone().map_err(|e| format!("cannot clone master.out: {e}"))?;
    let mut cmd = Command::new(Path::new(DAEMON_DIRECTORY).join("master"));
    cmd.arg("-c").arg(w.join("etc")).arg("-d").process_group(0).stdin(Stdio::null()).stdout(out).stderr(err);
    let mut child = spawn_tied_to_process(cmd, libc::SIGTERM)
        .map_err(|e| format!("cannot spawn {DAEMON_DIRECTORY}/master ({INSTALL_HINT}): {e}"))?;
    let logs = || format!("master.out:\n{}\nmaillog:\n{}", log_tail(&out_path), log_tail(&w.join("maillog")));
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("postfix master exited early ({status}); {}", logs()));
        }
        // Not a connection: it would start an smtpd, which dies (and gets throttled) if the auth service
        // is not up yet.
        if is_listening(smtp_port) {
            std::thread::sleep(Duration::from_millis(20));
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("postfix master exited after launch ({status}); {}", logs()));
            }
            return Ok(child);
        }
        if Instant::now() >= deadline {
            stop_child(&mut child, libc::SIGTERM, STOP_TIMEOUT);
            return Err(format!("smtpd not reachable on 127.0.0.1:{smtp_port} within {READY_TIMEOUT:?}; {}", logs()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
