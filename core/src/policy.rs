//! The validation policy: what the core accepts, flags, and refuses.
//!
//! One struct with documented defaults. The server sends its own values at handshake and they
//! replace these; a record is judged by the policy in force when it was recorded.

use serde::{Deserialize, Serialize};

/// Thresholds applied when recording. Only invalid input is ever rejected; everything else
/// the worker records is kept, and these thresholds decide its flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ValidationPolicy {
    /// Check-in radius used when a point has none of its own (m).
    pub checkin_radius_m: f64,
    /// Worst horizontal accuracy that still counts as a good fix (m).
    pub max_accuracy_m: f64,
    /// A fix older than this at record time is stale (s).
    pub max_fix_age_s: i64,
    /// Speed between consecutive fixes above which the later one is implausible (km/h).
    pub max_speed_kmh: f64,
    /// Disagreement between wall-clock and monotonic elapsed time that counts as the clock
    /// having been changed (s).
    pub max_clock_drift_s: i64,
    /// A second check-in at the same point within this window returns the first (s).
    pub checkin_cooldown_s: i64,
    /// Distance from the household beyond which a visit is flagged (m).
    pub visit_max_distance_m: f64,
    /// Distance within which an open report of the same category counts as a likely
    /// duplicate (m).
    pub duplicate_radius_m: f64,
    /// Largest photo accepted (bytes).
    pub max_photo_bytes: u64,
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        ValidationPolicy {
            checkin_radius_m: 50.0,
            max_accuracy_m: 50.0,
            max_fix_age_s: 120,
            max_speed_kmh: 120.0,
            max_clock_drift_s: 60,
            checkin_cooldown_s: 600,
            visit_max_distance_m: 100.0,
            duplicate_radius_m: 50.0,
            max_photo_bytes: 20 * 1024 * 1024,
        }
    }
}

use chrono::{DateTime, Utc};

use crate::domain::{Flag, LocationFix};
use crate::geo::Position;

/// The fix behind the device's previous record, kept to judge the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviousFix {
    pub position: Position,
    pub accuracy_m: f64,
    pub fix_time: DateTime<Utc>,
    pub monotonic_ms: i64,
}

impl PreviousFix {
    pub fn of(fix: &LocationFix, position: Position) -> Self {
        PreviousFix {
            position,
            accuracy_m: fix.accuracy_m,
            fix_time: fix.fix_time,
            monotonic_ms: fix.monotonic_ms,
        }
    }
}

impl ValidationPolicy {
    /// Checks the policy's own values (it may come from a server or a QA override).
    pub fn validate(&self) -> crate::Result<()> {
        let positive = [
            ("policy.checkin_radius_m", self.checkin_radius_m),
            ("policy.max_accuracy_m", self.max_accuracy_m),
            ("policy.max_speed_kmh", self.max_speed_kmh),
            ("policy.visit_max_distance_m", self.visit_max_distance_m),
            ("policy.duplicate_radius_m", self.duplicate_radius_m),
        ];
        for (field, v) in positive {
            if !v.is_finite() || v <= 0.0 {
                return Err(crate::Error::invalid(
                    field,
                    "must be a positive finite number",
                ));
            }
        }
        let non_negative = [
            ("policy.max_fix_age_s", self.max_fix_age_s),
            ("policy.max_clock_drift_s", self.max_clock_drift_s),
            ("policy.checkin_cooldown_s", self.checkin_cooldown_s),
        ];
        for (field, v) in non_negative {
            if v < 0 {
                return Err(crate::Error::invalid(field, "must not be negative"));
            }
        }
        if self.max_photo_bytes == 0 {
            return Err(crate::Error::invalid(
                "policy.max_photo_bytes",
                "must be positive",
            ));
        }
        Ok(())
    }

    /// Flags that concern the fix itself, whatever it is used for: accuracy, mock, age, and
    /// consistency with the previous fix (speed, clock).
    pub fn fix_flags(
        &self,
        fix: &LocationFix,
        position: Position,
        now: DateTime<Utc>,
        previous: Option<&PreviousFix>,
    ) -> Vec<Flag> {
        let mut flags = Vec::new();
        if fix.accuracy_m > self.max_accuracy_m {
            flags.push(Flag::Inaccurate);
        }
        if fix.is_mock {
            flags.push(Flag::MockLocation);
        }
        let age_s = (now - fix.fix_time).num_seconds();
        if age_s > self.max_fix_age_s {
            flags.push(Flag::StaleFix);
        }
        // A fix "from the future" means the device clock is behind the fix's clock.
        if -age_s > self.max_clock_drift_s {
            flags.push(Flag::ClockJump);
        }
        if let Some(prev) = previous {
            let d_mono_ms = fix.monotonic_ms - prev.monotonic_ms;
            let d_wall_ms = (fix.fix_time - prev.fix_time).num_milliseconds();
            // A smaller monotonic reading means a reboot: the two clocks cannot be compared.
            let same_boot = d_mono_ms >= 0;
            if same_boot
                && (d_wall_ms - d_mono_ms).abs() > self.max_clock_drift_s * 1000
                && !flags.contains(&Flag::ClockJump)
            {
                flags.push(Flag::ClockJump);
            }
            let elapsed_s = if same_boot {
                d_mono_ms as f64 / 1000.0
            } else {
                d_wall_ms as f64 / 1000.0
            };
            // Both fixes may be off by their accuracy radius: only the distance beyond that
            // counts, so GPS jitter between two close fixes never looks like a jump.
            let moved =
                (position.distance_m(prev.position) - fix.accuracy_m - prev.accuracy_m).max(0.0);
            if moved > 0.0 {
                let speed_kmh = moved / elapsed_s.max(1.0) * 3.6;
                if speed_kmh > self.max_speed_kmh {
                    flags.push(Flag::ImpossibleSpeed);
                }
            }
        }
        flags.sort();
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fix_at(lat: f64, lon: f64, secs: i64) -> LocationFix {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 23, 1, 0, 0)
            .single()
            .unwrap_or_default()
            + chrono::Duration::seconds(secs);
        LocationFix::wgs84(lat, lon, 10.0, t, 1_000_000 + secs * 1000)
    }

    #[test]
    fn good_fix_has_no_flags() {
        let p = ValidationPolicy::default();
        let f = fix_at(45.3, 130.9, 0);
        assert!(p.fix_flags(&f, f.position(), f.fix_time, None).is_empty());
    }

    #[test]
    fn stale_mock_inaccurate() {
        let p = ValidationPolicy::default();
        let mut f = fix_at(45.3, 130.9, 0);
        f.is_mock = true;
        f.accuracy_m = 80.0;
        let now = f.fix_time + chrono::Duration::seconds(121);
        let flags = p.fix_flags(&f, f.position(), now, None);
        assert_eq!(
            flags,
            vec![Flag::Inaccurate, Flag::MockLocation, Flag::StaleFix]
        );
    }

    #[test]
    fn speed_and_clock_jump() {
        let p = ValidationPolicy::default();
        let a = fix_at(45.3, 130.9, 0);
        let prev = PreviousFix::of(&a, a.position());
        // 1.1 km in 10 s: ~400 km/h.
        let b = fix_at(45.31, 130.9, 10);
        assert_eq!(
            p.fix_flags(&b, b.position(), b.fix_time, Some(&prev)),
            vec![Flag::ImpossibleSpeed]
        );
        // Walking pace: fine.
        let c = fix_at(45.301, 130.9, 120);
        assert!(
            p.fix_flags(&c, c.position(), c.fix_time, Some(&prev))
                .is_empty()
        );
        // Wall clock moved 2 h while the monotonic clock moved 2 min.
        let mut d = fix_at(45.301, 130.9, 120);
        d.fix_time += chrono::Duration::hours(2);
        assert_eq!(
            p.fix_flags(&d, d.position(), d.fix_time, Some(&prev)),
            vec![Flag::ClockJump]
        );
    }
}
