//! `demo`: the whole story in one command. An in-process reference server with the small
//! district; a fresh phone syncs at the office, the worker spends the morning with no
//! signal (offline-day scenario), walks into coverage and syncs; the back office moves one
//! report through its lifecycle; the phone syncs again and sees where it stands. Prints a
//! short summary and the path of the day's map.

use std::path::{Path, PathBuf};

use chrono::{Duration, FixedOffset, Utc};
use gridworker_core::DatabaseKey;
use serde_json::{Value, json};

use crate::args::DemoArgs;
use crate::error::{CliError, CliResult};
use crate::output::Output;
use crate::scenario;
use crate::server;

/// Fixtures of the workspace this binary was built from.
fn default_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fixtures")
}

/// The demo store's key, beside its home in the output folder.
const KEY_FILE: &str = "store.key";

/// The lifecycle the back office walks the first report through (受理 → 交办 → 办结).
const LIFECYCLE: [(&str, Option<&str>); 3] = [
    ("accepted", None),
    ("dispatched", Some("water")),
    ("resolved", None),
];

pub fn run(a: &DemoArgs) -> CliResult<Output> {
    let fixtures = a.fixtures.clone().unwrap_or_else(default_fixtures);
    let district = fixtures.join("district-small");
    let scenario_path = fixtures.join("scenarios").join("offline-day.json");
    if !district.is_dir() || !scenario_path.is_file() {
        return Err(CliError::invalid(format!(
            "{}: not a fixtures directory (needs district-small/ and scenarios/offline-day.json); \
             pass --fixtures DIR",
            fixtures.display()
        )));
    }
    let out_dir = match &a.out {
        Some(d) => d.clone(),
        None => PathBuf::from("out").join(format!("demo-{}", Utc::now().format("%Y%m%d-%H%M%S"))),
    };
    let home_dir = out_dir.join("home");
    // Refused before anything is written: a file in the way, or what an earlier demo (one
    // killed half-way too) left there.
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(CliError::invalid(format!(
            "--out {}: exists and is not a directory",
            out_dir.display()
        )));
    }
    if home_dir.join(crate::home::CONFIG_FILE).exists() || out_dir.join(KEY_FILE).exists() {
        return Err(CliError::invalid(format!(
            "{} already holds a device; pass a fresh --out",
            out_dir.display()
        )));
    }
    std::fs::create_dir_all(&home_dir)?;
    // A phone's store is always encrypted; the demo's key is fresh and kept beside the home
    // so the store can be inspected afterwards (`--key-file`).
    let key = DatabaseKey::generate()?;
    let key_path = out_dir.join(KEY_FILE);
    crate::key::write_new_file(&key_path, &key)?;

    let s = scenario::load(&scenario_path)?;
    let (target, _server) = server::start_local(&district, &s.worker)?;
    let rp = scenario::replay(&scenario_path, &s, &target, &home_dir, Some(key))?;

    // The back office handles the first report; then the phone syncs a little later.
    let mut lifecycle = Vec::new();
    if let Some(id) = rp.report_ids.first() {
        for (to, dept) in LIFECYCLE {
            target.transition(id, to, dept)?;
            lifecycle.push(to);
        }
    }
    if let Some(last) = s.steps.last() {
        rp.clock.set(last.at + Duration::minutes(30));
    }
    let pull = rp.engine.sync_blocking().map_err(crate::sync::sync_error)?;
    rp.worker.reload_reference()?;

    // The office changed a resident the worker had just updated: the sync kept both phones
    // in a conflict (and merged the tags). The worker keeps the number the resident gave in
    // person; the resolution syncs like any record.
    let mut conflicts = Vec::new();
    for c in rp.worker.conflicts_page(false, None, 100)?.items {
        rp.worker.resolve_conflict(
            &c.conflict.id,
            gridworker_core::model::residents::Resolution::Mine,
            None,
        )?;
        conflicts.push(
            json!({"entity_id": c.conflict.entity_id, "field": c.conflict.field,
                              "mine": c.conflict.mine, "theirs": c.conflict.theirs,
                              "theirs_by": c.conflict.theirs_by}),
        );
    }
    let resolution_sync = if conflicts.is_empty() {
        None
    } else {
        Some(rp.engine.sync_blocking().map_err(crate::sync::sync_error)?)
    };
    let still_open = rp.worker.conflicts_page(false, None, 100)?.items.len();

    let map_path = out_dir.join(format!("{}-{}.svg", s.worker, s.name));
    let map = crate::map::write_map(&rp.worker, None, &map_path)?;
    let reports: Vec<Value> = rp
        .worker
        .list_reports(0, 100)?
        .into_iter()
        .filter(|l| l.record.own)
        .map(|l| {
            json!({"id": l.record.id, "category": l.record.category,
                   "status": l.record.status.code(), "department": l.record.progress.department})
        })
        .collect();
    let on_server = target.counts(&s.worker, &s.device)?;
    let day = s
        .steps
        .first()
        .map(|st| (st.at + Duration::minutes(i64::from(s.utc_offset_minutes))).date_naive());
    let track_on_server = match day {
        Some(d) => target.track_day(&s.worker, d, s.utc_offset_minutes)?,
        None => None,
    };
    let status = crate::query::status_json(&rp.worker)?;

    let json = json!({
        "out": out_dir,
        "home": home_dir,
        "key_file": key_path,
        "map": map_path,
        "server_url": target.url,
        "scenario": rp.report,
        "lifecycle": {"report": rp.report_ids.first(), "transitions": lifecycle},
        "final_sync": crate::sync::report_json(&pull),
        "residents": {
            "collected": rp.report["recorded"]["residents"],
            "conflicts": conflicts,
            "resolution_sync": resolution_sync.as_ref().map(crate::sync::report_json),
            "still_open": still_open,
        },
        "reports": reports,
        "server": on_server.as_ref().map(|c| json!({"checkins": c.checkins, "visits": c.visits,
                                                    "reports": c.reports, "photos": c.photos})),
        "server_track": track_on_server.as_ref().map(|t| json!({
            "fixes": t["fixes"], "blocks": t["blocks"], "stored_bytes": t["stored_bytes"],
            "distance_m": t["summary"]["distance_m"], "flags": t["summary"]["flags"]})),
        "status": status,
        "map_summary": map,
    });
    let human = summary(&json, s.utc_offset_minutes, rp.ok);
    let mut out = Output::new(json, human);
    if !rp.ok {
        out.failure = Some(CliError::new(
            crate::error::Kind::ExpectationFailed,
            "the demo scenario did not meet its expectations (see mismatches above)",
        ));
    }
    Ok(out)
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The short human story.
fn summary(j: &Value, utc_offset_minutes: i32, ok: bool) -> String {
    let r = &j["scenario"];
    let rec = &r["recorded"];
    let tz = FixedOffset::east_opt(utc_offset_minutes * 60).or_else(|| FixedOffset::east_opt(0));
    let local = |at: &Value| -> String {
        at.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .and_then(|t| tz.map(|z| t.with_timezone(&z).format("%H:%M").to_string()))
            .unwrap_or_default()
    };
    let mut s = String::new();
    s.push_str(&format!(
        "gridworker demo: worker {} on device {}, reference server {}\n\n",
        r["worker"].as_str().unwrap_or(""),
        r["device"].as_str().unwrap_or(""),
        j["server_url"].as_str().unwrap_or("")
    ));
    s.push_str(&format!(
        "Recorded on the phone: {} check-ins ({} accepted, {} flagged, {} duplicate tap), \
         {} visits ({} flagged), {} reports with {} photos.\n",
        n(&rec["checkins"]["total"]),
        n(&rec["checkins"]["accepted"]),
        n(&rec["checkins"]["flagged"]),
        n(&rec["checkins"]["duplicate"]),
        n(&rec["visits"]["total"]),
        n(&rec["visits"]["flagged"]),
        n(&rec["reports"]["total"]),
        n(&rec["reports"]["photos"]),
    ));
    s.push_str("Flagged, and why:\n");
    for step in r["steps"].as_array().into_iter().flatten() {
        let res = &step["result"];
        let flags: Vec<&str> = res["flags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let action = step["action"].as_str().unwrap_or("");
        if flags.is_empty() || res["outcome"] == "duplicate" {
            continue;
        }
        let what = match action {
            "checkin" => format!("check-in at {}", res["point"].as_str().unwrap_or("")),
            "visit" => format!("visit to {}", res["household"].as_str().unwrap_or("")),
            other => other.to_string(),
        };
        s.push_str(&format!(
            "  {} {what}: {} ({} m away){}\n",
            local(&step["at"]),
            flags.join(", "),
            res["distance_m"],
            explain(&flags)
        ));
    }
    let syncs = &rec["syncs"];
    s.push_str(&format!(
        "Sync: once at the office (reference data arrived); in the field {} attempt(s) failed \
         with no signal (work stayed queued) and {} succeeded; once more after the back office \
         acted. Still pending: {} check-ins, {} visits, {} reports, {} photos.\n",
        n(&syncs["failed"]),
        n(&syncs["ok"]),
        n(&j["status"]["pending"]["checkins"]),
        n(&j["status"]["pending"]["visits"]),
        n(&j["status"]["pending"]["reports"]),
        n(&j["status"]["pending"]["photos"]),
    ));
    let res = &j["residents"];
    let conflicts: Vec<String> = res["conflicts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} of {}: the worker's {} vs the office's {}",
                c["field"].as_str().unwrap_or(""),
                c["entity_id"].as_str().unwrap_or(""),
                c["mine"],
                c["theirs"]
            )
        })
        .collect();
    s.push_str(&format!(
        "Residents (信息采集): {} change(s) collected during visits, synced. The office changed \
         the same resident meanwhile: {} conflict(s){}; tags merged without one. Resolved on \
         the phone keeping the worker's value (lists show numbers masked), synced; {} open.\n",
        n(&res["collected"]),
        conflicts.len(),
        if conflicts.is_empty() {
            String::new()
        } else {
            format!(" ({})", conflicts.join("; "))
        },
        n(&res["still_open"]),
    ));
    let track = &r["track"];
    if track.is_object() {
        let flags: Vec<&str> = track["flags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let coverage: Vec<String> = track["coverage"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                format!(
                    "{} {:.0}%",
                    g["code"].as_str().unwrap_or(""),
                    g["coverage"].as_f64().unwrap_or(0.0) * 100.0
                )
            })
            .collect();
        s.push_str(&format!(
            "Patrol track: {} fixes, {} m measured for {} m walked, {} min on patrol, {} gap(s) \
             indoors, coverage {}; signs: {}.\n",
            n(&track["fixes"]),
            track["distance_m"],
            track["walked_m"],
            track["patrol_s"].as_f64().unwrap_or(0.0) as u64 / 60,
            n(&track["gaps"]),
            if coverage.is_empty() {
                "-".to_string()
            } else {
                coverage.join(", ")
            },
            if flags.is_empty() {
                "none".to_string()
            } else {
                flags.join(", ")
            }
        ));
    }
    let st = &j["server_track"];
    if st.is_object() {
        s.push_str(&format!(
            "Server's copy of the track: {} fixes in {} blocks ({} bytes), {:.0} m recomputed \
             from its fixes.\n",
            n(&st["fixes"]),
            n(&st["blocks"]),
            n(&st["stored_bytes"]),
            st["distance_m"].as_f64().unwrap_or(0.0)
        ));
    }
    let srv = &j["server"];
    s.push_str(&format!(
        "Server received (admin endpoint): {} check-ins, {} visits, {} reports, {} photos.\n",
        n(&srv["checkins"]),
        n(&srv["visits"]),
        n(&srv["reports"]),
        n(&srv["photos"])
    ));
    s.push_str("Where each report stands (as the phone now sees it):\n");
    for rep in j["reports"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "  {} {}: {}{}\n",
            rep["id"].as_str().unwrap_or(""),
            rep["category"].as_str().unwrap_or(""),
            rep["status"].as_str().unwrap_or(""),
            rep["department"]
                .as_str()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ));
    }
    s.push_str(&format!(
        "Scenario expectations: {}\n",
        if ok { "all met" } else { "NOT met" }
    ));
    s.push_str(&format!(
        "Map of the day: {}\n",
        j["map"].as_str().unwrap_or("")
    ));
    s.push_str(&format!(
        "The phone's store is encrypted (database and photos) with a fresh random key, kept \
         in {} for inspection: gridworker --home {} --key-file {} status\n",
        j["key_file"].as_str().unwrap_or(""),
        j["home"].as_str().unwrap_or(""),
        j["key_file"].as_str().unwrap_or("")
    ));
    s
}

fn explain(flags: &[&str]) -> String {
    let why: Vec<&str> = flags
        .iter()
        .map(|f| match *f {
            "outside_radius" => "too far from the point",
            "mock_location" => "fake-GPS app",
            "clock_jump" => "phone clock set by hand",
            "inaccurate" => "poor fix",
            "stale_fix" => "old fix",
            "impossible_speed" => "teleported",
            "far_from_household" => "not at the door",
            "outside_worker_grids" => "outside own grid",
            _ => "",
        })
        .filter(|w| !w.is_empty())
        .collect();
    if why.is_empty() {
        String::new()
    } else {
        format!(" — {}", why.join(", "))
    }
}
