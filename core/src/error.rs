//! The core's one error type. Variants are stable: the FFI layer maps them in one place.
//!
//! Messages never carry residents' personal data (names, addresses, notes): only field names,
//! opaque ids and reasons.

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller passed something the core refuses; nothing was written.
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },

    /// An id the store does not know.
    #[error("{kind} not found: {id}")]
    NotFound { kind: NotFoundKind, id: String },

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

    // --- Store integrity and lifecycle (reliability issue 8, defects 4 and 9) ---
    /// The store is damaged (unreadable pages, or the database is missing or empty although
    /// the sidecar says a store existed). Nothing was changed and nothing starts afresh: every
    /// open fails until the app runs [`crate::store::recover::recover_store`].
    #[error(
        "the device's record store is damaged ({damage}); nothing was changed. Run recover \
         (CLI: `gridworker recover`) to salvage its records into a new store"
    )]
    StoreDamaged { damage: StoreDamage },

    /// The store is encrypted and the key given is missing or not its key (told from damage
    /// by the key check in the sidecar, before any page is read). Nothing was read, changed
    /// or moved aside: opening with the right key finds everything.
    #[error("the device's record store is locked ({reason}); nothing was changed")]
    Locked { reason: LockReason },

    /// A wipe, recovery or rekey of a data directory that a `GridWorker` or sync engine in
    /// this process still has open (`open_handles` of them; close them first), or that another
    /// process has open (`open_handles` 0: a CLI command, a background worker's process).
    /// Also opening a store while another process wipes, recovers or rekeys it.
    #[error("{}", in_use(*open_handles))]
    StoreInUse { open_handles: usize },

    /// SQLite failed (disk full, I/O error...). Corruption is never this: see
    /// [`Error::StoreDamaged`].
    #[error("storage error: {0}")]
    Storage(rusqlite::Error),

    /// A migration failed.
    #[error("storage migration error: {0}")]
    Migration(String),

    /// A sealed photo file cannot be read back: altered, truncated, or sealed with another
    /// key (issue 9). Nothing was changed; the sync engine quarantines its records as
    /// `photo_altered`.
    #[error("a sealed photo file is unreadable ({damage}); nothing was changed")]
    PhotoSealBroken {
        damage: crate::store::photos::seal::SealDamage,
    },

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

fn in_use(open_handles: usize) -> String {
    if open_handles == 0 {
        "the data directory is in use by another process; try again when it is done".into()
    } else {
        format!("the data directory is in use by {open_handles} open handle(s); close them first")
    }
}

/// A model rule's refusal is the caller's bad input.
impl From<gridworker_model::Invalid> for Error {
    fn from(e: gridworker_model::Invalid) -> Self {
        Error::InvalidInput {
            field: e.field,
            reason: e.reason,
        }
    }
}

impl Error {
    /// The error's kind as a stable, machine-readable code (the sync outcome's `error`).
    pub fn kind_code(&self) -> &'static str {
        match self {
            Error::InvalidInput { .. } => "invalid_input",
            Error::NotFound { .. } => "not_found",
            Error::InvalidState { .. } => "invalid_state",
            Error::DatabaseTooNew { .. } => "database_too_new",
            Error::StoreDamaged { .. } => "store_damaged",
            Error::Locked { .. } => "locked",
            Error::StoreInUse { .. } => "store_in_use",
            Error::Storage(_) | Error::Migration(_) | Error::Io(_) => "storage",
            Error::PhotoSealBroken { .. } => "photo_seal_broken",
            Error::Network { .. } => "network",
            Error::Authentication { .. } => "authentication",
            Error::ClientTooOld { .. } => "update_required",
            Error::Protocol { .. } => "protocol",
            Error::Server { .. } => "server",
            Error::Cancelled => "cancelled",
            Error::SyncBusy => "sync_busy",
        }
    }

    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn not_found(kind: NotFoundKind, id: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            id: id.into(),
        }
    }
}

/// What an id that was not found names: a closed set, so an app can match it (the FFI
/// mirrors it as `NotFoundKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotFoundKind {
    InspectionPoint,
    Household,
    Report,
    Task,
    Visit,
    Resident,
    Conflict,
    /// A record of the outbox (quarantine operations).
    Record,
    /// A data directory with no store in it.
    Store,
}

impl NotFoundKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotFoundKind::InspectionPoint => "inspection point",
            NotFoundKind::Household => "household",
            NotFoundKind::Report => "report",
            NotFoundKind::Task => "task",
            NotFoundKind::Visit => "visit",
            NotFoundKind::Resident => "resident",
            NotFoundKind::Conflict => "conflict",
            NotFoundKind::Record => "record",
            NotFoundKind::Store => "store",
        }
    }
}

impl std::fmt::Display for NotFoundKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a store is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreDamage {
    /// SQLite finds the file is not a database, or a page of it is corrupt.
    Unreadable,
    /// The database file is empty (zero bytes) where a store existed.
    Empty,
    /// The database file is gone where a store existed.
    Missing,
}

impl std::fmt::Display for StoreDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreDamage::Unreadable => "unreadable database",
            StoreDamage::Empty => "empty database file",
            StoreDamage::Missing => "database file missing",
        })
    }
}

/// Why a store is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockReason {
    /// The store is encrypted and no key was given.
    KeyMissing,
    /// The key given is not the store's key.
    WrongKey,
}

impl std::fmt::Display for LockReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LockReason::KeyMissing => "the store is encrypted and no key was given",
            LockReason::WrongKey => "the key given is not the store's key",
        })
    }
}

/// Whether SQLite reports corruption (as opposed to busy, full, I/O...).
pub fn is_corruption(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// Every SQLite error passes here, so corruption met anywhere (opening, a read, a write in
/// the middle of a sync) surfaces as the one typed [`Error::StoreDamaged`].
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        if is_corruption(&e) {
            Error::StoreDamaged {
                damage: StoreDamage::Unreadable,
            }
        } else {
            Error::Storage(e)
        }
    }
}

impl From<rusqlite_migration::Error> for Error {
    fn from(e: rusqlite_migration::Error) -> Self {
        match e {
            rusqlite_migration::Error::RusqliteError { err, .. } => Error::from(err),
            other => Error::Migration(other.to_string()),
        }
    }
}
