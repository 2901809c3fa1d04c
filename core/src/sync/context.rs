//! What every step of a sync run works with: the worker, the options, the transport and
//! the listeners, plus retrying a request and running store work off the async workers.
//! The engine owns one; the photo uploads borrow it (so neither imports the other).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_util::sync::CancellationToken;

use super::options::SyncOptions;
use super::progress::{Listeners, RetryNotice, RunStatus, SyncProgress};
use super::retry::{self, Failure, RetryPolicy};
use super::transport::Transport;
use crate::GridWorker;
use crate::error::{Error, Result};

pub(super) struct Context {
    pub(super) worker: Arc<GridWorker>,
    pub(super) options: SyncOptions,
    pub(super) transport: Transport,
    pub(super) listeners: Arc<Listeners>,
    pub(super) status: Arc<RunStatus>,
}

/// The retry budget of a run started by a button press (`SyncEngine::sync_now`): the first
/// attempt and two more, within 8 s of retrying (the options' budget when that is smaller).
/// With the server down the button answers within seconds; background runs keep the
/// options' budget.
pub const INTERACTIVE_ATTEMPTS: u32 = 3;
pub const INTERACTIVE_RETRY_TIME: std::time::Duration = std::time::Duration::from_secs(8);

impl Context {
    fn retry_policy(&self) -> RetryPolicy {
        let p = RetryPolicy {
            max_attempts: self.options.max_attempts,
            base_delay: self.options.base_backoff,
            max_delay: self.options.max_backoff,
            max_elapsed: self.options.max_retry_time,
        };
        if self.transport.is_interactive() {
            RetryPolicy {
                max_attempts: p.max_attempts.min(INTERACTIVE_ATTEMPTS),
                max_elapsed: p.max_elapsed.min(INTERACTIVE_RETRY_TIME),
                ..p
            }
        } else {
            p
        }
    }

    /// One request with retries, counting them into the run's stats.
    pub(super) async fn with_retry<T, F, Fut>(
        &self,
        cancel: &CancellationToken,
        attempt: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<T, Failure>>,
    {
        let stats = self.transport.stats.clone();
        let policy = self.retry_policy();
        let clock = self.worker.config().clock.clone();
        let (status, resumed) = (self.status.clone(), self.status.clone());
        let listeners = self.listeners.clone();
        let mut attempt = attempt;
        retry::retry(
            &policy,
            cancel,
            |_, failed, wait| {
                stats.retries.fetch_add(1, Ordering::Relaxed);
                let now = clock.now();
                let until = chrono::Duration::from_std(wait)
                    .ok()
                    .and_then(|d| now.checked_add_signed(d))
                    .unwrap_or(now);
                let mut p = SyncProgress::new(status.waiting(failed, until));
                p.retry = Some(RetryNotice {
                    attempt: failed,
                    max_attempts: policy.max_attempts,
                    delay_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                });
                listeners.emit(&p);
            },
            move || {
                resumed.resumed();
                attempt()
            },
        )
        .await
    }

    pub(super) fn progress(&self, p: SyncProgress) {
        self.status.phase(p.phase);
        self.listeners.emit(&p);
    }
}

/// Runs blocking store work off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    Pending::spawn(f).finish().await
}

/// Blocking store work started off the async workers, awaited later (the push reads ahead
/// and records answers while a batch travels).
pub(super) struct Pending<T>(tokio::task::JoinHandle<Result<T>>);

impl<T: Send + 'static> Pending<T> {
    pub(super) fn spawn(f: impl FnOnce() -> Result<T> + Send + 'static) -> Pending<T> {
        Pending(tokio::task::spawn_blocking(f))
    }

    pub(super) async fn finish(self) -> Result<T> {
        self.0
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
    }
}
