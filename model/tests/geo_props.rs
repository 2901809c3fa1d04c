//! Property tests for the geo module: coordinate round trips across China, and the R-tree
//! index agreeing exactly with the brute-force scans it replaces.

use gridworker_model::domain::{Grid, InspectionPoint};
use gridworker_model::geo::crs::{bd09_to_gcj02, gcj02_to_bd09, gcj02_to_wgs84, wgs84_to_gcj02};
use gridworker_model::geo::spatial::SpatialIndex;
use gridworker_model::geo::{Crs, Position, convert, haversine_m};
use proptest::prelude::*;

const ROUND_TRIP_M: f64 = 0.5;

fn point(i: usize, lat: f64, lon: f64) -> InspectionPoint {
    InspectionPoint {
        id: format!("P{i}"),
        grid_code: "G".into(),
        name: format!("point {i}"),
        position: Position::new(lat, lon),
        radius_m: 50.0,
    }
}

fn grid(i: usize, ring: Vec<(f64, f64)>) -> Grid {
    Grid {
        code: format!("G{i}"),
        name: format!("grid {i}"),
        boundary: ring
            .into_iter()
            .map(|(lat, lon)| Position::new(lat, lon))
            .collect(),
    }
}

/// Positions around Jixi: a free-floating one, or one snapped to a coarse lattice so that
/// coincident points and exactly equal distances (ties) are common.
fn position() -> impl Strategy<Value = (f64, f64)> {
    prop_oneof![
        (45.20f64..45.40, 130.80f64..131.00),
        (0u32..20, 0u32..20).prop_map(|(a, b)| (45.3 + a as f64 * 1e-3, 130.9 + b as f64 * 1e-3)),
    ]
}

/// Queries: mostly inside the data's area, some far away (other provinces).
fn query() -> impl Strategy<Value = (f64, f64)> {
    prop_oneof![
        4 => position(),
        1 => (18.0f64..53.0, 74.0f64..134.0),
    ]
}

/// Ids and distances, bit for bit: the index must reproduce the scan's ordering, ties included.
fn summary(v: &[(&InspectionPoint, f64)]) -> Vec<(String, u64)> {
    v.iter().map(|(p, d)| (p.id.clone(), d.to_bits())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn wgs_gcj_wgs_round_trip(lat in 18.0f64..53.0, lon in 74.0f64..134.0) {
        let (g_lat, g_lon) = wgs84_to_gcj02(lat, lon);
        let (w_lat, w_lon) = gcj02_to_wgs84(g_lat, g_lon);
        prop_assert!(haversine_m(lat, lon, w_lat, w_lon) < ROUND_TRIP_M);
        // The shift itself is real (tens to hundreds of metres), so the test is not vacuous.
        prop_assert!(haversine_m(lat, lon, g_lat, g_lon) > 1.0);
    }

    #[test]
    fn wgs_bd_wgs_round_trip(lat in 18.0f64..53.0, lon in 74.0f64..134.0) {
        let (b_lat, b_lon) = convert(lat, lon, Crs::Wgs84, Crs::Bd09);
        let back = Position::from_crs(b_lat, b_lon, Crs::Bd09);
        prop_assert!(haversine_m(lat, lon, back.lat, back.lon) < ROUND_TRIP_M);
        let again = back.to_crs(Crs::Bd09);
        prop_assert!(haversine_m(b_lat, b_lon, again.0, again.1) < ROUND_TRIP_M);
    }

    #[test]
    fn gcj_bd_gcj_round_trip(lat in 18.0f64..53.0, lon in 74.0f64..134.0) {
        let (b_lat, b_lon) = gcj02_to_bd09(lat, lon);
        let (g_lat, g_lon) = bd09_to_gcj02(b_lat, b_lon);
        prop_assert!(haversine_m(lat, lon, g_lat, g_lon) < ROUND_TRIP_M);
        let via = convert(b_lat, b_lon, Crs::Bd09, Crs::Gcj02);
        prop_assert!(haversine_m(lat, lon, via.0, via.1) < ROUND_TRIP_M);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn nearest_points_equal_brute_force(
        pts in prop::collection::vec(position(), 0..300),
        queries in prop::collection::vec(query(), 1..20),
        k in 0usize..25,
    ) {
        let idx = SpatialIndex::new(
            pts.iter().enumerate().map(|(i, &(lat, lon))| point(i, lat, lon)).collect(),
            vec![],
        );
        for (lat, lon) in queries {
            let q = Position::new(lat, lon);
            let fast = idx.nearest_points(q, k);
            let slow = idx.nearest_points_brute(q, k);
            prop_assert_eq!(fast.len(), k.min(pts.len()));
            prop_assert_eq!(summary(&fast), summary(&slow));
        }
    }

    #[test]
    fn points_within_equal_filtered_brute_force(
        pts in prop::collection::vec(position(), 0..300),
        queries in prop::collection::vec(position(), 1..20),
        radius in prop_oneof![0.0f64..3_000.0, Just(0.0)],
    ) {
        let idx = SpatialIndex::new(
            pts.iter().enumerate().map(|(i, &(lat, lon))| point(i, lat, lon)).collect(),
            vec![],
        );
        for (lat, lon) in queries {
            let q = Position::new(lat, lon);
            let fast = idx.points_within(q, radius);
            let slow: Vec<_> = idx
                .nearest_points_brute(q, usize::MAX)
                .into_iter()
                .filter(|(_, d)| *d <= radius)
                .collect();
            prop_assert_eq!(summary(&fast), summary(&slow));
        }
    }

    /// Random (possibly overlapping, possibly self-intersecting) quads and triangles.
    #[test]
    fn grid_at_equals_brute_force_on_random_polygons(
        shapes in prop::collection::vec(
            (position(), prop::collection::vec((-0.02f64..0.02, -0.02f64..0.02), 3..=4)),
            0..120,
        ),
        queries in prop::collection::vec(query(), 1..30),
    ) {
        let grids: Vec<Grid> = shapes
            .iter()
            .enumerate()
            .map(|(i, ((lat, lon), offs))| {
                grid(i, offs.iter().map(|(a, b)| (lat + a, lon + b)).collect())
            })
            .collect();
        // Vertices are the nastiest queries: exactly on a boundary.
        let vertices: Vec<(f64, f64)> = grids
            .iter()
            .flat_map(|g| g.boundary.iter().map(|p| (p.lat, p.lon)))
            .take(30)
            .collect();
        let idx = SpatialIndex::new(vec![], grids);
        for (lat, lon) in queries.into_iter().chain(vertices) {
            let q = Position::new(lat, lon);
            let fast = idx.grid_at(q).map(|g| g as *const Grid);
            let slow = idx.grid_at_brute(q).map(|g| g as *const Grid);
            prop_assert_eq!(fast, slow);
        }
    }

    /// An edge-to-edge tiling queried on its lattice: shared edges and corners everywhere.
    #[test]
    fn grid_at_equals_brute_force_on_tilings(
        rows in 1usize..15, cols in 1usize..15, side in 0.0005f64..0.01,
        queries in prop::collection::vec((0u32..60, 0u32..60), 1..40),
    ) {
        let (lat0, lon0) = (45.3, 130.9);
        let at = |r: usize, c: usize| (lat0 + r as f64 * side, lon0 + c as f64 * side);
        let mut grids = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                grids.push(grid(grids.len(), vec![at(r, c), at(r, c + 1), at(r + 1, c + 1), at(r + 1, c)]));
            }
        }
        let idx = SpatialIndex::new(vec![], grids);
        for (a, b) in queries {
            // Quarter steps: cell interiors, edges and corners, plus some outside the tiling.
            let q = Position::new(lat0 + a as f64 * side / 4.0, lon0 + b as f64 * side / 4.0);
            let fast = idx.grid_at(q).map(|g| g as *const Grid);
            let slow = idx.grid_at_brute(q).map(|g| g as *const Grid);
            prop_assert_eq!(fast, slow);
            let inside = a as usize <= rows * 4 && b as usize <= cols * 4;
            // Boundary-inclusive: the closed tiling has no gaps, not even on its edges.
            prop_assert_eq!(fast.is_some(), inside);
        }
    }
}
