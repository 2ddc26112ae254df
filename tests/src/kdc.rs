//! A throw-away MIT Kerberos KDC (krb5 1.20, Debian's `krb5-kdc`) on `127.0.0.1`, for the Kerberos password
//! check: a realm of its own in a temporary folder, principals and keytabs made with `kadmin.local`, and
//! `krb5kdc -n` (foreground) started by us and stopped by its PID.
//!
//! Layout of the temporary folder `$W`: `kdc.conf` (the KDC's profile, `KRB5_KDC_PROFILE`), `krb5.conf` (a
//! client profile naming this KDC only, `KRB5_CONFIG`), the database `principal*`, its stash, `kadm5.acl`,
//! `kdc.log`, and keytabs `<name>.keytab`. Nothing under /etc is read or written: every command gets both
//! variables.
//!
//! Traps (measured, see ../shared/REAL-SERVERS.md): `default_principal_flags = +preauth`, or a wrong password
//! is found only by the client and the KDC never counts failures; profile files allow no comment at the end
//! of a line; `-pwexpire now` is not yet expired (use a date in the past).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::daemon::{is_listening, log_tail, shared_temp_dir};
use crate::net::free_port;
use crate::process::{spawn_tied_to_process, stop_child};

const SBIN: &str = "/usr/sbin";
const INSTALL_HINT: &str = "install `krb5-kdc krb5-admin-server krb5-user` (apt-get install krb5-kdc krb5-admin-server \
                            krb5-user)";
const MASTER_PASSWORD: &str = "dirconn-kdc-master";
const START_ATTEMPTS: usize = 3;
const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// How to build a KDC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdcOptions {
    /// The realm, in capitals. Default `EXAMPLE.ORG`.
    pub realm: String,
    /// `kdc_max_dgram_reply_size`: a UDP reply larger than this is refused with error 52 (reply too big),
    /// which sends clients to TCP. Default `None` (the KDC's own limit).
    pub max_dgram_reply: Option<u32>,
    /// Lines added to the realm's section of `kdc.conf`.
    pub extra_realm_lines: Vec<String>,
    /// Runs the KDC with its clock moved by libfaketime (`"+15m"`, `"-1h"`): a clock-skew test.
    pub clock_offset: Option<String>,
}

impl Default for KdcOptions {
    fn default() -> KdcOptions {
        KdcOptions {
            realm: "EXAMPLE.ORG".into(),
            max_dgram_reply: None,
            extra_realm_lines: Vec::new(),
            clock_offset: None,
        }
    }
}

/// A running KDC on `127.0.0.1:<port>` (UDP and TCP); stopped and its folder removed on drop.
#[derive(Debug)]
pub struct MitKdc {
    child: Option<Child>,
    pid: u32,
    port: u16,
    realm: String,
    startup: Duration,
    // Last: removed after the process is stopped.
    dir: TempDir,
}

/// Whether the KDC's programs are installed.
pub fn available() -> bool {
    ["krb5kdc", "kdb5_util", "kadmin.local"].iter().all(|p| Path::new(SBIN).join(p).is_file())
}

impl MitKdc {
    /// A KDC for `EXAMPLE.ORG`.
    pub fn start() -> MitKdc {
        MitKdc::start_with(KdcOptions::default())
    }

    /// Creates the realm's database and starts the KDC on a free port; returns once it listens on TCP.
    /// Panics with context and the log on failure.
    pub fn start_with(opts: KdcOptions) -> MitKdc {
        assert!(available(), "no MIT KDC: {INSTALL_HINT}");
        let began = Instant::now();
        let mut dir = shared_temp_dir("dirconn-kdc-");
        let mut failures = Vec::new();
        while failures.len() < START_ATTEMPTS {
            let port = free_port();
            let mut kdc = MitKdc { child: None, pid: 0, port, realm: opts.realm.clone(), startup: Duration::ZERO, dir };
            kdc.write_profiles(&opts);
            if failures.is_empty() {
                kdc.run_checked(SBIN, "kdb5_util", &["create", "-s", "-r", &opts.realm, "-P", MASTER_PASSWORD]);
            }
            match kdc.launch(opts.clock_offset.as_deref()) {
                Ok(()) => {
                    kdc.startup = began.elapsed();
                    return kdc;
                }
                Err(failure) => {
                    failures.push(failure);
                    kdc.stop();
                    dir = std::mem::replace(&mut kdc.dir, TempDir::new().expect("temp dir"));
                }
            }
        }
        panic!("krb5kdc did not start in {START_ATTEMPTS} attempts:\n{}", failures.join("\n---\n"));
    }

    fn write_profiles(&self, opts: &KdcOptions) {
        let w = self.dir.path().display();
        let (realm, port) = (&opts.realm, self.port);
        let mut realm_lines = vec![
            format!("database_name = {w}/principal"),
            format!("key_stash_file = {w}/stash"),
            format!("acl_file = {w}/kadm5.acl"),
            format!("kadmind_listen = 127.0.0.1:{}", free_port()),
            format!("kpasswd_listen = 127.0.0.1:{}", free_port()),
            "default_principal_flags = +preauth".into(),
            "max_life = 10h".into(),
            "supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal".into(),
        ];
        realm_lines.extend(opts.extra_realm_lines.iter().cloned());
        let mut kdcdefaults =
            vec![format!("kdc_listen = 127.0.0.1:{port}"), format!("kdc_tcp_listen = 127.0.0.1:{port}")];
        if let Some(n) = opts.max_dgram_reply {
            kdcdefaults.push(format!("kdc_max_dgram_reply_size = {n}"));
        }
        let kdc_conf = format!(
            "[kdcdefaults]\n {}\n\n[realms]\n {realm} = {{\n  {}\n }}\n\n[logging]\n kdc = FILE:{w}/kdc.log\n",
            kdcdefaults.join("\n "),
            realm_lines.join("\n  ")
        );
        write(&self.dir.path().join("kdc.conf"), &kdc_conf);
        let krb5_conf = format!(
            "[libdefaults]\n default_realm = {realm}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n \
             rdns = false\n udp_preference_limit = 1\n\n[realms]\n {realm} = {{\n  kdc = 127.0.0.1:{port}\n }}\n"
        );
        write(&self.dir.path().join("krb5.conf"), &krb5_conf);
        write(&self.dir.path().join("kadm5.acl"), &format!("*/admin@{realm} *\n"));
    }

    fn launch(&mut self, clock_offset: Option<&str>) -> Result<(), String> {
        let log = fs::File::create(self.dir.path().join("krb5kdc.out")).map_err(|e| format!("krb5kdc.out: {e}"))?;
        let mut cmd = self.command(SBIN, "krb5kdc");
        if let Some(offset) = clock_offset {
            // The library itself, not the `faketime` wrapper: the PID stays krb5kdc's.
            assert!(Path::new(FAKETIME_LIB).is_file(), "no {FAKETIME_LIB}: apt-get install faketime");
            cmd.env("LD_PRELOAD", FAKETIME_LIB).env("FAKETIME", offset).env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        cmd.args(["-n", "-r", &self.realm, "-P"])
            .arg(self.dir.path().join("krb5kdc.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        let child = spawn_tied_to_process(cmd, libc::SIGTERM).map_err(|e| format!("cannot run krb5kdc: {e}"))?;
        self.pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(format!("krb5kdc exited early ({status}); {}", self.logs()));
            }
            if is_listening(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "krb5kdc not listening on 127.0.0.1:{} within {READY_TIMEOUT:?}; {}",
                    self.port,
                    self.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A command of the krb5 tools with this KDC's profiles (`KRB5_CONFIG`, `KRB5_KDC_PROFILE`).
    fn command(&self, dir: &str, program: &str) -> Command {
        let mut cmd = Command::new(Path::new(dir).join(program));
        cmd.env("KRB5_CONFIG", self.krb5_conf()).env("KRB5_KDC_PROFILE", self.dir.path().join("kdc.conf"));
        cmd
    }

    fn run_checked(&self, dir: &str, program: &str, args: &[&str]) -> Output {
        let out = self
            .command(dir, program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program} ({INSTALL_HINT}): {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs one `kadmin.local` query (`addprinc -pw secret alice`, `modprinc -allow_tix bob`…); its output.
    /// Panics when kadmin.local fails or reports an error.
    pub fn kadmin(&self, query: &str) -> String {
        let out = self.run_checked(SBIN, "kadmin.local", &["-r", &self.realm, "-q", query]);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        // kadmin.local exits 0 after most failures: its text tells.
        for bad in ["while creating", "while modifying", "while adding", "while deleting", "No such entry", "Usage:"] {
            assert!(!text.contains(bad), "kadmin.local -q {query:?}: {text}");
        }
        text
    }

    /// Adds a user principal with a password.
    pub fn add_user(&self, name: &str, password: &str) {
        self.kadmin(&format!("addprinc -pw {password} {name}"));
    }

    /// Adds many user principals in one `kadmin.local` run (its commands read from standard input).
    pub fn add_users(&self, users: &[(String, String)]) {
        use std::io::Write as _;
        let mut child = self
            .command(SBIN, "kadmin.local")
            .args(["-r", &self.realm])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run kadmin.local ({INSTALL_HINT}): {e}"));
        let mut stdin = child.stdin.take().expect("stdin");
        for (name, password) in users {
            writeln!(stdin, "addprinc -pw {password} {name}").expect("kadmin.local's input");
        }
        drop(stdin);
        let out = child.wait_with_output().expect("kadmin.local");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !text.contains("while creating"), "kadmin.local: {text}");
    }

    /// Adds a service principal with a random key and writes its keys to `$W/<file name>.keytab`; the path.
    pub fn add_service(&self, principal: &str) -> PathBuf {
        self.kadmin(&format!("addprinc -randkey {principal}"));
        self.export_keytab(principal)
    }

    /// Writes the current keys of `principal` to a fresh `$W/<file name>.keytab` (`ktadd`, which also makes
    /// new keys: the kvno goes up). The path.
    pub fn export_keytab(&self, principal: &str) -> PathBuf {
        let name: String = principal.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let path = self.dir.path().join(format!("{name}.keytab"));
        let _ = fs::remove_file(&path);
        self.kadmin(&format!("ktadd -k {} {principal}", path.display()));
        path
    }

    /// `kinit PRINCIPAL` with `password` on standard input and a credential cache in `$W`: the output (a
    /// client check of the KDC itself, independent of dirconn's client).
    pub fn kinit(&self, principal: &str, password: &str) -> Output {
        use std::io::Write as _;
        let mut child = self
            .command("/usr/bin", "kinit")
            .env("KRB5CCNAME", format!("FILE:{}/ccache", self.dir.path().display()))
            .arg(principal)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run kinit ({INSTALL_HINT}): {e}"));
        let _ = writeln!(child.stdin.take().expect("stdin"), "{password}");
        child.wait_with_output().expect("kinit's output")
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The port on `127.0.0.1` (UDP and TCP).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`, as a `kdc` setting is written.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The client profile naming this KDC only.
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    /// The KDC's PID (ours).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// How long [`MitKdc::start_with`] took (database, profiles, launch, listening).
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The KDC's log and its standard output so far.
    pub fn logs(&self) -> String {
        format!(
            "kdc.log:\n{}\nkrb5kdc.out:\n{}",
            log_tail(&self.dir.path().join("kdc.log")),
            log_tail(&self.dir.path().join("krb5kdc.out"))
        )
    }

    /// The temporary folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the KDC by its PID (SIGTERM, then SIGKILL after 5 s). Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, libc::SIGTERM, STOP_TIMEOUT);
        }
    }
}

impl Drop for MitKdc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("kdc: cannot write {}: {e}", path.display()));
}
