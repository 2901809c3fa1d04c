//! Location fixes as the platform hands them over. The core never reads the GPS itself.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::geo::{Crs, Position};
use crate::invalid::{Check, Invalid};

/// Which positioning source produced a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Gps,
    Network,
    Fused,
    Other,
}

/// Largest horizontal accuracy the core accepts as a fix at all (a coarse cell fix is a few
/// km); anything beyond is a broken value rather than a bad fix.
pub const MAX_ACCURACY_M: f64 = 50_000.0;

/// A fix from the platform (Android `Location`, iOS `CLLocation`), in whatever system the
/// source used. The core keeps it verbatim and derives a WGS-84 [`Position`] from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationFix {
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy radius in metres (68 % confidence on both platforms).
    pub accuracy_m: f64,
    pub altitude_m: Option<f64>,
    pub speed_mps: Option<f64>,
    pub bearing_deg: Option<f64>,
    pub provider: Provider,
    pub crs: Crs,
    /// Android `isMock` / iOS `sourceInformation.isSimulatedBySoftware`.
    pub is_mock: bool,
    /// When the fix was taken, UTC (as reported by the platform).
    pub fix_time: DateTime<Utc>,
    /// The platform's monotonic clock at the fix, in ms (Android `elapsedRealtimeNanos`,
    /// iOS `clock_gettime_nsec_np(CLOCK_MONOTONIC)`). Unaffected by the user changing the
    /// wall clock, and counting while the phone sleeps.
    pub monotonic_ms: i64,
}

impl LocationFix {
    /// A plain GPS fix in WGS-84; convenient for tests and tools.
    pub fn wgs84(
        lat: f64,
        lon: f64,
        accuracy_m: f64,
        fix_time: DateTime<Utc>,
        monotonic_ms: i64,
    ) -> Self {
        LocationFix {
            lat,
            lon,
            accuracy_m,
            altitude_m: None,
            speed_mps: None,
            bearing_deg: None,
            provider: Provider::Gps,
            crs: Crs::Wgs84,
            is_mock: false,
            fix_time,
            monotonic_ms,
        }
    }

    /// Rejects values no real fix can have. Bad fixes (inaccurate, mock, stale) are *not*
    /// rejected here: they are recorded and flagged by the validation policy.
    pub fn validate(&self, field: &str) -> Check {
        let bad = |what: &str, reason: &str| Err(Invalid::new(format!("{field}.{what}"), reason));
        if !self.lat.is_finite() || !(-90.0..=90.0).contains(&self.lat) {
            return bad("lat", "must be a finite number between -90 and 90");
        }
        if !self.lon.is_finite() || !(-180.0..=180.0).contains(&self.lon) {
            return bad("lon", "must be a finite number between -180 and 180");
        }
        if !self.accuracy_m.is_finite() || self.accuracy_m < 0.0 || self.accuracy_m > MAX_ACCURACY_M
        {
            return bad("accuracy_m", "must be a finite number between 0 and 50000");
        }
        if let Some(a) = self.altitude_m
            && (!a.is_finite() || !(-1_000.0..=20_000.0).contains(&a))
        {
            return bad("altitude_m", "must be finite and between -1000 and 20000");
        }
        if let Some(s) = self.speed_mps
            && (!s.is_finite() || !(0.0..=1_000.0).contains(&s))
        {
            return bad("speed_mps", "must be finite and between 0 and 1000");
        }
        if let Some(b) = self.bearing_deg
            && (!b.is_finite() || !(0.0..=360.0).contains(&b))
        {
            return bad("bearing_deg", "must be finite and between 0 and 360");
        }
        if self.monotonic_ms < 0 {
            return bad("monotonic_ms", "must not be negative");
        }
        Ok(())
    }

    /// The fix's position converted to WGS-84.
    pub fn position(&self) -> Position {
        Position::from_crs(self.lat, self.lon, self.crs)
    }
}
