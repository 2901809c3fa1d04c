//! `SyncEngine` with its callback interfaces: the access-token provider the app implements,
//! the progress listener and the handle that keeps it attached.

use std::sync::{Arc, Mutex};

use gridworker_core::Error as CoreError;
use gridworker_core::sync as core_sync;

use crate::error::{GridWorkerError, Result};
use crate::types::{NetworkKind, SyncEngineState, SyncOptions, SyncProgress, SyncReport};
use crate::worker::GridWorker;

/// Supplies bearer tokens; the app owns login. Called from a background thread.
#[uniffi::export(callback_interface)]
pub trait AccessTokenProvider: Send + Sync {
    /// The current access token. `force_refresh` is true when the server refused the
    /// previous one (401): return a fresh one, or throw `Authentication` when the worker
    /// must log in again (`Network` when the login server is unreachable).
    fn access_token(&self, force_refresh: bool) -> Result<String, GridWorkerError>;
}

/// Receives sync progress (phase changes and counts). Called from the sync thread: return
/// quickly and hop to the UI thread yourself. A listener that throws is ignored, never
/// breaks the run.
#[uniffi::export(callback_interface)]
pub trait SyncListener: Send + Sync {
    fn on_progress(&self, progress: SyncProgress) -> Result<(), GridWorkerError>;
}

struct Tokens(Box<dyn AccessTokenProvider>);

impl core_sync::AccessTokenProvider for Tokens {
    fn access_token(&self, force_refresh: bool) -> Result<String, CoreError> {
        self.0.access_token(force_refresh).map_err(CoreError::from)
    }
}

struct Listener(Box<dyn SyncListener>);

impl core_sync::SyncListener for Listener {
    fn on_progress(&self, progress: &core_sync::SyncProgress) {
        // A throwing listener is the app's bug; it must not fail or abort the sync run.
        let _ = self.0.on_progress(progress.into());
    }
}

/// Keeps a sync listener attached. `detach()` (or Kotlin `close()`, or dropping the last
/// Swift reference) detaches it; a forgotten handle cannot leak callbacks past its life.
#[derive(Debug, uniffi::Object)]
pub struct SyncListenerHandle {
    inner: Mutex<Option<core_sync::ListenerHandle>>,
}

#[uniffi::export]
impl SyncListenerHandle {
    /// Detaches the listener now; it receives nothing after this returns. Idempotent.
    pub fn detach(&self) {
        let taken = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(taken);
    }

    /// Whether the listener is still attached.
    pub fn is_attached(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

/// Moves queued records and photos to the server and its changes (tasks, report status,
/// reference data, policy) to the device. One per `GridWorker`; thread-safe.
#[derive(Debug, uniffi::Object)]
pub struct SyncEngine {
    inner: core_sync::SyncEngine,
}

/// The engine's defaults (https only, 30 s request timeout, 8 attempts...): start from them.
#[uniffi::export]
pub fn default_sync_options() -> SyncOptions {
    core_sync::SyncOptions::default().into()
}

#[uniffi::export(async_runtime = "tokio")]
impl SyncEngine {
    /// An engine for `worker`, talking to the server in its configuration. One per worker:
    /// while one lives (until `close()` / the last Swift reference), another is `InvalidState`.
    #[uniffi::constructor]
    pub fn new(
        worker: Arc<GridWorker>,
        options: SyncOptions,
        tokens: Box<dyn AccessTokenProvider>,
    ) -> Result<Arc<Self>> {
        let inner = core_sync::SyncEngine::new(
            worker.inner.clone(),
            options.to_core()?,
            Arc::new(Tokens(tokens)),
        )?;
        Ok(Arc::new(SyncEngine { inner }))
    }

    /// Runs one sync (Kotlin `suspend`, Swift `async throws`), or joins the run already in
    /// progress and returns its result. Cancelling the calling coroutine/task does not stop
    /// the run: call `cancel()`. Fails with `Network` (retry later), `Authentication` (log
    /// in again), `UpdateRequired`, `Cancelled`, `Storage` or `Other`.
    pub async fn sync(&self) -> Result<SyncReport> {
        Ok(self.inner.sync().await?.into())
    }

    /// `sync()` for a "sync now" button: with the server unreachable it gives up within
    /// seconds (3 attempts per request within 8 s of retrying, a stalled request cut after
    /// 10 s; the options' values when smaller) instead of the background budget of the
    /// options (by default 8 attempts within 300 s). Joins a run already going.
    pub async fn sync_now(&self) -> Result<SyncReport> {
        Ok(self.inner.sync_now().await?.into())
    }

    /// Where the engine stands now: idle, offline, running (phase) or waiting to retry
    /// (until when). Events tell the same as it changes; this answers between events.
    pub fn current_state(&self) -> SyncEngineState {
        self.inner.current_state().into()
    }

    /// Cancels the run in progress, if any (e.g. an iOS background task expiring): it stops
    /// at the next request boundary and `sync()` fails with `Cancelled`.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// Drops the access token the engine holds, so the next request asks the token provider
    /// again. The engine asks the provider once and keeps the token until the server refuses
    /// it (401: it asks once more with `forceRefresh = true`); call this after the worker logs
    /// in again so the new token is used at once.
    pub fn invalidate_token(&self) {
        self.inner.invalidate_token();
    }

    /// Tells the engine what network the platform sees (wire it to the connectivity
    /// callback).
    pub fn set_network(&self, kind: NetworkKind) {
        self.inner.set_network(kind);
    }

    /// Attaches a progress listener until the returned handle is detached or dropped. Keep
    /// the handle.
    pub fn add_listener(&self, listener: Box<dyn SyncListener>) -> Arc<SyncListenerHandle> {
        let handle = self.inner.add_listener(Arc::new(Listener(listener)));
        Arc::new(SyncListenerHandle {
            inner: Mutex::new(Some(handle)),
        })
    }
}
