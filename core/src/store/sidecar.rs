//! The store's sidecar (`gridworker.store.json`): written once when a store is created, it
//! lets the core tell a fresh install (no sidecar, no database) from a database that was lost
//! or emptied (sidecar, but no database or a zero-byte one): the latter is damage, never a
//! reason to start afresh silently.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::store::crypt::DatabaseKey;
use crate::store::files;

/// File name of the sidecar inside the data directory.
pub const SIDECAR_FILE: &str = "gridworker.store.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    /// Random id of the store, kept across a recovery (it is the same store, salvaged).
    pub store_id: String,
    /// Schema version of the database when the sidecar was last written.
    pub schema_version: i64,
    /// Damage was found in the database after it opened (by the full check before a sync,
    /// or by any read or write): every later open refuses it until it is recovered, even
    /// though the cheap check at open would not see the damaged page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub damaged: bool,
    /// Set when the database is encrypted: HMAC-SHA256 of the store id under the key,
    /// truncated ([`crate::store::crypt::DatabaseKey`]), never the key. A sidecar without
    /// it (written before encryption existed, or by a plain store) means a plain database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_check: Option<String>,
    /// A re-encrypted database was committed (the key check above is already the new key's)
    /// and may still have to be moved into place: see [`crate::store::crypt`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub swap_pending: bool,
}

/// What the data directory says about an earlier store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SidecarState {
    /// No sidecar: no store was ever created here by a build that writes one.
    Absent,
    Present(Sidecar),
    /// A sidecar exists but cannot be read: a store existed.
    Unreadable,
}

impl SidecarState {
    pub fn store_existed(&self) -> bool {
        !matches!(self, SidecarState::Absent)
    }

    /// Whether damage was recorded against the store.
    pub fn damaged(&self) -> bool {
        matches!(self, SidecarState::Present(s) if s.damaged)
    }
}

pub fn read(dir: &Path) -> Result<SidecarState> {
    match std::fs::read(dir.join(SIDECAR_FILE)) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes)
            .map(SidecarState::Present)
            .unwrap_or(SidecarState::Unreadable)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SidecarState::Absent),
        Err(e) => Err(e.into()),
    }
}

pub fn write(dir: &Path, sidecar: &Sidecar) -> Result<()> {
    let text = serde_json::to_vec_pretty(sidecar)
        .map_err(|_| crate::Error::invalid("sidecar", "cannot be encoded"))?;
    files::write_atomic(&dir.join(SIDECAR_FILE), &text)
}

/// Writes the sidecar for the store now in `dir` (encrypted under `key`, or plain) unless an
/// identical one is there, keeping an existing store id.
pub fn ensure(
    dir: &Path,
    found: &SidecarState,
    schema_version: i64,
    key: Option<&DatabaseKey>,
) -> Result<()> {
    let store_id = match found {
        SidecarState::Present(s) => s.store_id.clone(),
        _ => crate::domain::new_id(),
    };
    let wanted = Sidecar {
        key_check: key.map(|k| k.check_value(&store_id)),
        store_id,
        schema_version,
        damaged: false,
        swap_pending: false,
    };
    if matches!(found, SidecarState::Present(s) if *s == wanted) {
        return Ok(());
    }
    write(dir, &wanted)
}

/// Records that the store in `dir` is damaged, so that every later open refuses it until
/// it is recovered. Keeps the store id; a missing or unreadable sidecar gets a new one.
pub fn mark_damaged(dir: &Path, schema_version: i64) -> Result<()> {
    let sidecar = match read(dir)? {
        SidecarState::Present(s) if s.damaged => return Ok(()),
        SidecarState::Present(s) => Sidecar { damaged: true, ..s },
        _ => Sidecar {
            store_id: crate::domain::new_id(),
            schema_version,
            damaged: true,
            key_check: None,
            swap_pending: false,
        },
    };
    write(dir, &sidecar)
}
