//! What "inside a grid" means: one rule for the phone that flags a visit outside the worker's
//! grids and for the server that files a report under a grid.
//!
//! - The test runs in WGS-84 against the grid's boundary converted to WGS-84 vertex by
//!   vertex (the way reference data reaches the device), never in the grid's own system.
//! - **A position on a grid's boundary belongs to that grid.** Grids tile a district edge to
//!   edge; with an exclusive rule a worker standing exactly on a shared street would be "in no
//!   grid" and be flagged as outside their area.
//! - Where grids overlap or share an edge, **the grid whose code sorts first wins**: the
//!   device builds its index from grids ordered by code and the server scans them in the
//!   same order.
//! - A boundary of fewer than three vertices, or with a non-finite one, encloses nothing;
//!   a non-finite position is inside no grid.

use geo::{Coord, Intersects, LineString, Polygon};

use super::Position;
use crate::domain::Grid;

/// A grid boundary ready for the membership test.
#[derive(Debug, Clone, PartialEq)]
pub struct GridShape(Polygon<f64>);

impl GridShape {
    /// The shape of a WGS-84 boundary ring (first vertex not repeated, though a repeated one
    /// does no harm); `None` when it cannot enclose anything.
    pub fn new(boundary: &[Position]) -> Option<Self> {
        if boundary.len() < 3 || !boundary.iter().all(|p| p.is_finite()) {
            return None;
        }
        let ring: Vec<Coord<f64>> = boundary
            .iter()
            .map(|p| Coord { x: p.lon, y: p.lat })
            .collect();
        // Polygon::new closes the ring, whether or not the caller repeated the first vertex.
        Some(GridShape(Polygon::new(LineString::from(ring), vec![])))
    }

    /// The shape of a grid as the device holds it.
    pub fn of(grid: &Grid) -> Option<Self> {
        Self::new(&grid.boundary)
    }

    /// The rule: `pos` is inside or on the boundary.
    pub fn contains(&self, pos: Position) -> bool {
        pos.is_finite() && self.0.intersects(&pos.point())
    }

    /// The polygon, lon/lat, for indexing by bounding box.
    pub fn polygon(&self) -> &Polygon<f64> {
        &self.0
    }
}

/// The grid `pos` belongs to among `grids` given **in code order**: the first whose shape
/// contains it. This is the reference the spatial index must agree with.
pub fn grid_of<'a, K>(
    grids: impl IntoIterator<Item = (K, &'a GridShape)>,
    pos: Position,
) -> Option<K> {
    grids
        .into_iter()
        .find(|(_, shape)| shape.contains(pos))
        .map(|(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(lat0: f64, lon0: f64, side: f64) -> GridShape {
        GridShape::new(&[
            Position::new(lat0, lon0),
            Position::new(lat0, lon0 + side),
            Position::new(lat0 + side, lon0 + side),
            Position::new(lat0 + side, lon0),
        ])
        .unwrap()
    }

    #[test]
    fn a_position_on_a_shared_edge_belongs_to_the_grid_whose_code_sorts_first() {
        // Two grids side by side sharing the meridian lon = 116.401.
        let west = square(39.9, 116.4, 0.001);
        let east = square(39.9, 116.401, 0.001);
        let on_edge = Position::new(39.9005, 116.401);
        assert!(west.contains(on_edge) && east.contains(on_edge));
        let grids = [("G-A-west", &west), ("G-B-east", &east)];
        assert_eq!(grid_of(grids, on_edge), Some("G-A-west"));
        // A vertex is on the boundary too.
        assert!(east.contains(Position::new(39.9, 116.402)));
        // Just across the edge, each side is its own.
        assert_eq!(
            grid_of(grids, Position::new(39.9005, 116.4011)),
            Some("G-B-east")
        );
        assert_eq!(
            grid_of(grids, Position::new(39.9005, 116.4009)),
            Some("G-A-west")
        );
        assert_eq!(grid_of(grids, Position::new(39.8, 116.4)), None);
    }

    #[test]
    fn degenerate_boundaries_and_non_finite_positions_match_nothing() {
        assert!(GridShape::new(&[Position::new(0.0, 0.0), Position::new(1.0, 1.0)]).is_none());
        assert!(
            GridShape::new(&[
                Position::new(0.0, 0.0),
                Position::new(f64::NAN, 1.0),
                Position::new(1.0, 0.0)
            ])
            .is_none()
        );
        let s = square(0.0, 0.0, 1.0);
        assert!(!s.contains(Position::new(f64::NAN, 0.5)));
        assert!(!s.contains(Position::new(0.5, f64::INFINITY)));
    }
}
