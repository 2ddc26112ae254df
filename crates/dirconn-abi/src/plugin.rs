//! Helpers for plugin crates: the plugin-owned runtime, panic containment and log forwarding.
//!
//! A plugin's copy of tokio cannot see the host's runtime, so each plugin owns a small multi-thread
//! runtime: [`spawn`] runs an operation there and hands the host an [`FfiFuture`] wrapping the join handle.
//! A panic inside the operation is caught by the runtime and becomes an [`crate::ErrorKind::Internal`] error;
//! [`guard`] does the same for synchronous entry points. Dropping the future aborts the operation.

use std::{
    any::Any,
    future::Future,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, OnceLock},
};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{ROption::RSome, RResult, RStr},
};
use async_ffi::{FfiFuture, FutureExt};
use tokio::runtime::Runtime;
use tracing::{Event, Level, Metadata, Subscriber, field::Visit, subscriber::Interest};
use tracing_subscriber::{Layer, layer::Context, prelude::__tracing_subscriber_SubscriberExt};

use crate::{ConnectorError, LogLevel, LogRecord, LogSink, SyncBatch, SyncChange, SyncEnd, SyncStream, SyncStreamBox};

tokio::task_local! {
    static DOMAIN: Arc<str>;
}

/// The plugin's runtime, started on first use; `None` if it could not start (no threads left).
/// `DIRCONN_PLUGIN_THREADS` sets its worker count (default: the number of CPUs, at least 2).
pub fn runtime() -> Option<&'static Runtime> {
    static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let threads = std::env::var("DIRCONN_PLUGIN_THREADS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()).max(2));
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("dirconn-plugin")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
}

/// Aborts the spawned task when the host drops the future.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs an operation of the connector serving `domain` on the plugin's runtime.
///
/// Log events inside it carry the domain; a panic becomes an [`crate::ErrorKind::Internal`] error.
pub fn spawn<T, F>(domain: Arc<str>, operation: F) -> FfiFuture<RResult<T, ConnectorError>>
where
    T: Send + 'static,
    F: Future<Output = Result<T, ConnectorError>> + Send + 'static,
{
    let Some(runtime) = runtime() else {
        let err = crate::failures::no_runtime();
        return async move { RResult::RErr(err) }.into_ffi();
    };
    let handle = AbortOnDrop(runtime.spawn(DOMAIN.scope(domain, operation)));
    async move {
        let mut handle = handle;
        match (&mut handle.0).await {
            Ok(result) => result.into(),
            Err(err) if err.is_panic() => RResult::RErr(panicked(err.into_panic())),
            Err(_) => RResult::RErr(crate::failures::cancelled()),
        }
    }
    .into_ffi()
}

/// Like [`spawn`], for operations that cannot fail (a panic still becomes the `on_panic` value).
pub fn spawn_infallible<T, F>(
    domain: Arc<str>,
    operation: F,
    on_panic: impl FnOnce(ConnectorError) -> T + Send + 'static,
) -> FfiFuture<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let inner = spawn(domain, async move { Ok(operation.await) });
    async move {
        match inner.await {
            RResult::ROk(value) => value,
            RResult::RErr(err) => on_panic(err),
        }
    }
    .into_ffi()
}

/// The sending half of a sync stream, handed to the producer of [`sync_stream`].
#[derive(Debug)]
pub struct SyncSender {
    tx: tokio::sync::mpsc::Sender<Result<SyncBatch, ConnectorError>>,
}

/// The host dropped the sync stream: the producer should stop.
#[derive(Debug, Clone, Copy)]
pub struct SyncCancelled;

impl SyncSender {
    /// Sends one batch, waiting while the host is still busy with earlier ones.
    pub async fn send(&self, changes: Vec<SyncChange>) -> Result<(), SyncCancelled> {
        if changes.is_empty() {
            return Ok(());
        }
        let batch = SyncBatch { changes: changes.into(), end: abi_stable::std_types::ROption::RNone };
        self.tx.send(Ok(batch)).await.map_err(|_| SyncCancelled)
    }
}

/// Read-ahead of a sync stream, in batches: the producer waits when the host has this many unread. Four
/// batches (2,000 users at the host's 500) let the directory side run on while the host decides a batch
/// or waits for its store.
const SYNC_READ_AHEAD: usize = 4;

/// Runs a sync producer on the plugin's runtime and hands the host a stream of its batches.
///
/// The producer sends batches with [`SyncSender::send`] and returns how the sync ended; that becomes the
/// last batch. If it fails, the host gets its error instead of the last batch. When the host drops the
/// stream, `send` returns [`SyncCancelled`] and the producer should return.
pub fn sync_stream<F, Fut>(domain: Arc<str>, producer: F) -> SyncStreamBox
where
    F: FnOnce(SyncSender) -> Fut,
    Fut: Future<Output = Result<SyncEnd, ConnectorError>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(SYNC_READ_AHEAD);
    let stream = ChannelStream { domain: Arc::clone(&domain), rx: Arc::new(tokio::sync::Mutex::new(rx)) };
    let Some(runtime) = runtime() else {
        let _ = tx.try_send(Err(crate::failures::no_runtime()));
        return SyncStreamBox::from_value(stream, TD_Opaque);
    };
    // The producer runs under `spawn` (a panic becomes DC-500); its outcome, whatever it is, becomes the last
    // batch, sent from outside the producer so that a panic cannot lose it.
    let outcome = spawn(domain, producer(SyncSender { tx: tx.clone() }));
    runtime.spawn(async move {
        let last = outcome.await.into_result().map(|end| SyncBatch { changes: Default::default(), end: RSome(end) });
        let _ = tx.send(last).await;
    });
    SyncStreamBox::from_value(stream, TD_Opaque)
}

struct ChannelStream {
    domain: Arc<str>,
    rx: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Result<SyncBatch, ConnectorError>>>>,
}

impl SyncStream for ChannelStream {
    fn next_batch(&self) -> FfiFuture<RResult<SyncBatch, ConnectorError>> {
        let rx = Arc::clone(&self.rx);
        spawn(Arc::clone(&self.domain), async move {
            match rx.lock().await.recv().await {
                Some(batch) => batch,
                None => Err(crate::failures::stream_ended()),
            }
        })
    }
}

/// Like [`guard`], with log events tagged with `domain` (connector constructors).
pub fn guard_in<T>(domain: &str, f: impl FnOnce() -> Result<T, ConnectorError>) -> RResult<T, ConnectorError> {
    DOMAIN.sync_scope(Arc::from(domain), || guard(f))
}

/// Runs a synchronous entry point, turning a panic into an [`crate::ErrorKind::Internal`] error.
pub fn guard<T>(f: impl FnOnce() -> Result<T, ConnectorError>) -> RResult<T, ConnectorError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.into(),
        Err(payload) => RResult::RErr(panicked(payload)),
    }
}

fn panicked(payload: Box<dyn Any + Send>) -> ConnectorError {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    tracing::error!(panic = %what, "connector operation panicked");
    crate::failures::panicked(what)
}

/// The sink events go to: the last one a host installed.
static SINK: std::sync::RwLock<Option<LogSink>> = std::sync::RwLock::new(None);

fn sink() -> Option<LogSink> {
    SINK.read().map(|s| *s).unwrap_or(None)
}

/// Installs the host's log sink. The plugin's global tracing subscriber is set once; later calls replace
/// the sink it forwards to. Each event is checked against the host's current level.
pub fn install_log_sink(new: LogSink) {
    if let Ok(mut slot) = SINK.write() {
        *slot = Some(new);
    }
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(Forward);
        // Fails only if the plugin set a subscriber itself, in which case that one wins.
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

fn level_of(level: Level) -> LogLevel {
    match level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        Level::TRACE => LogLevel::Trace,
    }
}

/// A layer that formats each event and hands it to the host.
struct Forward;

impl<S: Subscriber> Layer<S> for Forward {
    // The host's level can change at any time: never let tracing cache a verdict per callsite.
    fn register_callsite(&self, _metadata: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        sink().is_some_and(|sink| level_of(*metadata.level()) <= (sink.max_level)())
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(sink) = sink() else { return };
        let mut text = MessageText::default();
        event.record(&mut text);
        let meta = event.metadata();
        let level = level_of(*meta.level());
        let domain = DOMAIN.try_with(Arc::clone).ok();
        let record = LogRecord {
            level,
            target: RStr::from_str(meta.target()),
            domain: RStr::from_str(domain.as_deref().unwrap_or("")),
            message: RStr::from_str(&text.0),
        };
        (sink.emit)(&record);
    }
}

/// The message first, then `key=value` for each other field.
#[derive(Default)]
struct MessageText(String);

impl Visit for MessageText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}");
            if !rest.is_empty() {
                self.0.push(' ');
                self.0.push_str(&rest);
            }
        } else {
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            use std::fmt::Write;
            if !self.0.is_empty() {
                self.0.push(' ');
            }
            let _ = write!(self.0, "{}={value}", field.name());
        }
    }
}

/// Exports a plugin's root module: its metadata (name and version from the plugin's Cargo.toml), the
/// log sink installer, a constructor run under [`guard_in`], and the default mapping of its kinds (ABI 4).
/// `claimed_abi_version: 3` (test fixtures only) makes the metadata name another version than the one
/// built, as an old build would.
///
/// ```ignore
/// dirconn_abi::export_plugin! {
///     description: "Any LDAP v3 directory",
///     kinds: ["ldap"],
///     capabilities: ["ppolicy"],
///     new: |config| Ok(ConnectorBox::from_value(MyConnector::new(config)?, TD_Opaque)),
///     default_mapping: |_kind| dirconn_abi::DefaultMapping::default(),
/// }
/// ```
#[macro_export]
macro_rules! export_plugin {
    (
        description: $description:expr,
        kinds: [$($kind:expr),+ $(,)?],
        capabilities: [$($capability:expr),* $(,)?],
        new: $new:expr,
        default_mapping: $mapping:expr
        $(, claimed_abi_version: $claimed:expr)? $(,)?
    ) => {
        /// The ABI version this plugin was built for, as a plain C symbol (ABI 4): the host reads it before
        /// abi_stable's layout check, so that a plugin of another version is refused by its number.
        #[unsafe(no_mangle)]
        pub extern "C" fn dirconn_abi_version() -> u32 {
            $crate::ABI_VERSION $(; $claimed)?
        }

        /// The plugin's root module, found by the host's loader.
        #[$crate::abi_stable::export_root_module]
        pub fn root_module() -> $crate::PluginModRef {
            use $crate::abi_stable::prefix_type::PrefixTypeTrait;

            // `.into()`: the field is u64 when dirconn-abi is built with `skew-for-tests`.
            #[allow(clippy::useless_conversion)]
            extern "C" fn metadata() -> $crate::PluginMetadata {
                $crate::PluginMetadata {
                    name: env!("CARGO_PKG_NAME").into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    description: $description.into(),
                    kinds: vec![$($crate::abi_stable::std_types::RString::from($kind)),+].into(),
                    abi_version: { $crate::ABI_VERSION $(; $claimed)? }.into(),
                    capabilities: vec![$($crate::abi_stable::std_types::RString::from($capability)),*].into(),
                }
            }

            extern "C" fn set_log_sink(sink: $crate::LogSink) {
                $crate::plugin::install_log_sink(sink);
            }

            extern "C" fn new_connector(
                config: $crate::ConnectorConfig,
            ) -> $crate::abi_stable::std_types::RResult<$crate::ConnectorBox, $crate::ConnectorError> {
                let build: fn(&$crate::ConnectorConfig) -> Result<$crate::ConnectorBox, $crate::ConnectorError> = $new;
                $crate::plugin::guard_in(config.domain.as_str(), || build(&config))
            }

            extern "C" fn default_mapping(kind: $crate::abi_stable::std_types::RString) -> $crate::DefaultMapping {
                let mapping: fn(&str) -> $crate::DefaultMapping = $mapping;
                mapping(kind.as_str())
            }

            $crate::PluginMod { metadata, set_log_sink, new_connector, default_mapping }.leak_into_prefix()
        }
    };
}
