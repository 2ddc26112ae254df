//! [`Directory`]: one domain's directory, with the login flow (search, then bind as the user), lookups,
//! attribute discovery and the effective filters.

use std::sync::Arc;

use abi_stable::std_types::{RString, RVec};
use dirconn_abi::{AttrValue, Attribute, AttributeReport, FilterReport, NamedValue, UserEntry, is_secret_attribute};
use ldap3::{LdapResult, Scope, SearchEntry};

use crate::{
    Error, GroupIndex, LdapSettings, LdapUrl, PasswordCheck, ad,
    conn::{Connector, Query},
    dialect::{Dialect, ad::COMPUTED_STATE},
    error::describe_result,
    escape::{self, TemplateValues},
    pool::ServicePool,
    sync::Reading,
};

/// Logins longer than this are refused before any network call.
const MAX_LOGIN_BYTES: usize = 256;

/// One domain's directory.
#[derive(Debug)]
pub struct Directory {
    pub(crate) connector: Arc<Connector>,
    pub(crate) pool: ServicePool,
    /// Normalized group DN → when read, and its parent groups (memberOf), for `nested-member-of`.
    pub(crate) group_parents: crate::groups::ParentCache,
    /// entryUUID → key of the entries seen since the last full pass, where keys are not entryUUIDs.
    pub(crate) sync_keys: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// A user entry found by the service account.
#[derive(Debug, Clone)]
pub struct UserFound {
    /// The entry, with every attribute read.
    pub entry: SearchEntry,
}

impl Directory {
    /// Prepares a domain's directory. No connection is made until the first operation.
    pub fn new(settings: LdapSettings) -> Result<Directory, Error> {
        let connector = Arc::new(Connector::new(Arc::new(settings))?);
        let s = &connector.settings;
        // As long as an opener may take: a bind on each URL in turn.
        let wait = s.operation_timeout + s.connect_timeout * u32::try_from(s.urls.len()).unwrap_or(1);
        let pool = ServicePool::new(s.pool_size, wait);
        Ok(Directory { connector, pool, group_parents: Default::default(), sync_keys: Default::default() })
    }

    /// The domain's settings.
    pub fn settings(&self) -> &LdapSettings {
        &self.connector.settings
    }

    /// The domain's dialect: what its directory kind does its own way.
    pub fn dialect(&self) -> &dyn Dialect {
        &*self.connector.settings.dialect
    }

    pub(crate) fn scope(&self) -> Scope {
        if self.settings().subtree { Scope::Subtree } else { Scope::OneLevel }
    }

    /// The attributes read from a user's entry.
    pub(crate) fn user_attributes(&self) -> Vec<String> {
        let s = self.settings();
        let mut attrs = vec!["*".to_owned(), s.id_attribute.clone(), s.member_of_attribute.clone()];
        attrs.extend(self.state_attributes().iter().map(|a| (*a).to_owned()));
        attrs.extend(s.attributes.iter().cloned());
        attrs
    }

    /// The attributes the account state is read from (some are operational: never in `*`).
    pub(crate) fn state_attributes(&self) -> &'static [&'static str] {
        self.dialect().state_attributes()
    }

    /// A login as the filter sees it: `(login, user)`, where `user` is the account part when the login
    /// names this domain in the dialect's own forms (AD: `EXAMPLE\alice`, `alice@example.org`), else the
    /// login itself.
    pub fn login_form<'a>(&self, login: &'a str) -> Result<(&'a str, &'a str), Error> {
        self.dialect().login_form(self.settings(), login)
    }

    /// Fills the user filter for a login.
    pub fn user_filter_for(&self, login: &str) -> String {
        let s = self.settings();
        let (login, user) = self.login_form(login).unwrap_or((login, login));
        escape::fill(&s.user_filter, TemplateValues { login, user, domain: &s.domain, dn: "" })
    }

    /// Searches with the service account, retrying once on a fresh connection when a pooled one has gone
    /// stale (server restarted, idle timeout, failover).
    pub async fn service_search(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[String],
        size_limit: i32,
        what: &str,
    ) -> Result<(Vec<SearchEntry>, LdapResult), Error> {
        let query = Query { base, scope, filter, attrs, size_limit, what };
        let query = &query;
        self.with_service(true, |mut ldap, url| async move { self.connector.search(&mut ldap, &url, query).await })
            .await
    }

    /// Runs `op` on a service connection of the pool (shared with the operations in flight beside it). With
    /// `retry`, once more on a fresh connection when the pooled one has gone stale (server restarted, idle
    /// timeout, failover): only for operations that may run twice.
    pub(crate) async fn with_service<T, F, Fut>(&self, retry: bool, mut op: F) -> Result<T, Error>
    where
        F: FnMut(ldap3::Ldap, LdapUrl) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (ldap, lease) = self.pool.get(&self.connector).await?;
            let url = self.connector.preferred_url().clone();
            match op(ldap, url).await {
                Ok(found) => return Ok(found),
                Err(err) => {
                    // A connection an operation failed or timed out on is not handed out again.
                    self.pool.discard(lease);
                    if retry && attempt == 1 && matches!(err, Error::Closed { .. }) {
                        tracing::debug!(error = %err, "pooled service connection was stale; retrying on a new one");
                        continue;
                    }
                    return Err(err);
                }
            }
        }
    }

    /// Finds the one entry matching a login, with the service account.
    pub async fn find_user(&self, login: &str) -> Result<UserFound, Error> {
        self.find_user_with(login, &self.user_attributes()).await
    }

    /// Finds the one entry matching a login, reading `attrs`.
    async fn find_user_with(&self, login: &str, attrs: &[String]) -> Result<UserFound, Error> {
        validate_login(login)?;
        self.login_form(login)?;
        let s = self.settings();
        let filter = self.user_filter_for(login);
        let (mut entries, result) =
            self.service_search(&s.search_base, self.scope(), &filter, attrs, 2, "user search").await?;
        match result.rc {
            0 | 4 => {}
            rc => return Err(search_error(rc, &result, &s.search_base, "search users")),
        }
        match entries.len() {
            0 => Err(Error::NotFound {
                login: login.to_owned(),
                filter,
                base: s.search_base.clone(),
                domain: s.domain.clone(),
            }),
            1 => Ok(UserFound { entry: entries.remove(0) }),
            _ => Err(Error::Ambiguous { login: login.to_owned(), dns: entries.into_iter().map(|e| e.dn).collect() }),
        }
    }

    /// Checks a login and password: the service account finds the entry, then the domain's password check
    /// (a bind as that entry on its own connection, the Kerberos realm, or a PAM service) checks the
    /// password.
    pub async fn authenticate(&self, login: &str, password: &str) -> Result<UserEntry, Error> {
        self.authenticate_with_detail(login, password).await.map(|(user, _)| user)
    }

    /// [`Directory::authenticate`], also saying how the password was checked (the connection test shows it).
    pub async fn authenticate_with_detail(&self, login: &str, password: &str) -> Result<(UserEntry, String), Error> {
        if password.is_empty() {
            return Err(Error::EmptyPassword);
        }
        // The computed state (locked, password expired) costs the server work, and a bind that succeeds
        // proves neither: a login does not ask for it.
        let mut attrs = self.user_attributes();
        attrs.retain(|a| a != COMPUTED_STATE);
        let found = self.find_user_with(login, &attrs).await?;
        let s = self.settings();
        let (user, detail) = match &s.password_check {
            PasswordCheck::Bind => {
                let detail = format!("password accepted by a bind as {}", found.entry.dn);
                (self.bind_check(found, password).await?, detail)
            }
            PasswordCheck::Kerberos(kerberos) => {
                let check = self.kerberos_check(kerberos).await?;
                let principal = check.principal_for(&found.entry)?;
                let verified = match check.realm.check_password(&principal, password).await {
                    Ok(verified) => verified,
                    Err(dirconn_kerberos::Error::Revoked { principal, diagnostic }) => {
                        return Err(self.dialect().kerberos_revoked(self, login, principal, diagnostic).await);
                    }
                    Err(e) => return Err(e.into()),
                };
                let mut user = self.user_entry(found).await?;
                if let Some(expires) = verified.password_expires {
                    let days = (expires - chrono::Utc::now()).num_days();
                    if (0..=14).contains(&days) {
                        user.warnings.push(RString::from(format!("The password expires in {} day(s).", days.max(1))));
                    }
                }
                let validation = match &check.realm.settings().validation {
                    Some(v) => format!("its ticket for {} validated with the keytab", v.service),
                    None => "its ticket NOT validated (kerberos_validate = false)".to_owned(),
                };
                let detail = format!(
                    "password accepted by the Kerberos realm {} for {principal} (KDC {}), {validation}",
                    check.realm.settings().realm,
                    verified.kdc
                );
                (user, detail)
            }
            PasswordCheck::Pam(pam) => {
                let name = first_text(&found.entry, &s.login_attribute).ok_or_else(|| Error::Unexpected {
                    what: "the PAM check".into(),
                    diagnostic: format!("the entry {} has no {} value to give PAM", found.entry.dn, s.login_attribute),
                })?;
                pam.check(&name, password, None).await?;
                let detail = format!(
                    "password accepted by the PAM service `{}` for `{name}` ({})",
                    pam.settings().service,
                    pam.service_file().display()
                );
                (self.user_entry(found).await?, detail)
            }
        };
        if let Some(refused) = self.dialect().refuse_after_password(&user) {
            return Err(refused);
        }
        tracing::info!(dn = %user.dn, check = s.password_check.kind().as_str(), "user authenticated");
        Ok((user, detail))
    }

    /// The domain's Kerberos check, its realm read from the directory at first use where the dialect
    /// says it names it.
    pub(crate) async fn kerberos_check<'a>(
        &self,
        kerberos: &'a crate::Kerberos,
    ) -> Result<&'a crate::KerberosCheck, Error> {
        kerberos.check(|| self.dialect().read_realm(self)).await
    }

    /// The bind check: a bind as the entry on its own connection, with the password policy control.
    async fn bind_check(&self, found: UserFound, password: &str) -> Result<UserEntry, Error> {
        let dn = found.entry.dn.clone();
        let (mut ldap, result) = self.connector.open(&dn, password, self.dialect().bind_controls()).await?;
        let _ = ldap.unbind().await;
        let warnings = self.dialect().user_bind(&dn, &result, &found.entry)?;
        let mut user = self.user_entry(found).await?;
        user.warnings.extend(warnings.into_iter().map(RString::from));
        Ok(user)
    }

    /// Changes a user's password (`old` given) or resets it with the service account (`old` None), where
    /// the directory kind has the operation (`DC-507` otherwise). Returns the user's DN.
    pub async fn set_password(&self, login: &str, old: Option<&str>, new: &str) -> Result<String, Error> {
        self.dialect().set_password(self, login, old, new).await
    }

    /// The directory's account lockout policy, as the service account can read it.
    pub async fn lockout_policy(&self) -> Result<dirconn_abi::LockoutPolicy, Error> {
        self.dialect().read_lockout(self).await
    }

    /// Finds a user and returns the entry with groups, without a password.
    pub async fn lookup(&self, login: &str) -> Result<UserEntry, Error> {
        let found = self.find_user(login).await?;
        self.user_entry(found).await
    }

    /// Turns a found entry into the ABI's user entry, with its groups resolved online.
    pub async fn user_entry(&self, found: UserFound) -> Result<UserEntry, Error> {
        let groups = self.groups_online(&found.entry).await?;
        let id = entry_id(&found.entry, &self.settings().id_attribute);
        Ok(self.build_user_entry(found.entry, groups, id, &|_| true))
    }

    /// Turns a listed entry into the ABI's user entry, with its groups resolved from an index.
    pub(crate) fn to_user_entry(&self, entry: SearchEntry, index: &GroupIndex, reading: &Reading) -> UserEntry {
        let s = self.settings();
        let login = first_text(&entry, &s.login_attribute).unwrap_or_default();
        let id = entry_id(&entry, &s.id_attribute);
        let primary = self.dialect().primary_group_key(&entry);
        let groups = index.groups_of(
            (&entry.dn, &login, id.as_deref().unwrap_or_default()),
            &text_values(&entry, &s.member_of_attribute),
            primary.as_deref(),
        );
        self.build_user_entry(entry, groups, id, &|name| reading.sends(name))
    }

    /// The ABI's user entry from an entry, its groups and its key (`entry_id`, read once by the caller).
    /// `sends` says which attributes the entry carries.
    fn build_user_entry(
        &self,
        mut entry: SearchEntry,
        groups: Vec<String>,
        id: Option<String>,
        sends: &dyn Fn(&str) -> bool,
    ) -> UserEntry {
        let s = self.settings();
        let state = self.dialect().account_state(&entry, &groups);
        let id = match id {
            Some(id) => id,
            None => {
                tracing::warn!(dn = %entry.dn, attribute = %s.id_attribute, "entry has no stable id attribute; using its DN");
                entry.dn.clone()
            }
        };
        let login = first_text(&entry, &s.login_attribute).unwrap_or_default().into();
        let email = first_text(&entry, &s.email_attribute).map(RString::from).into();
        let display_name = first_text(&entry, &s.display_name_attribute)
            .or_else(|| first_text(&entry, "cn"))
            .map(RString::from)
            .into();
        UserEntry {
            id: id.into(),
            login,
            email,
            display_name,
            groups: groups.into_iter().map(RString::from).collect(),
            warnings: RVec::new(),
            state: state.into_iter().map(RString::from).collect(),
            dn: std::mem::take(&mut entry.dn).into(),
            attributes: attributes(entry, false, sends),
        }
    }

    /// Lists the attribute types of the server's schema and the attributes of one sample user.
    pub async fn discover_attributes(&self) -> Result<AttributeReport, Error> {
        let all = ["*".to_owned(), "+".to_owned()];
        let (root, _) = self
            .service_search("", Scope::Base, "(objectClass=*)", &["subschemaSubentry".to_owned()], 0, "rootDSE read")
            .await?;
        let subschema =
            root.first().and_then(|e| first_text(e, "subschemaSubentry")).unwrap_or_else(|| "cn=Subschema".into());
        let (schema_entries, _) = self
            .service_search(
                &subschema,
                Scope::Base,
                "(objectClass=subschema)",
                &["attributeTypes".to_owned()],
                0,
                "schema read",
            )
            .await?;
        let mut schema: Vec<String> = schema_entries
            .first()
            .map(|e| text_values(e, "attributeTypes").iter().flat_map(|d| schema_names(d)).collect())
            .unwrap_or_default();
        schema.sort_by_key(|n| n.to_ascii_lowercase());
        schema.dedup();
        let s = self.settings();
        let any_user = self.filter_matching_any_user();
        let (sample, result) =
            self.service_search(&s.search_base, self.scope(), &any_user, &all, 1, "sample user search").await?;
        if !matches!(result.rc, 0 | 4) {
            return Err(search_error(result.rc, &result, &s.search_base, "search users"));
        }
        let sample_entry = sample.into_iter().next();
        let sample_dn = sample_entry.as_ref().map(|e| RString::from(e.dn.as_str()));
        let sample_values = sample_entry
            .map(|e| {
                attributes(e, true, &|_| true)
                    .into_iter()
                    .map(|a| NamedValue { value: preview(&a).into(), name: a.name })
                    .collect()
            })
            .unwrap_or_default();
        Ok(AttributeReport {
            schema: schema.into_iter().map(RString::from).collect(),
            sample_dn: sample_dn.into(),
            sample: sample_values,
        })
    }

    /// The user filter with its login placeholders made presence tests: it matches every user.
    pub fn filter_matching_any_user(&self) -> String {
        let s = self.settings();
        s.user_filter
            .replace("{login}", "*")
            .replace("{user}", "*")
            .replace("{email}", "*")
            .replace("{domain}", &escape::filter_value(&s.domain))
    }

    /// The base, scope and filters this domain searches with.
    pub fn effective_filter(&self) -> FilterReport {
        let s = self.settings();
        let mut items = vec![
            ("urls", s.urls.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")),
            ("search_base", s.search_base.clone()),
            ("scope", if s.subtree { "subtree" } else { "one level" }.to_owned()),
            ("user_filter", s.user_filter.clone()),
            ("user_filter_example", self.user_filter_for("jdoe")),
            ("all_users_filter", self.filter_matching_any_user()),
            ("login_attribute", s.login_attribute.clone()),
            ("id_attribute", s.id_attribute.clone()),
            ("email_attribute", s.email_attribute.clone()),
        ];
        items.push(("sync_filter", self.sync_filter()));
        items.push(("group_base", s.group_base().to_owned()));
        items.push(("group_object_filter", s.group_object_filter.clone()));
        match (&s.group_filter, s.group_membership) {
            (_, crate::GroupMembership::MemberOf) => items.push(("groups_from", s.member_of_attribute.clone())),
            (_, crate::GroupMembership::Chain) => items.push((
                "groups_from",
                format!("{}, the matching rule in chain over member, and the primary group", s.member_of_attribute),
            )),
            (_, crate::GroupMembership::NestedMemberOf) => items.push((
                "groups_from",
                match s.dialect.has_primary_groups() {
                    true => {
                        format!("{0} and the primary group, then each group's own {0}, upward", s.member_of_attribute)
                    }
                    false => format!("{0}, then each group's own {0}, upward", s.member_of_attribute),
                },
            )),
            (Some(g), _) => items.push(("group_filter", g.clone())),
            (None, _) => items.push((
                "groups_from",
                format!(
                    "{}, {} of groups",
                    s.member_of_attribute,
                    s.dialect.member_links().all().collect::<Vec<_>>().join(" / ")
                ),
            )),
        }
        items.push(("nested_group_depth", s.nested_group_depth.to_string()));
        items.extend(s.dialect.describe(s));
        items.push((
            "group_membership",
            match s.group_membership {
                crate::GroupMembership::Search => "search (memberOf, member, uniqueMember, memberUid, nested)",
                crate::GroupMembership::MemberOf => "member-of (the user's memberOf values only)",
                crate::GroupMembership::Chain => {
                    "chain (matching rule in chain 1.2.840.113556.1.4.1941, plus the primary group)"
                }
                crate::GroupMembership::NestedMemberOf if !s.dialect.has_primary_groups() => {
                    "nested-member-of (memberOf, then the groups' memberOf upward)"
                }
                crate::GroupMembership::NestedMemberOf => {
                    "nested-member-of (memberOf and the primary group, then the groups' memberOf upward)"
                }
            }
            .to_owned(),
        ));
        FilterReport { items: items.into_iter().map(|(n, v)| NamedValue { name: n.into(), value: v.into() }).collect() }
    }
}

/// Refuses logins that cannot be directory logins, before any network call.
pub fn validate_login(login: &str) -> Result<(), Error> {
    let reason = if login.is_empty() {
        "it is empty"
    } else if login.len() > MAX_LOGIN_BYTES {
        "it is longer than 256 bytes"
    } else if login.chars().any(char::is_control) {
        "it contains control characters"
    } else if login.trim() != login {
        "it starts or ends with white space"
    } else {
        return Ok(());
    };
    Err(Error::InvalidLogin { reason: reason.to_owned() })
}

pub(crate) fn search_error(rc: u32, result: &LdapResult, base: &str, what: &str) -> Error {
    let diagnostic = describe_result(result);
    if crate::guard::restricted_until_changed(result) {
        return Error::ServiceMustChange { dn: String::new(), diagnostic };
    }
    match rc {
        32 => Error::SearchBaseMissing { base: base.to_owned(), diagnostic },
        50 => Error::AccessDenied { what: what.to_owned(), diagnostic },
        51 | 52 => Error::Unavailable { what: what.to_owned(), diagnostic },
        _ => Error::Unexpected { what: what.to_owned(), diagnostic },
    }
}

pub(crate) fn text_values(entry: &SearchEntry, name: &str) -> Vec<String> {
    entry.attrs.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).flat_map(|(_, v)| v.iter().cloned()).collect()
}

/// The stable key of an entry in text form: AD's binary objectGUID in the GUID text form, else the
/// attribute's first text value.
pub(crate) fn entry_id(entry: &SearchEntry, id_attribute: &str) -> Option<String> {
    if id_attribute.eq_ignore_ascii_case("objectGUID") {
        return raw_values(entry, id_attribute).first().and_then(|b| ad::guid_text(b));
    }
    first_text(entry, id_attribute)
}

/// An attribute's values as bytes, whether ldap3 filed them as text or as binary.
pub(crate) fn raw_values(entry: &SearchEntry, name: &str) -> Vec<Vec<u8>> {
    let text = entry.attrs.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).flat_map(|(_, v)| v.iter());
    let bin = entry.bin_attrs.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).flat_map(|(_, v)| v.iter());
    text.map(|t| t.as_bytes().to_vec()).chain(bin.cloned()).collect()
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub(crate) fn first_text(entry: &SearchEntry, name: &str) -> Option<String> {
    entry.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.first().cloned())
}

/// The attributes of an entry that `sends` accepts, sorted by name, text and binary values kept apart; the
/// values are moved, not copied (a sync converts every user). Password attributes are kept only for previews
/// (which redact them): a user entry never carries them, even when the service account can read them.
fn attributes(entry: SearchEntry, keep_secrets: bool, sends: &dyn Fn(&str) -> bool) -> RVec<Attribute> {
    let text = entry.attrs.into_iter().filter(|(name, _)| sends(name)).map(|(name, values)| {
        let values = values
            .into_iter()
            .map(|v| AttrValue::Text(ad::binary_as_text(&name, v.as_bytes()).unwrap_or(v).into()))
            .collect();
        Attribute { name: name.into(), values }
    });
    let binary = entry.bin_attrs.into_iter().filter(|(name, _)| sends(name)).map(|(name, values)| {
        let values = values
            .into_iter()
            .map(|v| match ad::binary_as_text(&name, &v) {
                Some(text) => AttrValue::Text(text.into()),
                None => AttrValue::Binary(v.into()),
            })
            .collect();
        Attribute { name: name.into(), values }
    });
    let mut out: Vec<Attribute> =
        text.chain(binary).filter(|a| keep_secrets || !is_secret_attribute(&a.name)).collect();
    out.sort_unstable_by(|a, b| by_name_ignoring_case(&a.name, &b.name));
    out.into()
}

/// Attribute names in order, ASCII case ignored (without allocating lowercase copies).
fn by_name_ignoring_case(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// The first value of an attribute for display: secrets redacted, binary values by size.
fn preview(attr: &Attribute) -> String {
    if is_secret_attribute(&attr.name) {
        return "<redacted>".into();
    }
    let first = match attr.values.first() {
        Some(AttrValue::Text(t)) => t.to_string(),
        Some(AttrValue::Binary(b)) => format!("<{} bytes>", b.len()),
        None => String::new(),
    };
    match attr.values.len() {
        0 | 1 => first,
        n => format!("{first} (+{} more)", n - 1),
    }
}

/// The NAMEs in an attributeTypes definition: `( 2.5.4.3 NAME ( 'cn' 'commonName' ) …)`.
fn schema_names(definition: &str) -> Vec<String> {
    let Some(after) = definition.split_once(" NAME ").map(|(_, rest)| rest.trim_start()) else {
        return Vec::new();
    };
    let names = if let Some(list) = after.strip_prefix('(') {
        list.split(')').next().unwrap_or("")
    } else {
        after.split_whitespace().next().unwrap_or("")
    };
    names.split_whitespace().map(|n| n.trim_matches('\'').to_owned()).filter(|n| !n.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_checked_before_the_network() {
        assert!(validate_login("alice").is_ok());
        assert!(validate_login("*)(uid=*").is_ok(), "escaped later, not refused");
        for bad in ["", " alice", "a\0b", "a\nb", &"x".repeat(65_536)] {
            assert_eq!(validate_login(bad).unwrap_err().code(), "DC-202", "{bad:?}");
        }
    }

    fn ad(extra: &str) -> Directory {
        let json = format!(
            r#"{{"urls":["ldaps://dc1.example.org"],"bind_dn":"cn=s","bind_password":"p","search_base":"OU=Staff,DC=ad,DC=example,DC=org"{extra}}}"#
        );
        let settings =
            LdapSettings::from_json("example.com", &json, std::path::Path::new("/"), crate::dialect::ad::TEST_DEFAULTS)
                .unwrap();
        Directory::new(settings).unwrap()
    }

    #[test]
    fn ad_login_forms_name_the_account() {
        let dir = ad(r#","upn_suffixes":["@Corp.Example.org"]"#);
        assert_eq!(dir.settings().nt_domain, "AD", "the first DC component by default");
        for (login, user) in [
            ("alice", "alice"),
            ("AD\\alice", "alice"),
            ("ad\\alice", "alice"),
            ("alice@example.com", "alice"),
            ("alice@ad.example.org", "alice"),
            ("alice@corp.example.org", "alice"),
            ("alice@elsewhere.org", "alice@elsewhere.org"),
        ] {
            assert_eq!(dir.login_form(login).unwrap().1, user, "{login}");
        }
        assert_eq!(dir.login_form("OTHER\\alice").unwrap_err().code(), "DC-202");
        assert_eq!(dir.login_form("AD\\").unwrap_err().code(), "DC-202");
        // A foreign suffix never reaches sAMAccountName; escaping still applies to every part.
        let filter = dir.user_filter_for("a*@elsewhere.org");
        assert!(filter.contains("(sAMAccountName=a\\2a@elsewhere.org)"), "{filter}");
        let filter = dir.user_filter_for("AD\\bob");
        assert!(filter.contains("(sAMAccountName=bob)") && filter.contains("(userPrincipalName=bob)"), "{filter}");
        let dir = ad(r#","nt_domain":"CORP""#);
        assert!(dir.login_form("CORP\\alice").is_ok());
        assert!(dir.login_form("AD\\alice").is_err());
    }

    #[test]
    fn schema_names_are_read_from_definitions() {
        assert_eq!(schema_names("( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )"), ["cn", "commonName"]);
        assert_eq!(schema_names("( 0.9.2342.19200300.100.1.1 NAME 'uid' EQUALITY x )"), ["uid"]);
        assert!(schema_names("( 1.2.3 DESC 'x' )").is_empty());
    }
}
