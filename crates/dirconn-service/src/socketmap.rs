//! Postfix's socketmap protocol (socketmap_table(5)) over the host's lookup tables ([`MailMap`]): each
//! request is a netstring `<length>:<name> <key>,` and each reply one netstring, `OK <value>`, `NOTFOUND `,
//! `TEMP <reason>`, `TIMEOUT <reason>` or `PERM <reason>`. Postfix keeps a connection for many lookups,
//! one at a time, and closes it when idle (10 s by default).
//!
//! - A store that fails is `TEMP` (Postfix answers 4xx: "try again later"), one that does not answer within
//!   [`LOOKUP_DEADLINE`] is `TIMEOUT`: never `NOTFOUND`, which would bounce mail for a real user.
//! - A request that is not `<name> <key>` (a NUL byte, not UTF-8, no space, an unknown map) is `PERM` with
//!   `DC-818`, and the connection goes on. A netstring whose framing is broken (a length that is not
//!   digits, no `,` after the data) or whose length is over [`MAX_REQUEST`] is `PERM` too, and then the
//!   connection is closed: past a broken frame no byte can be trusted to start the next request.
//! - A client that sends half a request and stalls is dropped after [`REQUEST_TIMEOUT`]; an idle one after
//!   [`IDLE_TIMEOUT`]. At the stop, the request in progress is answered and the connection closed.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use dirconn_host::MailMap;
use dirconn_views::MapLookup;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader},
    sync::watch,
};

use crate::{
    Error, Service,
    http::serve::stopped,
    socket::{Listener, Stream},
};

/// The longest request taken, in bytes (a map name and an address need far less).
pub const MAX_REQUEST: usize = 4096;
/// How long a lookup may wait for the store before the answer is `TIMEOUT`: longer than a PostgreSQL
/// store's connection wait (5 s), so that a store that is down answers `TEMP` with its code first, and well
/// under Postfix's own socketmap timeout (100 s).
pub const LOOKUP_DEADLINE: Duration = Duration::from_secs(10);
/// How long the rest of a request may take once its first byte came.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may wait for its next request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Serves socketmap on `listener` until the stop.
pub async fn serve(listener: Listener, service: Arc<Service>, stop: watch::Receiver<bool>) {
    crate::socket::serve(listener, "Postfix socketmap", handle, service, stop).await;
}

fn handle(
    stream: Stream,
    service: Arc<Service>,
    stop: watch::Receiver<bool>,
    _cuid: u64,
    peer: String,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    match stream {
        Stream::Unix(s) => Box::pin(connection(s, service, stop, peer)),
        Stream::Tcp(s) => Box::pin(connection(s, service, stop, peer)),
    }
}

/// Why a request could not be read.
#[derive(Debug)]
enum ReadError {
    /// The framing is broken: answered `PERM`, then the connection is closed.
    Frame(String),
    /// The socket failed or the client stalled: closed without an answer.
    Io(std::io::Error),
}

/// One reply, before framing.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// Found, with the value.
    Ok(String),
    /// Not in the table.
    NotFound,
    /// Try again later (the store failed).
    Temp(String),
    /// Try again later (the store did not answer in time).
    Timeout(String),
    /// The request is wrong; asking again will not help.
    Perm(String),
}

impl Reply {
    /// The reply as the protocol writes it, a netstring.
    pub fn to_netstring(&self) -> Vec<u8> {
        let body = match self {
            Reply::Ok(v) => MapLookup::reply_to(Some(v)),
            Reply::NotFound => MapLookup::reply_to(None),
            Reply::Temp(r) => format!("TEMP {r}"),
            Reply::Timeout(r) => format!("TIMEOUT {r}"),
            Reply::Perm(r) => format!("PERM {r}"),
        };
        netstring(body.as_bytes())
    }

    /// The outcome's label in the metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Reply::Ok(_) => "ok",
            Reply::NotFound => "notfound",
            Reply::Temp(_) => "temp",
            Reply::Timeout(_) => "timeout",
            Reply::Perm(_) => "perm",
        }
    }
}

/// `<length>:<bytes>,`.
pub fn netstring(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{}:", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.push(b',');
    out
}

/// A reason on one line (Postfix logs it).
fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn perm(problem: impl Into<String>) -> Reply {
    let err = Error::BadLookup { problem: problem.into() };
    Reply::Perm(format!("{} {}", err.code(), err.message()))
}

/// Serves one connection to its end.
pub async fn connection<S>(stream: S, service: Arc<Service>, mut stop: watch::Receiver<bool>, peer: String)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = BufReader::new(read);
    loop {
        let started = tokio::select! {
            ready = tokio::time::timeout(IDLE_TIMEOUT, reader.fill_buf()) => {
                matches!(ready, Ok(Ok(buf)) if !buf.is_empty())
            }
            () = stopped(&mut stop) => false,
        };
        if !started {
            break;
        }
        let request = match tokio::time::timeout(REQUEST_TIMEOUT, read_netstring(&mut reader)).await {
            Ok(result) => result,
            Err(_) => Err(ReadError::Io(std::io::ErrorKind::TimedOut.into())),
        };
        let (reply, last) = match request {
            Ok(request) => (answer(&service, &request).await, false),
            Err(ReadError::Frame(problem)) => {
                tracing::warn!(%peer, "socketmap: {problem}; the connection is closed");
                (perm(problem), true)
            }
            Err(ReadError::Io(err)) => {
                tracing::debug!(%peer, "socketmap connection closed: {err}");
                break;
            }
        };
        service.metrics.lookup(&reply);
        if write.write_all(&reply.to_netstring()).await.is_err() || write.flush().await.is_err() || last {
            break;
        }
    }
    let _ = write.shutdown().await;
}

/// Reads one netstring's data.
async fn read_netstring<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> Result<Vec<u8>, ReadError> {
    let mut length: usize = 0;
    let mut digits = 0;
    loop {
        let byte = reader.read_u8().await.map_err(ReadError::Io)?;
        match byte {
            b'0'..=b'9' if digits < 9 => {
                length = length * 10 + usize::from(byte - b'0');
                digits += 1;
            }
            b':' if digits > 0 => break,
            _ => return Err(ReadError::Frame("the request is not a netstring (`<length>:<data>,`)".into())),
        }
    }
    if length > MAX_REQUEST {
        return Err(ReadError::Frame(format!("the request is {length} bytes, over {MAX_REQUEST}")));
    }
    let mut data = vec![0; length + 1];
    reader.read_exact(&mut data).await.map_err(ReadError::Io)?;
    if data.pop() != Some(b',') {
        return Err(ReadError::Frame("the request's netstring does not end with `,` after its length".into()));
    }
    Ok(data)
}

/// The reply to one well-framed request.
async fn answer(service: &Service, request: &[u8]) -> Reply {
    if request.contains(&0) {
        return perm("the request holds a NUL byte");
    }
    let Ok(text) = std::str::from_utf8(request) else {
        return perm("the request is not UTF-8");
    };
    let Some((name, key)) = text.split_once(' ') else {
        return perm("expected `<name> <key>`");
    };
    let map: MailMap = match name.parse() {
        Ok(map) => map,
        Err(problem) => return perm(problem),
    };
    match tokio::time::timeout(LOOKUP_DEADLINE, service.lookup(map, key)).await {
        Ok(Ok(Some(value))) => Reply::Ok(value),
        Ok(Ok(None)) => Reply::NotFound,
        Ok(Err(err)) => {
            tracing::warn!(map = %map, code = err.code(), "socketmap lookup failed: {err}");
            Reply::Temp(one_line(&format!("{} {}", err.code(), err.message())))
        }
        Err(_) => {
            tracing::warn!(map = %map, "socketmap lookup timed out");
            Reply::Timeout(format!("the account store did not answer within {} s", LOOKUP_DEADLINE.as_secs()))
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::DuplexStream;

    use super::*;

    /// A connection to a service without domains (the lookups with real ones: `tests/tests/postfix_maps.rs`),
    /// and the client's end.
    async fn connect(dir: &std::path::Path) -> (DuplexStream, tokio::task::JoinHandle<()>) {
        let service = crate::testing::service(dir, "store = \"accounts.db\"\n").await;
        let (client, server) = tokio::io::duplex(8192);
        let (_tx, stop) = watch::channel(false);
        let task = tokio::spawn(async move {
            let _keep = _tx;
            connection(server, service, stop, "test".into()).await
        });
        (client, task)
    }

    /// Reads one netstring reply (unbuffered: the next reply stays in the stream).
    async fn reply(client: &mut DuplexStream) -> Option<String> {
        let mut length = 0usize;
        loop {
            match client.read_u8().await.ok()? {
                b':' => break,
                digit => length = length * 10 + usize::from(digit - b'0'),
            }
        }
        let mut data = vec![0; length + 1];
        client.read_exact(&mut data).await.ok()?;
        assert_eq!(data.pop(), Some(b','), "a reply ends with a comma");
        Some(String::from_utf8(data).unwrap())
    }

    #[tokio::test]
    async fn requests_split_or_joined_are_answered_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut client, _task) = connect(dir.path()).await;
        // Two requests in one write, then one split across three writes.
        let joined = [netstring(b"mailbox alice@example.org"), netstring(b"domains EXAMPLE.org")].concat();
        client.write_all(&joined).await.unwrap();
        assert_eq!(reply(&mut client).await.as_deref(), Some("NOTFOUND "));
        assert_eq!(reply(&mut client).await.as_deref(), Some("NOTFOUND "));
        for part in [&b"1"[..], b"8:alias @exa", b"mple.org,"] {
            client.write_all(part).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(reply(&mut client).await.as_deref(), Some("NOTFOUND "));
    }

    #[tokio::test]
    async fn bad_requests_are_perm_and_the_connection_survives() {
        let dir = tempfile::tempdir().unwrap();
        let (mut client, _task) = connect(dir.path()).await;
        for (request, says) in [
            (&b"10:mailbox \0x,"[..], "NUL byte"),
            (b"7:mailbox,", "expected `<name> <key>`"),
            (b"11:mailboxes x,", "no map is named `mailboxes`"),
            (b"4:a\xff b,", "not UTF-8"),
        ] {
            client.write_all(request).await.unwrap();
            let answer = reply(&mut client).await.unwrap();
            assert!(answer.starts_with("PERM DC-818 ") && answer.contains(says), "{answer}");
        }
        client.write_all(&netstring(b"domains nowhere")).await.unwrap();
        assert_eq!(reply(&mut client).await.as_deref(), Some("NOTFOUND "), "the connection still serves");
    }

    #[tokio::test]
    async fn broken_frames_are_perm_and_then_the_connection_closes() {
        for request in [&b"abc:mailbox x,"[..], b"4:mailbox x,", b"5000:", b":x,", b"99999999999:"] {
            let dir = tempfile::tempdir().unwrap();
            let (mut client, task) = connect(dir.path()).await;
            client.write_all(request).await.unwrap();
            let answer = reply(&mut client).await.unwrap();
            assert!(answer.starts_with("PERM DC-818 "), "{request:?}: {answer}");
            tokio::time::timeout(Duration::from_secs(5), task).await.expect("the connection closes").unwrap();
            let mut rest = Vec::new();
            client.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty(), "{request:?}: nothing after the PERM");
        }
    }

    #[test]
    fn replies_are_netstrings() {
        assert_eq!(Reply::NotFound.to_netstring(), b"9:NOTFOUND ,");
        assert_eq!(Reply::Ok("a@b".into()).to_netstring(), b"6:OK a@b,");
        assert_eq!(Reply::Ok("jürgen@b".into()).to_netstring(), "12:OK jürgen@b,".as_bytes());
    }
}
