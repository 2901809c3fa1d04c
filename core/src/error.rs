//! The core's one error type. Variants are stable: the FFI layer maps them in one place.
//!
//! Messages never carry residents' personal data (names, addresses, notes): only field names,
//! opaque ids and reasons.

use std::path::PathBuf;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller passed something the core refuses; nothing was written.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },

    /// An id the store does not know.
    #[error("{kind} not found: {id}")]
    NotFound { kind: &'static str, id: String },

    /// The operation does not apply to the record's current state (e.g. adding a photo to a
    /// report that was already submitted).
    #[error("{what} is {state}: {reason}")]
    InvalidState {
        what: &'static str,
        state: String,
        reason: String,
    },

    /// The database was written by a newer app version; opening it would risk the data.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    DatabaseTooNew { found: i64, supported: i64 },

    /// The database file was unreadable; it was moved aside (never deleted) and a fresh one
    /// will be created on the next open.
    #[error("database was corrupt and has been moved aside to {moved_to}")]
    DatabaseCorrupt { moved_to: PathBuf },

    /// SQLite failed (disk full, I/O error...).
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),

    /// A migration failed.
    #[error("storage migration error: {0}")]
    Migration(String),

    /// Filesystem error (photo store, data directory).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// Could not reach the server or the connection failed mid-way; work stays queued.
    #[error("network error: {reason}")]
    Network { reason: String },

    /// The server refused our credentials even after one token refresh.
    #[error("authentication failed: {reason}")]
    Authentication { reason: String },

    /// The server no longer speaks this client's protocol version.
    #[error("client too old: server requires protocol {required}")]
    ClientTooOld { required: String },

    /// The server answered with something that does not follow the protocol.
    #[error("protocol error: {reason}")]
    Protocol { reason: String },

    /// The server reported an error it considers permanent for this request.
    #[error("server error {status}: {reason}")]
    Server { status: u16, reason: String },

    /// The operation was cancelled by the caller; state is consistent.
    #[error("cancelled")]
    Cancelled,

    /// Another process owns sync for this store right now.
    #[error("sync is already running in another process")]
    SyncBusy,
}

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            id: id.into(),
        }
    }
}

impl From<rusqlite_migration::Error> for Error {
    fn from(e: rusqlite_migration::Error) -> Self {
        match e {
            rusqlite_migration::Error::RusqliteError { err, .. } => Error::Storage(err),
            other => Error::Migration(other.to_string()),
        }
    }
}
