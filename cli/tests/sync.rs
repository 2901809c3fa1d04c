//! `sync` and `scenario --server` against a real reference server on 127.0.0.1: reference
//! data arrives, work is pushed exactly once, a refused token exits 4.

mod support;

use gridworker_server::{ServerConfig, ServerHandle, spawn_in_thread};
use support::{fixtures, gw, path_str};

fn server(dir: &std::path::Path) -> ServerHandle {
    let mut cfg = ServerConfig::new(dir)
        .fixtures(fixtures().join("district-small"))
        .token("w-0002", "tok-w2");
    cfg.admin_token = "adm".into();
    spawn_in_thread(cfg).unwrap()
}

fn init(home: &str, url: &str, token: &str) {
    let r = gw(&[
        "--home",
        home,
        "init",
        "--server",
        url,
        "--worker",
        "w-0002",
        "--device",
        "dev-1",
        "--token",
        token,
        "--allow-http",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn sync_brings_reference_data_and_pushes_once() {
    let srv_dir = tempfile::tempdir().unwrap();
    let srv = server(srv_dir.path());
    let dir = tempfile::tempdir().unwrap();
    let home = path_str(dir.path());
    init(&home, &srv.url(), "tok-w2");

    // Before the first sync the phone knows no points.
    let n = gw(&[
        "--home", &home, "--json", "nearby", "--lat", "45.3", "--lon", "130.94",
    ])
    .json();
    assert_eq!(n["points"], serde_json::json!([]));

    let r = gw(&["--home", &home, "--json", "sync"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.json()["sync"]["pulled_changes"].as_u64().unwrap() > 0);
    assert!(!r.json()["status"]["last_sync"].is_null());

    // Now a check-in at one of w-0002's points.
    let n = gw(&[
        "--home", &home, "--json", "nearby", "--lat", "45.3", "--lon", "130.94", "--limit", "200",
    ])
    .json();
    let p = n["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["grid"] == "g-0002")
        .cloned()
        .unwrap();
    let (lat, lon) = (p["lat"].to_string(), p["lon"].to_string());
    let r = gw(&[
        "--home",
        &home,
        "--json",
        "checkin",
        "--point",
        p["id"].as_str().unwrap(),
        "--lat",
        &lat,
        "--lon",
        &lon,
        "--accuracy",
        "6",
    ]);
    assert_eq!(r.json()["outcome"], "accepted", "{}", r.stdout);

    let r = gw(&["--home", &home, "--json", "sync"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["sync"]["pushed"], 1);
    let s = gw(&["--home", &home, "--json", "status"]).json();
    assert_eq!(s["synced"]["checkins"], 1);
    assert_eq!(s["pending"]["checkins"], 0);
    let l = gw(&["--home", &home, "--json", "list", "checkins"]).json();
    assert_eq!(l["checkins"][0]["sync"]["state"], "synced");
    // A second sync sends nothing again.
    let r = gw(&["--home", &home, "--json", "sync"]);
    assert_eq!(r.json()["sync"]["pushed"], 0);
}

/// Issue 11: a server that needs a newer protocol (426 `client_too_old`) is "update
/// required", exit 6, not an internal error; the work stays queued.
#[test]
fn a_server_needing_a_newer_protocol_exits_6_update_required_and_keeps_work() {
    let srv_dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::new(srv_dir.path())
        .fixtures(fixtures().join("district-small"))
        .token("w-0002", "tok-w2");
    cfg.admin_token = "adm".into();
    cfg.min_protocol = gridworker_core::sync::wire::PROTOCOL + 1;
    let srv = spawn_in_thread(cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = path_str(dir.path());
    init(&home, &srv.url(), "tok-w2");
    let r = gw(&["--home", &home, "--json", "sync"]);
    r.assert_error(6, Some("update_required"));
    let s = gw(&["--home", &home, "--json", "status"]);
    assert_eq!(s.code, 0, "{}", s.stderr);
}

#[test]
fn a_refused_token_exits_4_and_keeps_work() {
    let srv_dir = tempfile::tempdir().unwrap();
    let srv = server(srv_dir.path());
    let dir = tempfile::tempdir().unwrap();
    let home = path_str(dir.path());
    init(&home, &srv.url(), "wrong-token");
    let r = gw(&["--home", &home, "--json", "sync"]);
    r.assert_error(4, Some("authentication"));
}

#[test]
fn scenario_against_a_server_given_by_url() {
    let srv_dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::new(srv_dir.path())
        .fixtures(fixtures().join("district-small"))
        .token("w-0002", "tok-w2");
    cfg.admin_token = "adm".into();
    let srv = spawn_in_thread(cfg).unwrap();
    let scn = fixtures().join("scenarios").join("clock-and-mock.json");
    let r = gw(&[
        "--json",
        "scenario",
        &path_str(&scn),
        "--server",
        &srv.url(),
        "--token",
        "tok-w2",
        "--admin-token",
        "adm",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    let rep = r.json();
    assert_eq!(rep["matches_expect"], true, "{}", rep["mismatches"]);
    assert_eq!(rep["server"]["checkins"], 5);
    // Without the admin token the replay still runs; the server side is simply not checked.
    let r = gw(&[
        "--json",
        "scenario",
        &path_str(&scn),
        "--server",
        &srv.url(),
        "--token",
        "tok-w2",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.json()["server"].is_null());
}

#[test]
fn defect1_a_report_whose_photo_is_gone_is_quarantined_and_shown_by_status_and_list() {
    let srv_dir = tempfile::tempdir().unwrap();
    let srv = server(srv_dir.path());
    let dir = tempfile::tempdir().unwrap();
    let home = path_str(dir.path());
    init(&home, &srv.url(), "tok-w2");
    let photo = path_str(&fixtures().join("photos").join("manhole-leak.jpg"));
    let r = gw(&[
        "--home",
        &home,
        "--json",
        "report",
        "--category",
        "leaking_manhole",
        "--text",
        "井盖渗水",
        "--photo",
        &photo,
        "--lat",
        "45.3",
        "--lon",
        "130.94",
        "--accuracy",
        "6",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let photos = dir.path().join(gridworker_cli_data_dir()).join("photos");
    for e in std::fs::read_dir(&photos).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let r = gw(&["--home", &home, "--json", "sync"]);
    assert_eq!(
        r.code, 0,
        "a missing photo is not a failed sync: {}",
        r.stderr
    );
    let q = &r.json()["sync"]["quarantined"];
    assert_eq!(q[0]["kind"], "report", "{q}");
    assert_eq!(q[0]["reason"]["reason"], "photo_missing");
    let s = gw(&["--home", &home, "--json", "status"]).json();
    assert_eq!(s["quarantined"]["reports"], 1);
    assert_eq!(s["pending"]["reports"], 0);
    assert_eq!(
        s["quarantined_records"][0]["reason"]["reason"],
        "photo_missing"
    );
    let l = gw(&["--home", &home, "--json", "list", "reports"]).json();
    assert_eq!(l["reports"][0]["sync"]["state"], "quarantined", "{l}");
    let human = gw(&["--home", &home, "status"]);
    assert!(human.stdout.contains("quarantined"), "{}", human.stdout);
}

/// The data directory inside a CLI home (`cli/src/home.rs`).
fn gridworker_cli_data_dir() -> &'static str {
    "data"
}
