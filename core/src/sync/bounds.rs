//! The phone's side of the bounds of server answers (`docs/protocol.md`, "Bounds of server
//! answers"; the rules are `gridworker_model::feed_bounds`, which the server applies before
//! it writes its feed). Anything beyond them is a protocol error raised before the store is
//! touched: a broken or hostile server must not be able to bloat the phone's database or
//! make every later command slow.

use gridworker_model::feed_bounds as rules;
pub use gridworker_model::feed_bounds::{
    MAX_ADDRESS_CHARS, MAX_CATALOG, MAX_GRID_VERTICES, MAX_ID_CHARS, MAX_NAME_CHARS,
    MAX_PHONE_CHARS, MAX_TAG_CHARS, MAX_TAGS, MAX_WORKER_GRIDS,
};
use gridworker_model::invalid::Invalid;

use super::wire::{HandshakeResponse, PullResponse};
use crate::error::{Error, Result};

fn refuse(what: &str) -> Error {
    Error::Protocol {
        reason: format!("server sent {what} beyond the documented bounds"),
    }
}

fn refused(e: Invalid) -> Error {
    refuse(&format!("{}, which {}", e.field, e.reason))
}

fn text(field: &str, s: &str, max_chars: usize) -> Result<()> {
    rules::text(field, s, max_chars).map_err(refused)
}

/// The handshake's strings and lists (the policy has its own bounds).
pub fn check_handshake(h: &HandshakeResponse) -> Result<()> {
    // A version 1 server would refuse this build's payloads (new photo fields and flags) one
    // by one; stopping here keeps every record pending until the server is updated. A
    // version 2 server takes everything but the patrol kinds, which the push holds back.
    if h.protocol < super::wire::OLDEST_SERVER_PROTOCOL {
        return Err(crate::Error::Protocol {
            reason: format!(
                "the server speaks protocol {}; this app needs {}: update the server",
                h.protocol,
                super::wire::OLDEST_SERVER_PROTOCOL
            ),
        });
    }
    text("server_id", &h.server_id, MAX_ID_CHARS)?;
    text("worker.id", &h.worker.id, MAX_ID_CHARS)?;
    text("worker.name", &h.worker.name, MAX_NAME_CHARS)?;
    rules::codes("grids", &h.grids).map_err(refused)?;
    missing(h)
}

/// The holes: at most the documented number, each within `1..=device_last_seq`, ascending
/// and apart. A server that lists its whole range would have the phone re-send every entry
/// it still holds; refused before anything is stored, the phone's state stays. (A hole below
/// what the phone asked from has nothing there to send again: harmless.)
fn missing(h: &HandshakeResponse) -> Result<()> {
    let last = h.device_last_seq.unwrap_or(0);
    if h.device_missing.len() > super::wire::MAX_MISSING_RANGES {
        return Err(refuse("device_missing"));
    }
    let mut after = 0;
    for &[from, to] in &h.device_missing {
        if from <= after || to < from || to > last {
            return Err(refuse("device_missing"));
        }
        after = to;
    }
    Ok(())
}

/// A pull page: no more changes than `limit` asked for, each within bounds.
pub fn check_page(page: &PullResponse, limit: u32) -> Result<()> {
    if page.changes.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        return Err(refuse("a page with more changes than asked for"));
    }
    check_contents(page)
}

/// The cursor and every change of a page within bounds (whatever was asked for).
pub fn check_contents(page: &PullResponse) -> Result<()> {
    text("next_cursor", &page.next_cursor, MAX_ID_CHARS)?;
    page.changes
        .iter()
        .try_for_each(|c| rules::check_change(c).map_err(refused))
}
