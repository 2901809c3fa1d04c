//! Issue 13, item 4: the day summary's coverage, time in the worker's grids and points
//! passed, on tracks whose answers are known.

#[path = "../../fixtures/gen/src/walks.rs"]
mod support;

use gridworker_model::domain::{Grid, InspectionPoint};
use gridworker_model::track::{MeasureParams, TrackFix, measure, signals, summarise};
use support::at;

/// A 200 m square grid with its south-west corner at `support::START`.
fn grid() -> Grid {
    Grid {
        code: "G1".into(),
        name: "网格".into(),
        boundary: vec![
            at(0.0, 0.0),
            at(200.0, 0.0),
            at(200.0, 200.0),
            at(0.0, 200.0),
        ],
    }
}

/// A clean 1 Hz walk at 1.4 m/s through the given (east, north) corners.
fn walk_through(corners: &[(f64, f64)]) -> Vec<TrackFix> {
    let mut out = Vec::new();
    let mut t = 0i64;
    for w in corners.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        let len = (x1 - x0).hypot(y1 - y0);
        let steps = (len / 1.4).ceil() as i64;
        for s in 0..steps {
            let k = s as f64 / steps as f64;
            out.push(TrackFix {
                t_ms: 1_764_000_000_000 + t * 1000,
                position: at(x0 + (x1 - x0) * k, y0 + (y1 - y0) * k),
                accuracy_m: 4.0,
                mock: false,
            });
            t += 1;
        }
    }
    out
}

fn summary(fixes: &[TrackFix], points: &[InspectionPoint]) -> gridworker_model::track::DaySummary {
    let m = measure(fixes, &MeasureParams::default());
    summarise(&m, signals(fixes, &m), &[grid()], points, 50.0)
}

#[test]
fn lanes_40_m_apart_cover_the_grid_and_one_edge_covers_an_eighth() {
    // (40 m, not 50: the smoothed track cuts the U-turns at the lane ends by a few metres.)
    let lanes: Vec<(f64, f64)> = (0..6)
        .flat_map(|i| {
            let y = 40.0 * i as f64;
            if i % 2 == 0 {
                [(0.0, y), (200.0, y)]
            } else {
                [(200.0, y), (0.0, y)]
            }
        })
        .collect();
    let s = summary(&walk_through(&lanes), &[]);
    let c = s.coverage[0].coverage;
    assert!(c > 0.95, "lanes: {c}");
    let edge = summary(&walk_through(&[(0.0, 0.0), (200.0, 0.0)]), &[]);
    let c = edge.coverage[0].coverage;
    assert!((0.10..=0.16).contains(&c), "one edge: {c}");
}

#[test]
fn time_in_grid_and_points_passed() {
    // 200 m inside the grid, then 200 m outside it to the east.
    let fixes = walk_through(&[(0.0, 100.0), (400.0, 100.0)]);
    let near = InspectionPoint {
        id: "P-near".into(),
        grid_code: "G1".into(),
        name: "路过".into(),
        position: at(100.0, 120.0),
        radius_m: 0.0,
    };
    let far = InspectionPoint {
        id: "P-far".into(),
        position: at(100.0, 190.0),
        ..near.clone()
    };
    let s = summary(&fixes, &[near, far]);
    let share = s.in_grid_s / s.patrol_s;
    assert!(
        (0.45..=0.55).contains(&share),
        "{} of {} s",
        s.in_grid_s,
        s.patrol_s
    );
    let passed: Vec<_> = s
        .points_passed
        .iter()
        .map(|p| p.point_id.as_str())
        .collect();
    assert_eq!(passed, vec!["P-near"]);
    assert!((s.distance_m - 400.0).abs() < 40.0, "{}", s.distance_m);
    // A noiseless track is what a joystick app draws: flagged, as it should be.
    assert!(
        s.flags
            .iter()
            .all(|f| f.kind == gridworker_model::track::TrackFlagKind::TooRegular),
        "{:?}",
        s.flags
    );
}
