//! The dirconn connector ABI: the one API boundary between the host and connector plugins.
//!
//! Everything that crosses between the host (`dirconn-host`) and a connector plugin (a `cdylib` in the
//! drop-in directory) is defined here, with `abi_stable` so that the layout of every type is checked when a
//! plugin is loaded: a plugin built against a different layout is refused with an `AbiInstability` error
//! instead of corrupting memory.
//!
//! - [`PluginMod`] / [`PluginModRef`]: the root module a plugin exports (metadata, log sink, constructor).
//! - [`Connector`] / [`ConnectorBox`]: one connector instance per configured mail domain; every operation is
//!   asynchronous across the boundary ([`async_ffi::FfiFuture`], polled by the host, driven by the plugin's
//!   own runtime).
//! - [`SyncStream`] / [`SyncStreamBox`]: a sync in progress, pulled by the host batch by batch (ABI 2).
//! - [`ConnectorError`]: the error that crosses, with a [`ErrorKind`] the host acts on and a stable code.
//!
//! Evolution rules: fields of the prefix types and methods of the trait are only ever appended, each with
//! the ABI version that added it in its doc; [`ABI_VERSION`] names the version a plugin was built against.
//! With the `plugin` feature, [`plugin`] gives plugin crates their runtime, panic containment and log
//! forwarding.

mod connector;
mod dn;
mod error;
pub mod failures;
mod log;
mod module;
mod names;
#[cfg(feature = "plugin")]
pub mod plugin;
mod sync;
mod types;

pub use async_ffi::{FfiFuture, FutureExt as FfiFutureExt};
pub use connector::{Connector, Connector_TO, ConnectorBox};
pub use dn::{Ava, dc_components, dn_is_within, normalize_dn, parse_dn, split_rdns};
pub use error::{ConnectorError, ErrorKind};
pub use log::{LogLevel, LogRecord, LogSink};
pub use module::{DefaultMapping, PluginMetadata, PluginMod, PluginModRef};
pub use names::{SECRET_ATTRIBUTES, is_secret_attribute};
pub use sync::{ChangeKind, SyncBatch, SyncChange, SyncEnd, SyncRequest, SyncStream, SyncStream_TO, SyncStreamBox};
pub use types::{
    AttrValue, Attribute, AttributeReport, AuthRequest, ClientContext, ConnectorConfig, FilterReport, LockoutPolicy,
    NamedValue, PasswordRequest, StageResult, StageStatus, TestReport, TestRequest, UserEntry, state,
};

pub use abi_stable;

/// The ABI version this crate defines. Version 1 is the first; appended methods and fields name theirs.
///
/// - 1: connection test, authentication, lookup, attribute discovery, effective filter.
/// - 2: [`Connector::open_sync`] and the [`SyncStream`] types. The host's layout check refuses plugins
///   built for 1 (the connector vtable has one method fewer: measured); a plugin built for 2 that does not
///   implement `open_sync` answers DC-503 (unsupported).
/// - 3: [`Connector::set_password`] with [`PasswordRequest`], and [`UserEntry::state`] (account state from
///   the directory: disabled, locked, expired…). Plugins built for 2 are refused at load, like those for 1.
/// - 4: [`PluginMod::default_mapping`] ([`DefaultMapping`]): the plugin says how its kinds' attributes fill
///   account fields, so that the host names no kind; and the C symbol `dirconn_abi_version`, which the host
///   reads before abi_stable's layout check to refuse a plugin of another version by its number. Appending
///   the field to the root module does not let ABI 3 builds load (measured: abi_stable refuses the root
///   module with "too many fields"); an ABI 3 build has no version symbol and is refused as "built before
///   ABI 4".
/// - 5: [`Connector::lockout_policy`] ([`LockoutPolicy`]): the directory's lockout threshold and observation
///   window, which the service's throttle keeps failures below. A plugin that does not implement it answers
///   DC-508 (unsupported) and the host assumes its default.
pub const ABI_VERSION: u32 = 5;
