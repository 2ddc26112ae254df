//! A domain's account policy: how directory users become accounts (`[domain.accounts]`), which directory
//! attributes fill which account fields (`[domain.mapping]`), and which directory groups give which app
//! groups (`[domain.groups]`).
//!
//! ```toml
//! [domain.accounts]
//! login_policy = "auto-create"       # or "require-existing"
//! default_source = "directory"       # or "local": who checks the passwords of imported accounts
//! sync_schedule = "15m"              # an interval, or a cron expression ("0 */2 * * *")
//! sync_only_mapped_groups = false    # import only members of the groups in [domain.groups.map]
//! deactivation_guard = 10            # percent of active accounts a sync may deactivate without --force
//! deactivation_guard_min = 10        # deactivations always allowed, whatever the share
//! offline_login_days = 0             # days a cached password works while the directory is down (0: off)
//! photo_max_bytes = 524288
//!
//! [domain.mapping]                   # field = "directoryAttribute"; `debug = true` logs entries at login
//! first_name = "givenName"
//! addresses = ["mail", "proxyAddresses"]   # the account's mail addresses (default per connector, kept
//!                                    # when the table does not name it)
//!
//! [domain.groups]
//! assign_all = "mail-users"
//! [domain.groups.map]
//! "cn=staff,ou=groups,dc=example,dc=org" = "staff"
//! ```

use std::{collections::BTreeMap, fmt, time::Duration};

use dirconn_abi::normalize_dn;
use dirconn_store::{Field, Source};
use serde::Deserialize;

/// What happens when a directory user without an account logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginPolicy {
    /// The account is created at the first login.
    AutoCreate,
    /// The login is refused until a sync (or an administrator) creates the account.
    RequireExisting,
}

/// When the host syncs a domain on its own.
#[derive(Clone)]
pub enum Schedule {
    /// Every so often, counted from the end of the last run.
    Every(Duration),
    /// At the times of a cron expression (UTC).
    Cron(Box<croner::Cron>, String),
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(d) => write!(f, "every {}", humantime::format_duration(*d)),
            Schedule::Cron(_, text) => write!(f, "cron \"{text}\" (UTC)"),
        }
    }
}

impl Schedule {
    /// Parses `15m` / `1h 30m` as an interval, anything else as a cron expression.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        if let Ok(d) = humantime::parse_duration(text.trim()) {
            if d < Duration::from_secs(60) {
                return Err(format!("`{text}` is shorter than a minute"));
            }
            return Ok(Schedule::Every(d));
        }
        text.parse::<croner::Cron>()
            .map(|c| Schedule::Cron(Box::new(c), text.trim().to_owned()))
            .map_err(|e| format!("`{text}` is neither an interval (15m) nor a cron expression ({e})"))
    }

    /// How long to wait from `now` (Unix seconds, UTC) for the next run.
    pub fn wait_from(&self, now: chrono::DateTime<chrono::Utc>) -> Duration {
        match self {
            Schedule::Every(d) => *d,
            Schedule::Cron(cron, _) => cron
                .find_next_occurrence(&now, false)
                .ok()
                .and_then(|next| (next - now).to_std().ok())
                .unwrap_or(Duration::from_secs(3600)),
        }
    }
}

/// How directory attributes fill account fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Field → directory attribute, in field order.
    pub fields: Vec<(Field, String)>,
    /// The attributes whose values are the account's mail addresses besides `login@domain`, in order (the
    /// first value of the first attribute is the primary); `type:address` values count only with the type
    /// `smtp` (Active Directory's proxyAddresses, where `SMTP:` marks the primary).
    pub addresses: Vec<String>,
    /// Log every attribute of the entry at login (secrets redacted), to find attribute names.
    pub debug: bool,
    /// Whether the domain's `[mapping]` table gave the fields (else the plugin's default ones apply).
    pub fields_given: bool,
    /// Whether it gave `addresses`.
    pub addresses_given: bool,
}

impl Mapping {
    /// This mapping with the plugin's default fields and addresses wherever the domain's table did not
    /// give them (ABI 4: the plugin owns its kinds' default mapping; the host names no kind). A field name
    /// this host does not know is skipped with a warning.
    pub fn with_defaults(mut self, default: &dirconn_abi::DefaultMapping) -> Mapping {
        if !self.fields_given {
            self.fields = default
                .fields
                .iter()
                .filter_map(|pair| match pair.name.parse::<Field>() {
                    Ok(field) => Some((field, pair.value.to_string())),
                    Err(problem) => {
                        tracing::warn!(field = %pair.name, %problem, "the plugin's default mapping names an unknown field");
                        None
                    }
                })
                .collect();
            self.fields.sort_by_key(|(f, _)| *f);
        }
        if !self.addresses_given {
            self.addresses = default.addresses.iter().map(|a| a.to_string()).collect();
        }
        self
    }
}

impl Default for Mapping {
    fn default() -> Mapping {
        Mapping {
            fields: vec![
                (Field::FirstName, "givenName".into()),
                (Field::LastName, "sn".into()),
                (Field::Email, "mail".into()),
                (Field::Phone, "telephoneNumber".into()),
            ],
            addresses: vec!["mail".into()],
            debug: false,
            fields_given: false,
            addresses_given: false,
        }
    }
}

/// Directory groups → app groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMapping {
    /// Normalized group DN → app groups.
    pub map: BTreeMap<String, Vec<String>>,
    /// The app group every account of the domain gets.
    pub assign_all: Option<String>,
}

/// A domain's whole account policy.
#[derive(Debug, Clone)]
pub struct AccountPolicy {
    /// Auto-create or require existing accounts.
    pub login_policy: LoginPolicy,
    /// Who checks the passwords of accounts a sync or login creates.
    pub default_source: Source,
    /// When the host syncs on its own.
    pub schedule: Option<Schedule>,
    /// Import only members (transitively) of the mapped groups.
    pub only_mapped_groups: bool,
    /// The share (percent) of active accounts a sync may deactivate without `--force`.
    pub guard_percent: f64,
    /// Deactivations allowed whatever the share.
    pub guard_min: u64,
    /// Days a cached directory password works while the directory is down (0: off).
    pub offline_days: u32,
    /// The largest photo kept, in bytes.
    pub photo_max_bytes: usize,
    /// The attribute mapping.
    pub mapping: Mapping,
    /// The group mapping.
    pub groups: GroupMapping,
    /// Tell end users that their account is locked, disabled, expired or restricted (default: they are told
    /// "invalid login or password", like for a wrong password, since they have not proven the password).
    pub reveal_account_state: bool,
}

impl Default for AccountPolicy {
    fn default() -> AccountPolicy {
        AccountPolicy {
            login_policy: LoginPolicy::AutoCreate,
            default_source: Source::Directory,
            schedule: None,
            only_mapped_groups: false,
            guard_percent: 10.0,
            guard_min: 10,
            offline_days: 0,
            photo_max_bytes: 512 * 1024,
            mapping: Mapping::default(),
            groups: GroupMapping::default(),
            reveal_account_state: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccounts {
    login_policy: Option<String>,
    default_source: Option<String>,
    sync_schedule: Option<String>,
    #[serde(default)]
    sync_only_mapped_groups: bool,
    deactivation_guard: Option<f64>,
    deactivation_guard_min: Option<u64>,
    #[serde(default)]
    offline_login_days: u32,
    photo_max_bytes: Option<usize>,
    #[serde(default)]
    reveal_account_state: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroups {
    assign_all: Option<String>,
    #[serde(default)]
    map: BTreeMap<String, OneOrMany>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A problem with one key: the key and what is wrong.
pub type KeyProblem = (String, String);

impl AccountPolicy {
    /// Reads the `accounts`, `mapping` and `groups` tables of a domain section (each optional). What the
    /// mapping table leaves out is the plugin's default, filled in when the plugin is known
    /// ([`Mapping::with_defaults`]).
    pub fn from_tables(
        accounts: Option<toml::Value>,
        mapping: Option<toml::Value>,
        groups: Option<toml::Value>,
    ) -> Result<AccountPolicy, KeyProblem> {
        let mut policy = AccountPolicy::default();
        if let Some(value) = accounts {
            let raw: RawAccounts = value.try_into().map_err(|e: toml::de::Error| ("accounts".into(), one_line(&e)))?;
            policy.login_policy = match raw.login_policy.as_deref() {
                None | Some("auto-create") => LoginPolicy::AutoCreate,
                Some("require-existing") => LoginPolicy::RequireExisting,
                Some(other) => {
                    return Err((
                        "accounts.login_policy".into(),
                        format!("`{other}` is not a policy (auto-create or require-existing)"),
                    ));
                }
            };
            if let Some(source) = raw.default_source {
                policy.default_source = source.parse().map_err(|e| ("accounts.default_source".to_owned(), e))?;
            }
            if let Some(text) = raw.sync_schedule {
                policy.schedule = Some(Schedule::parse(&text).map_err(|e| ("accounts.sync_schedule".to_owned(), e))?);
            }
            policy.only_mapped_groups = raw.sync_only_mapped_groups;
            if let Some(p) = raw.deactivation_guard {
                if !(0.0..=100.0).contains(&p) {
                    return Err(("accounts.deactivation_guard".into(), format!("{p} is not a percentage")));
                }
                policy.guard_percent = p;
            }
            if let Some(n) = raw.deactivation_guard_min {
                policy.guard_min = n;
            }
            if raw.offline_login_days > 365 {
                return Err(("accounts.offline_login_days".into(), "more than a year is refused".into()));
            }
            policy.offline_days = raw.offline_login_days;
            if let Some(n) = raw.photo_max_bytes {
                policy.photo_max_bytes = n;
            }
            policy.reveal_account_state = raw.reveal_account_state;
        }
        if let Some(value) = mapping {
            let toml::Value::Table(table) = value else {
                return Err(("mapping".into(), "expected a table of field = \"attribute\"".into()));
            };
            let mut m = Mapping {
                fields: Vec::new(),
                addresses: policy.mapping.addresses.clone(),
                debug: false,
                fields_given: true,
                addresses_given: false,
            };
            for (key, value) in table {
                if key == "addresses" {
                    m.addresses_given = true;
                    m.addresses = attribute_list(value).ok_or((
                        "mapping.addresses".to_owned(),
                        "expected a list of directory attribute names, e.g. [\"mail\", \"proxyAddresses\"]".to_owned(),
                    ))?;
                    continue;
                }
                if key == "debug" {
                    m.debug =
                        value.as_bool().ok_or(("mapping.debug".to_owned(), "expected true or false".to_owned()))?;
                    continue;
                }
                let field: Field = key.parse().map_err(|e| (format!("mapping.{key}"), e))?;
                let attr = value
                    .as_str()
                    .filter(|a| !a.trim().is_empty())
                    .ok_or((format!("mapping.{key}"), "expected a directory attribute name".to_owned()))?;
                // An attribute named `debug` (as some products spell it) turns on the debug log.
                if attr.eq_ignore_ascii_case("debug") {
                    m.debug = true;
                } else {
                    m.fields.push((field, attr.trim().to_owned()));
                }
            }
            m.fields.sort_by_key(|(f, _)| *f);
            policy.mapping = m;
        }
        if let Some(value) = groups {
            let raw: RawGroups = value.try_into().map_err(|e: toml::de::Error| ("groups".into(), one_line(&e)))?;
            policy.groups.assign_all = raw.assign_all.filter(|g| !g.trim().is_empty());
            for (dn, apps) in raw.map {
                if dirconn_abi::parse_dn(&dn).is_none_or(|rdns| rdns.is_empty()) {
                    return Err((
                        format!("groups.map.\"{dn}\""),
                        "the key is not a group DN (RFC 4514: cn=staff,ou=groups,dc=example,dc=org)".into(),
                    ));
                }
                let apps = match apps {
                    OneOrMany::One(a) => vec![a],
                    OneOrMany::Many(v) => v,
                };
                policy.groups.map.entry(normalize_dn(&dn)).or_default().extend(apps);
            }
        }
        if policy.only_mapped_groups && policy.groups.map.is_empty() {
            return Err((
                "accounts.sync_only_mapped_groups".into(),
                "it is true but [domain.groups.map] maps no group, so no user would be imported".into(),
            ));
        }
        Ok(policy)
    }
}

/// A list of attribute names (or one name), each non-empty and trimmed.
fn attribute_list(value: toml::Value) -> Option<Vec<String>> {
    let items = match value {
        toml::Value::String(s) => vec![toml::Value::String(s)],
        toml::Value::Array(items) => items,
        _ => return None,
    };
    items
        .into_iter()
        .map(|v| {
            v.as_str().map(str::trim).filter(|a| !a.is_empty() && !a.contains(char::is_whitespace)).map(str::to_owned)
        })
        .collect()
}

fn one_line(e: &toml::de::Error) -> String {
    e.message().trim().replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Result<AccountPolicy, KeyProblem> {
        let mut t: toml::Table = toml::from_str(text).unwrap();
        AccountPolicy::from_tables(t.remove("accounts"), t.remove("mapping"), t.remove("groups"))
    }

    #[test]
    fn defaults_auto_create_with_a_guard() {
        let p = policy("").unwrap();
        assert_eq!(p.login_policy, LoginPolicy::AutoCreate);
        assert_eq!(p.guard_percent, 10.0);
        assert_eq!(p.offline_days, 0);
        assert!(p.mapping.fields.iter().any(|(f, a)| *f == Field::Email && a == "mail"));
        assert_eq!(p.mapping.addresses, ["mail"]);
    }

    #[test]
    fn address_attributes_default_per_connector_and_survive_a_mapping_table() {
        let plugin = dirconn_abi::DefaultMapping {
            fields: vec![dirconn_abi::NamedValue { name: "photo".into(), value: "thumbnailPhoto".into() }].into(),
            addresses: vec!["mail".into(), "proxyAddresses".into()].into(),
        };
        let ad = AccountPolicy::from_tables(None, None, None).unwrap().mapping.with_defaults(&plugin);
        assert_eq!(ad.addresses, ["mail", "proxyAddresses"]);
        assert_eq!(ad.fields, [(Field::Photo, "thumbnailPhoto".to_owned())]);
        let mapping: toml::Value = toml::from_str("first_name = \"givenName\"").unwrap();
        let ad = AccountPolicy::from_tables(None, Some(mapping), None).unwrap().mapping.with_defaults(&plugin);
        assert_eq!(ad.addresses, ["mail", "proxyAddresses"], "a [mapping] without `addresses` keeps them");
        assert_eq!(ad.fields, [(Field::FirstName, "givenName".to_owned())], "the table's fields replace the plugin's");
        let p = policy("[mapping]\naddresses = [\"mail\", \" mailAlternateAddress \"]").unwrap();
        assert_eq!(p.mapping.addresses, ["mail", "mailAlternateAddress"]);
        assert_eq!(policy("[mapping]\naddresses = []").unwrap().mapping.addresses, Vec::<String>::new());
        for bad in ["addresses = 3", "addresses = [\"\"]", "addresses = [\"a b\"]"] {
            assert_eq!(policy(&format!("[mapping]\n{bad}")).unwrap_err().0, "mapping.addresses", "{bad}");
        }
    }

    #[test]
    fn sections_parse() {
        let p = policy(
            r#"
            [accounts]
            login_policy = "require-existing"
            sync_schedule = "0 */2 * * *"
            [mapping]
            first_name = "givenName"
            photo = "jpegPhoto"
            custom1 = "debug"
            [groups]
            assign_all = "everyone"
            [groups.map]
            "CN=Staff, OU=Groups,DC=example,DC=org" = "staff"
            "cn=devs,ou=groups,dc=example,dc=org" = ["dev", "git"]
            "#,
        )
        .unwrap();
        assert_eq!(p.login_policy, LoginPolicy::RequireExisting);
        assert!(matches!(p.schedule, Some(Schedule::Cron(..))));
        assert!(p.mapping.debug);
        assert_eq!(p.mapping.fields, vec![(Field::FirstName, "givenName".into()), (Field::Photo, "jpegPhoto".into())]);
        assert_eq!(p.groups.map["cn=staff,ou=groups,dc=example,dc=org"], ["staff"]);
        assert_eq!(p.groups.map["cn=devs,ou=groups,dc=example,dc=org"], ["dev", "git"]);
    }

    #[test]
    fn group_map_keys_compare_by_meaning() {
        let p = policy(
            r#"
            [groups.map]
            "CN=M\\C3\\BCller\\2C J\\C3\\BCrgen, OU=Groups,DC=example,DC=org" = "a"
            "cn = müller\\, jürgen,ou=groups,dc=example,dc=org" = "b"
            "#,
        )
        .unwrap();
        assert_eq!(p.groups.map.len(), 1, "{:?}", p.groups.map);
        let mut apps = p.groups.map[&normalize_dn("CN=Müller\\, Jürgen,OU=Groups,DC=example,DC=org")].clone();
        apps.sort();
        assert_eq!(apps, ["a", "b"]);
        for bad in ["staff", "cn=a\\", "=x"] {
            let err = policy(&format!("[groups.map]\n\"{}\" = \"x\"", bad.replace('\\', "\\\\"))).unwrap_err();
            assert!(err.0.starts_with("groups.map."), "{bad}: {err:?}");
        }
    }

    #[test]
    fn mistakes_name_their_key() {
        assert_eq!(policy("[accounts]\nlogin_policy = \"sometimes\"").unwrap_err().0, "accounts.login_policy");
        assert_eq!(policy("[mapping]\nnickname = \"cn\"").unwrap_err().0, "mapping.nickname");
        assert_eq!(policy("[accounts]\nsync_schedule = \"often\"").unwrap_err().0, "accounts.sync_schedule");
        assert_eq!(policy("[accounts]\nsync_schedule = \"5s\"").unwrap_err().0, "accounts.sync_schedule");
        assert_eq!(
            policy("[accounts]\nsync_only_mapped_groups = true").unwrap_err().0,
            "accounts.sync_only_mapped_groups"
        );
        assert!(policy("[accounts]\nbogus = 1").unwrap_err().0.starts_with("accounts"));
    }

    #[test]
    fn intervals_and_cron_schedules() {
        assert!(matches!(Schedule::parse("15m"), Ok(Schedule::Every(d)) if d == Duration::from_secs(900)));
        let cron = Schedule::parse("30 2 * * *").unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T02:00:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(cron.wait_from(now), Duration::from_secs(1800));
    }
}
