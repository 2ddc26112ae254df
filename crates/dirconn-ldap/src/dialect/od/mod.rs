//! The Apple Open Directory dialect: OpenLDAP with Apple's schema. Users are `apple-user` entries under
//! `cn=users`, keyed by `apple-generateduid` (case-exact); groups are `apple-group` entries under
//! `cn=groups` naming members by GUID (`apple-group-memberguid`, with `memberUid` short names beside) and
//! child groups by GUID (`apple-group-nestedgroup`). A user is disabled by `;DisabledUser;` in
//! `authAuthority` or by membership of `com.apple.access_disabled`; a wrong password on a user bind is
//! answered 50 (insufficientAccess: binds are checked through Kerberos since OS X 10.9); the Kerberos
//! realm is named in `cn=KerberosKDC,cn=config`. Incremental syncs are content syncs (syncrepl).
//!
//! Files: this one (the hooks), `stages.rs` (the connection test's layout, schema and realm stages).

mod stages;

use std::sync::Arc;

use dirconn_abi::{AttrValue, UserEntry, parse_dn, state};
use futures::future::BoxFuture;
use ldap3::{Ldap, LdapResult, Scope, SearchEntry, controls::RawControl};

use super::{Dialect, KerberosDefaults, MemberLinks, RealmSource};
use crate::{
    Directory, Error, LdapSettings, LdapUrl,
    diagnose::Stages,
    directory::{first_text, text_values},
    error::describe_result,
    guard::Verdict,
};

/// The group whose members Open Directory refuses (Workgroup Manager's "access disabled").
pub const ACCESS_DISABLED_GROUP: &str = "com.apple.access_disabled";
/// The `authAuthority` tag of a disabled user.
pub const DISABLED_TAG: &str = ";DisabledUser;";
/// The entry naming the realm, under the naming context.
pub const KDC_CONFIG_RDNS: &str = "cn=KerberosKDC,cn=config";

/// An Open Directory master or replica.
#[derive(Debug, Default)]
pub struct OpenDirectory;

impl OpenDirectory {
    /// A new instance, for [`crate::LdapDefaults::dialect`].
    pub fn new_dialect() -> Arc<dyn Dialect> {
        Arc::new(OpenDirectory)
    }
}

impl Dialect for OpenDirectory {
    fn kerberos_defaults(&self) -> KerberosDefaults {
        // The OD master is the realm's KDC; the realm is in cn=KerberosKDC,cn=config.
        KerberosDefaults { realm: RealmSource::Directory, kdcs_are_directory_servers: true, principal: "{uid}@{realm}" }
    }

    fn read_realm<'a>(&'a self, dir: &'a Directory) -> BoxFuture<'a, Result<String, Error>> {
        Box::pin(read_realm(dir))
    }

    fn group_container(&self) -> Option<&'static str> {
        Some("cn=groups")
    }

    /// No password policy control: OD's policies live in its Password Server and KDC, not in slapd's
    /// ppolicy overlay (asking for it would only make a slapd that has the overlay do its work).
    fn bind_controls(&self) -> Vec<RawControl> {
        Vec::new()
    }

    /// 50 (insufficientAccess) is OD's answer to a wrong password: invalid credentials.
    fn user_bind(&self, dn: &str, result: &LdapResult, entry: &SearchEntry) -> Result<Vec<String>, Error> {
        if result.rc == 50 {
            return Err(Error::InvalidCredentials { dn: dn.to_owned(), diagnostic: describe_result(result) });
        }
        super::generic_user_bind(dn, result, entry)
    }

    fn service_bind(&self, dn: &str, result: &LdapResult) -> Verdict {
        if result.rc == 50 {
            return Verdict::Rejected { diagnostic: describe_result(result) };
        }
        super::generic_service_bind(dn, result)
    }

    fn state_attributes(&self) -> &'static [&'static str] {
        &["authAuthority", "pwdAccountLockedTime"]
    }

    fn account_state(&self, entry: &SearchEntry, groups: &[String]) -> Vec<&'static str> {
        let tagged = text_values(entry, "authAuthority").iter().any(|v| v.contains(DISABLED_TAG));
        if tagged || groups.iter().any(|g| is_access_disabled(g)) { vec![state::DISABLED] } else { Vec::new() }
    }

    /// OD's KDC refuses a disabled user; a bind on a slapd without Apple's password checks may not, so the
    /// state the directory records refuses the login either way.
    fn refuse_after_password(&self, user: &UserEntry) -> Option<Error> {
        if !user.state.iter().any(|s| s.as_str() == state::DISABLED) {
            return None;
        }
        let tagged = user
            .attributes
            .iter()
            .filter(|a| a.name.eq_ignore_ascii_case("authAuthority"))
            .any(|a| a.values.iter().any(|v| matches!(v, AttrValue::Text(t) if t.contains(DISABLED_TAG))));
        let why = if tagged {
            format!("authAuthority holds {DISABLED_TAG}")
        } else {
            format!("a member of {ACCESS_DISABLED_GROUP}")
        };
        Some(Error::AccountDisabled {
            dn: user.dn.to_string(),
            diagnostic: format!("the password was accepted, and Open Directory disables the account ({why})"),
        })
    }

    fn member_links(&self) -> MemberLinks {
        MemberLinks {
            by_dn: &[],
            by_login: &["memberUid"],
            by_key: &["apple-group-memberguid"],
            nested_by_key: Some("apple-group-nestedgroup"),
        }
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

    fn describe(&self, s: &LdapSettings) -> Vec<(&'static str, String)> {
        vec![("realm_entry", format!("{KDC_CONFIG_RDNS},{}", s.naming_context()))]
    }
}

/// The server is not Open Directory (`DC-409`): `missing` says what the connection test did not find.
pub(crate) fn not_od(missing: String, diagnostic: String) -> Error {
    Error::NotThisKind {
        kind: "Open Directory".into(),
        missing,
        fix: "Point the URL at the Open Directory master or replica; for another LDAP server use connector = \
              \"ldap\"."
            .into(),
        diagnostic,
    }
}

/// Whether a group DN is `com.apple.access_disabled`'s (its first RDN's value, by meaning).
fn is_access_disabled(dn: &str) -> bool {
    parse_dn(dn).and_then(|rdns| rdns.into_iter().next()).is_some_and(|rdn| {
        rdn.iter().any(|ava| ava.attr.eq_ignore_ascii_case("cn") && ava.value == ACCESS_DISABLED_GROUP)
    })
}

/// The realm from `cn=KerberosKDC,cn=config,<naming context>` (`apple-config-realname`).
pub(crate) async fn read_realm(dir: &Directory) -> Result<String, Error> {
    let base = format!("{KDC_CONFIG_RDNS},{}", dir.settings().naming_context());
    let attrs = ["apple-config-realname".to_owned()];
    let (found, result) = dir.service_search(&base, Scope::Base, "(objectClass=*)", &attrs, 1, "realm read").await?;
    let realm = found.first().and_then(|e| first_text(e, "apple-config-realname"));
    match (result.rc, realm) {
        (0, Some(realm)) if !realm.trim().is_empty() => Ok(realm.trim().to_owned()),
        (rc, _) => Err(Error::NotThisKind {
            kind: "Open Directory".into(),
            missing: format!("{base} names no Kerberos realm (apple-config-realname)"),
            fix: "Set kerberos_realm = \"EXAMPLE.ORG\", or check that this is the Open Directory master (its \
                  realm entry is created when Kerberos is set up)."
                .into(),
            diagnostic: if rc == 0 {
                "the entry has no apple-config-realname".into()
            } else {
                describe_result(&result)
            },
        }),
    }
}

/// Defaults for the engine's own tests (the `open-directory` plugin crate owns the real ones).
#[cfg(test)]
pub(crate) const TEST_DEFAULTS: crate::LdapDefaults = crate::LdapDefaults {
    kind: "open-directory",
    dialect: OpenDirectory::new_dialect,
    user_filter: "(&(objectClass=apple-user)(|(uid={login})(mail={login})(mail={email})))",
    login_attribute: "uid",
    id_attribute: "apple-generateduid",
    email_attribute: "mail",
    display_name_attribute: "cn",
    member_of_attribute: "memberOf",
    group_object_filter: "(objectClass=apple-group)",
    group_membership: crate::GroupMembership::Search,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        GroupIndex,
        dialect::table::{self, answer},
    };

    #[test]
    fn fifty_is_a_wrong_password_here() {
        let d = OpenDirectory;
        let entry = table::entry();
        assert_eq!(table::user(d.user_bind("uid=u", &answer(50, "", None), &entry)), "DC-203");
        assert_eq!(table::service(d.service_bind("cn=s", &answer(50, "", None))), "rejected");
        // The rest reads as on any OpenLDAP.
        assert_eq!(table::user(d.user_bind("uid=u", &answer(49, "", None), &entry)), "DC-203");
        assert_eq!(table::user(d.user_bind("uid=u", &answer(0, "", None), &entry)), "ok");
        assert_eq!(table::service(d.service_bind("cn=s", &answer(52, "", None))), "DC-404");
        assert!(d.bind_controls().is_empty(), "no ppolicy control");
    }

    fn entry(dn: &str, attrs: &[(&str, &[&str])]) -> SearchEntry {
        SearchEntry {
            dn: dn.into(),
            attrs: attrs.iter().map(|(k, v)| ((*k).to_owned(), v.iter().map(|x| (*x).to_owned()).collect())).collect(),
            bin_attrs: Default::default(),
        }
    }

    #[test]
    fn disabled_two_ways() {
        let d = OpenDirectory;
        let tagged = entry("uid=d,cn=users,dc=x", &[("authAuthority", &[";DisabledUser;;Kerberosv5;;d@R;R;"])]);
        assert_eq!(d.account_state(&tagged, &[]), [state::DISABLED]);
        let plain = entry("uid=e,cn=users,dc=x", &[("authAuthority", &[";Kerberosv5;;e@R;R;"])]);
        assert!(d.account_state(&plain, &["cn=staff,cn=groups,dc=x".into()]).is_empty());
        assert_eq!(
            d.account_state(&plain, &["CN=com.apple.access_disabled, cn=groups,dc=x".into()]),
            [state::DISABLED]
        );
    }

    #[test]
    fn guid_membership_nesting_cycles_and_dangling_keys() {
        let d = OpenDirectory;
        let mut index = GroupIndex::new(10, d.member_links());
        index.set_key_attribute("apple-generateduid");
        let g = |dn: &str, guid: &str, members: &[&str], uids: &[&str], nested: &[&str]| {
            entry(
                dn,
                &[
                    ("apple-generateduid", &[guid]),
                    ("apple-group-memberguid", members),
                    ("memberUid", uids),
                    ("apple-group-nestedgroup", nested),
                ],
            )
        };
        index.add(&g("cn=staff,cn=groups,dc=x", "S", &[], &[], &["D"]));
        index.add(&g("cn=devs,cn=groups,dc=x", "D", &["A"], &[], &["C"]));
        index.add(&g("cn=core,cn=groups,dc=x", "C", &["K"], &[], &[]));
        index.add(&g("cn=legacy,cn=groups,dc=x", "L", &[], &["carol"], &[]));
        index.add(&g("cn=loop-a,cn=groups,dc=x", "LA", &["K"], &[], &["LB"]));
        index.add(&g("cn=loop-b,cn=groups,dc=x", "LB", &[], &[], &["LA", "GONE"]));
        let carol = index.groups_of(("uid=carol,cn=users,dc=x", "carol", "K"), &[], None);
        assert_eq!(
            carol,
            [
                "cn=legacy,cn=groups,dc=x",
                "cn=core,cn=groups,dc=x",
                "cn=loop-a,cn=groups,dc=x",
                "cn=devs,cn=groups,dc=x",
                "cn=loop-b,cn=groups,dc=x",
                "cn=staff,cn=groups,dc=x"
            ]
        );
        // Keys are case-exact, as on OD: a lowercase GUID is another key.
        assert!(index.groups_of(("uid=a,cn=users,dc=x", "a", "a"), &[], None).is_empty());
        assert_eq!(index.dangling(), [("cn=loop-b,cn=groups,dc=x".to_owned(), "GONE".to_owned())]);
    }
}
