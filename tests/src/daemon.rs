//! Shared pieces of the mail-server harnesses (Dovecot, Postfix, nginx): system users, a temporary folder
//! the servers' unprivileged processes can enter, waiting for a port or a log line, log tails.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Characters of a log kept in panic messages.
pub(crate) const LOG_TAIL: usize = 6000;

/// Panics unless the process runs as root: the mail servers' masters start as root and drop privileges.
pub(crate) fn require_root(server: &str) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("{server} must be started as root (its master process drops privileges itself); run the tests as root");
    }
}

/// Why the mail-server tests cannot run here (not root, or a server not installed), or `None`. Like the
/// Samba tests, they then say so and skip: `cargo xtask test` as root installs the servers.
pub fn mail_unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("the mail-server tests need root (Dovecot's and Postfix's masters drop privileges)".into());
    }
    let missing: Vec<&str> = ["/usr/sbin/dovecot", "/usr/bin/doveadm", "/usr/sbin/postfix", "/usr/sbin/nginx"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    (!missing.is_empty())
        .then(|| format!("not installed: {} (cargo xtask test installs them as root)", missing.join(", ")))
}

/// `(uid, gid)` of a system user, from `getpwnam_r`.
pub fn system_user(name: &str) -> Option<(u32, u32)> {
    let name = CString::new(name).ok()?;
    // SAFETY: getpwnam_r writes into `pw` and `buf`, whose sizes are passed; `result` points at `pw` or is null.
    unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(name.as_ptr(), &mut pw, buf.as_mut_ptr(), buf.len(), &mut result);
        (rc == 0 && !result.is_null()).then_some((pw.pw_uid, pw.pw_gid))
    }
}

/// The gid of a system group, from `getgrnam_r`.
pub fn system_group(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: getgrnam_r writes into `gr` and `buf`, whose sizes are passed; `result` points at `gr` or is null.
    unsafe {
        let mut gr: libc::group = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 16384];
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrnam_r(name.as_ptr(), &mut gr, buf.as_mut_ptr(), buf.len(), &mut result);
        (rc == 0 && !result.is_null()).then_some(gr.gr_gid)
    }
}

/// The user `name` or a panic naming the package that creates it.
pub(crate) fn required_user(name: &str, package: &str) -> (u32, u32) {
    system_user(name).unwrap_or_else(|| panic!("no `{name}` system user: install the `{package}` package"))
}

/// A fresh temporary folder with mode 0755, in `TMPDIR` when every ancestor is searchable by others, else
/// in `/tmp`: the servers' unprivileged processes must reach their sockets and files in it.
pub fn shared_temp_dir(prefix: &str) -> TempDir {
    let mut base = std::env::temp_dir();
    if !base.ancestors().all(|a| fs::metadata(a).is_ok_and(|m| m.permissions().mode() & 0o001 != 0)) {
        base = PathBuf::from("/tmp");
    }
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .unwrap_or_else(|e| panic!("cannot create a temporary folder in {}: {e}", base.display()));
    set_mode(dir.path(), 0o755);
    dir
}

/// `chmod`, panicking with the path on failure.
pub(crate) fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {mode:o} {}: {e}", path.display()));
}

/// `mkdir` with `mode` (exactly: not masked) owned by `owner`, panicking with the path on failure.
pub(crate) fn make_dir(path: &Path, mode: u32, owner: Option<(u32, u32)>) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .unwrap_or_else(|e| panic!("cannot chown {uid}:{gid} {}: {e}", path.display()));
    }
    set_mode(path, mode);
}

/// Whether a socket listens on `127.0.0.1:port`, read from `/proc/net/tcp` without connecting (a connection
/// would start a server process, e.g. a Postfix smtpd, which may have side effects).
pub(crate) fn is_listening(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    fs::read_to_string("/proc/net/tcp").is_ok_and(|table| {
        table.lines().skip(1).any(|line| {
            let mut cols = line.split_whitespace();
            let local = cols.nth(1);
            let state = cols.nth(1);
            local == Some(want.as_str()) && state == Some("0A")
        })
    })
}

/// The file's text (empty if missing), cut to its last [`LOG_TAIL`] characters.
pub(crate) fn log_tail(path: &Path) -> String {
    let log = fs::read_to_string(path).unwrap_or_default();
    let start = log.len().saturating_sub(LOG_TAIL);
    let start = (start..log.len()).find(|&i| log.is_char_boundary(i)).unwrap_or(log.len());
    log[start..].to_owned()
}

/// Polls the file until it contains `needle` (true) or `timeout` passes (false).
pub(crate) fn wait_for_text(path: &Path, needle: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
