//! Small typed device state kept in the `kv` table.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::Result;

/// Keys used in `kv`; one list so no two modules pick the same name.
pub mod keys {
    /// Last fix used for a record ([`crate::policy::PreviousFix`]).
    pub const LAST_FIX: &str = "last_fix";
    /// The policy last sent by the server.
    pub const SERVER_POLICY: &str = "server_policy";
    /// Pull cursor.
    pub const PULL_CURSOR: &str = "pull_cursor";
    /// Server time minus device time at the last handshake (ms).
    pub const CLOCK_OFFSET_MS: &str = "clock_offset_ms";
    /// When the last sync finished successfully (RFC 3339).
    pub const LAST_SYNC: &str = "last_sync";
    /// The `server_id` of the server the pull cursor and synced marks came from.
    pub const SERVER_ID: &str = "server_id";
    /// The photo key of the store's previous key, kept (inside the database, under the new
    /// key) from a rekey's commit point until every photo is re-sealed under the new one.
    pub const PREVIOUS_PHOTO_KEY: &str = "previous_photo_key";
    /// The district's report categories and departments ([`crate::sync::wire::Change::ReportCatalog`]).
    pub const REPORT_CATALOG: &str = "report_catalog";
    /// Set once a store upgraded from a build without the catalog pulled the feed from
    /// scratch to get it (the catalog was behind its cursor).
    pub const CATALOG_REPULLED: &str = "catalog_repulled";
    /// The protocol version of the server the pull cursor was last reset for (see the
    /// handshake in `sync::engine`).
    pub const FEED_PROTOCOL: &str = "feed_protocol";
    /// The worker the store belongs to (`worker::owner`).
    pub const OWNER_WORKER: &str = "owner_worker";
}

pub fn get<T: DeserializeOwned>(conn: &Connection, key: &str) -> Result<Option<T>> {
    let raw: Option<String> = conn
        .prepare_cached("SELECT value FROM kv WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    // A value this build cannot read is treated as absent rather than failing every caller.
    Ok(raw.and_then(|s| serde_json::from_str(&s).ok()))
}

pub fn put<T: Serialize>(conn: &Connection, key: &str, value: &T) -> Result<()> {
    let text =
        serde_json::to_string(value).map_err(|e| crate::Error::invalid(key, e.to_string()))?;
    conn.prepare_cached(
        "INSERT INTO kv(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, text])?;
    Ok(())
}

/// Removes a key (a value that no longer applies, like a cursor of another server).
pub fn delete(conn: &Connection, key: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM kv WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}
