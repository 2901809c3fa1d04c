//! Content-addressed, resumable photo uploads (tus-like; see docs/protocol.md §5).
//!
//! Bytes are appended to `photos/partial/{sha}` as they stream in, never held whole in
//! memory; what reached the disk before a cut is the resume point. A complete upload is
//! hashed, fsynced and renamed to `photos/{sha}`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures_util::StreamExt;
use gridworker_core::sync::wire::{self, PhotoStatus, codes};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::AppState;
use crate::api::{authenticate, blocking, check_sha, json_response};
use crate::error::{ApiError, ApiResult};

/// A body that sends nothing for this long is dropped; the bytes that arrived are kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn complete_path(st: &AppState, sha: &str) -> PathBuf {
    st.photos_dir.join(sha)
}

fn partial_path(st: &AppState, sha: &str) -> PathBuf {
    st.photos_dir.join("partial").join(format!("{sha}.part"))
}

/// What the server holds of a photo.
async fn status(st: &Arc<AppState>, sha: &str) -> ApiResult<PhotoStatus> {
    let st2 = st.clone();
    let key = sha.to_string();
    let row: Option<(u64, bool)> = blocking(move || {
        st2.db.read(|tx| {
            Ok::<_, ApiError>(
                tx.query_row(
                    "SELECT length, complete FROM photos WHERE sha256 = ?1",
                    [&key],
                    |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, bool>(1)?)),
                )
                .optional()?,
            )
        })
    })
    .await?;
    match row {
        Some((length, true)) => Ok(PhotoStatus {
            sha256: sha.to_string(),
            offset: length,
            length: Some(length),
            complete: true,
        }),
        other => {
            let offset = match tokio::fs::metadata(partial_path(st, sha)).await {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(e.into()),
            };
            Ok(PhotoStatus {
                sha256: sha.to_string(),
                offset,
                length: other.map(|(l, _)| l),
                complete: false,
            })
        }
    }
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

/// `HEAD /v1/photos/{sha}`.
pub async fn head(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    authenticate(&st, &h)?;
    check_sha(&sha)?;
    let s = status(&st, &sha).await?;
    Ok(with_upload_headers(StatusCode::OK.into_response(), &s))
}

/// `GET /v1/photos/{sha}`: the state as JSON.
pub async fn get(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    authenticate(&st, &h)?;
    check_sha(&sha)?;
    let s = status(&st, &sha).await?;
    Ok(with_upload_headers(json_response(StatusCode::OK, &s), &s))
}

fn header_u64(h: &HeaderMap, name: &str) -> ApiResult<u64> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| ApiError::bad_header(format!("the {name} header must be a byte count")))
}

/// Releases the per-photo upload slot however the upload ends.
struct UploadSlot {
    st: Arc<AppState>,
    sha: String,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.st
            .uploads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.sha);
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
        crate::api::drain(stream, 0).await;
    }
    out
}

async fn patch_inner(
    st: Arc<AppState>,
    h: &HeaderMap,
    sha: String,
    body: &mut Option<axum::body::BodyDataStream>,
) -> ApiResult<Response> {
    let h = h.clone();
    authenticate(&st, &h)?;
    check_sha(&sha)?;
    let current = status(&st, &sha).await?;
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
    let slot = {
        let mut up = st.uploads.lock().unwrap_or_else(|p| p.into_inner());
        if !up.insert(sha.clone()) {
            return Err(ApiError::unavailable(
                "another upload of this photo is in progress",
                1,
            ));
        }
        UploadSlot {
            st: st.clone(),
            sha: sha.clone(),
        }
    };
    // Re-read under the slot: the state may have moved while we waited for it.
    let current = status(&st, &sha).await?;
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
            format!("this photo was announced as {l} bytes"),
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
        let (key, mt) = (sha.clone(), media_type.clone());
        blocking(move || {
            st2.db.write(|tx| {
                tx.execute(
                    "INSERT INTO photos (sha256, length, media_type, complete) VALUES (?1, ?2, ?3, 0)
                     ON CONFLICT (sha256) DO UPDATE SET length = excluded.length, media_type = excluded.media_type",
                    params![key, length as i64, mt],
                )?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    }
    let partial = partial_path(&st, &sha);
    if let Some(dir) = partial.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&partial)
        .await?;
    let mut written = 0u64;
    let room = length - offset;
    let Some(mut stream) = body.take() else {
        return Err(ApiError::internal("body already consumed"));
    };
    let mut overflow = false;
    loop {
        let next = match tokio::time::timeout(IDLE_TIMEOUT, stream.next()).await {
            Ok(n) => n,
            Err(_) => break,
        };
        let chunk = match next {
            None => break,
            Some(Ok(c)) => c,
            // The client went away: keep what arrived, it is the resume point.
            Some(Err(_)) => break,
        };
        if written + chunk.len() as u64 > room {
            overflow = true;
            break;
        }
        file.write_all(&chunk).await?;
        written += chunk.len() as u64;
    }
    file.flush().await?;
    if overflow {
        file.set_len(offset).await?;
        drop(file);
        crate::api::drain(stream, 0).await;
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
        tokio::fs::remove_file(&partial).await?;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::PHOTO_HASH_MISMATCH,
            "the uploaded bytes do not hash to this photo's address; the upload was discarded",
        ));
    }
    let dest = complete_path(&st, &sha);
    tokio::fs::rename(&partial, &dest).await?;
    if let Ok(d) = tokio::fs::File::open(&st.photos_dir).await {
        // The rename must survive a power cut too; failing to sync a directory is not fatal
        // on filesystems that do not support it.
        let _ = d.sync_all().await;
    }
    let st2 = st.clone();
    let key = sha.clone();
    blocking(move || {
        st2.db.write(|tx| {
            tx.execute(
                "UPDATE photos SET complete = 1, completed_at = ?2 WHERE sha256 = ?1",
                params![key, Utc::now()],
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

/// The bytes of a complete photo (admin), streamed from disk.
pub async fn bytes(st: &Arc<AppState>, sha: &str) -> ApiResult<Response> {
    check_sha(sha)?;
    let s = status(st, sha).await?;
    if !s.complete {
        return Err(ApiError::not_found("no complete photo with this hash"));
    }
    let st2 = st.clone();
    let key = sha.to_string();
    let media: String = blocking(move || {
        st2.db.read(|tx| {
            Ok::<_, ApiError>(
                tx.query_row(
                    "SELECT media_type FROM photos WHERE sha256 = ?1",
                    [&key],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or_else(|| "application/octet-stream".to_string()),
            )
        })
    })
    .await?;
    let file = tokio::fs::File::open(complete_path(st, sha)).await?;
    let stream = tokio_util::io::ReaderStream::new(file);
    let mut resp = Body::from_stream(stream).into_response();
    if let Ok(v) = HeaderValue::from_str(&media) {
        resp.headers_mut().insert("content-type", v);
    }
    if let Some(l) = s.length {
        resp.headers_mut()
            .insert("content-length", HeaderValue::from(l));
    }
    Ok(resp)
}
