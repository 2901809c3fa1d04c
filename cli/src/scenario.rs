//! `scenario`: replays a scenario file (format in `fixtures/README.md`) on a fresh device
//! against a server and reports what was recorded, the outcomes and flags, what the server
//! holds, and whether all of it matches the scenario's `expect`.
//!
//! Time follows the scenario, not the machine: the core's clock reads `at + offset_s`, fixes
//! carry the true time `at` and a monotonic reading `at - start`, so clock and mock episodes
//! replay exactly as on the phone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use gridworker_core::domain::{Flag, LocationFix};
use gridworker_core::geo::Crs;
use gridworker_core::sync::{NetworkKind, SyncEngine};
use gridworker_core::worker::PatrolState;
use gridworker_core::{DatabaseKey, GridWorker};
use gridworker_fixtures::scenario::{Action, Counts, Scenario};
use serde_json::{Value, json};

use crate::args::ScenarioArgs;
use crate::error::{CliError, CliResult, Kind};
use crate::home::{Home, HomeConfig, SettableClock, default_boot_base};
use crate::output::Output;
use crate::record::{check_photos, checkin_json, report_json, visit_json, visit_kind};
use crate::server::{self, Target};

/// What a replay leaves behind for the caller (the demo goes on with it).
pub struct Replay {
    pub report: Value,
    pub ok: bool,
    pub worker: Arc<GridWorker>,
    pub engine: SyncEngine,
    pub clock: Arc<SettableClock>,
    /// Ids of the reports filed, in order.
    pub report_ids: Vec<String>,
}

/// Loads a scenario, reporting a missing or malformed file as bad input.
pub fn load(path: &Path) -> CliResult<Scenario> {
    if !path.is_file() {
        return Err(CliError::invalid(format!(
            "{}: no such scenario file",
            path.display()
        )));
    }
    Ok(Scenario::load(path)?)
}

/// The scenario's district directory (relative to the scenario file).
pub fn district_dir(path: &Path, s: &Scenario) -> PathBuf {
    path.parent()
        .unwrap_or_else(|| Path::new("."))
        .join(&s.district)
}

fn fix_of(
    s: &Scenario,
    at: DateTime<Utc>,
    (lat, lon, accuracy, crs, mock): (f64, f64, f64, Crs, bool),
) -> LocationFix {
    let mut fix = LocationFix::wgs84(
        lat,
        lon,
        accuracy,
        at,
        (at - s.start).num_milliseconds().max(0),
    );
    fix.crs = crs;
    fix.is_mock = mock;
    fix
}

fn codes(flags: &[Flag]) -> Vec<String> {
    flags.iter().map(|f| f.code().to_string()).collect()
}

/// Tallies of what the replay saw, in the shape of the scenario's `expect`.
#[derive(Default)]
struct Tally {
    checkins: [usize; 4], // total, accepted, flagged, duplicate
    visits: [usize; 2],   // total, flagged
    residents: usize,     // edits and additions recorded
    reports: [usize; 2],  // total, photos
    flags: BTreeMap<String, usize>,
    syncs: [usize; 2], // ok, failed
}

impl Tally {
    fn note_flags(&mut self, flags: &[Flag]) {
        for f in flags {
            *self.flags.entry(f.code().to_string()).or_default() += 1;
        }
    }
}

fn counts_json(c: &Counts) -> Value {
    json!({"checkins": c.checkins, "visits": c.visits, "reports": c.reports, "photos": c.photos})
}

/// Replays `s` (read from `path`) on a fresh device in `home_dir` against `target`. The
/// device first syncs once online (morning at the office: reference data arrives), then the
/// steps run in order. `key`: the device's store key (`None`: a plain store).
pub fn replay(
    path: &Path,
    s: &Scenario,
    target: &Target,
    home_dir: &Path,
    key: Option<DatabaseKey>,
) -> CliResult<Replay> {
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let home = Home::new(home_dir, key);
    let cfg = HomeConfig {
        server: target.url.clone(),
        worker: s.worker.clone(),
        device: s.device.clone(),
        token: target.token.clone(),
        allow_http: true,
        utc_offset_minutes: s.utc_offset_minutes,
        time_zone: None,
        boot_base: default_boot_base(),
    };
    home.save(&cfg)?;
    let clock = Arc::new(SettableClock::new(s.start));
    let gw = Arc::new(home.open(&cfg, clock.clone())?);
    let engine = crate::sync::engine(gw.clone(), &cfg)?;
    engine.set_network(NetworkKind::Wifi);
    engine
        .sync_blocking()
        .map_err(|e| prefixed(crate::sync::sync_error(e), "initial sync"))?;
    gw.reload_reference()?;

    let mut tally = Tally::default();
    let mut mismatches: Vec<String> = Vec::new();
    let mut steps_out: Vec<Value> = Vec::new();
    let mut report_ids = Vec::new();
    let mut offset_s: i64 = 0;
    // The scenario starts offline until its first connectivity step.
    engine.set_network(NetworkKind::None);
    let mut stream = LocationStream::default();
    // Residents' information is collected during the visit before it.
    let mut last_visit: Option<String> = None;
    for (i, step) in s.steps.iter().enumerate() {
        clock.set(shifted(step.at, offset_s).map_err(|e| step_error(i, e))?);
        let at = step.at;
        stream.feed_until(&gw, at).map_err(|e| step_error(i, e))?;
        let mut out = json!({"step": i, "at": at, "action": action_name(&step.action)});
        match &step.action {
            Action::Patrol(p) => {
                if let Some(file) = &p.track {
                    let text = std::fs::read_to_string(base.join(file)).map_err(|e| {
                        step_error(i, CliError::invalid(format!("track file {file}: {e}")))
                    })?;
                    stream.load(crate::track::csv(&text, &cfg).map_err(|e| step_error(i, e))?);
                }
                let state = match p.event.as_str() {
                    "start" => gw.start_patrol(),
                    "pause" => gw.pause_patrol(),
                    "resume" => gw.resume_patrol(),
                    "stop" => gw.stop_patrol(),
                    other => {
                        return Err(step_error(
                            i,
                            CliError::invalid(format!("unknown patrol event {other:?}")),
                        ));
                    }
                }
                .map_err(|e| step_error(i, e.into()))?;
                stream.on_patrol = matches!(state, PatrolState::OnPatrol { .. });
                out["event"] = json!(p.event);
            }
            Action::Fix(_) => continue,
            Action::BackOffice(b) => {
                target
                    .patch_resident(&b.resident, &b.set)
                    .map_err(|e| step_error(i, e))?;
                out["result"] = json!({"resident": b.resident,
                                       "fields": b.set.keys().collect::<Vec<_>>()});
            }
            Action::Resident(r) => {
                let view = crate::residents::record_step(&gw, r, last_visit.as_deref())
                    .map_err(|e| step_error(i, e))?;
                tally.residents += 1;
                out["result"] = json!({"resident": view.id, "household": view.household_id,
                                       "version": view.version, "visit": last_visit});
            }
            Action::Checkin(c) => {
                let fix = fix_of(s, at, (c.lat, c.lon, c.accuracy, c.crs, c.mock));
                let r = gw
                    .check_in(&c.point, &fix)
                    .map_err(|e| step_error(i, e.into()))?;
                let j = checkin_json(&r);
                let outcome = j["outcome"].as_str().unwrap_or_default().to_string();
                tally.checkins[0] += 1;
                match outcome.as_str() {
                    "duplicate" => tally.checkins[3] += 1,
                    "accepted" => tally.checkins[1] += 1,
                    _ => tally.checkins[2] += 1,
                }
                if !r.duplicate {
                    tally.note_flags(&r.check_in.flags);
                }
                if let Some(e) = &c.expect {
                    // A duplicate returns the first check-in, whose flags the step does not
                    // restate; only the outcome is compared then.
                    let got_flags = if r.duplicate {
                        e.flags.clone()
                    } else {
                        codes(&r.check_in.flags)
                    };
                    if e.outcome != outcome || e.flags != got_flags {
                        mismatches.push(format!(
                            "step {i} check-in at {}: expected {} {:?}, got {outcome} {:?}",
                            c.point,
                            e.outcome,
                            e.flags,
                            codes(&r.check_in.flags)
                        ));
                    }
                }
                out["result"] = j;
            }
            Action::Visit(v) => {
                let kind = visit_kind(&v.kind).map_err(|e| step_error(i, e))?;
                let fix = fix_of(s, at, (v.lat, v.lon, v.accuracy, v.crs, v.mock));
                let rec = gw
                    .record_visit(&v.household, kind, &v.note, &fix)
                    .map_err(|e| step_error(i, e.into()))?;
                tally.visits[0] += 1;
                if !rec.flags.is_empty() {
                    tally.visits[1] += 1;
                }
                tally.note_flags(&rec.flags);
                if let Some(e) = &v.expect
                    && e.flags != codes(&rec.flags)
                {
                    mismatches.push(format!(
                        "step {i} visit to {}: expected flags {:?}, got {:?}",
                        v.household,
                        e.flags,
                        codes(&rec.flags)
                    ));
                }
                last_visit = Some(rec.id.clone());
                out["result"] = visit_json(&rec);
            }
            Action::Report(r) => {
                let photos: Vec<PathBuf> = r.photos.iter().map(|p| base.join(p)).collect();
                let inputs = check_photos(&photos).map_err(|e| step_error(i, e))?;
                let fix = fix_of(s, at, (r.lat, r.lon, r.accuracy, r.crs, r.mock));
                let dups = gw
                    .duplicate_candidates(&r.category, &fix)
                    .map_err(|e| step_error(i, e.into()))?;
                let rep = gw
                    .file_report(&r.category, &r.text, &inputs, &fix, None)
                    .map_err(|e| step_error(i, e.into()))?;
                tally.reports[0] += 1;
                tally.reports[1] += rep.photos.len();
                tally.note_flags(&rep.flags);
                report_ids.push(rep.id.clone());
                out["result"] = report_json(&rep, &dups);
            }
            Action::Connectivity(c) => {
                engine.set_network(if !c.online {
                    NetworkKind::None
                } else if c.network == "wifi" {
                    NetworkKind::Wifi
                } else {
                    NetworkKind::Cellular
                });
                out["online"] = json!(c.online);
                out["network"] = json!(c.network);
            }
            Action::Clock(c) => {
                offset_s = c.offset_s;
                clock.set(shifted(step.at, offset_s).map_err(|e| step_error(i, e))?);
                out["offset_s"] = json!(c.offset_s);
            }
            Action::Sync(sy) => {
                let result = engine.sync_blocking();
                let ok = result.is_ok();
                match result {
                    Ok(rep) => {
                        tally.syncs[0] += 1;
                        gw.reload_reference()?;
                        out["result"] =
                            json!({"ok": true, "report": crate::sync::report_json(&rep)});
                    }
                    Err(e) => {
                        tally.syncs[1] += 1;
                        let e = crate::sync::sync_error(e);
                        out["result"] = json!({"ok": false, "error": {"kind": e.kind.code(), "message": e.message}});
                    }
                }
                if let Some(e) = &sy.expect
                    && e.ok != ok
                {
                    mismatches.push(format!("step {i} sync: expected ok={}, got ok={ok}", e.ok));
                }
            }
        }
        steps_out.push(out);
    }

    let status = gw.sync_counts()?;
    let pending = Counts {
        checkins: status.pending.checkins as usize,
        visits: status.pending.visits as usize,
        reports: status.pending.reports as usize,
        photos: status.pending.photos as usize,
    };
    let on_server = target.counts(&s.worker, &s.device)?;
    let x = &s.expect;
    let mut check = |what: &str, expected: usize, got: usize| {
        if expected != got {
            mismatches.push(format!("{what}: expected {expected}, got {got}"));
        }
    };
    check("checkins.total", x.checkins.total, tally.checkins[0]);
    check("checkins.accepted", x.checkins.accepted, tally.checkins[1]);
    check("checkins.flagged", x.checkins.flagged, tally.checkins[2]);
    check(
        "checkins.duplicate",
        x.checkins.duplicate,
        tally.checkins[3],
    );
    check("visits.total", x.visits.total, tally.visits[0]);
    check("visits.flagged", x.visits.flagged, tally.visits[1]);
    check("reports.total", x.reports.total, tally.reports[0]);
    check("reports.photos", x.reports.photos, tally.reports[1]);
    check("syncs.ok", x.syncs.ok, tally.syncs[0]);
    check("syncs.failed", x.syncs.failed, tally.syncs[1]);
    for (what, e, g) in [
        ("checkins", &x.pending_after.checkins, pending.checkins),
        ("visits", &x.pending_after.visits, pending.visits),
        ("reports", &x.pending_after.reports, pending.reports),
        ("photos", &x.pending_after.photos, pending.photos),
    ] {
        check(&format!("pending_after.{what}"), *e, g);
    }
    if let Some(srv) = &on_server {
        for (what, e, g) in [
            ("checkins", x.server.checkins, srv.checkins),
            ("visits", x.server.visits, srv.visits),
            ("reports", x.server.reports, srv.reports),
            ("photos", x.server.photos, srv.photos),
        ] {
            check(&format!("server.{what}"), e, g);
        }
    }
    let flag_keys: std::collections::BTreeSet<&String> =
        x.flags.keys().chain(tally.flags.keys()).collect();
    for k in flag_keys {
        let e = x.flags.get(k).copied().unwrap_or(0);
        let g = tally.flags.get(k).copied().unwrap_or(0);
        check(&format!("flags.{k}"), e, g);
    }

    let track = match (&x.track, s.steps.first()) {
        (Some(t), Some(first)) => {
            let offset = chrono::Duration::minutes(i64::from(s.utc_offset_minutes));
            let day = (first.at + offset).date_naive();
            let summary = gw.track_summary(Some(day))?;
            check("track.fixes", t.fixes, stream.stored);
            if !(t.distance_min_m..=t.distance_max_m).contains(&summary.distance_m) {
                mismatches.push(format!(
                    "track.distance_m: expected {}-{} m, got {:.0}",
                    t.distance_min_m, t.distance_max_m, summary.distance_m
                ));
            }
            let kinds: Vec<&str> = summary.flags.iter().map(|f| f.kind.code()).collect();
            for k in &t.flags_present {
                if !kinds.contains(&k.as_str()) {
                    mismatches.push(format!("track.flags: expected {k}, got {kinds:?}"));
                }
            }
            for k in &t.flags_absent {
                if kinds.contains(&k.as_str()) {
                    mismatches.push(format!("track.flags: {k} not expected, got {kinds:?}"));
                }
            }
            Some(json!({
                "fixes": stream.stored,
                "distance_m": summary.distance_m.round(),
                "walked_m": t.walked_m,
                "patrol_s": summary.patrol_s.round(),
                "gaps": summary.gaps.len(),
                "flags": kinds,
                "coverage": summary.coverage,
            }))
        }
        _ => None,
    };

    let ok = mismatches.is_empty();
    let report = json!({
        "scenario": s.name,
        "file": path,
        "worker": s.worker,
        "device": s.device,
        "server_url": target.url,
        "home": home_dir,
        "recorded": {
            "checkins": {"total": tally.checkins[0], "accepted": tally.checkins[1],
                         "flagged": tally.checkins[2], "duplicate": tally.checkins[3]},
            "visits": {"total": tally.visits[0], "flagged": tally.visits[1]},
            "residents": tally.residents,
            "reports": {"total": tally.reports[0], "photos": tally.reports[1]},
            "flags": tally.flags,
            "syncs": {"ok": tally.syncs[0], "failed": tally.syncs[1]},
        },
        "track": track,
        "pending_after": counts_json(&pending),
        "server": on_server.as_ref().map(counts_json),
        "expect": serde_json::to_value(&s.expect)?,
        "matches_expect": ok,
        "mismatches": mismatches,
        "steps": steps_out,
    });
    Ok(Replay {
        report,
        ok,
        worker: gw,
        engine,
        clock,
        report_ids,
    })
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Fix(_) => "fix",
        Action::Checkin(_) => "checkin",
        Action::Visit(_) => "visit",
        Action::Report(_) => "report",
        Action::Connectivity(_) => "connectivity",
        Action::Clock(_) => "clock",
        Action::Sync(_) => "sync",
        Action::Patrol(_) => "patrol",
        Action::Resident(_) => "resident",
        Action::BackOffice(_) => "back_office",
    }
}

fn prefixed(e: CliError, what: &str) -> CliError {
    CliError::new(e.kind, format!("{what}: {}", e.message))
}

/// The phone's clock at `at` when it is `offset_s` seconds off; a file's offset out of range
/// is its error, not a panic.
fn shifted(
    at: chrono::DateTime<chrono::Utc>,
    offset_s: i64,
) -> CliResult<chrono::DateTime<chrono::Utc>> {
    chrono::TimeDelta::try_seconds(offset_s)
        .and_then(|d| at.checked_add_signed(d))
        .ok_or_else(|| CliError::invalid("clock offset_s: the clock it gives is out of range"))
}

fn step_error(i: usize, e: CliError) -> CliError {
    prefixed(e, &format!("step {i}"))
}

/// `scenario FILE`: replays against `--server` or an in-process reference server, on a
/// throw-away device encrypted with `key` when one is given.
pub fn run(a: &ScenarioArgs, key: Option<DatabaseKey>) -> CliResult<Output> {
    let s = load(&a.file)?;
    let district = district_dir(&a.file, &s);
    let home_dir = crate::home::scratch_dir("scenario")?;
    let (target, _server) = match &a.server {
        Some(url) => (
            Target::remote(url, a.token.clone(), a.admin_token.clone())?,
            None,
        ),
        None => {
            let (t, h) = server::start_local(&district, &s.worker)?;
            (t, Some(h))
        }
    };
    let rp = replay(&a.file, &s, &target, home_dir.path(), key)?;
    if let Some(out) = &a.map {
        crate::map::write_map(&rp.worker, None, out)?;
    }
    let human = summary_line(&rp);
    let mut out = Output::new(rp.report.clone(), human);
    if !rp.ok {
        out.failure = Some(CliError::new(
            Kind::ExpectationFailed,
            format!(
                "scenario {} did not meet its expectations ({} mismatch(es))",
                s.name,
                rp.report["mismatches"].as_array().map_or(0, Vec::len)
            ),
        ));
    }
    Ok(out)
}

fn summary_line(rp: &Replay) -> String {
    let r = &rp.report;
    let mut s = format!(
        "scenario {}: {}\n  recorded {}\n  server {}\n",
        r["scenario"].as_str().unwrap_or(""),
        if rp.ok {
            "matches expect"
        } else {
            "DOES NOT match expect"
        },
        r["recorded"],
        r["server"]
    );
    if let Some(ms) = r["mismatches"].as_array() {
        for m in ms {
            s.push_str(&format!("  mismatch: {}\n", m.as_str().unwrap_or("")));
        }
    }
    s
}

/// The platform's location stream of a scenario: the fixes of its track file, handed to the
/// core as time passes, in batches of 30 (a few seconds of callbacks each) while on patrol.
#[derive(Default)]
struct LocationStream {
    fixes: Vec<LocationFix>,
    next: usize,
    on_patrol: bool,
    stored: usize,
}

impl LocationStream {
    fn load(&mut self, fixes: Vec<LocationFix>) {
        self.fixes = fixes;
        self.next = 0;
    }

    /// Hands over the fixes up to `until` (off patrol they are not recorded).
    fn feed_until(&mut self, gw: &GridWorker, until: DateTime<Utc>) -> CliResult<()> {
        let end = self.next
            + self.fixes[self.next..]
                .iter()
                .take_while(|f| f.fix_time <= until)
                .count();
        if self.on_patrol {
            for batch in self.fixes[self.next..end].chunks(30) {
                self.stored += gw.add_track_fixes(batch)?;
            }
        }
        self.next = end;
        Ok(())
    }
}
