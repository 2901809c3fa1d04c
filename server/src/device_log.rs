//! What this server holds of one device's log, told at the handshake so a device re-sends
//! what a restore from an older backup lost (protocol §3.1). By device only: a log is the
//! device's, whichever worker's token pushed it.

use crate::params;
use crate::store::{Result, Tx};
use gridworker_model::wire::MAX_MISSING_RANGES;

/// The highest `seq` of the device among the mutations held, in any status: a device whose
/// last entries are links (withdrawn, expired) would otherwise send them again at every
/// handshake, and one the server rejected is rejected on the phone too (it is never sent
/// again). One read of the `(device_id, seq)` index, not of every mutation of the device.
pub(crate) fn last_seq(tx: &Tx<'_>, device_id: &str) -> Result<Option<i64>> {
    tx.query_row(
        "SELECT MAX(seq) FROM mutations WHERE device_id = ?1",
        params![device_id],
        |r| r.get(0),
    )
}

/// The ranges `[from, to]` of seqs in `first..=last` the server holds no mutation of (in
/// any status: a rejected one or a withdrawal link was answered), lowest first, at most
/// [`MAX_MISSING_RANGES`]. The device asks from the lowest seq it could still send again
/// (its retention period), so a year-old log is not read at every handshake. Most
/// handshakes find the range whole by a count over the `(device_id, seq)` index; only
/// then are the seqs read, in order, until the list is full. (A window query over the same
/// range took 20 times the count's time on SQLite.) A seq held twice is no hole.
pub(crate) fn missing(
    tx: &Tx<'_>,
    device_id: &str,
    first: i64,
    last: i64,
) -> Result<Vec<[i64; 2]>> {
    let first = first.max(1);
    if first > last {
        return Ok(Vec::new());
    }
    let held: i64 = tx
        .prepare_cached(
            "SELECT COUNT(DISTINCT seq) FROM mutations
             WHERE device_id = ?1 AND seq >= ?2 AND seq <= ?3",
        )?
        .query_row(params![device_id, first, last], |r| r.get(0))?;
    if Some(held) == last.checked_sub(first).and_then(|n| n.checked_add(1)) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut next = first;
    let mut rows = tx
        .prepare_cached(
            "SELECT DISTINCT seq FROM mutations
             WHERE device_id = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq",
        )?
        .query(params![device_id, first, last])?;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        if seq > next {
            out.push([next, seq - 1]);
            if out.len() == MAX_MISSING_RANGES {
                return Ok(out);
            }
        }
        next = seq.saturating_add(1);
    }
    if next <= last {
        out.push([next, last]);
    }
    Ok(out)
}
