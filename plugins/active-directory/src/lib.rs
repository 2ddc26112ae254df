//! The Active Directory connector plugin: Microsoft AD and Samba AD domain controllers over the shared engine.
//!
//! AD is the engine's [`LdapDefaults::ACTIVE_DIRECTORY`] (person objects by sAMAccountName, UPN or mail,
//! objectGUID keys, groups by the matching rule in chain) plus the behaviour the engine keeps for the
//! Active Directory flavor: bind sub-codes, primary groups, ranged member lists, account state, `unicodePwd`
//! password changes and the uSNChanged sync. Built as a `cdylib` for the host and an `rlib` for tests.

use abi_stable::sabi_trait::TD_Opaque;
use dirconn_abi::{ConnectorBox, ConnectorConfig, ConnectorError};
use dirconn_ldap::{DirectoryConnector, LdapDefaults};

/// The connector kind this plugin serves.
pub const KIND: &str = LdapDefaults::ACTIVE_DIRECTORY.kind;

dirconn_abi::export_plugin! {
    description: "Microsoft Active Directory and Samba AD domain controllers",
    kinds: [KIND],
    capabilities: ["failover", "sync", "usn-sync", "password-change", "password-reset", "global-catalog"],
    new: |config| Ok(ConnectorBox::from_value(connector_for(config)?, TD_Opaque)),
}

/// Validates a domain's settings for the `active-directory` kind (no network call).
pub fn connector_for(config: &ConnectorConfig) -> Result<DirectoryConnector, ConnectorError> {
    DirectoryConnector::new(config, LdapDefaults::ACTIVE_DIRECTORY)
}
