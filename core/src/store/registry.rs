//! Process-wide registry of data directories with an open store, so that wiping or recovering
//! a directory can refuse while a `GridWorker` (or a sync engine holding one) still has it
//! open: deleting files under an open SQLite handle loses every later write silently.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

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

/// Runs `f` (a wipe, a recovery) only if no store is open on `dir` in this process, else
/// refuses with [`Error::StoreInUse`]. Opening a store on any directory waits until `f` is
/// done, so nothing opens the directory halfway through.
pub fn while_closed<T>(dir: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let dirs = open_dirs();
    if let Some(&open_handles) = dirs.get(&key(dir))
        && open_handles > 0
    {
        return Err(Error::StoreInUse { open_handles });
    }
    let out = f();
    drop(dirs);
    out
}
