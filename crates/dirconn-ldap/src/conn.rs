//! Connections: connecting to one URL with TLS or StartTLS, failover across URLs, binds, and the pool of
//! service connections. Every failure is classified here into the engine's [`Error`].

use std::{
    future::Future,
    io,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Scope, SearchEntry, SearchOptions, StdStream,
    controls::RawControl,
};
use rustls::ClientConfig;

use crate::{
    ClosedDuring, Error, LdapSettings, LdapUrl, TlsProblem, entry::parse_entry, error::describe_result,
    guard::BindGuard, tls,
};

/// Opens connections to a domain's servers.
#[derive(Debug)]
pub(crate) struct Connector {
    pub settings: Arc<LdapSettings>,
    tls: tls::TlsConfigs,
    /// The URL that worked last; connections try it first.
    preferred: AtomicUsize,
    /// Every service bind goes through it: a rejected secret is not sent again until it changes.
    guard: BindGuard,
}

impl Connector {
    pub fn new(settings: Arc<LdapSettings>) -> Result<Connector, Error> {
        let tls = tls::client_config(settings.ca_file.as_deref())?;
        let guard = BindGuard::new(&settings);
        Ok(Connector { settings, tls, preferred: AtomicUsize::new(0), guard })
    }

    /// The TLS configuration for host names and IPv4 addresses.
    pub fn tls_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.tls.named)
    }

    /// Connects to one URL: TCP, then TLS (ldaps) or StartTLS, within the connect timeout.
    pub async fn connect(&self, url: &LdapUrl) -> Result<Ldap, Error> {
        let deadline = tokio::time::Instant::now() + self.settings.connect_timeout;
        let stream = self.tcp(url, deadline).await?;
        // ldap3 takes the TLS server name from the URL; an IPv6 literal goes by a placeholder name (the
        // stream is already connected, so the name is never resolved).
        let (text, config) = match url.host.parse::<std::net::Ipv6Addr>() {
            Ok(ip) => {
                let scheme = if url.ldaps { "ldaps" } else { "ldap" };
                (format!("{scheme}://{}:{}", tls::ipv6_placeholder(ip), url.port), &self.tls.ipv6_literal)
            }
            Err(_) => (url.to_string(), &self.tls.named),
        };
        let settings = LdapConnSettings::new()
            .set_std_stream(StdStream::Tcp(stream))
            .set_config(Arc::clone(config))
            .set_starttls(self.settings.starttls && !url.ldaps);
        let attempt = LdapConnAsync::with_settings(settings, &text);
        let (conn, ldap) = match tokio::time::timeout_at(deadline, attempt).await {
            Err(_) => {
                return Err(Error::ConnectTimeout { addr: url.authority(), after: self.settings.connect_timeout });
            }
            Ok(Err(err)) => return Err(self.classify_connect(url, err)),
            Ok(Ok(pair)) => pair,
        };
        ldap3::drive!(conn);
        Ok(ldap)
    }

    /// Resolves and connects TCP (every address in turn) with Nagle off: LDAP requests are small and
    /// latency-bound, and with Nagle on, a TLS record split in two waits for a delayed ACK (~40 ms).
    async fn tcp(&self, url: &LdapUrl, deadline: tokio::time::Instant) -> Result<std::net::TcpStream, Error> {
        let addr = url.authority();
        let timed_out = || Error::ConnectTimeout { addr: url.authority(), after: self.settings.connect_timeout };
        let addrs = match tokio::time::timeout_at(deadline, tokio::net::lookup_host(addr.as_str())).await {
            Err(_) => return Err(timed_out()),
            Ok(Err(err)) => return Err(Error::Resolve { host: url.host.clone(), reason: err.to_string() }),
            Ok(Ok(addrs)) => addrs.collect::<Vec<_>>(),
        };
        let mut last = Error::Resolve { host: url.host.clone(), reason: "no address".into() };
        for sock in addrs {
            match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(sock)).await {
                Err(_) => return Err(timed_out()),
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return stream
                        .into_std()
                        .map_err(|e| Error::Unexpected { what: "connection".into(), diagnostic: e.to_string() });
                }
                Ok(Err(err)) => last = classify_io(addr.clone(), &url.host, err, false, self.settings.connect_timeout),
            }
        }
        Err(last)
    }

    fn classify_connect(&self, url: &LdapUrl, err: LdapError) -> Error {
        let addr = url.authority();
        let tls_phase = url.ldaps;
        match err {
            LdapError::LdapResult { result } if self.settings.starttls => {
                Error::StartTlsRefused { addr, diagnostic: describe_result(&result) }
            }
            LdapError::Rustls { source } => Error::Tls { addr, problem: tls::problem(&source) },
            LdapError::DNSName { source } => Error::Tls { addr, problem: TlsProblem::Other(source.to_string()) },
            LdapError::Timeout { .. } => Error::ConnectTimeout { addr, after: self.settings.connect_timeout },
            LdapError::Io { source } => classify_io(addr, &url.host, source, tls_phase, self.settings.connect_timeout),
            LdapError::EndOfStream | LdapError::ResultRecv { .. } if self.settings.starttls => Error::Closed {
                addr,
                during: ClosedDuring::FirstOperation,
                diagnostic: "the connection closed in answer to the StartTLS request".into(),
            },
            other => Error::Unexpected { what: "connection".into(), diagnostic: other.to_string() },
        }
    }

    /// Connects with failover and binds; returns the connection and the bind's LDAP result, whatever its
    /// code. Only failures to reach a server move on to the next URL.
    pub async fn open(&self, dn: &str, password: &str, controls: Vec<RawControl>) -> Result<(Ldap, LdapResult), Error> {
        let urls = &self.settings.urls;
        let first = self.preferred.load(Ordering::Relaxed) % urls.len();
        let mut tried = Vec::new();
        let mut last = None;
        for i in (0..urls.len()).map(|k| (first + k) % urls.len()) {
            let url = &urls[i];
            let attempt = async {
                let mut ldap = self.connect(url).await?;
                let result = self.bind(&mut ldap, url, dn, password, controls.clone()).await?;
                Ok::<_, Error>((ldap, result))
            };
            match attempt.await {
                Ok(pair) => {
                    if i != first {
                        tracing::warn!(url = %url, "failed over to this directory URL");
                    }
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(pair);
                }
                Err(err) if err.is_transport() => {
                    tracing::warn!(url = %url, code = err.code(), error = %err, "directory URL failed");
                    tried.push(url.to_string());
                    last = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        let last = last.expect("at least one URL is configured");
        if tried.len() == 1 { Err(last) } else { Err(Error::AllUrlsFailed { tried, last: Box::new(last) }) }
    }

    /// The controls sent with a service bind: the password policy request on generic LDAP, so that the
    /// service account's own state (must change, expired) is told.
    fn service_controls(&self) -> Vec<RawControl> {
        self.settings.dialect.bind_controls()
    }

    /// Connects with failover and binds as the service account, through the service-bind guard.
    pub async fn open_service(&self) -> Result<Ldap, Error> {
        let s = &self.settings;
        let ticket = self.guard.admit().await?;
        let (ldap, result) = self.open(&s.bind_dn, ticket.secret(), self.service_controls()).await?;
        self.guard.settle(ticket, s.dialect.service_bind(&s.bind_dn, &result))?;
        Ok(ldap)
    }

    /// Binds a connection to `url` as the service account, through the service-bind guard.
    pub async fn bind_service(&self, ldap: &mut Ldap, url: &LdapUrl) -> Result<(), Error> {
        let s = &self.settings;
        let ticket = self.guard.admit().await?;
        let result = self.bind(ldap, url, &s.bind_dn, ticket.secret(), self.service_controls()).await?;
        self.guard.settle(ticket, s.dialect.service_bind(&s.bind_dn, &result))
    }

    /// A simple bind on a fresh connection; the first operation on it.
    pub async fn bind(
        &self,
        ldap: &mut Ldap,
        url: &LdapUrl,
        dn: &str,
        password: &str,
        controls: Vec<RawControl>,
    ) -> Result<LdapResult, Error> {
        if password.is_empty() {
            return Err(Error::EmptyPassword);
        }
        let during =
            if url.ldaps || self.settings.starttls { ClosedDuring::Operation } else { ClosedDuring::FirstOperation };
        let op = async { ldap.with_controls(controls).simple_bind(dn, password).await };
        self.run(url, "bind", during, op).await
    }

    /// Runs one operation within the operation timeout, classifying transport failures.
    pub async fn run<T>(
        &self,
        url: &LdapUrl,
        what: &str,
        during: ClosedDuring,
        op: impl Future<Output = Result<T, LdapError>>,
    ) -> Result<T, Error> {
        let after = self.settings.operation_timeout;
        match tokio::time::timeout(after, op).await {
            Err(_) => Err(Error::OperationTimeout { addr: url.authority(), what: what.to_owned(), after }),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(classify_op(url.authority(), what, during, err, after)),
        }
    }

    /// Runs one search on a connection within the operation timeout.
    pub async fn search(
        &self,
        ldap: &mut Ldap,
        url: &LdapUrl,
        query: &Query<'_>,
    ) -> Result<(Vec<SearchEntry>, LdapResult), Error> {
        let attrs: Vec<&str> = query.attrs.iter().map(String::as_str).collect();
        let op = async {
            let ldap3::SearchResult(entries, result) = ldap
                .with_search_options(SearchOptions::new().sizelimit(query.size_limit))
                .search(query.base, query.scope, query.filter, attrs)
                .await?;
            Ok((entries, result))
        };
        let (entries, result) = self.run(url, query.what, ClosedDuring::Operation, op).await?;
        // Referrals (AD's continuation references to other partitions) are not chased, and are not entries.
        let entries = entries.into_iter().filter(|e| !e.is_ref() && !e.is_intermediate());
        Ok((entries.map(parse_entry).collect::<Result<_, _>>()?, result))
    }

    /// The URL that worked last.
    pub fn preferred_url(&self) -> &LdapUrl {
        let urls = &self.settings.urls;
        &urls[self.preferred.load(Ordering::Relaxed) % urls.len()]
    }
}

pub(crate) fn classify_io(addr: String, host: &str, source: io::Error, tls_phase: bool, after: Duration) -> Error {
    if let Some(tls_err) = tls::rustls_error(&source) {
        return Error::Tls { addr, problem: tls::problem(tls_err) };
    }
    match source.kind() {
        io::ErrorKind::ConnectionRefused => Error::Refused { addr },
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable | io::ErrorKind::AddrNotAvailable => {
            Error::NoRoute { addr, diagnostic: source.to_string() }
        }
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::BrokenPipe => Error::Closed {
            addr,
            during: if tls_phase { ClosedDuring::TlsHandshake } else { ClosedDuring::FirstOperation },
            diagnostic: source.to_string(),
        },
        io::ErrorKind::TimedOut => Error::ConnectTimeout { addr, after },
        _ if source.to_string().contains("lookup") || source.to_string().contains("resolve") => {
            Error::Resolve { host: host.to_owned(), reason: source.to_string() }
        }
        _ => Error::Unexpected { what: "connection".into(), diagnostic: source.to_string() },
    }
}

fn classify_op(addr: String, what: &str, during: ClosedDuring, err: LdapError, after: Duration) -> Error {
    match err {
        LdapError::Io { source } => {
            if let Some(tls_err) = tls::rustls_error(&source) {
                return Error::Tls { addr, problem: tls::problem(tls_err) };
            }
            Error::Closed { addr, during, diagnostic: source.to_string() }
        }
        LdapError::EndOfStream | LdapError::ResultRecv { .. } | LdapError::OpSend { .. } => {
            Error::Closed { addr, during, diagnostic: err.to_string() }
        }
        LdapError::Timeout { .. } => Error::OperationTimeout { addr, what: what.to_owned(), after },
        other => Error::Unexpected { what: what.to_owned(), diagnostic: other.to_string() },
    }
}

/// One search: where, what, and how much.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query<'a> {
    /// The base DN.
    pub base: &'a str,
    /// The scope under it.
    pub scope: Scope,
    /// The filter, already filled and escaped.
    pub filter: &'a str,
    /// The attributes to return.
    pub attrs: &'a [String],
    /// The most entries wanted (0: the server's limit).
    pub size_limit: i32,
    /// What the search is for, in error messages.
    pub what: &'a str,
}

impl<'a> Query<'a> {
    /// A read of the rootDSE (the server's own entry: naming contexts, controls, AD's USN and DC name).
    pub fn root_dse(attrs: &'a [String]) -> Query<'a> {
        Query { base: "", scope: Scope::Base, filter: "(objectClass=*)", attrs, size_limit: 1, what: "rootDSE read" }
    }
}
