//! Failures: [`Problem`] (the one error shape), the command's failure ([`ErrorView`]), a refused login
//! ([`Refusal`]).

use std::time::Duration;

use dirconn_abi::{ConnectorError, ErrorKind};
use dirconn_host::{Domain, Error};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What went wrong, in the terms the host acts on: [`ErrorKind`], by its stable name (`invalid-credentials`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The request was refused before any network call.
    InvalidInput,
    /// The directory rejected the password.
    InvalidCredentials,
    /// The account is locked out.
    AccountLocked,
    /// The account is disabled.
    AccountDisabled,
    /// The account has expired.
    AccountExpired,
    /// The password has expired.
    PasswordExpired,
    /// The password must be changed now.
    MustChangePassword,
    /// The account may not log in at this time or from here.
    LogonRestricted,
    /// Nothing matches (no such user, domain or account).
    NotFound,
    /// More than one directory entry matches.
    Ambiguous,
    /// The directory could not be reached.
    Unreachable,
    /// The directory did not answer in time.
    Timeout,
    /// The TLS handshake or certificate verification failed.
    Tls,
    /// The configuration is invalid.
    Configuration,
    /// The connector does not offer this operation.
    Unsupported,
    /// A bug or an unexpected answer.
    Internal,
}

/// Each ABI kind with its view: the one table both conversions read.
const KINDS: [(ErrorKind, ProblemKind); 16] = [
    (ErrorKind::InvalidInput, ProblemKind::InvalidInput),
    (ErrorKind::InvalidCredentials, ProblemKind::InvalidCredentials),
    (ErrorKind::AccountLocked, ProblemKind::AccountLocked),
    (ErrorKind::AccountDisabled, ProblemKind::AccountDisabled),
    (ErrorKind::AccountExpired, ProblemKind::AccountExpired),
    (ErrorKind::PasswordExpired, ProblemKind::PasswordExpired),
    (ErrorKind::MustChangePassword, ProblemKind::MustChangePassword),
    (ErrorKind::LogonRestricted, ProblemKind::LogonRestricted),
    (ErrorKind::NotFound, ProblemKind::NotFound),
    (ErrorKind::Ambiguous, ProblemKind::Ambiguous),
    (ErrorKind::Unreachable, ProblemKind::Unreachable),
    (ErrorKind::Timeout, ProblemKind::Timeout),
    (ErrorKind::Tls, ProblemKind::Tls),
    (ErrorKind::Configuration, ProblemKind::Configuration),
    (ErrorKind::Unsupported, ProblemKind::Unsupported),
    (ErrorKind::Internal, ProblemKind::Internal),
];

/// What the command line exits with, and what each exit code means: the one table the CLI and its docs read.
pub const EXIT_CODES: [(u8, &str); 5] = [
    (0, "OK: every stage passed, the login was accepted, or the command did its work."),
    (
        1,
        "Denied: a verdict on the user or the login (wrong password, locked, disabled or unknown account, no such domain, a refused new password).",
    ),
    (
        2,
        "Usage or configuration: bad arguments, a bad configuration file, a service account that cannot do its job, an unusable store setting.",
    ),
    (3, "Unreachable: the directory or the account store cannot be reached (network, timeout, TLS)."),
    (
        4,
        "Internal: a plugin failed, the directory answered something unexpected, a store operation failed, or the connector cannot do what was asked.",
    ),
];

/// The exit code of a failure of this kind (never 0).
pub fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        k if k.is_denial() => 1,
        ErrorKind::Configuration => 2,
        ErrorKind::Unreachable | ErrorKind::Timeout | ErrorKind::Tls => 3,
        _ => 4,
    }
}

/// Every kind, in the ABI's order.
pub fn all_kinds() -> impl Iterator<Item = ErrorKind> {
    KINDS.iter().map(|(k, _)| *k)
}

impl ProblemKind {
    /// The kind's stable name (as `ErrorKind::as_str`), for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        ErrorKind::from(self).as_str()
    }
}

impl From<ProblemKind> for ErrorKind {
    fn from(kind: ProblemKind) -> ErrorKind {
        KINDS.iter().find(|(_, p)| *p == kind).map_or(ErrorKind::Internal, |(e, _)| *e)
    }
}

impl From<ErrorKind> for ProblemKind {
    fn from(kind: ErrorKind) -> ProblemKind {
        KINDS.iter().find(|(e, _)| *e == kind).map_or(ProblemKind::Internal, |(_, p)| *p)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// The stable code (`DC-203`), listed on the troubleshooting page.
    #[schema(example = "DC-203")]
    pub code: String,
    /// What the host acts on.
    pub kind: ProblemKind,
    /// What failed, in a sentence an administrator understands.
    pub message: String,
    /// What to do about it.
    pub fix: String,
    /// The server's own diagnostic (LDAP result code and text, TLS alert, OS error), or the connector's
    /// error a failure wraps (`DC-703`, `DC-706`).
    pub diagnostic: Option<String>,
}

impl Problem {
    /// A host error (a connector's error with the domain it came from, a store error, the host's own).
    pub fn from_error(err: &Error) -> Problem {
        Problem {
            code: err.code().to_owned(),
            kind: err.kind().into(),
            message: err.message(),
            fix: err.fix(),
            diagnostic: err.diagnostic(),
        }
    }

    /// A host error inside a view that names its domain already: a connector's error in its own words
    /// (no `domain `x`:` prefix), any other error as [`Problem::from_error`].
    pub fn within_domain(err: &Error) -> Problem {
        err.connector_error().map_or_else(|| Problem::from_error(err), Problem::from)
    }
}

impl From<&ConnectorError> for Problem {
    fn from(err: &ConnectorError) -> Problem {
        Problem {
            code: err.code.to_string(),
            kind: err.kind.into(),
            message: err.message.to_string(),
            fix: err.fix.to_string(),
            diagnostic: err.diagnostic.as_ref().map(|d| d.to_string()).into_option(),
        }
    }
}

impl From<&Error> for Problem {
    fn from(err: &Error) -> Problem {
        Problem::from_error(err)
    }
}

/// A command or request that failed as a whole: `{ "ok": false, code, kind, message, fix, diagnostic }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorView {
    /// Always `false`.
    pub ok: bool,
    /// What failed.
    #[serde(flatten)]
    pub problem: Problem,
}

impl From<&Error> for ErrorView {
    fn from(err: &Error) -> ErrorView {
        ErrorView { ok: false, problem: Problem::from_error(err) }
    }
}

/// A refused (denied) or failed login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Refusal {
    /// Always `false`.
    pub ok: bool,
    /// The mail domain.
    pub domain: String,
    /// The login as given.
    pub login: String,
    /// How long the attempt took.
    pub elapsed_ms: f64,
    /// The error's code (also in `error`).
    pub code: String,
    /// The error's kind (also in `error`).
    pub kind: ProblemKind,
    /// What the end user is told (the domain's policy: it may hide the account's state).
    pub user_message: String,
    /// The error, for the administrator.
    pub error: Problem,
}

impl Refusal {
    /// A login refused in `domain`, with what the domain tells the end user.
    pub fn new(domain: &Domain, login: &str, elapsed: Duration, err: &Error) -> Refusal {
        Refusal::with_user_message(&domain.name, login, elapsed, err, domain.end_user_message(err.kind()))
    }

    /// A login refused in the domain named `domain`, the end user being told `user_message`.
    pub fn with_user_message(domain: &str, login: &str, elapsed: Duration, err: &Error, user_message: &str) -> Refusal {
        Refusal {
            ok: false,
            domain: domain.to_owned(),
            login: login.to_owned(),
            elapsed_ms: crate::millis(elapsed),
            code: err.code().to_owned(),
            kind: err.kind().into(),
            user_message: user_message.to_owned(),
            error: Problem::within_domain(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{keys, schema_keys, set};

    fn refused() -> Box<ConnectorError> {
        Box::new(
            ConnectorError::new(ErrorKind::Unreachable, "DC-302", "The connection was refused.", "Start the server.")
                .with_diagnostic("os error 111"),
        )
    }

    #[test]
    fn a_problem_from_a_host_error_has_all_five_fields() {
        let err = Error::UnknownDomain { domain: "a.org".into(), known: "b.org".into() };
        let problem = Problem::from_error(&err);
        assert_eq!(keys(&problem), set(&["code", "kind", "message", "fix", "diagnostic"]));
        let json = serde_json::to_value(&problem).unwrap();
        assert_eq!(json["code"], "DC-010");
        assert_eq!(json["kind"], "not-found");
        assert_eq!(json["message"], "No domain `a.org` is configured (configured: b.org).");
        assert_eq!(json["fix"], "log in as user@domain with one of them, or add a [[domain]] section.");
        assert!(json["diagnostic"].is_null(), "present, and null: {json}");
        assert_eq!(schema_keys::<Problem>(), keys(&problem));
    }

    #[test]
    fn a_connector_error_keeps_its_diagnostic() {
        let err = Error::Connector { domain: "a.org".into(), error: refused() };
        let problem = Problem::from_error(&err);
        assert_eq!(problem.message, "domain `a.org`: The connection was refused.");
        assert_eq!(problem.diagnostic.as_deref(), Some("os error 111"));
        assert_eq!(problem.kind, ProblemKind::Unreachable);
        let own = Problem::within_domain(&err);
        assert_eq!(own, Problem::from(err.connector_error().unwrap()));
        assert_eq!(own.message, "The connection was refused.");
    }

    #[test]
    fn the_command_failure_is_a_problem_with_ok_false() {
        let err = Error::Store(dirconn_store::Error::Corrupt { what: "x".into() });
        let view = ErrorView::from(&err);
        assert_eq!(keys(&view), set(&["ok", "code", "kind", "message", "fix", "diagnostic"]));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!((json["ok"].as_bool(), json["code"].as_str()), (Some(false), Some("DC-606")));
        let back: ErrorView = serde_json::from_value(json).unwrap();
        assert_eq!(back, view);
    }

    #[test]
    fn every_kind_has_the_abi_name() {
        use ErrorKind::*;
        let all = [
            InvalidInput,
            InvalidCredentials,
            AccountLocked,
            AccountDisabled,
            AccountExpired,
            PasswordExpired,
            MustChangePassword,
            LogonRestricted,
            NotFound,
            Ambiguous,
            Unreachable,
            Timeout,
            Tls,
            Configuration,
            Unsupported,
            Internal,
        ];
        for kind in all {
            assert_eq!(serde_json::to_value(ProblemKind::from(kind)).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn a_refusal_names_the_domain_once_and_carries_the_problem() {
        let err = Error::Connector {
            domain: "a.org".into(),
            error: Box::new(ConnectorError::new(
                ErrorKind::InvalidCredentials,
                "DC-203",
                "Wrong password.",
                "Check it.",
            )),
        };
        let view = Refusal::with_user_message("a.org", "bob", Duration::from_micros(1500), &err, "Wrong login.");
        assert_eq!(keys(&view), set(&["ok", "domain", "login", "elapsed_ms", "code", "kind", "user_message", "error"]));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!((json["ok"].as_bool(), json["elapsed_ms"].as_f64()), (Some(false), Some(1.5)));
        assert_eq!((json["code"].as_str(), json["kind"].as_str()), (Some("DC-203"), Some("invalid-credentials")));
        assert_eq!(json["error"]["message"], "Wrong password.");
        assert_eq!(json["error"]["fix"], "Check it.");
        assert_eq!(schema_keys::<Refusal>(), keys(&view));
    }
}
