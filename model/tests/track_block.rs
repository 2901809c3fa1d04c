//! Issue 13, item 3: the compact block encoding round-trips, takes few bytes per fix on a
//! real walk (printed), and refuses any damaged or hostile block without panicking.

#[path = "../../fixtures/gen/src/walks.rs"]
mod support;

use gridworker_model::geo::Position;
use gridworker_model::track::TrackFix;
use gridworker_model::track::block::{MAX_FIXES, decode, encode};
use proptest::prelude::*;

fn fix() -> impl Strategy<Value = (i64, f64, f64, f64, bool)> {
    (
        1i64..5_000,
        -89.0f64..89.0,
        -179.0f64..179.0,
        0.0f64..500.0,
        any::<bool>(),
    )
}

proptest! {
    #[test]
    fn a_block_round_trips_to_a_centimetre_a_decimetre_and_a_millisecond(
        start in 0i64..4_000_000_000_000,
        steps in prop::collection::vec(fix(), 1..300),
    ) {
        let mut t = start;
        let fixes: Vec<TrackFix> = steps
            .iter()
            .map(|&(dt, lat, lon, acc, mock)| {
                t += dt;
                TrackFix { t_ms: t, position: Position::new(lat, lon), accuracy_m: acc, mock }
            })
            .collect();
        let back = decode(&encode(&fixes).unwrap()).unwrap();
        prop_assert_eq!(back.len(), fixes.len());
        for (a, b) in fixes.iter().zip(&back) {
            prop_assert_eq!(a.t_ms, b.t_ms);
            prop_assert!((a.position.lat - b.position.lat).abs() <= 0.6e-7);
            prop_assert!((a.position.lon - b.position.lon).abs() <= 0.6e-7);
            prop_assert!((a.accuracy_m - b.accuracy_m).abs() <= 0.051);
            prop_assert_eq!(a.mock, b.mock);
        }
    }

    #[test]
    fn any_bytes_decode_to_a_typed_refusal_or_valid_fixes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(fixes) = decode(&bytes) {
            prop_assert!(!fixes.is_empty() && fixes.len() <= MAX_FIXES);
        }
    }
}

#[test]
fn a_walk_takes_few_bytes_per_fix_and_every_cut_or_flip_is_caught() {
    let w = support::walk(11, 60);
    let block = encode(&w.fixes[..MAX_FIXES.min(w.fixes.len())]).unwrap();
    let per_fix = block.len() as f64 / w.fixes.len().min(MAX_FIXES) as f64;
    println!(
        "{} fixes of a 1 Hz walk: {} bytes, {per_fix:.2} bytes per fix",
        w.fixes.len().min(MAX_FIXES),
        block.len()
    );
    assert!(per_fix <= 10.0, "{per_fix}");
    // Every cut of a 300-fix block (every cut of the whole one is 24,000 decodes).
    let small = encode(&w.fixes[..300]).unwrap();
    for cut in 0..small.len() {
        assert!(decode(&small[..cut]).is_err(), "cut at {cut}");
    }
    let mut longer = block.clone();
    longer.push(0);
    assert!(decode(&longer).is_err());
    let mut wrong = block.clone();
    wrong[0] = 9;
    assert!(decode(&wrong).is_err());
}

#[test]
fn bad_fixes_are_refused_by_index() {
    let f = |t: i64| TrackFix {
        t_ms: t,
        position: Position::new(45.0, 130.0),
        accuracy_m: 5.0,
        mock: false,
    };
    assert!(encode(&[]).is_err());
    let e = encode(&[f(10), f(10)]).unwrap_err();
    assert_eq!(e.field, "fixes[1].time");
    let e = encode(&[
        f(10),
        TrackFix {
            position: Position::new(95.0, 0.0),
            ..f(20)
        },
    ])
    .unwrap_err();
    assert_eq!(e.field, "fixes[1]");
    let e = encode(&[TrackFix {
        accuracy_m: f64::NAN,
        ..f(1)
    }])
    .unwrap_err();
    assert_eq!(e.field, "fixes[0].accuracy_m");
    assert!(encode(&vec![f(1); MAX_FIXES + 1]).is_err());
}
