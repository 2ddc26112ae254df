//! The service's core, shared by every front end (HTTP API, Dovecot auth protocol, nginx): the live host and
//! store (swapped whole on SIGHUP), and one `authenticate` and one `user` operation whose verdicts each front
//! end only translates into its protocol.

use std::{
    net::IpAddr,
    sync::{Arc, RwLock},
    time::Instant,
};

use dirconn_abi::ClientContext;
use dirconn_host::{Error as HostError, Host, MailMap, accounts::account_name};
use dirconn_store::{Account, Field, Store, Value};
use dirconn_views::{Accepted, Refused, UserFound};
use zeroize::Zeroizing;

use crate::{
    Error, ServiceConfig,
    audit::{AuditSink, Entry},
    cache::CredentialCache,
    health::Health,
    metrics::Metrics,
    throttle::{self, Admission, Settle, Throttle},
};

/// What a user held back by the throttle is told.
pub const THROTTLED: &str =
    "Too many failed logins. Try again later, or from a network you have logged in from before.";

/// The front end an attempt came through (audit and metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interface {
    /// `POST /v1/auth`.
    Http,
    /// Dovecot's auth protocol.
    Dovecot,
    /// nginx's `auth_http`.
    Nginx,
}

impl Interface {
    /// The label.
    pub fn name(self) -> &'static str {
        match self {
            Interface::Http => "http",
            Interface::Dovecot => "dovecot",
            Interface::Nginx => "nginx",
        }
    }
}

/// One authentication attempt, as any front end received it.
pub struct Attempt {
    /// The login as typed.
    pub login: String,
    /// The password. Never logged.
    pub password: Zeroizing<String>,
    /// The mail server's service (`imap`, `smtp`, `pop3`…).
    pub service: String,
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// The local address the client connected to (routes bare logins to a domain's `bind_ip`).
    pub local_ip: Option<IpAddr>,
    /// Whether the client's connection is encrypted (or on loopback).
    pub secured: bool,
    /// The front end.
    pub interface: Interface,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("login", &self.login)
            .field("password", &"<redacted>")
            .field("service", &self.service)
            .field("client_ip", &self.client_ip)
            .field("local_ip", &self.local_ip)
            .field("interface", &self.interface)
            .finish()
    }
}

/// What became of an attempt.
#[derive(Debug)]
pub enum Verdict {
    /// Logged in.
    Accepted(Box<Accepted>),
    /// Refused: the credentials or the account (a definite answer).
    Denied(Box<Refused>),
    /// The directory, the store or the configuration failed: the client should retry later. Never a
    /// wrong password.
    Temporary(Box<Refused>),
    /// Held back by the throttle without contacting the directory (DC-819): retry after these seconds.
    Throttled(Box<Refused>, u64),
}

/// The configuration, host and store in force; replaced whole by a reload.
pub struct Live {
    /// The host (plugins, domains).
    pub host: Host,
    /// The account store.
    pub store: Store,
    /// The `[service]` table.
    pub config: ServiceConfig,
}

/// The service: what every front end calls.
pub struct Service {
    live: RwLock<Arc<Live>>,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// When each domain's directory last answered.
    pub health: Health,
    /// Verified credentials (`credential_cache_ttl`; emptied by a reload).
    pub credentials: CredentialCache,
    /// The login throttle (`[service.throttle]`; its ledger outlives reloads).
    pub throttle: Throttle,
    audit: AuditSink,
}

/// The longest login taken (bytes), as the engine's own rule.
pub const MAX_LOGIN_BYTES: usize = 256;
/// The longest password taken (bytes).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Refuses a login or password that no directory should see: empty, too long, control characters.
pub fn check_input(login: &str, password: &str) -> Result<(), Error> {
    let bad_login = |problem: &str| Err(Error::BadLogin { problem: problem.into() });
    if login.trim().is_empty() {
        return bad_login("it is empty");
    }
    if login.len() > MAX_LOGIN_BYTES {
        return bad_login("it is over 256 bytes");
    }
    if login.chars().any(char::is_control) {
        return bad_login("it holds control characters");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::BadPassword { problem: "it is over 1024 bytes".into() });
    }
    if password.contains('\0') {
        return Err(Error::BadPassword { problem: "it holds a NUL byte".into() });
    }
    Ok(())
}

/// Whether a host error is a temporary failure for the mail server (retry later) rather than a verdict.
pub fn is_temporary(err: &HostError) -> bool {
    matches!(err, HostError::Store(_)) || !err.kind().is_denial()
}

impl Service {
    /// A service over a loaded host and an open store.
    pub fn new(live: Live, metrics: Arc<Metrics>, audit: AuditSink) -> Service {
        Service {
            live: RwLock::new(Arc::new(live)),
            metrics,
            health: Health::default(),
            credentials: CredentialCache::default(),
            throttle: Throttle::default(),
            audit,
        }
    }

    /// The configuration, host and store in force now.
    pub fn live(&self) -> Arc<Live> {
        self.live.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Puts a new configuration in force; requests already running finish on the old one.
    pub fn replace(&self, live: Live) -> Arc<Live> {
        let new = Arc::new(live);
        let mut slot = self.live.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = std::mem::replace(&mut *slot, new);
        // Passwords and policies may have changed with the configuration.
        self.credentials.clear();
        self.throttle.reload();
        old
    }

    /// Logs a user in: checks the input, routes it (by domain part, login suffix or local IP), runs the
    /// host's login flow over the store, and records the attempt in the audit and the metrics.
    pub async fn authenticate(&self, attempt: Attempt) -> Verdict {
        let started = Instant::now();
        let live = self.live();
        let (verdict, domain) = self.decide(&live, &attempt).await;
        let latency = started.elapsed();
        let (outcome, kind, account) = match &verdict {
            Verdict::Accepted(a) => ("ok".to_owned(), "ok", Some(a.account.clone())),
            Verdict::Denied(r) | Verdict::Temporary(r) | Verdict::Throttled(r, _) => {
                (r.problem.code.clone(), r.problem.kind.as_str(), None)
            }
        };
        self.metrics.attempt(domain.as_deref().unwrap_or("-"), attempt.interface, kind, latency);
        self.audit.record(Entry {
            interface: attempt.interface,
            domain,
            login: attempt.login.clone(),
            account,
            client_ip: attempt.client_ip,
            local_ip: attempt.local_ip,
            service: attempt.service.clone(),
            outcome,
            kind: kind.to_owned(),
            latency,
        });
        if matches!(verdict, Verdict::Throttled(..)) {
            // A tarpit: the attacker waits, the service does not work.
            tokio::time::sleep(live.config.throttle.hold_delay).await;
        }
        verdict
    }

    async fn decide(&self, live: &Live, attempt: &Attempt) -> (Verdict, Option<String>) {
        if let Err(err) = check_input(&attempt.login, &attempt.password) {
            return (Verdict::Denied(Box::new(crate::error::refusal(&err))), None);
        }
        let route = match live.host.route_at(&attempt.login, attempt.local_ip) {
            Ok(route) => route,
            Err(err) => return (Verdict::Denied(Box::new(Refused::host(&err, None))), None),
        };
        let domain = route.domain;
        let client = ClientContext {
            address: attempt.client_ip.map(|ip| ip.to_string().into()).into(),
            protocol: Some(attempt.service.as_str().into()).into(),
        };
        let ttl = live.config.credential_cache_ttl;
        if ttl.is_some()
            && let Some(answer) = self.credentials.get(&domain.name, route.login, &attempt.password)
        {
            tracing::debug!(domain = %domain.name, login = %route.login, "login answered from the credential cache");
            return (Verdict::Accepted(Box::new(answer)), Some(domain.name.clone()));
        }
        let config = &live.config.throttle;
        let key = throttle::Key::new(&domain.name, route.login, attempt.client_ip, config);
        let ticket = match self.throttle.admit(&live.store, domain, key.clone(), &attempt.password, config).await {
            Admission::Go(ticket) => Some(ticket),
            Admission::Off => None,
            Admission::StoreDown(err) => {
                let err = HostError::from(err);
                tracing::warn!(domain = %domain.name, code = err.code(), "login failed temporarily: {err}");
                return (Verdict::Temporary(Box::new(Refused::host(&err, Some(domain)))), Some(domain.name.clone()));
            }
            Admission::Repeated(refused) => {
                tracing::debug!(domain = %domain.name, login = %key.login, "the same wrong password again: answered from memory");
                return (Verdict::Denied(refused), Some(domain.name.clone()));
            }
            Admission::Held(held, limits) => {
                let err = Error::Throttled {
                    account: format!("{}@{}", key.login, domain.name),
                    network: key.network.to_string(),
                    hold: held.hold,
                    threshold: limits.threshold,
                    retry_after: held.retry_after.as_secs(),
                };
                tracing::debug!(domain = %domain.name, login = %key.login, network = %key.network, "login held back: {err}");
                let mut refused = crate::error::refusal(&err);
                refused.user_message = THROTTLED.to_owned();
                self.metrics.throttled(&domain.name, held.hold);
                return (Verdict::Throttled(Box::new(refused), held.retry_after.as_secs()), Some(domain.name.clone()));
            }
        };
        let outcome =
            live.host.login_account_at(&live.store, &attempt.login, &attempt.password, client, attempt.local_ip).await;
        match (&outcome, ttl) {
            (Ok(_), _) | (_, None) => {}
            (Err(_), Some(_)) => self.credentials.drop_login(&domain.name, route.login),
        }
        let settle = Settle::of(outcome.as_ref().err());
        let verdict = match outcome {
            Ok(o) => {
                self.health.answered(&domain.name);
                let answer = accepted(domain, &o.account, o.warnings);
                if let Some(ttl) = ttl {
                    self.credentials.put(&domain.name, route.login, &attempt.password, &answer, ttl);
                }
                Verdict::Accepted(Box::new(answer))
            }
            Err(err) if is_temporary(&err) => {
                self.health.failed(&domain.name);
                tracing::warn!(domain = %domain.name, code = err.code(), "login failed temporarily: {err}");
                Verdict::Temporary(Box::new(Refused::host(&err, Some(domain))))
            }
            Err(err) => {
                self.health.answered(&domain.name);
                Verdict::Denied(Box::new(Refused::host(&err, Some(domain))))
            }
        };
        if let Some(ticket) = ticket {
            // The directory's refusal of a wrong password is what a repeat of it is answered with.
            let refused = match &verdict {
                Verdict::Denied(r) => Some(&**r),
                _ => None,
            };
            self.throttle.settle(&live.store, ticket, settle, &attempt.password, refused, config).await;
        }
        (verdict, Some(domain.name.clone()))
    }

    /// Whether an address (`user@domain`, or a bare login routed as a login would be) is an active
    /// account: from the store, else from the directory (an account not created yet). Errors: not found
    /// (DC-816, or the host's denial) or a temporary failure.
    pub async fn user(&self, address: &str, local_ip: Option<IpAddr>) -> Result<UserFound, (bool, Box<Refused>)> {
        let live = self.live();
        if let Err(err) = check_input(address, "") {
            return Err((false, Box::new(crate::error::refusal(&err))));
        }
        let route = live.host.route_at(address, local_ip).map_err(|e| (false, Box::new(Refused::host(&e, None))))?;
        let domain = route.domain;
        let name = account_name(route.login);
        // Two entries for one address is the directory's mess, not an unknown recipient: a mail server must
        // defer the message (503), not bounce it (404).
        let temporary = |e: HostError| {
            let t = is_temporary(&e) || e.kind() == dirconn_abi::ErrorKind::Ambiguous;
            (t, Box::new(Refused::host(&e, Some(domain))))
        };
        let stored = live.store.account(&domain.name, &name).await.map_err(|e| temporary(e.into()))?;
        if let Some(account) = stored {
            if !account.active {
                let err = HostError::AccountInactive { domain: domain.name.clone(), login: account.login.clone() };
                return Err((false, Box::new(Refused::host(&err, Some(domain)))));
            }
            return Ok(user_found(domain, &account));
        }
        match domain.lookup(route.login).await {
            Ok(entry) if entry.is_disabled() => {
                let err = HostError::AccountInactive { domain: domain.name.clone(), login: entry.login.to_string() };
                Err((false, Box::new(Refused::host(&err, Some(domain)))))
            }
            Ok(entry) => {
                self.health.answered(&domain.name);
                let login = account_name(&entry.login);
                Ok(UserFound {
                    account: format!("{login}@{}", domain.name),
                    domain: domain.name.clone(),
                    login: login.clone(),
                    active: true,
                    stored: false,
                    userdb: domain.userdb.fill(&login, &domain.name),
                })
            }
            Err(err) => {
                if is_temporary(&err) {
                    self.health.failed(&domain.name);
                } else {
                    self.health.answered(&domain.name);
                }
                Err(temporary(err))
            }
        }
    }

    /// Looks a key up in one of Postfix's tables, from the store alone (no directory round trip): `None`
    /// when it is not found, an error when the store fails (a temporary failure for the mail server).
    pub async fn lookup(&self, map: MailMap, key: &str) -> Result<Option<String>, HostError> {
        let live = self.live();
        live.host.lookup_map(&live.store, map, key).await
    }

    /// Flushes the audit rows still queued (at shutdown).
    pub async fn flush(&self) {
        self.audit.flush().await;
    }
}

fn text_fields(account: &Account) -> std::collections::BTreeMap<String, String> {
    Field::ALL
        .iter()
        .filter_map(|f| match account.fields.get(*f)? {
            Value::Text(t) => Some((f.name().to_owned(), t.clone())),
            Value::Bytes(_) => None,
        })
        .collect()
}

fn accepted(domain: &dirconn_host::Domain, account: &Account, warnings: Vec<String>) -> Accepted {
    Accepted {
        ok: true,
        account: format!("{}@{}", account.login, account.domain),
        domain: account.domain.clone(),
        login: account.login.clone(),
        email: account.fields.text(Field::Email).map(str::to_owned),
        display_name: display_name(account),
        app_groups: account.app_groups.iter().cloned().collect(),
        fields: text_fields(account),
        userdb: domain.userdb.fill(&account.login, &account.domain),
        admin: account.admin,
        warnings,
    }
}

/// "First Last" from the mapped names, when there are any.
fn display_name(account: &Account) -> Option<String> {
    let parts: Vec<&str> = [Field::FirstName, Field::LastName].iter().filter_map(|f| account.fields.text(*f)).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn user_found(domain: &dirconn_host::Domain, account: &Account) -> UserFound {
    UserFound {
        account: format!("{}@{}", account.login, account.domain),
        domain: account.domain.clone(),
        login: account.login.clone(),
        active: account.active,
        stored: true,
        userdb: domain.userdb.fill(&account.login, &account.domain),
    }
}

/// Turns a reload's failure into the line that is logged (the old configuration keeps serving).
pub fn reload_error(err: &dyn std::fmt::Display) -> String {
    format!("the new configuration was refused; the old one keeps serving: {err}")
}
