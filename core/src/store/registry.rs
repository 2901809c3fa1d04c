//! Process-wide registry of data directories with an open store, so that wiping or recovering
//! a directory can refuse while a `GridWorker` (or a sync engine holding one) still has it
//! open: deleting files under an open SQLite handle loses every later write silently.
//!
//! It also knows the sync runs going on each directory. A run holds the store open however
//! the app closed its handles (the run goes on when the caller's coroutine is cancelled or
//! the engine closed), so a wipe at logout cancels them and waits for them to let go.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

fn open_dirs() -> MutexGuard<'static, HashMap<PathBuf, usize>> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, usize>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// One directory's identity whatever path spelling reached it (relative, symlinked).
fn key(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Held by an open store; dropping it unregisters.
#[derive(Debug)]
pub struct Registration {
    key: PathBuf,
}

impl Registration {
    pub fn register(dir: &Path) -> Registration {
        let key = key(dir);
        *open_dirs().entry(key.clone()).or_insert(0) += 1;
        Registration { key }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut dirs = open_dirs();
        if let Some(n) = dirs.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                dirs.remove(&self.key);
            }
        }
    }
}

/// How to stop a sync run.
pub type Canceller = Arc<dyn Fn() + Send + Sync>;

type Runs = HashMap<PathBuf, Vec<(u64, Canceller)>>;

fn runs() -> MutexGuard<'static, Runs> {
    static RUNS: OnceLock<Mutex<Runs>> = OnceLock::new();
    RUNS.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Held by a sync run while it goes on; dropping it unregisters.
pub struct RunRegistration {
    key: PathBuf,
    id: u64,
}

impl RunRegistration {
    pub fn register(dir: &Path, cancel: Canceller) -> RunRegistration {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let (key, id) = (key(dir), NEXT.fetch_add(1, Ordering::Relaxed));
        runs().entry(key.clone()).or_default().push((id, cancel));
        RunRegistration { key, id }
    }
}

impl Drop for RunRegistration {
    fn drop(&mut self) {
        let mut runs = runs();
        if let Some(list) = runs.get_mut(&self.key) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                runs.remove(&self.key);
            }
        }
    }
}

/// How long a wipe waits for the sync runs it cancelled to let go of the store. A run stops
/// at its next await point; the caller's handles of the run's result go when it returns.
const RUNS_END_WITHIN: Duration = Duration::from_secs(10);

/// Runs `f` (a wipe, a recovery) only if no store is open on `dir` in this process, else
/// refuses with [`Error::StoreInUse`]. Sync runs going on `dir` are cancelled first and
/// waited for (at most [`RUNS_END_WITHIN`]); the app's own open handles are not waited for.
/// Opening a store on any directory waits until `f` is done, so nothing opens the
/// directory halfway through.
pub fn while_closed<T>(dir: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let key = key(dir);
    let deadline = Instant::now() + RUNS_END_WITHIN;
    let mut cancelled = false;
    loop {
        let dirs = open_dirs();
        let open_handles = dirs.get(&key).copied().unwrap_or(0);
        if open_handles == 0 {
            let out = f();
            drop(dirs);
            return out;
        }
        drop(dirs);
        if !cancelled {
            let cancellers: Vec<Canceller> = runs()
                .get(&key)
                .map(|l| l.iter().map(|(_, c)| c.clone()).collect())
                .unwrap_or_default();
            if cancellers.is_empty() {
                return Err(Error::StoreInUse { open_handles });
            }
            for c in cancellers {
                c();
            }
            cancelled = true;
        }
        if Instant::now() >= deadline {
            return Err(Error::StoreInUse { open_handles });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
