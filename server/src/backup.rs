//! `gridworker-server backup`: a consistent copy of an SQLite server's data directory,
//! taken while the server runs. Restoring is starting a server on the copy.
//!
//! The database is copied by `VACUUM INTO` (one read transaction: a snapshot as of one
//! commit), then the photos that snapshot holds as complete. Photos are written once and
//! never changed, and a photo's row is committed after its bytes, so every photo the
//! snapshot knows is there to copy. Partial uploads are left out: their parts may be
//! assembled and deleted while the copy runs, so the copy forgets them and their phones
//! send them again from the start (a HEAD answers offset 0). On PostgreSQL use `pg_dump` or
//! continuous archiving (docs/deployment.md); an S3 bucket is backed up as a bucket.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::blobs::PhotoStorage;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("the destination {0} exists and is not empty")]
    DestinationNotEmpty(PathBuf),
    #[error("no server database in {0}")]
    NoDatabase(PathBuf),
    #[error(
        "backup copies the SQLite default; back up PostgreSQL with pg_dump or continuous archiving"
    )]
    NotSqlite,
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// Mutations (records) in the snapshot.
    pub records: u64,
    /// Complete photos copied.
    pub photos: u64,
    /// Bytes of those photos.
    pub photo_bytes: u64,
    /// Whether the photos stayed in an object store the copy does not cover.
    pub photos_elsewhere: bool,
}

/// Copies the server in `data_dir` (its SQLite database and, when they are kept in a
/// directory, its complete photos) into `dest`, which must not exist or be empty. The copy
/// appears under `dest` only when it is whole.
pub fn backup(data_dir: &Path, photos: &PhotoStorage, dest: &Path) -> Result<Backup, BackupError> {
    let source = data_dir.join("server.sqlite");
    if !source.is_file() {
        return Err(BackupError::NoDatabase(data_dir.to_path_buf()));
    }
    if dest.exists() && std::fs::read_dir(dest)?.next().is_some() {
        return Err(BackupError::DestinationNotEmpty(dest.to_path_buf()));
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    let out = copy_into(&source, data_dir, photos, &staging);
    if out.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
        return out;
    }
    if dest.exists() {
        std::fs::remove_dir(dest)?;
    }
    std::fs::rename(&staging, dest)?;
    sync_dir(parent);
    out
}

fn copy_into(
    source: &Path,
    data_dir: &Path,
    photos: &PhotoStorage,
    staging: &Path,
) -> Result<Backup, BackupError> {
    crate::db::private_dir(staging)?;
    let copy = staging.join("server.sqlite");
    {
        // Read-write, as the server opens it: a read-only connection cannot open a WAL
        // database whose shared-memory file is missing (a stopped server). VACUUM INTO
        // does not write to its source.
        let src = Connection::open_with_flags(
            source,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // A server writing meanwhile holds the lock for a moment at a time.
        src.busy_timeout(std::time::Duration::from_secs(30))?;
        src.execute("VACUUM INTO ?1", [copy.to_string_lossy()])?;
    }
    let db = Connection::open(&copy)?;
    let has_parts: bool = db.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'photo_parts')",
        (),
        |r| r.get(0),
    )?;
    db.execute_batch(if has_parts {
        "BEGIN; DELETE FROM photo_parts; DELETE FROM partial_uploads; COMMIT;"
    } else {
        "DELETE FROM partial_uploads;"
    })?;
    let records: i64 = db.query_row("SELECT COUNT(*) FROM mutations", (), |r| r.get(0))?;
    let complete: Vec<(String, i64)> = db
        .prepare("SELECT sha256, length FROM photos WHERE complete = 1 ORDER BY sha256")?
        .query_map((), |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    db.close().map_err(|(_, e)| e)?;
    crate::db::private_file(&copy)?;
    let mut out = Backup {
        records: u64::try_from(records).unwrap_or(0),
        photos: 0,
        photo_bytes: 0,
        photos_elsewhere: false,
    };
    let root = match photos {
        PhotoStorage::Local(dir) => dir.clone().unwrap_or_else(|| data_dir.join("photos")),
        PhotoStorage::S3(_) => {
            out.photos_elsewhere = true;
            return Ok(out);
        }
    };
    let to = staging.join("photos");
    crate::db::private_dir(&to)?;
    crate::db::private_dir(&to.join("partial"))?;
    for (sha, length) in complete {
        // Addresses come from the database; only hex names are ever joined to a path.
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let target = to.join(&sha);
        let n = std::fs::copy(root.join(&sha), &target)?;
        if i64::try_from(n).ok() != Some(length) {
            return Err(BackupError::Io(std::io::Error::other(
                "a photo's file is not the length the database records",
            )));
        }
        crate::db::private_file(&target)?;
        std::fs::File::open(&target)?.sync_all()?;
        out.photos += 1;
        out.photo_bytes += n;
    }
    sync_dir(&to);
    sync_dir(staging);
    Ok(out)
}

fn sync_dir(dir: &Path) {
    // Not every filesystem syncs directories; the files' own syncs are what matter.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
