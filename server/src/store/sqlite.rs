//! The SQLite backend: one writer connection (writes are serialised, so no writer ever sees
//! `SQLITE_BUSY` from another) and a small pool of readers; WAL lets them run side by side.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Transaction};

use super::checkpoint::Checkpointer;
use super::{Attempt, Error, Row, Tx, TxInner, Value};
use crate::db::{private_dir, private_file};

/// The first SQLite schema. Written with `IF NOT EXISTS` because data directories made before
/// migrations were versioned hold it at `user_version` 0.
#[doc(hidden)]
pub const V1: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workers (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS worker_grids (
    worker_id TEXT NOT NULL, grid_code TEXT NOT NULL, PRIMARY KEY (worker_id, grid_code));
CREATE TABLE IF NOT EXISTS grids (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, crs TEXT NOT NULL, ring TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    id TEXT PRIMARY KEY, grid_code TEXT NOT NULL, name TEXT NOT NULL, crs TEXT NOT NULL,
    lat REAL NOT NULL, lon REAL NOT NULL, radius_m REAL NOT NULL);
CREATE TABLE IF NOT EXISTS households (
    id TEXT PRIMARY KEY, grid_code TEXT NOT NULL, building TEXT NOT NULL, address TEXT NOT NULL,
    crs TEXT NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL, tags TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY, head_seq INTEGER NOT NULL, head_hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mutations (
    mutation_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    device_time TEXT NOT NULL,
    monotonic_ms INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    status TEXT NOT NULL,
    reason_code TEXT,
    reason_message TEXT,
    chain_break INTEGER NOT NULL,
    expected_prev TEXT,
    server_flags TEXT NOT NULL,
    received_at TEXT NOT NULL);
-- One secondary index: a mutation a device held back arrives below the head and is linked
-- to its stored neighbours by (device, seq). The admin views that filter by kind are rare
-- QA reads and scan.
CREATE INDEX IF NOT EXISTS mutations_device_seq ON mutations (device_id, seq);
CREATE TABLE IF NOT EXISTS reports (
    id TEXT PRIMARY KEY, worker_id TEXT NOT NULL, grid_code TEXT, category TEXT NOT NULL,
    description TEXT NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL, status TEXT NOT NULL,
    department TEXT, note TEXT, evaluation TEXT, created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, worker_id TEXT NOT NULL, title TEXT NOT NULL,
    description TEXT NOT NULL, crs TEXT, lat REAL, lon REAL, address TEXT, due_at TEXT,
    linked_report_id TEXT, status TEXT NOT NULL, dispatched_at TEXT NOT NULL,
    updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS photos (
    sha256 TEXT PRIMARY KEY, length INTEGER NOT NULL, media_type TEXT NOT NULL,
    complete INTEGER NOT NULL, completed_at TEXT);
-- The pull feed: the latest change per (scope, entity). Replacing a row gives it a new,
-- higher seq, so a cursor sees every item's latest state exactly once.
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,
    entity TEXT NOT NULL,
    exclude_worker TEXT,
    body TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS changes_entity ON changes (scope, entity);
CREATE INDEX IF NOT EXISTS changes_scope ON changes (scope, seq);
"#;

/// Device binding, device-scoped mutation ids, refusals that store no record, photo
/// ownership. Also withholds what earlier versions kept of payloads that were refused as
/// invalid (they may hold residents' data the server never accepted).
const V2: &str = r#"
CREATE TABLE device_bindings (
    device_id TEXT PRIMARY KEY, worker_id TEXT NOT NULL, bound_at TEXT NOT NULL);
-- The worker of a device's earliest mutation is the one that first used it.
INSERT OR IGNORE INTO device_bindings (device_id, worker_id, bound_at)
    SELECT device_id, worker_id, MIN(received_at) FROM mutations GROUP BY device_id;
CREATE TABLE mutations_v2 (
    device_id TEXT NOT NULL,
    mutation_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    device_time TEXT NOT NULL,
    monotonic_ms INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    status TEXT NOT NULL,
    reason_code TEXT,
    reason_message TEXT,
    chain_break INTEGER NOT NULL,
    expected_prev TEXT,
    server_flags TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (device_id, mutation_id));
INSERT INTO mutations_v2 (device_id, mutation_id, worker_id, seq, kind, record_id, payload,
        device_time, monotonic_ms, prev_hash, hash, status, reason_code, reason_message,
        chain_break, expected_prev, server_flags, received_at)
    SELECT device_id, mutation_id, worker_id, seq, kind, record_id,
        CASE WHEN status = 'rejected'
                  AND reason_code IN ('invalid_payload', 'unknown_kind', 'hash_mismatch')
             THEN '' ELSE payload END,
        device_time, monotonic_ms, prev_hash, hash, status, reason_code,
        CASE WHEN reason_code IN ('invalid_payload', 'unknown_kind')
             THEN 'the payload is not a valid record of its kind (details withheld)'
             ELSE reason_message END,
        chain_break, expected_prev, server_flags, received_at
    FROM mutations;
DROP TABLE mutations;
ALTER TABLE mutations_v2 RENAME TO mutations;
-- A record id is held by the mutation that applied it.
CREATE INDEX mutations_record ON mutations (kind, record_id);
-- Per-mutation refusals that store no mutation (so they squat no id and move no head).
CREATE TABLE refusals (
    id INTEGER PRIMARY KEY, device_id TEXT NOT NULL, worker_id TEXT NOT NULL,
    mutation_id TEXT NOT NULL, code TEXT NOT NULL, received_at TEXT NOT NULL);
-- Workers that uploaded or cited a photo: only they may read its upload state.
CREATE TABLE photo_refs (
    sha256 TEXT NOT NULL, worker_id TEXT NOT NULL, PRIMARY KEY (sha256, worker_id))
    WITHOUT ROWID;
INSERT OR IGNORE INTO photo_refs (sha256, worker_id)
    SELECT json_extract(j.value, '$.sha256'), m.worker_id
    FROM mutations m,
         json_each(CASE WHEN json_valid(m.payload) THEN m.payload ELSE '{}' END, '$.photos') j
    WHERE m.kind IN ('report', 'task_completion')
      AND json_extract(j.value, '$.sha256') IS NOT NULL;
-- Partial uploads belong to the worker and device that started them.
CREATE TABLE partial_uploads (
    sha256 TEXT NOT NULL, worker_id TEXT NOT NULL, device_id TEXT NOT NULL,
    length INTEGER NOT NULL, media_type TEXT NOT NULL, file TEXT NOT NULL,
    started_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (sha256, worker_id, device_id));
CREATE INDEX partial_uploads_age ON partial_uploads (updated_at);
-- Unowned partials of earlier versions: their files are swept as orphans.
DELETE FROM photos WHERE complete = 0;
"#;

/// Patrol sessions and tracks (protocol 3). A block's fixes are kept here, in their compact
/// encoding; its mutation row keeps no copy of the payload (the hash commits to it).
const V3: &str = r#"
CREATE TABLE patrol_events (
    id TEXT PRIMARY KEY, worker_id TEXT NOT NULL, device_id TEXT NOT NULL,
    session_id TEXT NOT NULL, event TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX patrol_events_worker ON patrol_events (worker_id, at);
CREATE TABLE track_blocks (
    id TEXT PRIMARY KEY, worker_id TEXT NOT NULL, device_id TEXT NOT NULL,
    session_id TEXT NOT NULL, t_from INTEGER NOT NULL, t_to INTEGER NOT NULL,
    fixes INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX track_blocks_worker ON track_blocks (worker_id, t_from);
"#;

/// Residents and household profiles (protocol 4): versions, the history of every field
/// change (the merge's bases), conflicts, the district's key groups. Feed rows carry the
/// protocol version a client needs to understand them.
const V4: &str = r#"
ALTER TABLE changes ADD COLUMN min_protocol INTEGER NOT NULL DEFAULT 1;
UPDATE changes SET min_protocol = 3 WHERE entity = 'report_catalog';
ALTER TABLE households ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';
ALTER TABLE households ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
CREATE TABLE residents (
    id TEXT PRIMARY KEY, household_id TEXT NOT NULL, data TEXT NOT NULL,
    version INTEGER NOT NULL, created_by TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX residents_household ON residents (household_id);
CREATE INDEX residents_id_number ON residents (json_extract(data, '$.id_number'));
-- One row per field per stored change: what it was before (the base of an edit made on an
-- older version), what it became, who changed it (and from which device) and how.
CREATE TABLE field_history (
    entity TEXT NOT NULL, entity_id TEXT NOT NULL, field TEXT NOT NULL, version INTEGER NOT NULL,
    old TEXT NOT NULL, new TEXT NOT NULL, actor TEXT NOT NULL, device_id TEXT,
    source TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (entity, entity_id, field, version)) WITHOUT ROWID;
CREATE TABLE conflicts (
    id TEXT PRIMARY KEY, entity TEXT NOT NULL, entity_id TEXT NOT NULL, field TEXT NOT NULL,
    status TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL);
-- At most one open conflict per field: a later clash on it updates that one.
CREATE UNIQUE INDEX conflicts_open ON conflicts (entity, entity_id, field) WHERE status = 'open';
CREATE INDEX conflicts_status ON conflicts (status, created_at);
CREATE TABLE key_groups (code TEXT PRIMARY KEY, name TEXT NOT NULL, ord INTEGER NOT NULL);
"#;

/// The pull feed's sequence as a counter row, as on PostgreSQL: the transaction that takes a
/// number holds the row until it commits, so numbers become visible in the order they were
/// taken and a cursor never skips a change committed late.
const V5: &str = r#"
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO counters (name, value)
    SELECT 'changes', COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0);
"#;

/// Photos in an object store: an upload's offset is the database's (`received`), moved in
/// the transaction that records the part it covers. Partials of the previous release were
/// files whose length was the offset; their devices start them again from zero.
const V6: &str = r#"
ALTER TABLE partial_uploads ADD COLUMN received INTEGER NOT NULL DEFAULT 0;
DELETE FROM partial_uploads;
CREATE TABLE photo_parts (
    sha256 TEXT NOT NULL, worker_id TEXT NOT NULL, device_id TEXT NOT NULL,
    start_offset INTEGER NOT NULL, length INTEGER NOT NULL, object TEXT NOT NULL,
    PRIMARY KEY (sha256, worker_id, device_id, start_offset));
"#;

/// The (device, seq) index V2 lost when it rebuilt `mutations` (PostgreSQL has had it all
/// along): without it the handshake's last seq and holes, and a late link's predecessor, read
/// every mutation of the device.
const V7: &str = r#"
CREATE INDEX IF NOT EXISTS mutations_device_seq ON mutations (device_id, seq);
"#;

fn migrations() -> rusqlite_migration::Migrations<'static> {
    use rusqlite_migration::M;
    rusqlite_migration::Migrations::new(vec![
        M::up(V1),
        M::up(V2),
        M::up(V3),
        M::up(V4),
        M::up(V5),
        M::up(V6),
        M::up(V7),
    ])
}

pub(super) struct SqliteDb {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Dropped last: its connection, the last one closed, checkpoints what is left.
    checkpoints: Checkpointer,
}

fn open_conn(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(30))?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    // The server acknowledges a push only after commit: it must survive a power cut.
    c.pragma_update(None, "synchronous", "FULL")?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    // Checkpoints run on their own thread, not inside a commit (see checkpoint.rs).
    c.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(c)
}

impl SqliteDb {
    /// Opens (creating if needed) `server.sqlite` in `data_dir`, migrated to the latest
    /// version.
    pub(super) fn open(data_dir: &Path) -> Result<SqliteDb, Error> {
        private_dir(data_dir)?;
        let path = data_dir.join("server.sqlite");
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let p = PathBuf::from(p);
            if suffix.is_empty() || p.exists() {
                private_file(&p)?;
            }
        }
        let mut writer = open_conn(&path)?;
        // Deleted and replaced rows (feed bodies, withheld payloads) are zeroed in place
        // rather than left readable in free space.
        writer.pragma_update(None, "secure_delete", "FAST")?;
        migrations()
            .to_latest(&mut writer)
            .map_err(|e| Error::Migration(e.to_string()))?;
        let checkpoints = Checkpointer::start(open_conn(&path)?)?;
        Ok(SqliteDb {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            checkpoints,
        })
    }

    pub(super) fn version(&self) -> Result<i64, Error> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    pub(super) fn write<T, E>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<Result<T, E>, Attempt<E>> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| Attempt::Failed(e.into()))?;
        let tx = Tx {
            inner: TxInner::Sqlite(tx),
            direct_feed: std::cell::Cell::new(true),
            feed_seqs: Default::default(),
            exists: Default::default(),
        };
        let out = f(&tx);
        let TxInner::Sqlite(tx) = tx.inner else {
            return Err(Attempt::Failed(Error::Internal(
                "transaction of the other backend",
            )));
        };
        match out {
            Ok(v) => {
                tx.commit().map_err(|e| Attempt::Failed(e.into()))?;
                self.checkpoints.nudge();
                Ok(Ok(v))
            }
            // Dropping the transaction rolls it back.
            Err(e) => Ok(Err(e)),
        }
    }

    pub(super) fn read<T, E>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Error>,
    {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => open_conn(&self.path).map_err(Error::from)?,
        };
        let out = {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Deferred)
                .map_err(Error::from)?;
            let tx = Tx {
                inner: TxInner::Sqlite(tx),
                direct_feed: std::cell::Cell::new(true),
                feed_seqs: Default::default(),
                exists: Default::default(),
            };
            // A read transaction has nothing to keep: dropping it rolls back and releases
            // the snapshot.
            f(&tx)
        };
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }
}

fn bind(values: &[Value]) -> Vec<rusqlite::types::Value> {
    values
        .iter()
        .map(|v| match v {
            Value::Null => rusqlite::types::Value::Null,
            Value::Int(i) => rusqlite::types::Value::Integer(*i),
            Value::Real(f) => rusqlite::types::Value::Real(*f),
            Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
            Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
        })
        .collect()
}

pub(super) fn execute(tx: &Transaction<'_>, sql: &str, params: Vec<Value>) -> Result<usize, Error> {
    let mut st = tx.prepare_cached(sql)?;
    Ok(st.execute(rusqlite::params_from_iter(bind(&params)))?)
}

pub(super) fn insert_rows(
    tx: &Transaction<'_>,
    table: &str,
    columns: &[&str],
    values: Vec<Value>,
) -> Result<(), Error> {
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        marks.join(", ")
    );
    let mut st = tx.prepare_cached(&sql)?;
    for row in values.chunks(columns.len()) {
        st.execute(rusqlite::params_from_iter(bind(row)))?;
    }
    Ok(())
}

pub(super) fn rows(tx: &Transaction<'_>, sql: &str, params: Vec<Value>) -> Result<Vec<Row>, Error> {
    let mut st = tx.prepare_cached(sql)?;
    let n = st.column_count();
    let mut rows = st.query(rusqlite::params_from_iter(bind(&params)))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(match r.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::Int(i),
                ValueRef::Real(f) => Value::Real(f),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
            });
        }
        out.push(Row { values });
    }
    Ok(out)
}
