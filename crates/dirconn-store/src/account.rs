//! Accounts as the store keeps them: identity, source, mapped fields and memberships.

use std::{collections::BTreeSet, fmt, str::FromStr};

/// A field of an account that a directory attribute can be mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// Given name.
    FirstName,
    /// Surname.
    LastName,
    /// Email address.
    Email,
    /// Telephone number.
    Phone,
    /// Organization or department.
    Organization,
    /// Free text.
    Notes,
    /// City.
    City,
    /// State or province.
    State,
    /// Country.
    Country,
    /// A picture (JPEG or PNG bytes), size-capped.
    Photo,
    /// Free field 1.
    Custom1,
    /// Free field 2.
    Custom2,
    /// Free field 3.
    Custom3,
}

impl Field {
    /// Every field, in column order.
    pub const ALL: [Field; 13] = [
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Phone,
        Field::Organization,
        Field::Notes,
        Field::City,
        Field::State,
        Field::Country,
        Field::Photo,
        Field::Custom1,
        Field::Custom2,
        Field::Custom3,
    ];

    /// The field's configuration name and column (`first_name`).
    pub fn name(self) -> &'static str {
        match self {
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Organization => "organization",
            Field::Notes => "notes",
            Field::City => "city",
            Field::State => "state",
            Field::Country => "country",
            Field::Photo => "photo",
            Field::Custom1 => "custom1",
            Field::Custom2 => "custom2",
            Field::Custom3 => "custom3",
        }
    }

    fn index(self) -> usize {
        Field::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Field {
    type Err = String;

    fn from_str(s: &str) -> Result<Field, String> {
        Field::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown field `{s}` (fields: {})", Field::ALL.map(Field::name).join(", ")))
    }
}

/// A field's value: text, or bytes for the photo.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(t) => fmt::Debug::fmt(t, f),
            Value::Bytes(b) => write!(f, "<{} bytes>", b.len()),
        }
    }
}

/// The mapped fields of an account; `None` is an empty field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields([Option<Value>; 13]);

impl Fields {
    /// A field's value.
    pub fn get(&self, field: Field) -> Option<&Value> {
        self.0[field.index()].as_ref()
    }

    /// A text field's value.
    pub fn text(&self, field: Field) -> Option<&str> {
        match self.get(field) {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// Sets (or, with `None`, empties) a field.
    pub fn set(&mut self, field: Field, value: Option<Value>) {
        self.0[field.index()] = value;
    }
}

/// Who checks an account's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The domain's directory.
    Directory,
    /// The store (an argon2id hash): local accounts and administrators.
    Local,
}

impl Source {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Source::Directory => "directory",
            Source::Local => "local",
        }
    }
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Source, String> {
        match s {
            "directory" => Ok(Source::Directory),
            "local" => Ok(Source::Local),
            other => Err(format!("unknown source `{other}` (directory or local)")),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An account of the mail server.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// The account's own id (never reused, kept across migration).
    pub id: String,
    /// The mail domain.
    pub domain: String,
    /// The account name in the mail server, unique in the domain (`test2`).
    pub login: String,
    /// The name the user authenticates with (`test`): the directory login of directory accounts.
    pub auth_name: String,
    /// Who checks the password.
    pub source: Source,
    /// The directory's stable key (entryUUID, objectGUID, GeneratedUID); never the DN.
    pub directory_key: Option<String>,
    /// The entry's DN when last seen.
    pub dn: Option<String>,
    /// Whether the account may log in. Accounts are deactivated, never deleted, by sync.
    pub active: bool,
    /// Whether it is an administrator.
    pub admin: bool,
    /// The mapped fields.
    pub fields: Fields,
    /// The DNs of its directory groups, lowercase.
    pub groups: BTreeSet<String>,
    /// Its app groups.
    pub app_groups: BTreeSet<String>,
    /// Its mail addresses besides the canonical [`Account::canonical_address`], lowercase, the primary
    /// first: what the domain's address attributes hold (migration 0005).
    pub addresses: Vec<String>,
    /// The argon2id hash of a local account's password.
    pub password_hash: Option<String>,
    /// The argon2id hash of the last password the directory accepted (offline logins).
    pub cached_hash: Option<String>,
    /// When that password was accepted (Unix seconds).
    pub cached_at: Option<i64>,
    /// When the account was created (Unix seconds).
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
    /// When it last logged in.
    pub last_login: Option<i64>,
    /// When a sync deactivated it.
    pub deactivated_at: Option<i64>,
    /// A digest of what the directory last set (identity, mapped fields, groups) under the mapping then in
    /// force. A sync skips users whose digest is unchanged; a writer that changes mapped fields by other means
    /// clears it.
    pub sync_digest: Option<String>,
    /// The directory says the entry is disabled (it still exists): the account is inactive and no other
    /// entry may claim it by name (migration 0003).
    pub directory_disabled: bool,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("domain", &self.domain)
            .field("login", &self.login)
            .field("auth_name", &self.auth_name)
            .field("source", &self.source)
            .field("directory_key", &self.directory_key)
            .field("dn", &self.dn)
            .field("active", &self.active)
            .field("admin", &self.admin)
            .field("fields", &self.fields)
            .field("groups", &self.groups)
            .field("app_groups", &self.app_groups)
            .field("addresses", &self.addresses)
            .field("password_hash", &self.password_hash.as_ref().map(|_| "<redacted>"))
            .field("cached_hash", &self.cached_hash.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl Account {
    /// A new account with a fresh id and no fields.
    pub fn new(domain: &str, login: &str, auth_name: &str, source: Source, now: i64) -> Account {
        Account {
            id: time_ordered_id(),
            domain: domain.to_owned(),
            login: login.to_owned(),
            auth_name: auth_name.to_owned(),
            source,
            directory_key: None,
            dn: None,
            active: true,
            admin: false,
            fields: Fields::default(),
            groups: BTreeSet::new(),
            app_groups: BTreeSet::new(),
            addresses: Vec::new(),
            password_hash: None,
            cached_hash: None,
            cached_at: None,
            created_at: now,
            updated_at: now,
            last_login: None,
            deactivated_at: None,
            sync_digest: None,
            directory_disabled: false,
        }
    }

    /// The account's canonical address, `login@domain`: the mailbox name every mail server is given.
    pub fn canonical_address(&self) -> String {
        format!("{}@{}", self.login, self.domain)
    }

    /// Whether `address` is [`Account::canonical_address`] (without building it).
    pub fn is_canonical_address(&self, address: &str) -> bool {
        address.len() == self.login.len() + 1 + self.domain.len()
            && address.starts_with(self.login.as_str())
            && address[self.login.len()..].starts_with('@')
            && address.ends_with(self.domain.as_str())
    }

    /// Every address of the account once, the canonical one first (what Postfix's tables find it by).
    pub fn all_addresses(&self) -> Vec<String> {
        let mut all = vec![self.canonical_address()];
        for address in &self.addresses {
            if !all.contains(address) {
                all.push(address.clone());
            }
        }
        all
    }

    /// Whether a directory entry that no account holds by key may take this account over (matched by its
    /// authentication name): a directory account without a key yet, or an inactive one whose entry was
    /// deleted and made again. Never the account of an entry that is only disabled: that entry may have been
    /// renamed, and a new person given the old name.
    pub fn claimable(&self) -> bool {
        claimable(self.source == Source::Directory, self.directory_key.is_some(), self.active, self.directory_disabled)
    }

    /// Whether the stored row differs from `other` in anything a sync or login writes.
    pub fn differs_from(&self, other: &Account) -> bool {
        self.login != other.login
            || self.auth_name != other.auth_name
            || self.source != other.source
            || self.directory_key != other.directory_key
            || self.dn != other.dn
            || self.active != other.active
            || self.fields != other.fields
            || self.groups != other.groups
            || self.app_groups != other.app_groups
            || self.all_addresses() != other.all_addresses()
            || self.sync_digest != other.sync_digest
            || self.directory_disabled != other.directory_disabled
    }

    /// What differs from `other`, by name (`email`, `groups`, `active`…), for a dry run's diff; the
    /// digest is left out (it changes with what it digests).
    pub fn changes(&self, other: &Account) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut put = |differs: bool, name: &'static str| {
            if differs {
                out.push(name);
            }
        };
        put(self.login != other.login, "login");
        put(self.auth_name != other.auth_name, "auth_name");
        put(self.source != other.source, "source");
        put(self.directory_key != other.directory_key, "directory_key");
        put(self.dn != other.dn, "dn");
        put(self.active != other.active, "active");
        for field in Field::ALL {
            put(self.fields.get(field) != other.fields.get(field), field.name());
        }
        put(self.groups != other.groups, "groups");
        put(self.app_groups != other.app_groups, "app_groups");
        put(self.all_addresses() != other.all_addresses(), "addresses");
        put(self.directory_disabled != other.directory_disabled, "directory_disabled");
        out
    }
}

/// [`Account::claimable`] from the stored columns (a sync's index of the store reads only these).
pub(crate) fn claimable(directory: bool, has_key: bool, active: bool, disabled: bool) -> bool {
    directory && (!has_key || (!active && !disabled))
}

/// A fresh account id: a UUIDv7 of the current millisecond and random bits from the thread's generator
/// (no system call). Ids made in turn are close to each other, so that a sync creating 100,000 accounts
/// appends to the id indexes (the accounts' key and the addresses' and memberships' first column) instead
/// of writing all over them: random (v4) ids made the inserts of a 100,000-user sync 1.9× slower
/// (measured). Ids made in the same millisecond are not ordered among themselves; nothing needs them to be.
fn time_ordered_id() -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    uuid::Builder::from_unix_timestamp_millis(ms, &rand::random()).into_uuid().to_string()
}

/// The lowest free account name for `base`: `base` itself, else `base` followed by the smallest number
/// from 0 up that is not taken (`test`, `test0`, `test1`, `test3` taken → `test2`).
pub fn lowest_free_login(base: &str, taken: &BTreeSet<String>) -> String {
    if !taken.contains(base) {
        return base.to_owned();
    }
    (0u64..)
        .map(|n| format!("{base}{n}"))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_else(|| format!("{base}-{}", uuid::Uuid::new_v4()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_lowest_free_number_is_appended() {
        assert_eq!(lowest_free_login("test", &set(&["test", "test0", "test1", "test3", "testa"])), "test2");
        assert_eq!(lowest_free_login("test", &set(&["test0"])), "test");
        assert_eq!(lowest_free_login("test", &set(&["test"])), "test0");
        assert_eq!(lowest_free_login("bob", &set(&["bob", "bob0", "bob1", "bob2"])), "bob3");
    }

    #[test]
    fn fields_parse_and_print() {
        for f in Field::ALL {
            assert_eq!(f.name().parse::<Field>(), Ok(f));
        }
        assert!("nickname".parse::<Field>().unwrap_err().contains("first_name"));
    }

    #[test]
    fn ids_made_in_turn_sort_in_time() {
        let first = Account::new("example.org", "a", "a", Source::Directory, 0).id;
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = Account::new("example.org", "b", "b", Source::Directory, 0).id;
        assert!(first < second, "{first} {second}");
        assert_eq!(uuid::Uuid::parse_str(&second).unwrap().get_version_num(), 7);
    }

    #[test]
    fn hashes_never_show_in_debug() {
        let mut a = Account::new("example.org", "alice", "alice", Source::Local, 0);
        a.password_hash = Some("$argon2id$v=19$secret".into());
        assert!(!format!("{a:?}").contains("argon2id"));
    }
}
