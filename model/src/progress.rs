//! Patrol progress: which of the worker's inspection points were checked in a day or week.

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// Progress over one period (a local day or an ISO week).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatrolProgress {
    /// First and last local day of the period (`YYYY-MM-DD`).
    pub from_day: String,
    pub to_day: String,
    /// Inspection points in the worker's grids.
    pub points_due: u32,
    /// Points with at least one accepted check-in.
    pub checked_accepted: u32,
    /// Points with check-ins, all of them flagged.
    pub checked_flagged_only: u32,
    /// Points with no check-in at all.
    pub missed: u32,
    /// `checked_accepted / points_due` in percent (0 when nothing is due).
    pub coverage_percent: f64,
    /// Ids of the missed points (so the app can show where to go).
    pub missed_point_ids: Vec<String>,
    /// The period's patrol track (`crate::track`): distance walked (m), time on patrol with
    /// usable fixes (s), and the share of the worker's grids' area within 25 m of the track,
    /// 0 to 1 (the grids' mean). 0 without a track.
    #[serde(default)]
    pub track_distance_m: f64,
    #[serde(default)]
    pub patrol_s: f64,
    #[serde(default)]
    pub grid_coverage: f64,
}

/// The local days of ISO week `week` of `year`, Monday to Sunday.
pub fn iso_week_days(year: i32, week: u32) -> Option<(NaiveDate, NaiveDate)> {
    // chrono overflows (panics in debug builds) on years at the ends of its range; such
    // years come only from hostile input (found by the bindings' bad-input tests).
    if !(NaiveDate::MIN.year() < year && year < NaiveDate::MAX.year()) {
        return None;
    }
    let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)?;
    Some((monday, monday + Duration::days(6)))
}

/// Parses `YYYY-Www` (e.g. `2026-W48`).
pub fn parse_iso_week(s: &str) -> Option<(i32, u32)> {
    let (y, w) = s.split_once("-W")?;
    let year: i32 = y.parse().ok()?;
    let week: u32 = w.parse().ok()?;
    iso_week_days(year, week)?;
    Some((year, week))
}

/// Computes progress from the due points and the `(point_id, outcome)` pairs of the period.
pub fn compute(
    from: NaiveDate,
    to: NaiveDate,
    due: &[String],
    outcomes: &[(String, String)],
) -> PatrolProgress {
    use std::collections::HashMap;
    let mut best: HashMap<&str, bool> = HashMap::new();
    for (point, outcome) in outcomes {
        let accepted = outcome == "accepted";
        let e = best.entry(point.as_str()).or_insert(false);
        *e |= accepted;
    }
    let mut accepted = 0;
    let mut flagged = 0;
    let mut missed_ids = Vec::new();
    for p in due {
        match best.get(p.as_str()) {
            Some(true) => accepted += 1,
            Some(false) => flagged += 1,
            None => missed_ids.push(p.clone()),
        }
    }
    let due_n = due.len() as u32;
    PatrolProgress {
        from_day: from.to_string(),
        to_day: to.to_string(),
        points_due: due_n,
        checked_accepted: accepted,
        checked_flagged_only: flagged,
        missed: missed_ids.len() as u32,
        coverage_percent: if due_n == 0 {
            0.0
        } else {
            f64::from(accepted) * 100.0 / f64::from(due_n)
        },
        missed_point_ids: missed_ids,
        track_distance_m: 0.0,
        patrol_s: 0.0,
        grid_coverage: 0.0,
    }
}

/// Convenience: the ISO week (year, week) a day falls in.
pub fn week_of(day: NaiveDate) -> (i32, u32) {
    let w = day.iso_week();
    (w.year(), w.week())
}
