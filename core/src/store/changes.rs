//! Which kinds of data a committed write changed, told to the app's observers (issue 16,
//! item 2): a list screen re-queries when its kind changed instead of after every sync.
//!
//! SQLite's hooks on the writer connection note the tables a transaction touches; its commit
//! moves them into the pending set; a notifier thread (started by the first observer) waits
//! [`COALESCE`] after the first pending change so a burst (a pulled page, a sync's marks)
//! becomes one call, then calls each observer whose kinds changed, off the writer's thread.
//! A rolled-back transaction tells nobody.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    CheckIns,
    Visits,
    /// Reports, their photos and their lifecycle status.
    Reports,
    Tasks,
    /// What waits to be sent, what was refused or set aside, the last sync.
    SyncCounts,
    /// Patrol sessions and the track.
    Patrol,
    /// Grids, points, households, the worker's grids.
    Reference,
    /// Residents, household profiles, conflicts and key groups.
    Residents,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 8] = [
        ChangeKind::CheckIns,
        ChangeKind::Visits,
        ChangeKind::Reports,
        ChangeKind::Tasks,
        ChangeKind::SyncCounts,
        ChangeKind::Patrol,
        ChangeKind::Reference,
        ChangeKind::Residents,
    ];

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

fn mask_of(kinds: &[ChangeKind]) -> u32 {
    kinds.iter().fold(0, |m, k| m | k.bit())
}

fn kinds_of(mask: u32) -> Vec<ChangeKind> {
    ChangeKind::ALL
        .into_iter()
        .filter(|k| mask & k.bit() != 0)
        .collect()
}

/// The kinds a change of a table's rows belongs to. A new outbox row comes with its record
/// (whose own table tells the kind); a changed one is a record's sync state, shown in the
/// lists too.
fn table_mask(action: rusqlite::hooks::Action, table: &str) -> u32 {
    use ChangeKind::*;
    match table {
        "outbox" if action == rusqlite::hooks::Action::SQLITE_INSERT => SyncCounts.bit(),
        "checkins" => CheckIns.bit(),
        "visits" => Visits.bit(),
        "reports" | "report_photos" | "photos" => Reports.bit(),
        "tasks" | "task_completions" | "task_completion_photos" => Tasks.bit(),
        "outbox" => mask_of(&[
            SyncCounts, CheckIns, Visits, Reports, Tasks, Patrol, Residents,
        ]),
        "patrol_events" | "track_blocks" => Patrol.bit(),
        "grids" | "points" | "worker_grids" => Reference.bit(),
        "households" => mask_of(&[Reference, Residents]),
        "residents" | "conflicts" | "key_groups" => Residents.bit(),
        // The store's state: the last sync, the cursor, the last fix, the report catalog
        // (which arrives in a sync, so SyncCounts observers hear of it).
        "kv" => SyncCounts.bit(),
        _ => 0,
    }
}

/// How long the notifier gathers changes after the first one before calling observers.
pub const COALESCE: Duration = Duration::from_millis(30);

/// Receives the kinds that changed. Called on the notifier thread: return quickly.
pub trait ChangeObserver: Send + Sync {
    fn on_change(&self, kinds: &[ChangeKind]);
}

#[derive(Default)]
struct State {
    committed: u32,
    shutdown: bool,
    thread_started: bool,
}

/// An observer: its id, the mask of kinds it wants, and itself.
type Registration = (u64, u32, Arc<dyn ChangeObserver>);

/// The store's observers and what changed since they were last told.
#[derive(Default)]
pub struct ChangeFeed {
    /// Tables touched by the writer's open transaction.
    in_tx: AtomicU32,
    state: Mutex<State>,
    wake: Condvar,
    observers: Mutex<Vec<Registration>>,
    next_id: AtomicU64,
    closed: AtomicBool,
}

impl ChangeFeed {
    /// Installs the hooks on the writer.
    pub(crate) fn install(self: &Arc<Self>, writer: &Connection) {
        let feed = Arc::downgrade(self);
        writer.update_hook(Some(
            move |action: rusqlite::hooks::Action, _: &str, table: &str, _: i64| {
                if let Some(f) = feed.upgrade() {
                    f.in_tx
                        .fetch_or(table_mask(action, table), Ordering::Relaxed);
                }
            },
        ));
        let feed = Arc::downgrade(self);
        writer.commit_hook(Some(move || {
            if let Some(f) = feed.upgrade() {
                let mask = f.in_tx.swap(0, Ordering::Relaxed);
                if mask != 0 {
                    f.lock().committed |= mask;
                    f.wake.notify_all();
                }
            }
            false
        }));
        let feed = Arc::downgrade(self);
        writer.rollback_hook(Some(move || {
            if let Some(f) = feed.upgrade() {
                f.in_tx.store(0, Ordering::Relaxed);
            }
        }));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers an observer of `kinds` (all kinds when empty); it stays until
    /// [`ChangeFeed::unobserve`] or the store closes. Returns its id.
    pub fn observe(
        self: &Arc<Self>,
        kinds: &[ChangeKind],
        observer: Arc<dyn ChangeObserver>,
    ) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mask = if kinds.is_empty() {
            mask_of(&ChangeKind::ALL)
        } else {
            mask_of(kinds)
        };
        self.observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, mask, observer));
        self.start_notifier();
        id
    }

    /// Removes an observer; it is not called after this returns (unless its call has already
    /// begun: it finishes).
    pub fn unobserve(&self, id: u64) {
        self.observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|o| o.0 != id);
    }

    /// Observers registered now.
    pub fn observers(&self) -> usize {
        self.observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    fn start_notifier(self: &Arc<Self>) {
        let mut st = self.lock();
        if st.thread_started || st.shutdown {
            return;
        }
        // What was committed before anyone observed is nobody's news.
        st.committed = 0;
        st.thread_started = true;
        drop(st);
        let feed = self.clone();
        let spawned = std::thread::Builder::new()
            .name("gridworker-changes".into())
            .spawn(move || feed.run());
        if spawned.is_err() {
            // No thread: observers are not called, recording goes on.
            self.lock().thread_started = false;
            log::warn!("changes: could not start the notifier thread");
        }
    }

    fn registered(&self, id: u64) -> bool {
        self.observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|o| o.0 == id)
    }

    fn run(&self) {
        loop {
            {
                let mut st = self.lock();
                while st.committed == 0 && !st.shutdown {
                    st = self.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                if st.shutdown {
                    return;
                }
            }
            std::thread::sleep(COALESCE);
            let mask = {
                let mut st = self.lock();
                if st.shutdown {
                    return;
                }
                std::mem::take(&mut st.committed)
            };
            let targets: Vec<(u64, u32, Arc<dyn ChangeObserver>)> = self
                .observers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|o| (o.0, o.1, o.2.clone()))
                .collect();
            for (id, want, o) in targets {
                let hit = want & mask;
                // Asked again right before the call: an observer removed while another one
                // of the same burst ran (its screen gone) is not called.
                if hit != 0 && self.registered(id) {
                    o.on_change(&kinds_of(hit));
                }
            }
        }
    }

    /// Stops the notifier (the store is closing); observers are dropped.
    pub(crate) fn close(&self) {
        if self.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        self.lock().shutdown = true;
        self.wake.notify_all();
        self.observers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
