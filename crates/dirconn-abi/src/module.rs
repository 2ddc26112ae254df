//! The root module each plugin exports: metadata, the log sink and the connector constructor.

use abi_stable::{
    StableAbi, declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{RResult, RString, RVec},
};

use crate::{ConnectorBox, ConnectorConfig, ConnectorError, LogSink, NamedValue};

/// What a plugin says about itself.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PluginMetadata {
    /// The plugin's name (`dirconn-plugin-ldap`).
    pub name: RString,
    /// The plugin's own version.
    pub version: RString,
    /// One line on what it connects to.
    pub description: RString,
    /// The connector kinds it serves (`ldap`); two plugins may not claim the same kind.
    pub kinds: RVec<RString>,
    /// The ABI version it was built against ([`crate::ABI_VERSION`]).
    #[cfg(not(feature = "skew-for-tests"))]
    pub abi_version: u32,
    /// Built only for the test that proves a changed layout is refused at load.
    #[cfg(feature = "skew-for-tests")]
    pub abi_version: u64,
    /// What it can do beyond the ABI 1 operations (`kerberos`, `pam`, `password-reset`…).
    pub capabilities: RVec<RString>,
}

/// How a connector kind's directory attributes fill account fields when a domain has no `[mapping]`
/// table (ABI 4): the plugin owns this, as it owns its filters and attribute names.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq, Default)]
pub struct DefaultMapping {
    /// Account field (`first_name`, `photo`, `custom1`…, as the `[mapping]` table's keys) → attribute.
    pub fields: RVec<NamedValue>,
    /// The attributes whose values are the account's mail addresses, in order (the first value of the
    /// first is the primary).
    pub addresses: RVec<RString>,
}

/// The root module of a connector plugin.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// The plugin's metadata (ABI 1).
    pub metadata: extern "C" fn() -> PluginMetadata,
    /// Installs the host's log callback; called once, right after load (ABI 1).
    pub set_log_sink: extern "C" fn(LogSink),
    /// Builds a connector for one domain, validating its settings (ABI 1).
    #[sabi(last_prefix_field)]
    pub new_connector: extern "C" fn(ConnectorConfig) -> RResult<ConnectorBox, ConnectorError>,
    /// The default mapping of one of its kinds (ABI 4). Older plugins lack it: the host refuses any plugin
    /// whose metadata names another ABI version before it reads this field.
    pub default_mapping: extern "C" fn(RString) -> DefaultMapping,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "dirconn_connector";
    const NAME: &'static str = "dirconn_connector";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
