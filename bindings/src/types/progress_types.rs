//! Mirrored types: progress and counts.

use super::*;

/// An ISO week (`2026-W48` is `IsoWeek(year = 2026, week = 48)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct IsoWeek {
    pub year: i32,
    pub week: i32,
}

impl IsoWeek {
    pub(crate) fn to_core(self) -> Result<(i32, u32)> {
        // Its days come back as `LocalDay`s (years 1 to 9999): a week beyond is refused as
        // the week the app passed, not as a day it never did.
        if !(1..=9999).contains(&self.year) {
            return Err(invalid("week", "year must be between 1 and 9999"));
        }
        Ok((self.year, count("week", self.week)?))
    }
}

/// Patrol progress over a local day or an ISO week.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PatrolProgress {
    /// First and last local day of the period.
    pub from_day: LocalDay,
    pub to_day: LocalDay,
    /// Inspection points in the worker's grids.
    pub points_due: i32,
    /// Points with at least one accepted check-in.
    pub checked_accepted: i32,
    /// Points with check-ins, all of them flagged.
    pub checked_flagged_only: i32,
    /// Points with no check-in.
    pub missed: i32,
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

impl PatrolProgress {
    /// The FFI shape; the core's days are `YYYY-MM-DD` it wrote itself.
    pub(crate) fn from_core(p: progress::PatrolProgress) -> Result<Self> {
        Ok(PatrolProgress {
            from_day: LocalDay::parse("day", &p.from_day)?,
            to_day: LocalDay::parse("day", &p.to_day)?,
            points_due: int(p.points_due),
            checked_accepted: int(p.checked_accepted),
            checked_flagged_only: int(p.checked_flagged_only),
            missed: int(p.missed),
            coverage_percent: p.coverage_percent,
            missed_point_ids: p.missed_point_ids,
            track_distance_m: p.track_distance_m,
            patrol_s: p.patrol_s,
            grid_coverage: p.grid_coverage,
        })
    }
}

/// Counts per record kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct KindCounts {
    pub checkins: i64,
    pub visits: i64,
    pub reports: i64,
    pub tasks: i64,
    pub photos: i64,
}

impl From<w::KindCounts> for KindCounts {
    fn from(c: w::KindCounts) -> Self {
        KindCounts {
            checkins: long(c.checkins),
            visits: long(c.visits),
            reports: long(c.reports),
            tasks: long(c.tasks),
            photos: long(c.photos),
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
    pub drafts: i64,
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
            drafts: long(c.drafts),
            last_sync: c.last_sync.map(from_utc),
            clock_offset_ms: c.clock_offset_ms,
        }
    }
}
