//! Encryption at rest of the database (SQLite3 Multiple Ciphers, ChaCha20-Poly1305: every
//! page encrypted and authenticated, the WAL too; temporary tables stay in memory).
//!
//! The key comes from the app (its platform keystore protects it) as 32 raw bytes: there is
//! no key derivation on open, and the core never writes the key anywhere. The sidecar keeps a
//! key check value (HMAC-SHA256 of the store id under the key, truncated), never the key, so
//! that a wrong or missing key is told apart from damage before SQLite reads a page:
//! [`Error::Locked`] changes nothing, while an unreadable page under the right key is
//! [`Error::StoreDamaged`].
//!
//! # Re-encryption state machine (plain -> encrypted migration, and rekey)
//!
//! Both build the re-encrypted database beside the old one and swap it in; the sidecar is the
//! commit point. Files: `gridworker.db` (old), `gridworker.db.rekeying` (new, [`REKEY_FILE`]).
//!
//! | step | on disk after it | a crash here: next open |
//! |---|---|---|
//! | 1 remove a stale new file, checkpoint the old WAL into the old file | old db, old sidecar | old key; nothing lost |
//! | 2 `VACUUM INTO` the new file under the new key, fsync, verify | old db + new file, old sidecar | old key; new file removed as stale |
//! | 3 COMMIT: sidecar with the new key check and `swap_pending` | old db + new file, new sidecar | new key; swap finished (step 4) |
//! | 4 remove the old (empty) WAL/SHM, rename the new file over the old, fsync the dir | new db, new sidecar (`swap_pending`) | new key; flag cleared |
//! | 5 sidecar without `swap_pending` | new db, new sidecar | new key |
//! | 6 photos re-sealed under the new key, one file at a time (rewritten beside itself, renamed) | photos under the old or the new photo key | new key; that open re-seals the rest |
//! | 7 the previous photo key removed from the database (at the next open) | new db, photos under the new key | new key |
//!
//! Step 2 also writes the old key's photo key into the new database (`kv`
//! `previous_photo_key`, encrypted under the new key like every page): after the commit
//! point the app forgets the old key, and a kill during step 6 would otherwise leave photos
//! nobody can unseal. Every keyed open finishes steps 6 and 7 ([`finish_photo_reseal`]).
//!
//! Before the commit point the store opens with the old key (none for a plain store) and
//! holds everything it held; after it, with the new key. Finishing a pending swap only
//! happens once the new key has been checked against the sidecar, so a locked open changes
//! nothing. The app keeps both keys until [`crate::GridWorker::rekey`] returns and, after a
//! crash, opens with the new key first and the old one on [`Error::Locked`].

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroizing;

use crate::error::{Error, LockReason, Result};
use crate::store::sidecar::{self, Sidecar, SidecarState};
use crate::store::{DB_COMPANIONS, DB_FILE, files, registry, schema, with_suffix};

/// Where a re-encrypted database is built before it replaces the old one.
pub const REKEY_FILE: &str = "gridworker.db.rekeying";

/// The first bytes of every unencrypted SQLite database.
const PLAIN_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Domain separation of the key check value.
const CHECK_LABEL: &[u8] = b"gridworker database key check v1:";

/// A 256-bit database key. Its bytes are zeroed when dropped and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DatabaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseKey(..)")
    }
}

impl DatabaseKey {
    pub fn from_bytes(bytes: [u8; 32]) -> DatabaseKey {
        DatabaseKey(Zeroizing::new(bytes))
    }

    /// A key from a slice that must be exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<DatabaseKey> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::invalid("key", "must be exactly 32 bytes"))?;
        Ok(DatabaseKey::from_bytes(arr))
    }

    /// A key written as 64 hex digits (the CLI's `GRIDWORKER_KEY`).
    pub fn from_hex(text: &str) -> Result<DatabaseKey> {
        let mut arr = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), arr.as_mut())
            .map_err(|_| Error::invalid("key", "must be 64 hex digits"))?;
        Ok(DatabaseKey(arr))
    }

    /// A fresh random key from the operating system's generator (the CLI's demo; apps take
    /// theirs from the platform keystore helpers).
    pub fn generate() -> Result<DatabaseKey> {
        use ring::rand::SecureRandom;
        let mut arr = Zeroizing::new([0u8; 32]);
        ring::rand::SystemRandom::new()
            .fill(arr.as_mut())
            .map_err(|_| Error::Io(std::io::Error::other("no system randomness for a key")))?;
        Ok(DatabaseKey(arr))
    }

    /// The key as 64 lowercase hex digits, for a key file the caller keeps (owner-only).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes()))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The value the sidecar keeps to recognise this key for the store `store_id`: 16 bytes
    /// of HMAC-SHA256, which tells nothing about the key.
    pub(crate) fn check_value(&self, store_id: &str) -> String {
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.bytes());
        let mut msg = CHECK_LABEL.to_vec();
        msg.extend_from_slice(store_id.as_bytes());
        let tag = ring::hmac::sign(&k, &msg);
        hex::encode(tag.as_ref().get(..16).unwrap_or(tag.as_ref()))
    }
}

/// Keys a connection right after it was opened, before any other statement. `None` leaves
/// it plain.
pub(crate) fn apply_key(conn: &Connection, key: Option<&DatabaseKey>) -> rusqlite::Result<()> {
    let Some(key) = key else { return Ok(()) };
    // SQLite3 Multiple Ciphers picks its AVX2 ChaCha20 on x86_64 by default. Measured here:
    // after a thread ran it, that thread's SSE code (libm's sin in the GCJ-02 conversion)
    // ran about 10 times slower for the rest of the process, so an initial pull into an
    // encrypted store took 3x as long, and so did everything after it. SSSE3 has no such
    // after-effect. Process-wide; setting it again is a no-op. Phones (ARM: NEON) are not
    // affected; x86_64 emulators and QA desktops were.
    conn.pragma_update(None, "mc_chacha20_hwaccel", "ssse3")?;
    // "raw:" + 32 bytes: sqlite3mc uses them as the key itself, with no key derivation.
    let mut buf = Zeroizing::new(Vec::with_capacity(36));
    buf.extend_from_slice(b"raw:");
    buf.extend_from_slice(key.bytes());
    let len = std::os::raw::c_int::try_from(buf.len()).unwrap_or(36);
    // SAFETY: the handle is a live connection owned by `conn`; the buffer outlives the call
    // and its length is passed with it; sqlite3mc copies the key.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_key_v2(conn.handle(), c"main".as_ptr(), buf.as_ptr().cast(), len)
    };
    if rc == rusqlite::ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rc),
            Some("the database key could not be set".into()),
        ))
    }
}

/// What the first bytes of the database file say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Header {
    /// No file, or an empty one.
    Empty,
    /// An unencrypted SQLite database.
    Plain,
    /// Anything else: encrypted, or damaged.
    Other,
}

pub(crate) fn sniff(path: &Path) -> Result<Header> {
    use std::io::Read;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Header::Empty),
        Err(e) => return Err(e.into()),
    };
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(match n {
        0 => Header::Empty,
        16 if &head == PLAIN_HEADER => Header::Plain,
        _ => Header::Other,
    })
}

/// How [`crate::store::Store::open`] must treat the database, decided before SQLite touches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Open as it is: plain without a key, or encrypted with its (checked) key, or a new
    /// store created under the key.
    Open,
    /// A plain store opened with a key: migrate it first.
    Migrate,
}

/// Decides between opening, migrating and [`Error::Locked`]; reads the database only when
/// the sidecar cannot say whether it is encrypted.
pub(crate) fn plan(found: &SidecarState, key: Option<&DatabaseKey>, db: &Path) -> Result<Plan> {
    let recorded = match found {
        SidecarState::Present(s) => s.key_check.as_deref().map(|c| (s, c)),
        _ => None,
    };
    if let Some((s, check)) = recorded {
        return match key {
            None => Err(Error::Locked {
                reason: LockReason::KeyMissing,
            }),
            Some(k) if k.check_value(&s.store_id) != check => Err(Error::Locked {
                reason: LockReason::WrongKey,
            }),
            Some(_) => Ok(Plan::Open),
        };
    }
    let header = sniff(db)?;
    let sidecar_says_plain = matches!(found, SidecarState::Present(_));
    match (key, header) {
        (Some(_), Header::Plain) => Ok(Plan::Migrate),
        (Some(_), Header::Empty) => Ok(Plan::Open),
        // The sidecar says plain: an unreadable header is damage, found when it is read.
        (_, Header::Other) if sidecar_says_plain => Ok(Plan::Open),
        // No sidecar to say (lost, or a crash before a new encrypted store wrote it): the key
        // decides, and a key that does not open it is a lock, not damage.
        (Some(k), Header::Other) => {
            if key_opens(db, k)? {
                Ok(Plan::Open)
            } else {
                Err(Error::Locked {
                    reason: LockReason::WrongKey,
                })
            }
        }
        (None, Header::Other) if matches!(found, SidecarState::Unreadable) => Err(Error::Locked {
            reason: LockReason::KeyMissing,
        }),
        (None, _) => Ok(Plan::Open),
    }
}

/// Whether `key` reads the database at `db` (read-only; nothing is written).
fn key_opens(db: &Path, key: &DatabaseKey) -> Result<bool> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    apply_key(&conn, Some(key))?;
    match conn.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(true),
        Err(e) if crate::error::is_corruption(&e) => Ok(false),
        Err(e) => Err(Error::Storage(e)),
    }
}

fn remove_rekey_files(dir: &Path) -> Result<()> {
    let tmp = dir.join(REKEY_FILE);
    for suffix in std::iter::once("").chain(DB_COMPANIONS) {
        files::remove_if_exists(&with_suffix(&tmp, suffix))?;
    }
    Ok(())
}

/// Brings the files in line with the sidecar after a crash (the key was checked already):
/// finishes a committed swap (steps 4-5), or removes a new file built before the commit.
pub(crate) fn settle(dir: &Path, found: &SidecarState) -> Result<()> {
    match found {
        SidecarState::Present(s) if s.swap_pending => {
            let tmp = dir.join(REKEY_FILE);
            if tmp.exists() {
                swap_in(dir)?;
            }
            sidecar::write(
                dir,
                &Sidecar {
                    swap_pending: false,
                    ..s.clone()
                },
            )
        }
        _ => remove_rekey_files(dir),
    }
}

/// Step 4: the new file replaces the old database. The old WAL was checkpointed into the old
/// file and truncated before the commit, so removing it loses nothing; left in place it
/// would be replayed into the new file.
fn swap_in(dir: &Path) -> Result<()> {
    let db = dir.join(DB_FILE);
    for suffix in DB_COMPANIONS {
        files::remove_if_exists(&with_suffix(&db, suffix))?;
    }
    std::fs::rename(dir.join(REKEY_FILE), &db)?;
    files::sync_dir(dir);
    crate::sync::failpoint("rekey_swapped");
    Ok(())
}

/// Re-encrypts the store in `dir` from `old` (`None`: plain) to `new`, following the state
/// machine above. The caller has checked `old` against the sidecar and holds the directory
/// closed ([`registry::while_closed`]).
pub(crate) fn reencrypt(
    dir: &Path,
    found: &SidecarState,
    old: Option<&DatabaseKey>,
    new: &DatabaseKey,
) -> Result<()> {
    let db = dir.join(DB_FILE);
    let tmp = dir.join(REKEY_FILE);
    // Step 1.
    remove_rekey_files(dir)?;
    let src = Connection::open_with_flags(
        &db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    apply_key(&src, old)?;
    src.busy_timeout(std::time::Duration::from_secs(10))?;
    let outbox_rows = count_outbox(&src)?;
    let busy: i64 = src.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    if busy != 0 {
        // Another process is reading or writing: its WAL cannot be folded in safely.
        return Err(Error::StoreInUse { open_handles: 1 });
    }
    crate::sync::failpoint("rekey_checkpointed");
    // Step 2. Created owner-only and empty: VACUUM INTO accepts an empty file.
    files::private_options()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    let uri = Zeroizing::new(format!(
        "file:{}?cipher=chacha20&key=raw:{}",
        uri_path(&tmp),
        hex::encode(new.bytes())
    ));
    src.execute("VACUUM INTO ?1", [uri.as_str()])?;
    drop(src);
    keep_previous_photo_key(&tmp, old, new)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    files::restrict(&tmp)?;
    verify_new(&tmp, new, outbox_rows)?;
    crate::sync::failpoint("rekey_built");
    // Step 3: the commit point.
    let base = match found {
        SidecarState::Present(s) => s.clone(),
        _ => Sidecar {
            store_id: crate::domain::new_id(),
            schema_version: schema::CURRENT_VERSION,
            damaged: false,
            key_check: None,
            swap_pending: false,
        },
    };
    let committed = Sidecar {
        key_check: Some(new.check_value(&base.store_id)),
        swap_pending: true,
        ..base
    };
    sidecar::write(dir, &committed)?;
    crate::sync::failpoint("rekey_committed");
    // Steps 4 and 5.
    settle(dir, &SidecarState::Present(committed))
}

/// Writes the old key's photo key into the new database before it is committed: after the
/// commit point the app forgets the old key, while photos sealed under it are re-sealed
/// only afterwards; a kill in between must not leave them unreadable. The next open under
/// the new key finishes the re-seal and removes it ([`finish_photo_reseal`]).
fn keep_previous_photo_key(tmp: &Path, old: Option<&DatabaseKey>, new: &DatabaseKey) -> Result<()> {
    let Some(old) = old else { return Ok(()) };
    let conn = Connection::open_with_flags(tmp, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    apply_key(&conn, Some(new))?;
    let previous = crate::store::photos::PhotoKey::derive(old.bytes())?;
    crate::store::state::put(
        &conn,
        crate::store::state::keys::PREVIOUS_PHOTO_KEY,
        &previous.secret_hex().as_str(),
    )?;
    Ok(())
}

/// Brings every photo of the store under `key`: files sealed with the previous key a rekey
/// left in the database (see [`keep_previous_photo_key`]) and plain ones (a migrated plain
/// store) are re-sealed, then the previous key is dropped. Idempotent; runs at every keyed
/// open, before anything can read or send a photo.
pub(crate) fn finish_photo_reseal(
    store: &crate::store::Store,
    dir: &Path,
    key: &crate::store::photos::PhotoKey,
) -> Result<()> {
    use crate::store::photos::{self, PhotoKey};
    use crate::store::state::{self, keys};
    let previous = store
        .read(|c| state::get::<String>(c, keys::PREVIOUS_PHOTO_KEY))?
        .and_then(|h| PhotoKey::from_secret_hex(&h))
        .filter(|p| p.id() != key.id());
    let report = photos::reseal_all(dir, previous.as_ref(), key)?;
    if previous.is_none() && report.sealed == 0 {
        return Ok(());
    }
    crate::sync::failpoint("photos_resealed");
    store.write(|tx| state::delete(tx, keys::PREVIOUS_PHOTO_KEY))?;
    Ok(())
}

fn count_outbox(conn: &Connection) -> Result<i64> {
    let has_outbox: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'outbox')",
        [],
        |r| r.get(0),
    )?;
    if !has_outbox {
        return Ok(0);
    }
    Ok(conn.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?)
}

/// The new file opens under the new key, every page passes SQLite's check and it holds the
/// same outbox as the old one.
fn verify_new(tmp: &Path, key: &DatabaseKey, outbox_rows: i64) -> Result<()> {
    let conn = Connection::open_with_flags(tmp, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    apply_key(&conn, Some(key))?;
    let verdict: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
    if verdict != "ok" || count_outbox(&conn)? != outbox_rows {
        return Err(Error::Migration(
            "the re-encrypted copy does not match the store; the store is unchanged".into(),
        ));
    }
    Ok(())
}

/// A path as the file part of an SQLite URI: `%`, `?` and `#` would be read as escapes, the
/// query and the fragment.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3f"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

/// Changes the key of the store in `dir` from `old` to `new` (`old` `None`: migrates a
/// plain store). Refused with [`Error::StoreInUse`] while a handle of this process or a store
/// of another process has the directory open, with [`Error::Locked`] when `old` is not the
/// store's key. Crash-safe: see the state machine above.
pub fn rekey_store(dir: &Path, old: Option<&DatabaseKey>, new: &DatabaseKey) -> Result<()> {
    registry::while_closed(dir, || {
        let found = sidecar::read(dir)?;
        if found.damaged() {
            return Err(Error::StoreDamaged {
                damage: crate::error::StoreDamage::Unreadable,
            });
        }
        let db = dir.join(DB_FILE);
        match plan(&found, old, &db)? {
            // `old` is None on a plain store, or the checked key of an encrypted one.
            Plan::Open => {
                settle(dir, &found)?;
                if old.is_none() && sniff(&db)? == Header::Empty {
                    return Err(Error::NotFound {
                        kind: crate::error::NotFoundKind::Store,
                        id: "data_dir".into(),
                    });
                }
            }
            Plan::Migrate => {
                return Err(Error::invalid(
                    "old_key",
                    "the store is not encrypted: open it with the new key to migrate it",
                ));
            }
        }
        let found = sidecar::read(dir)?;
        reencrypt(dir, &found, old, new)?;
        after_db_rekey(dir, old, new)
    })
}

/// The step after the database carries the new key: the photo store re-seals its files
/// under the new key here (sealed photos). It runs after the database's commit point, so a
/// crash in it leaves a database under the new key and photos it must be able to re-seal
/// on the next call; the database part never depends on it.
fn after_db_rekey(dir: &Path, old: Option<&DatabaseKey>, new: &DatabaseKey) -> Result<()> {
    use crate::store::photos::{self, PhotoKey};
    let old = old.map(|k| PhotoKey::derive(k.bytes())).transpose()?;
    let new = PhotoKey::derive(new.bytes())?;
    if old.as_ref().map(PhotoKey::id) == Some(new.id()) {
        return Ok(());
    }
    photos::reseal_all(dir, old.as_ref(), &new).map(|_| ())
}
