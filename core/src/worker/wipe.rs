//! Erasing a worker's data from the device.

use super::*;

/// Erases a worker's data from the device (shared or reissued phones): everything the core
/// ever wrote in `dir` (the database with its WAL/SHM/journal, the sidecar, the sync and
/// store locks, damaged copies kept by a recovery or moved aside by older builds, a recovery
/// in progress, photos and their temp area). Files the app put there itself are left alone.
///
/// Refused with [`Error::StoreInUse`] while a `GridWorker` (or a sync engine holding one) of
/// this process or of another process is open on `dir`: deleting files under an open handle
/// would let it go on accepting writes that are then lost. Drop them first. A sync run of
/// this process still going on `dir` (it holds the store whatever the app closed) is
/// cancelled and waited for, up to 10 s.
pub fn wipe_data_dir(dir: &Path) -> Result<()> {
    crate::store::registry::while_closed(dir, || wipe_unlocked(dir))
}

/// Whether a file name in the data directory is one the core writes.
pub(super) fn written_by_core(name: &str) -> bool {
    use crate::store::{DB_FILE, recover, sidecar};
    const OLD_MOVED_ASIDE: &str = "gridworker.db.corrupt-";
    name == DB_FILE
        || crate::store::DB_COMPANIONS
            .iter()
            .any(|s| name == format!("{DB_FILE}{s}"))
        || name == sidecar::SIDECAR_FILE
        || (name.starts_with('.') && name.contains(sidecar::SIDECAR_FILE))
        || name == crate::sync::lock::LOCK_FILE
        || name == crate::store::registry::OPEN_LOCK_FILE
        || name.starts_with(recover::DAMAGED_PREFIX)
        || name.starts_with(recover::RECOVERING_FILE)
        || name.starts_with(crate::store::crypt::REKEY_FILE)
        || name.starts_with(OLD_MOVED_ASIDE)
}

pub(super) fn wipe_unlocked(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    // The database goes first, its sidecar last: a wipe cut short leaves a store that reads
    // as damaged (and is wiped again), never a half-store that looks healthy.
    let mut doomed: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(written_by_core))
        .map(|e| e.path())
        .collect();
    doomed.sort_by_key(|p| p.ends_with(crate::store::sidecar::SIDECAR_FILE));
    for path in doomed {
        crate::store::files::remove_if_exists(&path)?;
    }
    match std::fs::remove_dir_all(dir.join(photos::PHOTO_DIR)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    crate::store::files::sync_dir(dir);
    Ok(())
}
