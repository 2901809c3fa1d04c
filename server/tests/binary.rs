//! The `gridworker-server` binary: prints its address, seeds once, keeps data across
//! restarts, refuses bad arguments.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;

fn launch(data: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridworker-server"))
        .arg("--data")
        .arg(data)
        .args(["--listen", "127.0.0.1:0", "--fixtures"])
        .arg(fixtures())
        .args(["--token", "w-0001:tok-1", "--admin-token", ADMIN])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reads the first line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (child, url)
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
