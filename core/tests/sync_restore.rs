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
    // Records age by the earlier of the phone's and the server's clocks. The server's is the
    // real one, days ahead of the phone's test clock (2026-11-23), so the phone's counts:
    // a retention of a day, and two days passed on the phone.
    let options = gridworker_core::sync::SyncOptions {
        synced_retention: std::time::Duration::from_secs(24 * 3600),
        ..fast_options()
    };
    dev.check_ins(2);
    let engine = dev.engine(Tokens::fixed("tok"), options);
    engine.sync().await.unwrap();
    // Recorded the same day, still pending two days later (the phone stayed offline).
    dev.check_ins(1);
    dev.clock.advance(2 * 24 * 3600);
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

/// Stops the server, copies its data directory to `backup` (or, with `restore`, puts
/// `backup` in its place), and starts it again.
async fn with_server_stopped(
    server: &std::sync::Arc<RealServer>,
    backup: &std::path::Path,
    restore: bool,
) {
    let s = server.clone();
    let b = backup.to_path_buf();
    blocking(move || {
        s.stop();
        if restore {
            empty_dir(s.data.path());
            copy_dir(&b, s.data.path());
        } else {
            copy_dir(s.data.path(), &b);
        }
        s.start_again();
    })
    .await;
}

/// A phone clock set a year ahead by hand does not age synced entries: their payloads stay
/// for the retention period by the server's time (the earlier of the two clocks), so a
/// server restored from last night's backup gets the records back. (The cutoff was the
/// phone's wrong "now": every payload was emptied and the records lost.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_set_ahead_does_not_age_synced_records_before_a_restore() {
    let server = std::sync::Arc::new(RealServer::start(&["tok"]));
    let dev = Device::new(&server.url);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    // Last night's backup: nothing of this device yet.
    let backup = tempfile::tempdir().unwrap();
    with_server_stopped(&server, backup.path(), false).await;

    dev.check_ins(3);
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 3);
    // The worker sets the clock a year ahead by hand; a sync runs (nothing to push).
    dev.clock.advance(365 * 24 * 3600);
    engine.sync().await.unwrap();
    // The clock is put right; the district restores last night's backup.
    dev.clock.advance(-365 * 24 * 3600);
    with_server_stopped(&server, backup.path(), true).await;

    let r = engine.sync().await.unwrap();
    assert_eq!(
        r.pushed, 3,
        "the acknowledged records were not re-sent: {r:?}"
    );
    assert_eq!(assert_all_synced_once(&dev, &server).await, 3);
}

/// A withdrawal link the server had answered goes again after a restore from a backup
/// older than it: without it, the link after it showed as a chain break on the back
/// office's screen (only synced records went again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_link_goes_again_after_a_restore_from_before_it() {
    let server = std::sync::Arc::new(RealServer::start(&["tok"]));
    let dev = Device::new(&server.url);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    dev.check_ins(1);
    engine.sync().await.unwrap();
    let backup = tempfile::tempdir().unwrap();
    with_server_stopped(&server, backup.path(), false).await;
    // A run across the restart first, so the faults below meet the requests meant.
    engine.sync().await.unwrap();

    // A record refused by a proxy (413 for its push alone) is set aside; the worker
    // discards it, and its withdrawal link is answered.
    let visit = dev.visit();
    server.refuse_next_push_as_too_large();
    let r = engine.sync().await.unwrap();
    assert_eq!(r.quarantined.len(), 1, "{r:?}");
    dev.worker.discard_quarantined(&visit).unwrap();
    dev.check_ins(1);
    engine.sync().await.unwrap();
    assert_eq!(server.records("visit", "withdrawn").await.len(), 1);

    with_server_stopped(&server, backup.path(), true).await;
    engine.sync().await.unwrap();
    assert_eq!(
        server.records("visit", "withdrawn").await.len(),
        1,
        "the withdrawal link did not go again"
    );
    assert_chain_intact(&dev, &server).await;
}

/// A record that went after later ones (a report whose photos waited for Wi-Fi) and is not
/// in the backup the district restores goes again: the server's highest seq covers it, so
/// only the holes the handshake reports (`device_missing`) show the server lacks it. (Only
/// entries above the highest seq went again, and the report was lost.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_sent_after_later_ones_goes_again_after_a_restore_from_before_it() {
    let server = std::sync::Arc::new(RealServer::start(&["tok"]));
    let dev = Device::new(&server.url);
    dev.check_ins(1);
    let (report, shas) = dev.report(1, 20_000, 7);
    dev.check_ins(1);
    let engine = dev.engine(
        Tokens::fixed("tok"),
        gridworker_core::sync::SyncOptions {
            photos_wifi_only: true,
            ..fast_options()
        },
    );
    engine.set_network(gridworker_core::sync::NetworkKind::Cellular);
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.deferred), (2, 1), "{r:?}");
    // Last night's backup: the two check-ins, not the report (seq 2 of 3).
    let backup = tempfile::tempdir().unwrap();
    with_server_stopped(&server, backup.path(), false).await;
    engine.set_network(gridworker_core::sync::NetworkKind::Wifi);
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 1, "{r:?}");
    assert_eq!(dev.pending(), 0);

    with_server_stopped(&server, backup.path(), true).await;
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 1, "the report did not go again: {r:?}");
    assert!(r.quarantined.is_empty(), "{r:?}");
    assert_eq!(assert_all_synced_once(&dev, &server).await, 3);
    assert!(
        server.photo(&shas[0]).await.is_some(),
        "the report's photo {report} was sent again"
    );
    assert_chain_intact(&dev, &server).await;
    // The run after re-sends nothing: the server holds every seq now.
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.already_applied), (0, 0), "{r:?}");
}

/// A restore from a backup older than the retention period: the phone emptied the payloads
/// of the 2,050 records synced after the backup, so it cannot send them again. Their links
/// go alone (expired links), so the records it still holds, and every new one, are taken.
/// (The first record still held lay more than 2,000 seqs beyond the server's head: it was
/// refused as `seq_gap_too_large`, a final rejection, and so was every record after it: the
/// phone could never sync again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_from_before_the_retention_period_does_not_block_the_phone() {
    const LOST: usize = 2_050;
    let server = std::sync::Arc::new(RealServer::start(&["tok"]));
    let dev = Device::new(&server.url);
    let options = gridworker_core::sync::SyncOptions {
        synced_retention: std::time::Duration::from_secs(24 * 3600),
        ..fast_options()
    };
    let engine = dev.engine(Tokens::fixed("tok"), options);
    dev.check_ins(1);
    engine.sync().await.unwrap();
    // The backup the district will restore, a month before the disk fails.
    let backup = tempfile::tempdir().unwrap();
    with_server_stopped(&server, backup.path(), false).await;

    // A month of work after it (written as the outbox holds it: one transaction).
    dev.outbox_check_ins("ci", LOST);
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed as usize, LOST, "{r:?}");
    // Two days on, past the retention period: their payloads are emptied.
    dev.clock.advance(2 * 24 * 3600);
    let kept = dev.check_ins(3);
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 3, "{r:?}");
    assert_eq!(
        dev.outbox().iter().filter(|e| e.3.is_empty()).count(),
        LOST + 1,
        "the payloads synced before the retention period are emptied"
    );

    with_server_stopped(&server, backup.path(), true).await;
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.rejected), (3, 0), "{r:?}");
    assert_eq!(dev.pending(), 0);
    assert!(
        dev.outbox().iter().all(|e| e.4 == "synced"),
        "every entry is synced again, none rejected"
    );
    let held: Vec<String> = server
        .records("checkin", "applied")
        .await
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        held.len(),
        4,
        "the backup's record and the three still held"
    );
    assert!(kept.iter().all(|id| held.contains(id)), "{held:?}");
    let expired = server
        .admin_json("/admin/v1/records?kind=checkin&status=expired")
        .await;
    assert_eq!(expired["count"].as_u64(), Some(LOST as u64), "{expired}");
    assert_chain_intact(&dev, &server).await;

    // The phone is not blocked: a new record goes, and nothing goes twice.
    dev.check_ins(1);
    let r = engine.sync().await.unwrap();
    assert_eq!(
        (r.pushed, r.rejected, r.already_applied),
        (1, 0, 0),
        "{r:?}"
    );
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.already_applied), (0, 0), "{r:?}");
}
