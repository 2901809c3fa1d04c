//! Read-only commands: `status`, `list`, `progress`, `nearby`, `coords`.

use std::sync::Arc;

use gridworker_core::geo::{Crs, Position, convert};
use gridworker_core::worker::KindCounts;
use gridworker_core::worker::SyncState;
use gridworker_core::{GridWorker, SystemClock};
use serde_json::{Value, json};

use crate::args::{CoordsArgs, ListArgs, ListKind, NearbyArgs, ProgressArgs};
use crate::error::{CliError, CliResult};
use crate::home::Home;
use crate::output::{Output, round};

fn open(home: &Home) -> CliResult<GridWorker> {
    let cfg = home.load()?;
    home.open(&cfg, Arc::new(SystemClock))
}

fn counts_json(k: &KindCounts) -> Value {
    json!({"checkins": k.checkins, "visits": k.visits, "reports": k.reports,
           "photos": k.photos, "tasks": k.tasks})
}

/// The `status --json` object (also part of scenario reports).
pub fn status_json(gw: &GridWorker) -> CliResult<Value> {
    let c = gw.sync_counts()?;
    Ok(json!({
        "pending": counts_json(&c.pending),
        "synced": counts_json(&c.synced),
        "rejected": counts_json(&c.rejected),
        "quarantined": counts_json(&c.quarantined),
        "quarantined_records": gw.quarantined_records()?,
        "drafts": c.drafts,
        "last_sync": c.last_sync,
        "clock_offset_ms": c.clock_offset_ms,
        "encrypted": gw.config().key.is_some(),
    }))
}

pub fn status(home: &Home) -> CliResult<Output> {
    let gw = open(home)?;
    let c = gw.sync_counts()?;
    let line = |name: &str, k: &KindCounts| {
        format!(
            "{name:<11} check-ins {:>4}  visits {:>4}  reports {:>4}  photos {:>4}  tasks {:>4}",
            k.checkins, k.visits, k.reports, k.photos, k.tasks
        )
    };
    let human = [
        line("pending", &c.pending),
        line("synced", &c.synced),
        line("rejected", &c.rejected),
        line("quarantined", &c.quarantined),
    ]
    .into_iter()
    .chain(
        gw.quarantined_records()?
            .into_iter()
            .map(|q| format!("  {} {}: {}", q.kind, q.record_id, q.reason)),
    )
    .chain([
        format!(
            "last sync: {}",
            c.last_sync
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "never".into())
        ),
        format!(
            "store: {}",
            if gw.config().key.is_some() {
                "encrypted"
            } else {
                "plain (not encrypted)"
            }
        ),
    ])
    .collect::<Vec<_>>()
    .join("\n");
    Ok(Output::new(status_json(&gw)?, human))
}

fn sync_json(s: &SyncState) -> Value {
    match s {
        SyncState::Pending => json!({"state": "pending"}),
        SyncState::Synced => json!({"state": "synced"}),
        SyncState::Rejected { code, reason } => {
            json!({"state": "rejected", "code": code, "reason": reason})
        }
        SyncState::Quarantined { reason } => {
            json!({"state": "quarantined", "quarantine": reason, "reason": reason.to_string()})
        }
        SyncState::Withdrawn => json!({"state": "withdrawn"}),
    }
}

fn sync_word(s: &SyncState) -> &'static str {
    match s {
        SyncState::Pending => "pending",
        SyncState::Synced => "synced",
        SyncState::Rejected { .. } => "rejected",
        SyncState::Quarantined { .. } => "quarantined",
        SyncState::Withdrawn => "withdrawn",
    }
}

fn flags_text(flags: &[gridworker_core::domain::Flag]) -> String {
    if flags.is_empty() {
        String::new()
    } else {
        let codes: Vec<&str> = flags.iter().map(|f| f.code()).collect();
        format!(" [{}]", codes.join(", "))
    }
}

pub fn list(home: &Home, a: &ListArgs) -> CliResult<Output> {
    let gw = open(home)?;
    let mut lines = Vec::new();
    let items: Vec<Value> = match a.what {
        ListKind::Checkins => gw
            .list_checkins(a.offset, a.limit)?
            .into_iter()
            .map(|l| {
                let c = &l.record;
                let outcome = match c.outcome {
                    gridworker_core::domain::CheckInOutcome::Accepted => "accepted",
                    gridworker_core::domain::CheckInOutcome::Flagged => "flagged",
                };
                lines.push(format!(
                    "{}  {}  {:<8} {:>7.1} m  {}{}",
                    c.recorded_at.format("%Y-%m-%d %H:%M:%S"),
                    c.point_id,
                    outcome,
                    c.distance_m,
                    sync_word(&l.sync),
                    flags_text(&c.flags)
                ));
                json!({"id": c.id, "point": c.point_id, "outcome": outcome,
                       "flags": c.flags.iter().map(|f| f.code()).collect::<Vec<_>>(),
                       "distance_m": round(c.distance_m, 1), "recorded_at": c.recorded_at,
                       "lat": round(c.position.lat, 7), "lon": round(c.position.lon, 7),
                       "sync": sync_json(&l.sync)})
            })
            .collect(),
        ListKind::Visits => gw
            .list_visits(a.offset, a.limit)?
            .into_iter()
            .map(|l| {
                let v = &l.record;
                lines.push(format!(
                    "{}  {}  {:<22} {:>7.1} m  {}{}",
                    v.recorded_at.format("%Y-%m-%d %H:%M:%S"),
                    v.household_id,
                    v.kind.code(),
                    v.distance_m,
                    sync_word(&l.sync),
                    flags_text(&v.flags)
                ));
                json!({"id": v.id, "household": v.household_id, "kind": v.kind.code(),
                       "flags": v.flags.iter().map(|f| f.code()).collect::<Vec<_>>(),
                       "distance_m": round(v.distance_m, 1), "recorded_at": v.recorded_at,
                       "lat": round(v.position.lat, 7), "lon": round(v.position.lon, 7),
                       "sync": sync_json(&l.sync)})
            })
            .collect(),
        ListKind::Reports => gw
            .list_reports(a.offset, a.limit)?
            .into_iter()
            .map(|l| {
                let r = &l.record;
                lines.push(format!(
                    "{}  {}  {:<20} {:<10} {} photo(s)  {}{}",
                    r.created_at.format("%Y-%m-%d %H:%M:%S"),
                    r.id,
                    r.category,
                    r.status.code(),
                    r.photos.len(),
                    sync_word(&l.sync),
                    flags_text(&r.flags)
                ));
                json!({"id": r.id, "category": r.category, "status": r.status.code(),
                       "photos": r.photos.len(),
                       "flags": r.flags.iter().map(|f| f.code()).collect::<Vec<_>>(),
                       "department": r.progress.department, "created_at": r.created_at,
                       "updated_at": r.updated_at, "sync": sync_json(&l.sync)})
            })
            .collect(),
        ListKind::Tasks => gw
            .list_tasks(a.offset, a.limit)?
            .into_iter()
            .map(|t| {
                lines.push(format!("{}  {:<12} {}", t.id, t.status.code(), t.title));
                json!({"id": t.id, "title": t.title, "status": t.status.code(),
                       "due_at": t.due_at, "linked_report": t.linked_report_id,
                       "dispatched_at": t.dispatched_at})
            })
            .collect(),
    };
    let key = match a.what {
        ListKind::Checkins => "checkins",
        ListKind::Visits => "visits",
        ListKind::Reports => "reports",
        ListKind::Tasks => "tasks",
    };
    if lines.is_empty() {
        lines.push(format!("no {key}"));
    }
    Ok(Output::new(json!({ key: items }), lines.join("\n")))
}

pub fn progress(home: &Home, a: &ProgressArgs) -> CliResult<Output> {
    let gw = open(home)?;
    let p = match (a.day, a.week) {
        (_, Some(w)) => gw.progress_week(Some(w))?,
        (d, None) => gw.progress_day(d)?,
    };
    let human = format!(
        "{} to {}: {} points due, {} checked, {} flagged only, {} missed ({:.1}% coverage)",
        p.from_day,
        p.to_day,
        p.points_due,
        p.checked_accepted,
        p.checked_flagged_only,
        p.missed,
        p.coverage_percent
    );
    Ok(Output::new(serde_json::to_value(&p)?, human))
}

pub fn nearby(home: &Home, a: &NearbyArgs) -> CliResult<Output> {
    check_lat_lon(a.lat, a.lon)?;
    let gw = open(home)?;
    let here = Position::from_crs(a.lat, a.lon, a.crs);
    let pts = gw.nearby_points(here, a.limit)?;
    let human = if pts.is_empty() {
        "no inspection points known (sync or seed first)".to_string()
    } else {
        pts.iter()
            .map(|n| format!("{}  {:>7.1} m  {}", n.point.id, n.distance_m, n.point.name))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let points: Vec<Value> = pts
        .iter()
        .map(|n| {
            json!({"id": n.point.id, "name": n.point.name, "grid": n.point.grid_code,
                   "lat": round(n.point.position.lat, 7), "lon": round(n.point.position.lon, 7),
                   "distance_m": round(n.distance_m, 1)})
        })
        .collect();
    Ok(Output::new(json!({ "points": points }), human))
}

fn check_lat_lon(lat: f64, lon: f64) -> CliResult<()> {
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(CliError::invalid(format!(
            "latitude {lat}: must be a finite number between -90 and 90"
        )));
    }
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(CliError::invalid(format!(
            "longitude {lon}: must be a finite number between -180 and 180"
        )));
    }
    Ok(())
}

pub fn coords(a: &CoordsArgs) -> CliResult<Output> {
    check_lat_lon(a.lat, a.lon)?;
    let (lat, lon) = convert(a.lat, a.lon, a.from, a.to);
    let (lat, lon) = (round(lat, 7), round(lon, 7));
    let name = |c: Crs| c.code();
    Ok(Output::new(
        json!({"lat": lat, "lon": lon, "crs": name(a.to)}),
        format!("{lat} {lon}"),
    ))
}
