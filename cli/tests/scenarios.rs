//! CI runs every committed scenario: each file in fixtures/scenarios/ is replayed by the
//! built binary against an in-process reference server, and its report must match the
//! scenario's `expect`. Also the demo end to end, and a scenario whose expectations fail.

mod support;

use serde_json::Value;
use support::{fixtures, gw, path_str};

fn committed_scenarios() -> Vec<std::path::PathBuf> {
    let dir = fixtures().join("scenarios");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    out
}

#[test]
fn every_committed_scenario_meets_its_expectations() {
    let files = committed_scenarios();
    assert!(files.len() >= 2, "scenarios found: {files:?}");
    for file in files {
        let r = gw(&["scenario", &path_str(&file), "--json"]);
        assert_eq!(r.code, 0, "{}: {}\n{}", file.display(), r.stderr, r.stdout);
        let rep = r.json();
        assert_eq!(rep["matches_expect"], true, "{}", rep["mismatches"]);
        assert_eq!(rep["mismatches"], serde_json::json!([]));
        let scenario: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let x = &scenario["expect"];
        // The report states what was recorded and what the server holds, independently of
        // the expectation it is compared with.
        assert_eq!(rep["recorded"]["checkins"], x["checkins"]);
        assert_eq!(rep["recorded"]["visits"], x["visits"]);
        assert_eq!(rep["recorded"]["reports"], x["reports"]);
        assert_eq!(rep["recorded"]["syncs"], x["syncs"]);
        assert_eq!(rep["recorded"]["flags"], x["flags"]);
        assert_eq!(rep["server"], x["server"]);
        assert_eq!(rep["pending_after"], x["pending_after"]);
        // Every check-in step's verdict is in the report.
        let steps = rep["steps"].as_array().unwrap();
        let checkins = steps.iter().filter(|s| s["action"] == "checkin").count() as u64;
        assert_eq!(Some(checkins), x["checkins"]["total"].as_u64());
    }
}

#[test]
fn a_scenario_whose_expectations_fail_exits_non_zero() {
    let src = fixtures().join("scenarios").join("clock-and-mock.json");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&src).unwrap()).unwrap();
    s["expect"]["checkins"]["accepted"] = Value::from(99);
    s["expect"]["server"]["checkins"] = Value::from(0);
    // Same directory, so the relative district path still resolves.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("altered.json");
    s["district"] = Value::from(path_str(&fixtures().join("district-small")));
    std::fs::write(&copy, serde_json::to_string(&s).unwrap()).unwrap();
    let r = gw(&["--json", "scenario", &path_str(&copy)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let rep = r.json();
    assert_eq!(rep["matches_expect"], false);
    let ms: Vec<&str> = rep["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        ms.iter().any(|m| m.starts_with("checkins.accepted")),
        "{ms:?}"
    );
    assert!(
        ms.iter().any(|m| m.starts_with("server.checkins")),
        "{ms:?}"
    );
    assert_eq!(r.stderr.trim_end().lines().count(), 1, "{}", r.stderr);
}

#[test]
fn demo_tells_the_whole_story() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let r = gw(&["demo", "--out", &path_str(&out), "--json"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    let j = r.json();
    assert_eq!(j["scenario"]["matches_expect"], true);
    assert_eq!(
        j["server"],
        serde_json::json!({"checkins": 11, "visits": 4, "reports": 2, "photos": 3})
    );
    assert_eq!(
        j["lifecycle"]["transitions"],
        serde_json::json!(["accepted", "dispatched", "resolved"])
    );
    // The status the back office set came back to the phone.
    let moved = j["lifecycle"]["report"].as_str().unwrap();
    let reports = j["reports"].as_array().unwrap();
    let mine = reports.iter().find(|r| r["id"] == moved).unwrap();
    assert_eq!(mine["status"], "resolved");
    assert_eq!(mine["department"], "water");
    assert!(
        reports
            .iter()
            .any(|r| r["id"] != moved && r["status"] == "submitted")
    );
    for k in ["checkins", "visits", "reports", "photos"] {
        assert_eq!(j["status"]["pending"][k], 0);
    }
    let map = std::path::PathBuf::from(j["map"].as_str().unwrap());
    let svg = std::fs::read_to_string(&map).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();

    // The patrol: recorded, measured within 10 % of the route, sent once, recomputed by the
    // server to the same figure, and drawn with its indoor gaps and the fake-GPS stretch.
    let track = &j["scenario"]["track"];
    let fixes = track["fixes"].as_u64().unwrap();
    assert!(fixes > 3000, "{track}");
    let walked = track["walked_m"].as_f64().unwrap();
    let measured = track["distance_m"].as_f64().unwrap();
    assert!((measured - walked).abs() < walked * 0.1, "{track}");
    assert!(
        track["flags"]
            .as_array()
            .unwrap()
            .contains(&"mock_location".into())
    );
    assert_eq!(j["server_track"]["fixes"], fixes);
    assert!((j["server_track"]["distance_m"].as_f64().unwrap() - measured).abs() < 1.0);
    let class_count = |class: &str| {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .count()
    };
    let gaps = track["gaps"].as_u64().unwrap() as usize;
    assert!(gaps >= 1);
    assert_eq!(class_count("gap"), gaps, "one dotted line per gap");
    assert!(class_count("spoof") >= 1, "the flagged stretch is drawn");
    assert!(
        doc.descendants()
            .any(|n| n.attribute("id") == Some("track"))
    );

    // The phone's store is encrypted under a fresh key kept in the output folder.
    assert_eq!(j["status"]["encrypted"], true);
    let key_file = j["key_file"].as_str().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key file is owner-only");
    }
    let home = j["home"].as_str().unwrap();
    gw(&["--home", home, "--json", "status"]).assert_error(5, Some("locked"));
    let r = gw(&["--home", home, "--key-file", key_file, "--json", "status"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let db = std::fs::read(std::path::Path::new(home).join("data/gridworker.db")).unwrap();
    assert!(!db.windows(15).any(|w| w == b"SQLite format 3"));

    // The human form: the story and the map's path.
    let out2 = dir.path().join("demo2");
    let r = gw(&["demo", "--out", &path_str(&out2)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for needle in [
        "outside_radius",
        "mock_location",
        "clock_jump",
        "failed with no signal",
        "Server received",
        "resolved",
        "Map of the day:",
        "encrypted",
    ] {
        assert!(r.stdout.contains(needle), "{needle} missing:\n{}", r.stdout);
    }
    // A device home is never reused.
    let r = gw(&["--json", "demo", "--out", &path_str(&out2)]);
    r.assert_error(2, Some("invalid_input"));
}
