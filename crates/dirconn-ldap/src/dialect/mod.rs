//! The dialect of a directory kind: the few behaviours in which Active Directory, Open Directory and a
//! generic LDAP server differ, as one trait the engine calls. Everything else a kind has is data
//! ([`crate::LdapDefaults`], owned by its plugin crate).
//!
//! The engine holds one [`Dialect`] per domain (in its settings) and never asks which kind it serves: each
//! place where kinds differ is one call here. The defaults of every method are the generic LDAP
//! behaviour, so a dialect states only where it departs from it. A fourth kind is one folder beside
//! `generic/`, `ad/` and `od/` plus a plugin crate naming it (see ARCHITECTURE.md, "Adding a directory
//! kind").

pub(crate) mod ad;
pub(crate) mod generic;
pub(crate) mod od;

use std::fmt;

use futures::future::BoxFuture;
use ldap3::{Ldap, LdapResult, SearchEntry, controls::RawControl};

pub use crate::{diagnose::Stages, guard::Verdict};
pub use ad::ActiveDirectory;
pub use generic::Generic;
pub use od::OpenDirectory;

use crate::{
    Directory, Error, GroupMembership, LdapSettings, LdapUrl,
    error::describe_result,
    ppolicy::{self, PolicyError},
};

/// How a sync finds what changed since its last pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incremental {
    /// RFC 4533 content sync (OpenLDAP's syncprov): changed entries, then the deleted or present ones.
    Syncrepl,
    /// Active Directory's uSNChanged counters, with the deleted objects container.
    UsnChanged,
}

/// What a dialect gives `password_check = "kerberos"` when keys are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KerberosDefaults {
    /// Where the realm comes from without `kerberos_realm`.
    pub realm: RealmSource,
    /// Without `kdc`, the directory servers' hosts on port 88 are the KDCs (AD DCs, OD masters are).
    pub kdcs_are_directory_servers: bool,
    /// The principal template without `kerberos_principal`.
    pub principal: &'static str,
}

/// Where a domain's Kerberos realm comes from when `kerberos_realm` is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealmSource {
    /// Nowhere: the key is required.
    Required,
    /// The DNS name of the search base's `dc=` parts, in capitals (Active Directory).
    SearchBase,
    /// Read from the directory at first use (Open Directory's `cn=KerberosKDC,cn=config`).
    Directory,
}

/// How group entries name their members: attributes by kind of reference.
#[derive(Debug, Clone, Copy)]
pub struct MemberLinks {
    /// Attributes naming a member (user or group) by DN (`member`, `uniqueMember`).
    pub by_dn: &'static [&'static str],
    /// Attributes naming a member user by its login (`memberUid`).
    pub by_login: &'static [&'static str],
    /// Attributes naming a member user by its key, case-exact (Open Directory's `apple-group-memberguid`):
    /// the key being the entry's id attribute.
    pub by_key: &'static [&'static str],
    /// The attribute naming a member group by its key (Open Directory's `apple-group-nestedgroup`).
    pub nested_by_key: Option<&'static str>,
}

impl MemberLinks {
    /// Every attribute that names members.
    pub fn all(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_dn.iter().chain(self.by_login).chain(self.by_key).chain(&self.nested_by_key).copied()
    }
}

/// The behaviours a directory kind has of its own. Defaults: a generic LDAP v3 server.
pub trait Dialect: Send + Sync + fmt::Debug + 'static {
    // Settings.

    /// The settings keys only this kind reads (the others refuse them, `DC-101`).
    fn own_keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether `group_membership = "chain"` (AD's matching rule in chain) exists here.
    fn has_chain_rule(&self) -> bool {
        false
    }

    /// The most entries the server returns per page, if it caps them (a larger `page_size` is warned of).
    fn max_page_size(&self) -> Option<u32> {
        None
    }

    /// What the Kerberos password check takes when keys are left out.
    fn kerberos_defaults(&self) -> KerberosDefaults {
        KerberosDefaults { realm: RealmSource::Required, kdcs_are_directory_servers: false, principal: "{uid}@{realm}" }
    }

    /// The Kerberos realm as the directory names it ([`RealmSource::Directory`]).
    fn read_realm<'a>(&'a self, _dir: &'a Directory) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async {
            Err(Error::Unexpected {
                what: "the Kerberos realm".into(),
                diagnostic: "this kind of directory does not name its realm; set kerberos_realm".into(),
            })
        })
    }

    // Binds.

    /// The controls sent with every bind (the password policy request by default).
    fn bind_controls(&self) -> Vec<RawControl> {
        vec![ppolicy::request()]
    }

    /// What a user bind's answer means: `Ok` with warnings for the user, or the refusal. Pure.
    fn user_bind(&self, dn: &str, result: &LdapResult, entry: &SearchEntry) -> Result<Vec<String>, Error> {
        generic_user_bind(dn, result, entry)
    }

    /// What the service account's bind answer means for the service-bind guard. Pure.
    fn service_bind(&self, dn: &str, result: &LdapResult) -> Verdict {
        generic_service_bind(dn, result)
    }

    // Identity.

    /// A login as the user filter sees it: `(login, user)` (AD strips `DOMAIN\` and its own suffixes).
    fn login_form<'a>(&self, _s: &LdapSettings, login: &'a str) -> Result<(&'a str, &'a str), Error> {
        Ok((login, login))
    }

    /// The attributes the account state is read from (some operational: never in `*`).
    fn state_attributes(&self) -> &'static [&'static str] {
        &["pwdAccountLockedTime"]
    }

    /// The account state of an entry with its groups ([`dirconn_abi::state`] names).
    fn account_state(&self, _entry: &SearchEntry, _groups: &[String]) -> Vec<&'static str> {
        Vec::new()
    }

    /// A login refused for the account's state after its password was accepted, where the directory
    /// itself accepts the password of such an account (Open Directory's disabled users).
    fn refuse_after_password(&self, _user: &dirconn_abi::UserEntry) -> Option<Error> {
        None
    }

    /// The KDC's "revoked" answer (error 18), told apart by the directory where the KDC does not say why.
    fn kerberos_revoked<'a>(
        &'a self,
        _dir: &'a Directory,
        _login: &'a str,
        principal: String,
        diagnostic: String,
    ) -> BoxFuture<'a, Error> {
        Box::pin(async move { dirconn_kerberos::Error::Revoked { principal, diagnostic }.into() })
    }

    // Groups.

    /// How groups name their members.
    fn member_links(&self) -> MemberLinks {
        MemberLinks { by_dn: &["member", "uniqueMember"], by_login: &["memberUid"], by_key: &[], nested_by_key: None }
    }

    /// The attributes a sync reads from every group for its index of member lists (AD asks for ranges).
    fn group_list_attributes(&self, _s: &LdapSettings) -> Vec<String> {
        self.member_links().all().map(str::to_owned).collect()
    }

    /// The attributes read from every group besides what `group_membership` needs (AD: the SID).
    fn group_extra_attributes(&self) -> &'static [&'static str] {
        &[]
    }

    /// The container groups live in under the naming context (`cn=groups` on OD): the default group base.
    fn group_container(&self) -> Option<&'static str> {
        None
    }

    /// Whether users have a primary group outside memberOf (AD's primaryGroupID).
    fn has_primary_groups(&self) -> bool {
        false
    }

    /// The DN of a user's primary group, found online.
    fn primary_group<'a>(
        &'a self,
        _dir: &'a Directory,
        _entry: &'a SearchEntry,
    ) -> BoxFuture<'a, Result<Option<String>, Error>> {
        Box::pin(async { Ok(None) })
    }

    /// The key of a user's primary group in a sync's index (AD: the group's SID text).
    fn primary_group_key(&self, _entry: &SearchEntry) -> Option<String> {
        None
    }

    /// Every group of a user in one search (`group_membership = "chain"`); None where the server cannot.
    fn chain_groups<'a>(
        &'a self,
        _dir: &'a Directory,
        _dn: &'a str,
        _primary: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, Error>> {
        Box::pin(async { Ok(None) })
    }

    /// Whether groups can be found by `(distinguishedName=…)` in one search (AD); otherwise each group is
    /// read by a base search.
    fn finds_entries_by_dn(&self) -> bool {
        false
    }

    // Sync.

    /// How incremental passes find changes.
    fn incremental(&self) -> Incremental {
        Incremental::Syncrepl
    }

    // Diagnosis.

    /// The kind's own stages of the connection test, run on the working service connection.
    fn extra_stages<'a>(
        &'a self,
        _dir: &'a Directory,
        _st: &'a mut Stages,
        _ldap: &'a mut Ldap,
        _url: &'a LdapUrl,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// Whether the KDC issues no ticket to a service principal asking as a client (AD), so that the
    /// keytab stage cannot prove the key and leaves it to the first validated login.
    fn spn_gets_no_client_ticket(&self) -> bool {
        false
    }

    // Lockout.

    /// The directory's account lockout policy (ppolicy entries by default).
    fn read_lockout<'a>(&'a self, dir: &'a Directory) -> BoxFuture<'a, Result<dirconn_abi::LockoutPolicy, Error>> {
        Box::pin(crate::lockout::read_ppolicy(dir))
    }

    // Password operations.

    /// Changes (`old` given) or resets a user's password; returns the user's DN.
    fn set_password<'a>(
        &'a self,
        _dir: &'a Directory,
        _login: &'a str,
        _old: Option<&'a str>,
        _new: &'a str,
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(async { Err(Error::PasswordUnsupported) })
    }

    // The effective filter report.

    /// The kind's own lines of `dirconn filter` (its keys' values).
    fn describe(&self, _s: &LdapSettings) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// The pwdAccountLockedTime value of an administrative lock that never expires.
const PERMANENT_LOCK: &str = "000001010000Z";

/// A user bind's answer on a generic LDAP server: the result code with the password policy response.
pub(crate) fn generic_user_bind(dn: &str, result: &LdapResult, entry: &SearchEntry) -> Result<Vec<String>, Error> {
    let dn = dn.to_owned();
    let (policy, diagnostic) = policy_answer(result);
    // OpenLDAP keeps pwdAccountLockedTime after a timed lockout expires (until the next good bind), so
    // only its permanent value (an administrator's lock) proves a lock on its own.
    let locked_attr = crate::directory::text_values(entry, "pwdAccountLockedTime").iter().any(|v| v == PERMANENT_LOCK);
    match (result.rc, policy.error) {
        (0, Some(PolicyError::ChangeAfterReset)) => return Err(Error::MustChangePassword { dn, diagnostic }),
        (0, _) => {}
        (_, Some(PolicyError::AccountLocked)) => return Err(Error::AccountLocked { dn, diagnostic }),
        (_, Some(PolicyError::PasswordExpired)) => return Err(Error::PasswordExpired { dn, diagnostic }),
        (49, _) if locked_attr => return Err(Error::AccountLocked { dn, diagnostic }),
        (49 | 48 | 53, _) => return Err(Error::InvalidCredentials { dn, diagnostic }),
        (51 | 52, _) => return Err(Error::Unavailable { what: "the user bind".into(), diagnostic }),
        _ => return Err(Error::Unexpected { what: "the user bind".into(), diagnostic }),
    }
    let mut warnings = Vec::new();
    if let Some(secs) = policy.time_before_expiration {
        warnings.push(format!("The password expires in {} day(s).", secs.div_ceil(86_400)));
    }
    if let Some(n) = policy.grace_logins_remaining {
        warnings.push(format!("The password has expired; {n} grace login(s) left."));
    }
    Ok(warnings)
}

/// A bind answer's password policy response, and its diagnostic naming the policy error if any.
fn policy_answer(result: &LdapResult) -> (ppolicy::Response, String) {
    let policy = ppolicy::find(&result.ctrls).unwrap_or_default();
    let mut diagnostic = describe_result(result);
    if let Some(error) = policy.error {
        diagnostic.push_str(&format!("; password policy: {}", error.name()));
    }
    (policy, diagnostic)
}

/// The service bind's answer on a generic LDAP server. `Rejected` is a definite invalid-credentials
/// answer (49 without a policy error that comes only with the right password).
pub(crate) fn generic_service_bind(dn: &str, result: &LdapResult) -> Verdict {
    let (policy, diagnostic) = policy_answer(result);
    let dn = dn.to_owned();
    match (result.rc, policy.error) {
        (0, Some(PolicyError::ChangeAfterReset)) => Verdict::Failed(Error::ServiceMustChange { dn, diagnostic }),
        (0, _) => Verdict::Bound,
        (49, Some(PolicyError::PasswordExpired)) => Verdict::Failed(Error::ServicePasswordExpired { dn, diagnostic }),
        (49, Some(PolicyError::ChangeAfterReset)) => Verdict::Failed(Error::ServiceMustChange { dn, diagnostic }),
        (49, _) => Verdict::Rejected { diagnostic },
        _ => other_service_answer(dn, result.rc, diagnostic),
    }
}

/// The service bind answers every kind reads alike: not a verdict on the secret.
pub(crate) fn other_service_answer(dn: String, rc: u32, diagnostic: String) -> Verdict {
    match rc {
        48 | 53 => Verdict::Failed(Error::ServiceBind { dn, diagnostic }),
        51 | 52 => Verdict::Failed(Error::Unavailable { what: "the service bind".into(), diagnostic }),
        _ => Verdict::Failed(Error::Unexpected { what: "the service bind".into(), diagnostic }),
    }
}

/// Whether `group_membership` is possible for a dialect.
pub(crate) fn allows_membership(dialect: &dyn Dialect, m: GroupMembership) -> bool {
    m != GroupMembership::Chain || dialect.has_chain_rule()
}

#[cfg(test)]
pub(crate) mod table {
    //! Helpers for the dialects' table tests: LDAP answers as the server would send them.

    use ldap3::{LdapResult, SearchEntry, controls::Control};

    use crate::{Error, guard::Verdict};

    /// A bind answer with a result code, a diagnostic text and an optional ppolicy response value.
    pub fn answer(rc: u32, text: &str, policy: Option<&[u8]>) -> LdapResult {
        let ctrls = policy
            .map(|value| {
                vec![Control(
                    None,
                    ldap3::controls::RawControl {
                        ctype: crate::ppolicy::OID.to_owned(),
                        crit: false,
                        val: Some(value.to_vec()),
                    },
                )]
            })
            .unwrap_or_default();
        LdapResult { rc, matched: String::new(), text: text.to_owned(), refs: Vec::new(), ctrls }
    }

    /// An entry with no attributes.
    pub fn entry() -> SearchEntry {
        SearchEntry { dn: "uid=u,dc=x".into(), attrs: Default::default(), bin_attrs: Default::default() }
    }

    /// A user bind outcome as a code (`ok` when accepted).
    pub fn user(outcome: Result<Vec<String>, Error>) -> String {
        match outcome {
            Ok(_) => "ok".into(),
            Err(e) => e.code().to_owned(),
        }
    }

    /// A service bind verdict in a word or a code.
    pub fn service(verdict: Verdict) -> String {
        match verdict {
            Verdict::Bound => "bound".into(),
            Verdict::Rejected { .. } => "rejected".into(),
            Verdict::Failed(e) => e.code().to_owned(),
        }
    }

    /// ppolicy response values: changeAfterReset (2) and passwordExpired (0), as slapd encodes them.
    pub const CHANGE_AFTER_RESET: [u8; 5] = [0x30, 0x03, 0x81, 0x01, 0x02];
    /// passwordExpired.
    pub const PASSWORD_EXPIRED: [u8; 5] = [0x30, 0x03, 0x81, 0x01, 0x00];
    /// accountLocked (1).
    pub const ACCOUNT_LOCKED: [u8; 5] = [0x30, 0x03, 0x81, 0x01, 0x01];
}
