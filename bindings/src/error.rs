//! The one error type Kotlin and Swift see, and the one place core errors are mapped to it.
//!
//! Few variants, each one something an app acts on differently (fix the input, refresh the
//! list, retry later, ask the worker to log in again, ask for an update, report a bug).
//! Messages carry field names, opaque ids and reasons only, never residents' personal data:
//! the core's errors are built that way and nothing is added here.

use gridworker_core::Error as CoreError;
use gridworker_core::LockReason as CoreLockReason;

/// Why a store is `Locked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LockReason {
    /// The store is encrypted and `WorkerConfig.key` was `None`.
    KeyMissing,
    /// The key given is not the store's key.
    WrongKey,
}

impl From<CoreLockReason> for LockReason {
    fn from(r: CoreLockReason) -> Self {
        match r {
            CoreLockReason::KeyMissing => LockReason::KeyMissing,
            CoreLockReason::WrongKey => LockReason::WrongKey,
        }
    }
}

/// Everything a call into the core can fail with. Kotlin: `GridWorkerException.*`; Swift:
/// `GridWorkerError`.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum GridWorkerError {
    /// The caller passed a value the core refuses (empty, too long, not a number, out of
    /// range, unreadable photo file...). Nothing was written; fix the value shown in `field`.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },

    /// An id the device does not know (a point, household, report or task).
    #[error("{kind} not found: {id}")]
    NotFound { kind: String, id: String },

    /// The record is in a state where this does not apply (e.g. adding a photo to a report
    /// already submitted, completing a cancelled task). Refresh and show the current state.
    #[error("{what} is {state}: {reason}")]
    InvalidState {
        what: String,
        state: String,
        reason: String,
    },

    /// The server could not be reached or the connection failed, or another process is
    /// syncing this store right now. Everything stays queued: retry later.
    #[error("network error: {reason}")]
    Network { reason: String },

    /// The server refused the worker's credentials even after one token refresh: the worker
    /// must log in again.
    #[error("authentication failed: {reason}")]
    Authentication { reason: String },

    /// The server no longer accepts this app version: the app must be updated.
    #[error("app update required: server requires protocol {required}")]
    UpdateRequired { required: String },

    /// The sync run was cancelled by the caller; what was committed is consistent.
    #[error("cancelled")]
    Cancelled,

    /// The device's storage failed: disk full, I/O error, a database written by a newer app
    /// version, or a damaged store. `needs_recovery`: the store is damaged (unreadable, or its
    /// database missing or empty); every open fails until the app calls `recover_store`,
    /// which salvages what can be read and reports how many records were recovered and lost.
    #[error("storage error: {reason}")]
    Storage {
        reason: String,
        needs_recovery: bool,
    },

    /// The store is encrypted and the key given is missing or not its key. Nothing was
    /// changed: open again with the right key (after an interrupted `rekey_store`, the new
    /// key first and the old one on `Locked`). Never recover or wipe a locked store: its
    /// records may not have been synced.
    #[error("store locked: {reason:?}")]
    Locked { reason: LockReason },

    /// Anything else: a server or protocol fault, a failing callback, a bug. Worth reporting.
    #[error("{reason}")]
    Other { reason: String },
}

impl From<CoreError> for GridWorkerError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::InvalidInput { field, reason } => {
                GridWorkerError::InvalidInput { field, reason }
            }
            CoreError::NotFound { kind, id } => GridWorkerError::NotFound {
                kind: kind.to_string(),
                id,
            },
            CoreError::InvalidState {
                what,
                state,
                reason,
            } => GridWorkerError::InvalidState {
                what: what.to_string(),
                state,
                reason,
            },
            CoreError::Network { reason } => GridWorkerError::Network { reason },
            e @ CoreError::SyncBusy => GridWorkerError::Network {
                reason: e.to_string(),
            },
            CoreError::Authentication { reason } => GridWorkerError::Authentication { reason },
            CoreError::ClientTooOld { required } => GridWorkerError::UpdateRequired { required },
            CoreError::Cancelled => GridWorkerError::Cancelled,
            e @ CoreError::StoreDamaged { .. } => GridWorkerError::Storage {
                reason: e.to_string(),
                needs_recovery: true,
            },
            e @ CoreError::StoreInUse { .. } => GridWorkerError::InvalidState {
                what: "data_dir".into(),
                state: "open".into(),
                reason: e.to_string(),
            },
            CoreError::Locked { reason } => GridWorkerError::Locked {
                reason: reason.into(),
            },
            e @ (CoreError::DatabaseTooNew { .. }
            | CoreError::Storage(_)
            | CoreError::Migration(_)
            | CoreError::PhotoSealBroken { .. }
            | CoreError::Io(_)) => GridWorkerError::Storage {
                reason: e.to_string(),
                needs_recovery: false,
            },
            e @ (CoreError::Protocol { .. } | CoreError::Server { .. }) => GridWorkerError::Other {
                reason: e.to_string(),
            },
        }
    }
}

/// A callback implemented in Kotlin/Swift threw something that is not a
/// `GridWorkerException`/`GridWorkerError`.
impl From<uniffi::UnexpectedUniFFICallbackError> for GridWorkerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        GridWorkerError::Other {
            reason: format!("callback failed: {}", e.reason),
        }
    }
}

/// What a failing token provider means to the core: the worker's own answer for
/// authentication and network failures, authentication failure otherwise (the run cannot go
/// on without a token either way).
impl From<GridWorkerError> for CoreError {
    fn from(e: GridWorkerError) -> Self {
        match e {
            GridWorkerError::Network { reason } => CoreError::Network { reason },
            GridWorkerError::Cancelled => CoreError::Cancelled,
            GridWorkerError::Authentication { reason } => CoreError::Authentication { reason },
            other => CoreError::Authentication {
                reason: other.to_string(),
            },
        }
    }
}

/// Result alias of the exported API.
pub type Result<T, E = GridWorkerError> = std::result::Result<T, E>;

pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> GridWorkerError {
    GridWorkerError::InvalidInput {
        field: field.into(),
        reason: reason.into(),
    }
}
