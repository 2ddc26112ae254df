//! The shared LDAP engine under every dirconn connector (generic LDAP, Active Directory, Open Directory).
//!
//! Connectors differ mostly in data (default filters, attribute names, error tables); the engine owns what
//! they share: [`LdapSettings`] and their validation, URL failover, TLS, the pooled service connections,
//! user binds on their own connections, RFC 4515/4514 escaping, password-policy answers, and the staged
//! connection test. [`Directory`] is the entry point; [`Error`] is the one error type, convertible into the
//! ABI's [`dirconn_abi::ConnectorError`] with a stable code.

mod conn;
mod diagnose;
mod directory;
mod error;
pub mod escape;
mod ppolicy;
mod settings;
mod tls;
mod url;

pub use directory::{Directory, UserFound};
pub use error::{ClosedDuring, Error, TlsProblem};
pub use settings::{LdapDefaults, LdapSettings, Secret};
pub use url::LdapUrl;
