//! Progress reporting: what the run is doing, for the app's sync indicator; and the
//! engine's state between events (`SyncEngine::current_state`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Step of a sync run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    Handshake,
    /// Uploading photos (before the records that reference them).
    Photos,
    /// Sending outbox batches.
    Push,
    /// Fetching and applying the server's changes.
    Pull,
    /// The run ended (successfully or not).
    Done,
}

/// A snapshot of the run's progress within its current phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    pub items_done: u64,
    /// `None` when unknown (pull does not know how many changes wait).
    pub items_total: Option<u64>,
    pub bytes_done: u64,
    pub bytes_total: Option<u64>,
    /// Set when a request failed transiently and the run waits to try it again.
    pub retry: Option<RetryNotice>,
    /// Set on the `Done` event: how the run ended.
    pub outcome: Option<SyncOutcome>,
}

impl SyncProgress {
    pub fn new(phase: SyncPhase) -> Self {
        SyncProgress {
            phase,
            items_done: 0,
            items_total: None,
            bytes_done: 0,
            bytes_total: None,
            retry: None,
            outcome: None,
        }
    }
}

/// The run waits to retry a request ("retrying in N s").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryNotice {
    /// The attempt that failed (1 for the first).
    pub attempt: u32,
    /// The attempts the run makes at most before giving up with a network error.
    pub max_attempts: u32,
    /// How long until the next attempt (ms).
    pub delay_ms: u64,
}

/// How a run ended, on its `Done` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncOutcome {
    /// The run went through (records may still have been refused or set aside: see below).
    pub succeeded: bool,
    /// The error's kind when it did not (`network`, `authentication`, `update_required`,
    /// `cancelled`, `protocol`, `server`, `storage`, ...).
    pub error: Option<String>,
    pub pushed: u64,
    pub already_applied: u64,
    /// Records the server refused for good in this run.
    pub rejected: u64,
    /// Records set aside in this run until the worker repairs or discards them.
    pub quarantined: u64,
    /// Records that wait for a later run (photos on Wi-Fi only, a server to update).
    pub deferred: u64,
}

/// Where the engine stands, for a sync indicator that is drawn without waiting for an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncEngineState {
    /// No run, and the platform reports a network.
    Idle,
    /// No run, and the platform reports no network (`set_network(None)`): a run now would
    /// fail at once.
    Offline,
    Running {
        phase: SyncPhase,
    },
    /// A request failed transiently; the run tries again at `until`.
    WaitingToRetry {
        phase: SyncPhase,
        attempt: u32,
        until: DateTime<Utc>,
    },
}

/// The engine's run, as [`SyncEngineState`] reads it: `None` between runs; the phase; the retry
/// being waited for.
#[derive(Default)]
pub(crate) struct RunStatus {
    run: Mutex<Option<Run>>,
}

/// The phase, and the retry waited for: (attempt that failed, when the next starts).
type Run = (SyncPhase, Option<(u32, DateTime<Utc>)>);

impl RunStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Run>> {
        self.run.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn start(&self) {
        *self.lock() = Some((SyncPhase::Handshake, None));
    }

    pub(crate) fn phase(&self, phase: SyncPhase) {
        if let Some(run) = self.lock().as_mut() {
            *run = (phase, None);
        }
    }

    /// Returns the phase the retry is in.
    pub(crate) fn waiting(&self, attempt: u32, until: DateTime<Utc>) -> SyncPhase {
        match self.lock().as_mut() {
            Some(run) => {
                run.1 = Some((attempt, until));
                run.0
            }
            None => SyncPhase::Handshake,
        }
    }

    pub(crate) fn resumed(&self) {
        if let Some(run) = self.lock().as_mut() {
            run.1 = None;
        }
    }

    pub(crate) fn finish(&self) {
        *self.lock() = None;
    }

    pub(crate) fn state(&self, offline: bool) -> SyncEngineState {
        match *self.lock() {
            Some((phase, None)) => SyncEngineState::Running { phase },
            Some((phase, Some((attempt, until)))) => SyncEngineState::WaitingToRetry {
                phase,
                attempt,
                until,
            },
            None if offline => SyncEngineState::Offline,
            None => SyncEngineState::Idle,
        }
    }
}

/// Receives progress. Called from the sync task: implementations must return quickly.
pub trait SyncListener: Send + Sync {
    fn on_progress(&self, progress: &SyncProgress);
}

type Slot = (u64, Arc<dyn SyncListener>);

/// The engine's set of listeners.
#[derive(Default)]
pub(crate) struct Listeners {
    next: AtomicU64,
    list: Mutex<Vec<Slot>>,
}

impl Listeners {
    pub(crate) fn add(self: &Arc<Self>, l: Arc<dyn SyncListener>) -> ListenerHandle {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().push((id, l));
        ListenerHandle {
            id,
            owner: Arc::downgrade(self),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn emit(&self, p: &SyncProgress) {
        // Copy out first: a listener that adds or drops a listener must not deadlock.
        let targets: Vec<Arc<dyn SyncListener>> = self.lock().iter().map(|s| s.1.clone()).collect();
        for t in targets {
            t.on_progress(p);
        }
    }
}

/// Keeps a listener attached; dropping it detaches the listener.
pub struct ListenerHandle {
    id: u64,
    owner: Weak<Listeners>,
}

impl std::fmt::Debug for ListenerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerHandle")
            .field("id", &self.id)
            .finish()
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        if let Some(owner) = self.owner.upgrade() {
            owner.lock().retain(|s| s.0 != self.id);
        }
    }
}
