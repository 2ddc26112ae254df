//! The Apple Open Directory connector plugin: OD masters and replicas (OpenLDAP with Apple's schema) over
//! the shared engine.
//!
//! The plugin is its data: the kind `open-directory`, its [`DEFAULTS`] (`apple-user` entries by any short
//! name or mail, `apple-generateduid` keys, `apple-group` groups by GUID) and its default mapping
//! (inetOrgPerson attributes and `jpegPhoto`, every `mail` value an address), over the engine's OD
//! dialect (the 50 answer, disabled users, GUID membership and nesting, the realm from
//! `cn=KerberosKDC,cn=config`, its connection-test stages). Built as a `cdylib` and an `rlib`.

use abi_stable::sabi_trait::TD_Opaque;
use dirconn_abi::{ConnectorBox, ConnectorConfig, ConnectorError};
use dirconn_ldap::{DirectoryConnector, GroupMembership, LdapDefaults, dialect::OpenDirectory};

/// The connector kind this plugin serves.
pub const KIND: &str = "open-directory";

/// The settings' defaults for the `open-directory` kind. Every `uid` value is a short name of the one
/// account (the extra ones are aliases); `apple-generateduid` is case-exact and is never lowercased.
pub const DEFAULTS: LdapDefaults = LdapDefaults {
    kind: KIND,
    dialect: OpenDirectory::new_dialect,
    user_filter: "(&(objectClass=apple-user)(|(uid={login})(mail={login})(mail={email})))",
    login_attribute: "uid",
    id_attribute: "apple-generateduid",
    email_attribute: "mail",
    display_name_attribute: "cn",
    member_of_attribute: "memberOf",
    group_object_filter: "(objectClass=apple-group)",
    group_membership: GroupMembership::Search,
};

/// The account fields filled when a domain has no `[mapping]` table.
pub const MAPPING: &[(&str, &str)] = &[
    ("first_name", "givenName"),
    ("last_name", "sn"),
    ("email", "mail"),
    ("phone", "telephoneNumber"),
    ("organization", "o"),
    ("city", "l"),
    ("state", "st"),
    ("country", "c"),
    ("photo", "jpegPhoto"),
    ("custom1", "apple-user-homeurl"),
];
/// Every `mail` value is an address of the account, the first the primary.
pub const ADDRESSES: &[&str] = &["mail"];

dirconn_abi::export_plugin! {
    description: "Apple Open Directory (macOS Server) masters and replicas",
    kinds: [KIND],
    capabilities: ["failover", "sync", "syncrepl", "kerberos-realm-from-directory"],
    new: |config| Ok(ConnectorBox::from_value(connector_for(config)?, TD_Opaque)),
    default_mapping: |_kind| dirconn_ldap::default_mapping(MAPPING, ADDRESSES),
}

/// Validates a domain's settings for the `open-directory` kind (no network call).
pub fn connector_for(config: &ConnectorConfig) -> Result<DirectoryConnector, ConnectorError> {
    DirectoryConnector::new(config, DEFAULTS)
}
