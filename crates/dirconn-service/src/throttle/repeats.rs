//! Wrong passwords seen recently, per account, as HMAC-SHA-256 digests under a key drawn at start, kept in
//! memory only for `repeat_window` and never stored or logged: the same wrong password again (a mail client
//! retrying a stored, old password) is answered with the directory's first refusal, without contacting the
//! directory, and is not counted again.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use dirconn_views::Refused;

use crate::digest::{Keyed, same};

/// Wrong passwords remembered per account (the oldest is forgotten first).
const PER_ACCOUNT: usize = 8;
/// Accounts remembered before expired entries are pruned.
const PRUNE_AT: usize = 50_000;

struct Seen {
    digest: [u8; 32],
    until: i64,
    refused: Refused,
}

/// The recent wrong passwords.
#[derive(Default)]
pub struct Repeats {
    key: Keyed,
    seen: Mutex<HashMap<(String, String), Vec<Seen>>>,
}

impl Repeats {
    fn digest(&self, domain: &str, login: &str, password: &str) -> [u8; 32] {
        self.key.of(&[domain.as_bytes(), login.as_bytes(), password.as_bytes()])
    }

    /// The directory's refusal of this password for this account, if it was refused within the window.
    pub fn refused(&self, domain: &str, login: &str, password: &str, now: i64) -> Option<Refused> {
        let digest = self.digest(domain, login, password);
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let list = seen.get(&(domain.to_owned(), login.to_owned()))?;
        list.iter().find(|s| s.until > now && same(&s.digest, &digest)).map(|s| s.refused.clone())
    }

    /// Remembers a password the directory refused as wrong.
    pub fn remember(&self, domain: &str, login: &str, password: &str, refused: &Refused, window: Duration, now: i64) {
        let digest = self.digest(domain, login, password);
        let until = now.saturating_add(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= PRUNE_AT {
            seen.retain(|_, list| {
                list.retain(|s| s.until > now);
                !list.is_empty()
            });
        }
        let list = seen.entry((domain.to_owned(), login.to_owned())).or_default();
        list.retain(|s| s.until > now);
        list.push(Seen { digest, until, refused: refused.clone() });
        if list.len() > PER_ACCOUNT {
            list.remove(0);
        }
    }

    /// Forgets an account's wrong passwords (after a good login: the password may since have been changed).
    pub fn forget(&self, domain: &str, login: &str) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).remove(&(domain.to_owned(), login.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use dirconn_views::Problem;

    use super::*;

    #[test]
    fn a_wrong_password_is_remembered_for_its_window_only() {
        let r = Repeats::default();
        let refused = Refused {
            ok: false,
            problem: Problem {
                code: "DC-201".into(),
                kind: dirconn_abi::ErrorKind::InvalidCredentials.into(),
                message: "m".into(),
                fix: "f".into(),
                diagnostic: None,
            },
            user_message: "Wrong".into(),
        };
        r.remember("d", "alice", "old-pass", &refused, Duration::from_secs(60), 0);
        assert_eq!(r.refused("d", "alice", "old-pass", 59_000).unwrap().problem.code, "DC-201");
        assert!(r.refused("d", "alice", "other", 1).is_none());
        assert!(r.refused("d", "bob", "old-pass", 1).is_none());
        assert!(r.refused("d", "alice", "old-pass", 60_000).is_none());
        r.forget("d", "alice");
        assert!(r.refused("d", "alice", "old-pass", 1).is_none());
    }
}
