//! Defect 1 of the reliability issue (and the 413 part of 12): a record whose photo cannot be
//! sent is quarantined with a typed reason and blocks nothing else; records depending on it
//! wait; the worker repairs or discards it. Against the real reference server on 127.0.0.1
//! behind the real fault proxy.

mod support;
mod sync_support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gridworker_core::GridWorker;
use gridworker_core::model::residents::Relation;
use gridworker_core::sync::{SyncListener, SyncOptions, SyncPhase, SyncProgress};
use gridworker_core::test_hooks::outbox::{QuarantineReason, SyncState};
use gridworker_core::worker::{NewResident, PhotoInput, ResidentUpdate};
use serde_json::Value;
use sync_support::{Device, Fault, RealServer, Tokens, assert_all_synced_once, fast_options};

const KINDS: [&str; 5] = ["checkin", "visit", "report", "task_ack", "task_completion"];

/// How many times the server holds each record id (applied), per kind.
async fn held(server: &RealServer) -> HashMap<(String, String), usize> {
    let mut out = HashMap::new();
    for k in KINDS {
        for r in server.records(k, "applied").await {
            let id = r["id"]
                .as_str()
                .or_else(|| r["task_id"].as_str())
                .unwrap_or_default()
                .to_string();
            *out.entry((k.to_string(), id)).or_insert(0) += 1;
        }
    }
    out
}

/// Every record the device holds in state `synced` is on the server exactly once, and the
/// listed ones are not there at all.
async fn assert_exactly(server: &RealServer, present: &[(&str, &str)], absent: &[&str]) {
    let got = held(server).await;
    for (k, id) in present {
        assert_eq!(
            got.get(&(k.to_string(), id.to_string())),
            Some(&1),
            "{k} {id} not held exactly once: {got:?}"
        );
    }
    for id in absent {
        assert!(
            !got.keys().any(|(_, r)| r == id),
            "record {id} reached the server"
        );
    }
}

/// The device's chain is whole on the server: no break, whatever the worker repaired or
/// discarded (a withdrawn entry travels as a withdrawal link).
async fn assert_chain_intact(server: &RealServer) {
    let chain: Value = server.admin_json("/admin/v1/chain?device=dev-A").await;
    assert_eq!(chain["chain_breaks"], Value::Array(vec![]), "{chain}");
    assert_eq!(chain["intact"], true, "{chain}");
    let counts: Value = server.admin_json("/admin/v1/records").await;
    assert_eq!(counts["chain_breaks"], 0, "{counts}");
}

/// The server holds `n` withdrawal links of `kind`, each without its payload.
async fn assert_withdrawal_held(server: &RealServer, kind: &str, n: usize) {
    let links = server.records(kind, "withdrawn").await;
    assert_eq!(links.len(), n, "{links:?}");
    for l in &links {
        assert_eq!(
            l["payload_text"], "",
            "a withdrawal link kept its payload: {l}"
        );
    }
}

fn report_state(dev: &Device, id: &str) -> SyncState {
    dev.worker
        .list_reports(0, 100)
        .unwrap()
        .into_iter()
        .find(|l| l.record.id == id)
        .map(|l| l.sync)
        .expect("report listed")
}

fn photo_file(dev: &Device, sha: &str) -> PathBuf {
    dev.worker.photo_path(sha).unwrap().expect("photo held")
}

/// A copy of a stored photo outside the store (the worker's gallery).
fn gallery_copy(dev: &Device, sha: &str) -> PathBuf {
    let to = dev.dir.path().join(format!("gallery-{sha}.jpg"));
    std::fs::copy(photo_file(dev, sha), &to).unwrap();
    to
}

fn photo_files(dev: &Device) -> usize {
    std::fs::read_dir(dev.dir.path().join("photos"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .count()
}

/// Files a report attached to `to` (a supplement), with a photo made from `seed`.
fn attach_report(dev: &Device, to: &str, seed: u8) -> String {
    let fix = dev.fix_at(support::district().1[0].position);
    let photo = support::jpeg(dev.dir.path(), &format!("extra-{seed}.jpg"), 10_000, seed);
    dev.worker
        .file_report(
            "dumped_waste",
            "同一处",
            &[PhotoInput::new(photo)],
            &fix,
            Some(to),
        )
        .unwrap()
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect1_deleted_photo_quarantines_its_report_only_and_a_dependent_waits() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let before = dev.check_ins(2);
    let (bad, shas) = dev.report(1, 20_000, 3);
    let visit = dev.visit();
    let after = dev.check_ins(1);
    let (good, _) = dev.report(1, 20_000, 4);
    let saved = gallery_copy(&dev, &shas[0]);
    std::fs::remove_file(photo_file(&dev, &shas[0])).unwrap();

    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine
        .sync()
        .await
        .expect("a missing photo does not fail the run");
    assert_eq!(r.quarantined.len(), 1, "{r:?}");
    assert_eq!(r.quarantined[0].record_id, bad);
    assert_eq!(r.quarantined[0].kind, "report");
    let missing = QuarantineReason::PhotoMissing {
        sha256: shas[0].clone(),
    };
    assert_eq!(r.quarantined[0].reason, missing);
    assert_exactly(
        &server,
        &[
            ("checkin", &before[0]),
            ("checkin", &before[1]),
            ("checkin", &after[0]),
            ("visit", &visit),
            ("report", &good),
        ],
        &[&bad],
    )
    .await;
    // Visible in counts, listing and the quarantine list, and persisted across a restart.
    let counts = dev.worker.sync_counts().unwrap();
    assert_eq!(counts.quarantined.reports, 1);
    assert_eq!(counts.pending.reports, 0);
    assert_eq!(
        report_state(&dev, &bad),
        SyncState::Quarantined {
            reason: missing.clone()
        }
    );
    let mut dev = dev;
    dev.restart();
    assert_eq!(dev.worker.quarantined_records().unwrap().len(), 1);

    // A report attached to the quarantined one waits: not sent, not failed.
    let dependent = attach_report(&dev, &bad, 99);
    // And one attached to that one waits too: the rule follows the chain, not one level.
    let second = attach_report(&dev, &dependent, 98);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine.sync().await.unwrap();
    assert_eq!(r.held, 2, "{r:?}");
    assert!(r.quarantined.is_empty(), "already quarantined: {r:?}");
    assert_eq!(report_state(&dev, &dependent), SyncState::Pending);
    assert_eq!(report_state(&dev, &second), SyncState::Pending);
    assert_exactly(&server, &[], &[&bad, &dependent, &second]).await;

    // The worker finds the original in the gallery: the original entry goes unchanged,
    // then the dependent, each exactly once.
    dev.worker
        .repair_quarantined_photo(&bad, &PhotoInput::new(saved))
        .unwrap();
    assert_eq!(report_state(&dev, &bad), SyncState::Pending);
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.held), (3, 0), "{r:?}");
    assert_exactly(
        &server,
        &[
            ("report", &bad),
            ("report", &dependent),
            ("report", &second),
        ],
        &[],
    )
    .await;
    assert_eq!(dev.worker.sync_counts().unwrap().quarantined.reports, 0);
    assert_all_synced_once(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect1_photo_altered_by_one_byte_is_quarantined_and_refiled_without_it() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let checkins = dev.check_ins(2);
    let (bad, shas) = dev.report(2, 30_000, 5);
    let path = photo_file(&dev, &shas[1]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[1000] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();

    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine.sync().await.unwrap();
    let altered = QuarantineReason::PhotoAltered {
        sha256: shas[1].clone(),
    };
    assert_eq!(r.quarantined.len(), 1);
    assert_eq!(r.quarantined[0].reason, altered);
    assert_exactly(
        &server,
        &[("checkin", &checkins[0]), ("checkin", &checkins[1])],
        &[&bad],
    )
    .await;
    assert_eq!(
        report_state(&dev, &bad),
        SyncState::Quarantined { reason: altered }
    );
    assert!(
        server.photo(&shas[1]).await.is_none(),
        "altered bytes uploaded"
    );

    // Re-filed without the altered photo: the report goes once, with the good photo only,
    // and the altered file is gone from the device.
    dev.worker.refile_without_quarantined_photo(&bad).unwrap();
    assert!(!path.exists(), "the altered photo file is left behind");
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 1);
    let reports = server.records("report", "applied").await;
    assert_eq!(reports.len(), 1);
    let sent: Vec<&str> = reports[0]["photos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(sent, vec![shas[0].as_str()]);
    assert_all_synced_once(&dev, &server).await;
    // The withdrawn original went as a link: a repair is not a deleted record.
    assert_withdrawal_held(&server, "report", 1).await;
    assert_chain_intact(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect1_truncated_photo_is_altered_not_a_network_error_and_can_be_discarded() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let checkins = dev.check_ins(1);
    let (bad, shas) = dev.report(1, 60_000, 6);
    let visit = dev.visit();
    let path = photo_file(&dev, &shas[0]);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(25_000).unwrap();
    drop(f);

    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine.sync().await.expect("not a network error");
    assert_eq!(
        r.quarantined[0].reason,
        QuarantineReason::PhotoAltered {
            sha256: shas[0].clone()
        }
    );
    assert_exactly(
        &server,
        &[("checkin", &checkins[0]), ("visit", &visit)],
        &[&bad],
    )
    .await;

    // Discarded: the report, its outbox entry's hold and its photo file are gone.
    dev.worker.discard_quarantined(&bad).unwrap();
    assert!(dev.worker.report(&bad).is_err());
    assert_eq!(photo_files(&dev), 0, "an orphan photo file is left");
    assert!(dev.worker.quarantined_records().unwrap().is_empty());
    let counts = dev.worker.sync_counts().unwrap();
    assert_eq!((counts.quarantined.reports, counts.pending.reports), (0, 0));
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 0, "a withdrawal link is not a record");
    assert_all_synced_once(&dev, &server).await;
    assert_withdrawal_held(&server, "report", 1).await;
    assert_chain_intact(&server).await;
    // Delivered once: the next run sends nothing.
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.already_applied), (0, 0), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect1_photo_refused_by_the_server_is_quarantined_with_its_status_and_replaced() {
    // The server takes photos up to 40 KB; the device, not synced yet, allowed 60 KB.
    let server = RealServer::start_with(&["tok"], |c| c.policy.max_photo_bytes = 40_000);
    let dev = Device::new(&server.url);
    let checkins = dev.check_ins(2);
    let (bad, shas) = dev.report(1, 60_000, 7);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine.sync().await.unwrap();
    assert_eq!(r.quarantined.len(), 1);
    match &r.quarantined[0].reason {
        QuarantineReason::Refused {
            status,
            code,
            sha256,
        } => {
            assert_eq!(*status, 413);
            assert_eq!(code, "too_large");
            assert_eq!(sha256.as_deref(), Some(shas[0].as_str()));
        }
        other => panic!("unexpected reason {other:?}"),
    }
    assert_exactly(
        &server,
        &[("checkin", &checkins[0]), ("checkin", &checkins[1])],
        &[&bad],
    )
    .await;
    let listed = report_state(&dev, &bad);
    assert!(
        matches!(listed, SyncState::Quarantined { .. }),
        "{listed:?}"
    );

    // The same bytes again are refused locally; a smaller photo replaces it.
    let same = gallery_copy(&dev, &shas[0]);
    assert!(
        dev.worker
            .repair_quarantined_photo(&bad, &PhotoInput::new(same))
            .is_err()
    );
    let smaller = support::jpeg(dev.dir.path(), "smaller.jpg", 20_000, 77);
    dev.worker
        .repair_quarantined_photo(&bad, &PhotoInput::new(smaller))
        .unwrap();
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.photos_uploaded), (1, 1), "{r:?}");
    assert_exactly(&server, &[("report", &bad)], &[]).await;
    assert_all_synced_once(&dev, &server).await;
    assert_withdrawal_held(&server, "report", 1).await;
    assert_chain_intact(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect1_photo_upload_failing_with_5xx_holds_its_report_but_not_the_rest() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let checkins = dev.check_ins(2);
    let (report, _) = dev.report(1, 20_000, 8);
    let options = SyncOptions {
        max_attempts: 3,
        ..fast_options()
    };
    // The handshake passes, then every attempt at the photo gets 503.
    server.proxy.push_fault(Fault::Pass);
    for _ in 0..3 {
        server.proxy.push_fault(Fault::Status {
            code: 503,
            retry_after: None,
        });
    }
    let engine = dev.engine(Tokens::fixed("tok"), options);
    let r = engine.sync().await.unwrap();
    assert!(r.quarantined.is_empty(), "a 5xx is not a quarantine: {r:?}");
    assert_eq!(r.held, 1);
    assert_eq!(report_state(&dev, &report), SyncState::Pending);
    assert_exactly(
        &server,
        &[("checkin", &checkins[0]), ("checkin", &checkins[1])],
        &[&report],
    )
    .await;
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.photos_uploaded), (1, 1));
    assert_all_synced_once(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect12_a_413_push_is_split_and_a_single_413_mutation_is_quarantined() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let ids = dev.check_ins(5);
    let too_large = || Fault::Status {
        code: 413,
        retry_after: None,
    };
    // Handshake passes; [5] → 413, [2] → 413, [1] → 413 (quarantined); then [1], [3] pass.
    server.proxy.push_fault(Fault::Pass);
    for _ in 0..3 {
        server.proxy.push_fault(too_large());
    }
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine.sync().await.expect("a 413 does not fail the run");
    assert_eq!(r.pushed, 4, "{r:?}");
    assert_eq!(r.quarantined.len(), 1);
    assert_eq!(r.quarantined[0].record_id, ids[0]);
    assert!(matches!(
        r.quarantined[0].reason,
        QuarantineReason::Refused {
            status: 413,
            sha256: None,
            ..
        }
    ));
    let present: Vec<(&str, &str)> = ids[1..].iter().map(|i| ("checkin", i.as_str())).collect();
    assert_exactly(&server, &present, &[&ids[0]]).await;
    let listed = dev.worker.list_checkins(0, 10).unwrap();
    let state = &listed.iter().find(|l| l.record.id == ids[0]).unwrap().sync;
    assert!(matches!(state, SyncState::Quarantined { .. }), "{state:?}");
    assert_eq!(dev.worker.sync_counts().unwrap().quarantined.checkins, 1);
    // A photo repair does not apply to a record refused as a whole; discarding does.
    assert!(
        dev.worker
            .refile_without_quarantined_photo(&ids[0])
            .is_err()
    );
    dev.worker.discard_quarantined(&ids[0]).unwrap();
    assert_eq!(dev.worker.list_checkins(0, 10).unwrap().len(), 4);
    engine.sync().await.unwrap();
    assert_all_synced_once(&dev, &server).await;
    // The discarded first entry's link arrives below the head and heals its successor.
    assert_withdrawal_held(&server, "checkin", 1).await;
    assert_chain_intact(&server).await;
}

/// An entry must not overtake what it builds on. Here a resident's add and two edits of it
/// are read into one batch; the server finds it too large (413), the halves go one by one
/// and the add, too large alone, is quarantined. The edits were read before that happened:
/// they are held (the reader's rule applied again; the second edit waits for the first),
/// stay pending and reach the server only after the add is dealt with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_413_split_a_record_s_later_entry_waits_for_its_quarantined_first() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let household = support::district().2[0].id.clone();
    let first17 = "23030219900307123";
    let b: [u8; 17] = first17.as_bytes().try_into().unwrap();
    let check = char::from(gridworker_core::model::residents::idcard::check_char(&b));
    let added = dev
        .worker
        .add_resident(
            &NewResident {
                household_id: household,
                name: "欧阳明月".into(),
                id_number: format!("{first17}{check}"),
                phone: None,
                relation: Relation::Child,
                tags: vec![],
                notes: String::new(),
            },
            None,
        )
        .unwrap();
    let phone = ResidentUpdate {
        phone: Some("15945678901".into()),
        ..Default::default()
    };
    dev.worker.update_resident(&added.id, phone, None).unwrap();
    let notes = ResidentUpdate {
        notes: Some("夜班，白天在家".into()),
        ..Default::default()
    };
    dev.worker.update_resident(&added.id, notes, None).unwrap();
    let later = dev.check_ins(1);

    // Handshake passes; [add, edit, edit, check-in] → 413; [add, edit] → 413; [add] → 413
    // alone (quarantined). The first edit waits for the add, the second for the first.
    server.proxy.push_fault(Fault::Pass);
    for _ in 0..3 {
        server.proxy.push_fault(Fault::Status {
            code: 413,
            retry_after: None,
        });
    }
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine.sync().await.expect("a 413 does not fail the run");
    assert_eq!(r.quarantined.len(), 1, "{r:?}");
    assert_eq!(r.quarantined[0].record_id, added.id);
    assert_eq!(r.quarantined[0].kind, "resident_add");
    assert_eq!((r.pushed, r.held, r.rejected), (1, 2, 0), "{r:?}");
    assert_exactly(&server, &[("checkin", &later[0])], &[]).await;
    assert_no_resident_records(&server).await;
    let pending: Vec<String> = dev
        .worker
        .test_store()
        .read(|c| {
            let mut st = c.prepare("SELECT kind FROM outbox WHERE state = 'pending'")?;
            let kinds = st.query_map([], |r| r.get(0))?;
            Ok(kinds.collect::<rusqlite::Result<Vec<String>>>()?)
        })
        .unwrap();
    assert_eq!(pending, ["resident_update", "resident_update"]);

    // The next run holds them again, with the reader's rule: still not sent.
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.held), (0, 2), "{r:?}");
    assert_no_resident_records(&server).await;

    // Once the worker discards the add, the edits go (the server keeps them as evidence of
    // edits to a resident it does not know) and the device's chain is whole.
    dev.worker.discard_quarantined(&added.id).unwrap();
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.held, r.rejected), (2, 0, 0), "{r:?}");
    let edits = server.records("resident_update", "applied").await;
    assert_eq!(edits.len(), 2, "{edits:?}");
    assert_chain_intact(&server).await;
    assert_eq!(engine.sync().await.unwrap().pushed, 0);
}

/// The server holds no resident mutation at all, applied or rejected, and counts no
/// rejection.
async fn assert_no_resident_records(server: &RealServer) {
    for kind in ["resident_add", "resident_update"] {
        for status in ["applied", "rejected"] {
            let got = server.records(kind, status).await;
            assert!(got.is_empty(), "{kind} {status}: {got:?}");
        }
    }
    assert_eq!(server.counts().await.1, 0);
}

/// Repairs a quarantined report once, as soon as the push has recorded its first batch: the
/// worker finding the photo again while a sync runs.
struct RepairMidRun {
    worker: Arc<GridWorker>,
    report: String,
    photo: PathBuf,
    done: AtomicBool,
}

impl SyncListener for RepairMidRun {
    fn on_progress(&self, p: &SyncProgress) {
        if p.phase == SyncPhase::Push
            && p.items_done >= 2
            && !self.done.swap(true, Ordering::SeqCst)
        {
            self.worker
                .repair_quarantined_photo(&self.report, &PhotoInput::new(self.photo.clone()))
                .unwrap();
        }
    }
}

/// A record repaired while a run is under way is behind that run's cursor and goes in the
/// next one; what builds on it must not go before it. The run holds what was quarantined
/// when it started, whatever happens to it meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_repaired_during_a_run_still_goes_before_the_report_attached_to_it() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let (bad, shas) = dev.report(1, 20_000, 3);
    let saved = gallery_copy(&dev, &shas[0]);
    std::fs::remove_file(photo_file(&dev, &shas[0])).unwrap();
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine.sync().await.unwrap();
    assert_eq!(r.quarantined.len(), 1, "{r:?}");

    // Eight check-ins, then a report attached to the quarantined one: in batches of two it
    // is read in the fifth batch, well after the repair below.
    let checkins = dev.check_ins(8);
    let attached = attach_report(&dev, &bad, 99);
    let mut opts = fast_options();
    opts.batch_max_mutations = 2;
    // One engine per worker at a time.
    drop(engine);
    let engine = dev.engine(Tokens::fixed("tok"), opts);
    let repair = Arc::new(RepairMidRun {
        worker: dev.worker.clone(),
        report: bad.clone(),
        photo: saved,
        done: AtomicBool::new(false),
    });
    let _listening = engine.add_listener(repair.clone());
    let r = engine.sync().await.unwrap();
    assert!(
        repair.done.load(Ordering::SeqCst),
        "the repair ran during the push"
    );
    assert_eq!((r.pushed, r.held), (8, 1), "{r:?}");
    let present: Vec<(&str, &str)> = checkins.iter().map(|i| ("checkin", i.as_str())).collect();
    assert_exactly(&server, &present, &[&bad, &attached]).await;

    // The next run sends the repaired report, then the one attached to it.
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.held), (2, 0), "{r:?}");
    assert_exactly(&server, &[("report", &bad), ("report", &attached)], &[]).await;
    assert_all_synced_once(&dev, &server).await;
    assert_chain_intact(&server).await;
}

/// A run reads the next batch from the outbox while the current one travels, and records a
/// batch's answers while the next one travels. A 413 in the middle drops what was read
/// ahead (the batch is halved and the bound lowered); every entry still goes once, in
/// order, and every answer is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_413_in_the_middle_of_a_read_ahead_run_still_sends_every_entry_once() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(14);
    // Handshake and the first batch of 4 pass; the second batch is refused as too large.
    server.proxy.push_fault(Fault::Pass);
    server.proxy.push_fault(Fault::Pass);
    server.proxy.push_fault(Fault::Status {
        code: 413,
        retry_after: None,
    });
    let mut opts = fast_options();
    opts.batch_max_mutations = 4;
    let engine = dev.engine(Tokens::fixed("tok"), opts);
    let r = engine.sync().await.expect("a 413 does not fail the run");
    assert_eq!(
        (r.pushed, r.already_applied, r.quarantined.len()),
        (14, 0, 0),
        "{r:?}"
    );
    assert_all_synced_once(&dev, &server).await;
    assert_chain_intact(&server).await;
    assert_eq!(engine.sync().await.unwrap().pushed, 0);
}

/// The read-ahead finds nothing left while the last batch travels; a check-in the worker
/// records meanwhile still goes in the same run, as it did when the engine read only after
/// recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_made_while_the_last_batch_travels_goes_in_the_same_run() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(3);
    server.proxy.push_fault(Fault::Pass);
    server
        .proxy
        .push_fault(Fault::Delay(std::time::Duration::from_millis(1500)));
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let (r, _) = tokio::join!(engine.sync(), async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        dev.check_ins(1)
    });
    let r = r.unwrap();
    assert_eq!((r.pushed, r.already_applied), (4, 0), "{r:?}");
    assert_all_synced_once(&dev, &server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect1_held_and_repaired_records_leave_the_device_chain_intact_on_the_server() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(1);
    let (bad, shas) = dev.report(1, 20_000, 9);
    dev.check_ins(2);
    let saved = gallery_copy(&dev, &shas[0]);
    std::fs::remove_file(photo_file(&dev, &shas[0])).unwrap();
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    dev.worker
        .repair_quarantined_photo(&bad, &PhotoInput::new(saved))
        .unwrap();
    engine.sync().await.unwrap();
    assert_all_synced_once(&dev, &server).await;
    assert_chain_intact(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect1_a_withdrawal_link_refused_with_413_alone_is_given_up_not_resent() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let ids = dev.check_ins(2);
    let too_large = || Fault::Status {
        code: 413,
        retry_after: None,
    };
    // Handshake passes; [2] → 413, [1] → 413 (quarantined); then the second passes.
    server.proxy.push_fault(Fault::Pass);
    server.proxy.push_fault(too_large());
    server.proxy.push_fault(too_large());
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let r = engine.sync().await.unwrap();
    assert_eq!((r.pushed, r.quarantined.len()), (1, 1), "{r:?}");
    dev.worker.discard_quarantined(&ids[0]).unwrap();

    // The withdrawal link alone is refused with 413: the run goes on, the link is recorded
    // as answered with that refusal (still withdrawn, no record) and not sent again.
    server.proxy.push_fault(Fault::Pass);
    server.proxy.push_fault(too_large());
    engine
        .sync()
        .await
        .expect("a refused link does not fail the run");
    let conn = rusqlite::Connection::open(dev.dir.path().join("gridworker.db")).unwrap();
    let (state, answered, code): (String, bool, Option<String>) = conn
        .query_row(
            "SELECT state, synced_at IS NOT NULL, reject_code FROM outbox WHERE record_id = ?1",
            [&ids[0]],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((state.as_str(), answered), ("withdrawn", true));
    assert!(code.is_some_and(|c| !c.is_empty()));
    engine.sync().await.unwrap();
    assert_withdrawal_held(&server, "checkin", 0).await;
    // The server never got the link, so it still shows the hole: the truth.
    let chain: Value = server.admin_json("/admin/v1/chain?device=dev-A").await;
    assert_eq!(chain["intact"], false, "{chain}");
    assert_eq!(dev.pending(), 0);
}

/// A token that expires between the photo's state query (GET) and its upload (PATCH): the
/// PATCH is answered 401 and the token refreshed. The body stream is spent, so the upload is
/// built anew (it was sent empty, refused as a bad request, and the record quarantined as
/// refused for bytes nobody had looked at). The record syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiring_mid_photo_upload_does_not_quarantine_the_record() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let (_report, _shas) = dev.report(1, 40_000, 7);
    // handshake GET, photo state GET pass; the PATCH meets an expired token.
    server.proxy.push_fault(Fault::Pass);
    server.proxy.push_fault(Fault::Pass);
    server.proxy.push_fault(Fault::Status {
        code: 401,
        retry_after: None,
    });
    let tokens = Tokens::fixed("tok");
    let engine = dev.engine(tokens.clone(), fast_options());
    let report = engine.sync().await.unwrap();
    assert_eq!(*tokens.refreshes.lock().unwrap(), 1, "the 401 was met");
    assert!(
        report.quarantined.is_empty(),
        "a token refresh quarantined the record: {:?}",
        report.quarantined
    );
    if dev.pending() > 0 {
        engine.sync().await.unwrap();
    }
    assert!(dev.worker.quarantined_records().unwrap().is_empty());
    assert_all_synced_once(&dev, &server).await;
}

/// The stored copy of a photo is damaged (report A would be quarantined `photo_altered`).
/// The worker then files report B with the very same, intact photo: the good copy replaces
/// the damaged file (it was dropped because a file was in place), and both reports sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filing_a_good_copy_of_a_photo_replaces_its_damaged_stored_file() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let original = support::jpeg(dev.gallery.path(), "same.jpg", 30_000, 42);
    let input = gridworker_core::worker::PhotoInput::new(&original);
    let here = support::district().1[0].position;
    let a = dev
        .worker
        .file_report(
            "dumped_waste",
            "A",
            std::slice::from_ref(&input),
            &dev.fix_at(here),
            None,
        )
        .unwrap();
    let sha = a.photos[0].sha256.clone();
    // The stored copy is damaged (flash wear, a cleaner app, a bad restore).
    let stored = dev.worker.photo_path(&sha).unwrap().unwrap();
    let mut bytes = std::fs::read(&stored).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(&stored, &bytes).unwrap();
    // Report B with the same, intact original.
    dev.clock.advance(60);
    let b = dev
        .worker
        .file_report(
            "dumped_waste",
            "B",
            std::slice::from_ref(&input),
            &dev.fix_at(here),
            None,
        )
        .unwrap();
    assert_eq!(b.photos[0].sha256, sha);
    let now_stored = dev.worker.photo_bytes(&sha);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let report = engine.sync().await.unwrap();
    assert!(
        now_stored.as_ref().is_ok_and(|b| b.is_some()),
        "the good copy given with report B was dropped; stored copy reads {now_stored:?}"
    );
    assert!(report.quarantined.is_empty(), "{:?}", report.quarantined);
    assert_all_synced_once(&dev, &server).await;
}

/// A small PNG (vertical noise stripes: a few KB, well under the district's photo limit)
/// comes out of the pipeline as a JPEG several times the limit. The limit holds for what is
/// stored and sent (the server's 413 would quarantine the record): the photo is refused when
/// filed, with a typed error, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_within_the_limit_is_not_stored_larger_than_the_limit() {
    const LIMIT: u64 = 200_000;
    let server = RealServer::start_with(&["tok"], |c| c.policy.max_photo_bytes = LIMIT);
    let dev = Device::new(&server.url);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap(); // the device learns the district's policy
    let (w, h) = (1600u32, 1200u32);
    let mut seed = 0x1234_5678_u64;
    let row: Vec<u8> = (0..w * 3)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect();
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        enc.set_filter(png::FilterType::Up);
        enc.set_adaptive_filter(png::AdaptiveFilterType::NonAdaptive);
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(&row.repeat(h as usize)).unwrap();
    }
    assert!((png_bytes.len() as u64) < LIMIT, "{}", png_bytes.len());
    let path = dev.gallery.path().join("screenshot.png");
    std::fs::write(&path, &png_bytes).unwrap();
    let here = support::district().1[0].position;
    let filed = dev.worker.file_report(
        "dumped_waste",
        "stripes",
        &[gridworker_core::worker::PhotoInput::new(&path)],
        &dev.fix_at(here),
        None,
    );
    assert!(
        matches!(filed, Err(gridworker_core::Error::InvalidInput { .. })),
        "{filed:?}"
    );
    assert_eq!(dev.pending(), 0);
    assert!(dev.worker.list_reports(0, 10).unwrap().is_empty());
}
