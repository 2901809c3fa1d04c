//! Mirrored types: location fixes.

use super::*;

pub use d::Provider;

/// Which positioning source produced a fix.
#[uniffi::remote(Enum)]
pub enum Provider {
    Gps,
    Network,
    Fused,
    Other,
}

/// A fix exactly as the platform reported it. The core keeps it verbatim, converts it to
/// WGS-84, and flags (never rejects) inaccurate, mock, stale or implausible fixes.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct LocationFix {
    pub lat: f64,
    pub lon: f64,
    /// Horizontal accuracy radius in metres.
    pub accuracy_m: f64,
    #[uniffi(default = None)]
    pub altitude_m: Option<f64>,
    #[uniffi(default = None)]
    pub speed_mps: Option<f64>,
    #[uniffi(default = None)]
    pub bearing_deg: Option<f64>,
    pub provider: Provider,
    /// The system `lat`/`lon` are in (`Wgs84` for platform fixes).
    pub crs: Crs,
    /// Android `Location.isMock` / iOS `sourceInformation.isSimulatedBySoftware`.
    #[uniffi(default = false)]
    pub is_mock: bool,
    /// When the fix was taken (the platform's time of the fix).
    pub fix_time: SystemTime,
    /// The platform's monotonic clock at the fix, in ms (Android
    /// `elapsedRealtimeNanos / 1e6`, iOS `clock_gettime_nsec_np(CLOCK_MONOTONIC) / 1e6`: both
    /// count deep sleep; iOS `systemUptime` does not and would show a clock jump).
    pub monotonic_ms: i64,
}

impl LocationFix {
    pub(crate) fn to_core(&self, field: &str) -> Result<d::LocationFix> {
        Ok(d::LocationFix {
            lat: self.lat,
            lon: self.lon,
            accuracy_m: self.accuracy_m,
            altitude_m: self.altitude_m,
            speed_mps: self.speed_mps,
            bearing_deg: self.bearing_deg,
            provider: self.provider,
            crs: self.crs,
            is_mock: self.is_mock,
            fix_time: to_utc(&format!("{field}.fix_time"), self.fix_time)?,
            monotonic_ms: self.monotonic_ms,
        })
    }
}

impl From<d::LocationFix> for LocationFix {
    fn from(f: d::LocationFix) -> Self {
        LocationFix {
            lat: f.lat,
            lon: f.lon,
            accuracy_m: f.accuracy_m,
            altitude_m: f.altitude_m,
            speed_mps: f.speed_mps,
            bearing_deg: f.bearing_deg,
            provider: f.provider,
            crs: f.crs,
            is_mock: f.is_mock,
            fix_time: from_utc(f.fix_time),
            monotonic_ms: f.monotonic_ms,
        }
    }
}
