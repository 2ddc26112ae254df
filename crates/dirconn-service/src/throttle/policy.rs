//! The lockout policies of the domains, as read from their directories: asked at a domain's first login,
//! then again hourly; a failed read is retried after a minute and meanwhile the last policy read (or none:
//! the throttle then assumes its `assumed_threshold`) stands.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use dirconn_abi::LockoutPolicy;
use dirconn_host::Domain;

/// How long a policy read stands.
const FRESH: Duration = Duration::from_secs(3600);
/// How long after a failed read it is tried again.
const RETRY: Duration = Duration::from_secs(60);
/// The longest a read may hold up a login.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Clone)]
struct Known {
    policy: LockoutPolicy,
    next: Instant,
}

/// The policies read, by domain.
#[derive(Default)]
pub struct Policies {
    known: Mutex<HashMap<String, Known>>,
    /// One read at a time: logins that find no fresh policy wait for the read in progress, not each for
    /// their own.
    reading: tokio::sync::Mutex<()>,
}

impl Policies {
    /// The domain's policy: the one read, or read now.
    pub async fn get(&self, domain: &Domain) -> LockoutPolicy {
        let fresh = || {
            let cached = self.known.lock().unwrap_or_else(|e| e.into_inner()).get(&domain.name).cloned();
            match cached {
                Some(k) if k.next > Instant::now() => Ok(k.policy),
                other => Err(other),
            }
        };
        if let Ok(policy) = fresh() {
            return policy;
        }
        let _reading = self.reading.lock().await;
        let cached = match fresh() {
            Ok(policy) => return policy,
            Err(cached) => cached,
        };
        let read = tokio::time::timeout(READ_TIMEOUT, domain.lockout_policy()).await;
        let known = match read {
            Ok(Ok(policy)) => {
                tracing::info!(domain = %domain.name, threshold = policy.threshold, window = policy.window_seconds,
                    found = policy.found, source = %policy.source, "lockout policy in force");
                Known { policy, next: Instant::now() + FRESH }
            }
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("it took over {} s", READ_TIMEOUT.as_secs()),
                };
                tracing::warn!(domain = %domain.name, "the directory's lockout policy could not be read: {why}");
                let policy = cached.map(|k| k.policy).unwrap_or_else(|| domain.lockout.apply(None));
                Known { policy, next: Instant::now() + RETRY }
            }
        };
        self.known.lock().unwrap_or_else(|e| e.into_inner()).insert(domain.name.clone(), known.clone());
        known.policy
    }

    /// Forgets every policy (the configuration changed).
    pub fn clear(&self) {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
