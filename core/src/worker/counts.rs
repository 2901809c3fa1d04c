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
            let other = crate::store::counts::photo_and_draft_counts(c)?;
            out.pending.photos = other.photos_pending;
            out.quarantined.photos = other.photos_quarantined;
            out.synced.photos = other.photos_synced;
            out.drafts = other.drafts;
            out.last_sync = state::get(c, state::keys::LAST_SYNC)?;
            out.clock_offset_ms = state::get(c, state::keys::CLOCK_OFFSET_MS)?;
            Ok(out)
        })
    }
}
