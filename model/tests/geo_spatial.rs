//! The spatial index's documented edge cases: boundary rule, overlaps, degenerate and
//! non-finite data, distances in metres rather than degrees.

use gridworker_model::domain::{Grid, InspectionPoint};
use gridworker_model::geo::Position;
use gridworker_model::geo::spatial::SpatialIndex;

fn point(id: &str, lat: f64, lon: f64) -> InspectionPoint {
    InspectionPoint {
        id: id.into(),
        grid_code: "G1".into(),
        name: id.into(),
        position: Position::new(lat, lon),
        radius_m: 0.0,
    }
}

fn square(code: &str, lat: f64, lon: f64, side: f64) -> Grid {
    Grid {
        code: code.into(),
        name: code.into(),
        boundary: vec![
            Position::new(lat, lon),
            Position::new(lat, lon + side),
            Position::new(lat + side, lon + side),
            Position::new(lat + side, lon),
        ],
    }
}

fn code(g: Option<&Grid>) -> Option<&str> {
    g.map(|g| g.code.as_str())
}

#[test]
fn nearest_is_by_metres_not_degrees() {
    // At 45°N a degree of longitude is ~70% of a degree of latitude: B is nearer in degrees
    // (0.009° vs 0.010°) but further on the ground (~1,000 m vs ~787 m).
    let idx = SpatialIndex::new(
        vec![point("B", 45.309, 130.9), point("A", 45.3, 130.91)],
        vec![],
    );
    let got = idx.nearest_points(Position::new(45.3, 130.9), 2);
    let ids: Vec<&str> = got.iter().map(|(p, _)| p.id.as_str()).collect();
    assert_eq!(ids, ["A", "B"]);
    assert!((got[0].1 - 782.0).abs() < 10.0, "{}", got[0].1);
    assert!((got[1].1 - 1_000.7).abs() < 5.0, "{}", got[1].1);
}

#[test]
fn nearest_handles_k_edges_and_ties() {
    let idx = SpatialIndex::new(
        vec![
            point("far", 45.4, 130.9),
            point("twin1", 45.3, 130.901),
            point("twin2", 45.3, 130.901),
        ],
        vec![],
    );
    let q = Position::new(45.3, 130.9);
    assert!(idx.nearest_points(q, 0).is_empty());
    let all = idx.nearest_points(q, 10);
    let ids: Vec<&str> = all.iter().map(|(p, _)| p.id.as_str()).collect();
    // Equal distances keep input order, as the brute-force scan does.
    assert_eq!(ids, ["twin1", "twin2", "far"]);
    assert_eq!(all[0].1, all[1].1);
    let one = idx.nearest_points(q, 1);
    assert_eq!(one[0].0.id, "twin1");
    assert!(SpatialIndex::default().nearest_points(q, 3).is_empty());
}

#[test]
fn non_finite_input_matches_nothing() {
    let idx = SpatialIndex::new(
        vec![point("ok", 45.3, 130.9), point("bad", f64::NAN, 130.9)],
        vec![square("G1", 45.0, 130.0, 1.0)],
    );
    for q in [
        Position::new(f64::NAN, 130.9),
        Position::new(45.3, f64::INFINITY),
    ] {
        assert!(idx.nearest_points(q, 5).is_empty());
        assert!(idx.nearest_points_brute(q, 5).is_empty());
        assert!(idx.points_within(q, 1e6).is_empty());
        assert!(idx.grid_at(q).is_none());
        assert!(idx.grid_at_brute(q).is_none());
    }
    // A point with a broken position is still known by id but never "near" anything.
    let near = idx.nearest_points(Position::new(45.3, 130.9), 5);
    assert_eq!(near.len(), 1);
    assert_eq!(idx.point("bad").map(|p| p.id.as_str()), Some("bad"));
    assert_eq!(idx.point_count(), 2);
    let q = Position::new(45.3, 130.9);
    assert!(idx.points_within(q, -1.0).is_empty());
    assert!(idx.points_within(q, f64::NAN).is_empty());
}

#[test]
fn points_within_includes_the_radius() {
    let idx = SpatialIndex::new(
        vec![point("a", 45.3, 130.9), point("b", 45.301, 130.9)],
        vec![],
    );
    let q = Position::new(45.3, 130.9);
    let d_b = idx.nearest_points(q, 2)[1].1;
    let ids = |r: f64| -> Vec<String> {
        idx.points_within(q, r)
            .into_iter()
            .map(|(p, _)| p.id.clone())
            .collect()
    };
    assert_eq!(ids(0.0), ["a"]);
    assert_eq!(ids(d_b), ["a", "b"]);
    assert_eq!(ids(d_b - 0.01), ["a"]);
}

#[test]
fn grid_boundary_belongs_to_the_first_grid() {
    let side = 0.01;
    let idx = SpatialIndex::new(
        vec![],
        vec![
            square("W", 45.3, 130.9, side),
            square("E", 45.3, 130.9 + side, side),
        ],
    );
    let inside_w = Position::new(45.305, 130.905);
    let inside_e = Position::new(45.305, 130.915);
    let on_shared_edge = Position::new(45.305, 130.9 + side);
    let on_outer_edge = Position::new(45.3, 130.905);
    let corner = Position::new(45.3, 130.9);
    let outside = Position::new(45.29, 130.905);
    assert_eq!(code(idx.grid_at(inside_w)), Some("W"));
    assert_eq!(code(idx.grid_at(inside_e)), Some("E"));
    assert_eq!(code(idx.grid_at(on_shared_edge)), Some("W"));
    assert_eq!(code(idx.grid_at(on_outer_edge)), Some("W"));
    assert_eq!(code(idx.grid_at(corner)), Some("W"));
    assert_eq!(code(idx.grid_at(outside)), None);
    for q in [
        inside_w,
        inside_e,
        on_shared_edge,
        on_outer_edge,
        corner,
        outside,
    ] {
        assert_eq!(code(idx.grid_at(q)), code(idx.grid_at_brute(q)));
    }
}

#[test]
fn overlapping_grids_resolve_to_input_order() {
    // The big grid comes second, so inside the small one the small one wins, and vice versa.
    let idx = SpatialIndex::new(
        vec![],
        vec![
            square("small", 45.3, 130.9, 0.01),
            square("big", 45.0, 130.5, 1.0),
        ],
    );
    assert_eq!(
        code(idx.grid_at(Position::new(45.305, 130.905))),
        Some("small")
    );
    assert_eq!(code(idx.grid_at(Position::new(45.5, 131.0))), Some("big"));
}

#[test]
fn concave_grid_uses_the_polygon_not_its_box() {
    // An L shape: the notch is inside the bounding box but outside the grid.
    let l = Grid {
        code: "L".into(),
        name: "L".into(),
        boundary: [
            (45.0, 130.0),
            (45.0, 130.2),
            (45.1, 130.2),
            (45.1, 130.1),
            (45.2, 130.1),
            (45.2, 130.0),
        ]
        .into_iter()
        .map(|(lat, lon)| Position::new(lat, lon))
        .collect(),
    };
    let idx = SpatialIndex::new(vec![], vec![l]);
    assert_eq!(code(idx.grid_at(Position::new(45.05, 130.15))), Some("L"));
    assert_eq!(code(idx.grid_at(Position::new(45.15, 130.05))), Some("L"));
    assert_eq!(code(idx.grid_at(Position::new(45.15, 130.15))), None);
}

#[test]
fn degenerate_grids_are_kept_but_never_match() {
    let mut two_points = square("two", 45.0, 130.0, 1.0);
    two_points.boundary.truncate(2);
    let mut broken = square("nan", 45.0, 130.0, 1.0);
    broken.boundary[1].lon = f64::NAN;
    let closed = {
        // A ring that repeats its first vertex is the same polygon.
        let mut g = square("closed", 45.0, 130.0, 1.0);
        g.boundary.push(g.boundary[0]);
        g
    };
    let idx = SpatialIndex::new(vec![], vec![two_points, broken, closed]);
    assert_eq!(idx.grid_count(), 3);
    assert!(idx.grid("two").is_some());
    let q = Position::new(45.5, 130.5);
    assert_eq!(code(idx.grid_at(q)), Some("closed"));
    assert_eq!(code(idx.grid_at_brute(q)), Some("closed"));
}

#[test]
fn lookups_by_id_and_code() {
    let idx = SpatialIndex::new(
        vec![point("P1", 45.3, 130.9), point("P1", 45.4, 130.9)],
        vec![square("G1", 45.0, 130.0, 1.0)],
    );
    // Repeated ids resolve to the first, like every other lookup.
    assert_eq!(idx.point("P1").map(|p| p.position.lat), Some(45.3));
    assert!(idx.point("nope").is_none());
    assert_eq!(idx.grid("G1").map(|g| g.code.as_str()), Some("G1"));
    assert!(idx.grid("G2").is_none());
    assert_eq!(idx.points().len(), 2);
    assert_eq!(idx.grids().len(), 1);
    let copy = idx.clone();
    assert_eq!(copy.point_count(), 2);
}

/// District scale, deterministic: deep trees (several levels) must still agree exactly with
/// the scans, for nearest points, radius search and grid lookup.
#[test]
fn district_scale_index_equals_brute_force() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut unit = move || {
        // xorshift64*: enough for spreading test data.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    };
    let points: Vec<InspectionPoint> = (0..3_000)
        .map(|i| point(&format!("P{i}"), 45.2 + 0.2 * unit(), 130.8 + 0.2 * unit()))
        .collect();
    let grids: Vec<Grid> = (0..400)
        .map(|i| {
            square(
                &format!("G{i}"),
                45.2 + 0.01 * (i / 20) as f64,
                130.8 + 0.01 * (i % 20) as f64,
                0.01,
            )
        })
        .collect();
    let idx = SpatialIndex::new(points, grids);
    for _ in 0..300 {
        let q = Position::new(45.18 + 0.24 * unit(), 130.78 + 0.24 * unit());
        for k in [1, 2, 7] {
            let fast: Vec<(String, f64)> = idx
                .nearest_points(q, k)
                .into_iter()
                .map(|(p, d)| (p.id.clone(), d))
                .collect();
            let slow: Vec<(String, f64)> = idx
                .nearest_points_brute(q, k)
                .into_iter()
                .map(|(p, d)| (p.id.clone(), d))
                .collect();
            assert_eq!(fast, slow);
        }
        let within: Vec<String> = idx
            .points_within(q, 300.0)
            .into_iter()
            .map(|(p, _)| p.id.clone())
            .collect();
        let expected: Vec<String> = idx
            .nearest_points_brute(q, usize::MAX)
            .into_iter()
            .filter(|(_, d)| *d <= 300.0)
            .map(|(p, _)| p.id.clone())
            .collect();
        assert_eq!(within, expected);
        assert_eq!(code(idx.grid_at(q)), code(idx.grid_at_brute(q)));
    }
}
