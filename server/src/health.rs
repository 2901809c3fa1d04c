//! Probes for a load balancer: `/healthz` says the process serves HTTP; `/readyz` says it
//! can also reach its database, so a node that lost PostgreSQL is taken out of rotation
//! while it keeps running.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::{blocking, json_response};

/// `GET /healthz`: always 200 while the process serves.
pub async fn live(State(st): State<Arc<AppState>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "status": "ok", "node": st.node_id }),
    )
}

/// `GET /readyz`: 200 when the database answers, else 503 `unavailable`.
pub async fn ready(State(st): State<Arc<AppState>>) -> ApiResult<Response> {
    let st2 = st.clone();
    blocking(move || {
        st2.db
            .ping()
            .map_err(|_| ApiError::unavailable("the database does not answer", 5))
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "status": "ready", "node": st.node_id }),
    ))
}
