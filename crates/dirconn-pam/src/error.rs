//! The PAM check's one error type: each PAM return code a login must tell apart, and the ways the service
//! or the pool can fail, each with a stable code (DC-95x), the kind the host acts on and the fix.

use std::time::Duration;

use dirconn_abi::{ConnectorError, ErrorKind};

/// A failure of the PAM password check.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// PAM_AUTH_ERR or PAM_CRED_INSUFFICIENT: the password is wrong (DC-951).
    #[error("The PAM service `{service}` rejected the password of `{user}`.")]
    WrongPassword {
        /// The service.
        service: String,
        /// The user name PAM was given.
        user: String,
        /// PAM's words and the modules' messages.
        diagnostic: String,
    },
    /// PAM_USER_UNKNOWN (DC-952).
    #[error("The PAM service `{service}` does not know the user `{user}`.")]
    UserUnknown {
        /// The service.
        service: String,
        /// The user name.
        user: String,
        /// PAM's words.
        diagnostic: String,
    },
    /// PAM_MAXTRIES: too many failures, the module refuses further tries (DC-953).
    #[error("The PAM service `{service}` refuses `{user}` after too many failed tries.")]
    MaxTries {
        /// The service.
        service: String,
        /// The user name.
        user: String,
        /// PAM's words.
        diagnostic: String,
    },
    /// PAM_ACCT_EXPIRED (DC-954).
    #[error("The account `{user}` has expired (PAM service `{service}`).")]
    AccountExpired {
        /// The service.
        service: String,
        /// The user name.
        user: String,
        /// PAM's words.
        diagnostic: String,
    },
    /// PAM_NEW_AUTHTOK_REQD (or an expired token): the password must be changed (DC-955).
    #[error("The password of `{user}` has expired or must be changed (PAM service `{service}`).")]
    NewPasswordRequired {
        /// The service.
        service: String,
        /// The user name.
        user: String,
        /// PAM's words.
        diagnostic: String,
    },
    /// PAM_PERM_DENIED: account management refuses the login (access rules, nologin) (DC-956).
    #[error("The PAM service `{service}` denies `{user}` permission to log in.")]
    PermissionDenied {
        /// The service.
        service: String,
        /// The user name.
        user: String,
        /// PAM's words.
        diagnostic: String,
    },
    /// PAM_AUTHINFO_UNAVAIL: the module cannot reach what it checks against (KDC, directory) (DC-957).
    #[error("The PAM service `{service}` could not reach its authentication service.")]
    Unavailable {
        /// The service.
        service: String,
        /// PAM's words.
        diagnostic: String,
    },
    /// The service file does not exist: PAM would fall back to the `other` service (DC-958).
    #[error("The PAM service file {path} does not exist.")]
    ServiceMissing {
        /// The file looked for.
        path: String,
    },
    /// Every PAM slot stayed busy, or a PAM call did not return in time (DC-959).
    #[error("The PAM check of `{service}` did not complete within {} ({what}).", humantime::format_duration(*after))]
    Busy {
        /// The service.
        service: String,
        /// What waited.
        what: String,
        /// How long.
        after: Duration,
    },
    /// Any other PAM code (DC-960).
    #[error("The PAM service `{service}` failed in {stage} with {name} ({code}).")]
    Other {
        /// The service.
        service: String,
        /// `authenticate` or `account management`.
        stage: &'static str,
        /// The PAM code.
        code: i32,
        /// Its name.
        name: &'static str,
        /// PAM's words.
        diagnostic: String,
    },
    /// A module asked more than the password once (a second password, a one-time code) (DC-961).
    #[error("The PAM service `{service}` asked more than the password: {prompt:?}.")]
    MorePrompts {
        /// The service.
        service: String,
        /// The prompt refused.
        prompt: String,
    },
    /// The stack cannot be loaded: a module is missing or broken (DC-962).
    #[error("The PAM service `{service}` cannot be loaded: {diagnostic}.")]
    Stack {
        /// The service.
        service: String,
        /// PAM's words.
        diagnostic: String,
    },
    /// A user name or password PAM cannot carry (a NUL byte) (DC-963).
    #[error("The {what} holds a NUL byte, which PAM cannot carry; it was refused before calling PAM.")]
    BadInput {
        /// `user name` or `password`.
        what: &'static str,
    },
    /// The password was empty; refused before calling PAM (DC-201).
    #[error("An empty password was given; it was refused without calling PAM.")]
    EmptyPassword,
}

impl Error {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::WrongPassword { .. } => "DC-951",
            Error::UserUnknown { .. } => "DC-952",
            Error::MaxTries { .. } => "DC-953",
            Error::AccountExpired { .. } => "DC-954",
            Error::NewPasswordRequired { .. } => "DC-955",
            Error::PermissionDenied { .. } => "DC-956",
            Error::Unavailable { .. } => "DC-957",
            Error::ServiceMissing { .. } => "DC-958",
            Error::Busy { .. } => "DC-959",
            Error::Other { .. } => "DC-960",
            Error::MorePrompts { .. } => "DC-961",
            Error::Stack { .. } => "DC-962",
            Error::BadInput { .. } => "DC-963",
            Error::EmptyPassword => "DC-201",
        }
    }

    /// The kind the host acts on; an unreachable module, a busy pool and a broken stack are temporary
    /// failures at the mail servers, never a wrong password.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::WrongPassword { .. } => ErrorKind::InvalidCredentials,
            Error::UserUnknown { .. } => ErrorKind::NotFound,
            Error::MaxTries { .. } => ErrorKind::AccountLocked,
            Error::AccountExpired { .. } => ErrorKind::AccountExpired,
            Error::NewPasswordRequired { .. } => ErrorKind::PasswordExpired,
            Error::PermissionDenied { .. } => ErrorKind::LogonRestricted,
            Error::Unavailable { .. } => ErrorKind::Unreachable,
            Error::Busy { .. } => ErrorKind::Timeout,
            Error::ServiceMissing { .. } | Error::MorePrompts { .. } | Error::Stack { .. } => ErrorKind::Configuration,
            Error::Other { .. } => ErrorKind::Internal,
            Error::BadInput { .. } | Error::EmptyPassword => ErrorKind::InvalidInput,
        }
    }

    /// What an administrator should do about it.
    pub fn fix(&self) -> String {
        match self {
            Error::WrongPassword { .. } => "Check the password; the PAM modules' log (journalctl, auth.log) \
                says which module refused it."
                .into(),
            Error::UserUnknown { .. } => "The PAM stack checks the user's login attribute value: make sure the \
                module knows that name (pam_krb5: a principal of that name; pam_sss: a user of the domain)."
                .into(),
            Error::MaxTries { .. } => "Wait for the module's lockout to expire, or reset it (pam_faillock: \
                `faillock --reset --user NAME`)."
                .into(),
            Error::AccountExpired { .. } => "Extend the account's end date where the module reads it (KDC \
                principal expiry, directory account expiry)."
                .into(),
            Error::NewPasswordRequired { .. } => "The user must set a new password (passwd, kpasswd) before mail \
                logins work."
                .into(),
            Error::PermissionDenied { .. } => "The stack's account modules (pam_access, pam_nologin, \
                pam_sss access rules) refuse this user: allow the user there."
                .into(),
            Error::Unavailable { .. } => "Check that what the PAM modules talk to (KDC, SSSD, directory) runs \
                and is reachable; logins fail as temporary until it answers."
                .into(),
            Error::ServiceMissing { .. } => "Create the service file (examples on the PAM page of the docs) or \
                correct pam_service and pam_confdir. dirconn refuses to run a missing service, which PAM \
                would replace with the `other` service."
                .into(),
            Error::Busy { .. } => "The PAM modules answer slowly (a KDC or directory timing out): check them, \
                or raise pam_max_concurrent."
                .into(),
            Error::Other { .. } => "See the system's authentication log for the module that failed.".into(),
            Error::MorePrompts { .. } => "Use a stack that asks only for the password (pam_krb5 or pam_sss \
                with try_first_pass); one-time codes cannot pass through IMAP and SMTP logins."
                .into(),
            Error::Stack { .. } => "Install the modules the service file names (libpam-krb5, libpam-sss) and \
                check the file's syntax."
                .into(),
            Error::BadInput { .. } => "Log in with a name and password without NUL bytes.".into(),
            Error::EmptyPassword => "Type the password; empty passwords are never passed on.".into(),
        }
    }

    /// PAM's own words, when there are any.
    pub fn diagnostic(&self) -> Option<String> {
        match self {
            Error::WrongPassword { diagnostic, .. }
            | Error::UserUnknown { diagnostic, .. }
            | Error::MaxTries { diagnostic, .. }
            | Error::AccountExpired { diagnostic, .. }
            | Error::NewPasswordRequired { diagnostic, .. }
            | Error::PermissionDenied { diagnostic, .. }
            | Error::Unavailable { diagnostic, .. }
            | Error::Other { diagnostic, .. } => Some(diagnostic.clone()),
            _ => None,
        }
    }
}

impl From<Error> for ConnectorError {
    fn from(err: Error) -> ConnectorError {
        ConnectorError::from_parts(err.kind(), err.code(), err.to_string(), err.fix(), err.diagnostic())
    }
}
