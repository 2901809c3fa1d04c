//! Property tests for the validation policy's invariants.

use chrono::{Duration, TimeZone, Utc};
use gridworker_model::domain::{Flag, LocationFix};
use gridworker_model::policy::{PreviousFix, ValidationPolicy};
use proptest::prelude::*;

fn fix(
    lat: f64,
    lon: f64,
    acc: f64,
    age_s: i64,
    mock: bool,
) -> (LocationFix, chrono::DateTime<Utc>) {
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
    let t = now - Duration::seconds(age_s);
    let mut f = LocationFix::wgs84(lat, lon, acc, t, 10_000_000 - age_s * 1000);
    f.is_mock = mock;
    (f, now)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Each fix-only flag is raised exactly when its condition holds.
    #[test]
    fn single_fix_flags_match_their_conditions(
        lat in 18.0f64..53.0, lon in 74.0f64..134.0,
        acc in 0.0f64..500.0, age in 0i64..900, mock: bool,
    ) {
        let p = ValidationPolicy::default();
        let (f, now) = fix(lat, lon, acc, age, mock);
        let flags = p.fix_flags(&f, f.position(), now, None);
        prop_assert_eq!(flags.contains(&Flag::Inaccurate), acc > p.max_accuracy_m);
        prop_assert_eq!(flags.contains(&Flag::MockLocation), mock);
        prop_assert_eq!(flags.contains(&Flag::StaleFix), age > p.max_fix_age_s);
        prop_assert!(!flags.contains(&Flag::ImpossibleSpeed));
        prop_assert!(!flags.contains(&Flag::ClockJump));
        let mut sorted = flags.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(sorted, flags);
    }

    /// Movement within the combined accuracy is never "impossible", however short the time;
    /// honest clocks never look like a jump.
    #[test]
    fn jitter_is_never_impossible_speed(
        lat in 40.0f64..50.0, lon in 120.0f64..134.0,
        acc in 5.0f64..50.0, frac in 0.0f64..0.99, dt_ms in 0i64..600_000,
        bearing in 0.0f64..std::f64::consts::TAU,
    ) {
        let p = ValidationPolicy::default();
        let (a, now) = fix(lat, lon, acc, 0, false);
        let prev = PreviousFix::of(&a, a.position());
        let d = 2.0 * acc * frac;
        let dlat = d * bearing.cos() / 111_195.0;
        let dlon = d * bearing.sin() / (111_195.0 * lat.to_radians().cos());
        let mut b = a.clone();
        b.lat += dlat;
        b.lon += dlon;
        b.fix_time += Duration::milliseconds(dt_ms);
        b.monotonic_ms += dt_ms;
        let flags = p.fix_flags(&b, b.position(), now + Duration::milliseconds(dt_ms), Some(&prev));
        prop_assert!(!flags.contains(&Flag::ImpossibleSpeed), "{:?}", flags);
        prop_assert!(!flags.contains(&Flag::ClockJump), "{:?}", flags);
    }

    /// Moving away faster than the limit (beyond the accuracy slack) is always flagged.
    #[test]
    fn fast_movement_is_flagged(
        lat in 40.0f64..50.0, lon in 120.0f64..134.0, dt_s in 1i64..600, factor in 1.05f64..20.0,
    ) {
        let p = ValidationPolicy::default();
        let (a, now) = fix(lat, lon, 10.0, 0, false);
        let prev = PreviousFix::of(&a, a.position());
        let d = p.max_speed_kmh / 3.6 * dt_s as f64 * factor + 20.0;
        let mut b = a.clone();
        b.lat += d / 111_195.0;
        b.fix_time += Duration::seconds(dt_s);
        b.monotonic_ms += dt_s * 1000;
        let flags = p.fix_flags(&b, b.position(), now + Duration::seconds(dt_s), Some(&prev));
        prop_assert!(flags.contains(&Flag::ImpossibleSpeed), "d={d} dt={dt_s} {:?}", flags);
    }
}
