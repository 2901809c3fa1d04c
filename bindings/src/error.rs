//! The one error type Kotlin and Swift see, and the one place core errors are mapped to it.
//!
//! Few variants, each one something an app acts on differently (fix the input, refresh the
//! list, retry later, ask the worker to log in again, ask for an update, report a bug).
//! Messages carry field names, opaque ids and reasons only, never residents' personal data:
//! the core's errors are built that way and nothing is added here.

use gridworker_core::Error as CoreError;
use gridworker_core::LockReason as CoreLockReason;
pub use gridworker_core::NotFoundKind;

// The core's own enum, declared to uniffi: the compiler checks this variant list against it.
/// What an id that was not found names (`NotFound.kind`).
#[uniffi::remote(Enum)]
pub enum NotFoundKind {
    InspectionPoint,
    Household,
    Report,
    Task,
    Visit,
    Resident,
    Conflict,
    /// A record waiting in the outbox (the quarantine calls).
    Record,
    /// The data directory holds no store.
    Store,
}

/// The input an `InvalidInput` is about, typed: the first segment of `field` (`fix` for
/// `fix.lat`, `photos` for `photos[0].captured_at`, `syncOptions` for
/// `sync_options.max_attempts`). `field` keeps the whole path for messages and for picking
/// the element of a list. `Other` is a root this build does not name: the core's own
/// encoding failures (a request, a stored track block), which no input of the app causes,
/// or a new root (a bug: `bindings/tests/errors_and_time.rs` lists the roots the core
/// names and checks each has a variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum InputField {
    /// A `LocationFix` (`fix.lat`, `fix.accuracy_m`, `fix.fix_time`, ...).
    Fix,
    /// A batch of track fixes (`fixes[i]...`).
    Fixes,
    /// A `Position` argument (`position.lat`).
    Position,
    /// A boundary or point coordinate of imported reference data.
    Coordinate,
    PointId,
    HouseholdId,
    ReportId,
    TaskId,
    ResidentId,
    ConflictId,
    VisitId,
    /// A quarantined record's id.
    RecordId,
    /// The record a report is attached to.
    AttachTo,
    /// A visit's note or a task completion's note.
    Note,
    Description,
    Category,
    /// Photos given by path (`photos`, `photos[i]`, `photos[i].captured_at`, `photo`).
    Photos,
    /// A photo's SHA-256.
    Sha256,
    Day,
    Week,
    /// A search query.
    Query,
    /// A page cursor (`after`) or offset.
    Cursor,
    Limit,
    /// `WorkerConfig` (`config.data_dir`, `config.worker_id`, ...).
    Config,
    /// A `ValidationPolicy` override (`policy.checkin_radius_m`, ...).
    Policy,
    /// `SyncOptions` (`sync_options.max_attempts`, ...).
    SyncOptions,
    DataDir,
    /// The store's key (`config.key` is `Config`).
    Key,
    /// `rekey_store`'s new key.
    NewKey,
    /// A resident's name.
    Name,
    IdNumber,
    Phone,
    Relation,
    Tags,
    /// A household's number of residents.
    ResidentCount,
    /// A resident's or household's notes.
    Notes,
    Status,
    /// A conflict resolution's value.
    Value,
    /// An update that changes no field, or fields that cannot go together.
    Fields,
    /// A building's name (`householdsInBuilding`).
    Building,
    /// A grid's code (`pointsPage`, `householdsPage`).
    GridCode,
    /// A search radius (`householdsNearby`).
    RadiusM,
    /// A key-group tag (`keyGroupHouseholds`).
    Tag,
    /// A report evaluation's reason.
    Reason,
    /// An imported household's address.
    Address,
    /// A root this build does not name.
    Other,
}

impl InputField {
    /// The root of a field path.
    pub fn of(path: &str) -> InputField {
        let root = path.split(['.', '[']).next().unwrap_or_default();
        match root {
            "fix" => InputField::Fix,
            "fixes" => InputField::Fixes,
            "position" => InputField::Position,
            "coordinate" => InputField::Coordinate,
            "point_id" => InputField::PointId,
            "household_id" => InputField::HouseholdId,
            "report_id" => InputField::ReportId,
            "task_id" => InputField::TaskId,
            "resident_id" => InputField::ResidentId,
            "conflict_id" => InputField::ConflictId,
            "visit_id" => InputField::VisitId,
            "record_id" | "record" => InputField::RecordId,
            "attach_to" => InputField::AttachTo,
            "note" => InputField::Note,
            "description" => InputField::Description,
            "category" => InputField::Category,
            "photos" | "photo" => InputField::Photos,
            "sha256" | "sha" => InputField::Sha256,
            "day" => InputField::Day,
            "week" => InputField::Week,
            "query" => InputField::Query,
            "after" | "offset" => InputField::Cursor,
            "limit" => InputField::Limit,
            "config" => InputField::Config,
            "policy" => InputField::Policy,
            // TLS pins and extra roots are sync options too.
            "sync_options" | "sync options" | "pinned_sha256" | "tls" => InputField::SyncOptions,
            "data_dir" => InputField::DataDir,
            "key" => InputField::Key,
            "new_key" => InputField::NewKey,
            "name" => InputField::Name,
            "id_number" => InputField::IdNumber,
            "phone" => InputField::Phone,
            "relation" => InputField::Relation,
            "tags" => InputField::Tags,
            "resident_count" => InputField::ResidentCount,
            "notes" => InputField::Notes,
            "status" => InputField::Status,
            "value" => InputField::Value,
            "fields" => InputField::Fields,
            "building" => InputField::Building,
            "grid_code" => InputField::GridCode,
            "radius_m" => InputField::RadiusM,
            "tag" => InputField::Tag,
            "reason" => InputField::Reason,
            "address" => InputField::Address,
            _ => InputField::Other,
        }
    }
}

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
    /// `input` is the field's root as an enum, for matching; `field` its whole path.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        field: String,
        reason: String,
        input: InputField,
    },

    /// An id the device does not know (a point, household, report, task...).
    #[error("{kind} not found: {id}")]
    NotFound { kind: NotFoundKind, id: String },

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
            CoreError::InvalidInput { field, reason } => invalid(field, reason),
            CoreError::NotFound { kind, id } => GridWorkerError::NotFound { kind, id },
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
    let field = field.into();
    GridWorkerError::InvalidInput {
        input: InputField::of(&field),
        field,
        reason: reason.into(),
    }
}
