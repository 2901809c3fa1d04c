//! The core's sync engine against this server, directly and through the fault proxy: the
//! contract seen from both ends.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use gridworker_core::domain::LocationFix;
use gridworker_core::geo::{Crs, Position};
use gridworker_core::sync::{AccessTokenProvider, SyncEngine, SyncOptions};
use gridworker_core::{Config, Error, GridWorker};
use gridworker_testkit::fault_proxy::{Fault, FaultProxy};

struct Token(&'static str);

impl AccessTokenProvider for Token {
    fn access_token(&self, _force_refresh: bool) -> Result<String, Error> {
        Ok(self.0.to_string())
    }
}

fn engine(dir: &std::path::Path, url: &str) -> (Arc<GridWorker>, SyncEngine) {
    let config = Config::new(dir, url, W1, "dev-e2e");
    let worker = Arc::new(GridWorker::open(config).expect("store opens"));
    let options = SyncOptions {
        allow_http: true,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        request_timeout: Duration::from_secs(5),
        ..SyncOptions::default()
    };
    let engine = SyncEngine::new(worker.clone(), options, Arc::new(Token(T1))).expect("engine");
    (worker, engine)
}

fn fix_at_point() -> LocationFix {
    // p-00001 is given in GCJ-02; the phone's GPS reports WGS-84.
    let p = Position::from_crs(45.2985625, 130.9503308, Crs::Gcj02);
    LocationFix::wgs84(p.lat, p.lon, 6.0, chrono::Utc::now(), 1_000)
}

#[tokio::test]
async fn engine_pulls_reference_data_and_pushes_exactly_once_through_faults() {
    let sdir = tempfile::tempdir().unwrap();
    let srv = start(sdir.path()).await;
    let proxy = FaultProxy::start(srv.addr()).unwrap();
    let cdir = tempfile::tempdir().unwrap();
    let (worker, engine) = engine(cdir.path(), &proxy.url());

    let first = engine.sync().await.expect("first sync");
    assert!(first.pulled_changes > 10, "{first:?}");
    // The pulled GCJ-02 point now judges a WGS-84 fix: accepted, not 500 m off.
    let r = worker
        .check_in("p-00001", &fix_at_point())
        .expect("check-in recorded");
    assert!(r.check_in.distance_m < 5.0, "{}", r.check_in.distance_m);
    let mut m = 2_000;
    for p in ["p-00002", "p-00003"] {
        m += 1_000;
        let mut f = fix_at_point();
        f.monotonic_ms = m;
        let _ = worker.check_in(p, &f).expect("check-in recorded");
    }

    // The push's reply is lost after the server committed; the retry must not duplicate.
    proxy.push_fault(Fault::Pass); // handshake
    proxy.push_fault(Fault::CutResponseAfter(30)); // push
    proxy.push_fault(Fault::Status {
        code: 503,
        retry_after: Some(0),
    });
    let report = engine.sync().await.expect("sync through faults");
    assert_eq!(report.pushed + report.already_applied, 3, "{report:?}");
    assert!(report.retries >= 1, "{report:?}");
    assert_eq!(count(&srv.url(), "checkin").await, 3);

    // Nothing left to send; a further sync is a no-op on the server.
    let again = engine.sync().await.expect("idle sync");
    assert_eq!(again.pushed, 0);
    assert_eq!(count(&srv.url(), "checkin").await, 3);
    let (_, v) = admin_get(&srv.url(), "/admin/v1/chain?device=dev-e2e").await;
    assert_eq!(v["intact"], true, "{v}");
    srv.shutdown().await;
}

/// Issue 10: one grid-membership rule. Two grids given in GCJ-02 share an edge; a report
/// filed at their shared vertex (on both boundaries) belongs, on the phone and in the back
/// office alike, to the grid whose code sorts first. The server used to test `contains` in
/// the grid's own system, which leaves a boundary point in no grid.
#[tokio::test]
async fn device_and_server_put_a_position_on_a_shared_edge_in_the_same_grid() {
    let sdir = tempfile::tempdir().unwrap();
    let srv = start(sdir.path()).await;
    let base = srv.url();
    // West and east squares sharing the meridian lon = 130.9610 (GCJ-02); the east one's
    // code sorts first.
    let (w, e, m) = (130.9600, 130.9620, 130.9610);
    let (s, n) = (45.3100, 45.3110);
    for (code, ring) in [
        ("G-EDGE-B", vec![[w, s], [m, s], [m, n], [w, n]]),
        ("G-EDGE-A", vec![[m, s], [e, s], [e, n], [m, n]]),
    ] {
        let (st, body) = admin_send(
            &base,
            reqwest::Method::PUT,
            &format!("/admin/v1/grids/{code}"),
            serde_json::json!({"name": code, "crs": "gcj02", "ring": ring}),
        )
        .await;
        assert!(st.is_success(), "{st} {body}");
    }
    // A worker pulls the grids assigned to them.
    let (st, body) = admin_send(
        &base,
        reqwest::Method::PUT,
        &format!("/admin/v1/workers/{W1}/grids"),
        serde_json::json!({"grid_codes": ["G-EDGE-A", "G-EDGE-B"]}),
    )
    .await;
    assert!(st.is_success(), "{st} {body}");
    let cdir = tempfile::tempdir().unwrap();
    let (worker, engine) = engine(cdir.path(), &base);
    engine.sync().await.expect("pull");

    // The shared vertex, as the phone's GPS would report it (WGS-84).
    let vertex = Position::from_crs(n, m, Crs::Gcj02);
    let on_device = worker.grid_at(vertex).unwrap().map(|g| g.code);
    assert_eq!(on_device.as_deref(), Some("G-EDGE-A"));

    let photo = cdir.path().join("door.jpg");
    std::fs::write(&photo, gridworker_testkit::photos::jpeg(2_000, 7)).unwrap();
    let fix = LocationFix::wgs84(vertex.lat, vertex.lon, 5.0, chrono::Utc::now(), 9_000);
    let report = worker
        .file_report(
            "other",
            "pothole on the shared street",
            &[gridworker_core::worker::PhotoInput::new(&photo)],
            &fix,
            None,
        )
        .expect("report filed");
    let pushed = engine.sync().await.expect("push");
    assert_eq!(pushed.pushed, 1, "{pushed:?}");
    let (st, body) = admin_get(&base, &format!("/admin/v1/reports/{}", report.id)).await;
    assert!(st.is_success(), "{st} {body}");
    assert_eq!(body["grid_code"].as_str(), on_device.as_deref(), "{body}");
}
