//! dirconn's Kerberos password check, in Rust without a C Kerberos library (issue 10, in progress): so far
//! the keytab reader ([`keytab`]) that ticket validation needs. The AS exchange, ticket validation and the
//! KDC transport come next, on `kerberos_asn1` and `kerberos_crypto`.

pub mod keytab;

pub use keytab::{Keytab, KeytabEntry, KeytabError};
