//! What this server holds of one device's log, told at the handshake so a device re-sends
//! what a restore from an older backup lost (protocol §3.1). By device only: a log is the
//! device's, whichever worker's token pushed it.

use crate::params;
use crate::store::{Result, Tx};
use gridworker_model::wire::MAX_MISSING_RANGES;

/// The highest `seq` of the device among the mutations held as applied or as links
/// (withdrawn, expired): a device whose last entries are links would otherwise send them
/// again at every handshake.
pub(crate) fn last_seq(tx: &Tx<'_>, device_id: &str) -> Result<Option<i64>> {
    tx.query_row(
        "SELECT MAX(seq) FROM mutations
         WHERE device_id = ?1 AND status IN ('applied', 'withdrawn', 'expired')",
        params![device_id],
        |r| r.get(0),
    )
}

/// The ranges `[from, to]` of seqs in `first..=last` the server holds no mutation of (in
/// any status: a rejected one or a withdrawal link was answered), lowest first, at most
/// [`MAX_MISSING_RANGES`]. One pass over the range of the device's `(device_id, seq)` index:
/// the device asks from the lowest seq it could still send again (its retention period), so
/// a year-old log is not read at every handshake. A seq held twice is no hole.
pub(crate) fn missing(
    tx: &Tx<'_>,
    device_id: &str,
    first: i64,
    last: i64,
) -> Result<Vec<[i64; 2]>> {
    let first = first.max(1);
    let limit = i64::try_from(MAX_MISSING_RANGES).unwrap_or(i64::MAX);
    tx.prepare_cached(
        "SELECT prev + 1, seq - 1 FROM (
             SELECT seq, COALESCE(LAG(seq) OVER (ORDER BY seq), ?2 - 1) AS prev
             FROM mutations WHERE device_id = ?1 AND seq >= ?2 AND seq <= ?3
         ) steps
         WHERE seq > prev + 1 ORDER BY seq LIMIT ?4",
    )?
    .query_map(params![device_id, first, last, limit], |r| {
        Ok([r.get(0)?, r.get(1)?])
    })?
    .collect()
}
