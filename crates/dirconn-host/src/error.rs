//! The host's one error type.

use std::path::PathBuf;

use dirconn_abi::{ConnectorError, ErrorKind};

/// A failure of the host: configuration, plugins, routing, or a connector's answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file cannot be read (DC-001).
    #[error("[DC-001] The configuration file {} cannot be read: {source}. Fix: check the path (--config or DIRCONN_CONFIG) and its permissions.", path.display())]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The OS's answer.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML, or a top-level key is wrong (DC-002).
    #[error("[DC-002] {}: {message} Fix: correct the file; docs/src/configuration.md lists every key.", path.display())]
    ConfigSyntax {
        /// The file.
        path: PathBuf,
        /// What the parser said, with line and column.
        message: String,
    },
    /// A domain section has a missing or invalid host key (DC-003).
    #[error("[DC-003] {}: domain `{domain}`: key `{key}`: {problem} Fix: {fix}", path.display())]
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
    #[error("[DC-004] {}: the domain `{domain}` is configured twice. Fix: keep one [[domain]] section per mail domain.", path.display())]
    DuplicateDomain {
        /// The file.
        path: PathBuf,
        /// The domain.
        domain: String,
    },
    /// The drop-in directory cannot be read (DC-005).
    #[error("[DC-005] The plugin directory {} cannot be read: {source}. Fix: set plugin_dir to the folder holding the connector plugins (cargo xtask build-plugins --release stages them in target/release/plugins).", path.display())]
    PluginDir {
        /// The folder.
        path: PathBuf,
        /// The OS's answer.
        source: std::io::Error,
    },
    /// Two plugins claim the same connector kind (DC-006).
    #[error("[DC-006] Two plugins claim the connector kind `{kind}`: {} and {}. Fix: remove one of them from the plugin directory.", first.display(), second.display())]
    DuplicateKind {
        /// The kind.
        kind: String,
        /// The plugin loaded first.
        first: PathBuf,
        /// The plugin loaded second.
        second: PathBuf,
    },
    /// No loaded plugin serves a domain's connector kind (DC-007).
    #[error("[DC-007] {}: domain `{domain}`: no plugin serves connector = \"{kind}\" (loaded kinds: {available}). Fix: install its plugin in the plugin directory or correct the kind; `dirconn plugins` lists what loaded and what was refused.", path.display())]
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
    /// The plugin refused a domain's settings (the connector's code).
    #[error("{}: domain `{domain}`: {error}", path.display())]
    DomainSetup {
        /// The file.
        path: PathBuf,
        /// The domain.
        domain: String,
        /// The plugin's answer.
        error: Box<ConnectorError>,
    },
    /// The login names a domain that is not configured (DC-010).
    #[error(
        "[DC-010] No domain `{domain}` is configured (configured: {known}). Fix: log in as user@domain with one of them, or add a [[domain]] section."
    )]
    UnknownDomain {
        /// The domain asked for.
        domain: String,
        /// The domains configured.
        known: String,
    },
    /// A bare login with several domains and no default (DC-011).
    #[error(
        "[DC-011] The login `{login}` names no domain and several are configured. Fix: log in as user@domain, or set default_domain in the configuration."
    )]
    NoDomain {
        /// The login as given.
        login: String,
    },
    /// The domain is configured but disabled (DC-012).
    #[error("[DC-012] The domain `{domain}` is disabled. Fix: set enabled = true in its section to use it.")]
    DomainDisabled {
        /// The domain.
        domain: String,
    },
    /// The command line could not get what it needs from the person running it (DC-013).
    #[error("[DC-013] {message} Fix: {fix}")]
    Input {
        /// What is missing or failed.
        message: String,
        /// What to do.
        fix: String,
    },
    /// The account store failed (its own DC-6xx code).
    #[error("{0}")]
    Store(#[from] dirconn_store::Error),
    /// The directory accepted the user, but the domain requires accounts to exist first (DC-701).
    #[error(
        "[DC-701] {login}@{domain} has no account, and this domain creates accounts only by sync (login_policy = \"require-existing\"). Fix: run `dirconn sync {domain}` (the user must match the sync filter), or set login_policy = \"auto-create\"."
    )]
    NoAccount {
        /// The domain.
        domain: String,
        /// The login.
        login: String,
    },
    /// The account exists but is deactivated (DC-702).
    #[error(
        "[DC-702] The account {login}@{domain} is deactivated (a sync did not find it in the directory). Fix: make the user match the sync filter again and run `dirconn sync {domain}`; the account comes back with its data."
    )]
    AccountInactive {
        /// The domain.
        domain: String,
        /// The account name.
        login: String,
    },
    /// The directory is down and no local account or cached password applies (DC-703).
    #[error(
        "[DC-703] The directory of {domain} is unavailable, and {login} has no local account or valid cached password. Fix: restore the directory connection (`dirconn test-connection {domain}`); local administrators can still log in. Cause: {cause}"
    )]
    DirectoryUnavailable {
        /// The domain.
        domain: String,
        /// The login.
        login: String,
        /// The connector's answer.
        cause: Box<ConnectorError>,
    },
    /// A local account's password is wrong (DC-704).
    #[error(
        "[DC-704] Wrong password for the local account {login}@{domain}. Fix: check the password; an administrator can set a new one with `dirconn local passwd {login}@{domain}`."
    )]
    LocalPassword {
        /// The domain.
        domain: String,
        /// The login.
        login: String,
    },
    /// A sync would deactivate more accounts than the guard allows (DC-705).
    #[error(
        "[DC-705] The sync of {domain} would deactivate {would} of {active} active accounts, more than the guard allows ({allowed}); nothing was changed. Fix: check the sync filter and search base (`dirconn filter {domain}`); if the deactivations are intended, run `dirconn sync {domain} --force`."
    )]
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
    #[error(
        "[DC-706] The sync of {domain} stopped after {seen} users and was rolled back: nothing was created, changed or deactivated. Fix: see the cause, then run the sync again. Cause: {cause}"
    )]
    SyncFailed {
        /// The domain.
        domain: String,
        /// Users read before the failure.
        seen: u64,
        /// The connector's answer.
        cause: Box<ConnectorError>,
    },
    /// An account command names an account that does not exist, or one that exists already (DC-707).
    #[error("[DC-707] {message} Fix: {fix}")]
    Account {
        /// What is wrong.
        message: String,
        /// What to do.
        fix: String,
    },
    /// The domain serves only members of its mapped groups, and the user is in none (DC-708).
    #[error(
        "[DC-708] {login}@{domain} is in none of the groups mapped for this domain, which serves only their members (sync_only_mapped_groups = true). Fix: add the user to one of the groups in [domain.groups.map], or turn sync_only_mapped_groups off."
    )]
    NotInMappedGroups {
        /// The domain.
        domain: String,
        /// The login.
        login: String,
    },
    /// A connector answered with an error.
    #[error("domain `{domain}`: {error}")]
    Connector {
        /// The domain.
        domain: String,
        /// The connector's answer.
        error: Box<ConnectorError>,
    },
}

impl Error {
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
}
