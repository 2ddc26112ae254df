//! A throw-away Samba 4 Active Directory domain controller on `127.0.0.1`, in a private network namespace.
//!
//! Samba's LDAP ports are fixed (389, 636, 3268, 3269; Kerberos on 88), so every DC lives in its own network
//! namespace: a test first calls [`enter_private_network`], which moves the calling thread into a fresh
//! namespace with only `lo` up, and then [`SambaDc::start`]. Threads, runtimes and processes started from that
//! thread afterwards share the namespace; nothing ever leaves loopback. cargo-nextest runs each test in its own
//! process, which is what makes one namespace, and so one DC, per test work.
//!
//! Provisioning and loading the fixtures take about a minute, so they happen once: the first
//! [`SambaDc::start`] builds a template folder under the workspace's `target/` (`samba-template-v…`, guarded by
//! a `flock`, so concurrent test processes wait for the first builder; rebuilt when the fixtures or this
//! harness change), entirely offline (no process listens while it is built). Each DC then copies the template
//! into its own temporary folder, writes its `smb.conf` (the only file that holds the folder's path) and starts
//! `samba -i -M single` in the caller's namespace; it is stopped by its PID (SIGTERM, then SIGKILL) on
//! [`SambaDc::stop`] or drop.
//!
//! The fixtures: realm [`REALM`], NetBIOS domain [`NT_DOMAIN`], the users of [`AD_USERS`] (one per account
//! state), the groups of [`AD_GROUPS`] (nested, a 1,600-member one, a custom primary group),
//! [`GENERATED_USERS`] generated users in [`PEOPLE_DN`], the service account [`SERVICE_DN`] with delegated
//! "Reset Password" on `CN=Users` and [`PEOPLE_DN`], two fine-grained password policies, and a test CA.
//! The domain policy: complexity off, minimum length 1, no history, no maximum age, lockout after
//! [`LOCKOUT_THRESHOLD`] bad passwords (so never bind with a wrong password as a user a test still needs).
//!
//! The template lives in `<target>/samba-template-v<N>-<hash of the fixtures and this harness>/`; `build-info.txt`
//! there has the build timings. Delete it to force a rebuild. Copies live in `$TMPDIR/dirconn-samba-*`
//! (70 MB each, removed on drop).
//!
//! Needs root, Debian's `samba samba-ad-dc samba-ad-provision winbind ldb-tools ldap-utils faketime`, and
//! `/usr/bin/python3` with samba's modules: [`unavailable`] says what is missing. Everything else panics with
//! context: this is a test harness. Measured behaviour of this DC (bind sub-codes, ranges, paging, referrals,
//! uSNChanged, unicodePwd) is summarised in the docs of [`AdUser`], [`AdUserState`] and [`SERVICE_DN`].

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tempfile::TempDir;

use crate::process::{Spawner, stop_child};

/// Kerberos realm.
pub const REALM: &str = "EXAMPLE.TEST";
/// NetBIOS (NT) domain name, as in `EXAMPLE\alice`.
pub const NT_DOMAIN: &str = "EXAMPLE";
/// DNS domain; the default UPN suffix and the mail domain of every fixture user.
pub const DNS_DOMAIN: &str = "example.test";
/// An extra UPN suffix (listed in `uPNSuffixes` of `CN=Partitions`), used by [`AdUser::UPN_USER`].
pub const ALT_UPN_SUFFIX: &str = "corp.example.test";
/// The domain naming context.
pub const BASE_DN: &str = "DC=example,DC=test";
/// The default users container; every [`AD_USERS`] entry and every [`AD_GROUPS`] entry lives here.
pub const USERS_DN: &str = "CN=Users,DC=example,DC=test";
/// The OU holding the generated users `user0001…`.
pub const PEOPLE_DN: &str = "OU=People,DC=example,DC=test";
/// The OU holding the service account.
pub const SERVICE_OU_DN: &str = "OU=Service,DC=example,DC=test";
/// The configuration naming context.
pub const CONFIGURATION_DN: &str = "CN=Configuration,DC=example,DC=test";
/// The DC's host name.
pub const DC_HOSTNAME: &str = "dc1.example.test";
/// The built-in administrator.
pub const ADMIN_DN: &str = "CN=Administrator,CN=Users,DC=example,DC=test";
/// Password of [`ADMIN_DN`].
pub const ADMIN_PASSWORD: &str = "Admin-Passw0rd";
/// The connector's service account: a normal user (not an administrator) with delegated "Reset Password", write
/// `pwdLastSet` and write `lockoutTime` on user objects in `CN=Users` and `OU=People` (not on the accounts with
/// `adminCount=1`, whose ACL inheritance is off as AdminSDHolder would leave it). As in AD by default, it may
/// not read `CN=Deleted Objects`: a Show Deleted search for tombstones succeeds with no entries (granting
/// `(A;CI;RPLCLO;;;<its SID>)` on that container lets it see them).
pub const SERVICE_DN: &str = "CN=svc-dirconn,OU=Service,DC=example,DC=test";
/// `sAMAccountName` of [`SERVICE_DN`].
pub const SERVICE_SAM: &str = "svc-dirconn";
/// Password of [`SERVICE_DN`].
pub const SERVICE_PASSWORD: &str = "Passw0rd-svc-dirconn";
/// Bad passwords (domain policy and both PSOs) after which an account is locked (`data 775`) for 30 minutes.
pub const LOCKOUT_THRESHOLD: u32 = 3;
/// Generated users `user0001` … `user2500` in [`PEOPLE_DN`].
pub const GENERATED_USERS: usize = 2500;
/// Members of [`AdGroup::BIG_GROUP`]: generated users 1 to 1,600.
pub const BIG_GROUP_MEMBERS: usize = 1600;
/// PSO applied to [`AdUser::PASSWORD_EXPIRED`]: maximum password age 2 days (the password was set 3 days before
/// the template was built).
pub const PSO_EXPIRE_DN: &str = "CN=pso-expire,CN=Password Settings Container,CN=System,DC=example,DC=test";
/// PSO applied to [`AdUser::POLICY_USER`]: minimum length [`STRICT_MIN_PASSWORD_LENGTH`], history 24, so that a
/// shorter or reused new password is refused with `0000052D`.
pub const PSO_STRICT_DN: &str = "CN=pso-strict,CN=Password Settings Container,CN=System,DC=example,DC=test";
/// Minimum password length of [`PSO_STRICT_DN`].
pub const STRICT_MIN_PASSWORD_LENGTH: usize = 20;

/// Bump when the template must be rebuilt for a reason the fixture hash does not see.
const TEMPLATE_VERSION: u32 = 1;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const LOG_TAIL: usize = 6000;
const PYTHON: &str = "/usr/bin/python3";
const DIR_PLACEHOLDER: &str = "@SAMBA_DIR@";

/// How a fixture user's account is set up, and what a simple bind with the right password answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdUserState {
    /// Binds succeed.
    Normal,
    /// `samba-tool user disable` (`userAccountControl` 514): `data 533`.
    Disabled,
    /// `accountExpires` one day before the template was built: `data 701`.
    AccountExpired,
    /// `pwdLastSet: 0` (must change at next logon): `data 773`.
    MustChange,
    /// Password older than its PSO's maximum age: `data 532`.
    PasswordExpired,
}

impl AdUserState {
    /// The `data XXX` sub-code of a simple bind with the RIGHT password (with a wrong one it is always `52e`).
    pub fn bind_sub_code(self) -> Option<&'static str> {
        match self {
            AdUserState::Normal => None,
            AdUserState::Disabled => Some("533"),
            AdUserState::AccountExpired => Some("701"),
            AdUserState::MustChange => Some("773"),
            AdUserState::PasswordExpired => Some("532"),
        }
    }
}

/// A fixture user in [`USERS_DN`]. Everyone has `company`, `l`, `st`, `co`; all but [`AdUser::NO_MAIL`] have
/// `mail` and `telephoneNumber`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdUser {
    /// `sAMAccountName`.
    pub sam: &'static str,
    /// `cn` (the RDN; may differ from `sam`, contain a comma or be non-ASCII).
    pub cn: &'static str,
    /// `userPrincipalName`.
    pub upn: &'static str,
    /// Cleartext password (also good for Kerberos).
    pub password: &'static str,
    /// Account state.
    pub state: AdUserState,
    /// `givenName`.
    pub given_name: &'static str,
    /// `sn`.
    pub sn: &'static str,
    /// `displayName`.
    pub display_name: &'static str,
    /// `mail`.
    pub mail: Option<&'static str>,
    /// `telephoneNumber`.
    pub telephone: Option<&'static str>,
    /// `company`.
    pub company: &'static str,
    /// `l` (city).
    pub l: &'static str,
    /// `st` (state or province).
    pub st: &'static str,
    /// `co` (country name).
    pub co: &'static str,
    /// Whether `thumbnailPhoto` holds [`thumbnail_jpeg`].
    pub photo: bool,
}

const fn user(sam: &'static str, password: &'static str, state: AdUserState) -> AdUser {
    AdUser {
        sam,
        cn: sam,
        upn: "",
        password,
        state,
        given_name: "",
        sn: "",
        display_name: "",
        mail: None,
        telephone: Some("+1 555 0100"),
        company: "Example Corp",
        l: "Springfield",
        st: "Illinois",
        co: "United States",
        photo: false,
    }
}

impl AdUser {
    /// `alice` (`CN=Alice Liddell`): member of `devs`, so transitively of `staff` and `all-staff`; has a
    /// `thumbnailPhoto`.
    pub const ALICE: AdUser = AdUser {
        cn: "Alice Liddell",
        upn: "alice@example.test",
        given_name: "Alice",
        sn: "Liddell",
        display_name: "Alice Liddell",
        mail: Some("alice@example.test"),
        telephone: Some("+1 555 0101"),
        l: "Oxford",
        st: "Oxfordshire",
        co: "United Kingdom",
        photo: true,
        ..user("alice", "Passw0rd-alice", AdUserState::Normal)
    };
    /// `bob`: member of `staff` (so of `all-staff`).
    pub const BOB: AdUser = AdUser {
        upn: "bob@example.test",
        given_name: "Bob",
        sn: "Builder",
        display_name: "Bob Builder",
        mail: Some("bob@example.test"),
        telephone: Some("+1 555 0102"),
        ..user("bob", "Passw0rd-bob", AdUserState::Normal)
    };
    /// `disabled-user`: `data 533`.
    pub const DISABLED: AdUser = AdUser {
        upn: "disabled-user@example.test",
        given_name: "Disabled",
        sn: "User",
        display_name: "Disabled User",
        mail: Some("disabled-user@example.test"),
        ..user("disabled-user", "Passw0rd-disabled-user", AdUserState::Disabled)
    };
    /// `expired-account`: `data 701`.
    pub const ACCOUNT_EXPIRED: AdUser = AdUser {
        upn: "expired-account@example.test",
        given_name: "Expired",
        sn: "Account",
        display_name: "Expired Account",
        mail: Some("expired-account@example.test"),
        ..user("expired-account", "Passw0rd-expired-account", AdUserState::AccountExpired)
    };
    /// `must-change`: `data 773`.
    pub const MUST_CHANGE: AdUser = AdUser {
        upn: "must-change@example.test",
        given_name: "Must",
        sn: "Change",
        display_name: "Must Change",
        mail: Some("must-change@example.test"),
        ..user("must-change", "Passw0rd-must-change", AdUserState::MustChange)
    };
    /// `expired-password`: `data 532` ([`PSO_EXPIRE_DN`]).
    pub const PASSWORD_EXPIRED: AdUser = AdUser {
        upn: "expired-password@example.test",
        given_name: "Expired",
        sn: "Password",
        display_name: "Expired Password",
        mail: Some("expired-password@example.test"),
        ..user("expired-password", "Passw0rd-expired-password", AdUserState::PasswordExpired)
    };
    /// `lock-me`: normal; [`LOCKOUT_THRESHOLD`] bad binds lock it (`data 775`, with any password).
    pub const LOCK_ME: AdUser = AdUser {
        upn: "lock-me@example.test",
        given_name: "Lock",
        sn: "Me",
        display_name: "Lock Me",
        mail: Some("lock-me@example.test"),
        ..user("lock-me", "Passw0rd-lock-me", AdUserState::Normal)
    };
    /// `primary-user`: `primaryGroupID` is the RID of `custom-primary` (so neither that group's `member` nor the
    /// user's `memberOf` lists it; Samba moved the user into `Domain Users` as an ordinary member).
    pub const PRIMARY_USER: AdUser = AdUser {
        upn: "primary-user@example.test",
        given_name: "Primary",
        sn: "User",
        display_name: "Primary User",
        mail: Some("primary-user@example.test"),
        ..user("primary-user", "Passw0rd-primary-user", AdUserState::Normal)
    };
    /// `jmueller`, `CN=Müller\, Jürgen` (comma and non-ASCII in the DN).
    pub const JMUELLER: AdUser = AdUser {
        cn: "Müller, Jürgen",
        upn: "jmueller@example.test",
        given_name: "Jürgen",
        sn: "Müller",
        display_name: "Jürgen Müller",
        mail: Some("jmueller@example.test"),
        telephone: Some("+49 30 5550100"),
        company: "Beispiel GmbH",
        l: "München",
        st: "Bayern",
        co: "Deutschland",
        ..user("jmueller", "Passw0rd-jmueller", AdUserState::Normal)
    };
    /// `policy-user`: [`PSO_STRICT_DN`] (minimum length 20, history 24): a change or reset to a shorter or a
    /// previous password fails with `0000052D`. Its own password is exactly 20 characters.
    pub const POLICY_USER: AdUser = AdUser {
        upn: "policy-user@example.test",
        given_name: "Policy",
        sn: "User",
        display_name: "Policy User",
        mail: Some("policy-user@example.test"),
        ..user("policy-user", "Passw0rd-policy-user", AdUserState::Normal)
    };
    /// `upnuser` with `userPrincipalName: upn.user@corp.example.test` (an alternative UPN suffix).
    pub const UPN_USER: AdUser = AdUser {
        upn: "upn.user@corp.example.test",
        given_name: "Upn",
        sn: "User",
        display_name: "Upn User",
        mail: Some("upnuser@example.test"),
        ..user("upnuser", "Passw0rd-upnuser", AdUserState::Normal)
    };
    /// `no-mail`: normal, without `mail` and `telephoneNumber`.
    pub const NO_MAIL: AdUser = AdUser {
        upn: "no-mail@example.test",
        given_name: "No",
        sn: "Mail",
        display_name: "No Mail",
        mail: None,
        telephone: None,
        ..user("no-mail", "Passw0rd-no-mail", AdUserState::Normal)
    };

    /// The entry's DN, e.g. `CN=Müller\, Jürgen,CN=Users,DC=example,DC=test`.
    pub fn dn(&self) -> String {
        format!("CN={},{USERS_DN}", escape_dn_value(self.cn))
    }

    /// `EXAMPLE\sam`.
    pub fn nt_name(&self) -> String {
        format!("{NT_DOMAIN}\\{}", self.sam)
    }

    /// The fixture user with this `sAMAccountName`.
    pub fn by_sam(sam: &str) -> Option<&'static AdUser> {
        AD_USERS.iter().find(|u| u.sam.eq_ignore_ascii_case(sam))
    }
}

/// Every fixture user (not the service account, not the generated ones), in load order.
pub const AD_USERS: &[AdUser] = &[
    AdUser::ALICE,
    AdUser::BOB,
    AdUser::DISABLED,
    AdUser::ACCOUNT_EXPIRED,
    AdUser::MUST_CHANGE,
    AdUser::PASSWORD_EXPIRED,
    AdUser::LOCK_ME,
    AdUser::PRIMARY_USER,
    AdUser::JMUELLER,
    AdUser::POLICY_USER,
    AdUser::UPN_USER,
    AdUser::NO_MAIL,
];

/// A fixture group: a global security group in [`USERS_DN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdGroup {
    /// `cn` and `sAMAccountName`.
    pub name: &'static str,
    /// Direct members as loaded: fixture users' `sAMAccountName`s or earlier groups' names.
    pub members: &'static [&'static str],
    /// Also the generated users 1..=n.
    pub generated_members: usize,
}

impl AdGroup {
    /// `devs` = {alice}; member of `staff`.
    pub const DEVS: AdGroup = AdGroup { name: "devs", members: &["alice"], generated_members: 0 };
    /// `staff` = {devs, bob}; member of `all-staff`.
    pub const STAFF: AdGroup = AdGroup { name: "staff", members: &["devs", "bob"], generated_members: 0 };
    /// `all-staff` = {staff}.
    pub const ALL_STAFF: AdGroup = AdGroup { name: "all-staff", members: &["staff"], generated_members: 0 };
    /// `big-group`: generated users 1..=1,600 ([`BIG_GROUP_MEMBERS`]).
    pub const BIG_GROUP: AdGroup = AdGroup { name: "big-group", members: &[], generated_members: BIG_GROUP_MEMBERS };
    /// `custom-primary`: the primary group of `primary-user`. Loaded with that member, but once `primaryGroupID`
    /// points at it the `member` value is gone (the membership is implied by `primaryGroupID`).
    pub const CUSTOM_PRIMARY: AdGroup =
        AdGroup { name: "custom-primary", members: &["primary-user"], generated_members: 0 };

    /// `CN=<name>,CN=Users,DC=example,DC=test`.
    pub fn dn(&self) -> String {
        format!("CN={},{USERS_DN}", escape_dn_value(self.name))
    }
}

/// Every fixture group, in load order (members before the groups that contain them).
pub const AD_GROUPS: &[AdGroup] =
    &[AdGroup::DEVS, AdGroup::STAFF, AdGroup::ALL_STAFF, AdGroup::BIG_GROUP, AdGroup::CUSTOM_PRIMARY];

/// `sAMAccountName` (and `cn`) of generated user `n` (1-based): `user0042`. Their UPN and mail are
/// `user0042@example.test`, `givenName: Gen`, `sn: User0042`, `displayName: Gen User0042`.
pub fn generated_sam(n: usize) -> String {
    format!("user{n:04}")
}

/// DN of generated user `n` (1-based): `CN=user0042,OU=People,DC=example,DC=test`.
pub fn generated_dn(n: usize) -> String {
    format!("CN={},{PEOPLE_DN}", generated_sam(n))
}

/// Password of generated user `n` (1-based): `Gen-42`.
pub fn generated_password(n: usize) -> String {
    format!("Gen-{n}")
}

/// [`generated_password`], under the name the tests were planned with.
pub const AD_PASSWORD_OF_GENERATED: fn(usize) -> String = generated_password;

/// The answer to a simple bind: LDAP result code and diagnostic message (trailing NULs removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindAnswer {
    /// `0` success, `49` invalidCredentials, …
    pub code: u32,
    /// e.g. `80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 52e, v1db1`.
    pub diagnostic: String,
}

impl BindAnswer {
    /// The AD sub-code after `data `, e.g. `Some("52e")`.
    pub fn data_code(&self) -> Option<&str> {
        let rest = &self.diagnostic[self.diagnostic.find("data ")? + 5..];
        Some(rest.split([',', ' ']).next().unwrap_or(rest))
    }
}

/// Why Samba AD tests cannot run here (not root, a package missing), or `None`.
pub fn unavailable() -> Option<String> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON.get_or_init(check_available).clone()
}

fn check_available() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("Samba AD tests need root (a private network namespace and samba's fixed ports)".to_owned());
    }
    // Root in a container may still lack CAP_SYS_ADMIN: try unshare(CLONE_NEWNET) in a throw-away child.
    let mut probe = Command::new("/bin/true");
    // SAFETY: unshare(2) is async-signal-safe and only affects the forked child.
    unsafe {
        probe.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    if let Err(e) = probe.stdin(Stdio::null()).status() {
        return Some(format!("Samba AD tests need a private network namespace, and unshare(CLONE_NEWNET) fails: {e}"));
    }
    let mut missing = Vec::new();
    for (bin, package) in [
        ("samba", "samba-ad-dc"),
        ("samba-tool", "samba"),
        ("ldapsearch", "ldap-utils"),
        ("ldapmodify", "ldap-utils"),
        ("faketime", "faketime"),
    ] {
        if find_bin(bin).is_none() {
            missing.push(format!("`{bin}` (package {package})"));
        }
    }
    if !Path::new("/usr/share/samba/setup/provision.ldif").is_file() {
        missing.push("samba's provisioning data (package samba-ad-provision)".to_owned());
    }
    let python = Command::new(PYTHON)
        .args(["-c", "import samba.samdb, samba.sd_utils"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !python.is_ok_and(|s| s.success()) {
        missing.push(format!("samba's Python modules for {PYTHON} (package python3-samba)"));
    }
    (!missing.is_empty()).then(|| {
        format!(
            "Samba AD DC not available: missing {}; install with `apt-get install samba samba-ad-dc \
             samba-ad-provision winbind ldb-tools ldap-utils faketime`",
            missing.join(", ")
        )
    })
}

/// `PATH`, then the sbin folders that a non-login root shell may not list.
fn find_bin(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn bin(name: &str) -> PathBuf {
    find_bin(name).unwrap_or_else(|| panic!("`{name}` not found; {}", unavailable().unwrap_or_default()))
}

/// The private network namespace of this process, entered by [`enter_private_network`].
struct PrivateNet {
    thread: ThreadId,
    /// `net:[inode]` of the namespace.
    netns: String,
    /// A thread inside the namespace that spawns the long-lived servers: children get `PR_SET_PDEATHSIG`,
    /// which fires when the thread that forked exits, so the forking thread must live as long as the process.
    spawner: Spawner,
}

static PRIVATE_NET: OnceLock<PrivateNet> = OnceLock::new();

fn current_netns() -> std::io::Result<String> {
    let link = fs::read_link("/proc/thread-self/ns/net")?;
    Ok(link.to_string_lossy().into_owned())
}

/// Moves the CALLING THREAD into a fresh private network namespace (`unshare(CLONE_NEWNET)`) and brings `lo` up
/// (`127.0.0.1` and `::1`; nothing else exists). Threads and child processes started afterwards from this thread
/// inherit it; call it first thing in a test, before building any tokio runtime.
///
/// Idempotent on one thread. Panics if called from a second thread of the same process: a process has one
/// private network (run the tests under cargo-nextest, one process per test). Fails with the OS error when
/// not privileged (see [`unavailable`]).
pub fn enter_private_network() -> std::io::Result<()> {
    static ENTERING: Mutex<()> = Mutex::new(());
    let _guard = ENTERING.lock().unwrap_or_else(PoisonError::into_inner);
    let me = std::thread::current().id();
    if let Some(net) = PRIVATE_NET.get() {
        assert!(
            net.thread == me,
            "enter_private_network() was already called by thread {:?} of this process and now by {:?} ({}): \
             one private network per process; run the Samba tests under cargo-nextest (one process per test)",
            net.thread,
            me,
            std::thread::current().name().unwrap_or("unnamed")
        );
        return Ok(());
    }
    // SAFETY: unshare(2) only changes this thread's namespace membership.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(std::io::Error::new(e.kind(), format!("unshare(CLONE_NEWNET) failed (needs root): {e}")));
    }
    loopback_up()?;
    let netns = current_netns()?;

    let (spawner, spawner_netns) = Spawner::start("samba-spawner", || current_netns().map_err(|e| e.to_string()))?;
    if spawner_netns.as_deref() != Ok(netns.as_str()) {
        return Err(std::io::Error::other(format!(
            "the samba spawner thread is in {spawner_netns:?}, not in the private namespace {netns}"
        )));
    }
    let net = PrivateNet { thread: me, netns, spawner };
    if PRIVATE_NET.set(net).is_err() {
        unreachable!("PRIVATE_NET is only set under the ENTERING lock");
    }
    Ok(())
}

/// `ifreq` with the `ifr_flags` member of its union (40 bytes on Linux).
#[repr(C)]
struct IfreqFlags {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// `SIOCSIFFLAGS` `IFF_UP` on `lo` (what `ip link set lo up` does).
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: plain socket/ioctl/close calls; the ioctls read and write `req`, a correctly sized ifreq.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut req = IfreqFlags { name: [0; libc::IFNAMSIZ], flags: 0, _pad: [0; 22] };
        for (dst, src) in req.name.iter_mut().zip(b"lo") {
            *dst = *src as libc::c_char;
        }
        let mut result = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if result == 0 {
            req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            result = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        let error = std::io::Error::last_os_error();
        libc::close(fd);
        if result != 0 {
            return Err(std::io::Error::new(error.kind(), format!("cannot bring lo up: {error}")));
        }
    }
    Ok(())
}

/// The private network, checking that the calling thread is inside it.
fn private_net(what: &str) -> &'static PrivateNet {
    let net = PRIVATE_NET.get().unwrap_or_else(|| {
        panic!(
            "{what}: call samba::enter_private_network() first (Samba's ports are fixed; never on the host's network)"
        )
    });
    let here = current_netns().unwrap_or_default();
    assert!(
        here == net.netns,
        "{what}: this thread ({:?}) is in network namespace {here}, not in the private one ({}) that thread {:?} \
         entered; call it from that thread or from a thread started by it afterwards",
        std::thread::current().id(),
        net.netns,
        net.thread
    );
    net
}

/// The private namespace's spawner when the calling thread is inside that namespace (else `None`).
pub(crate) fn private_spawner() -> Option<&'static Spawner> {
    let net = PRIVATE_NET.get()?;
    (current_netns().ok()? == net.netns).then_some(&net.spawner)
}

/// Spawns `cmd` from the spawner thread inside the private namespace, with `PR_SET_PDEATHSIG = signal`.
fn spawn_in_private_net(cmd: Command, signal: libc::c_int) -> std::io::Result<Child> {
    private_net("spawning samba").spawner.spawn(cmd, signal)
}

/// A running Samba AD DC on `127.0.0.1` in this process's private network namespace; stopped (by PID) and its
/// folder removed on drop.
#[derive(Debug)]
pub struct SambaDc {
    child: Option<Child>,
    pid: u32,
    conf: PathBuf,
    ca_file: PathBuf,
    wrong_ca_file: PathBuf,
    service_password_file: PathBuf,
    krb5_conf: PathBuf,
    template: PathBuf,
    startup: Duration,
    // Last field: removed after the process is stopped in `Drop`.
    dir: TempDir,
}

impl SambaDc {
    /// Copies the template (building it first if needed), starts `samba` and waits until an LDAP bind as the
    /// administrator succeeds. Requires [`enter_private_network`] on this thread first. Panics with context (the
    /// log tail) on failure.
    pub fn start() -> SambaDc {
        let began = Instant::now();
        private_net("SambaDc::start");
        if let Some(reason) = unavailable() {
            panic!("SambaDc::start: {reason}");
        }
        let template = ensure_template();
        let dir = instance_dir();
        let w = dir.path().to_path_buf();
        {
            let lock = TemplateLock::shared(&template);
            copy_tree(&template.join("dc"), &w).unwrap_or_else(|e| {
                panic!("cannot copy the Samba template {} to {}: {e}", template.display(), w.display())
            });
            drop(lock);
        }
        let conf_in = fs::read_to_string(w.join("etc/smb.conf.in")).expect("template: etc/smb.conf.in");
        let conf = w.join("etc/smb.conf");
        fs::write(&conf, conf_in.replace(DIR_PLACEHOLDER, &w.to_string_lossy())).expect("cannot write smb.conf");
        fs::create_dir_all(w.join("run")).expect("cannot create run/");
        let service_password_file = w.join("service-password");
        fs::write(&service_password_file, format!("{SERVICE_PASSWORD}\n")).expect("cannot write service-password");
        let krb5_conf = w.join("krb5.conf");
        fs::write(&krb5_conf, krb5_conf_text()).expect("cannot write krb5.conf");

        let log_path = w.join("samba.log");
        let log = File::create(&log_path).expect("cannot create samba.log");
        let mut cmd = Command::new(bin("samba"));
        cmd.args(["-i", "-M", "single", "-s"])
            .arg(&conf)
            .current_dir(&w)
            .env("KRB5_CONFIG", &krb5_conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cannot clone the samba.log handle"))
            .stderr(log);
        let child = spawn_in_private_net(cmd, libc::SIGTERM).unwrap_or_else(|e| panic!("cannot spawn samba: {e}"));
        let mut dc = SambaDc {
            pid: child.id(),
            child: Some(child),
            conf,
            ca_file: w.join("tls/ca.pem"),
            wrong_ca_file: w.join("tls/wrong-ca.pem"),
            service_password_file,
            krb5_conf,
            template,
            startup: Duration::ZERO,
            dir,
        };
        dc.wait_ready();
        dc.startup = began.elapsed();
        dc
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("samba exited during startup ({status}); log tail:\n{}", self.log_tail());
            }
            let last = if [389, 636, 3268].iter().all(|&p| can_connect(p)) {
                match simple_bind(389, ADMIN_DN, ADMIN_PASSWORD) {
                    Ok(answer) if answer.code == 0 => return,
                    Ok(answer) => format!("bind as the administrator: {answer:?}"),
                    Err(e) => format!("bind as the administrator: {e}"),
                }
            } else {
                "LDAP ports 389/636/3268 not all accepting yet".to_owned()
            };
            if Instant::now() >= deadline {
                let tail = self.log_tail();
                self.stop();
                panic!("samba not ready within {READY_TIMEOUT:?} ({last}); log tail:\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// [`REALM`]: `EXAMPLE.TEST`.
    pub fn realm(&self) -> &str {
        REALM
    }

    /// [`NT_DOMAIN`]: `EXAMPLE`.
    pub fn nt_domain(&self) -> &str {
        NT_DOMAIN
    }

    /// [`BASE_DN`]: `DC=example,DC=test`.
    pub fn base_dn(&self) -> &str {
        BASE_DN
    }

    /// [`USERS_DN`]: `CN=Users,DC=example,DC=test`.
    pub fn users_dn(&self) -> String {
        USERS_DN.to_owned()
    }

    /// [`ADMIN_DN`].
    pub fn admin_dn(&self) -> &str {
        ADMIN_DN
    }

    /// [`ADMIN_PASSWORD`].
    pub fn admin_password(&self) -> &str {
        ADMIN_PASSWORD
    }

    /// [`SERVICE_DN`]: `svc-dirconn`, a normal user with delegated password reset.
    pub fn service_dn(&self) -> &str {
        SERVICE_DN
    }

    /// [`SERVICE_PASSWORD`].
    pub fn service_password(&self) -> &str {
        SERVICE_PASSWORD
    }

    /// A file holding [`SERVICE_PASSWORD`] followed by `\n`.
    pub fn service_password_file(&self) -> &Path {
        &self.service_password_file
    }

    /// PEM of the test CA. The DC's certificate has SANs `IP:127.0.0.1`, `IP:::1`, `DNS:localhost`,
    /// `DNS:dc1.example.test`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// PEM of an unrelated CA, for "wrong CA" tests.
    pub fn wrong_ca_file(&self) -> &Path {
        &self.wrong_ca_file
    }

    /// A `krb5.conf` for realm [`REALM`] with the KDC at `127.0.0.1:88` (set `KRB5_CONFIG` to it).
    pub fn krb5_conf(&self) -> &Path {
        &self.krb5_conf
    }

    /// `ldap://127.0.0.1:389`.
    pub fn ldap_url(&self) -> String {
        "ldap://127.0.0.1:389".to_owned()
    }

    /// `ldaps://127.0.0.1:636`.
    pub fn ldaps_url(&self) -> String {
        "ldaps://127.0.0.1:636".to_owned()
    }

    /// Global catalog: `ldap://127.0.0.1:3268`.
    pub fn gc_url(&self) -> String {
        "ldap://127.0.0.1:3268".to_owned()
    }

    /// Global catalog over TLS: `ldaps://127.0.0.1:3269`.
    pub fn gcs_url(&self) -> String {
        "ldaps://127.0.0.1:3269".to_owned()
    }

    /// The instance's folder (removed on drop): `etc/smb.conf`, `private/`, `tls/`, `samba.log`, …
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The template folder this instance was copied from (`build-info.txt` there has the build timings).
    pub fn template_dir(&self) -> &Path {
        &self.template
    }

    /// PID of the `samba` root process (still reported after [`SambaDc::stop`]).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Wall time [`SambaDc::start`] took (template copy, launch, first successful bind; not a template build).
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Resident memory of the samba process and its direct children, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let rss = |pid: &str| -> u64 {
            fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").to_owned()))
                })
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        let me = self.pid.to_string();
        let mut total = rss(&me);
        for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else { continue };
            // pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned));
            if ppid.as_deref() == Some(me.as_str()) {
                total += rss(&name);
            }
        }
        total
    }

    /// The last few KB of samba's output (`samba.log`).
    pub fn log_tail(&self) -> String {
        let log = fs::read(self.dir.path().join("samba.log")).unwrap_or_default();
        String::from_utf8_lossy(&log[log.len().saturating_sub(LOG_TAIL)..]).into_owned()
    }

    /// Runs `samba-tool <args…> -s <our smb.conf>` on the DC's own database (as an administrator on the DC
    /// does; the running samba sees the change), and returns its stdout. Panics with the output on failure.
    /// E.g. `dc.samba_tool(&["user", "disable", "bob"])`.
    pub fn samba_tool(&self, args: &[&str]) -> String {
        let conf = self.conf.to_string_lossy().into_owned();
        let at = args.iter().position(|a| *a == "--").unwrap_or(args.len());
        let all: Vec<&str> =
            args[..at].iter().copied().chain(["-s", conf.as_str()]).chain(args[at..].iter().copied()).collect();
        let mut cmd = Command::new(bin("samba-tool"));
        cmd.args(&all).env("KRB5_CONFIG", &self.krb5_conf).stdin(Stdio::null());
        let out = cmd.output().unwrap_or_else(|e| panic!("cannot run samba-tool: {e}"));
        if !out.status.success() {
            panic!("samba-tool {} failed: {}", all.join(" "), output_text(&out));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `ldapmodify` as the administrator over LDAPS (so `unicodePwd` works), feeding `ldif` on stdin.
    /// Records need `changetype:`. Panics with the tool's output on failure.
    pub fn ldapmodify(&self, ldif: &str) {
        private_net("SambaDc::ldapmodify");
        let mut cmd = self.ldap_tool("ldapmodify");
        cmd.args(["-x", "-H", "ldaps://127.0.0.1:636", "-D", ADMIN_DN, "-w", ADMIN_PASSWORD]);
        let out = run_with_stdin(&mut cmd, ldif.as_bytes());
        if !out.status.success() {
            panic!("ldapmodify failed: {}\nLDIF:\n{ldif}", output_text(&out));
        }
    }

    /// Runs `ldapsearch -LLL -o ldif-wrap=no -x -H ldap://127.0.0.1:389 -D <admin> -w … <args…>` and returns
    /// its stdout (LDIF; non-ASCII values come base64-encoded). Panics unless it exits 0.
    /// E.g. `dc.ldapsearch(&["-b", BASE_DN, "(sAMAccountName=alice)", "memberOf"])`.
    pub fn ldapsearch(&self, args: &[&str]) -> String {
        private_net("SambaDc::ldapsearch");
        let mut cmd = self.ldap_tool("ldapsearch");
        cmd.args([
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-x",
            "-H",
            "ldap://127.0.0.1:389",
            "-D",
            ADMIN_DN,
            "-w",
            ADMIN_PASSWORD,
        ]);
        cmd.args(args).stdin(Stdio::null());
        let out = cmd.output().unwrap_or_else(|e| panic!("cannot run ldapsearch: {e}"));
        if !out.status.success() {
            panic!("ldapsearch {} failed: {}", args.join(" "), output_text(&out));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A simple bind on `ldap://127.0.0.1:389` with `name` (a DN, `user@domain` or `DOMAIN\user`), returning the
    /// server's answer; panics only if the server cannot be reached.
    pub fn simple_bind(&self, name: &str, password: &str) -> BindAnswer {
        private_net("SambaDc::simple_bind");
        simple_bind(389, name, password).unwrap_or_else(|e| panic!("simple bind as {name}: {e}"))
    }

    /// An ldap-utils command that trusts only the test CA.
    fn ldap_tool(&self, name: &str) -> Command {
        let mut cmd = Command::new(bin(name));
        cmd.env("LDAPTLS_CACERT", &self.ca_file).env("LDAPTLS_REQCERT", "demand").env_remove("LDAPTLS_CACERTDIR");
        cmd
    }

    /// Stops samba: SIGTERM, up to 10 s for it to exit, then SIGKILL; reaps it. Only ever signals the process
    /// this harness started. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, libc::SIGTERM, STOP_TIMEOUT);
        }
    }
}

impl Drop for SambaDc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn krb5_conf_text() -> String {
    format!(
        "[libdefaults]\n\tdefault_realm = {REALM}\n\tdns_lookup_realm = false\n\tdns_lookup_kdc = false\n\trdns = false\n\n\
         [realms]\n\t{REALM} = {{\n\t\tkdc = 127.0.0.1:88\n\t\tadmin_server = 127.0.0.1\n\t}}\n\n\
         [domain_realm]\n\t.{DNS_DOMAIN} = {REALM}\n\t{DNS_DOMAIN} = {REALM}\n"
    )
}

/// A fresh temporary folder with a short path (samba's Unix sockets live under it).
fn instance_dir() -> TempDir {
    let mut base = std::env::temp_dir();
    if base.as_os_str().len() > 40 {
        base = PathBuf::from("/tmp");
    }
    tempfile::Builder::new()
        .prefix("dirconn-samba-")
        .tempdir_in(&base)
        .unwrap_or_else(|e| panic!("cannot create a temporary folder in {}: {e}", base.display()))
}

/// Copies a folder tree (files, folders with their modes, symlinks).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    fs::set_permissions(to, fs::metadata(from)?.permissions())?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

fn can_connect(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_millis(200)).is_ok()
}

fn output_text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    {
        let mut stdin = child.stdin.take().expect("stdin was piped");
        stdin.write_all(input).unwrap_or_else(|e| panic!("cannot write to {cmd:?}: {e}"));
    }
    child.wait_with_output().unwrap_or_else(|e| panic!("cannot wait for {cmd:?}: {e}"))
}

fn run_checked(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    if !out.status.success() {
        panic!("{what} failed: {}", output_text(&out));
    }
    out
}

/// Escapes an RDN value (RFC 4514).
fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i + 1 == value.chars().count() && c == ' ');
        if edge || matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// A minimal LDAP simple bind (for readiness and for tests that only need the answer).

fn ber_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![u8::try_from(n).expect("short length")]
    } else if n < 0x100 {
        vec![0x81, u8::try_from(n).expect("one-byte length")]
    } else {
        let n = u16::try_from(n).expect("a bind request is short");
        let [hi, lo] = n.to_be_bytes();
        vec![0x82, hi, lo]
    }
}

fn ber_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(ber_len(body.len()));
    out.extend_from_slice(body);
    out
}

/// Reads one TLV from `buf` at `*pos`: (tag, value).
fn ber_read<'a>(buf: &'a [u8], pos: &mut usize) -> Result<(u8, &'a [u8]), String> {
    let short = || "truncated BER".to_owned();
    let tag = *buf.get(*pos).ok_or_else(short)?;
    let first = *buf.get(*pos + 1).ok_or_else(short)?;
    *pos += 2;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        let bytes = buf.get(*pos..*pos + n).ok_or_else(short)?;
        *pos += n;
        bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let value = buf.get(*pos..*pos + len).ok_or_else(short)?;
    *pos += len;
    Ok((tag, value))
}

/// Simple bind (LDAPv3, message 1) on `127.0.0.1:port`; returns the BindResponse's result code and text.
fn simple_bind(port: u16, name: &str, password: &str) -> Result<BindAnswer, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    let mut bind = ber_tlv(0x02, &[3]);
    bind.extend(ber_tlv(0x04, name.as_bytes()));
    bind.extend(ber_tlv(0x80, password.as_bytes()));
    let mut msg = ber_tlv(0x02, &[1]);
    msg.extend(ber_tlv(0x60, &bind));
    s.write_all(&ber_tlv(0x30, &msg)).map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut pos = 0;
        if let Ok((0x30, message)) = ber_read(&buf, &mut pos) {
            let mut p = 0;
            let _id = ber_read(message, &mut p)?;
            let (tag, response) = ber_read(message, &mut p)?;
            if tag != 0x61 {
                return Err(format!("expected a BindResponse, got tag {tag:#x}"));
            }
            let mut q = 0;
            let (_, code) = ber_read(response, &mut q)?;
            let (_, _matched) = ber_read(response, &mut q)?;
            let (_, text) = ber_read(response, &mut q)?;
            let code = code.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
            let diagnostic = String::from_utf8_lossy(text).trim_end_matches('\0').to_owned();
            let _ = s.write_all(&[0x30, 0x05, 0x02, 0x01, 0x02, 0x42, 0x00]); // unbind
            return Ok(BindAnswer { code, diagnostic });
        }
        let n = s.read(&mut chunk).map_err(|e| format!("receive: {e}"))?;
        if n == 0 {
            return Err("connection closed before the bind response".to_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The template.

/// An `flock` on `<target>/samba-template.lock`, released on drop.
struct TemplateLock {
    _file: File,
}

impl TemplateLock {
    fn acquire(path: &Path, mode: libc::c_int) -> TemplateLock {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("cannot open the lock file {}: {e}", path.display()));
        loop {
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), mode) } == 0 {
                return TemplateLock { _file: file };
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                panic!("cannot lock {}: {e}", path.display());
            }
        }
    }

    fn exclusive(root: &Path) -> TemplateLock {
        TemplateLock::acquire(&root.join("samba-template.lock"), libc::LOCK_EX)
    }

    fn shared(template: &Path) -> TemplateLock {
        let root = template.parent().expect("the template has a parent");
        TemplateLock::acquire(&root.join("samba-template.lock"), libc::LOCK_SH)
    }
}

/// `<workspace>/target` (or `CARGO_TARGET_DIR`), where the template is cached.
fn template_root() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf();
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace.join(dir),
        _ => workspace.join("target"),
    }
}

/// 64-bit FNV-1a, to name the template after what it contains.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for part in parts {
        for &b in *part {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        hash = (hash ^ 0xff).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Returns the folder of a complete template, building it (under an exclusive lock) if needed.
fn ensure_template() -> PathBuf {
    let root = template_root();
    fs::create_dir_all(&root).unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
    let spec = fixture_spec();
    let hash = fnv1a(&[
        FIXTURE_PY.as_bytes(),
        spec.as_bytes(),
        smb_conf_extras("").as_bytes(),
        &TEMPLATE_VERSION.to_le_bytes(),
        &thumbnail_jpeg(),
    ]);
    let name = format!("samba-template-v{TEMPLATE_VERSION}-{hash:016x}");
    let template = root.join(&name);
    if template.join("ready").is_file() {
        return template;
    }
    let _lock = TemplateLock::exclusive(&root);
    if template.join("ready").is_file() {
        return template; // built by another process while we waited
    }
    // Remove leftovers: an incomplete template, interrupted builds, templates of other versions.
    for entry in fs::read_dir(&root).into_iter().flatten().flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with("samba-template-v") && entry.path().is_dir() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
    let build = root.join(format!("{name}.tmp-{}", std::process::id()));
    build_template(&build, &spec);
    fs::rename(&build, &template)
        .unwrap_or_else(|e| panic!("cannot rename {} to {}: {e}", build.display(), template.display()));
    fs::write(template.join("ready"), "complete\n").expect("cannot write the template's ready marker");
    template
}

/// Lines added to `[global]` of the provisioned `smb.conf` (`dir` is the DC folder).
fn smb_conf_extras(dir: &str) -> String {
    format!(
        "\tldap server require strong auth = no\n\
         \tpid directory = {dir}/run\n\
         \tncalrpc dir = {dir}/run/ncalrpc\n\
         \twinbindd socket directory = {dir}/run/winbindd\n\
         \tntp signd socket directory = {dir}/run/ntp_signd\n\
         \tldb:nosync = true\n\
         \tlog level = 1\n"
    )
}

/// Provisions the domain into `<build>/dc` and loads the fixtures, offline. Writes `<build>/build-info.txt`.
fn build_template(build: &Path, spec: &str) {
    let began = Instant::now();
    let mut info = String::new();
    let _ = fs::remove_dir_all(build);
    let dc = build.join("dc");
    let tls = dc.join("tls");
    fs::create_dir_all(&tls).unwrap_or_else(|e| panic!("cannot create {}: {e}", tls.display()));
    write_tls(&tls);
    let d = dc.to_string_lossy().into_owned();

    let mut provision = Command::new(bin("samba-tool"));
    provision
        .args(["domain", "provision", "-s", "/dev/null"])
        .arg(format!("--targetdir={d}"))
        .args([
            &format!("--realm={REALM}"),
            &format!("--domain={NT_DOMAIN}"),
            "--server-role=dc",
            "--use-rfc2307",
            "--dns-backend=NONE",
            "--host-name=dc1",
            "--host-ip=127.0.0.1",
            &format!("--adminpass={ADMIN_PASSWORD}"),
            "--option=interfaces = lo",
            "--option=bind interfaces only = yes",
            "--option=server services = -dns -nbt -wrepl -ntp_signd -dnsupdate -s3fs",
            "--option=tls enabled = yes",
            &format!("--option=tls keyfile = {d}/tls/server.key"),
            &format!("--option=tls certfile = {d}/tls/server.pem"),
            &format!("--option=tls cafile = {d}/tls/ca.pem"),
        ])
        .env_remove("KRB5_CONFIG");
    let out = run_checked(&mut provision, "samba-tool domain provision");
    fs::write(build.join("provision.log"), [out.stdout, out.stderr].concat()).expect("cannot write provision.log");
    let _ = writeln!(info, "provision: {:.1}s", began.elapsed().as_secs_f64());

    let conf_path = dc.join("etc/smb.conf");
    let conf = fs::read_to_string(&conf_path).expect("provisioned smb.conf");
    let conf = conf.replacen("[global]\n", &format!("[global]\n{}", smb_conf_extras(&d)), 1);
    fs::write(&conf_path, &conf).expect("cannot write smb.conf");
    let sam = dc.join("private/sam.ldb");

    let t = Instant::now();
    run_checked(
        Command::new(bin("samba-tool"))
            .args(["domain", "passwordsettings", "set", "-s"])
            .arg(&conf_path)
            .arg("-H")
            .arg(&sam)
            .args([
                "--complexity=off",
                "--min-pwd-length=1",
                "--history-length=0",
                "--min-pwd-age=0",
                "--max-pwd-age=0",
                &format!("--account-lockout-threshold={LOCKOUT_THRESHOLD}"),
            ]),
        "samba-tool domain passwordsettings set",
    );
    let _ = writeln!(info, "passwordsettings: {:.1}s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    fs::write(build.join("fixture.py"), FIXTURE_PY).expect("cannot write fixture.py");
    fs::write(build.join("fixture.json"), spec).expect("cannot write fixture.json");
    fs::write(build.join("photo.jpg"), thumbnail_jpeg()).expect("cannot write photo.jpg");
    let out = run_checked(
        Command::new(PYTHON)
            .arg(build.join("fixture.py"))
            .arg(&conf_path)
            .arg(build.join("fixture.json"))
            .arg(build.join("photo.jpg"))
            .env_remove("KRB5_CONFIG"),
        "loading the fixtures (fixture.py)",
    );
    let _ = writeln!(
        info,
        "fixtures: {:.1}s {}",
        t.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default()
    );

    // The expired password: set three days in the past (its PSO's maximum age is two days).
    let t = Instant::now();
    run_checked(
        Command::new(bin("faketime"))
            .args(["-f", "-3d"])
            .arg(bin("samba-tool"))
            .args(["user", "setpassword", AdUser::PASSWORD_EXPIRED.sam])
            .arg(format!("--newpassword={}", AdUser::PASSWORD_EXPIRED.password))
            .arg("-s")
            .arg(&conf_path)
            .arg("-H")
            .arg(&sam)
            .env_remove("KRB5_CONFIG"),
        "faketime samba-tool user setpassword (expired password)",
    );
    let _ = writeln!(info, "expired password: {:.1}s", t.elapsed().as_secs_f64());

    // Only smb.conf holds the folder's path: keep it as a template with a placeholder.
    fs::write(dc.join("etc/smb.conf.in"), conf.replace(&d, DIR_PLACEHOLDER)).expect("cannot write smb.conf.in");
    fs::remove_file(&conf_path).expect("cannot remove the build's smb.conf");
    let _ = writeln!(info, "total: {:.1}s", began.elapsed().as_secs_f64());
    fs::write(build.join("build-info.txt"), info).expect("cannot write build-info.txt");
}

/// Generates the test CA, the DC's certificate and an unrelated CA into `tls`.
fn write_tls(tls: &Path) {
    let ca_params = |common_name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("rcgen: CA params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "dirconn tests");
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params
    };
    let ca_key = KeyPair::generate().expect("rcgen: CA key");
    let ca_template = ca_params("dirconn Samba test CA");
    let ca_cert = ca_template.self_signed(&ca_key).expect("rcgen: self-sign CA");
    let issuer = Issuer::new(ca_template, ca_key);

    let mut server =
        CertificateParams::new(vec!["localhost".to_owned(), DC_HOSTNAME.to_owned()]).expect("rcgen: server params");
    server.subject_alt_names.push(SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
    server.subject_alt_names.push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "dirconn tests");
    dn.push(DnType::CommonName, DC_HOSTNAME);
    server.distinguished_name = dn;
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    let server_key = KeyPair::generate().expect("rcgen: server key");
    let server_cert = server.signed_by(&server_key, &issuer).expect("rcgen: sign the DC certificate");

    let wrong_key = KeyPair::generate().expect("rcgen: wrong CA key");
    let wrong_cert = ca_params("dirconn unrelated CA").self_signed(&wrong_key).expect("rcgen: self-sign wrong CA");

    fs::write(tls.join("ca.pem"), ca_cert.pem()).expect("cannot write ca.pem");
    fs::write(tls.join("wrong-ca.pem"), wrong_cert.pem()).expect("cannot write wrong-ca.pem");
    fs::write(tls.join("server.pem"), server_cert.pem()).expect("cannot write server.pem");
    let mut key = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tls.join("server.key"))
        .expect("cannot create server.key");
    key.write_all(server_key.serialize_pem().as_bytes()).expect("cannot write server.key");
    fs::set_permissions(tls, fs::Permissions::from_mode(0o755)).expect("cannot set tls/ permissions");
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_list(items: &[&str]) -> String {
    format!("[{}]", items.iter().map(|s| json_str(s)).collect::<Vec<_>>().join(", "))
}

/// The fixture description `fixture.py` loads (JSON).
fn fixture_spec() -> String {
    let mut users = Vec::new();
    for u in AD_USERS {
        let state = match u.state {
            AdUserState::Normal => "normal",
            AdUserState::Disabled => "disabled",
            AdUserState::AccountExpired => "account-expired",
            AdUserState::MustChange => "must-change",
            AdUserState::PasswordExpired => "password-expired",
        };
        let mut attrs = vec![
            ("givenName", u.given_name),
            ("sn", u.sn),
            ("displayName", u.display_name),
            ("company", u.company),
            ("l", u.l),
            ("st", u.st),
            ("co", u.co),
        ];
        if let Some(mail) = u.mail {
            attrs.push(("mail", mail));
        }
        if let Some(phone) = u.telephone {
            attrs.push(("telephoneNumber", phone));
        }
        let attrs: Vec<String> = attrs.iter().map(|(k, v)| format!("{}: {}", json_str(k), json_str(v))).collect();
        users.push(format!(
            "{{\"sam\": {}, \"cn\": {}, \"container\": \"CN=Users\", \"password\": {}, \"state\": {}, \"upn\": {}, \
             \"photo\": {}, \"attrs\": {{{}}}}}",
            json_str(u.sam),
            json_str(u.cn),
            json_str(u.password),
            json_str(state),
            json_str(u.upn),
            u.photo,
            attrs.join(", ")
        ));
    }
    let groups: Vec<String> = AD_GROUPS
        .iter()
        .map(|g| {
            format!(
                "{{\"name\": {}, \"container\": \"CN=Users\", \"members\": {}, \"generated_members\": {}}}",
                json_str(g.name),
                json_list(g.members),
                g.generated_members
            )
        })
        .collect();
    format!(
        "{{\n\"dns_domain\": {dns},\n\"ous\": [\"People\", \"Service\"],\n\"upn_suffixes\": [{alt}],\n\
         \"service\": {{\"sam\": {svc}, \"cn\": {svc}, \"container\": \"OU=Service\", \"password\": {svc_pw}}},\n\
         \"delegated_containers\": [\"CN=Users\", \"OU=People\"],\n\
         \"users\": [\n{users}\n],\n\
         \"generated\": {{\"count\": {generated}, \"container\": \"OU=People\", \"sam_prefix\": \"user\", \
         \"sam_digits\": 4, \"password_prefix\": \"Gen-\", \"given_name\": \"Gen\"}},\n\
         \"groups\": [\n{groups}\n],\n\
         \"primary_groups\": {{{primary}: {custom}}},\n\
         \"psos\": [\n\
         {{\"name\": \"pso-expire\", \"precedence\": 10, \"history_length\": 0, \"min_length\": 1, \
         \"max_age_days\": 2, \"applies_to\": [{expired}]}},\n\
         {{\"name\": \"pso-strict\", \"precedence\": 20, \"history_length\": 24, \"min_length\": {strict}, \
         \"max_age_days\": 0, \"applies_to\": [{policy}]}}\n],\n\
         \"lockout_threshold\": {lockout}\n}}\n",
        dns = json_str(DNS_DOMAIN),
        alt = json_str(ALT_UPN_SUFFIX),
        svc = json_str(SERVICE_SAM),
        svc_pw = json_str(SERVICE_PASSWORD),
        users = users.join(",\n"),
        generated = GENERATED_USERS,
        groups = groups.join(",\n"),
        primary = json_str(AdUser::PRIMARY_USER.sam),
        custom = json_str(AdGroup::CUSTOM_PRIMARY.name),
        expired = json_str(AdUser::PASSWORD_EXPIRED.sam),
        strict = STRICT_MIN_PASSWORD_LENGTH,
        policy = json_str(AdUser::POLICY_USER.sam),
        lockout = LOCKOUT_THRESHOLD,
    )
}

/// Loads the fixtures into the offline `sam.ldb` with samba's Python bindings, in one transaction.
/// Passwords go in as `unicodePwd` on add; hashing them (Kerberos keys) is most of the time (~17 ms a user).
const FIXTURE_PY: &str = r##"
import json
import sys
import time

import ldb
from samba import unix2nttime
from samba.auth import system_session
from samba.dcerpc import security
from samba.ndr import ndr_unpack
from samba.param import LoadParm
from samba.samdb import SamDB
from samba.sd_utils import SDUtils

conf, spec_path, photo_path = sys.argv[1], sys.argv[2], sys.argv[3]
with open(spec_path, encoding="utf-8") as f:
    spec = json.load(f)

lp = LoadParm()
lp.load(conf)
db = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)
sd = SDUtils(db)
base = str(db.domain_dn())
realm = spec["dns_domain"]
started = time.time()
timings = {}


def pw(p):
    return ('"%s"' % p).encode("utf-16-le")


def modify(dn, attr, values, op=ldb.FLAG_MOD_REPLACE):
    m = ldb.Message()
    m.dn = ldb.Dn(db, dn)
    m[attr] = ldb.MessageElement(values, op, attr)
    db.modify(m)


def sid_of(dn):
    res = db.search(base=dn, scope=ldb.SCOPE_BASE, attrs=["objectSid"])
    return str(ndr_unpack(security.dom_sid, res[0]["objectSid"][0]))


def rdn_dn(cn, container):
    d = ldb.Dn(db, "CN=x,%s,%s" % (container, base))
    d.set_component(0, "CN", cn)
    return str(d)


def protect(dn):
    """Turns ACL inheritance off, keeping the current ACEs, as AdminSDHolder does for adminCount=1 objects."""
    desc = sd.read_sd_on_dn(dn)
    sddl = desc.as_sddl(security.dom_sid(db.get_domain_sid()))
    owner_group, rest = sddl.split("D:", 1)
    dacl_flags, aces = rest.split("(", 1)
    aces, sacl = ("(" + aces).split("S:", 1) if "S:" in aces else ("(" + aces, None)
    explicit = []
    for ace in aces.strip("()").split(")("):
        fields = ace.split(";")
        fields[1] = fields[1].replace("ID", "")
        explicit.append("(" + ";".join(fields) + ")")
    new = owner_group + "D:P" + dacl_flags.replace("P", "") + "".join(explicit)
    if sacl is not None:
        new += "S:" + sacl
    sd.modify_sd_on_dn(dn, new)


db.transaction_start()
try:
    for ou in spec["ous"]:
        db.add({"dn": "OU=%s,%s" % (ou, base), "objectClass": "organizationalUnit"})
    modify("CN=Partitions,%s" % db.get_config_basedn(), "uPNSuffixes", spec["upn_suffixes"], ldb.FLAG_MOD_ADD)

    # The service account, then its delegation (inherited by the user objects added later).
    svc = spec["service"]
    svc_dn = rdn_dn(svc["cn"], svc["container"])
    db.add({"dn": svc_dn, "objectClass": "user", "sAMAccountName": svc["sam"], "userAccountControl": "512",
            "userPrincipalName": "%s@%s" % (svc["sam"], realm), "displayName": "dirconn service account",
            "description": "dirconn service account (delegated password reset)", "unicodePwd": pw(svc["password"])})
    svc_sid = sid_of(svc_dn)
    for res in db.search(base=base, scope=ldb.SCOPE_SUBTREE, expression="(adminCount=1)", attrs=["dn"]):
        protect(str(res.dn))
    user_class = "bf967aba-0de6-11d0-a285-00aa003049e2"
    aces = "".join([
        "(OA;CIIO;CR;00299570-246d-11d0-a768-00aa006e0529;%s;%s)" % (user_class, svc_sid),  # Reset Password
        "(OA;CIIO;WP;bf967a0a-0de6-11d0-a285-00aa003049e2;%s;%s)" % (user_class, svc_sid),  # pwdLastSet
        "(OA;CIIO;WP;28630ebf-41d5-11d1-a9c1-0000f80367c1;%s;%s)" % (user_class, svc_sid),  # lockoutTime
    ])
    for container in spec["delegated_containers"]:
        sd.dacl_add_ace("%s,%s" % (container, base), aces)
    timings["containers"] = round(time.time() - started, 2)

    users = {}
    now_nt = unix2nttime(int(time.time()))
    with open(photo_path, "rb") as f:
        photo = f.read()
    for u in spec["users"]:
        dn = rdn_dn(u["cn"], u["container"])
        msg = {"dn": dn, "objectClass": "user", "sAMAccountName": u["sam"], "userPrincipalName": u["upn"],
               "userAccountControl": "514" if u["state"] == "disabled" else "512", "unicodePwd": pw(u["password"])}
        msg.update(u["attrs"])
        if u["photo"]:
            msg["thumbnailPhoto"] = photo
        db.add(msg)
        if u["state"] == "must-change":
            modify(dn, "pwdLastSet", "0")
        elif u["state"] == "account-expired":
            modify(dn, "accountExpires", str(now_nt - 24 * 3600 * 10**7))
        users[u["sam"]] = dn
    timings["users"] = round(time.time() - started, 2)

    g = spec["generated"]
    sam_format = "%s%%0%dd" % (g["sam_prefix"], g["sam_digits"])
    for n in range(1, g["count"] + 1):
        sam = sam_format % n
        dn = "CN=%s,%s,%s" % (sam, g["container"], base)
        db.add({"dn": dn, "objectClass": "user", "sAMAccountName": sam, "userAccountControl": "512",
                "userPrincipalName": "%s@%s" % (sam, realm), "mail": "%s@%s" % (sam, realm),
                "givenName": g["given_name"], "sn": "User%s" % sam[len(g["sam_prefix"]):],
                "displayName": "%s User%s" % (g["given_name"], sam[len(g["sam_prefix"]):]),
                "unicodePwd": pw("%s%d" % (g["password_prefix"], n))})
        users[sam] = dn
    timings["generated"] = round(time.time() - started, 2)

    groups = {}
    for gr in spec["groups"]:
        dn = rdn_dn(gr["name"], gr["container"])
        members = [users.get(m) or groups[m] for m in gr["members"]]
        members += [users[sam_format % n] for n in range(1, gr["generated_members"] + 1)]
        msg = {"dn": dn, "objectClass": "group", "sAMAccountName": gr["name"], "groupType": str(-2147483646)}
        if members:
            msg["member"] = members
        db.add(msg)
        groups[gr["name"]] = dn
    for sam, group in spec["primary_groups"].items():
        modify(users[sam], "primaryGroupID", sid_of(groups[group]).rsplit("-", 1)[1])
    timings["groups"] = round(time.time() - started, 2)

    day = 24 * 3600 * 10**7
    window = str(-30 * 60 * 10**7)
    for p in spec["psos"]:
        db.add({
            "dn": "CN=%s,CN=Password Settings Container,CN=System,%s" % (p["name"], base),
            "objectClass": "msDS-PasswordSettings",
            "msDS-PasswordSettingsPrecedence": str(p["precedence"]),
            "msDS-PasswordReversibleEncryptionEnabled": "FALSE",
            "msDS-PasswordHistoryLength": str(p["history_length"]),
            "msDS-PasswordComplexityEnabled": "FALSE",
            "msDS-MinimumPasswordLength": str(p["min_length"]),
            "msDS-MinimumPasswordAge": "0",
            "msDS-MaximumPasswordAge": str(-p["max_age_days"] * day) if p["max_age_days"] else "-9223372036854775808",
            "msDS-LockoutThreshold": str(spec["lockout_threshold"]),
            "msDS-LockoutObservationWindow": window,
            "msDS-LockoutDuration": window,
            "msDS-PSOAppliesTo": [users.get(t) or groups[t] for t in p["applies_to"]],
        })
    timings["psos"] = round(time.time() - started, 2)
    db.transaction_commit()
except BaseException:
    db.transaction_cancel()
    raise

print(json.dumps({"users": len(users), "groups": len(groups), "timings": timings}))
"##;

// ---------------------------------------------------------------------------------------------------------------
// thumbnailPhoto: a small baseline JPEG, generated (no image file in the repository).

/// Code-length counts and symbols of the baseline luminance DC table (ITU-T T.81 K.3).
const DC_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
/// Code-length counts and symbols of the baseline luminance AC table (ITU-T T.81 K.3).
const AC_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
const AC_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07, 0x22, 0x71, 0x14,
    0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09,
    0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a,
    0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65,
    0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88,
    0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9,
    0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca,
    0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea,
    0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
];
/// The example luminance quantisation table of ITU-T T.81 K.1, natural order.
const QUANT: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51,
    87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
];
const PHOTO_SIDE: u16 = 96;

/// `thumbnailPhoto` of [`AdUser::ALICE`]: a 96×96 grayscale baseline JFIF (a face, ~3.4 KB), the same bytes on
/// every call.
pub fn thumbnail_jpeg() -> Vec<u8> {
    encode_jpeg(PHOTO_SIDE, PHOTO_SIDE, |x, y| {
        let (fx, fy) = (f64::from(x) - 48.0, f64::from(y) - 40.0);
        let face = fx * fx / 900.0 + fy * fy / 1300.0 < 1.0;
        let eye = |cx: i32| (i32::from(x) - cx).pow(2) + (i32::from(y) - 32).pow(2) < 20;
        let noise = f64::from((u32::from(x) * 7919 + u32::from(y) * 104_729) % 23);
        let v = if eye(36) || eye(60) {
            30.0
        } else if face {
            200.0 - fy
        } else {
            80.0 + f64::from(x + y) * 0.5
        };
        (v + noise).clamp(0.0, 255.0)
    })
}

/// Canonical Huffman codes `(code, length)` indexed by symbol.
fn huffman_codes(bits: &[u8; 16], values: &[u8]) -> [(u16, u8); 256] {
    let mut codes = [(0u16, 0u8); 256];
    let mut code = 0u16;
    let mut k = 0;
    for (len, &count) in (1u8..).zip(bits) {
        for _ in 0..count {
            codes[usize::from(values[k])] = (code, len);
            code += 1;
            k += 1;
        }
        code <<= 1;
    }
    codes
}

/// The natural-order index of each zig-zag position.
fn zigzag() -> [usize; 64] {
    let mut order = [0usize; 64];
    let mut k = 0;
    for s in 0..15usize {
        let rows = (0..=s).filter(|&r| r < 8 && s - r < 8);
        let rows: Vec<usize> = if s % 2 == 0 { rows.rev().collect() } else { rows.collect() };
        for r in rows {
            order[k] = r * 8 + (s - r);
            k += 1;
        }
    }
    order
}

/// Entropy-coded segment writer (with 0xFF byte stuffing).
struct BitWriter {
    out: Vec<u8>,
    acc: u8,
    n: u8,
}

impl BitWriter {
    fn put(&mut self, bits: u16, len: u8) {
        for i in (0..len).rev() {
            self.acc = (self.acc << 1) | u8::from((bits >> i) & 1 == 1);
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc);
                if self.acc == 0xff {
                    self.out.push(0);
                }
                self.acc = 0;
                self.n = 0;
            }
        }
    }

    fn pad(&mut self) {
        while self.n != 0 {
            self.put(1, 1);
        }
    }
}

/// Magnitude category and value bits of a coefficient (T.81 F.1.2.1).
fn category(v: i32) -> (u8, u16) {
    let cat = 32 - v.unsigned_abs().leading_zeros();
    let bits = if v < 0 { v - 1 + (1 << cat) } else { v };
    (u8::try_from(cat).expect("cat <= 32"), u16::try_from(bits & 0xffff).expect("masked to 16 bits"))
}

/// A grayscale baseline JPEG, quality 90, of `pixel(x, y)` in 0.0..=255.0.
fn encode_jpeg(width: u16, height: u16, pixel: impl Fn(u16, u16) -> f64) -> Vec<u8> {
    let zz = zigzag();
    let quant: Vec<u16> = QUANT.iter().map(|&q| ((q * 20 + 50) / 100).clamp(1, 255)).collect();
    let dc = huffman_codes(&DC_BITS, &DC_VALUES);
    let ac = huffman_codes(&AC_BITS, &AC_VALUES);
    let mut out = vec![0xff, 0xd8, 0xff, 0xe0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0];
    out.extend_from_slice(&[0xff, 0xdb, 0, 67, 0]);
    out.extend(zz.iter().map(|&i| u8::try_from(quant[i]).expect("clamped to 255")));
    out.extend_from_slice(&[0xff, 0xc0, 0, 11, 8]);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&[1, 1, 0x11, 0]);
    for (class, bits, values) in [(0u8, &DC_BITS, &DC_VALUES[..]), (0x10, &AC_BITS, &AC_VALUES[..])] {
        let len = u16::try_from(2 + 1 + 16 + values.len()).expect("a short table");
        out.extend_from_slice(&[0xff, 0xc4]);
        out.extend_from_slice(&len.to_be_bytes());
        out.push(class);
        out.extend_from_slice(bits);
        out.extend_from_slice(values);
    }
    out.extend_from_slice(&[0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0]);
    let mut w = BitWriter { out, acc: 0, n: 0 };
    let cos: Vec<f64> =
        (0..64).map(|i| (f64::from(2 * (i / 8) + 1) * f64::from(i % 8) * std::f64::consts::PI / 16.0).cos()).collect();
    let mut previous_dc = 0i32;
    for by in (0..height).step_by(8) {
        for bx in (0..width).step_by(8) {
            let mut block = [0f64; 64];
            for (i, v) in block.iter_mut().enumerate() {
                let (x, y) = (u16::try_from(i % 8).expect("< 8"), u16::try_from(i / 8).expect("< 8"));
                *v = pixel((bx + x).min(width - 1), (by + y).min(height - 1)) - 128.0;
            }
            let mut coeffs = [0i32; 64];
            for (k, c) in coeffs.iter_mut().enumerate() {
                let (u, v) = (k % 8, k / 8);
                let mut sum = 0.0;
                for (i, p) in block.iter().enumerate() {
                    sum += p * cos[(i % 8) * 8 + u] * cos[(i / 8) * 8 + v];
                }
                let cu = if u == 0 { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
                let cv = if v == 0 { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
                // Rounded quantised DCT coefficients are small (|c| < 2048): the cast cannot truncate.
                *c = (0.25 * cu * cv * sum / f64::from(quant[k])).round() as i32;
            }
            let (cat, bits) = category(coeffs[0] - previous_dc);
            previous_dc = coeffs[0];
            w.put(dc[usize::from(cat)].0, dc[usize::from(cat)].1);
            w.put(bits, cat);
            let mut run = 0u8;
            for &i in &zz[1..] {
                if coeffs[i] == 0 {
                    run += 1;
                    continue;
                }
                while run > 15 {
                    w.put(ac[0xf0].0, ac[0xf0].1);
                    run -= 16;
                }
                let (cat, bits) = category(coeffs[i]);
                let symbol = usize::from((run << 4) | cat);
                w.put(ac[symbol].0, ac[symbol].1);
                w.put(bits, cat);
                run = 0;
            }
            if run > 0 {
                w.put(ac[0].0, ac[0].1);
            }
        }
    }
    w.pad();
    let mut out = w.out;
    out.extend_from_slice(&[0xff, 0xd9]);
    out
}

/// Runs `scenario` against a fresh DC (a copy of the template), inside this test's own network namespace;
/// where Samba cannot run, skips (printing why), except in CI, where that fails the test.
pub fn with_dc<F, Fut>(scenario: F)
where
    F: FnOnce(SambaDc) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if let Some(why) = unavailable() {
        assert!(std::env::var_os("CI").is_none(), "Samba AD tests cannot run in CI: {why}");
        eprintln!("skipped: {why}");
        return;
    }
    enter_private_network().expect("a private network namespace");
    let dc = SambaDc::start();
    // The runtime is built after entering the namespace, so its threads (and the plugin's) live there.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(scenario(dc));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_is_the_standard_order() {
        assert_eq!(&zigzag()[..10], &[0, 1, 8, 16, 9, 2, 3, 10, 17, 24]);
        assert_eq!(zigzag()[63], 63);
    }

    #[test]
    fn photo_is_a_jfif_of_a_few_kb() {
        let jpeg = thumbnail_jpeg();
        assert_eq!(&jpeg[..4], &[0xff, 0xd8, 0xff, 0xe0]);
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xff, 0xd9]);
        assert!((2000..8000).contains(&jpeg.len()), "{} bytes", jpeg.len());
        assert_eq!(jpeg, thumbnail_jpeg());
    }

    #[test]
    fn dn_escaping_and_fixture_names() {
        assert_eq!(AdUser::JMUELLER.dn(), "CN=Müller\\, Jürgen,CN=Users,DC=example,DC=test");
        assert_eq!(AdUser::POLICY_USER.password.len(), STRICT_MIN_PASSWORD_LENGTH);
        assert_eq!(AdUser::by_sam("ALICE"), Some(&AdUser::ALICE));
        assert_eq!(generated_dn(42), "CN=user0042,OU=People,DC=example,DC=test");
        assert_eq!(AD_PASSWORD_OF_GENERATED(42), "Gen-42");
        let answer = BindAnswer {
            code: 49,
            diagnostic: "80090308: LdapErr: DSID-0C0903A9, comment: \
            AcceptSecurityContext error, data 52e, v1db1"
                .to_owned(),
        };
        assert_eq!(answer.data_code(), Some("52e"));
    }
}
