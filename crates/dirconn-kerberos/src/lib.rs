//! dirconn's Kerberos password check, in Rust without a C Kerberos library, on `kerberos_asn1` and
//! `kerberos_crypto`: the AS exchange with pre-authentication, ticket validation with a keytab (so that a
//! spoofed KDC cannot accept a password), the KDC transport with failover, and one [`Error`] with a stable
//! code per KDC answer. [`Realm`] is the entry point.

pub mod crypto;
mod error;
pub mod examples;
pub mod keytab;
mod principal;
mod realm;
pub mod transport;
pub mod wire;

pub use error::{Error, error_name};
pub use keytab::{Keytab, KeytabEntry, KeytabError};
pub use principal::{BadPrincipal, Principal};
pub use realm::{Probe, Realm, RealmSettings, Validation, Verified};
pub use transport::KdcAddress;
