//! The host's end of log forwarding: plugin events become events of the host's tracing subscriber.

use dirconn_abi::{LogLevel, LogRecord, LogSink};

/// The sink handed to every plugin at load, passing on what the host's subscriber wants.
pub fn log_sink() -> LogSink {
    LogSink { max_level, emit }
}

/// The host subscriber's current most verbose level.
extern "C" fn max_level() -> LogLevel {
    match tracing::level_filters::LevelFilter::current() {
        f if f >= tracing::level_filters::LevelFilter::TRACE => LogLevel::Trace,
        f if f >= tracing::level_filters::LevelFilter::DEBUG => LogLevel::Debug,
        f if f >= tracing::level_filters::LevelFilter::INFO => LogLevel::Info,
        f if f >= tracing::level_filters::LevelFilter::WARN => LogLevel::Warn,
        _ => LogLevel::Error,
    }
}

extern "C" fn emit(record: &LogRecord<'_>) {
    let target = record.target.as_str();
    let domain = record.domain.as_str();
    let message = record.message.as_str();
    match record.level {
        LogLevel::Error => tracing::error!(target: "dirconn::plugin", plugin_target = target, domain, "{message}"),
        LogLevel::Warn => tracing::warn!(target: "dirconn::plugin", plugin_target = target, domain, "{message}"),
        LogLevel::Info => tracing::info!(target: "dirconn::plugin", plugin_target = target, domain, "{message}"),
        LogLevel::Debug => tracing::debug!(target: "dirconn::plugin", plugin_target = target, domain, "{message}"),
        LogLevel::Trace => tracing::trace!(target: "dirconn::plugin", plugin_target = target, domain, "{message}"),
    }
}
