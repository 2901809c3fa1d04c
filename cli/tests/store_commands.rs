//! `recover`, `wipe` and output to a closed pipe (reliability issue 8, defects 4, 9, 12).

mod support;

use std::process::{Command, Stdio};

use support::{gw, path_str, seeded_home};

#[test]
fn defect4_damaged_store_exits_1_naming_recover_then_recover_prints_counts() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    // The database is emptied behind the core's back (the sidecar says a store existed).
    std::fs::write(dir.path().join("data/gridworker.db"), b"").unwrap();
    for _ in 0..2 {
        let r = gw(&["--home", &home, "--json", "status"]);
        r.assert_error(1, Some("internal"));
        assert!(r.stderr.contains("gridworker recover"), "{}", r.stderr);
    }
    let r = gw(&["--home", &home, "--json", "recover"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(
        (j["recovered"].as_u64(), j["lost"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(j["kept_at"].is_string(), "{j}");
    let r = gw(&["--home", &home, "recover"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("healthy"), "{}", r.stdout);
    assert_eq!(gw(&["--home", &home, "status"]).code, 0);
}

#[test]
fn defect9_wipe_needs_yes_and_leaves_nothing_of_the_core() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    let r = gw(&["--home", &home, "--json", "wipe"]);
    r.assert_error(2, Some("invalid_input"));
    assert!(dir.path().join("data/gridworker.db").exists());
    let r = gw(&["--home", &home, "wipe", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let left: Vec<_> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn defect12_closed_stdout_is_a_quiet_exit_0() {
    let dir = seeded_home("w-0001");
    let home = path_str(dir.path());
    for args in [
        vec!["--home", home.as_str(), "--json", "list", "checkins"],
        vec!["--home", home.as_str(), "status"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gridworker"))
            .args(&args)
            .env_remove("GRIDWORKER_HOME")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command writes (`| head` after its lines).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
