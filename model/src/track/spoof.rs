//! Track-level signs of a fake location (issue 13, item 5), each with the time range it
//! covers. Flags, never refusals: the back office decides.
//!
//! - `teleport`: the track jumped somewhere no walker or e-bike gets in that time and went
//!   on from there (a single far fix is multipath and is only left out);
//! - `too_regular`: for several minutes of walking, the fixes lie on the smoothed line far
//!   more exactly than their reported accuracy allows. Real GNSS scatters by a good part of
//!   its accuracy radius; a joystick or route-drawing app moves a point along a line with
//!   little or no scatter while still reporting 5 m;
//! - `mock_location`: the platform marked fixes as mock;
//! - `clock_jump`: fix times went backwards (the phone's clock was set by hand).
//!
//! Not detected here: a replay of a real track shifted in time, whose scatter is real; it
//! needs the worker's earlier tracks to compare with.

use serde::{Deserialize, Serialize};

use super::{Measurement, TrackFix};

/// What kind of sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackFlagKind {
    Teleport,
    TooRegular,
    MockLocation,
    ClockJump,
}

impl TrackFlagKind {
    /// The machine-readable name, as serialised.
    pub const fn code(self) -> &'static str {
        match self {
            TrackFlagKind::Teleport => "teleport",
            TrackFlagKind::TooRegular => "too_regular",
            TrackFlagKind::MockLocation => "mock_location",
            TrackFlagKind::ClockJump => "clock_jump",
        }
    }
}

/// A sign and the time range it covers (ms since the epoch, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackFlag {
    pub kind: TrackFlagKind,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// Window of walking over which scatter is judged (ms), how often, and the least walking
/// fixes in it.
const WINDOW_MS: i64 = 300_000;
const STEP_MS: i64 = 30_000;
const MIN_MOVING_FIXES: usize = 120;
/// A median distance of the fixes from the smoothed line below this share of the median
/// reported accuracy is too regular: real GNSS scatters by about 0.3 of its accuracy radius
/// (a 68 % radius, white part alone), a joystick by next to nothing.
const REGULAR_SHARE: f64 = 0.1;

/// The signs in a measured track (`fixes` as given to [`super::measure`]).
pub fn signals(fixes: &[TrackFix], m: &Measurement) -> Vec<TrackFlag> {
    let mut flags = Vec::new();
    for &(from_ms, to_ms) in &m.jumps {
        flags.push(TrackFlag {
            kind: TrackFlagKind::Teleport,
            from_ms,
            to_ms,
        });
    }
    for &(a, b) in &m.time_reversals {
        flags.push(TrackFlag {
            kind: TrackFlagKind::ClockJump,
            from_ms: a.min(b),
            to_ms: a.max(b),
        });
    }
    let mock: Vec<(i64, i64)> = fixes
        .iter()
        .filter(|f| f.mock)
        .map(|f| (f.t_ms, f.t_ms))
        .collect();
    push_merged(&mut flags, TrackFlagKind::MockLocation, &mock, 60_000);
    push_merged(
        &mut flags,
        TrackFlagKind::TooRegular,
        &regular_windows(m),
        0,
    );
    flags.sort_by_key(|f| (f.from_ms, f.kind));
    flags
}

/// Windows of walking whose scatter is far below the accuracy claimed, judged every
/// [`STEP_MS`] on medians (a corner the smoother cuts does not hide a joystick's straight
/// legs, and one multipath fix does not clear them).
fn regular_windows(m: &Measurement) -> Vec<(i64, i64)> {
    let moving: Vec<_> = m.residuals.iter().filter(|r| r.moving).collect();
    let mut out = Vec::new();
    let (Some(first), Some(last)) = (moving.first(), moving.last()) else {
        return out;
    };
    let mut lo = 0usize;
    let mut hi = 0usize;
    let mut end = first.t_ms + WINDOW_MS;
    while end <= last.t_ms + STEP_MS {
        while hi < moving.len() && moving[hi].t_ms <= end {
            hi += 1;
        }
        while lo < hi && moving[lo].t_ms < end - WINDOW_MS {
            lo += 1;
        }
        let window = &moving[lo..hi];
        if window.len() >= MIN_MOVING_FIXES {
            let off = median(window.iter().map(|r| r.off_m).collect());
            let accuracy = median(window.iter().map(|r| r.accuracy_m).collect());
            if off < REGULAR_SHARE * accuracy {
                out.push((window[0].t_ms, window[window.len() - 1].t_ms));
            }
        }
        end += STEP_MS;
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Adds `ranges` (in time order) as flags of `kind`, merging those closer than `join_ms`.
fn push_merged(
    flags: &mut Vec<TrackFlag>,
    kind: TrackFlagKind,
    ranges: &[(i64, i64)],
    join_ms: i64,
) {
    let mut cur: Option<(i64, i64)> = None;
    for &(a, b) in ranges {
        cur = match cur {
            Some((s, e)) if a <= e.saturating_add(join_ms) => Some((s, e.max(b))),
            Some((s, e)) => {
                flags.push(TrackFlag {
                    kind,
                    from_ms: s,
                    to_ms: e,
                });
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((s, e)) = cur {
        flags.push(TrackFlag {
            kind,
            from_ms: s,
            to_ms: e,
        });
    }
}
