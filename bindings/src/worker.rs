//! `GridWorker`: the object the app holds, one per data directory.
//!
//! Every method is a direct call of the core's method of the same name. Calls block on
//! SQLite for milliseconds (photo calls copy files): call them off the UI thread (Kotlin
//! `Dispatchers.IO`, a Swift background task). The object is thread-safe.

use std::path::Path;
use std::sync::Arc;

use gridworker_core::GridWorker as CoreWorker;
use gridworker_core::domain as d;

use crate::error::{Result, invalid};
use crate::types::*;

/// Lists cross the boundary in pages of at most this many items: one call per page, not one
/// per item (a JNA call costs microseconds).
pub const MAX_PAGE: u32 = 1000;

/// A page size from the app: negative is `InvalidInput{field: LIMIT}`, above `MAX_PAGE` is
/// `MAX_PAGE`.
pub(crate) fn page_limit(limit: i32) -> Result<u32> {
    Ok(count::<u32>("limit", limit)?.min(MAX_PAGE))
}

/// The offline-first core opened on one data directory. Kotlin: close it with `close()` or
/// `use {}` when the worker logs out; Swift: drop the last reference.
#[derive(Debug, uniffi::Object)]
pub struct GridWorker {
    pub(crate) inner: Arc<CoreWorker>,
}

#[uniffi::export]
impl GridWorker {
    /// Opens (creating or migrating) the store in `config.data_dir`. Fails with `Storage`
    /// when the database was written by a newer app version, or with `Storage` and
    /// `needs_recovery = true` when the store is damaged (left untouched: call
    /// `recover_store`), with `InvalidInput` for a bad configuration.
    #[uniffi::constructor]
    pub fn open(config: WorkerConfig) -> Result<Arc<Self>> {
        let inner = CoreWorker::open(config.to_core()?)?;
        Ok(Arc::new(GridWorker {
            inner: Arc::new(inner),
        }))
    }

    /// Records a patrol check-in at `point_id`. Accepted within the point's radius with a
    /// good fix, otherwise recorded and flagged. Checking the same point again within the
    /// cooldown returns the first check-in with `duplicate = true`.
    pub fn check_in(&self, point_id: String, fix: LocationFix) -> Result<CheckInResult> {
        let fix = fix.to_core("fix")?;
        Ok(self.inner.check_in(&point_id, &fix)?.into())
    }

    /// Records a household visit; flagged when far from the household or outside the
    /// worker's grids.
    pub fn record_visit(
        &self,
        household_id: String,
        kind: VisitKind,
        note: String,
        fix: LocationFix,
    ) -> Result<Visit> {
        let fix = fix.to_core("fix")?;
        Ok(self
            .inner
            .record_visit(&household_id, kind, &note, &fix)?
            .into())
    }

    /// Starts a report draft (no photos, no position yet). Drafts stay on the device.
    pub fn create_report_draft(
        &self,
        category: String,
        description: String,
    ) -> Result<PhotoReport> {
        Ok(self
            .inner
            .create_report_draft(&category, &description)?
            .into())
    }

    /// Copies a photo into the store and adds it to a draft (1-9 photos per report). The
    /// caller's file is never modified.
    pub fn add_photo_to_draft(&self, report_id: String, photo: PhotoInput) -> Result<Photo> {
        let photo = photo.to_core("photo")?;
        Ok(self.inner.add_photo_to_draft(&report_id, &photo)?.into())
    }

    /// Files a draft at the fix's position; it is queued for sync.
    pub fn submit_report(
        &self,
        report_id: String,
        fix: LocationFix,
        attach_to: Option<String>,
    ) -> Result<PhotoReport> {
        let fix = fix.to_core("fix")?;
        Ok(self
            .inner
            .submit_report(&report_id, &fix, attach_to.as_deref())?
            .into())
    }

    /// Files a report in one step (1-9 photos). Everything is checked before anything is
    /// written. `attach_to`: an existing report this one adds to (see
    /// `duplicateCandidates`).
    pub fn file_report(
        &self,
        category: String,
        description: String,
        photos: Vec<PhotoInput>,
        fix: LocationFix,
        attach_to: Option<String>,
    ) -> Result<PhotoReport> {
        let fix = fix.to_core("fix")?;
        let photos = photos_to_core(&photos)?;
        Ok(self
            .inner
            .file_report(&category, &description, &photos, &fix, attach_to.as_deref())?
            .into())
    }

    /// Deletes a draft and the photos only it used.
    pub fn delete_draft(&self, report_id: String) -> Result<()> {
        Ok(self.inner.delete_draft(&report_id)?)
    }

    /// One report (the worker's own or one pulled for the duplicate hint).
    pub fn report(&self, report_id: String) -> Result<PhotoReport> {
        Ok(self.inner.report(&report_id)?.into())
    }

    /// Open reports of `category` near the fix that may describe the same problem, nearest
    /// first: offer "add to this report" before filing a new one.
    pub fn duplicate_candidates(
        &self,
        category: String,
        fix: LocationFix,
    ) -> Result<Vec<DuplicateCandidate>> {
        let fix = fix.to_core("fix")?;
        Ok(self
            .inner
            .duplicate_candidates(&category, &fix)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The `limit` (1-500) inspection points nearest to a WGS-84 position (convert map
    /// coordinates with `toWgs84`).
    pub fn nearby_points(&self, position: Position, limit: i32) -> Result<Vec<NearbyPoint>> {
        Ok(self
            .inner
            .nearby_points(position, count("limit", limit)?)?
            .into_iter()
            .collect())
    }

    /// The grid containing a WGS-84 position, if any.
    pub fn grid_at(&self, position: Position) -> Result<Option<Grid>> {
        Ok(self.inner.grid_at(position)?)
    }

    /// Where the worker stands: off duty, on patrol or paused.
    pub fn patrol_state(&self) -> Result<PatrolState> {
        Ok(self.inner.patrol_state()?.into())
    }

    /// Starts a patrol session; `InvalidState` when one is running.
    pub fn start_patrol(&self) -> Result<PatrolState> {
        Ok(self.inner.start_patrol()?.into())
    }

    pub fn pause_patrol(&self) -> Result<PatrolState> {
        Ok(self.inner.pause_patrol()?.into())
    }

    pub fn resume_patrol(&self) -> Result<PatrolState> {
        Ok(self.inner.resume_patrol()?.into())
    }

    pub fn stop_patrol(&self) -> Result<PatrolState> {
        Ok(self.inner.stop_patrol()?.into())
    }

    /// Records a batch of fixes from the location stream: buffer the platform's callbacks
    /// and hand them over every few seconds (one call, one transaction). A bad fix refuses
    /// the batch with `InvalidInput{field = "fixes[i]..."}`; off patrol or paused is
    /// `InvalidState`. Returns how many were stored.
    pub fn add_track_fixes(&self, fixes: Vec<LocationFix>) -> Result<i32> {
        let core: Vec<d::LocationFix> = fixes
            .into_iter()
            .enumerate()
            .map(|(i, f)| f.to_core(&format!("fixes[{i}]")))
            .collect::<Result<_>>()?;
        Ok(int(self.inner.add_track_fixes(&core)?))
    }

    /// Evaluates one of the worker's resolved reports (评价), for the worker or for the
    /// resident who reported through the worker: `satisfied` closes it; otherwise it is
    /// reopened and `reason` (required then, at most 500 characters) says why. Synced like
    /// every record; the returned report shows the new status at once. `InvalidState` when
    /// the report is not the worker's or not resolved (nothing is written).
    pub fn evaluate_report(
        &self,
        report_id: String,
        satisfied: bool,
        reason: String,
    ) -> Result<PhotoReport> {
        Ok(self
            .inner
            .evaluate_report(&report_id, satisfied, &reason)?
            .into())
    }

    /// The patrol of a local day (`None`: today): distance, time, time in the
    /// worker's grids, points passed, coverage, gaps and spoof signs.
    pub fn track_summary(&self, day: Option<LocalDay>) -> Result<TrackSummary> {
        Ok(self.inner.track_summary(day.map(|d| d.0))?.into())
    }

    /// The day's summary with its simplified line (`None`: today), for drawing the patrol on
    /// a map: one piece per stretch between gaps.
    pub fn track_day(&self, day: Option<LocalDay>) -> Result<TrackDay> {
        Ok(self.inner.track_day(day.map(|d| d.0))?.into())
    }

    /// Patrol progress for a local day (`None`: today).
    pub fn progress_day(&self, day: Option<LocalDay>) -> Result<PatrolProgress> {
        PatrolProgress::from_core(self.inner.progress_day(day.map(|d| d.0))?)
    }

    /// Patrol progress for an ISO week (`None`: this week).
    pub fn progress_week(&self, week: Option<IsoWeek>) -> Result<PatrolProgress> {
        let week = week.map(IsoWeek::to_core).transpose()?;
        PatrolProgress::from_core(self.inner.progress_week(week)?)
    }

    /// Check-ins newest first, a page at a time: `after` = the previous page's `next` (`null`
    /// for the first page), at most 1000 per page. Records added meanwhile never shift a page.
    pub fn checkins_page(&self, after: Option<String>, limit: i32) -> Result<CheckInPage> {
        let p = self
            .inner
            .checkins_page(after.as_deref(), page_limit(limit)?)?;
        Ok(CheckInPage {
            items: p.items.into_iter().map(Into::into).collect(),
            next: p.next,
        })
    }

    /// Visits newest first, a page at a time (see `checkinsPage`).
    pub fn visits_page(&self, after: Option<String>, limit: i32) -> Result<VisitPage> {
        let p = self
            .inner
            .visits_page(after.as_deref(), page_limit(limit)?)?;
        Ok(VisitPage {
            items: p.items.into_iter().map(Into::into).collect(),
            next: p.next,
        })
    }

    /// The worker's reports (drafts included) newest first, a page at a time (see
    /// `checkinsPage`).
    pub fn reports_page(&self, after: Option<String>, limit: i32) -> Result<ReportPage> {
        let p = self
            .inner
            .reports_page(after.as_deref(), page_limit(limit)?)?;
        Ok(ReportPage {
            items: p.items.into_iter().map(Into::into).collect(),
            next: p.next,
        })
    }

    /// The district's report categories and departments (for the report screen's pickers).
    pub fn report_catalog(&self) -> Result<ReportCatalog> {
        Ok(self.inner.report_catalog()?.into())
    }

    /// Every grid the device knows (the district's reference data), by code.
    pub fn grids(&self) -> Result<Vec<Grid>> {
        Ok(self.inner.grids()?)
    }

    /// The codes of the grids this worker is responsible for.
    pub fn worker_grids(&self) -> Result<Vec<String>> {
        Ok(self.inner.worker_grids()?)
    }

    /// A grid's inspection points by id, a page at a time (see `checkinsPage`).
    pub fn points_page(
        &self,
        grid_code: String,
        after: Option<String>,
        limit: i32,
    ) -> Result<PointPage> {
        let p = self
            .inner
            .points_page(&grid_code, after.as_deref(), page_limit(limit)?)?;
        Ok(PointPage {
            items: p.items,
            next: p.next,
        })
    }

    /// A grid's households by id, a page at a time (see `checkinsPage`).
    pub fn households_page(
        &self,
        grid_code: String,
        after: Option<String>,
        limit: i32,
    ) -> Result<HouseholdPage> {
        let p = self
            .inner
            .households_page(&grid_code, after.as_deref(), page_limit(limit)?)?;
        Ok(HouseholdPage {
            items: p.items,
            next: p.next,
        })
    }

    pub fn list_checkins(&self, offset: i32, limit: i32) -> Result<Vec<ListedCheckIn>> {
        Ok(self
            .inner
            .list_checkins(count("offset", offset)?, page_limit(limit)?)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// A page of the worker's visits, newest first, with sync state.
    pub fn list_visits(&self, offset: i32, limit: i32) -> Result<Vec<ListedVisit>> {
        Ok(self
            .inner
            .list_visits(count("offset", offset)?, page_limit(limit)?)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// A page of the worker's reports (drafts included) with sync state and lifecycle
    /// status.
    pub fn list_reports(&self, offset: i32, limit: i32) -> Result<Vec<ListedReport>> {
        Ok(self
            .inner
            .list_reports(count("offset", offset)?, page_limit(limit)?)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// A page of the tasks dispatched to the worker.
    pub fn list_tasks(&self, offset: i32, limit: i32) -> Result<Vec<Task>> {
        Ok(self
            .inner
            .list_tasks(count("offset", offset)?, page_limit(limit)?)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Acknowledges a task (报到) at the core's clock; twice is a no-op.
    pub fn acknowledge_task(&self, task_id: String) -> Result<Task> {
        Ok(self.inner.acknowledge_task(&task_id)?.into())
    }

    /// Completes a task with a note, 0-9 photos and a fix.
    pub fn complete_task(
        &self,
        task_id: String,
        note: String,
        photos: Vec<PhotoInput>,
        fix: LocationFix,
    ) -> Result<TaskCompletion> {
        let fix = fix.to_core("fix")?;
        let photos = photos_to_core(&photos)?;
        Ok(self
            .inner
            .complete_task(&task_id, &note, &photos, &fix)?
            .into())
    }

    /// What is pending, synced, rejected and quarantined, per kind.
    pub fn sync_counts(&self) -> Result<SyncCounts> {
        Ok(self.inner.sync_counts()?.into())
    }

    /// Records set aside because they cannot be sent as they stand, oldest first.
    pub fn quarantined_records(&self) -> Result<Vec<QuarantinedRecord>> {
        Ok(map(self.inner.quarantined_records()?))
    }

    /// Puts a photo back into a record quarantined for a photo. The original bytes (found
    /// again in the gallery) release the original record unchanged; another photo takes the
    /// bad one's place and the record is queued again. `InvalidState` when the record is not
    /// quarantined for a photo.
    pub fn repair_quarantined_photo(&self, record_id: String, photo: PhotoInput) -> Result<()> {
        let photo = photo.to_core("photo")?;
        Ok(self.inner.repair_quarantined_photo(&record_id, &photo)?)
    }

    /// Re-files a record quarantined for a photo without that photo (a report must keep at
    /// least one photo: `InvalidInput` otherwise).
    pub fn refile_without_quarantined_photo(&self, record_id: String) -> Result<()> {
        Ok(self.inner.refile_without_quarantined_photo(&record_id)?)
    }

    /// Discards a quarantined record and the photo files only it used; records waiting for
    /// it are released and go as recorded. A discarded residents edit, resolution or new
    /// resident no longer shows: the phone shows what it showed before it.
    pub fn discard_quarantined(&self, record_id: String) -> Result<()> {
        Ok(self.inner.discard_quarantined(&record_id)?)
    }

    /// Removes photo files nobody needs any more; returns how many.
    pub fn collect_photos(&self) -> Result<i64> {
        Ok(long(self.inner.collect_photos()?))
    }

    /// Absolute path of a stored photo, if it is still on the device (uploaded photos are
    /// removed). Plain stores only: a store that seals its photos answers `InvalidState`;
    /// use `photo_bytes`.
    pub fn photo_path(&self, sha256: String) -> Result<Option<String>> {
        Ok(self
            .inner
            .photo_path(&sha256)?
            .map(|p| p.to_string_lossy().into_owned()))
    }

    /// The bytes of a stored photo for display, if it is still on the device. Works whether
    /// the store seals its photos or not (a sealed store hands out no paths).
    pub fn photo_bytes(&self, sha256: String) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.photo_bytes(&sha256)?)
    }

    /// Replaces reference data wholesale (seeding a device, QA). Sync keeps it current
    /// afterwards.
    pub fn import_reference(
        &self,
        grids: Vec<Grid>,
        points: Vec<InspectionPoint>,
        households: Vec<Household>,
        worker_grids: Vec<String>,
    ) -> Result<()> {
        let grids: Vec<d::Grid> = grids.into_iter().collect();
        let points: Vec<d::InspectionPoint> = points.into_iter().collect();
        let households: Vec<d::Household> = households.into_iter().collect();
        Ok(self
            .inner
            .import_reference(&grids, &points, &households, &worker_grids)?)
    }

    /// The validation policy in force (override, else the server's, else the defaults).
    pub fn policy(&self) -> Result<ValidationPolicy> {
        Ok(self.inner.policy()?.into())
    }

    /// The data directory this object was opened on.
    pub fn data_dir(&self) -> String {
        self.inner.data_dir().to_string_lossy().into_owned()
    }
}

fn check_data_dir(data_dir: &str) -> Result<()> {
    if data_dir.is_empty() || data_dir.contains('\0') {
        return Err(invalid("data_dir", "must be a non-empty path without NUL"));
    }
    Ok(())
}

/// Erases a worker's data from the device (shared or reissued phones): everything the core
/// wrote in the directory (database, sidecar, lock files, kept damaged copies, photos).
/// Refused with `InvalidState` (what = "data_dir", state = "open") while a `GridWorker` or
/// `SyncEngine` of this process, or a store of another process (a background worker's), is
/// open on it: close them first.
#[uniffi::export]
pub fn wipe_data_dir(data_dir: String) -> Result<()> {
    check_data_dir(&data_dir)?;
    Ok(gridworker_core::worker::wipe_data_dir(Path::new(
        &data_dir,
    ))?)
}

/// Re-encrypts the store of `config` (opened with `config.key`; `None`: a plain store,
/// which becomes encrypted) under `new_key`: database and photos. Close every `GridWorker`
/// and `SyncEngine` on the directory first (else `InvalidState`, what = "data_dir").
/// Crash-safe: a kill at any point leaves a store that opens with the old key or the new
/// one and has lost nothing, so the app keeps both keys until this returns and, after a
/// crash, opens with the new key first and the old one on `Locked`. Takes about as long as
/// copying the database and its photos once.
#[uniffi::export]
pub fn rekey_store(config: WorkerConfig, new_key: Vec<u8>) -> Result<()> {
    let config = config.to_core()?;
    let new_key = database_key("new_key", Some(&new_key))?
        .ok_or_else(|| invalid("new_key", "must be exactly 32 bytes"))?;
    CoreWorker::open(config)?.rekey(new_key)?;
    Ok(())
}

/// The built-in validation policy (start from it to build an override).
#[uniffi::export]
pub fn default_policy() -> ValidationPolicy {
    gridworker_core::policy::ValidationPolicy::default().into()
}

fn check_coordinate(field: &str, lat: f64, lon: f64) -> Result<()> {
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(invalid(
            format!("{field}.lat"),
            "must be a finite number between -90 and 90",
        ));
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(invalid(
            format!("{field}.lon"),
            "must be a finite number between -180 and 180",
        ));
    }
    Ok(())
}

/// Converts a coordinate in any system (e.g. a tap on an AMap/Baidu map) to WGS-84.
#[uniffi::export]
pub fn to_wgs84(coordinate: Coordinate) -> Result<Position> {
    check_coordinate("coordinate", coordinate.lat, coordinate.lon)?;
    Ok(gridworker_core::geo::Position::from_crs(
        coordinate.lat,
        coordinate.lon,
        coordinate.crs,
    ))
}

/// Expresses a WGS-84 position in `crs` (to draw it on a Chinese map).
#[uniffi::export]
pub fn from_wgs84(position: Position, crs: Crs) -> Result<Coordinate> {
    check_coordinate("position", position.lat, position.lon)?;
    let (lat, lon) = position.to_crs(crs);
    Ok(Coordinate { lat, lon, crs })
}

/// What `recover_store` salvaged.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecoveryReport {
    /// The worker's records (check-ins, visits, reports, task updates) in the new store.
    pub recovered: i64,
    /// The worker's records that could not be read (an upper bound).
    pub lost: i64,
    /// Other rows (record details, reference data, device state) copied and lost.
    pub other_rows_recovered: i64,
    pub other_rows_lost: i64,
    /// Tables in which something could not be read.
    pub damaged_tables: Vec<String>,
    /// Where the damaged database is kept for support (owner-only), if there was one.
    pub kept_at: Option<String>,
    /// The store was healthy: nothing was changed.
    pub was_healthy: bool,
}

/// Salvages every readable record and queued upload of a damaged store (one that fails to
/// open with `Storage` and `needs_recovery = true`) into a fresh store, keeps the damaged
/// file for support and reports counts. A healthy store is left unchanged. `key`: the
/// store's key (`None` for a plain store); the salvaged store is encrypted under it. A
/// missing or wrong key is `Locked` and changes nothing. Refused with `InvalidState` while
/// a `GridWorker` of this process is open on the directory.
#[uniffi::export(default(key = None))]
pub fn recover_store(data_dir: String, key: Option<Vec<u8>>) -> Result<RecoveryReport> {
    check_data_dir(&data_dir)?;
    let key = database_key("key", key.as_deref())?;
    let r = gridworker_core::recover_store(Path::new(&data_dir), key.as_ref())?;
    Ok(RecoveryReport {
        recovered: long(r.recovered),
        lost: long(r.lost),
        other_rows_recovered: long(r.other_rows_recovered),
        other_rows_lost: long(r.other_rows_lost),
        damaged_tables: r.damaged_tables,
        kept_at: r.kept_at.map(|p| p.to_string_lossy().into_owned()),
        was_healthy: r.was_healthy,
    })
}
