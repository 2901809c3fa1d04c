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
