//! Patrol events and track blocks (issue 13): the SQL of `worker/track.rs`.

use chrono::{DateTime, Utc};
use gridworker_model::domain::{PatrolEventKind, PatrolEventPayload, TrackBlockPayload};
use gridworker_model::validate;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::domain::new_id;
use crate::error::{Error, Result, StoreDamage};
use crate::store::outbox::{self, kind};

/// The last patrol event: (session id, kind, when).
pub fn last_event(conn: &Connection) -> Result<Option<(String, String, DateTime<Utc>)>> {
    Ok(conn
        .query_row(
            "SELECT session_id, kind, at FROM patrol_events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

pub fn add_event(conn: &Connection, session_id: &str, kind: &str, at: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "INSERT INTO patrol_events(session_id, kind, at) VALUES (?1, ?2, ?3)",
        params![session_id, kind, at],
    )?;
    Ok(())
}

/// A stored block as the ingest sees it.
pub struct BlockRow {
    pub id: i64,
    pub t_from: i64,
    pub t_to: i64,
    pub fixes: usize,
    pub data: Vec<u8>,
}

/// The session's newest block, while it is open (not in the outbox yet): a sealed block
/// never changes.
pub fn open_block(conn: &Connection, session_id: &str) -> Result<Option<BlockRow>> {
    Ok(conn
        .query_row(
            "SELECT id, t_from, t_to, fixes, data FROM track_blocks
             WHERE session_id = ?1 AND outbox_seq IS NULL
             ORDER BY id DESC LIMIT 1",
            [session_id],
            |r| {
                Ok(BlockRow {
                    id: r.get(0)?,
                    t_from: r.get(1)?,
                    t_to: r.get(2)?,
                    fixes: r.get::<_, i64>(3)?.max(0) as usize,
                    data: r.get(4)?,
                })
            },
        )
        .optional()?)
}

pub fn replace_block(
    conn: &Connection,
    id: i64,
    t_to: i64,
    fixes: usize,
    data: &[u8],
) -> Result<()> {
    conn.execute(
        "UPDATE track_blocks SET t_to = ?2, fixes = ?3, data = ?4
         WHERE id = ?1 AND outbox_seq IS NULL",
        params![id, t_to, fixes as i64, data],
    )?;
    Ok(())
}

pub fn add_block(
    conn: &Connection,
    session_id: &str,
    t_from: i64,
    t_to: i64,
    fixes: usize,
    data: &[u8],
) -> Result<i64> {
    conn.execute(
        "INSERT INTO track_blocks(session_id, t_from, t_to, fixes, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![session_id, t_from, t_to, fixes as i64, data],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Blocks with a fix in [from_ms, to_ms), oldest first. A block spans at most an hour
/// (`block::MAX_FIXES` at 1 Hz), so those starting up to a day earlier are looked at.
pub fn blocks_between(conn: &Connection, from_ms: i64, to_ms: i64) -> Result<Vec<Vec<u8>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT data FROM track_blocks WHERE t_from < ?2 AND t_from >= ?1 - 86400000 AND t_to >= ?1
         ORDER BY t_from, id",
    )?;
    let rows = stmt.query_map([from_ms, to_ms], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Who records: the worker and device a payload names.
pub struct Owner<'a> {
    pub worker_id: &'a str,
    pub device_id: &'a str,
}

/// Puts into the outbox every patrol event and every block not there yet, oldest first,
/// except the block `keep_open` (the one batches are still joining). Returns how many
/// entries were appended. Rows of the previous release (no outbox entry) go the same way.
pub fn seal(
    tx: &Transaction<'_>,
    owner: &Owner<'_>,
    now: DateTime<Utc>,
    keep_open: Option<i64>,
) -> Result<usize> {
    let mut n = 0;
    type EventRow = (i64, Option<String>, String, String, DateTime<Utc>);
    let events: Vec<EventRow> = tx
        .prepare_cached(
            "SELECT seq, id, session_id, kind, at FROM patrol_events
             WHERE outbox_seq IS NULL ORDER BY seq",
        )?
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (seq, id, session_id, event, at) in events {
        let event = PatrolEventKind::parse(&event).ok_or(Error::StoreDamaged {
            damage: StoreDamage::Unreadable,
        })?;
        let payload = PatrolEventPayload {
            id: id.unwrap_or_else(new_id),
            worker_id: owner.worker_id.to_string(),
            device_id: owner.device_id.to_string(),
            session_id,
            event,
            at,
        };
        validate::patrol_event(&payload)?;
        let json = serde_json::to_string(&payload)
            .map_err(|e| Error::invalid("patrol_event", e.to_string()))?;
        let e = outbox::append(tx, kind::PATROL_EVENT, &payload.id, json, now, 0)?;
        tx.prepare_cached("UPDATE patrol_events SET id = ?2, outbox_seq = ?3 WHERE seq = ?1")?
            .execute(params![seq, payload.id, e.seq])?;
        n += 1;
    }
    let blocks: Vec<(i64, String, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT id, session_id, data FROM track_blocks
             WHERE outbox_seq IS NULL AND id IS NOT ?1 ORDER BY id",
        )?
        .query_map([keep_open], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, session_id, data) in blocks {
        let record_id = new_id();
        let payload = match block_payload(
            record_id.clone(),
            owner.worker_id,
            owner.device_id,
            session_id,
            &data,
        ) {
            Ok(p) => p,
            // A block damaged on disk (its bytes no longer decode) cannot be sent or proven;
            // it stays where it is, and the records and blocks after it go on.
            Err(e) => {
                log::warn!("track: block {id} cannot be sealed and stays on the phone: {e}");
                continue;
            }
        };
        let e = outbox::append_derived(tx, kind::TRACK_BLOCK, &record_id, payload, now, 0)?;
        tx.prepare_cached(
            "UPDATE track_blocks SET record_id = ?2, worker_id = ?3, device_id = ?4, outbox_seq = ?5
             WHERE id = ?1",
        )?
        .execute(params![id, record_id, owner.worker_id, owner.device_id, e.seq])?;
        n += 1;
    }
    Ok(n)
}

/// The canonical payload text of a block: the same bytes every time it is derived, since
/// the hash of its outbox entry covers them.
fn block_payload(
    record_id: String,
    worker_id: &str,
    device_id: &str,
    session_id: String,
    data: &[u8],
) -> Result<String> {
    // Stored by this core: a block that no longer decodes is damage, not input.
    let payload = TrackBlockPayload::new(
        record_id,
        worker_id.to_string(),
        device_id.to_string(),
        session_id,
        data,
    )
    .map_err(|_| Error::StoreDamaged {
        damage: StoreDamage::Unreadable,
    })?;
    validate::track_block(&payload)?;
    serde_json::to_string(&payload).map_err(|e| Error::invalid("track_block", e.to_string()))
}

/// The payload of the sealed block behind outbox entry `seq`; `None` once the block was
/// deleted after the retention period.
pub fn derived_payload(conn: &Connection, seq: i64) -> Result<Option<String>> {
    let row: Option<(String, String, String, String, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT record_id, worker_id, device_id, session_id, data FROM track_blocks
             WHERE outbox_seq = ?1",
        )?
        .query_row([seq], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    row.map(|(id, w, d, s, data)| block_payload(id, &w, &d, s, &data))
        .transpose()
}

/// Writes a block's payload into its outbox entry before the block row goes (a discarded
/// block): the entry derives it from the row, and its withdrawal link must still prove it
/// (the hash commits to the payload). A block that no longer decodes has nothing to keep.
pub fn keep_payload(conn: &Connection, record_id: &str) -> Result<()> {
    let seq: Option<i64> = conn
        .prepare_cached("SELECT outbox_seq FROM track_blocks WHERE record_id = ?1")?
        .query_row([record_id], |r| r.get(0))
        .optional()?
        .flatten();
    let Some(seq) = seq else {
        return Ok(());
    };
    if let Ok(Some(payload)) = derived_payload(conn, seq) {
        conn.prepare_cached("UPDATE outbox SET payload = ?2 WHERE seq = ?1 AND payload = ''")?
            .execute(params![seq, payload])?;
    }
    Ok(())
}

/// Deletes the blocks the server acknowledged before `cutoff` (the retention period of
/// synced records); pending, rejected and open blocks stay. Returns how many went.
/// Synced patrol events go the same way, except the newest, which holds the patrol state.
pub fn expire_synced(tx: &Transaction<'_>, cutoff: DateTime<Utc>) -> Result<usize> {
    let blocks = tx
        .prepare_cached(
            "DELETE FROM track_blocks WHERE outbox_seq IN (
                 SELECT seq FROM outbox WHERE kind = 'track_block' AND state = 'synced'
                 AND synced_at IS NOT NULL AND synced_at < ?1)",
        )?
        .execute(params![cutoff])?;
    tx.prepare_cached(
        "DELETE FROM patrol_events
         WHERE seq < (SELECT MAX(seq) FROM patrol_events) AND outbox_seq IN (
             SELECT seq FROM outbox WHERE kind = 'patrol_event' AND state = 'synced'
             AND synced_at IS NOT NULL AND synced_at < ?1)",
    )?
    .execute(params![cutoff])?;
    Ok(blocks)
}
