//! The photo store: photos copied into the core's own directory and named by content hash.
//!
//! A photo is streamed (constant memory) into a temporary file while it is hashed and sniffed,
//! fsynced, and renamed into place only inside the database transaction that references it;
//! the caller's file is never modified. Paths in the database are relative to the data
//! directory because iOS moves the app container between launches.

use chrono::{DateTime, Utc};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use crate::domain::{MediaType, Photo};
use crate::error::{Error, Result};

/// Folder (relative to the data directory) holding the photos.
pub const PHOTO_DIR: &str = "photos";
const TMP_DIR: &str = "photos/tmp";
/// Temporary files older than this are debris of a killed process and may be swept.
const TMP_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Recognises JPEG, PNG and HEIC by their first bytes; the file name is ignored.
pub fn sniff(head: &[u8]) -> Option<MediaType> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(MediaType::Jpeg);
    }
    if head.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        return Some(MediaType::Png);
    }
    // ISO-BMFF: size(4) "ftyp" brand(4); HEIF/HEIC brands.
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        let brand = &head[8..12];
        const BRANDS: [&[u8; 4]; 8] = [
            b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
        ];
        if BRANDS.iter().any(|b| b.as_slice() == brand) {
            return Some(MediaType::Heic);
        }
    }
    None
}

/// A photo copied and verified, waiting for the transaction that references it.
#[derive(Debug)]
pub struct StagedPhoto {
    pub photo: Photo,
    tmp: PathBuf,
}

impl StagedPhoto {
    /// Removes the temporary copy (the record it was for was not written).
    pub fn discard(self) {
        // Best effort: a leftover temp file is swept by `sweep_tmp` later.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

impl Drop for StagedPhoto {
    fn drop(&mut self) {
        if self.tmp.exists() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn rel_path_for(photo: &Photo) -> String {
    format!(
        "{PHOTO_DIR}/{}.{}",
        photo.sha256,
        photo.media_type.extension()
    )
}

/// Copies `src` into the store's temp folder, checking it on the way. Nothing is referenced
/// yet: the caller commits with [`commit`] inside its transaction or drops the result.
pub fn stage(data_dir: &Path, src: &Path, max_bytes: u64, field: &str) -> Result<StagedPhoto> {
    let meta = std::fs::metadata(src)
        .map_err(|_| Error::invalid(field, "file does not exist or cannot be read"))?;
    if !meta.is_file() {
        return Err(Error::invalid(field, "is not a regular file"));
    }
    if meta.len() == 0 {
        return Err(Error::invalid(field, "file is empty"));
    }
    if meta.len() > max_bytes {
        return Err(Error::invalid(
            field,
            format!("file is larger than {max_bytes} bytes"),
        ));
    }
    let mut input = File::open(src).map_err(|_| Error::invalid(field, "file cannot be opened"))?;
    let mut head = [0u8; 16];
    let mut got = 0;
    while got < head.len() {
        let n = input.read(&mut head[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let media_type = sniff(&head[..got])
        .ok_or_else(|| Error::invalid(field, "not a JPEG, PNG or HEIC image"))?;

    let tmp_dir = data_dir.join(TMP_DIR);
    crate::store::files::create_private_dir(&tmp_dir)?;
    let tmp = tmp_dir.join(format!("{}.part", crate::domain::new_id()));
    let mut staged = StagedPhoto {
        photo: Photo {
            sha256: String::new(),
            size: 0,
            media_type,
            captured_at: None,
        },
        tmp,
    };
    let mut out = crate::store::files::create_private_file(&staged.tmp)?;
    let mut hasher = Sha256::new();
    hasher.update(&head[..got]);
    out.write_all(&head[..got])?;
    let mut size = got as u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        // The file may grow while we read it; the cap holds for what we actually copy.
        if size > max_bytes {
            return Err(Error::invalid(
                field,
                format!("file is larger than {max_bytes} bytes"),
            ));
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    out.sync_all()?;
    staged.photo.sha256 = hex::encode(hasher.finalize());
    staged.photo.size = size;
    Ok(staged)
}

/// Moves a staged photo into place and records it, inside the caller's transaction. If the
/// same content is already stored the temp copy is simply dropped.
pub fn commit(tx: &Transaction<'_>, data_dir: &Path, staged: &StagedPhoto) -> Result<()> {
    let photo = &staged.photo;
    let existing: Option<Option<String>> = tx
        .query_row(
            "SELECT rel_path FROM photos WHERE sha256 = ?1",
            [&photo.sha256],
            |r| r.get(0),
        )
        .optional()?;
    let rel = rel_path_for(photo);
    let target = data_dir.join(&rel);
    if !target.exists() && staged.tmp.exists() {
        std::fs::rename(&staged.tmp, &target)?;
        if let Some(dir) = target.parent()
            && let Ok(d) = File::open(dir)
        {
            // Persist the rename itself (directory entry) before the row that points at it.
            let _ = d.sync_all();
        }
    }
    match existing {
        None => {
            tx.execute(
                "INSERT INTO photos(sha256, size, media_type, captured_at, rel_path) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![photo.sha256, photo.size as i64, photo.media_type.mime(), photo.captured_at, rel],
            )?;
        }
        Some(_) => {
            // Re-attached after it was collected, or already present: make sure the path is set.
            tx.execute(
                "UPDATE photos SET rel_path = ?2 WHERE sha256 = ?1",
                params![photo.sha256, rel],
            )?;
        }
    }
    Ok(())
}

/// Absolute path of a stored photo's file, if it is still held locally.
pub fn path_of(conn: &Connection, data_dir: &Path, sha256: &str) -> Result<Option<PathBuf>> {
    let rel: Option<Option<String>> = conn
        .query_row(
            "SELECT rel_path FROM photos WHERE sha256 = ?1",
            [sha256],
            |r| r.get(0),
        )
        .optional()?;
    Ok(rel.flatten().map(|r| data_dir.join(r)))
}

/// How long a synced record's photo files stay on the device: a server restored from a
/// backup older than its upload asks for the record again (`device_last_seq`, docs/protocol.md
/// §3.1), and the record is re-sent with its photos. Shorter than the outbox's own retention
/// (30 days) because photos are most of the bytes; a district restores yesterday's backup, not
/// last month's.
pub const SYNCED_PHOTO_RETENTION: chrono::Duration = chrono::Duration::days(7);

/// Photo files nobody needs any more: referenced only by records the server has held for
/// longer than [`SYNCED_PHOTO_RETENTION`] (or by nothing at all, e.g. after a draft was
/// deleted). Returns how many files were removed. Runs inside the writer transaction so no
/// concurrent record can take a reference meanwhile.
pub fn collect_garbage(tx: &Transaction<'_>, data_dir: &Path, now: DateTime<Utc>) -> Result<usize> {
    let keep_synced_since = now
        .checked_sub_signed(SYNCED_PHOTO_RETENTION)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    // A photo is still needed while a draft, a pending or quarantined report or task
    // completion, or one synced within the retention period references it (a quarantined
    // record keeps its good photos for its repair).
    let mut stmt = tx.prepare(
        "SELECT p.sha256, p.rel_path FROM photos p
         WHERE p.rel_path IS NOT NULL
           AND NOT EXISTS (
               SELECT 1 FROM report_photos rp JOIN reports r ON r.id = rp.report_id
               WHERE rp.sha256 = p.sha256 AND (
                   r.status = 'draft'
                   OR EXISTS (SELECT 1 FROM outbox o WHERE o.record_id = r.id
                              AND (o.state IN ('pending', 'quarantined')
                                   OR (o.state = 'synced' AND o.synced_at >= ?1)))))
           AND NOT EXISTS (
               SELECT 1 FROM task_completion_photos tp
               JOIN outbox o ON o.record_id = tp.completion_id
               WHERE tp.sha256 = p.sha256 AND (o.state IN ('pending', 'quarantined')
                                               OR (o.state = 'synced' AND o.synced_at >= ?1)))",
    )?;
    let victims: Vec<(String, String)> = stmt
        .query_map([keep_synced_since], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    drop(stmt);
    for (sha, rel) in &victims {
        let referenced: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM report_photos WHERE sha256 = ?1)
                 OR EXISTS(SELECT 1 FROM task_completion_photos WHERE sha256 = ?1)",
            [sha],
            |r| r.get(0),
        )?;
        if referenced {
            // Keep the row (the report still lists it), drop the bytes.
            tx.execute("UPDATE photos SET rel_path = NULL WHERE sha256 = ?1", [sha])?;
        } else {
            tx.execute("DELETE FROM photos WHERE sha256 = ?1", [sha])?;
        }
        match std::fs::remove_file(data_dir.join(rel)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(victims.len())
}

/// Removes temp files left by a process killed mid-copy, and photo files that no row points
/// at (a crash between rename and commit). Only old files are touched, so a copy in progress
/// in another process is safe.
pub fn sweep_orphans(conn: &Connection, data_dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let now = std::time::SystemTime::now();
    let old = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .map(|t| now.duration_since(t).unwrap_or_default() > TMP_MAX_AGE)
            .unwrap_or(false)
    };
    if let Ok(entries) = std::fs::read_dir(data_dir.join(TMP_DIR)) {
        for e in entries.flatten() {
            if old(&e.path()) && std::fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(data_dir.join(PHOTO_DIR)) {
        for e in entries.flatten() {
            let path = e.path();
            if !path.is_file() || !old(&path) {
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let rel = format!("{PHOTO_DIR}/{name}");
            let known: bool = conn.query_row(
                "SELECT EXISTS(SELECT 1 FROM photos WHERE rel_path = ?1)",
                [&rel],
                |r| r.get(0),
            )?;
            if !known && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
    }
    Ok(removed)
}
