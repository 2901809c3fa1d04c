//! Observing what changed (issue 16, item 2): the app's list screens re-query when their kind
//! of data changed, instead of after every sync.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use gridworker_core::GridWorker as CoreWorker;
use gridworker_core::worker as w;

use crate::error::GridWorkerError;
use crate::types::int;
use crate::worker::GridWorker;

pub use w::ChangeKind;

/// What kind of data a committed write changed.
#[uniffi::remote(Enum)]
pub enum ChangeKind {
    CheckIns,
    Visits,
    /// Reports, their photos and their lifecycle status.
    Reports,
    Tasks,
    /// What waits to be sent, what was refused or set aside, the last sync (and the report
    /// catalog, which a sync brings).
    SyncCounts,
    /// Patrol sessions and the track.
    Patrol,
    /// Grids, points, households, the worker's grids.
    Reference,
    /// Residents, household profiles, conflicts and key groups.
    Residents,
}

/// Told what changed, after the write committed, on the core's notifier thread (never the
/// caller's, never the UI thread): hop to the UI yourself and re-query. Bursts are coalesced.
/// A throwing observer is ignored.
#[uniffi::export(callback_interface)]
pub trait ChangeObserver: Send + Sync {
    fn on_change(&self, kinds: Vec<ChangeKind>) -> Result<(), GridWorkerError>;
}

struct Observer(Box<dyn ChangeObserver>);

impl w::ChangeObserver for Observer {
    fn on_change(&self, kinds: &[ChangeKind]) {
        let _ = self.0.on_change(kinds.to_vec());
    }
}

/// An observation. It stays registered until `stop()` (or the worker closes), even if the app
/// drops this handle: an observer never silently stops. Kotlin: `stop()` then `close()` (the
/// `changes()` Flow does both when its collector is cancelled); Swift: `stop()`.
#[derive(Debug, uniffi::Object)]
pub struct ObserverHandle {
    worker: Weak<CoreWorker>,
    id: u64,
    stopped: AtomicBool,
}

#[uniffi::export]
impl ObserverHandle {
    /// Ends the observation: the observer is not called after this returns (a call already
    /// running finishes). Idempotent.
    pub fn stop(&self) {
        if !self.stopped.swap(true, Ordering::Relaxed)
            && let Some(worker) = self.worker.upgrade()
        {
            worker.unobserve(self.id);
        }
    }

    pub fn is_active(&self) -> bool {
        !self.stopped.load(Ordering::Relaxed) && self.worker.strong_count() > 0
    }
}

#[uniffi::export]
impl GridWorker {
    /// Calls `observer` after each committed write that changed one of `kinds` (every kind
    /// when empty). Keep the handle and `stop()` it when the screen goes away.
    pub fn observe(
        &self,
        kinds: Vec<ChangeKind>,
        observer: Box<dyn ChangeObserver>,
    ) -> Arc<ObserverHandle> {
        let id = self.inner.observe(&kinds, Arc::new(Observer(observer)));
        Arc::new(ObserverHandle {
            worker: Arc::downgrade(&self.inner),
            id,
            stopped: AtomicBool::new(false),
        })
    }

    /// Observations registered now (a screen that forgot to stop its observer shows here).
    pub fn observer_count(&self) -> i32 {
        int(self.inner.observers())
    }
}
