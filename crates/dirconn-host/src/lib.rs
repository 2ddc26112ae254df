//! The dirconn host: loads connector plugins from a drop-in directory, runs one connector instance per
//! configured mail domain, and routes logins (`user@domain`) to them.
//!
//! - [`PluginRegistry`]: every file of the drop-in directory, loaded with abi_stable's layout check; files
//!   that are not plugins are reported with their reason and skipped.
//! - [`HostConfig`]: the TOML configuration, one `[[domain]]` section per mail domain.
//! - [`Host`]: the domains with their connectors, routing, and the login flow.
//! - [`Error`]: the host's one error type, each with a stable code and the fix.

pub mod accounts;
pub mod address;
mod config;
mod error;
pub mod examples;
mod host;
pub mod lockout;
mod log;
pub mod mapping;
pub mod maps;
pub mod messages;
mod plugins;
pub mod policy;
pub mod schedule;
pub mod sync;
pub mod userdb;

pub use accounts::{LoginOutcome, Migration, Via};
pub use config::{DomainConfig, HostConfig};
pub use error::Error;
pub use host::{Domain, Host, Route};
pub use log::log_sink;
pub use maps::MailMap;
pub use plugins::{LoadedPlugin, PluginRegistry, Refused};
pub use policy::{AccountPolicy, LoginPolicy, Mapping, Schedule};
pub use sync::{Progress, SyncOptions, sync_domain};
