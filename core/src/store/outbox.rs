//! The outbox: the device's chained log of mutations waiting for (or done with) the server.
//!
//! A record and its outbox entry are always written in the same transaction by the caller, so
//! there is never a record the engine will not send nor an entry without its record.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::chain;
use crate::error::Result;

/// Kinds of mutation, as sent on the wire.
pub mod kind {
    pub const CHECKIN: &str = "checkin";
    pub const VISIT: &str = "visit";
    pub const REPORT: &str = "report";
    pub const TASK_ACK: &str = "task_ack";
    pub const TASK_COMPLETION: &str = "task_completion";
}

/// Where an outbox entry (and so its record) stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SyncState {
    /// Waiting to be sent (or sent without a recorded answer yet).
    Pending,
    /// The server recorded it.
    Synced,
    /// The server refused it for good; kept with the reason, never blocks later entries.
    Rejected { code: String, reason: String },
}

/// One row of the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub seq: i64,
    pub mutation_id: String,
    pub kind: String,
    pub record_id: String,
    pub payload: String,
    pub device_time: DateTime<Utc>,
    pub monotonic_ms: i64,
    pub prev_hash: String,
    pub hash: String,
    pub attempts: i64,
}

fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        seq: r.get("seq")?,
        mutation_id: r.get("mutation_id")?,
        kind: r.get("kind")?,
        record_id: r.get("record_id")?,
        payload: r.get("payload")?,
        device_time: r.get("device_time")?,
        monotonic_ms: r.get("monotonic_ms")?,
        prev_hash: r.get("prev_hash")?,
        hash: r.get("hash")?,
        attempts: r.get("attempts")?,
    })
}

/// Appends a mutation, chaining it to the previous one. Returns the entry as stored.
pub fn append(
    tx: &Transaction<'_>,
    kind: &str,
    record_id: &str,
    payload: String,
    device_time: DateTime<Utc>,
    monotonic_ms: i64,
) -> Result<OutboxEntry> {
    // The writer holds an IMMEDIATE transaction, so reading the head and inserting after it
    // cannot interleave with another writer.
    let head: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM outbox ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let used: Option<i64> = tx
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let seq = used.or(head.as_ref().map(|h| h.0)).unwrap_or(0) + 1;
    let prev_hash = head
        .map(|h| h.1)
        .unwrap_or_else(|| chain::GENESIS.to_string());
    let mutation_id = crate::domain::new_id();
    let hash = chain::link_hash(&prev_hash, seq, kind, &mutation_id, &payload);
    tx.execute(
        "INSERT INTO outbox(seq, mutation_id, kind, record_id, payload, device_time, monotonic_ms, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![seq, mutation_id, kind, record_id, payload, device_time, monotonic_ms, prev_hash, hash],
    )?;
    Ok(OutboxEntry {
        seq,
        mutation_id,
        kind: kind.to_string(),
        record_id: record_id.to_string(),
        payload,
        device_time,
        monotonic_ms,
        prev_hash,
        hash,
        attempts: 0,
    })
}

/// Pending entries in sequence order, at most `limit` of them and, beyond the first, at most
/// `max_bytes` of payload in total (a batch is bounded by count and size).
pub fn pending_batch(
    conn: &Connection,
    after_seq: i64,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM outbox WHERE state = 'pending' AND seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after_seq, limit as i64], entry_from_row)?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for row in rows {
        let e = row?;
        bytes += e.payload.len();
        if !out.is_empty() && bytes > max_bytes {
            break;
        }
        out.push(e);
    }
    Ok(out)
}

/// Marks an entry as recorded by the server.
pub fn mark_synced(tx: &Transaction<'_>, mutation_id: &str, at: DateTime<Utc>) -> Result<()> {
    tx.prepare_cached(
        "UPDATE outbox SET state = 'synced', synced_at = ?2, attempts = attempts + 1 WHERE mutation_id = ?1",
    )?
    .execute(params![mutation_id, at])?;
    Ok(())
}

/// Marks an entry as permanently refused, keeping the server's reason.
pub fn mark_rejected(
    tx: &Transaction<'_>,
    mutation_id: &str,
    code: &str,
    reason: &str,
) -> Result<()> {
    tx.execute(
        "UPDATE outbox SET state = 'rejected', reject_code = ?2, reject_reason = ?3, attempts = attempts + 1
         WHERE mutation_id = ?1",
        params![mutation_id, code, reason],
    )?;
    Ok(())
}

/// The sync state of a record (its latest outbox entry), or `None` if it never entered the
/// outbox (a draft).
pub fn record_state(conn: &Connection, record_id: &str) -> Result<Option<SyncState>> {
    let row: Option<(String, Option<String>, Option<String>)> = conn
        .prepare_cached(
            "SELECT state, reject_code, reject_reason FROM outbox WHERE record_id = ?1 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([record_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row.map(|(s, code, reason)| state_from_columns(&s, code, reason)))
}

pub(crate) fn state_from_columns(
    state: &str,
    code: Option<String>,
    reason: Option<String>,
) -> SyncState {
    match state {
        "synced" => SyncState::Synced,
        "rejected" => SyncState::Rejected {
            code: code.unwrap_or_default(),
            reason: reason.unwrap_or_default(),
        },
        _ => SyncState::Pending,
    }
}

/// Counts per kind and state: `(kind, state, count)`.
pub fn counts(conn: &Connection) -> Result<Vec<(String, String, i64)>> {
    let mut stmt =
        conn.prepare_cached("SELECT kind, state, COUNT(*) FROM outbox GROUP BY kind, state")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
