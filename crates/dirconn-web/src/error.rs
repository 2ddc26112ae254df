//! The web pages' own errors (`DC-830`–`DC-839`): sign-in, sessions, forged requests, and saving the
//! configuration. Like every dirconn error, each exposes its code, kind, message and fix; the pages render
//! them next to the field or form they concern.

use dirconn_abi::ErrorKind;
use dirconn_views::Problem;

/// A refusal of the web pages.
#[derive(Debug, Clone)]
pub enum Error {
    /// The login or password is wrong, or the account is not an active local administrator (DC-830).
    SignIn,
    /// Too many failed attempts from this address or for this login (DC-831).
    Throttled {
        /// What was throttled (`sign-in`, `test authentication`).
        what: &'static str,
        /// Seconds until the next attempt is taken.
        retry_after: u64,
    },
    /// No session, or it timed out (DC-832).
    NoSession,
    /// A change without the form's token, or from another site (DC-833).
    Forged {
        /// What was missing or wrong.
        problem: &'static str,
    },
    /// The directory's address or bind DN changed and the service password was not typed again (DC-834).
    SecretNeeded {
        /// The keys that changed.
        changed: String,
    },
    /// The configuration file cannot be written (DC-835).
    ReadOnly {
        /// The file.
        path: String,
        /// Why.
        problem: String,
    },
    /// The edited configuration would not load; nothing was written (DC-836).
    Invalid {
        /// The key it names (`bind_dn`, `accounts.login_policy`), when it names one.
        key: Option<String>,
        /// The loader's message, with its own code.
        problem: String,
        /// The loader's fix.
        fix: String,
    },
    /// The file changed on disk since the form was opened (DC-837).
    Changed {
        /// The file.
        path: String,
    },
    /// A value typed into a field is not of the field's type (DC-838).
    BadValue {
        /// The key.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

impl Error {
    /// The code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::SignIn => "DC-830",
            Error::Throttled { .. } => "DC-831",
            Error::NoSession => "DC-832",
            Error::Forged { .. } => "DC-833",
            Error::SecretNeeded { .. } => "DC-834",
            Error::ReadOnly { .. } => "DC-835",
            Error::Invalid { .. } => "DC-836",
            Error::Changed { .. } => "DC-837",
            Error::BadValue { .. } => "DC-838",
        }
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::SignIn | Error::NoSession | Error::Forged { .. } => ErrorKind::InvalidCredentials,
            Error::Throttled { .. } => ErrorKind::LogonRestricted,
            Error::SecretNeeded { .. } | Error::BadValue { .. } | Error::Changed { .. } => ErrorKind::InvalidInput,
            Error::ReadOnly { .. } | Error::Invalid { .. } => ErrorKind::Configuration,
        }
    }

    /// The message.
    pub fn message(&self) -> String {
        match self {
            Error::SignIn => "The login or password is wrong, or the account is not a local administrator.".into(),
            Error::Throttled { what, retry_after } => {
                format!("Too many failed attempts of {what}; the next is taken in {retry_after} s.")
            }
            Error::NoSession => "You are not signed in, or your session timed out.".into(),
            Error::Forged { problem } => format!("The change was refused: {problem}."),
            Error::SecretNeeded { changed } => format!(
                "The {changed} changed: the stored service password is not sent to a server it was not set for."
            ),
            Error::ReadOnly { path, problem } => format!("The configuration file {path} cannot be written: {problem}."),
            Error::Invalid { problem, .. } => format!("The edited configuration would not load: {problem}"),
            Error::Changed { path } => format!("The configuration file {path} changed since this form was opened."),
            Error::BadValue { key, problem } => format!("`{key}`: {problem}."),
        }
    }

    /// The fix.
    pub fn fix(&self) -> String {
        match self {
            Error::SignIn => "Sign in with a local administrator (`dirconn local add --admin LOGIN`).".into(),
            Error::Throttled { .. } => "Wait, then try again with the right password.".into(),
            Error::NoSession => "Sign in again.".into(),
            Error::Forged { .. } => "Reload the page and submit the form again from this site.".into(),
            Error::SecretNeeded { .. } => "Type the service account's password again, then test or save.".into(),
            Error::ReadOnly { .. } => {
                "Give the service write access to the file and its folder, or edit the file by hand and reload \
                 (SIGHUP)."
                    .into()
            }
            Error::Invalid { fix, .. } => fix.clone(),
            Error::Changed { .. } => {
                "Reload the page to see the file as it is now, then make your change again.".into()
            }
            Error::BadValue { .. } => "Correct the value; the field's help says what it takes.".into(),
        }
    }

    /// The key of the form this error belongs at, when it names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::SecretNeeded { .. } => Some("bind_password"),
            Error::Invalid { key, .. } => key.as_deref(),
            Error::BadValue { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The error as the views' problem.
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

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {} Fix: {}", self.code(), self.message(), self.fix())
    }
}

impl std::error::Error for Error {}

/// Every error once, fields in braces, for the troubleshooting page.
pub fn examples() -> Vec<Error> {
    let field = |name: &str| format!("{{{name}}}");
    vec![
        Error::SignIn,
        Error::Throttled { what: "sign-in", retry_after: 60 },
        Error::NoSession,
        Error::Forged { problem: "the form's token is missing or wrong" },
        Error::SecretNeeded { changed: field("changed") },
        Error::ReadOnly { path: field("path"), problem: field("problem") },
        Error::Invalid { key: None, problem: field("problem"), fix: "{fix}".into() },
        Error::Changed { path: field("path") },
        Error::BadValue { key: field("key"), problem: field("problem") },
    ]
}
