//! A phone upgrades in the field with unsynced records on it: the home made by the previous
//! release (`fixtures/upgrade/v1/home`: schema v1, 3 check-ins, 1 visit and 2 reports with 3
//! photos, all pending, made by that release's `gridworker` binary) is opened by this build,
//! migrated, and synced to the real reference server: every record arrives exactly once, every
//! photo with the bytes it was recorded with, and a second sync sends nothing.

mod support;

use gridworker_server::{ServerConfig, spawn_in_thread};
use gridworker_testkit::dirs::copy_dir;
use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{fixtures, gw, path_str};

async fn admin_bytes(url: &str, path: &str) -> Vec<u8> {
    reqwest::Client::new()
        .get(format!("{url}{path}"))
        .bearer_auth("adm")
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

async fn admin_get(url: &str, path: &str) -> Value {
    serde_json::from_slice(&admin_bytes(url, path).await).unwrap()
}

/// The reference server seeded with the small district, and a copy of the release's device
/// home aimed at it (the fixture points at a closed port).
struct Release {
    srv: gridworker_server::ServerHandle,
    _srv_dir: tempfile::TempDir,
    _dir: tempfile::TempDir,
    home: String,
}

fn release(version: &str) -> Release {
    let srv_dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::new(srv_dir.path())
        .fixtures(fixtures().join("district-small"))
        .token("w-0001", "tok-w-0001");
    cfg.admin_token = "adm".into();
    let srv = spawn_in_thread(cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    copy_dir(
        &fixtures().join("upgrade").join(version).join("home"),
        &home,
    );
    let cfg_path = home.join("gridworker-cli.json");
    let mut cli_cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    cli_cfg["server"] = Value::String(srv.url());
    std::fs::write(&cfg_path, serde_json::to_string_pretty(&cli_cfg).unwrap()).unwrap();
    Release {
        srv,
        _srv_dir: srv_dir,
        home: path_str(&home),
        _dir: dir,
    }
}

#[test]
fn a_store_from_the_previous_release_upgrades_and_syncs_every_record_once() {
    let r0 = release("v1");
    let (srv, home) = (&r0.srv, r0.home.clone());

    let before = gw(&["--home", &home, "--json", "status"]);
    assert_eq!(before.code, 0, "{}", before.stderr);
    let before = before.json();
    assert_eq!(before["pending"]["checkins"], 3, "{before}");
    assert_eq!(before["pending"]["visits"], 1, "{before}");
    assert_eq!(before["pending"]["reports"], 2, "{before}");
    assert_eq!(before["pending"]["photos"], 3, "{before}");

    let r = gw(&["--home", &home, "--json", "sync"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert_eq!(r.json()["sync"]["pushed"], 6, "{}", r.stdout);
    let again = gw(&["--home", &home, "--json", "sync"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json()["sync"]["pushed"], 0, "{}", again.stdout);

    let after = gw(&["--home", &home, "--json", "status"]).json();
    for kind in ["checkins", "visits", "reports", "photos"] {
        assert_eq!(after["pending"][kind], 0, "{kind}: {after}");
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = srv.url();
    let counts = rt.block_on(admin_get(&url, "/admin/v1/records"));
    assert_eq!(counts["counts"]["checkin"], 3, "{counts}");
    assert_eq!(counts["counts"]["visit"], 1, "{counts}");
    assert_eq!(counts["counts"]["report"], 2, "{counts}");
    assert_eq!(counts["chain_breaks"], 0, "{counts}");
    assert_eq!(counts["rejected"], 0, "{counts}");

    // Every photo the old release stored reached the server byte for byte.
    let photos = fixtures()
        .join("upgrade")
        .join("v1")
        .join("home")
        .join("data")
        .join("photos");
    let mut n = 0;
    for entry in std::fs::read_dir(photos).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_file() {
            continue;
        }
        let name = entry.file_name().into_string().unwrap();
        let sha = name.split('.').next().unwrap().to_string();
        let bytes = rt.block_on(admin_bytes(&url, &format!("/admin/v1/photos/{sha}")));
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);
        n += 1;
    }
    assert_eq!(n, 3);
}

/// The release before patrol records synced (`fixtures/upgrade/v4/home`: schema v4, an
/// encrypted store holding a patrol session of 4 events and 700 fixes in 2 blocks that never
/// entered the outbox, with a check-in, a visit and a report with a photo, all pending) is
/// opened by this build: migration 5 and the first sync's seal put the session into the
/// outbox, and everything reaches the server once; the server's day has the 700 fixes.
#[test]
fn a_store_from_the_release_before_track_sync_sends_its_patrol_once() {
    let r0 = release("v4");
    let (srv, home) = (&r0.srv, r0.home.clone());
    let key = path_str(&fixtures().join("upgrade").join("v4").join("key.hex"));
    let k = ["--key-file", key.as_str()];

    let shown = gw(&[
        &[
            "--home",
            &home,
            "--json",
            "track",
            "show",
            "--day",
            "2024-11-12",
        ],
        &k[..],
    ]
    .concat());
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let distance = shown.json()["distance_m"].as_f64().unwrap();

    let r = gw(&[&["--home", &home, "--json", "sync"], &k[..]].concat());
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    // A check-in, a visit, a report, 4 patrol events and 2 track blocks.
    assert_eq!(r.json()["sync"]["pushed"], 9, "{}", r.stdout);
    let again = gw(&[&["--home", &home, "--json", "sync"], &k[..]].concat());
    assert_eq!(again.json()["sync"]["pushed"], 0, "{}", again.stdout);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = srv.url();
    let counts = rt.block_on(admin_get(&url, "/admin/v1/records"));
    for (kind, n) in [
        ("checkin", 1),
        ("visit", 1),
        ("report", 1),
        ("patrol_event", 4),
        ("track_block", 2),
    ] {
        assert_eq!(counts["counts"][kind], n, "{kind}: {counts}");
    }
    assert_eq!(counts["chain_breaks"], 0, "{counts}");
    assert_eq!(counts["rejected"], 0, "{counts}");
    let day = rt.block_on(admin_get(
        &url,
        "/admin/v1/tracks?worker=w-0001&day=2024-11-12",
    ));
    assert_eq!(day["fixes"], 700, "{day}");
    assert_eq!(day["events"].as_array().unwrap().len(), 4, "{day}");
    let theirs = day["summary"]["distance_m"].as_f64().unwrap();
    // The CLI prints whole metres.
    assert!((theirs - distance).abs() < 1.0, "{theirs} vs {distance}");
}

/// The release before residents (`fixtures/upgrade/v5/home`: schema v5, encrypted, made by
/// commit 2b3c95e: a patrol of 400 fixes, a check-in, a visit and a report with a photo, all
/// pending) is opened by this build: migration 6 adds the residents' tables, the first sync
/// sends everything once and, meeting a protocol 4 server, pulls from scratch once so the
/// grid's residents arrive; an edit made after the upgrade syncs like any record.
#[test]
fn a_store_from_the_release_before_residents_syncs_once_and_gets_its_residents() {
    let r0 = release("v5");
    let (srv, home) = (&r0.srv, r0.home.clone());
    let key = path_str(&fixtures().join("upgrade").join("v5").join("key.hex"));
    let k = ["--key-file", key.as_str()];
    let run = |args: &[&str]| gw(&[&["--home", home.as_str(), "--json"], args, &k[..]].concat());

    // Before any sync the household is known (reference data) but has no residents yet.
    let shown = run(&["household", "show", "h-000002"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(shown.json()["residents"], serde_json::json!([]));

    let r = run(&["sync"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    // A check-in, a visit, a report, 2 patrol events and 1 track block.
    assert_eq!(r.json()["sync"]["pushed"], 6, "{}", r.stdout);
    let shown = run(&["household", "show", "h-000002"]).json();
    let head = shown["residents"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(shown["residents"][0]["masked"], true);

    let r = run(&["resident", "update", &head, "--phone", "13900007777"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&["sync"]);
    assert_eq!(r.json()["sync"]["pushed"], 1, "{}", r.stdout);
    let again = run(&["sync"]);
    assert_eq!(again.json()["sync"]["pushed"], 0, "{}", again.stdout);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = srv.url();
    let counts = rt.block_on(admin_get(&url, "/admin/v1/records"));
    for (kind, n) in [
        ("checkin", 1),
        ("visit", 1),
        ("report", 1),
        ("patrol_event", 2),
        ("track_block", 1),
        ("resident_update", 1),
    ] {
        assert_eq!(counts["counts"][kind], n, "{kind}: {counts}");
    }
    assert_eq!(counts["chain_breaks"], 0, "{counts}");
    assert_eq!(counts["rejected"], 0, "{counts}");
    let resident = rt.block_on(admin_get(&url, &format!("/admin/v1/residents/{head}")));
    assert_eq!(resident["resident"]["phone"], "13900007777", "{resident}");
    assert_eq!(resident["resident"]["version"], 2, "{resident}");
}
