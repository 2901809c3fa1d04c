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
//! Both trees are bulk-loaded by `rstar` (its OMT packing) and then frozen into flat arrays
//! ([`Packed`]) that the queries walk. The index is immutable, and on the shipping `opt-level
//! = "s"` profile rstar's generic traversal measured ~9 ns per envelope test: a grid lookup
//! cost ~0.25 µs, only ~25x a brute-force scan of 1,000 quads. Plain `f64` comparisons over
//! the same node layout are several times cheaper (see `benches/spatial.rs`).
//!
//! Membership is [`super::membership`]'s rule: boundary included, and where grids overlap the
//! first in input order wins (the device passes grids in code order, as that rule requires).

use std::collections::HashMap;

use geo::BoundingRect;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, DefaultParams, RTree, RTreeNode, RTreeObject, RTreeParams};

use crate::domain::{Grid, InspectionPoint};
use crate::geo::{EARTH_RADIUS_M, GridShape, Position};

/// Slack on the unit sphere (≈ 6 µm on the ground) when comparing tree chord distances with
/// haversine distances: the two are computed differently and may disagree in the last bits.
/// Far larger than that rounding, far smaller than any distance that matters.
const CHORD_SLACK: f64 = 1e-12;

/// Marks a leaf in [`PackedNode::end`].
const LEAF: usize = usize::MAX;
/// Bound on children per node for the sorted visit in [`Packed::nearest`]: rstar's bulk load
/// splits each axis into `ceil(MAX_SIZE^(1/D))` slabs, so a node may hold up to that to the
/// power `D` children (8 in 3-D, 9 in 2-D with the default `MAX_SIZE` of 6).
const FANOUT: usize = 4 * <DefaultParams as RTreeParams>::MAX_SIZE;

/// One node of a frozen tree: its bounding box, and either the children's range in
/// [`Packed::nodes`] (`start..end`) or, for a leaf, the object's index in `start`.
#[derive(Debug, Clone, Copy)]
struct PackedNode<const D: usize> {
    lo: [f64; D],
    hi: [f64; D],
    start: usize,
    end: usize,
}

impl<const D: usize> PackedNode<D> {
    #[inline(always)]
    fn contains(&self, p: &[f64; D]) -> bool {
        // Branch-free: with D fixed at 2 or 3 this compiles to a handful of comparisons,
        // where a short-circuiting iterator chain stayed a loop on the opt-level="s" profile.
        let mut inside = true;
        for ((lo, hi), x) in self.lo.iter().zip(&self.hi).zip(p) {
            inside &= (lo <= x) & (x <= hi);
        }
        inside
    }

    /// Squared Euclidean distance from `p` to the box (0 inside).
    #[inline(always)]
    fn distance_2(&self, p: &[f64; D]) -> f64 {
        (0..D)
            .map(|i| {
                let d = (self.lo[i] - p[i]).max(p[i] - self.hi[i]).max(0.0);
                d * d
            })
            .sum()
    }
}

/// An rstar tree frozen into one flat array; siblings are contiguous.
#[derive(Debug, Clone)]
struct Packed<const D: usize> {
    nodes: Vec<PackedNode<D>>,
    root: (usize, usize),
}

impl<const D: usize> Default for Packed<D> {
    fn default() -> Self {
        Packed {
            nodes: Vec::new(),
            root: (0, 0),
        }
    }
}

impl<const D: usize> Packed<D> {
    /// Bulk-loads `items` (geometry, object index) with rstar and freezes the result.
    fn build<G>(items: Vec<GeomWithData<G, usize>>) -> Self
    where
        G: RTreeObject<Envelope = AABB<[f64; D]>>,
    {
        let tree = RTree::bulk_load(items);
        let mut nodes = Vec::with_capacity(tree.size() * 2);
        let root = Self::freeze(tree.root().children(), &mut nodes);
        Packed { nodes, root }
    }

    fn freeze<G>(
        children: &[RTreeNode<GeomWithData<G, usize>>],
        nodes: &mut Vec<PackedNode<D>>,
    ) -> (usize, usize)
    where
        G: RTreeObject<Envelope = AABB<[f64; D]>>,
    {
        let start = nodes.len();
        for child in children {
            let env = child.envelope();
            let (start, end) = match child {
                RTreeNode::Leaf(item) => (item.data, LEAF),
                RTreeNode::Parent(_) => (0, 0),
            };
            nodes.push(PackedNode {
                lo: env.lower(),
                hi: env.upper(),
                start,
                end,
            });
        }
        for (i, child) in children.iter().enumerate() {
            if let RTreeNode::Parent(parent) = child {
                let (a, b) = Self::freeze(parent.children(), nodes);
                nodes[start + i].start = a;
                nodes[start + i].end = b;
            }
        }
        (start, start + children.len())
    }

    /// Calls `f` with every object whose box contains `p`.
    fn containing(&self, p: &[f64; D], f: &mut impl FnMut(usize)) {
        self.containing_in(self.root, p, f);
    }

    fn containing_in(&self, (a, b): (usize, usize), p: &[f64; D], f: &mut impl FnMut(usize)) {
        for n in &self.nodes[a..b] {
            if n.contains(p) {
                if n.end == LEAF {
                    f(n.start);
                } else {
                    self.containing_in((n.start, n.end), p, f);
                }
            }
        }
    }

    /// Calls `f` with every object whose box is within squared distance `limit_2` of `p`.
    fn within(&self, p: &[f64; D], limit_2: f64, f: &mut impl FnMut(usize)) {
        self.within_in(self.root, p, limit_2, f);
    }

    fn within_in(
        &self,
        (a, b): (usize, usize),
        p: &[f64; D],
        limit_2: f64,
        f: &mut impl FnMut(usize),
    ) {
        for n in &self.nodes[a..b] {
            if n.distance_2(p) <= limit_2 {
                if n.end == LEAF {
                    f(n.start);
                } else {
                    self.within_in((n.start, n.end), p, limit_2, f);
                }
            }
        }
    }

    /// Branch and bound: visits objects nearest-subtree-first, skipping every subtree
    /// further than `*limit_2`. `f` is called with each object not pruned and returns the
    /// (never increasing) new limit.
    fn nearest(&self, p: &[f64; D], limit_2: &mut f64, f: &mut impl FnMut(usize, f64) -> f64) {
        self.nearest_in(self.root, p, limit_2, f);
    }

    fn nearest_in(
        &self,
        (a, b): (usize, usize),
        p: &[f64; D],
        limit_2: &mut f64,
        f: &mut impl FnMut(usize, f64) -> f64,
    ) {
        let mut order = [(0.0f64, 0usize); FANOUT];
        let nodes = &self.nodes[a..b];
        if nodes.len() > FANOUT {
            // Not produced by bulk_load with default parameters; stay correct, unordered.
            for i in a..b {
                self.nearest_node(i, self.nodes[i].distance_2(p), p, limit_2, f);
            }
            return;
        }
        for (slot, (i, n)) in order.iter_mut().zip(nodes.iter().enumerate()) {
            *slot = (n.distance_2(p), a + i);
        }
        let order = &mut order[..nodes.len()];
        order.sort_unstable_by(|x, y| x.0.total_cmp(&y.0));
        for &(d2, i) in order.iter() {
            self.nearest_node(i, d2, p, limit_2, f);
        }
    }

    fn nearest_node(
        &self,
        i: usize,
        d2: f64,
        p: &[f64; D],
        limit_2: &mut f64,
        f: &mut impl FnMut(usize, f64) -> f64,
    ) {
        if d2 > *limit_2 {
            return;
        }
        let n = &self.nodes[i];
        if n.end == LEAF {
            *limit_2 = f(n.start, d2);
        } else {
            self.nearest_in((n.start, n.end), p, limit_2, f);
        }
    }
}

/// Immutable index built from reference data; rebuilt when a pull changes that data.
#[derive(Debug, Default, Clone)]
pub struct SpatialIndex {
    points: Vec<InspectionPoint>,
    grids: Vec<Grid>,
    /// Exact shape per grid, `None` for a boundary that cannot enclose anything (fewer than
    /// three vertices, or a non-finite coordinate).
    polygons: Vec<Option<GridShape>>,
    /// Unit vectors of the points with a finite position, tagged with their index.
    point_tree: Packed<3>,
    /// Lon/lat bounding boxes of the grids with a polygon, tagged with their index.
    grid_tree: Packed<2>,
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
        let point_tree = Packed::build::<[f64; 3]>(
            points
                .iter()
                .enumerate()
                .filter(|(_, p)| finite(p.position))
                .map(|(i, p)| GeomWithData::new(unit_vector(p.position), i))
                .collect(),
        );
        let polygons: Vec<Option<GridShape>> = grids.iter().map(GridShape::of).collect();
        let grid_tree = Packed::build::<Rectangle<[f64; 2]>>(
            polygons
                .iter()
                .enumerate()
                .filter_map(|(i, poly)| {
                    let rect = poly.as_ref()?.polygon().bounding_rect()?;
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
        self.point_tree
            .nearest(&query, &mut limit_2, &mut |i, _chord_2| {
                let cand = (pos.distance_m(self.points[i].position), i);
                let at = best
                    .binary_search_by(|b| by_distance_then_index(b, &cand))
                    .unwrap_or_else(|e| e);
                best.insert(at, cand);
                best.truncate(k);
                if best.len() < k {
                    return f64::INFINITY;
                }
                // Every point not yet seen that could still rank is within this chord of the
                // query; everything further is pruned.
                let kth = chord_for_metres(best[k - 1].0) + CHORD_SLACK;
                kth * kth
            });
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
        let mut hits: Vec<(f64, usize)> = Vec::new();
        self.point_tree
            .within(&unit_vector(pos), chord * chord, &mut |i| {
                let d = pos.distance_m(self.points[i].position);
                if d <= radius_m {
                    hits.push((d, i));
                }
            });
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
        let mut first: Option<usize> = None;
        self.grid_tree.containing(&[pos.lon, pos.lat], &mut |i| {
            // Only an earlier grid can change the answer: skip the exact test otherwise.
            if first.is_none_or(|f| i < f)
                && self.polygons[i].as_ref().is_some_and(|p| p.contains(pos))
            {
                first = Some(i);
            }
        });
        first.map(|i| &self.grids[i])
    }

    /// Reference implementation used by tests and benchmarks: tests every precomputed polygon
    /// in input order, with the same boundary rule as [`grid_at`](Self::grid_at).
    pub fn grid_at_brute(&self, pos: Position) -> Option<&Grid> {
        if !finite(pos) {
            return None;
        }
        let shapes = self
            .polygons
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i, p.as_ref()?)));
        super::membership::grid_of(shapes, pos).map(|i| &self.grids[i])
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
