//! Content-addressed, resumable photo uploads (tus-like; see docs/protocol.md §5).
//!
//! Bytes are appended to `photos/partial/{sha}` as they stream in, never held whole in
//! memory; what reached the disk before a cut is the resume point. A complete upload is
//! hashed, fsynced and renamed to `photos/{sha}`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::params;
use crate::store::OptionalExtension;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use gridworker_model::wire::{self, PhotoStatus, codes};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::AppState;
use crate::auth::{Caller, authenticate, bound_to_other};
use crate::error::{ApiError, ApiResult};
use crate::http::{blocking, check_sha, json_response};

pub(crate) fn complete_path(st: &AppState, sha: &str) -> PathBuf {
    st.photos_dir.join(sha)
}

/// Names a partial's owner in file names without putting ids (input) in a path.
fn owner_key(caller: &Caller) -> String {
    let mut h = Sha256::new();
    h.update(caller.worker_id.as_bytes());
    h.update([0]);
    h.update(caller.device_id.as_bytes());
    let mut key = hex::encode(h.finalize());
    key.truncate(32);
    key
}

fn partial_file(sha: &str, caller: &Caller) -> String {
    format!("{sha}.{}.part", owner_key(caller))
}

fn partial_dir(st: &AppState) -> PathBuf {
    st.photos_dir.join("partial")
}

/// The caller's own partial upload of a photo.
struct Partial {
    length: u64,
    updated_at: DateTime<Utc>,
}

/// What the database says about a photo, as far as the caller may know it.
struct Known {
    /// Length of the complete photo, when it is complete and the caller uploaded or cited it.
    complete: Option<u64>,
    partial: Option<Partial>,
}

fn expired(st: &AppState, at: DateTime<Utc>) -> bool {
    let ttl = chrono::Duration::from_std(st.partial_ttl).unwrap_or(chrono::Duration::MAX);
    Utc::now().signed_duration_since(at) > ttl
}

async fn known(st: &Arc<AppState>, sha: &str, caller: &Caller) -> ApiResult<Known> {
    let st2 = st.clone();
    let (key, worker, device) = (
        sha.to_string(),
        caller.worker_id.clone(),
        caller.device_id.clone(),
    );
    blocking(move || {
        st2.db.read(|tx| {
            let complete: Option<i64> = tx
                .query_row(
                    "SELECT p.length FROM photos p JOIN photo_refs r
                         ON r.sha256 = p.sha256 AND r.worker_id = ?2
                     WHERE p.sha256 = ?1 AND p.complete = 1",
                    [&key, &worker],
                    |r| r.get(0),
                )
                .optional()?;
            let partial = tx
                .query_row(
                    "SELECT length, updated_at FROM partial_uploads
                     WHERE sha256 = ?1 AND worker_id = ?2 AND device_id = ?3",
                    [&key, &worker, &device],
                    |r| {
                        Ok(Partial {
                            length: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                            updated_at: r.get(1)?,
                        })
                    },
                )
                .optional()?;
            Ok::<_, ApiError>(Known {
                complete: complete.map(|l| u64::try_from(l).unwrap_or(0)),
                partial,
            })
        })
    })
    .await
}

/// What the server holds of a photo for this caller. A photo the caller neither uploads nor
/// cited reads as absent, whoever else holds it: the answer is no oracle for others' photos.
async fn status(st: &Arc<AppState>, sha: &str, caller: &Caller) -> ApiResult<PhotoStatus> {
    let k = known(st, sha, caller).await?;
    if let Some(length) = k.complete {
        return Ok(PhotoStatus {
            sha256: sha.to_string(),
            offset: length,
            length: Some(length),
            complete: true,
        });
    }
    let live = k.partial.filter(|p| !expired(st, p.updated_at));
    let offset = match &live {
        None => 0,
        Some(_) => {
            match tokio::fs::metadata(partial_dir(st).join(partial_file(sha, caller))).await {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(e.into()),
            }
        }
    };
    Ok(PhotoStatus {
        sha256: sha.to_string(),
        offset,
        length: live.map(|p| p.length),
        complete: false,
    })
}

fn with_upload_headers(mut resp: Response, s: &PhotoStatus) -> Response {
    let h = resp.headers_mut();
    h.insert(wire::HEADER_UPLOAD_OFFSET, HeaderValue::from(s.offset));
    h.insert(
        wire::HEADER_UPLOAD_COMPLETE,
        HeaderValue::from_static(if s.complete { "?1" } else { "?0" }),
    );
    if let Some(l) = s.length {
        h.insert(wire::HEADER_UPLOAD_LENGTH, HeaderValue::from(l));
    }
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    resp
}

/// Authenticates a photo request and checks the device is the caller's (read-only).
async fn caller_for(st: &Arc<AppState>, h: &HeaderMap, sha: &str) -> ApiResult<Caller> {
    let caller = authenticate(st, h)?;
    check_sha(sha)?;
    let st2 = st.clone();
    let c2 = Caller {
        worker_id: caller.worker_id.clone(),
        device_id: caller.device_id.clone(),
        protocol: caller.protocol,
    };
    let other = blocking(move || st2.db.read(|tx| bound_to_other(tx, &c2))).await?;
    if other {
        return Err(crate::auth::device_bound());
    }
    Ok(caller)
}

/// How long a request waits for an upload of the same photo from the same device to end.
/// A client whose upload broke off asks for the offset and resumes within milliseconds, while
/// the server may still be reading the broken request: answering at once gave an offset that
/// was about to move, or a 503, and the client had streamed half the remaining file into the
/// refusal before it saw it (the resume bench measured 53-63 % of a 20 MB file sent twice).
const SETTLE_WAIT: Duration = Duration::from_secs(2);
const SETTLE_POLL: Duration = Duration::from_millis(10);

/// Takes the upload slot of `key`, waiting up to [`SETTLE_WAIT`] for a running upload of it to
/// end; `None` if it is still running then.
async fn take_slot(st: &Arc<AppState>, key: &str) -> Option<UploadSlot> {
    let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
    loop {
        let taken = st
            .uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string());
        if taken {
            return Some(UploadSlot {
                st: st.clone(),
                key: key.to_string(),
            });
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

/// Waits (up to [`SETTLE_WAIT`]) until no upload of `key` is running, so a status read gives
/// the offset the upload ended at rather than one still moving.
async fn settled(st: &Arc<AppState>, key: &str) {
    let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
    while tokio::time::Instant::now() < deadline
        && st
            .uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
    {
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

/// `HEAD /v1/photos/{sha}`.
pub async fn head(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    let caller = caller_for(&st, &h, &sha).await?;
    settled(&st, &partial_file(&sha, &caller)).await;
    let s = status(&st, &sha, &caller).await?;
    Ok(with_upload_headers(StatusCode::OK.into_response(), &s))
}

/// `GET /v1/photos/{sha}`: the state as JSON.
pub async fn get(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    let caller = caller_for(&st, &h, &sha).await?;
    settled(&st, &partial_file(&sha, &caller)).await;
    let s = status(&st, &sha, &caller).await?;
    Ok(with_upload_headers(json_response(StatusCode::OK, &s), &s))
}

fn header_u64(h: &HeaderMap, name: &str) -> ApiResult<u64> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| ApiError::bad_header(format!("the {name} header must be a byte count")))
}

/// Releases the per-partial upload slot however the upload ends.
struct UploadSlot {
    st: Arc<AppState>,
    key: String,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.st
            .uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// `PATCH /v1/photos/{sha}`: appends the body at `Upload-Offset`.
pub async fn patch(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(sha): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let mut body = Some(body.into_data_stream());
    let out = patch_inner(st, &h, sha, &mut body).await;
    // Refused before the body was read: read it off the wire so the client, still sending,
    // gets the answer rather than a reset connection.
    if let Some(stream) = body {
        crate::http::drain(stream, 0).await;
    }
    out
}

/// Deletes the caller's partial (row and file).
async fn forget_partial(st: &Arc<AppState>, sha: &str, caller: &Caller) -> ApiResult<()> {
    let st2 = st.clone();
    let (key, worker, device) = (
        sha.to_string(),
        caller.worker_id.clone(),
        caller.device_id.clone(),
    );
    blocking(move || {
        st2.db.write(|tx| {
            tx.execute(
                "DELETE FROM partial_uploads WHERE sha256 = ?1 AND worker_id = ?2 AND device_id = ?3",
                [&key, &worker, &device],
            )?;
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    match tokio::fs::remove_file(partial_dir(st).join(partial_file(sha, caller))).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn open_private_append(path: &std::path::Path) -> std::io::Result<tokio::fs::File> {
    let mut o = tokio::fs::OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    o.mode(0o600);
    o.open(path).await
}

async fn patch_inner(
    st: Arc<AppState>,
    h: &HeaderMap,
    sha: String,
    body: &mut Option<axum::body::BodyDataStream>,
) -> ApiResult<Response> {
    let h = h.clone();
    let caller = authenticate(&st, &h)?;
    check_sha(&sha)?;
    // Uploading is a use of the device: it binds it like a push does.
    {
        let st2 = st.clone();
        let c2 = Caller {
            worker_id: caller.worker_id.clone(),
            device_id: caller.device_id.clone(),
            protocol: caller.protocol,
        };
        blocking(move || st2.db.write(|tx| crate::auth::bind_device(tx, &c2))).await?;
    }
    let current = status(&st, &sha, &caller).await?;
    if current.complete {
        return Ok(with_upload_headers(
            json_response(StatusCode::OK, &current),
            &current,
        ));
    }
    let offset = header_u64(&h, wire::HEADER_UPLOAD_OFFSET)?;
    let length = header_u64(&h, wire::HEADER_UPLOAD_LENGTH)?;
    let media_type = h
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if !matches!(
        media_type.as_str(),
        "image/jpeg" | "image/png" | "image/heic"
    ) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be image/jpeg, image/png or image/heic",
        ));
    }
    if length == 0 {
        return Err(ApiError::bad_header("Upload-Length must be at least 1"));
    }
    if length > st.max_photo_bytes {
        return Err(ApiError::too_large(format!(
            "photos are limited to {} bytes",
            st.max_photo_bytes
        )));
    }
    if offset > length {
        return Err(ApiError::bad_header(
            "Upload-Offset is beyond Upload-Length",
        ));
    }
    if let Some(n) = h
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && n > length - offset
    {
        return Err(ApiError::too_large("the body runs past Upload-Length"));
    }
    let file_name = partial_file(&sha, &caller);
    let Some(slot) = take_slot(&st, &file_name).await else {
        return Err(ApiError::unavailable(
            "another upload of this photo from this device is in progress",
            1,
        ));
    };
    // Re-read under the slot: the state may have moved while we waited for it.
    let k = known(&st, &sha, &caller).await?;
    if k.partial
        .as_ref()
        .is_some_and(|p| expired(&st, p.updated_at))
    {
        // Expired: its space goes now, and the upload starts again.
        forget_partial(&st, &sha, &caller).await?;
    }
    let current = status(&st, &sha, &caller).await?;
    if current.complete {
        return Ok(with_upload_headers(
            json_response(StatusCode::OK, &current),
            &current,
        ));
    }
    if let Some(l) = current.length
        && l != length
        && current.offset > 0
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::LENGTH_MISMATCH,
            format!("this device announced this photo as {l} bytes"),
        ));
    }
    if offset != current.offset {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            codes::OFFSET_MISMATCH,
            format!("the server holds {} bytes of this photo", current.offset),
        );
        e.offset = Some(current.offset);
        return Err(e);
    }
    {
        let st2 = st.clone();
        let (key, mt, file) = (sha.clone(), media_type.clone(), file_name.clone());
        let (worker, device) = (caller.worker_id.clone(), caller.device_id.clone());
        let length = i64::try_from(length).map_err(|_| ApiError::too_large("too long"))?;
        blocking(move || {
            st2.db.write(|tx| {
                let now = Utc::now();
                tx.execute(
                    "INSERT INTO partial_uploads (sha256, worker_id, device_id, length, media_type,
                         file, started_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                     ON CONFLICT (sha256, worker_id, device_id) DO UPDATE SET
                         length = excluded.length, media_type = excluded.media_type,
                         updated_at = excluded.updated_at",
                    params![key, worker, device, length, mt, file, now],
                )?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    }
    let partial = partial_dir(&st).join(&file_name);
    let mut file = open_private_append(&partial).await?;
    let mut written = 0u64;
    let room = length - offset;
    let Some(mut stream) = body.take() else {
        return Err(ApiError::internal("body already consumed"));
    };
    let mut overflow = false;
    // The body timeout (see `Limits::body_timeout`) ends a stalled body with an error.
    while let Some(next) = stream.next().await {
        let chunk = match next {
            Ok(c) => c,
            // The client went away or stalled: keep what arrived, it is the resume point.
            Err(_) => break,
        };
        let n = chunk.len() as u64;
        if written.saturating_add(n) > room {
            overflow = true;
            break;
        }
        file.write_all(&chunk).await?;
        written += n;
    }
    file.flush().await?;
    if overflow {
        file.set_len(offset).await?;
        drop(file);
        crate::http::drain(stream, 0).await;
        return Err(ApiError::too_large("the body runs past Upload-Length"));
    }
    let total = offset + written;
    if total < length {
        drop(file);
        drop(slot);
        let s = PhotoStatus {
            sha256: sha,
            offset: total,
            length: Some(length),
            complete: false,
        };
        return Ok(with_upload_headers(json_response(StatusCode::OK, &s), &s));
    }
    file.sync_all().await?;
    drop(file);
    // Whole photo held: verify it against its address before anyone can reference it.
    let (p2, sha2) = (partial.clone(), sha.clone());
    let matches = tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
        let mut f = std::fs::File::open(&p2)?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut f, &mut hasher)?;
        Ok(hex::encode(hasher.finalize()) == sha2)
    })
    .await??;
    if !matches {
        forget_partial(&st, &sha, &caller).await?;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::PHOTO_HASH_MISMATCH,
            "the uploaded bytes do not hash to this photo's address; the upload was discarded",
        ));
    }
    let dest = complete_path(&st, &sha);
    if tokio::fs::try_exists(&dest).await? {
        // Someone else completed the same bytes first: this upload proved the caller holds
        // them, which is all that was missing.
        tokio::fs::remove_file(&partial).await?;
    } else {
        tokio::fs::rename(&partial, &dest).await?;
        if let Ok(d) = tokio::fs::File::open(&st.photos_dir).await {
            // The rename must survive a power cut too; failing to sync a directory is not
            // fatal on filesystems that do not support it.
            let _ = d.sync_all().await;
        }
    }
    let st2 = st.clone();
    let key = sha.clone();
    let (worker, device) = (caller.worker_id.clone(), caller.device_id.clone());
    let len = i64::try_from(length).map_err(|_| ApiError::too_large("too long"))?;
    blocking(move || {
        st2.db.write(|tx| {
            tx.execute(
                "INSERT INTO photos (sha256, length, media_type, complete, completed_at)
                 VALUES (?1, ?2, ?3, 1, ?4)
                 ON CONFLICT (sha256) DO UPDATE SET complete = 1,
                     completed_at = COALESCE(photos.completed_at, excluded.completed_at)",
                params![key, len, media_type, Utc::now()],
            )?;
            tx.execute(
                "DELETE FROM partial_uploads WHERE sha256 = ?1 AND worker_id = ?2 AND device_id = ?3",
                [&key, &worker, &device],
            )?;
            tx.execute(
                "INSERT INTO photo_refs (sha256, worker_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                [&key, &worker],
            )?;
            Ok::<_, ApiError>(())
        })
    })
    .await?;
    drop(slot);
    let s = PhotoStatus {
        sha256: sha,
        offset: length,
        length: Some(length),
        complete: true,
    };
    Ok(with_upload_headers(json_response(StatusCode::OK, &s), &s))
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub partials: u64,
    pub orphans: u64,
}

/// Deletes partial uploads untouched for longer than the configured lifetime (rows and
/// files), and files in the partial directory that no upload owns and that are as old
/// (leftovers of a crash or of an earlier version). Blocking.
pub fn sweep(st: &AppState) -> ApiResult<Swept> {
    let ttl = chrono::Duration::from_std(st.partial_ttl).unwrap_or(chrono::Duration::MAX);
    let cutoff = Utc::now()
        .checked_sub_signed(ttl)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let busy: std::collections::HashSet<String> =
        st.uploads.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (expired, live) = st.db.write(|tx| {
        let mut stmt = tx.prepare(
            "SELECT sha256, worker_id, device_id, file FROM partial_uploads WHERE updated_at < ?1",
        )?;
        let rows = stmt
            .query_map([cutoff], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
            })?
            .collect::<crate::store::Result<Vec<_>>>()?;
        let mut gone = Vec::new();
        for (sha, worker, device, file) in rows {
            if busy.contains(&file) {
                continue;
            }
            tx.execute(
                "DELETE FROM partial_uploads WHERE sha256 = ?1 AND worker_id = ?2 AND device_id = ?3",
                [&sha, &worker, &device],
            )?;
            gone.push(file);
        }
        let live = tx
            .prepare("SELECT file FROM partial_uploads")?
            .query_map((), |r| r.get::<_, String>(0))?
            .collect::<crate::store::Result<std::collections::HashSet<_>>>()?;
        Ok::<_, ApiError>((gone, live))
    })?;
    let dir = partial_dir(st);
    let mut out = Swept::default();
    for file in expired {
        match std::fs::remove_file(dir.join(&file)) {
            Ok(()) => out.partials += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.partials += 1,
            Err(e) => return Err(e.into()),
        }
    }
    let old_enough = |m: &std::fs::Metadata| {
        m.modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > st.partial_ttl)
    };
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if live.contains(&name) || busy.contains(&name) {
            continue;
        }
        let meta = entry.metadata()?;
        if meta.is_file() && old_enough(&meta) {
            std::fs::remove_file(entry.path())?;
            out.orphans += 1;
        }
    }
    if out != Swept::default() {
        tracing::info!(
            partials = out.partials,
            orphans = out.orphans,
            "expired partial uploads removed"
        );
    }
    Ok(out)
}

/// Runs [`sweep`] every quarter of the partial lifetime (at most every 10 minutes).
pub async fn sweep_periodically(st: Arc<AppState>) {
    let every = (st.partial_ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(600));
    loop {
        tokio::time::sleep(every).await;
        let st2 = st.clone();
        match tokio::task::spawn_blocking(move || sweep(&st2)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(code = e.code, "partial sweep failed: {}", e.message),
            Err(_) => tracing::error!("partial sweep task failed"),
        }
    }
}

/// The bytes of a complete photo (admin), streamed from disk.
pub async fn bytes(st: &Arc<AppState>, sha: &str) -> ApiResult<Response> {
    check_sha(sha)?;
    let st2 = st.clone();
    let key = sha.to_string();
    let row: Option<(String, i64)> = blocking(move || {
        st2.db.read(|tx| {
            Ok::<_, ApiError>(
                tx.query_row(
                    "SELECT media_type, length FROM photos WHERE sha256 = ?1 AND complete = 1",
                    [&key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?,
            )
        })
    })
    .await?;
    let Some((media, length)) = row else {
        return Err(ApiError::not_found("no complete photo with this hash"));
    };
    let file = tokio::fs::File::open(complete_path(st, sha)).await?;
    let stream = tokio_util::io::ReaderStream::new(file);
    let mut resp = Body::from_stream(stream).into_response();
    if let Ok(v) = HeaderValue::from_str(&media) {
        resp.headers_mut().insert("content-type", v);
    }
    resp.headers_mut()
        .insert("content-length", HeaderValue::from(length));
    Ok(resp)
}
