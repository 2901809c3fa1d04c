//! How far and how long a worker walked, measured honestly from noisy fixes.
//!
//! Summing the distances between 1 Hz fixes with 5 m of noise at walking pace overstates
//! the distance several times, and standing still accrues metres of jitter. So:
//!
//! 1. **Accuracy**: fixes worse than `max_accuracy_m` are left out.
//! 2. **Outliers**: a fix that could only be reached from the last kept one at more than
//!    `max_speed_mps` (after both fixes' accuracy is allowed for) is left out; after
//!    `reset_after` such fixes in a row the track restarts there (the worker really moved:
//!    a bus, a lift in a car), with no distance across the jump.
//! 3. **Segments**: a track splits where no usable fix came for `gap_s` (indoors,
//!    stairwells); nothing accrues across a gap.
//! 4. **Smoothing**: each segment is smoothed east and north with a constant-velocity Kalman
//!    filter and a Rauch-Tung-Striebel smoother (`kalman.rs`), each fix weighted by its
//!    reported accuracy (Android's and iOS's accuracy is a 68 % radius: sigma = accuracy / 1.5).
//! 5. **Standing still**: distance accrues only between smoothed positions where the worker
//!    is moving: the smoothed speed is above `moving_mps` *and* over `window_s` around the
//!    point the position moved farther than GPS drift carries it (12-30 m by accuracy). GPS
//!    error wanders slowly (a bias correlated over tens of seconds), so a standing worker's
//!    apparent speed can briefly look like a slow walk, but not for a whole window.

use super::kalman;
use crate::geo::Position;

const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// One fix of a track, WGS-84.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackFix {
    /// Milliseconds since the Unix epoch (UTC).
    pub t_ms: i64,
    pub position: Position,
    /// Horizontal accuracy as the platform reports it (m, 68 % radius).
    pub accuracy_m: f64,
    /// The platform marked it as a mock location.
    pub mock: bool,
}

/// The knobs of the measurement, with values for a worker on foot.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasureParams {
    pub max_accuracy_m: f64,
    pub max_speed_mps: f64,
    pub reset_after: usize,
    pub gap_s: f64,
    pub moving_mps: f64,
    /// Process noise of the walker model (m²/s³).
    pub accel_q: f64,
    /// Window over which moving is told from drift (s).
    pub window_s: f64,
}

impl Default for MeasureParams {
    fn default() -> Self {
        MeasureParams {
            // What `ValidationPolicy::max_accuracy_m` calls a good fix.
            max_accuracy_m: 50.0,
            // An e-bike in town; a walker is 1-2 m/s.
            max_speed_mps: 12.0,
            reset_after: 5,
            gap_s: 300.0,
            // Slower than the slowest patrol walk (about 0.8 m/s); faster than GPS drift.
            moving_mps: 0.45,
            accel_q: 0.08,
            window_s: 40.0,
        }
    }
}

/// What the measurement found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measurement {
    pub distance_m: f64,
    /// Time spent moving (s).
    pub moving_s: f64,
    /// Time covered by usable fixes, gaps excluded (s).
    pub tracked_s: f64,
    /// Fixes used, and those left out for accuracy or as outliers.
    pub used: usize,
    pub inaccurate: usize,
    pub outliers: usize,
    /// Gaps of at least `gap_s` without a usable fix: (start ms, end ms).
    pub gaps: Vec<(i64, i64)>,
    /// The smoothed track, WGS-84, one point per used fix (for drawing and coverage).
    pub smoothed: Vec<(i64, Position)>,
    /// Per used fix: how far the fix lies from the smoothed track (m), its accuracy, and
    /// whether the worker was moving there (for the spoof signals).
    pub residuals: Vec<Residual>,
    /// Where the track restarted after a jump no walker makes: (last kept ms, first ms after).
    pub jumps: Vec<(i64, i64)>,
    /// Fixes whose time was not after the one before: (previous ms, this ms).
    pub time_reversals: Vec<(i64, i64)>,
}

/// One used fix seen against the smoothed track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Residual {
    pub t_ms: i64,
    pub off_m: f64,
    pub accuracy_m: f64,
    pub moving: bool,
}

/// Measures a track. `fixes` in time order (a fix not after the previous one is left out).
pub fn measure(fixes: &[TrackFix], p: &MeasureParams) -> Measurement {
    let mut m = Measurement::default();
    let mut segments: Vec<Vec<TrackFix>> = Vec::new();
    let mut current: Vec<TrackFix> = Vec::new();
    let mut rejected_in_a_row = 0usize;
    for f in fixes {
        let usable = f.accuracy_m.is_finite()
            && f.accuracy_m > 0.0
            && f.accuracy_m <= p.max_accuracy_m
            && f.position.lat.is_finite()
            && f.position.lon.is_finite();
        if !usable {
            m.inaccurate += 1;
            continue;
        }
        let Some(last) = current.last().copied() else {
            current.push(*f);
            continue;
        };
        if f.t_ms <= last.t_ms {
            m.time_reversals.push((last.t_ms, f.t_ms));
            continue;
        }
        let dt = (f.t_ms - last.t_ms) as f64 / 1000.0;
        if dt >= p.gap_s {
            m.gaps.push((last.t_ms, f.t_ms));
            segments.push(std::mem::take(&mut current));
            current.push(*f);
            rejected_in_a_row = 0;
            continue;
        }
        let beyond =
            (last.position.distance_m(f.position) - last.accuracy_m - f.accuracy_m).max(0.0);
        if beyond / dt > p.max_speed_mps {
            m.outliers += 1;
            rejected_in_a_row += 1;
            if rejected_in_a_row >= p.reset_after {
                // Either the last kept fix was the stray one (a multipath fix kept after an
                // indoor stop) and the track goes on from the one before it, or the worker
                // really jumped.
                let before = current
                    .len()
                    .checked_sub(2)
                    .and_then(|i| current.get(i))
                    .copied();
                if before.is_some_and(|b| reachable(&b, f, p)) {
                    current.pop();
                    current.push(*f);
                } else {
                    m.jumps.push((last.t_ms, f.t_ms));
                    segments.push(std::mem::take(&mut current));
                    current.push(*f);
                }
                rejected_in_a_row = 0;
            }
            continue;
        }
        rejected_in_a_row = 0;
        current.push(*f);
    }
    segments.push(current);
    for seg in segments.iter().filter(|s| !s.is_empty()) {
        measure_segment(seg, p, &mut m);
    }
    m
}

/// Whether `to` can be reached from `from` within the speed limit, both fixes' accuracy
/// allowed for.
fn reachable(from: &TrackFix, to: &TrackFix, p: &MeasureParams) -> bool {
    let dt = (to.t_ms - from.t_ms) as f64 / 1000.0;
    let beyond = (from.position.distance_m(to.position) - from.accuracy_m - to.accuracy_m).max(0.0);
    dt > 0.0 && beyond / dt <= p.max_speed_mps
}

fn measure_segment(seg: &[TrackFix], p: &MeasureParams, m: &mut Measurement) {
    let origin = seg[0].position;
    let cos_lat = origin.lat.to_radians().cos().max(1e-6);
    let to_local = |q: Position| {
        (
            (q.lon - origin.lon).to_radians() * EARTH_RADIUS_M * cos_lat,
            (q.lat - origin.lat).to_radians() * EARTH_RADIUS_M,
        )
    };
    let t0 = seg[0].t_ms;
    let (mut east, mut north) = (Vec::with_capacity(seg.len()), Vec::with_capacity(seg.len()));
    for f in seg {
        let (x, y) = to_local(f.position);
        let t = (f.t_ms - t0) as f64 / 1000.0;
        let var = (f.accuracy_m / 1.5).powi(2);
        east.push((t, x, var));
        north.push((t, y, var));
    }
    let se = kalman::smooth(&east, p.accel_q);
    let sn = kalman::smooth(&north, p.accel_q);
    let moving = moving_flags(seg, &se, &sn, p);
    m.used += seg.len();
    for i in 0..seg.len() {
        let (x, y) = (se[i].0, sn[i].0);
        let lat = origin.lat + (y / EARTH_RADIUS_M).to_degrees();
        let lon = origin.lon + (x / (EARTH_RADIUS_M * cos_lat)).to_degrees();
        m.smoothed.push((seg[i].t_ms, Position::new(lat, lon)));
        let (rx, ry) = to_local(seg[i].position);
        m.residuals.push(Residual {
            t_ms: seg[i].t_ms,
            off_m: (rx - x).hypot(ry - y),
            accuracy_m: seg[i].accuracy_m,
            moving: moving[i],
        });
        if i == 0 {
            continue;
        }
        let dt = (seg[i].t_ms - seg[i - 1].t_ms) as f64 / 1000.0;
        m.tracked_s += dt;
        if moving[i - 1] && moving[i] {
            m.distance_m += (se[i].0 - se[i - 1].0).hypot(sn[i].0 - sn[i - 1].0);
            m.moving_s += dt;
        }
    }
}

/// Whether the worker is moving at each smoothed point: the smoothed speed is a walker's,
/// and over a window of `window_s` around the point the smoothed position moved farther than
/// GPS drift does. Drift (a bias wandering over tens of seconds) can look like a slow walk for
/// a few seconds; it does not carry the position 12-30 m away (more for worse accuracy) within
/// the window, which even a slow walker does.
fn moving_flags(
    seg: &[TrackFix],
    se: &[(f64, f64)],
    sn: &[(f64, f64)],
    p: &MeasureParams,
) -> Vec<bool> {
    let half_ms = (p.window_s * 500.0) as i64;
    let (mut lo, mut hi) = (0usize, 0usize);
    (0..seg.len())
        .map(|i| {
            let t = seg[i].t_ms;
            while seg[lo].t_ms < t - half_ms {
                lo += 1;
            }
            while hi + 1 < seg.len() && seg[hi + 1].t_ms <= t + half_ms {
                hi += 1;
            }
            let span_s = (seg[hi].t_ms - seg[lo].t_ms) as f64 / 1000.0;
            let moved = (se[hi].0 - se[lo].0).hypot(sn[hi].0 - sn[lo].0);
            let needed = (1.5 * seg[i].accuracy_m).clamp(12.0, 30.0) / p.window_s;
            let speed = se[i].1.hypot(sn[i].1);
            speed > p.moving_mps && span_s > 0.0 && moved / span_s > needed
        })
        .collect()
}

/// The naive measure: the sum of straight lines between consecutive fixes, every fix.
pub fn naive_distance(fixes: &[TrackFix]) -> f64 {
    fixes
        .windows(2)
        .map(|w| w[0].position.distance_m(w[1].position))
        .sum()
}
