//! [`GridWorker`]: the handle the app holds. Every public method validates its input first and
//! writes a record together with its outbox entry in one transaction, so bad input changes
//! nothing and a killed app never leaves a record the sync engine would miss. The record
//! itself passes its kind's rule in `gridworker_model::validate`, the very check the server
//! runs before storing it, before the transaction writes anything.
//!
//! This file holds the handle and its opening; each job has a file of its own (patrol,
//! reports, tasks, queries, counts, photo files, quarantine, wipe).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, NaiveDate, Utc};

use crate::zone::DistrictZone;
use serde::{Deserialize, Serialize};

use crate::config::{Clock, Config};
use crate::domain::{
    CheckIn, CheckInOutcome, Flag, Grid, Household, InspectionPoint, LocationFix,
    MAX_DESCRIPTION_CHARS, MAX_NOTE_CHARS, MAX_PHOTOS, Photo, PhotoReport, ReportEvaluationPayload,
    ReportPayload, ReportStatus, Task, TaskAckPayload, TaskCompletionPayload, TaskStatus, Visit,
    VisitKind, new_id,
};
use crate::error::{Error, NotFoundKind, Result};
use crate::geo::Position;
use crate::geo::spatial::SpatialIndex;
use crate::policy::{PreviousFix, ValidationPolicy};
use crate::progress::{self, PatrolProgress};
use crate::store::outbox::{self, kind};
use crate::store::records::{self, ReportRow};
use crate::store::{Store, photos, reference, state};
use crate::validate;

mod counts;
mod import;
mod owner;
mod patrol;
mod photo_files;
mod quarantine;
mod queries;
mod reports;
mod residents;
mod tasks;
mod track;
mod wipe;

pub use crate::store::changes::{ChangeKind, ChangeObserver};
pub use queries::{MAX_PAGE, Page};

/// The district's report categories and departments (pulled with the reference data).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportCatalog {
    pub categories: Vec<crate::sync::wire::CatalogEntry>,
    pub departments: Vec<crate::sync::wire::CatalogEntry>,
}
pub use residents::{
    ConflictView, HouseholdCard, HouseholdDetail, HouseholdUpdate, NewResident, ResidentUpdate,
    ResidentView,
};
pub use track::{PatrolState, TrackDay};
pub use wipe::wipe_data_dir;

// Where a listed record stands in the sync queue: callers name these through the worker's
// API, not through the store, whose tables and queries are its own business.
pub use crate::store::outbox::{QuarantineReason, QuarantinedRecord, SyncState};
pub use crate::store::records::Listed;

/// Result of a check-in: the stored record, and whether it was an earlier one returned
/// because the same point was checked within the cooldown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckInResult {
    pub check_in: CheckIn,
    pub duplicate: bool,
}

/// An inspection point near a position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearbyPoint {
    pub point: InspectionPoint,
    pub distance_m: f64,
}

/// An open report that may describe the same problem as one about to be filed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateCandidate {
    pub report: PhotoReport,
    pub distance_m: f64,
}

/// A photo the caller hands over: a file path (never modified) and, if known, when it was
/// taken.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoInput {
    pub path: PathBuf,
    pub captured_at: Option<DateTime<Utc>>,
}

impl PhotoInput {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        PhotoInput {
            path: path.into(),
            captured_at: None,
        }
    }
}

/// Counts per record kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounts {
    pub checkins: u64,
    pub visits: u64,
    pub reports: u64,
    pub tasks: u64,
    pub photos: u64,
}

/// What is waiting, done and refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncCounts {
    pub pending: KindCounts,
    pub synced: KindCounts,
    pub rejected: KindCounts,
    /// Set aside until the worker repairs or discards them (see
    /// [`GridWorker::quarantined_records`] for the reasons).
    pub quarantined: KindCounts,
    pub drafts: u64,
    pub last_sync: Option<DateTime<Utc>>,
    pub clock_offset_ms: Option<i64>,
}

/// The core, opened on one data directory. `Send + Sync`: share it behind an `Arc`.
#[derive(Debug)]
pub struct GridWorker {
    config: Config,
    /// `config`'s time zone, resolved once at open.
    zone: DistrictZone,
    store: Store,
    index: RwLock<Arc<SpatialIndex>>,
    /// Photos are sealed with this key when set (issue 9); `None` keeps them plain.
    photo_key: Option<photos::PhotoKey>,
    /// The sync engine attached to this worker, while it lives: one per worker (two would
    /// run two syncs of one outbox side by side and split its progress and state).
    engine: std::sync::Mutex<std::sync::Weak<()>>,
}

fn payload_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::invalid("record", e.to_string()))
}

impl GridWorker {
    /// Opens the core on `config.data_dir`, creating or migrating its store. With
    /// `config.key` the database is encrypted under it and photos are sealed under a key
    /// derived from it ([`photos::PhotoKey::derive`]): a plain store is migrated on this
    /// first open with a key, its photo files sealed too.
    pub fn open(config: Config) -> Result<GridWorker> {
        let photo_key = match &config.key {
            Some(k) => Some(photos::PhotoKey::derive(k.bytes())?),
            None => None,
        };
        Self::open_with(config, photo_key)
    }

    fn open_with(config: Config, photo_key: Option<photos::PhotoKey>) -> Result<GridWorker> {
        for (field, v) in [
            ("config.worker_id", &config.worker_id),
            ("config.device_id", &config.device_id),
        ] {
            validate::id(field, v)?;
        }
        if let Some(p) = &config.policy_override {
            p.validate()?;
        }
        let zone =
            DistrictZone::from_config(config.time_zone.as_deref(), config.utc_offset_minutes)?;
        if config.data_dir.as_os_str().is_empty() {
            return Err(Error::invalid("config.data_dir", "must not be empty"));
        }
        if config.data_dir.exists() && !config.data_dir.is_dir() {
            return Err(Error::invalid(
                "config.data_dir",
                "exists and is not a directory",
            ));
        }
        let store = Store::open(&config.data_dir, config.key.as_ref())?;
        owner::claim(&store, &config.worker_id)?;
        crate::store::files::create_private_dir(&config.data_dir.join(photos::PHOTO_DIR))?;
        if let Some(key) = &photo_key {
            // Plain photo files (a plain store migrated by this open, or a run killed half-way
            // through sealing) and files a killed rekey left under the previous key are
            // sealed under this key before anything can read or send them.
            crate::store::crypt::finish_photo_reseal(&store, &config.data_dir, key)?;
        }
        let index = store.read(|c| {
            Ok(SpatialIndex::new(
                reference::all_points(c)?,
                reference::all_grids(c)?,
            ))
        })?;
        Ok(GridWorker {
            config,
            zone,
            store,
            index: RwLock::new(Arc::new(index)),
            photo_key,
            engine: std::sync::Mutex::new(std::sync::Weak::new()),
        })
    }

    /// Claims the worker for a sync engine: the token lives as long as the engine. A second
    /// engine while the first lives is refused ([`Error::InvalidState`]).
    pub(crate) fn attach_engine(&self) -> Result<Arc<()>> {
        let mut slot = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        if slot.upgrade().is_some() {
            return Err(Error::InvalidState {
                what: "sync engine",
                state: "attached".into(),
                reason: "this worker already has a sync engine: keep that one, or close it first"
                    .into(),
            });
        }
        let token = Arc::new(());
        *slot = Arc::downgrade(&token);
        Ok(token)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Re-encrypts the store under `new_key` (a plain store becomes encrypted) and reopens
    /// it. The handle is consumed because the database file is replaced: every other handle
    /// on the directory must be dropped first ([`Error::StoreInUse`]). Crash-safe: a kill at
    /// any point leaves a store that opens with the old key or the new one (see
    /// [`crate::store::crypt`]); the app keeps both until this returns. On an error the store
    /// still opens with the old key unless the error came after the commit point, and the
    /// caller opens it again.
    pub fn rekey(self, new_key: crate::DatabaseKey) -> Result<GridWorker> {
        let GridWorker {
            mut config, store, ..
        } = self;
        drop(store);
        crate::store::crypt::rekey_store(&config.data_dir, config.key.as_ref(), &new_key)?;
        config.key = Some(new_key);
        GridWorker::open(config)
    }

    /// Calls `observer` after each committed write that changed one of `kinds` (all kinds
    /// when empty), on a notifier thread, with bursts coalesced (a sync's pages and marks
    /// become a few calls). The registration stays until [`Self::unobserve`] with the
    /// returned id, or until the worker closes: it never silently stops.
    pub fn observe(&self, kinds: &[ChangeKind], observer: Arc<dyn ChangeObserver>) -> u64 {
        self.store.changes().observe(kinds, observer)
    }

    /// Ends an observation; idempotent.
    pub fn unobserve(&self, id: u64) {
        self.store.changes().unobserve(id);
    }

    /// Observers registered now (diagnostics: a screen that forgot to stop its observer).
    pub fn observers(&self) -> usize {
        self.store.changes().observers()
    }

    /// The store, for the sync engine.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The store, for this crate's tests and benchmarks (see [`crate::test_hooks`]).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn test_store(&self) -> &Store {
        &self.store
    }

    /// The keys a photo file of this store may be sealed with (none: a plain store).
    pub fn photo_keys(&self) -> &[photos::PhotoKey] {
        self.photo_key.as_slice()
    }

    fn clock(&self) -> &dyn Clock {
        self.config.clock.as_ref()
    }

    /// The policy in force: the configured override, else the server's, else the defaults.
    pub fn policy(&self) -> Result<ValidationPolicy> {
        if let Some(p) = &self.config.policy_override {
            return Ok(p.clone());
        }
        self.store.read(|c| self.policy_in(c))
    }

    /// [`Self::policy`] read on `c`. A write reads it inside its own transaction: the
    /// writer's page cache is warm, where the reader's was invalidated by the last commit
    /// and would read (and, on an encrypted store, decrypt) its pages again.
    pub(super) fn policy_in(&self, c: &rusqlite::Connection) -> Result<ValidationPolicy> {
        if let Some(p) = &self.config.policy_override {
            return Ok(p.clone());
        }
        Ok(
            state::get::<ValidationPolicy>(c, state::keys::SERVER_POLICY)?
                // A stored policy outside the bounds (kept by an older build) is not trusted.
                .filter(|p| p.validate().is_ok())
                .unwrap_or_default(),
        )
    }

    fn index(&self) -> Arc<SpatialIndex> {
        self.index
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Rebuilds the in-memory spatial index from the store (after reference data changed).
    pub fn reload_reference(&self) -> Result<()> {
        let fresh = self.store.read(|c| {
            Ok(SpatialIndex::new(
                reference::all_points(c)?,
                reference::all_grids(c)?,
            ))
        })?;
        match self.index.write() {
            Ok(mut g) => *g = Arc::new(fresh),
            Err(p) => *p.into_inner() = Arc::new(fresh),
        }
        Ok(())
    }

    /// Replaces reference data wholesale (seeding a device from fixtures, tests). The sync
    /// engine applies incremental changes through the store instead.
    pub fn import_reference(
        &self,
        grids: &[Grid],
        points: &[InspectionPoint],
        households: &[Household],
        worker_grids: &[String],
    ) -> Result<()> {
        import::check(grids, points, households, worker_grids)?;
        self.store.write(|tx| {
            for g in grids {
                reference::upsert_grid(tx, g)?;
            }
            for p in points {
                reference::upsert_point(tx, p)?;
            }
            for h in households {
                reference::upsert_household(tx, h)?;
                crate::store::residents::reindex(tx, &h.id)?;
            }
            reference::set_worker_grids(tx, worker_grids)?;
            Ok(())
        })?;
        self.reload_reference()
    }

    fn local_day(&self, at: DateTime<Utc>) -> NaiveDate {
        self.zone.local_day(at)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }
}

pub(super) fn check_position(field: &str, p: Position) -> Result<()> {
    if !p.lat.is_finite() || !(-90.0..=90.0).contains(&p.lat) {
        return Err(Error::invalid(
            format!("{field}.lat"),
            "must be a finite number between -90 and 90",
        ));
    }
    if !p.lon.is_finite() || !(-180.0..=180.0).contains(&p.lon) {
        return Err(Error::invalid(
            format!("{field}.lon"),
            "must be a finite number between -180 and 180",
        ));
    }
    Ok(())
}
