//! SIGKILL of the client at each protocol step, then a restart on the same store: nothing
//! lost, nothing twice. Needs the child example: run with
//! `cargo test -p gridworker-core --features failpoints --test sync_kill`.
#![cfg(feature = "failpoints")]

mod support;
mod sync_support;

use std::path::PathBuf;
use std::process::Command;

use sync_support::{Device, TestServer, Tokens, assert_all_synced_once, fast_options};

fn child_exe() -> PathBuf {
    // `cargo test --test sync_kill` does not build examples by itself.
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let ok = Command::new(env!("CARGO"))
            .args(["build", "-p", "gridworker-core", "--features", "failpoints"])
            .args(["--example", "sync_child"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "building the child example failed");
    });
    // target/debug/deps/sync_kill-… → target/debug/examples/sync_child
    let mut p = std::env::current_exe().unwrap();
    p.pop();
    p.pop();
    p.join("examples").join("sync_child")
}

async fn kill_at(point: &str) {
    let server = TestServer::start(&["tok"]).await;
    let mut dev = Device::new(&server.url);
    dev.check_ins(4);
    dev.visit();
    dev.report(2, 300_000, 5);
    if point == "pull_apply_started" {
        let mut st = server.state.lock().unwrap();
        for i in 0..50 {
            st.changes
                .push(gridworker_core::sync::wire::Change::HouseholdDelete {
                    id: format!("H-gone-{i}"),
                });
        }
    }
    let dir = dev.dir.path().to_path_buf();
    let url = server.url.clone();
    let point_s = point.to_string();
    let status = tokio::task::spawn_blocking(move || {
        Command::new(child_exe())
            .env("GW_DIR", &dir)
            .env("GW_URL", &url)
            .env("GRIDWORKER_FAILPOINT", &point_s)
            .status()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!status.success(), "child was not killed at {point}");
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{point}: {status:?}");
    }
    // The app starts again on the same store and syncs.
    dev.restart();
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    assert_all_synced_once(&dev, &server);
    let pending = dev.worker.sync_counts().unwrap();
    assert_eq!(pending.pending.photos, 0, "{point}");
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
    kill_at("pull_apply_started").await;
}
