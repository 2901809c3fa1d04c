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
///
/// On PostgreSQL a transaction that has not drained the pending changes puts it in
/// `pending_changes` instead; it gets its number when drained ([`drain_feed`]), which every
/// pull does first. Taking the counter here would hold its row until the push commits.
pub fn emit(
    tx: &Tx<'_>,
    scope: &str,
    entity: &str,
    exclude_worker: Option<&str>,
    change: &Change,
) -> Result<()> {
    // What a phone would refuse stops that phone's pulls at this item for good: the admin
    // request (or push) that would write it is refused instead, naming the field.
    gridworker_model::feed_bounds::check_change(change)
        .map_err(crate::store::Error::OutOfBounds)?;
    let body =
        serde_json::to_string(change).map_err(|e| crate::store::Error::Encode(e.to_string()))?;
    let min_protocol = i64::from(change.since_protocol());
    if tx.feed_is_direct() {
        return emit_direct(tx, scope, entity, exclude_worker, &body, min_protocol);
    }
    tx.execute(
        "INSERT INTO pending_changes (scope, entity, exclude_worker, body, min_protocol)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        crate::params![scope, entity, exclude_worker, body, min_protocol],
    )?;
    Ok(())
}

/// Feed numbers a transaction reserves at a time. Updating the counter row once per change
/// made a transaction that writes many (seeding 100,000 households) quadratic on
/// PostgreSQL, whose every update of one row within a transaction adds a version to walk.
/// Numbers a transaction reserves and does not use are skipped: cursors need order, not
/// contiguity.
const SEQ_BLOCK: i64 = 256;

/// The next feed sequence number for this transaction (see [`SEQ_BLOCK`]).
pub(crate) fn next_seq(tx: &Tx<'_>) -> Result<i64> {
    if let Some(seq) = tx.take_feed_seq() {
        return Ok(seq);
    }
    let last: i64 = tx.query_row(
        "UPDATE counters SET value = value + ?1 WHERE name = 'changes' RETURNING value",
        [SEQ_BLOCK],
        |r| r.get(0),
    )?;
    tx.reserve_feed_seqs(last - SEQ_BLOCK + 1, last);
    tx.take_feed_seq()
        .ok_or(crate::store::Error::Internal("no feed number reserved"))
}

fn emit_direct(
    tx: &Tx<'_>,
    scope: &str,
    entity: &str,
    exclude_worker: Option<&str>,
    body: &str,
    min_protocol: i64,
) -> Result<()> {
    let seq = next_seq(tx)?;
    tx.execute(
        "INSERT INTO changes (seq, scope, entity, exclude_worker, body, min_protocol)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (scope, entity) DO UPDATE SET seq = excluded.seq,
             exclude_worker = excluded.exclude_worker, body = excluded.body,
             min_protocol = excluded.min_protocol",
        crate::params![seq, scope, entity, exclude_worker, body, min_protocol],
    )?;
    Ok(())
}

/// Gives the pending changes their numbers, in the order they were written, inside `tx`;
/// from then on `tx` writes the feed itself. A transaction that reads or rewrites `changes`
/// calls this first, so what it finds there is complete.
pub fn drain_pending(tx: &Tx<'_>) -> Result<()> {
    if tx.feed_is_direct() {
        return Ok(());
    }
    tx.set_feed_direct();
    if tx.is_postgres() {
        // The counter row before the pending rows, in the order drain_feed takes them: an
        // admin edit draining them itself the other way round (pending rows, then the
        // counter for their numbers) deadlocked with a periodic drain.
        tx.prepare("SELECT value FROM counters WHERE name = 'changes' FOR UPDATE")?
            .exists(())?;
    }
    type Pending = (i64, String, String, Option<String>, String, i64);
    let mut rows = tx
        .prepare(
            "DELETE FROM pending_changes
             RETURNING id, scope, entity, exclude_worker, body, min_protocol",
        )?
        .query_map((), |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<Result<Vec<Pending>>>()?;
    rows.sort_unstable_by_key(|r| r.0);
    for (_, scope, entity, exclude, body, min_protocol) in rows {
        emit_direct(tx, &scope, &entity, exclude.as_deref(), &body, min_protocol)?;
    }
    Ok(())
}

/// Drains the pending changes in a short transaction of its own (PostgreSQL; nothing to do
/// on SQLite). It holds the counter row while it runs, so drains take turns and numbers
/// follow commit order. `wait`: a pull waits for a drain in progress, so it sees everything
/// committed before it; the periodic drain skips when one is running.
pub fn drain_feed(db: &crate::store::Db, wait: bool) -> Result<()> {
    if !db.is_postgres() {
        return Ok(());
    }
    db.write(|tx| {
        let any: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM pending_changes)", (), |r| {
            r.get(0)
        })?;
        if !any {
            return Ok(());
        }
        let lock = if wait {
            "SELECT value FROM counters WHERE name = 'changes' FOR UPDATE"
        } else {
            "SELECT value FROM counters WHERE name = 'changes' FOR UPDATE SKIP LOCKED"
        };
        if !tx.prepare(lock)?.exists(())? {
            return Ok(());
        }
        drain_pending(tx)
    })
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

/// How often a node drains the pending changes when no pull does (PostgreSQL).
pub const DRAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Keeps `pending_changes` short between pulls (PostgreSQL): a rush of pushes leaves the
/// numbering to this loop instead of a transaction per push.
pub async fn drain_periodically(st: std::sync::Arc<crate::AppState>) {
    loop {
        tokio::time::sleep(DRAIN_EVERY).await;
        let st2 = st.clone();
        match tokio::task::spawn_blocking(move || drain_feed(&st2.db, false)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("feed drain failed: {e}"),
            Err(_) => tracing::error!("feed drain task failed"),
        }
    }
}
