//! The generic LDAP v3 dialect (OpenLDAP, 389 DS, …): the trait's defaults as they are. Binds carry the
//! password policy control and are read with its response; an administrator's permanent
//! `pwdAccountLockedTime` is a lock; groups name members by DN (`member`, `uniqueMember`) or login
//! (`memberUid`); incremental syncs are RFC 4533 content syncs.

use std::sync::Arc;

use super::Dialect;

/// A generic LDAP v3 server.
#[derive(Debug, Default)]
pub struct Generic;

impl Generic {
    /// A new instance, for [`crate::LdapDefaults::dialect`].
    pub fn new_dialect() -> Arc<dyn Dialect> {
        Arc::new(Generic)
    }
}

impl Dialect for Generic {}

/// Defaults for the engine's own tests (the `ldap` plugin crate owns the real ones).
#[cfg(test)]
pub(crate) const TEST_DEFAULTS: crate::LdapDefaults = crate::LdapDefaults {
    kind: "ldap",
    dialect: Generic::new_dialect,
    user_filter: "(&(objectClass=inetOrgPerson)(uid={login}))",
    login_attribute: "uid",
    id_attribute: "entryUUID",
    email_attribute: "mail",
    display_name_attribute: "displayName",
    member_of_attribute: "memberOf",
    group_object_filter: crate::DEFAULT_GROUP_OBJECT_FILTER,
    group_membership: crate::GroupMembership::Search,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::table::{self, ACCOUNT_LOCKED, CHANGE_AFTER_RESET, PASSWORD_EXPIRED, answer};

    #[test]
    fn bind_answers_read_with_the_password_policy() {
        let d = Generic;
        let entry = table::entry();
        let user = |rc, policy: Option<&[u8]>| table::user(d.user_bind("uid=u", &answer(rc, "", policy), &entry));
        let service = |rc, policy: Option<&[u8]>| table::service(d.service_bind("cn=svc", &answer(rc, "", policy)));
        // (result code, ppolicy error) → user bind, service bind.
        let cases: [(u32, Option<&[u8]>, &str, &str); 9] = [
            (0, None, "ok", "bound"),
            (0, Some(&CHANGE_AFTER_RESET), "DC-205", "DC-407"),
            (49, None, "DC-203", "rejected"),
            (49, Some(&PASSWORD_EXPIRED), "DC-206", "DC-408"),
            (49, Some(&ACCOUNT_LOCKED), "DC-204", "rejected"),
            (50, None, "DC-405", "DC-405"),
            (53, None, "DC-203", "DC-401"),
            (52, None, "DC-404", "DC-404"),
            (80, None, "DC-405", "DC-405"),
        ];
        for (rc, policy, want_user, want_service) in cases {
            assert_eq!((user(rc, policy).as_str(), service(rc, policy).as_str()), (want_user, want_service), "{rc}");
        }
        let mut locked = table::entry();
        locked.attrs.insert("pwdAccountLockedTime".into(), vec!["000001010000Z".into()]);
        assert_eq!(table::user(d.user_bind("uid=u", &answer(49, "", None), &locked)), "DC-204");
    }
}
