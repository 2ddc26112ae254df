//! The throttle's ledger in memory, for one node: per account its failures and attempts in flight and the
//! networks it logged in from, per network its failures. Bounded: expired entries are pruned, an account
//! keeps at most [`FAMILIAR_PER_ACCOUNT`] familiar networks, and a network keeps only the failures its limit
//! needs.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use super::{
    Key, Settle,
    network::Network,
    rules::{Held, Limits, Mark, Snapshot, decide},
};

/// Familiar networks kept per account (the oldest is forgotten first).
pub const FAMILIAR_PER_ACCOUNT: usize = 16;
/// Accounts tracked before expired entries are pruned.
const PRUNE_AT: usize = 50_000;

#[derive(Default)]
struct Account {
    /// (ticket, mark).
    marks: Vec<(u64, Mark)>,
    /// (network, last login there, Unix ms).
    familiar: Vec<(Network, i64)>,
}

#[derive(Default)]
struct State {
    accounts: HashMap<(String, String), Account>,
    networks: HashMap<Network, VecDeque<i64>>,
    next: u64,
}

/// The in-memory ledger.
#[derive(Default)]
pub struct Memory {
    state: Mutex<State>,
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Memory {
    /// Decides an attempt and, when it may go on, records it as in flight; returns its ticket.
    pub fn admit(&self, key: &Key, limits: &Limits, familiar_for: std::time::Duration, now: i64) -> Result<u64, Held> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.accounts.len() >= PRUNE_AT {
            let keep = ms(limits.window.max(familiar_for));
            state.accounts.retain(|_, a| {
                a.marks.retain(|(_, m)| now - m.at < keep);
                a.familiar.retain(|(_, at)| now - at < ms(familiar_for));
                !a.marks.is_empty() || !a.familiar.is_empty()
            });
            let net_keep = ms(limits.network_window);
            state.networks.retain(|_, v| v.back().is_some_and(|at| now - at < net_keep));
        }
        let State { accounts, networks, next } = &mut *state;
        let network: Vec<i64> = networks.get(&key.network).map(|v| v.iter().copied().collect()).unwrap_or_default();
        let account = accounts.entry((key.domain.clone(), key.login.clone())).or_default();
        account.marks.retain(|(_, m)| now - m.at < ms(limits.window));
        let familiar = account.familiar.iter().any(|(n, at)| *n == key.network && now - at < ms(familiar_for));
        let snapshot = Snapshot { account: account.marks.iter().map(|(_, m)| *m).collect(), network, familiar };
        if let Some(held) = decide(&snapshot, limits, now) {
            return Err(held);
        }
        *next += 1;
        // A directory that never locks needs no account marks.
        if limits.threshold > 0 {
            account.marks.push((*next, Mark { at: now, familiar, pending: true }));
        }
        Ok(*next)
    }

    /// Records what became of an admitted attempt.
    pub fn settle(&self, key: &Key, ticket: u64, outcome: Settle, limits: &Limits, now: i64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(outcome, Settle::WrongPassword | Settle::Denied) && limits.network_failures > 0 {
            let times = state.networks.entry(key.network).or_default();
            times.push_back(now);
            while times.len() > limits.network_failures as usize {
                times.pop_front();
            }
        }
        let Some(account) = state.accounts.get_mut(&(key.domain.clone(), key.login.clone())) else { return };
        match outcome {
            Settle::WrongPassword => {
                for (t, m) in &mut account.marks {
                    if *t == ticket {
                        m.pending = false;
                    }
                }
            }
            Settle::Denied | Settle::NoAnswer => account.marks.retain(|(t, _)| *t != ticket),
            Settle::Accepted => {
                // The directory forgets its count on a good login; the failures of unfamiliar networks are
                // kept for the window all the same, so that an attacker gains nothing by the user's logins.
                account.marks.retain(|(t, m)| *t != ticket && (!m.familiar || m.pending));
                account.familiar.retain(|(n, _)| *n != key.network);
                account.familiar.push((key.network, now));
                if account.familiar.len() > FAMILIAR_PER_ACCOUNT {
                    account.familiar.remove(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::throttle::rules::Hold;

    fn key(net: &str) -> Key {
        Key { domain: "d".into(), login: "alice".into(), network: Network::of(Some(net.parse().unwrap()), 32, 128) }
    }

    #[test]
    fn attempts_in_flight_count_and_the_familiar_network_goes_on() {
        let m = Memory::default();
        let l = Limits {
            threshold: 3,
            margin: 2,
            window: Duration::from_secs(1800),
            network_failures: 0,
            network_window: Duration::from_secs(1800),
        };
        let month = Duration::from_secs(30 * 86_400);
        let (attacker, user) = (key("127.0.0.2"), key("127.0.0.3"));
        // The user logs in once: their network is familiar from now on.
        let t = m.admit(&user, &l, month, 0).unwrap();
        m.settle(&user, t, Settle::Accepted, &l, 1);
        // The attacker's first attempt is in flight: a second one, at once, is held back.
        let first = m.admit(&attacker, &l, month, 10).unwrap();
        assert_eq!(m.admit(&attacker, &l, month, 11).unwrap_err().hold, Hold::InFlight, "it waits for the first");
        m.settle(&attacker, first, Settle::WrongPassword, &l, 12);
        assert_eq!(m.admit(&attacker, &l, month, 13).unwrap_err().hold, Hold::Unfamiliar { failures: 1, limit: 1 });
        // The familiar user still gets through, and after one mistake of their own everyone waits.
        let t = m.admit(&user, &l, month, 14).unwrap();
        m.settle(&user, t, Settle::WrongPassword, &l, 15);
        assert_eq!(m.admit(&user, &l, month, 16).unwrap_err().hold, Hold::Account { failures: 2, limit: 2 });
        // An attempt that got no answer never counts.
        let m = Memory::default();
        let t = m.admit(&attacker, &l, month, 0).unwrap();
        m.settle(&attacker, t, Settle::NoAnswer, &l, 1);
        assert!(m.admit(&attacker, &l, month, 2).is_ok());
    }
}
