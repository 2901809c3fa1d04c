//! Photo uploads: content-addressed, before the records that reference them, resumable.
//!
//! Each attempt first asks the server how many bytes of the photo it holds, then streams the
//! rest straight from the file (constant memory: a small buffer, never the whole photo); a
//! sealed file is unsealed chunk by chunk into the request body, starting inside the chunk
//! that holds the server's offset, with no plaintext copy on disk. A
//! cut mid-upload therefore costs at most what was in flight. The server verifies the hash
//! once it has every byte; only its "complete" answer marks the photo uploaded.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use reqwest::Method;
use rusqlite::Connection;
use tokio_util::sync::CancellationToken;

use super::context::{Context, blocking};
use super::progress::{SyncPhase, SyncProgress};
use super::retry::Failure;
use super::transport::{Activity, Payload, decode};
use super::wire;
use crate::error::{Error, Result};
use crate::store::outbox::{self, OutboxEntry, QuarantineReason, QuarantinedRecord};
use crate::store::photos::{self, PhotoKey, seal};
use crate::store::sync_queries::{self, PendingPhoto as Pending};

/// What the photo phase of a run did.
#[derive(Debug, Default)]
pub(super) struct PhotoOutcome {
    pub uploaded: u64,
    /// Records set aside because a photo they need cannot be sent.
    pub quarantined: Vec<QuarantinedRecord>,
    /// Photos left for the next run after a transient failure outlasted the retry budget.
    pub skipped: u64,
}

/// What to do about one photo that failed.
enum Verdict {
    /// Its records cannot be sent as they stand.
    Quarantine(QuarantineReason),
    /// Try again next run; its records wait, the others go.
    Skip,
}

/// True when `entry` references a photo the server does not have yet.
pub fn waits_for_photos(conn: &Connection, entry: &OutboxEntry) -> Result<bool> {
    sync_queries::waits_for_photos(conn, &entry.kind, &entry.record_id)
}

/// Uploads every photo that a pending record needs. A photo that cannot be sent never stops
/// the run: its records are quarantined (missing, altered, refused by the server) or, after
/// a transient failure outlasting the retry budget, left for the next run. Only what affects
/// every request (cancel, authentication, protocol version, the local store) ends the run.
pub(super) async fn upload_pending(
    inner: &Context,
    cancel: &CancellationToken,
) -> Result<PhotoOutcome> {
    let worker = inner.worker.clone();
    let pending = blocking(move || worker.store().read(sync_queries::pending_photos)).await?;
    let mut outcome = PhotoOutcome::default();
    if pending.is_empty() {
        return Ok(outcome);
    }
    let mut progress = SyncProgress::new(SyncPhase::Photos);
    progress.items_total = Some(pending.len() as u64);
    progress.bytes_total = Some(pending.iter().map(|p| p.size).sum());
    inner.progress(progress.clone());
    for p in pending {
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let verdict = match verify(inner, &p).await? {
            Some(reason) => Some(Verdict::Quarantine(reason)),
            None => match upload_one(inner, cancel, &p).await {
                Ok(()) => None,
                Err(e) => Some(judge_failure(inner, &p, e).await?),
            },
        };
        let worker = inner.worker.clone();
        let sha = p.sha256.clone();
        match verdict {
            None => {
                blocking(move || {
                    worker
                        .store()
                        .write(|tx| sync_queries::mark_photo_uploaded(tx, &sha))
                })
                .await?;
                outcome.uploaded += 1;
            }
            Some(Verdict::Quarantine(reason)) => {
                let set_aside = blocking(move || {
                    let now = worker.config().clock.now();
                    worker
                        .store()
                        .write(|tx| outbox::quarantine_photo_users(tx, &sha, &reason, now))
                })
                .await?;
                for q in &set_aside {
                    log::warn!(
                        "sync: {} {} quarantined: {}",
                        q.kind,
                        q.record_id,
                        q.reason.code()
                    );
                }
                outcome.quarantined.extend(set_aside);
            }
            Some(Verdict::Skip) => {
                log::warn!("sync: photo {} left for the next run", p.sha256);
                outcome.skipped += 1;
            }
        }
        progress.items_done += 1;
        progress.bytes_done += p.size;
        inner.progress(progress.clone());
    }
    Ok(outcome)
}

/// Checks the stored file against its recorded size and SHA-256 (streaming, constant
/// memory). `Some(reason)` when it cannot be sent as recorded.
async fn verify(inner: &Context, p: &Pending) -> Result<Option<QuarantineReason>> {
    let Some(rel) = p.rel_path.clone() else {
        return Ok(Some(QuarantineReason::PhotoMissing {
            sha256: p.sha256.clone(),
        }));
    };
    let path = inner.worker.data_dir().join(rel);
    let (sha, size) = (p.sha256.clone(), p.size);
    let worker = inner.worker.clone();
    blocking(move || Ok(check_file(&path, &sha, size, worker.photo_keys()))).await
}

/// Reads the whole plaintext back (unsealing a sealed file chunk by chunk) and compares it
/// with the recorded size and hash. A sealed file that fails authentication, is truncated
/// or was sealed with a key this store does not hold cannot be sent as recorded: altered.
fn check_file(path: &Path, sha256: &str, size: u64, keys: &[PhotoKey]) -> Option<QuarantineReason> {
    let missing = || {
        Some(QuarantineReason::PhotoMissing {
            sha256: sha256.to_string(),
        })
    };
    let altered = || {
        Some(QuarantineReason::PhotoAltered {
            sha256: sha256.to_string(),
        })
    };
    let reader = match photos::open_file(path, sha256, keys) {
        Ok(r) => r,
        Err(Error::PhotoSealBroken { .. }) => return altered(),
        // Gone or unreadable (permissions, a directory in its place): as good as missing.
        Err(_) => return missing(),
    };
    if photos::reads_as(reader, sha256, size) {
        None
    } else {
        altered()
    }
}

/// Decides what a failed upload means for the photo's records.
async fn judge_failure(inner: &Context, p: &Pending, e: Error) -> Result<Verdict> {
    match e {
        Error::Server { status, reason } if (400..500).contains(&status) => {
            // The reason is "code: message"; only the code is kept.
            let code = reason
                .split(':')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            if code == wire::codes::PHOTO_HASH_MISMATCH {
                // The bytes changed while they were being sent.
                return Ok(Verdict::Quarantine(QuarantineReason::PhotoAltered {
                    sha256: p.sha256.clone(),
                }));
            }
            Ok(Verdict::Quarantine(QuarantineReason::Refused {
                status,
                code,
                sha256: Some(p.sha256.clone()),
            }))
        }
        // A transient failure that outlasted the budget, a file that went away or changed
        // under the upload (a truncated file shows up as a cut stream): look at the file
        // again before calling it the network's fault.
        Error::Network { .. }
        | Error::Protocol { .. }
        | Error::Io(_)
        | Error::Server { .. }
        | Error::PhotoSealBroken { .. } => match verify(inner, p).await? {
            Some(reason) => Ok(Verdict::Quarantine(reason)),
            None => Ok(Verdict::Skip),
        },
        other => Err(other),
    }
}

async fn upload_one(inner: &Context, cancel: &CancellationToken, p: &Pending) -> Result<()> {
    let Some(rel) = &p.rel_path else {
        return Err(Error::Io(std::io::ErrorKind::NotFound.into()));
    };
    let path = inner.worker.data_dir().join(rel);
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
                let body_rx = {
                    let (path, sha) = (path.clone(), p.sha256.clone());
                    let worker = inner.worker.clone();
                    blocking(move || {
                        let mut reader = photos::open_file(&path, &sha, worker.photo_keys())?;
                        reader.seek_to(offset)?;
                        Ok(plaintext_chunks(reader, chunk))
                    })
                    .await
                    .map_err(Failure::Fatal)?
                };
                let activity = Activity::new();
                let sent = Arc::new(AtomicU64::new(0));
                let (act, sent2) = (activity.clone(), sent.clone());
                let half = (p.size - offset) / 2;
                let stream = body_rx.map(move |c| {
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
                let reply = match inner
                    .transport
                    .call(
                        Method::PATCH,
                        &url,
                        // A second call (after a token refresh) cannot replay the consumed
                        // stream: it ends as a transient failure, and the retry loop asks the
                        // server what it holds and resumes from there. (Sent empty, without
                        // its Upload-* headers, it was refused as a bad request, and the
                        // record quarantined as refused.)
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
                            None => Payload::Spent,
                        },
                    )
                    .await
                {
                    // The server's offset moved between the state query and this upload
                    // (its previous upload ended meanwhile): the next attempt asks again
                    // and resumes from there. Not a refusal of the photo.
                    Err(Failure::Fatal(Error::Server {
                        status: 409,
                        reason,
                    })) if reason.starts_with(wire::codes::OFFSET_MISMATCH) => {
                        return Err(Failure::transient(reason));
                    }
                    other => other?,
                };
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

/// The plaintext of an opened photo as a stream of `chunk`-sized pieces, produced on a
/// blocking thread (file reads, unsealing) and handed over through a two-slot channel:
/// constant memory, and never a plaintext copy on disk. A piece failing authentication ends
/// the stream with an error, which cuts the request; the failure is then judged by looking
/// at the file again ([`judge_failure`]).
fn plaintext_chunks(
    mut reader: photos::PhotoReader,
    chunk: usize,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(2);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buf = vec![0u8; chunk];
            let item = match seal::read_full(&mut reader, &mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    Ok(buf)
                }
                Err(e) => Err(e),
            };
            let stop = item.is_err();
            // The receiver is gone when the request ended (cut, cancelled): stop reading.
            if tx.blocking_send(item).is_err() || stop {
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|i| (i, rx)) })
}

fn media_type_static(m: &str) -> &'static str {
    match m {
        "image/png" => "image/png",
        "image/heic" => "image/heic",
        "image/jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}
