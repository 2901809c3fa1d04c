//! What is pending, synced, rejected or set aside, per kind.

use super::*;

impl GridWorker {
    /// What is pending, synced and rejected, per kind.
    pub fn sync_counts(&self) -> Result<SyncCounts> {
        self.store.read(|c| {
            let mut out = SyncCounts::default();
            for (k, st, n) in outbox::counts(c)? {
                let bucket = match st.as_str() {
                    "synced" => &mut out.synced,
                    "rejected" => &mut out.rejected,
                    "quarantined" => &mut out.quarantined,
                    // Replaced by a repaired entry or discarded: not a record any more.
                    "withdrawn" => continue,
                    _ => &mut out.pending,
                };
                let n = n.max(0) as u64;
                match k.as_str() {
                    kind::CHECKIN => bucket.checkins += n,
                    kind::VISIT => bucket.visits += n,
                    kind::REPORT => bucket.reports += n,
                    _ => bucket.tasks += n,
                }
            }
            out.pending.photos = c
                .query_row(
                    "SELECT COUNT(*) FROM photos WHERE uploaded = 0 AND rel_path IS NOT NULL",
                    [],
                    |r| r.get::<_, i64>(0),
                )?
                .max(0) as u64;
            // Photos named by a quarantine (missing, altered, refused): counted once each.
            out.quarantined.photos = c
                .query_row(
                    "SELECT COUNT(DISTINCT quarantine_photo) FROM outbox WHERE state = 'quarantined'",
                    [],
                    |r| r.get::<_, i64>(0),
                )?
                .max(0) as u64;
            out.synced.photos = c
                .query_row("SELECT COUNT(*) FROM photos WHERE uploaded = 1", [], |r| {
                    r.get::<_, i64>(0)
                })?
                .max(0) as u64;
            out.drafts = c
                .query_row(
                    "SELECT COUNT(*) FROM reports WHERE own = 1 AND status = 'draft'",
                    [],
                    |r| r.get::<_, i64>(0),
                )?
                .max(0) as u64;
            out.last_sync = state::get(c, state::keys::LAST_SYNC)?;
            out.clock_offset_ms = state::get(c, state::keys::CLOCK_OFFSET_MS)?;
            Ok(out)
        })
    }
}
