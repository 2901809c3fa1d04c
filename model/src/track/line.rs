//! The derived, simplified line of a track (issue 13, item 3): what a map draws and what the
//! back office plays back. Derived from the smoothed track on demand rather than stored: the
//! raw fixes are the evidence, the line is a view of them.
//!
//! Ramer-Douglas-Peucker (`geo`'s `SimplifyIdx`) on planar metres around the track's first
//! point, one piece per stretch between gaps so no line is drawn across a gap.

use geo::{LineString, SimplifyIdx};

use crate::geo::Position;

use super::Measurement;

/// Default tolerance: a point leaves the line when it is within this many metres of it.
pub const TOLERANCE_M: f64 = 5.0;
const M_PER_DEG_LAT: f64 = 111_195.0;

/// The smoothed track as pieces of (time ms, position), each simplified to `tolerance_m`.
/// A new piece starts after a gap of the measurement.
pub fn simplified(m: &Measurement, tolerance_m: f64) -> Vec<Vec<(i64, Position)>> {
    let Some(&(_, origin)) = m.smoothed.first() else {
        return vec![];
    };
    let cos = origin.lat.to_radians().cos().max(1e-6);
    let mut pieces: Vec<&[(i64, Position)]> = Vec::new();
    let mut start = 0;
    for i in 1..m.smoothed.len() {
        let (a, b) = (m.smoothed[i - 1].0, m.smoothed[i].0);
        if m.gaps.iter().any(|&(g0, g1)| g0 >= a && g1 <= b) {
            pieces.push(&m.smoothed[start..i]);
            start = i;
        }
    }
    pieces.push(&m.smoothed[start..]);
    pieces
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|piece| {
            let line: LineString<f64> = piece
                .iter()
                .map(|(_, p)| {
                    (
                        (p.lon - origin.lon) * M_PER_DEG_LAT * cos,
                        (p.lat - origin.lat) * M_PER_DEG_LAT,
                    )
                })
                .collect();
            line.simplify_idx(tolerance_m)
                .into_iter()
                .filter_map(|i| piece.get(i).copied())
                .collect()
        })
        .collect()
}
