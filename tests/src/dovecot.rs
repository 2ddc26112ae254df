//! A throw-away Dovecot 2.3 (IMAP only) on `127.0.0.1`, run as `dovecot -F -c $W/dovecot.conf`.
//!
//! Each [`Dovecot`] lives in a temporary folder `$W` (mode 0755: Dovecot's unprivileged processes reach it)
//! holding the generated `dovecot.conf`, `base_dir` (`$W/run`: sockets, `master.pid`), `state_dir`, the log
//! (`$W/dovecot.log`, every process) and the mail (`$W/mail`, mode 1777, `maildir:$W/mail/%u`). Logins are
//! checked by one of [`DovecotAuth`]: a static password (to test the harness), the Lua script
//! `integrations/dovecot/dirconn.lua` with the operators' snippet `integrations/dovecot/dovecot-dirconn.conf`
//! (its paths and URL replaced), or Dovecot's own `passdb ldap` with auth binds (the reference a benchmark
//! compares against). The master process is ours (PR_SET_PDEATHSIG: SIGTERM) and leads its own process group:
//! [`Dovecot::stop`] (and drop) kills that group.
//!
//! Facts this rests on (Dovecot 2.3.19, Debian 12, as root):
//! * Mail runs as `nobody` (`mail_uid`/`mail_gid`; uid 65534 passes `first_valid_uid = 500`) unless the
//!   userdb names a uid (one without a passwd entry, e.g. 5000, works: `$W/mail` is 1777). Dovecot refuses
//!   mail access below `first_valid_uid`. A maildir appears at the first mailbox access, not at LOGIN.
//! * What an IMAP client sees: a refusal, an unknown user and a disabled user all give
//!   `NO [AUTHENTICATIONFAILED]`; a passdb's PASS_EXPIRED gives `NO [EXPIRED]`; its INTERNAL_FAILURE gives
//!   `NO [UNAVAILABLE] Temporary authentication failure.`. Loopback connections count as `secured`. The
//!   default `auth_username_chars` refuses non-ASCII logins before any passdb is asked.
//! * `imap-login` runs in performance mode (`service_count = 0`, one process kept): the default starts a
//!   process per connection. Stopping by SIGTERM takes a second (the master sleeps 1 s for lingering
//!   listeners), hence the group kill.
//! * `auth_failure_delay = 0` still delays every failure to the next tick of a 500 ms timer
//!   (`AUTH_FAILURE_DELAY_CHECK_MSECS`); only a `nodelay` extra field skips it, and a failing passdb's own
//!   fields are rolled back. So unless [`DovecotOptions::failure_delay`] is set, a first
//!   `static` passdb (`noauthenticate nodelay=yes`, `result_success = continue`) adds `nodelay` to every
//!   request: refusals come back in ~1 ms instead of ~500 ms. The anvil penalty socket has mode 0.
//! * Dovecot 2.3.19 passes a Lua script no arguments (`script_init()` gets none; any passdb/userdb `args`
//!   key but file/blocking/cache_key/scheme is `Fatal: Unsupported parameter`): the script's settings come
//!   from `import_environment = $import_environment KEY=VALUE`.
//! * `imap-login` holds the greeting until the auth process is connected, so reading `* OK` is the
//!   readiness check; a broken auth process shows as `* BYE` or a reset.
//! * A stale `master.pid` whose PID is still a zombie makes `dovecot` refuse to start ("already running"):
//!   each start here removes it (the folder is ours).

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead as _, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::daemon::{log_tail, make_dir, require_root, required_user, set_mode, shared_temp_dir, wait_for_text};
use crate::net::free_port;
use crate::process::spawn_tied_to_process;
use crate::stage::workspace_root;

const START_ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(15);
const INSTALL_HINT: &str = "install the packages dovecot-core dovecot-imapd (and dovecot-auth-lua lua-cjson for \
                            the Lua script, dovecot-ldap for passdb ldap)";

/// The Lua script shipped for operators: `integrations/dovecot/dirconn.lua`.
pub fn lua_script_path() -> PathBuf {
    workspace_root().join("integrations/dovecot/dirconn.lua")
}

/// The operators' configuration snippet: `integrations/dovecot/dovecot-dirconn.conf`.
pub fn lua_snippet_path() -> PathBuf {
    workspace_root().join("integrations/dovecot/dovecot-dirconn.conf")
}

/// How the instance checks passwords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DovecotAuth {
    /// `passdb static`: any user name logs in with this password; `userdb static` (home `$W/mail/%u`).
    Static {
        /// The one password.
        password: String,
    },
    /// The operators' snippet: `passdb lua` (dirconn.lua, blocking=yes), `userdb prefetch`, `userdb lua`.
    Lua(LuaAuth),
    /// Dovecot's own `passdb ldap` with `auth_bind = yes` (search as `bind_dn`, then bind as the user);
    /// `userdb static` (home `$W/mail/%u`).
    Ldap(LdapAuth),
}

/// Settings of [`DovecotAuth::Lua`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuaAuth {
    /// The API's base URL, e.g. `http://127.0.0.1:8025` (an IP address, not a host name).
    pub api_url: String,
    /// The file holding the bearer token (read by Dovecot's auth processes: keep it readable by root and,
    /// to avoid a warning at start, by the `dovecot` user).
    pub token_file: PathBuf,
    /// `DIRCONN_TIMEOUT_MSECS` (the snippet's 5000 when `None`).
    pub timeout_msecs: Option<u32>,
}

/// Settings of [`DovecotAuth::Ldap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapAuth {
    /// `uris`, e.g. `ldap://127.0.0.1:PORT`.
    pub url: String,
    /// `base` of the user search.
    pub base: String,
    /// `pass_filter` and `user_filter` in Dovecot's syntax, e.g. `(&(objectClass=inetOrgPerson)(uid=%n))`
    /// (Dovecot escapes the values it substitutes).
    pub filter: String,
    /// `dn`: the account the search binds as.
    pub bind_dn: String,
    /// `dnpass`.
    pub bind_password: String,
    /// `blocking = yes`: the lookups and binds run in auth-worker processes (`auth_worker_max_count` of them,
    /// each with its own connections) instead of asynchronously in the one auth process. Default `false`.
    pub blocking: bool,
}

/// How to build an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DovecotOptions {
    /// The passdb and userdb.
    pub auth: DovecotAuth,
    /// Also serve Dovecot's auth-client protocol on `127.0.0.1:<free port>` ([`Dovecot::auth_port`]), for
    /// Postfix's `smtpd_sasl_path = inet:127.0.0.1:PORT`. Default `false`.
    pub auth_listener: bool,
    /// Keep Dovecot's delay of refusals (to the next 500 ms tick with `auth_failure_delay = 0`). Default
    /// `false`: refusals are immediate (see the module notes).
    pub failure_delay: bool,
    /// `auth_debug = yes` (passwords stay hidden). Default `false`; `auth_verbose` is always on.
    pub auth_debug: bool,
    /// Lines appended verbatim to `dovecot.conf` (e.g. `auth_cache_size = 1M`). Default empty.
    pub extra_config: String,
}

impl DovecotOptions {
    /// Options with `auth` and every other field at its default.
    pub fn new(auth: DovecotAuth) -> DovecotOptions {
        DovecotOptions {
            auth,
            auth_listener: false,
            failure_delay: false,
            auth_debug: false,
            extra_config: String::new(),
        }
    }
}

/// A running Dovecot on `127.0.0.1`; stopped (by PID) and its folder removed on drop.
#[derive(Debug)]
pub struct Dovecot {
    child: Option<Child>,
    pid: u32,
    imap_port: u16,
    auth_port: Option<u16>,
    startup: Duration,
    // Last field: dropped after the process is stopped in `Drop`.
    dir: TempDir,
}

impl Dovecot {
    /// Writes the configuration and starts Dovecot on free ports; returns once it greets IMAP clients (its
    /// auth process is up). Panics with context and the log on failure.
    pub fn start(opts: DovecotOptions) -> Dovecot {
        let began = Instant::now();
        require_root("Dovecot");
        required_user("dovecot", "dovecot-core");
        required_user("dovenull", "dovecot-core");
        let mail_user = required_user("nobody", "base-passwd");
        let dir = shared_temp_dir("dirconn-dovecot-");
        let w = dir.path();
        make_dir(&w.join("mail"), 0o1777, None);
        if let DovecotAuth::Lua(_) = opts.auth {
            // A copy the `dovecot` user can read wherever the checkout lives (e.g. under /root).
            fs::copy(lua_script_path(), w.join("dirconn.lua"))
                .unwrap_or_else(|e| panic!("cannot copy {}: {e}", lua_script_path().display()));
            set_mode(&w.join("dirconn.lua"), 0o644);
        }

        let mut failures = Vec::new();
        while failures.len() < START_ATTEMPTS {
            let imap_port = free_port();
            let auth_port = opts.auth_listener.then(|| {
                loop {
                    let p = free_port();
                    if p != imap_port {
                        break p;
                    }
                }
            });
            let conf = config(w, &opts, imap_port, auth_port, mail_user);
            fs::write(w.join("dovecot.conf"), conf).expect("dovecot: cannot write dovecot.conf");
            if let DovecotAuth::Ldap(ldap) = &opts.auth {
                fs::write(w.join("dovecot-ldap.conf.ext"), ldap_config(ldap))
                    .expect("dovecot: cannot write dovecot-ldap.conf.ext");
                set_mode(&w.join("dovecot-ldap.conf.ext"), 0o600);
            }
            match spawn_and_wait(w, imap_port, auth_port) {
                Ok(child) => {
                    return Dovecot {
                        pid: child.id(),
                        child: Some(child),
                        imap_port,
                        auth_port,
                        startup: began.elapsed(),
                        dir,
                    };
                }
                Err(failure) => failures.push(format!("attempt {}: {failure}", failures.len() + 1)),
            }
        }
        panic!("dovecot did not start in {START_ATTEMPTS} attempts:\n{}", failures.join("\n"));
    }

    /// The IMAP port on `127.0.0.1`.
    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }

    /// The auth-client port on `127.0.0.1` when [`DovecotOptions::auth_listener`] was set.
    pub fn auth_port(&self) -> Option<u16> {
        self.auth_port
    }

    /// Dovecot's auth-client UNIX socket (`$W/run/auth-client`), for `doveadm auth test -a`.
    pub fn auth_client_socket(&self) -> PathBuf {
        self.dir.path().join("run/auth-client")
    }

    /// The generated `dovecot.conf`.
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    /// Where users' maildirs live (`$W/mail`, mode 1777: any uid can create its folder).
    pub fn mail_root(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Runs `doveadm -c $W/dovecot.conf ARGS` (e.g. `["auth", "test", "alice", "pw"]`, `["user", "alice"]`;
    /// exit 0 ok, 77 refused, 67 unknown user, 75 temporary failure).
    pub fn doveadm(&self, args: &[&str]) -> Output {
        Command::new("doveadm")
            .arg("-c")
            .arg(self.config_file())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run doveadm ({INSTALL_HINT}): {e}"))
    }

    /// The log so far (every Dovecot process writes `$W/dovecot.log` through its log process, a little
    /// later than the event: see [`Dovecot::wait_for_log`]).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// Waits up to `timeout` for `needle` to appear in the log.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for_text(&self.log_file(), needle, timeout)
    }

    /// `$W/dovecot.log`.
    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("dovecot.log")
    }

    /// The instance's temporary folder (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The master process's PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Wall time [`Dovecot::start`] took (configuration, launch, first greeting).
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Stops Dovecot at once: SIGKILL to the process group its master leads (the master and every process
    /// it started; nothing else is in it), then reaps the master. Idempotent. (A SIGTERM makes the master
    /// wait for its children, then sleep a second more for lingering listeners.)
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config(w: &Path, opts: &DovecotOptions, imap_port: u16, auth_port: Option<u16>, mail_user: (u32, u32)) -> String {
    let wd = w.display();
    let (uid, gid) = mail_user;
    let mut s = format!(
        "# Generated by the dirconn test harness.
instance_name = {instance}
base_dir = {wd}/run
state_dir = {wd}/state
log_path = {wd}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes
auth_debug = {debug}
mail_location = maildir:{wd}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 500
# Performance mode: long-lived login processes (a new one per connection costs a fork and exec).
service imap-login {{
  service_count = 0
  process_min_avail = 1
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
",
        instance = w.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "dirconn-test".into()),
        debug = if opts.auth_debug { "yes" } else { "no" },
    );
    if let Some(port) = auth_port {
        let _ = write!(
            s,
            "service auth {{
  inet_listener auth-client {{
    address = 127.0.0.1
    port = {port}
  }}
}}
"
        );
    }
    if !opts.failure_delay {
        s.push_str(
            "# Adds `nodelay` to every request (a failing passdb's own fields are rolled back).
passdb {
  driver = static
  args = noauthenticate nodelay=yes
  result_success = continue
}
",
        );
    }
    match &opts.auth {
        DovecotAuth::Static { password } => {
            let _ = write!(
                s,
                "passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = home={wd}/mail/%u
}}
"
            );
        }
        DovecotAuth::Lua(lua) => s.push_str(&lua_snippet(w, lua)),
        DovecotAuth::Ldap(_) => {
            let _ = write!(
                s,
                "passdb {{
  driver = ldap
  args = {wd}/dovecot-ldap.conf.ext
}}
userdb {{
  driver = static
  args = home={wd}/mail/%u
}}
"
            );
        }
    }
    s.push_str(&opts.extra_config);
    s.push('\n');
    s
}

/// The operators' snippet with this instance's script, URL, token file and timeout. Panics if the snippet
/// no longer holds the lines replaced, so that the harness keeps testing what operators are told to use.
fn lua_snippet(w: &Path, lua: &LuaAuth) -> String {
    let path = lua_snippet_path();
    let mut text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let script = w.join("dirconn.lua");
    let replacements = [
        ("file=/etc/dovecot/dirconn.lua".to_owned(), format!("file={}", script.display())),
        ("DIRCONN_API_URL=http://127.0.0.1:8025".to_owned(), format!("DIRCONN_API_URL={}", lua.api_url)),
        (
            "DIRCONN_TOKEN_FILE=/etc/dovecot/dirconn.token".to_owned(),
            format!("DIRCONN_TOKEN_FILE={}", lua.token_file.display()),
        ),
        (
            "DIRCONN_TIMEOUT_MSECS=5000".to_owned(),
            format!("DIRCONN_TIMEOUT_MSECS={}", lua.timeout_msecs.unwrap_or(5000)),
        ),
    ];
    for (from, to) in replacements {
        assert!(text.contains(&from), "{} no longer contains `{from}`: update the Dovecot harness", path.display());
        text = text.replace(&from, &to);
    }
    text
}

fn ldap_config(ldap: &LdapAuth) -> String {
    format!(
        "# Generated by the dirconn test harness.
uris = {url}
ldap_version = 3
dn = {dn}
dnpass = {pw}
auth_bind = yes
base = {base}
scope = subtree
deref = never
pass_filter = {filter}
user_filter = {filter}
blocking = {blocking}
",
        blocking = if ldap.blocking { "yes" } else { "no" },
        url = ldap.url,
        dn = ldap.bind_dn,
        pw = ldap.bind_password,
        base = ldap.base,
        filter = ldap.filter,
    )
}

/// Launches `dovecot -F` and waits for an IMAP greeting. On failure the child is reaped and the reason
/// (with the log) returned.
fn spawn_and_wait(w: &Path, imap_port: u16, auth_port: Option<u16>) -> Result<Child, String> {
    let _ = fs::remove_file(w.join("run/master.pid"));
    let log_path = w.join("dovecot.log");
    let out_path = w.join("dovecot.out");
    let out = File::create(&out_path).map_err(|e| format!("cannot create dovecot.out: {e}"))?;
    let err = out.try_clone().map_err(|e| format!("cannot clone dovecot.out: {e}"))?;
    let mut cmd = Command::new("dovecot");
    cmd.arg("-F").arg("-c").arg(w.join("dovecot.conf")).process_group(0).stdin(Stdio::null()).stdout(out).stderr(err);
    let mut child =
        spawn_tied_to_process(cmd, libc::SIGTERM).map_err(|e| format!("cannot spawn dovecot ({INSTALL_HINT}): {e}"))?;
    let logs = || format!("dovecot.out:\n{}\ndovecot.log:\n{}", log_tail(&out_path), log_tail(&log_path));
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            kill_group(&mut child);
            return Err(format!("dovecot exited early ({status}); {}", logs()));
        }
        match greeting(imap_port) {
            Ok(line) if line.starts_with("* OK") => {
                if let Some(port) = auth_port
                    && TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), READY_TIMEOUT)
                        .is_err()
                {
                    kill_group(&mut child);
                    return Err(format!("the auth listener 127.0.0.1:{port} refuses connections; {}", logs()));
                }
                if let Ok(Some(status)) = child.try_wait() {
                    kill_group(&mut child);
                    return Err(format!("dovecot exited after launch ({status}); {}", logs()));
                }
                return Ok(child);
            }
            Ok(line) => {
                kill_group(&mut child);
                return Err(format!("dovecot greeted with {line:?}; {}", logs()));
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                kill_group(&mut child);
                return Err(format!(
                    "no IMAP greeting on 127.0.0.1:{imap_port} within {READY_TIMEOUT:?} ({e}); {}",
                    logs()
                ));
            }
        }
    }
}

/// SIGKILL to the process group `child` leads, then reaps it.
/// Also right after the master exited on its own: its children keep the group alive (and its number from
/// being reused) until they are gone.
fn kill_group(child: &mut Child) {
    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) on the process group our child leads (ESRCH once it is empty).
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    let _ = child.wait();
}

/// The first line the server sends on `127.0.0.1:port`.
fn greeting(port: u16) -> std::io::Result<String> {
    let stream =
        TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_millis(200))?;
    stream.set_read_timeout(Some(READY_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line.trim_end().to_owned())
}
