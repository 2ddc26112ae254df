//! A throw-away OpenLDAP `slapd` on `127.0.0.1`, configured through a generated `cn=config`.
//!
//! Each [`Slapd`] lives in its own temporary folder holding the config (`slapd.d`), the mdb
//! database, freshly generated TLS material, logs and an `ldapi` socket. The data is loaded with
//! `slapadd -q` before start; groups are added online afterwards so that `memberof` maintains
//! `memberOf`. The process is stopped by its PID (SIGTERM, then SIGKILL) on [`Slapd::stop`] or drop.
//!
//! Everything panics with context on failure: this is a test harness.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use sha1::{Digest as _, Sha1};
use tempfile::TempDir;

use crate::{
    net::free_port,
    process::{spawn_tied_to_process, stop_child},
};

/// Suffix of the mdb database.
pub const BASE_DN: &str = "dc=example,dc=org";
/// `rootdn` of the mdb database.
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
/// Password of [`ADMIN_DN`].
pub const ADMIN_PASSWORD: &str = "admin-secret";
/// The service account the connector binds as (reads everything, unlimited size and time).
pub const SERVICE_DN: &str = "cn=dirconn,ou=services,dc=example,dc=org";
/// Password of [`SERVICE_DN`].
pub const SERVICE_PASSWORD: &str = "service-secret";
/// Default password policy entry (`pwdMaxFailure: 3`, `pwdLockout: TRUE`, `pwdMustChange: TRUE`).
pub const POLICY_DN: &str = "cn=default,ou=policies,dc=example,dc=org";
/// The policy [`Slapd::give_service_policy`] creates and names in the service account's `pwdPolicySubentry`.
pub const SERVICE_POLICY_DN: &str = "cn=service,ou=policies,dc=example,dc=org";
/// `ou=people`: the fixture users and the generated ones.
pub const PEOPLE_DN: &str = "ou=people,dc=example,dc=org";
/// `ou=contractors`: holds the second `uid=twin`.
pub const CONTRACTORS_DN: &str = "ou=contractors,dc=example,dc=org";
/// `ou=groups`.
pub const GROUPS_DN: &str = "ou=groups,dc=example,dc=org";
/// `groupOfNames` with members alice and bob.
pub const STAFF_DN: &str = "cn=staff,ou=groups,dc=example,dc=org";
/// `groupOfNames` with member alice.
pub const DEVS_DN: &str = "cn=devs,ou=groups,dc=example,dc=org";
/// `groupOfUniqueNames` with uniqueMember bob (not maintained by memberof).
pub const OPS_DN: &str = "cn=ops,ou=groups,dc=example,dc=org";

const START_ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// One fixture user loaded into every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixture {
    /// `uid`, also the RDN attribute.
    pub uid: &'static str,
    /// The `ou` directly under the base the entry lives in (`people` or `contractors`).
    pub ou: &'static str,
    /// `cn` (may be non-ASCII and contain a comma).
    pub cn: &'static str,
    /// `sn`.
    pub sn: &'static str,
    /// `givenName`.
    pub given_name: &'static str,
    /// `mail`.
    pub mail: &'static str,
    /// `displayName`.
    pub display_name: &'static str,
    /// `telephoneNumber`.
    pub telephone: &'static str,
    /// `o`.
    pub o: &'static str,
    /// `l`.
    pub l: &'static str,
    /// `st`.
    pub st: &'static str,
    /// Cleartext password (stored as `{SSHA}`).
    pub password: &'static str,
    /// Whether the entry is loaded with `pwdReset: TRUE` (bind succeeds with "must change").
    pub must_change: bool,
}

impl Fixture {
    /// `uid=alice,ou=people`: member of staff and devs.
    pub const ALICE: Fixture = Fixture {
        uid: "alice",
        ou: "people",
        cn: "Alice Liddell",
        sn: "Liddell",
        given_name: "Alice",
        mail: "alice@example.org",
        display_name: "Alice L.",
        telephone: "+1 555 0101",
        o: "Example Org",
        l: "Oxford",
        st: "Oxfordshire",
        password: "alice-pass",
        must_change: false,
    };
    /// `uid=bob,ou=people`: member of staff, uniqueMember of ops.
    pub const BOB: Fixture = Fixture {
        uid: "bob",
        ou: "people",
        cn: "Bob Builder",
        sn: "Builder",
        given_name: "Bob",
        mail: "bob@example.org",
        display_name: "Bob B.",
        telephone: "+1 555 0102",
        o: "Example Org",
        l: "Bristol",
        st: "Somerset",
        password: "bob-pass",
        must_change: false,
    };
    /// `uid=carol,ou=people`: `pwdReset: TRUE`, so her bind carries "password must be changed".
    pub const CAROL: Fixture = Fixture {
        uid: "carol",
        ou: "people",
        cn: "Carol Danvers",
        sn: "Danvers",
        given_name: "Carol",
        mail: "carol@example.org",
        display_name: "Carol D.",
        telephone: "+1 555 0103",
        o: "Example Org",
        l: "Boston",
        st: "Massachusetts",
        password: "carol-pass",
        must_change: true,
    };
    /// `uid=dave,ou=people`: for the lockout test (3 failures lock the account).
    pub const DAVE: Fixture = Fixture {
        uid: "dave",
        ou: "people",
        cn: "Dave Lister",
        sn: "Lister",
        given_name: "Dave",
        mail: "dave@example.org",
        display_name: "Dave L.",
        telephone: "+1 555 0104",
        o: "Example Org",
        l: "Liverpool",
        st: "Merseyside",
        password: "dave-pass",
        must_change: false,
    };
    /// `uid=twin,ou=people`: one of two entries with `uid=twin` (ambiguous login).
    pub const TWIN: Fixture = Fixture {
        uid: "twin",
        ou: "people",
        cn: "Twin Employee",
        sn: "Employee",
        given_name: "Twin",
        mail: "twin@example.org",
        display_name: "Twin E.",
        telephone: "+1 555 0105",
        o: "Example Org",
        l: "Leeds",
        st: "Yorkshire",
        password: "twin-pass",
        must_change: false,
    };
    /// `uid=twin,ou=contractors`: the other `uid=twin`.
    pub const TWIN_CONTRACTOR: Fixture = Fixture {
        uid: "twin",
        ou: "contractors",
        cn: "Twin Contractor",
        sn: "Contractor",
        given_name: "Twin",
        mail: "twin@contractors.example.org",
        display_name: "Twin C.",
        telephone: "+1 555 0106",
        o: "Contractors Ltd",
        l: "York",
        st: "Yorkshire",
        password: "twin-contractor-pass",
        must_change: false,
    };
    /// `uid=olaf,ou=people` with `cn: Ölaf, Jr.` (non-ASCII, comma).
    pub const OLAF: Fixture = Fixture {
        uid: "olaf",
        ou: "people",
        cn: "Ölaf, Jr.",
        sn: "Jr.",
        given_name: "Ölaf",
        mail: "olaf@example.org",
        display_name: "Ölaf Jr.",
        telephone: "+47 555 0107",
        o: "Example Org",
        l: "Tromsø",
        st: "Troms",
        password: "olaf-pass",
        must_change: false,
    };

    /// Every fixture user, in load order.
    pub const ALL: &'static [Fixture] = &[
        Fixture::ALICE,
        Fixture::BOB,
        Fixture::CAROL,
        Fixture::DAVE,
        Fixture::TWIN,
        Fixture::TWIN_CONTRACTOR,
        Fixture::OLAF,
    ];

    /// The entry's DN, e.g. `uid=alice,ou=people,dc=example,dc=org`.
    pub fn dn(&self) -> String {
        format!("uid={},ou={},{BASE_DN}", self.uid, self.ou)
    }
}

/// DN of generated user number `n` (1-based), e.g. `uid=user00042,ou=people,dc=example,dc=org`.
pub fn generated_user_dn(n: usize) -> String {
    format!("uid={},{PEOPLE_DN}", generated_uid(n))
}

/// `uid` of generated user number `n` (1-based): `user00042`.
pub fn generated_uid(n: usize) -> String {
    format!("user{n:05}")
}

/// Password of generated user number `n` (1-based): `pass-00042`.
pub fn generated_password(n: usize) -> String {
    format!("pass-{n:05}")
}

/// How to build an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlapdOptions {
    /// Extra generated users `user00001..` in `ou=people` (password `pass-00001`, mail
    /// `user00001@example.org`, cn, sn, givenName), loaded with `slapadd -q`. Default 0.
    pub users: usize,
    /// Frontend `olcSizeLimit: size.soft=N size.hard=N size.prtotal=unlimited` (paged searches
    /// still get everything). When set, the service account is subject to it too (its
    /// `size=unlimited` limit is left out). Default `None`.
    pub size_limit: Option<u32>,
    /// Configure the ppolicy overlay (default policy, lockout). Default `true`.
    pub ppolicy: bool,
    /// Configure TLS (certificates, the ldaps listener, StartTLS). Without it the server refuses
    /// StartTLS and `ldaps_url` points at a port nothing listens on. Default `true`.
    pub tls: bool,
    /// Also listen on `[::1]` (same ports). Default `false`.
    pub ipv6: bool,
    /// The syncprov session log size (`olcSpSessionlog`): with it, incremental syncs get deletions one by
    /// one; without (`None`), the server lists every unchanged entry instead. Default `Some(100000)`.
    pub sessionlog: Option<u32>,
    /// Load the syncprov overlay at all. Default `true`.
    pub syncprov: bool,
    /// Serve `cn=Monitor` (readable by the rootdn only), for [`Slapd::operations`]. Default `false`.
    pub monitor: bool,
    /// Schema files (cn=config LDIF) included after core, cosine, inetorgperson and nis (Apple's Open
    /// Directory schema: [`crate::open_directory`]). Default none.
    pub extra_schema: Vec<PathBuf>,
}

impl Default for SlapdOptions {
    fn default() -> Self {
        SlapdOptions {
            users: 0,
            size_limit: None,
            ppolicy: true,
            tls: true,
            ipv6: false,
            sessionlog: Some(100_000),
            syncprov: true,
            monitor: false,
            extra_schema: Vec::new(),
        }
    }
}

/// What ppolicy records on an entry (operational attributes, read as the rootdn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyState {
    /// `pwdFailureTime` values: the failed binds counted against `pwdMaxFailure`.
    pub failure_times: Vec<String>,
    /// `pwdAccountLockedTime`, when the entry is locked.
    pub locked_time: Option<String>,
    /// `pwdReset: TRUE`: the password was set by someone else and must be changed.
    pub reset: bool,
}

/// A running slapd on `127.0.0.1`; stopped (by PID) and its folder removed on drop.
#[derive(Debug)]
pub struct Slapd {
    child: Option<Child>,
    pid: u32,
    ldap_port: u16,
    ldaps_port: u16,
    ldapi_url: Option<String>,
    ca_file: PathBuf,
    wrong_ca_file: PathBuf,
    service_password_file: PathBuf,
    startup: Duration,
    tls: bool,
    ipv6: bool,
    // Last field: dropped after the process is stopped in `Drop`.
    dir: TempDir,
}

impl Slapd {
    /// Starts an instance with [`SlapdOptions::default`].
    pub fn start() -> Slapd {
        Slapd::start_with(SlapdOptions::default())
    }

    /// Builds the config and data, starts slapd and adds the groups. Panics with context
    /// (including slapd's log) on failure.
    pub fn start_with(opts: SlapdOptions) -> Slapd {
        let began = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("dirconn-slapd-")
            .tempdir()
            .expect("slapd: cannot create a temporary folder");
        let w = dir.path().to_path_buf();
        let tls = write_tls(&w);
        let service_password_file = w.join("service-password");
        fs::write(&service_password_file, format!("{SERVICE_PASSWORD}\n"))
            .expect("slapd: cannot write the service password file");

        let ldapi_path = w.join("ldapi");
        // sun_path is 108 bytes; without ldapi, admin tools fall back to the ldap:// URL.
        let ldapi_url = (ldapi_path.as_os_str().len() < 100)
            .then(|| format!("ldapi://{}", percent_encode(&ldapi_path.to_string_lossy())));

        fs::create_dir(w.join("slapd.d")).expect("slapd: cannot create slapd.d");
        fs::create_dir(w.join("db")).expect("slapd: cannot create the database folder");
        let config = config_ldif(&w, &tls, &opts);
        fs::write(w.join("config.ldif"), config).expect("slapd: cannot write config.ldif");
        run_checked(
            Command::new("slapadd").args(["-n0", "-F"]).arg(w.join("slapd.d")).arg("-l").arg(w.join("config.ldif")),
            "slapadd -n0 (config)",
        );
        write_data_ldif(&w.join("data.ldif"), opts.users);
        run_checked(
            Command::new("slapadd").args(["-q", "-n1", "-F"]).arg(w.join("slapd.d")).arg("-l").arg(w.join("data.ldif")),
            "slapadd -q -n1 (data)",
        );

        let mut failures = Vec::new();
        let (child, ldap_port, ldaps_port) = loop {
            if failures.len() == START_ATTEMPTS {
                panic!("slapd did not start in {START_ATTEMPTS} attempts:\n{}", failures.join("\n"));
            }
            let ldap_port = free_port();
            let mut ldaps_port = free_port();
            while ldaps_port == ldap_port {
                ldaps_port = free_port();
            }
            match spawn_and_wait(&w, ldap_port, ldaps_port, ldapi_url.as_deref(), opts.tls, opts.ipv6) {
                Ok(child) => break (child, ldap_port, ldaps_port),
                Err(failure) => failures.push(format!("attempt {}: {failure}", failures.len() + 1)),
            }
        };
        let pid = child.id();
        let mut slapd = Slapd {
            child: Some(child),
            pid,
            ldap_port,
            ldaps_port,
            ldapi_url,
            ca_file: tls.ca,
            wrong_ca_file: tls.wrong_ca,
            service_password_file,
            startup: Duration::ZERO,
            tls: opts.tls,
            ipv6: opts.ipv6,
            dir,
        };
        slapd.ldapmodify(&groups_ldif());
        slapd.startup = began.elapsed();
        slapd
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn ldap_url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap_port)
    }

    /// `ldaps://127.0.0.1:PORT`.
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps_port)
    }

    /// The `ldapi://` URL of the instance's Unix socket, when its path fits in `sun_path`.
    pub fn ldapi_url(&self) -> Option<&str> {
        self.ldapi_url.as_deref()
    }

    /// Plain LDAP (StartTLS capable) port on `127.0.0.1`.
    pub fn ldap_port(&self) -> u16 {
        self.ldap_port
    }

    /// LDAPS port on `127.0.0.1`.
    pub fn ldaps_port(&self) -> u16 {
        self.ldaps_port
    }

    /// PEM of the CA that signed the server certificate (SANs `127.0.0.1`, `::1`, `localhost`).
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// PEM of an unrelated CA, for "wrong CA" tests.
    pub fn wrong_ca_file(&self) -> &Path {
        &self.wrong_ca_file
    }

    /// `dc=example,dc=org`.
    pub fn base_dn(&self) -> &str {
        BASE_DN
    }

    /// `cn=dirconn,ou=services,dc=example,dc=org`.
    pub fn service_dn(&self) -> &str {
        SERVICE_DN
    }

    /// `service-secret`.
    pub fn service_password(&self) -> &str {
        SERVICE_PASSWORD
    }

    /// A file holding the service password followed by `\n`.
    pub fn service_password_file(&self) -> &Path {
        &self.service_password_file
    }

    /// `cn=admin,dc=example,dc=org` (the mdb rootdn).
    pub fn admin_dn(&self) -> &str {
        ADMIN_DN
    }

    /// Password of the rootdn.
    pub fn admin_password(&self) -> &str {
        ADMIN_PASSWORD
    }

    /// The instance's temporary folder (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// slapd's PID (still reported after [`Slapd::stop`]).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Wall time [`Slapd::start_with`] took: TLS keys, config, slapadd, launch, groups.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The path of slapd's combined stdout/stderr log.
    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("slapd.log")
    }

    /// Runs `ldapmodify -x` as the rootdn (over ldapi when available), feeding `ldif` on stdin.
    /// Records need `changetype: add|modify|delete|modrdn`. Panics with the tool's output on failure.
    pub fn ldapmodify(&self, ldif: &str) {
        let url = self.ldapi_url.clone().unwrap_or_else(|| self.ldap_url());
        let mut cmd = Command::new("ldapmodify");
        cmd.args(["-x", "-H", &url, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD]);
        let out = run_with_stdin(&mut cmd, ldif.as_bytes(), "ldapmodify");
        if !out.status.success() {
            panic!(
                "ldapmodify failed ({}):\nstdout:\n{}\nstderr:\n{}\nLDIF:\n{ldif}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Runs `ldapmodify -Y EXTERNAL` over ldapi on `cn=config` (as the local root, whom the config database
    /// lets manage it). Panics with the tool's output on failure, or when the instance has no ldapi.
    pub fn config_modify(&self, ldif: &str) {
        let url = self.ldapi_url.clone().expect("cn=config is changed over ldapi");
        let mut cmd = Command::new("ldapmodify");
        cmd.args(["-Q", "-Y", "EXTERNAL", "-H", &url]);
        let out = run_with_stdin(&mut cmd, ldif.as_bytes(), "ldapmodify");
        if !out.status.success() {
            panic!(
                "ldapmodify on cn=config failed ({}):\n{}\nLDIF:\n{ldif}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Runs `ldapsearch -x -LLL -o ldif-wrap=no` as the rootdn (over ldapi when available) with `args`
    /// (base, filter, attributes…) and returns its LDIF. Panics with the tool's output on failure.
    pub fn ldapsearch(&self, args: &[&str]) -> String {
        let url = self.ldapi_url.clone().unwrap_or_else(|| self.ldap_url());
        let out = run_checked(
            Command::new("ldapsearch")
                .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &url, "-D", ADMIN_DN, "-w", ADMIN_PASSWORD])
                .args(args),
            "ldapsearch",
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Gives the service account a password policy of its own: the entry [`SERVICE_POLICY_DN`] with
    /// `pwdAttribute: userPassword` and the attribute lines `policy` (e.g. `"pwdMaxFailure: 3\npwdLockout:
    /// TRUE\npwdLockoutDuration: 0\n"`), named in the service entry's `pwdPolicySubentry` (which overrides
    /// the default policy, [`POLICY_DN`], for that entry).
    pub fn give_service_policy(&self, policy: &str) {
        self.ldapmodify(&format!(
            "dn: {SERVICE_POLICY_DN}\nchangetype: add\nobjectClass: device\nobjectClass: pwdPolicy\ncn: service\n\
             pwdAttribute: userPassword\n{policy}\n\
             dn: {SERVICE_DN}\nchangetype: modify\nreplace: pwdPolicySubentry\npwdPolicySubentry: {SERVICE_POLICY_DN}\n"
        ));
    }

    /// The password-policy state ppolicy keeps on `dn`, read as the rootdn.
    pub fn policy_state(&self, dn: &str) -> PolicyState {
        let text = self.ldapsearch(&[
            "-b",
            dn,
            "-s",
            "base",
            "(objectClass=*)",
            "pwdFailureTime",
            "pwdAccountLockedTime",
            "pwdReset",
            "pwdChangedTime",
        ]);
        let values = |attr: &str| -> Vec<String> {
            let prefix = format!("{attr}: ");
            text.lines().filter_map(|l| l.strip_prefix(&prefix)).map(str::to_owned).collect()
        };
        PolicyState {
            failure_times: values("pwdFailureTime"),
            locked_time: values("pwdAccountLockedTime").into_iter().next(),
            reset: values("pwdReset").iter().any(|v| v == "TRUE"),
        }
    }

    /// The operations slapd completed so far, by type (`Bind`, `Search`, `Unbind`…), read from
    /// `cn=Operations,cn=Monitor` (needs [`SlapdOptions::monitor`]). The reading is itself a bind and a
    /// search: each call adds one `Bind` and one `Search` to the next one's counts.
    pub fn operations(&self) -> std::collections::BTreeMap<String, u64> {
        let url = self.ldapi_url.clone().unwrap_or_else(|| self.ldap_url());
        let out = run_checked(
            Command::new("ldapsearch").args([
                "-x",
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-H",
                &url,
                "-D",
                ADMIN_DN,
                "-w",
                ADMIN_PASSWORD,
                "-b",
                "cn=Operations,cn=Monitor",
                "-s",
                "one",
                "(objectClass=*)",
                "cn",
                "monitorOpCompleted",
            ]),
            "ldapsearch cn=Monitor",
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let mut ops = std::collections::BTreeMap::new();
        for entry in text.split("\n\n") {
            let value = |attr: &str| {
                entry.lines().find_map(|l| l.strip_prefix(attr).and_then(|v| v.strip_prefix(": ")).map(str::to_owned))
            };
            if let (Some(cn), Some(n)) = (value("cn"), value("monitorOpCompleted")) {
                let count = n.trim().parse().unwrap_or_else(|_| panic!("monitorOpCompleted of {cn}: {n}"));
                ops.insert(cn, count);
            }
        }
        assert!(ops.contains_key("Bind"), "cn=Monitor gave no Bind count (is SlapdOptions::monitor set?):\n{text}");
        ops
    }

    /// Stops slapd: SIGTERM, up to 5 s for it to exit, then SIGKILL; reaps it. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        stop_child(&mut child, libc::SIGTERM, STOP_TIMEOUT);
    }

    /// Stops the server and starts it again on the same ports with the same data, as a directory
    /// restart does to its clients' open connections. Panics if it does not come back.
    pub fn restart(&mut self) {
        self.stop();
        let w = self.dir.path().to_path_buf();
        let child = spawn_and_wait(&w, self.ldap_port, self.ldaps_port, self.ldapi_url.as_deref(), self.tls, self.ipv6)
            .unwrap_or_else(|failure| panic!("slapd did not restart: {failure}"));
        self.pid = child.id();
        self.child = Some(child);
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Launches slapd on the given ports and waits until both accept TCP connections.
/// On failure the child is reaped and the reason (with its log) returned.
fn spawn_and_wait(
    w: &Path,
    ldap_port: u16,
    ldaps_port: u16,
    ldapi_url: Option<&str>,
    tls: bool,
    ipv6: bool,
) -> Result<Child, String> {
    let mut urls = if tls {
        format!("ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/")
    } else {
        format!("ldap://127.0.0.1:{ldap_port}/")
    };
    if ipv6 {
        let _ = write!(urls, " ldap://[::1]:{ldap_port}/");
        if tls {
            let _ = write!(urls, " ldaps://[::1]:{ldaps_port}/");
        }
    }
    if let Some(ldapi) = ldapi_url {
        let _ = write!(urls, " {ldapi}");
    }
    let log_path = w.join("slapd.log");
    let log = File::create(&log_path).map_err(|e| format!("cannot create slapd.log: {e}"))?;
    let log2 = log.try_clone().map_err(|e| format!("cannot clone slapd.log handle: {e}"))?;
    let mut cmd = Command::new("slapd");
    cmd.args(["-d", "0", "-F"])
        .arg(w.join("slapd.d"))
        .arg("-h")
        .arg(&urls)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    let mut child = spawn_tied_to_process(cmd, libc::SIGTERM)
        .map_err(|e| format!("cannot spawn slapd (is the slapd package installed?): {e}"))?;

    let read_log = || fs::read_to_string(&log_path).unwrap_or_default();
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("slapd exited early ({status}); log:\n{}", read_log()));
        }
        if can_connect(ldap_port) && (!tls || can_connect(ldaps_port)) {
            // A stranger may have grabbed a port in the race; make sure slapd is still alive.
            std::thread::sleep(Duration::from_millis(20));
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("slapd exited after launch ({status}); log:\n{}", read_log()));
            }
            return Ok(child);
        }
        if Instant::now() >= deadline {
            stop_child(&mut child, libc::SIGTERM, STOP_TIMEOUT);
            return Err(format!(
                "slapd not reachable on ports {ldap_port}/{ldaps_port} within {READY_TIMEOUT:?}; log:\n{}",
                read_log()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn can_connect(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_millis(200)).is_ok()
}

fn run_checked(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: cannot run the command: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

fn run_with_stdin(cmd: &mut Command, input: &[u8], what: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot run the command: {e}"));
    {
        let mut stdin = child.stdin.take().expect("stdin was piped");
        stdin.write_all(input).unwrap_or_else(|e| panic!("{what}: cannot write stdin: {e}"));
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("{what}: cannot wait for the command: {e}"))
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for `ldapi://` paths).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

struct TlsFiles {
    ca: PathBuf,
    wrong_ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("rcgen: CA params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "dirconn tests");
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params
}

/// Generates a CA, a server certificate it signs, and an unrelated CA; writes the PEMs.
fn write_tls(w: &Path) -> TlsFiles {
    let ca_key = KeyPair::generate().expect("rcgen: CA key");
    let ca_template = ca_params("dirconn test CA");
    let ca_cert = ca_template.self_signed(&ca_key).expect("rcgen: self-sign CA");
    let issuer = Issuer::new(ca_template, ca_key);

    let mut server_params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "::1".to_owned(), "localhost".to_owned()])
            .expect("rcgen: server params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "dirconn tests");
    dn.push(DnType::CommonName, "localhost");
    server_params.distinguished_name = dn;
    server_params.is_ca = IsCa::ExplicitNoCa;
    server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server_params.use_authority_key_identifier_extension = true;
    let server_key = KeyPair::generate().expect("rcgen: server key");
    let server_cert = server_params.signed_by(&server_key, &issuer).expect("rcgen: sign server certificate");

    let wrong_key = KeyPair::generate().expect("rcgen: wrong CA key");
    let wrong_cert = ca_params("dirconn unrelated CA").self_signed(&wrong_key).expect("rcgen: self-sign wrong CA");

    let files = TlsFiles {
        ca: w.join("ca.pem"),
        wrong_ca: w.join("wrong-ca.pem"),
        cert: w.join("server.pem"),
        key: w.join("server.key"),
    };
    fs::write(&files.ca, ca_cert.pem()).expect("cannot write ca.pem");
    fs::write(&files.wrong_ca, wrong_cert.pem()).expect("cannot write wrong-ca.pem");
    fs::write(&files.cert, server_cert.pem()).expect("cannot write server.pem");
    let mut key_file =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(&files.key).expect("cannot create server.key");
    key_file.write_all(server_key.serialize_pem().as_bytes()).expect("cannot write server.key");
    files
}

fn config_ldif(w: &Path, tls: &TlsFiles, opts: &SlapdOptions) -> String {
    let w = w.display();
    let mut s = String::new();
    let _ = write!(
        s,
        "dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {w}/slapd.pid
olcArgsFile: {w}/slapd.args
{tls_lines}
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy
olcModuleLoad: memberof
olcModuleLoad: syncprov

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif

include: file:///etc/ldap/schema/cosine.ldif

include: file:///etc/ldap/schema/inetorgperson.ldif

include: file:///etc/ldap/schema/nis.ldif
{extra_schema}
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcAccess: {{0}}to dn.base=\"\" by * read
olcAccess: {{1}}to dn.base=\"cn=Subschema\" by * read
",
        extra_schema =
            opts.extra_schema.iter().map(|p| format!("\ninclude: file://{}\n", p.display())).collect::<String>(),
        tls_lines = if opts.tls {
            format!(
                "olcTLSCACertificateFile: {}\nolcTLSCertificateFile: {}\nolcTLSCertificateKeyFile: {}\n",
                tls.ca.display(),
                tls.cert.display(),
                tls.key.display()
            )
        } else {
            String::new()
        },
    );
    if let Some(n) = opts.size_limit {
        let _ = writeln!(s, "olcSizeLimit: size.soft={n} size.hard={n} size.prtotal=unlimited");
    }
    let _ = write!(
        s,
        "
dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE_DN}
olcRootDN: {ADMIN_DN}
olcRootPW: {ADMIN_PASSWORD}
olcDbDirectory: {w}/db
olcDbMaxSize: 4294967296
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: uid eq,pres,sub
olcDbIndex: mail eq
olcDbIndex: cn eq
olcDbIndex: member eq
olcDbIndex: uniqueMember eq
olcDbIndex: entryUUID eq
olcDbIndex: entryCSN eq
"
    );
    if opts.size_limit.is_none() {
        let _ = writeln!(s, "olcLimits: dn.exact=\"{SERVICE_DN}\" size=unlimited time=unlimited");
    }
    let _ = write!(
        s,
        "olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to * by dn.exact=\"{SERVICE_DN}\" read by self read by * none

dn: olcOverlay={{0}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{0}}memberof
olcMemberOfDangling: ignore
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
"
    );
    let mut next = 1;
    if opts.ppolicy {
        let _ = write!(
            s,
            "
dn: olcOverlay={{{next}}}ppolicy,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {{{next}}}ppolicy
olcPPolicyDefault: {POLICY_DN}
olcPPolicyUseLockout: TRUE
olcPPolicyHashCleartext: FALSE
"
        );
        next += 1;
    }
    if opts.syncprov {
        let _ = write!(
            s,
            "
dn: olcOverlay={{{next}}}syncprov,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcSyncProvConfig
olcOverlay: {{{next}}}syncprov
olcSpCheckpoint: 100 10
"
        );
        if let Some(n) = opts.sessionlog {
            let _ = writeln!(s, "olcSpSessionlog: {n}");
        }
    }
    if opts.monitor {
        let _ = write!(
            s,
            "
dn: olcDatabase={{2}}monitor,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{2}}monitor
olcAccess: {{0}}to * by dn.exact=\"{ADMIN_DN}\" read by * none
"
        );
    }
    s
}

/// `{SSHA}` of `password` with a random 8-byte salt.
pub fn ssha(password: &str) -> String {
    let salt: [u8; 8] = rand::random();
    let mut hasher = Sha1::new();
    hasher.update(password.as_bytes());
    hasher.update(salt);
    let mut raw = hasher.finalize().to_vec();
    raw.extend_from_slice(&salt);
    format!("{{SSHA}}{}", B64.encode(raw))
}

/// Writes `attr: value`, or `attr:: base64` when the value is not an LDIF SAFE-STRING.
fn ldif_attr(out: &mut impl Write, attr: &str, value: &str) -> std::io::Result<()> {
    let bytes = value.as_bytes();
    let safe = bytes.iter().all(|&b| b.is_ascii() && b != 0 && b != b'\n' && b != b'\r')
        && !matches!(bytes.first(), Some(b' ' | b':' | b'<'))
        && !matches!(bytes.last(), Some(b' '));
    if safe { writeln!(out, "{attr}: {value}") } else { writeln!(out, "{attr}:: {}", B64.encode(bytes)) }
}

fn write_data_ldif(path: &Path, users: usize) {
    let file = File::create(path).expect("cannot create data.ldif");
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write_data(&mut out, users).and_then(|()| out.flush()).expect("cannot write data.ldif");
}

fn write_data(out: &mut impl Write, users: usize) -> std::io::Result<()> {
    write!(
        out,
        "dn: {BASE_DN}
objectClass: dcObject
objectClass: organization
dc: example
o: Example Org

"
    )?;
    for ou in ["people", "groups", "services", "policies", "contractors"] {
        write!(out, "dn: ou={ou},{BASE_DN}\nobjectClass: organizationalUnit\nou: {ou}\n\n")?;
    }
    write!(
        out,
        "dn: {SERVICE_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: dirconn
description: dirconn service account
userPassword: {service}

dn: {POLICY_DN}
objectClass: device
objectClass: pwdPolicy
cn: default
pwdAttribute: userPassword
pwdMaxFailure: 3
pwdLockout: TRUE
pwdLockoutDuration: 300
pwdMustChange: TRUE
pwdFailureCountInterval: 0
pwdAllowUserChange: TRUE

",
        service = ssha(SERVICE_PASSWORD)
    )?;
    for f in Fixture::ALL {
        writeln!(out, "dn: {}", f.dn())?;
        writeln!(out, "objectClass: inetOrgPerson")?;
        ldif_attr(out, "uid", f.uid)?;
        ldif_attr(out, "cn", f.cn)?;
        ldif_attr(out, "sn", f.sn)?;
        ldif_attr(out, "givenName", f.given_name)?;
        ldif_attr(out, "mail", f.mail)?;
        ldif_attr(out, "displayName", f.display_name)?;
        ldif_attr(out, "telephoneNumber", f.telephone)?;
        ldif_attr(out, "o", f.o)?;
        ldif_attr(out, "l", f.l)?;
        ldif_attr(out, "st", f.st)?;
        writeln!(out, "userPassword: {}", ssha(f.password))?;
        if f.must_change {
            writeln!(out, "pwdReset: TRUE")?;
        }
        writeln!(out)?;
    }
    for n in 1..=users {
        let uid = generated_uid(n);
        write!(
            out,
            "dn: uid={uid},{PEOPLE_DN}
objectClass: inetOrgPerson
uid: {uid}
cn: Test User {n:05}
sn: User{n:05}
givenName: Test
mail: {uid}@example.org
userPassword: {pw}

",
            pw = ssha(&generated_password(n))
        )?;
    }
    Ok(())
}

fn groups_ldif() -> String {
    let alice = Fixture::ALICE.dn();
    let bob = Fixture::BOB.dn();
    format!(
        "dn: {STAFF_DN}
changetype: add
objectClass: groupOfNames
cn: staff
member: {alice}
member: {bob}

dn: {DEVS_DN}
changetype: add
objectClass: groupOfNames
cn: devs
member: {alice}

dn: {OPS_DN}
changetype: add
objectClass: groupOfUniqueNames
cn: ops
uniqueMember: {bob}
"
    )
}
