//! Log forwarding: plugin tracing events reach the host's subscriber through a callback.
//!
//! A plugin has its own copy of `tracing` whose events would otherwise be lost; the host hands every plugin
//! a [`LogSink`] at load, and the plugin's forwarding subscriber calls it with each event and the domain
//! of the connector instance that emitted it.

use abi_stable::{StableAbi, std_types::RStr};

/// A log level, most severe first.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Something failed.
    Error = 0,
    /// Something is wrong but the operation went on.
    Warn = 1,
    /// A normal, notable event.
    Info = 2,
    /// Detail for diagnosis.
    Debug = 3,
    /// Every step.
    Trace = 4,
}

/// One event emitted inside a plugin.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct LogRecord<'a> {
    /// The event's level.
    pub level: LogLevel,
    /// The module path that emitted it inside the plugin.
    pub target: RStr<'a>,
    /// The mail domain of the connector instance, empty outside an operation.
    pub domain: RStr<'a>,
    /// The formatted message and fields. Never holds a password: connectors must not log secrets.
    pub message: RStr<'a>,
}

/// The host's log callback, handed to each plugin once at load.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct LogSink {
    /// The most verbose level the host wants now; the plugin drops the rest before formatting.
    pub max_level: extern "C" fn() -> LogLevel,
    /// Called for each event; must not panic.
    pub emit: extern "C" fn(&LogRecord<'_>),
}
