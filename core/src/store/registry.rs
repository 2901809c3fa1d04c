//! Process-wide registry of data directories with an open store, so that wiping or recovering
//! a directory can refuse while a `GridWorker` (or a sync engine holding one) still has it
//! open: deleting files under an open SQLite handle loses every later write silently.
//!
//! Other processes are told by an advisory lock on [`OPEN_LOCK_FILE`]: an open store holds it
//! shared, a wipe, recovery or re-encryption takes it exclusive for its whole run. A rekey that
//! swapped a new database file in under a CLI command or a background worker process still
//! writing to the old one lost those writes; now either side is refused instead. The kernel
//! drops the lock with the process, so a SIGKILL never leaves a store locked.
//!
//! It also knows the sync runs going on each directory. A run holds the store open however
//! the app closed its handles (the run goes on when the caller's coroutine is cancelled or
//! the engine closed), so a wipe at logout cancels them and waits for them to let go.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::store::file_lock::{self, Mode};

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

/// The file in the data directory whose advisory lock tells processes apart: shared while a
/// store is open, exclusive while the directory is wiped, recovered or re-encrypted.
pub const OPEN_LOCK_FILE: &str = "store.lock";

/// Held by an open store; dropping it unregisters and lets go of the shared lock.
#[derive(Debug)]
pub struct Registration {
    key: PathBuf,
    /// `None` on a file system without advisory locks.
    shared: Option<File>,
}

impl Registration {
    /// Registers an open store on `dir`. Refused with [`Error::StoreInUse`] (no handle of
    /// this process) while another process wipes, recovers or re-encrypts it.
    pub fn register(dir: &Path) -> Result<Registration> {
        let key = key(dir);
        let path = dir.join(OPEN_LOCK_FILE);
        let deadline = Instant::now() + file_lock::STORE_PATIENCE;
        loop {
            // The registry first: it waits for this process's own wipe or recovery to
            // finish, whose exclusive lock would refuse the shared one below. Not held while
            // waiting for another process: other stores open and close meanwhile.
            let mut dirs = open_dirs();
            match file_lock::take_or_in_use(&path, Mode::Shared, Duration::ZERO) {
                Ok(shared) => {
                    *dirs.entry(key.clone()).or_insert(0) += 1;
                    return Ok(Registration { key, shared });
                }
                Err(Error::StoreInUse { .. }) if Instant::now() < deadline => {
                    drop(dirs);
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // The lock goes first: once the count says closed, a wipe on another thread must not
        // find this handle's lock still held (the fields would drop only after the count).
        drop(self.shared.take());
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

/// Runs `f` (a wipe, a recovery, a re-encryption) only if no store is open on `dir` in this
/// process or any other, else refuses with [`Error::StoreInUse`] (`open_handles` 0: another
/// process). Sync runs of this process going on `dir` are cancelled first and waited for (at
/// most [`RUNS_END_WITHIN`]); the app's own open handles are not waited for. Opening a store
/// on any directory in this process waits until `f` is done, and one in another process is
/// refused until then, so nothing opens the directory halfway through.
pub fn while_closed<T>(dir: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let key = key(dir);
    let deadline = Instant::now() + RUNS_END_WITHIN;
    let mut cancelled = false;
    loop {
        let dirs = open_dirs();
        let open_handles = dirs.get(&key).copied().unwrap_or(0);
        if open_handles == 0 {
            let out = exclusively(dir, f);
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

/// Runs `f` holding the directory's lock exclusive (no other process has a store open on it).
/// A directory that does not exist yet has nobody to exclude and nothing to lock in.
fn exclusively<T>(dir: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    if !dir.is_dir() {
        return f();
    }
    let lock = file_lock::take_or_in_use(
        &dir.join(OPEN_LOCK_FILE),
        Mode::Exclusive,
        file_lock::STORE_PATIENCE,
    )?;
    let out = f();
    // A wipe removed the file: the lock goes with the descriptor.
    if let Some(l) = &lock {
        file_lock::unlock(l);
    }
    out
}
