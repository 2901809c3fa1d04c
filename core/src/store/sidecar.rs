//! The store's sidecar (`gridworker.store.json`): written once when a store is created, it
//! lets the core tell a fresh install (no sidecar, no database) from a database that was lost
//! or emptied (sidecar, but no database or a zero-byte one): the latter is damage, never a
//! reason to start afresh silently.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::store::files;

/// File name of the sidecar inside the data directory.
pub const SIDECAR_FILE: &str = "gridworker.store.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    /// Random id of the store, kept across a recovery (it is the same store, salvaged).
    pub store_id: String,
    /// Schema version of the database when the sidecar was last written.
    pub schema_version: i64,
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

/// Writes the sidecar for the store now in `dir` unless an identical one is there, keeping
/// an existing store id.
pub fn ensure(dir: &Path, found: &SidecarState, schema_version: i64) -> Result<()> {
    let store_id = match found {
        SidecarState::Present(s) if s.schema_version == schema_version => return Ok(()),
        SidecarState::Present(s) => s.store_id.clone(),
        _ => crate::domain::new_id(),
    };
    write(
        dir,
        &Sidecar {
            store_id,
            schema_version,
        },
    )
}
