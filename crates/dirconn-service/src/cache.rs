//! The optional verified-credential cache (`[service] credential_cache_ttl`, off by default): after a login
//! the directory accepted, an HMAC-SHA-256 of (domain, login, password) under a key drawn at start is kept in
//! memory with the answer, for the TTL; the same login with the same password is then answered without the
//! directory. Any other outcome for that login drops its entry; a reload empties the cache. Passwords are
//! never kept, only their keyed digests, and the key never leaves the process.
//!
//! The trade-off, documented for administrators: a password changed (or an account disabled) in the
//! directory keeps working, for logins that have been cached, until the TTL ends.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use dirconn_views::Accepted;

use crate::digest::{Keyed, same};

/// The most entries kept; beyond, new logins are not cached until entries expire.
const CAPACITY: usize = 100_000;

struct Entry {
    digest: [u8; 32],
    answer: Accepted,
    until: Instant,
}

/// Verified credentials, by (domain, login).
#[derive(Default)]
pub struct CredentialCache {
    key: Keyed,
    entries: Mutex<HashMap<(String, String), Entry>>,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache").field("entries", &self.len()).finish_non_exhaustive()
    }
}

fn slot(domain: &str, login: &str) -> (String, String) {
    (domain.to_owned(), login.to_lowercase())
}

impl CredentialCache {
    fn digest(&self, domain: &str, login: &str, password: &str) -> [u8; 32] {
        self.key.of(&[domain.as_bytes(), login.to_lowercase().as_bytes(), password.as_bytes()])
    }

    /// The cached answer of this login with this password, if it is fresh.
    pub fn get(&self, domain: &str, login: &str, password: &str) -> Option<Accepted> {
        self.get_at(domain, login, password, Instant::now())
    }

    fn get_at(&self, domain: &str, login: &str, password: &str, now: Instant) -> Option<Accepted> {
        let digest = self.digest(domain, login, password);
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(&slot(domain, login))?;
        (entry.until > now && same(&entry.digest, &digest)).then(|| entry.answer.clone())
    }

    /// Keeps a login the directory accepted, for `ttl`.
    pub fn put(&self, domain: &str, login: &str, password: &str, answer: &Accepted, ttl: Duration) {
        self.put_at(domain, login, password, answer, Instant::now() + ttl);
    }

    fn put_at(&self, domain: &str, login: &str, password: &str, answer: &Accepted, until: Instant) {
        let digest = self.digest(domain, login, password);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            let now = Instant::now();
            entries.retain(|_, e| e.until > now);
            if entries.len() >= CAPACITY {
                return;
            }
        }
        entries.insert(slot(domain, login), Entry { digest, answer: answer.clone(), until });
    }

    /// Drops a login's entry (any outcome but an accepted login).
    pub fn drop_login(&self, domain: &str, login: &str) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(&slot(domain, login));
    }

    /// Empties the cache (a reload).
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The entries kept.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether it keeps nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> Accepted {
        Accepted {
            ok: true,
            account: "alice@example.org".into(),
            domain: "example.org".into(),
            login: "alice".into(),
            email: None,
            display_name: None,
            app_groups: Vec::new(),
            fields: Default::default(),
            userdb: Default::default(),
            admin: false,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn the_same_password_is_answered_until_the_ttl_and_another_never() {
        let cache = CredentialCache::default();
        let now = Instant::now();
        cache.put_at("example.org", "Alice", "secret", &answer(), now + Duration::from_secs(60));
        assert!(cache.get_at("example.org", "alice", "secret", now).is_some(), "logins compare case-blind");
        assert!(cache.get_at("example.org", "alice", "Secret", now).is_none());
        assert!(cache.get_at("example.com", "alice", "secret", now).is_none());
        assert!(cache.get_at("example.org", "alice", "secret", now + Duration::from_secs(61)).is_none(), "expired");
        cache.drop_login("example.org", "ALICE");
        assert!(cache.is_empty());
    }

    #[test]
    fn digests_are_keyed_per_process() {
        let (a, b) = (CredentialCache::default(), CredentialCache::default());
        assert_ne!(a.digest("d", "l", "p"), b.digest("d", "l", "p"));
        assert_ne!(a.digest("d", "lp", ""), a.digest("d", "l", "p"), "parts are length-prefixed");
    }
}
