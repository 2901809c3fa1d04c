//! Moving a report through its lifecycle on the server (受理 → 交办 → 办结 → 评价): the back
//! office's transitions (admin API) and the worker's evaluation of a resolved report (a
//! `report_evaluation` record). One place updates the row and tells the phones: the author
//! gets `report_status`, the other workers of the report's grid `report_upsert`.

use crate::params;
use crate::store::{OptionalExtension, Tx};
use chrono::{DateTime, Utc};
use gridworker_model::domain::ReportStatus;
use gridworker_model::geo::Crs;
use gridworker_model::wire::Change;

use crate::db::{emit, grid_scope, worker_scope};
use crate::error::{ApiError, ApiResult};

/// What a transition sets beside the status (`None` keeps the stored value).
pub(crate) struct Progress<'a> {
    pub(crate) department: Option<&'a str>,
    pub(crate) note: Option<&'a str>,
    pub(crate) evaluation: Option<&'a str>,
}

/// The report's stored status code and author; `None` when unknown.
pub(crate) fn row(tx: &Tx<'_>, id: &str) -> crate::store::Result<Option<(String, String)>> {
    tx.prepare_cached("SELECT status, worker_id FROM reports WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// The report's status and author; `None` when unknown.
pub(crate) fn status_and_author(
    tx: &Tx<'_>,
    id: &str,
) -> ApiResult<Option<(ReportStatus, String)>> {
    row(tx, id)?
        .map(|(s, w)| {
            ReportStatus::parse(&s)
                .map(|s| (s, w))
                .ok_or_else(|| ApiError::internal("stored report status is unknown"))
        })
        .transpose()
}

/// The report's status; `None` when unknown.
pub(crate) fn status(tx: &Tx<'_>, id: &str) -> ApiResult<Option<ReportStatus>> {
    Ok(status_and_author(tx, id)?.map(|(s, _)| s))
}

/// Moves the report to `to` (the caller checked the step) and emits the changes.
pub(crate) fn move_report(
    tx: &Tx<'_>,
    id: &str,
    to: ReportStatus,
    p: &Progress<'_>,
) -> ApiResult<()> {
    let now = Utc::now();
    tx.execute(
        "UPDATE reports SET status = ?2, department = COALESCE(?3, department),
             note = COALESCE(?4, note), evaluation = COALESCE(?5, evaluation), updated_at = ?6
         WHERE id = ?1",
        params![id, to.code(), p.department, p.note, p.evaluation, now],
    )?;
    type Row = (
        String,
        Option<String>,
        String,
        String,
        f64,
        f64,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let (author, grid, category, description, lat, lon, created_at, department, note, evaluation): Row =
        tx.query_row(
            "SELECT worker_id, grid_code, category, description, lat, lon, created_at,
                    department, note, evaluation
             FROM reports WHERE id = ?1",
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
                ))
            },
        )?;
    emit(
        tx,
        &worker_scope(&author),
        &format!("report_status:{id}"),
        None,
        &Change::ReportStatus {
            report_id: id.to_string(),
            status: to,
            department,
            note,
            evaluation,
            at: now,
        },
    )?;
    if let Some(g) = grid {
        let created_at = DateTime::parse_from_rfc3339(&created_at)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or(now);
        emit(
            tx,
            &grid_scope(&g),
            &format!("report:{id}"),
            Some(&author),
            &Change::ReportUpsert {
                id: id.to_string(),
                category,
                description,
                crs: Crs::Wgs84,
                lat,
                lon,
                status: to,
                created_at,
            },
        )?;
    }
    Ok(())
}
