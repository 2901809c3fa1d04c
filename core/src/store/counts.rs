//! The counts behind the sync status screen that are not per-kind outbox counts
//! ([`crate::store::outbox::counts`]): photos waiting, sent and set aside, and drafts.

use rusqlite::Connection;

use crate::error::Result;

/// Photo and draft counts; each is at least zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhotoAndDraftCounts {
    /// Photos still to upload whose file is on the device.
    pub photos_pending: u64,
    /// Distinct photos named by a quarantine (missing, altered, refused).
    pub photos_quarantined: u64,
    pub photos_synced: u64,
    /// The worker's own report drafts.
    pub drafts: u64,
}

fn count(conn: &Connection, sql: &str) -> Result<u64> {
    let n: i64 = conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

pub fn photo_and_draft_counts(conn: &Connection) -> Result<PhotoAndDraftCounts> {
    Ok(PhotoAndDraftCounts {
        photos_pending: count(
            conn,
            "SELECT COUNT(*) FROM photos WHERE uploaded = 0 AND rel_path IS NOT NULL",
        )?,
        photos_quarantined: count(
            conn,
            "SELECT COUNT(DISTINCT quarantine_photo) FROM outbox WHERE state = 'quarantined'",
        )?,
        photos_synced: count(conn, "SELECT COUNT(*) FROM photos WHERE uploaded = 1")?,
        drafts: count(
            conn,
            "SELECT COUNT(*) FROM reports WHERE own = 1 AND status = 'draft'",
        )?,
    })
}
