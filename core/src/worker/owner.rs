//! A store belongs to the worker who first opened it.
//!
//! Its records carry that worker's id, its residents and tracks are that worker's grids and
//! whereabouts. Opened for another worker (a phone reissued without a wipe), the server
//! would refuse every push holding the first worker's records as a whole (403
//! `worker_mismatch`), so the new worker's records would never leave the phone, and the new
//! worker would see the first one's data. The open is refused instead, with a typed error
//! the app acts on: sync as the first worker, then wipe (docs/protocol.md §3.3).

use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::state::{self, keys};
use rusqlite::OptionalExtension;

/// Records `worker_id` as the store's owner on its first open; refuses another worker.
/// A store made before owners were recorded belongs to the worker of its newest record, or
/// to whoever opens it when it holds none.
pub(super) fn claim(store: &Store, worker_id: &str) -> Result<()> {
    let recorded: Option<String> = store.read(|c| state::get(c, keys::OWNER_WORKER))?;
    let owner = match recorded.clone() {
        Some(o) => Some(o),
        None => store.read(|c| {
            Ok(c.prepare_cached(
                "SELECT json_extract(payload, '$.worker_id') FROM outbox
                 WHERE payload <> '' AND json_valid(payload) ORDER BY seq DESC LIMIT 1",
            )?
            .query_row([], |r| r.get::<_, Option<String>>(0))
            .optional()?
            .flatten())
        })?,
    };
    if owner.as_deref().is_some_and(|o| o != worker_id) {
        return Err(Error::InvalidState {
            what: "store",
            state: "another_worker".into(),
            reason: "the store holds another worker's records: sync them as that worker, then \
                     wipe the store (or open a store of this worker's own)"
                .into(),
        });
    }
    if recorded.is_none() {
        store.write(|tx| state::put(tx, keys::OWNER_WORKER, &worker_id))?;
    }
    Ok(())
}
