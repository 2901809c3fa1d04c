//! `init`, `seed`, `checkin`, `visit`, `report`: setting up a device and recording.
//!
//! Every record command opens the core with a fixed clock reading the device wall time
//! (`--at` + `--clock-offset`), while the fix carries the true time and a monotonic reading
//! derived from it, as a phone's GNSS and uptime clock would.

use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use gridworker_core::domain::{CheckIn, LocationFix, PhotoReport, Visit, VisitKind};
use gridworker_core::worker::{CheckInResult, DuplicateCandidate, PhotoInput};
use serde_json::{Value, json};

use crate::args::{CheckinArgs, FixArgs, InitArgs, ReportArgs, SeedArgs, VisitArgs};
use crate::error::{CliError, CliResult};
use crate::home::{FixedClock, Home, HomeConfig, default_boot_base};
use crate::output::{Output, round};

/// `init`: writes the home's config; never touches the network.
pub fn init(home: &Home, a: &InitArgs) -> CliResult<Output> {
    let url = a.server.trim();
    let scheme_ok = url.starts_with("https://") || (a.allow_http && url.starts_with("http://"));
    if !scheme_ok {
        let why = if url.starts_with("http://") {
            "http:// needs --allow-http (local QA only)"
        } else {
            "must start with https://"
        };
        return Err(CliError::invalid(format!("--server {url}: {why}")));
    }
    if url.len() <= "https://".len() {
        return Err(CliError::invalid("--server: missing host"));
    }
    for (flag, v) in [("--worker", &a.worker), ("--device", &a.device)] {
        if v.trim().is_empty() || v.len() > 128 {
            return Err(CliError::invalid(format!(
                "{flag} must be 1 to 128 bytes and not blank"
            )));
        }
    }
    if !(-14 * 60..=14 * 60).contains(&a.utc_offset_minutes) {
        return Err(CliError::invalid(
            "--utc-offset-minutes must be within ±840",
        ));
    }
    // Checked before anything is created: a refused init leaves no directory behind.
    gridworker_core::zone::DistrictZone::from_config(a.time_zone.as_deref(), a.utc_offset_minutes)?;
    for (flag, v) in [("--worker", &a.worker), ("--device", &a.device)] {
        gridworker_core::validate::id(flag, v).map_err(|e| CliError::invalid(e.to_string()))?;
    }
    if let Ok(old) = home.load()
        && old.worker != a.worker
        && home.data_dir().exists()
    {
        return Err(CliError::invalid(format!(
            "{} holds data of another worker; use a fresh --home",
            home.dir.display()
        )));
    }
    let cfg = HomeConfig {
        server: url.trim_end_matches('/').to_string(),
        worker: a.worker.clone(),
        device: a.device.clone(),
        token: a.token.clone(),
        allow_http: a.allow_http,
        utc_offset_minutes: a.utc_offset_minutes,
        time_zone: a.time_zone.clone(),
        boot_base: default_boot_base(),
    };
    // Opening the core first creates the store, so a bad directory fails before any config
    // is written.
    if home.dir.exists() && !home.dir.is_dir() {
        return Err(CliError::invalid(format!(
            "--home {}: exists and is not a directory",
            home.dir.display()
        )));
    }
    std::fs::create_dir_all(&home.dir).map_err(|e| {
        CliError::invalid(format!("--home {}: cannot create: {e}", home.dir.display()))
    })?;
    home.open(&cfg, Arc::new(FixedClock(Utc::now())))?;
    home.save(&cfg)?;
    let encrypted = home.key.is_some();
    if !encrypted {
        eprintln!(
            "warning: no key given (--key-file or {}): the store is NOT encrypted; \
             residents' data on it is readable by anyone holding the files",
            crate::key::ENV
        );
    }
    Ok(Output::new(
        json!({"home": home.dir, "server": cfg.server, "worker": cfg.worker, "device": cfg.device,
               "encrypted": encrypted}),
        format!(
            "initialised {} for worker {} on device {} (server {}), {}",
            home.dir.display(),
            cfg.worker,
            cfg.device,
            cfg.server,
            if encrypted { "encrypted" } else { "plain" }
        ),
    ))
}

/// `seed`: reference data from a fixture district, with the worker's grids from
/// `workers.json`.
pub fn seed(home: &Home, a: &SeedArgs) -> CliResult<Output> {
    let cfg = home.load()?;
    let district = load_district(&a.district)?;
    let worker_grids = district
        .workers
        .iter()
        .find(|w| w.id == cfg.worker)
        .map(|w| w.grid_ids.clone())
        .ok_or_else(|| {
            CliError::invalid(format!(
                "worker {} is not in {}/workers.json",
                cfg.worker,
                a.district.display()
            ))
        })?;
    let (grids, points, households) = gridworker_fixtures::to_domain(&district);
    let gw = home.open(&cfg, Arc::new(FixedClock(Utc::now())))?;
    gw.import_reference(&grids, &points, &households, &worker_grids)?;
    let bad = |e: gridworker_fixtures::FixtureError| CliError::invalid(e.to_string());
    let residents = gridworker_fixtures::residents_to_domain(&district).map_err(bad)?;
    gw.import_residents(
        &gridworker_fixtures::household_profiles(&district).map_err(bad)?,
        &residents,
        &gridworker_fixtures::key_groups_to_domain(&district),
    )?;
    Ok(Output::new(
        json!({"grids": grids.len(), "points": points.len(), "households": households.len(),
               "residents": residents.len(), "worker_grids": worker_grids}),
        format!(
            "seeded {} grids, {} points, {} households, {} residents; worker grids: {}",
            grids.len(),
            points.len(),
            households.len(),
            residents.len(),
            worker_grids.join(", ")
        ),
    ))
}

/// Loads a fixture district, reporting a missing directory as bad input.
pub fn load_district(dir: &Path) -> CliResult<gridworker_fixtures::District> {
    if !dir.is_dir() {
        return Err(CliError::invalid(format!(
            "{}: no such district directory",
            dir.display()
        )));
    }
    Ok(gridworker_fixtures::load(dir)?)
}

/// The fix and the device clock a record command runs with.
fn fix_and_clock(cfg: &HomeConfig, f: &FixArgs) -> CliResult<(LocationFix, Arc<FixedClock>)> {
    let at = f.at.unwrap_or_else(Utc::now);
    let mut fix = LocationFix::wgs84(f.lat, f.lon, f.accuracy, at, cfg.monotonic_ms(at));
    fix.crs = f.crs;
    fix.is_mock = f.mock;
    let wall = chrono::TimeDelta::try_seconds(f.clock_offset)
        .and_then(|d| at.checked_add_signed(d))
        .ok_or_else(|| CliError::invalid("--clock-offset: the clock it gives is out of range"))?;
    Ok((fix, Arc::new(FixedClock(wall))))
}

fn flag_codes(flags: &[gridworker_core::domain::Flag]) -> Vec<&'static str> {
    flags.iter().map(|f| f.code()).collect()
}

/// The JSON answer of a check-in (shared with the scenario replay).
pub fn checkin_json(r: &CheckInResult) -> Value {
    let c: &CheckIn = &r.check_in;
    let outcome = if r.duplicate {
        "duplicate"
    } else {
        match c.outcome {
            gridworker_core::domain::CheckInOutcome::Accepted => "accepted",
            gridworker_core::domain::CheckInOutcome::Flagged => "flagged",
        }
    };
    json!({
        "id": c.id,
        "point": c.point_id,
        "outcome": outcome,
        "flags": flag_codes(&c.flags),
        "distance_m": round(c.distance_m, 1),
        "recorded_at": c.recorded_at,
    })
}

pub fn checkin(home: &Home, a: &CheckinArgs) -> CliResult<Output> {
    let cfg = home.load()?;
    let (fix, clock) = fix_and_clock(&cfg, &a.fix)?;
    let gw = home.open(&cfg, clock)?;
    let r = gw.check_in(&a.point, &fix)?;
    let j = checkin_json(&r);
    let human = format!(
        "check-in {} at {}: {}{} ({:.1} m from the point)",
        r.check_in.id,
        a.point,
        j["outcome"].as_str().unwrap_or_default(),
        if r.check_in.flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", flag_codes(&r.check_in.flags).join(", "))
        },
        r.check_in.distance_m
    );
    Ok(Output::new(j, human))
}

/// Parses a visit kind code.
pub fn visit_kind(s: &str) -> CliResult<VisitKind> {
    VisitKind::parse(s).ok_or_else(|| {
        CliError::invalid(format!(
            "--kind {s}: expected routine, information_collection, care_visit, mediation, \
             safety_check or other"
        ))
    })
}

/// The JSON answer of a visit (shared with the scenario replay). The note is personal data
/// and is not echoed.
pub fn visit_json(v: &Visit) -> Value {
    json!({
        "id": v.id,
        "household": v.household_id,
        "kind": v.kind.code(),
        "flags": flag_codes(&v.flags),
        "distance_m": round(v.distance_m, 1),
        "recorded_at": v.recorded_at,
    })
}

pub fn visit(home: &Home, a: &VisitArgs) -> CliResult<Output> {
    let kind = visit_kind(&a.kind)?;
    let cfg = home.load()?;
    let (fix, clock) = fix_and_clock(&cfg, &a.fix)?;
    let gw = home.open(&cfg, clock)?;
    let v = gw.record_visit(&a.household, kind, &a.note, &fix)?;
    let human = format!(
        "visit {} to {} ({}){}, {:.1} m from the household",
        v.id,
        v.household_id,
        v.kind.code(),
        if v.flags.is_empty() {
            String::new()
        } else {
            format!(" flagged [{}]", flag_codes(&v.flags).join(", "))
        },
        v.distance_m
    );
    Ok(Output::new(visit_json(&v), human))
}

/// The JSON answer of a report (shared with the scenario replay).
pub fn report_json(r: &PhotoReport, dups: &[DuplicateCandidate]) -> Value {
    json!({
        "id": r.id,
        "category": r.category,
        "status": r.status.code(),
        "photos": r.photos.len(),
        "flags": flag_codes(&r.flags),
        "photo_details": r.photos.iter().map(photo_json).collect::<Vec<_>>(),
        "duplicate_candidates": dups.iter().map(|d| json!({
            "id": d.report.id,
            "status": d.report.status.code(),
            "distance_m": round(d.distance_m, 1),
        })).collect::<Vec<_>>(),
    })
}

/// What the core kept of a photo: the sent bytes, the original's, and its EXIF evidence.
pub fn photo_json(p: &gridworker_core::domain::Photo) -> Value {
    json!({
        "sha256": p.sha256,
        "size": p.size,
        "media_type": p.media_type.mime(),
        "original_size": p.original_size,
        "original_sha256": p.original_sha256,
        "exif_time": p.exif_time,
        "exif_position": p.exif_position.map(|at| json!({"lat": at.lat, "lon": at.lon})),
    })
}

/// One line per photo for people: sent size against the original, and EXIF evidence.
fn photo_lines(photos: &[gridworker_core::domain::Photo]) -> String {
    photos
        .iter()
        .map(|p| {
            let size = match p.original_size {
                Some(o) => format!("{} KB (original {} KB)", p.size / 1024, o / 1024),
                None => format!("{} KB", p.size / 1024),
            };
            let taken = p
                .exif_time
                .map(|t| format!(", taken {}", t.to_rfc3339()))
                .unwrap_or_default();
            let at = if p.exif_position.is_some() {
                ", EXIF GPS"
            } else {
                ""
            };
            format!(
                "\n  photo {}: {size}{taken}{at}",
                p.sha256.get(..12).unwrap_or(&p.sha256)
            )
        })
        .collect()
}

/// Photo paths must exist before the core is asked (clear message, exit 2).
pub fn check_photos(paths: &[std::path::PathBuf]) -> CliResult<Vec<PhotoInput>> {
    paths
        .iter()
        .map(|p| {
            if p.is_file() {
                Ok(PhotoInput::new(p))
            } else {
                Err(CliError::invalid(format!(
                    "--photo {}: no such file",
                    p.display()
                )))
            }
        })
        .collect()
}

pub fn report(home: &Home, a: &ReportArgs) -> CliResult<Output> {
    let photos = check_photos(&a.photos)?;
    let cfg = home.load()?;
    let (fix, clock) = fix_and_clock(&cfg, &a.fix)?;
    let gw = home.open(&cfg, clock)?;
    // Asked before filing, as the app shows the hint before the worker submits.
    let dups = gw.duplicate_candidates(&a.category, &fix)?;
    let r = gw.file_report(&a.category, &a.text, &photos, &fix, a.attach_to.as_deref())?;
    let mut human = format!(
        "report {} ({}) with {} photo(s): {}{}",
        r.id,
        r.category,
        r.photos.len(),
        r.status.code(),
        if r.flags.is_empty() {
            String::new()
        } else {
            format!(" flagged [{}]", flag_codes(&r.flags).join(", "))
        }
    );
    human.push_str(&photo_lines(&r.photos));
    for d in &dups {
        human.push_str(&format!(
            "\n  possible duplicate: report {} ({}), {:.0} m away",
            d.report.id,
            d.report.status.code(),
            d.distance_m
        ));
    }
    Ok(Output::new(report_json(&r, &dups), human))
}
