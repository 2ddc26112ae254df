//! The ABI adapter every LDAP-based plugin shares: a [`DirectoryConnector`] serves one domain through the
//! engine, so that a plugin crate is its kind name and its [`LdapDefaults`] (feature `plugin`).

use std::{path::Path, sync::Arc};

use abi_stable::std_types::{RResult, RString};
use dirconn_abi::{
    AttributeReport, AuthRequest, Connector, ConnectorConfig, ConnectorError, DefaultMapping, FfiFuture, FfiFutureExt,
    FilterReport, LockoutPolicy, NamedValue, PasswordRequest, StageStatus, SyncChange, SyncRequest, SyncStreamBox,
    TestReport, TestRequest, UserEntry, plugin,
};

use crate::{ChangeSink, Directory, Error, LdapDefaults, LdapSettings};

/// A plugin's default mapping from its data: `(account field, attribute)` pairs and the address attributes.
pub fn default_mapping(fields: &[(&str, &str)], addresses: &[&str]) -> DefaultMapping {
    DefaultMapping {
        fields: fields.iter().map(|(f, a)| NamedValue { name: (*f).into(), value: (*a).into() }).collect(),
        addresses: addresses.iter().map(|a| RString::from(*a)).collect(),
    }
}

/// The connector for one domain, over the engine.
#[derive(Debug, Clone)]
pub struct DirectoryConnector {
    domain: Arc<str>,
    directory: Arc<Directory>,
}

impl DirectoryConnector {
    /// Validates a domain's settings for the connector kind of `defaults` and prepares its directory
    /// (no network call).
    pub fn new(config: &ConnectorConfig, defaults: LdapDefaults) -> Result<Self, ConnectorError> {
        if config.kind.as_str() != defaults.kind {
            return Err(Error::wrong_kind(defaults.kind, &config.kind).into());
        }
        let settings = LdapSettings::from_json(
            &config.domain,
            &config.settings_json,
            Path::new(config.config_dir.as_str()),
            defaults,
        )?;
        let directory = Directory::new(settings)?;
        Ok(DirectoryConnector { domain: Arc::from(config.domain.as_str()), directory: Arc::new(directory) })
    }

    /// The domain's directory, for in-process use.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }
}

impl Connector for DirectoryConnector {
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

    fn set_password(&self, request: PasswordRequest) -> FfiFuture<RResult<(), ConnectorError>> {
        let dir = Arc::clone(&self.directory);
        plugin::spawn(Arc::clone(&self.domain), async move {
            let old = request.old_password.as_ref().map(|p| p.as_str()).into_option();
            let outcome = dir.set_password(request.login.as_str(), old, request.new_password.as_str()).await;
            if let Err(err) = &outcome {
                tracing::info!(login = ?request.login.as_str(), code = err.code(), "password not set: {err}");
            }
            outcome?;
            Ok(())
        })
    }

    fn lockout_policy(&self) -> FfiFuture<RResult<LockoutPolicy, ConnectorError>> {
        let dir = Arc::clone(&self.directory);
        plugin::spawn(Arc::clone(&self.domain), async move {
            let policy = dir.lockout_policy().await?;
            tracing::info!(threshold = policy.threshold, window = policy.window_seconds, source = %policy.source, "lockout policy read");
            Ok(policy)
        })
    }
}

/// The engine's sink for sync batches: the plugin's channel to the host.
struct Sink(plugin::SyncSender);

impl ChangeSink for Sink {
    async fn send(&self, changes: Vec<SyncChange>) -> bool {
        self.0.send(changes).await.is_ok()
    }
}
