//! Forwards the core's `log` records to a logger the app registers (Logcat, os_log...).
//!
//! `log` accepts one global logger per process and never gives it back, so a single static
//! forwarder is installed on first use and the app's callback is swapped behind it.

use std::cell::Cell;
use std::sync::{Arc, RwLock};

use crate::error::{GridWorkerError, Result};

/// Severity of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<log::Level> for LogLevel {
    fn from(l: log::Level) -> Self {
        match l {
            log::Level::Error => LogLevel::Error,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Info => LogLevel::Info,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Trace => LogLevel::Trace,
        }
    }
}

impl From<LogLevel> for log::LevelFilter {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
}

/// One log record of the core. Never contains residents' personal data.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogRecord {
    pub level: LogLevel,
    /// The Rust module that logged (e.g. `gridworker_core::sync::engine`).
    pub target: String,
    pub message: String,
}

/// Receives the core's log records, from any thread. Must not block for long. Throwing is
/// harmless (the record is dropped).
#[uniffi::export(callback_interface)]
pub trait Logger: Send + Sync {
    fn log(&self, record: LogRecord) -> Result<(), GridWorkerError>;
}

static SINK: RwLock<Option<Arc<dyn Logger>>> = RwLock::new(None);
static FORWARDER: Forwarder = Forwarder;

thread_local! {
    // Set while a record is being handed to the app, so a record logged from inside that
    // call (by the foreign runtime's own Rust code) cannot recurse.
    static FORWARDING: Cell<bool> = const { Cell::new(false) };
}

struct Forwarder;

impl log::Log for Forwarder {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) || FORWARDING.with(Cell::get) {
            return;
        }
        let sink = SINK.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(sink) = sink else { return };
        FORWARDING.with(|f| f.set(true));
        let _ = sink.log(LogRecord {
            level: record.level().into(),
            target: record.target().to_string(),
            message: record.args().to_string(),
        });
        FORWARDING.with(|f| f.set(false));
    }

    fn flush(&self) {}
}

/// Sends the core's log records at `max_level` and above to `logger`, replacing any logger
/// set before. Fails with `Other` only if something else in the process installed a Rust
/// logger first.
#[uniffi::export]
pub fn set_logger(logger: Box<dyn Logger>, max_level: LogLevel) -> Result<()> {
    // Installing twice fails harmlessly when it was us; the pointer check tells the cases
    // apart without a second static flag.
    if log::set_logger(&FORWARDER).is_err()
        && !std::ptr::addr_eq(
            log::logger() as *const dyn log::Log,
            &FORWARDER as *const Forwarder,
        )
    {
        return Err(GridWorkerError::Other {
            reason: "another logger is installed in this process".into(),
        });
    }
    *SINK.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::from(logger));
    log::set_max_level(max_level.into());
    Ok(())
}

/// Stops forwarding log records.
#[uniffi::export]
pub fn clear_logger() {
    log::set_max_level(log::LevelFilter::Off);
    *SINK.write().unwrap_or_else(|p| p.into_inner()) = None;
}
