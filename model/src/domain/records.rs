//! What a worker records. Each record type is also its own canonical payload: the JSON
//! serialisation of these structs (field order fixed by declaration) is what the hash chain
//! covers and what push sends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::location::LocationFix;
use crate::geo::Position;

/// Why a record was flagged. Machine-readable; the back office grades on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Check-in fix farther from the point than its radius.
    OutsideRadius,
    /// Fix accuracy worse than the policy allows.
    Inaccurate,
    /// The platform marked the fix as mock / simulated.
    MockLocation,
    /// The fix was older than the policy allows when the record was made.
    StaleFix,
    /// Reaching this fix from the previous one needs an impossible speed.
    ImpossibleSpeed,
    /// The wall clock moved differently from the monotonic clock (clock set by hand).
    ClockJump,
    /// A visit recorded farther from the household than the policy allows.
    FarFromHousehold,
    /// A visit recorded outside every grid assigned to the worker.
    OutsideWorkerGrids,
    /// A photo's EXIF position lies farther from the record's fix than the policy allows.
    PhotoFarFromFix,
    /// A photo's EXIF capture time is older than the policy allows at record time.
    PhotoTooOld,
}

impl Flag {
    pub fn code(self) -> &'static str {
        match self {
            Flag::OutsideRadius => "outside_radius",
            Flag::Inaccurate => "inaccurate",
            Flag::MockLocation => "mock_location",
            Flag::StaleFix => "stale_fix",
            Flag::ImpossibleSpeed => "impossible_speed",
            Flag::ClockJump => "clock_jump",
            Flag::FarFromHousehold => "far_from_household",
            Flag::OutsideWorkerGrids => "outside_worker_grids",
            Flag::PhotoFarFromFix => "photo_far_from_fix",
            Flag::PhotoTooOld => "photo_too_old",
        }
    }
}

/// Verdict on a check-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckInOutcome {
    Accepted,
    Flagged,
}

/// A patrol check-in at an inspection point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckIn {
    pub id: String,
    pub worker_id: String,
    pub device_id: String,
    pub point_id: String,
    pub fix: LocationFix,
    /// The fix in WGS-84.
    pub position: Position,
    pub distance_m: f64,
    pub outcome: CheckInOutcome,
    pub flags: Vec<Flag>,
    /// Device wall clock when recorded.
    pub recorded_at: DateTime<Utc>,
}

/// Kind of household visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitKind {
    Routine,
    InformationCollection,
    CareVisit,
    Mediation,
    SafetyCheck,
    Other,
}

impl VisitKind {
    pub fn code(self) -> &'static str {
        match self {
            VisitKind::Routine => "routine",
            VisitKind::InformationCollection => "information_collection",
            VisitKind::CareVisit => "care_visit",
            VisitKind::Mediation => "mediation",
            VisitKind::SafetyCheck => "safety_check",
            VisitKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "routine" => VisitKind::Routine,
            "information_collection" => VisitKind::InformationCollection,
            "care_visit" => VisitKind::CareVisit,
            "mediation" => VisitKind::Mediation,
            "safety_check" => VisitKind::SafetyCheck,
            "other" => VisitKind::Other,
            _ => return None,
        })
    }
}

/// A household visit (入户走访). The note is personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub id: String,
    pub worker_id: String,
    pub device_id: String,
    pub household_id: String,
    pub kind: VisitKind,
    pub note: String,
    pub fix: LocationFix,
    pub position: Position,
    pub distance_m: f64,
    pub flags: Vec<Flag>,
    pub recorded_at: DateTime<Utc>,
}

/// Image formats the photo store accepts, recognised by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MediaType {
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/heic")]
    Heic,
}

impl MediaType {
    pub fn mime(self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
            MediaType::Heic => "image/heic",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            MediaType::Jpeg => "jpg",
            MediaType::Png => "png",
            MediaType::Heic => "heic",
        }
    }

    pub fn from_mime(s: &str) -> Option<Self> {
        match s {
            "image/jpeg" => Some(MediaType::Jpeg),
            "image/png" => Some(MediaType::Png),
            "image/heic" => Some(MediaType::Heic),
            _ => None,
        }
    }
}

/// A photo held by the core's photo store, addressed by its content hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Photo {
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub size: u64,
    pub media_type: MediaType,
    /// When the photo was taken: as the app passed it, else the photo's EXIF time.
    pub captured_at: Option<DateTime<Utc>>,
    /// The capture time the photo's EXIF states (`DateTimeOriginal`, at its
    /// `OffsetTimeOriginal`, else at UTC+8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exif_time: Option<DateTime<Utc>>,
    /// Where the photo's EXIF says it was taken, taken as WGS-84 (docs/protocol.md §5.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exif_position: Option<Position>,
    /// SHA-256 of the file the app handed over, when the core sent different bytes
    /// (scaled, re-encoded or stripped of metadata): proves the photo came from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_sha256: Option<String>,
    /// Size of that original file in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_size: Option<u64>,
}

/// Where a 随手拍 report stands. `Draft` and `Queued` are local; the rest mirror the server's
/// closed loop (受理 → 交办 → 办结 ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

impl ReportStatus {
    pub fn code(self) -> &'static str {
        match self {
            ReportStatus::Draft => "draft",
            ReportStatus::Queued => "queued",
            ReportStatus::Submitted => "submitted",
            ReportStatus::Accepted => "accepted",
            ReportStatus::Dispatched => "dispatched",
            ReportStatus::Resolved => "resolved",
            ReportStatus::Closed => "closed",
            ReportStatus::Reopened => "reopened",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => ReportStatus::Draft,
            "queued" => ReportStatus::Queued,
            "submitted" => ReportStatus::Submitted,
            "accepted" => ReportStatus::Accepted,
            "dispatched" => ReportStatus::Dispatched,
            "resolved" => ReportStatus::Resolved,
            "closed" => ReportStatus::Closed,
            "reopened" => ReportStatus::Reopened,
            _ => return None,
        })
    }

    /// Still needs attention (counts for the duplicate hint).
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            ReportStatus::Draft | ReportStatus::Resolved | ReportStatus::Closed
        )
    }
}

/// Largest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// Largest visit or task note accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 4_000;
/// A report carries one to nine photos.
pub const MAX_PHOTOS: usize = 9;

/// The canonical payload of a submitted 随手拍 report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportPayload {
    pub id: String,
    pub worker_id: String,
    pub device_id: String,
    pub category: String,
    pub description: String,
    pub photos: Vec<Photo>,
    pub fix: LocationFix,
    pub position: Position,
    pub flags: Vec<Flag>,
    /// An existing report this one adds to, when the worker followed the duplicate hint.
    pub attach_to: Option<String>,
    pub created_at: DateTime<Utc>,
    pub submitted_at: DateTime<Utc>,
}

/// Follow-up from the back office on a report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ReportProgress {
    pub department: Option<String>,
    pub note: Option<String>,
    pub evaluation: Option<String>,
}

/// A 随手拍 report as the worker sees it on the phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoReport {
    pub id: String,
    pub category: String,
    pub description: String,
    pub photos: Vec<Photo>,
    pub position: Option<Position>,
    pub status: ReportStatus,
    pub progress: ReportProgress,
    pub flags: Vec<Flag>,
    pub attach_to: Option<String>,
    /// True for reports filed from this device; false for others' reports pulled for the
    /// duplicate hint.
    pub own: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a dispatched task stands on the worker's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Dispatched,
    Acknowledged,
    Completed,
    Cancelled,
}

impl TaskStatus {
    pub fn code(self) -> &'static str {
        match self {
            TaskStatus::Dispatched => "dispatched",
            TaskStatus::Acknowledged => "acknowledged",
            TaskStatus::Completed => "completed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "dispatched" => TaskStatus::Dispatched,
            "acknowledged" => TaskStatus::Acknowledged,
            "completed" => TaskStatus::Completed,
            "cancelled" => TaskStatus::Cancelled,
            _ => return None,
        })
    }
}

/// A task dispatched to the worker by the back office (吹哨报到).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub description: String,
    pub place: Option<Position>,
    pub address: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub linked_report_id: Option<String>,
    pub status: TaskStatus,
    pub dispatched_at: DateTime<Utc>,
}

/// The worker's (or, through the worker, the resident's) evaluation of a resolved report
/// (评价): satisfied closes it, unsatisfied reopens it with the reason. A record like any
/// other; the server applies the transition when the report is still resolved there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportEvaluationPayload {
    pub id: String,
    pub report_id: String,
    pub worker_id: String,
    pub device_id: String,
    pub satisfied: bool,
    /// Why not satisfied (required then, at most [`MAX_EVALUATION_CHARS`]); may be empty
    /// when satisfied.
    pub reason: String,
    pub evaluated_at: DateTime<Utc>,
}

/// Longest evaluation reason, in characters.
pub const MAX_EVALUATION_CHARS: usize = 500;

/// The worker acknowledging a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskAckPayload {
    pub task_id: String,
    pub worker_id: String,
    pub device_id: String,
    pub acknowledged_at: DateTime<Utc>,
}

/// The worker completing a task: a record like any other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCompletionPayload {
    pub id: String,
    pub task_id: String,
    pub worker_id: String,
    pub device_id: String,
    pub note: String,
    pub photos: Vec<Photo>,
    pub fix: LocationFix,
    pub position: Position,
    pub flags: Vec<Flag>,
    pub completed_at: DateTime<Utc>,
}
