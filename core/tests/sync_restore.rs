//! Defect 10 (reliability issue #8): a server restored from an older backup, or wiped and
//! started afresh, against the real reference server on 127.0.0.1. The device must end with
//! every record on the server exactly once and an intact chain, in the very next run.

mod support;
mod sync_support;

use gridworker_testkit::dirs::{copy_dir, empty_dir};
use sync_support::{Device, RealServer, Tokens, assert_all_synced_once, blocking, fast_options};

async fn assert_chain_intact(dev: &Device, server: &RealServer) {
    let device = dev.worker.config().device_id.clone();
    let chain = server
        .admin_json(&format!("/admin/v1/chain?device={device}"))
        .await;
    assert_eq!(chain["intact"], true, "{chain}");
    assert_eq!(chain["head_seq"].as_i64(), Some(dev.outbox().len() as i64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect10_server_restored_from_backup_gets_every_record_back_once() {
    let server = std::sync::Arc::new(RealServer::start(&["tok"]));
    let dev = Device::new(&server.url);
    dev.check_ins(3);
    dev.report(1, 20_000, 3);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();

    // Yesterday's backup: a consistent copy of the stopped server's data directory.
    let backup = tempfile::tempdir().unwrap();
    let s = server.clone();
    let b = backup.path().to_path_buf();
    blocking(move || {
        s.stop();
        copy_dir(s.data.path(), &b);
        s.start_again();
    })
    .await;

    // Today's work reaches the server (and moves the pull cursor past the backup's feed).
    dev.check_ins(4);
    dev.visit();
    // A report with a photo too: its photo must still be on the phone to be sent again.
    let (_, shas) = dev.report(1, 20_000, 9);
    server
        .admin_send(
            reqwest::Method::POST,
            "/admin/v1/tasks",
            serde_json::json!({"worker_id": sync_support::WORKER, "title": "t", "description": "d"}),
        )
        .await;
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 6);
    assert_eq!(dev.pending(), 0);

    // The district restores yesterday's backup.
    let s = server.clone();
    let b = backup.path().to_path_buf();
    blocking(move || {
        s.stop();
        empty_dir(s.data.path());
        copy_dir(&b, s.data.path());
        s.start_again();
    })
    .await;

    // One run: the lost range is re-sent, the expired cursor re-pulled, nothing stuck.
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 6, "{r:?}");
    assert!(r.pulled_changes > 0, "{r:?}");
    assert!(r.quarantined.is_empty(), "{r:?}");
    assert_eq!(assert_all_synced_once(&dev, &server).await, 10);
    assert!(
        server.photo(&shas[0]).await.is_some(),
        "the photo was sent again"
    );
    assert_chain_intact(&dev, &server).await;

    // And the run after is a no-op: nothing is re-sent twice.
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.already_applied), (0, 0), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect10_wiped_server_with_a_new_id_syncs_in_the_same_run() {
    let server = std::sync::Arc::new(RealServer::start(&["tok"]));
    let dev = Device::new(&server.url);
    dev.check_ins(3);
    dev.visit();
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();

    // Reset: the data directory is wiped; the server starts afresh with a new server id.
    let s = server.clone();
    blocking(move || {
        s.stop();
        empty_dir(s.data.path());
        s.start_again();
    })
    .await;
    dev.check_ins(2);

    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 6, "{r:?}");
    // The fixtures' feed again, from scratch (no 410 left hanging).
    assert!(r.pulled_changes > 5, "{r:?}");
    assert_eq!(assert_all_synced_once(&dev, &server).await, 6);
    assert_chain_intact(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect10_synced_payloads_expire_after_the_retention_period_pending_ones_never() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(2);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    // Recorded the same day, still pending 31 days later (the phone stayed offline).
    dev.check_ins(1);
    dev.clock.advance(31 * 24 * 3600);
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 1, "{r:?}");
    let outbox = dev.outbox();
    assert_eq!((outbox[0].3.as_str(), outbox[1].3.as_str()), ("", ""));
    // The old pending entry kept its payload: the server accepted its hash.
    assert!(!outbox[2].3.is_empty());
    assert_eq!(outbox[2].4, "synced");
    let (counts, rejected) = server.counts().await;
    assert_eq!((counts.get("checkin").copied(), rejected), (Some(3), 0));
}
