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
        }
    }

    /// The kind, in the connector's terms: what the host and the CLI act on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Connector { error, .. } => error.kind,
            Error::UnknownDomain { .. } | Error::NoDomain { .. } | Error::DomainDisabled { .. } => ErrorKind::NotFound,
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
