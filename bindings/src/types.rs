//! Records and enums mirrored from the core, with their conversions. No logic beyond moving
//! fields and converting time and path representations (which can fail on hostile values).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeDelta, Utc};
use gridworker_core::domain as d;
use gridworker_core::geo;
use gridworker_core::policy;
use gridworker_core::progress;
use gridworker_core::store::outbox;
use gridworker_core::store::records::Listed;
use gridworker_core::sync as s;
use gridworker_core::worker as w;

use crate::error::{Result, invalid};

// ---- time ------------------------------------------------------------------------------

/// Kotlin `Instant` / Swift `Date` → UTC; out-of-range values are invalid input, not a panic.
pub(crate) fn to_utc(field: &str, t: SystemTime) -> Result<DateTime<Utc>> {
    let out_of_range = || invalid(field, "time out of range");
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => DateTime::UNIX_EPOCH
            .checked_add_signed(TimeDelta::from_std(d).map_err(|_| out_of_range())?),
        Err(e) => DateTime::UNIX_EPOCH
            .checked_sub_signed(TimeDelta::from_std(e.duration()).map_err(|_| out_of_range())?),
    }
    .ok_or_else(out_of_range)
}

pub(crate) fn from_utc(t: DateTime<Utc>) -> SystemTime {
    let secs = t.timestamp();
    let nanos = t.timestamp_subsec_nanos();
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            + Duration::from_nanos(u64::from(nanos))
    }
}

fn opt_to_utc(field: &str, t: Option<SystemTime>) -> Result<Option<DateTime<Utc>>> {
    t.map(|t| to_utc(field, t)).transpose()
}

fn usize_of(n: u32) -> usize {
    // u32 fits in usize on every target we build (32- and 64-bit).
    n as usize
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Mirrors a fieldless core enum both ways.
macro_rules! mirror_enum {
    ($(#[$m:meta])* $name:ident <=> $core:path { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl From<$core> for $name {
            fn from(v: $core) -> Self {
                match v { $(<$core>::$v => $name::$v),+ }
            }
        }

        impl From<$name> for $core {
            fn from(v: $name) -> Self {
                match v { $($name::$v => <$core>::$v),+ }
            }
        }
    };
}

pub(crate) fn map<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(B::from).collect()
}

// ---- geo -------------------------------------------------------------------------------

mirror_enum! {
    /// The coordinate system a latitude/longitude pair is expressed in. Android's and iOS's
    /// own fixes are WGS-84; AMap and Tencent maps draw in GCJ-02, Baidu in BD-09.
    Crs <=> geo::Crs {
        /// Raw GNSS output (GPS, BeiDou), Android `Location`, iOS `CLLocation`.
        Wgs84,
        /// The datum of AMap, Tencent and Apple Maps inside China.
        Gcj02,
        /// Baidu's datum.
        Bd09,
    }
}

/// A WGS-84 position (everything the core stores and compares is WGS-84).
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
}

impl From<geo::Position> for Position {
    fn from(p: geo::Position) -> Self {
        Position {
            lat: p.lat,
            lon: p.lon,
        }
    }
}

impl From<Position> for geo::Position {
    fn from(p: Position) -> Self {
        geo::Position::new(p.lat, p.lon)
    }
}

/// A latitude/longitude pair in a named coordinate system (e.g. a tap on a GCJ-02 map).
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct Coordinate {
    pub lat: f64,
    pub lon: f64,
    pub crs: Crs,
}

// ---- location fixes --------------------------------------------------------------------

mirror_enum! {
    /// Which positioning source produced a fix.
    Provider <=> d::Provider {
        Gps,
        Network,
        Fused,
        Other,
    }
}

/// A fix exactly as the platform reported it. The core keeps it verbatim, converts it to
/// WGS-84, and flags (never rejects) inaccurate, mock, stale or implausible fixes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct LocationFix {
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy radius in metres.
    pub accuracy_m: f64,
    pub altitude_m: Option<f64>,
    pub speed_mps: Option<f64>,
    pub bearing_deg: Option<f64>,
    pub provider: Provider,
    /// The system `lat`/`lon` are in (`Wgs84` for platform fixes).
    pub crs: Crs,
    /// Android `Location.isMock` / iOS `sourceInformation.isSimulatedBySoftware`.
    pub is_mock: bool,
    /// When the fix was taken (the platform's time of the fix).
    pub fix_time: SystemTime,
    /// The platform's monotonic clock at the fix, in ms (Android
    /// `elapsedRealtimeNanos / 1e6`, iOS `ProcessInfo.systemUptime * 1000`).
    pub monotonic_ms: i64,
}

impl LocationFix {
    pub(crate) fn to_core(&self, field: &str) -> Result<d::LocationFix> {
        Ok(d::LocationFix {
            lat: self.lat,
            lon: self.lon,
            accuracy_m: self.accuracy_m,
            altitude_m: self.altitude_m,
            speed_mps: self.speed_mps,
            bearing_deg: self.bearing_deg,
            provider: self.provider.into(),
            crs: self.crs.into(),
            is_mock: self.is_mock,
            fix_time: to_utc(&format!("{field}.fix_time"), self.fix_time)?,
            monotonic_ms: self.monotonic_ms,
        })
    }
}

impl From<d::LocationFix> for LocationFix {
    fn from(f: d::LocationFix) -> Self {
        LocationFix {
            lat: f.lat,
            lon: f.lon,
            accuracy_m: f.accuracy_m,
            altitude_m: f.altitude_m,
            speed_mps: f.speed_mps,
            bearing_deg: f.bearing_deg,
            provider: f.provider.into(),
            crs: f.crs.into(),
            is_mock: f.is_mock,
            fix_time: from_utc(f.fix_time),
            monotonic_ms: f.monotonic_ms,
        }
    }
}

// ---- records ---------------------------------------------------------------------------

mirror_enum! {
    /// Why a record was flagged; the back office grades on these.
    Flag <=> d::Flag {
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
    }
}

mirror_enum! {
    /// Verdict on a check-in.
    CheckInOutcome <=> d::CheckInOutcome { Accepted, Flagged }
}

mirror_enum! {
    /// Kind of household visit.
    VisitKind <=> d::VisitKind {
        Routine,
        InformationCollection,
        CareVisit,
        Mediation,
        SafetyCheck,
        Other,
    }
}

mirror_enum! {
    /// Image formats the photo store accepts (recognised by content, not by file name).
    MediaType <=> d::MediaType { Jpeg, Png, Heic }
}

mirror_enum! {
    /// Where a photo report stands: `Draft` and `Queued` are local, the rest mirror the back
    /// office's closed loop (受理 → 交办 → 办结 ...).
    ReportStatus <=> d::ReportStatus {
        Draft,
        Queued,
        Submitted,
        Accepted,
        Dispatched,
        Resolved,
        Closed,
        Reopened,
    }
}

mirror_enum! {
    /// Where a dispatched task stands on the worker's side.
    TaskStatus <=> d::TaskStatus { Dispatched, Acknowledged, Completed, Cancelled }
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
            position: c.position.into(),
            distance_m: c.distance_m,
            outcome: c.outcome.into(),
            flags: map(c.flags),
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
            kind: v.kind.into(),
            note: v.note,
            fix: v.fix.into(),
            position: v.position.into(),
            distance_m: v.distance_m,
            flags: map(v.flags),
            recorded_at: from_utc(v.recorded_at),
        }
    }
}

/// A photo held by the core's photo store, addressed by its content hash.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Photo {
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub size: u64,
    pub media_type: MediaType,
    pub captured_at: Option<SystemTime>,
}

impl From<d::Photo> for Photo {
    fn from(p: d::Photo) -> Self {
        Photo {
            sha256: p.sha256,
            size: p.size,
            media_type: p.media_type.into(),
            captured_at: p.captured_at.map(from_utc),
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
            position: r.position.map(Into::into),
            status: r.status.into(),
            progress: r.progress.into(),
            flags: map(r.flags),
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
            place: t.place.map(Into::into),
            address: t.address,
            due_at: t.due_at.map(from_utc),
            linked_report_id: t.linked_report_id,
            status: t.status.into(),
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
            position: t.position.into(),
            flags: map(t.flags),
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

impl From<outbox::SyncState> for SyncState {
    fn from(s: outbox::SyncState) -> Self {
        match s {
            outbox::SyncState::Pending => SyncState::Pending,
            outbox::SyncState::Synced => SyncState::Synced,
            outbox::SyncState::Rejected { code, reason } => SyncState::Rejected { code, reason },
            outbox::SyncState::Quarantined { reason } => SyncState::Quarantined {
                reason: reason.into(),
            },
            outbox::SyncState::Withdrawn => SyncState::Withdrawn,
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
        status: u16,
        code: String,
        sha256: Option<String>,
    },
}

impl From<outbox::QuarantineReason> for QuarantineReason {
    fn from(r: outbox::QuarantineReason) -> Self {
        match r {
            outbox::QuarantineReason::PhotoMissing { sha256 } => {
                QuarantineReason::PhotoMissing { sha256 }
            }
            outbox::QuarantineReason::PhotoAltered { sha256 } => {
                QuarantineReason::PhotoAltered { sha256 }
            }
            outbox::QuarantineReason::Refused {
                status,
                code,
                sha256,
            } => QuarantineReason::Refused {
                status,
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

impl From<outbox::QuarantinedRecord> for QuarantinedRecord {
    fn from(q: outbox::QuarantinedRecord) -> Self {
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

// ---- reference data ---------------------------------------------------------------------

/// A grid (网格). Boundary in WGS-84, first point not repeated.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Grid {
    pub code: String,
    pub name: String,
    pub boundary: Vec<Position>,
}

impl From<d::Grid> for Grid {
    fn from(g: d::Grid) -> Self {
        Grid {
            code: g.code,
            name: g.name,
            boundary: map(g.boundary),
        }
    }
}

impl From<Grid> for d::Grid {
    fn from(g: Grid) -> Self {
        d::Grid {
            code: g.code,
            name: g.name,
            boundary: map(g.boundary),
        }
    }
}

/// A patrol check-in point (巡查打卡点), WGS-84.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct InspectionPoint {
    pub id: String,
    pub grid_code: String,
    pub name: String,
    pub position: Position,
    /// Check-in radius in metres; 0 means the policy default.
    pub radius_m: f64,
}

impl From<d::InspectionPoint> for InspectionPoint {
    fn from(p: d::InspectionPoint) -> Self {
        InspectionPoint {
            id: p.id,
            grid_code: p.grid_code,
            name: p.name,
            position: p.position.into(),
            radius_m: p.radius_m,
        }
    }
}

impl From<InspectionPoint> for d::InspectionPoint {
    fn from(p: InspectionPoint) -> Self {
        d::InspectionPoint {
            id: p.id,
            grid_code: p.grid_code,
            name: p.name,
            position: p.position.into(),
            radius_m: p.radius_m,
        }
    }
}

/// A household on the worker's books, WGS-84. Personal data.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Household {
    pub id: String,
    pub grid_code: String,
    pub building: String,
    pub address: String,
    pub position: Position,
    pub tags: Vec<String>,
}

impl From<Household> for d::Household {
    fn from(h: Household) -> Self {
        d::Household {
            id: h.id,
            grid_code: h.grid_code,
            building: h.building,
            address: h.address,
            position: h.position.into(),
            tags: h.tags,
        }
    }
}

/// An inspection point near a position.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NearbyPoint {
    pub point: InspectionPoint,
    pub distance_m: f64,
}

impl From<w::NearbyPoint> for NearbyPoint {
    fn from(n: w::NearbyPoint) -> Self {
        NearbyPoint {
            point: n.point.into(),
            distance_m: n.distance_m,
        }
    }
}

/// An open report that may describe the same problem as the one about to be filed.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DuplicateCandidate {
    pub report: PhotoReport,
    pub distance_m: f64,
}

impl From<w::DuplicateCandidate> for DuplicateCandidate {
    fn from(c: w::DuplicateCandidate) -> Self {
        DuplicateCandidate {
            report: c.report.into(),
            distance_m: c.distance_m,
        }
    }
}

// ---- progress and counts ---------------------------------------------------------------

/// An ISO week (`2026-W48` is `IsoWeek(year = 2026, week = 48)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct IsoWeek {
    pub year: i32,
    pub week: u32,
}

/// Patrol progress over a local day or an ISO week.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PatrolProgress {
    /// First and last local day of the period, `YYYY-MM-DD`.
    pub from_day: String,
    pub to_day: String,
    /// Inspection points in the worker's grids.
    pub points_due: u32,
    /// Points with at least one accepted check-in.
    pub checked_accepted: u32,
    /// Points with check-ins, all of them flagged.
    pub checked_flagged_only: u32,
    /// Points with no check-in.
    pub missed: u32,
    /// Accepted points over due points, in percent.
    pub coverage_percent: f64,
    /// Ids of the missed points (where to go next).
    pub missed_point_ids: Vec<String>,
}

impl From<progress::PatrolProgress> for PatrolProgress {
    fn from(p: progress::PatrolProgress) -> Self {
        PatrolProgress {
            from_day: p.from_day,
            to_day: p.to_day,
            points_due: p.points_due,
            checked_accepted: p.checked_accepted,
            checked_flagged_only: p.checked_flagged_only,
            missed: p.missed,
            coverage_percent: p.coverage_percent,
            missed_point_ids: p.missed_point_ids,
        }
    }
}

/// Counts per record kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct KindCounts {
    pub checkins: u64,
    pub visits: u64,
    pub reports: u64,
    pub tasks: u64,
    pub photos: u64,
}

impl From<w::KindCounts> for KindCounts {
    fn from(k: w::KindCounts) -> Self {
        KindCounts {
            checkins: k.checkins,
            visits: k.visits,
            reports: k.reports,
            tasks: k.tasks,
            photos: k.photos,
        }
    }
}

/// What is waiting, done and refused (the app's "N items waiting" badge).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncCounts {
    pub pending: KindCounts,
    pub synced: KindCounts,
    pub rejected: KindCounts,
    /// Set aside until the worker repairs or discards them (`photos`: distinct photos
    /// named by a quarantine).
    pub quarantined: KindCounts,
    pub drafts: u64,
    pub last_sync: Option<SystemTime>,
    /// Server time minus device time at the last handshake (ms).
    pub clock_offset_ms: Option<i64>,
}

impl From<w::SyncCounts> for SyncCounts {
    fn from(c: w::SyncCounts) -> Self {
        SyncCounts {
            pending: c.pending.into(),
            synced: c.synced.into(),
            rejected: c.rejected.into(),
            quarantined: c.quarantined.into(),
            drafts: c.drafts,
            last_sync: c.last_sync.map(from_utc),
            clock_offset_ms: c.clock_offset_ms,
        }
    }
}

// ---- configuration ---------------------------------------------------------------------

/// Thresholds that decide flags (only invalid input is ever rejected). Start from
/// `defaultPolicy()` and change what you need.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ValidationPolicy {
    /// Check-in radius for points without their own (m).
    pub checkin_radius_m: f64,
    /// Worst accuracy that still counts as a good fix (m).
    pub max_accuracy_m: f64,
    /// A fix older than this at record time is stale (s).
    pub max_fix_age_s: i64,
    /// Speed between consecutive fixes above which the later one is implausible (km/h).
    pub max_speed_kmh: f64,
    /// Wall-clock vs monotonic disagreement that counts as a clock change (s).
    pub max_clock_drift_s: i64,
    /// A second check-in at the same point within this window returns the first (s).
    pub checkin_cooldown_s: i64,
    /// Distance from the household beyond which a visit is flagged (m).
    pub visit_max_distance_m: f64,
    /// Radius of the duplicate-report hint (m).
    pub duplicate_radius_m: f64,
    /// Largest photo accepted (bytes).
    pub max_photo_bytes: u64,
}

impl From<policy::ValidationPolicy> for ValidationPolicy {
    fn from(p: policy::ValidationPolicy) -> Self {
        ValidationPolicy {
            checkin_radius_m: p.checkin_radius_m,
            max_accuracy_m: p.max_accuracy_m,
            max_fix_age_s: p.max_fix_age_s,
            max_speed_kmh: p.max_speed_kmh,
            max_clock_drift_s: p.max_clock_drift_s,
            checkin_cooldown_s: p.checkin_cooldown_s,
            visit_max_distance_m: p.visit_max_distance_m,
            duplicate_radius_m: p.duplicate_radius_m,
            max_photo_bytes: p.max_photo_bytes,
        }
    }
}

impl From<ValidationPolicy> for policy::ValidationPolicy {
    fn from(p: ValidationPolicy) -> Self {
        policy::ValidationPolicy {
            checkin_radius_m: p.checkin_radius_m,
            max_accuracy_m: p.max_accuracy_m,
            max_fix_age_s: p.max_fix_age_s,
            max_speed_kmh: p.max_speed_kmh,
            max_clock_drift_s: p.max_clock_drift_s,
            checkin_cooldown_s: p.checkin_cooldown_s,
            visit_max_distance_m: p.visit_max_distance_m,
            duplicate_radius_m: p.duplicate_radius_m,
            max_photo_bytes: p.max_photo_bytes,
        }
    }
}

/// How to open the core on a device.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct WorkerConfig {
    /// The core's own directory (database and photos), e.g. `context.filesDir/gridworker`
    /// or a folder in the iOS Application Support directory. Created if missing.
    pub data_dir: String,
    /// Base URL of the sync server, e.g. `https://grid.example.gov.cn`.
    pub server_url: String,
    pub worker_id: String,
    pub device_id: String,
    /// Overrides the policy the server sends (QA, pilots); `None` in production.
    pub policy_override: Option<ValidationPolicy>,
    /// Local time of the district minus UTC in minutes (China: 480). Patrol days and weeks
    /// are counted in local time.
    pub utc_offset_minutes: i32,
    /// The store's 32-byte key, from the platform keystore (Android: `StoreKeys`; iOS:
    /// `StoreKey`). The core never writes it anywhere. `None` opens a plain store (tests,
    /// QA); a plain store opened with a key is encrypted in place on that first open,
    /// pending records and photos included. An encrypted store opened without its key
    /// fails with `Locked` and is left unchanged.
    #[uniffi(default = None)]
    pub key: Option<Vec<u8>>,
}

impl WorkerConfig {
    pub(crate) fn to_core(&self) -> Result<gridworker_core::Config> {
        // Paths cross into the OS as C strings: a NUL would be cut or refused there, so it is
        // the caller's mistake, not a storage failure.
        if self.data_dir.contains('\0') {
            return Err(invalid("config.data_dir", "contains a NUL character"));
        }
        let mut c = gridworker_core::Config::new(
            &self.data_dir,
            &self.server_url,
            &self.worker_id,
            &self.device_id,
        );
        c.policy_override = self.policy_override.clone().map(Into::into);
        c.utc_offset_minutes = self.utc_offset_minutes;
        c.key = database_key("config.key", self.key.as_deref())?;
        Ok(c)
    }
}

/// A key crossing the FFI: exactly 32 bytes, or the error names `field` (never the bytes).
pub(crate) fn database_key(
    field: &str,
    bytes: Option<&[u8]>,
) -> Result<Option<gridworker_core::DatabaseKey>> {
    bytes
        .map(|b| {
            gridworker_core::DatabaseKey::from_slice(b)
                .map_err(|_| invalid(field, "must be exactly 32 bytes"))
        })
        .transpose()
}

// ---- sync ------------------------------------------------------------------------------

mirror_enum! {
    /// The network the platform sees right now.
    NetworkKind <=> s::NetworkKind {
        /// No connectivity: a run fails fast with `Network` and everything stays queued.
        None,
        /// Metered (4G); photos wait when `photos_wifi_only` is set.
        Cellular,
        /// Wi-Fi or Ethernet.
        Wifi,
    }
}

mirror_enum! {
    /// Step of a sync run.
    SyncPhase <=> s::SyncPhase {
        Handshake,
        /// Uploading photos (before the records that reference them).
        Photos,
        /// Sending queued records.
        Push,
        /// Fetching and applying the server's changes (tasks, report status, reference data).
        Pull,
        /// The run ended, successfully or not.
        Done,
    }
}

/// A snapshot of a run's progress within its current phase.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    pub items_done: u64,
    /// `None` when unknown (the pull does not know how many changes wait).
    pub items_total: Option<u64>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
}

impl From<&s::SyncProgress> for SyncProgress {
    fn from(p: &s::SyncProgress) -> Self {
        SyncProgress {
            phase: p.phase.into(),
            items_done: p.items_done,
            items_total: p.items_total,
            bytes_done: p.bytes_done,
            bytes_total: p.bytes_total,
        }
    }
}

/// What one sync run did.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncReport {
    /// Records the server applied.
    pub pushed: u64,
    /// Records the server already had (a retry after a lost acknowledgement).
    pub already_applied: u64,
    /// Records refused for good (kept on the device with the reason).
    pub rejected: u64,
    /// Records left pending on purpose (photos waiting for Wi-Fi).
    pub deferred: u64,
    /// Records left pending because they wait on a quarantined record or on a photo left
    /// for the next run; they go later with their original sequence number.
    pub held: u64,
    /// Records quarantined in this run (record, kind, reason).
    pub quarantined: Vec<QuarantinedRecord>,
    pub photos_uploaded: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Changes pulled and applied.
    pub pulled_changes: u64,
    pub round_trips: u64,
    /// Transient failures retried.
    pub retries: u64,
    /// Server time minus device time (ms).
    pub clock_offset_ms: i64,
    /// Photo files removed from the device after their records synced.
    pub photos_collected: u64,
}

impl From<s::SyncReport> for SyncReport {
    fn from(r: s::SyncReport) -> Self {
        SyncReport {
            pushed: r.pushed,
            already_applied: r.already_applied,
            rejected: r.rejected,
            deferred: r.deferred,
            held: r.held,
            quarantined: map(r.quarantined),
            photos_uploaded: r.photos_uploaded,
            bytes_up: r.bytes_up,
            bytes_down: r.bytes_down,
            pulled_changes: r.pulled_changes,
            round_trips: r.round_trips,
            retries: r.retries,
            clock_offset_ms: r.clock_offset_ms,
            photos_collected: r.photos_collected,
        }
    }
}

/// How the sync engine talks to the server. Start from `defaultSyncOptions()`.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncOptions {
    /// Allow `http://` server URLs: local QA only, production requires https.
    pub allow_http: bool,
    /// Extra trusted root certificates, PEM (district servers often use a private CA).
    pub extra_root_certs_pem: Vec<String>,
    /// Hex SHA-256 of the server key's DER SubjectPublicKeyInfo; when non-empty the server's
    /// key must match one of them (a renewed certificate with the same key still matches).
    pub pinned_sha256: Vec<String>,
    /// On cellular, records whose photos are not uploaded wait for Wi-Fi.
    pub photos_wifi_only: bool,
    /// At most this many records per push request.
    pub batch_max_mutations: u32,
    /// At most this many payload bytes per push request.
    pub batch_max_bytes: u32,
    /// At most this many changes per pull page.
    pub pull_page_limit: u32,
    /// A request without progress for this long is cut.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts per request before the run fails with `Network`.
    pub max_attempts: u32,
    /// First backoff delay (doubles per failure, with jitter).
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest time spent retrying one request.
    pub max_retry_time: Duration,
    /// Size of one photo upload chunk.
    pub photo_chunk_bytes: u32,
    /// Longest a whole run may take; a server that trickles bytes or never stops paging
    /// ends the run with `Network` after this (what was committed stays). At most 24 h.
    pub run_deadline: Duration,
    /// Most pull pages in one run (the saved cursor resumes the rest next run).
    pub max_pull_pages: u32,
    /// How long acknowledged records stay re-sendable, in case the server is restored from
    /// an older backup. Between 1 day and 10 years.
    pub synced_retention: Duration,
}

impl From<s::SyncOptions> for SyncOptions {
    fn from(o: s::SyncOptions) -> Self {
        SyncOptions {
            allow_http: o.allow_http,
            extra_root_certs_pem: o.extra_root_certs_pem,
            pinned_sha256: o.pinned_sha256,
            photos_wifi_only: o.photos_wifi_only,
            batch_max_mutations: u32_of(o.batch_max_mutations),
            batch_max_bytes: u32_of(o.batch_max_bytes),
            pull_page_limit: o.pull_page_limit,
            request_timeout: o.request_timeout,
            connect_timeout: o.connect_timeout,
            max_attempts: o.max_attempts,
            base_backoff: o.base_backoff,
            max_backoff: o.max_backoff,
            max_retry_time: o.max_retry_time,
            photo_chunk_bytes: u32_of(o.photo_chunk_bytes),
            run_deadline: o.run_deadline,
            max_pull_pages: o.max_pull_pages,
            synced_retention: o.synced_retention,
        }
    }
}

impl From<SyncOptions> for s::SyncOptions {
    fn from(o: SyncOptions) -> Self {
        s::SyncOptions {
            allow_http: o.allow_http,
            extra_root_certs_pem: o.extra_root_certs_pem,
            pinned_sha256: o.pinned_sha256,
            photos_wifi_only: o.photos_wifi_only,
            batch_max_mutations: usize_of(o.batch_max_mutations),
            batch_max_bytes: usize_of(o.batch_max_bytes),
            pull_page_limit: o.pull_page_limit,
            request_timeout: o.request_timeout,
            connect_timeout: o.connect_timeout,
            max_attempts: o.max_attempts,
            base_backoff: o.base_backoff,
            max_backoff: o.max_backoff,
            max_retry_time: o.max_retry_time,
            photo_chunk_bytes: usize_of(o.photo_chunk_bytes),
            run_deadline: o.run_deadline,
            max_pull_pages: o.max_pull_pages,
            synced_retention: o.synced_retention,
        }
    }
}
