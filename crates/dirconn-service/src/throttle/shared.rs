//! The throttle's ledger in the store (PostgreSQL, shared by every node): the same decision as in memory,
//! made inside the store's transaction that holds the account's row.

use std::time::Duration;

use dirconn_store::{Store, ThrottleKey, ThrottleOutcome, ThrottleSince};

use super::{
    Key, Settle,
    rules::{Held, Limits, Mark, Snapshot, decide},
};

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn since(limits: &Limits, familiar_for: Duration, now: i64) -> ThrottleSince {
    ThrottleSince {
        marks: now.saturating_sub(ms(limits.window)),
        network: now.saturating_sub(ms(limits.network_window)),
        familiar: now.saturating_sub(ms(familiar_for)),
    }
}

/// Decides an attempt in the store; `Ok(Err(held))` when it is held back.
pub async fn admit(
    store: &Store,
    key: &Key,
    limits: &Limits,
    familiar_for: Duration,
    now: i64,
) -> Result<Result<String, Held>, dirconn_store::Error> {
    let network = key.network.to_string();
    let k = ThrottleKey { domain: &key.domain, login: &key.login, network: &network };
    let mut held = None;
    let id = store
        .throttle_admit(k, now, since(limits, familiar_for, now), limits.threshold > 0, |read| {
            let snapshot = Snapshot {
                account: read
                    .marks
                    .iter()
                    .map(|(at, familiar, pending)| Mark { at: *at, familiar: *familiar, pending: *pending })
                    .collect(),
                network: read.network.clone(),
                familiar: read.familiar,
            };
            held = decide(&snapshot, limits, now);
            held.is_none().then_some(read.familiar)
        })
        .await?;
    // The ledger holds back only what the decision held.
    Ok(match id {
        Some(id) => Ok(id),
        None => held.map_or(Ok(String::new()), Err),
    })
}

/// Records an outcome in the store.
pub async fn settle(
    store: &Store,
    key: &Key,
    id: &str,
    outcome: Settle,
    limits: &Limits,
    now: i64,
) -> Result<(), dirconn_store::Error> {
    let network = key.network.to_string();
    let k = ThrottleKey { domain: &key.domain, login: &key.login, network: &network };
    let outcome = match outcome {
        Settle::Accepted => ThrottleOutcome::Accepted,
        Settle::WrongPassword => ThrottleOutcome::WrongPassword,
        Settle::Denied => ThrottleOutcome::Denied,
        Settle::NoAnswer => ThrottleOutcome::NoAnswer,
    };
    store.throttle_settle(k, id, outcome, now, now.saturating_sub(ms(limits.network_window))).await
}
