//! The plain data that crosses the boundary: requests, user entries and reports.

use std::fmt;

use abi_stable::{
    StableAbi,
    std_types::{ROption, RString, RVec},
};

/// One domain's configuration, handed to a plugin's constructor.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct ConnectorConfig {
    /// The mail domain this instance serves (`example.org`).
    pub domain: RString,
    /// The connector kind asked for (`ldap`, `active-directory`…).
    pub kind: RString,
    /// The domain's settings table as JSON (every key of its TOML section but `connector`).
    pub settings_json: RString,
    /// The folder of the configuration file, against which relative paths (CA file, password file) resolve.
    pub config_dir: RString,
}

/// Who is logging in, from where.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Default, PartialEq)]
pub struct ClientContext {
    /// The client's IP address as the mail server saw it.
    pub address: ROption<RString>,
    /// The protocol the client used (`imap`, `smtp`, `http`, `cli`…).
    pub protocol: ROption<RString>,
}

/// A login attempt.
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq)]
pub struct AuthRequest {
    /// The login without the mail domain (`alice` for `alice@example.org`), as typed otherwise.
    pub login: RString,
    /// The password. Never logged; `Debug` redacts it.
    pub password: RString,
    /// Where the attempt comes from.
    pub client: ClientContext,
}

impl fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRequest")
            .field("login", &self.login)
            .field("password", &"<redacted>")
            .field("client", &self.client)
            .finish()
    }
}

/// One attribute value: text when it is valid UTF-8, bytes otherwise (photos, GUIDs).
#[repr(C, u8)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    /// A UTF-8 value.
    Text(RString),
    /// A binary value.
    Binary(RVec<u8>),
}

impl AttrValue {
    /// The value as text, if it is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            AttrValue::Text(s) => Some(s.as_str()),
            AttrValue::Binary(_) => None,
        }
    }

    /// The raw bytes of the value.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            AttrValue::Text(s) => s.as_bytes(),
            AttrValue::Binary(b) => b.as_slice(),
        }
    }
}

/// One attribute of a directory entry.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute's name as the server spelled it.
    pub name: RString,
    /// Its values, in the server's order.
    pub values: RVec<AttrValue>,
}

/// A directory user, as found by a login or a lookup.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct UserEntry {
    /// The entry's distinguished name (changes on rename: never use it as a key).
    pub dn: RString,
    /// The stable key of the entry (entryUUID, objectGUID, GeneratedUID), in text form.
    pub id: RString,
    /// The login the user is known by in the directory (uid, sAMAccountName).
    pub login: RString,
    /// The email address from the domain's email attribute.
    pub email: ROption<RString>,
    /// A display name, when the directory has one.
    pub display_name: ROption<RString>,
    /// Every attribute read from the entry.
    pub attributes: RVec<Attribute>,
    /// The DNs of the groups the user belongs to.
    pub groups: RVec<RString>,
    /// Notices for the user that do not deny the login (password expiring, grace logins left).
    pub warnings: RVec<RString>,
    /// The account's state in the directory, as stable names (ABI 3): `disabled`, `locked`,
    /// `account-expired`, `password-expired`, `must-change-password`. Empty when the account is usable or
    /// the directory does not say. A sync deactivates accounts whose entry is `disabled`.
    pub state: RVec<RString>,
}

impl UserEntry {
    /// The first text value of an attribute, by case-insensitive name.
    pub fn first_text(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name.as_str().eq_ignore_ascii_case(name))
            .and_then(|a| a.values.iter().find_map(AttrValue::as_text))
    }

    /// Whether the directory says the account is disabled.
    pub fn is_disabled(&self) -> bool {
        self.state.iter().any(|s| s.as_str() == state::DISABLED)
    }
}

/// The names used in [`UserEntry::state`] (ABI 3).
pub mod state {
    /// Disabled by an administrator (AD userAccountControl ACCOUNTDISABLE).
    pub const DISABLED: &str = "disabled";
    /// Locked out after failed logins.
    pub const LOCKED: &str = "locked";
    /// The account itself has expired (AD accountExpires).
    pub const ACCOUNT_EXPIRED: &str = "account-expired";
    /// The password has expired.
    pub const PASSWORD_EXPIRED: &str = "password-expired";
    /// The password must be changed at the next login (AD pwdLastSet = 0).
    pub const MUST_CHANGE_PASSWORD: &str = "must-change-password";
}

/// A password change by the user (old password given) or a reset by the service account (ABI 3).
#[repr(C)]
#[derive(StableAbi, Clone, PartialEq)]
pub struct PasswordRequest {
    /// The user's login, in any form the connector accepts for logins.
    pub login: RString,
    /// The current password: a change made as the user. None: a reset made by the service account.
    pub old_password: ROption<RString>,
    /// The new password.
    pub new_password: RString,
}

impl fmt::Debug for PasswordRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordRequest")
            .field("login", &self.login)
            .field("old_password", &self.old_password.as_ref().map(|_| "<redacted>"))
            .field("new_password", &"<redacted>")
            .finish()
    }
}

/// What a connection test should try beyond the service account.
#[repr(C)]
#[derive(StableAbi, Clone, Default, PartialEq)]
pub struct TestRequest {
    /// A login to look up with the user filter.
    pub login: ROption<RString>,
    /// That login's password, to try a user bind. Never logged.
    pub password: ROption<RString>,
}

impl fmt::Debug for TestRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRequest")
            .field("login", &self.login)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The outcome of one stage of a connection test.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageStatus {
    /// The stage worked.
    Passed = 0,
    /// The stage failed; its error says why.
    Failed = 1,
    /// The stage was not run (an earlier one failed, or it does not apply).
    Skipped = 2,
}

/// One stage of a connection test.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct StageResult {
    /// The stage's stable name (`url`, `resolve`, `tcp`, `tls`, `service-bind`, `search-base`…).
    pub stage: RString,
    /// What it checked, against what (`127.0.0.1:636`).
    pub target: RString,
    /// How it went.
    pub status: StageStatus,
    /// How long it took, in microseconds.
    pub elapsed_us: u64,
    /// What was found (`TLS 1.3, certificate for 127.0.0.1 verified`).
    pub detail: RString,
    /// Why it failed, when it did.
    pub error: ROption<crate::ConnectorError>,
}

/// A staged connection test.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct TestReport {
    /// The stages in the order they ran.
    pub stages: RVec<StageResult>,
}

impl TestReport {
    /// Whether no stage failed.
    pub fn passed(&self) -> bool {
        self.stages.iter().all(|s| s.status != StageStatus::Failed)
    }

    /// The first failure, if any.
    pub fn first_failure(&self) -> Option<&StageResult> {
        self.stages.iter().find(|s| s.status == StageStatus::Failed)
    }
}

/// A name and a value, for reports that grow over ABI versions.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct NamedValue {
    /// The item's stable name.
    pub name: RString,
    /// Its value.
    pub value: RString,
}

/// The filters and scope a connector searches with, as the server receives them.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct FilterReport {
    /// `search_base`, `scope`, `user_filter`, `user_filter_example`, `group_filter`… in display order.
    pub items: RVec<NamedValue>,
}

/// The directory's account lockout policy as the connector read it (ABI 5): what the service's throttle keeps
/// failures below, so that attacks on an account never make the directory lock it.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Whether a policy was found; `false`: none was readable (the host then assumes its own default).
    pub found: bool,
    /// Failed passwords after which the directory locks an account; 0: it never locks.
    pub threshold: u32,
    /// Seconds over which the directory counts failures; 0: it does not say (or never forgets them).
    pub window_seconds: u64,
    /// Where it was read, for people (`lockoutThreshold of DC=example,DC=test`).
    pub source: RString,
}

/// The attribute names a domain's directory offers.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AttributeReport {
    /// Attribute types from the server's schema (subschema subentry), sorted.
    pub schema: RVec<RString>,
    /// The DN of the sample user entry, if one was found.
    pub sample_dn: ROption<RString>,
    /// The attributes present on that entry with the first value of each (secrets redacted).
    pub sample: RVec<NamedValue>,
}
