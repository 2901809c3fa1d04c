//! The `gridworker-server` binary: prints its address, seeds once, keeps data across
//! restarts, refuses bad arguments.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;

fn launch(data: &std::path::Path) -> (ServerChild, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gridworker-server"));
    cmd.arg("--data")
        .arg(data)
        .args(["--listen", "127.0.0.1:0", "--fixtures"])
        .arg(fixtures())
        .args(["--token", "w-0001:tok-1", "--admin-token", ADMIN])
        .stderr(Stdio::null());
    launch_binary(cmd)
}

#[tokio::test]
async fn binary_listens_seeds_once_and_keeps_data_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = launch(dir.path());
    let c = Client::new(&url, T1, "dev-b");
    let mut d = Device::new("dev-b", W1);
    let batch = vec![d.checkin("p-00001"), d.visit("h-000001")];
    let r = c.push(&batch).await;
    assert_eq!(status_of(&r, 0), "applied");
    let (first, _) = c.pull_all(None, 5000).await;
    child.kill().expect("stops");
    let _ = child.wait();

    let (mut child, url) = launch(dir.path());
    let c = Client::new(&url, T1, "dev-b");
    let r = c.push(&batch).await;
    assert_eq!(status_of(&r, 0), "already_applied");
    assert_eq!(count(&url, "checkin").await, 1);
    // Not seeded twice: the same feed.
    let (second, _) = c.pull_all(None, 5000).await;
    assert_eq!(first.len(), second.len());
    child.kill().expect("stops");
    let _ = child.wait();
}

#[test]
fn binary_refuses_a_malformed_token_argument() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gridworker-server"))
        .arg("--data")
        .arg(dir.path())
        .args(["--token", "no-colon", "--admin-token", "a"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WORKER_ID:TOKEN"));
}

#[tokio::test]
async fn defect8_logs_one_line_per_request_to_stderr_without_tokens_or_payload_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridworker-server"))
        .arg("--data")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--fixtures"])
        .arg(fixtures())
        .args([
            "--token",
            "w-0001:tok-1",
            "--admin-token",
            ADMIN,
            "--log",
            "debug",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let url = line.trim().trim_start_matches("listening on ").to_string();
    let c = Client::new(&url, T1, "dev-log");
    let (s, _) = c
        .get_json(gridworker_core::sync::wire::PATH_HANDSHAKE)
        .await;
    assert_eq!(s, reqwest::StatusCode::OK);
    let mut d = Device::new("dev-log", W1);
    let mut p = d.checkin_json("p-00001");
    p["distance_m"] = serde_json::json!("李四 220102199003071234");
    let id = p["id"].as_str().unwrap().to_string();
    let r = c.push(&[d.mutation("checkin", &id, p.to_string())]).await;
    assert_eq!(reason_of(&r, 0), "invalid_payload");
    let (s, _) = c.get_json("/v1/nothing").await;
    assert_eq!(s, reqwest::StatusCode::NOT_FOUND);
    // Give the logger a moment, then stop the server and read everything it wrote.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    child.kill().expect("stops");
    let out = child.wait_with_output().expect("output");
    let log = String::from_utf8_lossy(&out.stderr);
    let requests = log
        .lines()
        .filter(|l| l.contains("finished processing request"))
        .count();
    assert_eq!(requests, 3, "one line per request:\n{log}");
    assert!(log.contains("/v1/handshake"), "{log}");
    assert!(
        log.contains("max_connections"),
        "start-up line with the limits:\n{log}"
    );
    assert!(!log.contains(T1), "the token leaked:\n{log}");
    assert!(
        !log.contains("李四") && !log.contains("220102"),
        "payload leaked:\n{log}"
    );
}
