//! What every step of a sync run works with: the worker, the options, the transport and
//! the listeners, plus retrying a request and running store work off the async workers.
//! The engine owns one; the photo uploads borrow it (so neither imports the other).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_util::sync::CancellationToken;

use super::options::SyncOptions;
use super::progress::{Listeners, SyncProgress};
use super::retry::{self, Failure, RetryPolicy};
use super::transport::Transport;
use crate::GridWorker;
use crate::error::{Error, Result};

pub(super) struct Context {
    pub(super) worker: Arc<GridWorker>,
    pub(super) options: SyncOptions,
    pub(super) transport: Transport,
    pub(super) listeners: Arc<Listeners>,
}

impl Context {
    fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.options.max_attempts,
            base_delay: self.options.base_backoff,
            max_delay: self.options.max_backoff,
            max_elapsed: self.options.max_retry_time,
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
        retry::retry(
            &self.retry_policy(),
            cancel,
            |_| {
                stats.retries.fetch_add(1, Ordering::Relaxed);
            },
            attempt,
        )
        .await
    }

    pub(super) fn progress(&self, p: SyncProgress) {
        self.listeners.emit(&p);
    }
}

/// Runs blocking store work off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
}
