//! Reaching the KDCs: TCP first (a 4-byte big-endian length before each message), UDP when asked (with a
//! retry on TCP when the KDC answers KRB_ERR_RESPONSE_TOO_BIG), a connect and a read timeout per KDC, and
//! failover to the next KDC on I/O errors and timeouts only: a KDC's answer, even an error, is final.
//! The KDC that answered last is tried first next time.

use std::{
    fmt,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
    time::timeout,
};

use crate::{
    Error,
    wire::{self, Reply},
};

/// The default KDC port.
pub const KDC_PORT: u16 = 88;

/// Replies longer than this are refused (an AD ticket with a large PAC is some tens of KiB).
const MAX_REPLY: usize = 1 << 20;

/// One KDC's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdcAddress {
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl KdcAddress {
    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
    pub fn parse(text: &str) -> Result<KdcAddress, String> {
        let text = text.trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or("an IPv6 address lacks its closing `]`")?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or("text follows the `]`")?)),
            }
        } else {
            match text.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => {
                    return Err("an IPv6 address must be written in brackets: [::1]:88".into());
                }
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            }
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/') {
            return Err(format!("`{text}` is not a host name or address"));
        }
        let port = match port {
            None => KDC_PORT,
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or(format!("`{p}` is not a port"))?,
        };
        Ok(KdcAddress { host: host.to_owned(), port })
    }
}

impl fmt::Display for KdcAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How one KDC failed to answer.
#[derive(Debug, Clone)]
pub enum Failure {
    /// Resolve, connect, reset: try the next KDC.
    Io(String),
    /// No connection or no answer in time: try the next KDC.
    Timeout(String),
    /// An answer that cannot be a KDC's: final.
    Bad(String),
}

/// The realm's KDCs and how to reach them.
#[derive(Debug)]
pub struct Transport {
    kdcs: Vec<KdcAddress>,
    udp: bool,
    connect_timeout: Duration,
    read_timeout: Duration,
    preferred: AtomicUsize,
    /// Requests in flight at once: MIT's krb5kdc listens with a backlog of 5, so a burst of TCP connects
    /// beyond it loses SYNs and waits a second for the retransmission (measured: p99 1 s at 16 logins at
    /// once); queueing here costs microseconds instead.
    in_flight: tokio::sync::Semaphore,
}

/// A KDC's answer.
#[derive(Debug)]
pub struct Answer {
    /// Which KDC answered.
    pub kdc: String,
    /// The reply.
    pub reply: Reply,
}

impl Transport {
    /// The KDCs in order, UDP first or TCP only, the timeouts per KDC, and the requests in flight at once.
    pub fn new(
        kdcs: Vec<KdcAddress>,
        udp: bool,
        connect_timeout: Duration,
        read_timeout: Duration,
        max_in_flight: usize,
    ) -> Transport {
        let in_flight = tokio::sync::Semaphore::new(max_in_flight.max(1));
        Transport { kdcs, udp, connect_timeout, read_timeout, preferred: AtomicUsize::new(0), in_flight }
    }

    /// The KDCs, in configured order.
    pub fn kdcs(&self) -> &[KdcAddress] {
        &self.kdcs
    }

    /// Sends a request to the realm: the preferred KDC first, then the others in order, moving on only
    /// when one cannot be reached or does not answer in time.
    pub async fn send(&self, request: &[u8]) -> Result<Answer, Error> {
        // Waiting for a slot counts against no KDC's timeout; the semaphore is never closed.
        let _slot = self.in_flight.acquire().await.ok();
        let first = self.preferred.load(Ordering::Relaxed) % self.kdcs.len().max(1);
        let mut tried = Vec::new();
        let mut all_timeouts = true;
        for n in 0..self.kdcs.len() {
            let i = (first + n) % self.kdcs.len();
            let kdc = &self.kdcs[i];
            match self.exchange(kdc, request).await {
                Ok(reply) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(Answer { kdc: kdc.to_string(), reply });
                }
                Err(Failure::Bad(problem)) => return Err(Error::Protocol { kdc: kdc.to_string(), problem }),
                Err(Failure::Io(why)) => {
                    all_timeouts = false;
                    tracing::debug!(kdc = %kdc, error = %why, "KDC unreachable; trying the next one");
                    tried.push(format!("{kdc}: {why}"));
                }
                Err(Failure::Timeout(why)) => {
                    tracing::debug!(kdc = %kdc, error = %why, "KDC timed out; trying the next one");
                    tried.push(format!("{kdc}: {why}"));
                }
            }
        }
        if tried.is_empty() {
            tried.push("no KDC is configured".into());
            all_timeouts = false;
        }
        if all_timeouts {
            Err(Error::Timeout { tried, after: self.read_timeout })
        } else {
            Err(Error::Unreachable { tried })
        }
    }

    /// One request to one KDC: over UDP first when enabled (TCP again on KRB_ERR_RESPONSE_TOO_BIG), else TCP.
    pub async fn exchange(&self, kdc: &KdcAddress, request: &[u8]) -> Result<Reply, Failure> {
        if self.udp {
            let bytes = self.udp(kdc, request).await?;
            let reply = wire::parse_reply(&bytes).map_err(Failure::Bad)?;
            match reply {
                Reply::Error(e) if e.code == 52 => {
                    tracing::debug!(kdc = %kdc, "the reply is too big for UDP; asking again over TCP");
                }
                reply => return Ok(reply),
            }
        }
        let bytes = self.tcp(kdc, request).await?;
        wire::parse_reply(&bytes).map_err(Failure::Bad)
    }

    async fn tcp(&self, kdc: &KdcAddress, request: &[u8]) -> Result<Vec<u8>, Failure> {
        let addr = (kdc.host.as_str(), kdc.port);
        let mut stream = match timeout(self.connect_timeout, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(Failure::Timeout(format!(
                    "no TCP connection within {}",
                    humantime::format_duration(self.connect_timeout)
                )));
            }
            Ok(Err(e)) => return Err(Failure::Io(format!("TCP connect: {e}"))),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        let exchange = async {
            let mut framed = Vec::with_capacity(request.len() + 4);
            framed.extend_from_slice(&(request.len() as u32).to_be_bytes());
            framed.extend_from_slice(request);
            stream.write_all(&framed).await?;
            let mut len = [0u8; 4];
            stream.read_exact(&mut len).await?;
            let len = u32::from_be_bytes(len) as usize;
            if len > MAX_REPLY {
                return Ok(Err(format!("it announces a reply of {len} bytes (more than {MAX_REPLY})")));
            }
            let mut reply = vec![0u8; len];
            stream.read_exact(&mut reply).await?;
            Ok::<_, std::io::Error>(Ok(reply))
        };
        match timeout(self.read_timeout, exchange).await {
            Err(_) => Err(Failure::Timeout(format!(
                "no answer over TCP within {}",
                humantime::format_duration(self.read_timeout)
            ))),
            Ok(Err(e)) => Err(Failure::Io(format!("TCP: {e}"))),
            Ok(Ok(Err(bad))) => Err(Failure::Bad(bad)),
            Ok(Ok(Ok(reply))) => Ok(reply),
        }
    }

    async fn udp(&self, kdc: &KdcAddress, request: &[u8]) -> Result<Vec<u8>, Failure> {
        let addr = tokio::net::lookup_host((kdc.host.as_str(), kdc.port))
            .await
            .map_err(|e| Failure::Io(format!("resolve: {e}")))?
            .next()
            .ok_or_else(|| Failure::Io("the name resolves to no address".into()))?;
        let local = if addr.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
        let socket = UdpSocket::bind(local).await.map_err(|e| Failure::Io(format!("UDP socket: {e}")))?;
        socket.connect(addr).await.map_err(|e| Failure::Io(format!("UDP: {e}")))?;
        let exchange = async {
            socket.send(request).await?;
            let mut buf = vec![0u8; 65_535];
            let n = socket.recv(&mut buf).await?;
            buf.truncate(n);
            Ok::<_, std::io::Error>(buf)
        };
        match timeout(self.read_timeout, exchange).await {
            Err(_) => Err(Failure::Timeout(format!(
                "no answer over UDP within {}",
                humantime::format_duration(self.read_timeout)
            ))),
            Ok(Err(e)) => Err(Failure::Io(format!("UDP: {e}"))),
            Ok(Ok(reply)) => Ok(reply),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        let a = |s| KdcAddress::parse(s).map(|a| a.to_string());
        assert_eq!(a("kdc.example.org").unwrap(), "kdc.example.org:88");
        assert_eq!(a("127.0.0.1:8888").unwrap(), "127.0.0.1:8888");
        assert_eq!(a("[::1]").unwrap(), "[::1]:88");
        assert_eq!(a("[::1]:750").unwrap(), "[::1]:750");
        for bad in ["", "::1", "host:0", "host:x", "[::1", "[::1]x", "a b", "host:70000"] {
            assert!(KdcAddress::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn failover_skips_dead_kdcs_and_reports_each() {
        // Two ports nothing listens on (bound, then closed).
        let dead: Vec<KdcAddress> = (0..2)
            .map(|_| {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                KdcAddress { host: "127.0.0.1".into(), port: l.local_addr().unwrap().port() }
            })
            .collect();
        let t = Transport::new(dead, false, Duration::from_secs(1), Duration::from_secs(1), 4);
        match t.send(b"x").await {
            Err(Error::Unreachable { tried }) => assert_eq!(tried.len(), 2, "{tried:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_silent_kdc_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let kdc = KdcAddress { host: "127.0.0.1".into(), port: listener.local_addr().unwrap().port() };
        let t = Transport::new(vec![kdc], false, Duration::from_secs(1), Duration::from_millis(200), 4);
        let _keep = listener;
        match t.send(b"x").await {
            Err(Error::Timeout { tried, .. }) => assert_eq!(tried.len(), 1),
            other => panic!("{other:?}"),
        }
    }
}
