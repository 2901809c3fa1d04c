//! Issue 16, item 9: the worker evaluates a resolved report from the phone (评价): satisfied
//! closes it, unsatisfied reopens it with the reason; recorded offline, synced once, applied
//! by the real reference server with its transition table; an evaluation the back office
//! overtook is kept as flagged evidence and the phone ends with the server's status.

mod support;
mod sync_support;

use gridworker_core::Error;
use gridworker_core::domain::ReportStatus;
use serde_json::{Value, json};
use support::snapshot;
use sync_support::{Device, RealServer, Tokens, assert_all_synced_once, fast_options};

async fn move_to(server: &RealServer, id: &str, to: &str) {
    let v = server
        .admin_send(
            reqwest::Method::POST,
            &format!("/admin/v1/reports/{id}/transition"),
            json!({"to": to, "department": "water"}),
        )
        .await;
    assert_eq!(v["status"], to, "{v}");
}

async fn server_report(server: &RealServer, id: &str) -> Value {
    server.admin_json(&format!("/admin/v1/reports/{id}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_report_is_reopened_then_closed_by_the_workers_evaluation() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let (id, _) = dev.report(1, 20_000, 3);

    // Not resolved yet: refused, nothing written.
    let before = snapshot(dev.dir.path());
    match dev.worker.evaluate_report(&id, true, "") {
        Err(Error::InvalidState { state, .. }) => assert_eq!(state, "queued"),
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(dev.dir.path()), before);

    engine.sync().await.unwrap();
    for to in ["accepted", "dispatched", "resolved"] {
        move_to(&server, &id, to).await;
    }
    engine.sync().await.unwrap();
    assert_eq!(
        dev.worker.report(&id).unwrap().status,
        ReportStatus::Resolved
    );

    // Unsatisfied needs a reason.
    match dev.worker.evaluate_report(&id, false, "  ") {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "reason"),
        other => panic!("{other:?}"),
    }
    let r = dev
        .worker
        .evaluate_report(&id, false, "井盖仍在渗水")
        .unwrap();
    assert_eq!(r.status, ReportStatus::Reopened);
    assert_eq!(r.progress.evaluation.as_deref(), Some("井盖仍在渗水"));
    engine.sync().await.unwrap();
    let held = server_report(&server, &id).await;
    assert_eq!(held["status"], "reopened", "{held}");
    assert_eq!(held["evaluation"], "井盖仍在渗水");

    move_to(&server, &id, "dispatched").await;
    move_to(&server, &id, "resolved").await;
    engine.sync().await.unwrap();
    let r = dev.worker.evaluate_report(&id, true, "").unwrap();
    assert_eq!(r.status, ReportStatus::Closed);
    engine.sync().await.unwrap();
    assert_eq!(server_report(&server, &id).await["status"], "closed");
    assert_eq!(dev.worker.report(&id).unwrap().status, ReportStatus::Closed);
    // Closed: no second evaluation.
    assert!(matches!(
        dev.worker.evaluate_report(&id, true, ""),
        Err(Error::InvalidState { .. })
    ));
    let evaluations = server.records("report_evaluation", "applied").await;
    assert_eq!(evaluations.len(), 2);
    assert!(evaluations.iter().all(|e| e["server_flags"] == json!([])));
    assert_all_synced_once(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evaluation_the_back_office_overtook_is_kept_flagged_and_the_server_status_wins() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let (id, _) = dev.report(1, 20_000, 4);
    engine.sync().await.unwrap();
    for to in ["accepted", "dispatched", "resolved"] {
        move_to(&server, &id, to).await;
    }
    engine.sync().await.unwrap();
    // Offline, the worker says unsatisfied; meanwhile the back office closes the report.
    dev.worker.evaluate_report(&id, false, "没有修好").unwrap();
    move_to(&server, &id, "closed").await;
    engine.sync().await.unwrap();
    let evaluations = server.records("report_evaluation", "applied").await;
    assert_eq!(evaluations.len(), 1);
    assert_eq!(
        evaluations[0]["server_flags"],
        json!(["evaluation_not_applied"])
    );
    assert_eq!(server_report(&server, &id).await["status"], "closed");
    assert_eq!(dev.worker.report(&id).unwrap().status, ReportStatus::Closed);
    assert_all_synced_once(&dev, &server).await;
}
