//! The fault proxy between a real client and the real server, on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::*;
use gridworker_core::sync::wire;
use gridworker_testkit::fault_proxy::{Fault, FaultProxy, Plan};
use reqwest::{Method, StatusCode};

async fn setup() -> (
    tempfile::TempDir,
    gridworker_server::RunningServer,
    FaultProxy,
) {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let proxy = FaultProxy::start(srv.addr()).unwrap();
    (dir, srv, proxy)
}

#[tokio::test]
async fn passes_through_and_counts_bytes_connections_and_requests() {
    let (_dir, srv, proxy) = setup().await;
    let c = Client::new(&proxy.url(), T1, "dev-p");
    let (s, _) = c.get_json(wire::PATH_HANDSHAKE).await;
    assert_eq!(s, StatusCode::OK);
    let mut d = Device::new("dev-p", W1);
    let r = c.push(&[d.checkin("p-00001")]).await;
    assert_eq!(status_of(&r, 0), "applied");
    // A pull streams a big reply through (chunked or fixed, whichever the server picks).
    let (all, _) = c.pull_all(None, 5000).await;
    assert!(all.len() > 10);
    // The proxy adds a chunk to its counters after it has forwarded it, so the client can
    // hold the whole reply a moment before the count does: wait for it, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while proxy.stats().bytes_down <= 5_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let st = proxy.stats();
    assert!(st.requests >= 3, "{st:?}");
    assert_eq!(st.faults, 0);
    assert!(st.connections >= 1);
    assert!(st.bytes_up > 500, "{st:?}");
    assert!(st.bytes_down > 5_000, "{st:?}");
    proxy.reset_stats();
    assert_eq!(proxy.stats().requests, 0);
    srv.shutdown().await;
}

#[tokio::test]
async fn canned_statuses_garbage_and_truncated_json() {
    let (_dir, srv, proxy) = setup().await;
    let c = Client::new(&proxy.url(), T1, "dev-p");
    proxy.push_fault(Fault::Status {
        code: 503,
        retry_after: Some(7),
    });
    proxy.push_fault(Fault::Status {
        code: 429,
        retry_after: Some(1),
    });
    proxy.push_fault(Fault::Status {
        code: 500,
        retry_after: None,
    });
    proxy.push_fault(Fault::Garbage);
    proxy.push_fault(Fault::TruncatedJson);
    assert_eq!(proxy.pending_faults(), 5);

    let r = c
        .req(Method::GET, wire::PATH_HANDSHAKE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()["retry-after"], "7");
    let e: wire::ErrorBody = r.json().await.unwrap();
    assert!(e.error.retryable);
    let r = c
        .req(Method::GET, wire::PATH_HANDSHAKE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = c
        .req(Method::GET, wire::PATH_HANDSHAKE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let r = c
        .req(Method::GET, wire::PATH_HANDSHAKE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(serde_json::from_slice::<wire::HandshakeResponse>(&r.bytes().await.unwrap()).is_err());
    let r = c
        .req(Method::GET, wire::PATH_HANDSHAKE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.bytes().await.unwrap();
    assert!(!body.is_empty());
    assert!(serde_json::from_slice::<wire::HandshakeResponse>(&body).is_err());
    // Queue used up: back to normal.
    let (s, _) = c.get_json(wire::PATH_HANDSHAKE).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(proxy.stats().faults, 5);

    // A standing plan: the server looks down until the plan changes.
    proxy.set_plan(Plan::always(Fault::Status {
        code: 503,
        retry_after: Some(1),
    }));
    for _ in 0..3 {
        let (s, _) = c.get_json(wire::PATH_HANDSHAKE).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    }
    proxy.set_plan(Plan::pass());
    let (s, _) = c.get_json(wire::PATH_HANDSHAKE).await;
    assert_eq!(s, StatusCode::OK);
    srv.shutdown().await;
}

#[tokio::test]
async fn a_cut_reply_after_commit_is_recovered_by_replay() {
    let (_dir, srv, proxy) = setup().await;
    let c = Client::new(&proxy.url(), T1, "dev-p");
    let mut d = Device::new("dev-p", W1);
    let batch: Vec<_> = (0..10).map(|_| d.checkin("p-00001")).collect();
    proxy.push_fault(Fault::CutResponseAfter(20));
    let r = c
        .req(Method::POST, wire::PATH_PUSH)
        .json(&wire::PushRequest {
            device_id: "dev-p".into(),
            mutations: batch.clone(),
        })
        .send()
        .await;
    let lost = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(lost, "the reply must not arrive whole");
    // The server committed: the retry learns it.
    let r = c.push(&batch).await;
    assert!((0..10).all(|i| status_of(&r, i) == "already_applied"));
    assert_eq!(count(&srv.url(), "checkin").await, 10);
    srv.shutdown().await;
}

#[tokio::test]
async fn a_cut_upload_keeps_the_received_part_for_resume() {
    let (_dir, srv, proxy) = setup().await;
    let c = Client::new(&proxy.url(), T1, "dev-p");
    let (bytes, sha) = photo_bytes(400_000, 3);
    let total = bytes.len() as u64;
    proxy.push_fault(Fault::CutRequestAfter(150_000));
    let r = c
        .req(Method::PATCH, &wire::photo_path(&sha))
        .header(wire::HEADER_UPLOAD_OFFSET, 0)
        .header(wire::HEADER_UPLOAD_LENGTH, total)
        .header("content-type", "image/jpeg")
        .body(bytes.clone())
        .send()
        .await;
    assert!(r.is_err() || r.unwrap().bytes().await.is_err());
    // The server notices the cut shortly after; poll until what it holds stops moving.
    let mut held = 0;
    let mut last = u64::MAX;
    for _ in 0..100 {
        let (_, v) = c.get_json(&wire::photo_path(&sha)).await;
        held = v["offset"].as_u64().unwrap();
        if held > 0 && held == last {
            break;
        }
        last = held;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(held > 100_000 && held < 150_000, "held {held}");
    let mut answer = (StatusCode::SERVICE_UNAVAILABLE, serde_json::Value::Null);
    for _ in 0..50 {
        // 503 while the server still winds the cut upload down.
        answer = patch_photo(&c, &sha, held, total, bytes[held as usize..].to_vec()).await;
        if answer.0 != StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, v) = answer;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true);
    srv.shutdown().await;
}

#[tokio::test]
async fn stall_and_delay_and_throttle() {
    let (_dir, srv, proxy) = setup().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let mut c = Client::new(&proxy.url(), T1, "dev-p");
    c.http = http;
    proxy.push_fault(Fault::Stall);
    let t = Instant::now();
    let r = c.req(Method::GET, wire::PATH_HANDSHAKE).send().await;
    assert!(r.is_err(), "a stalled request times out");
    assert!(t.elapsed() >= Duration::from_millis(450));

    let mut c = Client::new(&proxy.url(), T1, "dev-p");
    c.http = reqwest::Client::new();
    proxy.push_fault(Fault::Delay(Duration::from_millis(300)));
    let t = Instant::now();
    let (s, _) = c.get_json(wire::PATH_HANDSHAKE).await;
    assert_eq!(s, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(300));

    // 200 kB/s with 100 ms per exchange: a 100 kB upload takes about half a second.
    proxy.set_plan(Plan::throttled(200_000, Duration::from_millis(100)));
    let (bytes, sha) = photo_bytes(100_000, 5);
    let t = Instant::now();
    let (s, _) = patch_photo(&c, &sha, 0, 100_000, bytes).await;
    assert_eq!(s, StatusCode::OK);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(550), "took {took:?}");
    srv.shutdown().await;
}
