//! Salvaging a damaged store into a fresh one.
//!
//! SQLite's recovery extension is not in the bundled amalgamation, so this does the equivalent
//! by hand: every table of the current schema is copied row by row, walking rowids; a page
//! that cannot be read is stepped over by seeking past it, a row that cannot be read is
//! counted and skipped. Rows keep their rowid and every column verbatim, so outbox sequence
//! numbers, mutation ids and the hash chain are exactly as they were and the server sees the
//! same mutations again (acknowledged as already applied, never stored twice).
//!
//! Crash safety: the new store is built beside the old one (`gridworker.db.recovering`), then
//! the damaged file is renamed to a kept name and the new one into place. A crash before the
//! first rename leaves the damaged store in place (run recover again); between the renames,
//! the complete new store is found and moved into place by the next recover.

use std::path::{Path, PathBuf};

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params_from_iter};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, is_corruption};
use crate::store::crypt::{self, DatabaseKey};
use crate::store::sidecar::{self, SidecarState};
use crate::store::{DB_COMPANIONS, DB_FILE, Store, files, registry, schema, with_suffix};

/// Name prefix of a damaged database kept for support (`gridworker.db.damaged-<UTC stamp>`).
pub const DAMAGED_PREFIX: &str = "gridworker.db.damaged-";
/// Where the new store is built before it replaces the damaged one.
pub const RECOVERING_FILE: &str = "gridworker.db.recovering";

/// What a recovery salvaged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryReport {
    /// The worker's records (outbox entries: check-ins, visits, reports, task updates) now in
    /// the new store.
    pub recovered: u64,
    /// The worker's records that could not be read: rows seen but unreadable, plus the
    /// sequence numbers missing between readable ones (an upper bound).
    pub lost: u64,
    /// Other rows (record details, reference data, device state) copied and lost.
    pub other_rows_recovered: u64,
    pub other_rows_lost: u64,
    /// Tables in which something could not be read.
    pub damaged_tables: Vec<String>,
    /// The damaged database, kept (owner-only) for support; `None` when there was no file to
    /// keep (the database was missing) or nothing was damaged.
    pub kept_at: Option<PathBuf>,
    /// The store opened cleanly: nothing was changed.
    pub was_healthy: bool,
}

/// Salvages every readable record and outbox entry of the store in `dir` into a fresh store,
/// keeps the damaged file, and reports counts. Refused ([`Error::StoreInUse`]) while a
/// `GridWorker` of this process or a store of another process has the directory open. On a
/// healthy store it changes nothing.
///
/// `key` is the store's key (`None` for a plain store); the new store is encrypted under it
/// (a plain store recovered with a key comes out encrypted). A missing or wrong key is
/// [`Error::Locked`] and nothing is moved aside.
pub fn recover_store(dir: &Path, key: Option<&DatabaseKey>) -> Result<RecoveryReport> {
    // The full check, not only open's cheap one: damage anywhere counts.
    match Store::open(dir, key).and_then(|store| store.verify().map(|()| store)) {
        Ok(store) => {
            let recovered = store.read(|c| {
                Ok(c.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))?)
            })?;
            return Ok(RecoveryReport {
                recovered: u64::try_from(recovered).unwrap_or(0),
                was_healthy: true,
                ..RecoveryReport::default()
            });
        }
        Err(Error::StoreDamaged { .. }) => {}
        Err(e) => return Err(e),
    }
    registry::while_closed(dir, || salvage_dir(dir, key))
}

fn salvage_dir(dir: &Path, key: Option<&DatabaseKey>) -> Result<RecoveryReport> {
    let db = dir.join(DB_FILE);
    let building = dir.join(RECOVERING_FILE);
    let found = sidecar::read(dir)?;
    // The damaged file is read under the key only if it was encrypted (the key was checked
    // against the sidecar by the open above); the new store is written under the key.
    let src_key = match &found {
        SidecarState::Present(s) if s.key_check.is_some() => key,
        _ if crypt::sniff(&db)? == crypt::Header::Plain => None,
        _ => key,
    };
    let db_exists = db.exists();
    if !db_exists && building.exists() {
        // A previous recovery finished building and crashed before moving it into place.
        std::fs::rename(&building, &db)?;
        files::sync_dir(dir);
        sidecar::ensure(dir, &found, schema::CURRENT_VERSION, key)?;
        let mut report = count_only(&db, key)?;
        report.kept_at = newest_kept(dir);
        return Ok(report);
    }
    for suffix in std::iter::once("").chain(DB_COMPANIONS) {
        files::remove_if_exists(&with_suffix(&building, suffix))?;
    }
    let mut report = RecoveryReport::default();
    {
        let dst = create_fresh(&building, key)?;
        if db_exists {
            salvage(&db, src_key, &dst, &mut report)?;
        }
        dst.close().map_err(|(_, e)| Error::from(e))?;
    }
    report.kept_at = keep_damaged(dir, &db)?;
    std::fs::rename(&building, &db)?;
    files::sync_dir(dir);
    // A sidecar that could not be read is replaced; a readable one keeps its store id.
    let found = match found {
        SidecarState::Unreadable => SidecarState::Absent,
        other => other,
    };
    sidecar::ensure(dir, &found, schema::CURRENT_VERSION, key)?;
    Ok(report)
}

fn count_only(db: &Path, key: Option<&DatabaseKey>) -> Result<RecoveryReport> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    crypt::apply_key(&conn, key)?;
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
    Ok(RecoveryReport {
        recovered: u64::try_from(n).unwrap_or(0),
        ..RecoveryReport::default()
    })
}

fn newest_kept(dir: &Path) -> Option<PathBuf> {
    let mut kept: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(DAMAGED_PREFIX) && !n.ends_with("-wal"))
        })
        .collect();
    kept.sort();
    kept.pop()
}

/// An empty store with the current schema, in rollback-journal mode so that closing it
/// leaves one self-contained file to rename (the next open switches it to WAL).
fn create_fresh(path: &Path, key: Option<&DatabaseKey>) -> Result<Connection> {
    files::private_options()
        .write(true)
        .create_new(true)
        .open(path)?;
    let mut conn = Connection::open(path)?;
    crypt::apply_key(&conn, key)?;
    // Salvaged rows may point at rows that were lost (a report's photo list without its
    // photo row), and tables are copied one by one: a reference check would refuse rows
    // that can be read. The store's own connections check references again from then on.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    schema::migrations().to_latest(&mut conn)?;
    Ok(conn)
}

/// Renames the damaged database and its companions to a kept, owner-only name.
fn keep_damaged(dir: &Path, db: &Path) -> Result<Option<PathBuf>> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let kept = dir.join(format!("{DAMAGED_PREFIX}{stamp}"));
    let mut any = false;
    for suffix in std::iter::once("").chain(DB_COMPANIONS) {
        let from = with_suffix(db, suffix);
        if from.exists() {
            let to = with_suffix(&kept, suffix);
            std::fs::rename(&from, &to)?;
            files::restrict(&to)?;
            any |= suffix.is_empty();
        }
    }
    Ok(any.then_some(kept))
}

/// Copies what can be read of `src_path` into `dst` (one transaction).
fn salvage(
    src_path: &Path,
    key: Option<&DatabaseKey>,
    dst: &Connection,
    report: &mut RecoveryReport,
) -> Result<()> {
    let src = match Connection::open_with_flags(
        src_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .and_then(|c| crypt::apply_key(&c, key).map(|()| c))
    {
        Ok(c) => c,
        Err(e) if is_corruption(&e) => return Ok(()),
        Err(e) => return Err(Error::Storage(e)),
    };
    let tables = table_names(dst)?;
    dst.execute_batch("BEGIN IMMEDIATE")?;
    for table in &tables {
        // A full-text index's own tables: the rows copied into the index rebuild them.
        if table_kind(dst, table)? == "shadow" {
            continue;
        }
        let columns = common_columns(&src, dst, table);
        let Some(columns) = columns else {
            report.damaged_tables.push(table.clone());
            continue;
        };
        let t = copy_table(&src, dst, table, &columns)?;
        if t.damaged {
            report.damaged_tables.push(table.clone());
        }
        if table == "outbox" {
            report.recovered = t.copied;
            let head = old_sequence(&src).unwrap_or(t.max_rowid);
            // Sequence numbers after the last readable one, up to the recorded head.
            let tail = u64::try_from(head.saturating_sub(t.max_rowid)).unwrap_or(0);
            report.lost = t.lost.saturating_add(tail);
            // Never reuse a sequence number the damaged store may have handed out.
            dst.execute(
                "UPDATE sqlite_sequence SET seq = MAX(seq, ?1) WHERE name = 'outbox'",
                [head],
            )?;
        } else {
            report.other_rows_recovered = report.other_rows_recovered.saturating_add(t.copied);
            report.other_rows_lost = report.other_rows_lost.saturating_add(t.lost);
        }
    }
    dst.execute_batch("COMMIT")?;
    Ok(())
}

fn table_names(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let names = stmt.query_map([], |r| r.get(0))?;
    Ok(names.collect::<rusqlite::Result<_>>()?)
}

fn columns_of(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info(\"{table}\")"))?;
    let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
    names.collect()
}

/// Columns of `table` present in both stores; `None` when the damaged schema cannot say.
fn common_columns(src: &Connection, dst: &Connection, table: &str) -> Option<Vec<String>> {
    let theirs = columns_of(src, table).ok()?;
    let ours = columns_of(dst, table).ok()?;
    let common: Vec<String> = ours.into_iter().filter(|c| theirs.contains(c)).collect();
    (!common.is_empty()).then_some(common)
}

/// The outbox's AUTOINCREMENT head in the damaged store, if readable.
fn old_sequence(src: &Connection) -> Option<i64> {
    src.query_row(
        "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'",
        [],
        |r| r.get(0),
    )
    .optional()
    .ok()
    .flatten()
}

#[derive(Debug, Default)]
struct TableSalvage {
    copied: u64,
    lost: u64,
    max_rowid: i64,
    damaged: bool,
}

/// Whether `table` has no rowid to walk (`WITHOUT ROWID`: small tables of derived state,
/// such as the households waiting for their search documents).
fn without_rowid(conn: &Connection, table: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1")?
        .query_row([table], |r| r.get::<_, bool>(0))
        .optional()?
        .unwrap_or(false))
}

/// `table`, `virtual` or `shadow` (a virtual table's own storage).
fn table_kind(conn: &Connection, table: &str) -> Result<String> {
    Ok(conn
        .prepare_cached("SELECT type FROM pragma_table_list WHERE schema = 'main' AND name = ?1")?
        .query_row([table], |r| r.get::<_, String>(0))
        .optional()?
        .unwrap_or_default())
}

/// Copies a table without rowids in one read: row by row as far as it can be read, the
/// rest counted as damaged (its rows have no numbers to count as lost).
fn copy_whole(
    src: &Connection,
    dst: &Connection,
    table: &str,
    columns: &[String],
) -> Result<TableSalvage> {
    let list = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let marks = vec!["?"; columns.len()].join(", ");
    let write_sql = format!("INSERT OR IGNORE INTO \"{table}\" ({list}) VALUES ({marks})");
    let mut out = TableSalvage::default();
    let Ok(mut read) = src.prepare(&format!("SELECT {list} FROM \"{table}\"")) else {
        out.damaged = true;
        return Ok(out);
    };
    let Ok(mut rows) = read.query([]) else {
        out.damaged = true;
        return Ok(out);
    };
    loop {
        match rows.next() {
            Ok(Some(r)) => {
                let values: rusqlite::Result<Vec<Value>> =
                    (0..columns.len()).map(|i| r.get::<_, Value>(i)).collect();
                let Ok(values) = values else {
                    out.damaged = true;
                    break;
                };
                let n = dst
                    .prepare_cached(&write_sql)?
                    .execute(params_from_iter(values))?;
                out.copied = out.copied.saturating_add(n as u64);
            }
            Ok(None) => break,
            Err(_) => {
                out.damaged = true;
                break;
            }
        }
    }
    Ok(out)
}

/// The first rowid at or after `from` whose page can be reached; `Err` when the seek itself
/// runs into a damaged page.
fn next_rowid(src: &Connection, table: &str, from: i64) -> rusqlite::Result<Option<i64>> {
    src.query_row(
        &format!("SELECT rowid FROM \"{table}\" WHERE rowid >= ?1 ORDER BY rowid LIMIT 1"),
        [from],
        |r| r.get(0),
    )
    .optional()
}

/// After a failed seek at `from`, the smallest rowid past the damage where seeking works
/// again: exponential steps to get past it, then bisection back to its edge. `None` when
/// nothing past `from` can be reached.
fn skip_damage(src: &Connection, table: &str, from: i64) -> Option<i64> {
    let mut bad = from;
    let mut good = None;
    let mut step: i64 = 1;
    while let Some(probe) = from.checked_add(step) {
        if next_rowid(src, table, probe).is_ok() {
            good = Some(probe);
            break;
        }
        bad = probe;
        step = step.checked_mul(2)?;
    }
    let mut good = good?;
    while good.checked_sub(bad).is_some_and(|d| d > 1) {
        let mid = bad + (good - bad) / 2;
        if next_rowid(src, table, mid).is_ok() {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Some(good)
}

fn copy_table(
    src: &Connection,
    dst: &Connection,
    table: &str,
    columns: &[String],
) -> Result<TableSalvage> {
    if without_rowid(dst, table)? {
        return copy_whole(src, dst, table, columns);
    }
    let list = columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let marks = vec!["?"; columns.len() + 1].join(", ");
    let read_sql = format!("SELECT {list} FROM \"{table}\" WHERE rowid = ?1");
    let write_sql = format!("INSERT OR IGNORE INTO \"{table}\" (rowid, {list}) VALUES ({marks})");
    let mut out = TableSalvage::default();
    // Rowids in this schema are positive (assigned from 1); gaps are counted from 0.
    let mut last_good: i64 = 0;
    let mut from: i64 = 0;
    loop {
        let rowid = match next_rowid(src, table, from) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(_) => {
                out.damaged = true;
                match skip_damage(src, table, from) {
                    Some(past) => {
                        match next_rowid(src, table, past) {
                            Ok(Some(r)) => {
                                // Rowids between the last readable row and this one were on
                                // the damaged page(s), if they existed at all.
                                let gap = r.saturating_sub(last_good).saturating_sub(1);
                                out.lost = out.lost.saturating_add(u64::try_from(gap).unwrap_or(0));
                                r
                            }
                            _ => break,
                        }
                    }
                    None => break,
                }
            }
        };
        let row: rusqlite::Result<Vec<Value>> = src.query_row(&read_sql, [rowid], |r| {
            (0..columns.len()).map(|i| r.get::<_, Value>(i)).collect()
        });
        match row {
            Ok(values) => {
                let params = std::iter::once(Value::Integer(rowid)).chain(values);
                let n = dst
                    .prepare_cached(&write_sql)?
                    .execute(params_from_iter(params))?;
                out.copied = out.copied.saturating_add(n as u64);
            }
            Err(_) => {
                out.damaged = true;
                out.lost = out.lost.saturating_add(1);
            }
        }
        last_good = rowid;
        out.max_rowid = out.max_rowid.max(rowid);
        match rowid.checked_add(1) {
            Some(next) => from = next,
            None => break,
        }
    }
    Ok(out)
}
