//! Mirrored types: records.

use super::*;

pub use d::{CheckInOutcome, Flag, MediaType, ReportStatus, TaskStatus, VisitKind};

/// Why a record was flagged; the back office grades on these.
#[uniffi::remote(Enum)]
pub enum Flag {
    /// Check-in fix farther from the point than its radius.
    OutsideRadius,
    /// Fix accuracy worse than the policy allows.
    Inaccurate,
    /// The platform marked the fix as mock / simulated.
    MockLocation,
    /// The fix was too old when the record was made.
    StaleFix,
    /// Reaching this fix from the previous one needs an impossible speed.
    ImpossibleSpeed,
    /// The wall clock was changed by hand.
    ClockJump,
    /// A visit recorded too far from the household.
    FarFromHousehold,
    /// A visit recorded outside the worker's grids.
    OutsideWorkerGrids,
    /// A photo's EXIF position is farther from the record's fix than the policy allows.
    PhotoFarFromFix,
    /// A photo's EXIF capture time is older than the policy allows.
    PhotoTooOld,
}

/// Verdict on a check-in.
#[uniffi::remote(Enum)]
pub enum CheckInOutcome {
    Accepted,
    Flagged,
}

/// Kind of household visit.
#[uniffi::remote(Enum)]
pub enum VisitKind {
    Routine,
    InformationCollection,
    CareVisit,
    Mediation,
    SafetyCheck,
    Other,
}

/// Image formats the photo store accepts (recognised by content, not by file name).
#[uniffi::remote(Enum)]
pub enum MediaType {
    Jpeg,
    Png,
    Heic,
}

/// Where a photo report stands: `Draft` and `Queued` are local, the rest mirror the back
/// office's closed loop (受理 → 交办 → 办结 ...).
#[uniffi::remote(Enum)]
pub enum ReportStatus {
    Draft,
    Queued,
    Submitted,
    Accepted,
    Dispatched,
    Resolved,
    Closed,
    Reopened,
}

/// Where a dispatched task stands on the worker's side.
#[uniffi::remote(Enum)]
pub enum TaskStatus {
    Dispatched,
    Acknowledged,
    Completed,
    Cancelled,
}

/// A patrol check-in at an inspection point.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CheckIn {
    pub id: String,
    pub worker_id: String,
    pub device_id: String,
    pub point_id: String,
    pub fix: LocationFix,
    /// The fix in WGS-84.
    pub position: Position,
    /// Distance from the point in metres.
    pub distance_m: f64,
    pub outcome: CheckInOutcome,
    pub flags: Vec<Flag>,
    /// Device wall clock when recorded.
    pub recorded_at: SystemTime,
}

impl From<d::CheckIn> for CheckIn {
    fn from(c: d::CheckIn) -> Self {
        CheckIn {
            id: c.id,
            worker_id: c.worker_id,
            device_id: c.device_id,
            point_id: c.point_id,
            fix: c.fix.into(),
            position: c.position,
            distance_m: c.distance_m,
            outcome: c.outcome,
            flags: c.flags,
            recorded_at: from_utc(c.recorded_at),
        }
    }
}

/// Result of a check-in: the stored record, and whether it is an earlier one returned because
/// the same point was checked within the cooldown (nothing new was written then).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CheckInResult {
    pub check_in: CheckIn,
    pub duplicate: bool,
}

impl From<w::CheckInResult> for CheckInResult {
    fn from(r: w::CheckInResult) -> Self {
        CheckInResult {
            check_in: r.check_in.into(),
            duplicate: r.duplicate,
        }
    }
}

/// A household visit (入户走访). The note is personal data: keep it out of logs.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Visit {
    pub id: String,
    pub worker_id: String,
    pub device_id: String,
    pub household_id: String,
    pub kind: VisitKind,
    pub note: String,
    pub fix: LocationFix,
    pub position: Position,
    /// Distance from the household in metres.
    pub distance_m: f64,
    pub flags: Vec<Flag>,
    pub recorded_at: SystemTime,
}

impl From<d::Visit> for Visit {
    fn from(v: d::Visit) -> Self {
        Visit {
            id: v.id,
            worker_id: v.worker_id,
            device_id: v.device_id,
            household_id: v.household_id,
            kind: v.kind,
            note: v.note,
            fix: v.fix.into(),
            position: v.position,
            distance_m: v.distance_m,
            flags: v.flags,
            recorded_at: from_utc(v.recorded_at),
        }
    }
}

/// A photo held by the core's photo store, addressed by its content hash.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Photo {
    /// Lowercase hex SHA-256 of the stored bytes (what is sent): the photo after the core
    /// scaled it, turned it upright and stripped its metadata.
    pub sha256: String,
    pub size: i64,
    pub media_type: MediaType,
    /// As the app passed it, else the photo's EXIF capture time.
    pub captured_at: Option<SystemTime>,
    /// The capture time the photo's EXIF stated.
    pub exif_time: Option<SystemTime>,
    /// Where the photo's EXIF GPS says it was taken (WGS-84).
    pub exif_position: Option<Position>,
    /// SHA-256 of the file the app handed over, when the stored bytes differ from it.
    pub original_sha256: Option<String>,
    /// Size of that original file.
    pub original_size: Option<i64>,
}

impl From<d::Photo> for Photo {
    fn from(p: d::Photo) -> Self {
        Photo {
            sha256: p.sha256,
            size: long(p.size),
            media_type: p.media_type,
            captured_at: p.captured_at.map(from_utc),
            exif_time: p.exif_time.map(from_utc),
            exif_position: p.exif_position,
            original_sha256: p.original_sha256,
            original_size: p.original_size.map(long),
        }
    }
}

/// A photo the app hands over: a file path (copied into the store, never modified or
/// deleted) and, if known, when it was taken.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PhotoInput {
    pub path: String,
    pub captured_at: Option<SystemTime>,
}

impl PhotoInput {
    pub(crate) fn to_core(&self, field: &str) -> Result<w::PhotoInput> {
        Ok(w::PhotoInput {
            path: PathBuf::from(&self.path),
            captured_at: opt_to_utc(&format!("{field}.captured_at"), self.captured_at)?,
        })
    }
}

pub(crate) fn photos_to_core(photos: &[PhotoInput]) -> Result<Vec<w::PhotoInput>> {
    photos
        .iter()
        .enumerate()
        .map(|(i, p)| p.to_core(&format!("photos[{i}]")))
        .collect()
}

/// Follow-up from the back office on a report.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ReportProgress {
    pub department: Option<String>,
    pub note: Option<String>,
    pub evaluation: Option<String>,
}

impl From<d::ReportProgress> for ReportProgress {
    fn from(p: d::ReportProgress) -> Self {
        ReportProgress {
            department: p.department,
            note: p.note,
            evaluation: p.evaluation,
        }
    }
}

/// A 随手拍 photo report as the worker sees it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PhotoReport {
    pub id: String,
    pub category: String,
    pub description: String,
    pub photos: Vec<Photo>,
    /// WGS-84; `None` for a draft.
    pub position: Option<Position>,
    pub status: ReportStatus,
    pub progress: ReportProgress,
    pub flags: Vec<Flag>,
    /// The report this one adds to (the worker followed the duplicate hint).
    pub attach_to: Option<String>,
    /// True for reports filed from this device, false for others' pulled for the duplicate
    /// hint.
    pub own: bool,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

impl From<d::PhotoReport> for PhotoReport {
    fn from(r: d::PhotoReport) -> Self {
        PhotoReport {
            id: r.id,
            category: r.category,
            description: r.description,
            photos: map(r.photos),
            position: r.position,
            status: r.status,
            progress: r.progress.into(),
            flags: r.flags,
            attach_to: r.attach_to,
            own: r.own,
            created_at: from_utc(r.created_at),
            updated_at: from_utc(r.updated_at),
        }
    }
}

/// A task dispatched to the worker by the back office (吹哨报到).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub description: String,
    pub place: Option<Position>,
    pub address: Option<String>,
    pub due_at: Option<SystemTime>,
    pub linked_report_id: Option<String>,
    pub status: TaskStatus,
    pub dispatched_at: SystemTime,
}

impl From<d::Task> for Task {
    fn from(t: d::Task) -> Self {
        Task {
            id: t.id,
            title: t.title,
            description: t.description,
            place: t.place,
            address: t.address,
            due_at: t.due_at.map(from_utc),
            linked_report_id: t.linked_report_id,
            status: t.status,
            dispatched_at: from_utc(t.dispatched_at),
        }
    }
}

/// The worker's completion of a task, queued for sync like any record.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TaskCompletion {
    pub id: String,
    pub task_id: String,
    pub note: String,
    pub photos: Vec<Photo>,
    pub fix: LocationFix,
    pub position: Position,
    pub flags: Vec<Flag>,
    pub completed_at: SystemTime,
}

impl From<d::TaskCompletionPayload> for TaskCompletion {
    fn from(t: d::TaskCompletionPayload) -> Self {
        TaskCompletion {
            id: t.id,
            task_id: t.task_id,
            note: t.note,
            photos: map(t.photos),
            fix: t.fix.into(),
            position: t.position,
            flags: t.flags,
            completed_at: from_utc(t.completed_at),
        }
    }
}

/// Where a record stands with the server.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncState {
    /// Waiting to be sent.
    Pending,
    /// The server recorded it.
    Synced,
    /// The server refused it for good; kept on the device with the reason.
    Rejected { code: String, reason: String },
    /// Set aside on the device: it cannot be sent as it stands. Blocks nothing but the
    /// records depending on it; repair or discard it (`GridWorker.repairQuarantinedPhoto`,
    /// `refileWithoutQuarantinedPhoto`, `discardQuarantined`).
    Quarantined { reason: QuarantineReason },
    /// Replaced by a repaired version, or discarded; only its chain link is sent.
    Withdrawn,
}

impl From<w::SyncState> for SyncState {
    fn from(s: w::SyncState) -> Self {
        match s {
            w::SyncState::Pending => SyncState::Pending,
            w::SyncState::Synced => SyncState::Synced,
            w::SyncState::Rejected { code, reason } => SyncState::Rejected { code, reason },
            w::SyncState::Quarantined { reason } => SyncState::Quarantined {
                reason: reason.into(),
            },
            w::SyncState::Withdrawn => SyncState::Withdrawn,
        }
    }
}

/// Why a record is quarantined. Photos are named by their SHA-256 only.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum QuarantineReason {
    /// The photo's file is gone from the device.
    PhotoMissing { sha256: String },
    /// The photo's bytes no longer match their hash (edited, truncated, damaged).
    PhotoAltered { sha256: String },
    /// The server refused it for good with this HTTP status and error code: the photo when
    /// `sha256` is set, else the record itself (413: too large even alone).
    Refused {
        status: i32,
        code: String,
        sha256: Option<String>,
    },
}

impl From<w::QuarantineReason> for QuarantineReason {
    fn from(r: w::QuarantineReason) -> Self {
        match r {
            w::QuarantineReason::PhotoMissing { sha256 } => {
                QuarantineReason::PhotoMissing { sha256 }
            }
            w::QuarantineReason::PhotoAltered { sha256 } => {
                QuarantineReason::PhotoAltered { sha256 }
            }
            w::QuarantineReason::Refused {
                status,
                code,
                sha256,
            } => QuarantineReason::Refused {
                status: i32::from(status),
                code,
                sha256,
            },
        }
    }
}

/// A quarantined record: which one and why.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QuarantinedRecord {
    pub record_id: String,
    /// `report`, `task_completion`, `checkin`, `visit` or `task_ack`.
    pub kind: String,
    pub reason: QuarantineReason,
}

impl From<w::QuarantinedRecord> for QuarantinedRecord {
    fn from(q: w::QuarantinedRecord) -> Self {
        QuarantinedRecord {
            record_id: q.record_id,
            kind: q.kind,
            reason: q.reason.into(),
        }
    }
}

/// A check-in with its sync state.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ListedCheckIn {
    pub check_in: CheckIn,
    pub sync: SyncState,
}

impl From<Listed<d::CheckIn>> for ListedCheckIn {
    fn from(l: Listed<d::CheckIn>) -> Self {
        ListedCheckIn {
            check_in: l.record.into(),
            sync: l.sync.into(),
        }
    }
}

/// A visit with its sync state.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ListedVisit {
    pub visit: Visit,
    pub sync: SyncState,
}

impl From<Listed<d::Visit>> for ListedVisit {
    fn from(l: Listed<d::Visit>) -> Self {
        ListedVisit {
            visit: l.record.into(),
            sync: l.sync.into(),
        }
    }
}

/// A report with its sync state (drafts are `Pending`: they never left the device).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ListedReport {
    pub report: PhotoReport,
    pub sync: SyncState,
}

impl From<Listed<d::PhotoReport>> for ListedReport {
    fn from(l: Listed<d::PhotoReport>) -> Self {
        ListedReport {
            report: l.record.into(),
            sync: l.sync.into(),
        }
    }
}

/// A page of check-ins, newest first. Pass `next` as `after` for the following page; `null`
/// when this is the last one. Keyset paging: records added meanwhile never shift a page.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CheckInPage {
    pub items: Vec<ListedCheckIn>,
    pub next: Option<String>,
}

/// A page of visits, newest first (see `CheckInPage`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct VisitPage {
    pub items: Vec<ListedVisit>,
    pub next: Option<String>,
}

/// A page of the worker's reports, newest first (see `CheckInPage`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ReportPage {
    pub items: Vec<ListedReport>,
    pub next: Option<String>,
}

/// A page of a grid's inspection points by id (see `CheckInPage`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PointPage {
    pub items: Vec<InspectionPoint>,
    pub next: Option<String>,
}

/// A page of a grid's households by id (see `CheckInPage`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HouseholdPage {
    pub items: Vec<Household>,
    pub next: Option<String>,
}
