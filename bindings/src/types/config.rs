//! Mirrored types: configuration.

use super::*;

/// Thresholds that decide flags (only invalid input is ever rejected). Start from
/// `defaultPolicy()` and change what you need.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ValidationPolicy {
    /// Check-in radius for points without their own (m).
    pub checkin_radius_m: f64,
    /// Worst accuracy that still counts as a good fix (m).
    pub max_accuracy_m: f64,
    /// A fix older than this at record time is stale (s).
    pub max_fix_age_s: i64,
    /// Speed between consecutive fixes above which the later one is implausible (km/h).
    pub max_speed_kmh: f64,
    /// Wall-clock vs monotonic disagreement that counts as a clock change (s).
    pub max_clock_drift_s: i64,
    /// A second check-in at the same point within this window returns the first (s).
    pub checkin_cooldown_s: i64,
    /// Distance from the household beyond which a visit is flagged (m).
    pub visit_max_distance_m: f64,
    /// Radius of the duplicate-report hint (m).
    pub duplicate_radius_m: f64,
    /// Largest photo accepted (bytes).
    pub max_photo_bytes: i64,
    /// Photos with a longer edge are scaled down to this many pixels.
    pub photo_max_edge_px: i32,
    /// JPEG quality (30-95) of photos the core re-encodes.
    pub photo_jpeg_quality: i32,
    /// A photo taken (EXIF GPS) farther than this from the record's fix flags it (m).
    pub photo_max_distance_m: f64,
    /// A photo taken (EXIF time) longer than this before the record flags it (s).
    pub photo_max_age_s: i64,
}

impl From<policy::ValidationPolicy> for ValidationPolicy {
    fn from(p: policy::ValidationPolicy) -> Self {
        ValidationPolicy {
            checkin_radius_m: p.checkin_radius_m,
            max_accuracy_m: p.max_accuracy_m,
            max_fix_age_s: p.max_fix_age_s,
            max_speed_kmh: p.max_speed_kmh,
            max_clock_drift_s: p.max_clock_drift_s,
            checkin_cooldown_s: p.checkin_cooldown_s,
            visit_max_distance_m: p.visit_max_distance_m,
            duplicate_radius_m: p.duplicate_radius_m,
            max_photo_bytes: long(p.max_photo_bytes),
            photo_max_edge_px: int(p.photo_max_edge_px),
            photo_jpeg_quality: i32::from(p.photo_jpeg_quality),
            photo_max_distance_m: p.photo_max_distance_m,
            photo_max_age_s: p.photo_max_age_s,
        }
    }
}

impl ValidationPolicy {
    /// The core's policy; a negative or oversized count is `InvalidInput{field: POLICY}` (the
    /// core then checks ranges, e.g. JPEG quality 30-95).
    pub(crate) fn to_core(&self) -> Result<policy::ValidationPolicy> {
        let p = self;
        Ok(policy::ValidationPolicy {
            checkin_radius_m: p.checkin_radius_m,
            max_accuracy_m: p.max_accuracy_m,
            max_fix_age_s: p.max_fix_age_s,
            max_speed_kmh: p.max_speed_kmh,
            max_clock_drift_s: p.max_clock_drift_s,
            checkin_cooldown_s: p.checkin_cooldown_s,
            visit_max_distance_m: p.visit_max_distance_m,
            duplicate_radius_m: p.duplicate_radius_m,
            max_photo_bytes: count("policy.max_photo_bytes", p.max_photo_bytes)?,
            photo_max_edge_px: count("policy.photo_max_edge_px", p.photo_max_edge_px)?,
            photo_jpeg_quality: count("policy.photo_jpeg_quality", p.photo_jpeg_quality)?,
            photo_max_distance_m: p.photo_max_distance_m,
            photo_max_age_s: p.photo_max_age_s,
        })
    }
}

/// How to open the core on a device.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct WorkerConfig {
    /// The core's own directory (database and photos), e.g. `context.filesDir/gridworker`
    /// or a folder in the iOS Application Support directory. Created if missing.
    pub data_dir: String,
    /// Base URL of the sync server, e.g. `https://grid.example.gov.cn`.
    /// A Unicode host name is written in its ASCII form (`https://xn--0xvs72c.xn--fiqs8s`,
    /// not `https://网格.中国`): the library maps host names ASCII-only to stay small.
    pub server_url: String,
    pub worker_id: String,
    pub device_id: String,
    /// Overrides the policy the server sends (QA, pilots); `None` in production.
    pub policy_override: Option<ValidationPolicy>,
    /// The district's IANA time zone: `"Asia/Shanghai"` (or `Asia/Urumqi`, `Asia/Hong_Kong`,
    /// `Asia/Macau`, `Asia/Taipei`, `UTC`). Patrol days and weeks are counted in its local
    /// time, whatever zone the phone is set to. Another id is `InvalidInput{field: CONFIG}`.
    /// `None`: the fixed `utc_offset_minutes`.
    #[uniffi(default = None)]
    pub time_zone: Option<String>,
    /// Fallback when `time_zone` is `None`: local time minus UTC in minutes (China: 480).
    #[uniffi(default = 480)]
    pub utc_offset_minutes: i32,
    /// The store's 32-byte key, from the platform keystore (Android: `StoreKeys`; iOS:
    /// `StoreKey`). The core never writes it anywhere. `None` opens a plain store (tests,
    /// QA); a plain store opened with a key is encrypted in place on that first open,
    /// pending records and photos included. An encrypted store opened without its key
    /// fails with `Locked` and is left unchanged.
    #[uniffi(default = None)]
    pub key: Option<Vec<u8>>,
}

impl WorkerConfig {
    pub(crate) fn to_core(&self) -> Result<gridworker_core::Config> {
        // Paths cross into the OS as C strings: a NUL would be cut or refused there, so it is
        // the caller's mistake, not a storage failure.
        if self.data_dir.contains('\0') {
            return Err(invalid("config.data_dir", "contains a NUL character"));
        }
        let mut c = gridworker_core::Config::new(
            &self.data_dir,
            &self.server_url,
            &self.worker_id,
            &self.device_id,
        );
        c.policy_override = self
            .policy_override
            .as_ref()
            .map(ValidationPolicy::to_core)
            .transpose()?;
        c.time_zone = self.time_zone.clone();
        c.utc_offset_minutes = self.utc_offset_minutes;
        c.key = database_key("config.key", self.key.as_deref())?;
        Ok(c)
    }
}

/// A key crossing the FFI: exactly 32 bytes, or the error names `field` (never the bytes).
pub(crate) fn database_key(
    field: &str,
    bytes: Option<&[u8]>,
) -> Result<Option<gridworker_core::DatabaseKey>> {
    bytes
        .map(|b| {
            gridworker_core::DatabaseKey::from_slice(b)
                .map_err(|_| invalid(field, "must be exactly 32 bytes"))
        })
        .transpose()
}
