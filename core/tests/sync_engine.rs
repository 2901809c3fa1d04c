//! Sync engine against a server on 127.0.0.1: end to end, faults and retries, auth, version,
//! cancellation, coalescing, the sync lock, Wi-Fi-only photos and permanent rejections.

mod support;
mod sync_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use gridworker_core::Error;
use gridworker_core::domain::ReportStatus;
use gridworker_core::geo::Crs;
use gridworker_core::sync::wire::Change;
use gridworker_core::sync::{NetworkKind, SyncListener, SyncProgress};
use sync_support::{Device, Fault, TestServer, Tokens, assert_all_synced_once, fast_options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_push_photos_and_pull() {
    let server = TestServer::start(&["tok"]).await;
    let dev = Device::new(&server.url);
    dev.check_ins(3);
    dev.visit();
    let (report_id, shas) = dev.report(2, 50_000, 1);
    {
        let mut st = server.state.lock().unwrap();
        let (gcj_lat, gcj_lon) =
            gridworker_core::geo::Position::new(45.30, 130.98).to_crs(Crs::Gcj02);
        st.changes.push(Change::PointUpsert {
            id: "P-new".into(),
            grid_code: "G1".into(),
            name: "新打卡点".into(),
            lat: gcj_lat,
            lon: gcj_lon,
            crs: Crs::Gcj02,
            radius_m: 30.0,
        });
        st.changes.push(Change::TaskUpsert {
            id: "T1".into(),
            title: "查看井盖".into(),
            description: "d".into(),
            lat: None,
            lon: None,
            crs: None,
            address: None,
            due_at: None,
            linked_report_id: None,
            status: gridworker_core::domain::TaskStatus::Dispatched,
            dispatched_at: Utc::now(),
        });
    }
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let report = engine.sync().await.unwrap();
    assert_eq!(report.pushed, 5);
    assert_eq!(report.photos_uploaded, 2);
    assert_eq!(report.pulled_changes, 2);
    assert!(report.bytes_up > 100_000);
    assert_all_synced_once(&dev, &server);
    for sha in &shas {
        assert!(server.state.lock().unwrap().photo_complete[sha]);
    }
    // queued → submitted once the server recorded it; the report's photos were collected.
    assert_eq!(
        dev.worker.report(&report_id).unwrap().status,
        ReportStatus::Submitted
    );
    assert!(dev.worker.photo_path(&shas[0]).unwrap().is_none());
    // Pulled point converted to WGS-84 and usable at once (spatial index reloaded).
    let near = dev
        .worker
        .nearby_points(gridworker_core::geo::Position::new(45.30, 130.98), 1)
        .unwrap();
    assert_eq!(near[0].point.id, "P-new");
    assert!(near[0].distance_m < 1.0, "{}", near[0].distance_m);
    assert_eq!(dev.worker.list_tasks(0, 10).unwrap().len(), 1);
    let counts = dev.worker.sync_counts().unwrap();
    assert!(counts.clock_offset_ms.is_some() && counts.last_sync.is_some());

    // A second run has nothing to do and pulls from the saved cursor.
    let again = engine.sync().await.unwrap();
    assert_eq!((again.pushed, again.pulled_changes), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_retried_and_nothing_is_lost_or_doubled() {
    let server = TestServer::start(&["tok"]).await;
    let dev = Device::new(&server.url);
    dev.check_ins(6);
    dev.report(2, 200_000, 7);
    for f in [
        Fault::Status(503, Some(0)),
        Fault::Status(429, Some(0)),
        Fault::Garbage,
        Fault::Status(500, None),
        Fault::HalfUpload,
        Fault::Truncated,
        Fault::CommitThenFail,
        Fault::Stall(Duration::from_secs(3)),
        Fault::Status(502, None),
    ] {
        server.fault(f);
    }
    let mut opts = fast_options();
    opts.request_timeout = Duration::from_secs(1);
    opts.batch_max_mutations = 3;
    let engine = dev.engine(Tokens::fixed("tok"), opts);
    let report = engine.sync().await.unwrap();
    assert!(report.retries >= 8, "{report:?}");
    assert_all_synced_once(&dev, &server);
    // More records, more faults, several runs.
    dev.check_ins(4);
    server.fault(Fault::CommitThenFail);
    server.fault(Fault::Truncated);
    engine.sync().await.unwrap();
    assert_all_synced_once(&dev, &server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_photo_upload_resumes_where_the_server_stopped() {
    let server = TestServer::start(&["tok"]).await;
    let dev = Device::new(&server.url);
    dev.report(1, 2_000_000, 3);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let in_before = server.state.lock().unwrap().bytes_in;
    // Handshake and the photo's status query pass; the upload is cut after half the bytes.
    server.fault(Fault::Stall(Duration::ZERO));
    server.fault(Fault::Stall(Duration::ZERO));
    server.fault(Fault::HalfUpload);
    engine.sync().await.unwrap();
    let sent = server.state.lock().unwrap().bytes_in - in_before;
    let size = 2_000_000u64;
    // One full body, then only the half the server lacked (plus JSON noise).
    assert!(sent < size + size / 2 + size / 10, "sent {sent}");
    assert_all_synced_once(&dev, &server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_refreshed_once_on_401_then_authentication_fails() {
    let server = TestServer::start(&["fresh"]).await;
    let dev = Device::new(&server.url);
    dev.check_ins(1);
    let tokens = Arc::new(Tokens {
        first: "stale".into(),
        refreshed: "fresh".into(),
        refreshes: Default::default(),
    });
    let engine = dev.engine(tokens.clone(), fast_options());
    engine.sync().await.unwrap();
    assert_eq!(*tokens.refreshes.lock().unwrap(), 1);
    assert_all_synced_once(&dev, &server);

    let bad = Tokens::fixed("nope");
    let engine = dev.engine(bad.clone(), fast_options());
    dev.check_ins(1);
    assert!(matches!(
        engine.sync().await,
        Err(Error::Authentication { .. })
    ));
    assert_eq!(*bad.refreshes.lock().unwrap(), 1);
    assert_eq!(dev.pending(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_too_old_is_a_typed_error() {
    let server = TestServer::start(&["tok"]).await;
    server.state.lock().unwrap().min_protocol = Some("9".into());
    let dev = Device::new(&server.url);
    dev.check_ins(1);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    match engine.sync().await {
        Err(Error::ClientTooOld { required }) => assert_eq!(required, "9"),
        other => panic!("{other:?}"),
    }
    assert_eq!(dev.pending(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_stalled_run_and_the_next_run_finishes() {
    let server = TestServer::start(&["tok"]).await;
    let dev = Device::new(&server.url);
    dev.check_ins(2);
    server.fault(Fault::Stall(Duration::from_secs(20)));
    let mut opts = fast_options();
    opts.request_timeout = Duration::from_secs(30);
    let engine = Arc::new(dev.engine(Tokens::fixed("tok"), opts));
    let e2 = engine.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        e2.cancel();
    });
    let started = std::time::Instant::now();
    assert!(matches!(engine.sync().await, Err(Error::Cancelled)));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(dev.pending(), 2);
    engine.sync().await.unwrap();
    assert_all_synced_once(&dev, &server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_one_run() {
    let server = TestServer::start(&["tok"]).await;
    let dev = Device::new(&server.url);
    dev.check_ins(3);
    server.fault(Fault::Stall(Duration::from_millis(300)));
    let engine = Arc::new(dev.engine(Tokens::fixed("tok"), fast_options()));
    let (a, b, c) = tokio::join!(engine.sync(), engine.sync(), engine.sync());
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert_eq!(a, b);
    assert_eq!(b, c);
    assert_eq!(a.pushed, 3);
    // One handshake, one push, one pull.
    assert_eq!(server.state.lock().unwrap().requests, 3);
    assert_all_synced_once(&dev, &server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_engine_on_the_same_store_gets_sync_busy() {
    let server = TestServer::start(&["tok"]).await;
    let dev = Device::new(&server.url);
    dev.check_ins(1);
    server.fault(Fault::Stall(Duration::from_millis(800)));
    let one = Arc::new(dev.engine(Tokens::fixed("tok"), fast_options()));
    let two = dev.engine(Tokens::fixed("tok"), fast_options());
    let o = one.clone();
    let first = tokio::spawn(async move { o.sync().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(matches!(two.sync().await, Err(Error::SyncBusy)));
    first.await.unwrap().unwrap();
    two.sync().await.unwrap();
    assert_all_synced_once(&dev, &server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cellular_with_wifi_only_photos_reports_wait_and_the_rest_goes() {
    let server = TestServer::start(&["tok"]).await;
    let dev = Device::new(&server.url);
    dev.check_ins(1);
    let (report_id, _) = dev.report(1, 10_000, 9);
    dev.check_ins(1);
    let mut opts = fast_options();
    opts.photos_wifi_only = true;
    let engine = dev.engine(Tokens::fixed("tok"), opts);
    engine.set_network(NetworkKind::Cellular);
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.deferred, r.photos_uploaded), (2, 1, 0));
    assert_eq!(
        dev.worker.report(&report_id).unwrap().status,
        ReportStatus::Queued
    );
    engine.set_network(NetworkKind::None);
    assert!(matches!(engine.sync().await, Err(Error::Network { .. })));
    engine.set_network(NetworkKind::Wifi);
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.photos_uploaded), (1, 1));
    assert_all_synced_once(&dev, &server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_record_keeps_its_reason_and_does_not_block_the_rest() {
    let server = TestServer::start(&["tok"]).await;
    server.state.lock().unwrap().reject_kind = Some("visit".into());
    let dev = Device::new(&server.url);
    dev.check_ins(1);
    let visit = dev.visit();
    dev.check_ins(2);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.rejected), (3, 1));
    let listed = dev.worker.list_visits(0, 10).unwrap();
    let v = listed.iter().find(|v| v.record.id == visit).unwrap();
    match &v.sync {
        gridworker_core::store::outbox::SyncState::Rejected { code, reason } => {
            assert_eq!(code, "not_allowed");
            assert!(reason.contains("refused"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(dev.pending(), 0);
}

struct Counter(AtomicU64);
impl SyncListener for Counter {
    fn on_progress(&self, _p: &SyncProgress) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_hear_progress_until_their_handle_drops() {
    let server = TestServer::start(&["tok"]).await;
    let dev = Device::new(&server.url);
    dev.check_ins(2);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let counter = Arc::new(Counter(AtomicU64::new(0)));
    let handle = engine.add_listener(counter.clone());
    engine.sync().await.unwrap();
    let heard = counter.0.load(Ordering::Relaxed);
    assert!(heard >= 4, "{heard}");
    drop(handle);
    dev.check_ins(1);
    engine.sync().await.unwrap();
    assert_eq!(counter.0.load(Ordering::Relaxed), heard);
}

#[test]
fn plain_http_needs_allow_http_and_blocking_wrapper_works() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(TestServer::start(&["tok"]));
    let dev = Device::new(&server.url);
    let mut opts = fast_options();
    opts.allow_http = false;
    assert!(matches!(
        gridworker_core::sync::SyncEngine::new(dev.worker.clone(), opts, Tokens::fixed("tok")),
        Err(Error::InvalidInput { .. })
    ));
    dev.check_ins(2);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    assert_eq!(engine.sync_blocking().unwrap().pushed, 2);
    assert_all_synced_once(&dev, &server);
}
