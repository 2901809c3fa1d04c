//! Progress reporting: what the run is doing, for the app's sync indicator.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

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
}

impl SyncProgress {
    pub fn new(phase: SyncPhase) -> Self {
        SyncProgress {
            phase,
            items_done: 0,
            items_total: None,
            bytes_done: 0,
            bytes_total: None,
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
