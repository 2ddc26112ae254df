//! When each domain's directory last answered (any definite answer, a denial included) or failed: what
//! `/readyz` reports and what decides whether a domain needs a probe.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// When a directory last answered, and last failed.
type Seen = (Option<Instant>, Option<Instant>);

/// The directories' recent answers.
#[derive(Debug, Default)]
pub struct Health {
    seen: Mutex<HashMap<String, Seen>>,
}

impl Health {
    /// The directory of `domain` answered.
    pub fn answered(&self, domain: &str) {
        self.with(domain, |e| e.0 = Some(Instant::now()));
    }

    /// The directory of `domain` failed (unreachable, timeout…).
    pub fn failed(&self, domain: &str) {
        self.with(domain, |e| e.1 = Some(Instant::now()));
    }

    fn with(&self, domain: &str, f: impl FnOnce(&mut Seen)) {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(seen.entry(domain.to_owned()).or_default());
    }

    /// Whether the directory answered within `window` and has not failed since.
    pub fn recent(&self, domain: &str, window: Duration) -> bool {
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match seen.get(domain) {
            Some((Some(ok), failed)) => ok.elapsed() <= window && failed.is_none_or(|f| f <= *ok),
            _ => false,
        }
    }
}
