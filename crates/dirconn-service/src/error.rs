//! The service's own errors (`DC-8xx`): its configuration, its listeners and what it refuses of a request.
//! Like every dirconn error, each exposes its code, kind, message and fix; only the edges render them.

use std::path::PathBuf;

use dirconn_abi::ErrorKind;
use dirconn_views::{Problem, Refused};

/// A failure of the service itself (not of a login, which keeps the host's and the connector's codes).
#[derive(Debug)]
pub enum Error {
    /// A key of the `[service]` table is missing or wrong (DC-801).
    Config {
        /// The key (`listen`, `service.client[1].token_file`…).
        key: String,
        /// What is wrong.
        problem: String,
        /// What to do.
        fix: String,
    },
    /// A listener cannot be opened (DC-802).
    Listen {
        /// The address or socket path.
        address: String,
        /// The OS's answer.
        source: std::io::Error,
    },
    /// A client's token file cannot be read or is empty (DC-803).
    TokenFile {
        /// The client's name.
        client: String,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The TLS certificate or key cannot be used (DC-804).
    Tls {
        /// What is wrong, with the file.
        problem: String,
    },
    /// No token, or a token no client has (DC-810).
    Unauthorized,
    /// The client's role may not use this route (DC-811).
    Forbidden {
        /// The client's name.
        client: String,
        /// The role the route needs.
        needs: &'static str,
    },
    /// The request (its body, path or query) is not what this route takes (DC-812).
    BadRequest {
        /// What the parser said.
        problem: String,
    },
    /// The request body is over the cap (DC-813).
    TooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// A login refused before any directory call: control characters, too long, empty (DC-814).
    BadLogin {
        /// What is wrong with it.
        problem: String,
    },
    /// A password refused before any directory call: too long, NUL (DC-815).
    BadPassword {
        /// What is wrong with it.
        problem: String,
    },
    /// No such route, address or item (DC-816).
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The service is stopping and takes no new work (DC-817).
    Stopping,
    /// A Postfix socketmap request that is not `<name> <key>` in a netstring of at most 4096 bytes, or
    /// names no map (DC-818): answered `PERM`.
    BadLookup {
        /// What is wrong with it.
        problem: String,
    },
    /// A login held back by the throttle, without contacting the directory (DC-819).
    Throttled {
        /// The account (`login@domain` as counted).
        account: String,
        /// The client's network.
        network: String,
        /// Why.
        hold: crate::throttle::Hold,
        /// The directory's lockout threshold in force.
        threshold: u32,
        /// Seconds until it may be tried again.
        retry_after: u64,
    },
}

impl Error {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config { .. } => "DC-801",
            Error::Listen { .. } => "DC-802",
            Error::TokenFile { .. } => "DC-803",
            Error::Tls { .. } => "DC-804",
            Error::Unauthorized => "DC-810",
            Error::Forbidden { .. } => "DC-811",
            Error::BadRequest { .. } => "DC-812",
            Error::TooLarge { .. } => "DC-813",
            Error::BadLogin { .. } => "DC-814",
            Error::BadPassword { .. } => "DC-815",
            Error::NotFound { .. } => "DC-816",
            Error::Stopping => "DC-817",
            Error::BadLookup { .. } => "DC-818",
            Error::Throttled { .. } => "DC-819",
        }
    }

    /// The kind, in the connector's terms.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config { .. } | Error::Listen { .. } | Error::TokenFile { .. } | Error::Tls { .. } => {
                ErrorKind::Configuration
            }
            Error::Unauthorized | Error::Forbidden { .. } => ErrorKind::InvalidCredentials,
            Error::BadRequest { .. }
            | Error::TooLarge { .. }
            | Error::BadLogin { .. }
            | Error::BadPassword { .. }
            | Error::BadLookup { .. } => ErrorKind::InvalidInput,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Stopping => ErrorKind::Unreachable,
            Error::Throttled { .. } => ErrorKind::LogonRestricted,
        }
    }

    /// What failed, in a sentence an administrator understands.
    pub fn message(&self) -> String {
        match self {
            Error::Config { key, problem, .. } => format!("[service] key `{key}`: {problem}"),
            Error::Listen { address, source } => format!("The service cannot listen on {address}: {source}."),
            Error::TokenFile { client, path, problem } => {
                format!("The token file {} of client `{client}` {problem}.", path.display())
            }
            Error::Tls { problem } => format!("TLS cannot be set up: {problem}."),
            Error::Unauthorized => "The request has no valid `Authorization: Bearer <token>` header.".into(),
            Error::Forbidden { client, needs } => {
                format!("The client `{client}` may not use this route; it needs the {needs} role.")
            }
            Error::BadRequest { problem } => format!("The request was refused: {problem}."),
            Error::TooLarge { limit } => format!("The request body is over {limit} bytes."),
            Error::BadLogin { problem } => {
                format!("The login was refused without contacting the directory: {problem}.")
            }
            Error::BadPassword { problem } => {
                format!("The password was refused without contacting the directory: {problem}.")
            }
            Error::NotFound { what } => format!("{what} was not found."),
            Error::Stopping => "The service is stopping and takes no new requests.".into(),
            Error::BadLookup { problem } => format!("The socketmap request was refused: {problem}."),
            Error::Throttled { account, network, hold, threshold, retry_after } => {
                use crate::throttle::Hold;
                let why = match hold {
                    Hold::Unfamiliar { failures, limit } => format!(
                        "networks it does not usually log in from made {failures} failed logins (the limit is \
                         {limit}, the directory locks the account at {threshold})"
                    ),
                    Hold::Account { failures, limit } => format!(
                        "{failures} failed logins were counted (the limit is {limit}, the directory locks the \
                         account at {threshold})"
                    ),
                    Hold::Network { failures, limit } => {
                        format!("{network} made {failures} failed logins for any account (the limit is {limit})")
                    }
                    Hold::InFlight => format!(
                        "its attempts in flight would reach the limit if they failed (the directory locks the \
                         account at {threshold}), and they did not finish in time"
                    ),
                };
                format!(
                    "The login of {account} from {network} was held back without contacting the directory: {why}; \
                     it may be tried again in {retry_after} s."
                )
            }
        }
    }

    /// What to do about it.
    pub fn fix(&self) -> String {
        match self {
            Error::Config { fix, .. } => fix.clone(),
            Error::Listen { .. } => {
                "Free the address or choose another in [service] (listen, dovecot_auth, postfix_socketmap, \
                 metrics_listen); a UNIX socket's folder must exist and be writable."
                    .into()
            }
            Error::TokenFile { .. } => {
                "Write the client's token (at least 16 characters, one line) into the file, readable by the \
                 service only (chmod 600)."
                    .into()
            }
            Error::Tls { .. } => "Point tls_cert to a PEM certificate chain and tls_key to its PEM private key.".into(),
            Error::Unauthorized => {
                "Send the token of a [[service.client]] entry as `Authorization: Bearer <token>`.".into()
            }
            Error::Forbidden { .. } => "Use an admin client's token for administration routes.".into(),
            Error::BadRequest { .. } => {
                "Send the path, query and JSON body the API reference (/v1/openapi.json) describes.".into()
            }
            Error::TooLarge { .. } => "Send a smaller body; logins and passwords have their own caps.".into(),
            Error::BadLogin { .. } => "Log in with a login of at most 256 bytes without control characters.".into(),
            Error::BadPassword { .. } => "Type the password again; it must not be empty or over 1024 bytes.".into(),
            Error::NotFound { .. } => "Check the address; /v1/openapi.json lists the routes.".into(),
            Error::Stopping => "Retry in a moment; another node or the restarted service will answer.".into(),
            Error::Throttled { .. } => {
                "Nothing, if this is an attack: the directory has not locked the account, and the clients that \
                 logged in as it before (its familiar networks) still log in. A user held back by mistake logs \
                 in from a network they used before, or after the wait; [service.throttle] sets the margin and \
                 the limits."
                    .into()
            }
            Error::BadLookup { .. } => {
                "Name one of the maps mailbox, alias, domains or senders after `socketmap:…:` in main.cf (`postconf \
                 -n | grep socketmap`); a client other than Postfix must send netstrings `<length>:<name> <key>,`."
                    .into()
            }
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {} Fix: {}", self.code(), self.message(), self.fix())
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The one [`Problem`] view of this error.
    pub fn problem(&self) -> Problem {
        Problem {
            code: self.code().to_owned(),
            kind: self.kind().into(),
            message: self.message(),
            fix: self.fix(),
            diagnostic: None,
        }
    }
}

/// The service's refusal of a request, with what the user is told.
pub fn refusal(err: &Error) -> Refused {
    Refused::new(err.problem(), err.kind())
}
