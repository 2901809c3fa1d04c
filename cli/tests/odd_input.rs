//! The CLI's documented contract against odd input: exit 2 `invalid_input` (never a panic),
//! and nothing written when a command is refused.

mod support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use support::{Run, closed_port, fixtures, gw, gw_with_key_env, path_str, seeded_home};

/// Runs the binary with raw (possibly non-UTF-8) arguments.
fn gw_os(args: &[&OsStr]) -> Run {
    Command::new(env!("CARGO_BIN_EXE_gridworker"))
        .args(args)
        .env_remove("GRIDWORKER_HOME")
        .env_remove("GRIDWORKER_KEY")
        .output()
        .map(Run::from)
        .unwrap_or_else(|e| panic!("running gridworker: {e}"))
}

/// A huge `--clock-offset` is a malformed value: exit 2 `invalid_input`, not a panic.
#[test]
fn checkin_with_a_huge_clock_offset_is_invalid_input_not_a_panic() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    let r = gw(&[
        "--home",
        &home,
        "--json",
        "checkin",
        "--point",
        "p-00001",
        "--lat",
        "45.2964577",
        "--lon",
        "130.9429715",
        "--accuracy",
        "5",
        "--clock-offset",
        "9223372036854775807",
    ]);
    r.assert_error(2, Some("invalid_input"));
}

/// Any parse error while a non-UTF-8 argument is on the command line: exit 2 with the
/// documented error, not a panic in `std::env::args()`.
#[test]
fn a_parse_error_next_to_a_non_utf8_argument_is_invalid_input_not_a_panic() {
    let bad = OsStr::from_bytes(b"\xffhome");
    let r = gw_os(&[
        OsStr::new("--home"),
        bad,
        OsStr::new("--json"),
        OsStr::new("no-such-command"),
    ]);
    r.assert_error(2, Some("invalid_input"));
    // And a non-UTF-8 value for a text argument.
    let r = gw_os(&[
        OsStr::new("--json"),
        OsStr::new("household"),
        OsStr::new("search"),
        OsStr::from_bytes(b"\xff"),
    ]);
    r.assert_error(2, Some("invalid_input"));
}

/// A scenario file whose clock step is absurd is bad input (exit 2), not a panic.
#[test]
fn a_scenario_with_a_huge_clock_offset_is_invalid_input_not_a_panic() {
    let src = fixtures().join("scenarios").join("clock-and-mock.json");
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&src).unwrap()).unwrap();
    s["district"] = path_str(&fixtures().join("district-small")).into();
    let step = s["steps"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|st| st["action"] == "clock")
        .unwrap();
    step["offset_s"] = i64::MAX.into();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad-clock.json");
    std::fs::write(&file, s.to_string()).unwrap();
    let r = gw(&["--json", "scenario", &path_str(&file)]);
    r.assert_error(2, Some("invalid_input"));
}

/// `track add` of a file whose 601st fix is bad exits 2 and writes nothing: adding the first
/// 600 afterwards adds all of them (they were stored by the refused command, batch by batch).
#[test]
fn track_add_refused_for_a_bad_fix_writes_nothing() {
    const P1: (f64, f64) = (45.2964577, 130.9429715);
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    let r = gw(&[
        "--home",
        &home,
        "patrol",
        "start",
        "--at",
        "2026-11-23T00:59:00Z",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut good = String::from("time,lat,lon,accuracy\n");
    for i in 0..600i64 {
        let lon = P1.1 + 1.4 * i as f64 / (111_195.0 * P1.0.to_radians().cos());
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-23T01:00:00Z").unwrap()
            + chrono::Duration::seconds(i);
        good.push_str(&format!("{},{},{lon:.7},6\n", t.to_rfc3339(), P1.0));
    }
    // Fix 601: latitude out of range.
    let bad = format!("{good}2026-11-23T01:10:00+00:00,999,130.95,6\n");
    let bad_file = dir.path().join("bad.csv");
    std::fs::write(&bad_file, bad).unwrap();
    gw(&[
        "--home",
        &home,
        "--json",
        "track",
        "add",
        &path_str(&bad_file),
    ])
    .assert_error(2, Some("invalid_input"));
    // Nothing was written: the 600 good fixes are all new.
    let good_file = dir.path().join("good.csv");
    std::fs::write(&good_file, good).unwrap();
    let r = gw(&[
        "--home",
        &home,
        "--json",
        "track",
        "add",
        &path_str(&good_file),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.json()["added"],
        600,
        "the refused `track add` had already stored its first batch"
    );
}

/// `init` refused for a bad time zone exits 2 and creates no directory (it created the home
/// directory and its parents).
#[test]
fn init_refused_for_a_bad_time_zone_creates_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("a").join("home");
    gw(&[
        "--home",
        &path_str(&home),
        "--json",
        "init",
        "--server",
        "http://127.0.0.1:1",
        "--allow-http",
        "--worker",
        "w-0001",
        "--device",
        "d1",
        "--time-zone",
        "Mars/Olympus",
    ])
    .assert_error(2, Some("invalid_input"));
    assert!(
        !dir.path().join("a").exists(),
        "a refused init left {} behind",
        home.display()
    );
}

/// `demo --out` naming an existing file is bad input (exit 2 `invalid_input`), not an
/// internal error (exit 1).
#[test]
fn demo_out_on_a_file_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    gw(&["--json", "demo", "--out", &path_str(&file)]).assert_error(2, Some("invalid_input"));
}

/// A hand-edited config of the wrong shape is refused without quoting its values (serde's
/// message quoted them: a token pasted into the wrong field, here).
#[test]
fn a_config_of_the_wrong_shape_is_refused_without_quoting_its_values() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    let path = dir.path().join("gridworker-cli.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cfg["utc_offset_minutes"] = serde_json::json!("secret-token-9f83b1");
    std::fs::write(&path, cfg.to_string()).unwrap();
    let r = gw(&["--home", &home, "--json", "status"]);
    r.assert_error(2, Some("invalid_input"));
    assert!(!r.stdout.contains("secret-token-9f83b1"), "{}", r.stdout);
    assert!(!r.stderr.contains("secret-token-9f83b1"), "{}", r.stderr);
}

/// `GRIDWORKER_KEY=` (an unset variable expanded in a script) is a mistake, not "no key":
/// `init` exits 2 naming the variable and creates nothing, where it used to make a plain
/// store with only a warning.
#[test]
fn init_with_an_empty_or_blank_key_variable_is_refused_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = format!("http://127.0.0.1:{}", closed_port());
    for value in ["", "  \t "] {
        let home = dir.path().join("device");
        let home_s = path_str(&home);
        let args = [
            "--home",
            home_s.as_str(),
            "--json",
            "init",
            "--server",
            server.as_str(),
            "--worker",
            "w-0001",
            "--device",
            "dev-test",
            "--allow-http",
        ];
        let r = gw_with_key_env(&args, Some(value));
        r.assert_error(2, Some("invalid_input"));
        let message = r.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(message.contains("GRIDWORKER_KEY"), "{message}");
        assert!(!home.exists(), "{value:?}: init created {home_s}");
    }
}
