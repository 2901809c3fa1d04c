//! Issue 13, item 5: every spoofed track is flagged with the right kind and time range, and
//! no generated real walk is flagged `too_regular` or `teleport` (false-positive rate over
//! 200 walks printed; goal 0).

#[path = "../../fixtures/gen/src/walks.rs"]
mod support;

use gridworker_model::track::{MeasureParams, TrackFlagKind, measure, signals};
use support::{joystick, walk};

fn kinds(fixes: &[gridworker_model::track::TrackFix]) -> Vec<(TrackFlagKind, i64, i64)> {
    let m = measure(fixes, &MeasureParams::default());
    signals(fixes, &m)
        .into_iter()
        .map(|f| (f.kind, f.from_ms, f.to_ms))
        .collect()
}

#[test]
fn no_real_walk_is_flagged_too_regular_or_teleport() {
    let mut false_positives = 0;
    for seed in 0..200u64 {
        let w = walk(seed * 31 + 5, 60);
        let flagged = kinds(&w.fixes)
            .iter()
            .any(|(k, _, _)| matches!(k, TrackFlagKind::TooRegular | TrackFlagKind::Teleport));
        if flagged {
            eprintln!("seed {}: {:?}", seed * 31 + 5, kinds(&w.fixes));
        }
        false_positives += usize::from(flagged);
    }
    println!("real walks flagged too_regular or teleport: {false_positives} of 200");
    assert_eq!(false_positives, 0);
}

#[test]
fn a_joystick_walk_is_too_regular_over_its_length() {
    for jitter in [0.0, 0.3] {
        let fixes = joystick(3, 30, jitter);
        let k = kinds(&fixes);
        let regular: Vec<_> = k
            .iter()
            .filter(|(k, _, _)| *k == TrackFlagKind::TooRegular)
            .collect();
        assert!(!regular.is_empty(), "jitter {jitter}: {k:?}");
        let covered: i64 = regular.iter().map(|(_, a, b)| b - a).sum();
        assert!(
            covered > 20 * 60_000,
            "jitter {jitter}: {covered} ms of 30 min"
        );
    }
}

#[test]
fn a_teleport_mock_fixes_and_a_clock_set_back_are_flagged_where_they_happen() {
    let w = walk(42, 60);
    let mut fixes = w.fixes.clone();
    // After fix 1000 the track goes on 3 km north-east.
    let cut_ms = fixes[1000].t_ms;
    for f in &mut fixes[1000..] {
        f.position.lat += 0.02;
        f.position.lon += 0.03;
    }
    // 30 fixes from a mock provider.
    for f in &mut fixes[2000..2030] {
        f.mock = true;
    }
    let mock_from = fixes[2000].t_ms;
    // The clock set back 10 minutes for one fix.
    let back_at = fixes[2500].t_ms;
    fixes[2500].t_ms -= 600_000;
    let k = kinds(&fixes);
    let find = |kind| k.iter().filter(|(x, _, _)| *x == kind).collect::<Vec<_>>();
    let tele = find(TrackFlagKind::Teleport);
    assert_eq!(tele.len(), 1, "{k:?}");
    assert!(tele[0].1 < cut_ms && tele[0].2 >= cut_ms, "{tele:?}");
    let mock = find(TrackFlagKind::MockLocation);
    assert_eq!(mock.len(), 1, "{k:?}");
    assert_eq!(mock[0].1, mock_from);
    let clock = find(TrackFlagKind::ClockJump);
    assert_eq!(clock.len(), 1, "{k:?}");
    assert!(clock[0].2 <= back_at, "{clock:?}");
    assert!(find(TrackFlagKind::TooRegular).is_empty(), "{k:?}");
}
