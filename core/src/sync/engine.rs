//! The sync run: handshake → photo uploads → push in bounded batches → pull until caught up.
//!
//! Invariants the run keeps whatever happens (cut, kill, cancel, crash):
//! - a mutation is marked synced only on the server's recorded answer for it (applied or
//!   already applied); everything else stays pending and is resent, which is safe because
//!   the server is idempotent by mutation id;
//! - a permanently rejected mutation keeps its reason and never blocks those behind it;
//! - the pull cursor is saved in the same transaction as the changes it covers;
//! - blocking SQLite work runs on tokio's blocking pool, never on the async workers.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::Method;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::apply;
use super::bounds;
use super::context::{Context, blocking};
use super::lock::SyncLock;
use super::options::{AccessTokenProvider, NetworkKind, SyncOptions, SyncReport};
use super::photos;
use super::progress::{ListenerHandle, Listeners, SyncListener, SyncPhase, SyncProgress};
use super::restore;
use super::retry::Failure;
use super::transport::Transport;
use super::wire;
use crate::GridWorker;
use crate::domain::ReportStatus;
use crate::error::{Error, Result};
use crate::store::outbox::{self, OutboxEntry, kind};
use crate::store::{reference, state};

type Shared = Arc<Result<SyncReport>>;

/// Drives sync for one [`GridWorker`]. Cheap to share (`Arc`); all methods take `&self`.
pub struct SyncEngine {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Context,
    network: AtomicU8,
    cancel: Mutex<CancellationToken>,
    running: Mutex<Option<watch::Receiver<Option<Shared>>>>,
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine").finish_non_exhaustive()
    }
}

fn network_code(k: NetworkKind) -> u8 {
    match k {
        NetworkKind::None => 0,
        NetworkKind::Cellular => 1,
        NetworkKind::Wifi => 2,
    }
}

fn network_from(c: u8) -> NetworkKind {
    match c {
        0 => NetworkKind::None,
        1 => NetworkKind::Cellular,
        _ => NetworkKind::Wifi,
    }
}

/// Errors are not `Clone` (they wrap rusqlite and io errors); callers that joined a run get
/// an equivalent copy of the same variant.
fn copy_error(e: &Error) -> Error {
    match e {
        Error::InvalidInput { field, reason } => Error::InvalidInput {
            field: field.clone(),
            reason: reason.clone(),
        },
        Error::NotFound { kind, id } => Error::NotFound {
            kind,
            id: id.clone(),
        },
        Error::InvalidState {
            what,
            state,
            reason,
        } => Error::InvalidState {
            what,
            state: state.clone(),
            reason: reason.clone(),
        },
        Error::DatabaseTooNew { found, supported } => Error::DatabaseTooNew {
            found: *found,
            supported: *supported,
        },
        Error::StoreDamaged { damage } => Error::StoreDamaged { damage: *damage },
        Error::Locked { reason } => Error::Locked { reason: *reason },
        Error::StoreInUse { open_handles } => Error::StoreInUse {
            open_handles: *open_handles,
        },
        Error::Storage(se) => Error::Storage(rusqlite::Error::SqliteFailure(
            se.sqlite_error()
                .copied()
                .unwrap_or(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR)),
            Some(se.to_string()),
        )),
        Error::Migration(m) => Error::Migration(m.clone()),
        Error::PhotoSealBroken { damage } => Error::PhotoSealBroken { damage: *damage },
        Error::Io(io) => Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        Error::Network { reason } => Error::Network {
            reason: reason.clone(),
        },
        Error::Authentication { reason } => Error::Authentication {
            reason: reason.clone(),
        },
        Error::ClientTooOld { required } => Error::ClientTooOld {
            required: required.clone(),
        },
        Error::Protocol { reason } => Error::Protocol {
            reason: reason.clone(),
        },
        Error::Server { status, reason } => Error::Server {
            status: *status,
            reason: reason.clone(),
        },
        Error::Cancelled => Error::Cancelled,
        Error::SyncBusy => Error::SyncBusy,
    }
}

impl SyncEngine {
    /// An engine for `worker`, talking to `worker.config().server_url`.
    pub fn new(
        worker: Arc<GridWorker>,
        options: SyncOptions,
        tokens: Arc<dyn AccessTokenProvider>,
    ) -> Result<SyncEngine> {
        options.validate()?;
        let cfg = worker.config();
        let transport = Transport::new(
            &cfg.server_url,
            &cfg.worker_id,
            &cfg.device_id,
            &options,
            tokens,
        )?;
        Ok(SyncEngine {
            inner: Arc::new(Inner {
                ctx: Context {
                    worker,
                    options,
                    transport,
                    listeners: Arc::new(Listeners::default()),
                },
                network: AtomicU8::new(network_code(NetworkKind::Wifi)),
                cancel: Mutex::new(CancellationToken::new()),
                running: Mutex::new(None),
            }),
        })
    }

    /// Runs one sync, or joins the run already in progress and returns its result.
    ///
    /// Needs a tokio runtime (the bindings' `async_runtime = "tokio"`, or
    /// [`SyncEngine::sync_blocking`]). The run itself is spawned, so a caller that stops
    /// waiting does not abort it half-way; use [`SyncEngine::cancel`] for that.
    pub async fn sync(&self) -> Result<SyncReport> {
        let mut rx = {
            let mut running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
            match running.as_ref() {
                Some(rx) => rx.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    *running = Some(rx.clone());
                    let inner = self.inner.clone();
                    let cancel = CancellationToken::new();
                    *inner.cancel.lock().unwrap_or_else(|p| p.into_inner()) = cancel.clone();
                    tokio::spawn(async move {
                        let result = inner.run_within_deadline(&cancel).await;
                        inner.listeners.emit(&SyncProgress::new(SyncPhase::Done));
                        // Clear before publishing: a call that sees the result and syncs
                        // again must start a fresh run.
                        *inner.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        let _ = tx.send(Some(Arc::new(result)));
                    });
                    rx
                }
            }
        };
        let shared = match rx.wait_for(|v| v.is_some()).await {
            Ok(v) => v.clone(),
            Err(_) => None,
        };
        match shared {
            Some(r) => match r.as_ref() {
                Ok(report) => Ok(report.clone()),
                Err(e) => Err(copy_error(e)),
            },
            // The run's task died (panicked); nothing was half-committed thanks to the
            // transactions, so the caller may simply try again.
            None => Err(Error::Network {
                reason: "sync run ended unexpectedly".into(),
            }),
        }
    }

    /// [`SyncEngine::sync`] on a runtime of its own, for the CLI, tests and plain threads.
    /// Must not be called from inside an async context.
    pub fn sync_blocking(&self) -> Result<SyncReport> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        rt.block_on(self.sync())
    }

    /// Cancels the run in progress, if any (an iOS background task expiring). It stops at
    /// the next request boundary or aborts the request in flight; committed state stays
    /// consistent and the run returns [`Error::Cancelled`].
    pub fn cancel(&self) {
        self.inner
            .cancel
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cancel();
    }

    /// Tells the engine what network the platform sees.
    pub fn set_network(&self, kind: NetworkKind) {
        self.inner
            .network
            .store(network_code(kind), Ordering::Relaxed);
    }

    /// Attaches a progress listener until the handle is dropped.
    pub fn add_listener(&self, listener: Arc<dyn SyncListener>) -> ListenerHandle {
        self.inner.listeners.add(listener)
    }
}

/// The run's own state beside the shared [`Context`], which field access reaches through.
impl std::ops::Deref for Inner {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.ctx
    }
}

impl Inner {
    /// [`Inner::run`] bounded by [`SyncOptions::run_deadline`]: when it passes, the run is
    /// cancelled (so it stops at a consistent point, like a platform cancel) and reports a
    /// network error, since the work stays queued for the next run.
    async fn run_within_deadline(
        self: &Arc<Self>,
        cancel: &CancellationToken,
    ) -> Result<SyncReport> {
        let deadline = self.options.run_deadline;
        let run = self.run(cancel);
        tokio::pin!(run);
        tokio::select! {
            r = &mut run => r,
            _ = tokio::time::sleep(deadline) => {
                cancel.cancel();
                match run.await {
                    Err(Error::Cancelled) => Err(Error::Network {
                        reason: format!("sync run exceeded its deadline of {deadline:?}"),
                    }),
                    other => other,
                }
            }
        }
    }

    async fn run(self: &Arc<Self>, cancel: &CancellationToken) -> Result<SyncReport> {
        let network = network_from(self.network.load(Ordering::Relaxed));
        if network == NetworkKind::None {
            return Err(Error::Network {
                reason: "no network".into(),
            });
        }
        let dir = self.worker.data_dir().to_path_buf();
        let _lock = blocking(move || SyncLock::acquire(&dir)).await?;
        // Nothing leaves a store with damaged pages: it must be recovered first.
        let worker = self.worker.clone();
        blocking(move || worker.store().verify()).await?;
        let start = (
            self.transport.stats.bytes_up.load(Ordering::Relaxed),
            self.transport.stats.bytes_down.load(Ordering::Relaxed),
            self.transport.stats.round_trips.load(Ordering::Relaxed),
            self.transport.stats.retries.load(Ordering::Relaxed),
        );
        let mut report = SyncReport::default();

        self.progress(SyncProgress::new(SyncPhase::Handshake));
        report.clock_offset_ms = self.handshake(cancel).await?;

        let photos_allowed = !(self.options.photos_wifi_only && network == NetworkKind::Cellular);
        if photos_allowed {
            // A photo that cannot be sent quarantines (or, after a transient failure, holds
            // back) only the records needing it; it never fails the run.
            let photos = photos::upload_pending(&self.ctx, cancel).await?;
            report.photos_uploaded = photos.uploaded;
            report.quarantined.extend(photos.quarantined);
        }

        self.push(cancel, &mut report).await?;
        report.pulled_changes = self.pull(cancel).await?;

        let worker = self.worker.clone();
        report.photos_collected = blocking(move || {
            let now = worker.config().clock.now();
            worker
                .store()
                .write(|tx| state::put(tx, state::keys::LAST_SYNC, &now))?;
            worker.collect_photos()
        })
        .await? as u64;

        let s = &self.transport.stats;
        report.bytes_up = s.bytes_up.load(Ordering::Relaxed) - start.0;
        report.bytes_down = s.bytes_down.load(Ordering::Relaxed) - start.1;
        report.round_trips = s.round_trips.load(Ordering::Relaxed) - start.2;
        report.retries = s.retries.load(Ordering::Relaxed) - start.3;
        Ok(report)
    }

    /// Learns the server's time, policy and the worker's grids; returns the clock offset.
    async fn handshake(self: &Arc<Self>, cancel: &CancellationToken) -> Result<i64> {
        let clock = self.worker.config().clock.clone();
        let (reply, before, after) = self
            .with_retry(cancel, || {
                let clock = clock.clone();
                async move {
                    let before = clock.now();
                    let r: wire::HandshakeResponse = self
                        .transport
                        .json::<(), _>(Method::GET, wire::PATH_HANDSHAKE, None)
                        .await?;
                    Ok((r, before, clock.now()))
                }
            })
            .await?;
        // Refused before anything is stored: the previous policy stays in force.
        if let Err(e) = reply.policy.validate() {
            return Err(Error::Protocol {
                reason: format!("server sent an invalid policy: {e}"),
            });
        }
        bounds::check_handshake(&reply)?;
        let offset = clock_offset(reply.server_time, before, after)?;
        let worker = self.worker.clone();
        let retention = self.options.synced_retention;
        let reconciled = blocking(move || {
            let now = worker.config().clock.now();
            worker.store().write(|tx| {
                state::put(tx, state::keys::CLOCK_OFFSET_MS, &offset)?;
                state::put(tx, state::keys::SERVER_POLICY, &reply.policy)?;
                reference::set_worker_grids(tx, &reply.grids)?;
                let r = restore::reconcile(tx, &reply.server_id, reply.device_last_seq)?;
                if let Some(cutoff) = chrono::Duration::from_std(retention)
                    .ok()
                    .and_then(|d| now.checked_sub_signed(d))
                {
                    restore::expire_payloads(tx, cutoff)?;
                }
                Ok(r)
            })
        })
        .await?;
        if reconciled.server_changed {
            log::warn!("sync: the server was reset (new server id); pulling from scratch");
        }
        Ok(offset)
    }

    /// Sends the outbox in order, batch by batch, and records each answer.
    ///
    /// Entries that cannot go now are skipped, not failed, and go in a later run with their
    /// original seq: those whose photos are not on the server yet (Wi-Fi only, or an upload
    /// left for the next run) and those depending on a quarantined entry. A batch the server
    /// finds too large (413) is halved until it passes; a single mutation too large alone is
    /// quarantined as refused. Withdrawn entries go in seq order with the rest as withdrawal
    /// links (no photos, no record), so the server's copy of the chain has no hole.
    async fn push(
        self: &Arc<Self>,
        cancel: &CancellationToken,
        report: &mut SyncReport,
    ) -> Result<()> {
        let network = network_from(self.network.load(Ordering::Relaxed));
        let photos_wait = self.options.photos_wifi_only && network == NetworkKind::Cellular;
        let worker = self.worker.clone();
        let total = blocking(move || worker.store().read(outbox::to_send)).await?;
        let mut progress = SyncProgress::new(SyncPhase::Push);
        progress.items_total = Some(u64::try_from(total).unwrap_or(0));
        self.progress(progress.clone());

        let mut after_seq = 0i64;
        // Lowered after a 413 so the rest of the run does not hit the same wall again.
        let mut max_b = self.options.batch_max_bytes;
        loop {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let worker = self.worker.clone();
            let max_n = self.options.batch_max_mutations;
            let (batch, deferred, held, last_seq) = blocking(move || {
                worker.store().read(|c| {
                    let all = outbox::pending_batch(c, after_seq, max_n, max_b)?;
                    let last = all.last().map(|e| e.seq);
                    let mut send = Vec::with_capacity(all.len());
                    let (mut deferred, mut held) = (0u64, 0u64);
                    for e in all {
                        if e.withdrawn {
                            // A withdrawal link carries no record: it waits for nothing.
                            send.push(e);
                        } else if outbox::depends_on_quarantined(c, &e)? {
                            held += 1;
                        } else if photos::waits_for_photos(c, &e)? {
                            // Sent now it would be refused for good (`missing_photo`).
                            if photos_wait {
                                deferred += 1;
                            } else {
                                held += 1;
                            }
                        } else {
                            send.push(e);
                        }
                    }
                    Ok((send, deferred, held, last))
                })
            })
            .await?;
            let Some(last_seq) = last_seq else { break };
            after_seq = last_seq;
            report.deferred += deferred;
            report.held += held;
            let mut parts = vec![batch];
            while let Some(part) = parts.pop() {
                if part.is_empty() {
                    continue;
                }
                match self.send_batch(cancel, &part).await {
                    Ok(reply) => {
                        super::failpoint("push_acked_before_store");
                        let worker = self.worker.clone();
                        let batch_ids: Vec<Sent> = part
                            .iter()
                            .map(|e| Sent {
                                mutation_id: e.mutation_id.clone(),
                                kind: e.kind.clone(),
                                record_id: e.record_id.clone(),
                                withdrawn: e.withdrawn,
                            })
                            .collect();
                        let counts =
                            blocking(move || record_results(&worker, &batch_ids, &reply)).await?;
                        report.pushed += counts.0;
                        report.already_applied += counts.1;
                        report.rejected += counts.2;
                        progress.items_done += part.len() as u64;
                        self.progress(progress.clone());
                    }
                    Err(Error::Server {
                        status: 413,
                        reason,
                    }) => {
                        if part.len() > 1 {
                            let bytes: usize = part.iter().map(|e| e.payload.len()).sum();
                            max_b = max_b.min(bytes / 2).max(1);
                            let mut first = part;
                            let second = first.split_off(first.len() / 2);
                            // A stack: the first half goes first, keeping device order.
                            parts.push(second);
                            parts.push(first);
                        } else if part.iter().all(|e| e.withdrawn) {
                            // A withdrawal link must carry its payload for the hash to be
                            // checked; too large alone, it can never go: given up (its
                            // successor stays a break on the server), not resent every run.
                            let code = reason.split(':').next().unwrap_or_default().trim();
                            self.give_up_links(&part, code).await?;
                            progress.items_done += part.len() as u64;
                        } else {
                            let code = reason.split(':').next().unwrap_or_default().trim();
                            let q = self.quarantine_refused(&part, 413, code).await?;
                            progress.items_done += part.len() as u64;
                            report.quarantined.extend(q);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// One push request with retries.
    async fn send_batch(
        self: &Arc<Self>,
        cancel: &CancellationToken,
        batch: &[OutboxEntry],
    ) -> Result<wire::PushResponse> {
        let request = wire::PushRequest {
            device_id: self.worker.config().device_id.clone(),
            mutations: batch.iter().map(to_wire).collect(),
        };
        let body = serde_json::to_vec(&request).map_err(|e| Error::Protocol {
            reason: format!("cannot encode push: {e}"),
        })?;
        self.with_retry(cancel, || {
            let body = body.clone();
            async move {
                let r = self
                    .transport
                    .call(Method::POST, wire::PATH_PUSH, move || {
                        super::transport::Payload::Json(body.clone())
                    })
                    .await?;
                let decoded: wire::PushResponse = super::transport::decode(&r.body)?;
                check_results(batch, &decoded)?;
                Ok(decoded)
            }
        })
        .await
    }

    /// Quarantines mutations the server refused as they stand (not a verdict on their
    /// content, which it never read: the worker decides what to do with them).
    async fn quarantine_refused(
        self: &Arc<Self>,
        part: &[OutboxEntry],
        status: u16,
        code: &str,
    ) -> Result<Vec<outbox::QuarantinedRecord>> {
        let worker = self.worker.clone();
        let entries: Vec<(i64, String, String)> = part
            .iter()
            .map(|e| (e.seq, e.kind.clone(), e.record_id.clone()))
            .collect();
        let reason = outbox::QuarantineReason::Refused {
            status,
            code: code.to_string(),
            sha256: None,
        };
        blocking(move || {
            let now = worker.config().clock.now();
            worker.store().write(|tx| {
                let mut out = Vec::new();
                for (seq, kind, record_id) in &entries {
                    if outbox::quarantine(tx, *seq, &reason, now)? {
                        log::warn!("sync: {kind} {record_id} quarantined: refused {status}");
                        out.push(outbox::QuarantinedRecord {
                            record_id: record_id.clone(),
                            kind: kind.clone(),
                            reason: reason.clone(),
                        });
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    /// Records withdrawal links the server can never take (413 alone) as answered with that
    /// refusal, so they are not resent.
    async fn give_up_links(self: &Arc<Self>, part: &[OutboxEntry], code: &str) -> Result<()> {
        let worker = self.worker.clone();
        let ids: Vec<String> = part.iter().map(|e| e.mutation_id.clone()).collect();
        let code = if code.is_empty() {
            wire::codes::TOO_LARGE.to_string()
        } else {
            code.to_string()
        };
        blocking(move || {
            let now = worker.config().clock.now();
            worker.store().write(|tx| {
                for id in &ids {
                    let reason = "the server refused the withdrawal link as too large";
                    outbox::mark_link_answered(tx, id, Some((code.as_str(), reason)), now)?;
                }
                Ok(())
            })
        })
        .await
    }

    /// One page of changes after `cursor`, with retries. A page that breaks the documented
    /// bounds (more changes than asked for, oversized objects) is a protocol error before
    /// anything of it reaches the store.
    async fn fetch_page(
        self: &Arc<Self>,
        cancel: &CancellationToken,
        cursor: Option<String>,
    ) -> Result<wire::PullResponse> {
        let limit = self.options.pull_page_limit;
        let path = wire::pull_path(cursor.as_deref(), limit);
        let page = self
            .with_retry(cancel, || {
                let path = path.clone();
                async move {
                    self.transport
                        .json::<(), wire::PullResponse>(Method::GET, &path, None)
                        .await
                }
            })
            .await?;
        bounds::check_page(&page, limit)?;
        Ok(page)
    }

    /// Pulls until caught up; a 410 `cursor_expired` (the server lost the data the cursor
    /// points into) drops the cursor and pulls again from scratch in the same run, once.
    async fn pull(self: &Arc<Self>, cancel: &CancellationToken) -> Result<u64> {
        match self.pull_pages(cancel).await {
            Err(Error::Server { status: 410, .. }) => {
                log::warn!("sync: pull cursor expired on the server; pulling from scratch");
                let worker = self.worker.clone();
                blocking(move || {
                    worker
                        .store()
                        .write(|tx| state::delete(tx, state::keys::PULL_CURSOR))
                })
                .await?;
                self.pull_pages(cancel).await
            }
            other => other,
        }
    }

    /// Pulls until caught up. The next page is fetched (server query, transfer, JSON decode)
    /// while the current one is applied: on an initial sync of a large grid the two halves
    /// cost about the same, so overlapping them nearly halves the wall time. Each page is
    /// still applied in its own transaction with its own cursor, in order.
    ///
    /// Bounded: a cursor the run has already used is a protocol error (the feed would loop),
    /// and at most [`SyncOptions::max_pull_pages`] pages are fetched per run.
    async fn pull_pages(self: &Arc<Self>, cancel: &CancellationToken) -> Result<u64> {
        let mut progress = SyncProgress::new(SyncPhase::Pull);
        self.progress(progress.clone());
        let mut applied = 0u64;
        let mut reference_changed = false;
        let worker = self.worker.clone();
        let cursor: Option<String> = blocking(move || {
            worker
                .store()
                .read(|c| state::get(c, state::keys::PULL_CURSOR))
        })
        .await?;
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let mut seen = std::collections::HashSet::new();
        seen.insert(cursor.clone().unwrap_or_default());
        let mut pages = 1u32;
        let mut page = self.fetch_page(cancel, cursor).await?;
        loop {
            let n = page.changes.len() as u64;
            let more = page.has_more;
            if more && n == 0 {
                // "More" with an empty page would loop forever.
                return Err(Error::Protocol {
                    reason: "pull page is empty but claims more changes".into(),
                });
            }
            let next_cursor = page.next_cursor.clone();
            if more {
                if !seen.insert(next_cursor.clone()) {
                    return Err(Error::Protocol {
                        reason: "pull feed repeats a cursor it already gave in this run".into(),
                    });
                }
                if pages >= self.options.max_pull_pages {
                    // The pages so far are committed with their cursor; the next run resumes.
                    return Err(Error::Network {
                        reason: format!(
                            "pull stopped after the page budget of {pages} pages; the rest follows next sync"
                        ),
                    });
                }
                pages += 1;
            }
            let worker = self.worker.clone();
            let apply = blocking(move || apply::apply_page(&worker, page));
            let next = if more {
                if cancel.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                let (applied_page, fetched) =
                    tokio::join!(apply, self.fetch_page(cancel, Some(next_cursor)));
                reference_changed |= applied_page?;
                Some(fetched)
            } else {
                reference_changed |= apply.await?;
                None
            };
            applied += n;
            progress.items_done = applied;
            self.progress(progress.clone());
            match next {
                Some(fetched) => page = fetched?,
                None => break,
            }
        }
        if reference_changed {
            let worker = self.worker.clone();
            blocking(move || worker.reload_reference()).await?;
        }
        Ok(applied)
    }
}

fn to_wire(e: &OutboxEntry) -> wire::Mutation {
    wire::Mutation {
        mutation_id: e.mutation_id.clone(),
        seq: e.seq,
        kind: e.kind.clone(),
        record_id: e.record_id.clone(),
        payload: e.payload.clone(),
        device_time: e.device_time,
        monotonic_ms: e.monotonic_ms,
        prev_hash: e.prev_hash.clone(),
        hash: e.hash.clone(),
        withdrawn: e.withdrawn,
    }
}

/// A reply must speak only of mutations we sent; anything else means it is not a reply to
/// this request and nothing in it can be trusted.
fn check_results(
    batch: &[OutboxEntry],
    reply: &wire::PushResponse,
) -> std::result::Result<(), Failure> {
    let sent: std::collections::HashSet<&str> =
        batch.iter().map(|e| e.mutation_id.as_str()).collect();
    for r in &reply.results {
        if !sent.contains(r.mutation_id.as_str()) {
            return Err(Failure::malformed(
                "push reply names a mutation that was not sent",
            ));
        }
    }
    Ok(())
}

/// What [`record_results`] needs of a sent entry.
struct Sent {
    mutation_id: String,
    kind: String,
    record_id: String,
    withdrawn: bool,
}

/// Stores the server's answers in one transaction: synced, or rejected with the reason.
/// Mutations the reply does not mention stay pending and go again next time. Withdrawal
/// links are not records: their answer is recorded but not counted.
fn record_results(
    worker: &GridWorker,
    batch: &[Sent],
    reply: &wire::PushResponse,
) -> Result<(u64, u64, u64)> {
    let now = worker.config().clock.now();
    let by_id: std::collections::HashMap<&str, &Sent> =
        batch.iter().map(|b| (b.mutation_id.as_str(), b)).collect();
    worker.store().write_recoverable(|tx| {
        let mut counts = (0u64, 0u64, 0u64);
        for r in &reply.results {
            let Some(sent) = by_id.get(r.mutation_id.as_str()).copied() else {
                continue;
            };
            let (k, record_id) = (&sent.kind, &sent.record_id);
            if sent.withdrawn {
                let reject = match &r.outcome {
                    wire::Outcome::Applied | wire::Outcome::AlreadyApplied => None,
                    wire::Outcome::Rejected { reason } => {
                        Some((reason.code.as_str(), reason.message.as_str()))
                    }
                };
                outbox::mark_link_answered(tx, &r.mutation_id, reject, now)?;
                continue;
            }
            match &r.outcome {
                wire::Outcome::Applied | wire::Outcome::AlreadyApplied => {
                    outbox::mark_synced(tx, &r.mutation_id, now)?;
                    if matches!(r.outcome, wire::Outcome::Applied) {
                        counts.0 += 1;
                    } else {
                        counts.1 += 1;
                    }
                    if k == kind::REPORT {
                        // queued → submitted; a status the pull already moved further stays.
                        tx.prepare_cached(
                            "UPDATE reports SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'queued'",
                        )?
                        .execute(rusqlite::params![record_id, ReportStatus::Submitted.code(), now])?;
                    }
                }
                wire::Outcome::Rejected { reason } => {
                    outbox::mark_rejected(tx, &r.mutation_id, &reason.code, &reason.message)?;
                    counts.2 += 1;
                }
            }
        }
        Ok(counts)
    })
}

/// Server time minus device time (ms): the server stamped its time somewhere between our two
/// readings. Checked: a server time at the edge of chrono's range is a protocol error, not a
/// panic.
fn clock_offset(
    server_time: chrono::DateTime<chrono::Utc>,
    before: chrono::DateTime<chrono::Utc>,
    after: chrono::DateTime<chrono::Utc>,
) -> Result<i64> {
    let half = (after - before) / 2;
    before
        .checked_add_signed(half)
        .map(|mid| server_time.signed_duration_since(mid).num_milliseconds())
        .ok_or_else(|| Error::Protocol {
            reason: "server time out of range".into(),
        })
}
