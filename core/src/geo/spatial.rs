//! Spatial index over inspection points and grid polygons, backed by R-trees (`rstar`, the
//! same 0.12 release `geo` integrates with).
//!
//! Points live in a 3-D tree of unit vectors on the sphere. The straight-line (chord) distance
//! between two unit vectors is `2·sin(θ/2)` for central angle `θ`, a strictly increasing
//! function of the great-circle distance, so the tree's Euclidean nearest-neighbour order *is*
//! the haversine order: no planar approximation whose error grows with latitude or distance.
//! Reported distances are still computed with [`haversine_m`](super::haversine_m), and
//! candidates are re-ranked by them, so results equal the brute-force scan exactly.
//!
//! Grids live in a 2-D tree of their lon/lat bounding boxes; candidates are then tested
//! exactly against the polygon (precomputed once in [`SpatialIndex::new`]).
//!
//! Boundary rule: a position on a grid's boundary belongs to that grid, and where grids
//! overlap or share an edge the first grid in input order wins. Grids tile a district edge to
//! edge, so with an exclusive rule a worker standing exactly on a shared edge would be "in no
//! grid" and be flagged as outside their area.

use std::collections::HashMap;

use geo::{BoundingRect, Coord, Intersects, LineString, Polygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::domain::{Grid, InspectionPoint};
use crate::geo::{EARTH_RADIUS_M, Position};

/// A point as a unit vector, tagged with its index in `SpatialIndex::points`.
type PointEntry = GeomWithData<[f64; 3], usize>;
/// A grid's lon/lat bounding box, tagged with its index in `SpatialIndex::grids`.
type GridEntry = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// Slack on the unit sphere (≈ 6 µm on the ground) when comparing tree chord distances with
/// haversine distances: the two are computed differently and may disagree in the last bits.
/// Far larger than that rounding, far smaller than any distance that matters.
const CHORD_SLACK: f64 = 1e-12;

/// Immutable index built from reference data; rebuilt when a pull changes that data.
#[derive(Debug, Default, Clone)]
pub struct SpatialIndex {
    points: Vec<InspectionPoint>,
    grids: Vec<Grid>,
    /// Exact polygon per grid, `None` for a boundary that cannot enclose anything (fewer than
    /// three vertices, or a non-finite coordinate).
    polygons: Vec<Option<Polygon<f64>>>,
    point_tree: RTree<PointEntry>,
    grid_tree: RTree<GridEntry>,
    point_by_id: HashMap<String, usize>,
    grid_by_code: HashMap<String, usize>,
}

fn finite(pos: Position) -> bool {
    pos.lat.is_finite() && pos.lon.is_finite()
}

fn unit_vector(pos: Position) -> [f64; 3] {
    let (lat, lon) = (pos.lat.to_radians(), pos.lon.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// Chord length on the unit sphere for a great-circle distance in metres.
fn chord_for_metres(d: f64) -> f64 {
    let theta = (d / EARTH_RADIUS_M).clamp(0.0, std::f64::consts::PI);
    2.0 * (theta / 2.0).sin()
}

fn polygon_of(grid: &Grid) -> Option<Polygon<f64>> {
    if grid.boundary.len() < 3 || !grid.boundary.iter().all(|p| finite(*p)) {
        return None;
    }
    let ring: Vec<Coord<f64>> = grid
        .boundary
        .iter()
        .map(|p| Coord { x: p.lon, y: p.lat })
        .collect();
    // Polygon::new closes the ring, whether or not the caller repeated the first vertex.
    Some(Polygon::new(LineString::from(ring), vec![]))
}

/// Orders candidates exactly as the brute-force scan does: by distance, then input order
/// (the scan's sort is stable over input order).
fn by_distance_then_index(a: &(f64, usize), b: &(f64, usize)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

impl SpatialIndex {
    /// Builds the index. Points with a non-finite position and grids whose boundary cannot
    /// enclose anything are kept (so [`point`](Self::point) / [`grid`](Self::grid) still find
    /// them) but never match a spatial query.
    pub fn new(points: Vec<InspectionPoint>, grids: Vec<Grid>) -> Self {
        let point_tree = RTree::bulk_load(
            points
                .iter()
                .enumerate()
                .filter(|(_, p)| finite(p.position))
                .map(|(i, p)| GeomWithData::new(unit_vector(p.position), i))
                .collect(),
        );
        let polygons: Vec<Option<Polygon<f64>>> = grids.iter().map(polygon_of).collect();
        let grid_tree = RTree::bulk_load(
            polygons
                .iter()
                .enumerate()
                .filter_map(|(i, poly)| {
                    let rect = poly.as_ref()?.bounding_rect()?;
                    let (lo, hi) = (rect.min(), rect.max());
                    Some(GeomWithData::new(
                        Rectangle::from_corners([lo.x, lo.y], [hi.x, hi.y]),
                        i,
                    ))
                })
                .collect(),
        );
        let mut point_by_id = HashMap::with_capacity(points.len());
        for (i, p) in points.iter().enumerate() {
            point_by_id.entry(p.id.clone()).or_insert(i);
        }
        let mut grid_by_code = HashMap::with_capacity(grids.len());
        for (i, g) in grids.iter().enumerate() {
            grid_by_code.entry(g.code.clone()).or_insert(i);
        }
        SpatialIndex {
            points,
            grids,
            polygons,
            point_tree,
            grid_tree,
            point_by_id,
            grid_by_code,
        }
    }

    /// The `k` nearest inspection points to `pos`, nearest first, with great-circle distances
    /// in metres; equal distances keep input order. Empty for a non-finite `pos`.
    pub fn nearest_points(&self, pos: Position, k: usize) -> Vec<(&InspectionPoint, f64)> {
        if k == 0 || !finite(pos) {
            return Vec::new();
        }
        let query = unit_vector(pos);
        let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
        let mut limit_2 = f64::INFINITY;
        for (entry, chord_2) in self
            .point_tree
            .nearest_neighbor_iter_with_distance_2(&query)
        {
            // Every remaining candidate is at least this far along the chord, hence further
            // than the current k-th best along the great circle.
            if chord_2 > limit_2 {
                break;
            }
            let i = entry.data;
            let d = pos.distance_m(self.points[i].position);
            let cand = (d, i);
            let at = best
                .binary_search_by(|b| by_distance_then_index(b, &cand))
                .unwrap_or_else(|e| e);
            best.insert(at, cand);
            best.truncate(k);
            if best.len() == k {
                let kth = chord_for_metres(best[k - 1].0) + CHORD_SLACK;
                limit_2 = kth * kth;
            }
        }
        best.into_iter()
            .map(|(d, i)| (&self.points[i], d))
            .collect()
    }

    /// Reference implementation used by tests and benchmarks: a linear scan with the same
    /// ordering and the same treatment of non-finite positions as [`nearest_points`](Self::nearest_points).
    pub fn nearest_points_brute(&self, pos: Position, k: usize) -> Vec<(&InspectionPoint, f64)> {
        if k == 0 || !finite(pos) {
            return Vec::new();
        }
        let mut all: Vec<(&InspectionPoint, f64)> = self
            .points
            .iter()
            .filter(|p| finite(p.position))
            .map(|p| (p, pos.distance_m(p.position)))
            .collect();
        // Stable: ties keep input order.
        all.sort_by(|a, b| a.1.total_cmp(&b.1));
        all.truncate(k);
        all
    }

    /// Inspection points within `radius_m` metres of `pos` (boundary included), nearest first,
    /// with distances. Empty for a non-finite `pos` or a negative / NaN radius.
    pub fn points_within(&self, pos: Position, radius_m: f64) -> Vec<(&InspectionPoint, f64)> {
        if !finite(pos) || radius_m.is_nan() || radius_m < 0.0 {
            return Vec::new();
        }
        let chord = chord_for_metres(radius_m) + CHORD_SLACK;
        let mut hits: Vec<(f64, usize)> = self
            .point_tree
            .locate_within_distance(unit_vector(pos), chord * chord)
            .map(|e| (pos.distance_m(self.points[e.data].position), e.data))
            .filter(|(d, _)| *d <= radius_m)
            .collect();
        hits.sort_by(by_distance_then_index);
        hits.into_iter()
            .map(|(d, i)| (&self.points[i], d))
            .collect()
    }

    /// The grid whose boundary contains `pos` (boundary included; where grids overlap, the
    /// first in input order). `None` outside every grid or for a non-finite `pos`.
    pub fn grid_at(&self, pos: Position) -> Option<&Grid> {
        if !finite(pos) {
            return None;
        }
        let c = pos.point();
        self.grid_tree
            .locate_in_envelope_intersecting(&AABB::from_point([pos.lon, pos.lat]))
            .map(|e| e.data)
            .filter(|&i| self.polygons[i].as_ref().is_some_and(|p| p.intersects(&c)))
            .min()
            .map(|i| &self.grids[i])
    }

    /// Reference implementation used by tests and benchmarks: tests every precomputed polygon
    /// in input order, with the same boundary rule as [`grid_at`](Self::grid_at).
    pub fn grid_at_brute(&self, pos: Position) -> Option<&Grid> {
        if !finite(pos) {
            return None;
        }
        let c = pos.point();
        self.polygons
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.intersects(&c)))
            .map(|i| &self.grids[i])
    }

    /// The inspection point with this id (the first one, should ids repeat).
    pub fn point(&self, id: &str) -> Option<&InspectionPoint> {
        self.point_by_id.get(id).map(|&i| &self.points[i])
    }

    /// The grid with this code (the first one, should codes repeat).
    pub fn grid(&self, code: &str) -> Option<&Grid> {
        self.grid_by_code.get(code).map(|&i| &self.grids[i])
    }

    /// All inspection points, in input order.
    pub fn points(&self) -> &[InspectionPoint] {
        &self.points
    }

    /// All grids, in input order.
    pub fn grids(&self) -> &[Grid] {
        &self.grids
    }

    /// Number of inspection points (including any with a non-finite position).
    pub fn point_count(&self) -> usize {
        self.points.len()
    }

    /// Number of grids (including any with a degenerate boundary).
    pub fn grid_count(&self) -> usize {
        self.grids.len()
    }
}
