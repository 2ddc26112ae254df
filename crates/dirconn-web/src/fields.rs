//! The settings form's fields: every key of a domain section an administrator can set, in sections, each
//! with its help and its default. The connector's keys come from the engine's table
//! (`dirconn_ldap::keys::KEYS`, the one the docs are generated from); the host's own keys (`enabled`, the
//! `accounts` and `mapping` tables…) are listed here.

use std::collections::BTreeMap;

use dirconn_ldap::keys::{Default as KeyDefault, KEYS};
use dirconn_store::Field as AccountField;
use toml_edit::{Item, TableLike, Value};

/// A section of the settings page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// Servers, TLS, timeouts, and the domain's own switches.
    Connection,
    /// The service account's DN and password.
    ServiceAccount,
    /// Where and how users are searched.
    Search,
    /// Account fields from directory attributes.
    Mapping,
    /// Group lookups.
    Groups,
    /// Account policy and sync.
    Accounts,
    /// The Kerberos and PAM password checks.
    KerberosPam,
    /// The rest.
    Advanced,
}

impl Section {
    /// Every section, in page order.
    pub const ALL: [Section; 8] = [
        Section::Connection,
        Section::ServiceAccount,
        Section::Search,
        Section::Mapping,
        Section::Groups,
        Section::Accounts,
        Section::KerberosPam,
        Section::Advanced,
    ];

    /// Its heading.
    pub fn title(self) -> &'static str {
        match self {
            Section::Connection => "Connection",
            Section::ServiceAccount => "Service account",
            Section::Search => "Search",
            Section::Mapping => "Mapping",
            Section::Groups => "Groups",
            Section::Accounts => "Accounts and sync",
            Section::KerberosPam => "Kerberos and PAM",
            Section::Advanced => "Advanced",
        }
    }

    /// Its anchor on the page.
    pub fn anchor(self) -> &'static str {
        match self {
            Section::Connection => "connection",
            Section::ServiceAccount => "service-account",
            Section::Search => "search",
            Section::Mapping => "mapping",
            Section::Groups => "groups",
            Section::Accounts => "accounts",
            Section::KerberosPam => "kerberos-pam",
            Section::Advanced => "advanced",
        }
    }

    fn of_connector_key(name: &str) -> Section {
        match name {
            "urls" | "url" | "starttls" | "ca_file" | "connect_timeout" | "operation_timeout" | "pool_size" => {
                Section::Connection
            }
            "bind_dn" | "bind_password" | "bind_password_file" | "bind_password_env" | "service_bind_backoff" => {
                Section::ServiceAccount
            }
            n if n.starts_with("group") || n == "nested_group_depth" || n == "member_of_attribute" => Section::Groups,
            "full_sync_interval" => Section::Accounts,
            n if n.starts_with("kerberos") || n.starts_with("kdc") || n.starts_with("pam_") => Section::KerberosPam,
            "password_check" | "keytab" | "service_principal" => Section::KerberosPam,
            _ => Section::Search,
        }
    }
}

/// How a field is typed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// One line of text.
    Text,
    /// An integer.
    Number,
    /// Default, true or false.
    Bool,
    /// One value per line.
    List,
    /// Write-only: never shown, blank keeps the stored one.
    Secret,
}

/// One field of the form.
#[derive(Debug, Clone)]
pub struct Field {
    /// The key, dotted for the host's tables (`accounts.login_policy`).
    pub key: String,
    /// Its section.
    pub section: Section,
    /// How it is typed.
    pub input: Input,
    /// What it does.
    pub help: String,
    /// What it is when left empty.
    pub default: String,
}

/// The host's keys: (key, section, input, help, default).
const HOST_KEYS: &[(&str, Section, Input, &str, &str)] = &[
    ("enabled", Section::Connection, Input::Bool, "Whether logins of this domain are served.", "true"),
    ("display_name", Section::Connection, Input::Text, "A name for people.", "the domain's name"),
    (
        "login_suffixes",
        Section::Connection,
        Input::List,
        "Other login suffixes routed to this domain with the suffix kept (UPN suffixes, aliases).",
        "none",
    ),
    (
        "bind_ip",
        Section::Advanced,
        Input::List,
        "Local IP addresses bound to this domain: a login without @domain arriving at one of them is this domain's.",
        "none",
    ),
    (
        "accounts.login_policy",
        Section::Accounts,
        Input::Text,
        "`auto-create` makes an account at a directory user's first login; `require-existing` serves only accounts \
         that exist (made by a sync or by hand).",
        "auto-create",
    ),
    (
        "accounts.default_source",
        Section::Accounts,
        Input::Text,
        "Where the password of a new account is checked: `directory` or `local`.",
        "directory",
    ),
    (
        "accounts.sync_schedule",
        Section::Accounts,
        Input::Text,
        "When the sync runs by itself: an interval (`15m`) or a cron expression (`0 */2 * * *`).",
        "never",
    ),
    (
        "accounts.sync_only_mapped_groups",
        Section::Accounts,
        Input::Bool,
        "Sync only the members of groups listed in the group mappings.",
        "false",
    ),
    (
        "accounts.deactivation_guard",
        Section::Accounts,
        Input::Text,
        "A sync that would deactivate more than this percentage of the domain's accounts stops and writes nothing.",
        "10",
    ),
    (
        "accounts.deactivation_guard_min",
        Section::Accounts,
        Input::Number,
        "The guard stays out of the way below this many deactivations.",
        "10",
    ),
    (
        "accounts.offline_login_days",
        Section::Accounts,
        Input::Number,
        "While the directory is unreachable, users who logged in within this many days log in with their cached \
         password (0: never).",
        "0",
    ),
    (
        "accounts.photo_max_bytes",
        Section::Accounts,
        Input::Number,
        "Photos over this size are left empty (with a note in the sync report).",
        "524288",
    ),
    (
        "accounts.reveal_account_state",
        Section::Accounts,
        Input::Bool,
        "Tell users that their account is locked, disabled or expired (off: only \"login failed\").",
        "false",
    ),
    (
        "mapping.addresses",
        Section::Mapping,
        Input::List,
        "The attributes whose values are the account's mail addresses, in order.",
        "the connector's",
    ),
    ("groups.assign_all", Section::Groups, Input::Text, "An app group every user of this domain gets.", "none"),
];

/// Every field of a connector kind's domain, in page order. `effective` is what the domain uses now
/// (`dirconn filter`'s values), shown as the default of the keys whose default is the connector kind's.
pub fn fields(kind: &str, effective: &BTreeMap<String, String>) -> Vec<Field> {
    let mut out: Vec<Field> = HOST_KEYS
        .iter()
        .map(|&(key, section, input, help, default)| Field {
            key: key.to_owned(),
            section,
            input,
            help: help.to_owned(),
            default: default.to_owned(),
        })
        .collect();
    for k in KEYS.iter().filter(|k| k.only.is_none_or(|only| only == kind)) {
        let input = match k.ty {
            _ if k.name == "bind_password" => Input::Secret,
            "boolean" => Input::Bool,
            "integer" => Input::Number,
            "list of strings" => Input::List,
            _ => Input::Text,
        };
        let default = match k.default {
            KeyDefault::Text(text) => text.to_owned(),
            KeyDefault::Kind => match effective.get(k.name) {
                Some(v) => format!("the connector's: `{v}`"),
                None => "the connector's".to_owned(),
            },
        };
        out.push(Field {
            key: k.name.to_owned(),
            section: Section::of_connector_key(k.name),
            input,
            help: k.meaning.to_owned(),
            default,
        });
    }
    for f in AccountField::ALL {
        out.push(Field {
            key: format!("mapping.{}", f.name()),
            section: Section::Mapping,
            input: Input::Text,
            help: format!("The directory attribute of the account's {}.", f.name().replace('_', " ")),
            default: "the connector's".to_owned(),
        });
    }
    out.sort_by_key(|f| f.section);
    out
}

/// The item at a dotted key of a domain's table.
pub fn item<'t>(table: &'t dyn TableLike, key: &str) -> Option<&'t Item> {
    match key.split_once('.') {
        Some((outer, inner)) => table.get(outer)?.as_table_like()?.get(inner),
        None => table.get(key),
    }
}

/// A value as the form shows it: text as is, lists one per line, the rest in TOML.
pub fn shown(item: &Item) -> String {
    match item.as_value() {
        Some(Value::String(s)) => s.value().clone(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string().trim().to_owned(), str::to_owned))
            .collect::<Vec<_>>()
            .join("\n"),
        Some(v) => v.to_string().trim().to_owned(),
        None => item.to_string().trim().to_owned(),
    }
}

/// A typed value as TOML, or what is wrong with it. `None`: left empty (the default).
pub fn parse(field: &Field, text: &str) -> Result<Option<Value>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(match field.input {
        Input::Text | Input::Secret => {
            if field.key == "accounts.deactivation_guard" {
                text.parse::<f64>().map_err(|_| format!("`{text}` is not a number"))?.into()
            } else {
                text.into()
            }
        }
        Input::Number => text.parse::<i64>().map_err(|_| format!("`{text}` is not a whole number"))?.into(),
        Input::Bool => match text {
            "true" => true.into(),
            "false" => false.into(),
            other => return Err(format!("`{other}` is not true or false")),
        },
        Input::List => {
            let mut array = toml_edit::Array::new();
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                array.push(line);
            }
            Value::Array(array)
        }
    }))
}

/// Whether two values mean the same (formatting and comments aside).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y.iter()).all(|(a, b)| same(a, b)),
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Integer(x), Value::Integer(y)) => x.value() == y.value(),
        (Value::Float(x), Value::Float(y)) => x.value() == y.value(),
        (Value::Integer(x), Value::Float(y)) | (Value::Float(y), Value::Integer(x)) => *x.value() as f64 == *y.value(),
        (Value::Boolean(x), Value::Boolean(y)) => x.value() == y.value(),
        _ => a.to_string().trim() == b.to_string().trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_connector_key_and_host_key_has_a_field_once() {
        let all = fields("active-directory", &BTreeMap::new());
        let mut keys: Vec<&str> = all.iter().map(|f| f.key.as_str()).collect();
        keys.sort();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "a key is listed twice");
        for k in ["urls", "bind_password", "nt_domain", "accounts.login_policy", "mapping.email", "groups.assign_all"] {
            assert!(keys.contains(&k), "{k} is missing");
        }
        let ldap = fields("ldap", &BTreeMap::new());
        assert!(!ldap.iter().any(|f| f.key == "nt_domain"), "an Active Directory key is offered for ldap");
        assert_eq!(all.iter().find(|f| f.key == "bind_password").unwrap().input, Input::Secret);
    }

    #[test]
    fn typed_values_are_parsed_or_refused() {
        let all = fields("ldap", &BTreeMap::new());
        let f = |k: &str| all.iter().find(|f| f.key == k).unwrap().clone();
        assert!(parse(&f("pool_size"), "eight").unwrap_err().contains("whole number"));
        assert_eq!(parse(&f("pool_size"), " 8 ").unwrap().unwrap().as_integer(), Some(8));
        assert_eq!(parse(&f("urls"), "ldap://a\n\nldap://b\n").unwrap().unwrap().as_array().unwrap().len(), 2);
        assert!(parse(&f("urls"), "  ").unwrap().is_none());
        let a: Value = "x".into();
        let mut b: Value = "x".into();
        b.decor_mut().set_suffix(" # a comment");
        assert!(same(&a, &b));
    }
}
