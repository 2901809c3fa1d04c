//! Mirrored types: progress and counts.

use super::*;

pub use progress::PatrolProgress;
pub use w::KindCounts;

/// An ISO week (`2026-W48` is `IsoWeek(year = 2026, week = 48)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct IsoWeek {
    pub year: i32,
    pub week: u32,
}

/// Patrol progress over a local day or an ISO week.
#[uniffi::remote(Record)]
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
    /// Distance walked on patrol (m), measured from the track (see `trackSummary`).
    pub track_distance_m: f64,
    /// Time on patrol with usable fixes (s).
    pub patrol_s: f64,
    /// Share of the worker's grids' area within 25 m of the track, 0 to 1 (their mean).
    pub grid_coverage: f64,
}

/// Counts per record kind.
#[uniffi::remote(Record)]
pub struct KindCounts {
    pub checkins: u64,
    pub visits: u64,
    pub reports: u64,
    pub tasks: u64,
    pub photos: u64,
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
            pending: c.pending,
            synced: c.synced,
            rejected: c.rejected,
            quarantined: c.quarantined,
            drafts: c.drafts,
            last_sync: c.last_sync.map(from_utc),
            clock_offset_ms: c.clock_offset_ms,
        }
    }
}
