//! Photo uploads: content-addressed, before the records that reference them, resumable.
//!
//! Each attempt first asks the server how many bytes of the photo it holds, then streams the
//! rest straight from the file (constant memory: a small buffer, never the whole photo). A
//! cut mid-upload therefore costs at most what was in flight. The server verifies the hash
//! once it has every byte; only its "complete" answer marks the photo uploaded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use reqwest::Method;
use rusqlite::{Connection, params};
use tokio::io::AsyncSeekExt;
use tokio_util::io::ReaderStream;
use tokio_util::sync::CancellationToken;

use super::engine::{Inner, blocking};
use super::progress::{SyncPhase, SyncProgress};
use super::retry::Failure;
use super::transport::{Activity, Payload, decode};
use super::wire;
use crate::error::{Error, Result};
use crate::store::outbox::{OutboxEntry, kind};

/// A photo waiting for upload.
#[derive(Debug, Clone)]
struct Pending {
    sha256: String,
    size: u64,
    media_type: String,
    rel_path: String,
}

/// True when `entry` references a photo the server does not have yet.
pub fn waits_for_photos(conn: &Connection, entry: &OutboxEntry) -> Result<bool> {
    let sql = match entry.kind.as_str() {
        kind::REPORT => {
            "SELECT EXISTS(SELECT 1 FROM report_photos rp JOIN photos p ON p.sha256 = rp.sha256
             WHERE rp.report_id = ?1 AND p.uploaded = 0)"
        }
        kind::TASK_COMPLETION => {
            "SELECT EXISTS(SELECT 1 FROM task_completion_photos tp JOIN photos p ON p.sha256 = tp.sha256
             WHERE tp.completion_id = ?1 AND p.uploaded = 0)"
        }
        _ => return Ok(false),
    };
    Ok(conn
        .prepare_cached(sql)?
        .query_row([&entry.record_id], |r| r.get(0))?)
}

fn pending_photos(conn: &Connection) -> Result<Vec<Pending>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.sha256, p.size, p.media_type, p.rel_path FROM photos p
         WHERE p.uploaded = 0 AND p.rel_path IS NOT NULL AND (
             EXISTS (SELECT 1 FROM report_photos rp JOIN outbox o ON o.record_id = rp.report_id
                     WHERE rp.sha256 = p.sha256 AND o.state = 'pending')
             OR EXISTS (SELECT 1 FROM task_completion_photos tp JOIN outbox o ON o.record_id = tp.completion_id
                     WHERE tp.sha256 = p.sha256 AND o.state = 'pending'))
         ORDER BY p.sha256",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Pending {
            sha256: r.get(0)?,
            size: r.get::<_, i64>(1)?.max(0) as u64,
            media_type: r.get(2)?,
            rel_path: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Uploads every photo that a pending record needs. Returns how many were completed.
pub(super) async fn upload_pending(inner: &Arc<Inner>, cancel: &CancellationToken) -> Result<u64> {
    let worker = inner.worker.clone();
    let pending = blocking(move || worker.store().read(pending_photos)).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let mut progress = SyncProgress::new(SyncPhase::Photos);
    progress.items_total = Some(pending.len() as u64);
    progress.bytes_total = Some(pending.iter().map(|p| p.size).sum());
    inner.progress(progress.clone());
    let mut done = 0;
    for p in pending {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        upload_one(inner, cancel, &p).await?;
        let worker = inner.worker.clone();
        let sha = p.sha256.clone();
        blocking(move || {
            worker.store().write(|tx| {
                tx.execute(
                    "UPDATE photos SET uploaded = 1 WHERE sha256 = ?1",
                    params![sha],
                )?;
                Ok(())
            })
        })
        .await?;
        done += 1;
        progress.items_done = done;
        progress.bytes_done += p.size;
        inner.progress(progress.clone());
    }
    Ok(done)
}

async fn upload_one(inner: &Arc<Inner>, cancel: &CancellationToken, p: &Pending) -> Result<()> {
    let path = inner.worker.data_dir().join(&p.rel_path);
    let url = wire::photo_path(&p.sha256);
    let chunk = inner.options.photo_chunk_bytes.max(4096);
    inner
        .with_retry(cancel, || {
            let (path, url) = (path.clone(), url.clone());
            async move {
                let status: wire::PhotoStatus = inner
                    .transport
                    .json::<(), _>(Method::GET, &url, None)
                    .await?;
                if status.complete {
                    return Ok(());
                }
                let offset = status.offset.min(p.size);
                let mut file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| Failure::Fatal(Error::Io(e)))?;
                file.seek(std::io::SeekFrom::Start(offset))
                    .await
                    .map_err(|e| Failure::Fatal(Error::Io(e)))?;
                let activity = Activity::new();
                let sent = Arc::new(AtomicU64::new(0));
                let (act, sent2) = (activity.clone(), sent.clone());
                let half = (p.size - offset) / 2;
                let stream = ReaderStream::with_capacity(file, chunk).map(move |c| {
                    if let Ok(b) = &c {
                        act.touch();
                        let before = sent2.fetch_add(b.len() as u64, Ordering::Relaxed);
                        if before < half && before + b.len() as u64 >= half {
                            super::failpoint("photo_upload_half");
                        }
                    }
                    c
                });
                let mut body = Some(reqwest::Body::wrap_stream(stream));
                let reply = inner
                    .transport
                    .call(
                        Method::PATCH,
                        &url,
                        // A second call (after a token refresh) cannot replay the consumed
                        // stream: it sends nothing, the server answers "incomplete", and the
                        // retry loop resumes from what the server holds.
                        move || match body.take() {
                            Some(body) => Payload::Stream {
                                body,
                                len: p.size - offset,
                                content_type: media_type_static(&p.media_type),
                                activity: activity.clone(),
                                headers: vec![
                                    (wire::HEADER_UPLOAD_OFFSET, offset.to_string()),
                                    (wire::HEADER_UPLOAD_LENGTH, p.size.to_string()),
                                ],
                            },
                            None => Payload::None,
                        },
                    )
                    .await?;
                let status: wire::PhotoStatus = decode(&reply.body)?;
                if status.complete {
                    Ok(())
                } else {
                    Err(Failure::transient(format!(
                        "photo upload incomplete: server holds {} of {} bytes",
                        status.offset, p.size
                    )))
                }
            }
        })
        .await
}

fn media_type_static(m: &str) -> &'static str {
    match m {
        "image/png" => "image/png",
        "image/heic" => "image/heic",
        "image/jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}
