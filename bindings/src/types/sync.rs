//! Mirrored types: sync.

use super::*;

pub use s::{NetworkKind, SyncPhase};

/// The network the platform sees right now.
#[uniffi::remote(Enum)]
pub enum NetworkKind {
    /// No connectivity: a run fails fast with `Network` and everything stays queued.
    None,
    /// Metered (4G); photos wait when `photos_wifi_only` is set.
    Cellular,
    /// Wi-Fi or Ethernet.
    Wifi,
}

/// Step of a sync run.
#[uniffi::remote(Enum)]
pub enum SyncPhase {
    Handshake,
    /// Uploading photos (before the records that reference them).
    Photos,
    /// Sending queued records.
    Push,
    /// Fetching and applying the server's changes (tasks, report status, reference data).
    Pull,
    /// The run ended, successfully or not.
    Done,
}

/// A snapshot of a run's progress within its current phase.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    pub items_done: i64,
    /// `None` when unknown (the pull does not know how many changes wait).
    pub items_total: Option<i64>,
    pub bytes_done: i64,
    pub bytes_total: Option<i64>,
    /// Set while the run waits to retry a request that failed transiently.
    pub retry: Option<RetryNotice>,
    /// Set on the `DONE` event: how the run ended.
    pub outcome: Option<SyncOutcome>,
}

/// The run waits to retry a request ("retrying in N s").
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RetryNotice {
    /// The attempt that failed (1 for the first).
    pub attempt: i32,
    /// The attempts the run makes at most before giving up with `Network`.
    pub max_attempts: i32,
    /// Time until the next attempt.
    pub delay: Duration,
}

/// How a run ended (the `DONE` event).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncOutcome {
    /// The run went through. Records may still have been refused or set aside (below).
    pub succeeded: bool,
    /// When it did not: `network`, `authentication`, `update_required`, `cancelled`,
    /// `protocol`, `server`, `storage`, `store_damaged`, `locked`, ...
    pub error: Option<String>,
    pub pushed: i64,
    pub already_applied: i64,
    /// Records the server refused for good in this run.
    pub rejected: i64,
    /// Records set aside in this run until the worker repairs or discards them.
    pub quarantined: i64,
    /// Records waiting for a later run (photos on Wi-Fi only, a server to update).
    pub deferred: i64,
}

/// Where the engine stands, for drawing a sync indicator without waiting for an event.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncEngineState {
    /// No run; the platform reports a network.
    Idle,
    /// No run; the platform reports no network (`setNetwork(NONE)`).
    Offline,
    Running {
        phase: SyncPhase,
    },
    /// A request failed transiently; the run tries again at `until`.
    WaitingToRetry {
        phase: SyncPhase,
        attempt: i32,
        until: SystemTime,
    },
}

impl From<s::SyncEngineState> for SyncEngineState {
    fn from(st: s::SyncEngineState) -> Self {
        match st {
            s::SyncEngineState::Idle => SyncEngineState::Idle,
            s::SyncEngineState::Offline => SyncEngineState::Offline,
            s::SyncEngineState::Running { phase } => SyncEngineState::Running { phase },
            s::SyncEngineState::WaitingToRetry {
                phase,
                attempt,
                until,
            } => SyncEngineState::WaitingToRetry {
                phase,
                attempt: int(attempt),
                until: from_utc(until),
            },
        }
    }
}

impl From<&s::SyncProgress> for SyncProgress {
    fn from(p: &s::SyncProgress) -> Self {
        SyncProgress {
            phase: p.phase,
            items_done: long(p.items_done),
            items_total: p.items_total.map(long),
            bytes_done: long(p.bytes_done),
            bytes_total: p.bytes_total.map(long),
            retry: p.retry.as_ref().map(|r| RetryNotice {
                attempt: int(r.attempt),
                max_attempts: int(r.max_attempts),
                delay: Duration::from_millis(r.delay_ms),
            }),
            outcome: p.outcome.as_ref().map(|o| SyncOutcome {
                succeeded: o.succeeded,
                error: o.error.clone(),
                pushed: long(o.pushed),
                already_applied: long(o.already_applied),
                rejected: long(o.rejected),
                quarantined: long(o.quarantined),
                deferred: long(o.deferred),
            }),
        }
    }
}

/// What one sync run did.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncReport {
    /// Records the server applied.
    pub pushed: i64,
    /// Records the server already had (a retry after a lost acknowledgement).
    pub already_applied: i64,
    /// Records refused for good (kept on the device with the reason).
    pub rejected: i64,
    /// Records left pending on purpose: photos waiting for Wi-Fi, kinds the server's protocol
    /// version does not know yet.
    pub deferred: i64,
    /// Records left pending because they wait on a quarantined record or on a photo left
    /// for the next run; they go later with their original sequence number.
    pub held: i64,
    /// Records quarantined in this run (record, kind, reason).
    pub quarantined: Vec<QuarantinedRecord>,
    pub photos_uploaded: i64,
    pub bytes_up: i64,
    pub bytes_down: i64,
    /// Changes pulled and applied.
    pub pulled_changes: i64,
    pub round_trips: i64,
    /// Transient failures retried.
    pub retries: i64,
    /// Server time minus device time (ms).
    pub clock_offset_ms: i64,
    /// Photo files removed from the device after their records synced.
    pub photos_collected: i64,
}

impl From<s::SyncReport> for SyncReport {
    fn from(r: s::SyncReport) -> Self {
        SyncReport {
            pushed: long(r.pushed),
            already_applied: long(r.already_applied),
            rejected: long(r.rejected),
            deferred: long(r.deferred),
            held: long(r.held),
            quarantined: map(r.quarantined),
            photos_uploaded: long(r.photos_uploaded),
            bytes_up: long(r.bytes_up),
            bytes_down: long(r.bytes_down),
            pulled_changes: long(r.pulled_changes),
            round_trips: long(r.round_trips),
            retries: long(r.retries),
            clock_offset_ms: r.clock_offset_ms,
            photos_collected: long(r.photos_collected),
        }
    }
}

/// How the sync engine talks to the server. Start from `defaultSyncOptions()`.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncOptions {
    /// Allow `http://` server URLs: local QA only, production requires https.
    pub allow_http: bool,
    /// Extra trusted root certificates, PEM (district servers often use a private CA).
    pub extra_root_certs_pem: Vec<String>,
    /// Hex SHA-256 of the server key's DER SubjectPublicKeyInfo; when non-empty the server's
    /// key must match one of them (a renewed certificate with the same key still matches).
    pub pinned_sha256: Vec<String>,
    /// On cellular, records whose photos are not uploaded wait for Wi-Fi.
    pub photos_wifi_only: bool,
    /// At most this many records per push request.
    pub batch_max_mutations: i32,
    /// At most this many payload bytes per push request.
    pub batch_max_bytes: i32,
    /// At most this many changes per pull page.
    pub pull_page_limit: i32,
    /// A request without progress for this long is cut.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts per request before the run fails with `Network`.
    pub max_attempts: i32,
    /// First backoff delay (doubles per failure, with jitter).
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest time spent retrying one request.
    pub max_retry_time: Duration,
    /// Size of one photo upload chunk.
    pub photo_chunk_bytes: i32,
    /// Longest a whole run may take; a server that trickles bytes or never stops paging
    /// ends the run with `Network` after this (what was committed stays). At most 24 h.
    pub run_deadline: Duration,
    /// Most pull pages in one run (the saved cursor resumes the rest next run).
    pub max_pull_pages: i32,
    /// How long acknowledged records stay re-sendable, in case the server is restored from
    /// an older backup. Between 1 day and 10 years.
    pub synced_retention: Duration,
}

impl From<s::SyncOptions> for SyncOptions {
    fn from(o: s::SyncOptions) -> Self {
        SyncOptions {
            allow_http: o.allow_http,
            extra_root_certs_pem: o.extra_root_certs_pem,
            pinned_sha256: o.pinned_sha256,
            photos_wifi_only: o.photos_wifi_only,
            batch_max_mutations: int(o.batch_max_mutations),
            batch_max_bytes: int(o.batch_max_bytes),
            pull_page_limit: int(o.pull_page_limit),
            request_timeout: o.request_timeout,
            connect_timeout: o.connect_timeout,
            max_attempts: int(o.max_attempts),
            base_backoff: o.base_backoff,
            max_backoff: o.max_backoff,
            max_retry_time: o.max_retry_time,
            photo_chunk_bytes: int(o.photo_chunk_bytes),
            run_deadline: o.run_deadline,
            max_pull_pages: int(o.max_pull_pages),
            synced_retention: o.synced_retention,
        }
    }
}

impl SyncOptions {
    /// The core's options; a negative count is `InvalidInput{field: SYNC_OPTIONS}`.
    pub(crate) fn to_core(&self) -> Result<s::SyncOptions> {
        let o = self.clone();
        Ok(s::SyncOptions {
            allow_http: o.allow_http,
            extra_root_certs_pem: o.extra_root_certs_pem,
            pinned_sha256: o.pinned_sha256,
            photos_wifi_only: o.photos_wifi_only,
            batch_max_mutations: count("sync_options.batch_max_mutations", o.batch_max_mutations)?,
            batch_max_bytes: count("sync_options.batch_max_bytes", o.batch_max_bytes)?,
            pull_page_limit: count("sync_options.pull_page_limit", o.pull_page_limit)?,
            request_timeout: o.request_timeout,
            connect_timeout: o.connect_timeout,
            max_attempts: count("sync_options.max_attempts", o.max_attempts)?,
            base_backoff: o.base_backoff,
            max_backoff: o.max_backoff,
            max_retry_time: o.max_retry_time,
            photo_chunk_bytes: count("sync_options.photo_chunk_bytes", o.photo_chunk_bytes)?,
            run_deadline: o.run_deadline,
            max_pull_pages: count("sync_options.max_pull_pages", o.max_pull_pages)?,
            synced_retention: o.synced_retention,
        })
    }
}
