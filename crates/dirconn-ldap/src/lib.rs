//! The shared LDAP engine under every dirconn connector (generic LDAP, Active Directory, Open Directory).
//!
//! Connectors differ mostly in data (default filters, attribute names: [`LdapDefaults`], which each plugin
//! crate owns) and in a small [`dialect::Dialect`] per directory kind; the engine owns what they share: [`LdapSettings`] and their validation, URL failover, TLS, the pooled service connections,
//! user binds on their own connections, RFC 4515/4514 escaping, password-policy answers, and the staged
//! connection test, nested group resolution, and the full and incremental (syncrepl) sync passes.
//! [`Directory`] is the entry point; [`Error`] is the one error type, convertible into the
//! ABI's [`dirconn_abi::ConnectorError`] with a stable code.

mod check;
mod conn;
#[cfg(feature = "plugin")]
mod connector;
mod diagnose;
pub mod dialect;
mod directory;
mod entry;
mod error;
pub mod escape;
pub mod examples;
mod groups;
mod guard;
pub mod keys;
mod lockout;
mod pool;
mod ppolicy;
mod settings;
mod sync;
mod tls;
mod url;

pub use check::{CheckKind, Kerberos, KerberosCheck, PasswordCheck};
#[cfg(feature = "plugin")]
pub use connector::{DirectoryConnector, default_mapping};
pub use dialect::ad::format as ad;
pub use directory::{Directory, UserFound};
pub use error::{ClosedDuring, Error, TlsProblem};
pub use groups::GroupIndex;
pub use settings::{DEFAULT_GROUP_OBJECT_FILTER, GroupMembership, LdapDefaults, LdapSettings, Secret, dns_domain_of};
pub use sync::ChangeSink;
pub use url::LdapUrl;

pub use dirconn_abi::LockoutPolicy;
