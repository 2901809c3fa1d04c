//! Issue 16, item 1: the district's report categories and departments reach the phone with
//! the reference data (protocol 3, the `report_catalog` change); once known, a report must
//! use one of the categories; one filed before (or by an older app) is kept and flagged
//! `unknown_category` by the real server; a store upgraded from a build without the
//! catalog pulls from scratch once to get it; a protocol 2 client never receives it.

mod support;
mod sync_support;

use gridworker_core::Error;
use gridworker_core::sync::wire;
use serde_json::json;
use support::snapshot;
use sync_support::{Device, RealServer, Tokens, assert_all_synced_once, fast_options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_arrives_and_a_report_must_use_one_of_its_categories() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    assert!(dev.worker.report_catalog().unwrap().categories.is_empty());
    // Before the first sync anything goes; the server keeps it and flags what is not in
    // its list.
    let early = dev
        .worker
        .file_report(
            "made_up",
            "分类未知",
            &[gridworker_core::worker::PhotoInput::new(
                support::jpeg_seeded(dev.gallery.path(), "early.jpg", 20_000, 77),
            )],
            &dev.fix_at(support::district().1[0].position),
            None,
        )
        .unwrap();
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    let catalog = dev.worker.report_catalog().unwrap();
    assert_eq!(catalog.categories.len(), 7, "{catalog:?}");
    assert!(
        catalog
            .categories
            .iter()
            .any(|c| c.code == "leaking_manhole")
    );
    assert!(catalog.departments.iter().any(|d| d.code == "water"));
    let flagged: Vec<_> = server
        .records("report", "applied")
        .await
        .into_iter()
        .filter(|r| r["server_flags"] == json!(["unknown_category"]))
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(flagged, [early.id]);

    // Now the list is known: an unknown category is refused and nothing is written.
    let before = snapshot(dev.dir.path());
    match dev.worker.create_report_draft("made_up", "") {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "category"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        snapshot(dev.dir.path()),
        before,
        "a refused draft wrote something"
    );
    // A known one goes, unflagged.
    dev.report(1, 20_000, 5);
    engine.sync().await.unwrap();
    let reports = server.records("report", "applied").await;
    assert_eq!(reports.len(), 2);
    assert_eq!(
        reports
            .iter()
            .filter(|r| r["server_flags"] == json!([]))
            .count(),
        1
    );
    assert_all_synced_once(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_upgraded_without_the_catalog_pulls_once_from_scratch_to_get_it() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    // What a store of the previous release looks like: a cursor, no catalog.
    dev.worker
        .test_store()
        .write(|tx| {
            tx.execute(
                "DELETE FROM kv WHERE key IN ('report_catalog', 'catalog_repulled')",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    assert!(dev.worker.report_catalog().unwrap().categories.is_empty());
    let r = engine.sync().await.unwrap();
    assert!(r.pulled_changes > 1, "pulled from scratch: {r:?}");
    assert_eq!(dev.worker.report_catalog().unwrap().categories.len(), 7);
    // Once only.
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pulled_changes, 0, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_2_client_is_not_sent_the_catalog() {
    let server = RealServer::start(&["tok"]);
    let http = reqwest::Client::new();
    let mut types = Vec::new();
    for protocol in ["2", "3"] {
        let v: serde_json::Value = http
            .get(format!("{}{}?limit=5000", server.url, wire::PATH_CHANGES))
            .header(wire::HEADER_PROTOCOL, protocol)
            .header(wire::HEADER_DEVICE, format!("dev-p{protocol}"))
            .bearer_auth("tok")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        types.push(
            v["changes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|c| c["type"] == "report_catalog")
                .count(),
        );
    }
    assert_eq!(types, [0, 1]);
}
