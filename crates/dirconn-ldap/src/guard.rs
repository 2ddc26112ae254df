//! The service-bind guard: once the directory has rejected the service account's secret, no more binds go
//! out with that secret until it changes (the password file is read again while binds are held back), the
//! configuration is reloaded (a new connector starts with a clean guard), or a growing back-off has passed.
//! A password policy that locks accounts after a few bad binds (OpenLDAP ppolicy `pwdMaxFailure`, AD's
//! lockout threshold) would otherwise lock the service account within seconds of a wrong secret, since every
//! login and sync opens service connections.
//!
//! Concurrency: a secret that has not bound recently goes out as one probe at a time (many logins creating
//! pool connections at once wait for the probe's answer instead of all binding with a secret that may be
//! wrong); once it bound, connections are opened concurrently. A probe that got no answer (the directory
//! unreachable) lets those that waited for it go at once, each to its own transport failure, instead of
//! queueing one timeout after another. A rejection held back, every caller fails fast with `DC-401` saying
//! how many binds were tried with this secret and when the next try is.

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use ldap3::LdapResult;

use crate::{Error, LdapSettings, Secret};

/// The longest back-off: one bind a day with a rejected secret.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);

/// How long a successful bind vouches for its secret: within it, service connections are opened
/// concurrently; after it, the next one goes out alone first (a secret changed in the directory meanwhile
/// then costs one failed bind, not one per connection being opened).
const TRUSTED_FOR: Duration = Duration::from_secs(30);

/// What the directory's answer to a service bind means.
#[derive(Debug)]
pub enum Verdict {
    /// Bound: the secret is right.
    Bound,
    /// The directory rejected the secret (invalid credentials): more binds with it could lock the account.
    Rejected {
        /// The server's answer.
        diagnostic: String,
    },
    /// Another failure, which says nothing against the secret (must change, expired, unavailable…).
    Failed(Error),
}

/// Whether a search was refused because the bound account must change its password first (OpenLDAP's
/// ppolicy answers every other operation of such a session so, with insufficientAccess).
pub(crate) fn restricted_until_changed(result: &LdapResult) -> bool {
    matches!(result.rc, 50 | 53)
        && result.text.contains("Operations are restricted to bind/unbind/abandon/StartTLS/modify password")
}

/// The guard of one connector instance (one domain).
#[derive(Debug)]
pub(crate) struct BindGuard {
    dn: String,
    /// The password file, read again while binds are held back (`bind_password_file`).
    file: Option<PathBuf>,
    first_backoff: Duration,
    state: Mutex<State>,
    /// Held by the one bind in flight with a secret that has not bound recently.
    probe: Arc<tokio::sync::Mutex<()>>,
    /// Probes that ended without the directory's answer (unreachable, timed out).
    unanswered: Arc<AtomicU64>,
}

#[derive(Debug)]
struct State {
    secret: Secret,
    /// When a bind with this secret last succeeded (none since it was rejected).
    bound_at: Option<Instant>,
    /// Binds the directory rejected with this secret.
    rejected: u32,
    held: Option<Held>,
}

impl State {
    /// The back-off the next rejection starts: the first back-off for a secret not rejected yet (the
    /// password may be fixed in the directory meanwhile), then a day. So at most two rejected binds fall in
    /// any 24 hours, fewer than any lockout threshold worth having, whatever its observation window.
    fn next_backoff(&self, first: Duration) -> Duration {
        if self.rejected == 0 { first } else { MAX_BACKOFF }
    }
}

#[derive(Debug, Clone)]
struct Held {
    until: Instant,
    until_wall: SystemTime,
    diagnostic: String,
}

/// Leave to bind with `secret`; hand it back to [`BindGuard::settle`] with the answer. A probe's ticket
/// dropped unsettled (no answer came) counts as unanswered.
#[derive(Debug)]
pub(crate) struct Ticket {
    secret: Secret,
    probe: Option<(tokio::sync::OwnedMutexGuard<()>, Arc<AtomicU64>)>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some((_, unanswered)) = &self.probe {
            unanswered.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Ticket {
    /// The secret to bind with.
    pub fn secret(&self) -> &str {
        self.secret.expose()
    }
}

impl BindGuard {
    /// A clean guard for a domain's service account.
    pub fn new(settings: &LdapSettings) -> BindGuard {
        BindGuard {
            dn: settings.bind_dn.clone(),
            file: settings.bind_password_file.clone(),
            first_backoff: settings.service_bind_backoff,
            state: Mutex::new(State {
                secret: settings.bind_password.clone(),
                bound_at: None,
                rejected: 0,
                held: None,
            }),
            probe: Arc::new(tokio::sync::Mutex::new(())),
            unanswered: Arc::new(AtomicU64::new(0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leave to bind, or the held-back error at once. Waits while another bind probes a secret that has
    /// not bound recently, and then follows its answer.
    pub async fn admit(&self) -> Result<Ticket, Error> {
        if let Some(ticket) = self.check()? {
            return Ok(ticket);
        }
        let unanswered = self.unanswered.load(Ordering::SeqCst);
        let permit = Arc::clone(&self.probe).lock_owned().await;
        match self.check()? {
            Some(ticket) => Ok(ticket),
            // A probe before this one got no answer while this caller waited: the directory is likely
            // unreachable, and queueing each caller behind the previous one's timeout helps nobody.
            None if self.unanswered.load(Ordering::SeqCst) != unanswered => {
                Ok(Ticket { secret: self.lock().secret.clone(), probe: None })
            }
            None => {
                Ok(Ticket { secret: self.lock().secret.clone(), probe: Some((permit, Arc::clone(&self.unanswered))) })
            }
        }
    }

    /// `Err` when held back; `Some` when the secret bound recently (no probe needed); `None`: probe first.
    fn check(&self) -> Result<Option<Ticket>, Error> {
        let mut st = self.lock();
        if st.held.is_some() {
            self.reread_file(&mut st);
        }
        let now = Instant::now();
        if let Some(held) = &st.held
            && now < held.until
        {
            return Err(self.held_error(&st, held, now));
        }
        let trusted = st.bound_at.is_some_and(|t| now.duration_since(t) < TRUSTED_FOR);
        Ok(trusted.then(|| Ticket { secret: st.secret.clone(), probe: None }))
    }

    /// While held back: a changed, non-empty password file replaces the secret and clears the hold.
    fn reread_file(&self, st: &mut State) {
        let Some(path) = &self.file else { return };
        let text = match crate::settings::read_password_file(path) {
            Ok(text) => text,
            Err(err) => {
                tracing::debug!(file = %path.display(), error = %err, "cannot read the service password file again");
                return;
            }
        };
        if text.is_empty() || text == st.secret.expose() {
            return;
        }
        tracing::info!(
            dn = %self.dn,
            file = %path.display(),
            "the service password file changed: binding with its new content"
        );
        *st = State { secret: Secret::new(text), bound_at: None, rejected: 0, held: None };
    }

    /// Records the directory's answer to a bind made with `ticket`; returns the caller's outcome.
    pub fn settle(&self, mut ticket: Ticket, verdict: Verdict) -> Result<(), Error> {
        // An answer came: the probe lock is released without counting it as unanswered.
        ticket.probe.take();
        let mut st = self.lock();
        // The secret changed while this bind was out: its answer says nothing about the new one.
        let current = st.secret == ticket.secret;
        match verdict {
            Verdict::Bound => {
                if current {
                    if st.rejected > 0 {
                        tracing::info!(dn = %self.dn, "the service account bound again");
                    }
                    st.bound_at = Some(Instant::now());
                    st.rejected = 0;
                    st.held = None;
                }
                Ok(())
            }
            Verdict::Failed(err) => Err(err),
            Verdict::Rejected { diagnostic } => {
                if !current {
                    return Err(Error::ServiceBind { dn: self.dn.clone(), diagnostic });
                }
                let now = Instant::now();
                let backoff = st.next_backoff(self.first_backoff);
                st.rejected += 1;
                st.bound_at = None;
                let already = st.held.as_ref().is_some_and(|h| now < h.until);
                if !already {
                    st.held = Some(Held { until: now + backoff, until_wall: SystemTime::now() + backoff, diagnostic });
                    tracing::warn!(
                        dn = %self.dn,
                        rejected = st.rejected,
                        backoff = %humantime::format_duration(backoff),
                        "the directory rejected the service account's secret: binds with it are held back so \
                         that the account is not locked"
                    );
                }
                let held = st.held.clone().expect("set above");
                Err(self.held_error(&st, &held, now))
            }
        }
    }

    fn held_error(&self, st: &State, held: &Held, now: Instant) -> Error {
        let wait = held.until.saturating_duration_since(now);
        // Whole seconds, rounded up: "in 0s" would read as "now".
        let wait = Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        Error::ServiceBindHeld {
            dn: self.dn.clone(),
            tried: st.rejected,
            next_try: humantime::format_rfc3339_seconds(held.until_wall).to_string(),
            wait,
            from_file: self.file.is_some(),
            diagnostic: held.diagnostic.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(file: Option<PathBuf>, backoff: &str) -> BindGuard {
        let json = format!(
            r#"{{"urls":["ldap://127.0.0.1:1"],"bind_dn":"cn=svc","bind_password":"first","search_base":"dc=x","service_bind_backoff":"{backoff}"}}"#
        );
        let mut s =
            LdapSettings::from_json("x.org", &json, std::path::Path::new("/"), crate::dialect::generic::TEST_DEFAULTS)
                .expect("settings");
        s.bind_password_file = file;
        BindGuard::new(&s)
    }

    fn rejected() -> Verdict {
        Verdict::Rejected { diagnostic: "49 (invalidCredentials)".into() }
    }

    #[tokio::test]
    async fn a_rejection_holds_binds_back_then_one_bind_a_day() {
        let g = guard(None, "1s");
        let t = g.admit().await.unwrap();
        let err = g.settle(t, rejected()).unwrap_err();
        assert_eq!(err.code(), "DC-401");
        let text = err.to_string();
        assert!(text.contains("1 bind(s)") && text.contains("lock"), "{text}");
        let err = g.admit().await.unwrap_err();
        assert!(err.to_string().contains("1 bind(s)"), "{err}");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let t = g.admit().await.expect("the back-off has passed");
        let err = g.settle(t, rejected()).unwrap_err();
        assert!(err.to_string().contains("2 bind(s)") && err.to_string().contains("in 1day"), "{err}");
        assert_eq!(g.lock().next_backoff(g.first_backoff), MAX_BACKOFF);
    }

    #[tokio::test]
    async fn a_changed_password_file_clears_the_hold_and_a_bind_clears_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "first\n").unwrap();
        let g = guard(Some(file.clone()), "15m");
        let t = g.admit().await.unwrap();
        let _ = g.settle(t, rejected());
        assert!(g.admit().await.is_err(), "same content: still held");
        std::fs::write(&file, "second\n").unwrap();
        let t = g.admit().await.expect("the new content goes out at once");
        assert_eq!(t.secret(), "second");
        g.settle(t, Verdict::Bound).unwrap();
        let st = g.lock();
        assert_eq!((st.rejected, st.held.is_none()), (0, true));
    }

    #[test]
    fn a_search_restricted_until_the_password_changes_is_told() {
        let restricted = crate::dialect::table::answer(
            50,
            "Operations are restricted to bind/unbind/abandon/StartTLS/modify password",
            None,
        );
        assert!(restricted_until_changed(&restricted));
        assert!(!restricted_until_changed(&crate::dialect::table::answer(50, "no read access", None)));
    }

    #[tokio::test]
    async fn only_one_probe_goes_out_while_the_secret_is_unproven() {
        let g = Arc::new(guard(None, "15m"));
        let first = g.admit().await.unwrap();
        let waiters: Vec<_> = (0..10)
            .map(|_| {
                let g = Arc::clone(&g);
                tokio::spawn(async move { g.admit().await.map(|_| ()) })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(waiters.iter().all(|w| !w.is_finished()), "they wait for the probe");
        let _ = g.settle(first, rejected());
        for w in waiters {
            assert_eq!(w.await.unwrap().unwrap_err().code(), "DC-401");
        }
        assert_eq!(g.lock().rejected, 1, "one bind went out");
    }

    #[tokio::test]
    async fn a_probe_without_an_answer_lets_the_waiters_go_together() {
        let g = Arc::new(guard(None, "15m"));
        let first = g.admit().await.unwrap();
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let g = Arc::clone(&g);
                tokio::spawn(async move { g.admit().await.map(|t| t.probe.is_some()) })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(first); // unreachable: no verdict
        for w in waiters {
            assert_eq!(w.await.unwrap().ok(), Some(false), "none of them waits for another probe");
        }
        let next = g.admit().await.unwrap();
        assert!(next.probe.is_some(), "a new caller probes again");
    }
}
