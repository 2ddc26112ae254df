//! Real-server test harness: a throw-away OpenLDAP `slapd` on loopback, plus network helpers.
//!
//! * [`Slapd`] starts slapd 2.5 (Debian's packages `slapd` and `ldap-utils`) in a fresh temporary
//!   folder with TLS, ppolicy, memberof and syncprov, listening on `127.0.0.1` only, loaded with
//!   the [`Fixture`] users; it is stopped by PID when dropped.
//! * [`net`] has free/refused ports and a [`net::BlackHole`] server that never answers.
//! * Mail servers delegating logins: [`Dovecot`] (IMAP; static, Lua-script or LDAP passdb), [`Postfix`]
//!   (smtpd with Dovecot-protocol SASL) and [`Nginx`] (mail proxy with `auth_http`), with the test clients
//!   [`imap`] and [`smtp`].
//! * [`kdc::MitKdc`] runs an MIT Kerberos KDC for a realm of its own (principals and keytabs by
//!   `kadmin.local`).
//! * [`open_directory`] loads the project's LDIF of Apple's schema into a slapd, with an Open
//!   Directory-shaped layout and data (issue 11's connector is tested on it).
//! * [`serve::Serve`] runs the built `dirconn serve` on a generated configuration; [`http::Http`] talks to it.
//! * [`browser::Browser`] drives a headless Chromium through chromedriver, with waits, screenshots and axe-core.

pub mod browser;
pub mod daemon;
pub mod dovecot;
pub mod host;
pub mod hostile;
pub mod http;
pub mod imap;
pub mod kdc;
pub mod load;
pub mod net;
pub mod nginx;
pub mod open_directory;
pub mod postfix;
pub mod postgres;
pub mod process;
pub mod samba;
pub mod serve;
pub mod slapd;
pub mod smtp;
pub mod stage;

pub use dovecot::{Dovecot, DovecotAuth, DovecotOptions, LdapAuth, LuaAuth};
pub use host::{DomainSpec, TestHost};
pub use imap::{ImapOutcome, imap_login};
pub use kdc::{KdcOptions, MitKdc};
pub use nginx::{Nginx, NginxOptions};
pub use postfix::{Postfix, PostfixOptions};
pub use samba::SambaDc;
pub use slapd::{Fixture, Slapd, SlapdOptions};
pub use smtp::{SmtpClient, SmtpMechanism, SmtpReply, smtp_auth};
