//! `cargo xtask bench`: dirconn and a reference side by side in one run, built with the release profile.

use clap::Subcommand;

use crate::{Error, build_plugins, cargo_bin, ensure_samba, ensure_slapd, run};

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum Which {
    /// Logins through the host and the loaded plugin vs raw ldap3 (search + bind), against one slapd.
    Auth {
        /// Generated users in the directory.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Logins per round and side.
        #[arg(long, default_value_t = 4_000)]
        logins: usize,
        /// Connector to measure: `ldap` (a slapd), `active-directory` (a Samba AD DC with its 2,500
        /// fixture users; needs root, for the DC's private network namespace) or `open-directory` (a slapd
        /// with Apple's schema and generated OD users).
        #[arg(long, default_value = "ldap")]
        connector: String,
    },
    /// `dirconn serve`'s POST /v1/auth by 16 and 64 keep-alive HTTP clients vs the host's login flow in-process,
    /// against one slapd with the same users.
    Service {
        /// Generated users in the directory.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// Logins per round and side.
        #[arg(long, default_value_t = 4_000)]
        logins: usize,
        /// Compare a service with the credential cache (ours) to one without (the reference).
        #[arg(long)]
        cache: bool,
    },
    /// The load run (`cargo xtask load`): not a comparison.
    #[command(hide = true)]
    Load(LoadArgs),
    /// Logins of familiar users through `dirconn serve` while an attacker sprays wrong passwords for them from
    /// another address (ours) vs with no attacker (the reference), on one slapd whose ppolicy locks at 3.
    Spray {
        /// Generated users in the directory (each familiar, each sprayed).
        #[arg(long, default_value_t = 1_000)]
        users: usize,
        /// Logins per round and side.
        #[arg(long, default_value_t = 3_000)]
        logins: usize,
    },
    /// IMAP logins through Dovecot: the Lua passdb over `dirconn serve` vs Dovecot's own `passdb ldap` (auth
    /// binds), on one slapd (tests/src/bin/dirconn-bench-mail.rs).
    Dovecot {
        /// Generated users in the directory.
        #[arg(long, default_value_t = 2_000)]
        users: usize,
        /// Concurrent IMAP clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Logins per round and side.
        #[arg(long, default_value_t = 2_000)]
        logins: usize,
    },
    /// Postfix's `postmap -q -` through dirconn's socketmap `mailbox` table vs Postfix's own `ldap:` table,
    /// on one slapd with the same users (tests/src/bin/dirconn-bench-mail.rs).
    PostfixMap {
        /// Generated users in the directory.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// postmap processes at once (each one connection, like one smtpd).
        #[arg(long, default_value_t = 1)]
        clients: usize,
        /// Keys per process and round.
        #[arg(long, default_value_t = 20_000)]
        keys: usize,
    },
    /// Logins with the password checked by an MIT KDC: `password_check = "kerberos"` (the ticket validated
    /// with a keytab) vs pam_krb5 through `password_check = "pam"` (validating with the same keytab), same
    /// slapd, KDC and users; the LDAP bind check printed beside.
    Kerberos {
        /// Generated users in the directory and the realm.
        #[arg(long, default_value_t = 1_000)]
        users: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Logins per round and side.
        #[arg(long, default_value_t = 2_000)]
        logins: usize,
    },
    /// A trivial async call through the ABI vs the same call in-process, many in flight.
    Abi {
        /// Calls per round and side.
        #[arg(long, default_value_t = 500_000)]
        calls: usize,
        /// Calls in flight.
        #[arg(long, default_value_t = 256)]
        in_flight: usize,
    },
    /// A full sync through the host and the loaded plugin into a fresh SQLite store vs a raw ldap3 paged
    /// search of every user, against one slapd; then the sync's peak RSS, a no-change re-sync and an
    /// incremental sync after 1,000 changes. Above 100,000 users (`--users 1000000`), a 100,000-user full
    /// sync is measured first and the time ratio printed.
    Sync {
        /// Generated users in the directory.
        #[arg(long, default_value_t = 100_000)]
        users: usize,
        /// Rounds of each measure, the median printed (default: 3, 1 from 500,000 users).
        #[arg(long)]
        rounds: Option<usize>,
    },
}

/// The load run's settings (`cargo xtask load`).
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// How long.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Keep-alive clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Generated users in the directory.
    #[arg(long, default_value_t = 2_000)]
    users: usize,
}

pub fn run_bench(which: Which) -> Result<(), Error> {
    let staged = build_plugins(true, true)?;
    let cargo = cargo_bin();
    let mut args: Vec<String> = ["run", "--quiet", "--release", "-p", "dirconn-tests", "--bin", "dirconn-bench", "--"]
        .map(String::from)
        .to_vec();
    match which {
        Which::Auth { users, clients, logins, connector } => {
            let task = match connector.as_str() {
                "ldap" => {
                    ensure_slapd()?;
                    "auth"
                }
                "active-directory" => {
                    ensure_samba()?;
                    "auth-ad"
                }
                "open-directory" => {
                    ensure_slapd()?;
                    "auth-od"
                }
                other => return Err(Error::Check(format!("no benchmark for the `{other}` connector"))),
            };
            args.extend([task.into(), "--plugin-dir".into(), staged.plugin_dir.display().to_string()]);
            args.extend(["--users".into(), users.to_string(), "--clients".into(), clients.to_string()]);
            args.extend(["--logins".into(), logins.to_string()]);
        }
        Which::Service { users, logins, cache } => {
            ensure_slapd()?;
            run(&cargo, &["build", "--quiet", "--release", "-p", "dirconn"])?;
            let binary = crate::binary(true, "dirconn");
            args.extend(["service".into(), "--plugin-dir".into(), staged.plugin_dir.display().to_string()]);
            args.extend(["--binary".into(), binary.display().to_string()]);
            args.extend(["--users".into(), users.to_string(), "--logins".into(), logins.to_string()]);
            if cache {
                args.push("--cache".into());
            }
        }
        Which::Load(LoadArgs { seconds, clients, users }) => {
            ensure_slapd()?;
            run(&cargo, &["build", "--quiet", "--release", "-p", "dirconn"])?;
            let binary = crate::binary(true, "dirconn");
            args.extend(["load".into(), "--plugin-dir".into(), staged.plugin_dir.display().to_string()]);
            args.extend(["--binary".into(), binary.display().to_string(), "--seconds".into(), seconds.to_string()]);
            args.extend(["--users".into(), users.to_string(), "--clients".into(), clients.to_string()]);
        }
        Which::Spray { users, logins } => {
            ensure_slapd()?;
            run(&cargo, &["build", "--quiet", "--release", "-p", "dirconn"])?;
            let binary = crate::binary(true, "dirconn");
            args.extend(["spray".into(), "--plugin-dir".into(), staged.plugin_dir.display().to_string()]);
            args.extend(["--binary".into(), binary.display().to_string()]);
            args.extend(["--users".into(), users.to_string(), "--logins".into(), logins.to_string()]);
        }
        Which::Dovecot { users, clients, logins } => {
            ensure_slapd()?;
            run(&cargo, &["build", "--quiet", "--release", "-p", "dirconn"])?;
            args[6] = "dirconn-bench-mail".into();
            args.extend(["dovecot".into(), "--plugin-dir".into(), staged.plugin_dir.display().to_string()]);
            args.extend(["--users".into(), users.to_string(), "--clients".into(), clients.to_string()]);
            args.extend(["--logins".into(), logins.to_string()]);
        }
        Which::PostfixMap { users, clients, keys } => {
            ensure_slapd()?;
            crate::ensure_mail_servers()?;
            run(&cargo, &["build", "--quiet", "--release", "-p", "dirconn"])?;
            let binary = crate::binary(true, "dirconn");
            args[6] = "dirconn-bench-mail".into();
            args.extend(["postfix-map".into(), "--plugin-dir".into(), staged.plugin_dir.display().to_string()]);
            args.extend(["--binary".into(), binary.display().to_string()]);
            args.extend(["--users".into(), users.to_string(), "--clients".into(), clients.to_string()]);
            args.extend(["--keys".into(), keys.to_string()]);
        }
        Which::Kerberos { users, clients, logins } => {
            ensure_slapd()?;
            crate::ensure_kdc()?;
            crate::ensure_pam()?;
            args.extend(["kerberos".into(), "--plugin-dir".into(), staged.plugin_dir.display().to_string()]);
            args.extend(["--users".into(), users.to_string(), "--clients".into(), clients.to_string()]);
            args.extend(["--logins".into(), logins.to_string()]);
        }
        Which::Abi { calls, in_flight } => {
            args.extend(["abi".into(), "--plugin-dir".into(), staged.fixture_dir.display().to_string()]);
            args.extend(["--calls".into(), calls.to_string(), "--in-flight".into(), in_flight.to_string()]);
        }
        Which::Sync { users, rounds } => {
            ensure_slapd()?;
            args.extend(["sync".into(), "--plugin-dir".into(), staged.plugin_dir.display().to_string()]);
            args.extend(["--users".into(), users.to_string()]);
            if let Some(rounds) = rounds {
                args.extend(["--rounds".into(), rounds.to_string()]);
            }
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&cargo, &args)
}
