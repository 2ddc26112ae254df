//! One connection of Dovecot's auth protocol: which side the client speaks, the handshake, then requests
//! answered as they complete (many per connection, several in flight at once), until the client leaves,
//! breaks the protocol, or the service stops (no new requests; those in flight get the drain timeout).
//!
//! **One socket, both sides.** Dovecot serves auth-client (`AUTH`: Postfix, `doveadm auth test`) and
//! auth-master (`USER`: `doveadm user`) on different sockets, and no one handshake suits both clients: the
//! master client ends its handshake at `SPID` and refuses any later line that answers no request (it names
//! `CUID` "an auth client socket"), while the auth-client needs `COOKIE` and `DONE` after `SPID`. Both clients
//! write first without waiting (measured with doveadm 2.3.19: `VERSION\t1\t2\nCPID\t<pid>\n` and
//! `VERSION\t1\t0\nUSER\t1\t<user>\tservice=doveadm\n`, each in one write; Postfix sends `VERSION\t1\t0\n
//! CPID\t<pid>\n` before it reads), so the server reads the client's first lines and answers the handshake
//! of its side: `CPID` or `AUTH` → auth-client, `USER`/`PASS`/`LIST`/`CACHE-FLUSH` → auth-master. A client
//! that says nothing for [`SNIFF`] (Exim waits for `DONE` first) gets the auth-client handshake.
//!
//! **A temporary failure must not read as a wrong password.** Postfix (3.7 measured, and every version
//! since 2.3: `xsasl_dovecot_server.c`) answers any `FAIL` line, `code=temp_fail` included, with `535 5.7.8`,
//! and only a connection lost mid-request with `454 4.7.0 Temporary authentication failure`; Exim's
//! `dovecot` authenticator likewise defers only on a lost connection. Both send `nologin` in every `AUTH`
//! (which Dovecot's own clients, `doveadm` included, do not). So a temporary failure of an `AUTH` that
//! sent `nologin` is answered by closing the connection without a reply ([`Close::HangUp`]); a TCP
//! connection is reset (`SO_LINGER` 0, see [`Reset`]) so that a Postfix before 3.7.15 (which keeps a lost
//! auth connection) fails its next write at once and reconnects, instead of losing one more AUTH to the
//! dead connection. Requests still in flight on that connection are dropped with it (Postfix and Exim
//! have one at a time). Other clients get the `FAIL … code=temp_fail` line.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use dirconn_abi::ErrorKind;
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadHalf, WriteHalf},
    sync::watch,
    task::{AbortHandle, JoinSet},
    time::Instant,
};

use super::{
    protocol::{self, AuthRequest, Command, MAX_LINE},
    sasl::{Exchange, Mechanism, Step},
};
use crate::{
    Service,
    core::{Attempt, Interface, Verdict},
};
use dirconn_views::Refused;

/// How long the server waits for a client's first lines before it sends the auth-client handshake anyway.
pub const SNIFF: Duration = Duration::from_millis(100);
/// Requests mid-exchange or in flight on one connection; more are refused with a temporary failure.
pub const MAX_PENDING: usize = 256;

/// Why a line could not be read.
#[derive(Debug)]
pub enum LineError {
    /// Over [`MAX_LINE`] bytes.
    TooLong,
    /// The socket failed.
    Io(std::io::Error),
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::TooLong => write!(f, "a line is over {MAX_LINE} bytes"),
            LineError::Io(e) => e.fmt(f),
        }
    }
}

/// How a connection is cut when a temporary failure is answered by closing it ([`Close::HangUp`]).
pub trait Reset {
    /// Makes the coming close abortive where the transport has one: a TCP reset (`SO_LINGER` 0), so
    /// that the peer's next write fails at once rather than after one more lost request.
    fn reset_on_close(&self);
}

impl Reset for tokio::net::TcpStream {
    fn reset_on_close(&self) {
        if let Err(e) = self.set_zero_linger() {
            tracing::debug!("SO_LINGER 0 failed: {e}");
        }
    }
}

/// A UNIX socket has no reset: the peer's next write fails with `EPIPE` once the connection is closed.
impl Reset for tokio::net::UnixStream {
    fn reset_on_close(&self) {}
}

impl Reset for tokio::io::DuplexStream {
    fn reset_on_close(&self) {}
}

/// Why a connection ends before its client leaves.
#[derive(Debug)]
enum Close {
    /// A protocol or socket fault (logged as a warning).
    Fault(String),
    /// A temporary failure of the request `id`, which sent `nologin`: closed without a reply.
    HangUp(u32),
}

impl From<String> for Close {
    fn from(why: String) -> Close {
        Close::Fault(why)
    }
}

/// A finished request's reply lines, or (`hang_up`: a temporary failure of an `AUTH` that sent `nologin`)
/// the lines it would have had.
struct Answer {
    text: String,
    hang_up: bool,
}

impl From<String> for Answer {
    fn from(text: String) -> Answer {
        Answer { text, hang_up: false }
    }
}

/// Reads LF-terminated lines with a cap; cancel-safe (what was read stays in its buffer).
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    scanned: usize,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Reads from `inner`.
    pub fn new(inner: R) -> LineReader<R> {
        LineReader { inner, buf: Vec::new(), scanned: 0 }
    }

    /// The reader it reads from.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The next line without its LF (and a CR before it); `None` at the end of the stream.
    pub async fn next(&mut self) -> Result<Option<String>, LineError> {
        loop {
            if let Some(pos) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
                let end = self.scanned + pos;
                self.scanned = 0;
                if end > MAX_LINE {
                    return Err(LineError::TooLong);
                }
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            self.scanned = self.buf.len();
            if self.buf.len() > MAX_LINE {
                return Err(LineError::TooLong);
            }
            let mut chunk = [0u8; 4096];
            let n = self.inner.read(&mut chunk).await.map_err(LineError::Io)?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Reads the client's first lines (up to [`SNIFF`]) to tell its side: `Some(true)` for auth-master. The
/// lines read are kept in `first`, to be handled after the handshake.
async fn sniff<R: AsyncRead + Unpin>(
    lines: &mut LineReader<R>,
    first: &mut Vec<Command>,
) -> Result<Option<bool>, String> {
    let deadline = Instant::now() + SNIFF;
    loop {
        let line = match tokio::time::timeout_at(deadline, lines.next()).await {
            Err(_) => return Ok(Some(false)),
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => return Ok(None),
            Ok(Err(e)) => return Err(e.to_string()),
        };
        let command = protocol::parse(&line).map_err(|e| e.to_string())?;
        let side = command.is_master();
        first.push(command);
        if side.is_some() || first.len() > 1 {
            return Ok(Some(side.unwrap_or(false)));
        }
    }
}

/// 16 random bytes in hex: the auth-client handshake's cookie (dirconn serves no `REQUEST` that would use it).
fn cookie() -> String {
    rand::random::<[u8; 16]>().iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves one connection to its end.
pub async fn connection<S>(stream: S, service: Arc<Service>, stop: watch::Receiver<bool>, cuid: u64, peer: String)
where
    S: AsyncRead + AsyncWrite + Reset + Unpin + Send + 'static,
{
    let (read, write) = tokio::io::split(stream);
    let mut lines = LineReader::new(read);
    let mut first = Vec::new();
    let master = match sniff(&mut lines, &mut first).await {
        Ok(Some(master)) => master,
        Ok(None) => return,
        Err(why) => return tracing::warn!(%peer, "Dovecot auth connection closed: {why}"),
    };
    tracing::debug!(%peer, cuid, side = if master { "auth-master" } else { "auth-client" }, "Dovecot auth connection");
    let mut conn = Conn {
        service,
        out: write,
        master,
        tasks: JoinSet::new(),
        running: HashMap::new(),
        in_flight: HashMap::new(),
        exchanges: HashMap::new(),
    };
    let pid = std::process::id();
    let hello = if master { protocol::master_handshake(pid) } else { protocol::client_handshake(pid, cuid, &cookie()) };
    let mut result = conn.write(&hello).await;
    for command in first {
        if result.is_err() {
            break;
        }
        result = conn.handle(command).await;
    }
    if result.is_ok() {
        result = conn.run(&mut lines, stop).await;
    }
    match result {
        Ok(()) => {}
        Err(Close::Fault(why)) => tracing::warn!(%peer, "Dovecot auth connection closed: {why}"),
        Err(Close::HangUp(id)) => {
            let dropped = conn.in_flight.len() + conn.exchanges.len();
            let stream = hang_up(lines, conn);
            tracing::info!(
                %peer,
                id,
                dropped,
                "a temporary failure for a client that sent nologin (Postfix, Exim): closing the connection instead of \
                 answering, so that it tells its SMTP client 454 (it would answer a FAIL line with 535)"
            );
            drop(stream);
        }
    }
}

/// Puts the connection's halves together and arms the reset; the caller drops it.
fn hang_up<S: AsyncRead + AsyncWrite + Reset + Unpin>(lines: LineReader<ReadHalf<S>>, conn: Conn<WriteHalf<S>>) -> S {
    let stream = lines.into_inner().unsplit(conn.out);
    stream.reset_on_close();
    stream
}

/// A request waiting for the client's next SASL response.
struct Pending {
    request: AuthRequest,
    exchange: Exchange,
}

struct Conn<W> {
    service: Arc<Service>,
    out: W,
    master: bool,
    /// Each request in flight answers with its reply lines.
    tasks: JoinSet<Answer>,
    running: HashMap<tokio::task::Id, u32>,
    /// Each request in flight, and whether it sent `nologin`.
    in_flight: HashMap<u32, (AbortHandle, bool)>,
    exchanges: HashMap<u32, Pending>,
}

impl<W: AsyncWrite + Unpin> Conn<W> {
    async fn write(&mut self, text: &str) -> Result<(), Close> {
        self.out.write_all(text.as_bytes()).await.map_err(|e| format!("writing failed: {e}"))?;
        Ok(self.out.flush().await.map_err(|e| format!("writing failed: {e}"))?)
    }

    /// Sends a request's answer, or hangs up ([`Answer::hang_up`]).
    async fn answer(&mut self, id: u32, answer: Answer) -> Result<(), Close> {
        if answer.hang_up {
            return Err(Close::HangUp(id));
        }
        self.write(&answer.text).await
    }

    /// Reads and answers until the end; `Err` when the connection is closed on a fault.
    async fn run<R: AsyncRead + Unpin>(
        &mut self,
        lines: &mut LineReader<R>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), Close> {
        let mut draining: Option<Instant> = None;
        loop {
            if draining.is_some() && self.tasks.is_empty() {
                return Ok(());
            }
            tokio::select! {
                Some(done) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    let (id, reply) = match done {
                        Ok((task, reply)) => match self.finished(task) {
                            Some((id, _)) => (id, reply),
                            None => continue,
                        },
                        Err(e) => match self.finished(e.id()) {
                            Some((id, nologin)) if e.is_panic() => {
                                tracing::error!(id, "a Dovecot auth request panicked");
                                (id, self.temporary(id, nologin))
                            }
                            _ => continue,
                        },
                    };
                    self.answer(id, reply).await?;
                }
                line = lines.next(), if draining.is_none() => match line {
                    Ok(Some(line)) => {
                        let command = protocol::parse(&line).map_err(|e| e.to_string())?;
                        self.handle(command).await?;
                    }
                    Ok(None) => draining = Some(Instant::now() + self.service.live().config.drain_timeout),
                    Err(e) => return Err(e.to_string().into()),
                },
                () = crate::http::serve::stopped(&mut stop), if draining.is_none() => {
                    draining = Some(Instant::now() + self.service.live().config.drain_timeout);
                }
                () = tokio::time::sleep_until(draining.unwrap_or_else(Instant::now)), if draining.is_some() => {
                    return Err(format!("{} requests still running after the drain timeout were cut", self.tasks.len()).into());
                }
            }
        }
    }

    /// The request id of a finished task, and whether it sent `nologin`.
    fn finished(&mut self, task: tokio::task::Id) -> Option<(u32, bool)> {
        let id = self.running.remove(&task)?;
        let (_, nologin) = self.in_flight.remove(&id)?;
        Some((id, nologin))
    }

    fn temporary(&self, id: u32, nologin: bool) -> Answer {
        let reason = dirconn_host::messages::UNAVAILABLE;
        let text = if self.master {
            protocol::master_fail(id, reason)
        } else {
            protocol::fail(id, None, Some("temp_fail"), reason)
        };
        Answer { text, hang_up: nologin && !self.master }
    }

    fn in_use(&self, id: u32) -> bool {
        self.in_flight.contains_key(&id) || self.exchanges.contains_key(&id)
    }

    fn busy(&self) -> bool {
        self.in_flight.len() + self.exchanges.len() >= MAX_PENDING
    }

    async fn handle(&mut self, command: Command) -> Result<(), Close> {
        match (self.master, command) {
            (_, Command::Version { major: 1 }) => Ok(()),
            (_, Command::Version { major }) => {
                Err(format!("the client speaks version {major} of the protocol, not 1").into())
            }
            (false, Command::Cpid) => Ok(()),
            (false, Command::Auth(request)) => self.auth(request).await,
            (false, Command::Cont { id, data }) => self.cont(id, &data).await,
            (false, Command::Cancel { id }) => {
                self.exchanges.remove(&id);
                if let Some((handle, _)) = self.in_flight.remove(&id) {
                    // Forgotten: its end answers nothing, and the id may be reused at once.
                    self.running.remove(&handle.id());
                    handle.abort();
                }
                Ok(())
            }
            (true, Command::User { id, user, local_ip }) => {
                let service = self.service.clone();
                self.spawn(id, false, async move { user_reply(&service, id, &user, local_ip).await.into() }).await
            }
            (true, Command::Pass { id }) => {
                self.write(&protocol::master_fail(
                    id,
                    "dirconn answers no passdb lookups (it never hands out passwords)",
                ))
                .await
            }
            (true, Command::List { id, mask }) => {
                let service = self.service.clone();
                self.spawn(id, false, async move { list_reply(&service, id, mask.as_deref()).await.into() }).await
            }
            (true, Command::CacheFlush { id }) => self.write(&protocol::flushed(id)).await,
            (master, other) => Err(format!(
                "{other:?} is not a command of the {} side of the protocol",
                if master { "auth-master" } else { "auth-client" }
            )
            .into()),
        }
    }

    async fn auth(&mut self, request: AuthRequest) -> Result<(), Close> {
        let id = request.id;
        if self.in_use(id) {
            return Err(format!("the client reused the id {id} of a request still running").into());
        }
        if self.busy() {
            return self.answer(id, self.temporary(id, request.nologin)).await;
        }
        let Some(mechanism) = Mechanism::from_name(&request.mechanism) else {
            return self.write(&protocol::fail(id, None, None, "Unsupported authentication mechanism.")).await;
        };
        if request.service.is_none() {
            return self.write(&protocol::fail(id, None, None, "The request names no service.")).await;
        }
        let mut exchange = Exchange::new(mechanism);
        let step = exchange.start(request.initial.as_deref());
        self.step(AuthRequest { initial: None, ..request }, exchange, step).await
    }

    async fn cont(&mut self, id: u32, data: &str) -> Result<(), Close> {
        if self.in_flight.contains_key(&id) {
            return Err(format!("the client continued the request {id}, which is being checked").into());
        }
        match self.exchanges.remove(&id) {
            None => {
                self.write(&protocol::fail(id, None, None, "No authentication request with this id is waiting.")).await
            }
            Some(Pending { request, mut exchange }) => {
                let step = exchange.next(data);
                self.step(request, exchange, step).await
            }
        }
    }

    async fn step(&mut self, request: AuthRequest, exchange: Exchange, step: Step) -> Result<(), Close> {
        let id = request.id;
        match step {
            Step::Challenge(challenge) => {
                self.exchanges.insert(id, Pending { request, exchange });
                self.write(&protocol::cont(id, challenge)).await
            }
            Step::Fail(e) => self.write(&protocol::fail(id, None, e.code(), e.reason())).await,
            Step::Credentials { login, password } => {
                let attempt = Attempt {
                    login: login.clone(),
                    password,
                    service: request.service.unwrap_or_default(),
                    client_ip: request.client_ip,
                    local_ip: request.local_ip,
                    secured: request.secured,
                    interface: Interface::Dovecot,
                };
                let (service, nologin) = (self.service.clone(), request.nologin);
                self.spawn(id, nologin, async move {
                    let verdict = service.authenticate(attempt).await;
                    let hang_up = nologin && matches!(verdict, Verdict::Temporary(_));
                    Answer { text: verdict_reply(id, &login, verdict), hang_up }
                })
                .await
            }
        }
    }

    async fn spawn(
        &mut self,
        id: u32,
        nologin: bool,
        work: impl Future<Output = Answer> + Send + 'static,
    ) -> Result<(), Close> {
        if self.in_use(id) {
            return Err(format!("the client reused the id {id} of a request still running").into());
        }
        if self.busy() {
            return self.answer(id, self.temporary(id, nologin)).await;
        }
        let handle = self.tasks.spawn(work);
        self.running.insert(handle.id(), id);
        self.in_flight.insert(id, (handle, nologin));
        Ok(())
    }
}

/// The `code=` of a denial: a password to change, or (when the domain tells account states, so the user's
/// message says so) a disabled, locked or expired account.
fn denial_code(refused: &Refused) -> Option<&'static str> {
    let kind = refused.problem.kind.as_str();
    let is = |k: ErrorKind| kind == k.as_str();
    if is(ErrorKind::PasswordExpired) || is(ErrorKind::MustChangePassword) {
        return Some("pass_expired");
    }
    let state = is(ErrorKind::AccountDisabled) || is(ErrorKind::AccountLocked) || is(ErrorKind::AccountExpired);
    (state && refused.user_message != dirconn_host::messages::INVALID).then_some("user_disabled")
}

/// A login's verdict as the auth-client protocol answers it.
pub fn verdict_reply(id: u32, login: &str, verdict: Verdict) -> String {
    match verdict {
        // Postfix takes the canonical name from `user=` and requires it.
        Verdict::Accepted(a) => protocol::ok(id, &a.account),
        Verdict::Denied(r) => protocol::fail(id, Some(login), denial_code(&r), &r.user_message),
        Verdict::Temporary(r) => protocol::fail(id, Some(login), Some("temp_fail"), &r.user_message),
        // Not temp_fail: clients retry those at once. A plain failure with the reason, and Dovecot's own
        // failure delay.
        Verdict::Throttled(r, _) => protocol::fail(id, Some(login), None, &r.user_message),
    }
}

/// A userdb lookup as the auth-master protocol answers it.
async fn user_reply(service: &Service, id: u32, user: &str, local_ip: Option<std::net::IpAddr>) -> String {
    match service.user(user, local_ip).await {
        Ok(found) => protocol::user(id, &found.account, &found.userdb),
        Err((false, _)) => protocol::not_found(id),
        Err((true, r)) => protocol::master_fail(id, &format!("[{}] {}", r.problem.code, r.problem.message)),
    }
}

/// The active accounts of the configured domains matching `mask`, from the store.
async fn list_reply(service: &Service, id: u32, mask: Option<&str>) -> String {
    let live = service.live();
    let accounts = match live.store.accounts(None).await {
        Ok(accounts) => accounts,
        Err(e) => {
            tracing::warn!("the Dovecot user listing failed: {e}");
            return protocol::list_done(id, true);
        }
    };
    let mut out = String::new();
    for account in accounts.iter().filter(|a| a.active) {
        if !live.host.domains().iter().any(|d| d.name == account.domain) {
            continue;
        }
        let name = format!("{}@{}", account.login, account.domain);
        if mask.is_none_or(|m| protocol::mask_matches(m, &name)) {
            out.push_str(&protocol::list_entry(id, &name));
        }
    }
    out.push_str(&protocol::list_done(id, false));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_carry_a_code_only_for_what_the_user_may_be_told() {
        use dirconn_host::messages::{INVALID, end_user_message};
        let refused = |kind: ErrorKind, reveal: bool| Refused {
            ok: false,
            problem: dirconn_views::Problem {
                code: "DC-203".into(),
                kind: kind.into(),
                message: String::new(),
                fix: String::new(),
                diagnostic: None,
            },
            user_message: end_user_message(kind, reveal).into(),
        };
        for (kind, reveal, want) in [
            (ErrorKind::InvalidCredentials, true, None),
            (ErrorKind::NotFound, false, None),
            (ErrorKind::PasswordExpired, false, Some("pass_expired")),
            (ErrorKind::MustChangePassword, false, Some("pass_expired")),
            (ErrorKind::AccountDisabled, false, None),
            (ErrorKind::AccountDisabled, true, Some("user_disabled")),
            (ErrorKind::AccountLocked, true, Some("user_disabled")),
            (ErrorKind::AccountExpired, true, Some("user_disabled")),
            (ErrorKind::LogonRestricted, true, None),
        ] {
            assert_eq!(denial_code(&refused(kind, reveal)), want, "{kind} reveal={reveal}");
        }
        let denied =
            verdict_reply(3, "al\tice", Verdict::Denied(Box::new(refused(ErrorKind::InvalidCredentials, false))));
        assert_eq!(denied, format!("FAIL\t3\tuser=al\x01tice\treason={INVALID}\n"));
        let temp = verdict_reply(4, "bob", Verdict::Temporary(Box::new(refused(ErrorKind::Unreachable, false))));
        assert!(temp.starts_with("FAIL\t4\tuser=bob\tcode=temp_fail\treason=The login service is unavailable"));
        let mut held = refused(ErrorKind::LogonRestricted, false);
        held.user_message = crate::core::THROTTLED.into();
        let throttled = verdict_reply(5, "bob", Verdict::Throttled(Box::new(held), 600));
        assert_eq!(throttled, format!("FAIL\t5\tuser=bob\treason={}\n", crate::core::THROTTLED), "no temp_fail");
    }

    #[tokio::test]
    async fn lines_are_capped_and_split_across_reads() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut lines = LineReader::new(server);
        tokio::spawn(async move {
            client.write_all(b"VERSION\t1").await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            client.write_all(b"\t2\r\nCPID\t1\n").await.unwrap();
            client.write_all(&vec![b'x'; MAX_LINE + 10]).await.unwrap();
        });
        assert_eq!(lines.next().await.unwrap().as_deref(), Some("VERSION\t1\t2"));
        assert_eq!(lines.next().await.unwrap().as_deref(), Some("CPID\t1"));
        assert!(matches!(lines.next().await, Err(LineError::TooLong)));
    }

    #[tokio::test]
    async fn sniffing_tells_the_sides_apart() {
        for (sent, want, kept) in [
            (&b"VERSION\t1\t2\nCPID\t42\n"[..], Some(false), 2),
            (b"VERSION\t1\t0\nUSER\t1\talice\tservice=doveadm\n", Some(true), 2),
            (b"VERSION\t1\t0\nLIST\t1\tuser=*\n", Some(true), 2),
            (b"", Some(false), 0),
            (b"VERSION\t1\t2\n", Some(false), 1),
        ] {
            let (mut client, server) = tokio::io::duplex(1024);
            client.write_all(sent).await.unwrap();
            let mut lines = LineReader::new(server);
            let mut first = Vec::new();
            assert_eq!(sniff(&mut lines, &mut first).await, Ok(want), "{sent:?}");
            assert_eq!(first.len(), kept, "{sent:?}");
        }
    }
}
