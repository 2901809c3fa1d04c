//! `gridworker patrol start|pause|resume|stop [--at T]`, `gridworker track add FILE`,
//! `gridworker track show [--day D]` (issue 13).

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use gridworker_core::domain::LocationFix;
use gridworker_core::geo::Crs;
use gridworker_core::worker::PatrolState;
use gridworker_core::{Error as CoreError, SystemClock};
use serde_json::json;

use crate::args::{PatrolAction, PatrolArgs, TrackAction, TrackArgs};
use crate::error::{CliError, CliResult};
use crate::home::{FixedClock, Home, HomeConfig};
use crate::output::Output;

/// Fixes handed to the core per call, as an app hands over its buffered callbacks.
const BATCH: usize = 600;

pub fn patrol(home: &Home, a: &PatrolArgs) -> CliResult<Output> {
    let cfg = home.load()?;
    let clock: Arc<dyn gridworker_core::Clock> = match a.at {
        Some(t) => Arc::new(FixedClock(t)),
        None => Arc::new(SystemClock),
    };
    let gw = home.open(&cfg, clock)?;
    let state = match a.action {
        PatrolAction::Start => gw.start_patrol()?,
        PatrolAction::Pause => gw.pause_patrol()?,
        PatrolAction::Resume => gw.resume_patrol()?,
        PatrolAction::Stop => gw.stop_patrol()?,
    };
    let human = match &state {
        PatrolState::OffDuty => "off duty".to_string(),
        PatrolState::OnPatrol { since, .. } => format!("on patrol since {}", since.to_rfc3339()),
        PatrolState::Paused { since, .. } => format!("paused since {}", since.to_rfc3339()),
    };
    Ok(Output::new(serde_json::to_value(&state)?, human))
}

pub fn track(home: &Home, a: &TrackArgs) -> CliResult<Output> {
    match &a.action {
        TrackAction::Add { file } => add(home, file),
        TrackAction::Show { day } => show(home, *day),
    }
}

fn add(home: &Home, file: &Path) -> CliResult<Output> {
    let cfg = home.load()?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| CliError::invalid(format!("{}: {e}", file.display())))?;
    let is_gpx = file
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("gpx"));
    let fixes = if is_gpx {
        gpx(&text, &cfg)?
    } else {
        csv(&text, &cfg)?
    };
    check_all(file, &fixes)?;
    let gw = home.open(&cfg, Arc::new(SystemClock))?;
    let mut stored = 0;
    for (n, batch) in fixes.chunks(BATCH).enumerate() {
        stored += gw.add_track_fixes(batch).map_err(|e| match e {
            // Name the fix by its place in the file, not in the batch.
            CoreError::InvalidInput { field, reason } => CliError::invalid(format!(
                "{}: {} (batch from fix {}): {reason}",
                file.display(),
                field,
                n * BATCH
            )),
            other => other.into(),
        })?;
    }
    Ok(Output::new(
        json!({"added": stored}),
        format!("{stored} fix(es) added to the patrol track"),
    ))
}

/// The core's checks of a batch, on every batch before the first is stored: each batch
/// commits on its own, so a bad fix found in a later one would leave the earlier ones
/// written although the command is refused (exit 2 says nothing was).
fn check_all(file: &Path, fixes: &[LocationFix]) -> CliResult<()> {
    let named =
        |e: gridworker_core::model::Invalid| CliError::invalid(format!("{}: {e}", file.display()));
    let bad = |i: usize, reason: String| {
        CliError::invalid(format!("{}: fixes[{i}]: {reason}", file.display()))
    };
    for (i, f) in fixes.iter().enumerate() {
        let field = format!("fixes[{i}]");
        f.validate(&field).map_err(named)?;
        gridworker_core::validate::time(&format!("{field}.fix_time"), &f.fix_time)
            .map_err(named)?;
    }
    for (n, batch) in fixes.chunks(BATCH).enumerate() {
        for (k, pair) in batch.windows(2).enumerate() {
            if pair[1].fix_time <= pair[0].fix_time {
                return Err(bad(
                    n * BATCH + k + 1,
                    "is not after the fix before it".into(),
                ));
            }
        }
        if let (Some(first), Some(last)) = (batch.first(), batch.last())
            && (last.fix_time - first.fix_time).num_milliseconds()
                > gridworker_core::model::track::block::MAX_SPAN_MS
        {
            return Err(bad(
                n * BATCH,
                "the fixes from here span more than a day".into(),
            ));
        }
    }
    Ok(())
}

fn fix(
    cfg: &HomeConfig,
    t: DateTime<Utc>,
    lat: f64,
    lon: f64,
    accuracy: f64,
    crs: Crs,
    mock: bool,
) -> LocationFix {
    let mut f = LocationFix::wgs84(lat, lon, accuracy, t, cfg.monotonic_ms(t));
    f.crs = crs;
    f.is_mock = mock;
    f
}

/// CSV with a header naming `time,lat,lon,accuracy` and optionally `crs` and `mock`, in any
/// order.
pub(crate) fn csv(text: &str, cfg: &HomeConfig) -> CliResult<Vec<LocationFix>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .ok_or_else(|| CliError::invalid("the CSV file is empty"))?
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let need = |name: &str| {
        col(name).ok_or_else(|| CliError::invalid(format!("the CSV header has no `{name}` column")))
    };
    let (ti, la, lo, ac) = (need("time")?, need("lat")?, need("lon")?, need("accuracy")?);
    let (cr, mo) = (col("crs"), col("mock"));
    lines
        .enumerate()
        .map(|(i, line)| {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            let row = i + 2;
            let cell = |c: usize| {
                cells
                    .get(c)
                    .copied()
                    .ok_or_else(|| CliError::invalid(format!("line {row}: too few columns")))
            };
            let num = |c: usize, what: &str| -> CliResult<f64> {
                cell(c)?
                    .parse()
                    .map_err(|_| CliError::invalid(format!("line {row}: {what} is not a number")))
            };
            let t = DateTime::parse_from_rfc3339(cell(ti)?)
                .map_err(|_| CliError::invalid(format!("line {row}: time is not RFC 3339")))?
                .with_timezone(&Utc);
            let crs = match cr.and_then(|c| cells.get(c)).filter(|s| !s.is_empty()) {
                Some(s) => Crs::parse(s)
                    .ok_or_else(|| CliError::invalid(format!("line {row}: unknown crs")))?,
                None => Crs::Wgs84,
            };
            let mock = mo
                .and_then(|c| cells.get(c))
                .is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
            Ok(fix(
                cfg,
                t,
                num(la, "lat")?,
                num(lo, "lon")?,
                num(ac, "accuracy")?,
                crs,
                mock,
            ))
        })
        .collect()
}

/// GPX 1.1 track points (`trkpt` with `time`); accuracy from `hdop` (x 5 m) or 10 m.
fn gpx(text: &str, cfg: &HomeConfig) -> CliResult<Vec<LocationFix>> {
    let doc = roxmltree::Document::parse(text)
        .map_err(|e| CliError::invalid(format!("not a GPX file: {e}")))?;
    doc.descendants()
        .filter(|n| n.has_tag_name("trkpt"))
        .enumerate()
        .map(|(i, p)| {
            let attr = |a: &str| -> CliResult<f64> {
                p.attribute(a)
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| CliError::invalid(format!("trkpt {i}: no {a}")))
            };
            let child = |name: &str| {
                p.children()
                    .find(|c| c.has_tag_name(name))
                    .and_then(|c| c.text())
            };
            let t = child("time")
                .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
                .ok_or_else(|| CliError::invalid(format!("trkpt {i}: no time")))?
                .with_timezone(&Utc);
            let accuracy = child("hdop")
                .and_then(|s| s.trim().parse::<f64>().ok())
                .map(|h| h * 5.0)
                .unwrap_or(10.0);
            Ok(fix(
                cfg,
                t,
                attr("lat")?,
                attr("lon")?,
                accuracy,
                Crs::Wgs84,
                false,
            ))
        })
        .collect()
}

fn show(home: &Home, day: Option<chrono::NaiveDate>) -> CliResult<Output> {
    let cfg = home.load()?;
    let gw = home.open(&cfg, Arc::new(SystemClock))?;
    let s = gw.track_summary(day)?;
    let flags: Vec<_> = s
        .flags
        .iter()
        .map(|f| json!({"kind": f.kind, "from": ms_time(f.from_ms), "to": ms_time(f.to_ms)}))
        .collect();
    let gaps: Vec<_> = s
        .gaps
        .iter()
        .map(|(a, b)| json!({"from": ms_time(*a), "to": ms_time(*b)}))
        .collect();
    let coverage: Vec<_> = s
        .coverage
        .iter()
        .map(|c| json!({"grid": c.code, "coverage": (c.coverage * 1000.0).round() / 1000.0}))
        .collect();
    let points: Vec<_> = s
        .points_passed
        .iter()
        .map(|p| json!({"point": p.point_id, "at": ms_time(p.at_ms)}))
        .collect();
    let v = json!({
        "distance_m": s.distance_m.round(),
        "patrol_s": s.patrol_s.round(),
        "moving_s": s.moving_s.round(),
        "in_grid_s": s.in_grid_s.round(),
        "coverage": coverage,
        "gaps": gaps,
        "points_passed": points,
        "flags": flags,
    });
    let mut human = format!(
        "{:.0} m walked, {:.0} min on patrol ({:.0} min in own grids), {} point(s) passed, {} gap(s)",
        s.distance_m,
        s.patrol_s / 60.0,
        s.in_grid_s / 60.0,
        s.points_passed.len(),
        s.gaps.len()
    );
    for c in &s.coverage {
        human.push_str(&format!(
            "\n  grid {}: {:.0}% covered",
            c.code,
            c.coverage * 100.0
        ));
    }
    for f in &s.flags {
        human.push_str(&format!(
            "\n  flag {:?} {} to {}",
            f.kind,
            ms_time(f.from_ms),
            ms_time(f.to_ms)
        ));
    }
    Ok(Output::new(v, human))
}

fn ms_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}
