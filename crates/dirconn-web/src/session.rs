//! Sessions of signed-in administrators (in memory: a restart signs everyone out), their CSRF tokens, and
//! the throttle of failed sign-ins and test logins.
//!
//! The cookie is `__Host-dirconn` (`Secure; HttpOnly; SameSite=Strict; Path=/`), a random 256-bit id;
//! the table keys sessions by the id's SHA-256, so the ids themselves are never kept. A session ends after
//! [`IDLE`] without a request or [`ABSOLUTE`] after sign-in, whichever comes first; sign-in always makes
//! a new id.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use base64::Engine as _;
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;

/// The cookie's name.
pub const COOKIE: &str = "__Host-dirconn";
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);

/// A signed-in administrator.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account (`admin@example.org`).
    pub who: String,
    /// The token every change must carry.
    pub csrf: String,
    started: Instant,
    seen: Instant,
}

/// The sessions in force, and how long they last.
#[derive(Debug)]
pub struct Sessions {
    table: Mutex<HashMap<[u8; 32], Session>>,
    idle: Duration,
    absolute: Duration,
}

impl Default for Sessions {
    fn default() -> Sessions {
        Sessions::with_limits(IDLE, ABSOLUTE)
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn key(id: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Sessions that end after `idle` without a request or `absolute` after sign-in.
    pub fn with_limits(idle: Duration, absolute: Duration) -> Sessions {
        Sessions { table: Mutex::default(), idle, absolute }
    }

    fn alive(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.seen) < self.idle && now.duration_since(s.started) < self.absolute
    }

    /// Starts a session; returns its cookie value.
    pub fn start(&self, who: &str) -> String {
        self.start_at(who, Instant::now())
    }

    fn start_at(&self, who: &str, now: Instant) -> String {
        let id = random_token();
        let session = Session { who: who.to_owned(), csrf: random_token(), started: now, seen: now };
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.retain(|_, s| self.alive(s, now));
        table.insert(key(&id), session);
        id
    }

    /// The session of a cookie value, if it is alive (its idle clock restarts).
    pub fn get(&self, id: &str) -> Option<Session> {
        self.get_at(id, Instant::now())
    }

    fn get_at(&self, id: &str, now: Instant) -> Option<Session> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let k = key(id);
        match table.get_mut(&k) {
            Some(s) if self.alive(s, now) => {
                s.seen = now;
                Some(s.clone())
            }
            Some(_) => {
                table.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Ends the session of a cookie value.
    pub fn end(&self, id: &str) {
        self.table.lock().unwrap_or_else(|e| e.into_inner()).remove(&key(id));
    }

    /// Ends a session (found by its CSRF token, unique to it).
    pub fn end_for(&self, session: &Session) {
        self.table.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, s| s.csrf != session.csrf);
    }
}

/// Whether a submitted token is the session's (constant time).
pub fn csrf_ok(session: &Session, submitted: Option<&str>) -> bool {
    submitted.is_some_and(|t| bool::from(t.as_bytes().ct_eq(session.csrf.as_bytes())))
}

/// The `Set-Cookie` value of a session id.
pub fn set_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// The `Set-Cookie` value that removes the cookie.
pub const CLEAR_COOKIE: &str = "__Host-dirconn=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0";

/// The session id in a `Cookie` header.
pub fn cookie_value(header: &str) -> Option<&str> {
    header.split(';').map(str::trim).find_map(|pair| pair.strip_prefix(COOKIE)?.strip_prefix('='))
}

/// Failed attempts by address and by login: after `free` failures within [`Throttle::WINDOW`], each
/// further attempt waits twice as long as the last (from 2 s up to 5 minutes), or, for a [`Throttle::strict`]
/// one, is refused until the window has passed since the last failure. A success clears the login's count.
#[derive(Debug)]
pub struct Throttle {
    free: u32,
    strict: bool,
    table: Mutex<HashMap<String, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

impl Throttle {
    /// Failures older than this are forgotten.
    pub const WINDOW: Duration = Duration::from_secs(15 * 60);

    /// A throttle that takes `free` failures without a wait, then makes attempts wait longer and longer.
    pub fn new(free: u32) -> Throttle {
        Throttle { free, strict: false, table: Mutex::default() }
    }

    /// A throttle that takes `free` failures, then refuses until the window has passed: for attempts
    /// that reach a directory, which may lock the account out after a few failures.
    pub fn strict(free: u32) -> Throttle {
        Throttle { free, strict: true, table: Mutex::default() }
    }

    fn keys(ip: Option<IpAddr>, login: &str) -> impl Iterator<Item = String> {
        ip.map(|ip| format!("ip {ip}")).into_iter().chain([format!("login {}", login.to_lowercase())])
    }

    /// Seconds to wait before an attempt from `ip` for `login` is taken (0: now).
    pub fn wait(&self, ip: Option<IpAddr>, login: &str) -> u64 {
        let now = Instant::now();
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        Throttle::keys(ip, login)
            .filter_map(|k| table.get(&k).copied())
            .filter(|f| now.duration_since(f.last) < Throttle::WINDOW && f.count >= self.free)
            .map(|f| {
                let delay = if self.strict {
                    Throttle::WINDOW
                } else {
                    Duration::from_secs((2u64 << (f.count - self.free).min(8)).min(300))
                };
                delay.saturating_sub(now.duration_since(f.last)).as_secs()
            })
            .max()
            .unwrap_or(0)
    }

    /// Counts a failure.
    pub fn failed(&self, ip: Option<IpAddr>, login: &str) {
        let now = Instant::now();
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.retain(|_, f| now.duration_since(f.last) < Throttle::WINDOW);
        for k in Throttle::keys(ip, login) {
            let f = table.entry(k).or_insert(Failures { count: 0, last: now });
            f.count += 1;
            f.last = now;
        }
    }

    /// Clears the login's failures.
    pub fn succeeded(&self, login: &str) {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        for k in Throttle::keys(None, login) {
            table.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends() {
        let sessions = Sessions::default();
        let id = sessions.start("admin@example.org");
        let header = format!("other=1; {}", set_cookie(&id).split(';').next().unwrap());
        let s = sessions.get(cookie_value(&header).unwrap()).unwrap();
        assert_eq!(s.who, "admin@example.org");
        assert!(csrf_ok(&s, Some(&s.csrf)) && !csrf_ok(&s, Some("x")) && !csrf_ok(&s, None));
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
        assert!(sessions.get("forged").is_none());
    }

    #[test]
    fn sessions_time_out_idle_and_absolute() {
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        let sessions = Sessions::with_limits(Duration::from_secs(30), Duration::from_secs(100));
        let id = sessions.start_at("a@example.org", t0);
        assert!(sessions.get_at(&id, at(20)).is_some(), "within the idle limit");
        assert!(sessions.get_at(&id, at(45)).is_some(), "a request restarted the idle clock at 20 s");
        assert!(sessions.get_at(&id, at(76)).is_none(), "idle for 31 s");
        let id = sessions.start_at("a@example.org", t0);
        for s in (20..=80).step_by(20) {
            assert!(sessions.get_at(&id, at(s)).is_some(), "active at {s} s");
        }
        assert!(sessions.get_at(&id, at(100)).is_none(), "past the absolute limit, however active");
    }

    #[test]
    fn failures_beyond_the_free_ones_wait() {
        let t = Throttle::new(5);
        let ip = Some("127.0.0.1".parse().unwrap());
        for _ in 0..4 {
            t.failed(ip, "Admin");
        }
        assert_eq!(t.wait(ip, "admin"), 0);
        t.failed(ip, "admin");
        assert!(t.wait(ip, "admin") >= 1);
        // The address is throttled for every login; a success clears the login only.
        assert!(t.wait(ip, "someone-else") >= 1);
        t.succeeded("admin");
        assert!(t.wait(None, "admin") == 0);
    }

    #[test]
    fn a_strict_throttle_refuses_for_the_window() {
        let t = Throttle::strict(2);
        t.failed(None, "example.com alice");
        assert_eq!(t.wait(None, "example.com alice"), 0);
        t.failed(None, "example.com alice");
        assert!(t.wait(None, "example.com alice") > 14 * 60);
        assert_eq!(t.wait(None, "example.com bob"), 0);
    }
}
