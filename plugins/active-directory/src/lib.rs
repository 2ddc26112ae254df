//! The Active Directory connector plugin: Microsoft AD and Samba AD domain controllers over the shared engine.
//!
//! The plugin is its data: the kind `active-directory`, its [`DEFAULTS`] (person objects by
//! sAMAccountName, UPN or mail, objectGUID keys, groups by memberOf upward) and its default mapping, over
//! the engine's AD dialect (bind sub-codes, primary groups, ranged member lists, account state,
//! `unicodePwd` password changes, the uSNChanged sync). Built as a `cdylib` for the host and an `rlib` for
//! tests.

use abi_stable::sabi_trait::TD_Opaque;
use dirconn_abi::{ConnectorBox, ConnectorConfig, ConnectorError};
use dirconn_ldap::{DirectoryConnector, GroupMembership, LdapDefaults, dialect::ActiveDirectory};

/// The connector kind this plugin serves.
pub const KIND: &str = "active-directory";

/// The settings' defaults for the `active-directory` kind.
pub const DEFAULTS: LdapDefaults = LdapDefaults {
    kind: KIND,
    dialect: ActiveDirectory::new_dialect,
    user_filter: "(&(objectCategory=person)(objectClass=user)(|(sAMAccountName={user})\
                  (userPrincipalName={login})(mail={login})(userPrincipalName={email})(mail={email})))",
    login_attribute: "sAMAccountName",
    id_attribute: "objectGUID",
    email_attribute: "mail",
    display_name_attribute: "displayName",
    member_of_attribute: "memberOf",
    group_object_filter: "(objectClass=group)",
    group_membership: GroupMembership::NestedMemberOf,
};

/// The account fields filled when a domain has no `[mapping]` table: AD's usual attributes, with the UPN
/// and the display name in the free fields.
pub const MAPPING: &[(&str, &str)] = &[
    ("first_name", "givenName"),
    ("last_name", "sn"),
    ("email", "mail"),
    ("phone", "telephoneNumber"),
    ("organization", "company"),
    ("city", "l"),
    ("state", "st"),
    ("country", "co"),
    ("photo", "thumbnailPhoto"),
    ("custom1", "userPrincipalName"),
    ("custom2", "displayName"),
];
/// The attributes holding the account's mail addresses (`SMTP:` marks the primary in proxyAddresses).
pub const ADDRESSES: &[&str] = &["mail", "proxyAddresses"];

dirconn_abi::export_plugin! {
    description: "Microsoft Active Directory and Samba AD domain controllers",
    kinds: [KIND],
    capabilities: ["failover", "sync", "usn-sync", "password-change", "password-reset", "global-catalog"],
    new: |config| Ok(ConnectorBox::from_value(connector_for(config)?, TD_Opaque)),
    default_mapping: |_kind| dirconn_ldap::default_mapping(MAPPING, ADDRESSES),
}

/// Validates a domain's settings for the `active-directory` kind (no network call).
pub fn connector_for(config: &ConnectorConfig) -> Result<DirectoryConnector, ConnectorError> {
    DirectoryConnector::new(config, DEFAULTS)
}
