//! The CLI contract, offline: every command's output shape, exit codes and bad input, run
//! through the built binary on real device homes.

mod support;

use support::{closed_port, fixtures, gw, path_str, seeded_home};

/// p-00001 of the small district, WGS-84 (its GCJ-02 position converted).
const P1: (&str, &str) = ("45.2964577", "130.9429715");

fn checkin(home: &str, point: &str, lat: &str, lon: &str, extra: &[&str]) -> support::Run {
    let mut args = vec![
        "--home",
        home,
        "--json",
        "checkin",
        "--point",
        point,
        "--lat",
        lat,
        "--lon",
        lon,
        "--accuracy",
        "8",
    ];
    args.extend_from_slice(extra);
    gw(&args)
}

fn pending_checkins(home: &str) -> u64 {
    let r = gw(&["--home", home, "status", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json()["pending"]["checkins"].as_u64().unwrap_or(u64::MAX)
}

#[test]
fn init_is_offline_and_checks_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let home = path_str(dir.path());
    // A closed port: init must not care.
    let url = format!("http://127.0.0.1:{}", closed_port());
    let r = gw(&[
        "init", "--server", &url, "--worker", "w-0001", "--device", "d", "--json", "--home", &home,
    ]);
    r.assert_error(2, Some("invalid_input"));
    assert!(r.stderr.contains("--allow-http"));
    assert!(!dir.path().join("gridworker-cli.json").exists());

    let r = gw(&[
        "--json",
        "--home",
        &home,
        "init",
        "--server",
        &url,
        "--worker",
        "w-0001",
        "--device",
        "d",
        "--allow-http",
        "--token",
        "qa-token",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["worker"], "w-0001");
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("gridworker-cli.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["token"], "qa-token");
    assert_eq!(cfg["allow_http"], true);

    let r = gw(&[
        "--home", &home, "init", "--server", "ftp://x", "--worker", "w", "--device", "d",
    ]);
    r.assert_error(2, None);

    // The district zone by IANA id: an unknown one exits 2 and writes nothing; a known one is
    // kept for every later command.
    let zoned = tempfile::tempdir().unwrap();
    let zoned_home = path_str(zoned.path());
    let init_zone = |zone: &str| {
        gw(&[
            "--json",
            "--home",
            &zoned_home,
            "init",
            "--server",
            &url,
            "--worker",
            "w-0001",
            "--device",
            "d",
            "--allow-http",
            "--time-zone",
            zone,
        ])
    };
    init_zone("Europe/Berlin").assert_error(2, Some("invalid_input"));
    assert!(!zoned.path().join("gridworker-cli.json").exists());
    assert_eq!(init_zone("Asia/Shanghai").code, 0);
    let cfg: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(zoned.path().join("gridworker-cli.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["time_zone"], "Asia/Shanghai");
    assert_eq!(gw(&["--home", &zoned_home, "status", "--json"]).code, 0);

    // --home is a file: bad input, nothing written.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let r = gw(&[
        "--json",
        "--home",
        &path_str(&file),
        "init",
        "--server",
        "https://grid.example",
        "--worker",
        "w",
        "--device",
        "d",
    ]);
    r.assert_error(2, Some("invalid_input"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");

    // Seeding from a directory that is not a district.
    let r = gw(&[
        "--json",
        "--home",
        &home,
        "seed",
        "--district",
        &path_str(dir.path()),
    ]);
    r.assert_error(2, Some("invalid_input"));
    let r = gw(&[
        "--json",
        "--home",
        &home,
        "seed",
        "--district",
        "/no/such/district",
    ]);
    r.assert_error(2, Some("invalid_input"));
}

#[test]
fn commands_on_an_uninitialised_home_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let home = path_str(&dir.path().join("nothing-here"));
    let r = gw(&["--home", &home, "status", "--json"]);
    r.assert_error(2, Some("invalid_input"));
    assert!(r.stderr.contains("init"));
}

#[test]
fn checkin_outcomes_accepted_duplicate_flagged() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    let t0 = "2024-11-12T00:31:00Z";
    let r = checkin(&home, "p-00001", P1.0, P1.1, &["--at", t0]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["outcome"], "accepted");
    assert_eq!(j["flags"], serde_json::json!([]));
    assert!(j["distance_m"].as_f64().unwrap() < 1.0);
    let first_id = j["id"].as_str().unwrap().to_string();
    assert_eq!(j["recorded_at"], "2024-11-12T00:31:00Z");

    // Same point two minutes later: the first check-in comes back, nothing is written.
    let r = checkin(
        &home,
        "p-00001",
        P1.0,
        P1.1,
        &["--at", "2024-11-12T00:33:00Z"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["outcome"], "duplicate");
    assert_eq!(r.json()["id"], first_id.as_str());
    assert_eq!(pending_checkins(&home), 1);

    // A fake-GPS app: recorded, flagged.
    let r = checkin(
        &home,
        "p-00002",
        "45.2965618",
        "130.9430477",
        &["--mock", "--at", "2024-11-12T00:36:00Z"],
    );
    assert_eq!(r.json()["outcome"], "flagged");
    assert_eq!(r.json()["flags"], serde_json::json!(["mock_location"]));

    // Far from the point.
    let r = checkin(
        &home,
        "p-00003",
        P1.0,
        P1.1,
        &["--at", "2024-11-12T00:40:00Z"],
    );
    let j = r.json();
    if j["distance_m"].as_f64().unwrap() > 50.0 {
        assert_eq!(j["outcome"], "flagged");
        assert!(
            j["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "outside_radius")
        );
    }

    // Clock set 90 minutes behind: the GNSS fix looks like it is from the future.
    let r = checkin(
        &home,
        "p-00004",
        P1.0,
        P1.1,
        &["--at", "2024-11-12T01:00:00Z", "--clock-offset", "-5400"],
    );
    assert!(
        r.json()["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "clock_jump"),
        "{}",
        r.stdout
    );
    assert_eq!(pending_checkins(&home), 4);
}

#[test]
fn gcj02_fix_is_converted_before_the_radius_check() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    let conv = gw(&[
        "--json", "coords", "--from", "wgs84", "--to", "gcj02", P1.0, P1.1,
    ])
    .json();
    let (lat, lon) = (conv["lat"].to_string(), conv["lon"].to_string());
    let r = checkin(&home, "p-00001", &lat, &lon, &["--crs", "gcj02"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["outcome"], "accepted", "{}", r.stdout);
    // The same numbers taken as WGS-84 are hundreds of metres off.
    let r = checkin(&home, "p-00002", &lat, &lon, &[]);
    assert!(r.json()["distance_m"].as_f64().unwrap() > 100.0);
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    let r = checkin(&home, "p-nope", P1.0, P1.1, &[]);
    r.assert_error(2, Some("not_found"));
    let r = checkin(&home, "p-00001", "forty-five", P1.1, &[]);
    r.assert_error(2, Some("invalid_input"));
    let r = checkin(&home, "p-00001", "95.0", P1.1, &[]);
    r.assert_error(2, Some("invalid_input"));
    let r = checkin(&home, "p-00001", "NaN", P1.1, &[]);
    r.assert_error(2, Some("invalid_input"));
    let r = checkin(&home, "p-00001", P1.0, P1.1, &["--crs", "mars"]);
    r.assert_error(2, Some("invalid_input"));
    let r = checkin(&home, "p-00001", P1.0, P1.1, &["--at", "yesterday"]);
    r.assert_error(2, Some("invalid_input"));
    let r = checkin(&home, "p-00001", P1.0, P1.1, &["--bogus"]);
    r.assert_error(2, Some("invalid_input"));
    let r = gw(&["--home", &home, "--json", "checkin", "--point", "p-00001"]);
    r.assert_error(2, Some("invalid_input"));
    let r = gw(&["--home", &home, "--json", "fly"]);
    r.assert_error(2, Some("invalid_input"));
    // Without --json: one line on stderr, nothing on stdout.
    let r = gw(&[
        "--home", &home, "checkin", "--point", "p-00001", "--lat", "x",
    ]);
    r.assert_error(2, None);
    assert!(r.stdout.is_empty());

    let photo = fixtures().join("photos").join("manhole-leak.jpg");
    let base = [
        "--home",
        &home,
        "--json",
        "report",
        "--category",
        "leaking_manhole",
        "--text",
        "t",
        "--lat",
        P1.0,
        "--lon",
        P1.1,
        "--accuracy",
        "5",
    ];
    let mut args = base.to_vec();
    args.extend_from_slice(&["--photo", "/definitely/not/here.jpg"]);
    gw(&args).assert_error(2, Some("invalid_input"));
    let not_image = path_str(&fixtures().join("photos").join("not-an-image.jpg"));
    let mut args = base.to_vec();
    args.extend_from_slice(&["--photo", &not_image]);
    gw(&args).assert_error(2, Some("invalid_input"));
    gw(&base).assert_error(2, Some("invalid_input"));

    let r = gw(&[
        "--home",
        &home,
        "--json",
        "visit",
        "--household",
        "h-000002",
        "--kind",
        "party",
        "--lat",
        P1.0,
        "--lon",
        P1.1,
        "--accuracy",
        "5",
    ]);
    r.assert_error(2, Some("invalid_input"));
    let r = gw(&[
        "--home",
        &home,
        "--json",
        "visit",
        "--household",
        "h-nope",
        "--lat",
        P1.0,
        "--lon",
        P1.1,
        "--accuracy",
        "5",
    ]);
    r.assert_error(2, Some("not_found"));

    let status = gw(&["--home", &home, "status", "--json"]).json();
    for k in ["checkins", "visits", "reports", "photos"] {
        assert_eq!(status["pending"][k], 0, "{k}: {status}");
    }
    assert!(path_str(&photo).ends_with(".jpg"));
}

#[test]
fn visit_and_report_with_duplicate_hint() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    let r = gw(&[
        "--home",
        &home,
        "visit",
        "--household",
        "h-000002",
        "--kind",
        "care_visit",
        "--note",
        "独居老人",
        "--lat",
        "45.2966297",
        "--lon",
        "130.9429038",
        "--accuracy",
        "20",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["kind"], "care_visit");
    assert_eq!(j["flags"], serde_json::json!([]));
    assert!(!r.stdout.contains("独居老人"), "notes are personal data");

    let photo = path_str(&fixtures().join("photos").join("dumped-waste.jpg"));
    let photo2 = path_str(&fixtures().join("photos").join("dumped-waste-2.jpg"));
    let report = |extra: &[&str]| {
        let mut a = vec![
            "--home",
            &home,
            "--json",
            "report",
            "--category",
            "dumped_waste",
            "--text",
            "装修垃圾",
            "--photo",
            &photo,
            "--lat",
            P1.0,
            "--lon",
            P1.1,
            "--accuracy",
            "6",
        ];
        a.extend_from_slice(extra);
        gw(&a)
    };
    let first = report(&["--photo", &photo2]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let j = first.json();
    assert_eq!(j["photos"], 2);
    assert_eq!(j["status"], "queued");
    // The photos' EXIF (fixtures/photos/make_photos.py: taken 2024-11-12 09:57 Beijing time,
    // with GPS) is kept as evidence; taken two years before the report, they flag it.
    let p0 = &j["photo_details"][0];
    assert_eq!(p0["exif_time"], "2024-11-12T01:57:40Z", "{j}");
    assert!(p0["exif_position"]["lat"].as_f64().is_some(), "{j}");
    assert!(
        p0["original_size"].as_u64() > p0["size"].as_u64(),
        "metadata stripped: {j}"
    );
    assert!(
        j["flags"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("photo_too_old")),
        "{j}"
    );
    assert_eq!(j["duplicate_candidates"], serde_json::json!([]));
    let second = report(&[]).json();
    assert_eq!(second["duplicate_candidates"][0]["id"], j["id"]);

    let s = gw(&["--home", &home, "status", "--json"]).json();
    assert_eq!(s["pending"]["visits"], 1);
    assert_eq!(s["pending"]["reports"], 2);
    assert_eq!(s["pending"]["photos"], 2, "same photo stored once: {s}");
    assert!(s["last_sync"].is_null());
    for k in ["pending", "synced", "rejected"] {
        for kind in ["checkins", "visits", "reports", "photos", "tasks"] {
            assert!(s[k][kind].is_u64(), "{k}.{kind}: {s}");
        }
    }
    assert!(s.get("clock_offset_ms").is_some());

    let l = gw(&["--home", &home, "list", "reports", "--json"]).json();
    assert_eq!(l["reports"].as_array().unwrap().len(), 2);
    assert_eq!(l["reports"][0]["sync"]["state"], "pending");
    let l = gw(&["list", "visits", "--json", "--home", &home]).json();
    assert_eq!(l["visits"][0]["household"], "h-000002");
    let l = gw(&["--home", &home, "list", "tasks", "--json"]).json();
    assert_eq!(l["tasks"], serde_json::json!([]));
    gw(&["--home", &home, "--json", "list", "parcels"]).assert_error(2, Some("invalid_input"));
}

#[test]
fn progress_nearby_coords() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    checkin(
        &home,
        "p-00001",
        P1.0,
        P1.1,
        &["--at", "2024-11-12T00:31:00Z"],
    );
    let p = gw(&["--home", &home, "--json", "progress", "--day", "2024-11-12"]).json();
    assert_eq!(p["checked_accepted"], 1);
    assert_eq!(p["points_due"], 10);
    assert_eq!(p["missed"], 9);
    let w = gw(&["--home", &home, "--json", "progress", "--week", "2024-W46"]).json();
    assert_eq!(w["from_day"], "2024-11-11");
    assert_eq!(w["checked_accepted"], 1);
    gw(&["--home", &home, "--json", "progress", "--week", "2024-46"])
        .assert_error(2, Some("invalid_input"));
    gw(&["--home", &home, "--json", "progress", "--day", "12/11/2024"])
        .assert_error(2, Some("invalid_input"));

    let n = gw(&[
        "--home", &home, "--json", "nearby", "--lat", P1.0, "--lon", P1.1, "--limit", "3",
    ])
    .json();
    let pts = n["points"].as_array().unwrap();
    assert_eq!(pts.len(), 3);
    assert_eq!(pts[0]["id"], "p-00001");
    for p in pts {
        for k in ["id", "name", "lat", "lon", "distance_m"] {
            assert!(p.get(k).is_some(), "{k} in {p}");
        }
    }
    assert!(pts[0]["distance_m"].as_f64().unwrap() <= pts[1]["distance_m"].as_f64().unwrap());
    gw(&[
        "--home", &home, "--json", "nearby", "--lat", "45", "--lon", "200",
    ])
    .assert_error(2, Some("invalid_input"));

    let c = gw(&[
        "--json", "coords", "--from", "wgs84", "--to", "bd09", "45.3", "130.9",
    ])
    .json();
    let back = gw(&[
        "--json",
        "coords",
        "--from",
        "bd09",
        "--to",
        "wgs84",
        &c["lat"].to_string(),
        &c["lon"].to_string(),
    ])
    .json();
    assert!((back["lat"].as_f64().unwrap() - 45.3).abs() < 1e-6);
    assert!((back["lon"].as_f64().unwrap() - 130.9).abs() < 1e-6);
    // Off by hundreds of metres, as the field notes say.
    assert!((c["lon"].as_f64().unwrap() - 130.9).abs() > 0.001);
    gw(&[
        "--json", "coords", "--from", "wgs84", "--to", "utm", "1", "2",
    ])
    .assert_error(2, Some("invalid_input"));
    gw(&[
        "--json", "coords", "--from", "wgs84", "--to", "gcj02", "-91", "2",
    ])
    .assert_error(2, Some("invalid_input"));
}

#[test]
fn map_is_valid_svg_with_the_days_records() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    checkin(
        &home,
        "p-00001",
        P1.0,
        P1.1,
        &["--at", "2024-11-12T00:31:00Z"],
    );
    checkin(
        &home,
        "p-00002",
        "45.2965618",
        "130.9430477",
        &["--mock", "--at", "2024-11-12T00:36:00Z"],
    );
    let out = dir.path().join("day.svg");
    let r = gw(&[
        "--home",
        &home,
        "--json",
        "map",
        "--day",
        "2024-11-12",
        "--out",
        &path_str(&out),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["points"]["checked"], 1);
    assert_eq!(j["points"]["flagged"], 1);
    assert_eq!(j["points"]["missed"], 8);
    let text = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let count = |id: &str, tag: &str| {
        doc.descendants()
            .find(|n| n.attribute("id") == Some(id))
            .map(|g| {
                g.descendants()
                    .filter(|n| n.tag_name().name() == tag)
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(count("grids", "polygon"), 20);
    assert_eq!(count("points", "circle"), 10);
    assert!(
        doc.descendants()
            .any(|n| n.attribute("id") == Some("route"))
    );
    assert!(
        doc.descendants()
            .any(|n| n.attribute("id") == Some("legend"))
    );
    assert!(text.contains("2024-11-12"));

    gw(&[
        "--home",
        &home,
        "--json",
        "map",
        "--out",
        "/no/such/dir/x.svg",
    ])
    .assert_error(2, Some("invalid_input"));
}

#[test]
fn sync_to_an_unreachable_server_exits_3_and_keeps_work_queued() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    checkin(&home, "p-00001", P1.0, P1.1, &[]);
    let r = gw(&["--home", &home, "--json", "sync"]);
    r.assert_error(3, Some("network"));
    let r = gw(&["--home", &home, "sync", "--network", "none"]);
    r.assert_error(3, None);
    assert!(r.stdout.is_empty(), "no progress bar when not a TTY");
    assert_eq!(pending_checkins(&home), 1);
}

#[test]
fn scenario_and_demo_bad_input() {
    let r = gw(&["--json", "scenario", "/no/such/scenario.json"]);
    r.assert_error(2, Some("invalid_input"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{ not json").unwrap();
    gw(&["--json", "scenario", &path_str(&bad)]).assert_error(2, Some("invalid_input"));
    gw(&["--json", "demo", "--fixtures", &path_str(dir.path())])
        .assert_error(2, Some("invalid_input"));
    // An unreachable server: the scenario's first sync fails as a network error.
    let scn = fixtures().join("scenarios").join("clock-and-mock.json");
    let url = format!("http://127.0.0.1:{}", closed_port());
    gw(&["--json", "scenario", &path_str(&scn), "--server", &url]).assert_error(3, Some("network"));
}
