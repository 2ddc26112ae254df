//! The throttle that protects the directory's accounts (`[service.throttle]`, on by default), in the spirit
//! of ADFS "extranet smart lockout":
//!
//! - failures are counted per account and per client network (IPv4 /24, IPv6 /56);
//! - the same wrong password again is answered from memory ([`repeats`]) and counted once;
//! - a network that logged in as an account within `familiar_for` is familiar for it;
//! - once unfamiliar networks have made threshold − margin failures for an account within the directory's
//!   observation window, their attempts are refused without contacting the directory, and once all
//!   networks together are one failure short of the threshold, everyone's are: the directory never locks
//!   the account, and its familiar clients keep logging in;
//! - an unreachable directory or a timeout never counts;
//! - the threshold and window are the directory's own ([`dirconn_host::Domain::lockout_policy`]: AD
//!   `lockoutThreshold`, ppolicy `pwdMaxFailure`, or `[domain.lockout]`).
//!
//! Attempts in flight count as failures until they are answered, so a burst cannot overrun the limit. The
//! ledger is in memory on one node and in the store when the store is PostgreSQL (shared by every node).

pub mod memory;
pub mod network;
mod policy;
pub mod repeats;
pub mod rules;
mod shared;

use std::time::Duration;

use dirconn_host::Domain;
use dirconn_store::Store;
use serde::Deserialize;

use self::{memory::Memory, policy::Policies, repeats::Repeats};
pub use self::{
    network::Network,
    rules::{Held, Hold, Limits},
};

/// The `[service.throttle]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Whether logins are throttled at all.
    pub enabled: bool,
    /// Failures kept back below the directory's lockout threshold for an account's familiar clients.
    pub margin: u32,
    /// Failures of one client network (any account) after which its unfamiliar attempts wait (0: none).
    pub network_failures: u32,
    /// Over how long a network's failures count, and the lockout window when the directory says none.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How long a network stays familiar for an account after a login from it.
    #[serde(with = "humantime_serde")]
    pub familiar_for: Duration,
    /// How long a wrong password is remembered (answered again without the directory).
    #[serde(with = "humantime_serde")]
    pub repeat_window: Duration,
    /// The directory's threshold to assume when it cannot be read and `[domain.lockout]` does not say.
    pub assumed_threshold: u32,
    /// How long a held-back answer is delayed: an attacker's connection then costs time, not the service's
    /// CPU (a tarpit, as Dovecot's `auth_failure_delay`).
    #[serde(with = "humantime_serde")]
    pub hold_delay: Duration,
    /// Bits of an IPv4 address that make its network.
    pub ipv4_prefix: u8,
    /// Bits of an IPv6 address that make its network.
    pub ipv6_prefix: u8,
}

impl Default for ThrottleConfig {
    fn default() -> ThrottleConfig {
        ThrottleConfig {
            enabled: true,
            margin: 2,
            network_failures: 100,
            window: Duration::from_secs(30 * 60),
            familiar_for: Duration::from_secs(30 * 86_400),
            repeat_window: Duration::from_secs(15 * 60),
            assumed_threshold: 5,
            hold_delay: Duration::from_secs(1),
            ipv4_prefix: 24,
            ipv6_prefix: 56,
        }
    }
}

/// An attempt's place in the ledger: the account (domain and login as counted) and the client network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The domain.
    pub domain: String,
    /// The login as counted: lowercase, without an NT domain (`EXAMPLE\`) or an `@suffix`, so that one
    /// account's spellings count together.
    pub login: String,
    /// The client's network.
    pub network: Network,
}

impl Key {
    /// The key of a login (as routed to `domain`) from `ip`.
    pub fn new(domain: &str, login: &str, ip: Option<std::net::IpAddr>, config: &ThrottleConfig) -> Key {
        let login = login.trim().to_lowercase();
        let login = login.rsplit_once('\\').map_or(login.as_str(), |(_, user)| user);
        let login = login.split_once('@').map_or(login, |(user, _)| user);
        Key {
            domain: domain.to_owned(),
            login: login.to_owned(),
            network: Network::of(ip, config.ipv4_prefix, config.ipv6_prefix),
        }
    }
}

/// What became of an admitted attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// The directory accepted the password: the network becomes familiar.
    Accepted,
    /// The directory refused the password as wrong: a failure it counted.
    WrongPassword,
    /// Refused otherwise (unknown user, disabled…): a failure of the network, not of the account.
    Denied,
    /// No answer (unreachable, timeout, store failure): nothing counts.
    NoAnswer,
}

impl Settle {
    /// What a login's outcome means for the throttle: `None` is success; a wrong password counts for the
    /// account; a temporary failure (unreachable, timeout, store) never counts.
    pub fn of(err: Option<&dirconn_host::Error>) -> Settle {
        match err {
            None => Settle::Accepted,
            Some(e) if crate::core::is_temporary(e) => Settle::NoAnswer,
            Some(e) if e.kind() == dirconn_abi::ErrorKind::InvalidCredentials => Settle::WrongPassword,
            Some(_) => Settle::Denied,
        }
    }
}

/// An attempt allowed to reach the directory; settle it with [`Throttle::settle`].
#[derive(Debug)]
pub struct Ticket {
    key: Key,
    id: String,
    limits: Limits,
    /// Admitted by the store's ledger (else by the memory one).
    shared: bool,
}

/// What the throttle says of an attempt.
pub enum Admission {
    /// Go on to the directory.
    Go(Ticket),
    /// The same wrong password again: the directory's first answer, without contacting it.
    Repeated(Box<dirconn_views::Refused>),
    /// Held back.
    Held(Held, Limits),
    /// The throttle is off.
    Off,
    /// The store that holds the shared ledger failed: the login cannot be served either (a temporary
    /// failure).
    StoreDown(dirconn_store::Error),
}

/// The throttle.
#[derive(Default)]
pub struct Throttle {
    memory: Memory,
    /// Woken at every settled attempt: attempts waiting for those in flight decide again.
    settled: tokio::sync::Notify,
    repeats: Repeats,
    policies: Policies,
}

/// The longest an attempt waits for the attempts in flight before it (then it is held back).
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(15);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whether a store shares the throttle's ledger between nodes (PostgreSQL; a SQLite file serves one node).
pub fn shares(store: &Store) -> bool {
    store.backend() == dirconn_store::Backend::Postgres
}

impl Throttle {
    /// The limits in force for a domain.
    pub async fn limits(&self, domain: &Domain, config: &ThrottleConfig) -> Limits {
        let policy = self.policies.get(domain).await;
        let threshold = if policy.found { policy.threshold } else { config.assumed_threshold };
        // At most a week: the store's purge keeps a week of failures (a longer window counts as a week).
        let window = match policy.window_seconds {
            0 => config.window,
            s => Duration::from_secs(s.min(7 * 86_400)),
        };
        Limits {
            threshold,
            margin: config.margin,
            window,
            network_failures: config.network_failures,
            network_window: config.window,
        }
    }

    /// The lockout policy the throttle holds for a domain (read from the directory at most hourly).
    pub async fn policy(&self, domain: &Domain) -> dirconn_abi::LockoutPolicy {
        self.policies.get(domain).await
    }

    /// Decides whether an attempt may reach the directory.
    pub async fn admit(
        &self,
        store: &Store,
        domain: &Domain,
        key: Key,
        password: &str,
        config: &ThrottleConfig,
    ) -> Admission {
        if !config.enabled {
            return Admission::Off;
        }
        if let Some(refused) = self.repeats.refused(&key.domain, &key.login, password, now_ms()) {
            return Admission::Repeated(Box::new(refused));
        }
        let limits = self.limits(domain, config).await;
        let shared = shares(store);
        let waited = std::time::Instant::now();
        loop {
            // Registered before deciding, so that no settle between the decision and the wait is missed.
            let settled = self.settled.notified();
            let decided = if shared {
                match shared::admit(store, &key, &limits, config.familiar_for, now_ms()).await {
                    Ok(decided) => decided,
                    Err(err) => return Admission::StoreDown(err),
                }
            } else {
                self.memory.admit(&key, &limits, config.familiar_for, now_ms()).map(|t| t.to_string())
            };
            match decided {
                Ok(id) => return Admission::Go(Ticket { key, id, limits, shared }),
                Err(held) if held.hold == Hold::InFlight && waited.elapsed() < IN_FLIGHT_WAIT => {
                    // Another node's attempts settle in its own process: poll the store as well.
                    let _ = tokio::time::timeout(Duration::from_millis(if shared { 20 } else { 500 }), settled).await;
                }
                Err(held) => return Admission::Held(held, limits),
            }
        }
    }

    /// Records what became of an admitted attempt; `refused` is the directory's answer to a wrong password.
    pub async fn settle(
        &self,
        store: &Store,
        ticket: Ticket,
        outcome: Settle,
        password: &str,
        refused: Option<&dirconn_views::Refused>,
        config: &ThrottleConfig,
    ) {
        let now = now_ms();
        let Ticket { key, id, limits, shared } = ticket;
        match (outcome, refused) {
            (Settle::WrongPassword, Some(r)) => {
                self.repeats.remember(&key.domain, &key.login, password, r, config.repeat_window, now);
            }
            (Settle::Accepted, _) => self.repeats.forget(&key.domain, &key.login),
            _ => {}
        }
        if !shared {
            self.memory.settle(&key, id.parse().unwrap_or(0), outcome, &limits, now);
        } else if let Err(err) = shared::settle(store, &key, &id, outcome, &limits, now).await {
            // The store failed (a restart): the attempt's mark would stay "in flight" and hold the account's
            // next logins back, so the outcome is recorded again, backing off, for up to a minute.
            tracing::warn!(
                code = err.code(),
                "the shared throttle ledger failed to record an outcome; retrying: {err}"
            );
            let store = store.clone();
            tokio::spawn(async move {
                let mut delay = Duration::from_millis(250);
                let started = std::time::Instant::now();
                while started.elapsed() < Duration::from_secs(60) {
                    tokio::time::sleep(delay).await;
                    if shared::settle(&store, &key, &id, outcome, &limits, now).await.is_ok() {
                        return;
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                tracing::warn!(
                    "an outcome was not recorded in the shared throttle ledger; its mark counts for the window"
                );
            });
        }
        self.settled.notify_waiters();
    }

    /// Forgets the lockout policies read (after a reload).
    pub fn reload(&self) {
        self.policies.clear();
    }

    /// Reads the lockout policy of every enabled domain of `host` (at the start and after a reload), so that
    /// logins do not wait for the read.
    pub async fn prefetch(&self, host: &dirconn_host::Host) {
        for domain in host.domains().iter().filter(|d| d.enabled()) {
            let _ = self.policies.get(domain).await;
        }
    }
}
