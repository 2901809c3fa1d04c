//! The wall clock the core reads, settable by the app's tests (issue 16, item 7): a replayed
//! day is judged as it would be live (fix ages, clock jumps, cooldowns, local days), without
//! loosening the policy.

use std::sync::Arc;
use std::time::SystemTime;

use chrono::{DateTime, Utc};

use crate::error::{GridWorkerError, Result};
use crate::types::WorkerConfig;
use crate::worker::GridWorker;

/// A wall clock the app provides, for tests only: production apps open the worker with
/// `GridWorker.open`, which reads the system clock. Called on the thread of each core call;
/// return at once. A clock that throws, or answers a time outside the years 1970-2099, is
/// ignored for that reading and the system clock used instead.
#[uniffi::export(callback_interface)]
pub trait WallClock: Send + Sync {
    fn now(&self) -> Result<SystemTime, GridWorkerError>;
}

struct AppClock(Box<dyn WallClock>);

impl std::fmt::Debug for AppClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppClock")
    }
}

impl gridworker_core::Clock for AppClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
            .now()
            .ok()
            .and_then(|t| crate::types::to_utc("clock", t).ok())
            .filter(|t| (1970..2100).contains(&chrono::Datelike::year(t)))
            .unwrap_or_else(Utc::now)
    }
}

#[uniffi::export]
impl GridWorker {
    /// `open`, with the wall clock read from `clock` instead of the system: for the app's
    /// tests (a replayed day, a clock set wrong on purpose). Everything else is as `open`.
    #[uniffi::constructor]
    pub fn open_with_clock(config: WorkerConfig, clock: Box<dyn WallClock>) -> Result<Arc<Self>> {
        let mut c = config.to_core()?;
        c.clock = Arc::new(AppClock(clock));
        Ok(Arc::new(GridWorker {
            inner: Arc::new(gridworker_core::GridWorker::open(c)?),
        }))
    }
}
