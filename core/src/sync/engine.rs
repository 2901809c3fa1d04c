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

mod pull;
mod push;

use super::apply;
use super::bounds;
use super::context::{Context, blocking};
use super::lock::SyncLock;
use super::options::{AccessTokenProvider, NetworkKind, SyncOptions, SyncReport};
use super::photos;
use super::progress::{
    ListenerHandle, Listeners, RunStatus, SyncEngineState, SyncListener, SyncOutcome, SyncPhase,
    SyncProgress,
};
use super::restore;
use super::retry::Failure;
use super::transport::Transport;
use super::wire;
use crate::GridWorker;
use crate::error::{Error, Result};
use crate::store::outbox::{self, OutboxEntry, kind};
use crate::store::{reference, rejected_edits, residents, state};

type Shared = Arc<Result<SyncReport>>;

/// Drives sync for one [`GridWorker`]. Cheap to share (`Arc`); all methods take `&self`.
pub struct SyncEngine {
    inner: Arc<Inner>,
    /// Holds the worker's one engine slot while this handle lives (a run still finishing in
    /// the background after the handle was dropped does not hold it).
    _attached: Arc<()>,
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
            kind: *kind,
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

/// The `Done` event's summary of a run.
fn outcome_of(result: &Result<SyncReport>) -> SyncOutcome {
    match result {
        Ok(r) => SyncOutcome {
            succeeded: true,
            error: None,
            pushed: r.pushed,
            already_applied: r.already_applied,
            rejected: r.rejected,
            quarantined: r.quarantined.len() as u64,
            deferred: r.deferred + r.held,
        },
        Err(e) => SyncOutcome {
            succeeded: false,
            error: Some(e.kind_code().to_string()),
            pushed: 0,
            already_applied: 0,
            rejected: 0,
            quarantined: 0,
            deferred: 0,
        },
    }
}

impl SyncEngine {
    /// An engine for `worker`, talking to `worker.config().server_url`. One per worker: while
    /// an engine of this worker lives (an app keeps one for its session), another is
    /// [`Error::InvalidState`] (`what` = "sync engine").
    pub fn new(
        worker: Arc<GridWorker>,
        options: SyncOptions,
        tokens: Arc<dyn AccessTokenProvider>,
    ) -> Result<SyncEngine> {
        options.validate()?;
        let attached = worker.attach_engine()?;
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
                    status: Arc::new(RunStatus::default()),
                },
                network: AtomicU8::new(network_code(NetworkKind::Wifi)),
                cancel: Mutex::new(CancellationToken::new()),
                running: Mutex::new(None),
            }),
            _attached: attached,
        })
    }

    /// Runs one sync, or joins the run already in progress and returns its result.
    ///
    /// Needs a tokio runtime (the bindings' `async_runtime = "tokio"`, or
    /// [`SyncEngine::sync_blocking`]). The run itself is spawned, so a caller that stops
    /// waiting does not abort it half-way; use [`SyncEngine::cancel`] for that.
    pub async fn sync(&self) -> Result<SyncReport> {
        self.start_or_join(false).await
    }

    /// [`SyncEngine::sync`] for a button press: the run gives up on an unreachable server
    /// within seconds (at most [`super::INTERACTIVE_ATTEMPTS`] attempts per request within
    /// [`super::INTERACTIVE_RETRY_TIME`] of retrying, stalls cut after
    /// [`super::transport::INTERACTIVE_REQUEST_TIMEOUT`]; the options' values when smaller) instead
    /// of the background budget. Joins a run already going, whatever its budget.
    pub async fn sync_now(&self) -> Result<SyncReport> {
        self.start_or_join(true).await
    }

    /// Where the engine stands now (between progress events).
    pub fn current_state(&self) -> SyncEngineState {
        let offline = network_from(self.inner.network.load(Ordering::Relaxed)) == NetworkKind::None;
        self.inner.status.state(offline)
    }

    async fn start_or_join(&self, interactive: bool) -> Result<SyncReport> {
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
                    inner.transport.set_interactive(interactive);
                    inner.status.start();
                    // A wipe of the directory (logout) ends the run, whatever handles the app
                    // still has of it.
                    let registered = crate::store::registry::RunRegistration::register(
                        inner.worker.data_dir(),
                        Arc::new({
                            let cancel = cancel.clone();
                            move || cancel.cancel()
                        }),
                    );
                    tokio::spawn(async move {
                        let result = inner.run_within_deadline(&cancel).await;
                        inner.status.finish();
                        let mut done = SyncProgress::new(SyncPhase::Done);
                        done.outcome = Some(outcome_of(&result));
                        inner.listeners.emit(&done);
                        // Clear before publishing: a call that sees the result and syncs
                        // again must start a fresh run.
                        *inner.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        // Let go of the store before the caller hears: an app that closes
                        // its handles and wipes the moment sync() returns must find none
                        // left here. The run stays registered until then, so a wipe racing
                        // this waits instead of refusing.
                        drop(inner);
                        drop(registered);
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

    /// Drops the access token the engine holds. The engine asks the provider for a token on
    /// its first request and keeps it until the server refuses it (401: one refresh, with
    /// `force_refresh`); after a re-login call this so the next request asks the provider
    /// again (`force_refresh` false) and the new token takes effect at once, even in a run
    /// already going.
    pub fn invalidate_token(&self) {
        self.inner.transport.invalidate_token();
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
        let (offset, server_protocol) = self.handshake(cancel).await?;
        report.clock_offset_ms = offset;

        let photos_allowed = !(self.options.photos_wifi_only && network == NetworkKind::Cellular);
        if photos_allowed {
            // A photo that cannot be sent quarantines (or, after a transient failure, holds
            // back) only the records needing it; it never fails the run.
            let photos = photos::upload_pending(&self.ctx, cancel).await?;
            report.photos_uploaded = photos.uploaded;
            report.quarantined.extend(photos.quarantined);
        }

        self.push(cancel, &mut report, server_protocol).await?;
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

    /// Learns the server's time, policy and the worker's grids, and seals the track recorded
    /// so far into the outbox; returns the clock offset and the server's protocol version.
    async fn handshake(self: &Arc<Self>, cancel: &CancellationToken) -> Result<(i64, u32)> {
        let clock = self.worker.config().clock.clone();
        let worker = self.worker.clone();
        // Holes in the server's copy are asked for only where the phone could fill them.
        let missing_from = blocking(move || {
            worker
                .store()
                .read(crate::store::sync_queries::lowest_resendable_seq)
        })
        .await?;
        let path = wire::handshake_path(missing_from);
        let (reply, before, after) = self
            .with_retry(cancel, || {
                let clock = clock.clone();
                let path = path.clone();
                async move {
                    let before = clock.now();
                    let r: wire::HandshakeResponse = self
                        .transport
                        .json::<(), _>(Method::GET, &path, None)
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
                let r = restore::reconcile(
                    tx,
                    restore::ServerCopy {
                        server_id: &reply.server_id,
                        device_last_seq: reply.device_last_seq,
                        device_missing: &reply.device_missing,
                        expired_links: reply.protocol >= wire::EXPIRED_LINKS_SINCE,
                    },
                )?;
                let aged = restore::aging_now(now, Some(offset));
                if let Some(cutoff) = chrono::Duration::from_std(retention)
                    .ok()
                    .and_then(|d| aged.checked_sub_signed(d))
                {
                    restore::expire_payloads(tx, cutoff)?;
                }
                // The district's report catalog came with protocol 3. A store that pulled
                // from an older server has its cursor past where the server put the
                // catalog: pull from scratch once to get it.
                if reply.protocol >= 3
                    && state::get::<serde_json::Value>(tx, state::keys::REPORT_CATALOG)?.is_none()
                    && state::get::<bool>(tx, state::keys::CATALOG_REPULLED)?.is_none()
                {
                    state::delete(tx, state::keys::PULL_CURSOR)?;
                    state::put(tx, state::keys::CATALOG_REPULLED, &true)?;
                }
                // Residents, household profiles and key groups came with protocol 4: a store
                // whose cursor was pulled from an older server pulls from scratch once.
                if reply.protocol >= 4
                    && state::get::<u32>(tx, state::keys::FEED_PROTOCOL)?.unwrap_or(0) < 4
                {
                    state::delete(tx, state::keys::PULL_CURSOR)?;
                    state::put(tx, state::keys::FEED_PROTOCOL, &reply.protocol)?;
                }
                let config = worker.config();
                let owner = crate::store::tracks::Owner {
                    worker_id: &config.worker_id,
                    device_id: &config.device_id,
                };
                crate::store::tracks::seal(tx, &owner, now, None)?;
                Ok(r)
            })
        })
        .await?;
        if reconciled.server_changed {
            log::warn!("sync: the server was reset (new server id); pulling from scratch");
        }
        Ok((offset, reply.protocol))
    }
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
