//! How the app opens the core.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::policy::ValidationPolicy;
use crate::store::crypt::DatabaseKey;

/// Source of "now". The app uses [`SystemClock`]; tests and scenario replays inject their own.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The device's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Everything needed to open the core on a device.
#[derive(Debug, Clone)]
pub struct Config {
    /// The core's own directory (database and photos). On iOS pass a path inside the app
    /// container; it may move between launches, which is why nothing inside is stored
    /// absolute.
    pub data_dir: PathBuf,
    /// Base URL of the sync server, e.g. `https://grid.example.gov.cn`.
    /// A Unicode host name is written in its ASCII form (`https://xn--0xvs72c.xn--fiqs8s`,
    /// not `https://网格.中国`): the library maps host names ASCII-only to stay small.
    pub server_url: String,
    pub worker_id: String,
    pub device_id: String,
    /// Overrides the policy the server sends (QA, pilots). `None`: server's, else defaults.
    pub policy_override: Option<ValidationPolicy>,
    /// The district's IANA time zone (`Asia/Shanghai`): patrol days and weeks are counted in
    /// its local time ([`crate::zone`]). `None`: the fixed offset below.
    pub time_zone: Option<String>,
    /// Offset of the district's local time from UTC in minutes (China: +480), used when
    /// `time_zone` is `None`.
    pub utc_offset_minutes: i32,
    pub clock: Arc<dyn Clock>,
    /// The database key (32 random bytes the app keeps in its platform keystore). `None`: a
    /// plain store (an encrypted one is then [`crate::Error::Locked`]); given on a plain
    /// store, the store is migrated to encrypted at this open. The core never writes it to
    /// disk, and it never appears in `Debug` output.
    pub key: Option<DatabaseKey>,
}

impl Config {
    pub fn new(
        data_dir: impl Into<PathBuf>,
        server_url: &str,
        worker_id: &str,
        device_id: &str,
    ) -> Self {
        Config {
            data_dir: data_dir.into(),
            server_url: server_url.to_string(),
            worker_id: worker_id.to_string(),
            device_id: device_id.to_string(),
            policy_override: None,
            time_zone: None,
            utc_offset_minutes: 480,
            clock: Arc::new(SystemClock),
            key: None,
        }
    }
}
