//! Sync: the wire protocol ([`wire`], documented in `docs/protocol.md`) and the engine that
//! moves the outbox to the server and the server's changes to the device.
//!
//! One job per module:
//! - [`engine`]: the run (handshake → photo uploads → push batches → pull until caught up),
//!   coalescing of concurrent calls, cancellation;
//! - [`transport`]: HTTP over rustls, headers, token refresh, error classification;
//! - [`tls`]: root certificates and pinning;
//! - [`retry`]: backoff with jitter, `Retry-After`, bounds;
//! - [`photos`]: resumable, streamed photo uploads;
//! - [`apply`]: pulled changes applied to the store transactionally;
//! - [`bounds`]: documented sizes of server answers, checked before anything is stored;
//! - [`restore`]: staying whole across a server reset or a restore from backup;
//! - [`lock`]: one process at a time owns sync for a store;
//! - [`progress`] and [`options`]: what the platform sees and sets.

pub mod apply;
pub mod bounds;
mod context;
pub mod engine;
pub mod lock;
pub mod options;
pub mod photos;
pub mod progress;
pub mod restore;
pub mod retry;
pub mod tls;
pub mod transport;
pub use gridworker_model::wire;

#[cfg(feature = "failpoints")]
pub mod failpoints;

pub use context::{INTERACTIVE_ATTEMPTS, INTERACTIVE_RETRY_TIME};
pub use engine::SyncEngine;
pub use options::{AccessTokenProvider, NetworkKind, SyncOptions, SyncReport};
pub use progress::{
    ListenerHandle, RetryNotice, SyncEngineState, SyncListener, SyncOutcome, SyncPhase,
    SyncProgress,
};

/// Crash hook for the SIGKILL tests: a no-op unless the `failpoints` feature is on.
#[inline]
pub(crate) fn failpoint(_name: &str) {
    #[cfg(feature = "failpoints")]
    failpoints::hit(_name);
}
