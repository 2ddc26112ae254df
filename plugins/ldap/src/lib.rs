//! The generic LDAP connector plugin: any LDAP v3 server (OpenLDAP, 389 DS, …) over the shared engine.
//!
//! Built as a `cdylib` for the host's drop-in directory and as an `rlib` for in-process tests. The plugin
//! serves the connector kind `ldap` with the engine's generic defaults; all the work is in `dirconn-ldap`.

use abi_stable::sabi_trait::TD_Opaque;
use dirconn_abi::{ConnectorBox, ConnectorConfig, ConnectorError};
use dirconn_ldap::{DirectoryConnector, LdapDefaults};

/// The connector kind this plugin serves.
pub const KIND: &str = LdapDefaults::GENERIC.kind;

dirconn_abi::export_plugin! {
    description: "Any LDAP v3 directory (OpenLDAP, 389 Directory Server, …)",
    kinds: [KIND],
    capabilities: ["ppolicy", "failover", "sync", "syncrepl"],
    new: |config| Ok(ConnectorBox::from_value(connector_for(config)?, TD_Opaque)),
}

/// The connector for one domain.
pub type LdapConnector = DirectoryConnector;

/// Validates a domain's settings for the `ldap` kind (no network call).
pub fn connector_for(config: &ConnectorConfig) -> Result<LdapConnector, ConnectorError> {
    DirectoryConnector::new(config, LdapDefaults::GENERIC)
}
