//! Structured logging to stderr. The level comes from `--log`, else `GRIDWORKER_LOG`, else
//! `RUST_LOG`, else `info`. What is logged names requests, codes and counts, never tokens or
//! payload values (messages are built by [`crate::sanitize`] before they reach a log).

use tracing_subscriber::EnvFilter;

/// The environment variable read for the log filter before `RUST_LOG`.
pub const ENV_LOG: &str = "GRIDWORKER_LOG";

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("invalid log filter (use e.g. info, debug, gridworker_server=debug)")]
    Filter,
    #[error("a logger is already installed")]
    AlreadyInstalled,
}

/// Installs the stderr logger once per process. `filter` (from `--log`) wins over the
/// environment.
pub fn init(filter: Option<&str>) -> Result<(), LoggingError> {
    let spec = filter
        .map(str::to_string)
        .or_else(|| std::env::var(ENV_LOG).ok())
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_string());
    let filter = EnvFilter::try_new(spec).map_err(|_| LoggingError::Filter)?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(false)
        .try_init()
        .map_err(|_| LoggingError::AlreadyInstalled)
}
