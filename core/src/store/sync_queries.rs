//! The sync engine's own queries, in one file (as powersync's storage adapter keeps them):
//! which photos wait for upload, how a push reply or a pulled change lands in the records,
//! re-sending after a restore and dropping old payloads. The engine never writes SQL.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::domain::ReportStatus;
use crate::error::Result;
use crate::store::outbox::kind;

/// A photo waiting for upload.
#[derive(Debug, Clone)]
pub struct PendingPhoto {
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
    /// `None` once the file was collected: a pending record needing it finds it missing.
    pub rel_path: Option<String>,
}

/// True when the record `record_id` of `kind` references a photo the server does not have.
pub fn waits_for_photos(conn: &Connection, record_kind: &str, record_id: &str) -> Result<bool> {
    let sql = match record_kind {
        kind::REPORT => {
            "SELECT EXISTS(SELECT 1 FROM report_photos rp JOIN photos p ON p.sha256 = rp.sha256
             WHERE rp.report_id = ?1 AND p.uploaded = 0)"
        }
        kind::TASK_COMPLETION => {
            "SELECT EXISTS(SELECT 1 FROM task_completion_photos tp JOIN photos p ON p.sha256 = tp.sha256
             WHERE tp.completion_id = ?1 AND p.uploaded = 0)"
        }
        _ => return Ok(false),
    };
    Ok(conn
        .prepare_cached(sql)?
        .query_row([record_id], |r| r.get(0))?)
}

/// Photos not uploaded yet that a pending record needs, the file-less ones included (they
/// are found missing and quarantine their records instead of being silently skipped).
pub fn pending_photos(conn: &Connection) -> Result<Vec<PendingPhoto>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.sha256, p.size, p.media_type, p.rel_path FROM photos p
         WHERE p.uploaded = 0 AND (
             EXISTS (SELECT 1 FROM report_photos rp JOIN outbox o ON o.record_id = rp.report_id
                     WHERE rp.sha256 = p.sha256 AND o.state = 'pending')
             OR EXISTS (SELECT 1 FROM task_completion_photos tp JOIN outbox o ON o.record_id = tp.completion_id
                     WHERE tp.sha256 = p.sha256 AND o.state = 'pending'))
         ORDER BY p.sha256",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(PendingPhoto {
            sha256: r.get(0)?,
            size: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            media_type: r.get(2)?,
            rel_path: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The server holds the photo whole.
pub fn mark_photo_uploaded(tx: &Transaction<'_>, sha256: &str) -> Result<()> {
    tx.prepare_cached("UPDATE photos SET uploaded = 1 WHERE sha256 = ?1")?
        .execute(params![sha256])?;
    Ok(())
}

/// A report the server took moves from queued to submitted; a status the pull already
/// moved further stays.
pub fn mark_report_submitted(
    tx: &Transaction<'_>,
    report_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.prepare_cached(
        "UPDATE reports SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'queued'",
    )?
    .execute(params![report_id, ReportStatus::Submitted.code(), now])?;
    Ok(())
}

/// The lowest seq this phone could send again after a restore: of a synced entry whose
/// payload is kept (or derived from its track block), or of an answered withdrawal link.
/// The handshake asks the server for its holes from there on (`device_missing`).
pub fn lowest_resendable_seq(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT MIN(seq) FROM (
                 SELECT MIN(seq) AS seq FROM outbox WHERE state = 'synced' AND payload <> ''
                 UNION ALL
                 SELECT MIN(outbox_seq) FROM track_blocks
                     WHERE outbox_seq IN (SELECT seq FROM outbox WHERE state = 'synced')
                 UNION ALL
                 SELECT MIN(seq) FROM outbox
                     WHERE state = 'withdrawn' AND synced_at IS NOT NULL AND reject_code IS NULL
                         AND payload <> '')",
        )?
        .query_row([], |r| r.get(0))?)
}

/// After a restore: synced entries with a seq in `from..=to` go back to pending (those whose
/// payload was dropped after the retention period cannot be re-sent: the hash covers the
/// payload). Returns how many.
pub fn resend_synced_in(tx: &Transaction<'_>, from: i64, to: i64) -> Result<usize> {
    let records = tx
        .prepare_cached(
            "UPDATE outbox SET state = 'pending', synced_at = NULL
             WHERE state = 'synced' AND seq BETWEEN ?1 AND ?2 AND (payload <> ''
                 OR (kind = 'track_block' AND seq IN (SELECT outbox_seq FROM track_blocks)))",
        )?
        .execute([from, to])?;
    // Withdrawal links the server had taken go again too: without them the link after each
    // would show as a chain break on the back office's screen. One it refused (given up as
    // too large) is not sent again at every handshake. They are not records, so they are
    // not counted.
    tx.prepare_cached(
        "UPDATE outbox SET synced_at = NULL, reject_code = NULL, reject_reason = NULL
         WHERE state = 'withdrawn' AND synced_at IS NOT NULL AND reject_code IS NULL
             AND seq BETWEEN ?1 AND ?2 AND payload <> ''",
    )?
    .execute([from, to])?;
    Ok(records)
}

/// After a restore from a backup older than the retention period: synced entries with a
/// seq in `from..=to` whose payload is gone go back to pending, to be sent as expired links
/// (protocol 5): without their links, the first entry the phone still has would lie more
/// than a batch beyond the server's head and be refused, and every one after it. Returns
/// how many.
pub fn send_expired_links_in(tx: &Transaction<'_>, from: i64, to: i64) -> Result<usize> {
    Ok(tx
        .prepare_cached(
            "UPDATE outbox SET state = 'pending', synced_at = NULL
             WHERE state = 'synced' AND seq BETWEEN ?1 AND ?2 AND payload = ''
                 AND NOT (kind = 'track_block' AND seq IN (SELECT outbox_seq FROM track_blocks))",
        )?
        .execute([from, to])?)
}

/// Photos of pending records that are still on the device are uploaded again (the server
/// answers "complete" at once for those it holds).
pub fn reupload_photos_of_pending(tx: &Transaction<'_>) -> Result<()> {
    tx.prepare_cached(
        "UPDATE photos SET uploaded = 0
         WHERE rel_path IS NOT NULL AND (
             sha256 IN (SELECT rp.sha256 FROM report_photos rp JOIN outbox o
                        ON o.record_id = rp.report_id WHERE o.state = 'pending')
             OR sha256 IN (SELECT tp.sha256 FROM task_completion_photos tp JOIN outbox o
                        ON o.record_id = tp.completion_id WHERE o.state = 'pending'))",
    )?
    .execute([])?;
    Ok(())
}

/// Drops the payload of entries the server acknowledged before `cutoff`; never touches
/// pending or rejected entries. Returns how many were emptied.
pub fn expire_payloads(tx: &Transaction<'_>, cutoff: DateTime<Utc>) -> Result<u64> {
    let n = tx
        .prepare_cached(
            "UPDATE outbox SET payload = ''
             WHERE state = 'synced' AND synced_at IS NOT NULL AND synced_at < ?1 AND payload <> ''",
        )?
        .execute(params![cutoff])?;
    Ok(n as u64)
}

/// A report's stored status code, if the device knows the report.
pub fn report_status(conn: &Connection, report_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT status FROM reports WHERE id = ?1")?
        .query_row([report_id], |r| r.get(0))
        .optional()?)
}

/// Whether a known report is the worker's own (`None`: unknown report).
pub fn report_is_own(conn: &Connection, report_id: &str) -> Result<Option<bool>> {
    Ok(conn
        .prepare_cached("SELECT own FROM reports WHERE id = ?1")?
        .query_row([report_id], |r| r.get(0))
        .optional()?)
}

/// The back office moved a report: its status, and the department, progress note and
/// evaluation when the change carries them.
pub fn apply_report_status(
    tx: &Transaction<'_>,
    report_id: &str,
    status: ReportStatus,
    department: Option<&str>,
    note: Option<&str>,
    evaluation: Option<&str>,
    at: DateTime<Utc>,
) -> Result<()> {
    tx.prepare_cached(
        "UPDATE reports SET status = ?2, department = COALESCE(?3, department),
             progress_note = COALESCE(?4, progress_note), evaluation = COALESCE(?5, evaluation),
             updated_at = ?6
         WHERE id = ?1",
    )?
    .execute(params![
        report_id,
        status.code(),
        department,
        note,
        evaluation,
        at
    ])?;
    Ok(())
}
