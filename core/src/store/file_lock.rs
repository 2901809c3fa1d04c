//! Advisory locks on a file in the data directory (`flock`), told apart by process: the
//! store lock ([`super::registry`]) and the sync lock ([`crate::sync::lock`]).
//!
//! On unix targets this calls flock(2) itself (through rustix) rather than std's
//! `File::try_lock`: std's returns `Unsupported` on Android before Rust 1.98
//! (rust-lang/rust#148325), which made every sync run fail there and would have left the
//! store lock a no-op. Linux, Android and Apple platforms all have flock.
//!
//! A lock file can be deleted (a wipe) between a process opening it and locking it; the lock
//! would then be on a file nobody else opens. So a lock is taken on the file at the path
//! only once, after locking, the path still names the file that was locked.

use std::fs::File;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Shared (many holders) or exclusive (one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum NotTaken {
    /// Another open file description holds it (another process, or another handle of this
    /// one).
    Held,
    /// The file system has no advisory locks (some network mounts).
    Unsupported,
    Io(io::Error),
}

impl From<io::Error> for NotTaken {
    fn from(e: io::Error) -> Self {
        NotTaken::Io(e)
    }
}

/// How often a lock file deleted under us is opened again before giving up.
const REOPENS: usize = 8;

/// How long the store lock is tried for before it counts as held. A lock is also held for a
/// moment by nobody's choice: a thread of the same process forking a child duplicates every
/// descriptor until the child execs (close-on-exec), so a lock just let go can still be
/// held by the copy (CI once found the lock held with no handle open, right after a close,
/// while another test of the same process spawned children). A process that really has the
/// store open holds it far longer.
pub const STORE_PATIENCE: Duration = Duration::from_secs(1);

/// Opens (creating it owner-only) the lock file at `path` and takes its lock in `mode`,
/// trying again for up to `patience` while it is held. Dropping the file lets it go.
pub fn take(path: &Path, mode: Mode, patience: Duration) -> std::result::Result<File, NotTaken> {
    let deadline = Instant::now() + patience;
    loop {
        match take_once(path, mode) {
            Err(NotTaken::Held) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn take_once(path: &Path, mode: Mode) -> std::result::Result<File, NotTaken> {
    for _ in 0..REOPENS {
        let file = super::files::private_options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)?;
        try_lock(&file, mode)?;
        if still_at(&file, path)? {
            return Ok(file);
        }
    }
    Err(NotTaken::Held)
}

/// [`take`] of the store lock as the store's errors: held elsewhere is
/// [`Error::StoreInUse`] with `open_handles` 0 (no handle of this process); a file system
/// without locks is `None`, for the caller to go on without.
pub fn take_or_in_use(path: &Path, mode: Mode, patience: Duration) -> Result<Option<File>> {
    match take(path, mode, patience) {
        Ok(f) => Ok(Some(f)),
        Err(NotTaken::Held) => Err(Error::StoreInUse { open_handles: 0 }),
        Err(NotTaken::Unsupported) => {
            log::warn!("store: no advisory locks on this file system; other processes unseen");
            Ok(None)
        }
        Err(NotTaken::Io(e)) => Err(Error::Io(e)),
    }
}

#[cfg(unix)]
fn try_lock(file: &File, mode: Mode) -> std::result::Result<(), NotTaken> {
    use rustix::fs::{FlockOperation, flock};
    use rustix::io::Errno;
    let op = match mode {
        Mode::Shared => FlockOperation::NonBlockingLockShared,
        Mode::Exclusive => FlockOperation::NonBlockingLockExclusive,
    };
    match flock(file, op) {
        Ok(()) => Ok(()),
        Err(Errno::WOULDBLOCK) => Err(NotTaken::Held),
        Err(Errno::NOLCK | Errno::NOSYS | Errno::OPNOTSUPP) => Err(NotTaken::Unsupported),
        Err(e) => Err(NotTaken::Io(e.into())),
    }
}

#[cfg(not(unix))]
fn try_lock(file: &File, mode: Mode) -> std::result::Result<(), NotTaken> {
    use std::fs::TryLockError;
    let r = match mode {
        Mode::Shared => file.try_lock_shared(),
        Mode::Exclusive => file.try_lock(),
    };
    match r {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(NotTaken::Held),
        Err(TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {
            Err(NotTaken::Unsupported)
        }
        Err(TryLockError::Error(e)) => Err(NotTaken::Io(e)),
    }
}

/// Whether `path` still names the file `file` has open (not deleted or replaced meanwhile).
#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn still_at(_file: &File, path: &Path) -> io::Result<bool> {
    Ok(path.exists())
}

/// Lets go of the lock before the file is closed (closing lets it go too).
pub fn unlock(file: &File) {
    #[cfg(unix)]
    let _ = rustix::fs::flock(file, rustix::fs::FlockOperation::Unlock);
    #[cfg(not(unix))]
    let _ = file.unlock();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_holders_keep_an_exclusive_one_out_and_it_keeps_them_out() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let a = take(&p, Mode::Shared, Duration::ZERO).unwrap();
        let b = take(&p, Mode::Shared, Duration::ZERO).unwrap();
        assert!(matches!(
            take(&p, Mode::Exclusive, Duration::ZERO),
            Err(NotTaken::Held)
        ));
        drop(a);
        assert!(matches!(
            take(&p, Mode::Exclusive, Duration::ZERO),
            Err(NotTaken::Held)
        ));
        drop(b);
        let x = take(&p, Mode::Exclusive, Duration::ZERO).unwrap();
        assert!(matches!(
            take(&p, Mode::Shared, Duration::ZERO),
            Err(NotTaken::Held)
        ));
        unlock(&x);
        take(&p, Mode::Shared, Duration::ZERO).unwrap();
    }

    /// A lock file deleted (a wipe) between a taker's open and its lock: the taker sees that
    /// its file is no longer the one at the path (and [`take`] opens it again), so its lock
    /// never sits on a file the next exclusive taker does not see.
    #[test]
    fn a_lock_file_deleted_or_replaced_under_its_opener_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let opened = std::fs::File::create(&p).unwrap();
        assert!(still_at(&opened, &p).unwrap());
        std::fs::remove_file(&p).unwrap();
        assert!(!still_at(&opened, &p).unwrap());
        let taken = take(&p, Mode::Shared, Duration::ZERO).unwrap();
        assert!(!still_at(&opened, &p).unwrap(), "a new file at the path");
        assert!(still_at(&taken, &p).unwrap());
        assert!(matches!(
            take(&p, Mode::Exclusive, Duration::ZERO),
            Err(NotTaken::Held)
        ));
    }
}
