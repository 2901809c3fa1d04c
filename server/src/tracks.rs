//! `GET /admin/v1/tracks?worker=W&day=YYYY-MM-DD`: a worker's day on patrol as the server
//! holds it (issue 13, item 6). The summary is recomputed here from the fixes received, by
//! the same code the phone runs (`gridworker_model::track`), against the server's grids and
//! points: the back office does not take the phone's word for the distance or the flags.

use std::collections::HashMap;
use std::sync::Arc;

use crate::params;
use crate::store::Tx;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use gridworker_model::domain::{Grid, InspectionPoint};
use gridworker_model::geo::{Crs, Position};
use gridworker_model::track::{self, TrackFix, block};
use serde_json::json;

use crate::AppState;
use crate::admin::admin;
use crate::error::{ApiError, ApiResult};
use crate::http::{blocking, json_response};

/// The district's offset from UTC when the query gives none: China Standard Time.
const DEFAULT_UTC_OFFSET_MINUTES: i64 = 480;
const DAY_MS: i64 = 24 * 3600 * 1000;

pub async fn day_track(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    admin(&st, &h)?;
    if q.keys()
        .any(|k| !["worker", "day", "utc_offset_minutes"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(
            "unknown query parameter (worker, day and utc_offset_minutes are known)",
        ));
    }
    let worker = q
        .get("worker")
        .filter(|w| !w.is_empty())
        .cloned()
        .ok_or_else(|| ApiError::invalid("the worker query parameter is required"))?;
    let day = q
        .get("day")
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(|| ApiError::invalid("day must be a date, YYYY-MM-DD"))?;
    let offset = match q.get("utc_offset_minutes") {
        None => DEFAULT_UTC_OFFSET_MINUTES,
        Some(o) => o
            .parse::<i64>()
            .ok()
            .filter(|o| (-14 * 60..=14 * 60).contains(o))
            .ok_or_else(|| {
                ApiError::invalid("utc_offset_minutes must be whole minutes within ±14 hours")
            })?,
    };
    let from_ms = day
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc().timestamp_millis() - offset * 60_000)
        .ok_or_else(|| ApiError::invalid("day must be a date, YYYY-MM-DD"))?;
    let to_ms = from_ms + DAY_MS;
    let radius = st.policy.checkin_radius_m;
    let st2 = st.clone();
    let v = blocking(move || {
        st2.db.read(|tx| {
            let (blocks, bytes) = blocks_between(tx, &worker, from_ms, to_ms)?;
            let mut fixes: Vec<TrackFix> = Vec::new();
            let mut damaged = 0u32;
            for data in &blocks {
                // Validated when received; a block that no longer decodes is counted, not
                // fatal to the day.
                match block::decode(data) {
                    Ok(f) => {
                        fixes.extend(f.into_iter().filter(|f| (from_ms..to_ms).contains(&f.t_ms)))
                    }
                    Err(_) => damaged += 1,
                }
            }
            // Blocks of several devices or sessions may interleave: order by time, one fix
            // per instant.
            fixes.sort_by_key(|f| f.t_ms);
            fixes.dedup_by_key(|f| f.t_ms);
            let (grids, points) = worker_reference(tx, &worker)?;
            let m = track::measure(&fixes, &track::MeasureParams::default());
            let flags = track::signals(&fixes, &m);
            let summary = track::summarise(&m, flags, &grids, &points, radius);
            let line: Vec<Vec<[f64; 3]>> = track::line::simplified(&m, track::line::TOLERANCE_M)
                .into_iter()
                .map(|piece| {
                    piece
                        .into_iter()
                        .map(|(t, p)| [t as f64, p.lon, p.lat])
                        .collect()
                })
                .collect();
            Ok(json!({
                "worker_id": worker,
                "day": day.to_string(),
                "utc_offset_minutes": offset,
                "blocks": blocks.len(),
                "damaged_blocks": damaged,
                "fixes": fixes.len(),
                "stored_bytes": bytes,
                "events": events_between(tx, &worker, from_ms, to_ms)?,
                "summary": summary,
                "line": line,
            }))
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &v))
}

/// The worker's blocks with a fix in [from_ms, to_ms), and their stored bytes. A block spans
/// at most a day (the device refuses longer batches), so those starting a day earlier are
/// looked at.
fn blocks_between(
    tx: &Tx<'_>,
    worker: &str,
    from_ms: i64,
    to_ms: i64,
) -> crate::store::Result<(Vec<Vec<u8>>, u64)> {
    let mut st = tx.prepare_cached(
        "SELECT data FROM track_blocks
         WHERE worker_id = ?1 AND t_from < ?3 AND t_from >= CAST(?2 AS BIGINT) - 86400000 AND t_to >= ?2
         ORDER BY t_from",
    )?;
    let blocks: Vec<Vec<u8>> = st
        .query_map(params![worker, from_ms, to_ms], |r| r.get(0))?
        .collect::<crate::store::Result<_>>()?;
    let bytes = blocks.iter().map(|b| b.len() as u64).sum();
    Ok((blocks, bytes))
}

fn events_between(
    tx: &Tx<'_>,
    worker: &str,
    from_ms: i64,
    to_ms: i64,
) -> crate::store::Result<Vec<serde_json::Value>> {
    let (from, to) = (time_of(from_ms), time_of(to_ms));
    let mut st = tx.prepare_cached(
        "SELECT session_id, event, at FROM patrol_events
         WHERE worker_id = ?1 AND at >= ?2 AND at < ?3 ORDER BY at",
    )?;
    st.query_map(params![worker, from, to], |r| {
        Ok(json!({
            "session_id": r.get::<_, String>(0)?,
            "event": r.get::<_, String>(1)?,
            "at": r.get::<_, DateTime<Utc>>(2)?,
        }))
    })?
    .collect()
}

fn time_of(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The worker's grids and their inspection points, in WGS-84.
fn worker_reference(
    tx: &Tx<'_>,
    worker: &str,
) -> crate::store::Result<(Vec<Grid>, Vec<InspectionPoint>)> {
    let mut st = tx.prepare_cached(
        "SELECT g.code, g.name, g.crs, g.ring FROM grids g
         JOIN worker_grids w ON w.grid_code = g.code WHERE w.worker_id = ?1 ORDER BY g.code",
    )?;
    let rows: Vec<(String, String, String, String)> = st
        .query_map([worker], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<crate::store::Result<_>>()?;
    let mut grids = Vec::new();
    for (code, name, crs, ring) in rows {
        let (Some(crs), Ok(ring)) = (
            Crs::parse(&crs),
            serde_json::from_str::<Vec<[f64; 2]>>(&ring),
        ) else {
            continue;
        };
        grids.push(Grid {
            code,
            name,
            boundary: ring
                .iter()
                .map(|[lon, lat]| Position::from_crs(*lat, *lon, crs))
                .collect(),
        });
    }
    let mut st = tx.prepare_cached(
        "SELECT p.id, p.grid_code, p.name, p.crs, p.lat, p.lon, p.radius_m FROM points p
         JOIN worker_grids w ON w.grid_code = p.grid_code WHERE w.worker_id = ?1 ORDER BY p.id",
    )?;
    let points = st
        .query_map([worker], |r| {
            let crs: String = r.get(3)?;
            let (lat, lon): (f64, f64) = (r.get(4)?, r.get(5)?);
            Ok(InspectionPoint {
                id: r.get(0)?,
                grid_code: r.get(1)?,
                name: r.get(2)?,
                position: Crs::parse(&crs)
                    .map(|c| Position::from_crs(lat, lon, c))
                    .unwrap_or(Position::new(lat, lon)),
                radius_m: r.get(6)?,
            })
        })?
        .collect::<crate::store::Result<_>>()?;
    Ok((grids, points))
}

/// A stored block's payload as the phone sent it (the mutation row keeps no copy): its
/// fields and bytes are those received, so the JSON is the same. Empty when not held.
pub(crate) fn block_payload_text(tx: &Tx<'_>, id: &str) -> crate::store::Result<String> {
    use crate::store::OptionalExtension;
    let row: Option<(String, String, String, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT worker_id, device_id, session_id, data FROM track_blocks WHERE id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    Ok(row
        .and_then(|(w, d, s, data)| {
            gridworker_model::domain::TrackBlockPayload::new(id.to_string(), w, d, s, &data).ok()
        })
        .and_then(|p| serde_json::to_string(&p).ok())
        .unwrap_or_default())
}
