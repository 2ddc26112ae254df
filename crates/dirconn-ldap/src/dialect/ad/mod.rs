//! The Active Directory dialect (Microsoft AD, Samba AD DC): bind answers by their sub-code (`data 52e`),
//! no password policy control, account state from userAccountControl and its kin, `DOMAIN\user` and UPN
//! logins, primary groups, the matching rule in chain, ranged member lists, uSNChanged syncs, its own
//! connection-test stages and `unicodePwd` password operations.
//!
//! Files: `format.rs` (AD's data formats, pure), `groups.rs` (primary groups and the chain rule, with
//! what the domain learns as it goes), `stages.rs`, `usn.rs`, `password.rs`.

pub mod format;
mod groups;
mod lockout;
mod password;
mod stages;
mod usn;

use std::sync::Arc;

use futures::future::BoxFuture;
use ldap3::{Ldap, LdapResult, SearchEntry, controls::RawControl};

use super::{Dialect, Incremental, KerberosDefaults, RealmSource};
use crate::{
    Directory, Error, LdapSettings, LdapUrl,
    diagnose::Stages,
    directory::{first_text, unix_now},
    error::describe_result,
    guard::Verdict,
};
use format::{AccountState, SubCode};

/// An Active Directory domain, with what it learns as it goes.
#[derive(Debug, Default)]
pub struct ActiveDirectory {
    memory: groups::Memory,
}

impl ActiveDirectory {
    /// A new instance, for [`crate::LdapDefaults::dialect`].
    pub fn new_dialect() -> Arc<dyn Dialect> {
        Arc::new(ActiveDirectory::default())
    }
}

/// AD's constructed account state (LOCKOUT, PASSWORD_EXPIRED flags).
pub(crate) const COMPUTED_STATE: &str = "msDS-User-Account-Control-Computed";

impl Dialect for ActiveDirectory {
    fn own_keys(&self) -> &'static [&'static str] {
        &["nt_domain", "upn_suffixes", "range_size", "full_sync_interval"]
    }

    fn has_chain_rule(&self) -> bool {
        true
    }

    fn max_page_size(&self) -> Option<u32> {
        Some(1000)
    }

    fn kerberos_defaults(&self) -> KerberosDefaults {
        // Every domain controller is a KDC of the realm named after the domain.
        KerberosDefaults {
            realm: RealmSource::SearchBase,
            kdcs_are_directory_servers: true,
            principal: "{sAMAccountName}@{realm}",
        }
    }

    fn bind_controls(&self) -> Vec<RawControl> {
        Vec::new()
    }

    fn user_bind(&self, dn: &str, result: &LdapResult, entry: &SearchEntry) -> Result<Vec<String>, Error> {
        if result.rc != 0
            && let Some(sub) = SubCode::parse(&result.text)
        {
            return Err(Error::from_sub_code(sub, dn.to_owned(), describe_result(result)));
        }
        super::generic_user_bind(dn, result, entry)
    }

    /// 49 is a rejection with the sub-code 52e (or 775, locked, or none); answers that come only with the
    /// right password (773 must change, 532 expired, 533 disabled…) are not.
    fn service_bind(&self, dn: &str, result: &LdapResult) -> Verdict {
        let diagnostic = describe_result(result);
        let dn = dn.to_owned();
        match result.rc {
            0 => Verdict::Bound,
            49 => match SubCode::parse(&result.text) {
                Some(SubCode::MustChangePassword) => Verdict::Failed(Error::ServiceMustChange { dn, diagnostic }),
                Some(SubCode::PasswordExpired) => Verdict::Failed(Error::ServicePasswordExpired { dn, diagnostic }),
                Some(SubCode::InvalidCredentials | SubCode::AccountLocked) | None => Verdict::Rejected { diagnostic },
                Some(_) => Verdict::Failed(Error::ServiceBind { dn, diagnostic }),
            },
            rc => super::other_service_answer(dn, rc, diagnostic),
        }
    }

    /// `DOMAIN\user` (this domain's NT name only) and `user@suffix` for the domain's own suffixes name the
    /// account part; other logins are taken as they are.
    fn login_form<'a>(&self, s: &LdapSettings, login: &'a str) -> Result<(&'a str, &'a str), Error> {
        if let Some((domain, user)) = login.split_once('\\') {
            if s.nt_domain.is_empty() {
                return Err(Error::NtLogin {
                    reason: "it names an NT domain, and this domain has none configured (nt_domain)".into(),
                });
            }
            if !domain.eq_ignore_ascii_case(&s.nt_domain) {
                return Err(Error::NtLogin {
                    reason: format!("it names the NT domain `{domain}`, and this domain's is `{}`", s.nt_domain),
                });
            }
            if user.is_empty() || user.contains('\\') {
                return Err(Error::NtLogin { reason: "it has no account name after the NT domain".into() });
            }
            return Ok((user, user));
        }
        if let Some((user, suffix)) = login.rsplit_once('@')
            && !user.is_empty()
            && s.upn_suffixes.iter().any(|own| own.eq_ignore_ascii_case(suffix))
        {
            return Ok((login, user));
        }
        Ok((login, login))
    }

    fn state_attributes(&self) -> &'static [&'static str] {
        &[
            "userAccountControl",
            COMPUTED_STATE,
            "accountExpires",
            "pwdLastSet",
            "lockoutTime",
            "objectSid",
            "primaryGroupID",
        ]
    }

    fn account_state(&self, entry: &SearchEntry, _groups: &[String]) -> Vec<&'static str> {
        AccountState::read(|n| first_text(entry, n), unix_now()).names()
    }

    /// KDC error 18 without an NTSTATUS (Samba sends none for a lockout, measured on 4.17): the entry's
    /// computed account state tells locked from disabled from expired.
    fn kerberos_revoked<'a>(
        &'a self,
        dir: &'a Directory,
        login: &'a str,
        principal: String,
        diagnostic: String,
    ) -> BoxFuture<'a, Error> {
        Box::pin(async move {
            let state = match dir.find_user(login).await {
                Ok(found) => AccountState::read(|n| first_text(&found.entry, n), unix_now()),
                Err(_) => return dirconn_kerberos::Error::Revoked { principal, diagnostic }.into(),
            };
            let diagnostic = format!("{diagnostic}; the directory's account state: {}", state.names().join(", "));
            let e = if state.locked {
                dirconn_kerberos::Error::Locked { principal, diagnostic }
            } else if state.disabled {
                dirconn_kerberos::Error::Disabled { principal, diagnostic }
            } else if state.account_expired {
                dirconn_kerberos::Error::PrincipalExpired { principal, diagnostic }
            } else {
                dirconn_kerberos::Error::Revoked { principal, diagnostic }
            };
            e.into()
        })
    }

    /// Member lists by range (`member;range=0-1499`): AD returns at most MaxValRange values at once.
    fn group_list_attributes(&self, s: &LdapSettings) -> Vec<String> {
        vec![format!("member;range=0-{}", s.range_size - 1)]
    }

    fn group_extra_attributes(&self) -> &'static [&'static str] {
        &["objectSid"]
    }

    fn has_primary_groups(&self) -> bool {
        true
    }

    fn primary_group<'a>(
        &'a self,
        dir: &'a Directory,
        entry: &'a SearchEntry,
    ) -> BoxFuture<'a, Result<Option<String>, Error>> {
        Box::pin(self.memory.primary_group(dir, entry))
    }

    fn primary_group_key(&self, entry: &SearchEntry) -> Option<String> {
        groups::primary_group_sid(entry).map(|(sid, _)| sid)
    }

    fn chain_groups<'a>(
        &'a self,
        dir: &'a Directory,
        dn: &'a str,
        primary: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, Error>> {
        Box::pin(self.memory.chain_groups(dir, dn, primary))
    }

    fn finds_entries_by_dn(&self) -> bool {
        true
    }

    fn incremental(&self) -> Incremental {
        Incremental::UsnChanged
    }

    fn extra_stages<'a>(
        &'a self,
        dir: &'a Directory,
        st: &'a mut Stages,
        ldap: &'a mut Ldap,
        url: &'a LdapUrl,
    ) -> BoxFuture<'a, ()> {
        Box::pin(stages::stages(dir, st, ldap, url))
    }

    /// AD issues no ticket to an SPN as a client (KDC error 6, measured on Samba 4.17).
    fn spn_gets_no_client_ticket(&self) -> bool {
        true
    }

    fn set_password<'a>(
        &'a self,
        dir: &'a Directory,
        login: &'a str,
        old: Option<&'a str>,
        new: &'a str,
    ) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(dir.ad_set_password(login, old, new))
    }

    fn read_lockout<'a>(&'a self, dir: &'a Directory) -> BoxFuture<'a, Result<dirconn_abi::LockoutPolicy, Error>> {
        Box::pin(lockout::read(dir))
    }

    fn describe(&self, s: &LdapSettings) -> Vec<(&'static str, String)> {
        vec![
            ("nt_domain", s.nt_domain.clone()),
            ("upn_suffixes", s.upn_suffixes.join(" ")),
            ("range_size", s.range_size.to_string()),
            ("full_sync_interval", humantime::format_duration(s.full_sync_interval).to_string()),
        ]
    }
}

/// Defaults for the engine's own tests (the `active-directory` plugin crate owns the real ones).
#[cfg(test)]
pub(crate) const TEST_DEFAULTS: crate::LdapDefaults = crate::LdapDefaults {
    kind: "active-directory",
    dialect: ActiveDirectory::new_dialect,
    user_filter: "(&(objectCategory=person)(objectClass=user)(|(sAMAccountName={user})(userPrincipalName={login})))",
    login_attribute: "sAMAccountName",
    id_attribute: "objectGUID",
    email_attribute: "mail",
    display_name_attribute: "displayName",
    member_of_attribute: "memberOf",
    group_object_filter: "(objectClass=group)",
    group_membership: crate::GroupMembership::NestedMemberOf,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::table::{self, answer};

    #[test]
    fn bind_answers_read_by_their_sub_code() {
        let d = ActiveDirectory::default();
        let entry = table::entry();
        let ad = |data: &str| {
            answer(49, &format!("80090308: LdapErr: AcceptSecurityContext error, data {data}, v4563"), None)
        };
        // Sub-code → user bind, service bind.
        let cases = [
            ("525", "DC-213", "DC-401"),
            ("52e", "DC-203", "rejected"),
            ("530", "DC-211", "DC-401"),
            ("531", "DC-212", "DC-401"),
            ("532", "DC-206", "DC-408"),
            ("533", "DC-209", "DC-401"),
            ("701", "DC-210", "DC-401"),
            ("773", "DC-205", "DC-407"),
            ("775", "DC-204", "rejected"),
        ];
        for (data, want_user, want_service) in cases {
            let got = (
                table::user(d.user_bind("cn=u", &ad(data), &entry)),
                table::service(d.service_bind("cn=s", &ad(data))),
            );
            assert_eq!((got.0.as_str(), got.1.as_str()), (want_user, want_service), "data {data}");
        }
        // No sub-code: the generic reading (no password policy control on AD).
        assert_eq!(table::user(d.user_bind("cn=u", &answer(49, "", None), &entry)), "DC-203");
        assert_eq!(table::service(d.service_bind("cn=s", &answer(49, "", None))), "rejected");
        assert_eq!(table::service(d.service_bind("cn=s", &answer(0, "", None))), "bound");
        assert_eq!(table::service(d.service_bind("cn=s", &answer(52, "", None))), "DC-404");
        assert!(d.bind_controls().is_empty());
    }
}
