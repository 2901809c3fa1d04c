//! The check-in cooldown (duplicate) rule: a repeat within the cooldown of an earlier
//! trustworthy check-in returns that one; nothing else is ever swallowed (reliability issue 8,
//! defect 2).

mod support;

use chrono::{DateTime, Duration, Utc};
use gridworker_core::domain::{Flag, LocationFix};
use proptest::prelude::*;
use support::*;

/// A fix from the GNSS receiver: its time is true time whatever the device clock says.
fn gnss_fix(env: &Env, point: &str, true_time: DateTime<Utc>, mono_ms: i64) -> LocationFix {
    let p = env.point(point).position;
    LocationFix::wgs84(p.lat, p.lon, 8.0, true_time, mono_ms)
}

#[test]
fn defect2_future_dated_checkin_does_not_swallow_real_ones() {
    let env = Env::new();
    let p = env.point("P11").position;
    // The worker's clock is a day ahead; the fix carries the device's (wrong) time too.
    env.clock.set(morning() + Duration::days(1));
    let ahead = LocationFix::wgs84(p.lat, p.lon, 8.0, env.clock.now(), mono(morning()));
    let first = env.core.check_in("P11", &ahead).unwrap();
    assert!(!first.duplicate);
    // The clock is put right; five minutes later, a real check-in at the same point.
    env.clock.set(morning() + Duration::minutes(5));
    let real = env.core.check_in("P11", &env.fix_at(p)).unwrap();
    assert!(
        !real.duplicate,
        "a future-dated record swallowed a real one"
    );
    assert_ne!(real.check_in.id, first.check_in.id);
    assert_eq!(env.core.sync_counts().unwrap().pending.checkins, 2);
}

#[test]
fn defect2_clock_jump_record_is_not_a_suppressor() {
    let env = Env::new();
    let p = env.point("P11").position;
    env.core
        .check_in("P12", &env.fix_at(env.point("P12").position))
        .unwrap();
    // Two minutes later the wall clock has been moved back by hand: the monotonic clock says
    // 120 s passed, the wall clock 59 s, a disagreement beyond the policy's 60 s.
    env.clock.advance(120);
    let honest_mono = mono(env.clock.now());
    env.clock.advance(-61);
    let mut fix = env.fix_at(p);
    fix.monotonic_ms = honest_mono;
    let jumped = env.core.check_in("P11", &fix).unwrap();
    assert!(jumped.check_in.flags.contains(&Flag::ClockJump));
    env.clock.advance(30);
    let mut next = env.fix_at(p);
    next.monotonic_ms = honest_mono + 30_000;
    let r = env.core.check_in("P11", &next).unwrap();
    assert!(!r.duplicate, "a clock_jump record suppressed a later one");
}

#[test]
fn defect2_checkin_from_before_a_reboot_is_not_a_suppressor() {
    let env = Env::new();
    let t0 = env.clock.now();
    // Up for 10 minutes when the first check-in is made.
    env.core
        .check_in("P11", &gnss_fix(&env, "P11", t0, 600_000))
        .unwrap();
    // Rebooted; the new boot's uptime happens to be past the old reading, and the wall clock is
    // now set back five minutes, so both clocks alone would call this a repeat.
    env.clock.set(t0 + Duration::minutes(3));
    let after_reboot = gnss_fix(&env, "P11", t0 + Duration::minutes(8), 660_000);
    let r = env.core.check_in("P11", &after_reboot).unwrap();
    assert!(
        !r.duplicate,
        "a check-in of an earlier boot suppressed a later one"
    );
}

/// One step of a patrol: how much true time passes, what happens to the phone, where the
/// worker checks in.
#[derive(Debug, Clone)]
struct Step {
    point: usize,
    elapse_s: i64,
    /// The worker sets the wall clock this far from true time (None: leaves it).
    set_skew_s: Option<i64>,
    /// The phone reboots, staying off this long, before the check-in.
    reboot_off_s: Option<i64>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0usize..2,
        prop_oneof![0i64..120, 0i64..1200, 0i64..90_000],
        prop::option::weighted(
            0.2,
            prop::sample::select(vec![0i64, 86_400, -86_400, 10_800, -3_600, 1_800]),
        ),
        prop::option::weighted(0.1, 120i64..3_600),
    )
        .prop_map(|(point, elapse_s, set_skew_s, reboot_off_s)| Step {
            point,
            elapse_s,
            set_skew_s,
            reboot_off_s,
        })
}

/// What the model remembers of a stored check-in.
struct Stored {
    point: usize,
    true_time: DateTime<Utc>,
    boot: u32,
    skew_s: i64,
    clock_jump: bool,
    id: String,
}

fn cases() -> u32 {
    std::env::var("GRIDWORKER_PROP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// For any sequence of check-ins under arbitrary clocks (skewed wall clocks, reboots),
    /// a check-in is returned as a duplicate exactly when an earlier *trustworthy* one at the
    /// same point (not judged `clock_jump`, same boot, same clock) lies within the cooldown of
    /// true time; every other check-in is stored.
    #[test]
    fn defect2_only_trustworthy_checkins_within_cooldown_suppress(
        steps in prop::collection::vec(step(), 1..24)
    ) {
        let env = Env::new();
        let cooldown = Duration::seconds(600);
        let points = ["P11", "P12"];
        let mut true_time = morning();
        let mut boot_start = morning() - Duration::hours(1);
        let mut boot = 0u32;
        let mut skew_s = 0i64;
        let mut stored: Vec<Stored> = Vec::new();
        for s in steps {
            true_time += Duration::seconds(s.elapse_s);
            if let Some(off) = s.reboot_off_s {
                true_time += Duration::seconds(off);
                boot_start = true_time - Duration::seconds(30);
                boot += 1;
            }
            if let Some(k) = s.set_skew_s {
                skew_s = k;
            }
            env.clock.set(true_time + Duration::seconds(skew_s));
            let mono_ms = (true_time - boot_start).num_milliseconds();
            let fix = gnss_fix(&env, points[s.point], true_time, mono_ms);
            let r = env.core.check_in(points[s.point], &fix).unwrap();
            let suppressor = stored.iter().rev().find(|e| {
                e.point == s.point
                    && !e.clock_jump
                    && e.boot == boot
                    && e.skew_s == skew_s
                    && true_time - e.true_time < cooldown
            });
            match suppressor {
                None => {
                    prop_assert!(!r.duplicate, "check-in swallowed: {:?}", r.check_in.id);
                    stored.push(Stored {
                        point: s.point,
                        true_time,
                        boot,
                        skew_s,
                        clock_jump: r.check_in.flags.contains(&Flag::ClockJump),
                        id: r.check_in.id.clone(),
                    });
                }
                Some(e) => {
                    prop_assert!(r.duplicate, "repeat within the cooldown was stored");
                    prop_assert_eq!(&r.check_in.id, &e.id);
                }
            }
        }
        let listed = env.core.list_checkins(0, 1000).unwrap();
        prop_assert_eq!(listed.len(), stored.len());
    }
}
