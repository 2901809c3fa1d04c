//! Summing up a day's track (issue 13): 8 hours of 1 Hz fixes (28,800) through the honest
//! measurement, the spoof signs and the day summary (a 1.5 km grid, 30 points), next to the naive sum of fix-to-fix distances over the
//! same fixes, measured in the same run.
//!
//! Run: `cargo bench -p gridworker-model --bench track`

#[path = "../../fixtures/gen/src/walks.rs"]
mod support;

use std::time::{Duration, Instant};

use gridworker_model::domain::{Grid, InspectionPoint, TrackBlockPayload};
use gridworker_model::track::{MeasureParams, block, measure, naive_distance, signals, summarise};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // Indoor stops have no fixes: walk longer than 8 h and keep the first 28,800 fixes.
    let day = support::walk(2026, 10 * 60);
    let fixes = &day.fixes[..28_800.min(day.fixes.len())];
    let rounds = 15;
    // The worker's grid: 1.5 km square around the start, with 30 points in it.
    let grid = Grid {
        code: "G1".into(),
        name: "网格".into(),
        boundary: vec![
            support::at(-750.0, -750.0),
            support::at(750.0, -750.0),
            support::at(750.0, 750.0),
            support::at(-750.0, 750.0),
        ],
    };
    let points: Vec<InspectionPoint> = (0..30)
        .map(|i| InspectionPoint {
            id: format!("P{i}"),
            grid_code: "G1".into(),
            name: String::new(),
            position: support::at(-700.0 + 47.0 * i as f64, -300.0 + 19.0 * i as f64),
            radius_m: 0.0,
        })
        .collect();
    let naive = median(
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(naive_distance(std::hint::black_box(fixes)));
                t.elapsed()
            })
            .collect(),
    );
    let mut distance = 0.0;
    let honest = median(
        (0..rounds)
            .map(|_| {
                let t = Instant::now();
                let m = measure(fixes, &MeasureParams::default());
                let flags = signals(fixes, &m);
                distance = m.distance_m;
                let day = summarise(&m, flags, std::slice::from_ref(&grid), &points, 50.0);
                std::hint::black_box(day);
                t.elapsed()
            })
            .collect(),
    );
    let bytes: usize = fixes
        .chunks(block::MAX_FIXES)
        .map(|c| block::encode(c).map(|b| b.len()).unwrap_or(0))
        .sum();
    println!(
        "a day's track, {} fixes (8 h of fixes at 1 Hz), median of {rounds}: day summary (measure, spoof signs, time in grid, points passed, coverage) {:.1} ms (goal <= 50 ms) = {:.0}x the naive sum ({:.2} ms); distance {:.0} m, naive {:.0} m",
        fixes.len(),
        honest.as_secs_f64() * 1e3,
        honest.as_secs_f64() / naive.as_secs_f64(),
        naive.as_secs_f64() * 1e3,
        distance,
        naive_distance(fixes)
    );
    println!(
        "  stored as blocks of {} fixes: {bytes} bytes, {:.2} bytes per fix (goal <= 16 with indexes)",
        block::MAX_FIXES,
        bytes as f64 / fixes.len() as f64
    );
    // On the wire: the phone's blocks (up to 600 fixes) as track_block payloads, the JSON
    // text the push carries and the hash covers.
    let wire: usize = fixes
        .chunks(600)
        .enumerate()
        .map(|(i, c)| {
            let data = block::encode(c).unwrap_or_default();
            TrackBlockPayload::new(
                format!("0193c2a4-6b1d-7a00-8d6e-{i:012}"),
                "w-0001".into(),
                "dev-w-0001-a".into(),
                "0193c2a4-6b1d-7a00-8d6e-1c9f0e0b7a31".into(),
                &data,
            )
            .ok()
            .and_then(|p| serde_json::to_string(&p).ok())
            .map_or(0, |t| t.len())
        })
        .sum();
    println!(
        "  on the wire as track_block payloads of 600 fixes: {wire} bytes, {:.2} bytes per fix (JSON around base64 blocks; before HTTP compression)",
        wire as f64 / fixes.len() as f64
    );
}
