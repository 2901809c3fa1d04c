//! `map`: the worker's day as an SVG. Grid boundaries, the worker's inspection points
//! coloured checked / flagged / missed, the patrol track (simplified) with its gaps and the
//! stretches a spoof sign covers, the route through the day's records in time order, visits
//! and reports, a legend and a title. Plain SVG 1.1, no scripts or external files.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use gridworker_core::domain::{CheckInOutcome, Grid, InspectionPoint};
use gridworker_core::geo::Position;
use gridworker_core::{GridWorker, SystemClock};
use serde_json::json;

use crate::args::MapArgs;
use crate::error::{CliError, CliResult};
use crate::home::Home;
use crate::output::Output;

const WIDTH: f64 = 1000.0;
const MAP_H: f64 = 760.0;
const TITLE_H: f64 = 50.0;
const LEGEND_W: f64 = 230.0;
const MARGIN: f64 = 30.0;

/// One stop on the route.
struct Stop {
    at: DateTime<Utc>,
    pos: Position,
}

/// What is drawn, gathered from the store.
struct Day {
    day: NaiveDate,
    worker: String,
    grids: Vec<Grid>,
    mine: Vec<String>,
    points: Vec<InspectionPoint>,
    /// Point id → true if any accepted check-in that day, false if only flagged ones.
    checked: HashMap<String, bool>,
    checkins: Vec<(Position, bool)>,
    visits: Vec<(Position, bool)>,
    reports: Vec<(Position, String)>,
    route: Vec<Stop>,
    /// The patrol track: simplified pieces of (ms, position), gaps and flagged ranges.
    track: Vec<Vec<(i64, Position)>>,
    gaps: Vec<(i64, i64)>,
    flags: Vec<(String, i64, i64)>,
    distance_m: f64,
}

fn local_day(t: DateTime<Utc>, offset_min: i32) -> NaiveDate {
    let off = FixedOffset::east_opt(offset_min * 60)
        .or_else(|| FixedOffset::east_opt(0))
        .map(|o| t.with_timezone(&o).date_naive());
    off.unwrap_or_else(|| t.date_naive())
}

fn gather(gw: &GridWorker, day: Option<NaiveDate>) -> CliResult<Day> {
    let offset = gw.config().utc_offset_minutes;
    let ld = |t: DateTime<Utc>| local_day(t, offset);
    let checkins = gw.list_checkins(0, 1000)?;
    let visits = gw.list_visits(0, 1000)?;
    let reports = gw.list_reports(0, 1000)?;
    let day = match day {
        Some(d) => d,
        None => {
            let latest = checkins
                .iter()
                .map(|c| c.record.recorded_at)
                .chain(visits.iter().map(|v| v.record.recorded_at))
                .chain(reports.iter().map(|r| r.record.created_at))
                .max()
                .unwrap_or_else(Utc::now);
            ld(latest)
        }
    };
    let track = gw.track_day(Some(day))?;
    let grids = gw.grids()?;
    let mine = gw.worker_grids()?;
    let points = gw.points_in_grids(&mine)?;
    let mut out = Day {
        day,
        worker: gw.config().worker_id.clone(),
        grids,
        mine,
        points,
        checked: HashMap::new(),
        checkins: Vec::new(),
        visits: Vec::new(),
        reports: Vec::new(),
        route: Vec::new(),
        gaps: track.summary.gaps.clone(),
        flags: track
            .summary
            .flags
            .iter()
            .map(|f| (f.kind.code().to_string(), f.from_ms, f.to_ms))
            .collect(),
        distance_m: track.summary.distance_m,
        track: track.line,
    };
    for c in checkins.iter().map(|l| &l.record) {
        if ld(c.recorded_at) != day {
            continue;
        }
        let ok = c.outcome == CheckInOutcome::Accepted;
        *out.checked.entry(c.point_id.clone()).or_insert(false) |= ok;
        out.checkins.push((c.position, ok));
        out.route.push(Stop {
            at: c.fix.fix_time,
            pos: c.position,
        });
    }
    for v in visits.iter().map(|l| &l.record) {
        if ld(v.recorded_at) != day {
            continue;
        }
        out.visits.push((v.position, !v.flags.is_empty()));
        out.route.push(Stop {
            at: v.fix.fix_time,
            pos: v.position,
        });
    }
    for r in reports.iter().map(|l| &l.record) {
        if !r.own || ld(r.created_at) != day {
            continue;
        }
        if let Some(p) = r.position {
            out.reports.push((p, r.category.clone()));
            out.route.push(Stop {
                at: r.created_at,
                pos: p,
            });
        }
    }
    out.route.sort_by_key(|s| s.at);
    Ok(out)
}

/// Equirectangular projection of a bounding box into the map area.
struct Proj {
    min_lat: f64,
    max_lat: f64,
    min_lon: f64,
    scale: f64,
    kx: f64,
    x0: f64,
    y0: f64,
}

impl Proj {
    fn fit(positions: &[Position]) -> Proj {
        let (mut min_lat, mut max_lat, mut min_lon, mut max_lon) =
            (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for p in positions {
            min_lat = min_lat.min(p.lat);
            max_lat = max_lat.max(p.lat);
            min_lon = min_lon.min(p.lon);
            max_lon = max_lon.max(p.lon);
        }
        if positions.is_empty() {
            (min_lat, max_lat, min_lon, max_lon) = (45.29, 45.31, 130.93, 130.95);
        }
        // A degenerate box (one point) still gets a sensible scale.
        let pad = 0.0005;
        let (min_lat, max_lat) = (min_lat - pad, max_lat + pad);
        let (min_lon, max_lon) = (min_lon - pad, max_lon + pad);
        let kx = ((min_lat + max_lat) / 2.0)
            .to_radians()
            .cos()
            .abs()
            .max(0.01);
        let w = WIDTH - LEGEND_W - 2.0 * MARGIN;
        let h = MAP_H - 2.0 * MARGIN;
        let span_x = (max_lon - min_lon) * kx;
        let span_y = max_lat - min_lat;
        let scale = (w / span_x).min(h / span_y);
        Proj {
            min_lat,
            max_lat,
            min_lon,
            scale,
            kx,
            x0: MARGIN + (w - span_x * scale) / 2.0,
            y0: TITLE_H + MARGIN + (h - span_y * scale) / 2.0,
        }
    }

    fn xy(&self, p: Position) -> (f64, f64) {
        let _ = self.min_lat;
        (
            self.x0 + (p.lon - self.min_lon) * self.kx * self.scale,
            self.y0 + (self.max_lat - p.lat) * self.scale,
        )
    }
}

/// Escapes text for SVG content and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CHECKED: &str = "#2e9d4f";
const FLAGGED: &str = "#f0a020";
const MISSED: &str = "#d63b3b";
const VISIT: &str = "#2f6fd6";
const REPORT: &str = "#8e3bd6";

fn render(d: &Day) -> String {
    // Frame the worker's own grids and the day's records; other grids are drawn for context.
    let mut frame: Vec<Position> = d
        .grids
        .iter()
        .filter(|g| d.mine.contains(&g.code))
        .flat_map(|g| g.boundary.iter().copied())
        .collect();
    frame.extend(d.route.iter().map(|s| s.pos));
    frame.extend(d.track.iter().flatten().map(|(_, p)| *p));
    if frame.is_empty() {
        frame.extend(d.grids.iter().flat_map(|g| g.boundary.iter().copied()));
    }
    let pr = Proj::fit(&frame);
    let height = TITLE_H + MAP_H;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        s,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#fbfaf7"/>"##
    );
    let checked = d.checked.values().filter(|v| **v).count();
    let flagged = d.checked.values().filter(|v| !**v).count();
    let missed = d
        .points
        .iter()
        .filter(|p| !d.checked.contains_key(&p.id))
        .count();
    let _ = writeln!(
        s,
        r#"<title>Grid worker {w}, {day}</title>
<text x="{MARGIN}" y="32" font-size="20" font-weight="bold">Worker {w} — {day} — {n} check-ins, {v} visits, {r} reports</text>"#,
        w = esc(&d.worker),
        day = d.day,
        n = d.checkins.len(),
        v = d.visits.len(),
        r = d.reports.len()
    );
    let _ = writeln!(
        s,
        r#"<clipPath id="mapclip"><rect x="0" y="{TITLE_H}" width="{mw}" height="{MAP_H}"/></clipPath>
<g id="grids" clip-path="url(#mapclip)">"#,
        mw = WIDTH - LEGEND_W
    );
    for g in &d.grids {
        if g.boundary.is_empty() {
            continue;
        }
        let own = d.mine.contains(&g.code);
        let pts: Vec<String> = g
            .boundary
            .iter()
            .map(|p| {
                let (x, y) = pr.xy(*p);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let (fill, stroke, sw) = if own {
            ("#e8f1fb", "#1d4f91", 2.5)
        } else {
            ("none", "#9aa3ad", 1.0)
        };
        let _ = writeln!(
            s,
            r#"<polygon points="{}" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"><title>{} {}</title></polygon>"#,
            pts.join(" "),
            esc(&g.code),
            esc(&g.name)
        );
    }
    let _ = writeln!(s, "</g>");
    draw_track(&mut s, d, &pr);
    // Route under the markers.
    if d.route.len() > 1 {
        let pts: Vec<String> = d
            .route
            .iter()
            .map(|st| {
                let (x, y) = pr.xy(st.pos);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline id="route" points="{}" fill="none" stroke="#444" stroke-width="1.5" stroke-dasharray="5,3" clip-path="url(#mapclip)"/>"##,
            pts.join(" ")
        );
    }
    let _ = writeln!(s, r#"<g id="points" clip-path="url(#mapclip)">"#);
    for p in &d.points {
        let (x, y) = pr.xy(p.position);
        let (colour, state) = match d.checked.get(&p.id) {
            Some(true) => (CHECKED, "checked"),
            Some(false) => (FLAGGED, "flagged"),
            None => (MISSED, "missed"),
        };
        let _ = writeln!(
            s,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="6" fill="{colour}" stroke="white" stroke-width="1.5"><title>{} {} ({state})</title></circle><text x="{:.1}" y="{:.1}" font-size="9" fill="#555">{}</text>"##,
            esc(&p.id),
            esc(&p.name),
            x + 8.0,
            y - 6.0,
            esc(&p.id)
        );
    }
    let _ = writeln!(s, "</g>");
    let _ = writeln!(s, r#"<g id="records" clip-path="url(#mapclip)">"#);
    for (pos, ok) in &d.checkins {
        let (x, y) = pr.xy(*pos);
        let c = if *ok { CHECKED } else { FLAGGED };
        let _ = writeln!(
            s,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{c}" stroke="black" stroke-width="0.6"/>"#
        );
    }
    for (pos, flagged) in &d.visits {
        let (x, y) = pr.xy(*pos);
        let stroke = if *flagged { FLAGGED } else { "white" };
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="9" height="9" fill="{VISIT}" stroke="{stroke}" stroke-width="1.5"><title>visit</title></rect>"#,
            x - 4.5,
            y - 4.5
        );
    }
    for (pos, cat) in &d.reports {
        let (x, y) = pr.xy(*pos);
        let _ = writeln!(
            s,
            r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{REPORT}" stroke="white" stroke-width="1.5"><title>report: {}</title></polygon>"#,
            x,
            y - 7.0,
            x - 6.5,
            y + 5.0,
            x + 6.5,
            y + 5.0,
            esc(cat)
        );
    }
    let _ = writeln!(s, "</g>");
    // Legend.
    let lx = WIDTH - LEGEND_W + 15.0;
    let mut ly = TITLE_H + 30.0;
    let _ = writeln!(
        s,
        r##"<g id="legend"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="360" fill="white" stroke="#ccc"/>"##,
        lx - 10.0,
        ly - 20.0,
        LEGEND_W - 20.0
    );
    let items: [(&str, String, &str); 10] = [
        ("circle", CHECKED.into(), "point checked"),
        ("circle", FLAGGED.into(), "point flagged only"),
        ("circle", MISSED.into(), "point missed"),
        ("rect", VISIT.into(), "household visit"),
        ("tri", REPORT.into(), "photo report"),
        ("line", "#444".into(), "route (time order)"),
        ("track", TRACK.into(), "patrol track"),
        ("gap", GAP.into(), "gap in the track"),
        ("track", SPOOF.into(), "spoof sign"),
        ("grid", "#1d4f91".into(), "worker's grid"),
    ];
    for (shape, colour, label) in items {
        let sym = match shape {
            "circle" => format!(
                r#"<circle cx="{:.1}" cy="{:.1}" r="6" fill="{colour}"/>"#,
                lx + 6.0,
                ly - 4.0
            ),
            "rect" => format!(
                r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{colour}"/>"#,
                lx + 1.0,
                ly - 9.0
            ),
            "tri" => format!(
                r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
                lx + 6.0,
                ly - 11.0,
                lx,
                ly + 1.0,
                lx + 12.0,
                ly + 1.0
            ),
            "line" => format!(
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="5,3"/>"#,
                lx,
                ly - 4.0,
                lx + 14.0,
                ly - 4.0
            ),
            "track" => format!(
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="3"/>"#,
                lx,
                ly - 4.0,
                lx + 14.0,
                ly - 4.0
            ),
            "gap" => format!(
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2" stroke-dasharray="2,3"/>"#,
                lx,
                ly - 4.0,
                lx + 14.0,
                ly - 4.0
            ),
            _ => format!(
                r##"<rect x="{:.1}" y="{:.1}" width="12" height="10" fill="#e8f1fb" stroke="{colour}" stroke-width="2"/>"##,
                lx,
                ly - 9.0
            ),
        };
        let _ = writeln!(
            s,
            r#"{sym}<text x="{:.1}" y="{ly:.1}" font-size="13">{}</text>"#,
            lx + 22.0,
            esc(label)
        );
        ly += 26.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="{lx:.1}" y="{:.1}" font-size="13">{checked} checked, {flagged} flagged, {missed} missed</text>"#,
        ly + 6.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{lx:.1}" y="{:.1}" font-size="13">track {:.0} m, {} gaps, {} spoof signs</text></g>"#,
        ly + 26.0,
        d.distance_m,
        d.gaps.len(),
        d.flags.len()
    );
    s.push_str("</svg>\n");
    s
}

const TRACK: &str = "#2a7f62";
const GAP: &str = "#b00020";
const SPOOF: &str = "#e07000";

/// The track as polylines, a dotted line across each gap (from the last fix before it to the
/// first after) and the stretches a spoof sign covers drawn over it, each titled with its kind.
fn draw_track(s: &mut String, d: &Day, pr: &Proj) {
    if d.track.is_empty() {
        return;
    }
    let poly = |pts: &[(i64, Position)]| -> String {
        pts.iter()
            .map(|(_, p)| {
                let (x, y) = pr.xy(*p);
                format!("{x:.1},{y:.1}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(s, r#"<g id="track" clip-path="url(#mapclip)">"#);
    for piece in &d.track {
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{TRACK}" stroke-width="3" stroke-linejoin="round" opacity="0.8"/>"#,
            poly(piece)
        );
    }
    for w in d.track.windows(2) {
        if let (Some(a), Some(b)) = (w[0].last(), w[1].first()) {
            let ((x1, y1), (x2, y2)) = (pr.xy(a.1), pr.xy(b.1));
            let _ = writeln!(
                s,
                r#"<line class="gap" x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{GAP}" stroke-width="2" stroke-dasharray="2,3"><title>gap of {} min</title></line>"#,
                (b.0 - a.0) / 60_000
            );
        }
    }
    for (kind, from, to) in &d.flags {
        let covered: Vec<(i64, Position)> = d
            .track
            .iter()
            .flatten()
            .filter(|(t, _)| (*from..=*to).contains(t))
            .copied()
            .collect();
        if covered.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            r#"<polyline class="spoof" points="{}" fill="none" stroke="{SPOOF}" stroke-width="5" opacity="0.9"><title>{}</title></polyline>"#,
            poly(&covered),
            esc(kind)
        );
    }
    let _ = writeln!(s, "</g>");
}

/// Draws the day of `gw` into `out`; returns (day, counts) for summaries.
pub fn write_map(
    gw: &GridWorker,
    day: Option<NaiveDate>,
    out: &Path,
) -> CliResult<serde_json::Value> {
    if out.as_os_str().is_empty() || out.is_dir() {
        return Err(CliError::invalid(format!(
            "--out {}: must be a file path",
            out.display()
        )));
    }
    let d = gather(gw, day)?;
    let svg = render(&d);
    if let Some(parent) = out.parent()
        && !parent.as_os_str().is_empty()
        && !parent.is_dir()
    {
        return Err(CliError::invalid(format!(
            "--out {}: directory {} does not exist",
            out.display(),
            parent.display()
        )));
    }
    std::fs::write(out, svg)
        .map_err(|e| CliError::internal(format!("writing {}: {e}", out.display())))?;
    let checked = d.checked.values().filter(|v| **v).count();
    let flagged = d.checked.values().filter(|v| !**v).count();
    let missed = d
        .points
        .iter()
        .filter(|p| !d.checked.contains_key(&p.id))
        .count();
    Ok(json!({
        "out": out, "day": d.day.to_string(), "grids": d.grids.len(),
        "points": {"checked": checked, "flagged": flagged, "missed": missed},
        "checkins": d.checkins.len(), "visits": d.visits.len(), "reports": d.reports.len(),
    }))
}

pub fn map(home: &Home, a: &MapArgs) -> CliResult<Output> {
    let cfg = home.load()?;
    let gw = home.open(&cfg, Arc::new(SystemClock))?;
    let j = write_map(&gw, a.day, &a.out)?;
    let human = format!(
        "map of {} written to {}",
        j["day"].as_str().unwrap_or(""),
        a.out.display()
    );
    Ok(Output::new(j, human))
}
