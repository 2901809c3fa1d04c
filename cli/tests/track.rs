//! `gridworker patrol` and `gridworker track` (issue 13, item 8): a session, a CSV and a GPX
//! walk added, the day's summary with the documented fields, refusals off patrol and for a
//! bad line.

mod support;

use support::{gw, path_str, seeded_home};

const P1: (f64, f64) = (45.2964577, 130.9429715);
const DAY: &str = "2026-11-23";

/// A walk east from p-00001 at 1.4 m/s, one fix a second, as CSV (WGS-84).
fn csv(seconds: i64, start: i64) -> String {
    let mut s = String::from("time,lat,lon,accuracy,mock\n");
    for i in start..start + seconds {
        let east = 1.4 * i as f64 + ((i * 13) % 7) as f64 - 3.0;
        let lon = P1.1 + east / (111_195.0 * P1.0.to_radians().cos());
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-23T01:00:00Z").unwrap()
            + chrono::Duration::seconds(i);
        s.push_str(&format!("{},{},{lon:.7},6,0\n", t.to_rfc3339(), P1.0));
    }
    s
}

#[test]
fn a_patrol_with_a_csv_and_a_gpx_walk_sums_up_with_the_documented_fields() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    let file = dir.path().join("walk.csv");
    std::fs::write(&file, csv(600, 0)).unwrap();
    // Off duty: refused, exit 2.
    gw(&["--home", &home, "--json", "track", "add", &path_str(&file)])
        .assert_error(2, Some("invalid_input"));
    let r = gw(&[
        "--home",
        &home,
        "--json",
        "patrol",
        "start",
        "--at",
        "2026-11-23T00:59:00Z",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["state"], "on_patrol");
    let r = gw(&["--home", &home, "--json", "track", "add", &path_str(&file)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["added"], 600);
    // Then ten minutes more as GPX.
    let mut gpx = String::from(
        r#"<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>"#,
    );
    for line in csv(600, 600).lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        gpx.push_str(&format!(
            r#"<trkpt lat="{}" lon="{}"><time>{}</time><hdop>1.2</hdop></trkpt>"#,
            c[1], c[2], c[0]
        ));
    }
    gpx.push_str("</trkseg></trk></gpx>");
    let gpx_file = dir.path().join("walk.gpx");
    std::fs::write(&gpx_file, gpx).unwrap();
    let r = gw(&[
        "--home",
        &home,
        "--json",
        "track",
        "add",
        &path_str(&gpx_file),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = gw(&["--home", &home, "--json", "track", "show", "--day", DAY]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    for k in [
        "distance_m",
        "patrol_s",
        "in_grid_s",
        "coverage",
        "gaps",
        "points_passed",
        "flags",
    ] {
        assert!(v.get(k).is_some(), "{k} missing: {v}");
    }
    let d = v["distance_m"].as_f64().unwrap();
    assert!((d / (1.4 * 1199.0) - 1.0).abs() < 0.1, "{v}");
    assert_eq!(v["points_passed"][0]["point"], "p-00001", "{v}");
    let r = gw(&["--home", &home, "--json", "patrol", "stop"]);
    assert_eq!(r.json()["state"], "off_duty");
}

#[test]
fn a_bad_line_is_named_and_nothing_is_added() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    gw(&["--home", &home, "patrol", "start"]);
    let file = dir.path().join("bad.csv");
    let mut text = csv(20, 0);
    text.push_str("2026-11-23T01:00:30Z,95.0,130.9,6,0\n");
    std::fs::write(&file, text).unwrap();
    let r = gw(&["--home", &home, "--json", "track", "add", &path_str(&file)]);
    r.assert_error(2, Some("invalid_input"));
    assert!(r.stdout.contains("fixes[20]"), "{}", r.stdout);
    let r = gw(&["--home", &home, "--json", "track", "show", "--day", DAY]);
    assert_eq!(r.json()["distance_m"], 0.0, "{}", r.stdout);
    let missing = dir.path().join("no-time.csv");
    std::fs::write(&missing, "lat,lon,accuracy\n45,130,5\n").unwrap();
    gw(&["--home", &home, "track", "add", &path_str(&missing)]).assert_error(2, None);
}
