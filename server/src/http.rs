//! HTTP plumbing every endpoint module shares: JSON replies, bearer tokens, bounded bodies,
//! blocking database work, photo-id checks and the fallback errors. No endpoint lives here.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use gridworker_model::wire::codes;

use crate::error::{ApiError, ApiResult};

pub(crate) fn json_response<T: serde::Serialize>(status: StatusCode, v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => (status, [("content-type", "application/json")], b).into_response(),
        Err(e) => ApiError::internal(format!("cannot encode reply: {e}")).into_response(),
    }
}

pub(crate) fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// The bearer token of a request, if any.
pub(crate) fn bearer(h: &HeaderMap) -> Option<&str> {
    header(h, "authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::trim))
}

/// Runs blocking database work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await?
}

/// Largest oversized body read off the wire (and discarded) so that the client, which is
/// still sending, receives the 413 instead of a connection reset.
const DRAIN_CAP: usize = 64 * 1024 * 1024;

/// Reads and discards the rest of a refused body, up to [`DRAIN_CAP`].
pub(crate) async fn drain(mut stream: axum::body::BodyDataStream, mut seen: usize) {
    while seen < DRAIN_CAP {
        match tokio::time::timeout(std::time::Duration::from_secs(5), stream.next()).await {
            Ok(Some(Ok(c))) => seen += c.len(),
            _ => return,
        }
    }
}

/// Reads a whole body up to `limit` bytes (413 beyond), without trusting Content-Length.
pub(crate) async fn read_body(h: &HeaderMap, body: Body, limit: usize) -> ApiResult<Vec<u8>> {
    let declared = header(h, "content-length").and_then(|v| v.parse::<u64>().ok());
    let mut stream = body.into_data_stream();
    if let Some(n) = declared
        && n > limit as u64
    {
        if n <= DRAIN_CAP as u64 {
            drain(stream, 0).await;
        }
        return Err(ApiError::too_large(format!(
            "body of {n} bytes exceeds the {limit}-byte limit"
        )));
    }
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::MALFORMED_JSON,
                format!("body could not be read: {e}"),
            )
        })?;
        if out.len() + chunk.len() > limit {
            drain(stream, out.len() + chunk.len()).await;
            return Err(ApiError::too_large(format!(
                "body exceeds the {limit}-byte limit"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

pub use gridworker_model::validate::is_sha256;

/// Keeps the path parameter honest before it names a file.
pub(crate) fn check_sha(sha: &str) -> ApiResult<()> {
    if is_sha256(sha) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::BAD_SHA256,
            "a photo is addressed by 64 lowercase hex digits of its SHA-256",
        ))
    }
}

/// The error of a path that does not exist.
pub async fn fallback() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// The error of a method the path does not support.
pub async fn method_fallback() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}
