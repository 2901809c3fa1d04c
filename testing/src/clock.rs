//! A clock the test moves by hand.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use gridworker_core::Clock;

/// Reads whatever the test last set; starts where [`TestClock::new`] puts it.
#[derive(Debug)]
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn new(at: DateTime<Utc>) -> Arc<Self> {
        Arc::new(TestClock(Mutex::new(at)))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn advance(&self, secs: i64) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) += Duration::seconds(secs);
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
