//! The error that crosses the boundary: a kind the host acts on, a stable code, a message and its fix.

use std::fmt;

use abi_stable::{
    StableAbi,
    std_types::{ROption, RString},
};

/// What went wrong, in the terms the host acts on (exit codes, HTTP statuses, what the end user is told).
///
/// New kinds are a breaking change of the ABI: add them with a new [`crate::ABI_VERSION`].
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request was refused before any network call (empty password, malformed login).
    InvalidInput = 0,
    /// The directory rejected the password, or the user does not exist and the directory will not say.
    InvalidCredentials = 1,
    /// The account is locked out (too many failures, or locked by an administrator).
    AccountLocked = 2,
    /// The account is disabled in the directory.
    AccountDisabled = 3,
    /// The account itself has expired.
    AccountExpired = 4,
    /// The password has expired and must be changed before logging in.
    PasswordExpired = 5,
    /// The password is valid but must be changed now (reset by an administrator).
    MustChangePassword = 6,
    /// The account may not log in at this time or from this workstation.
    LogonRestricted = 7,
    /// No directory entry matches the login.
    NotFound = 8,
    /// More than one directory entry matches the login.
    Ambiguous = 9,
    /// The directory could not be reached (resolve, connect, reset, all URLs down).
    Unreachable = 10,
    /// The directory did not answer within the configured time.
    Timeout = 11,
    /// The TLS handshake or certificate verification failed.
    Tls = 12,
    /// The domain's configuration is invalid, or the service account cannot do its job.
    Configuration = 13,
    /// The connector does not offer this operation.
    Unsupported = 14,
    /// A bug or an unexpected answer: the connector panicked or the directory answered nonsense.
    Internal = 15,
}

impl ErrorKind {
    /// A short lowercase name, stable, for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid-input",
            ErrorKind::InvalidCredentials => "invalid-credentials",
            ErrorKind::AccountLocked => "account-locked",
            ErrorKind::AccountDisabled => "account-disabled",
            ErrorKind::AccountExpired => "account-expired",
            ErrorKind::PasswordExpired => "password-expired",
            ErrorKind::MustChangePassword => "must-change-password",
            ErrorKind::LogonRestricted => "logon-restricted",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Ambiguous => "ambiguous",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::Configuration => "configuration",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Internal => "internal",
        }
    }

    /// Whether this kind is a verdict on the user's credentials or account (as opposed to a failure of
    /// the directory, the network or the configuration).
    pub fn is_denial(self) -> bool {
        matches!(
            self,
            ErrorKind::InvalidInput
                | ErrorKind::InvalidCredentials
                | ErrorKind::AccountLocked
                | ErrorKind::AccountDisabled
                | ErrorKind::AccountExpired
                | ErrorKind::PasswordExpired
                | ErrorKind::MustChangePassword
                | ErrorKind::LogonRestricted
                | ErrorKind::NotFound
                | ErrorKind::Ambiguous
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error returned by a connector: what failed, what to do, and what the server said.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq)]
pub struct ConnectorError {
    /// What the host should do with it.
    pub kind: ErrorKind,
    /// A stable code (`DC-2xx`…), listed on the troubleshooting page of the docs.
    pub code: RString,
    /// What failed, in a sentence an administrator understands.
    pub message: RString,
    /// What to do about it.
    pub fix: RString,
    /// The server's own diagnostic (LDAP result code and text, TLS alert, OS error), verbatim.
    pub diagnostic: ROption<RString>,
}

impl ConnectorError {
    /// An error with no server diagnostic.
    pub fn new(kind: ErrorKind, code: &str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        ConnectorError {
            kind,
            code: code.into(),
            message: RString::from(message.into()),
            fix: RString::from(fix.into()),
            diagnostic: ROption::RNone,
        }
    }

    /// Attaches the server's own diagnostic.
    pub fn with_diagnostic(mut self, diagnostic: impl Into<String>) -> Self {
        self.diagnostic = ROption::RSome(RString::from(diagnostic.into()));
        self
    }

    /// An error from the parts every crate's error exposes; an empty diagnostic is left out.
    pub fn from_parts(
        kind: ErrorKind,
        code: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
        diagnostic: Option<String>,
    ) -> Self {
        let base = ConnectorError::new(kind, code, message, fix);
        match diagnostic {
            Some(diag) if !diag.is_empty() => base.with_diagnostic(diag),
            _ => base,
        }
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.code, self.message)?;
        if !self.fix.is_empty() {
            write!(f, " Fix: {}", self.fix)?;
        }
        if let ROption::RSome(diag) = &self.diagnostic {
            write!(f, " (server said: {diag})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConnectorError {}
