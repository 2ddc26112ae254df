//! The `[service]` table of the configuration: listeners, TLS, clients and their tokens, nginx backends,
//! audit retention.
//!
//! ```toml
//! [service]
//! listen = ["127.0.0.1:8025"]              # the HTTP API
//! tls_cert = "tls/cert.pem"                # optional: HTTPS with rustls
//! tls_key = "tls/key.pem"
//! dovecot_auth = ["/run/dirconn/auth", "127.0.0.1:8026"]   # Dovecot's auth protocol (UNIX path or loopback TCP):
//!                                          # each socket serves both sides (AUTH and USER); a UNIX one is mode
//!                                          # 0660, so `chown dirconn:postfix` it (or its folder) for Postfix
//! postfix_socketmap = ["/run/dirconn/postfix", "127.0.0.1:8027"]   # Postfix's lookup tables (socketmap:
//!                                          # mailbox, alias, domains, senders); UNIX path or loopback TCP
//! metrics_listen = "127.0.0.1:9125"        # /metrics, /healthz, /readyz (no token)
//! audit_retention = "90d"
//!
//! [service.throttle]                       # protects the directory's accounts (on by default; see throttle)
//! margin = 2                               # failures kept back below the directory's lockout threshold
//!
//! [[service.client]]
//! name = "dovecot"
//! token_file = "dovecot.token"             # relative to the configuration's folder
//! role = "mail-server"                     # or "admin"
//!
//! [service.nginx]                          # where nginx's mail proxy sends a user once logged in
//! imap = "127.0.0.1:143"
//! ```

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Error;

/// A client's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Logins and user lookups only.
    MailServer,
    /// Everything, including the administration routes.
    Admin,
}

impl Role {
    /// The role's name in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Role::MailServer => "mail-server",
            Role::Admin => "admin",
        }
    }
}

/// A client of the API, with the SHA-256 of its token (the token itself is not kept).
#[derive(Clone)]
pub struct Client {
    /// Its name (in logs and the audit).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of its token.
    pub token_hash: [u8; 32],
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("name", &self.name).field("role", &self.role).finish_non_exhaustive()
    }
}

/// Where a line protocol (Dovecot's auth protocol, Postfix's socketmap) is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketSpec {
    /// A UNIX socket at this path.
    Unix(PathBuf),
    /// A loopback TCP address.
    Tcp(SocketAddr),
}

impl std::fmt::Display for SocketSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketSpec::Unix(p) => write!(f, "unix:{}", p.display()),
            SocketSpec::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// The nginx mail proxy's backends, by protocol.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NginxBackends {
    /// The IMAP server.
    pub imap: Option<SocketAddr>,
    /// The POP3 server.
    pub pop3: Option<SocketAddr>,
    /// The SMTP server.
    pub smtp: Option<SocketAddr>,
    /// Seconds nginx makes a client wait after a failed login (`Auth-Wait`).
    #[serde(default = "default_wait")]
    pub wait_seconds: u32,
}

fn default_wait() -> u32 {
    3
}

/// The `[service]` table, validated, with the token files read.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// HTTP API addresses.
    pub listen: Vec<SocketAddr>,
    /// PEM certificate chain and key for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Dovecot auth protocol sockets.
    pub dovecot_auth: Vec<SocketSpec>,
    /// Postfix socketmap sockets.
    pub postfix_socketmap: Vec<SocketSpec>,
    /// The metrics and health listener.
    pub metrics_listen: Option<SocketAddr>,
    /// The API's clients.
    pub clients: Vec<Client>,
    /// nginx backends.
    pub nginx: NginxBackends,
    /// How long audit rows are kept.
    pub audit_retention: Duration,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// How long SIGTERM waits for requests in flight.
    pub drain_timeout: Duration,
    /// A domain whose directory has not answered for this long is probed; failing that, not ready.
    pub probe_interval: Duration,
    /// The `Retry-After` of temporary failures, in seconds.
    pub retry_after_seconds: u32,
    /// How long a verified (login, password) is answered from memory without the directory (`None`: never,
    /// the default).
    pub credential_cache_ttl: Option<Duration>,
    /// The login throttle (`[service.throttle]`).
    pub throttle: crate::throttle::ThrottleConfig,
    /// How long a node's lease of a scheduled sync lasts unless renewed (nodes on one PostgreSQL store).
    pub sync_lease: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    listen: Vec<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    dovecot_auth: OneOrMany,
    #[serde(default)]
    postfix_socketmap: OneOrMany,
    metrics_listen: Option<String>,
    #[serde(default)]
    client: Vec<RawClient>,
    #[serde(default)]
    nginx: NginxBackends,
    #[serde(default, with = "humantime_serde")]
    audit_retention: Option<Duration>,
    max_body_bytes: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    drain_timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    probe_interval: Option<Duration>,
    retry_after_seconds: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    credential_cache_ttl: Option<Duration>,
    #[serde(default)]
    throttle: crate::throttle::ThrottleConfig,
    #[serde(default, with = "humantime_serde")]
    sync_lease: Option<Duration>,
}

#[derive(Deserialize, Default)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    name: String,
    token_file: PathBuf,
    role: Role,
}

fn config_error(key: &str, problem: impl Into<String>, fix: impl Into<String>) -> Error {
    Error::Config { key: key.to_owned(), problem: problem.into(), fix: fix.into() }
}

fn address(key: &str, text: &str) -> Result<SocketAddr, Error> {
    text.parse().map_err(|_| {
        config_error(
            key,
            format!("`{text}` is not an IP address with a port."),
            "Write it as 127.0.0.1:8025 or [::1]:8025.",
        )
    })
}

/// The sockets of a key: UNIX paths (`/run/…` or `unix:/run/…`) or loopback TCP addresses only, since
/// `why` (the protocol has no client authentication).
fn sockets(key: &str, specs: OneOrMany, why: &str) -> Result<Vec<SocketSpec>, Error> {
    let specs = match specs {
        OneOrMany::None => Vec::new(),
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    };
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        out.push(if spec.starts_with('/') || spec.starts_with("unix:") {
            SocketSpec::Unix(PathBuf::from(spec.trim_start_matches("unix:")))
        } else {
            let addr = address(key, &spec)?;
            if !addr.ip().is_loopback() {
                return Err(config_error(
                    key,
                    format!("{addr} is not a loopback address; {why}."),
                    "Use a UNIX socket path, or 127.0.0.1 / ::1 with a port.",
                ));
            }
            SocketSpec::Tcp(addr)
        });
    }
    Ok(out)
}

/// The SHA-256 of a token, the form tokens are kept and compared in.
pub fn token_hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl ServiceConfig {
    /// Validates the `[service]` table (empty when the file has none); relative paths resolve against `dir`.
    pub fn from_table(table: &toml::Table, dir: &Path) -> Result<ServiceConfig, Error> {
        let raw: Raw = toml::Value::Table(table.clone()).try_into().map_err(|e: toml::de::Error| {
            config_error("(table)", e.message().to_owned(), "See the service page of the docs for the keys.")
        })?;
        let listen = raw.listen.iter().map(|a| address("listen", a)).collect::<Result<Vec<_>, _>>()?;
        let tls = match (raw.tls_cert, raw.tls_key) {
            (Some(c), Some(k)) => Some((dir.join(c), dir.join(k))),
            (None, None) => None,
            _ => return Err(config_error("tls_cert", "tls_cert and tls_key go together.", "Set both, or neither.")),
        };
        let dovecot_auth = sockets("dovecot_auth", raw.dovecot_auth, "the auth protocol has no client authentication")?;
        let postfix_socketmap =
            sockets("postfix_socketmap", raw.postfix_socketmap, "socketmap has no client authentication")?;
        let metrics_listen = raw.metrics_listen.as_deref().map(|a| address("metrics_listen", a)).transpose()?;
        let mut clients = Vec::with_capacity(raw.client.len());
        for (i, c) in raw.client.into_iter().enumerate() {
            if c.name.trim().is_empty() || clients.iter().any(|o: &Client| o.name == c.name) {
                return Err(config_error(
                    &format!("client[{}].name", i + 1),
                    format!("`{}` is empty or used twice.", c.name),
                    "Give each [[service.client]] its own name.",
                ));
            }
            let path = dir.join(&c.token_file);
            let token_error =
                |problem: String| Error::TokenFile { client: c.name.clone(), path: path.clone(), problem };
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(&path).map_err(|e| token_error(format!("cannot be read ({e})")))?,
            );
            let token = text.trim();
            if token.len() < 16 {
                return Err(token_error("holds a token shorter than 16 characters".into()));
            }
            let token_hash = token_hash(token.as_bytes());
            if clients.iter().any(|o| o.token_hash == token_hash) {
                return Err(token_error("holds the same token as another client".into()));
            }
            clients.push(Client { name: c.name, role: c.role, token_hash });
        }
        let within = |key: &str, value: Option<Duration>, min: u64, max: u64| -> Result<(), Error> {
            match value {
                Some(d) if d < Duration::from_secs(min) || d > Duration::from_secs(max) => Err(config_error(
                    key,
                    format!("{} is outside {min} s … {max} s.", humantime::format_duration(d)),
                    format!("Write a duration between {min} s and {max} s, e.g. \"30s\"."),
                )),
                _ => Ok(()),
            }
        };
        within("probe_interval", raw.probe_interval, 1, 86_400)?;
        within("drain_timeout", raw.drain_timeout, 0, 3_600)?;
        within("audit_retention", raw.audit_retention, 3_600, 100 * 365 * 86_400)?;
        within("credential_cache_ttl", raw.credential_cache_ttl, 0, 86_400)?;
        within("sync_lease", raw.sync_lease, 1, 3_600)?;
        let t = &raw.throttle;
        within("throttle.window", Some(t.window), 60, 86_400)?;
        within("throttle.familiar_for", Some(t.familiar_for), 0, 365 * 86_400)?;
        within("throttle.repeat_window", Some(t.repeat_window), 0, 86_400)?;
        within("throttle.hold_delay", Some(t.hold_delay), 0, 10)?;
        if t.ipv4_prefix > 32 || t.ipv6_prefix > 128 || t.ipv4_prefix < 8 || t.ipv6_prefix < 16 {
            return Err(config_error(
                "throttle.ipv4_prefix",
                format!(
                    "/{} and /{} are not network prefixes the throttle can count by.",
                    t.ipv4_prefix, t.ipv6_prefix
                ),
                "Write ipv4_prefix from 8 to 32 and ipv6_prefix from 16 to 128 (defaults 24 and 56).",
            ));
        }
        if t.margin > 100 || t.assumed_threshold > 1000 {
            return Err(config_error(
                "throttle.margin",
                "margin is over 100 or assumed_threshold over 1000.",
                "Keep the margin a few failures below the directory's threshold (default 2).",
            ));
        }
        Ok(ServiceConfig {
            listen,
            tls,
            dovecot_auth,
            postfix_socketmap,
            metrics_listen,
            clients,
            nginx: raw.nginx,
            audit_retention: raw.audit_retention.unwrap_or(Duration::from_secs(90 * 86_400)),
            max_body_bytes: raw.max_body_bytes.unwrap_or(64 * 1024),
            drain_timeout: raw.drain_timeout.unwrap_or(Duration::from_secs(10)),
            probe_interval: raw.probe_interval.unwrap_or(Duration::from_secs(30)),
            retry_after_seconds: raw.retry_after_seconds.unwrap_or(5),
            credential_cache_ttl: raw.credential_cache_ttl.filter(|d| !d.is_zero()),
            throttle: raw.throttle,
            sync_lease: raw.sync_lease.unwrap_or(Duration::from_secs(30)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, dir: &Path) -> Result<ServiceConfig, Error> {
        ServiceConfig::from_table(&toml::from_str(text).unwrap(), dir)
    }

    #[test]
    fn the_credential_cache_is_off_by_default_and_at_most_a_day() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(parse("", dir.path()).unwrap().credential_cache_ttl, None);
        assert_eq!(parse("credential_cache_ttl = \"0s\"", dir.path()).unwrap().credential_cache_ttl, None);
        let five = parse("credential_cache_ttl = \"5m\"", dir.path()).unwrap().credential_cache_ttl;
        assert_eq!(five, Some(Duration::from_secs(300)));
        let err = parse("credential_cache_ttl = \"2d\"", dir.path()).unwrap_err();
        assert!(err.code() == "DC-801" && err.message().contains("credential_cache_ttl"), "{err}");
    }

    #[test]
    fn the_throttle_is_on_by_default_and_its_keys_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let t = parse("", dir.path()).unwrap().throttle;
        assert!(t.enabled && t.margin == 2 && t.ipv4_prefix == 24 && t.ipv6_prefix == 56, "{t:?}");
        let t = parse("[throttle]\nmargin = 1\nfamiliar_for = \"7d\"\n", dir.path()).unwrap().throttle;
        assert_eq!((t.margin, t.familiar_for), (1, Duration::from_secs(7 * 86_400)));
        for bad in ["[throttle]\nipv4_prefix = 33\n", "[throttle]\nwindow = \"2d\"\n", "[throttle]\nmargn = 1\n"] {
            assert_eq!(parse(bad, dir.path()).unwrap_err().code(), "DC-801", "{bad}");
        }
    }

    #[test]
    fn clients_and_sockets_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("t"), "0123456789abcdef0123\n").unwrap();
        let c = parse(
            "listen = [\"127.0.0.1:1\"]\ndovecot_auth = [\"/run/x\", \"[::1]:2\"]\n[[client]]\nname = \"d\"\ntoken_file = \"t\"\nrole = \"mail-server\"\n",
            dir.path(),
        )
        .unwrap();
        assert_eq!(c.clients[0].token_hash, token_hash(b"0123456789abcdef0123"));
        assert_eq!(c.dovecot_auth[0], SocketSpec::Unix("/run/x".into()));
        assert!(format!("{:?}", c.clients).contains("MailServer") && !format!("{c:?}").contains("0123456789"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let e = parse("dovecot_auth = \"10.0.0.1:2\"\n", dir.path()).unwrap_err();
        assert_eq!((e.code(), e.message().contains("dovecot_auth")), ("DC-801", true));
        let e = parse("postfix_socketmap = [\"/run/m\", \"192.0.2.1:7\"]\n", dir.path()).unwrap_err();
        assert_eq!((e.code(), e.message().contains("postfix_socketmap")), ("DC-801", true));
        let c = parse("postfix_socketmap = \"unix:/run/m\"\n", dir.path()).unwrap();
        assert_eq!(c.postfix_socketmap, [SocketSpec::Unix("/run/m".into())]);
        let e = parse("listen = [\"nowhere\"]\n", dir.path()).unwrap_err();
        assert!(e.message().contains("`listen`"), "{e}");
        let e =
            parse("[[client]]\nname = \"d\"\ntoken_file = \"missing\"\nrole = \"admin\"\n", dir.path()).unwrap_err();
        assert_eq!(e.code(), "DC-803");
        let e = parse("lisen = []\n", dir.path()).unwrap_err();
        assert!(e.message().contains("lisen"), "{e}");
    }
}
