//! A domain's LDAP settings: parsed from the host's JSON, validated, secrets resolved.

use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

use std::sync::Arc;

use crate::{Error, LdapUrl, dialect::Dialect, escape};

/// The defaults a connector kind gives its settings: data its plugin crate owns (each plugin writes one
/// constant), with the dialect that does what the kind does its own way.
#[derive(Debug, Clone, Copy)]
pub struct LdapDefaults {
    /// The connector kind these are the defaults of (`connector = "ldap"`).
    pub kind: &'static str,
    /// Makes the domain's dialect (one instance per domain: AD's remembers what it learns).
    pub dialect: fn() -> Arc<dyn Dialect>,
    /// The user filter.
    pub user_filter: &'static str,
    /// The attribute that holds the login.
    pub login_attribute: &'static str,
    /// The attribute that holds the stable key.
    pub id_attribute: &'static str,
    /// The attribute that holds the email address.
    pub email_attribute: &'static str,
    /// The attribute that holds the display name.
    pub display_name_attribute: &'static str,
    /// The attribute that lists the user's groups, if the server keeps one.
    pub member_of_attribute: &'static str,
    /// The filter that finds groups.
    pub group_object_filter: &'static str,
    /// How a user's groups are found.
    pub group_membership: GroupMembership,
}

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The secret itself, for the bind.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The settings table of a domain, as written in the configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    url: Option<String>,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    starttls: bool,
    ca_file: Option<PathBuf>,
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    connect_timeout: Duration,
    #[serde(default = "default_operation_timeout", with = "humantime_serde")]
    operation_timeout: Duration,
    #[serde(default = "default_pool_size")]
    pool_size: usize,
    bind_dn: Option<String>,
    bind_password_file: Option<PathBuf>,
    bind_password_env: Option<String>,
    bind_password: Option<String>,
    search_base: String,
    #[serde(default = "yes")]
    subtree: bool,
    user_filter: Option<String>,
    group_filter: Option<String>,
    group_base: Option<String>,
    login_attribute: Option<String>,
    id_attribute: Option<String>,
    email_attribute: Option<String>,
    display_name_attribute: Option<String>,
    member_of_attribute: Option<String>,
    #[serde(default)]
    attributes: Vec<String>,
    group_object_filter: Option<String>,
    #[serde(default = "default_nested_group_depth")]
    nested_group_depth: u32,
    sync_filter: Option<String>,
    #[serde(default = "default_page_size")]
    page_size: u32,
    group_membership: Option<GroupMembership>,
    nt_domain: Option<String>,
    upn_suffixes: Option<Vec<String>>,
    range_size: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    full_sync_interval: Option<Duration>,
    #[serde(default = "default_group_cache_ttl", with = "humantime_serde")]
    group_cache_ttl: Duration,
    #[serde(default = "default_service_bind_backoff", with = "humantime_serde")]
    service_bind_backoff: Duration,
    password_check: Option<crate::check::CheckKind>,
    kerberos_realm: Option<String>,
    kdc: Option<Vec<String>>,
    kdc_udp: Option<bool>,
    #[serde(default, with = "humantime_serde")]
    kdc_timeout: Option<Duration>,
    kdc_max_concurrent: Option<usize>,
    keytab: Option<PathBuf>,
    service_principal: Option<String>,
    kerberos_principal: Option<String>,
    kerberos_validate: Option<bool>,
    pam_service: Option<String>,
    pam_confdir: Option<PathBuf>,
    pam_max_concurrent: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    pam_timeout: Option<Duration>,
}

/// How a user's groups are found (`group_membership`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupMembership {
    /// The user's memberOf values, plus the groups naming the user in member / uniqueMember / memberUid, and
    /// their parents up to `nested_group_depth`: complete, at the cost of one search per login (and per
    /// nesting level), and one listing of the groups per sync.
    #[default]
    Search,
    /// The user's memberOf values only, as the server keeps them: no search, no nesting beyond what the
    /// server puts there (OpenLDAP's memberof overlay: direct groupOfNames membership).
    MemberOf,
    /// Active Directory: one search with the matching rule in chain (1.2.840.113556.1.4.1941) gives every
    /// group, nested ones included, plus the primary group; a walk like `search` where the rule is missing.
    /// Costly on the server: it expands every group's members to prove a negative (Samba: 190 ms per login
    /// next to a 1,600-member group, measured).
    Chain,
    /// The user's memberOf values (and AD's primary group), then each group's own memberOf, upward to
    /// `nested_group_depth`; the group → parent links are kept for `group_cache_ttl`. Direct membership is
    /// read fresh at every login, in the user search; with warm links a login costs no group search. A sync
    /// walks the same graph from one listing of the groups' memberOf. The Active Directory default; on other
    /// servers it needs a maintained memberOf (OpenLDAP's memberof overlay, 389 DS's memberOf plug-in), and
    /// sees only the groups that memberOf covers (with OpenLDAP's overlay: groupOfNames, not
    /// groupOfUniqueNames or posixGroup), which is why generic LDAP keeps `search` as its default.
    NestedMemberOf,
}

impl GroupMembership {
    /// The value as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupMembership::Search => "search",
            GroupMembership::MemberOf => "member-of",
            GroupMembership::Chain => "chain",
            GroupMembership::NestedMemberOf => "nested-member-of",
        }
    }
}

/// Groups of the usual schemas: RFC 4519 groupOfNames / groupOfUniqueNames and RFC 2307 posixGroup.
pub const DEFAULT_GROUP_OBJECT_FILTER: &str =
    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))";

fn default_nested_group_depth() -> u32 {
    10
}
fn default_page_size() -> u32 {
    500
}
fn default_group_cache_ttl() -> Duration {
    Duration::from_secs(300)
}
fn default_service_bind_backoff() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_range_size() -> u32 {
    1500
}
fn default_full_sync_interval() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_operation_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_pool_size() -> usize {
    8
}
fn yes() -> bool {
    true
}

/// A domain's validated LDAP settings.
#[derive(Debug, Clone)]
pub struct LdapSettings {
    /// The mail domain served.
    pub domain: String,
    /// Server URLs, tried in order (failover).
    pub urls: Vec<LdapUrl>,
    /// Upgrade `ldap://` connections with StartTLS.
    pub starttls: bool,
    /// The CA certificates (PEM) to trust; the system's roots when absent.
    pub ca_file: Option<PathBuf>,
    /// Limit for TCP connect plus TLS handshake.
    pub connect_timeout: Duration,
    /// Limit for each LDAP operation.
    pub operation_timeout: Duration,
    /// Service connections kept open.
    pub pool_size: usize,
    /// The service account.
    pub bind_dn: String,
    /// The service account's password.
    pub bind_password: Secret,
    /// The file it was read from (`bind_password_file`), read again while service binds are held back.
    pub bind_password_file: Option<PathBuf>,
    /// How long binds with a service secret the directory rejected are held back at first; after a second
    /// rejection, a day (`service_bind_backoff`).
    pub service_bind_backoff: Duration,
    /// Where users are searched.
    pub search_base: String,
    /// Whole subtree (true) or one level under the base.
    pub subtree: bool,
    /// The user filter template.
    pub user_filter: String,
    /// The group filter template, if groups are searched (else the member-of attribute is read).
    pub group_filter: Option<String>,
    /// Where groups are searched, as given (see [`LdapSettings::group_base`] for the one used).
    pub group_base: Option<String>,
    /// [`LdapSettings::group_base`], resolved once.
    resolved_group_base: String,
    /// The attribute that holds the login.
    pub login_attribute: String,
    /// The attribute that holds the stable key.
    pub id_attribute: String,
    /// The attribute that holds the email address.
    pub email_attribute: String,
    /// The attribute that holds the display name.
    pub display_name_attribute: String,
    /// The attribute that lists the user's groups.
    pub member_of_attribute: String,
    /// Extra attributes to read (all user attributes are read anyway).
    pub attributes: Vec<String>,
    /// The filter that finds groups (`group_object_filter`), for membership and nesting.
    pub group_object_filter: String,
    /// How many levels of nested groups are followed above a user's direct groups (0: direct only).
    pub nested_group_depth: u32,
    /// The filter a sync lists users with (`sync_filter`, default: the user filter matching every login).
    pub sync_filter: Option<String>,
    /// Entries per page of a full sync.
    pub page_size: u32,
    /// How a user's groups are found.
    pub group_membership: GroupMembership,
    /// The connector kind (`ldap`, `active-directory`, `open-directory`).
    pub kind: &'static str,
    /// What the kind does its own way.
    pub dialect: Arc<dyn Dialect>,
    /// AD: the NT (NetBIOS) domain name accepted in `DOMAIN\user` logins.
    pub nt_domain: String,
    /// AD: the UPN and mail suffixes whose `user@suffix` logins also match on sAMAccountName (the mail
    /// domain and the DNS name of the search base's domain always do).
    pub upn_suffixes: Vec<String>,
    /// AD: values asked for per read of a large multi-valued attribute (`member;range=0-1499`).
    pub range_size: u32,
    /// AD: the longest time between full sync passes (deletions and moves out of scope are seen then).
    pub full_sync_interval: Duration,
    /// How long a group's parent groups are remembered at login (`nested-member-of`; zero: never).
    pub group_cache_ttl: Duration,
    /// What checks passwords (`password_check`): a bind, the Kerberos realm or a PAM service.
    pub password_check: crate::PasswordCheck,
}

impl LdapSettings {
    /// Where groups are searched: `group_base`, else the naming context (groups rarely live beside
    /// users), under the dialect's group container if it has one (`cn=groups` on Open Directory).
    pub fn group_base(&self) -> &str {
        &self.resolved_group_base
    }

    fn resolve_group_base(&self) -> String {
        if let Some(base) = &self.group_base {
            return base.clone();
        }
        match self.dialect.group_container() {
            Some(container) => format!("{container},{}", self.naming_context()),
            None => self.naming_context(),
        }
    }

    /// The `dc=` suffix of the search base (its naming context, as a rule), else the search base.
    pub fn naming_context(&self) -> String {
        let Some(parts) = dirconn_abi::split_rdns(&self.search_base) else { return self.search_base.clone() };
        let is_dc = |rdn: &str| dirconn_abi::dc_components(rdn).len() == 1;
        match parts.iter().position(|p| is_dc(p)) {
            Some(i) if parts[i..].iter().all(|p| is_dc(p)) => parts[i..].join(","),
            _ => self.search_base.clone(),
        }
    }

    /// Parses and validates a domain's settings (the JSON the host sends), resolving relative paths against
    /// `config_dir` and reading the service password from its file or environment variable.
    pub fn from_json(
        domain: &str,
        json: &str,
        config_dir: &Path,
        defaults: LdapDefaults,
    ) -> Result<LdapSettings, Error> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let dialect = (defaults.dialect)();
        if let Ok(serde_json::Value::Object(given)) = serde_json::from_str::<serde_json::Value>(json) {
            let refused = given.keys().filter_map(|name| crate::keys::key(name)).find(|k| !k.accepted_by(&*dialect));
            if let Some(key) = refused {
                return Err(only_for(key.name, key.only.unwrap_or(defaults.kind)));
            }
        }
        let raw: Raw = serde_path_to_error::deserialize(de).map_err(|err| {
            let mut key = err.path().to_string();
            let inner = err.into_inner().to_string();
            let inner = inner.split(" at line").next().unwrap_or(&inner).to_owned();
            // serde reports a missing key at the section's path; name the key itself.
            if let Some(missing) = inner.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
                key = missing.to_owned();
            }
            Error::config(
                "DC-101",
                if key == "." { "(section)" } else { &key },
                inner,
                "Fix or remove that key; the configuration page of the docs lists every key with its type.",
            )
        })?;
        Self::validate(domain, raw, config_dir, defaults, dialect)
    }

    fn validate(
        domain: &str,
        raw: Raw,
        config_dir: &Path,
        d: LdapDefaults,
        dialect: Arc<dyn Dialect>,
    ) -> Result<LdapSettings, Error> {
        let mut url_texts = raw.urls;
        if let Some(url) = raw.url {
            url_texts.insert(0, url);
        }
        if url_texts.is_empty() {
            return Err(Error::config(
                "DC-103",
                "urls",
                "no directory URL is given",
                "Add urls = [\"ldaps://dc1.example.org:636\"] (several for failover).",
            ));
        }
        let urls = url_texts.iter().map(|u| LdapUrl::parse(u)).collect::<Result<Vec<_>, _>>()?;
        if raw.starttls && urls.iter().any(|u| u.ldaps) {
            return Err(Error::config(
                "DC-110",
                "starttls",
                "starttls = true applies to ldap:// URLs, but an ldaps:// URL is listed",
                "Use either ldaps:// URLs or ldap:// URLs with starttls = true, not both.",
            ));
        }
        let bind_dn = raw.bind_dn.unwrap_or_default();
        if bind_dn.trim().is_empty() {
            return Err(Error::config(
                "DC-105",
                "bind_dn",
                "no service account is given; anonymous binds are refused",
                "Set bind_dn to a service account allowed to read users, and its password in bind_password_file.",
            ));
        }
        let bind_password_file = raw.bind_password_file.as_deref().map(|p| config_dir.join(p));
        let bind_password =
            resolve_password(bind_password_file.clone(), raw.bind_password_env, raw.bind_password, domain)?;
        if raw.search_base.trim().is_empty() || !raw.search_base.contains('=') {
            return Err(Error::config(
                "DC-109",
                "search_base",
                format!("`{}` is not a DN", raw.search_base),
                "Set search_base to a DN such as ou=people,dc=example,dc=org.",
            ));
        }
        let user_filter = raw.user_filter.unwrap_or_else(|| d.user_filter.to_owned());
        if !["{login}", "{user}", "{email}"].iter().any(|p| user_filter.contains(p)) {
            return Err(Error::config(
                "DC-107",
                "user_filter",
                format!(
                    "`{user_filter}` has no {{login}}, {{user}} or {{email}} placeholder, so it cannot find one user"
                ),
                "Write the filter with the placeholder, e.g. (&(objectClass=inetOrgPerson)(uid={login})).",
            ));
        }
        escape::check_template(&user_filter).map_err(|problem| {
            Error::config(
                "DC-107",
                "user_filter",
                format!("`{user_filter}`: {problem}"),
                "Write a filter such as (&(objectClass=inetOrgPerson)(uid={login})).",
            )
        })?;
        if let Some(group_filter) = &raw.group_filter {
            escape::check_template(group_filter).map_err(|problem| {
                Error::config(
                    "DC-108",
                    "group_filter",
                    format!("`{group_filter}`: {problem}"),
                    "Write a filter such as (&(objectClass=groupOfNames)(member={dn})).",
                )
            })?;
        }
        if raw.pool_size == 0 || raw.pool_size > 256 {
            return Err(Error::config(
                "DC-101",
                "pool_size",
                format!("{} is out of range", raw.pool_size),
                "Use a pool size from 1 to 256 (8 is a good start).",
            ));
        }
        for (key, value) in [("connect_timeout", raw.connect_timeout), ("operation_timeout", raw.operation_timeout)] {
            if value.is_zero() {
                return Err(Error::config(
                    "DC-101",
                    key,
                    "a zero timeout would fail every request",
                    "Use e.g. \"5s\".",
                ));
            }
        }
        for (key, filter) in [("group_object_filter", &raw.group_object_filter), ("sync_filter", &raw.sync_filter)] {
            if let Some(filter) = filter {
                escape::check_template(filter).map_err(|problem| {
                    Error::config(
                        "DC-108",
                        key,
                        format!("`{filter}`: {problem}"),
                        "Write a complete LDAP filter in parentheses, e.g. (objectClass=inetOrgPerson).",
                    )
                })?;
            }
        }
        if raw.service_bind_backoff.is_zero() || raw.service_bind_backoff > crate::guard::MAX_BACKOFF {
            return Err(Error::config(
                "DC-101",
                "service_bind_backoff",
                format!("{} is out of range", humantime::format_duration(raw.service_bind_backoff)),
                "Use a back-off from 1s to 24h (the default, \"15m\", tries a rejected password once more \
                 after 15 minutes, then once a day).",
            ));
        }
        if raw.nested_group_depth > 64 {
            return Err(Error::config(
                "DC-101",
                "nested_group_depth",
                format!("{} is out of range", raw.nested_group_depth),
                "Use a depth from 0 (direct groups only) to 64; 10 covers real directories.",
            ));
        }
        // `chain` rests on AD's matching rule in chain.
        if let Some(m) = raw.group_membership
            && !crate::dialect::allows_membership(&*dialect, m)
        {
            return Err(only_for("group_membership", "active-directory"));
        }
        let range_size = raw.range_size.unwrap_or_else(default_range_size);
        if !(10..=100_000).contains(&range_size) {
            return Err(Error::config(
                "DC-101",
                "range_size",
                format!("{range_size} is out of range"),
                "Use a range size from 10 to 100000; AD returns 1500 values at most (MaxValRange).",
            ));
        }
        if let Some(max) = dialect.max_page_size()
            && raw.page_size > max
        {
            tracing::warn!(
                domain,
                page_size = raw.page_size,
                max,
                "the directory returns fewer entries per page (its MaxPageSize); pages will be smaller"
            );
        }
        let dns_domain = dns_domain_of(&raw.search_base);
        let nt_domain = match raw.nt_domain {
            Some(name) if name.trim().is_empty() || name.contains(['\\', '@', '.', ' ']) => {
                return Err(Error::config(
                    "DC-101",
                    "nt_domain",
                    format!("`{name}` is not an NT domain name"),
                    "Set nt_domain to the domain's NetBIOS name, e.g. \"EXAMPLE\" (`dirconn test-connection` shows it).",
                ));
            }
            Some(name) => name,
            None => dns_domain.split('.').next().unwrap_or_default().to_ascii_uppercase(),
        };
        let mut upn_suffixes: Vec<String> = vec![domain.to_ascii_lowercase()];
        if !dns_domain.is_empty() {
            upn_suffixes.push(dns_domain);
        }
        let extra = raw.upn_suffixes.unwrap_or_default();
        upn_suffixes.extend(extra.iter().map(|x| x.trim().trim_start_matches('@').to_ascii_lowercase()));
        upn_suffixes.sort();
        upn_suffixes.dedup();
        if raw.page_size == 0 || raw.page_size > 100_000 {
            return Err(Error::config(
                "DC-101",
                "page_size",
                format!("{} is out of range", raw.page_size),
                "Use a page size from 1 to 100000 (500 suits most servers; AD caps pages at 1000).",
            ));
        }
        let password_check = crate::check::CheckKeys {
            password_check: raw.password_check,
            kerberos_realm: raw.kerberos_realm,
            kdc: raw.kdc,
            kdc_udp: raw.kdc_udp,
            kdc_timeout: raw.kdc_timeout,
            kdc_max_concurrent: raw.kdc_max_concurrent,
            keytab: raw.keytab,
            service_principal: raw.service_principal,
            kerberos_principal: raw.kerberos_principal,
            kerberos_validate: raw.kerberos_validate,
            pam_service: raw.pam_service,
            pam_confdir: raw.pam_confdir,
            pam_max_concurrent: raw.pam_max_concurrent,
            pam_timeout: raw.pam_timeout,
        }
        .build(crate::check::Context {
            kerberos: dialect.kerberos_defaults(),
            urls: &urls,
            dns_domain: &dns_domain_of(&raw.search_base),
            config_dir,
        })?;
        let ca_file = raw.ca_file.map(|p| config_dir.join(p));
        if let Some(path) = &ca_file
            && !path.is_file()
        {
            return Err(Error::config(
                "DC-106",
                "ca_file",
                format!("{} is not a readable file", path.display()),
                "Point ca_file at the PEM file of the CA that signed the directory's certificate.",
            ));
        }
        let mut settings = LdapSettings {
            domain: domain.to_owned(),
            urls,
            starttls: raw.starttls,
            ca_file,
            connect_timeout: raw.connect_timeout,
            operation_timeout: raw.operation_timeout,
            pool_size: raw.pool_size,
            bind_dn,
            bind_password,
            bind_password_file,
            service_bind_backoff: raw.service_bind_backoff,
            search_base: raw.search_base,
            subtree: raw.subtree,
            user_filter,
            group_filter: raw.group_filter,
            group_base: raw.group_base,
            resolved_group_base: String::new(),
            login_attribute: raw.login_attribute.unwrap_or_else(|| d.login_attribute.to_owned()),
            id_attribute: raw.id_attribute.unwrap_or_else(|| d.id_attribute.to_owned()),
            email_attribute: raw.email_attribute.unwrap_or_else(|| d.email_attribute.to_owned()),
            display_name_attribute: raw.display_name_attribute.unwrap_or_else(|| d.display_name_attribute.to_owned()),
            member_of_attribute: raw.member_of_attribute.unwrap_or_else(|| d.member_of_attribute.to_owned()),
            attributes: raw.attributes,
            group_object_filter: raw.group_object_filter.unwrap_or_else(|| d.group_object_filter.to_owned()),
            nested_group_depth: raw.nested_group_depth,
            sync_filter: raw.sync_filter,
            page_size: raw.page_size,
            group_membership: raw.group_membership.unwrap_or(d.group_membership),
            kind: d.kind,
            dialect,
            nt_domain,
            upn_suffixes,
            range_size,
            full_sync_interval: raw.full_sync_interval.unwrap_or_else(default_full_sync_interval),
            group_cache_ttl: raw.group_cache_ttl,
            password_check,
        };
        settings.resolved_group_base = settings.resolve_group_base();
        Ok(settings)
    }
}

/// A key (or value) given to a connector that does not use it.
fn only_for(key: &str, kind: &str) -> Error {
    Error::config(
        "DC-101",
        key,
        format!("this key (or value) applies to `{kind}` domains only"),
        format!("Remove it, or set connector = \"{kind}\" if the directory is one."),
    )
}

/// The DNS name of the domain a DN lies in, from its `dc=` parts: `ou=x,DC=example,DC=test` →
/// `example.test` (empty when it has none).
pub fn dns_domain_of(dn: &str) -> String {
    dirconn_abi::dc_components(dn).join(".")
}

/// The service password in a `bind_password_file`: its content without trailing line breaks (other white
/// space is kept). Read when the settings load, and again by the service-bind guard while it holds binds.
pub(crate) fn read_password_file(path: &Path) -> std::io::Result<String> {
    Ok(std::fs::read_to_string(path)?.trim_end_matches(['\n', '\r']).to_owned())
}

fn resolve_password(
    file: Option<PathBuf>,
    env: Option<String>,
    inline: Option<String>,
    domain: &str,
) -> Result<Secret, Error> {
    let given: Vec<&'static str> = [
        file.as_ref().map(|_| "bind_password_file"),
        env.as_ref().map(|_| "bind_password_env"),
        inline.as_ref().map(|_| "bind_password"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let sources = "Give exactly one of bind_password_file (preferred), bind_password_env or bind_password.";
    let key = match given.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::config(
                "DC-104",
                "bind_password_file",
                "the service account has no password source",
                sources,
            ));
        }
        several => {
            let problem = format!("more than one password source is given ({})", several.join(", "));
            return Err(Error::config("DC-104", several[1], problem, sources));
        }
    };
    let password = if let Some(path) = file {
        read_password_file(&path).map_err(|err| {
            Error::config(
                "DC-104",
                key,
                format!("{} cannot be read: {err}", path.display()),
                "Create the file with the service password, readable by the dirconn user only (mode 0600).",
            )
        })?
    } else if let Some(var) = env {
        std::env::var(&var).map_err(|_| {
            Error::config(
                "DC-104",
                key,
                format!("the environment variable {var} is not set"),
                "Set it in the service's environment, or use bind_password_file.",
            )
        })?
    } else {
        tracing::warn!(
            domain,
            "the service password is written inline in the configuration; prefer bind_password_file"
        );
        inline.unwrap_or_default()
    };
    if password.is_empty() {
        return Err(Error::config(
            "DC-104",
            key,
            "the service password is empty (that would be an anonymous bind)",
            "Put the service account's password in the file or variable.",
        ));
    }
    Ok(Secret::new(password))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<LdapSettings, Error> {
        LdapSettings::from_json("example.org", json, Path::new("/nonexistent"), crate::dialect::generic::TEST_DEFAULTS)
    }

    #[test]
    fn a_minimal_domain_gets_the_defaults() {
        let s = parse(
            r#"{"urls":["ldap://127.0.0.1:389"],"bind_dn":"cn=svc,dc=x","bind_password":"pw","search_base":"dc=x"}"#,
        )
        .unwrap();
        assert_eq!(s.user_filter, crate::dialect::generic::TEST_DEFAULTS.user_filter);
        assert_eq!(s.connect_timeout, Duration::from_secs(5));
        assert_eq!(s.service_bind_backoff, Duration::from_secs(900));
        assert!(s.subtree);
        assert_eq!(format!("{:?}", s.bind_password), "<redacted>");
    }

    #[test]
    fn group_base_is_the_dc_suffix() {
        let base = |b: &str| {
            parse(&format!(r#"{{"urls":["ldap://h"],"bind_dn":"cn=s","bind_password":"p","search_base":"{b}"}}"#))
                .unwrap()
                .group_base()
                .to_owned()
        };
        assert_eq!(base("ou=people, DC=example,dc=org"), "DC=example,dc=org");
        assert_eq!(base(r"ou=a\\,dc=x,dc=example,dc=org"), "dc=example,dc=org", "an escaped comma splits nothing");
        assert_eq!(base("ou=people,o=corp"), "ou=people,o=corp");
        assert_eq!(dns_domain_of(r"OU=x\,dc=no,DC=Example,DC=Test"), "example.test");
    }

    #[test]
    fn errors_name_the_key() {
        let err = parse(
            r#"{"urls":["ldap://h"],"bind_dn":"cn=s","bind_password":"p","search_base":"dc=x","user_filtr":"x"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("user_filtr"), "{err}");
        let err = parse(r#"{"urls":["ldap://h"],"bind_dn":"cn=s","bind_password":"p","search_base":"dc=x","connect_timeout":"soon"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("connect_timeout"), "{err}");
        let err = parse(r#"{"urls":["ldap://h"],"bind_password":"p","search_base":"dc=x"}"#).unwrap_err();
        assert_eq!(err.code(), "DC-105");
        let err = parse(r#"{"urls":["ldap://h"],"bind_dn":"cn=s","search_base":"dc=x"}"#).unwrap_err();
        assert_eq!(err.code(), "DC-104");
        let err = parse(r#"{"urls":["ldap://h"],"bind_dn":"cn=s","bind_password":"p","search_base":"dc=x","user_filter":"(uid=alice)"}"#)
            .unwrap_err();
        assert_eq!(err.code(), "DC-107");
        let err = parse(
            r#"{"urls":["ldaps://h"],"starttls":true,"bind_dn":"cn=s","bind_password":"p","search_base":"dc=x"}"#,
        )
        .unwrap_err();
        assert_eq!(err.code(), "DC-110");
        let err =
            parse(r#"{"urls":["ldap://h"],"bind_dn":"cn=s","bind_password":"p","search_base":"dc=x","nt_domain":"X"}"#)
                .unwrap_err();
        assert!(err.to_string().contains("`active-directory` domains only"), "{err}");
        let mode = |m: &str| {
            parse(&format!(
                r#"{{"urls":["ldap://h"],"bind_dn":"cn=s","bind_password":"p","search_base":"dc=x","group_membership":"{m}"}}"#
            ))
        };
        assert_eq!(mode("nested-member-of").unwrap().group_membership, GroupMembership::NestedMemberOf);
        assert!(mode("chain").unwrap_err().to_string().contains("`active-directory` domains only"));
        for bad in ["0s", "25h", "soon"] {
            let err = parse(&format!(
                r#"{{"urls":["ldap://h"],"bind_dn":"cn=s","bind_password":"p","search_base":"dc=x","service_bind_backoff":"{bad}"}}"#
            ))
            .unwrap_err();
            assert!(err.to_string().contains("service_bind_backoff"), "{bad}: {err}");
        }
        let err = parse(r#"{"urls":[],"bind_dn":"cn=s","bind_password":"p","search_base":"dc=x"}"#).unwrap_err();
        assert_eq!(err.code(), "DC-103");
        let err = parse(r#"{"urls":["ldap://h"],"bind_dn":"cn=s","bind_password":"p"}"#).unwrap_err();
        assert!(err.to_string().starts_with("Setting `search_base`"), "{err}");
        let err =
            parse(r#"{"urls":["ldap://h"],"bind_dn":"cn=s","bind_password":"","search_base":"dc=x"}"#).unwrap_err();
        assert!(err.to_string().starts_with("Setting `bind_password`"), "{err}");
    }
}
