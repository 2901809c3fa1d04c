//! Sync engine against the real reference server on 127.0.0.1, through the real fault proxy:
//! end to end, faults and retries, auth, version, cancellation, coalescing, the sync lock,
//! Wi-Fi-only photos and permanent rejections. Every test ends on the invariant checked via
//! the server's admin API (sync_support::assert_all_synced_once).

mod support;
mod sync_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gridworker_core::Error;
use gridworker_core::domain::ReportStatus;
use gridworker_core::geo::{Crs, Position};
use gridworker_core::sync::{NetworkKind, SyncListener, SyncProgress};
use reqwest::Method;
use serde_json::json;
use sync_support::{
    Device, Fault, RealServer, Tokens, WORKER, assert_all_synced_once, fast_options,
};

fn status(code: u16, retry_after: Option<u64>) -> Fault {
    Fault::Status { code, retry_after }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_push_photos_and_pull() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(3);
    dev.visit();
    let (report_id, shas) = dev.report(2, 50_000, 1);
    let (gcj_lat, gcj_lon) = Position::new(45.30, 130.98).to_crs(Crs::Gcj02);
    server
        .admin_send(
            Method::PUT,
            "/admin/v1/points/P-new",
            json!({"grid_code": "g-0001", "name": "新打卡点", "crs": "gcj02",
                   "lat": gcj_lat, "lon": gcj_lon, "radius_m": 30.0}),
        )
        .await;
    server
        .admin_send(
            Method::POST,
            "/admin/v1/tasks",
            json!({"worker_id": WORKER, "title": "查看井盖", "description": "d"}),
        )
        .await;
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let report = engine.sync().await.unwrap();
    assert_eq!(report.pushed, 5);
    assert_eq!(report.photos_uploaded, 2);
    // The fixtures' grid, points and households, plus the new point and the task.
    assert!(report.pulled_changes > 10, "{report:?}");
    assert!(report.bytes_up > 100_000);
    assert_eq!(assert_all_synced_once(&dev, &server).await, 5);
    for sha in &shas {
        assert!(server.photo(sha).await.is_some());
    }
    // queued → submitted once the server recorded it.
    assert_eq!(
        dev.worker.report(&report_id).unwrap().status,
        ReportStatus::Submitted
    );
    // The photos stay for the retention period (a server restored from an older backup
    // asks for the report again), then go.
    assert!(dev.worker.photo_path(&shas[0]).unwrap().is_some());
    dev.clock.advance(6 * 24 * 3600);
    dev.worker.collect_photos().unwrap();
    assert!(dev.worker.photo_path(&shas[0]).unwrap().is_some());
    dev.clock.advance(2 * 24 * 3600);
    assert!(dev.worker.collect_photos().unwrap() >= 1);
    assert!(dev.worker.photo_path(&shas[0]).unwrap().is_none());
    // Pulled point converted to WGS-84 and usable at once (spatial index reloaded).
    let near = dev
        .worker
        .nearby_points(Position::new(45.30, 130.98), 1)
        .unwrap();
    assert_eq!(near[0].point.id, "P-new");
    assert!(near[0].distance_m < 1.0, "{}", near[0].distance_m);
    let tasks = dev.worker.list_tasks(0, 10).unwrap();
    assert!(tasks.iter().any(|t| t.title == "查看井盖"), "{tasks:?}");
    let counts = dev.worker.sync_counts().unwrap();
    assert!(counts.clock_offset_ms.is_some() && counts.last_sync.is_some());

    // A second run has nothing to do and pulls from the saved cursor.
    let again = engine.sync().await.unwrap();
    assert_eq!((again.pushed, again.pulled_changes), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_retried_and_nothing_is_lost_or_doubled() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(6);
    dev.report(2, 200_000, 7);
    for f in [
        status(503, Some(0)),
        status(429, Some(0)),
        Fault::Garbage,
        status(500, None),
        // Cuts the first request longer than 100 kB (a photo upload) mid-body; smaller
        // requests pass whole.
        Fault::CutRequestAfter(100_000),
        Fault::TruncatedJson,
        // The server answers, the client never hears it.
        Fault::CutResponseAfter(40),
        Fault::Stall,
        status(502, None),
        Fault::CutRequestAfter(120),
        Fault::Delay(Duration::from_millis(200)),
    ] {
        server.proxy.push_fault(f);
    }
    let mut opts = fast_options();
    opts.request_timeout = Duration::from_secs(1);
    opts.batch_max_mutations = 3;
    let engine = dev.engine(Tokens::fixed("tok"), opts);
    let report = engine.sync().await.unwrap();
    assert_eq!(server.proxy.pending_faults(), 0);
    assert!(report.retries >= 9, "{report:?}");
    assert_all_synced_once(&dev, &server).await;
    // More records, more faults, several runs.
    dev.check_ins(4);
    dev.report(1, 150_000, 8);
    server.proxy.push_fault(Fault::Pass); // handshake
    server.proxy.push_fault(Fault::CutResponseAfter(10));
    server.proxy.push_fault(Fault::TruncatedJson);
    server.proxy.push_fault(Fault::CutResponseAfter(200));
    engine.sync().await.unwrap();
    assert_all_synced_once(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_committed_then_its_reply_lost_is_not_applied_twice() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(5);
    dev.visit();
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    server.proxy.push_fault(Fault::Pass); // handshake
    // The push reaches the server and commits; the reply is cut after its status line.
    server.proxy.push_fault(Fault::CutResponseAfter(20));
    let r = engine.sync().await.unwrap();
    assert_eq!(server.proxy.pending_faults(), 0);
    assert_eq!(r.already_applied, 6, "{r:?}");
    assert_eq!(assert_all_synced_once(&dev, &server).await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_photo_upload_resumes_where_the_server_stopped() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let size = 2_000_000u64;
    dev.report(1, size as usize, 3);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    // Handshake and the photo's status query pass; the upload is cut after half the bytes.
    server.proxy.push_fault(Fault::Pass);
    server.proxy.push_fault(Fault::Pass);
    server.proxy.push_fault(Fault::CutRequestAfter(size / 2));
    server.proxy.reset_stats();
    engine.sync().await.unwrap();
    assert_eq!(server.proxy.pending_faults(), 0);
    let sent = server.proxy.stats().bytes_up;
    // Half a body, then only the half the server lacked (plus heads and JSON).
    assert!(sent > size, "sent {sent}");
    assert!(sent < size + size / 10, "sent {sent}");
    assert_all_synced_once(&dev, &server).await;
}

/// Issue 11: a photo PATCH answered 409 `offset_mismatch` (the server's offset moved between
/// the state query and the upload) is resumed from the server's offset, not quarantined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offset_mismatch_on_a_photo_upload_resumes_instead_of_quarantining() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.report(1, 300_000, 5);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    server.proxy.push_fault(Fault::Pass); // handshake
    server.proxy.push_fault(Fault::Pass); // the photo's state
    server.proxy.push_fault(Fault::Error {
        code: 409,
        error: "offset_mismatch",
        offset: Some(0),
    });
    let report = engine.sync().await.unwrap();
    assert_eq!(server.proxy.pending_faults(), 0);
    assert_eq!(report.photos_uploaded, 1, "{report:?}");
    assert!(report.quarantined.is_empty(), "{report:?}");
    assert_all_synced_once(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_refreshed_once_on_401_then_authentication_fails() {
    let server = RealServer::start(&["fresh"]);
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
    assert_all_synced_once(&dev, &server).await;

    // The worker logs in as someone the server does not know: a new engine (one per worker,
    // so the old one goes first).
    drop(engine);
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
    let newer = gridworker_core::sync::wire::PROTOCOL + 1;
    let server = RealServer::start_with(&["tok"], |c| c.min_protocol = newer);
    let dev = Device::new(&server.url);
    dev.check_ins(1);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    match engine.sync().await {
        Err(Error::ClientTooOld { required }) => assert_eq!(required, newer.to_string()),
        other => panic!("{other:?}"),
    }
    assert_eq!(dev.pending(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_stalled_run_and_the_next_run_finishes() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(2);
    server.proxy.push_fault(Fault::Stall);
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
    assert_all_synced_once(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_one_run() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let engine = Arc::new(dev.engine(Tokens::fixed("tok"), fast_options()));
    // Catch up with the reference data first, so the run below pulls one empty page.
    engine.sync().await.unwrap();
    dev.check_ins(3);
    server.proxy.reset_stats();
    server
        .proxy
        .push_fault(Fault::Delay(Duration::from_millis(300)));
    let (a, b, c) = tokio::join!(engine.sync(), engine.sync(), engine.sync());
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert_eq!(a, b);
    assert_eq!(b, c);
    assert_eq!(a.pushed, 3);
    // One handshake, one push, one pull.
    assert_eq!(server.proxy.stats().requests, 3);
    assert_all_synced_once(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_engine_on_the_same_worker_is_refused_and_one_on_the_same_store_gets_sync_busy() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(1);
    server
        .proxy
        .push_fault(Fault::Delay(Duration::from_millis(800)));
    let one = Arc::new(dev.engine(Tokens::fixed("tok"), fast_options()));
    // One engine per worker handle.
    assert!(matches!(
        gridworker_core::sync::SyncEngine::new(
            dev.worker.clone(),
            fast_options(),
            Tokens::fixed("tok")
        ),
        Err(Error::InvalidState { .. })
    ));
    // Another handle on the same store (another process, such as the QA CLI) gets its own
    // engine, and its runs are refused while this one's runs: the store's sync lock.
    let other = Arc::new(gridworker_core::GridWorker::open(dev.worker.config().clone()).unwrap());
    let two = gridworker_core::sync::SyncEngine::new(other, fast_options(), Tokens::fixed("tok"))
        .unwrap();
    let o = one.clone();
    server.proxy.reset_stats();
    let first = tokio::spawn(async move { o.sync().await });
    // The first run holds the lock once its first request reached the server (held there by
    // the delay); a fixed sleep could let the second run take the lock first under load.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while server.proxy.stats().requests == 0 && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(matches!(two.sync().await, Err(Error::SyncBusy)));
    first.await.unwrap().unwrap();
    two.sync().await.unwrap();
    assert_all_synced_once(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_cellular_with_wifi_only_photos_reports_wait_and_the_rest_goes() {
    let server = RealServer::start(&["tok"]);
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
    assert_all_synced_once(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_record_keeps_its_reason_and_does_not_block_the_rest() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(1);
    let visit = dev.visit();
    dev.check_ins(2);
    // The visit's queued payload no longer matches its chain hash (storage tampered with):
    // the server refuses it for good.
    let conn = rusqlite::Connection::open(dev.dir.path().join("gridworker.db")).unwrap();
    let n = conn
        .execute(
            "UPDATE outbox SET payload = replace(payload, '\"note\":\"note\"', '\"note\":\"edited\"')
             WHERE record_id = ?1",
            [&visit],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.rejected), (3, 1), "{r:?}");
    let listed = dev.worker.list_visits(0, 10).unwrap();
    let v = listed.iter().find(|v| v.record.id == visit).unwrap();
    match &v.sync {
        gridworker_core::test_hooks::outbox::SyncState::Rejected { code, reason } => {
            assert_eq!(code, "hash_mismatch");
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(dev.pending(), 0);
    assert_all_synced_once(&dev, &server).await;
}

struct Counter(AtomicU64);
impl SyncListener for Counter {
    fn on_progress(&self, _p: &SyncProgress) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_hear_progress_until_their_handle_drops() {
    let server = RealServer::start(&["tok"]);
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

/// The app library maps host names ASCII-only (idna_adapter 1.0, 132 KB smaller): a Unicode
/// name is a typed error that says what to write, and its xn-- form is taken.
#[test]
fn a_unicode_server_host_is_refused_with_its_ascii_form_named_and_the_ascii_form_works() {
    let dev = Device::new("https://xn--0xvs72c.xn--fiqs8s");
    let tokens = || Tokens::fixed("tok");
    match gridworker_core::sync::SyncEngine::new(dev.worker.clone(), fast_options(), tokens()) {
        Ok(_) => {}
        Err(e) => panic!("the xn-- form is refused: {e}"),
    }
    let unicode = Device::new("https://网格.中国");
    match gridworker_core::sync::SyncEngine::new(unicode.worker.clone(), fast_options(), tokens()) {
        Err(Error::InvalidInput { field, reason }) => {
            assert_eq!(field, "config.server_url");
            assert!(reason.contains("xn--"), "{reason}");
        }
        Ok(_) => panic!("a Unicode host was taken"),
        Err(e) => panic!("not a typed input error: {e}"),
    }
}

#[test]
fn plain_http_needs_allow_http_and_blocking_wrapper_works() {
    let server = RealServer::start(&["tok"]);
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
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(assert_all_synced_once(&dev, &server));
}
