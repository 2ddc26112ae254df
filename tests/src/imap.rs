//! A minimal IMAP client for tests and benchmarks: connect, `LOGIN`, `LOGOUT`, and the outcome of the login
//! told apart the way a mail client sees it (logged in, refused, temporary failure, dropped).
//!
//! Dovecot answers a refusal with `NO [AUTHENTICATIONFAILED] Authentication failed.` and a passdb's
//! internal failure (the Lua script's `INTERNAL_FAILURE`) with `NO [UNAVAILABLE] Temporary authentication
//! failure. [host:time]`. nginx's proxy answers `NO <Auth-Status text>`, so a temporary failure reaches the
//! client as one only if the auth service's text carries the code (`[UNAVAILABLE] ...`).

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long one connection may wait for any answer.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// IMAP response codes (RFC 5530) that mean "try again later", not "wrong credentials".
const TEMPORARY_CODES: &[&str] = &["UNAVAILABLE", "SERVERBUG", "LIMIT", "INUSE", "OVERQUOTA"];

/// What the server answered to `LOGIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImapOutcome {
    /// Tagged `OK`: logged in.
    Ok,
    /// Tagged `NO` that refuses the credentials (`[AUTHENTICATIONFAILED]`, `[AUTHORIZATIONFAILED]`,
    /// `[EXPIRED]`, no code...): the text after `NO `.
    No(String),
    /// Tagged `NO` with a temporary code ([`TEMPORARY_CODES`], e.g. `[UNAVAILABLE]`): the text after `NO `.
    Temporary(String),
    /// Tagged `BAD`: the text after `BAD `.
    Bad(String),
    /// `* BYE` (its text) or the connection closed (empty text) before the tagged answer.
    Bye(String),
}

impl ImapOutcome {
    /// The response code in brackets at the start of the text (`AUTHENTICATIONFAILED`), if any.
    pub fn code(&self) -> Option<&str> {
        let text = match self {
            ImapOutcome::Ok => return None,
            ImapOutcome::No(t) | ImapOutcome::Temporary(t) | ImapOutcome::Bad(t) | ImapOutcome::Bye(t) => t,
        };
        response_code(text)
    }

    /// Whether the login succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, ImapOutcome::Ok)
    }
}

fn response_code(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('[')?;
    let end = rest.find(']')?;
    Some(rest[..end].split(' ').next().unwrap_or_default())
}

/// One IMAP connection on `127.0.0.1`.
#[derive(Debug)]
pub struct ImapClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
    /// The greeting line (`* OK ...`), without CRLF.
    pub greeting: String,
}

impl ImapClient {
    /// Connects and reads the greeting; an error if it is not `* OK` (e.g. `* BYE`: the auth service of a
    /// Dovecot is broken) or does not come.
    pub fn connect(port: u16) -> io::Result<ImapClient> {
        let stream = TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), IO_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let writer = stream.try_clone()?;
        let mut client = ImapClient { reader: BufReader::new(stream), writer, next_tag: 1, greeting: String::new() };
        let greeting = client.read_line()?;
        if !greeting.starts_with("* OK") {
            return Err(io::Error::new(io::ErrorKind::ConnectionRefused, format!("IMAP greeting: {greeting:?}")));
        }
        client.greeting = greeting;
        Ok(client)
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    fn tag(&mut self) -> String {
        let tag = format!("a{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    /// Sends `tag LOGIN user pass` (quoted strings, or literals for bytes a quoted string cannot hold) and
    /// reads up to the tagged answer.
    pub fn login(&mut self, user: &str, password: &str) -> io::Result<ImapOutcome> {
        let tag = self.tag();
        let mut pending = format!("{tag} LOGIN ").into_bytes();
        for (i, arg) in [user, password].into_iter().enumerate() {
            if i > 0 {
                pending.push(b' ');
            }
            if quotable(arg) {
                pending.push(b'"');
                for b in arg.bytes() {
                    if b == b'"' || b == b'\\' {
                        pending.push(b'\\');
                    }
                    pending.push(b);
                }
                pending.push(b'"');
            } else {
                // A synchronising literal: wait for the server's "+" before the bytes.
                pending.extend_from_slice(format!("{{{}}}\r\n", arg.len()).as_bytes());
                self.writer.write_all(&pending)?;
                pending.clear();
                match self.read_until_continuation(&tag)? {
                    None => {}
                    Some(outcome) => return Ok(outcome),
                }
                pending.extend_from_slice(arg.as_bytes());
            }
        }
        pending.extend_from_slice(b"\r\n");
        self.writer.write_all(&pending)?;
        self.read_tagged(&tag)
    }

    /// Reads until `+` (None) or the tagged answer (the server refused the literal).
    fn read_until_continuation(&mut self, tag: &str) -> io::Result<Option<ImapOutcome>> {
        loop {
            let line = match self.read_line() {
                Ok(line) => line,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Some(ImapOutcome::Bye(String::new()))),
                Err(e) => return Err(e),
            };
            if line.starts_with('+') {
                return Ok(None);
            }
            if let Some(outcome) = classify(tag, &line) {
                return Ok(Some(outcome));
            }
        }
    }

    fn read_tagged(&mut self, tag: &str) -> io::Result<ImapOutcome> {
        let mut bye = None;
        loop {
            let line = match self.read_line() {
                Ok(line) => line,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Ok(ImapOutcome::Bye(bye.unwrap_or_default()));
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Ok(ImapOutcome::Bye(bye.unwrap_or_default()));
                }
                Err(e) => return Err(e),
            };
            if let Some(text) = line.strip_prefix("* BYE ") {
                bye = Some(text.to_owned());
                continue;
            }
            if let Some(outcome) = classify(tag, &line) {
                return Ok(outcome);
            }
        }
    }

    /// Sends `tag COMMAND` (e.g. `SELECT INBOX`) and reads up to its tagged answer.
    pub fn command(&mut self, command: &str) -> io::Result<ImapOutcome> {
        let tag = self.tag();
        self.writer.write_all(format!("{tag} {command}\r\n").as_bytes())?;
        self.read_tagged(&tag)
    }

    /// Sends `LOGOUT` and waits for the server to close (errors are ignored: a server may drop the
    /// connection after a refused login).
    pub fn logout(mut self) {
        let tag = self.tag();
        if self.writer.write_all(format!("{tag} LOGOUT\r\n").as_bytes()).is_ok() {
            let _ = self.read_tagged(&tag);
        }
    }
}

/// Whether `s` fits an IMAP quoted string (7-bit text without CR, LF or NUL).
fn quotable(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii() && b != b'\r' && b != b'\n' && b != 0)
}

/// The outcome if `line` is the tagged answer for `tag`.
fn classify(tag: &str, line: &str) -> Option<ImapOutcome> {
    let rest = line.strip_prefix(tag)?.strip_prefix(' ')?;
    let (status, text) = rest.split_once(' ').unwrap_or((rest, ""));
    let text = text.to_owned();
    Some(match status.to_ascii_uppercase().as_str() {
        "OK" => ImapOutcome::Ok,
        "NO" if response_code(&text).is_some_and(|c| TEMPORARY_CODES.contains(&c)) => ImapOutcome::Temporary(text),
        "NO" => ImapOutcome::No(text),
        _ => ImapOutcome::Bad(text),
    })
}

/// Connects to `127.0.0.1:port`, logs in, logs out: the outcome of the login. An error only when no IMAP
/// session could be had at all (connection refused, no `* OK` greeting, a timeout).
pub fn imap_login(port: u16, user: &str, password: &str) -> io::Result<ImapOutcome> {
    let mut client = ImapClient::connect(port)?;
    let outcome = client.login(user, password)?;
    client.logout();
    Ok(outcome)
}

/// The figures of [`imap_login_many`].
#[derive(Debug, Clone)]
pub struct LoginRun {
    /// Each login's wall time (connect, greeting, LOGIN, LOGOUT), in completion order per client, clients
    /// one after the other.
    pub latencies: Vec<Duration>,
    /// How many logins did not end in [`ImapOutcome::Ok`] (refusals, failures and I/O errors).
    pub failures: usize,
    /// Up to 10 descriptions of failed logins.
    pub failure_samples: Vec<String>,
    /// Wall time of the whole run.
    pub wall: Duration,
}

impl LoginRun {
    /// Logins per second over the wall time.
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    /// The `q` quantile (0.0..=1.0) of the latencies.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        sorted
            .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }
}

/// Runs `logins` full IMAP logins (connect, LOGIN, LOGOUT) against `127.0.0.1:port` from `clients` threads;
/// `credentials(i)` gives login number `i`'s user and password. For benchmarks: no login is retried.
pub fn imap_login_many<F>(port: u16, clients: usize, logins: usize, credentials: F) -> LoginRun
where
    F: Fn(usize) -> (String, String) + Send + Sync,
{
    let next = AtomicUsize::new(0);
    let credentials = Arc::new(credentials);
    let started = Instant::now();
    let per_client: Vec<(Vec<Duration>, usize, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients.max(1))
            .map(|_| {
                let next = &next;
                let credentials = Arc::clone(&credentials);
                scope.spawn(move || {
                    let (mut lat, mut failures, mut samples) = (Vec::new(), 0, Vec::new());
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= logins {
                            break;
                        }
                        let (user, password) = credentials(i);
                        let t = Instant::now();
                        let outcome = imap_login(port, &user, &password);
                        lat.push(t.elapsed());
                        if !matches!(outcome, Ok(ImapOutcome::Ok)) {
                            failures += 1;
                            if samples.len() < 10 {
                                samples.push(format!("{user}: {outcome:?}"));
                            }
                        }
                    }
                    (lat, failures, samples)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("an IMAP client thread panicked")).collect()
    });
    let wall = started.elapsed();
    let mut run = LoginRun { latencies: Vec::with_capacity(logins), failures: 0, failure_samples: Vec::new(), wall };
    for (lat, failures, samples) in per_client {
        run.latencies.extend(lat);
        run.failures += failures;
        run.failure_samples.extend(samples.into_iter().take(10 - run.failure_samples.len().min(10)));
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_answers_are_classified() {
        assert_eq!(classify("a1", "a1 OK [CAPABILITY IMAP4rev1] Logged in"), Some(ImapOutcome::Ok));
        let no = classify("a1", "a1 NO [AUTHENTICATIONFAILED] Authentication failed.").expect("tagged");
        assert_eq!(no, ImapOutcome::No("[AUTHENTICATIONFAILED] Authentication failed.".into()));
        assert_eq!(no.code(), Some("AUTHENTICATIONFAILED"));
        let temp = classify("a1", "a1 NO [UNAVAILABLE] Temporary authentication failure. [vm:2026-12-01 20:58:15]");
        assert!(matches!(temp, Some(ImapOutcome::Temporary(_))), "{temp:?}");
        assert_eq!(
            classify("a1", "a1 NO Invalid login or password"),
            Some(ImapOutcome::No("Invalid login or password".into()))
        );
        assert_eq!(
            classify("a1", "a1 BAD Error in IMAP command"),
            Some(ImapOutcome::Bad("Error in IMAP command".into()))
        );
        assert_eq!(classify("a1", "a10 OK"), None);
        assert_eq!(classify("a1", "* CAPABILITY IMAP4rev1"), None);
        assert!(quotable("p\"a\\ss") && !quotable("pässword") && !quotable("a\r\nb"));
    }
}
