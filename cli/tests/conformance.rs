//! `gridworker conformance` against the reference server on 127.0.0.1: every check passes
//! (the second worker and the admin token enable them all), twice in a row against the same
//! server, and a server that breaks a rule fails its check with exit 1.

mod support;

use gridworker_server::{ServerConfig, spawn_in_thread};
use support::{fixtures, gw};

fn server(
    dir: &std::path::Path,
    change: impl FnOnce(&mut ServerConfig),
) -> gridworker_server::ServerHandle {
    let mut cfg = ServerConfig::new(dir)
        .fixtures(fixtures().join("district-small"))
        .token("w-0001", "tok-w1")
        .token("w-0002", "tok-w2");
    cfg.admin_token = "adm".into();
    change(&mut cfg);
    spawn_in_thread(cfg).unwrap()
}

#[test]
fn the_reference_server_passes_every_conformance_check_and_again() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), |_| {});
    for round in 1..=2 {
        let r = gw(&[
            "--json",
            "conformance",
            "--server",
            &srv.url(),
            "--token-for",
            "w-0001=tok-w1",
            "--token-for",
            "w-0002=tok-w2",
            "--admin-token",
            "adm",
            "--allow-http",
        ]);
        assert_eq!(r.code, 0, "round {round}: {}\n{}", r.stdout, r.stderr);
        let v = r.json();
        assert_eq!(v["failed"], 0, "round {round}: {v}");
        assert_eq!(v["skipped"], 0, "round {round}: {v}");
        let checks = v["checks"].as_array().unwrap();
        assert!(checks.len() >= 9, "{v}");
        assert!(checks.iter().all(|c| c["result"] == "pass"), "{v}");
    }
}

#[test]
fn without_a_second_worker_the_task_check_is_skipped_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), |_| {});
    let r = gw(&[
        "conformance",
        "--server",
        &srv.url(),
        "--token-for",
        "w-0001=tok-w1",
        "--allow-http",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("task_not_assigned") && r.stdout.contains("skipped"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_server_that_breaks_the_protocol_fails_its_check_with_exit_1() {
    // A server whose minimum protocol is above ours answers 426 to everything.
    let dir = tempfile::tempdir().unwrap();
    let srv = server(dir.path(), |c| {
        c.min_protocol = gridworker_core::sync::wire::PROTOCOL + 1
    });
    let r = gw(&[
        "--json",
        "conformance",
        "--server",
        &srv.url(),
        "--token-for",
        "w-0001=tok-w1",
        "--allow-http",
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let v = r.json();
    assert!(v["failed"].as_u64().unwrap() >= 1, "{v}");
    let handshake = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "handshake")
        .unwrap();
    assert_eq!(handshake["result"], "fail", "{v}");
}
