//! QA / back-office endpoints under `/admin/v1` (admin bearer token; docs/protocol.md §8).

use std::collections::HashMap;
use std::sync::Arc;

use crate::params;
use crate::store::{OptionalExtension, Tx};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use gridworker_model::domain::ReportStatus;
use gridworker_model::geo::Crs;
use gridworker_model::wire::{MutationKind, codes};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::http::{bearer, blocking, json_response, read_body};
use crate::refdata::{self, GridIn, HouseholdIn, PointIn};
use crate::tasks::emit_task;

/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 1024 * 1024;

pub(crate) fn admin(st: &AppState, h: &HeaderMap) -> ApiResult<()> {
    match bearer(h) {
        None => Err(ApiError::unauthorized("the admin token is required")),
        Some(t) if t == st.admin_token => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            codes::FORBIDDEN,
            "this endpoint needs the admin token",
        )),
    }
}

pub(crate) async fn body_json<T: serde::de::DeserializeOwned>(
    h: &HeaderMap,
    body: Body,
) -> ApiResult<T> {
    let bytes = read_body(h, body, MAX_ADMIN_BODY).await?;
    crate::sanitize::decode(&bytes).map_err(ApiError::from_decode)
}

/// Body of `POST /admin/v1/reports/{id}/transition`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionIn {
    pub to: ReportStatus,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub evaluation: Option<String>,
}

/// Body of `POST /admin/v1/tasks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskIn {
    /// Chosen by the server (UUIDv7) when absent.
    #[serde(default)]
    pub id: Option<String>,
    pub worker_id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub crs: Option<Crs>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub linked_report_id: Option<String>,
}

/// Body of `PUT /admin/v1/workers/{id}/grids`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerGridsIn {
    pub grid_codes: Vec<String>,
}

/// `GET /admin/v1/records[?kind=K&status=S]`.
pub async fn records(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    if q.keys().any(|k| k != "kind" && k != "status") {
        return Err(ApiError::invalid(
            "unknown query parameter (kind and status are known)",
        ));
    }
    let kind = match q.get("kind") {
        None => None,
        Some(k) => Some(MutationKind::parse(k).ok_or_else(|| ApiError::invalid("unknown kind"))?),
    };
    let status = q.get("status").cloned().unwrap_or_else(|| "applied".into());
    if !["applied", "rejected", "withdrawn", "expired"].contains(&status.as_str()) {
        return Err(ApiError::invalid(
            "status must be applied, rejected, withdrawn or expired",
        ));
    }
    let st2 = st.clone();
    let v = blocking(move || {
        st2.db.read(|tx| {
            let Some(kind) = kind else {
                let mut counts = serde_json::Map::new();
                for k in MutationKind::ALL {
                    let n: i64 = tx.query_row(
                        "SELECT COUNT(*) FROM mutations WHERE kind = ?1 AND status = 'applied'",
                        [k.code()],
                        |r| r.get(0),
                    )?;
                    counts.insert(k.code().to_string(), json!(n));
                }
                let rejected: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM mutations WHERE status = 'rejected'",
                    (),
                    |r| r.get(0),
                )?;
                // Withdrawal links: entries the device withdrew (repaired or discarded),
                // held for the chain only.
                let withdrawn: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM mutations WHERE status = 'withdrawn'",
                    (),
                    |r| r.get(0),
                )?;
                // Expired links: entries the device no longer held when this server, restored
                // from an older backup, asked for them again: records lost, links whole.
                let expired: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM mutations WHERE status = 'expired'",
                    (),
                    |r| r.get(0),
                )?;
                let breaks: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM mutations WHERE chain_break = 1",
                    (),
                    |r| r.get(0),
                )?;
                let refused: i64 =
                    tx.query_row("SELECT COUNT(*) FROM refusals", (), |r| r.get(0))?;
                // Every refusal by code: stored rejections and those that store no mutation
                // (mutation_id_reused, seq_gap_too_large, hash_mismatch).
                let mut reasons = serde_json::Map::new();
                let mut stmt = tx.prepare(
                    "SELECT code, CAST(SUM(n) AS BIGINT) FROM (
                         SELECT reason_code AS code, COUNT(*) AS n FROM mutations
                         WHERE status = 'rejected' AND reason_code IS NOT NULL GROUP BY reason_code
                         UNION ALL
                         SELECT code, COUNT(*) FROM refusals GROUP BY code) AS by_code
                     GROUP BY code ORDER BY code",
                )?;
                let mut rows = stmt.query(())?;
                while let Some(r) = rows.next()? {
                    reasons.insert(r.get::<_, String>(0)?, json!(r.get::<_, i64>(1)?));
                }
                return Ok::<_, ApiError>(json!({
                    "counts": counts,
                    "rejected": rejected,
                    "withdrawn": withdrawn,
                    "expired": expired,
                    "refused": refused,
                    "reasons": reasons,
                    "chain_breaks": breaks,
                }));
            };
            let mut stmt = tx.prepare(
                "SELECT mutation_id, seq, device_id, chain_break, server_flags, received_at, payload,
                        reason_code, reason_message, worker_id, record_id
                 FROM mutations WHERE kind = ?1 AND status = ?2 ORDER BY received_at, device_id, seq",
            )?;
            let mut rows = stmt.query(params![kind.code(), status])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let mut payload: String = r.get(6)?;
                if payload.is_empty() && kind == MutationKind::TrackBlock && status == "applied" {
                    payload = crate::tracks::block_payload_text(tx, &r.get::<_, String>(10)?)?;
                }
                let mut obj = match serde_json::from_str::<Value>(&payload) {
                    Ok(Value::Object(o)) => o,
                    _ => {
                        let mut o = serde_json::Map::new();
                        o.insert("payload_text".into(), json!(payload));
                        o
                    }
                };
                let flags: String = r.get(4)?;
                obj.insert("mutation_id".into(), json!(r.get::<_, String>(0)?));
                obj.insert("seq".into(), json!(r.get::<_, i64>(1)?));
                obj.insert("device_id".into(), json!(r.get::<_, String>(2)?));
                obj.insert("chain_break".into(), json!(r.get::<_, bool>(3)?));
                obj.insert(
                    "server_flags".into(),
                    serde_json::from_str(&flags).unwrap_or(json!([])),
                );
                obj.insert("received_at".into(), json!(r.get::<_, String>(5)?));
                obj.insert("pushed_by".into(), json!(r.get::<_, String>(9)?));
                if let Some(code) = r.get::<_, Option<String>>(7)? {
                    obj.insert(
                        "reason".into(),
                        json!({"code": code, "message": r.get::<_, Option<String>>(8)?}),
                    );
                }
                out.push(Value::Object(obj));
            }
            Ok(json!({"kind": kind.code(), "status": status, "count": out.len(), "records": out}))
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &v))
}

fn report_json(tx: &Tx<'_>, id: &str) -> crate::store::Result<Option<Value>> {
    tx.query_row(
        "SELECT id, worker_id, grid_code, category, description, lat, lon, status, department, note,
                evaluation, created_at, updated_at FROM reports WHERE id = ?1",
        [id],
        |r| {
            Ok(json!({
                "id": r.get::<_, String>(0)?,
                "worker_id": r.get::<_, String>(1)?,
                "grid_code": r.get::<_, Option<String>>(2)?,
                "category": r.get::<_, String>(3)?,
                "description": r.get::<_, String>(4)?,
                "crs": "wgs84",
                "lat": r.get::<_, f64>(5)?,
                "lon": r.get::<_, f64>(6)?,
                "status": r.get::<_, String>(7)?,
                "department": r.get::<_, Option<String>>(8)?,
                "note": r.get::<_, Option<String>>(9)?,
                "evaluation": r.get::<_, Option<String>>(10)?,
                "created_at": r.get::<_, String>(11)?,
                "updated_at": r.get::<_, String>(12)?,
            }))
        },
    )
    .optional()
}

/// `GET /admin/v1/reports/{id}`.
pub async fn report(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let st2 = st.clone();
    let v = blocking(move || {
        st2.db
            .read(|tx| Ok::<_, ApiError>(report_json(tx, &id)?))?
            .ok_or_else(|| ApiError::not_found("no such report"))
    })
    .await?;
    Ok(json_response(StatusCode::OK, &v))
}

/// `POST /admin/v1/reports/{id}/transition`.
pub async fn transition(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let t: TransitionIn = body_json(&h, body).await?;
    let st2 = st.clone();
    let v = blocking(move || {
        st2.db.write_edit(|tx| {
            let Some(from) = crate::reports::status(tx, &id)? else {
                return Err(ApiError::not_found("no such report"));
            };
            if !gridworker_model::domain::status::step_allowed(from, t.to) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    codes::INVALID_TRANSITION,
                    format!("a {} report cannot become {}", from.code(), t.to.code()),
                ));
            }
            crate::reports::move_report(
                tx,
                &id,
                t.to,
                &crate::reports::Progress {
                    department: t.department.as_deref(),
                    note: t.note.as_deref(),
                    evaluation: t.evaluation.as_deref(),
                },
            )?;
            report_json(tx, &id)?.ok_or_else(|| ApiError::internal("report vanished"))
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &v))
}

/// `POST /admin/v1/tasks`.
pub async fn create_task(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let t: TaskIn = body_json(&h, body).await?;
    if t.title.trim().is_empty() {
        return Err(ApiError::invalid("title must not be empty"));
    }
    // The phone acknowledges and completes a task under its id: one it would refuse could
    // never be acknowledged. (Text lengths are checked with the task's feed change.)
    for (field, id) in [("id", &t.id), ("linked_report_id", &t.linked_report_id)] {
        if let Some(id) = id {
            gridworker_model::validate::id(field, id).map_err(ApiError::invalid)?;
        }
    }
    match (t.lat, t.lon, t.crs) {
        (None, None, _) => {}
        (Some(lat), Some(lon), Some(_))
            if lat.is_finite()
                && lon.is_finite()
                && (-90.0..=90.0).contains(&lat)
                && (-180.0..=180.0).contains(&lon) => {}
        _ => {
            return Err(ApiError::invalid(
                "a task place needs finite lat, lon and their crs together",
            ));
        }
    }
    let st2 = st.clone();
    let v = blocking(move || {
        st2.db.write_edit(|tx| {
            let known: bool = tx
                .query_row(
                    "SELECT 1 FROM workers WHERE id = ?1",
                    [&t.worker_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !known {
                return Err(ApiError::invalid(format!("unknown worker {}", t.worker_id)));
            }
            let id =
                t.id.clone()
                    .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
            let now = Utc::now();
            let inserted = tx.execute(
                "INSERT INTO tasks (id, worker_id, title, description, crs, lat, lon, address,
                     due_at, linked_report_id, status, dispatched_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'dispatched', ?11, ?11)
                 ON CONFLICT DO NOTHING",
                params![
                    id,
                    t.worker_id,
                    t.title,
                    t.description,
                    t.crs.map(|c| c.code()),
                    t.lat,
                    t.lon,
                    t.address,
                    t.due_at,
                    t.linked_report_id,
                    now
                ],
            )?;
            if inserted == 0 {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "task_exists",
                    "a task with this id exists",
                ));
            }
            emit_task(tx, &id)?.ok_or_else(|| ApiError::internal("task vanished"))
        })
    })
    .await?;
    Ok(json_response(StatusCode::CREATED, &v))
}

/// `PUT /admin/v1/grids/{code}`.
pub async fn put_grid(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(code): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let g: GridIn = body_json(&h, body).await?;
    let st2 = st.clone();
    blocking(move || st2.db.write_edit(|tx| refdata::put_grid(tx, &code, &g))).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /admin/v1/points/{id}`.
pub async fn put_point(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let p: PointIn = body_json(&h, body).await?;
    let st2 = st.clone();
    blocking(move || st2.db.write_edit(|tx| refdata::put_point(tx, &id, &p))).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /admin/v1/households/{id}`.
pub async fn put_household(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let p: HouseholdIn = body_json(&h, body).await?;
    let st2 = st.clone();
    blocking(move || st2.db.write_edit(|tx| refdata::put_household(tx, &id, &p))).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_with(
    st: Arc<AppState>,
    h: HeaderMap,
    id: String,
    f: fn(&Tx<'_>, &str) -> ApiResult<bool>,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let st2 = st.clone();
    let found = blocking(move || st2.db.write_edit(|tx| f(tx, &id))).await?;
    if found {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("nothing with this id"))
    }
}

/// `DELETE /admin/v1/grids/{code}`.
pub async fn delete_grid(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    delete_with(st, h, code, refdata::delete_grid).await
}

/// `DELETE /admin/v1/points/{id}`.
pub async fn delete_point(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    delete_with(st, h, id, refdata::delete_point).await
}

/// `DELETE /admin/v1/households/{id}`.
pub async fn delete_household(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    delete_with(st, h, id, refdata::delete_household).await
}

/// `PUT /admin/v1/workers/{id}/grids`.
pub async fn put_worker_grids(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let g: WorkerGridsIn = body_json(&h, body).await?;
    let st2 = st.clone();
    blocking(move || {
        st2.db.write_edit(|tx| {
            tx.execute(
                "INSERT INTO workers (id, name) VALUES (?1, ?1) ON CONFLICT DO NOTHING",
                [&id],
            )?;
            refdata::set_worker_grids(tx, &id, &g.grid_codes)
        })
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /admin/v1/photos/{sha}`.
pub async fn photo(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    crate::photos::bytes(&st, &sha).await
}

/// `GET /admin/v1/chain?device=D`.
pub async fn chain(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let device = q
        .get("device")
        .cloned()
        .ok_or_else(|| ApiError::invalid("the device query parameter is required"))?;
    let st2 = st.clone();
    let v = blocking(move || {
        st2.db.read(|tx| {
            let head: Option<(i64, String)> = tx
                .query_row(
                    "SELECT head_seq, head_hash FROM devices WHERE device_id = ?1",
                    [&device],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((head_seq, head_hash)) = head else {
                return Err(ApiError::not_found("no mutation received from this device"));
            };
            let n: i64 = tx.query_row(
                "SELECT COUNT(*) FROM mutations WHERE device_id = ?1",
                [&device],
                |r| r.get(0),
            )?;
            let mut stmt = tx.prepare(
                "SELECT mutation_id, seq, expected_prev, prev_hash FROM mutations
                 WHERE device_id = ?1 AND chain_break = 1 ORDER BY seq",
            )?;
            let breaks = stmt
                .query_map([&device], |r| {
                    Ok(json!({
                        "mutation_id": r.get::<_, String>(0)?,
                        "seq": r.get::<_, i64>(1)?,
                        "expected_prev": r.get::<_, Option<String>>(2)?,
                        "prev_hash": r.get::<_, String>(3)?,
                    }))
                })?
                .collect::<crate::store::Result<Vec<_>>>()?;
            Ok(json!({
                "device_id": device,
                "head_seq": head_seq,
                "head_hash": head_hash,
                "mutations": n,
                "intact": breaks.is_empty(),
                "chain_breaks": breaks,
            }))
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &v))
}

/// Body of `POST /admin/v1/devices/{device_id}/bind`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindIn {
    pub worker_id: String,
}

/// `POST /admin/v1/devices/{device_id}/bind`: gives a device to another worker (a reissued
/// phone, or a device id another worker used first). The device starts a new chain: a
/// reissued phone is wiped and its log starts again at seq 1, so the old head is dropped
/// (its mutations stay stored).
pub async fn bind_device(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(device_id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    let b: BindIn = body_json(&h, body).await?;
    gridworker_model::validate::id("device_id", &device_id).map_err(ApiError::invalid)?;
    gridworker_model::validate::id("worker_id", &b.worker_id).map_err(ApiError::invalid)?;
    let st2 = st.clone();
    let v = blocking(move || {
        st2.db.write(|tx| {
            // The device's push lock first, as a push takes its locks: a push of the previous
            // worker's records that checked the binding before this commits cannot commit
            // after it and bring the dropped head back (several nodes on PostgreSQL).
            tx.lock(&format!("push:{device_id}"))?;
            tx.lock(crate::store::EDITS_LOCK)?;
            let known = tx
                .query_row(
                    "SELECT 1 FROM workers WHERE id = ?1",
                    [&b.worker_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !known {
                return Err(ApiError::invalid("unknown worker"));
            }
            let previous: Option<String> = tx
                .query_row(
                    "SELECT worker_id FROM device_bindings WHERE device_id = ?1",
                    [&device_id],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT INTO device_bindings (device_id, worker_id, bound_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (device_id) DO UPDATE SET worker_id = excluded.worker_id,
                     bound_at = excluded.bound_at",
                params![device_id, b.worker_id, Utc::now()],
            )?;
            let dropped_head: Option<i64> = tx
                .query_row(
                    "SELECT head_seq FROM devices WHERE device_id = ?1",
                    [&device_id],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute("DELETE FROM devices WHERE device_id = ?1", [&device_id])?;
            Ok(json!({
                "device_id": device_id,
                "worker_id": b.worker_id,
                "previous_worker_id": previous,
                "dropped_head_seq": dropped_head,
            }))
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &v))
}
