//! The host's TOML configuration: the plugin directory and one `[[domain]]` section per mail domain.
//!
//! ```toml
//! plugin_dir = "plugins"            # relative to this file
//! default_domain = "example.org"    # for logins without @domain (optional with one domain)
//!
//! [[domain]]
//! name = "example.org"              # optional: derived from search_base DC= parts
//! connector = "ldap"
//! urls = ["ldaps://dc1.example.org"]
//! bind_dn = "cn=dirconn,ou=services,dc=example,dc=org"
//! bind_password_file = "ldap.secret"
//! search_base = "ou=people,dc=example,dc=org"
//! ```
//! The host reads `store` (the account store, default `accounts.db` beside this file), and in each domain
//! `name`, `connector`, `enabled`, `display_name`, `login_suffixes`, `bind_ip` and the `accounts`, `mapping`,
//! `groups` and `lockout` tables (see
//! [`crate::policy`]); every other key goes to the plugin, which validates it.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use crate::{AccountPolicy, Error, lockout::LockoutConfig, userdb::Userdb};

/// The keys of a domain section that the host reads itself.
const HOST_KEYS: [&str; 11] = [
    "name",
    "connector",
    "enabled",
    "display_name",
    "login_suffixes",
    "accounts",
    "mapping",
    "groups",
    "userdb",
    "bind_ip",
    "lockout",
];

/// One mail domain's section.
#[derive(Debug, Clone)]
pub struct DomainConfig {
    /// The mail domain, lowercase (`example.org`).
    pub name: String,
    /// The connector kind (`ldap`).
    pub connector: String,
    /// Whether logins are served.
    pub enabled: bool,
    /// A name for people.
    pub display_name: String,
    /// Other login suffixes routed to this domain with the suffix kept (`user@corp.example.org`): Active
    /// Directory UPN suffixes, email aliases. Lowercase.
    pub login_suffixes: Vec<String>,
    /// Local IP addresses bound to this domain: a login without `@domain` arriving at one of them is this
    /// domain's. IPv4-mapped IPv6 addresses are kept as IPv4.
    pub bind_ip: Vec<IpAddr>,
    /// The connector's settings (every other key), as JSON for the plugin.
    pub settings: serde_json::Value,
    /// How its users become accounts (`accounts`, `mapping`, `groups` tables).
    pub policy: AccountPolicy,
    /// The userdb template handed to mail servers (`[domain.userdb]`: home, uid, gid, quota_rule…).
    pub userdb: Userdb,
    /// The directory's lockout threshold and window where configured (`[domain.lockout]`).
    pub lockout: LockoutConfig,
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// The folder relative paths resolve against.
    pub dir: PathBuf,
    /// The drop-in directory of plugins.
    pub plugin_dir: PathBuf,
    /// The domain of logins without `@domain`.
    pub default_domain: Option<String>,
    /// The account store: a SQLite file or `sqlite:` URL (a relative path resolved against the
    /// configuration's folder) or a `postgres://` URL.
    pub store: String,
    /// The domains, in file order.
    pub domains: Vec<DomainConfig>,
    /// The `[service]` table, read by the service (`dirconn serve`), not by the host.
    pub service: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    plugin_dir: Option<PathBuf>,
    default_domain: Option<String>,
    store: Option<String>,
    #[serde(default)]
    domain: Vec<toml::Table>,
    #[serde(default)]
    service: toml::Table,
}

impl HostConfig {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<HostConfig, Error> {
        let text =
            std::fs::read_to_string(path).map_err(|source| Error::ConfigRead { path: path.to_owned(), source })?;
        HostConfig::parse(path, &text)
    }

    /// Parses a configuration's text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<HostConfig, Error> {
        let raw: Raw = toml::from_str(text)
            .map_err(|err| Error::ConfigSyntax { path: path.to_owned(), message: syntax_message(text, &err) })?;
        let dir = path.parent().map(Path::to_owned).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        let mut domains: Vec<DomainConfig> = Vec::new();
        for (index, table) in raw.domain.into_iter().enumerate() {
            let domain = domain_section(path, index, table)?;
            if domains.iter().any(|d| d.name == domain.name) {
                return Err(Error::DuplicateDomain { path: path.to_owned(), domain: domain.name });
            }
            domains.push(domain);
        }
        // A login suffix routes to one domain only, and never shadows a domain's own name.
        for (i, d) in domains.iter().enumerate() {
            for suffix in &d.login_suffixes {
                let clash = domains
                    .iter()
                    .enumerate()
                    .find(|(j, other)| other.name == *suffix || (*j != i && other.login_suffixes.contains(suffix)));
                if let Some((_, other)) = clash {
                    let problem = if other.name == *suffix {
                        format!("`{suffix}` is the name of domain {}; logins with it go there.", other.name)
                    } else {
                        format!("`{suffix}` is listed by domain {} too; a suffix routes to one domain.", other.name)
                    };
                    return Err(Error::ConfigKey {
                        path: path.to_owned(),
                        domain: d.name.clone(),
                        key: "login_suffixes".into(),
                        problem,
                        fix: "List each suffix in one domain's login_suffixes, and never a domain's name.".into(),
                    });
                }
            }
        }
        // A local address binds one domain only.
        for (i, d) in domains.iter().enumerate() {
            for ip in &d.bind_ip {
                if let Some(other) = domains[..i].iter().find(|other| other.bind_ip.contains(ip)) {
                    return Err(Error::ConfigKey {
                        path: path.to_owned(),
                        domain: d.name.clone(),
                        key: "bind_ip".into(),
                        problem: format!(
                            "{ip} is bound to domain {} too; a login without @domain arriving at an address can \
                             go to one domain only.",
                            other.name
                        ),
                        fix: format!("Remove {ip} from the bind_ip of {} or of {}.", other.name, d.name),
                    });
                }
            }
        }
        let default_domain = raw.default_domain.map(|d| d.to_ascii_lowercase());
        if let Some(default) = &default_domain
            && !domains.iter().any(|d| &d.name == default)
        {
            return Err(Error::ConfigSyntax {
                path: path.to_owned(),
                message: format!("default_domain = \"{default}\" names no [[domain]] section."),
            });
        }
        let store = match raw.store {
            Some(location) => dirconn_store::resolve_location(&location, &dir),
            None => dir.join("accounts.db").to_string_lossy().into_owned(),
        };
        Ok(HostConfig {
            store,
            plugin_dir: dir.join(raw.plugin_dir.unwrap_or_else(|| PathBuf::from("plugins"))),
            path: path.to_owned(),
            dir,
            default_domain,
            domains,
            service: raw.service,
        })
    }
}

/// A TOML type's name with its article: "a string", "an integer".
pub(crate) fn a_type(name: &str) -> String {
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {name}")
}

/// A TOML error as "line L, column C: message", then the line with a caret under the column, as toml
/// draws it, unless the line may hold a secret (a `bind_password`, a token, a `store` URL with its
/// password): then only line and column are given.
fn syntax_message(text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim().replace('\n', " ");
    let Some(span) = err.span() else { return format!("TOML parse error: {message}") };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let source = text.lines().nth(line - 1).unwrap_or_default();
    let secret = ["password", "secret", "token", "store"].iter().any(|w| source.to_ascii_lowercase().contains(w));
    if secret || source.chars().count() > 200 {
        return format!("TOML parse error at line {line}, column {column}: {message}");
    }
    let gutter = " ".repeat(line.to_string().len());
    let caret = " ".repeat(column - 1);
    format!(
        "TOML parse error at line {line}, column {column}: {message}\n{gutter} |\n{line} | {source}\n{gutter} | {caret}^"
    )
}

fn domain_section(path: &Path, index: usize, mut table: toml::Table) -> Result<DomainConfig, Error> {
    let position = format!("#{}", index + 1);
    let key_error = |domain: &str, key: &str, problem: &str, fix: &str| Error::ConfigKey {
        path: path.to_owned(),
        domain: domain.to_owned(),
        key: key.to_owned(),
        problem: problem.to_owned(),
        fix: fix.to_owned(),
    };
    let string = |table: &mut toml::Table, key: &str, domain: &str| -> Result<Option<String>, Error> {
        match table.remove(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(key_error(
                domain,
                key,
                &format!("expected a string, found {}.", a_type(other.type_str())),
                "Quote the value.",
            )),
        }
    };
    let name = match string(&mut table, "name", &position)? {
        Some(name) => name,
        None => match table.get("search_base").and_then(toml::Value::as_str).and_then(domain_from_base) {
            Some(name) => name,
            None => {
                return Err(key_error(
                    &position,
                    "name",
                    "the section has no name and its search_base has no DC= components to derive one from.",
                    "Add name = \"example.org\" (the mail domain this directory serves).",
                ));
            }
        },
    };
    let name = name.trim().to_ascii_lowercase();
    if name.is_empty() || name.contains('@') || name.contains(char::is_whitespace) {
        return Err(key_error(
            &position,
            "name",
            &format!("`{name}` is not a mail domain."),
            "Write it as example.org.",
        ));
    }
    let connector = string(&mut table, "connector", &name)?.ok_or_else(|| {
        key_error(
            &name,
            "connector",
            "the connector kind is missing.",
            "Add connector = \"ldap\"; `dirconn plugins` lists the kinds installed.",
        )
    })?;
    let enabled = match table.remove("enabled") {
        None => true,
        Some(toml::Value::Boolean(b)) => b,
        Some(_) => return Err(key_error(&name, "enabled", "expected true or false.", "Write enabled = true.")),
    };
    let display_name = string(&mut table, "display_name", &name)?.unwrap_or_else(|| name.clone());
    let login_suffixes = match table.remove("login_suffixes") {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                toml::Value::String(s) if !s.trim().is_empty() && !s.contains(['@', ' ']) => {
                    Ok(s.trim().to_ascii_lowercase())
                }
                _ => Err(key_error(
                    &name,
                    "login_suffixes",
                    "expected a list of domain names.",
                    "Write login_suffixes = [\"corp.example.org\"].",
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => {
            return Err(key_error(
                &name,
                "login_suffixes",
                "expected a list of domain names.",
                "Write login_suffixes = [\"corp.example.org\"].",
            ));
        }
    };
    let bind_ip = bind_ips(table.remove("bind_ip")).map_err(|problem| {
        key_error(
            &name,
            "bind_ip",
            &problem,
            "Write bind_ip = [\"192.0.2.10\", \"2001:db8::10\"]: addresses of this host the mail server listens on.",
        )
    })?;
    let policy = AccountPolicy::from_tables(table.remove("accounts"), table.remove("mapping"), table.remove("groups"))
        .map_err(|(key, problem)| {
            key_error(
                &name,
                &key,
                &format!("{problem}."),
                "See the accounts page of the docs (docs/src/accounts.md) for the keys and their values.",
            )
        })?;
    let userdb = match table.remove("userdb") {
        None => Userdb::default(),
        Some(toml::Value::Table(t)) => Userdb::from_table(t).map_err(|(key, problem)| {
            key_error(
                &name,
                &format!("userdb.{key}"),
                &problem,
                "Write userdb values as strings or numbers; templates may use %u (login@domain), %n (login), \
                 %d (domain) and %%.",
            )
        })?,
        Some(_) => {
            return Err(key_error(&name, "userdb", "expected a table.", "Write [domain.userdb] with home = \"…\"."));
        }
    };
    let lockout = LockoutConfig::from_value(table.remove("lockout")).map_err(|(key, problem)| {
        key_error(
            &name,
            &key,
            &format!("{problem}."),
            "Write [domain.lockout] with threshold = 5 and window = \"30m\".",
        )
    })?;
    debug_assert!(HOST_KEYS.iter().all(|k| !table.contains_key(*k)));
    let settings = serde_json::to_value(&table).map_err(|err| {
        key_error(
            &name,
            "(section)",
            &format!("a value cannot be handed to the plugin: {err}."),
            "Use strings, numbers, booleans and lists.",
        )
    })?;
    Ok(DomainConfig {
        name,
        connector,
        enabled,
        display_name,
        login_suffixes,
        bind_ip,
        settings,
        policy,
        userdb,
        lockout,
    })
}

/// The `bind_ip` list: IPv4 or IPv6 addresses (IPv4-mapped IPv6 kept as IPv4), each once; the unspecified
/// address is refused, since no client connects to it.
fn bind_ips(value: Option<toml::Value>) -> Result<Vec<IpAddr>, String> {
    let items = match value {
        None => return Ok(Vec::new()),
        Some(toml::Value::Array(items)) => items,
        Some(other) => return Err(format!("expected a list of IP addresses, found {}.", a_type(other.type_str()))),
    };
    let mut ips: Vec<IpAddr> = Vec::with_capacity(items.len());
    for item in items {
        let toml::Value::String(text) = item else {
            return Err(format!("expected a list of IP addresses, found {} in it.", a_type(item.type_str())));
        };
        let ip = text
            .trim()
            .parse::<IpAddr>()
            .map_err(|_| format!("`{text}` is not an IP address (IPv4 like 192.0.2.10 or IPv6 like 2001:db8::10)."))?
            .to_canonical();
        if ip.is_unspecified() {
            return Err(format!("`{text}` is the unspecified address; a client always arrives at a real one."));
        }
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    Ok(ips)
}

/// `DC=kasm,DC=core` serves `kasm.core`: the DC components of a search base, in order.
pub fn domain_from_base(base: &str) -> Option<String> {
    let parts = dirconn_abi::dc_components(base);
    (!parts.is_empty()).then(|| parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HostConfig, Error> {
        HostConfig::parse(Path::new("/etc/dirconn/dirconn.toml"), text)
    }

    #[test]
    fn syntax_errors_never_quote_the_line() {
        let err = parse("[[domain]]\nname = \"a.org\"\nbind_password = \"s3cret\"\nbind_password = \"s3cret\"\n")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 4") && !text.contains("s3cret"), "{text}");
    }

    #[test]
    fn a_search_base_names_the_domain() {
        assert_eq!(domain_from_base("OU=Staff,DC=kasm,DC=core").as_deref(), Some("kasm.core"));
        assert_eq!(domain_from_base("ou=people,o=corp"), None);
        let c = parse("[[domain]]\nconnector = \"ldap\"\nsearch_base = \"DC=kasm,DC=core\"\n").unwrap();
        assert_eq!(c.domains[0].name, "kasm.core");
        assert_eq!(c.domains[0].settings["search_base"], "DC=kasm,DC=core");
        assert_eq!(c.plugin_dir, PathBuf::from("/etc/dirconn/plugins"));
    }

    #[test]
    fn relative_store_paths_are_resolved_in_every_spelling() {
        for (store, resolved) in [
            ("", "/etc/dirconn/accounts.db"),
            ("store = \"db/a.db\"\n", "/etc/dirconn/db/a.db"),
            ("store = \"sqlite:a.db\"\n", "sqlite:///etc/dirconn/a.db"),
            ("store = \"sqlite://a.db?mode=rwc\"\n", "sqlite:///etc/dirconn/a.db?mode=rwc"),
            ("store = \"sqlite:///var/lib/a.db\"\n", "sqlite:///var/lib/a.db"),
            ("store = \"postgres://u@h/d\"\n", "postgres://u@h/d"),
        ] {
            assert_eq!(parse(store).unwrap().store, resolved, "{store}");
        }
    }

    #[test]
    fn errors_name_the_file_the_domain_and_the_key() {
        let err = parse("[[domain]]\nname = \"example.org\"\nsearch_base = \"dc=x\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("dirconn.toml") && text.contains("example.org") && text.contains("connector"), "{text}");
        let err = parse("plugin_dri = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("plugin_dri"), "{err}");
        let err =
            parse("[[domain]]\nname=\"a.org\"\nconnector=\"ldap\"\n[[domain]]\nname=\"A.org\"\nconnector=\"ldap\"\n")
                .unwrap_err();
        assert_eq!(err.code(), "DC-004");
        let err = parse("[[domain]]\nconnector = \"ldap\"\nsearch_base = \"o=corp\"\n").unwrap_err();
        assert_eq!(err.code(), "DC-003");
        let err = parse("default_domain = \"b.org\"\n[[domain]]\nname=\"a.org\"\nconnector=\"ldap\"\n").unwrap_err();
        assert_eq!(err.code(), "DC-002");
        let err = parse("[[domain\n").unwrap_err();
        assert!(err.to_string().contains("line"), "{err}");
    }

    #[test]
    fn a_login_suffix_routes_to_one_domain() {
        let two = |a: &str, b: &str| {
            format!(
                "[[domain]]\nname=\"a.org\"\nconnector=\"ldap\"\nlogin_suffixes={a}\n\
                 [[domain]]\nname=\"b.org\"\nconnector=\"ldap\"\nlogin_suffixes={b}\n"
            )
        };
        let c = parse(&two(r#"["Corp.A.org"]"#, r#"["corp.b.org"]"#)).unwrap();
        assert_eq!(c.domains[0].login_suffixes, ["corp.a.org"]);
        let err = parse(&two(r#"["corp.a.org"]"#, r#"["corp.a.org"]"#)).unwrap_err();
        assert!(err.to_string().contains("login_suffixes") && err.to_string().contains("too"), "{err}");
        let err = parse(&two(r#"["b.org"]"#, "[]")).unwrap_err();
        assert!(err.to_string().contains("is the name of domain b.org"), "{err}");
        let err = parse(&two(r#"["x@y"]"#, "[]")).unwrap_err();
        assert!(err.to_string().contains("login_suffixes"), "{err}");
    }

    fn two_bound(a: &str, b: &str) -> Result<HostConfig, Error> {
        parse(&format!(
            "[[domain]]\nname=\"a.org\"\nconnector=\"ldap\"\nbind_ip={a}\n\
             [[domain]]\nname=\"b.org\"\nconnector=\"ldap\"\nbind_ip={b}\n"
        ))
    }

    #[test]
    fn bind_ip_parses_ipv4_and_ipv6() {
        let c = two_bound(r#"["192.0.2.10", " 2001:DB8::10 ", "::ffff:127.0.0.2", "192.0.2.10"]"#, "[]").unwrap();
        let ips: Vec<IpAddr> = ["192.0.2.10", "2001:db8::10", "127.0.0.2"].iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(c.domains[0].bind_ip, ips, "mapped IPv6 kept as IPv4, duplicates once");
        assert!(c.domains[1].bind_ip.is_empty());
        assert!(!c.domains[0].settings.as_object().unwrap().contains_key("bind_ip"), "a host key, not the plugin's");
        let c = parse("[[domain]]\nname=\"a.org\"\nconnector=\"ldap\"\n").unwrap();
        assert!(c.domains[0].bind_ip.is_empty());
    }

    #[test]
    fn a_bad_bind_ip_names_the_key() {
        for bad in
            [r#"["192.0.2.300"]"#, r#"["fe80::1%eth0"]"#, r#""192.0.2.10""#, "[10]", r#"["0.0.0.0"]"#, r#"["::"]"#]
        {
            let err = two_bound(bad, "[]").unwrap_err();
            let text = err.to_string();
            assert_eq!(err.code(), "DC-003", "{bad}: {text}");
            assert!(text.contains("bind_ip") && text.contains("a.org") && text.contains("Fix"), "{bad}: {text}");
        }
        let err = two_bound(r#"["not-an-ip"]"#, "[]").unwrap_err();
        assert!(err.to_string().contains("`not-an-ip` is not an IP address"), "{err}");
    }

    #[test]
    fn an_address_binds_one_domain() {
        assert!(two_bound(r#"["192.0.2.10"]"#, r#"["192.0.2.11", "2001:db8::10"]"#).is_ok());
        for (a, b, ip) in [
            (r#"["192.0.2.10"]"#, r#"["192.0.2.11", "192.0.2.10"]"#, "192.0.2.10"),
            (r#"["2001:db8::10"]"#, r#"["2001:0db8:0:0::10"]"#, "2001:db8::10"),
            (r#"["127.0.0.2"]"#, r#"["::ffff:127.0.0.2"]"#, "127.0.0.2"),
        ] {
            let err = two_bound(a, b).unwrap_err();
            let text = err.to_string();
            assert_eq!(err.code(), "DC-003", "{text}");
            assert!(text.contains(&format!("{ip} is bound to domain a.org too")), "{text}");
            assert!(text.contains("b.org") && text.contains("bind_ip"), "{text}");
        }
    }
}
