//! The host's one error type: every failure has a code, a kind, a message and a fix, and its Display is
//! `[code] message Fix: fix` (connector failures keep the connector's own form after their context).

use std::{fmt, path::PathBuf};

use dirconn_abi::{ConnectorError, ErrorKind};

/// A failure of the host: configuration, plugins, routing, or a connector's answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file cannot be read (DC-001).
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The OS's answer.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML, or a top-level key is wrong (DC-002).
    ConfigSyntax {
        /// The file.
        path: PathBuf,
        /// What the parser said, with line and column.
        message: String,
    },
    /// A domain section has a missing or invalid host key (DC-003).
    ConfigKey {
        /// The file.
        path: PathBuf,
        /// The domain (or its position when it has no name).
        domain: String,
        /// The key.
        key: String,
        /// What is wrong.
        problem: String,
        /// What to do.
        fix: String,
    },
    /// Two sections configure the same mail domain (DC-004).
    DuplicateDomain {
        /// The file.
        path: PathBuf,
        /// The domain.
        domain: String,
    },
    /// The drop-in directory cannot be read (DC-005).
    PluginDir {
        /// The folder.
        path: PathBuf,
        /// The OS's answer.
        source: std::io::Error,
    },
    /// Two plugins claim the same connector kind (DC-006).
    DuplicateKind {
        /// The kind.
        kind: String,
        /// The plugin loaded first.
        first: PathBuf,
        /// The plugin loaded second.
        second: PathBuf,
    },
    /// No loaded plugin serves a domain's connector kind (DC-007).
    UnknownConnector {
        /// The file.
        path: PathBuf,
        /// The domain.
        domain: String,
        /// The kind asked for.
        kind: String,
        /// The kinds on offer.
        available: String,
    },
    /// The plugin refused a domain's settings (the connector's code). Shown as `FILE: domain `NAME`: ` and the
    /// connector's error.
    DomainSetup {
        /// The file.
        path: PathBuf,
        /// The domain.
        domain: String,
        /// The plugin's answer.
        error: Box<ConnectorError>,
    },
    /// The login names a domain that is not configured (DC-010).
    UnknownDomain {
        /// The domain asked for.
        domain: String,
        /// The domains configured.
        known: String,
    },
    /// A bare login with several domains and no default (DC-011).
    NoDomain {
        /// The login as given.
        login: String,
    },
    /// The domain is configured but disabled (DC-012).
    DomainDisabled {
        /// The domain.
        domain: String,
    },
    /// The command line could not get what it needs from the person running it (DC-013).
    Input {
        /// What is missing or failed.
        message: String,
        /// What to do.
        fix: String,
    },
    /// The account store failed (its own DC-6xx code).
    Store(#[from] dirconn_store::Error),
    /// The directory accepted the user, but the domain requires accounts to exist first (DC-701).
    NoAccount {
        /// The domain.
        domain: String,
        /// The login.
        login: String,
    },
    /// The account exists but is deactivated (DC-702).
    AccountInactive {
        /// The domain.
        domain: String,
        /// The account name.
        login: String,
    },
    /// The directory is down and no local account or cached password applies (DC-703).
    DirectoryUnavailable {
        /// The domain.
        domain: String,
        /// The login.
        login: String,
        /// The connector's answer.
        cause: Box<ConnectorError>,
    },
    /// A local account's password is wrong (DC-704).
    LocalPassword {
        /// The domain.
        domain: String,
        /// The login.
        login: String,
    },
    /// A sync would deactivate more accounts than the guard allows (DC-705).
    Guard {
        /// The domain.
        domain: String,
        /// Accounts the sync would deactivate.
        would: u64,
        /// Active directory accounts before the sync.
        active: u64,
        /// The most the guard allows.
        allowed: u64,
    },
    /// The directory failed in the middle of a sync, which was rolled back (DC-706).
    SyncFailed {
        /// The domain.
        domain: String,
        /// Users read before the failure.
        seen: u64,
        /// The connector's answer.
        cause: Box<ConnectorError>,
    },
    /// An account command names an account that does not exist, or one that exists already (DC-707).
    Account {
        /// What is wrong.
        message: String,
        /// What to do.
        fix: String,
    },
    /// The domain serves only members of its mapped groups, and the user is in none (DC-708).
    NotInMappedGroups {
        /// The domain.
        domain: String,
        /// The login.
        login: String,
    },
    /// A connector answered with an error. Shown as `domain `NAME`: ` and the connector's error.
    Connector {
        /// The domain.
        domain: String,
        /// The connector's answer.
        error: Box<ConnectorError>,
    },
}

impl Error {
    /// The codes whose kind (and so exit code and HTTP status) is that of the connector error they wrap.
    pub const KIND_OF_CAUSE: [&str; 2] = ["DC-703", "DC-706"];

    /// The stable code.
    pub fn code(&self) -> &str {
        match self {
            Error::ConfigRead { .. } => "DC-001",
            Error::ConfigSyntax { .. } => "DC-002",
            Error::ConfigKey { .. } => "DC-003",
            Error::DuplicateDomain { .. } => "DC-004",
            Error::PluginDir { .. } => "DC-005",
            Error::DuplicateKind { .. } => "DC-006",
            Error::UnknownConnector { .. } => "DC-007",
            Error::DomainSetup { error, .. } | Error::Connector { error, .. } => error.code.as_str(),
            Error::UnknownDomain { .. } => "DC-010",
            Error::NoDomain { .. } => "DC-011",
            Error::DomainDisabled { .. } => "DC-012",
            Error::Input { .. } => "DC-013",
            Error::Store(e) => e.code(),
            Error::NoAccount { .. } => "DC-701",
            Error::AccountInactive { .. } => "DC-702",
            Error::DirectoryUnavailable { .. } => "DC-703",
            Error::LocalPassword { .. } => "DC-704",
            Error::Guard { .. } => "DC-705",
            Error::SyncFailed { .. } => "DC-706",
            Error::Account { .. } => "DC-707",
            Error::NotInMappedGroups { .. } => "DC-708",
        }
    }

    /// The kind, in the connector's terms: what the host and the CLI act on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Connector { error, .. } => error.kind,
            Error::UnknownDomain { .. } | Error::NoDomain { .. } | Error::DomainDisabled { .. } => ErrorKind::NotFound,
            Error::NoAccount { .. } => ErrorKind::NotFound,
            Error::NotInMappedGroups { .. } => ErrorKind::LogonRestricted,
            Error::AccountInactive { .. } => ErrorKind::AccountDisabled,
            Error::LocalPassword { .. } => ErrorKind::InvalidCredentials,
            Error::DirectoryUnavailable { cause, .. } => cause.kind,
            Error::SyncFailed { cause, .. } => cause.kind,
            Error::Store(e) => e.kind(),
            _ => ErrorKind::Configuration,
        }
    }

    /// The connector's error, when a connector answered.
    pub fn connector_error(&self) -> Option<&ConnectorError> {
        match self {
            Error::Connector { error, .. } | Error::DomainSetup { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }

    /// What failed, in a sentence an administrator understands. A connector's message keeps the context
    /// the host adds (the file and the domain).
    pub fn message(&self) -> String {
        self.parts().0
    }

    /// What to do about it.
    pub fn fix(&self) -> String {
        self.parts().1
    }

    /// The server's own diagnostic (LDAP result code and text, TLS alert, OS error), when a connector gave
    /// one. For the failures that wrap a connector's error as their cause (`DC-703`, `DC-706`), the cause in
    /// full: `[code] message Fix: … (server said: …)`.
    pub fn diagnostic(&self) -> Option<String> {
        match self {
            Error::Connector { error, .. } | Error::DomainSetup { error, .. } => {
                error.diagnostic.as_ref().map(|d| d.to_string()).into_option()
            }
            Error::DirectoryUnavailable { cause, .. } | Error::SyncFailed { cause, .. } => Some(cause.to_string()),
            Error::Store(e) => e.diagnostic(),
            _ => None,
        }
    }

    /// The context a connector's error is shown after: `FILE: domain `NAME`: ` or `domain `NAME`: `.
    fn connector_context(&self) -> Option<String> {
        match self {
            Error::DomainSetup { path, domain, .. } => Some(format!("{}: domain `{domain}`: ", path.display())),
            Error::Connector { domain, .. } => Some(format!("domain `{domain}`: ")),
            _ => None,
        }
    }

    /// The message and the fix, written once per variant.
    fn parts(&self) -> (String, String) {
        match self {
            Error::ConfigRead { path, source } => (
                format!("The configuration file {} cannot be read: {source}.", path.display()),
                "check the path (--config or DIRCONN_CONFIG) and its permissions.".into(),
            ),
            Error::ConfigSyntax { path, message } => (
                format!("{}: {message}", path.display()),
                "correct the file; docs/src/configuration.md lists every key.".into(),
            ),
            Error::ConfigKey { path, domain, key, problem, fix } => {
                (format!("{}: domain `{domain}`: key `{key}`: {problem}", path.display()), fix.clone())
            }
            Error::DuplicateDomain { path, domain } => (
                format!("{}: the domain `{domain}` is configured twice.", path.display()),
                "keep one [[domain]] section per mail domain.".into(),
            ),
            Error::PluginDir { path, source } => (
                format!("The plugin directory {} cannot be read: {source}.", path.display()),
                "set plugin_dir to the folder holding the connector plugins (cargo xtask build-plugins --release \
                 stages them in target/release/plugins)."
                    .into(),
            ),
            Error::DuplicateKind { kind, first, second } => (
                format!("Two plugins claim the connector kind `{kind}`: {} and {}.", first.display(), second.display()),
                "remove one of them from the plugin directory.".into(),
            ),
            Error::UnknownConnector { path, domain, kind, available } => (
                format!(
                    "{}: domain `{domain}`: no plugin serves connector = \"{kind}\" (loaded kinds: {available}).",
                    path.display()
                ),
                "install its plugin in the plugin directory or correct the kind; `dirconn plugins` lists what \
                 loaded and what was refused."
                    .into(),
            ),
            Error::DomainSetup { error, .. } | Error::Connector { error, .. } => {
                let context = self.connector_context().unwrap_or_default();
                (format!("{context}{}", error.message), error.fix.to_string())
            }
            Error::UnknownDomain { domain, known } => (
                format!("No domain `{domain}` is configured (configured: {known})."),
                "log in as user@domain with one of them, or add a [[domain]] section.".into(),
            ),
            Error::NoDomain { login } => (
                format!("The login `{login}` names no domain and several are configured."),
                "log in as user@domain, or set default_domain in the configuration.".into(),
            ),
            Error::DomainDisabled { domain } => {
                (format!("The domain `{domain}` is disabled."), "set enabled = true in its section to use it.".into())
            }
            Error::Input { message, fix } | Error::Account { message, fix } => (message.clone(), fix.clone()),
            Error::Store(e) => (e.message(), e.fix()),
            Error::NoAccount { domain, login } => (
                format!(
                    "{login}@{domain} has no account, and this domain creates accounts only by sync \
                     (login_policy = \"require-existing\")."
                ),
                format!(
                    "run `dirconn sync {domain}` (the user must match the sync filter), or set login_policy = \
                     \"auto-create\"."
                ),
            ),
            Error::AccountInactive { domain, login } => (
                format!("The account {login}@{domain} is deactivated (a sync did not find it in the directory)."),
                format!(
                    "make the user match the sync filter again and run `dirconn sync {domain}`; the account comes \
                     back with its data."
                ),
            ),
            Error::DirectoryUnavailable { domain, login, .. } => (
                format!(
                    "The directory of {domain} is unavailable, and {login} has no local account or valid cached \
                     password."
                ),
                format!(
                    "restore the directory connection (`dirconn test-connection {domain}`); local administrators \
                     can still log in."
                ),
            ),
            Error::LocalPassword { domain, login } => (
                format!("Wrong password for the local account {login}@{domain}."),
                format!(
                    "check the password; an administrator can set a new one with `dirconn local passwd \
                     {login}@{domain}`."
                ),
            ),
            Error::Guard { domain, would, active, allowed } => (
                format!(
                    "The sync of {domain} would deactivate {would} of {active} active accounts, more than the guard \
                     allows ({allowed}); nothing was changed."
                ),
                format!(
                    "check the sync filter and search base (`dirconn filter {domain}`); if the deactivations are \
                     intended, run `dirconn sync {domain} --force`."
                ),
            ),
            Error::SyncFailed { domain, seen, .. } => (
                format!(
                    "The sync of {domain} stopped after {seen} users and was rolled back: nothing was created, \
                     changed or deactivated."
                ),
                "see the cause, then run the sync again.".into(),
            ),
            Error::NotInMappedGroups { domain, login } => (
                format!(
                    "{login}@{domain} is in none of the groups mapped for this domain, which serves only their \
                     members (sync_only_mapped_groups = true)."
                ),
                "add the user to one of the groups in [domain.groups.map], or turn sync_only_mapped_groups off.".into(),
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A connector's error keeps its own form (with the server's diagnostic) after the host's context.
        if let (Some(context), Some(error)) = (self.connector_context(), self.connector_error()) {
            return write!(f, "{context}{error}");
        }
        if let Error::Store(e) = self {
            return e.fmt(f);
        }
        write!(f, "[{}] {} Fix: {}", self.code(), self.message(), self.fix())?;
        if let Error::DirectoryUnavailable { cause, .. } | Error::SyncFailed { cause, .. } = self {
            write!(f, " Cause: {cause}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Box<ConnectorError> {
        Box::new(
            ConnectorError::new(ErrorKind::Unreachable, "DC-302", "The connection was refused.", "Start the server.")
                .with_diagnostic("os error 111"),
        )
    }

    #[test]
    fn display_is_code_message_and_fix() {
        let err = Error::UnknownDomain { domain: "a.org".into(), known: "b.org".into() };
        assert_eq!(err.message(), "No domain `a.org` is configured (configured: b.org).");
        assert_eq!(err.fix(), "log in as user@domain with one of them, or add a [[domain]] section.");
        assert_eq!(err.to_string(), format!("[DC-010] {} Fix: {}", err.message(), err.fix()));
        assert_eq!(err.diagnostic(), None);
    }

    #[test]
    fn a_connector_error_keeps_its_context_fix_and_diagnostic() {
        let err = Error::Connector { domain: "a.org".into(), error: refused() };
        assert_eq!((err.code(), err.kind()), ("DC-302", ErrorKind::Unreachable));
        assert_eq!(err.message(), "domain `a.org`: The connection was refused.");
        assert_eq!(err.fix(), "Start the server.");
        assert_eq!(err.diagnostic().as_deref(), Some("os error 111"));
        assert_eq!(
            err.to_string(),
            "domain `a.org`: [DC-302] The connection was refused. Fix: Start the server. (server said: os error 111)"
        );
    }

    #[test]
    fn a_wrapped_cause_is_the_diagnostic_and_follows_the_fix() {
        let err = Error::SyncFailed { domain: "a.org".into(), seen: 3, cause: refused() };
        let cause = "[DC-302] The connection was refused. Fix: Start the server. (server said: os error 111)";
        assert_eq!(err.diagnostic().as_deref(), Some(cause));
        assert_eq!(err.fix(), "see the cause, then run the sync again.");
        assert!(err.to_string().ends_with(&format!("Fix: see the cause, then run the sync again. Cause: {cause}")));
    }

    #[test]
    fn a_store_error_delegates() {
        let err = Error::Store(dirconn_store::Error::Corrupt { what: "source = x".into() });
        assert_eq!((err.code(), err.kind()), ("DC-606", ErrorKind::Internal));
        assert_eq!(err.message(), "The account store holds a value this version cannot read (source = x).");
        assert_eq!(err.fix(), "upgrade dirconn, or correct the row.");
        assert_eq!(err.to_string(), format!("[DC-606] {} Fix: {}", err.message(), err.fix()));
    }
}
