//! The photo store: photos copied into the core's own directory and named by content hash.
//!
//! A photo goes through the photo pipeline ([`crate::photo`]) in memory, is written (sealed
//! with a key) into a temporary file, fsynced, and renamed into place only inside the
//! database transaction that references it; the caller's file is never modified. Paths in the database are relative to the data
//! directory because iOS moves the app container between launches.
//!
//! A store opened with a key keeps its photos sealed ([`seal`]: chunked AEAD, the format is
//! documented there and in docs/architecture.md "Sealed photos"). A photo is still named by
//! the SHA-256 of its plaintext and its recorded size is the plaintext size, so sync, dedup
//! and resumable uploads do not change. Readers ([`open_file`]) accept both kinds of file
//! (told apart by the seal's magic): a store being migrated holds both for a while.

use chrono::{DateTime, Utc};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use crate::domain::{MediaType, Photo};
use crate::error::{Error, Result};
use crate::policy::ValidationPolicy;

pub mod seal;

pub use seal::{PhotoKey, SealDamage};

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

/// Reads the app's file, refusing more than `max_bytes` (the file may grow while we read
/// it: the cap holds for what is read).
fn read_capped(src: &Path, max_bytes: u64, field: &str) -> Result<Vec<u8>> {
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
    let input = File::open(src).map_err(|_| Error::invalid(field, "file cannot be opened"))?;
    let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    input
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut data)?;
    if data.len() as u64 > max_bytes {
        return Err(Error::invalid(
            field,
            format!("file is larger than {max_bytes} bytes"),
        ));
    }
    Ok(data)
}

/// Runs `src` through the photo pipeline ([`crate::photo`]: scaled, upright, stripped of
/// its metadata) and writes the result into the store's temp folder. Nothing is referenced
/// yet: the caller commits with [`commit`] inside its transaction or drops the result.
///
/// With a `key` the result is sealed ([`seal`]) as it is written: no plaintext byte of the
/// photo reaches the disk (the pipeline works in memory).
pub fn stage(
    data_dir: &Path,
    src: &Path,
    policy: &ValidationPolicy,
    field: &str,
    key: Option<&PhotoKey>,
) -> Result<StagedPhoto> {
    let original = read_capped(src, policy.max_photo_bytes, field)?;
    let prepared = crate::photo::prepare(
        original,
        policy.photo_max_edge_px,
        policy.photo_jpeg_quality,
    )
    .map_err(|r| Error::invalid(field, r.0))?;
    // The limit holds for what is stored and sent (the server enforces it on those bytes):
    // a small PNG or a rotated JPEG can come out of the pipeline larger than it went in.
    if prepared.bytes.len() as u64 > policy.max_photo_bytes {
        return Err(Error::invalid(
            field,
            format!(
                "is larger than the limit of {} bytes once prepared for sending",
                policy.max_photo_bytes
            ),
        ));
    }
    let sha: [u8; 32] = Sha256::digest(&prepared.bytes).into();
    let tmp_dir = data_dir.join(TMP_DIR);
    crate::store::files::create_private_dir(&tmp_dir)?;
    let tmp = tmp_dir.join(format!("{}.part", crate::domain::new_id()));
    let (original_sha256, original_size) = prepared.original.clone().unzip();
    let staged = StagedPhoto {
        photo: Photo {
            sha256: hex::encode(sha),
            size: prepared.bytes.len() as u64,
            media_type: prepared.media_type,
            captured_at: None,
            exif_time: prepared.exif.taken_at,
            exif_position: prepared.exif.position,
            original_sha256,
            original_size,
        },
        tmp,
    };
    let mut out = crate::store::files::create_private_file(&staged.tmp)?;
    match key {
        None => {
            out.write_all(&prepared.bytes)?;
            out.sync_all()?;
        }
        Some(key) => {
            let mut sealer = seal::Sealer::new(out, key, &sha)?;
            sealer.write(&prepared.bytes)?;
            sealer.finish()?.sync_all()?;
        }
    }
    Ok(staged)
}

/// Moves a staged photo into place and records it, inside the caller's transaction. If the
/// same content is already stored (read back whole: `keys` open a sealed file) the temp
/// copy is simply dropped; a stored file that no longer holds it (damaged on disk) is
/// replaced by the staged copy, which releases the records quarantined for it.
pub fn commit(
    tx: &Transaction<'_>,
    data_dir: &Path,
    staged: &StagedPhoto,
    keys: &[PhotoKey],
) -> Result<()> {
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
    let damaged = target.exists()
        && !open_file(&target, &photo.sha256, keys)
            .is_ok_and(|r| reads_as(r, &photo.sha256, photo.size));
    if (damaged || !target.exists()) && staged.tmp.exists() {
        std::fs::rename(&staged.tmp, &target)?;
        if let Some(dir) = target.parent()
            && let Ok(d) = File::open(dir)
        {
            // Persist the rename itself (directory entry) before the row that points at it.
            let _ = d.sync_all();
        }
        if damaged {
            crate::store::outbox::release_repaired_photo(tx, &photo.sha256)?;
        }
    }
    match existing {
        None => {
            tx.execute(
                "INSERT INTO photos(sha256, size, media_type, captured_at, rel_path, exif_time,
                                    exif_lat, exif_lon, original_sha256, original_size)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    photo.sha256,
                    photo.size as i64,
                    photo.media_type.mime(),
                    photo.captured_at,
                    rel,
                    photo.exif_time,
                    photo.exif_position.map(|p| p.lat),
                    photo.exif_position.map(|p| p.lon),
                    photo.original_sha256,
                    photo.original_size.map(|n| n as i64),
                ],
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

/// The SHA-256 hex id of a photo as the 32 bytes bound into its seal.
fn sha_bytes(sha256: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(sha256, &mut out)
        .map_err(|_| Error::invalid("sha256", "not a SHA-256 hex digest"))?;
    Ok(out)
}

/// A stored photo opened for reading its plaintext, sealed or not.
pub enum PhotoReader {
    Plain { file: File, len: u64 },
    Sealed(Box<seal::Unsealer<File>>),
}

impl std::fmt::Debug for PhotoReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PhotoReader::Plain { .. } => "PhotoReader::Plain",
            PhotoReader::Sealed(_) => "PhotoReader::Sealed",
        })
    }
}

impl PhotoReader {
    /// Plaintext size.
    pub fn len(&self) -> u64 {
        match self {
            PhotoReader::Plain { len, .. } => *len,
            PhotoReader::Sealed(u) => u.plain_len(),
        }
    }

    #[cfg(any(test, feature = "test-hooks"))]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cfg(any(test, feature = "test-hooks"))]
    pub fn is_sealed(&self) -> bool {
        matches!(self, PhotoReader::Sealed(_))
    }

    /// Positions the reader at plaintext byte `offset` (a resumed upload).
    pub fn seek_to(&mut self, offset: u64) -> Result<()> {
        match self {
            PhotoReader::Plain { file, len } => {
                if offset > *len {
                    return Err(Error::invalid("offset", "beyond the end of the photo"));
                }
                file.seek(SeekFrom::Start(offset))?;
                Ok(())
            }
            PhotoReader::Sealed(u) => u.seek_to(offset),
        }
    }
}

impl Read for PhotoReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            PhotoReader::Plain { file, .. } => file.read(buf),
            PhotoReader::Sealed(u) => u.read(buf),
        }
    }
}

/// Whether `reader` yields exactly the photo `sha256` of `size` bytes, read back whole.
pub fn reads_as(mut reader: PhotoReader, sha256: &str, size: u64) -> bool {
    if reader.len() != size {
        return false;
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
    hex::encode(hasher.finalize()) == sha256
}

/// Opens the photo file at `path` (named `sha256`) for reading its plaintext. A sealed file
/// needs the key that sealed it among `keys`; a plain one (a store without a key, or one
/// being migrated) is read as it is. A missing file is `Error::Io(NotFound)`; a sealed one
/// that is damaged or sealed with another key is [`Error::PhotoSealBroken`].
pub fn open_file(path: &Path, sha256: &str, keys: &[PhotoKey]) -> Result<PhotoReader> {
    let sha = sha_bytes(sha256)?;
    let mut file = File::open(path)?;
    let mut head = [0u8; seal::MAGIC.len()];
    let got = seal::read_full(&mut file, &mut head)?;
    if seal::is_sealed(head.get(..got).unwrap_or_default()) {
        return Ok(PhotoReader::Sealed(Box::new(seal::Unsealer::open(
            file, keys, &sha,
        )?)));
    }
    file.seek(SeekFrom::Start(0))?;
    let len = file.metadata()?.len();
    Ok(PhotoReader::Plain { file, len })
}

/// The plaintext of the photo file at `path` (named `sha256`), for display; `None` when the
/// file is gone. Refuses a file larger than `max_bytes` or whose content is not the photo it
/// is named after.
pub fn read_bytes(
    path: &Path,
    sha256: &str,
    keys: &[PhotoKey],
    max_bytes: u64,
) -> Result<Option<Vec<u8>>> {
    let mut reader = match open_file(path, sha256, keys) {
        Ok(r) => r,
        Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if reader.len() > max_bytes {
        return Err(Error::invalid(
            "photo",
            "stored file is larger than allowed",
        ));
    }
    let mut out = Vec::with_capacity(usize::try_from(reader.len()).unwrap_or(0));
    (&mut reader)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(seal::from_io)?;
    if hex::encode(Sha256::digest(&out)) != sha256 {
        return Err(Error::PhotoSealBroken {
            damage: SealDamage::Altered,
        });
    }
    Ok(Some(out))
}

/// What [`reseal_all`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// Files rewritten under the new key (plain ones sealed, old-key ones re-sealed).
    pub sealed: usize,
    /// Files already sealed with the new key (an earlier, interrupted run got to them).
    pub already: usize,
    /// Photos left as they were because they cannot be read (altered, truncated, sealed
    /// with a key not given): their records are quarantined as `photo_altered` at upload.
    pub unreadable: Vec<String>,
    /// Plain temporary copies removed (debris of a plain store's interrupted staging).
    pub plain_debris_removed: usize,
}

/// A photo file's id, from its name `<sha256>.<ext>`.
fn sha_of_name(name: &str) -> Option<&str> {
    let (stem, _) = name.split_once('.')?;
    (stem.len() == 64 && stem.bytes().all(|b| b.is_ascii_hexdigit())).then_some(stem)
}

/// Seals every photo file under `new_key`: files sealed with `old_key` are re-sealed, plain
/// ones (a store from before encryption) are sealed, those already under `new_key` are left.
///
/// Crash-safe and resumable: each file is rewritten beside itself (in the temp folder),
/// fsynced and renamed over the original, so a kill at any point leaves every file whole
/// under the old key, the new key, or plain; each header names its key, so running this
/// again with the same keys finishes the job. Until it has completed, keep both keys: a
/// reader given only one finds the other's files [`SealDamage::WrongKey`].
///
/// Run it with no other handle writing photos (at open, or inside the rekey): plain temp
/// files in the temp folder are deleted as debris.
pub fn reseal_all(
    data_dir: &Path,
    old_key: Option<&PhotoKey>,
    new_key: &PhotoKey,
) -> Result<ResealReport> {
    if old_key.is_some_and(|k| k.id() == new_key.id()) {
        return Err(Error::invalid("new_key", "is the current photo key"));
    }
    let mut report = ResealReport::default();
    let tmp_dir = data_dir.join(TMP_DIR);
    crate::store::files::create_private_dir(&tmp_dir)?;
    // Debris first: an interrupted reseal's half-written file (sealed, useless), and plain
    // temp copies a plain store's killed staging left behind.
    for e in std::fs::read_dir(&tmp_dir)?.flatten() {
        let path = e.path();
        if !path.is_file() {
            continue;
        }
        let resealing = path.extension().is_some_and(|x| x == "reseal");
        let mut head = [0u8; seal::MAGIC.len()];
        let sealed = File::open(&path)
            .and_then(|mut f| seal::read_full(&mut f, &mut head))
            .map(|n| seal::is_sealed(head.get(..n).unwrap_or_default()))
            .unwrap_or(false);
        if resealing || !sealed {
            crate::store::files::remove_if_exists(&path)?;
            report.plain_debris_removed += usize::from(!sealed);
        }
    }
    let keys: Vec<PhotoKey> = old_key.into_iter().cloned().collect();
    let mut names: Vec<String> = std::fs::read_dir(data_dir.join(PHOTO_DIR))?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in names {
        let Some(sha) = sha_of_name(&name) else {
            continue;
        };
        let path = data_dir.join(PHOTO_DIR).join(&name);
        let mut head = [0u8; seal::HEADER_LEN];
        let n = File::open(&path).and_then(|mut f| seal::read_full(&mut f, &mut head))?;
        let head = head.get(..n).unwrap_or_default();
        if seal::key_id_of(head) == Some(new_key.id()) {
            report.already += 1;
            continue;
        }
        let tmp = tmp_dir.join(format!("{name}.reseal"));
        match reseal_one(&path, &tmp, sha, &keys, new_key) {
            Ok(()) => {
                std::fs::rename(&tmp, &path)?;
                crate::store::files::sync_dir(&data_dir.join(PHOTO_DIR));
                report.sealed += 1;
                if report.sealed == 1 {
                    crate::sync::failpoint("photo_resealed_one");
                }
            }
            Err(Error::PhotoSealBroken { .. }) => {
                crate::store::files::remove_if_exists(&tmp)?;
                report.unreadable.push(sha.to_string());
            }
            Err(e) => {
                let _ = crate::store::files::remove_if_exists(&tmp);
                return Err(e);
            }
        }
    }
    Ok(report)
}

/// Writes `path`'s plaintext, sealed under `new_key`, to `tmp` (fsynced). The seal binds
/// the id the file is named after: a plain file whose bytes no longer match it stays
/// detectable (its plaintext hashes to something else at upload).
fn reseal_one(
    path: &Path,
    tmp: &Path,
    sha256: &str,
    keys: &[PhotoKey],
    new_key: &PhotoKey,
) -> Result<()> {
    let sha = sha_bytes(sha256)?;
    let mut reader = open_file(path, sha256, keys)?;
    let out = crate::store::files::create_private_file(tmp)?;
    let mut sealer = seal::Sealer::new(out, new_key, &sha)?;
    let mut buf = vec![0u8; seal::DEFAULT_CHUNK as usize];
    loop {
        let n = seal::read_full(&mut reader, &mut buf).map_err(seal::from_io)?;
        if n == 0 {
            break;
        }
        sealer.write(buf.get(..n).unwrap_or_default())?;
    }
    sealer.finish()?.sync_all()?;
    Ok(())
}

/// Seals every plain photo file of a store that had no key (the plain → encrypted
/// migration). Same crash-safety as [`reseal_all`], which it is with no old key.
#[cfg(any(test, feature = "test-hooks"))]
pub fn seal_all_plain(data_dir: &Path, key: &PhotoKey) -> Result<ResealReport> {
    reseal_all(data_dir, None, key)
}
