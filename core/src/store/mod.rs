//! Local SQLite store: the only place a connection is opened, its pragmas set and its schema
//! migrated. One writer connection (behind a mutex) and one reader connection; WAL lets them
//! work side by side and lets another process (a background sync worker) share the file.

pub mod changes;
pub mod counts;
pub mod crypt;
pub mod file_lock;
pub mod files;
pub mod outbox;
pub mod photos;
pub mod records;
pub mod recover;
pub mod reference;
pub mod registry;
pub mod rejected_edits;
pub mod residents;
pub mod schema;
pub mod sidecar;
pub mod state;
pub mod sync_queries;
pub mod tracks;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{Error, Result, StoreDamage};
use crate::store::sidecar::SidecarState;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "gridworker.db";
/// SQLite's companions of a database file.
pub const DB_COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// How long a connection waits on another process's lock before SQLite gives up. Together
/// with the retry in [`Store::write`] this keeps `SQLITE_BUSY` from reaching callers.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const BUSY_RETRIES: u32 = 6;

/// The opened store.
pub struct Store {
    dir: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    /// The full check ([`Store::verify`]) passed on this handle; it runs once per open.
    verified: AtomicBool,
    /// What committed writes changed, for the app's observers.
    changes: Arc<changes::ChangeFeed>,
    /// Declared last: unregisters only after both connections are closed.
    _open: registry::Registration,
}

impl Drop for Store {
    fn drop(&mut self) {
        self.changes.close();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

fn is_busy(e: &Error) -> bool {
    matches!(e, Error::Storage(se) if matches!(
        se.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked)
    ))
}

/// Pragmas for every connection. `synchronous = FULL` because a field record is the only copy
/// of the evidence until it syncs: a committed record must survive power loss. Sync's bulk
/// writes stay cheap by batching many rows into one transaction, not by weakening this.
fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Android has no writable temp dir for SQLite (SQLITE_IOERR_GETTEMPPATH).
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "wal_autocheckpoint", 1000)?;
    conn.pragma_update(None, "journal_size_limit", 4 * 1024 * 1024)?;
    // Recording runs about a dozen statements per record; parsing them again each time cost
    // as much as executing them (measured). Room for those and the listings' queries.
    conn.set_prepared_statement_cache_capacity(64);
    // With the build's STAT4, binding a value to a range constraint (the cooldown query's
    // `recorded_at > ?2`) expires the statement and SQLite re-parses it on the next step:
    // 16 % of a check-in's time, measured with perf. The store never runs ANALYZE, so there
    // are no statistics a re-plan could use; the query planner stability guarantee keeps
    // each cached plan.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// The check every open pays for: the schema, and the queue's index walked to its end. Its
/// cost does not grow with the table pages (a scan of 100,000 pending entries made opening
/// 10x slower than an empty store); every page is checked by [`Store::verify`] before the
/// first sync of each open store, and damage met by any read or write is recorded.
fn cheap_check(conn: &Connection) -> Result<()> {
    conn.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })?;
    let has_outbox: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'outbox')",
        [],
        |r| r.get(0),
    )?;
    if has_outbox {
        conn.query_row(
            "SELECT COUNT(*) FROM outbox INDEXED BY outbox_state WHERE state = 'pending'",
            [],
            |r| r.get::<_, i64>(0),
        )?;
    }
    Ok(())
}

/// SQLite's structural check of every page (not the indexes' content).
fn quick_check(conn: &Connection) -> Result<()> {
    let verdict: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(Error::StoreDamaged {
            damage: StoreDamage::Unreadable,
        })
    }
}

/// Opens a connection, keys it before any other statement (`None`: a plain store) and reads
/// the schema, so a key that does not fit fails here and not at some later statement.
pub(crate) fn open_connection(
    path: &Path,
    key: Option<&crypt::DatabaseKey>,
) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    crypt::apply_key(&conn, key)?;
    conn.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })?;
    prepare(&conn)?;
    Ok(conn)
}

/// `path` with a suffix appended to its file name (`gridworker.db` -> `gridworker.db-wal`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn file_len(path: &Path) -> Result<Option<u64>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether the files where a store existed (per the sidecar) still hold one. A zero-byte
/// database is only damage when no WAL holds its pages either.
fn check_files_present(path: &Path) -> Result<()> {
    match file_len(path)? {
        None => Err(Error::StoreDamaged {
            damage: StoreDamage::Missing,
        }),
        Some(0) if file_len(&with_suffix(path, "-wal"))?.unwrap_or(0) == 0 => {
            Err(Error::StoreDamaged {
                damage: StoreDamage::Empty,
            })
        }
        Some(_) => Ok(()),
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir` and brings its schema up to date. With
    /// `key` the store is encrypted: a new store is created encrypted, a plain one is
    /// migrated first ([`crypt`] has the crash-safe state machine). An encrypted store opened
    /// without its key is refused with [`Error::Locked`] and left exactly as found.
    ///
    /// A database from a newer build is refused ([`Error::DatabaseTooNew`]). A damaged one
    /// (unreadable pages; missing or empty where the sidecar says a store existed) is refused
    /// with [`Error::StoreDamaged`] and left exactly as found: the app must run
    /// [`recover::recover_store`]. Nothing ever silently starts afresh over a lost store.
    pub fn open(dir: &Path, key: Option<&crypt::DatabaseKey>) -> Result<Store> {
        files::create_private_dir(dir)?;
        let path = dir.join(DB_FILE);
        let mut found = sidecar::read(dir)?;
        // Checked before anything is touched: a locked store is left exactly as found. Before
        // the damage verdict too: without the right key a store is locked, whatever else.
        let plan = crypt::plan(&found, key, &path)?;
        if found.damaged() {
            return Err(Error::StoreDamaged {
                damage: StoreDamage::Unreadable,
            });
        }
        if let (crypt::Plan::Migrate, Some(key)) = (plan, key) {
            registry::while_closed(dir, || {
                crypt::settle(dir, &found)?;
                crypt::reencrypt(dir, &found, None, key)
            })?;
            found = sidecar::read(dir)?;
        }
        let registration = registry::Registration::register(dir)?;
        // Read again under the lock: another process may have re-keyed, migrated or wiped the
        // store since the first read. Then the key is checked again (a key the store no
        // longer takes is a lock, not damage), and a plain store met now was never ours to
        // migrate halfway.
        let now = sidecar::read(dir)?;
        if now != found {
            found = now;
            if crypt::plan(&found, key, &path)? == crypt::Plan::Migrate {
                return Err(Error::StoreInUse { open_handles: 0 });
            }
            if found.damaged() {
                return Err(Error::StoreDamaged {
                    damage: StoreDamage::Unreadable,
                });
            }
        }
        crypt::settle(dir, &found)?;
        if let SidecarState::Present(s) = &found
            && s.swap_pending
        {
            found = sidecar::read(dir)?;
        }
        if found.store_existed() {
            check_files_present(&path)?;
        }
        if file_len(&path)?.is_none() {
            // SQLite gives its WAL and SHM the database file's mode: create it owner-only.
            files::private_options()
                .write(true)
                .create_new(true)
                .open(&path)?;
        } else {
            for p in std::iter::once(path.clone())
                .chain(DB_COMPANIONS.iter().map(|s| with_suffix(&path, s)))
            {
                files::restrict(&p)?;
            }
        }
        let store = Self::open_at(dir, &path, registration, key)?;
        sidecar::ensure(dir, &found, schema::CURRENT_VERSION, key)?;
        Ok(store)
    }

    fn open_at(
        dir: &Path,
        path: &Path,
        registration: registry::Registration,
        key: Option<&crypt::DatabaseKey>,
    ) -> Result<Store> {
        let mut writer = open_connection(path, key)?;
        let found: i64 = writer.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > schema::CURRENT_VERSION {
            return Err(Error::DatabaseTooNew {
                found,
                supported: schema::CURRENT_VERSION,
            });
        }
        cheap_check(&writer)?;
        schema::migrations().to_latest(&mut writer)?;
        let reader = open_connection(path, key)?;
        let changes = Arc::new(changes::ChangeFeed::default());
        changes.install(&writer);
        Ok(Store {
            dir: dir.to_path_buf(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            verified: AtomicBool::new(false),
            changes,
            _open: registration,
        })
    }

    /// What committed writes changed (observers).
    pub fn changes(&self) -> &Arc<changes::ChangeFeed> {
        &self.changes
    }

    fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no open transaction behind (it rolled back on
        // drop), so the connection is still sound.
        m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` in one IMMEDIATE transaction on the writer and commits it, retrying when another
    /// process holds the write lock. `f` may run more than once: it must not have side effects
    /// outside the transaction that a retry would repeat badly.
    pub fn write<T>(&self, f: impl FnMut(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = Self::lock(&self.writer);
        self.note_damage(Self::write_locked(&mut conn, f))
    }

    /// As [`Store::write`], for writes whose loss in a power cut the next sync repairs by
    /// itself: a pulled page together with its cursor (pulled again), acknowledgements the
    /// server repeats as `already_applied`. They commit with `synchronous = NORMAL`, still
    /// atomic and crash-safe, without one fsync each; the next durable commit syncs them too.
    /// Never use it for anything the worker recorded.
    pub fn write_recoverable<T>(&self, f: impl FnMut(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = Self::lock(&self.writer);
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let result = self.note_damage(Self::write_locked(&mut conn, f));
        // Restoring must not be skipped: the next user record relies on FULL.
        let restored = conn.pragma_update(None, "synchronous", "FULL");
        let value = result?;
        restored?;
        Ok(value)
    }

    fn write_locked<T>(
        conn: &mut Connection,
        mut f: impl FnMut(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            let result = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let value = f(&tx)?;
                tx.commit()?;
                Ok(value)
            })();
            match result {
                Err(e) if is_busy(&e) && attempt < BUSY_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(50 << attempt));
                }
                other => return other,
            }
        }
    }

    /// Runs `f` on the reader connection (a consistent snapshot for its duration when it
    /// opens a transaction itself; single statements are always consistent).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = Self::lock(&self.reader);
        self.note_damage(f(&conn))
    }

    /// Checks every page of the database (SQLite's `quick_check`), once per open store. Open
    /// reads only the schema and the queue ([`cheap_check`]): a full check there would make
    /// opening a store of 100,000 records about 30 times slower than an empty one. The sync
    /// engine runs this before it sends anything; recovery runs it to tell a healthy store.
    /// Damage found is recorded so that every later open refuses the store until recovered.
    pub fn verify(&self) -> Result<()> {
        if self.verified.load(Ordering::Acquire) {
            return Ok(());
        }
        let conn = Self::lock(&self.reader);
        self.note_damage(quick_check(&conn))?;
        self.verified.store(true, Ordering::Release);
        Ok(())
    }

    /// Records damage met by any read or write in the sidecar (best effort: the error the
    /// caller gets is the same either way), so the next open refuses the store instead of
    /// letting it run until the damaged page is touched again.
    fn note_damage<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(Error::StoreDamaged { .. }) = &result
            && let Err(e) = sidecar::mark_damaged(&self.dir, schema::CURRENT_VERSION)
        {
            log::warn!("could not record store damage in the sidecar: {e}");
        }
        result
    }
}
