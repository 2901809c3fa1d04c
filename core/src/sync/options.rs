//! What the platform gives the engine (options, tokens, network kind) and what a run returns.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::store::outbox::QuarantinedRecord;

/// Supplies bearer tokens. The platform owns login; the core only asks.
pub trait AccessTokenProvider: Send + Sync {
    /// The current access token. With `force_refresh` the previous one was refused (401):
    /// return a fresh one or fail with [`Error::Authentication`].
    fn access_token(&self, force_refresh: bool) -> Result<String, Error>;
}

/// The network the platform sees right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkKind {
    /// No connectivity: a run fails fast with a network error and leaves everything queued.
    None,
    /// Metered (4G); photos wait when [`SyncOptions::photos_wifi_only`] is set.
    Cellular,
    /// Wi-Fi or Ethernet (also the default when the platform says nothing).
    #[default]
    Wifi,
}

/// How the engine talks to the server.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Allow `http://` server URLs. Only for local QA; production requires https.
    pub allow_http: bool,
    /// Extra trusted root certificates, PEM (district servers often use a private CA).
    pub extra_root_certs_pem: Vec<String>,
    /// Pins: hex SHA-256 of the server key's DER SubjectPublicKeyInfo (as `openssl x509 -pubkey
    /// -noout | openssl pkey -pubin -outform der | sha256sum` prints). When non-empty the server's
    /// key must match one of them in addition to its certificate chaining to a trusted root.
    pub pinned_sha256: Vec<String>,
    /// On cellular, records whose photos are not uploaded yet wait for Wi-Fi; the others
    /// still go.
    pub photos_wifi_only: bool,
    /// At most this many mutations per push request.
    pub batch_max_mutations: usize,
    /// At most this many payload bytes per push request (one oversized mutation still goes
    /// alone).
    pub batch_max_bytes: usize,
    /// At most this many changes per pull page (the server may send fewer; a page with more
    /// is refused). Between 1 and 5,000.
    pub pull_page_limit: u32,
    /// Time limit of one request without progress (a stalled connection is cut after it).
    pub request_timeout: Duration,
    /// Time limit to establish a connection.
    pub connect_timeout: Duration,
    /// Attempts per request before the run gives up with a network error.
    pub max_attempts: u32,
    /// First backoff delay; doubles per failure, with jitter.
    pub base_backoff: Duration,
    /// Longest backoff delay.
    pub max_backoff: Duration,
    /// Longest time spent retrying one request.
    pub max_retry_time: Duration,
    /// Size of one photo upload chunk read from disk.
    pub photo_chunk_bytes: usize,
    /// Longest a whole run may take (handshake to last pull page). A server that trickles
    /// bytes or never stops paging ends the run with [`Error::Network`] after this; what was
    /// committed stays and the next run resumes. At most 24 hours.
    pub run_deadline: Duration,
    /// Most pull pages fetched in one run (the saved cursor resumes the rest next run).
    /// Between 1 and 1,000,000.
    pub max_pull_pages: u32,
    /// How long outbox entries stay re-sendable after the server acknowledged them: a server
    /// restored from a backup older than this cannot get them back. Between 1 day and 10
    /// years.
    pub synced_retention: Duration,
}

/// Bounds of [`SyncOptions::synced_retention`].
const MIN_RETENTION: Duration = Duration::from_secs(24 * 3600);
const MAX_RETENTION: Duration = Duration::from_secs(10 * 366 * 24 * 3600);
/// Bound of [`SyncOptions::max_pull_pages`].
const MAX_PULL_PAGES: u32 = 1_000_000;

/// Longest duration any option may hold: larger values would overflow deadline arithmetic
/// (`Instant + Duration` panics) and mean nothing on a phone anyway.
const MAX_OPTION_DURATION: Duration = Duration::from_secs(24 * 3600);

impl SyncOptions {
    /// Refuses limits that are zero, absurd, or would overflow timers.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |field: &str, reason: &str| {
            Err(crate::Error::invalid(
                format!("sync_options.{field}"),
                reason,
            ))
        };
        // The protocol's limit: a larger batch is refused whole (422 too_many_mutations)
        // every time, and nothing would leave the phone again.
        if self.batch_max_mutations == 0
            || self.batch_max_mutations > crate::sync::wire::MAX_PUSH_MUTATIONS
        {
            return bad("batch_max_mutations", "must be between 1 and 2000");
        }
        if self.batch_max_bytes == 0 || self.batch_max_bytes > 64 * 1024 * 1024 {
            return bad("batch_max_bytes", "must be between 1 and 64 MiB");
        }
        // Pages larger than the protocol's maximum are refused (more changes than asked
        // for are a protocol error), so asking for more would only loosen that check.
        if self.pull_page_limit == 0 || self.pull_page_limit > super::wire::MAX_PULL_LIMIT {
            return bad("pull_page_limit", "must be between 1 and 5000");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts", "must be positive");
        }
        if self.photo_chunk_bytes == 0 || self.photo_chunk_bytes > 16 * 1024 * 1024 {
            return bad("photo_chunk_bytes", "must be between 1 byte and 16 MiB");
        }
        for (field, d) in [
            ("request_timeout", self.request_timeout),
            ("connect_timeout", self.connect_timeout),
            ("base_backoff", self.base_backoff),
            ("max_backoff", self.max_backoff),
            ("max_retry_time", self.max_retry_time),
            ("run_deadline", self.run_deadline),
        ] {
            if d > MAX_OPTION_DURATION {
                return bad(field, "must be at most 24 hours");
            }
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return bad("request_timeout", "timeouts must be positive");
        }
        if self.run_deadline.is_zero() {
            return bad("run_deadline", "must be positive");
        }
        if self.max_pull_pages == 0 || self.max_pull_pages > MAX_PULL_PAGES {
            return bad("max_pull_pages", "must be between 1 and 1000000");
        }
        if self.synced_retention < MIN_RETENTION || self.synced_retention > MAX_RETENTION {
            return bad("synced_retention", "must be between 1 day and 10 years");
        }
        Ok(())
    }
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            allow_http: false,
            extra_root_certs_pem: Vec::new(),
            pinned_sha256: Vec::new(),
            photos_wifi_only: false,
            batch_max_mutations: 500,
            batch_max_bytes: 512 * 1024,
            pull_page_limit: 2000,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(15),
            max_attempts: 8,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_time: Duration::from_secs(300),
            photo_chunk_bytes: 64 * 1024,
            run_deadline: Duration::from_secs(15 * 60),
            max_pull_pages: 5_000,
            synced_retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Mutations the server applied in this run.
    pub pushed: u64,
    /// Mutations the server already had (a retry after a lost acknowledgement).
    pub already_applied: u64,
    /// Mutations refused for good in this run (kept locally with the reason).
    pub rejected: u64,
    /// Mutations left pending on purpose: photos waiting for Wi-Fi, kinds the server's
    /// protocol version does not know yet (protocol.md §9).
    pub deferred: u64,
    /// Mutations left pending because they wait for something else: a record they depend on
    /// is quarantined, or a photo they need was left for the next run after a transient
    /// failure. They go, with their original seq, once that is resolved.
    pub held: u64,
    /// Records set aside in this run because they cannot be sent as they stand (a photo
    /// missing, altered or refused, or the mutation refused alone); the worker repairs or
    /// discards them.
    pub quarantined: Vec<QuarantinedRecord>,
    pub photos_uploaded: u64,
    /// Request and response body bytes (headers excluded).
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Changes pulled and applied.
    pub pulled_changes: u64,
    /// HTTP requests that got an answer, retries included.
    pub round_trips: u64,
    /// Transient failures retried.
    pub retries: u64,
    /// Server time minus device time, from the handshake (ms).
    pub clock_offset_ms: i64,
    /// Photo files removed from the device after their records synced.
    pub photos_collected: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_overflowing_durations_are_not() {
        assert!(SyncOptions::default().validate().is_ok());
        let huge = Duration::from_secs(u64::MAX / 4);
        let cases = [
            SyncOptions {
                request_timeout: huge,
                ..Default::default()
            },
            SyncOptions {
                max_backoff: huge,
                ..Default::default()
            },
            SyncOptions {
                max_retry_time: huge,
                ..Default::default()
            },
            SyncOptions {
                request_timeout: Duration::ZERO,
                ..Default::default()
            },
            SyncOptions {
                photo_chunk_bytes: 0,
                ..Default::default()
            },
            SyncOptions {
                batch_max_mutations: 0,
                ..Default::default()
            },
            // Above the protocol's limit: every push would be refused whole (422).
            SyncOptions {
                batch_max_mutations: crate::sync::wire::MAX_PUSH_MUTATIONS + 1,
                ..Default::default()
            },
            SyncOptions {
                run_deadline: Duration::ZERO,
                ..Default::default()
            },
            SyncOptions {
                run_deadline: huge,
                ..Default::default()
            },
            SyncOptions {
                max_pull_pages: 0,
                ..Default::default()
            },
            SyncOptions {
                synced_retention: Duration::ZERO,
                ..Default::default()
            },
            SyncOptions {
                synced_retention: huge,
                ..Default::default()
            },
        ];
        for o in cases {
            assert!(
                matches!(o.validate(), Err(crate::Error::InvalidInput { .. })),
                "{o:?}"
            );
        }
        let at_the_limit = SyncOptions {
            batch_max_mutations: crate::sync::wire::MAX_PUSH_MUTATIONS,
            ..Default::default()
        };
        assert!(at_the_limit.validate().is_ok());
    }
}
