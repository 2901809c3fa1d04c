//! The worker-facing `/v1` endpoints: handshake, push, photos, changes.

use std::collections::HashMap;
use std::sync::Arc;

use crate::params;
use crate::store::OptionalExtension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gridworker_model::wire::{
    self, HandshakeResponse, MutationKind, PushRequest, PushResponse, WorkerInfo, codes,
};

use crate::AppState;
use crate::auth::{Binding, authenticate, bind_device, binding, bound_to_other, device_bound};
use crate::db::{self, grid_scope, worker_scope};
use crate::device_log;
use crate::error::{ApiError, ApiResult};
use crate::http::{blocking, is_sha256, json_response, read_body};
use crate::ledger::push_one;
use crate::sanitize;
use gridworker_model::validate;

/// `GET /v1/handshake`.
pub async fn handshake(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let caller = authenticate(&st, &h)?;
    let missing_from: Option<i64> = match q.get("missing_from") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|s| *s >= 1)
                .ok_or_else(|| ApiError::invalid("missing_from must be a seq of at least 1"))?,
        ),
    };
    let st2 = st.clone();
    let reply = blocking(move || {
        // The first handshake binds the device, not only its first push: a phone that has
        // nothing to send yet must not leave its id free for another worker to take (its
        // own records would then be refused). A write only while the device is unbound.
        let unbound = st2.db.read(|tx| binding(tx, &caller))? == Binding::Nobody;
        if unbound {
            st2.db.write(|tx| bind_device(tx, &caller))?;
        }
        st2.db.read(|tx| {
            if bound_to_other(tx, &caller)? {
                return Err(device_bound());
            }
            let name: Option<String> = tx
                .query_row(
                    "SELECT name FROM workers WHERE id = ?1",
                    [&caller.worker_id],
                    |r| r.get(0),
                )
                .optional()?;
            let grids = db::worker_grids(tx, &caller.worker_id)?;
            let server_id = db::meta(tx, "server_id")?.unwrap_or_default();
            let device_last_seq = device_log::last_seq(tx, &caller.device_id)?;
            let device_missing = match (missing_from, device_last_seq) {
                (Some(first), Some(last)) => {
                    device_log::missing(tx, &caller.device_id, first, last)?
                }
                _ => Vec::new(),
            };
            Ok::<_, ApiError>(HandshakeResponse {
                protocol: wire::PROTOCOL,
                min_protocol: st2.min_protocol,
                server_time: Utc::now(),
                server_id,
                worker: WorkerInfo {
                    name: name.unwrap_or_else(|| caller.worker_id.clone()),
                    id: caller.worker_id,
                },
                grids,
                policy: st2.policy.clone(),
                device_last_seq,
                device_missing,
            })
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &reply))
}

/// Checks the envelope of every mutation before anything is stored: ids the device could
/// have made (422 `invalid_request` otherwise, naming the field and the index).
fn check_envelopes(req: &PushRequest) -> ApiResult<()> {
    for (i, m) in req.mutations.iter().enumerate() {
        let checks = [
            ("mutation_id", m.mutation_id.as_str()),
            ("record_id", m.record_id.as_str()),
            ("kind", m.kind.as_str()),
        ];
        for (field, v) in checks {
            validate::id(&format!("mutations[{i}].{field}"), v).map_err(ApiError::invalid)?;
        }
        if !is_sha256(&m.hash) || !is_sha256(&m.prev_hash) {
            return Err(ApiError::invalid(format!(
                "mutations[{i}]: hash and prev_hash must be 64 lowercase hex digits"
            )));
        }
        validate::time(&format!("mutations[{i}].device_time"), &m.device_time)
            .map_err(ApiError::invalid)?;
        if m.expired && (m.withdrawn || !m.payload.is_empty()) {
            return Err(ApiError::invalid(format!(
                "mutations[{i}]: an expired link carries no payload and is not withdrawn"
            )));
        }
    }
    Ok(())
}

/// `POST /v1/push`.
pub async fn push(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    // The token before the body: a caller without one must not hold one of the few places
    // of buffered requests while it trickles a body (tests/hostile.rs).
    let caller = authenticate(&st, &h)?;
    let bytes = read_body(&h, body, wire::MAX_PUSH_BYTES).await?;
    let req: PushRequest = sanitize::decode(&bytes).map_err(ApiError::from_decode)?;
    drop(bytes);
    if req.device_id != caller.device_id {
        return Err(ApiError::bad_header(
            "device_id in the body differs from the Gridworker-Device header",
        ));
    }
    if req.mutations.len() > wire::MAX_PUSH_MUTATIONS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::TOO_MANY_MUTATIONS,
            format!("at most {} mutations per push", wire::MAX_PUSH_MUTATIONS),
        ));
    }
    check_envelopes(&req)?;
    let st2 = st.clone();
    let reply = blocking(move || {
        st2.db.write(|tx| {
            // Two nodes given the same device's push at once: the first proceeds, the other
            // answers 503 `unavailable` at once; its retry then finds the records applied.
            if !tx.try_lock(&format!("push:{}", caller.device_id))? {
                return Err(ApiError::unavailable(
                    "another push of this device is in progress",
                    1,
                ));
            }
            // Records other writers may change take turns with them (and with the back
            // office); then one writer per record id, so two devices cannot both apply one.
            if req
                .mutations
                .iter()
                .any(|m| MutationKind::parse(&m.kind).is_some_and(crate::ledger::edits_shared))
            {
                tx.lock(crate::store::EDITS_LOCK)?;
            }
            let keys: Vec<String> = req
                .mutations
                .iter()
                .map(|m| format!("record:{}:{}", m.kind, m.record_id))
                .collect();
            tx.lock_all(&keys)?;
            bind_device(tx, &caller)?;
            let mut results = Vec::with_capacity(req.mutations.len());
            let mut breaks = 0u32;
            let mut photos = HashMap::new();
            let mut head: Option<(i64, String)> = tx
                .prepare_cached("SELECT head_seq, head_hash FROM devices WHERE device_id = ?1")?
                .query_row([&caller.device_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let start = head.clone();
            let mut batch = crate::ledger::Batch::load(tx, &caller.device_id, &req.mutations)?;
            // A batch naming one id twice sees the first as stored: the second is a replay.
            for m in &req.mutations {
                let (r, brk) = push_one(tx, &caller, m, &mut batch, &mut head, &mut photos)?;
                batch.taken(m);
                if brk {
                    breaks = breaks.saturating_add(1);
                }
                results.push(r);
            }
            batch.flush(tx)?;
            if let Some(head) = head.as_ref()
                && start.as_ref() != Some(head)
            {
                tx.prepare_cached(
                    "INSERT INTO devices (device_id, head_seq, head_hash) VALUES (?1, ?2, ?3)
                     ON CONFLICT (device_id) DO UPDATE SET head_seq = excluded.head_seq, head_hash = excluded.head_hash",
                )?
                .execute(params![caller.device_id, head.0, head.1])?;
            }
            Ok::<_, ApiError>(PushResponse {
                results,
                chain_breaks: breaks,
            })
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &reply))
}

/// `GET /v1/changes`.
pub async fn changes(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let caller = authenticate(&st, &h)?;
    if q.keys().any(|k| k != "cursor" && k != "limit") {
        return Err(ApiError::invalid(
            "unknown query parameter (cursor and limit are known)",
        ));
    }
    let cursor: i64 = match q.get("cursor").map(String::as_str) {
        None | Some("") => 0,
        Some(c) => c.parse::<i64>().ok().filter(|c| *c >= 0).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::BAD_CURSOR,
                "not a cursor this server issued",
            )
        })?,
    };
    let limit: u32 = match q.get("limit") {
        None => wire::DEFAULT_PULL_LIMIT,
        // Any larger positive number is clamped (§3.3), however large.
        Some(l) => l
            .parse::<u128>()
            .ok()
            .filter(|l| *l >= 1)
            .ok_or_else(|| ApiError::invalid("limit must be a positive integer"))?
            .min(u128::from(wire::MAX_PULL_LIMIT))
            .try_into()
            .unwrap_or(wire::MAX_PULL_LIMIT),
    };
    let st2 = st.clone();
    let body = blocking(move || {
        // Numbers for what committed before this pull, so the page below can include it.
        db::drain_feed(&st2.db, true)?;
        st2.db.read(|tx| {
            let max = db::max_change_seq(tx)?;
            if cursor > max {
                return Err(ApiError::new(
                    StatusCode::GONE,
                    codes::CURSOR_EXPIRED,
                    "the cursor is ahead of this server's data; pull again without a cursor",
                ));
            }
            let mut scopes = vec![worker_scope(&caller.worker_id)];
            if caller.protocol >= 3 {
                scopes.push(db::district_scope());
            }
            scopes.extend(
                db::worker_grids(tx, &caller.worker_id)?
                    .iter()
                    .map(|g| grid_scope(g)),
            );
            // One index-ordered scan per scope, merged by seq: a single query over all scopes
            // would sort every remaining row on each page.
            let fetch = i64::from(limit) + 1;
            let mut rows: Vec<(i64, String)> = Vec::new();
            let mut stmt = tx.prepare_cached(
                "SELECT seq, body FROM changes
                 WHERE scope = ?1 AND seq > ?2 AND (exclude_worker IS NULL OR exclude_worker <> ?3)
                   AND min_protocol <= ?5
                 ORDER BY seq LIMIT ?4",
            )?;
            for scope in &scopes {
                let found = stmt.query_map(
                    params![scope, cursor, caller.worker_id, fetch, caller.protocol],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
                )?;
                for row in found {
                    rows.push(row?);
                }
            }
            rows.sort_unstable_by_key(|r| r.0);
            let has_more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let last = rows.last().map_or(cursor, |r| r.0);
            // Bodies are stored as JSON already: the page is assembled, not re-encoded.
            let mut out =
                String::with_capacity(rows.iter().map(|r| r.1.len() + 1).sum::<usize>() + 64);
            out.push_str("{\"changes\":[");
            for (i, (_, body)) in rows.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(body);
            }
            // Caught up: skip past everything outside the worker's scope too.
            let next = if has_more { last } else { max.max(cursor) };
            out.push_str(&format!(
                "],\"next_cursor\":\"{next}\",\"has_more\":{has_more}}}"
            ));
            Ok(out)
        })
    })
    .await?;
    Ok((
        StatusCode::OK,
        [("content-type", HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response())
}
