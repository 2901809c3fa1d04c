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
    /// A photo whose long edge is longer is scaled down to this many pixels before it is
    /// stored and sent.
    pub photo_max_edge_px: u32,
    /// JPEG quality (1-100) of a photo the core re-encodes.
    pub photo_jpeg_quality: u8,
    /// A photo whose EXIF position is farther than this from the record's position flags
    /// the record `photo_far_from_fix` (m).
    pub photo_max_distance_m: f64,
    /// A photo whose EXIF capture time is older than this when the record is made flags it
    /// `photo_too_old` (s).
    pub photo_max_age_s: i64,
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
            photo_max_edge_px: 1600,
            photo_jpeg_quality: 80,
            photo_max_distance_m: 200.0,
            photo_max_age_s: 24 * 3600,
        }
    }
}

use chrono::{DateTime, Utc};

use crate::domain::{Flag, LocationFix, Photo};

/// Upper bounds of the real-valued policy fields, each also above 0 (documented in
/// `docs/protocol.md`, "Bounds of policy values").
pub const REAL_BOUNDS: [(&str, f64); 6] = [
    ("policy.checkin_radius_m", 5_000.0),
    ("policy.max_accuracy_m", 10_000.0),
    ("policy.max_speed_kmh", 2_000.0),
    ("policy.visit_max_distance_m", 100_000.0),
    ("policy.duplicate_radius_m", 10_000.0),
    ("policy.photo_max_distance_m", 100_000.0),
];

/// Upper bounds of the policy's durations in seconds, each also at least 0.
pub const SECONDS_BOUNDS: [(&str, i64); 4] = [
    ("policy.max_fix_age_s", 24 * 3600),
    ("policy.max_clock_drift_s", 366 * 24 * 3600),
    ("policy.checkin_cooldown_s", 24 * 3600),
    ("policy.photo_max_age_s", 366 * 24 * 3600),
];

/// Upper bound of `max_photo_bytes` (at least 1).
pub const MAX_PHOTO_BYTES_BOUND: u64 = 64 * 1024 * 1024;

/// Bounds of `photo_max_edge_px`: below 320 px a report photo is unreadable; above 8192 px
/// nothing is ever scaled (and a decoded frame would not fit a phone's memory budget).
pub const PHOTO_EDGE_BOUNDS: (u32, u32) = (320, 8192);
/// Bounds of `photo_jpeg_quality`: below 30 the artefacts hide what the photo shows; above
/// 95 the file grows with no visible gain.
pub const PHOTO_QUALITY_BOUNDS: (u8, u8) = (30, 95);
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
    /// Checks the policy's own values (it may come from a server or a QA override) against
    /// [`REAL_BOUNDS`], [`SECONDS_BOUNDS`] and [`MAX_PHOTO_BYTES_BOUND`]. A server policy
    /// outside them is refused at handshake and the previous one stays in force.
    pub fn validate(&self) -> crate::Check {
        let reals = [
            self.checkin_radius_m,
            self.max_accuracy_m,
            self.max_speed_kmh,
            self.visit_max_distance_m,
            self.duplicate_radius_m,
            self.photo_max_distance_m,
        ];
        for ((field, max), v) in REAL_BOUNDS.iter().zip(reals) {
            if !v.is_finite() || v <= 0.0 || v > *max {
                return Err(crate::Invalid::new(
                    *field,
                    format!("must be a finite number above 0 and at most {max}"),
                ));
            }
        }
        let seconds = [
            self.max_fix_age_s,
            self.max_clock_drift_s,
            self.checkin_cooldown_s,
            self.photo_max_age_s,
        ];
        for ((field, max), v) in SECONDS_BOUNDS.iter().zip(seconds) {
            if !(0..=*max).contains(&v) {
                return Err(crate::Invalid::new(
                    *field,
                    format!("must be between 0 and {max} seconds"),
                ));
            }
        }
        if !(1..=MAX_PHOTO_BYTES_BOUND).contains(&self.max_photo_bytes) {
            return Err(crate::Invalid::new(
                "policy.max_photo_bytes",
                format!("must be between 1 and {MAX_PHOTO_BYTES_BOUND}"),
            ));
        }
        let (lo, hi) = PHOTO_EDGE_BOUNDS;
        if !(lo..=hi).contains(&self.photo_max_edge_px) {
            return Err(crate::Invalid::new(
                "policy.photo_max_edge_px",
                format!("must be between {lo} and {hi}"),
            ));
        }
        let (lo, hi) = PHOTO_QUALITY_BOUNDS;
        if !(lo..=hi).contains(&self.photo_jpeg_quality) {
            return Err(crate::Invalid::new(
                "policy.photo_jpeg_quality",
                format!("must be between {lo} and {hi}"),
            ));
        }
        Ok(())
    }

    /// Flags that what the photos themselves say raises about a record made at `position`
    /// (WGS-84) at `now`: taken far from it (`photo_far_from_fix`), or long before it
    /// (`photo_too_old`). Photos without EXIF position or time raise nothing: most phones
    /// strip them on sharing, and their absence proves nothing.
    pub fn photo_flags(
        &self,
        photos: &[Photo],
        position: Position,
        now: DateTime<Utc>,
    ) -> Vec<Flag> {
        let mut flags = Vec::new();
        let far = photos
            .iter()
            .filter_map(|p| p.exif_position)
            .any(|at| position.distance_m(at) > self.photo_max_distance_m);
        if far {
            flags.push(Flag::PhotoFarFromFix);
        }
        let old = photos
            .iter()
            .filter_map(|p| p.exif_time)
            .any(|taken| (now - taken).num_seconds() > self.photo_max_age_s);
        if old {
            flags.push(Flag::PhotoTooOld);
        }
        flags
    }

    /// Start of the check-in cooldown window ending at `now`. Checked: whatever the policy
    /// holds, this never panics or wraps (an out-of-range window starts at `now`).
    pub fn cooldown_since(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        chrono::TimeDelta::try_seconds(self.checkin_cooldown_s.max(0))
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(now)
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
        // Saturating throughout: clocks and policy values come from outside, and a wrapped
        // difference would flag honest fixes (or none).
        let age_s = (now - fix.fix_time).num_seconds();
        if age_s > self.max_fix_age_s {
            flags.push(Flag::StaleFix);
        }
        // A fix "from the future" means the device clock is behind the fix's clock.
        if age_s.saturating_neg() > self.max_clock_drift_s {
            flags.push(Flag::ClockJump);
        }
        if let Some(prev) = previous {
            let d_mono_ms = fix.monotonic_ms.saturating_sub(prev.monotonic_ms);
            let d_wall_ms = (fix.fix_time - prev.fix_time).num_milliseconds();
            // A smaller monotonic reading means a reboot: the two clocks cannot be compared.
            let same_boot = d_mono_ms >= 0;
            if same_boot
                && d_wall_ms.saturating_sub(d_mono_ms).saturating_abs()
                    > self.max_clock_drift_s.saturating_mul(1000)
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
    fn values_outside_the_bounds_are_refused() {
        assert!(ValidationPolicy::default().validate().is_ok());
        let cases = [
            ValidationPolicy {
                checkin_cooldown_s: 10_i64.pow(13),
                ..Default::default()
            },
            ValidationPolicy {
                checkin_cooldown_s: i64::MAX,
                ..Default::default()
            },
            ValidationPolicy {
                max_clock_drift_s: 10_i64.pow(16),
                ..Default::default()
            },
            ValidationPolicy {
                max_fix_age_s: -1,
                ..Default::default()
            },
            ValidationPolicy {
                checkin_radius_m: f64::INFINITY,
                ..Default::default()
            },
            ValidationPolicy {
                max_speed_kmh: 1e9,
                ..Default::default()
            },
            ValidationPolicy {
                max_photo_bytes: u64::MAX,
                ..Default::default()
            },
        ];
        for p in cases {
            assert!(p.validate().is_err(), "{p:?}");
        }
    }

    #[test]
    fn time_arithmetic_never_panics_or_wraps_even_on_unchecked_values() {
        // Values that only an unvalidated source could hold still give sane answers.
        let p = ValidationPolicy {
            checkin_cooldown_s: i64::MAX,
            max_clock_drift_s: 10_i64.pow(16),
            ..Default::default()
        };
        let a = fix_at(45.3, 130.9, 0);
        assert_eq!(p.cooldown_since(a.fix_time), a.fix_time);
        let prev = PreviousFix::of(&a, a.position());
        let mut b = fix_at(45.3001, 130.9, 60);
        // Honest fix: no clock jump (the old `* 1000` wrapped to a negative threshold).
        assert!(
            p.fix_flags(&b, b.position(), b.fix_time, Some(&prev))
                .is_empty()
        );
        b.monotonic_ms = i64::MIN;
        let _ = p.fix_flags(&b, b.position(), b.fix_time, Some(&prev));
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
