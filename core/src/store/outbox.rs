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
    use crate::sync::wire::MutationKind;
    pub const CHECKIN: &str = MutationKind::Checkin.code();
    pub const VISIT: &str = MutationKind::Visit.code();
    pub const REPORT: &str = MutationKind::Report.code();
    pub const TASK_ACK: &str = MutationKind::TaskAck.code();
    pub const TASK_COMPLETION: &str = MutationKind::TaskCompletion.code();
    pub const PATROL_EVENT: &str = MutationKind::PatrolEvent.code();
    pub const TRACK_BLOCK: &str = MutationKind::TrackBlock.code();
    pub const REPORT_EVALUATION: &str = MutationKind::ReportEvaluation.code();
    pub const RESIDENT_ADD: &str = MutationKind::ResidentAdd.code();
    pub const RESIDENT_UPDATE: &str = MutationKind::ResidentUpdate.code();
    pub const HOUSEHOLD_UPDATE: &str = MutationKind::HouseholdUpdate.code();
    pub const CONFLICT_RESOLUTION: &str = MutationKind::ConflictResolution.code();
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
    /// Set aside on the device: it cannot be sent as it stands (see [`QuarantineReason`]).
    /// It blocks nothing but the records that depend on it, and waits for the worker to
    /// repair or discard it.
    Quarantined { reason: QuarantineReason },
    /// Replaced by a repaired version or discarded by the worker: not a record any more. Its
    /// link of the hash chain is still delivered, as a withdrawal link (docs/protocol.md §4.4),
    /// so the device's chain stays intact on the server.
    Withdrawn,
}

/// Why an outbox entry is quarantined. Names the photo by its content hash, never by any
/// personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum QuarantineReason {
    /// The photo's file is gone from the device.
    PhotoMissing { sha256: String },
    /// The photo's bytes no longer match their SHA-256 (edited, truncated, damaged).
    PhotoAltered { sha256: String },
    /// The server refused it for good (a 4xx): the photo upload when `sha256` is set, else
    /// the mutation itself (a 413 for a push of this mutation alone).
    Refused {
        status: u16,
        code: String,
        sha256: Option<String>,
    },
}

impl QuarantineReason {
    /// The reason's code as stored and shown: `photo_missing`, `photo_altered`, `refused`.
    pub fn code(&self) -> &'static str {
        match self {
            QuarantineReason::PhotoMissing { .. } => "photo_missing",
            QuarantineReason::PhotoAltered { .. } => "photo_altered",
            QuarantineReason::Refused { .. } => "refused",
        }
    }

    /// The photo concerned, if any.
    pub fn photo(&self) -> Option<&str> {
        match self {
            QuarantineReason::PhotoMissing { sha256 }
            | QuarantineReason::PhotoAltered { sha256 } => Some(sha256),
            QuarantineReason::Refused { sha256, .. } => sha256.as_deref(),
        }
    }

    /// Rebuilds the reason from its columns; `None` when the columns do not form one.
    pub(crate) fn from_columns(
        reason: Option<String>,
        photo: Option<String>,
        status: Option<i64>,
        code: Option<String>,
    ) -> Option<QuarantineReason> {
        match reason.as_deref()? {
            "photo_missing" => Some(QuarantineReason::PhotoMissing { sha256: photo? }),
            "photo_altered" => Some(QuarantineReason::PhotoAltered { sha256: photo? }),
            "refused" => Some(QuarantineReason::Refused {
                status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(0),
                code: code.unwrap_or_default(),
                sha256: photo,
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for QuarantineReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuarantineReason::PhotoMissing { sha256 } => write!(f, "photo {sha256} is missing"),
            QuarantineReason::PhotoAltered { sha256 } => {
                write!(f, "photo {sha256} no longer matches its hash")
            }
            QuarantineReason::Refused {
                status,
                code,
                sha256: Some(sha),
            } => write!(f, "the server refused photo {sha} ({status} {code})"),
            QuarantineReason::Refused { status, code, .. } => {
                write!(f, "the server refused the record ({status} {code})")
            }
        }
    }
}

/// A quarantined record as reported to the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedRecord {
    pub record_id: String,
    /// The mutation kind (`report`, `task_completion`, ...).
    pub kind: String,
    pub reason: QuarantineReason,
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
    /// Withdrawn by the worker: sent only as a withdrawal link (no photos, no record).
    pub withdrawn: bool,
    /// Its payload is gone (emptied after the retention period) and the server lacks it (a
    /// restore from an older backup): sent only as an expired link, to keep the chain whole.
    pub expired: bool,
}

/// The columns [`entry_from_row`] reads, in its order (read by position: a name lookup per
/// column and row was a visible share of reading a batch).
const ENTRY_COLS: &str = "seq, mutation_id, kind, record_id, payload, device_time, monotonic_ms, prev_hash, hash, attempts, state";

fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        seq: r.get(0)?,
        mutation_id: r.get(1)?,
        kind: r.get(2)?,
        record_id: r.get(3)?,
        payload: r.get(4)?,
        device_time: r.get(5)?,
        monotonic_ms: r.get(6)?,
        prev_hash: r.get(7)?,
        hash: r.get(8)?,
        attempts: r.get(9)?,
        withdrawn: matches!(
            r.get_ref(10)?,
            rusqlite::types::ValueRef::Text(b"withdrawn")
        ),
        expired: false,
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
    insert(
        tx,
        kind,
        record_id,
        payload,
        true,
        device_time,
        monotonic_ms,
    )
}

/// Appends a mutation whose payload is derived from its record when it is read (a sealed
/// track block, `store::tracks::derived_payload`): the hash covers `payload`, the row stores
/// none, so the record's bytes are not kept twice. The record must never change afterwards.
pub fn append_derived(
    tx: &Transaction<'_>,
    kind: &str,
    record_id: &str,
    payload: String,
    device_time: DateTime<Utc>,
    monotonic_ms: i64,
) -> Result<OutboxEntry> {
    insert(
        tx,
        kind,
        record_id,
        payload,
        false,
        device_time,
        monotonic_ms,
    )
}

fn insert(
    tx: &Transaction<'_>,
    kind: &str,
    record_id: &str,
    payload: String,
    store_payload: bool,
    device_time: DateTime<Utc>,
    monotonic_ms: i64,
) -> Result<OutboxEntry> {
    // The writer holds an IMMEDIATE transaction, so reading the head and inserting after it
    // cannot interleave with another writer.
    let head: Option<(i64, String)> = tx
        .prepare_cached("SELECT seq, hash FROM outbox ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let used: Option<i64> = tx
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    let seq = used.or(head.as_ref().map(|h| h.0)).unwrap_or(0) + 1;
    let prev_hash = head
        .map(|h| h.1)
        .unwrap_or_else(|| chain::GENESIS.to_string());
    let mutation_id = crate::domain::new_id();
    let hash = chain::link_hash(&prev_hash, seq, kind, &mutation_id, &payload);
    tx.prepare_cached(
        "INSERT INTO outbox(seq, mutation_id, kind, record_id, payload, device_time, monotonic_ms, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        seq,
        mutation_id,
        kind,
        record_id,
        if store_payload { payload.as_str() } else { "" },
        device_time,
        monotonic_ms,
        prev_hash,
        hash
    ])?;
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
        withdrawn: false,
        expired: false,
    })
}

/// Which entries the push sends: pending ones, and withdrawn ones whose withdrawal link the
/// server has not answered yet (`synced_at` is set on its answer; the state stays withdrawn).
const TO_SEND: &str = "(state = 'pending' OR (state = 'withdrawn' AND synced_at IS NULL))";

/// Entries to send in sequence order, at most `limit` of them and, beyond the first, at most
/// `max_bytes` of payload in total (a batch is bounded by count and size).
///
/// The two kinds of entry to send are read as two streams in seq order, each straight off
/// the `(state, seq)` index, and merged here. Asked as one query with an OR, SQLite gathered
/// every entry after `after_seq` and sorted them all for each batch: a push of n entries
/// read about n²/2000 rows (10,000 pending: 5-17 ms per batch of 1,000).
pub fn pending_batch(
    conn: &Connection,
    after_seq: i64,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<OutboxEntry>> {
    let n = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut pending = conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLS} FROM outbox WHERE state = 'pending' AND seq > ?1 ORDER BY seq LIMIT ?2"
    ))?;
    let mut links = conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLS} FROM outbox WHERE state = 'withdrawn' AND synced_at IS NULL AND seq > ?1
         ORDER BY seq LIMIT ?2"
    ))?;
    let mut pending = pending
        .query_map(params![after_seq, n], entry_from_row)?
        .peekable();
    let mut links = links
        .query_map(params![after_seq, n], entry_from_row)?
        .peekable();
    let mut out = Vec::new();
    let mut bytes = 0usize;
    while out.len() < limit {
        let take_link = match (pending.peek(), links.peek()) {
            (None, None) => break,
            (Some(_), None) => false,
            (None, Some(_)) => true,
            // An error is taken (and returned) from whichever stream holds it.
            (Some(Ok(p)), Some(Ok(l))) => l.seq < p.seq,
            (Some(Err(_)), _) => false,
            (_, Some(Err(_))) => true,
        };
        let next = if take_link {
            links.next()
        } else {
            pending.next()
        };
        let Some(row) = next else { break };
        let mut e = row?;
        derive_payload(conn, &mut e)?;
        bytes += e.payload.len();
        if !out.is_empty() && bytes > max_bytes {
            break;
        }
        out.push(e);
    }
    Ok(out)
}

/// How many entries the push has to send (see [`pending_batch`]).
pub fn to_send(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM outbox WHERE {TO_SEND}"))?
        .query_row([], |r| r.get(0))?)
}

/// One entry by its seq.
pub fn entry(conn: &Connection, seq: i64) -> Result<Option<OutboxEntry>> {
    let e = conn
        .prepare_cached(&format!("SELECT {ENTRY_COLS} FROM outbox WHERE seq = ?1"))?
        .query_row([seq], entry_from_row)
        .optional()?;
    match e {
        Some(mut e) => {
            derive_payload(conn, &mut e)?;
            Ok(Some(e))
        }
        None => Ok(None),
    }
}

/// Fills in the payload of an entry appended with [`append_derived`], from its record. An
/// entry whose payload is still empty can only travel as an expired link: its record is gone
/// from the phone, and sent with an empty payload it would be refused for good
/// (`hash_mismatch`).
fn derive_payload(conn: &Connection, e: &mut OutboxEntry) -> Result<()> {
    if e.payload.is_empty()
        && e.kind == kind::TRACK_BLOCK
        && let Some(p) = crate::store::tracks::derived_payload(conn, e.seq)?
    {
        e.payload = p;
    }
    e.expired = e.payload.is_empty() && !e.withdrawn;
    Ok(())
}

/// Marks entries as recorded by the server (a withdrawn one stays withdrawn:
/// [`mark_link_answered`]). One statement for a batch's answers: a statement per entry was
/// most of recording a batch of 1,000.
pub fn mark_synced(tx: &Transaction<'_>, seqs: &[i64], at: DateTime<Utc>) -> Result<()> {
    if seqs.is_empty() {
        return Ok(());
    }
    use std::fmt::Write as _;
    let mut list = String::with_capacity(seqs.len() * 8 + 2);
    list.push('[');
    for (i, seq) in seqs.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(list, "{sep}{seq}");
    }
    list.push(']');
    tx.prepare_cached(
        "UPDATE outbox SET state = 'synced', synced_at = ?2, attempts = attempts + 1
         WHERE seq IN (SELECT value FROM json_each(?1)) AND state <> 'withdrawn'",
    )?
    .execute(params![list, at])?;
    Ok(())
}

/// Records the server's answer to a withdrawal link: it stays `withdrawn` (it is not a record)
/// and is not sent again. A refusal (`reject` = code and reason) is kept for support; it is
/// final like any rejection, and resending would only get it again.
pub fn mark_link_answered(
    tx: &Transaction<'_>,
    mutation_id: &str,
    reject: Option<(&str, &str)>,
    at: DateTime<Utc>,
) -> Result<()> {
    tx.prepare_cached(
        "UPDATE outbox SET synced_at = ?2, reject_code = ?3, reject_reason = ?4,
             attempts = attempts + 1
         WHERE mutation_id = ?1 AND state = 'withdrawn'",
    )?
    .execute(params![
        mutation_id,
        at,
        reject.map(|r| r.0),
        reject.map(|r| r.1)
    ])?;
    Ok(())
}

/// An entry's kind and stored payload (empty for a derived one).
pub fn kind_and_payload(conn: &Connection, seq: i64) -> Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached("SELECT kind, payload FROM outbox WHERE seq = ?1")?
        .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
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
         WHERE mutation_id = ?1 AND state <> 'withdrawn'",
        params![mutation_id, code, reason],
    )?;
    Ok(())
}

/// Columns a query must select (with these names) for [`state_from_row`], from outbox `o`.
pub(crate) const STATE_COLS: &str = "COALESCE(o.state, 'pending') AS sync_state, o.reject_code, \
     o.reject_reason, o.quarantine_reason, o.quarantine_photo, o.quarantine_status, o.quarantine_code";

/// The sync state from a row holding [`STATE_COLS`].
pub(crate) fn state_from_row(r: &Row<'_>) -> rusqlite::Result<SyncState> {
    let state: String = r.get("sync_state")?;
    Ok(match state.as_str() {
        "synced" => SyncState::Synced,
        "rejected" => SyncState::Rejected {
            code: r
                .get::<_, Option<String>>("reject_code")?
                .unwrap_or_default(),
            reason: r
                .get::<_, Option<String>>("reject_reason")?
                .unwrap_or_default(),
        },
        "withdrawn" => SyncState::Withdrawn,
        "quarantined" => match QuarantineReason::from_columns(
            r.get("quarantine_reason")?,
            r.get("quarantine_photo")?,
            r.get("quarantine_status")?,
            r.get("quarantine_code")?,
        ) {
            Some(reason) => SyncState::Quarantined { reason },
            // Columns that do not form a reason still must not look sendable.
            None => SyncState::Quarantined {
                reason: QuarantineReason::Refused {
                    status: 0,
                    code: "unknown".into(),
                    sha256: None,
                },
            },
        },
        _ => SyncState::Pending,
    })
}

/// Quarantines one pending entry with `reason`. Returns whether it was pending.
pub fn quarantine(
    tx: &Transaction<'_>,
    seq: i64,
    reason: &QuarantineReason,
    at: DateTime<Utc>,
) -> Result<bool> {
    let (status, code) = match reason {
        QuarantineReason::Refused { status, code, .. } => (Some(i64::from(*status)), Some(code)),
        _ => (None, None),
    };
    let n = tx
        .prepare_cached(
            "UPDATE outbox SET state = 'quarantined', quarantine_reason = ?2, quarantine_photo = ?3,
                 quarantine_status = ?4, quarantine_code = ?5, quarantined_at = ?6
             WHERE seq = ?1 AND state = 'pending'",
        )?
        .execute(params![seq, reason.code(), reason.photo(), status, code, at])?;
    Ok(n == 1)
}

/// Quarantines every pending entry whose record needs photo `sha256`; returns them.
pub fn quarantine_photo_users(
    tx: &Transaction<'_>,
    sha256: &str,
    reason: &QuarantineReason,
    at: DateTime<Utc>,
) -> Result<Vec<QuarantinedRecord>> {
    let users: Vec<(i64, String, String)> = tx
        .prepare_cached(
            "SELECT o.seq, o.kind, o.record_id FROM outbox o
             WHERE o.state = 'pending' AND (
                 (o.kind = 'report' AND EXISTS (SELECT 1 FROM report_photos rp
                     WHERE rp.report_id = o.record_id AND rp.sha256 = ?1))
                 OR (o.kind = 'task_completion' AND EXISTS (SELECT 1 FROM task_completion_photos tp
                     WHERE tp.completion_id = o.record_id AND tp.sha256 = ?1)))
             ORDER BY o.seq",
        )?
        .query_map([sha256], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::with_capacity(users.len());
    for (seq, kind, record_id) in users {
        if quarantine(tx, seq, reason, at)? {
            out.push(QuarantinedRecord {
                record_id,
                kind,
                reason: reason.clone(),
            });
        }
    }
    Ok(out)
}

/// The quarantined entry of a record, if it has one: `(seq, kind, reason)`.
pub fn quarantined_entry(
    conn: &Connection,
    record_id: &str,
) -> Result<Option<(i64, String, QuarantineReason)>> {
    let row = conn
        .prepare_cached(
            "SELECT seq, kind, quarantine_reason, quarantine_photo, quarantine_status, quarantine_code
             FROM outbox WHERE record_id = ?1 AND state = 'quarantined' ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([record_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                QuarantineReason::from_columns(r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
            ))
        })
        .optional()?;
    Ok(row.map(|(seq, kind, reason)| {
        let reason = reason.unwrap_or(QuarantineReason::Refused {
            status: 0,
            code: "unknown".into(),
            sha256: None,
        });
        (seq, kind, reason)
    }))
}

/// Every quarantined record, oldest first.
pub fn quarantined(conn: &Connection) -> Result<Vec<QuarantinedRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT record_id, kind, quarantine_reason, quarantine_photo, quarantine_status, quarantine_code
         FROM outbox WHERE state = 'quarantined' ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            QuarantineReason::from_columns(r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (record_id, kind, reason) = row?;
        out.push(QuarantinedRecord {
            record_id,
            kind,
            reason: reason.unwrap_or(QuarantineReason::Refused {
                status: 0,
                code: "unknown".into(),
                sha256: None,
            }),
        });
    }
    Ok(out)
}

/// Withdraws a quarantined entry for good (repaired as a new entry, or discarded). It keeps
/// its reason for the record of what happened; it is never sent as a record, only as a
/// withdrawal link so that the device's chain has no hole where it was.
pub fn withdraw(tx: &Transaction<'_>, seq: i64) -> Result<()> {
    tx.prepare_cached(
        "UPDATE outbox SET state = 'withdrawn' WHERE seq = ?1 AND state = 'quarantined'",
    )?
    .execute([seq])?;
    Ok(())
}

/// Whether any entry is quarantined. Nearly always false, and then no entry depends on
/// one: a batch skips [`waits_for`]'s queries, one or two per entry.
pub fn any_quarantined(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS(SELECT 1 FROM outbox WHERE state = 'quarantined')")?
        .query_row([], |r| r.get(0))?)
}

/// Records that do not go in this run, each with the first seq of it that waits: records
/// whose entries are quarantined when the run starts, or held or deferred during it, and the
/// residents or households their edits change. Whatever builds on one of them waits as well
/// ([`waits_for`]), however long the chain.
pub type Held = std::collections::HashMap<String, i64>;

/// Notes in `held` what `entry`, not going in this run, holds back.
pub fn hold(held: &mut Held, entry: &OutboxEntry) {
    hold_record(
        held,
        &entry.kind,
        &entry.record_id,
        &entry.payload,
        entry.seq,
    );
}

/// Adds `from` to `into`, keeping each record's first held seq.
pub fn merge_holds(into: &mut Held, from: Held) {
    for (id, seq) in from {
        note_held(into, id, seq);
    }
}

fn note_held(held: &mut Held, id: String, seq: i64) {
    held.entry(id)
        .and_modify(|s| *s = (*s).min(seq))
        .or_insert(seq);
}

fn hold_record(held: &mut Held, entry_kind: &str, record_id: &str, payload: &str, seq: i64) {
    note_held(held, record_id.to_string(), seq);
    if let Some(target) = edit_target(entry_kind, payload) {
        note_held(held, target, seq);
    }
}

/// What the entries quarantined now hold back. A push starts its run with it: a record the
/// worker repairs while the run is under way is already behind the run's cursor and goes
/// in the next run, so what builds on it must not go in this one.
pub fn quarantined_holds(conn: &Connection) -> Result<Held> {
    let mut st = conn.prepare_cached(
        "SELECT record_id, kind, payload, seq FROM outbox WHERE state = 'quarantined' ORDER BY seq",
    )?;
    let mut rows = st.query([])?;
    let mut held = Held::new();
    while let Some(r) = rows.next()? {
        let (record_id, entry_kind, payload): (String, String, String) =
            (r.get(0)?, r.get(1)?, r.get(2)?);
        hold_record(&mut held, &entry_kind, &record_id, &payload, r.get(3)?);
    }
    Ok(held)
}

/// True when `entry` must wait (the matrix-sdk "dependent request" rule, to any depth): it
/// builds on a quarantined entry or on a record in `held`. An entry builds on the earlier
/// entries of its own record, the report it attaches to, the report the task it
/// acknowledges or completes was dispatched for, and, for a field edit, the add of the
/// resident it edits and the earlier edits of the same resident or household.
/// `quarantine` says whether any entry is quarantined ([`any_quarantined`]): with none and
/// nothing held, nothing waits and no query runs.
pub fn waits_for(
    conn: &Connection,
    entry: &OutboxEntry,
    quarantine: bool,
    held: &Held,
) -> Result<bool> {
    if !quarantine && held.is_empty() {
        return Ok(false);
    }
    if held.get(&entry.record_id).is_some_and(|&s| s < entry.seq) {
        return Ok(true);
    }
    if quarantine {
        let same_record: bool = conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM outbox WHERE record_id = ?1 AND seq < ?2 AND state = 'quarantined')",
            )?
            .query_row(params![entry.record_id, entry.seq], |r| r.get(0))?;
        if same_record {
            return Ok(true);
        }
    }
    if let Some(target) = edit_target(&entry.kind, &entry.payload) {
        if held.contains_key(&target) {
            return Ok(true);
        }
        if !quarantine {
            return Ok(false);
        }
        // An edit is a record of its own: sent before what it builds on, it would reach the
        // server ahead of the resident's add (kept there as `unknown_resident` evidence, the
        // change never applied) or be merged against a base the server never saw.
        return Ok(conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM outbox WHERE seq < ?2 AND state = 'quarantined'
                   AND (record_id = ?1
                        OR (kind IN (?3, ?4) AND json_extract(payload, '$.target_id') = ?1)))",
            )?
            .query_row(
                params![
                    target,
                    entry.seq,
                    kind::RESIDENT_UPDATE,
                    kind::HOUSEHOLD_UPDATE
                ],
                |r| r.get(0),
            )?);
    }
    let cited: Option<String> = match entry.kind.as_str() {
        kind::REPORT => conn
            .prepare_cached("SELECT attach_to FROM reports WHERE id = ?1")?
            .query_row([&entry.record_id], |r| r.get(0))
            .optional()?
            .flatten(),
        kind::TASK_ACK => conn
            .prepare_cached("SELECT linked_report_id FROM tasks WHERE id = ?1")?
            .query_row([&entry.record_id], |r| r.get(0))
            .optional()?
            .flatten(),
        kind::TASK_COMPLETION => conn
            .prepare_cached(
                "SELECT t.linked_report_id FROM task_completions c JOIN tasks t ON t.id = c.task_id
                 WHERE c.id = ?1",
            )?
            .query_row([&entry.record_id], |r| r.get(0))
            .optional()?
            .flatten(),
        _ => None,
    };
    let Some(id) = cited else {
        return Ok(false);
    };
    if held.contains_key(&id) {
        return Ok(true);
    }
    if !quarantine {
        return Ok(false);
    }
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM outbox WHERE record_id = ?1 AND state = 'quarantined')",
        )?
        .query_row([id], |r| r.get(0))?)
}

/// The resident or household a field edit changes (`None` for any other kind).
fn edit_target(entry_kind: &str, payload: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Edit {
        target_id: String,
    }
    if entry_kind != kind::RESIDENT_UPDATE && entry_kind != kind::HOUSEHOLD_UPDATE {
        return None;
    }
    serde_json::from_str::<Edit>(payload)
        .ok()
        .map(|e| e.target_id)
}

/// Counts per kind and state: `(kind, state, count)`.
pub fn counts(conn: &Connection) -> Result<Vec<(String, String, i64)>> {
    let mut stmt =
        conn.prepare_cached("SELECT kind, state, COUNT(*) FROM outbox GROUP BY kind, state")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A repaired photo releases every record quarantined for that photo being missing or
/// altered: they go back to pending.
pub fn release_repaired_photo(conn: &Connection, sha256: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET state = 'pending', quarantine_reason = NULL,
             quarantine_photo = NULL, quarantine_status = NULL,
             quarantine_code = NULL, quarantined_at = NULL
         WHERE state = 'quarantined' AND quarantine_photo = ?1
           AND quarantine_reason IN ('photo_missing', 'photo_altered')",
    )?
    .execute([sha256])?;
    Ok(())
}

/// Whether the device holds a live acknowledgement of the task (not withdrawn, not set
/// aside).
pub fn task_acked(conn: &Connection, task_id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM outbox WHERE kind = 'task_ack' AND record_id = ?1
                 AND state NOT IN ('withdrawn', 'quarantined'))",
        )?
        .query_row([task_id], |r| r.get(0))?)
}
