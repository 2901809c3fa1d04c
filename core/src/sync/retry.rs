//! Retrying transient failures: exponential backoff with full jitter, honouring the server's
//! `Retry-After`, bounded in attempts and in total time, and cancellable at every wait.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// How a request failed, as far as retrying is concerned.
#[derive(Debug)]
pub enum Failure {
    /// Worth trying again (connection cut, timeout, 5xx, 429, a reply mangled in transit).
    /// `protocol` marks a malformed reply: if retries run out it surfaces as
    /// [`Error::Protocol`] rather than [`Error::Network`].
    Transient {
        reason: String,
        retry_after: Option<Duration>,
        protocol: bool,
    },
    /// Retrying cannot help.
    Fatal(Error),
}

impl Failure {
    pub fn transient(reason: impl Into<String>) -> Failure {
        Failure::Transient {
            reason: reason.into(),
            retry_after: None,
            protocol: false,
        }
    }

    pub fn malformed(reason: impl Into<String>) -> Failure {
        Failure::Transient {
            reason: reason.into(),
            retry_after: None,
            protocol: true,
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Fatal(e)
    }
}

/// Bounds of one retry loop.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Total time after which no new attempt starts.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(300),
        }
    }
}

/// A cheap, non-cryptographic random source for jitter (splitmix64 over a process-wide
/// counter seeded from the clock); jitter only has to decorrelate devices, not be secret.
fn jitter_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(seed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl RetryPolicy {
    /// Delay before attempt `n + 1` after `n` failures: full jitter over an exponentially
    /// growing cap, but never shorter than the server asked for.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let cap = self
            .base_delay
            .saturating_mul(1u32 << failures.min(16))
            .min(self.max_delay);
        let cap_ms = cap.as_millis().max(1) as u64;
        let jittered = Duration::from_millis(cap_ms / 2 + jitter_u64() % (cap_ms / 2 + 1));
        match retry_after {
            // A server asking for more than our whole budget still gets obeyed up to it.
            Some(ra) => ra.min(self.max_elapsed).max(jittered.min(ra)),
            None => jittered,
        }
    }
}

/// Sleeps unless cancelled first.
pub async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> Result<()> {
    tokio::select! {
        _ = cancel.cancelled() => Err(Error::Cancelled),
        _ = tokio::time::sleep(d) => Ok(()),
    }
}

/// Runs `attempt` until it succeeds, fails fatally, is cancelled, or the bounds run out.
/// `on_retry` hears about each transient failure that will be retried (the reason, the
/// number of the attempt that failed, and the wait before the next one).
pub async fn retry<T, F, Fut>(
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    mut on_retry: impl FnMut(&str, u32, Duration),
    mut attempt: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, Failure>>,
{
    let started = Instant::now();
    let mut failures = 0u32;
    loop {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let outcome = tokio::select! {
            _ = cancel.cancelled() => return Err(Error::Cancelled),
            r = attempt() => r,
        };
        match outcome {
            Ok(v) => return Ok(v),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Transient {
                reason,
                retry_after,
                protocol,
            }) => {
                failures += 1;
                let wait = policy.delay(failures - 1, retry_after);
                if failures >= policy.max_attempts || started.elapsed() + wait > policy.max_elapsed
                {
                    return Err(if protocol {
                        Error::Protocol { reason }
                    } else {
                        Error::Network { reason }
                    });
                }
                log::debug!("sync: transient failure ({reason}), retrying in {wait:?}");
                on_retry(&reason, failures, wait);
                sleep_or_cancel(wait, cancel).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_capped_and_respect_retry_after() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_elapsed: Duration::from_secs(60),
        };
        for n in 0..12 {
            let d = p.delay(n, None);
            assert!(d <= p.max_delay, "{d:?}");
            let cap = Duration::from_millis(100u64 << n.min(16)).min(p.max_delay);
            assert!(d >= cap / 2, "attempt {n}: {d:?} below half of {cap:?}");
        }
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(600))),
            Duration::from_secs(60)
        );
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_with_a_typed_error() {
        let p = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_elapsed: Duration::from_secs(5),
        };
        let mut calls = 0;
        let r: Result<()> = retry(
            &p,
            &CancellationToken::new(),
            |_, _, _| {},
            || {
                calls += 1;
                async { Err(Failure::malformed("bad json")) }
            },
        )
        .await;
        assert!(matches!(r, Err(Error::Protocol { .. })));
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn cancellation_interrupts_the_wait() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(300),
        };
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            c2.cancel();
        });
        let r: Result<()> = retry(
            &p,
            &cancel,
            |_, _, _| {},
            || async { Err(Failure::transient("down")) },
        )
        .await;
        assert!(matches!(r, Err(Error::Cancelled)));
    }
}
