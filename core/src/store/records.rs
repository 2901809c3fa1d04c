//! Rows for the worker's records (check-ins, visits, reports, tasks) and their listings.
//! Inserts here never touch the outbox: the caller pairs them with `outbox::append` in one
//! transaction.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::domain::{
    CheckIn, CheckInOutcome, Flag, LocationFix, MediaType, Photo, PhotoReport, ReportProgress,
    ReportStatus, Task, TaskStatus, Visit, VisitKind,
};
use crate::error::Result;
use crate::geo::Position;
use crate::store::outbox::{STATE_COLS, SyncState, state_from_row};

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn flags_from(text: &str) -> Vec<Flag> {
    serde_json::from_str(text).unwrap_or_default()
}

fn fix_from(text: &str) -> Option<LocationFix> {
    serde_json::from_str(text).ok()
}

/// A record as listed to the worker, with where it stands with the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listed<T> {
    pub record: T,
    pub sync: SyncState,
}

pub fn insert_checkin(conn: &Connection, c: &CheckIn, local_day: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO checkins(id, point_id, lat, lon, fix, distance_m, outcome, flags, recorded_at, local_day)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        c.id,
        c.point_id,
        c.position.lat,
        c.position.lon,
        json(&c.fix),
        c.distance_m,
        match c.outcome {
            CheckInOutcome::Accepted => "accepted",
            CheckInOutcome::Flagged => "flagged",
        },
        json(&c.flags),
        c.recorded_at,
        local_day
    ])?;
    Ok(())
}

/// Row shape shared by listings: the record's columns plus its outbox state.
const SYNC_COLS: &str = STATE_COLS;
fn sync_join(table_alias: &str) -> String {
    // The latest outbox entry of the record: a repaired record has its withdrawn entry and
    // the new one, and must be listed once, with the new one's state.
    format!(
        "LEFT JOIN outbox o ON o.seq = (SELECT MAX(seq) FROM outbox WHERE record_id = {table_alias}.id)"
    )
}

fn sync_from_row(r: &Row<'_>) -> rusqlite::Result<SyncState> {
    state_from_row(r)
}

fn checkin_from_row(
    r: &Row<'_>,
    worker_id: &str,
    device_id: &str,
) -> rusqlite::Result<Listed<CheckIn>> {
    let fix_text: String = r.get("fix")?;
    let outcome: String = r.get("outcome")?;
    let flags: String = r.get("flags")?;
    let position = Position::new(r.get("lat")?, r.get("lon")?);
    let recorded_at: DateTime<Utc> = r.get("recorded_at")?;
    let fix = fix_from(&fix_text)
        .unwrap_or_else(|| LocationFix::wgs84(position.lat, position.lon, 0.0, recorded_at, 0));
    Ok(Listed {
        record: CheckIn {
            id: r.get("id")?,
            worker_id: worker_id.to_string(),
            device_id: device_id.to_string(),
            point_id: r.get("point_id")?,
            fix,
            position,
            distance_m: r.get("distance_m")?,
            outcome: if outcome == "accepted" {
                CheckInOutcome::Accepted
            } else {
                CheckInOutcome::Flagged
            },
            flags: flags_from(&flags),
            recorded_at,
        },
        sync: sync_from_row(r)?,
    })
}

/// Where and when a new check-in is being made, to find an earlier one that makes it a repeat.
#[derive(Debug, Clone, Copy)]
pub struct CooldownProbe<'a> {
    pub point_id: &'a str,
    /// Wall clock of the new check-in.
    pub now: DateTime<Utc>,
    /// The new check-in's fix (its time and monotonic reading).
    pub fix: &'a LocationFix,
    pub cooldown_s: i64,
    /// How far two fixes' boot instants (fix time minus monotonic reading) may differ and
    /// still count as the same boot and clock (the policy's clock drift).
    pub same_clock_tolerance_s: i64,
}

/// Wall-clock instant the device booted, as seen by a fix (ms since the epoch).
fn boot_instant_ms(fix: &LocationFix) -> i64 {
    fix.fix_time
        .timestamp_millis()
        .saturating_sub(fix.monotonic_ms)
}

/// The latest earlier check-in at the point that makes a new one a repeat (the cooldown rule).
///
/// Only a *trustworthy* earlier check-in counts: one not judged `clock_jump`, made under the
/// same boot and clock (both fixes put the boot at the same instant; a reboot or a clock set
/// by hand moves it), and within the cooldown on both clocks: `|now - recorded_at| < cooldown`
/// on the wall clock (symmetric, so a record dated in the future cannot shadow the present)
/// and `0 <= Δmonotonic < cooldown`. In doubt the new check-in is stored: a stored repeat
/// costs a row, a swallowed check-in is lost evidence.
pub fn cooldown_suppressor(
    conn: &Connection,
    probe: &CooldownProbe<'_>,
    worker_id: &str,
    device_id: &str,
) -> Result<Option<Listed<CheckIn>>> {
    if probe.cooldown_s <= 0 {
        return Ok(None);
    }
    // Stored times compare as text, which only orders four-digit years: keep both bounds there.
    let (earliest, latest) = text_comparable_range();
    let window = chrono::Duration::try_seconds(probe.cooldown_s).unwrap_or(chrono::Duration::MAX);
    let from = probe
        .now
        .checked_sub_signed(window)
        .map_or(earliest, |t| t.clamp(earliest, latest));
    let to = probe
        .now
        .checked_add_signed(window)
        .map_or(latest, |t| t.clamp(earliest, latest));
    let mono = probe.fix.monotonic_ms;
    let mono_from = mono.saturating_sub(probe.cooldown_s.saturating_mul(1000));
    let sql = format!(
        "SELECT c.*, {SYNC_COLS} FROM checkins c {}
         WHERE c.point_id = ?1 AND c.recorded_at > ?2 AND c.recorded_at < ?3
           AND NOT EXISTS (SELECT 1 FROM json_each(c.flags) WHERE value = 'clock_jump')
           AND json_extract(c.fix, '$.monotonic_ms') > ?4
           AND json_extract(c.fix, '$.monotonic_ms') <= ?5
         ORDER BY c.recorded_at DESC",
        sync_join("c")
    );
    let boot = boot_instant_ms(probe.fix);
    let tolerance_ms = probe.same_clock_tolerance_s.saturating_mul(1000);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![probe.point_id, from, to, mono_from, mono])?;
    while let Some(row) = rows.next()? {
        let earlier = checkin_from_row(row, worker_id, device_id)?;
        let drift = boot_instant_ms(&earlier.record.fix).saturating_sub(boot);
        if drift.saturating_abs() <= tolerance_ms {
            return Ok(Some(earlier));
        }
    }
    Ok(None)
}

fn text_comparable_range() -> (DateTime<Utc>, DateTime<Utc>) {
    let day = |y, m, d| {
        chrono::NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
            .unwrap_or_default()
    };
    (day(0, 1, 1), day(9999, 12, 31))
}

/// Where a newest-first listing page starts: after an offset, or (keyset) strictly before
/// the (time, id) of the last item of the previous page, which stays right when records are
/// added meanwhile.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    pub offset: u32,
    pub limit: u32,
    /// (stored time text, id) of the last item already shown.
    pub before: Option<(String, String)>,
}

impl PageQuery {
    pub fn offset(offset: u32, limit: u32) -> Self {
        PageQuery {
            offset,
            limit,
            before: None,
        }
    }

    fn keys(&self) -> (Option<&str>, Option<&str>) {
        match &self.before {
            Some((t, id)) => (Some(t.as_str()), Some(id.as_str())),
            None => (None, None),
        }
    }
}

/// The stored text of a time (the key a keyset cursor compares): what rusqlite writes.
pub fn time_key(t: &DateTime<Utc>) -> String {
    use rusqlite::types::{ToSqlOutput, Value, ValueRef};
    match rusqlite::ToSql::to_sql(t) {
        Ok(ToSqlOutput::Owned(Value::Text(s))) => s,
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(b))) => String::from_utf8_lossy(b).into_owned(),
        _ => t.to_rfc3339(),
    }
}

/// Check-ins, newest first, one page at a time.
pub fn list_checkins(
    conn: &Connection,
    page: &PageQuery,
    worker_id: &str,
    device_id: &str,
) -> Result<Vec<Listed<CheckIn>>> {
    let sql = format!(
        "SELECT c.*, {SYNC_COLS} FROM checkins c {}
         WHERE ?3 IS NULL OR (c.recorded_at, c.id) < (?3, ?4)
         ORDER BY c.recorded_at DESC, c.id DESC LIMIT ?1 OFFSET ?2",
        sync_join("c")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let (t, id) = page.keys();
    let rows = stmt.query_map(params![page.limit, page.offset, t, id], |r| {
        checkin_from_row(r, worker_id, device_id)
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Check-ins whose local day falls in `[from_day, to_day]` (inclusive, `YYYY-MM-DD`):
/// `(point_id, outcome)` pairs for patrol progress.
pub fn checkin_outcomes(
    conn: &Connection,
    from_day: &str,
    to_day: &str,
) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT point_id, outcome FROM checkins WHERE local_day BETWEEN ?1 AND ?2",
    )?;
    let rows = stmt.query_map(params![from_day, to_day], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn insert_visit(conn: &Connection, v: &Visit) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO visits(id, household_id, kind, note, lat, lon, fix, distance_m, flags, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        v.id,
        v.household_id,
        v.kind.code(),
        v.note,
        v.position.lat,
        v.position.lon,
        json(&v.fix),
        v.distance_m,
        json(&v.flags),
        v.recorded_at
    ])?;
    Ok(())
}

/// Visits, newest first, one page at a time.
pub fn list_visits(
    conn: &Connection,
    page: &PageQuery,
    worker_id: &str,
    device_id: &str,
) -> Result<Vec<Listed<Visit>>> {
    let sql = format!(
        "SELECT v.*, {SYNC_COLS} FROM visits v {}
         WHERE ?3 IS NULL OR (v.recorded_at, v.id) < (?3, ?4)
         ORDER BY v.recorded_at DESC, v.id DESC LIMIT ?1 OFFSET ?2",
        sync_join("v")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let (t, id) = page.keys();
    let rows = stmt.query_map(params![page.limit, page.offset, t, id], |r| {
        let fix_text: String = r.get("fix")?;
        let kind: String = r.get("kind")?;
        let flags: String = r.get("flags")?;
        let position = Position::new(r.get("lat")?, r.get("lon")?);
        let recorded_at: DateTime<Utc> = r.get("recorded_at")?;
        Ok(Listed {
            record: Visit {
                id: r.get("id")?,
                worker_id: worker_id.to_string(),
                device_id: device_id.to_string(),
                household_id: r.get("household_id")?,
                kind: VisitKind::parse(&kind).unwrap_or(VisitKind::Other),
                note: r.get("note")?,
                fix: fix_from(&fix_text).unwrap_or_else(|| {
                    LocationFix::wgs84(position.lat, position.lon, 0.0, recorded_at, 0)
                }),
                position,
                distance_m: r.get("distance_m")?,
                flags: flags_from(&flags),
                recorded_at,
            },
            sync: sync_from_row(r)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A report row as stored, before its photos are attached.
pub struct ReportRow<'a> {
    pub id: &'a str,
    pub own: bool,
    pub category: &'a str,
    pub description: &'a str,
    pub fix: Option<&'a LocationFix>,
    pub position: Option<Position>,
    pub flags: &'a [Flag],
    pub status: ReportStatus,
    pub attach_to: Option<&'a str>,
    pub created_at: DateTime<Utc>,
}

pub fn insert_report(conn: &Connection, r: &ReportRow<'_>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO reports(id, own, category, description, lat, lon, fix, flags, status, attach_to, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
    )?
    .execute(params![
        r.id,
        r.own,
        r.category,
        r.description,
        r.position.map(|p| p.lat),
        r.position.map(|p| p.lon),
        r.fix.map(json),
        json(&r.flags),
        r.status.code(),
        r.attach_to,
        r.created_at
    ])?;
    Ok(())
}

/// Attaches photos to a report in the given order, after any it already has.
pub fn add_report_photos(conn: &Connection, report_id: &str, shas: &[String]) -> Result<()> {
    let next: i64 = conn.query_row(
        "SELECT COALESCE(MAX(ord) + 1, 0) FROM report_photos WHERE report_id = ?1",
        [report_id],
        |r| r.get(0),
    )?;
    let mut stmt = conn
        .prepare_cached("INSERT INTO report_photos(report_id, ord, sha256) VALUES (?1, ?2, ?3)")?;
    for (i, sha) in shas.iter().enumerate() {
        stmt.execute(params![report_id, next + i as i64, sha])?;
    }
    Ok(())
}

pub fn report_photos(conn: &Connection, report_id: &str) -> Result<Vec<Photo>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.sha256, p.size, p.media_type, p.captured_at, p.exif_time, p.exif_lat,
                p.exif_lon, p.original_sha256, p.original_size FROM report_photos rp
         JOIN photos p ON p.sha256 = rp.sha256 WHERE rp.report_id = ?1 ORDER BY rp.ord",
    )?;
    let rows = stmt.query_map([report_id], photo_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A photo from `sha256, size, media_type, captured_at, exif_time, exif_lat, exif_lon,
/// original_sha256, original_size` (in that order).
pub fn photo_from_row(r: &Row<'_>) -> rusqlite::Result<Photo> {
    let mime: String = r.get(2)?;
    let lat: Option<f64> = r.get(5)?;
    let lon: Option<f64> = r.get(6)?;
    Ok(Photo {
        sha256: r.get(0)?,
        size: r.get::<_, i64>(1)?.max(0) as u64,
        media_type: MediaType::from_mime(&mime).unwrap_or(MediaType::Jpeg),
        captured_at: r.get(3)?,
        exif_time: r.get(4)?,
        exif_position: lat.zip(lon).map(|(lat, lon)| Position::new(lat, lon)),
        original_sha256: r.get(7)?,
        original_size: r.get::<_, Option<i64>>(8)?.map(|n| n.max(0) as u64),
    })
}

fn report_from_row(r: &Row<'_>) -> rusqlite::Result<(PhotoReport, Option<LocationFix>)> {
    let status: String = r.get("status")?;
    let flags: String = r.get("flags")?;
    let lat: Option<f64> = r.get("lat")?;
    let lon: Option<f64> = r.get("lon")?;
    let fix: Option<String> = r.get("fix")?;
    Ok((
        PhotoReport {
            id: r.get("id")?,
            category: r.get("category")?,
            description: r.get("description")?,
            photos: Vec::new(),
            position: lat.zip(lon).map(|(lat, lon)| Position::new(lat, lon)),
            status: ReportStatus::parse(&status).unwrap_or(ReportStatus::Submitted),
            progress: ReportProgress {
                department: r.get("department")?,
                note: r.get("progress_note")?,
                evaluation: r.get("evaluation")?,
            },
            flags: flags_from(&flags),
            attach_to: r.get("attach_to")?,
            own: r.get("own")?,
            created_at: r.get("created_at")?,
            updated_at: r.get("updated_at")?,
        },
        fix.as_deref().and_then(fix_from),
    ))
}

/// One report with its photos and the fix it was filed with.
pub fn report(conn: &Connection, id: &str) -> Result<Option<(PhotoReport, Option<LocationFix>)>> {
    let found = conn
        .prepare_cached("SELECT * FROM reports WHERE id = ?1")?
        .query_row([id], report_from_row)
        .optional()?;
    match found {
        Some((mut rep, fix)) => {
            rep.photos = report_photos(conn, id)?;
            Ok(Some((rep, fix)))
        }
        None => Ok(None),
    }
}

/// The worker's own reports (drafts included), newest first, one page at a time.
pub fn list_reports(conn: &Connection, page: &PageQuery) -> Result<Vec<Listed<PhotoReport>>> {
    let sql = format!(
        "SELECT r.*, {SYNC_COLS}, o.seq IS NULL AS is_draft
         FROM reports r {} WHERE r.own = 1 AND (?3 IS NULL OR (r.created_at, r.id) < (?3, ?4))
         ORDER BY r.created_at DESC, r.id DESC LIMIT ?1 OFFSET ?2",
        sync_join("r")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let (t, id) = page.keys();
    let rows = stmt.query_map(params![page.limit, page.offset, t, id], |r| {
        Ok((report_from_row(r)?.0, sync_from_row(r)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (mut rep, sync) = row?;
        rep.photos = report_photos(conn, &rep.id)?;
        out.push(Listed { record: rep, sync });
    }
    Ok(out)
}

/// Open reports of a category with a position inside the given lat/lon box (a coarse
/// prefilter; the caller measures true distances).
pub fn open_reports_in_box(
    conn: &Connection,
    category: &str,
    min: Position,
    max: Position,
) -> Result<Vec<PhotoReport>> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM reports WHERE category = ?1 AND status NOT IN ('draft', 'resolved', 'closed')
         AND lat BETWEEN ?2 AND ?3 AND lon BETWEEN ?4 AND ?5",
    )?;
    let rows = stmt.query_map(params![category, min.lat, max.lat, min.lon, max.lon], |r| {
        Ok(report_from_row(r)?.0)
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn set_report_status(
    conn: &Connection,
    id: &str,
    status: ReportStatus,
    at: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached("UPDATE reports SET status = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, status.code(), at])?;
    Ok(())
}

/// The worker's evaluation moves the report (closed or reopened) and keeps its text.
pub fn set_report_evaluation(
    conn: &Connection,
    id: &str,
    status: ReportStatus,
    evaluation: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE reports SET status = ?2, evaluation = ?3, updated_at = ?4 WHERE id = ?1",
    )?
    .execute(params![id, status.code(), evaluation, at])?;
    Ok(())
}

fn task_from_row(r: &Row<'_>) -> rusqlite::Result<Task> {
    let status: String = r.get("status")?;
    let lat: Option<f64> = r.get("lat")?;
    let lon: Option<f64> = r.get("lon")?;
    Ok(Task {
        id: r.get("id")?,
        title: r.get("title")?,
        description: r.get("description")?,
        place: lat.zip(lon).map(|(lat, lon)| Position::new(lat, lon)),
        address: r.get("address")?,
        due_at: r.get("due_at")?,
        linked_report_id: r.get("linked_report_id")?,
        status: TaskStatus::parse(&status).unwrap_or(TaskStatus::Dispatched),
        dispatched_at: r.get("dispatched_at")?,
    })
}

/// Inserts or updates a task from the server. A status the worker moved further locally
/// (acknowledged, completed) is not moved back by an older server view.
pub fn upsert_task(conn: &Connection, t: &Task, at: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO tasks(id, title, description, lat, lon, address, due_at, linked_report_id, status, dispatched_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT(id) DO UPDATE SET title = excluded.title, description = excluded.description,
             lat = excluded.lat, lon = excluded.lon, address = excluded.address, due_at = excluded.due_at,
             linked_report_id = excluded.linked_report_id, updated_at = excluded.updated_at,
             status = CASE
                 WHEN excluded.status = 'cancelled' THEN 'cancelled'
                 WHEN tasks.status = 'completed' THEN 'completed'
                 WHEN tasks.status = 'acknowledged' AND excluded.status = 'dispatched' THEN 'acknowledged'
                 ELSE excluded.status END",
    )?
    .execute(params![
        t.id,
        t.title,
        t.description,
        t.place.map(|p| p.lat),
        t.place.map(|p| p.lon),
        t.address,
        t.due_at,
        t.linked_report_id,
        t.status.code(),
        t.dispatched_at,
        at
    ])?;
    Ok(())
}

pub fn task(conn: &Connection, id: &str) -> Result<Option<Task>> {
    Ok(conn
        .prepare_cached("SELECT * FROM tasks WHERE id = ?1")?
        .query_row([id], task_from_row)
        .optional()?)
}

pub fn set_task_status(
    conn: &Connection,
    id: &str,
    status: TaskStatus,
    at: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached("UPDATE tasks SET status = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, status.code(), at])?;
    Ok(())
}

/// Tasks, open ones first (by due time), then the rest, one page at a time.
pub fn list_tasks(conn: &Connection, offset: u32, limit: u32) -> Result<Vec<Task>> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM tasks ORDER BY status IN ('completed', 'cancelled'), due_at IS NULL, due_at, dispatched_at DESC
         LIMIT ?1 OFFSET ?2",
    )?;
    let rows = stmt.query_map(params![limit, offset], task_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn insert_task_completion(
    conn: &Connection,
    p: &crate::domain::TaskCompletionPayload,
) -> Result<()> {
    conn.execute(
        "INSERT INTO task_completions(id, task_id, note, lat, lon, fix, flags, completed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            p.id,
            p.task_id,
            p.note,
            p.position.lat,
            p.position.lon,
            json(&p.fix),
            json(&p.flags),
            p.completed_at
        ],
    )?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO task_completion_photos(completion_id, ord, sha256) VALUES (?1, ?2, ?3)",
    )?;
    for (i, ph) in p.photos.iter().enumerate() {
        stmt.execute(params![p.id, i as i64, ph.sha256])?;
    }
    Ok(())
}

/// The report changed (a photo added): its `updated_at` moves.
pub fn touch_report(conn: &Connection, id: &str, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached("UPDATE reports SET updated_at = ?2 WHERE id = ?1")?
        .execute(params![id, now])?;
    Ok(())
}

/// A draft is filed: its position, fix and flags are set and it waits for sync.
pub fn queue_report(
    conn: &Connection,
    id: &str,
    position: crate::geo::Position,
    fix_json: &str,
    flags_json: &str,
    attach_to: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE reports SET lat = ?2, lon = ?3, fix = ?4, flags = ?5, status = 'queued', attach_to = ?6, updated_at = ?7
         WHERE id = ?1",
    )?
    .execute(params![id, position.lat, position.lon, fix_json, flags_json, attach_to, now])?;
    Ok(())
}

/// Removes a report row (a deleted draft, a discarded report); its photo links go with it.
pub fn delete_report(conn: &Connection, id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM reports WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Replaces the photo links of a report or task completion with `shas`, in order. `false`:
/// this kind of record holds no photos (nothing changed).
pub fn replace_photo_links(
    conn: &Connection,
    record_kind: &str,
    record_id: &str,
    shas: &[String],
) -> Result<bool> {
    use crate::store::outbox::kind;
    let (delete, insert) = match record_kind {
        kind::REPORT => (
            "DELETE FROM report_photos WHERE report_id = ?1",
            "INSERT INTO report_photos(report_id, ord, sha256) VALUES (?1, ?2, ?3)",
        ),
        kind::TASK_COMPLETION => (
            "DELETE FROM task_completion_photos WHERE completion_id = ?1",
            "INSERT INTO task_completion_photos(completion_id, ord, sha256) VALUES (?1, ?2, ?3)",
        ),
        _ => return Ok(false),
    };
    conn.prepare_cached(delete)?.execute([record_id])?;
    let mut ins = conn.prepare_cached(insert)?;
    for (i, sha) in shas.iter().enumerate() {
        ins.execute(params![
            record_id,
            i64::try_from(i).unwrap_or(i64::MAX),
            sha
        ])?;
    }
    Ok(true)
}

/// Deletes a record's row (and its photo links) by kind; for a task completion, returns
/// the task it completed.
pub fn delete_record(conn: &Connection, record_kind: &str, id: &str) -> Result<Option<String>> {
    use crate::store::outbox::kind;
    match record_kind {
        kind::REPORT => delete_report(conn, id)?,
        kind::CHECKIN => {
            conn.prepare_cached("DELETE FROM checkins WHERE id = ?1")?
                .execute([id])?;
        }
        kind::VISIT => {
            conn.prepare_cached("DELETE FROM visits WHERE id = ?1")?
                .execute([id])?;
        }
        kind::TASK_COMPLETION => {
            let task: Option<String> = conn
                .prepare_cached("SELECT task_id FROM task_completions WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            conn.prepare_cached("DELETE FROM task_completion_photos WHERE completion_id = ?1")?
                .execute([id])?;
            conn.prepare_cached("DELETE FROM task_completions WHERE id = ?1")?
                .execute([id])?;
            return Ok(task);
        }
        kind::TRACK_BLOCK => {
            crate::store::tracks::keep_payload(conn, id)?;
            conn.prepare_cached("DELETE FROM track_blocks WHERE record_id = ?1")?
                .execute([id])?;
        }
        // A patrol event is the worker's state: it stays.
        _ => {}
    }
    Ok(None)
}
