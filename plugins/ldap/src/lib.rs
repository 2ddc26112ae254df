//! The generic LDAP connector plugin: any LDAP v3 server (OpenLDAP, 389 DS, …) over the shared engine.
//!
//! Built as a `cdylib` for the host's drop-in directory and as an `rlib` for in-process tests. The plugin
//! serves the connector kind `ldap`; all the work is in `dirconn-ldap`, this crate adapts it to the ABI.

use std::{path::Path, sync::Arc};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RResult, RString},
};
use dirconn_abi::{
    AttributeReport, AuthRequest, Connector, ConnectorBox, ConnectorConfig, ConnectorError, ErrorKind, FfiFuture,
    FfiFutureExt, FilterReport, StageStatus, SyncChange, SyncRequest, SyncStreamBox, TestReport, TestRequest,
    UserEntry, plugin,
};
use dirconn_ldap::{ChangeSink, Directory, LdapDefaults, LdapSettings};

/// The connector kind this plugin serves.
pub const KIND: &str = "ldap";

dirconn_abi::export_plugin! {
    description: "Any LDAP v3 directory (OpenLDAP, 389 Directory Server, …)",
    kinds: [KIND],
    capabilities: ["ppolicy", "failover", "sync", "syncrepl"],
    new: |config| Ok(ConnectorBox::from_value(LdapConnector::new(config)?, TD_Opaque)),
}

/// The connector for one domain.
#[derive(Debug, Clone)]
pub struct LdapConnector {
    domain: Arc<str>,
    directory: Arc<Directory>,
}

impl LdapConnector {
    /// Validates a domain's settings and prepares its directory (no network call).
    pub fn new(config: &ConnectorConfig) -> Result<LdapConnector, ConnectorError> {
        if config.kind.as_str() != KIND {
            return Err(ConnectorError::new(
                ErrorKind::Configuration,
                "DC-111",
                format!("This plugin serves `{KIND}`, not `{}`.", config.kind),
                "Set connector = \"ldap\" or install the plugin for that kind.",
            ));
        }
        let settings = LdapSettings::from_json(
            &config.domain,
            &config.settings_json,
            Path::new(config.config_dir.as_str()),
            LdapDefaults::GENERIC,
        )?;
        let directory = Directory::new(settings)?;
        Ok(LdapConnector { domain: Arc::from(config.domain.as_str()), directory: Arc::new(directory) })
    }
}

impl Connector for LdapConnector {
    fn test_connection(&self, request: TestRequest) -> FfiFuture<TestReport> {
        let dir = Arc::clone(&self.directory);
        plugin::spawn_infallible(
            Arc::clone(&self.domain),
            async move {
                let report = dir
                    .test_connection(
                        request.login.as_ref().map(|s| s.as_str()).into_option(),
                        request.password.as_ref().map(|s| s.as_str()).into_option(),
                    )
                    .await;
                let failed = report.stages.iter().filter(|s| s.status == StageStatus::Failed).count();
                tracing::info!(failed, stages = report.stages.len(), "connection test finished");
                report
            },
            |err| TestReport {
                stages: vec![dirconn_abi::StageResult {
                    stage: "internal".into(),
                    target: RString::new(),
                    status: StageStatus::Failed,
                    elapsed_us: 0,
                    detail: RString::new(),
                    error: abi_stable::std_types::ROption::RSome(err),
                }]
                .into(),
            },
        )
    }

    fn authenticate(&self, request: AuthRequest) -> FfiFuture<RResult<UserEntry, ConnectorError>> {
        let dir = Arc::clone(&self.directory);
        plugin::spawn(Arc::clone(&self.domain), async move {
            let outcome = dir.authenticate(request.login.as_str(), request.password.as_str()).await;
            if let Err(err) = &outcome {
                // Debug-formatted: a login may hold control characters (log injection).
                tracing::info!(login = ?request.login.as_str(), code = err.code(), "login refused: {err}");
            }
            Ok(outcome?)
        })
    }

    fn lookup_user(&self, login: RString) -> FfiFuture<RResult<UserEntry, ConnectorError>> {
        let dir = Arc::clone(&self.directory);
        plugin::spawn(Arc::clone(&self.domain), async move { Ok(dir.lookup(login.as_str()).await?) })
    }

    fn discover_attributes(&self) -> FfiFuture<RResult<AttributeReport, ConnectorError>> {
        let dir = Arc::clone(&self.directory);
        plugin::spawn(Arc::clone(&self.domain), async move { Ok(dir.discover_attributes().await?) })
    }

    fn effective_filter(&self) -> FilterReport {
        self.directory.effective_filter()
    }

    fn open_sync(&self, request: SyncRequest) -> FfiFuture<RResult<SyncStreamBox, ConnectorError>> {
        let dir = Arc::clone(&self.directory);
        let stream = plugin::sync_stream(Arc::clone(&self.domain), move |sender| async move {
            let cookie = request.cookie.into_option().map(|c| c.into_vec());
            let incremental = cookie.is_some();
            let attributes: Vec<String> = request.attributes.iter().map(|a| a.to_string()).collect();
            let end = dir.sync(cookie, request.batch_size as usize, &attributes, &Sink(sender)).await?;
            tracing::info!(incremental, full = end.full, "sync stream finished");
            Ok(end)
        });
        async move { RResult::ROk(stream) }.into_ffi()
    }
}

/// The engine's sink for sync batches: the plugin's channel to the host.
struct Sink(plugin::SyncSender);

impl ChangeSink for Sink {
    async fn send(&self, changes: Vec<SyncChange>) -> bool {
        self.0.send(changes).await.is_ok()
    }
}
