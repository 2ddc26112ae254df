//! The failures the ABI layer itself reports (`DC-5xx`): a connector that panicked or lost its runtime, an
//! operation a plugin does not offer. Each is built here once, and [`examples`] lists them for the
//! generated troubleshooting page.

use crate::{ConnectorError, ErrorKind};

/// The connector panicked; `what` is the panic's message (DC-500).
pub fn panicked(what: String) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Internal,
        "DC-500",
        "The connector failed unexpectedly (it panicked); the host goes on serving.",
        "Report it with the host's log; other domains and requests are not affected.",
    )
    .with_diagnostic(what)
}

/// The operation's task was cancelled inside the plugin (DC-501).
pub fn cancelled() -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Internal,
        "DC-501",
        "The connector operation was cancelled.",
        "Retry; if it persists, report it with the host's log.",
    )
}

/// The plugin's runtime could not start (DC-502).
pub fn no_runtime() -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Internal,
        "DC-502",
        "The connector could not start its worker threads.",
        "Check the host's thread and memory limits (ulimit -u, cgroup pids.max), then restart it.",
    )
}

/// The plugin cannot sync (DC-503).
pub fn sync_unsupported() -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unsupported,
        "DC-503",
        "This connector plugin cannot sync users (it was built for an older dirconn).",
        "Install the plugin version that ships with this dirconn.",
    )
}

/// A batch was asked of a sync stream past its end (DC-504).
pub fn stream_ended() -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Internal,
        "DC-504",
        "The sync stream has ended; no batch follows its last one.",
        "This is a bug in the host; report it with the host's log.",
    )
}

/// The plugin cannot change passwords (DC-507).
pub fn password_unsupported() -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unsupported,
        "DC-507",
        "This connector cannot change or reset passwords.",
        "Change the password with the directory's own tools.",
    )
}

/// The plugin cannot read the directory's lockout policy (DC-508).
pub fn lockout_unsupported() -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Unsupported,
        "DC-508",
        "This connector cannot read the directory's account lockout policy.",
        "Set the directory's threshold in the domain's [domain.lockout] table (threshold = 5).",
    )
}

/// Every failure of this layer, once.
pub fn examples() -> Vec<ConnectorError> {
    vec![
        panicked("{panic message}".into()),
        cancelled(),
        no_runtime(),
        sync_unsupported(),
        stream_ended(),
        password_unsupported(),
        lockout_unsupported(),
    ]
}
