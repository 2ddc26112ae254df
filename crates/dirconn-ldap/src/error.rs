//! The engine's one error type: every failure a domain's directory can produce, each with a stable code,
//! the kind the host acts on, and the fix an administrator should try.

use std::time::Duration;

use dirconn_abi::{ConnectorError, ErrorKind};

/// When the server closed the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedDuring {
    /// During the TLS handshake of an `ldaps://` URL: the port speaks plain LDAP.
    TlsHandshake,
    /// Right after connecting in plain LDAP: the port expects TLS (LDAPS).
    FirstOperation,
    /// Later, in the middle of an operation.
    Operation,
}

/// Why a TLS handshake failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// The server's certificate chain does not lead to a trusted CA.
    UnknownCa,
    /// The certificate is valid but not for the host name in the URL.
    NameMismatch,
    /// The certificate is expired or not yet valid.
    Expired,
    /// Anything else the TLS layer reported.
    Other(String),
}

/// A failure of the LDAP engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting of the domain is missing or invalid (DC-101…DC-110).
    #[error("Setting `{key}`: {problem}")]
    Config {
        /// The stable code of this configuration problem.
        code: &'static str,
        /// The setting's key.
        key: String,
        /// What is wrong with it.
        problem: String,
        /// How to fix it.
        fix: String,
    },
    /// The password was empty; refused before any network call (DC-201).
    #[error("An empty password was given; it was refused without contacting the directory.")]
    EmptyPassword,
    /// The login cannot be a directory login (empty, too long, control characters) (DC-202).
    #[error("The login was refused before contacting the directory: {reason}.")]
    InvalidLogin {
        /// What is wrong with it.
        reason: String,
    },
    /// A `DOMAIN\\user` login that does not fit the domain's NT domain name (DC-202).
    #[error("The login was refused before contacting the directory: {reason}.")]
    NtLogin {
        /// What is wrong with it.
        reason: String,
    },
    /// The directory rejected the user's password (DC-203).
    #[error("The directory rejected the password for {dn}.")]
    InvalidCredentials {
        /// The user's entry.
        dn: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// The account is locked by the password policy (DC-204).
    #[error("The account {dn} is locked by the directory's password policy.")]
    AccountLocked {
        /// The user's entry.
        dn: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// The password is right but must be changed now (DC-205).
    #[error("The password of {dn} was reset and must be changed before it can be used.")]
    MustChangePassword {
        /// The user's entry.
        dn: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// The password has expired (DC-206).
    #[error("The password of {dn} has expired.")]
    PasswordExpired {
        /// The user's entry.
        dn: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// AD: the account is disabled (sub-code 533) (DC-209).
    #[error("The account {dn} is disabled in the directory.")]
    AccountDisabled {
        /// The user's entry.
        dn: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// AD: the account itself has expired (sub-code 701) (DC-210).
    #[error("The account {dn} has expired (its end date has passed).")]
    AccountExpired {
        /// The user's entry.
        dn: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// AD: the account may not log in at this time (sub-code 530) (DC-211).
    #[error("The account {dn} may not log in at this time of day (logon hours).")]
    LogonHours {
        /// The user's entry.
        dn: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// AD: the account may not log in from this computer (sub-code 531) (DC-212).
    #[error("The account {dn} may not log in from this workstation.")]
    Workstation {
        /// The user's entry.
        dn: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// AD: the domain controller does not know the user the search found (sub-code 525) (DC-213).
    #[error("The domain controller does not know the account {dn}, which the search found.")]
    UnknownToDc {
        /// The user's entry.
        dn: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// The new password breaks the domain's password policy (AD 0000052D) (DC-214).
    #[error("The new password for {dn} does not meet the domain's password policy.")]
    PasswordPolicy {
        /// The user's entry.
        dn: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// A password change or reset over a connection without TLS (DC-215).
    #[error("Passwords are changed only over LDAPS or StartTLS, and {url} is plain LDAP.")]
    PasswordNeedsTls {
        /// The URL that would have carried it.
        url: String,
    },
    /// A password change or reset through a Global Catalog port (DC-216).
    #[error("{url} is a Global Catalog port, which is read-only: passwords cannot be changed there.")]
    GlobalCatalogPassword {
        /// The Global Catalog URL.
        url: String,
    },
    /// This directory flavor has no password change in the engine (DC-507).
    #[error("This connector cannot change or reset passwords.")]
    PasswordUnsupported,
    /// No entry matches the login (DC-207).
    #[error("No directory user matches the login `{login}` (filter {filter} under {base}).")]
    NotFound {
        /// The login as given.
        login: String,
        /// The filter sent.
        filter: String,
        /// The search base.
        base: String,
        /// The mail domain (for the command that shows the filter).
        domain: String,
    },
    /// Several entries match the login (DC-208).
    #[error("The login `{login}` matches more than one directory entry: {}.", dns.join("; "))]
    Ambiguous {
        /// The login as given.
        login: String,
        /// The entries found (at most the first few).
        dns: Vec<String>,
    },
    /// The server's host name does not resolve (DC-301).
    #[error("The host {host} could not be resolved: {reason}.")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// Nothing listens on the server's port (DC-302).
    #[error("The connection to {addr} was refused: nothing listens on that port.")]
    Refused {
        /// `host:port`.
        addr: String,
    },
    /// The server closed the connection (DC-303, DC-304).
    #[error("{addr} closed the connection {}.", match during {
        ClosedDuring::TlsHandshake => "during the TLS handshake",
        ClosedDuring::FirstOperation => "as soon as the first LDAP request was sent",
        ClosedDuring::Operation => "in the middle of an operation",
    })]
    Closed {
        /// `host:port`.
        addr: String,
        /// When.
        during: ClosedDuring,
        /// The OS's or library's words.
        diagnostic: String,
    },
    /// The network has no route to the server (DC-308).
    #[error("There is no network route to {addr}.")]
    NoRoute {
        /// `host:port`.
        addr: String,
        /// The OS's words.
        diagnostic: String,
    },
    /// The TCP connection or TLS handshake did not complete in time (DC-305).
    #[error("Connecting to {addr} did not complete within {}.", humantime::format_duration(*after))]
    ConnectTimeout {
        /// `host:port`.
        addr: String,
        /// The configured connect timeout.
        after: Duration,
    },
    /// The server accepted the request but did not answer in time (DC-306).
    #[error("{addr} did not answer the {what} within {}.", humantime::format_duration(*after))]
    OperationTimeout {
        /// `host:port`.
        addr: String,
        /// The operation (`service bind`, `user search`…).
        what: String,
        /// The configured operation timeout.
        after: Duration,
    },
    /// Every URL failed; the code and kind are the last failure's, which is inside.
    #[error("All {} directory URLs failed ({}); the last one: {last}", tried.len(), tried.join(", "))]
    AllUrlsFailed {
        /// The URLs tried, in order.
        tried: Vec<String>,
        /// The last failure.
        last: Box<Error>,
    },
    /// The TLS handshake or certificate check failed (DC-310…DC-313).
    #[error("TLS with {addr} failed: {}.", match problem {
        TlsProblem::UnknownCa => "the server's certificate is not signed by a trusted CA".to_owned(),
        TlsProblem::NameMismatch => "the server's certificate is not valid for this host name".to_owned(),
        TlsProblem::Expired => "the server's certificate has expired or is not yet valid".to_owned(),
        TlsProblem::Other(s) => s.clone(),
    })]
    Tls {
        /// `host:port`.
        addr: String,
        /// What failed.
        problem: TlsProblem,
    },
    /// The server refused StartTLS (DC-314).
    #[error("{addr} refused StartTLS.")]
    StartTlsRefused {
        /// `host:port`.
        addr: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// The service account's bind failed (DC-401).
    #[error("The service account {dn} could not bind: the directory rejected its credentials.")]
    ServiceBind {
        /// The service account's DN.
        dn: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// The search base does not exist (DC-402).
    #[error("The search base {base} does not exist on the server.")]
    SearchBaseMissing {
        /// The configured search base.
        base: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// The directory is not laid out as the connector kind expects (DC-409): Open Directory's
    /// containers, schema or realm entry are missing.
    #[error("The directory does not look like {kind}: {missing}.")]
    NotThisKind {
        /// The kind expected (`Open Directory`).
        kind: String,
        /// What is missing.
        missing: String,
        /// How to fix it.
        fix: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// The service account may not do what was asked (DC-403).
    #[error("The service account is not allowed to {what}.")]
    AccessDenied {
        /// What it tried.
        what: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// The server is busy, unavailable or unwilling (DC-404).
    #[error("The directory is unavailable for {what}.")]
    Unavailable {
        /// What was tried.
        what: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// The host stopped reading a sync (DC-406).
    #[error("The sync was cancelled by the host.")]
    SyncCancelled,
    /// Any other LDAP result or protocol failure (DC-405).
    #[error("The directory answered {what} unexpectedly.")]
    Unexpected {
        /// What was tried.
        what: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// The directory rejected the service account's secret, and binds with it are held back (the
    /// service-bind guard) so that the account is not locked (DC-401).
    #[error(
        "The service account {dn} could not bind: the directory rejected its secret ({tried} bind(s) tried with \
         this secret), and more binds with it could lock the service account. No bind with this secret is \
         sent before {next_try} (in {}), unless the secret changes or the configuration is reloaded.",
        humantime::format_duration(*wait)
    )]
    ServiceBindHeld {
        /// The service account's DN.
        dn: String,
        /// Binds rejected with this secret.
        tried: u32,
        /// When the next bind may go out (RFC 3339, UTC).
        next_try: String,
        /// How long until then.
        wait: Duration,
        /// Whether the secret comes from `bind_password_file` (read again at each held-back attempt).
        from_file: bool,
        /// The server's answer to the last rejected bind.
        diagnostic: String,
    },
    /// The service account bound, but must change its password before it may search (DC-407).
    #[error(
        "The service account {} must change its password before it can search (the directory's password \
         policy: changeAfterReset).",
        if dn.is_empty() { "(bind_dn)" } else { dn }
    )]
    ServiceMustChange {
        /// The service account's DN (empty when only a search's answer told).
        dn: String,
        /// The server's answer.
        diagnostic: String,
    },
    /// The Kerberos check refused the password or could not run (DC-9xx, DC-201).
    #[error(transparent)]
    Kerberos(#[from] dirconn_kerberos::Error),
    /// The PAM check refused the password or could not run (DC-95x, DC-201).
    #[error(transparent)]
    Pam(#[from] dirconn_pam::Error),
    /// The service account's password has expired (DC-408).
    #[error("The service account {dn} cannot bind: its password has expired.")]
    ServicePasswordExpired {
        /// The service account's DN.
        dn: String,
        /// The server's answer.
        diagnostic: String,
    },
}

impl Error {
    /// A configuration error.
    pub fn config(code: &'static str, key: &str, problem: impl Into<String>, fix: impl Into<String>) -> Error {
        Error::Config { code, key: key.to_owned(), problem: problem.into(), fix: fix.into() }
    }

    /// The plugin was asked to serve another connector kind than its own (DC-111).
    pub fn wrong_kind(served: &str, asked: &str) -> Error {
        Error::config(
            "DC-111",
            "connector",
            format!("this plugin serves `{served}`, not `{asked}`"),
            format!("Set connector = \"{served}\" or install the plugin for `{asked}`."),
        )
    }

    /// The DC's NT domain name is not the configured `nt_domain` (DC-112).
    pub fn nt_domain_differs(server: &str, configured: &str) -> Error {
        Error::config(
            "DC-112",
            "nt_domain",
            format!("the server's NT domain name is {server}, and the setting says {configured}"),
            format!("Set nt_domain = \"{server}\" so that {server}\\user logins work."),
        )
    }

    /// The search base lies outside the DC's default naming context (DC-113).
    pub fn outside_naming_context(search_base: &str, naming_context: &str) -> Error {
        Error::config(
            "DC-113",
            "search_base",
            format!("`{search_base}` is outside the domain's naming context {naming_context}"),
            format!("Set search_base to {naming_context} or an entry under it."),
        )
    }

    /// The stable code, listed on the troubleshooting page.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config { code, .. } => code,
            Error::EmptyPassword => "DC-201",
            Error::InvalidLogin { .. } | Error::NtLogin { .. } => "DC-202",
            Error::InvalidCredentials { .. } => "DC-203",
            Error::AccountLocked { .. } => "DC-204",
            Error::MustChangePassword { .. } => "DC-205",
            Error::PasswordExpired { .. } => "DC-206",
            Error::NotFound { .. } => "DC-207",
            Error::AccountDisabled { .. } => "DC-209",
            Error::AccountExpired { .. } => "DC-210",
            Error::LogonHours { .. } => "DC-211",
            Error::Workstation { .. } => "DC-212",
            Error::UnknownToDc { .. } => "DC-213",
            Error::PasswordPolicy { .. } => "DC-214",
            Error::PasswordNeedsTls { .. } => "DC-215",
            Error::GlobalCatalogPassword { .. } => "DC-216",
            Error::PasswordUnsupported => "DC-507",
            Error::Ambiguous { .. } => "DC-208",
            Error::Resolve { .. } => "DC-301",
            Error::Refused { .. } => "DC-302",
            Error::Closed { during: ClosedDuring::TlsHandshake, .. } => "DC-304",
            Error::Closed { .. } => "DC-303",
            Error::ConnectTimeout { .. } => "DC-305",
            Error::NoRoute { .. } => "DC-308",
            Error::OperationTimeout { .. } => "DC-306",
            Error::AllUrlsFailed { last, .. } => last.code(),
            Error::Tls { problem: TlsProblem::UnknownCa, .. } => "DC-310",
            Error::Tls { problem: TlsProblem::NameMismatch, .. } => "DC-311",
            Error::Tls { problem: TlsProblem::Expired, .. } => "DC-312",
            Error::Tls { .. } => "DC-313",
            Error::StartTlsRefused { .. } => "DC-314",
            Error::ServiceBind { .. } => "DC-401",
            Error::SearchBaseMissing { .. } => "DC-402",
            Error::NotThisKind { .. } => "DC-409",
            Error::AccessDenied { .. } => "DC-403",
            Error::Unavailable { .. } => "DC-404",
            Error::Unexpected { .. } => "DC-405",
            Error::SyncCancelled => "DC-406",
            Error::ServiceBindHeld { .. } => "DC-401",
            Error::ServiceMustChange { .. } => "DC-407",
            Error::ServicePasswordExpired { .. } => "DC-408",
            Error::Kerberos(e) => e.code(),
            Error::Pam(e) => e.code(),
        }
    }

    /// The kind the host acts on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config { .. }
            | Error::ServiceBind { .. }
            | Error::SearchBaseMissing { .. }
            | Error::NotThisKind { .. } => ErrorKind::Configuration,
            Error::AccessDenied { .. } => ErrorKind::Configuration,
            Error::EmptyPassword | Error::InvalidLogin { .. } | Error::NtLogin { .. } => ErrorKind::InvalidInput,
            Error::InvalidCredentials { .. } => ErrorKind::InvalidCredentials,
            Error::AccountLocked { .. } => ErrorKind::AccountLocked,
            Error::MustChangePassword { .. } => ErrorKind::MustChangePassword,
            Error::PasswordExpired { .. } => ErrorKind::PasswordExpired,
            Error::NotFound { .. } | Error::UnknownToDc { .. } => ErrorKind::NotFound,
            Error::AccountDisabled { .. } => ErrorKind::AccountDisabled,
            Error::AccountExpired { .. } => ErrorKind::AccountExpired,
            Error::LogonHours { .. } | Error::Workstation { .. } => ErrorKind::LogonRestricted,
            Error::PasswordPolicy { .. } => ErrorKind::InvalidInput,
            Error::PasswordNeedsTls { .. } | Error::GlobalCatalogPassword { .. } => ErrorKind::Configuration,
            Error::PasswordUnsupported => ErrorKind::Unsupported,
            Error::Ambiguous { .. } => ErrorKind::Ambiguous,
            Error::Resolve { .. }
            | Error::Refused { .. }
            | Error::NoRoute { .. }
            | Error::Closed { .. }
            | Error::Unavailable { .. } => ErrorKind::Unreachable,
            Error::ConnectTimeout { .. } | Error::OperationTimeout { .. } => ErrorKind::Timeout,
            Error::AllUrlsFailed { last, .. } => last.kind(),
            Error::Tls { .. } | Error::StartTlsRefused { .. } => ErrorKind::Tls,
            Error::Unexpected { .. } | Error::SyncCancelled => ErrorKind::Internal,
            Error::ServiceBindHeld { .. } | Error::ServiceMustChange { .. } | Error::ServicePasswordExpired { .. } => {
                ErrorKind::Configuration
            }
            Error::Kerberos(e) => e.kind(),
            Error::Pam(e) => e.kind(),
        }
    }

    /// What an administrator should do about it.
    pub fn fix(&self) -> String {
        match self {
            Error::Config { fix, .. } => fix.clone(),
            Error::EmptyPassword => "Type the password; empty passwords are never sent (they would be an \
                                     unauthenticated bind, which many servers accept)."
                .into(),
            Error::InvalidLogin { .. } => {
                "Log in with the directory login or email address: at most 256 bytes, without control characters or spaces around it."
                    .into()
            }
            Error::NtLogin { .. } => "For DOMAIN\\user logins, DOMAIN must be the domain's nt_domain (`dirconn \
                                      test-connection` shows the server's NT domain name), or log in as user or \
                                      user@domain."
                .into(),
            Error::InvalidCredentials { .. } => "Check the password; if it is right, the account may be \
                                                 locked or expired in the directory."
                .into(),
            Error::AccountLocked { .. } => "Wait for the lockout to expire or have a directory administrator \
                                            unlock the account (OpenLDAP: pwdAccountLockedTime; AD: Unlock \
                                            account, lockoutTime = 0)."
                .into(),
            Error::AccountDisabled { .. } => "A directory administrator must enable the account if it should log \
                                              in (AD: Enable Account; Open Directory: enable the user's access, \
                                              which removes ;DisabledUser; and the com.apple.access_disabled \
                                              membership)."
                .into(),
            Error::AccountExpired { .. } => "A directory administrator must extend the account's end date \
                                             (AD: Account expires) if it should log in."
                .into(),
            Error::LogonHours { .. } => "Log in within the account's logon hours, or have them widened.".into(),
            Error::Workstation { .. } => "The account is limited to some computers (AD: Log On To…); have this \
                                          server added, or the limit removed."
                .into(),
            Error::UnknownToDc { .. } => "The entry may be new and not yet replicated to this domain \
                                          controller; retry, or check replication."
                .into(),
            Error::PasswordPolicy { .. } => "Choose a longer or more complex password that was not used \
                                             recently; the domain's policy (minimum length, complexity, \
                                             history, minimum age) decides."
                .into(),
            Error::PasswordNeedsTls { .. } => "Use an ldaps:// URL (port 636) or starttls = true: Active \
                                               Directory refuses password changes without encryption."
                .into(),
            Error::GlobalCatalogPassword { .. } => "Password operations need the domain controllers' own URLs: \
                                                    list ldaps://…:636 (or ldap://…:389 with starttls) in urls, \
                                                    and keep Global Catalog URLs to domains that only look users \
                                                    up."
            .into(),
            Error::PasswordUnsupported => "Change the password with the directory's own tools.".into(),
            Error::MustChangePassword { .. } => "Change the password as the user (the directory's self-service, or \
                                                 `dirconn passwd DOMAIN LOGIN --change` where the directory allows \
                                                 it), then log in with the new one. A reset by an administrator is \
                                                 what sets this flag (OpenLDAP: pwdReset; AD: User must change \
                                                 password at next logon)."
                .into(),
            Error::PasswordExpired { .. } => "Have the password reset by a directory administrator.".into(),
            Error::NotFound { domain, .. } => format!(
                "Check the login, the search base, subtree and the user filter (`dirconn filter {domain}` shows it)."
            ),
            Error::Ambiguous { .. } => "Make the user filter more specific (objectClass, or an attribute \
                                        unique in the directory) or narrow the search base."
                .into(),
            Error::Resolve { .. } => "Check the host name in the URL, or use the server's IP address.".into(),
            Error::Refused { .. } => "Check the port (389 for ldap://, 636 for ldaps://) and that the \
                                      directory service is running."
                .into(),
            Error::Closed { during: ClosedDuring::TlsHandshake, .. } => {
                "This port speaks plain LDAP: use ldap:// (with starttls = true) or the LDAPS port (636).".into()
            }
            Error::Closed { during: ClosedDuring::FirstOperation, .. } => {
                "This port probably expects TLS: use ldaps:// for it, or the plain LDAP port (389).".into()
            }
            Error::Closed { .. } => "The server or a firewall dropped the connection; check the server's \
                                     log and idle timeouts."
                .into(),
            Error::NoRoute { .. } => "Check the address in the URL, this machine's routes and any firewall \
                                      or VPN between it and the directory."
                .into(),
            Error::ConnectTimeout { .. } => "Check the host, the port and any firewall between; a silent \
                                             drop looks like this. Raise connect_timeout for slow links."
                .into(),
            Error::OperationTimeout { .. } => "The server accepted the connection but never answered: check \
                                               that the port is an LDAP server's, or raise operation_timeout."
                .into(),
            Error::AllUrlsFailed { last, .. } => last.fix(),
            Error::Tls { problem: TlsProblem::UnknownCa, .. } => {
                "Set ca_file to the PEM of the CA that signed the directory's certificate.".into()
            }
            Error::Tls { problem: TlsProblem::NameMismatch, .. } => "Use the host name (or IP address) the \
                                                                    certificate was issued for in the URL."
                .into(),
            Error::Tls { problem: TlsProblem::Expired, .. } => {
                "Renew the directory's certificate, and check this machine's clock.".into()
            }
            Error::Tls { .. } => "Check the TLS setup of the directory (protocol versions, certificate).".into(),
            Error::StartTlsRefused { .. } => "Enable TLS on the directory, or use its ldaps:// URL.".into(),
            Error::ServiceBind { .. } => "Check bind_dn and the service password (file or environment \
                                          variable) and that the account is not locked."
                .into(),
            Error::NotThisKind { fix, .. } => fix.clone(),
            Error::SearchBaseMissing { .. } => "Set search_base to an existing entry, such as the naming \
                                                context (dc=example,dc=org)."
                .into(),
            Error::AccessDenied { .. } => "Grant the service account read access to the user entries.".into(),
            Error::Unavailable { .. } => "Retry later; check the directory's health and replication.".into(),
            Error::Unexpected { .. } => "Check the directory's log for this request.".into(),
            Error::SyncCancelled => "Nothing to do: the host stopped the sync, which applied no change.".into(),
            Error::ServiceBindHeld { from_file: true, .. } => "Write the service account's right password into \
                the bind_password_file: the next login or connection test reads the file again and binds with \
                the new content at once. If the directory has locked the service account already, unlock it \
                (OpenLDAP: delete pwdAccountLockedTime as the rootdn; AD: Unlock account, lockoutTime = 0)."
                .into(),
            Error::ServiceBindHeld { .. } => "Correct the service password (bind_password_env or bind_password) \
                and reload the configuration (SIGHUP, or restart): binds resume at once. If the directory has \
                locked the service account already, unlock it (OpenLDAP: delete pwdAccountLockedTime as the \
                rootdn; AD: Unlock account, lockoutTime = 0)."
                .into(),
            Error::ServiceMustChange { dn, .. } => {
                let dn = if dn.is_empty() { "<bind_dn>" } else { dn };
                format!(
                    "Set the service account's password so that no reset flag remains: let the account change \
                     its own password (OpenLDAP: `ldappasswd -H <url> -D \"{dn}\" -W -A -S`, then put the new \
                     one in bind_password_file), or as the rootdn delete its pwdReset attribute, or give it a \
                     password policy without pwdMustChange (pwdPolicySubentry). Active Directory: clear \"User \
                     must change password at next logon\" (pwdLastSet = -1)."
                )
            }
            Error::ServicePasswordExpired { .. } => "Set a new password for the service account and put it in \
                bind_password_file; for a service account, make the password never expire (AD: \"Password never \
                expires\"; OpenLDAP: a password policy with pwdMaxAge 0 through pwdPolicySubentry)."
                .into(),
            Error::Kerberos(e) => e.fix(),
            Error::Pam(e) => e.fix(),
        }
    }

    /// The server's own words, when there are any.
    pub fn diagnostic(&self) -> Option<String> {
        match self {
            Error::InvalidCredentials { diagnostic, .. }
            | Error::AccountDisabled { diagnostic, .. }
            | Error::AccountExpired { diagnostic, .. }
            | Error::LogonHours { diagnostic, .. }
            | Error::Workstation { diagnostic, .. }
            | Error::UnknownToDc { diagnostic, .. }
            | Error::PasswordPolicy { diagnostic, .. }
            | Error::AccountLocked { diagnostic, .. }
            | Error::MustChangePassword { diagnostic, .. }
            | Error::PasswordExpired { diagnostic, .. }
            | Error::Closed { diagnostic, .. }
            | Error::NoRoute { diagnostic, .. }
            | Error::StartTlsRefused { diagnostic, .. }
            | Error::ServiceBind { diagnostic, .. }
            | Error::SearchBaseMissing { diagnostic, .. }
            | Error::NotThisKind { diagnostic, .. }
            | Error::AccessDenied { diagnostic, .. }
            | Error::Unavailable { diagnostic, .. }
            | Error::Unexpected { diagnostic, .. }
            | Error::ServiceBindHeld { diagnostic, .. }
            | Error::ServiceMustChange { diagnostic, .. }
            | Error::ServicePasswordExpired { diagnostic, .. } => Some(diagnostic.clone()),
            Error::Resolve { reason, .. } => Some(reason.clone()),
            Error::AllUrlsFailed { last, .. } => last.diagnostic(),
            Error::Kerberos(e) => e.diagnostic(),
            Error::Pam(e) => e.diagnostic(),
            _ => None,
        }
    }

    /// Whether another URL might do better (the failure is about reaching this server).
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            Error::Resolve { .. }
                | Error::Refused { .. }
                | Error::NoRoute { .. }
                | Error::Closed { .. }
                | Error::ConnectTimeout { .. }
                | Error::OperationTimeout { .. }
                | Error::Tls { .. }
                | Error::StartTlsRefused { .. }
                | Error::Unavailable { .. }
        )
    }
}

impl Error {
    /// The error an AD bind sub-code stands for.
    pub fn from_sub_code(sub: crate::ad::SubCode, dn: String, diagnostic: String) -> Error {
        use crate::ad::SubCode;
        match sub {
            SubCode::UserNotFound => Error::UnknownToDc { dn, diagnostic },
            SubCode::InvalidCredentials => Error::InvalidCredentials { dn, diagnostic },
            SubCode::LogonHours => Error::LogonHours { dn, diagnostic },
            SubCode::Workstation => Error::Workstation { dn, diagnostic },
            SubCode::PasswordExpired => Error::PasswordExpired { dn, diagnostic },
            SubCode::AccountDisabled => Error::AccountDisabled { dn, diagnostic },
            SubCode::AccountExpired => Error::AccountExpired { dn, diagnostic },
            SubCode::MustChangePassword => Error::MustChangePassword { dn, diagnostic },
            SubCode::AccountLocked => Error::AccountLocked { dn, diagnostic },
        }
    }
}

impl From<Error> for ConnectorError {
    fn from(err: Error) -> ConnectorError {
        ConnectorError::from_parts(err.kind(), err.code(), err.to_string(), err.fix(), err.diagnostic())
    }
}

/// Formats an LDAP result for a diagnostic: `49 (invalidCredentials): text`.
pub(crate) fn describe_result(res: &ldap3::LdapResult) -> String {
    let text = res.text.trim_end_matches('\0').trim();
    let name = result_name(res.rc);
    if text.is_empty() { format!("{} ({name})", res.rc) } else { format!("{} ({name}): {text}", res.rc) }
}

fn result_name(rc: u32) -> &'static str {
    match rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        65 => "objectClassViolation",
        68 => "entryAlreadyExists",
        80 => "other",
        _ => "unknown",
    }
}
