//! `cargo xtask bench`: dirconn and a reference side by side in one run.

use clap::Subcommand;

use crate::Error;

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum Which {
    /// Logins through the host and the loaded plugin vs raw ldap3, against one slapd.
    Auth,
    /// A trivial async call through the ABI vs a direct in-process call.
    Abi,
}

pub fn run(which: Which) -> Result<(), Error> {
    Err(Error::Check(format!("bench {which:?} is being written")))
}
