//! A task's place in its worker's change feed: the admin API (dispatch) and the worker API
//! (acknowledge, complete) both re-emit a task's current state through here.

use crate::store::{OptionalExtension, Tx};
use chrono::{DateTime, Utc};
use gridworker_model::domain::TaskStatus;
use gridworker_model::geo::Crs;
use gridworker_model::wire::Change;
use serde_json::{Value, json};

use crate::db::{emit, worker_scope};
use crate::error::ApiError;

/// Re-emits a task's current state to its worker's feed.
/// The worker a task is dispatched to; `None` for a task the server does not know.
pub(crate) fn assignee(tx: &Tx<'_>, id: &str) -> crate::store::Result<Option<String>> {
    tx.prepare_cached("SELECT worker_id FROM tasks WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()
}

pub fn emit_task(tx: &Tx<'_>, id: &str) -> Result<Option<Value>, ApiError> {
    type Row = (
        String,
        String,
        String,
        Option<String>,
        Option<f64>,
        Option<f64>,
        Option<String>,
        Option<DateTime<Utc>>,
        Option<String>,
        String,
        DateTime<Utc>,
    );
    let row: Option<Row> = tx
        .query_row(
            "SELECT worker_id, title, description, crs, lat, lon, address, due_at, linked_report_id,
                    status, dispatched_at FROM tasks WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            },
        )
        .optional()?;
    let Some((worker, title, description, crs, lat, lon, address, due_at, linked, status, at)) =
        row
    else {
        return Ok(None);
    };
    let change = Change::TaskUpsert {
        id: id.to_string(),
        title,
        description,
        crs: crs.as_deref().and_then(Crs::parse),
        lat,
        lon,
        address,
        due_at,
        linked_report_id: linked,
        status: TaskStatus::parse(&status)
            .ok_or_else(|| ApiError::internal("stored task status is unknown"))?,
        dispatched_at: at,
    };
    emit(
        tx,
        &worker_scope(&worker),
        &format!("task:{id}"),
        None,
        &change,
    )?;
    let mut v = serde_json::to_value(&change).map_err(|e| ApiError::internal(e.to_string()))?;
    if let Value::Object(o) = &mut v {
        o.remove("type");
        o.insert("worker_id".into(), json!(worker));
    }
    Ok(Some(v))
}
