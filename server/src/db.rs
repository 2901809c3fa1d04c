//! Queries every module shares: the pull feed (scopes, [`emit`]), workers' grids, meta;
//! and the private files of the SQLite default.

use std::path::Path;

use gridworker_model::wire::Change;

use crate::store::{OptionalExtension, Result, Tx};

/// Creates `dir` (and parents) readable by this user only, and tightens it if it exists.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Creates `path` empty with mode 0600 if it does not exist, and tightens it if it does.
/// SQLite gives its `-wal` and `-shm` files the mode of the database file.
pub fn private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(|_| ())
    }
}

/// Scope of a change visible to every worker of a grid.
pub fn grid_scope(code: &str) -> String {
    format!("g:{code}")
}

/// Scope of a change visible to every worker of the district (protocol 3 clients only: an
/// older client refuses a page with a change type it does not know).
pub fn district_scope() -> String {
    "d".to_string()
}

/// Scope of a change visible to one worker.
pub fn worker_scope(id: &str) -> String {
    format!("w:{id}")
}

/// Puts `change` in the feed for `scope`, replacing the previous change about the same
/// entity there (so the feed holds only the latest state of each item) under a new, higher
/// sequence number taken from the `changes` counter.
pub fn emit(
    tx: &Tx<'_>,
    scope: &str,
    entity: &str,
    exclude_worker: Option<&str>,
    change: &Change,
) -> Result<()> {
    let body =
        serde_json::to_string(change).map_err(|e| crate::store::Error::Encode(e.to_string()))?;
    let seq: i64 = tx.query_row(
        "UPDATE counters SET value = value + 1 WHERE name = 'changes' RETURNING value",
        (),
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO changes (seq, scope, entity, exclude_worker, body, min_protocol)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (scope, entity) DO UPDATE SET seq = excluded.seq,
             exclude_worker = excluded.exclude_worker, body = excluded.body,
             min_protocol = excluded.min_protocol",
        crate::params![
            seq,
            scope,
            entity,
            exclude_worker,
            body,
            change.since_protocol()
        ],
    )?;
    Ok(())
}

/// The highest change sequence ever issued (0 when none).
pub fn max_change_seq(tx: &Tx<'_>) -> Result<i64> {
    Ok(tx
        .query_row(
            "SELECT value FROM counters WHERE name = 'changes'",
            (),
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// The grids of a worker.
pub fn worker_grids(tx: &Tx<'_>, worker_id: &str) -> Result<Vec<String>> {
    let mut st = tx.prepare_cached(
        "SELECT grid_code FROM worker_grids WHERE worker_id = ?1 ORDER BY grid_code",
    )?;
    let rows = st.query_map([worker_id], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Workers responsible for a grid.
pub fn grid_workers(tx: &Tx<'_>, grid_code: &str) -> Result<Vec<String>> {
    let mut st = tx.prepare_cached("SELECT worker_id FROM worker_grids WHERE grid_code = ?1")?;
    let rows = st.query_map([grid_code], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Meta value.
pub fn meta(tx: &Tx<'_>, key: &str) -> Result<Option<String>> {
    tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}
