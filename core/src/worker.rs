//! [`GridWorker`]: the handle the app holds. Every public method validates its input first and
//! writes a record together with its outbox entry in one transaction, so bad input changes
//! nothing and a killed app never leaves a record the sync engine would miss.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Clock, Config};
use crate::domain::{
    CheckIn, CheckInOutcome, Flag, Grid, Household, InspectionPoint, LocationFix,
    MAX_DESCRIPTION_CHARS, MAX_NOTE_CHARS, MAX_PHOTOS, Photo, PhotoReport, ReportPayload,
    ReportStatus, Task, TaskAckPayload, TaskCompletionPayload, TaskStatus, Visit, VisitKind,
    new_id,
};
use crate::error::{Error, Result};
use crate::geo::Position;
use crate::geo::spatial::SpatialIndex;
use crate::policy::{PreviousFix, ValidationPolicy};
use crate::progress::{self, PatrolProgress};
use crate::store::outbox::{self, kind};
use crate::store::records::{self, Listed, ReportRow};
use crate::store::{Store, photos, reference, state};

mod quarantine;

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
    store: Store,
    index: RwLock<Arc<SpatialIndex>>,
    /// Photos are sealed with this key when set (issue 9); `None` keeps them plain.
    photo_key: Option<photos::PhotoKey>,
}

const MAX_ID_LEN: usize = 128;
const MAX_CATEGORY_LEN: usize = 64;

fn check_id(field: &str, id: &str) -> Result<()> {
    if id.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(Error::invalid(
            field,
            format!("longer than {MAX_ID_LEN} bytes"),
        ));
    }
    Ok(())
}

fn check_text(field: &str, text: &str, max_chars: usize) -> Result<()> {
    // Count lazily: a hostile multi-megabyte string is rejected without a full pass.
    if text.len() > max_chars * 4 || text.chars().count() > max_chars {
        return Err(Error::invalid(
            field,
            format!("longer than {max_chars} characters"),
        ));
    }
    if text.contains('\0') {
        return Err(Error::invalid(field, "contains a NUL character"));
    }
    Ok(())
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
            check_id(field, v)?;
        }
        if let Some(p) = &config.policy_override {
            p.validate()?;
        }
        if !(-14 * 60..=14 * 60).contains(&config.utc_offset_minutes) {
            return Err(Error::invalid(
                "config.utc_offset_minutes",
                "must be within ±14 hours",
            ));
        }
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
            store,
            index: RwLock::new(Arc::new(index)),
            photo_key,
        })
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

    /// The store, for the sync engine and tools.
    pub fn store(&self) -> &Store {
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
        Ok(self
            .store
            .read(|c| state::get::<ValidationPolicy>(c, state::keys::SERVER_POLICY))?
            // A stored policy outside the bounds (kept by an older build) is not trusted.
            .filter(|p| p.validate().is_ok())
            .unwrap_or_default())
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
        self.store.write(|tx| {
            for g in grids {
                reference::upsert_grid(tx, g)?;
            }
            for p in points {
                reference::upsert_point(tx, p)?;
            }
            for h in households {
                reference::upsert_household(tx, h)?;
            }
            reference::set_worker_grids(tx, worker_grids)?;
            Ok(())
        })?;
        self.reload_reference()
    }

    fn local_day(&self, at: DateTime<Utc>) -> NaiveDate {
        (at + Duration::minutes(i64::from(self.config.utc_offset_minutes))).date_naive()
    }

    /// Judges the fix and returns (WGS-84 position, fix flags); updates nothing.
    fn judge_fix(
        &self,
        tx: &rusqlite::Connection,
        policy: &ValidationPolicy,
        fix: &LocationFix,
        now: DateTime<Utc>,
    ) -> Result<(Position, Vec<Flag>)> {
        let position = fix.position();
        let prev: Option<PreviousFix> = state::get(tx, state::keys::LAST_FIX)?;
        Ok((
            position,
            policy.fix_flags(fix, position, now, prev.as_ref()),
        ))
    }

    fn remember_fix(
        tx: &rusqlite::Connection,
        fix: &LocationFix,
        position: Position,
    ) -> Result<()> {
        state::put(tx, state::keys::LAST_FIX, &PreviousFix::of(fix, position))
    }

    /// Records a patrol check-in at `point_id`.
    ///
    /// Accepted when within the point's radius with a good fix; otherwise recorded and flagged
    /// with the reasons. A second check-in at the same point within the cooldown returns the
    /// first one (`duplicate = true`) and writes nothing.
    pub fn check_in(&self, point_id: &str, fix: &LocationFix) -> Result<CheckInResult> {
        check_id("point_id", point_id)?;
        fix.validate("fix")?;
        let policy = self.policy()?;
        let now = self.clock().now();
        let (worker, device) = (&self.config.worker_id, &self.config.device_id);
        self.store.write(|tx| {
            let point = reference::point(tx, point_id)?
                .ok_or_else(|| Error::not_found("inspection point", point_id))?;
            let probe = records::CooldownProbe {
                point_id,
                now,
                fix,
                cooldown_s: policy.checkin_cooldown_s,
                same_clock_tolerance_s: policy.max_clock_drift_s,
            };
            if let Some(existing) = records::cooldown_suppressor(tx, &probe, worker, device)? {
                return Ok(CheckInResult {
                    check_in: existing.record,
                    duplicate: true,
                });
            }
            let (position, mut flags) = self.judge_fix(tx, &policy, fix, now)?;
            let distance_m = position.distance_m(point.position);
            let radius = if point.radius_m > 0.0 {
                point.radius_m
            } else {
                policy.checkin_radius_m
            };
            if distance_m > radius {
                flags.push(Flag::OutsideRadius);
                flags.sort();
            }
            let check_in = CheckIn {
                id: new_id(),
                worker_id: worker.clone(),
                device_id: device.clone(),
                point_id: point_id.to_string(),
                fix: fix.clone(),
                position,
                distance_m,
                outcome: if flags.is_empty() {
                    CheckInOutcome::Accepted
                } else {
                    CheckInOutcome::Flagged
                },
                flags,
                recorded_at: now,
            };
            records::insert_checkin(tx, &check_in, &self.local_day(now).to_string())?;
            outbox::append(
                tx,
                kind::CHECKIN,
                &check_in.id,
                payload_json(&check_in)?,
                now,
                fix.monotonic_ms,
            )?;
            Self::remember_fix(tx, fix, position)?;
            Ok(CheckInResult {
                check_in,
                duplicate: false,
            })
        })
    }

    /// Records a household visit. The distance to the household is kept; beyond the policy's
    /// limit, or outside the worker's grids, the visit is flagged.
    pub fn record_visit(
        &self,
        household_id: &str,
        kind: VisitKind,
        note: &str,
        fix: &LocationFix,
    ) -> Result<Visit> {
        check_id("household_id", household_id)?;
        check_text("note", note, MAX_NOTE_CHARS)?;
        fix.validate("fix")?;
        let policy = self.policy()?;
        let now = self.clock().now();
        let index = self.index();
        self.store.write(|tx| {
            let household = reference::household(tx, household_id)?
                .ok_or_else(|| Error::not_found("household", household_id))?;
            let (position, mut flags) = self.judge_fix(tx, &policy, fix, now)?;
            let distance_m = position.distance_m(household.position);
            if distance_m > policy.visit_max_distance_m {
                flags.push(Flag::FarFromHousehold);
            }
            let mine = reference::worker_grids(tx)?;
            // Without assigned grids (never synced) there is nothing to judge against.
            if !mine.is_empty()
                && !index
                    .grid_at(position)
                    .is_some_and(|g| mine.contains(&g.code))
            {
                flags.push(Flag::OutsideWorkerGrids);
            }
            flags.sort();
            let visit = Visit {
                id: new_id(),
                worker_id: self.config.worker_id.clone(),
                device_id: self.config.device_id.clone(),
                household_id: household_id.to_string(),
                kind,
                note: note.to_string(),
                fix: fix.clone(),
                position,
                distance_m,
                flags,
                recorded_at: now,
            };
            records::insert_visit(tx, &visit)?;
            outbox::append(
                tx,
                kind::VISIT,
                &visit.id,
                payload_json(&visit)?,
                now,
                fix.monotonic_ms,
            )?;
            Self::remember_fix(tx, fix, position)?;
            Ok(visit)
        })
    }

    fn check_category(category: &str) -> Result<()> {
        if category.trim().is_empty() {
            return Err(Error::invalid("category", "must not be empty"));
        }
        if category.len() > MAX_CATEGORY_LEN {
            return Err(Error::invalid(
                "category",
                format!("longer than {MAX_CATEGORY_LEN} bytes"),
            ));
        }
        Ok(())
    }

    /// Copies photos into the store's temp area, checking each; nothing is referenced yet.
    fn stage_photos(
        &self,
        photos_in: &[PhotoInput],
        policy: &ValidationPolicy,
    ) -> Result<Vec<photos::StagedPhoto>> {
        let mut staged = Vec::with_capacity(photos_in.len());
        for (i, p) in photos_in.iter().enumerate() {
            let mut s = photos::stage(
                &self.config.data_dir,
                &p.path,
                policy.max_photo_bytes,
                &format!("photos[{i}]"),
                self.photo_key.as_ref(),
            )?;
            s.photo.captured_at = p.captured_at;
            staged.push(s);
        }
        Ok(staged)
    }

    /// After a failed write, removes photo files the failed transaction had moved into place
    /// but which no committed row references.
    fn forget_uncommitted(&self, staged: &[photos::StagedPhoto]) {
        let _ = self.store.read(|c| {
            for s in staged {
                if photos::path_of(c, &self.config.data_dir, &s.photo.sha256)?.is_none() {
                    let rel = format!(
                        "{}/{}.{}",
                        photos::PHOTO_DIR,
                        s.photo.sha256,
                        s.photo.media_type.extension()
                    );
                    let _ = std::fs::remove_file(self.config.data_dir.join(rel));
                }
            }
            Ok(())
        });
    }

    fn write_with_photos<T>(
        &self,
        staged: &[photos::StagedPhoto],
        mut f: impl FnMut(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let result = self.store.write(|tx| {
            for s in staged {
                photos::commit(tx, &self.config.data_dir, s)?;
            }
            f(tx)
        });
        if result.is_err() {
            self.forget_uncommitted(staged);
        }
        result
    }

    /// Starts a report draft (no photos yet). Drafts stay on the device until submitted.
    pub fn create_report_draft(&self, category: &str, description: &str) -> Result<PhotoReport> {
        Self::check_category(category)?;
        check_text("description", description, MAX_DESCRIPTION_CHARS)?;
        let now = self.clock().now();
        let id = new_id();
        self.store
            .write(|tx| insert_draft(tx, &id, category, description, now))?;
        self.report(&id)
    }

    fn draft(&self, tx: &rusqlite::Connection, report_id: &str) -> Result<PhotoReport> {
        let (rep, _) =
            records::report(tx, report_id)?.ok_or_else(|| Error::not_found("report", report_id))?;
        if !rep.own || rep.status != ReportStatus::Draft {
            return Err(Error::InvalidState {
                what: "report",
                state: rep.status.code().to_string(),
                reason: "only drafts can be changed".into(),
            });
        }
        Ok(rep)
    }

    /// Adds a photo to a draft (copied into the store; the caller's file is untouched).
    pub fn add_photo_to_draft(&self, report_id: &str, photo: &PhotoInput) -> Result<Photo> {
        check_id("report_id", report_id)?;
        let policy = self.policy()?;
        // Check the draft before copying megabytes.
        let rep = self.store.read(|c| self.draft(c, report_id))?;
        if rep.photos.len() >= MAX_PHOTOS {
            return Err(Error::invalid(
                "photos",
                format!("a report holds at most {MAX_PHOTOS} photos"),
            ));
        }
        let staged = self.stage_photos(std::slice::from_ref(photo), &policy)?;
        let now = self.clock().now();
        self.write_with_photos(&staged, |tx| {
            let rep = self.draft(tx, report_id)?;
            if rep.photos.len() >= MAX_PHOTOS {
                return Err(Error::invalid(
                    "photos",
                    format!("a report holds at most {MAX_PHOTOS} photos"),
                ));
            }
            records::add_report_photos(tx, report_id, &[staged[0].photo.sha256.clone()])?;
            tx.execute(
                "UPDATE reports SET updated_at = ?2 WHERE id = ?1",
                rusqlite::params![report_id, now],
            )?;
            Ok(())
        })?;
        Ok(staged[0].photo.clone())
    }

    /// Files a draft: it gets its position and enters the outbox (status `queued`).
    pub fn submit_report(
        &self,
        report_id: &str,
        fix: &LocationFix,
        attach_to: Option<&str>,
    ) -> Result<PhotoReport> {
        check_id("report_id", report_id)?;
        fix.validate("fix")?;
        if let Some(a) = attach_to {
            check_id("attach_to", a)?;
        }
        let policy = self.policy()?;
        let now = self.clock().now();
        self.store.write(|tx| {
            let rep = self.draft(tx, report_id)?;
            if rep.photos.is_empty() {
                return Err(Error::invalid(
                    "photos",
                    "a report needs at least one photo",
                ));
            }
            self.queue_report(tx, &policy, &rep, fix, attach_to, now)
        })?;
        self.report(report_id)
    }

    fn queue_report(
        &self,
        tx: &rusqlite::Transaction<'_>,
        policy: &ValidationPolicy,
        rep: &PhotoReport,
        fix: &LocationFix,
        attach_to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (position, flags) = self.judge_fix(tx, policy, fix, now)?;
        let payload = ReportPayload {
            id: rep.id.clone(),
            worker_id: self.config.worker_id.clone(),
            device_id: self.config.device_id.clone(),
            category: rep.category.clone(),
            description: rep.description.clone(),
            photos: rep.photos.clone(),
            fix: fix.clone(),
            position,
            flags: flags.clone(),
            attach_to: attach_to.map(str::to_string),
            created_at: rep.created_at,
            submitted_at: now,
        };
        tx.execute(
            "UPDATE reports SET lat = ?2, lon = ?3, fix = ?4, flags = ?5, status = 'queued', attach_to = ?6, updated_at = ?7
             WHERE id = ?1",
            rusqlite::params![
                rep.id,
                position.lat,
                position.lon,
                payload_json(fix)?,
                payload_json(&flags)?,
                attach_to,
                now
            ],
        )?;
        outbox::append(
            tx,
            kind::REPORT,
            &rep.id,
            payload_json(&payload)?,
            now,
            fix.monotonic_ms,
        )?;
        Self::remember_fix(tx, fix, position)
    }

    /// Files a report in one step: 1-9 photos, category, description, position. Everything is
    /// checked before anything is written.
    pub fn file_report(
        &self,
        category: &str,
        description: &str,
        photos_in: &[PhotoInput],
        fix: &LocationFix,
        attach_to: Option<&str>,
    ) -> Result<PhotoReport> {
        Self::check_category(category)?;
        check_text("description", description, MAX_DESCRIPTION_CHARS)?;
        fix.validate("fix")?;
        if let Some(a) = attach_to {
            check_id("attach_to", a)?;
        }
        if photos_in.is_empty() {
            return Err(Error::invalid(
                "photos",
                "a report needs at least one photo",
            ));
        }
        if photos_in.len() > MAX_PHOTOS {
            return Err(Error::invalid(
                "photos",
                format!("a report holds at most {MAX_PHOTOS} photos"),
            ));
        }
        let policy = self.policy()?;
        let staged = self.stage_photos(photos_in, &policy)?;
        let now = self.clock().now();
        let id = new_id();
        let shas: Vec<String> = staged.iter().map(|s| s.photo.sha256.clone()).collect();
        self.write_with_photos(&staged, |tx| {
            insert_draft(tx, &id, category, description, now)?;
            records::add_report_photos(tx, &id, &shas)?;
            let (rep, _) =
                records::report(tx, &id)?.ok_or_else(|| Error::not_found("report", &id))?;
            self.queue_report(tx, &policy, &rep, fix, attach_to, now)
        })?;
        self.report(&id)
    }

    /// Deletes a draft and collects photos only it used.
    pub fn delete_draft(&self, report_id: &str) -> Result<()> {
        check_id("report_id", report_id)?;
        self.store.write(|tx| {
            self.draft(tx, report_id)?;
            tx.execute("DELETE FROM reports WHERE id = ?1", [report_id])?;
            photos::collect_garbage(tx, &self.config.data_dir, self.config.clock.now())?;
            Ok(())
        })
    }

    /// One report of the worker's (or pulled), with photos.
    pub fn report(&self, report_id: &str) -> Result<PhotoReport> {
        check_id("report_id", report_id)?;
        self.store
            .read(|c| records::report(c, report_id))?
            .map(|(r, _)| r)
            .ok_or_else(|| Error::not_found("report", report_id))
    }

    /// Open reports of `category` within the policy's duplicate radius of `fix` that the core
    /// knows of (own and pulled), nearest first.
    pub fn duplicate_candidates(
        &self,
        category: &str,
        fix: &LocationFix,
    ) -> Result<Vec<DuplicateCandidate>> {
        Self::check_category(category)?;
        fix.validate("fix")?;
        let policy = self.policy()?;
        let here = fix.position();
        // Degrees per metre at this latitude, generously rounded up for the prefilter box.
        let dlat = policy.duplicate_radius_m / 111_000.0 * 1.2;
        let dlon = dlat / here.lat.to_radians().cos().abs().max(0.01);
        let found = self.store.read(|c| {
            records::open_reports_in_box(
                c,
                category,
                Position::new(here.lat - dlat, here.lon - dlon),
                Position::new(here.lat + dlat, here.lon + dlon),
            )
        })?;
        let mut out: Vec<DuplicateCandidate> = found
            .into_iter()
            .filter_map(|r| {
                let d = here.distance_m(r.position?);
                (d <= policy.duplicate_radius_m).then_some(DuplicateCandidate {
                    report: r,
                    distance_m: d,
                })
            })
            .collect();
        out.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
        Ok(out)
    }

    /// The `limit` inspection points nearest to a position in any coordinate system.
    pub fn nearby_points(&self, position: Position, limit: u32) -> Result<Vec<NearbyPoint>> {
        check_position("position", position)?;
        let limit = limit.clamp(1, 500) as usize;
        Ok(self
            .index()
            .nearest_points(position, limit)
            .into_iter()
            .map(|(p, d)| NearbyPoint {
                point: p.clone(),
                distance_m: d,
            })
            .collect())
    }

    /// The grid containing a WGS-84 position.
    pub fn grid_at(&self, position: Position) -> Result<Option<Grid>> {
        check_position("position", position)?;
        Ok(self.index().grid_at(position).cloned())
    }

    fn progress_between(&self, from: NaiveDate, to: NaiveDate) -> Result<PatrolProgress> {
        self.store.read(|c| {
            let grids = reference::worker_grids(c)?;
            let due: Vec<String> = reference::points_in_grids(c, &grids)?
                .into_iter()
                .map(|p| p.id)
                .collect();
            let outcomes = records::checkin_outcomes(c, &from.to_string(), &to.to_string())?;
            Ok(progress::compute(from, to, &due, &outcomes))
        })
    }

    /// Patrol progress for one local day (`None`: today).
    pub fn progress_day(&self, day: Option<NaiveDate>) -> Result<PatrolProgress> {
        let day = day.unwrap_or_else(|| self.local_day(self.clock().now()));
        self.progress_between(day, day)
    }

    /// Patrol progress for an ISO week (`None`: this week).
    pub fn progress_week(&self, year_week: Option<(i32, u32)>) -> Result<PatrolProgress> {
        let (y, w) =
            year_week.unwrap_or_else(|| progress::week_of(self.local_day(self.clock().now())));
        let (from, to) = progress::iso_week_days(y, w)
            .ok_or_else(|| Error::invalid("week", "no such ISO week"))?;
        self.progress_between(from, to)
    }

    pub fn list_checkins(&self, offset: u32, limit: u32) -> Result<Vec<Listed<CheckIn>>> {
        let (w, d) = (&self.config.worker_id, &self.config.device_id);
        self.store
            .read(|c| records::list_checkins(c, offset, limit.min(1000), w, d))
    }

    pub fn list_visits(&self, offset: u32, limit: u32) -> Result<Vec<Listed<Visit>>> {
        let (w, d) = (&self.config.worker_id, &self.config.device_id);
        self.store
            .read(|c| records::list_visits(c, offset, limit.min(1000), w, d))
    }

    /// The worker's reports (drafts included) with sync state and lifecycle status.
    pub fn list_reports(&self, offset: u32, limit: u32) -> Result<Vec<Listed<PhotoReport>>> {
        self.store
            .read(|c| records::list_reports(c, offset, limit.min(1000)))
    }

    pub fn list_tasks(&self, offset: u32, limit: u32) -> Result<Vec<Task>> {
        self.store
            .read(|c| records::list_tasks(c, offset, limit.min(1000)))
    }

    fn task_for_update(tx: &rusqlite::Connection, task_id: &str) -> Result<Task> {
        let task = records::task(tx, task_id)?.ok_or_else(|| Error::not_found("task", task_id))?;
        if matches!(task.status, TaskStatus::Completed | TaskStatus::Cancelled) {
            return Err(Error::InvalidState {
                what: "task",
                state: task.status.code().to_string(),
                reason: "the task is finished".into(),
            });
        }
        Ok(task)
    }

    /// Acknowledges a dispatched task (报到). Acknowledging twice is a no-op.
    pub fn acknowledge_task(&self, task_id: &str, monotonic_ms: i64) -> Result<Task> {
        check_id("task_id", task_id)?;
        if monotonic_ms < 0 {
            return Err(Error::invalid("monotonic_ms", "must not be negative"));
        }
        let now = self.clock().now();
        self.store.write(|tx| {
            let task = Self::task_for_update(tx, task_id)?;
            if task.status == TaskStatus::Acknowledged {
                return Ok(task);
            }
            let payload = TaskAckPayload {
                task_id: task_id.to_string(),
                worker_id: self.config.worker_id.clone(),
                device_id: self.config.device_id.clone(),
                acknowledged_at: now,
            };
            records::set_task_status(tx, task_id, TaskStatus::Acknowledged, now)?;
            outbox::append(
                tx,
                kind::TASK_ACK,
                task_id,
                payload_json(&payload)?,
                now,
                monotonic_ms,
            )?;
            records::task(tx, task_id)?.ok_or_else(|| Error::not_found("task", task_id))
        })
    }

    /// Completes a task with a note, a fix and photos (0-9); a record like any other.
    pub fn complete_task(
        &self,
        task_id: &str,
        note: &str,
        photos_in: &[PhotoInput],
        fix: &LocationFix,
    ) -> Result<TaskCompletionPayload> {
        check_id("task_id", task_id)?;
        check_text("note", note, MAX_NOTE_CHARS)?;
        fix.validate("fix")?;
        if photos_in.len() > MAX_PHOTOS {
            return Err(Error::invalid(
                "photos",
                format!("at most {MAX_PHOTOS} photos"),
            ));
        }
        self.store.read(|c| Self::task_for_update(c, task_id))?;
        let policy = self.policy()?;
        let staged = self.stage_photos(photos_in, &policy)?;
        let now = self.clock().now();
        let id = new_id();
        self.write_with_photos(&staged, |tx| {
            Self::task_for_update(tx, task_id)?;
            let (position, flags) = self.judge_fix(tx, &policy, fix, now)?;
            let payload = TaskCompletionPayload {
                id: id.clone(),
                task_id: task_id.to_string(),
                worker_id: self.config.worker_id.clone(),
                device_id: self.config.device_id.clone(),
                note: note.to_string(),
                photos: staged.iter().map(|s| s.photo.clone()).collect(),
                fix: fix.clone(),
                position,
                flags,
                completed_at: now,
            };
            records::insert_task_completion(tx, &payload)?;
            records::set_task_status(tx, task_id, TaskStatus::Completed, now)?;
            outbox::append(
                tx,
                kind::TASK_COMPLETION,
                &id,
                payload_json(&payload)?,
                now,
                fix.monotonic_ms,
            )?;
            Self::remember_fix(tx, fix, position)?;
            Ok(payload)
        })
    }

    /// What is pending, synced and rejected, per kind.
    pub fn sync_counts(&self) -> Result<SyncCounts> {
        self.store.read(|c| {
            let mut out = SyncCounts::default();
            for (k, st, n) in outbox::counts(c)? {
                let bucket = match st.as_str() {
                    "synced" => &mut out.synced,
                    "rejected" => &mut out.rejected,
                    "quarantined" => &mut out.quarantined,
                    // Replaced by a repaired entry or discarded: not a record any more.
                    "withdrawn" => continue,
                    _ => &mut out.pending,
                };
                let n = n.max(0) as u64;
                match k.as_str() {
                    kind::CHECKIN => bucket.checkins += n,
                    kind::VISIT => bucket.visits += n,
                    kind::REPORT => bucket.reports += n,
                    _ => bucket.tasks += n,
                }
            }
            out.pending.photos = c
                .query_row(
                    "SELECT COUNT(*) FROM photos WHERE uploaded = 0 AND rel_path IS NOT NULL",
                    [],
                    |r| r.get::<_, i64>(0),
                )?
                .max(0) as u64;
            // Photos named by a quarantine (missing, altered, refused): counted once each.
            out.quarantined.photos = c
                .query_row(
                    "SELECT COUNT(DISTINCT quarantine_photo) FROM outbox WHERE state = 'quarantined'",
                    [],
                    |r| r.get::<_, i64>(0),
                )?
                .max(0) as u64;
            out.synced.photos = c
                .query_row("SELECT COUNT(*) FROM photos WHERE uploaded = 1", [], |r| {
                    r.get::<_, i64>(0)
                })?
                .max(0) as u64;
            out.drafts = c
                .query_row(
                    "SELECT COUNT(*) FROM reports WHERE own = 1 AND status = 'draft'",
                    [],
                    |r| r.get::<_, i64>(0),
                )?
                .max(0) as u64;
            out.last_sync = state::get(c, state::keys::LAST_SYNC)?;
            out.clock_offset_ms = state::get(c, state::keys::CLOCK_OFFSET_MS)?;
            Ok(out)
        })
    }

    /// Removes photo files nobody needs any more (their records synced, or drafts deleted),
    /// and debris of killed processes. Returns how many files were removed.
    pub fn collect_photos(&self) -> Result<usize> {
        let dir = self.config.data_dir.clone();
        let now = self.config.clock.now();
        let n = self
            .store
            .write(|tx| photos::collect_garbage(tx, &dir, now))?;
        let m = self.store.read(|c| photos::sweep_orphans(c, &dir))?;
        Ok(n + m)
    }

    /// Absolute path of a stored photo, if still on the device. Only a plain store hands
    /// out paths: a sealed file is ciphertext, so a store with a photo key answers
    /// `InvalidState` and the app reads photos with [`GridWorker::photo_bytes`].
    pub fn photo_path(&self, sha256: &str) -> Result<Option<PathBuf>> {
        check_id("sha256", sha256)?;
        if self.photo_key.is_some() {
            return Err(Error::InvalidState {
                what: "photo store",
                state: "sealed".into(),
                reason: "photo files are encrypted: read them with photo_bytes".into(),
            });
        }
        self.store
            .read(|c| photos::path_of(c, &self.config.data_dir, sha256))
    }

    /// The plaintext bytes of a stored photo (for display), if still on the device; works
    /// on sealed and plain stores. Bounded by the policy's photo limit (at least the default
    /// 20 MB), so the app never allocates more than one photo. A file that is
    /// damaged, truncated or not the photo it is named after is `PhotoSealBroken`.
    pub fn photo_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        check_id("sha256", sha256)?;
        let max = self
            .policy()?
            .max_photo_bytes
            .max(crate::policy::ValidationPolicy::default().max_photo_bytes);
        // The file is read outside the store's reader lock: a photo is megabytes.
        let Some(path) = self
            .store
            .read(|c| photos::path_of(c, &self.config.data_dir, sha256))?
        else {
            return Ok(None);
        };
        photos::read_bytes(&path, sha256, self.photo_keys(), max)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }
}

/// A report starts as the worker's own draft, with no position until it is filed.
fn insert_draft(
    tx: &rusqlite::Connection,
    id: &str,
    category: &str,
    description: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    records::insert_report(
        tx,
        &ReportRow {
            id,
            own: true,
            category,
            description,
            fix: None,
            position: None,
            flags: &[],
            status: ReportStatus::Draft,
            attach_to: None,
            created_at: now,
        },
    )
}

fn check_position(field: &str, p: Position) -> Result<()> {
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

/// Erases a worker's data from the device (shared or reissued phones): everything the core
/// ever wrote in `dir` (the database with its WAL/SHM/journal, the sidecar, the sync lock,
/// damaged copies kept by a recovery or moved aside by older builds, a recovery in progress,
/// photos and their temp area). Files the app put there itself are left alone.
///
/// Refused with [`Error::StoreInUse`] while a `GridWorker` (or a sync engine holding one) of
/// this process is open on `dir`: deleting files under an open handle would let it go on
/// accepting writes that are then lost. Drop them first.
pub fn wipe_data_dir(dir: &Path) -> Result<()> {
    crate::store::registry::while_closed(dir, || wipe_unlocked(dir))
}

/// Whether a file name in the data directory is one the core writes.
fn written_by_core(name: &str) -> bool {
    use crate::store::{DB_FILE, recover, sidecar};
    const OLD_MOVED_ASIDE: &str = "gridworker.db.corrupt-";
    name == DB_FILE
        || crate::store::DB_COMPANIONS
            .iter()
            .any(|s| name == format!("{DB_FILE}{s}"))
        || name == sidecar::SIDECAR_FILE
        || (name.starts_with('.') && name.contains(sidecar::SIDECAR_FILE))
        || name == crate::sync::lock::LOCK_FILE
        || name.starts_with(recover::DAMAGED_PREFIX)
        || name.starts_with(recover::RECOVERING_FILE)
        || name.starts_with(crate::store::crypt::REKEY_FILE)
        || name.starts_with(OLD_MOVED_ASIDE)
}

fn wipe_unlocked(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    // The database goes first, its sidecar last: a wipe cut short leaves a store that reads
    // as damaged (and is wiped again), never a half-store that looks healthy.
    let mut doomed: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(written_by_core))
        .map(|e| e.path())
        .collect();
    doomed.sort_by_key(|p| p.ends_with(crate::store::sidecar::SIDECAR_FILE));
    for path in doomed {
        crate::store::files::remove_if_exists(&path)?;
    }
    match std::fs::remove_dir_all(dir.join(photos::PHOTO_DIR)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    crate::store::files::sync_dir(dir);
    Ok(())
}
