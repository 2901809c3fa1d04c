//! Content-addressed, resumable photo uploads (tus-like; see docs/protocol.md §5).
//!
//! Each request's bytes stream into a part object of the photo store ([`crate::blobs`]),
//! never held whole in memory; when the request ends, however it ends, its part is
//! recorded in the database and the upload's offset moves on in the same transaction. The
//! offset is the database's, so any node can take a resumed upload. A complete upload is
//! hashed and its parts become one object `{sha}` before anyone can reference it.

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

use crate::AppState;
use crate::auth::{Caller, authenticate, bound_to_other};
use crate::error::{ApiError, ApiResult};
use crate::http::{blocking, check_sha, json_response};

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

/// Names one device's upload of one photo: its slot, and the prefix of its parts.
fn upload_name(sha: &str, caller: &Caller) -> String {
    format!("{sha}.{}", owner_key(caller))
}

/// The caller's own partial upload of a photo.
struct Partial {
    length: u64,
    /// Bytes recorded in parts: the resume point.
    received: u64,
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
                    "SELECT length, updated_at, received FROM partial_uploads
                     WHERE sha256 = ?1 AND worker_id = ?2 AND device_id = ?3",
                    [&key, &worker, &device],
                    |r| {
                        Ok(Partial {
                            length: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                            updated_at: r.get(1)?,
                            received: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
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
    let offset = live.as_ref().map_or(0, |p| p.received);
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
    settled(&st, &upload_name(&sha, &caller)).await;
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
    settled(&st, &upload_name(&sha, &caller)).await;
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

/// Deletes the caller's partial: its rows, then its part objects.
async fn forget_partial(st: &Arc<AppState>, sha: &str, caller: &Caller) -> ApiResult<()> {
    let st2 = st.clone();
    let (key, worker, device) = (
        sha.to_string(),
        caller.worker_id.clone(),
        caller.device_id.clone(),
    );
    let parts = blocking(move || {
        st2.db.write(|tx| {
            let parts = part_objects(tx, &key, &worker, &device)?;
            delete_partial_rows(tx, &key, &worker, &device)?;
            Ok::<_, ApiError>(parts)
        })
    })
    .await?;
    for part in parts {
        st.blobs.delete(&part).await?;
    }
    Ok(())
}

fn part_objects(
    tx: &crate::store::Tx<'_>,
    sha: &str,
    worker: &str,
    device: &str,
) -> crate::store::Result<Vec<String>> {
    tx.prepare(
        "SELECT object FROM photo_parts WHERE sha256 = ?1 AND worker_id = ?2 AND device_id = ?3
         ORDER BY start_offset",
    )?
    .query_map([sha, worker, device], |r| r.get::<_, String>(0))?
    .collect()
}

fn delete_partial_rows(
    tx: &crate::store::Tx<'_>,
    sha: &str,
    worker: &str,
    device: &str,
) -> crate::store::Result<()> {
    tx.execute(
        "DELETE FROM photo_parts WHERE sha256 = ?1 AND worker_id = ?2 AND device_id = ?3",
        [sha, worker, device],
    )?;
    tx.execute(
        "DELETE FROM partial_uploads WHERE sha256 = ?1 AND worker_id = ?2 AND device_id = ?3",
        [sha, worker, device],
    )?;
    Ok(())
}

/// What a request's body brought: the bytes it wrote into its part, and their hash when the
/// part starts the photo (a photo sent in one request is then never read back).
struct Received {
    written: u64,
    overflow: bool,
    hash: Option<String>,
}

/// Streams the body into `writer`, at most `room` bytes. A body that breaks off ends the
/// part where it broke: what arrived is the resume point.
async fn receive(
    stream: &mut axum::body::BodyDataStream,
    writer: &mut crate::blobs::Writer,
    room: u64,
    hash: bool,
) -> ApiResult<Received> {
    let mut hasher = hash.then(Sha256::new);
    let mut written = 0u64;
    // The body timeout (see `Limits::body_timeout`) ends a stalled body with an error.
    while let Some(next) = stream.next().await {
        let Ok(chunk) = next else { break };
        let n = chunk.len() as u64;
        if written.saturating_add(n) > room {
            return Ok(Received {
                written,
                overflow: true,
                hash: None,
            });
        }
        writer.write(&chunk).await?;
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        written += n;
    }
    Ok(Received {
        written,
        overflow: false,
        hash: hasher.map(|h| hex::encode(h.finalize())),
    })
}

fn store_error(e: crate::blobs::BlobError) -> ApiError {
    e.into()
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
    let name = upload_name(&sha, &caller);
    let Some(slot) = take_slot(&st, &name).await else {
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
        return Err(offset_mismatch(current.offset));
    }
    let length_i = i64::try_from(length).map_err(|_| ApiError::too_large("too long"))?;
    {
        let st2 = st.clone();
        let (key, mt, file) = (sha.clone(), media_type.clone(), name.clone());
        let (worker, device) = (caller.worker_id.clone(), caller.device_id.clone());
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
                    params![key, worker, device, length_i, mt, file, now],
                )?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    }
    let Some(mut stream) = body.take() else {
        return Err(ApiError::internal("body already consumed"));
    };
    let part = crate::blobs::Blobs::part_key(&name, offset);
    let mut writer = st.blobs.writer(&part).await?;
    let got = match receive(&mut stream, &mut writer, length - offset, offset == 0).await {
        Ok(got) => got,
        Err(e) => {
            writer.abort().await;
            return Err(e);
        }
    };
    if got.overflow {
        writer.abort().await;
        crate::http::drain(stream, 0).await;
        return Err(ApiError::too_large("the body runs past Upload-Length"));
    }
    if got.written == 0 {
        // Nothing new. A device whose previous request brought the last byte but whose
        // node died before assembling it sends an empty body at the end: assembled below.
        writer.abort().await;
        if offset < length {
            return Ok(with_upload_headers(
                json_response(StatusCode::OK, &current),
                &current,
            ));
        }
    } else {
        writer.finish().await?;
        record_part(&st, &sha, &caller, &part, offset, got.written).await?;
    }
    let total = offset + got.written;
    if total < length {
        drop(slot);
        let s = PhotoStatus {
            sha256: sha,
            offset: total,
            length: Some(length),
            complete: false,
        };
        return Ok(with_upload_headers(json_response(StatusCode::OK, &s), &s));
    }
    // Whole photo held: verify it against its address before anyone can reference it.
    let one_request = got.hash.as_deref().filter(|_| got.written == length);
    if let Assembly::Mismatch(hashed) =
        assemble(&st, &sha, &caller, one_request.map(|h| (h, part.as_str()))).await?
    {
        if forget_mismatched(&st, &sha, &caller, hashed).await? {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::PHOTO_HASH_MISMATCH,
                "the uploaded bytes do not hash to this photo's address; the upload was discarded",
            ));
        }
        // Another node finished (or the sweep ended) this upload while this one read its
        // parts: what it read was not the upload. The phone gets where the upload stands.
        let now = status(&st, &sha, &caller).await?;
        if now.complete {
            // What this request started again for a photo already complete goes.
            forget_partial(&st, &sha, &caller).await?;
            return Ok(with_upload_headers(
                json_response(StatusCode::OK, &now),
                &now,
            ));
        }
        return Err(offset_mismatch(now.offset));
    }
    let st2 = st.clone();
    let key = sha.clone();
    let (worker, device) = (caller.worker_id.clone(), caller.device_id.clone());
    let parts = blocking(move || {
        st2.db.write(|tx| {
            tx.execute(
                "INSERT INTO photos (sha256, length, media_type, complete, completed_at)
                 VALUES (?1, ?2, ?3, 1, ?4)
                 ON CONFLICT (sha256) DO UPDATE SET complete = 1,
                     completed_at = COALESCE(photos.completed_at, excluded.completed_at)",
                params![key, length_i, media_type, Utc::now()],
            )?;
            let parts = part_objects(tx, &key, &worker, &device)?;
            delete_partial_rows(tx, &key, &worker, &device)?;
            tx.execute(
                "INSERT INTO photo_refs (sha256, worker_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                [&key, &worker],
            )?;
            Ok::<_, ApiError>(parts)
        })
    })
    .await?;
    for part in parts {
        // A part left behind is an orphan the sweep removes; the photo is complete.
        if let Err(e) = st.blobs.delete(&part).await {
            tracing::warn!("photo part not deleted: {e}");
        }
    }
    drop(slot);
    let s = PhotoStatus {
        sha256: sha,
        offset: length,
        length: Some(length),
        complete: true,
    };
    Ok(with_upload_headers(json_response(StatusCode::OK, &s), &s))
}

/// Counts a written part: the offset moves over it in the same transaction. An upload of
/// the same photo by the same device through another node that got there first wins; this
/// part is then deleted and the answer is the offset that won.
async fn record_part(
    st: &Arc<AppState>,
    sha: &str,
    caller: &Caller,
    part: &str,
    offset: u64,
    written: u64,
) -> ApiResult<()> {
    let recorded = {
        let st2 = st.clone();
        let (key, object) = (sha.to_string(), part.to_string());
        let (worker, device) = (caller.worker_id.clone(), caller.device_id.clone());
        let (start, n) = (
            i64::try_from(offset).map_err(|_| ApiError::too_large("too long"))?,
            i64::try_from(written).map_err(|_| ApiError::too_large("too long"))?,
        );
        blocking(move || {
            st2.db.write(|tx| {
                let moved = tx.execute(
                    "UPDATE partial_uploads SET received = received + ?4, updated_at = ?6
                     WHERE sha256 = ?1 AND worker_id = ?2 AND device_id = ?3 AND received = ?5",
                    params![key, worker, device, n, start, Utc::now()],
                )?;
                if moved == 0 {
                    return Ok::<_, ApiError>(false);
                }
                tx.execute(
                    "INSERT INTO photo_parts (sha256, worker_id, device_id, start_offset, length,
                         object)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![key, worker, device, start, n, object],
                )?;
                Ok(true)
            })
        })
        .await?
    };
    if !recorded {
        st.blobs.delete(part).await?;
        let now = status(st, sha, caller).await?;
        return Err(offset_mismatch(now.offset));
    }
    Ok(())
}

fn offset_mismatch(held: u64) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::CONFLICT,
        codes::OFFSET_MISMATCH,
        format!("the server holds {held} bytes of this photo"),
    );
    e.offset = Some(held);
    e
}

/// What [assemble] found.
enum Assembly {
    /// The bytes hash to their address and `{sha}` holds them.
    Matches,
    /// The parts named (in order) do not hash to the address.
    Mismatch(Vec<String>),
}

/// Checks the caller's parts hash to `sha` and makes them the complete object `{sha}`
/// (unless it exists: someone completed the same bytes first, and this upload proved the
/// caller holds them, which is all that was missing). `one_request` is the hash and part of
/// a photo sent whole in one request.
async fn assemble(
    st: &Arc<AppState>,
    sha: &str,
    caller: &Caller,
    one_request: Option<(&str, &str)>,
) -> ApiResult<Assembly> {
    let complete = crate::blobs::Blobs::complete_key(sha);
    if let Some((hash, part)) = one_request {
        if hash != sha {
            return Ok(Assembly::Mismatch(vec![part.to_string()]));
        }
        if !st.blobs.exists(&complete).await? {
            st.blobs.promote(part, sha).await?;
        }
        return Ok(Assembly::Matches);
    }
    let st2 = st.clone();
    let (key, worker, device) = (
        sha.to_string(),
        caller.worker_id.clone(),
        caller.device_id.clone(),
    );
    let parts = blocking(move || {
        st2.db
            .read(|tx| Ok::<_, ApiError>(part_objects(tx, &key, &worker, &device)?))
    })
    .await?;
    let exists = st.blobs.exists(&complete).await?;
    if exists {
        // A part whose row is still there but whose object is gone was promoted to `{sha}`
        // by this upload after its hash was checked (parts are otherwise deleted only with
        // their rows), and the transaction recording the photo then failed: the bytes are
        // verified and in place.
        for part in &parts {
            if !st.blobs.exists(&part.as_str().into()).await? {
                return Ok(Assembly::Matches);
            }
        }
    }
    let mut writer = match exists {
        true => None,
        false => Some(st.blobs.writer(complete.as_ref()).await?),
    };
    let mut hasher = Sha256::new();
    for part in &parts {
        let mut bytes = match st.blobs.read(&part.as_str().into()).await {
            Ok(b) => b,
            Err(e) => {
                if let Some(w) = writer {
                    w.abort().await;
                }
                return Err(store_error(e));
            }
        };
        while let Some(chunk) = bytes.next().await {
            let written = match chunk {
                Ok(c) => {
                    hasher.update(&c);
                    match writer.as_mut() {
                        Some(w) => w.write(&c).await,
                        None => Ok(()),
                    }
                }
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                if let Some(w) = writer {
                    w.abort().await;
                }
                return Err(store_error(e));
            }
        }
    }
    if hex::encode(hasher.finalize()) != sha {
        if let Some(w) = writer {
            w.abort().await;
        }
        return Ok(Assembly::Mismatch(parts));
    }
    if let Some(w) = writer {
        w.finish().await?;
    }
    Ok(Assembly::Matches)
}

/// Discards an upload whose parts `hashed` did not hash to its address, if they are still
/// its parts and all of it: true then. False when another node completed the upload or the
/// sweep removed it between the read of its parts and now (the parts read were then not the
/// upload, possibly none at all), and nothing is discarded: answering that as a mismatch
/// would make the phone set aside a record whose photo the server holds.
async fn forget_mismatched(
    st: &Arc<AppState>,
    sha: &str,
    caller: &Caller,
    hashed: Vec<String>,
) -> ApiResult<bool> {
    let st2 = st.clone();
    let (key, worker, device) = (
        sha.to_string(),
        caller.worker_id.clone(),
        caller.device_id.clone(),
    );
    let parts = blocking(move || {
        st2.db.write(|tx| {
            let held: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT received, length FROM partial_uploads
                     WHERE sha256 = ?1 AND worker_id = ?2 AND device_id = ?3",
                    [&key, &worker, &device],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if held.is_none_or(|(received, length)| received != length) {
                return Ok::<_, ApiError>(None);
            }
            if part_objects(tx, &key, &worker, &device)? != hashed {
                return Ok(None);
            }
            delete_partial_rows(tx, &key, &worker, &device)?;
            Ok(Some(hashed.clone()))
        })
    })
    .await?;
    let Some(parts) = parts else {
        return Ok(false);
    };
    for part in parts {
        st.blobs.delete(&part).await?;
    }
    Ok(true)
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub partials: u64,
    pub orphans: u64,
}

/// Deletes partial uploads untouched for longer than the configured lifetime (rows and
/// parts), and objects in the partial area that no upload counts and that are as old
/// (what a crash, a lost race or an earlier version left).
pub async fn sweep(st: &Arc<AppState>) -> ApiResult<Swept> {
    let ttl = chrono::Duration::from_std(st.partial_ttl).unwrap_or(chrono::Duration::MAX);
    let cutoff = Utc::now()
        .checked_sub_signed(ttl)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let busy: std::collections::HashSet<String> =
        st.uploads.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let st2 = st.clone();
    let (expired, live) = blocking(move || {
        st2.db.write(|tx| {
            let mut stmt = tx.prepare(
                "SELECT sha256, worker_id, device_id, file FROM partial_uploads
                 WHERE updated_at < ?1",
            )?;
            let rows = stmt
                .query_map([cutoff], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })?
                .collect::<crate::store::Result<Vec<_>>>()?;
            let mut gone = Vec::new();
            for (sha, worker, device, name) in rows {
                if busy.contains(&name) {
                    continue;
                }
                // Still expired now: an upload another node resumed (or a part it recorded)
                // since the SELECT moved `updated_at` on, and its rows stay.
                let expired = tx.execute(
                    "DELETE FROM partial_uploads
                     WHERE sha256 = ?1 AND worker_id = ?2 AND device_id = ?3 AND updated_at < ?4",
                    params![sha, worker, device, cutoff],
                )?;
                if expired == 0 {
                    continue;
                }
                gone.extend(part_objects(tx, &sha, &worker, &device)?);
                delete_partial_rows(tx, &sha, &worker, &device)?;
            }
            let live = tx
                .prepare("SELECT object FROM photo_parts")?
                .query_map((), |r| r.get::<_, String>(0))?
                .collect::<crate::store::Result<std::collections::HashSet<_>>>()?;
            Ok::<_, ApiError>((gone, live))
        })
    })
    .await?;
    let mut out = Swept::default();
    for part in expired {
        st.blobs.delete(&part).await?;
        out.partials += 1;
    }
    let busy: std::collections::HashSet<String> =
        st.uploads.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for (key, at) in st.blobs.list_partials().await? {
        let upload = key
            .strip_prefix("partial/")
            .and_then(|n| n.get(..64 + 1 + 32))
            .unwrap_or("");
        if live.contains(&key) || busy.contains(upload) || at >= cutoff {
            continue;
        }
        st.blobs.delete_listed(&key).await?;
        out.orphans += 1;
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
        if let Err(e) = sweep(&st).await {
            tracing::error!(code = e.code, "partial sweep failed: {}", e.message);
        }
    }
}

/// The bytes of a complete photo (admin), streamed from the photo store.
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
    let stream = st
        .blobs
        .read(&crate::blobs::Blobs::complete_key(sha))
        .await?;
    let mut resp = Body::from_stream(stream).into_response();
    if let Ok(v) = HeaderValue::from_str(&media) {
        resp.headers_mut().insert("content-type", v);
    }
    resp.headers_mut()
        .insert("content-length", HeaderValue::from(length));
    Ok(resp)
}
