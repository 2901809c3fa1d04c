//! One process at a time owns sync for a store.
//!
//! The app and a background worker process (WorkManager, BGTaskScheduler) may both open the
//! same data directory. Two concurrent runs would both be correct (push is idempotent) but
//! would waste the worker's data plan and race on the pull cursor, so a run takes an advisory
//! lock on a file in the data directory first. The lock is tied to the open file: the kernel
//! drops it when the process dies, so a SIGKILLed run never leaves the store locked.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::store::file_lock::{self, Mode, NotTaken};

/// Name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "sync.lock";

/// Held for the duration of one sync run; dropping it releases the lock.
#[derive(Debug)]
pub struct SyncLock {
    /// `None` on a file system without advisory locks: runs of two processes may overlap
    /// there (both correct, one wasteful).
    file: Option<File>,
}

impl SyncLock {
    /// Takes the lock without waiting; [`Error::SyncBusy`] if another process (or another
    /// engine in this process) holds it.
    pub fn acquire(data_dir: &Path) -> Result<SyncLock> {
        // No patience: a run already going is told at once (SyncBusy), not waited for.
        match file_lock::take(&data_dir.join(LOCK_FILE), Mode::Exclusive, Duration::ZERO) {
            Ok(file) => Ok(SyncLock { file: Some(file) }),
            Err(NotTaken::Held) => Err(Error::SyncBusy),
            Err(NotTaken::Unsupported) => {
                log::warn!("sync: no advisory locks on this file system; runs not serialised");
                Ok(SyncLock { file: None })
            }
            Err(NotTaken::Io(e)) => Err(Error::Io(e)),
        }
    }
}

impl Drop for SyncLock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first just makes it prompt.
        if let Some(f) = &self.file {
            file_lock::unlock(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_the_first_drops() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("gw-lock-{}", crate::domain::new_id()));
        std::fs::create_dir_all(&dir)?;
        let first = SyncLock::acquire(&dir)?;
        assert!(matches!(SyncLock::acquire(&dir), Err(Error::SyncBusy)));
        drop(first);
        let again = SyncLock::acquire(&dir)?;
        drop(again);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
