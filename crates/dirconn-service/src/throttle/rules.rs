//! The throttle's decision, pure: from what is known of one account and one client network (failures,
//! attempts in flight, whether the network is familiar), whether an attempt may reach the directory, and if
//! not, for how long it is held back. Both ledgers (memory, PostgreSQL) feed it the same [`Snapshot`].

use std::time::Duration;

/// A failure or an attempt in flight for an account, at `at` (Unix milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// When it happened (or started).
    pub at: i64,
    /// Whether it came from a network familiar for the account.
    pub familiar: bool,
    /// Whether it is an attempt still in flight (it may yet succeed).
    pub pending: bool,
}

/// What the ledger knows when an attempt arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The account's failures the directory counted and its attempts in flight (which may become failures),
    /// within the lockout window.
    pub account: Vec<Mark>,
    /// The times of the client network's failures within the throttle's window (any account).
    pub network: Vec<i64>,
    /// Whether the client's network logged in as this account within `familiar_for`.
    pub familiar: bool,
}

/// The limits in force for one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The directory's lockout threshold (0: it never locks, and accounts need no protection).
    pub threshold: u32,
    /// Failures kept back below the threshold for the account's familiar clients.
    pub margin: u32,
    /// Over how long the directory counts failures.
    pub window: Duration,
    /// Failures of one network (any account) after which its unfamiliar attempts wait (0: no limit).
    pub network_failures: u32,
    /// Over how long a network's failures count.
    pub network_window: Duration,
}

impl Limits {
    /// Failures from unfamiliar networks after which their attempts are refused: threshold − margin, at
    /// least 1.
    pub fn unfamiliar_limit(&self) -> u32 {
        self.threshold.saturating_sub(self.margin).max(1)
    }

    /// Failures from anywhere after which every attempt is refused: one below the threshold, where the next
    /// wrong password would lock the account (at least 1).
    pub fn total_limit(&self) -> u32 {
        self.threshold.saturating_sub(1).max(1)
    }
}

/// Why an attempt is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Unfamiliar networks made `failures` failures for the account (the limit is `limit`).
    Unfamiliar {
        /// The failures counted.
        failures: u32,
        /// The limit.
        limit: u32,
    },
    /// Every network together made `failures` failures: one more would lock the account.
    Account {
        /// The failures counted.
        failures: u32,
        /// The limit.
        limit: u32,
    },
    /// Attempts for the account are in flight, and would reach the limit if they failed: wait for them.
    InFlight,
    /// The client's network failed `failures` times (any account).
    Network {
        /// The failures counted.
        failures: u32,
        /// The limit.
        limit: u32,
    },
}

/// A held-back attempt: why, and when it may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// Why.
    pub hold: Hold,
    /// How long until the count falls below the limit (at least a second).
    pub retry_after: Duration,
}

/// How long until fewer than `limit` of `times` are within `window` of `now`.
fn wait(mut times: Vec<i64>, limit: u32, window: Duration, now: i64) -> Duration {
    times.sort_unstable();
    let excess = times.len().saturating_sub(limit as usize);
    let leaving = times.get(excess).copied().unwrap_or(now);
    let until = leaving.saturating_add(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
    Duration::from_millis(u64::try_from(until.saturating_sub(now)).unwrap_or(0)).max(Duration::from_secs(1))
}

/// Whether an attempt may reach the directory now (`None`), or why not. Attempts in flight count as failures
/// (a burst cannot overrun the limit); where only they make the limit, the attempt is [`Hold::InFlight`]:
/// it waits for their answers and is decided again.
pub fn decide(s: &Snapshot, l: &Limits, now: i64) -> Option<Held> {
    let held = decide_counting(s, l, now)?;
    let settled = Snapshot { account: s.account.iter().filter(|m| !m.pending).copied().collect(), ..s.clone() };
    match decide_counting(&settled, l, now) {
        None => Some(Held { hold: Hold::InFlight, retry_after: Duration::from_secs(1) }),
        Some(_) => Some(held),
    }
}

fn decide_counting(s: &Snapshot, l: &Limits, now: i64) -> Option<Held> {
    let in_window = |at: i64, w: Duration| now.saturating_sub(at) < i64::try_from(w.as_millis()).unwrap_or(i64::MAX);
    if l.threshold > 0 {
        let all: Vec<i64> = s.account.iter().filter(|m| in_window(m.at, l.window)).map(|m| m.at).collect();
        let total = u32::try_from(all.len()).unwrap_or(u32::MAX);
        if total >= l.total_limit() {
            let hold = Hold::Account { failures: total, limit: l.total_limit() };
            return Some(Held { hold, retry_after: wait(all, l.total_limit(), l.window, now) });
        }
        if !s.familiar {
            let strange: Vec<i64> =
                s.account.iter().filter(|m| !m.familiar && in_window(m.at, l.window)).map(|m| m.at).collect();
            let count = u32::try_from(strange.len()).unwrap_or(u32::MAX);
            if count >= l.unfamiliar_limit() {
                let hold = Hold::Unfamiliar { failures: count, limit: l.unfamiliar_limit() };
                return Some(Held { hold, retry_after: wait(strange, l.unfamiliar_limit(), l.window, now) });
            }
        }
    }
    if l.network_failures > 0 && !s.familiar {
        let times: Vec<i64> = s.network.iter().copied().filter(|at| in_window(*at, l.network_window)).collect();
        let count = u32::try_from(times.len()).unwrap_or(u32::MAX);
        if count >= l.network_failures {
            let hold = Hold::Network { failures: count, limit: l.network_failures };
            return Some(Held { hold, retry_after: wait(times, l.network_failures, l.network_window, now) });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn limits(threshold: u32) -> Limits {
        Limits {
            threshold,
            margin: 2,
            window: Duration::from_secs(30 * 60),
            network_failures: 5,
            network_window: Duration::from_secs(15 * 60),
        }
    }

    fn marks(familiar: &[bool], at: i64) -> Vec<Mark> {
        familiar.iter().map(|f| Mark { at, familiar: *f, pending: false }).collect()
    }

    #[test]
    fn unfamiliar_networks_stop_at_threshold_minus_margin_and_familiar_ones_go_on() {
        let l = limits(5);
        assert_eq!((l.unfamiliar_limit(), l.total_limit()), (3, 4));
        let now = 100 * MIN;
        let s = Snapshot { account: marks(&[false, false], now - MIN), ..Snapshot::default() };
        assert_eq!(decide(&s, &l, now), None);
        let s = Snapshot { account: marks(&[false, false, false], now - MIN), ..Snapshot::default() };
        let held = decide(&s, &l, now).unwrap();
        assert_eq!(held.hold, Hold::Unfamiliar { failures: 3, limit: 3 });
        assert_eq!(held.retry_after, Duration::from_secs(29 * 60), "until the oldest leaves the window");
        assert_eq!(decide(&Snapshot { familiar: true, ..s.clone() }, &l, now), None);
        // One more from the familiar network and the next wrong password would lock: everyone waits.
        let mut four = s.account.clone();
        four.push(Mark { at: now, familiar: true, pending: false });
        let s = Snapshot { account: four, familiar: true, ..Snapshot::default() };
        assert_eq!(decide(&s, &l, now).unwrap().hold, Hold::Account { failures: 4, limit: 4 });
        // Only attempts in flight make the limit: wait for them.
        let mut busy = marks(&[false, false], now - MIN);
        busy.push(Mark { at: now, familiar: false, pending: true });
        let s = Snapshot { account: busy, ..Snapshot::default() };
        assert_eq!(decide(&s, &l, now).unwrap().hold, Hold::InFlight);
        // Failures older than the window are forgotten.
        let s = Snapshot { account: marks(&[false; 4], now - 31 * MIN), ..Snapshot::default() };
        assert_eq!(decide(&s, &l, now), None);
    }

    #[test]
    fn a_low_threshold_still_leaves_the_familiar_client_a_try() {
        let l = limits(3);
        assert_eq!((l.unfamiliar_limit(), l.total_limit()), (1, 2));
        let s = Snapshot { account: marks(&[false], 0), ..Snapshot::default() };
        assert!(decide(&s, &l, 1000).is_some());
        assert_eq!(decide(&Snapshot { familiar: true, ..s }, &l, 1000), None);
        let never = Limits { threshold: 0, network_failures: 0, ..l };
        let s = Snapshot { account: marks(&[false; 50], 0), network: vec![0; 50], familiar: false };
        assert_eq!(decide(&s, &never, 1000), None, "a directory that never locks needs no account limit");
    }

    #[test]
    fn a_noisy_network_waits_except_where_it_is_familiar() {
        let l = limits(0);
        let s = Snapshot { network: vec![0, MIN, 2 * MIN, 3 * MIN, 4 * MIN], ..Snapshot::default() };
        let held = decide(&s, &l, 5 * MIN).unwrap();
        assert_eq!(held.hold, Hold::Network { failures: 5, limit: 5 });
        assert_eq!(held.retry_after, Duration::from_secs(10 * 60));
        assert_eq!(decide(&Snapshot { familiar: true, ..s }, &l, 5 * MIN), None);
    }
}
