//! The fuzz targets' bodies (`fuzz/src/bodies.rs`, included by path) run on stable Rust over
//! their seed corpus (`fuzz/corpus/<target>/`, from the examples in docs/protocol.md), every
//! truncation and single-byte mutation of those seeds, and the hostile answers of defect 11.
//! cargo-fuzz itself needs nightly: see fuzz/README.md.

#[allow(dead_code)]
#[path = "../../fuzz/src/bodies.rs"]
mod bodies;

use std::path::{Path, PathBuf};

use gridworker_core::policy::ValidationPolicy;
use serde_json::{Value, json};

type Body = fn(&[u8]) -> Result<(), String>;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds for {target}");
    out
}

/// Every prefix and, over the first 2 KiB, a few single-byte replacements: a small,
/// deterministic stand-in for the fuzzer that CI can afford.
fn mutations(seed: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let prefixes = (0..seed.len()).map(|n| seed[..n].to_vec());
    let flips = (0..seed.len().min(2048)).flat_map(move |i| {
        [b'0', b'"', b'}', b'-', 0xff].into_iter().map(move |c| {
            let mut m = seed.to_vec();
            m[i] = c;
            m
        })
    });
    prefixes.chain(flips)
}

fn run(target: &str, body: impl Fn(&[u8]) -> Result<(), String>) {
    for (path, seed) in corpus(target) {
        if let Err(e) = body(&seed) {
            panic!("seed {} refused: {e}", path.display());
        }
        for m in mutations(&seed) {
            let _ = body(&m);
        }
    }
}

#[test]
fn decoders_survive_their_corpus_and_its_mutations() {
    let targets: [(&str, Body); 4] = [
        ("handshake", bodies::handshake),
        ("push_reply", bodies::push_reply),
        ("pull_page", bodies::pull_page),
        ("photo_status", bodies::photo_status),
    ];
    for (name, body) in targets {
        run(name, body);
    }
}

#[test]
fn apply_page_survives_its_corpus_and_its_mutations() {
    let store = bodies::Store::new().unwrap();
    run("apply_page", |d| bodies::apply_page(&store, d));
}

fn handshake_with(policy: Value) -> Vec<u8> {
    let mut p = serde_json::to_value(ValidationPolicy::default()).unwrap();
    for (k, v) in policy.as_object().unwrap() {
        p[k] = v.clone();
    }
    serde_json::to_vec(&json!({
        "protocol": 2, "min_protocol": 1, "server_time": "2026-03-01T08:15:30Z",
        "server_id": "s", "worker": {"id": "w", "name": "n"}, "grids": ["G1"], "policy": p,
    }))
    .unwrap()
}

fn page_of(changes: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"changes": changes, "next_cursor": "1", "has_more": false})).unwrap()
}

fn point(i: usize) -> Value {
    json!({"type": "point_upsert", "id": format!("P{i}"), "grid_code": "G1", "name": "n",
           "crs": "wgs84", "lat": 45.3, "lon": 130.97, "radius_m": 10.0})
}

#[test]
fn hostile_answers_are_refused() {
    assert!(bodies::handshake(&handshake_with(json!({}))).is_ok());
    for bad in [
        json!({"checkin_cooldown_s": 10_i64.pow(13)}),
        json!({"checkin_cooldown_s": i64::MAX}),
        json!({"max_clock_drift_s": 10_i64.pow(16)}),
        json!({"max_fix_age_s": -1}),
        json!({"max_photo_bytes": 0}),
    ] {
        assert!(
            bodies::handshake(&handshake_with(bad.clone())).is_err(),
            "{bad}"
        );
    }
    let many_grids: Vec<String> = (0..5000).map(|i| format!("G{i}")).collect();
    let mut h: Value = serde_json::from_slice(&handshake_with(json!({}))).unwrap();
    h["grids"] = json!(many_grids);
    assert!(bodies::handshake(&serde_json::to_vec(&h).unwrap()).is_err());

    let store = bodies::Store::new().unwrap();
    let too_many = page_of((0..3000).map(point).collect());
    assert!(bodies::pull_page(&too_many).is_err());
    assert!(bodies::apply_page(&store, &too_many).is_err());
    let ring: Vec<[f64; 2]> = (0..1_000_000).map(|_| [130.97, 45.3]).collect();
    let huge_grid = page_of(vec![
        json!({"type": "grid_upsert", "code": "G", "name": "n",
                                        "crs": "wgs84", "ring": ring}),
    ]);
    assert!(bodies::apply_page(&store, &huge_grid).is_err());
    let long_name = page_of(vec![
        json!({"type": "household_upsert", "id": "H", "grid_code": "G1",
        "building": "b", "address": "地".repeat(100_000), "crs": "wgs84", "lat": 45.3,
        "lon": 130.97, "tags": []}),
    ]);
    assert!(bodies::apply_page(&store, &long_name).is_err());
    // Status changes into device-owned states are skipped (the invariants are asserted
    // inside the body), the rest of the page applies.
    let statuses = page_of(vec![
        json!({"type": "report_status", "report_id": "r-own", "status": "queued", "at": "2026-03-01T08:15:30Z"}),
        json!({"type": "report_status", "report_id": "r-draft", "status": "closed", "at": "2026-03-01T08:15:30Z"}),
        point(1),
    ]);
    assert!(bodies::apply_page(&store, &statuses).is_ok());
    // Deep nesting: a decode error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    for body in [bodies::handshake, bodies::pull_page, bodies::push_reply] {
        assert!(body(deep.as_bytes()).is_err());
        assert!(body(b"<html>captive portal</html>").is_err());
    }
}
