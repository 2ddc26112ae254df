//! Real-server test harness: a throw-away OpenLDAP `slapd` on loopback, plus network helpers.
//!
//! * [`Slapd`] starts slapd 2.5 (Debian's packages `slapd` and `ldap-utils`) in a fresh temporary
//!   folder with TLS, ppolicy, memberof and syncprov, listening on `127.0.0.1` only, loaded with
//!   the [`Fixture`] users; it is stopped by PID when dropped.
//! * [`net`] has free/refused ports and a [`net::BlackHole`] server that never answers.
//! * [`serve::Serve`] runs the built `dirconn serve` on a generated configuration; [`http::Http`] talks to it.

pub mod host;
pub mod http;
pub mod net;
pub mod postgres;
pub mod process;
pub mod samba;
pub mod serve;
pub mod slapd;
pub mod stage;

pub use host::{DomainSpec, TestHost};
pub use samba::SambaDc;
pub use slapd::{Fixture, Slapd, SlapdOptions};
