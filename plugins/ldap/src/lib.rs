//! The generic LDAP connector plugin: any LDAP v3 server (OpenLDAP, 389 DS, …) over the shared engine.
//!
//! Built as a `cdylib` for the host's drop-in directory and as an `rlib` for in-process tests. The plugin
//! is its data: the kind `ldap`, its [`DEFAULTS`] (inetOrgPerson users by uid, entryUUID keys, groups by
//! search) and its default mapping, over the engine's generic dialect.

use abi_stable::sabi_trait::TD_Opaque;
use dirconn_abi::{ConnectorBox, ConnectorConfig, ConnectorError};
use dirconn_ldap::{DEFAULT_GROUP_OBJECT_FILTER, DirectoryConnector, GroupMembership, LdapDefaults, dialect::Generic};

/// The connector kind this plugin serves.
pub const KIND: &str = "ldap";

/// The settings' defaults for the `ldap` kind.
pub const DEFAULTS: LdapDefaults = LdapDefaults {
    kind: KIND,
    dialect: Generic::new_dialect,
    user_filter: "(&(objectClass=inetOrgPerson)(uid={login}))",
    login_attribute: "uid",
    id_attribute: "entryUUID",
    email_attribute: "mail",
    display_name_attribute: "displayName",
    member_of_attribute: "memberOf",
    group_object_filter: DEFAULT_GROUP_OBJECT_FILTER,
    group_membership: GroupMembership::Search,
};

/// The account fields filled when a domain has no `[mapping]` table.
pub const MAPPING: &[(&str, &str)] =
    &[("first_name", "givenName"), ("last_name", "sn"), ("email", "mail"), ("phone", "telephoneNumber")];
/// The attributes holding the account's mail addresses.
pub const ADDRESSES: &[&str] = &["mail"];

dirconn_abi::export_plugin! {
    description: "Any LDAP v3 directory (OpenLDAP, 389 Directory Server, …)",
    kinds: [KIND],
    capabilities: ["ppolicy", "failover", "sync", "syncrepl"],
    new: |config| Ok(ConnectorBox::from_value(connector_for(config)?, TD_Opaque)),
    default_mapping: |_kind| dirconn_ldap::default_mapping(MAPPING, ADDRESSES),
}

/// The connector for one domain.
pub type LdapConnector = DirectoryConnector;

/// Validates a domain's settings for the `ldap` kind (no network call).
pub fn connector_for(config: &ConnectorConfig) -> Result<LdapConnector, ConnectorError> {
    DirectoryConnector::new(config, DEFAULTS)
}
