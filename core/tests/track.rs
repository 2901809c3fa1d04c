//! Issue 13 on the device: patrol sessions, batches of fixes (one transaction each, a bad fix
//! names its index and writes nothing, no fix outside a session), compact storage (bytes per
//! fix including the table and its index, printed), and the day summary of a walk.

mod support;

use chrono::Duration;
use gridworker_core::Error;
use gridworker_core::domain::LocationFix;
use gridworker_core::worker::PatrolState;
use support::{Env, mono, offset, snapshot};

/// A walk east along the G1 row of points at 1.4 m/s, one fix a second from `start_s`, with a
/// few metres of deterministic scatter.
fn walk(env: &Env, start_s: i64, seconds: i64) -> Vec<LocationFix> {
    let from = env.point("P11").position;
    let t0 = support::morning();
    (start_s..start_s + seconds)
        .map(|s| {
            let wobble = |k: i64| ((s * k) % 7) as f64 - 3.0;
            let at = offset(
                from,
                -50.0 + wobble(13) * 0.8,
                -300.0 + 1.4 * s as f64 + wobble(17) * 0.8,
            );
            let t = t0 + Duration::seconds(s);
            LocationFix::wgs84(at.lat, at.lon, 6.0, t, mono(t))
        })
        .collect()
}

#[test]
fn sessions_move_through_their_states_and_refuse_fixes_off_patrol() {
    let env = Env::new();
    let fixes = walk(&env, 0, 10);
    let before = snapshot(env.dir.path());
    match env.core.add_track_fixes(&fixes) {
        Err(Error::InvalidState { state, .. }) => assert_eq!(state, "off_duty"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        snapshot(env.dir.path()),
        before,
        "a refused batch wrote something"
    );
    assert!(matches!(
        env.core.start_patrol().unwrap(),
        PatrolState::OnPatrol { .. }
    ));
    assert!(matches!(
        env.core.start_patrol(),
        Err(Error::InvalidState { .. })
    ));
    assert_eq!(env.core.add_track_fixes(&fixes).unwrap(), 10);
    assert!(matches!(
        env.core.pause_patrol().unwrap(),
        PatrolState::Paused { .. }
    ));
    match env.core.add_track_fixes(&walk(&env, 20, 5)) {
        Err(Error::InvalidState { state, .. }) => assert_eq!(state, "paused"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        env.core.resume_patrol().unwrap(),
        PatrolState::OnPatrol { .. }
    ));
    assert_eq!(env.core.add_track_fixes(&walk(&env, 30, 5)).unwrap(), 5);
    assert_eq!(env.core.stop_patrol().unwrap(), PatrolState::OffDuty);
    assert!(matches!(
        env.core.stop_patrol(),
        Err(Error::InvalidState { .. })
    ));
    assert_eq!(env.core.patrol_state().unwrap(), PatrolState::OffDuty);
    assert_eq!(env.core.add_track_fixes(&[]).unwrap(), 0);
}

#[test]
fn a_bad_fix_refuses_its_batch_by_index_and_writes_nothing() {
    let env = Env::new();
    env.core.start_patrol().unwrap();
    env.core.add_track_fixes(&walk(&env, 0, 5)).unwrap();
    let before = snapshot(env.dir.path());
    let mut bad = walk(&env, 10, 10);
    bad[7].lat = 95.0;
    match env.core.add_track_fixes(&bad) {
        Err(Error::InvalidInput { field, .. }) => assert!(field.starts_with("fixes[7]"), "{field}"),
        other => panic!("{other:?}"),
    }
    let mut backwards = walk(&env, 30, 10);
    backwards.swap(3, 4);
    match env.core.add_track_fixes(&backwards) {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "fixes[4].fix_time"),
        other => panic!("{other:?}"),
    }
    let mut nan = walk(&env, 50, 3);
    nan[2].accuracy_m = f64::NAN;
    assert!(matches!(
        env.core.add_track_fixes(&nan),
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(
        snapshot(env.dir.path()),
        before,
        "a refused batch wrote something"
    );
}

#[test]
fn an_hour_in_5_second_batches_takes_few_bytes_per_fix_and_sums_up() {
    let env = Env::new();
    env.core.start_patrol().unwrap();
    let pages = |env: &Env| -> i64 {
        // The database's size as this connection sees it (WAL frames included).
        env.core
            .test_store()
            .read(|c| {
                Ok(c.query_row(
                    "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap()
    };
    let before = pages(&env);
    let fixes = walk(&env, 0, 3600);
    for batch in fixes.chunks(5) {
        env.core.add_track_fixes(batch).unwrap();
    }
    let grown = pages(&env) - before;
    let per_fix = grown as f64 / fixes.len() as f64;
    println!(
        "3,600 fixes in 5-fix batches: the database grew {grown} bytes, {per_fix:.2} bytes per fix with the table and its index"
    );
    assert!(per_fix <= 16.0, "{per_fix}");

    env.clock.set(support::morning() + Duration::hours(2));
    let day = env.core.track_summary(None).unwrap();
    let truth = 1.4 * 3599.0;
    assert!(
        (day.distance_m / truth - 1.0).abs() < 0.1,
        "{} m of {truth} m",
        day.distance_m
    );
    assert!((day.patrol_s - 3599.0).abs() < 1.0, "{}", day.patrol_s);
    assert!(
        day.in_grid_s > 0.0 && day.in_grid_s < day.patrol_s,
        "{} of {}",
        day.in_grid_s,
        day.patrol_s
    );
    assert!(
        day.points_passed.iter().any(|p| p.point_id == "P11"),
        "{:?}",
        day.points_passed
    );
    assert_eq!(day.coverage.len(), 1, "{:?}", day.coverage);
    // Another day has nothing.
    let other = env
        .core
        .track_summary(Some(support::morning().date_naive() - chrono::Days::new(1)))
        .unwrap();
    assert_eq!(other.distance_m, 0.0);
}
