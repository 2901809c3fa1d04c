//! Staying whole across a server that was reset (new `server_id`) or restored from an older
//! backup (it holds less of the device's log than the device believes it sent).
//!
//! Decided at handshake, in the same transaction that stores the server's reply:
//! - a different `server_id` than the one the cursor came from drops the pull cursor, so the
//!   run pulls from scratch instead of failing on 410 `cursor_expired` forever;
//! - synced outbox entries beyond the server's `device_last_seq`, or in a hole below it the
//!   server reports (`device_missing`), become pending again and are sent in this run with
//!   their original seq, hash and mutation id (the server's idempotency by mutation id makes
//!   a re-send of something it still holds harmless);
//! - synced entries older than the retention period lose their payload: they can no longer
//!   be re-sent, and residents' data does not stay in the log longer than needed. Where the
//!   server lacks one, its link goes alone (an expired link, protocol 5), so the entries
//!   after it are not refused as too far ahead of the server's head.

use chrono::{DateTime, Utc};
use rusqlite::Transaction;

use crate::error::Result;
use crate::store::{state, sync_queries};

/// What reconciling with the server changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// The server is another instance than the one the cursor came from.
    pub server_changed: bool,
    /// Synced entries made pending again because the server lacks them.
    pub resent: u64,
}

/// What the handshake told of the server's copy of the device's log.
#[derive(Debug, Clone, Copy)]
pub struct ServerCopy<'a> {
    pub server_id: &'a str,
    pub device_last_seq: Option<i64>,
    pub device_missing: &'a [[i64; 2]],
    /// The server takes expired links (protocol 5).
    pub expired_links: bool,
}

/// Applies the handshake's `server_id`, `device_last_seq` and `device_missing` to the
/// device's state.
pub fn reconcile(tx: &Transaction<'_>, server: ServerCopy<'_>) -> Result<Reconciled> {
    let mut out = Reconciled::default();
    let server_id = server.server_id;
    // An empty id tells nothing (a server that does not implement it); keep what we know.
    if !server_id.is_empty() {
        let known: Option<String> = state::get(tx, state::keys::SERVER_ID)?;
        if known.as_deref() != Some(server_id) {
            // A device upgraded from a build that did not remember the id keeps its cursor:
            // the 410 handling in the pull covers the case where it is stale.
            if known.is_some() {
                state::delete(tx, state::keys::PULL_CURSOR)?;
                out.server_changed = true;
            }
            state::put(tx, state::keys::SERVER_ID, &server_id)?;
        }
    }
    let held = server.device_last_seq.unwrap_or(0);
    // What the server lacks: above its last seq, and the holes it reports below it (an
    // entry sent after later ones, photos waiting for Wi-Fi, that the restored backup
    // predates; the phone's pending entries there are left as they are).
    let mut lost = vec![(held.saturating_add(1), i64::MAX)];
    lost.extend(
        server
            .device_missing
            .iter()
            .map(|&[from, to]| (from, to.min(held))),
    );
    let (mut resent, mut links) = (0, 0);
    for (from, to) in lost {
        resent += sync_queries::resend_synced_in(tx, from, to)?;
        // Entries whose payload was dropped after the retention period cannot be re-sent
        // (the hash covers the payload): their links go alone, where the server takes them.
        if server.expired_links {
            links += sync_queries::send_expired_links_in(tx, from, to)?;
        }
    }
    if resent > 0 {
        // Their photos may be missing on the server too: upload again those still on the
        // device (the server answers "complete" at once for those it holds).
        sync_queries::reupload_photos_of_pending(tx)?;
        log::warn!("sync: the server lacks {resent} synced entries of this device; re-sending");
    }
    if links > 0 {
        log::warn!(
            "sync: the server lacks {links} entries this device no longer holds; sending their links"
        );
    }
    out.resent = resent as u64;
    Ok(out)
}

/// The time synced records age by: the earlier of the phone's clock and the server's (the
/// phone's corrected by `offset_ms`, server minus phone at the last handshake). A phone
/// clock set ahead would otherwise expire records acknowledged minutes ago, which a server
/// restored from a backup then asks for in vain; one set behind only keeps them longer.
pub fn aging_now(device_now: DateTime<Utc>, offset_ms: Option<i64>) -> DateTime<Utc> {
    offset_ms
        .and_then(|ms| device_now.checked_add_signed(chrono::Duration::milliseconds(ms)))
        .map_or(device_now, |server_now| server_now.min(device_now))
}

/// Drops the payload of entries the server acknowledged before `cutoff`, and the track
/// blocks and patrol events behind them; never touches pending or rejected entries. Returns
/// how many payloads were emptied.
pub fn expire_payloads(tx: &Transaction<'_>, cutoff: DateTime<Utc>) -> Result<u64> {
    crate::store::tracks::expire_synced(tx, cutoff)?;
    sync_queries::expire_payloads(tx, cutoff)
}
