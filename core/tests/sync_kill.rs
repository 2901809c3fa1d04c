//! SIGKILL of the client at each protocol step, against the real reference server (through
//! the fault proxy), then a restart on the same store: nothing lost, nothing twice. Needs the
//! child example: run with
//! `cargo test -p gridworker-core --features failpoints --test sync_kill`.
#![cfg(feature = "failpoints")]

mod support;
mod sync_support;

use std::path::PathBuf;
use std::process::Command;

use sync_support::{Device, RealServer, Tokens, assert_all_synced_once, fast_options};

fn child_exe() -> PathBuf {
    support::failpoint_example("sync_child")
}

/// Runs the child on `dev`'s store with `env`, expecting it to die of SIGKILL.
async fn run_child_killed(dev: &Device, server: &RealServer, point: &str, env: &[(&str, &str)]) {
    let mut cmd = Command::new(child_exe());
    cmd.env("GW_DIR", dev.dir.path())
        .env("GW_URL", &server.url)
        .env("GRIDWORKER_FAILPOINT", point);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = tokio::task::spawn_blocking(move || cmd.status().unwrap())
        .await
        .unwrap();
    assert!(!status.success(), "child was not killed at {point}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{point}: {status:?}");
}

/// The app starts again on the same store, syncs, and the invariant holds; returns the
/// number of records checked.
async fn restart_and_check(mut dev: Device, server: &RealServer) -> usize {
    dev.restart();
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    assert_all_synced_once(&dev, server).await
}

async fn kill_at(point: &str) {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(4);
    dev.visit();
    dev.report(2, 300_000, 5);
    run_child_killed(&dev, &server, point, &[]).await;
    assert_eq!(restart_and_check(dev, &server).await, 6, "{point}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_right_after_recording_before_any_sync() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    run_child_killed(&dev, &server, "after_record", &[("GW_RECORD", "3")]).await;
    // The server never heard from the child.
    let (counts, _) = server.counts().await;
    assert_eq!(counts.values().sum::<u64>(), 0, "{counts:?}");
    // Three check-ins and a report were stored before the kill, and all of them arrive.
    assert_eq!(restart_and_check(dev, &server).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_photo_upload() {
    kill_at("photo_upload_half").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_server_committed_a_push_before_the_ack_was_stored() {
    kill_at("push_acked_before_store").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_apply_of_a_pull() {
    // The fixtures' reference data is the first pull: the kill lands mid-apply of it.
    kill_at("pull_apply_started").await;
}
