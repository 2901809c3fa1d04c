//! A worker's day on patrol, from the measured track (issue 13, item 4): distance, time,
//! time inside the worker's own grids, inspection points passed, coverage of each grid, gaps
//! and the spoof signs.
//!
//! **Coverage** is computed on a raster of `COVER_CELL_M` cells: the share of a grid's cells
//! (those whose centre lies inside it) with a smoothed track point within `COVER_RADIUS_M` of
//! the centre. A raster rather than buffering the line: it costs a fixed number of cells per
//! track point, whatever the grid's shape, and its error (half a cell at the buffer's edge)
//! is below GNSS accuracy.
//!
//! **Passing a point** is evidence distinct from a check-in: the smoothed track came within
//! the point's radius (or `default_radius_m`).

use serde::{Deserialize, Serialize};

use crate::domain::{Grid, InspectionPoint};
use crate::geo::Position;
use crate::geo::membership::GridShape;

use super::{Measurement, TrackFlag};

/// Radius around the track that counts as covered (m).
pub const COVER_RADIUS_M: f64 = 25.0;
/// Side of a coverage cell (m).
pub const COVER_CELL_M: f64 = 10.0;
/// Largest grid side a coverage raster is made for (m); a bigger "grid" is not a
/// community grid and gets no coverage figure.
const MAX_GRID_SIDE_M: f64 = 20_000.0;
const M_PER_DEG_LAT: f64 = 111_195.0;

/// The coverage of one grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridCoverage {
    pub code: String,
    /// Share of the grid's area within [`COVER_RADIUS_M`] of the track, 0 to 1.
    pub coverage: f64,
}

/// An inspection point the track passed, and when first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointPassed {
    pub point_id: String,
    pub at_ms: i64,
}

/// The day in figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaySummary {
    pub distance_m: f64,
    /// Time covered by usable fixes (s).
    pub patrol_s: f64,
    pub moving_s: f64,
    /// Of `patrol_s`, time inside one of the worker's grids (s).
    pub in_grid_s: f64,
    pub points_passed: Vec<PointPassed>,
    pub coverage: Vec<GridCoverage>,
    /// Stretches of at least the gap length without a usable fix: (start ms, end ms).
    pub gaps: Vec<(i64, i64)>,
    pub flags: Vec<TrackFlag>,
}

/// Sums up a measured day over the worker's `grids` and their `points`.
pub fn summarise(
    m: &Measurement,
    flags: Vec<TrackFlag>,
    grids: &[Grid],
    points: &[InspectionPoint],
    default_radius_m: f64,
) -> DaySummary {
    let shapes: Vec<GridShape> = grids.iter().filter_map(GridShape::of).collect();
    let inside = |p: Position| shapes.iter().any(|s| s.contains(p));
    let mut in_grid_s = 0.0;
    for w in m.smoothed.windows(2) {
        let (a, b) = (w[0], w[1]);
        // Within one segment only: across a gap nothing was measured.
        let dt = (b.0 - a.0) as f64 / 1000.0;
        if dt > 0.0 && dt < 300.0 && inside(a.1) && inside(b.1) {
            in_grid_s += dt;
        }
    }
    // Planar metres around the track's first point: at a few km the error is centimetres,
    // and 30 points x 28,800 fixes of great-circle distances cost more than the rest together.
    let origin = m
        .smoothed
        .first()
        .map(|(_, p)| *p)
        .unwrap_or(Position::new(0.0, 0.0));
    let cos = origin.lat.to_radians().cos().max(1e-6);
    let local = |p: Position| {
        (
            (p.lon - origin.lon) * M_PER_DEG_LAT * cos,
            (p.lat - origin.lat) * M_PER_DEG_LAT,
        )
    };
    let track: Vec<(i64, (f64, f64))> = m.smoothed.iter().map(|(t, p)| (*t, local(*p))).collect();
    let mut points_passed = Vec::new();
    for p in points {
        let radius = if p.radius_m > 0.0 {
            p.radius_m
        } else {
            default_radius_m
        };
        let (px, py) = local(p.position);
        if let Some(&(t, _)) = track
            .iter()
            .find(|(_, (x, y))| (x - px).hypot(y - py) <= radius)
        {
            points_passed.push(PointPassed {
                point_id: p.id.clone(),
                at_ms: t,
            });
        }
    }
    points_passed.sort_by_key(|p| p.at_ms);
    let coverage = grids
        .iter()
        .zip(grids.iter().map(GridShape::of))
        .filter_map(|(g, s)| {
            let s = s?;
            Some(GridCoverage {
                code: g.code.clone(),
                coverage: coverage_of(&g.boundary, &s, &m.smoothed)?,
            })
        })
        .collect();
    DaySummary {
        distance_m: m.distance_m,
        patrol_s: m.tracked_s,
        moving_s: m.moving_s,
        in_grid_s,
        points_passed,
        coverage,
        gaps: m.gaps.clone(),
        flags,
    }
}

/// Share of the grid's cells within [`COVER_RADIUS_M`] of a track point; `None` for a grid
/// too large to rasterise.
fn coverage_of(boundary: &[Position], shape: &GridShape, track: &[(i64, Position)]) -> Option<f64> {
    let lat0 = boundary.iter().map(|p| p.lat).fold(f64::INFINITY, f64::min);
    let lon0 = boundary.iter().map(|p| p.lon).fold(f64::INFINITY, f64::min);
    let lat1 = boundary
        .iter()
        .map(|p| p.lat)
        .fold(f64::NEG_INFINITY, f64::max);
    let lon1 = boundary
        .iter()
        .map(|p| p.lon)
        .fold(f64::NEG_INFINITY, f64::max);
    let cos = lat0.to_radians().cos().max(1e-6);
    let (w_m, h_m) = (
        (lon1 - lon0) * M_PER_DEG_LAT * cos,
        (lat1 - lat0) * M_PER_DEG_LAT,
    );
    if !(w_m.is_finite() && h_m.is_finite()) || w_m > MAX_GRID_SIDE_M || h_m > MAX_GRID_SIDE_M {
        return None;
    }
    let cols = (w_m / COVER_CELL_M).ceil().max(1.0) as usize;
    let rows = (h_m / COVER_CELL_M).ceil().max(1.0) as usize;
    let centre = |c: usize, r: usize| {
        Position::new(
            lat0 + ((r as f64 + 0.5) * COVER_CELL_M) / M_PER_DEG_LAT,
            lon0 + ((c as f64 + 0.5) * COVER_CELL_M) / (M_PER_DEG_LAT * cos),
        )
    };
    let cell_inside: Vec<bool> = (0..rows * cols)
        .map(|i| shape.contains(centre(i % cols, i / cols)))
        .collect();
    let total = cell_inside.iter().filter(|&&b| b).count();
    if total == 0 {
        return Some(0.0);
    }
    let mut covered = vec![false; rows * cols];
    let reach = (COVER_RADIUS_M / COVER_CELL_M).ceil() as i64 + 1;
    for (_, p) in track {
        let x = (p.lon - lon0) * M_PER_DEG_LAT * cos / COVER_CELL_M;
        let y = (p.lat - lat0) * M_PER_DEG_LAT / COVER_CELL_M;
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        let (cx, cy) = (x.floor() as i64, y.floor() as i64);
        for r in cy - reach..=cy + reach {
            for c in cx - reach..=cx + reach {
                if r < 0 || c < 0 || r >= rows as i64 || c >= cols as i64 {
                    continue;
                }
                let (dx, dy) = (
                    (c as f64 + 0.5 - x) * COVER_CELL_M,
                    (r as f64 + 0.5 - y) * COVER_CELL_M,
                );
                if dx.hypot(dy) <= COVER_RADIUS_M {
                    covered[r as usize * cols + c as usize] = true;
                }
            }
        }
    }
    let hit = covered
        .iter()
        .zip(&cell_inside)
        .filter(|(c, i)| **c && **i)
        .count();
    Some(hit as f64 / total as f64)
}
