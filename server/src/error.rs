//! The one error shape of the protocol, as an axum response.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gridworker_model::wire::{self, ErrorBody, ErrorDetail, codes};

/// An error answer: status, code, message and the optional extras of [`ErrorDetail`].
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
    pub min_protocol: Option<u32>,
    pub offset: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            min_protocol: None,
            offset: None,
        }
    }

    pub fn bad_header(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_HEADER, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, message)
    }

    pub fn invalid(message: impl ToString) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::INVALID_REQUEST,
            message.to_string(),
        )
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, codes::TOO_LARGE, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL, message)
    }

    pub fn unavailable(message: impl Into<String>, retry_after: u64) -> Self {
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::UNAVAILABLE, message);
        e.retry_after = Some(retry_after);
        e
    }

    /// Whether the identical request may succeed later.
    pub fn retryable(&self) -> bool {
        self.status.is_server_error() || self.status == StatusCode::TOO_MANY_REQUESTS
    }

    /// Maps a decoding failure (already free of input values, see [`crate::sanitize`]): not
    /// JSON at all → 400, JSON of the wrong shape → 422.
    pub fn from_decode(e: crate::sanitize::DecodeError) -> Self {
        if e.syntax {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::MALFORMED_JSON,
                format!("body is not valid JSON: {}", e.message),
            )
        } else {
            ApiError::invalid(format!("body does not match the schema: {}", e.message))
        }
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        if let crate::store::Error::OutOfBounds(invalid) = &e {
            // Names the field and the bound, never the value.
            return ApiError::invalid(invalid);
        }
        if e.is_transient() {
            // Another node or request kept winning the same rows: the client retries.
            tracing::warn!("storage busy: {e}");
            return ApiError::unavailable("the database is busy; retry", 1);
        }
        tracing::error!("storage error: {e}");
        ApiError::internal("storage error")
    }
}

impl From<crate::blobs::BlobError> for ApiError {
    fn from(e: crate::blobs::BlobError) -> Self {
        tracing::error!("{e}");
        ApiError::internal("photo store error")
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        tracing::error!("I/O error: {e}");
        ApiError::internal("I/O error")
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(_: tokio::task::JoinError) -> Self {
        ApiError::internal("worker task failed")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Messages are built from codes and field names only, so they can be logged.
        if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(
                status = self.status.as_u16(),
                code = self.code,
                "{}",
                self.message
            );
        } else {
            tracing::debug!(
                status = self.status.as_u16(),
                code = self.code,
                "{}",
                self.message
            );
        }
        let retryable = self.retryable();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                retryable,
                min_protocol: self.min_protocol,
                offset: self.offset,
            },
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut resp = (
            self.status,
            [("content-type", HeaderValue::from_static("application/json"))],
            bytes,
        )
            .into_response();
        let h = resp.headers_mut();
        if let Some(s) = self.retry_after {
            h.insert(wire::HEADER_RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(p) = self.min_protocol {
            h.insert(wire::HEADER_PROTOCOL, HeaderValue::from(p));
        }
        if let Some(o) = self.offset {
            h.insert(wire::HEADER_UPLOAD_OFFSET, HeaderValue::from(o));
        }
        resp
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
