//! Bodies of the fuzz targets: what the phone does with each server answer, from raw bytes.
//! Each returns `Ok` when the answer was accepted and `Err(reason)` when it was refused; a
//! panic, or a refused answer that changed the store, is a bug. Shared by the cargo-fuzz
//! targets (`fuzz/fuzz_targets/`) and by `core/tests/fuzz_corpus.rs`, which includes this
//! file by path and runs it over `fuzz/corpus/` on stable Rust.

use gridworker_core::sync::wire::{HandshakeResponse, PhotoStatus, PullResponse, PushResponse};
use gridworker_core::sync::{apply, bounds, transport};
use gridworker_core::{Config, GridWorker};

/// The page size the engine asks for by default.
pub const PAGE_LIMIT: u32 = 2000;

fn decode<T: serde::de::DeserializeOwned>(data: &[u8]) -> Result<T, String> {
    transport::decode::<T>(data).map_err(|e| format!("{e:?}"))
}

/// `GET /v1/handshake`: decode, policy bounds, reply bounds; an accepted policy's time
/// arithmetic must not panic.
pub fn handshake(data: &[u8]) -> Result<(), String> {
    let h: HandshakeResponse = decode(data)?;
    h.policy.validate().map_err(|e| e.to_string())?;
    bounds::check_handshake(&h).map_err(|e| e.to_string())?;
    let now = chrono::Utc::now();
    let _ = h.policy.cooldown_since(now);
    let _ = h
        .policy
        .cooldown_since(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    Ok(())
}

/// `POST /v1/push` reply.
pub fn push_reply(data: &[u8]) -> Result<(), String> {
    decode::<PushResponse>(data).map(|_| ())
}

/// `GET /v1/changes` page, checked as the engine checks it before applying.
pub fn pull_page(data: &[u8]) -> Result<(), String> {
    let page: PullResponse = decode(data)?;
    bounds::check_page(&page, PAGE_LIMIT).map_err(|e| e.to_string())
}

/// `GET /v1/photos/{sha}`.
pub fn photo_status(data: &[u8]) -> Result<(), String> {
    decode::<PhotoStatus>(data).map(|_| ())
}

/// A device store to apply pages to: a temporary directory, one own submitted report
/// (`r-own`) and one draft (`r-draft`) for the status rules.
pub struct Store {
    _dir: tempfile::TempDir,
    pub worker: GridWorker,
}

impl Store {
    pub fn new() -> Result<Store, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config = Config::new(dir.path(), "https://127.0.0.1:9", "w-fuzz", "dev-fuzz");
        let worker = GridWorker::open(config).map_err(|e| e.to_string())?;
        worker
            .test_store()
            .write(|tx| {
                let now = chrono::Utc::now();
                for (id, status) in [("r-own", "submitted"), ("r-draft", "draft")] {
                    tx.execute(
                        "INSERT OR IGNORE INTO reports (id, own, category, description, status, created_at, updated_at)
                         VALUES (?1, 1, 'c', 'd', ?2, ?3, ?3)",
                        rusqlite::params![id, status, now],
                    )?;
                }
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        Ok(Store { _dir: dir, worker })
    }

    /// Rows per table the pull writes to, the stored cursor and the two reports' statuses.
    fn state(&self) -> (Vec<i64>, Option<String>, String, String) {
        self.worker
            .test_store()
            .read(|c| {
                let mut counts = Vec::new();
                for t in [
                    "grids",
                    "points",
                    "households",
                    "reports",
                    "tasks",
                    "worker_grids",
                ] {
                    counts
                        .push(c.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))?);
                }
                let cursor: Option<String> = c
                    .query_row("SELECT value FROM kv WHERE key = 'pull_cursor'", [], |r| {
                        r.get(0)
                    })
                    .ok();
                let status = |id: &str| {
                    c.query_row("SELECT status FROM reports WHERE id = ?1", [id], |r| {
                        r.get::<_, String>(0)
                    })
                };
                Ok((counts, cursor, status("r-own")?, status("r-draft")?))
            })
            .unwrap_or_default()
    }
}

/// Applies a page as the engine would (bounds first, then one transaction). Invariants:
/// a refused page changes nothing; an own report never moves into `draft` or `queued`; a
/// draft never moves.
pub fn apply_page(store: &Store, data: &[u8]) -> Result<(), String> {
    let page: PullResponse = decode(data)?;
    let before = store.state();
    let result = bounds::check_page(&page, PAGE_LIMIT)
        .and_then(|()| apply::apply_page(&store.worker, page))
        .map(|_| ())
        .map_err(|e| e.to_string());
    let after = store.state();
    if result.is_err() {
        assert_eq!(before, after, "a refused page changed the store");
    }
    assert!(
        after.2 != "draft" && after.2 != "queued",
        "an own report moved into a device-owned status: {}",
        after.2
    );
    assert_eq!(after.3, "draft", "a draft was moved by the server");
    result
}
