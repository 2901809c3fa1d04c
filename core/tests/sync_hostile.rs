//! Defect 11 (and the client parts of 12) of reliability issue #8: a hostile or broken server
//! must not crash, stall or bloat the phone. A stand-in HTTP server on 127.0.0.1 (axum, in
//! the test) answers what a hostile peer would; the device is the real core on a temporary
//! store. Each case ends on a typed error in bounded time with the store untouched.

mod support;
mod sync_support;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use gridworker_core::domain::ReportStatus;
use gridworker_core::policy::ValidationPolicy;
use gridworker_core::sync::wire::{
    Change, HandshakeResponse, MutationResult, Outcome, PullResponse, PushRequest, PushResponse,
    Reason, WorkerInfo,
};
use gridworker_core::sync::{NetworkKind, SyncOptions};
use gridworker_core::{Error, geo::Crs};
use support::{morning, snapshot};
use sync_support::{Device, Tokens, fast_options};

/// What the stand-in answers: `(method, path with query, request body)` to a response.
type Script = dyn Fn(&Method, &str, Bytes) -> Response + Send + Sync;

struct StandIn {
    url: String,
    /// Bytes the stand-in streamed out in bodies built with [`StandIn::counted`].
    streamed: Arc<AtomicU64>,
    /// Pull pages served.
    pages: Arc<AtomicU64>,
}

impl StandIn {
    async fn start(
        script: impl Fn(&Method, &str, Bytes, &StandIn) -> Response + Send + Sync + 'static,
    ) -> Arc<StandIn> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let me = Arc::new(StandIn {
            url: format!("http://{addr}"),
            streamed: Arc::new(AtomicU64::new(0)),
            pages: Arc::new(AtomicU64::new(0)),
        });
        let state = me.clone();
        let script: Arc<Script> =
            Arc::new(move |m: &Method, p: &str, b: Bytes| script(m, p, b, &state));
        let app = axum::Router::new().fallback(move |req: Request| {
            let script = script.clone();
            async move {
                let (parts, body) = req.into_parts();
                let path = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default();
                let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
                    .await
                    .unwrap_or_default();
                script(&parts.method, &path, body)
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        me
    }

    /// A streamed body: `prefix`, then `next()` until it says stop, counting bytes.
    fn counted(
        &self,
        prefix: Vec<u8>,
        next: impl FnMut() -> Option<Bytes> + Send + 'static,
    ) -> Body {
        let streamed = self.streamed.clone();
        streamed.fetch_add(prefix.len() as u64, Ordering::Relaxed);
        let head =
            futures_util::stream::once(async move { Ok::<_, Infallible>(Bytes::from(prefix)) });
        let counter = streamed.clone();
        let rest = futures_util::stream::iter(std::iter::from_fn(next)).map(move |b| {
            counter.fetch_add(b.len() as u64, Ordering::Relaxed);
            Ok::<_, Infallible>(b)
        });
        Body::from_stream(head.chain(rest))
    }
}

fn json(v: &impl serde::Serialize) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(v).unwrap()))
        .unwrap()
}

fn handshake(policy: &ValidationPolicy) -> HandshakeResponse {
    HandshakeResponse {
        protocol: gridworker_core::sync::wire::PROTOCOL,
        min_protocol: 1,
        // Fixed, like the device's test clock: the stored clock offset does not change
        // between runs, so "nothing stored" can be checked on the whole store.
        server_time: morning(),
        server_id: "stand-in".into(),
        worker: WorkerInfo {
            id: sync_support::WORKER.into(),
            name: "w".into(),
        },
        grids: vec!["G1".into()],
        policy: policy.clone(),
        device_last_seq: None,
        device_missing: vec![],
    }
}

fn page(changes: Vec<Change>, cursor: &str, more: bool) -> PullResponse {
    PullResponse {
        changes,
        next_cursor: cursor.into(),
        has_more: more,
    }
}

/// Applies every pushed mutation.
fn push_all(body: &Bytes) -> Response {
    let req: PushRequest = serde_json::from_slice(body).unwrap();
    json(&PushResponse {
        results: req
            .mutations
            .into_iter()
            .map(|m| MutationResult {
                mutation_id: m.mutation_id,
                outcome: Outcome::Applied,
            })
            .collect(),
        chain_breaks: 0,
    })
}

fn point(i: usize) -> Change {
    Change::PointUpsert {
        id: format!("HP{i}"),
        grid_code: "G1".into(),
        name: "点".into(),
        crs: Crs::Wgs84,
        lat: 45.3,
        lon: 130.97,
        radius_m: 30.0,
    }
}

fn options() -> SyncOptions {
    SyncOptions {
        max_attempts: 2,
        request_timeout: Duration::from_secs(20),
        run_deadline: Duration::from_secs(20),
        ..fast_options()
    }
}

/// Peak resident memory of this test process (nextest runs each test in its own process).
fn peak_rss_mb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

fn count(dev: &Device, table: &str) -> i64 {
    let c = rusqlite::Connection::open(dev.dir.path().join("gridworker.db")).unwrap();
    c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn db_bytes(dev: &Device) -> u64 {
    ["gridworker.db", "gridworker.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dev.dir.path().join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// A stand-in whose handshake is fine and whose feed is `feed(cursor)`.
async fn with_feed(
    feed: impl Fn(Option<&str>, &StandIn) -> Response + Send + Sync + 'static,
) -> Arc<StandIn> {
    StandIn::start(move |m, path, body, me| {
        if path.starts_with("/v1/handshake") {
            json(&handshake(&ValidationPolicy::default()))
        } else if path.starts_with("/v1/changes") {
            me.pages.fetch_add(1, Ordering::Relaxed);
            let cursor = path
                .split(['?', '&'])
                .find_map(|kv| kv.strip_prefix("cursor="));
            feed(cursor, me)
        } else if m == Method::POST && path == "/v1/push" {
            push_all(&body)
        } else {
            Response::builder().status(404).body(Body::empty()).unwrap()
        }
    })
    .await
}

/// Protocol 2 added photo evidence fields and flags a version 1 server would refuse record by
/// record: against one, the run stops after the handshake with every record still pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_server_stops_the_run_before_any_push() {
    let pushes = Arc::new(AtomicU64::new(0));
    let p = pushes.clone();
    let s = StandIn::start(move |m, path, body, _| {
        if path.starts_with("/v1/handshake") {
            json(&HandshakeResponse {
                protocol: 1,
                ..handshake(&ValidationPolicy::default())
            })
        } else if m == Method::POST {
            p.fetch_add(1, Ordering::Relaxed);
            push_all(&body)
        } else {
            json(&page(vec![], "1", false))
        }
    })
    .await;
    let dev = Device::new(&s.url);
    dev.check_ins(2);
    let e = dev
        .engine(Tokens::fixed("tok"), options())
        .sync()
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Protocol { reason } if reason.contains("protocol 1")),
        "{e:?}"
    );
    assert_eq!(pushes.load(Ordering::Relaxed), 0);
    assert_eq!(dev.pending(), 2);
}

/// A push reply that names a mutation twice (rejected, then applied) or one that was never
/// sent is not a reply to the request: the run ends as a protocol error and nothing of it is
/// recorded; the records stay pending and go to a server that answers properly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_reply_naming_a_mutation_twice_or_one_never_sent_records_nothing() {
    for twice in [true, false] {
        let s = StandIn::start(move |m, path, body, _| {
            if path.starts_with("/v1/handshake") {
                json(&handshake(&ValidationPolicy::default()))
            } else if m == Method::POST {
                let req: PushRequest = serde_json::from_slice(&body).unwrap();
                let first = req.mutations[0].mutation_id.clone();
                let mut results = vec![MutationResult {
                    mutation_id: if twice {
                        first.clone()
                    } else {
                        "m-never-sent".into()
                    },
                    outcome: Outcome::Rejected {
                        reason: Reason {
                            code: "invalid".into(),
                            message: "no".into(),
                        },
                    },
                }];
                results.extend(req.mutations.iter().map(|m| MutationResult {
                    mutation_id: m.mutation_id.clone(),
                    outcome: Outcome::Applied,
                }));
                json(&PushResponse {
                    results,
                    chain_breaks: 0,
                })
            } else {
                json(&page(vec![], "1", false))
            }
        })
        .await;
        let dev = Device::new(&s.url);
        dev.check_ins(2);
        let e = dev
            .engine(Tokens::fixed("tok"), options())
            .sync()
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Protocol { reason } if reason.contains("twice")),
            "{e:?}"
        );
        assert_eq!(dev.pending(), 2, "twice: {twice}");
    }
}

/// Protocol 3 added the patrol kinds, which a version 2 server would refuse for good
/// (`unknown_kind`): against one, everything else is pushed and the patrol records wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_server_gets_every_record_but_the_patrol_which_waits_for_its_update() {
    let kinds = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let protocol = Arc::new(AtomicU64::new(2));
    let (k, proto) = (kinds.clone(), protocol.clone());
    let s = StandIn::start(move |m, path, body, _| {
        if path.starts_with("/v1/handshake") {
            json(&HandshakeResponse {
                protocol: proto.load(Ordering::Relaxed) as u32,
                ..handshake(&ValidationPolicy::default())
            })
        } else if m == Method::POST {
            let req: PushRequest = serde_json::from_slice(&body).unwrap();
            k.lock()
                .unwrap()
                .extend(req.mutations.iter().map(|m| m.kind.clone()));
            push_all(&body)
        } else {
            json(&page(vec![], "1", false))
        }
    })
    .await;
    let dev = Device::new(&s.url);
    dev.worker.start_patrol().unwrap();
    let fix = dev.fix_at(support::BASE);
    dev.worker.add_track_fixes(&[fix]).unwrap();
    dev.check_ins(2);
    dev.worker.stop_patrol().unwrap();
    let engine = dev.engine(Tokens::fixed("tok"), options());
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 2, "{r:?}");
    assert_eq!(r.deferred, 3, "start, stop and the block wait: {r:?}");
    assert_eq!(*kinds.lock().unwrap(), ["checkin", "checkin"]);
    assert_eq!(dev.pending(), 3);
    // The server is updated: the patrol goes. (The stand-in's handshake says it holds none
    // of the device's records, so the check-ins go again too.)
    protocol.store(3, Ordering::Relaxed);
    kinds.lock().unwrap().clear();
    let r = engine.sync().await.unwrap();
    assert_eq!(r.deferred, 0, "{r:?}");
    let mut sent = kinds.lock().unwrap().clone();
    sent.sort();
    assert_eq!(
        sent,
        [
            "checkin",
            "checkin",
            "patrol_event",
            "patrol_event",
            "track_block"
        ]
    );
    assert_eq!(dev.pending(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect11_policy_out_of_bounds_is_refused_and_the_previous_one_stays() {
    let policy = Arc::new(std::sync::Mutex::new(ValidationPolicy {
        checkin_cooldown_s: 900,
        ..Default::default()
    }));
    let p = policy.clone();
    let s = StandIn::start(move |m, path, body, _| {
        if path.starts_with("/v1/handshake") {
            json(&handshake(&p.lock().unwrap()))
        } else if path.starts_with("/v1/changes") {
            json(&page(vec![], "1", false))
        } else if m == Method::POST {
            push_all(&body)
        } else {
            Response::builder().status(404).body(Body::empty()).unwrap()
        }
    })
    .await;
    let dev = Device::new(&s.url);
    let engine = dev.engine(Tokens::fixed("tok"), options());
    engine.sync().await.unwrap();
    assert_eq!(dev.worker.policy().unwrap().checkin_cooldown_s, 900);

    let hostile = [
        ValidationPolicy {
            checkin_cooldown_s: 10_i64.pow(13),
            ..Default::default()
        },
        ValidationPolicy {
            checkin_cooldown_s: i64::MAX,
            ..Default::default()
        },
        ValidationPolicy {
            max_clock_drift_s: 10_i64.pow(16),
            ..Default::default()
        },
    ];
    for bad in hostile {
        *policy.lock().unwrap() = bad.clone();
        let e = engine.sync().await.unwrap_err();
        assert!(
            matches!(&e, Error::Protocol { reason } if reason.contains("invalid policy")),
            "{e:?}"
        );
        assert_eq!(
            dev.worker.policy().unwrap().checkin_cooldown_s,
            900,
            "{bad:?}"
        );
        // Later check-ins work (they panicked when the policy was stored).
        let ids = dev.check_ins(2);
        assert_eq!(ids.len(), 2);
    }
    // Honest fixes are not flagged as clock jumps.
    for c in dev.worker.list_checkins(0, 10).unwrap() {
        assert!(c.record.flags.is_empty(), "{:?}", c.record.flags);
    }
}

/// Holes a server cannot hold (above its own last seq, overlapping, out of order, more than
/// the documented number) end the run before anything is stored: honoured, each would have
/// the phone send again entries the server holds, up to all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holes_beyond_what_the_server_can_lack_are_refused_and_nothing_goes_again() {
    let missing: Arc<std::sync::Mutex<Vec<[i64; 2]>>> = Arc::default();
    let m2 = missing.clone();
    let pushes = Arc::new(AtomicU64::new(0));
    let p = pushes.clone();
    let s = StandIn::start(move |m, path, body, _| {
        if path.starts_with("/v1/handshake") {
            json(&HandshakeResponse {
                device_last_seq: Some(3),
                device_missing: m2.lock().unwrap().clone(),
                ..handshake(&ValidationPolicy::default())
            })
        } else if path.starts_with("/v1/changes") {
            json(&page(vec![], "1", false))
        } else if m == Method::POST {
            p.fetch_add(1, Ordering::Relaxed);
            push_all(&body)
        } else {
            Response::builder().status(404).body(Body::empty()).unwrap()
        }
    })
    .await;
    let dev = Device::new(&s.url);
    dev.check_ins(3);
    let engine = dev.engine(Tokens::fixed("tok"), options());
    engine.sync().await.unwrap();
    assert_eq!(pushes.load(Ordering::Relaxed), 1);
    let many: Vec<[i64; 2]> = (1..=1_001).map(|i| [2 * i, 2 * i]).collect();
    for bad in [
        vec![[2, 4]],
        vec![[0, 1]],
        vec![[2, 2], [1, 1]],
        vec![[1, 2], [2, 3]],
        vec![[3, 2]],
        many,
    ] {
        *missing.lock().unwrap() = bad.clone();
        let e = engine.sync().await.unwrap_err();
        assert!(
            matches!(&e, Error::Protocol { reason } if reason.contains("device_missing")),
            "{bad:?}: {e:?}"
        );
        assert_eq!(dev.pending(), 0, "{bad:?}");
    }
    assert_eq!(pushes.load(Ordering::Relaxed), 1);
    // A hole the server can lack is honoured: the entry there goes again.
    *missing.lock().unwrap() = vec![[2, 2]];
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 1, "{r:?}");
    assert_eq!(pushes.load(Ordering::Relaxed), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect11_status_change_cannot_move_an_own_report_back_to_draft_or_queued() {
    let target: Arc<std::sync::Mutex<Vec<Change>>> = Arc::default();
    let t = target.clone();
    let s = with_feed(move |_, _| json(&page(t.lock().unwrap().clone(), "1", false))).await;
    let dev = Device::new(&s.url);
    // Filed, still pending (its photos wait for Wi-Fi); and a draft.
    let (filed, _) = dev.report(1, 10_000, 5);
    let draft = dev
        .worker
        .create_report_draft("dumped_waste", "d")
        .unwrap()
        .id;
    let engine = dev.engine(
        Tokens::fixed("tok"),
        SyncOptions {
            photos_wifi_only: true,
            ..options()
        },
    );
    engine.set_network(NetworkKind::Cellular);
    let status = |id: &str, st: ReportStatus| Change::ReportStatus {
        report_id: id.into(),
        status: st,
        department: None,
        note: None,
        evaluation: None,
        at: morning(),
    };
    *target.lock().unwrap() = vec![
        status(&filed, ReportStatus::Draft),
        status(&filed, ReportStatus::Queued),
        status(&draft, ReportStatus::Accepted),
        status(&draft, ReportStatus::Queued),
    ];
    engine.sync().await.unwrap();
    assert_eq!(
        dev.worker.report(&filed).unwrap().status,
        ReportStatus::Queued
    );
    assert_eq!(
        dev.worker.report(&draft).unwrap().status,
        ReportStatus::Draft
    );

    // The server may move a filed report forward (it may hold it before the device knows)...
    *target.lock().unwrap() = vec![status(&filed, ReportStatus::Accepted)];
    engine.sync().await.unwrap();
    assert_eq!(
        dev.worker.report(&filed).unwrap().status,
        ReportStatus::Accepted
    );
    // ...but never back into a state the device owns.
    *target.lock().unwrap() = vec![
        status(&filed, ReportStatus::Draft),
        status(&filed, ReportStatus::Queued),
        status(&filed, ReportStatus::Submitted),
    ];
    engine.sync().await.unwrap();
    assert_eq!(
        dev.worker.report(&filed).unwrap().status,
        ReportStatus::Accepted
    );
    // So the draft operations still refuse the filed report whose mutation is pending.
    assert!(dev.worker.delete_draft(&filed).is_err());
    let fix = dev.fix_at(support::BASE);
    assert!(dev.worker.submit_report(&filed, &fix, None).is_err());
    assert_eq!(dev.pending(), 1);
    dev.worker.delete_draft(&draft).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect11_endless_handshake_body_is_capped_and_fails_fast() {
    let s = StandIn::start(|_, path, _, me| {
        if path.starts_with("/v1/handshake") {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(me.counted(b"{\"protocol\":1,".to_vec(), move || Some(chunk.clone())))
                .unwrap()
        } else {
            Response::builder().status(404).body(Body::empty()).unwrap()
        }
    })
    .await;
    let dev = Device::new(&s.url);
    let before = snapshot(dev.dir.path());
    let engine = dev.engine(Tokens::fixed("tok"), options());
    let started = Instant::now();
    let e = engine.sync().await.unwrap_err();
    assert!(
        matches!(&e, Error::Protocol { reason } if reason.contains("larger than")),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The client stopped reading at the 1 MiB cap (what the stand-in got out before the
    // connection closed is bounded by socket buffers).
    let sent = s.streamed.load(Ordering::Relaxed);
    assert!(sent < 32 * 1024 * 1024, "{sent}");
    eprintln!(
        "endless handshake: streamed {sent} bytes, peak RSS {} MB",
        peak_rss_mb()
    );
    assert!(peak_rss_mb() < 300, "peak RSS {} MB", peak_rss_mb());
    assert_eq!(snapshot(dev.dir.path()), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect11_a_100_mb_page_is_refused_and_the_store_does_not_grow() {
    let s = with_feed(|_, me| {
        let item = serde_json::to_vec(&Change::HouseholdUpsert {
            id: "H-x".into(),
            grid_code: "G1".into(),
            building: "楼".into(),
            address: "地址".repeat(20),
            crs: Crs::Wgs84,
            lat: 45.3,
            lon: 130.97,
            tags: vec![],
            housing_type: None,
            occupancy: None,
            resident_count: 0,
            contact_phone: None,
            notes: String::new(),
            version: 1,
        })
        .unwrap();
        let mut chunk = Vec::new();
        for _ in 0..1000 {
            chunk.extend_from_slice(&item);
            chunk.push(b',');
        }
        let chunk = Bytes::from(chunk);
        let total = 100 * 1024 * 1024u64;
        let mut sent = 0u64;
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(me.counted(b"{\"changes\":[".to_vec(), move || {
                sent += chunk.len() as u64;
                (sent < total).then(|| chunk.clone())
            }))
            .unwrap()
    })
    .await;
    let dev = Device::new(&s.url);
    let engine = dev.engine(Tokens::fixed("tok"), options());
    let before = (count(&dev, "households"), db_bytes(&dev));
    let e = engine.sync().await.unwrap_err();
    assert!(
        matches!(&e, Error::Protocol { reason } if reason.contains("larger than")),
        "{e:?}"
    );
    assert_eq!(count(&dev, "households"), before.0);
    // The handshake's few rows only; not the 100 MB the page carried.
    assert!(
        db_bytes(&dev) < before.1 + 1024 * 1024,
        "{} -> {}",
        before.1,
        db_bytes(&dev)
    );
    eprintln!(
        "100 MB page: streamed {} bytes, db {} -> {} bytes, peak RSS {} MB",
        s.streamed.load(Ordering::Relaxed),
        before.1,
        db_bytes(&dev),
        peak_rss_mb()
    );
    assert!(peak_rss_mb() < 400, "peak RSS {} MB", peak_rss_mb());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect11_has_more_with_the_same_cursor_forever_ends_with_an_error() {
    let s = with_feed(|_, _| json(&page(vec![point(1)], "7", true))).await;
    let dev = Device::new(&s.url);
    let engine = dev.engine(Tokens::fixed("tok"), options());
    let started = Instant::now();
    let e = engine.sync().await.unwrap_err();
    assert!(
        matches!(&e, Error::Protocol { reason } if reason.contains("repeats a cursor")),
        "{e:?}"
    );
    assert!(s.pages.load(Ordering::Relaxed) <= 3);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect11_an_endless_feed_ends_at_the_page_budget_with_progress_kept() {
    let s = with_feed(|cursor, _| {
        let n: u64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        json(&page(vec![point(n as usize)], &(n + 1).to_string(), true))
    })
    .await;
    let dev = Device::new(&s.url);
    let engine = dev.engine(
        Tokens::fixed("tok"),
        SyncOptions {
            max_pull_pages: 20,
            ..options()
        },
    );
    let e = engine.sync().await.unwrap_err();
    assert!(matches!(e, Error::Network { .. }), "{e:?}");
    let pages = s.pages.load(Ordering::Relaxed);
    assert!((20..=21).contains(&pages), "{pages}");
    // The pages applied stay applied (each with its cursor): the next run resumes.
    assert!(count(&dev, "points") >= 19);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect11_a_reply_trickling_a_byte_every_5_s_ends_by_the_deadline() {
    // A raw listener: the headers at once, then one byte of body every 5 s.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                loop {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    if sock.write_all(b" ").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let dev = Device::new(&url);
    let engine = dev.engine(
        Tokens::fixed("tok"),
        SyncOptions {
            // The stall watchdog alone never fires: a byte arrives every 5 s.
            request_timeout: Duration::from_secs(8),
            run_deadline: Duration::from_secs(3),
            ..options()
        },
    );
    let started = Instant::now();
    let e = engine.sync().await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(&e, Error::Network { reason } if reason.contains("deadline")),
        "{e:?}"
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(6),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect11_a_page_of_3000_points_when_2000_were_asked_is_refused() {
    let s = with_feed(|_, _| json(&page((0..3000).map(point).collect(), "1", false))).await;
    let dev = Device::new(&s.url);
    let engine = dev.engine(
        Tokens::fixed("tok"),
        SyncOptions {
            pull_page_limit: 2000,
            ..options()
        },
    );
    let before = count(&dev, "points");
    let e = engine.sync().await.unwrap_err();
    assert!(
        matches!(&e, Error::Protocol { reason } if reason.contains("more changes than asked")),
        "{e:?}"
    );
    assert_eq!(count(&dev, "points"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect11_a_grid_of_a_million_vertices_is_refused() {
    let s = with_feed(|_, _| {
        let ring: Vec<[f64; 2]> = (0..1_000_000)
            .map(|i| {
                [
                    130.97 + (i % 1000) as f64 * 1e-6,
                    45.3 + (i / 1000) as f64 * 1e-6,
                ]
            })
            .collect();
        json(&page(
            vec![Change::GridUpsert {
                code: "G-huge".into(),
                name: "n".into(),
                crs: Crs::Wgs84,
                ring,
            }],
            "1",
            false,
        ))
    })
    .await;
    let dev = Device::new(&s.url);
    let engine = dev.engine(Tokens::fixed("tok"), options());
    let before = count(&dev, "grids");
    let e = engine.sync().await.unwrap_err();
    assert!(
        matches!(&e, Error::Protocol { reason } if reason.contains("too many vertices")),
        "{e:?}"
    );
    assert_eq!(count(&dev, "grids"), before);
}

/// Defect 12, client part: a captive portal's HTML login page, or a 200 whose JSON stops
/// mid-way, is a network failure (work stays queued; CLI exit 3), not a protocol error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect12_captive_portal_and_truncated_200_are_network_errors() {
    for body in [
        &b"<html><body>Sign in to the Wi-Fi</body></html>"[..],
        &b"{\"protocol\":1,\"min_protocol\":1,\"server_ti"[..],
    ] {
        let s = StandIn::start(move |_, _, _, _| {
            Response::builder()
                .status(200)
                .header("content-type", "text/html")
                .body(Body::from(body))
                .unwrap()
        })
        .await;
        let dev = Device::new(&s.url);
        dev.check_ins(1);
        let engine = dev.engine(Tokens::fixed("tok"), options());
        let e = engine.sync().await.unwrap_err();
        assert!(matches!(e, Error::Network { .. }), "{e:?}");
        assert_eq!(dev.pending(), 1);
    }
}
