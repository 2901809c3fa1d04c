//! Spatial index over inspection points and grid polygons.
//! PLACEHOLDER: brute force; to be replaced by an R-tree (rstar through geo).

use crate::domain::{Grid, InspectionPoint};
use crate::geo::Position;

/// Immutable index built from reference data; rebuilt when a pull changes that data.
#[derive(Debug, Default, Clone)]
pub struct SpatialIndex {
    points: Vec<InspectionPoint>,
    grids: Vec<Grid>,
}

impl SpatialIndex {
    pub fn new(points: Vec<InspectionPoint>, grids: Vec<Grid>) -> Self {
        SpatialIndex { points, grids }
    }

    /// The `k` nearest inspection points to `pos`, nearest first, with distances in metres.
    pub fn nearest_points(&self, pos: Position, k: usize) -> Vec<(&InspectionPoint, f64)> {
        self.nearest_points_brute(pos, k)
    }

    /// Reference implementation used by tests and benchmarks.
    pub fn nearest_points_brute(&self, pos: Position, k: usize) -> Vec<(&InspectionPoint, f64)> {
        let mut all: Vec<(&InspectionPoint, f64)> = self
            .points
            .iter()
            .map(|p| (p, pos.distance_m(p.position)))
            .collect();
        all.sort_by(|a, b| a.1.total_cmp(&b.1));
        all.truncate(k);
        all
    }

    /// The grid whose boundary contains `pos`, if any.
    pub fn grid_at(&self, pos: Position) -> Option<&Grid> {
        self.grid_at_brute(pos)
    }

    /// Reference implementation used by tests and benchmarks.
    pub fn grid_at_brute(&self, pos: Position) -> Option<&Grid> {
        use geo::Contains;
        self.grids.iter().find(|g| {
            let ring: Vec<geo::Coord<f64>> = g
                .boundary
                .iter()
                .map(|p| geo::Coord { x: p.lon, y: p.lat })
                .collect();
            geo::Polygon::new(geo::LineString::from(ring), vec![]).contains(&pos.point())
        })
    }

    pub fn point_count(&self) -> usize {
        self.points.len()
    }

    pub fn grid_count(&self) -> usize {
        self.grids.len()
    }
}
