//! The reliability model test (issue 8): random histories of what happens to a grid worker's
//! phone and the district's server, each checked against a simple model of what was recorded.
//!
//! A history mixes: records made with random clocks, accuracy and mock flags; photos deleted,
//! altered or truncated after recording; photos the server refuses (bigger than its limit,
//! recorded before the phone learnt that limit); syncs through network faults; the client
//! killed mid-sync; the server restarted; a page of the store corrupted and then recovered;
//! a second worker pushing under this phone's device id; the worker discarding or re-filing
//! a quarantined report. After every history and one clean sync:
//! - every record the core said it stored is on the server exactly once, or quarantined with
//!   a reason the worker can see (listing and counts), or was counted as lost by a recovery;
//! - nothing that is not quarantined is still pending;
//! - the server holds nothing the phone did not send (the thief stored nothing);
//! - the device's chain on the server is intact unless a recovery reported lost entries.
//!
//! Cases: 24 by default (CI, about 5 s); `GRIDWORKER_PROP_CASES=500` for a long run.

mod support;
mod sync_support;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use gridworker_core::Clock;
use gridworker_core::sync::{SyncOptions, wire};
use gridworker_core::test_hooks::DB_FILE;
use gridworker_core::test_hooks::outbox::SyncState;
use gridworker_core::worker::PhotoInput;
use gridworker_core::{Error, GridWorker, recover_store};
use proptest::prelude::*;
use serde_json::json;
use support::{district, flip_page, leaf_pages, mono};
use sync_support::{Device, Fault, RealServer, Tokens, faulty_link_options};

/// The server refuses photos above this; the phone learns it at its first handshake.
const SERVER_PHOTO_LIMIT: u64 = 100_000;
const THIEF: &str = "w-0002";
const THIEF_TOKEN: &str = "tok-thief";

fn options() -> SyncOptions {
    faulty_link_options()
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Delete,
    AlterOneByte,
    Truncate,
}

#[derive(Debug, Clone)]
enum Op {
    CheckIn {
        point: usize,
        skew_s: i64,
        mock: bool,
        accuracy: f64,
    },
    Visit,
    Report {
        photos: usize,
        /// Bigger than the server's limit (refused there unless the phone already knows it).
        oversized: bool,
    },
    DamagePhoto(Damage),
    Sync(Vec<Fault>),
    KillMidSync {
        after_ms: u64,
    },
    RestartServer,
    CorruptPageThenRecover {
        table: usize,
    },
    StolenDeviceId,
    /// The worker deals with the oldest quarantined record: discard it, or re-file it
    /// without the bad photo.
    Resolve {
        discard: bool,
    },
}

const TABLES: [&str; 4] = ["checkins", "visits", "reports", "outbox"];

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        3 => Just(Fault::Pass),
        2 => (1u64..400).prop_map(Fault::CutRequestAfter),
        3 => (1u64..300).prop_map(Fault::CutResponseAfter),
        1 => Just(Fault::Status { code: 503, retry_after: Some(0) }),
        1 => Just(Fault::Garbage),
        1 => Just(Fault::TruncatedJson),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..3, -172_800i64..172_800, prop::bool::weighted(0.2), 3.0f64..60.0)
            .prop_map(|(point, skew_s, mock, accuracy)| Op::CheckIn { point, skew_s, mock, accuracy }),
        1 => Just(Op::Visit),
        2 => (1usize..3, prop::bool::weighted(0.3))
            .prop_map(|(photos, oversized)| Op::Report { photos, oversized }),
        2 => prop_oneof![
            Just(Damage::Delete),
            Just(Damage::AlterOneByte),
            Just(Damage::Truncate)
        ]
        .prop_map(Op::DamagePhoto),
        3 => prop::collection::vec(fault(), 0..4).prop_map(Op::Sync),
        1 => (0u64..120).prop_map(|after_ms| Op::KillMidSync { after_ms }),
        1 => Just(Op::RestartServer),
        1 => (0usize..TABLES.len()).prop_map(|table| Op::CorruptPageThenRecover { table }),
        1 => Just(Op::StolenDeviceId),
        1 => any::<bool>().prop_map(|discard| Op::Resolve { discard }),
    ]
}

/// What the model knows: the records the core said it stored, by id and kind.
#[derive(Default)]
struct Model {
    kept: HashMap<String, &'static str>,
    /// Reports and the photo files they were made with, newest last (for damage).
    reports: Vec<(String, Vec<String>)>,
    /// Entries a recovery said it could not salvage.
    reported_lost: u64,
    /// A recovery ran (record rows may be gone while their outbox entries live on).
    recovered: bool,
    /// The device has pushed at least once, so the server has bound its id to the worker.
    bound: bool,
    photo_salt: u8,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn record_check_in(
    dev: &Device,
    model: &mut Model,
    point: usize,
    skew_s: i64,
    mock: bool,
    acc: f64,
) {
    let (_, points, _) = district();
    let p = &points[point % 3];
    dev.clock.advance(90);
    let true_now = dev.clock.now();
    // The phone's wall clock is off by `skew_s`; the platform's monotonic reading is not.
    dev.clock.set(true_now + chrono::Duration::seconds(skew_s));
    let mut fix = dev.fix_at(p.position);
    fix.accuracy_m = acc;
    fix.is_mock = mock;
    fix.monotonic_ms = mono(true_now);
    let result = dev.worker.check_in(&p.id, &fix);
    dev.clock.set(true_now);
    let r = result.unwrap_or_else(|e| panic!("check-in refused: {e}"));
    if !r.duplicate {
        model.kept.insert(r.check_in.id.clone(), "checkin");
    }
}

fn record_report(dev: &Device, model: &mut Model, photos: usize, oversized: bool) {
    dev.clock.advance(60);
    model.photo_salt = model.photo_salt.wrapping_add(1);
    let salt = model.photo_salt;
    let size = if oversized { 150_000 } else { 20_000 };
    let mut paths = Vec::new();
    let inputs: Vec<_> = (0..photos)
        .map(|i| {
            let path = support::jpeg_seeded(
                dev.dir.path(),
                &format!("m-{salt}-{i}.jpg"),
                size,
                u64::from(salt) << 8 | i as u64,
            );
            paths.push(path.clone());
            PhotoInput::new(path)
        })
        .collect();
    let (_, points, _) = district();
    match dev.worker.file_report(
        "dumped_waste",
        "建筑垃圾",
        &inputs,
        &dev.fix_at(points[0].position),
        None,
    ) {
        Ok(r) => {
            model.kept.insert(r.id.clone(), "report");
            let stored: Vec<String> = r
                .photos
                .iter()
                .filter_map(|p| dev.worker.photo_path(&p.sha256).ok().flatten())
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            model.reports.push((r.id, stored));
        }
        // The phone already knows the server's limit: refused before anything is written.
        Err(Error::InvalidInput { .. }) if oversized => {}
        Err(e) => panic!("report refused: {e}"),
    }
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

/// Damages a stored photo of the newest report that is not yet on the server.
fn damage_photo(dev: &Device, model: &Model, how: Damage) {
    let Some((_, photos)) = model
        .reports
        .iter()
        .rev()
        .find(|(id, _)| matches!(sync_state(dev, id), Some(SyncState::Pending)))
    else {
        return;
    };
    let Some(path) = photos.first() else { return };
    match how {
        Damage::Delete => {
            let _ = std::fs::remove_file(path);
        }
        Damage::AlterOneByte => {
            if let Ok(mut b) = std::fs::read(path) {
                let n = b.len() / 2;
                b[n] ^= 0x55;
                let _ = std::fs::write(path, b);
            }
        }
        Damage::Truncate => {
            if let Ok(b) = std::fs::read(path) {
                let _ = std::fs::write(path, &b[..b.len() / 2]);
            }
        }
    }
}

fn sync(
    dev: &Device,
    model: &mut Model,
    server: &RealServer,
    faults: &[Fault],
    rt: &tokio::runtime::Runtime,
) {
    server.proxy.clear_faults();
    for f in faults {
        server.proxy.push_fault(f.clone());
    }
    let engine = dev.engine(Tokens::fixed("tok"), options());
    let result = rt.block_on(engine.sync());
    server.proxy.clear_faults();
    match result {
        Ok(_) => model.bound = true,
        Err(e) => panic!("sync through {faults:?} failed: {e}"),
    }
}

/// Starts a sync and drops everything mid-way, like the OS killing the app.
fn kill_mid_sync(dev: &mut Device, after_ms: u64) {
    let rt = runtime();
    let engine = Arc::new(dev.engine(Tokens::fixed("tok"), options()));
    let e = engine.clone();
    rt.spawn(async move {
        let _ = e.sync().await;
    });
    std::thread::sleep(Duration::from_millis(after_ms));
    // The run's future is dropped at its next await point either way. Waiting for the
    // runtime's threads makes the kill whole, as a dead process is: with no wait, they went
    // on dropping the run (and its sync lock) while the next step started, which then met
    // `SyncBusy` (seen once in CI).
    rt.shutdown_timeout(Duration::from_secs(30));
    drop(engine);
    // Whether the run got as far as its handshake (which binds the id) is not known, so
    // the model does not count on it.
    dev.restart();
}

/// Flips a leaf page of `table`, then recovers the store as the app would on `StoreDamaged`.
fn corrupt_then_recover(dev: &mut Device, model: &mut Model, table: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let other = GridWorker::open(support::config(scratch.path(), dev.clock.clone())).unwrap();
    drop(std::mem::replace(&mut dev.worker, Arc::new(other)));
    let db = dev.dir.path().join(DB_FILE);
    let (page_size, leaves) = leaf_pages(&db, table);
    flip_page(&db, page_size, leaves[leaves.len() / 2]);
    let report = recover_store(dev.dir.path(), None).unwrap();
    assert!(!report.was_healthy, "a flipped {table} page went unnoticed");
    model.reported_lost += report.lost;
    model.recovered = true;
    dev.restart();
}

/// A second worker pushes under this phone's device id with a sequence number far ahead.
fn stolen_device_id(
    dev: &Device,
    server: &RealServer,
    model: &Model,
    rt: &tokio::runtime::Runtime,
) {
    if !model.bound {
        // Before the phone's first push the id belongs to nobody yet: nothing to steal.
        return;
    }
    let device = dev.worker.config().device_id.clone();
    let payload = json!({"id": "stolen", "note": "x"}).to_string();
    let hash = gridworker_core::chain::link_hash(
        gridworker_core::chain::GENESIS,
        1_000_000_000_000_000,
        "visit",
        "m-stolen",
        &payload,
    );
    let body = json!({
        "device_id": device,
        "mutations": [{
            "mutation_id": "m-stolen", "seq": 1_000_000_000_000_000i64, "kind": "visit",
            "record_id": "stolen", "payload": payload, "device_time": "2026-11-23T01:00:00Z",
            "monotonic_ms": 1, "prev_hash": gridworker_core::chain::GENESIS, "hash": hash
        }]
    });
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}{}", server.direct_url(), wire::PATH_PUSH))
            .bearer_auth(THIEF_TOKEN)
            .header(wire::HEADER_DEVICE, &device)
            .header(wire::HEADER_WORKER, THIEF)
            .header(wire::HEADER_PROTOCOL, wire::PROTOCOL.to_string())
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 403, "another worker pushed under a bound device id");
}

/// Sequence numbers of the outbox entries held in quarantine.
fn quarantined_seqs(dev: &Device) -> HashSet<i64> {
    let conn = rusqlite::Connection::open(dev.dir.path().join(DB_FILE)).unwrap();
    conn.prepare("SELECT seq FROM outbox WHERE state = 'quarantined'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// The sync state a report is listed with.
fn sync_state(dev: &Device, report_id: &str) -> Option<SyncState> {
    dev.worker
        .list_reports(0, 1000)
        .unwrap()
        .into_iter()
        .find(|l| l.record.id == report_id)
        .map(|l| l.sync)
}

fn resolve(dev: &Device, model: &mut Model, discard: bool) {
    let q = dev.worker.quarantined_records().unwrap();
    let Some(first) = q.first() else { return };
    let id = first.record_id.clone();
    if discard || dev.worker.refile_without_quarantined_photo(&id).is_err() {
        dev.worker.discard_quarantined(&id).unwrap();
        model.kept.remove(&id);
    }
}

fn run_case(ops: &[Op], rt: &tokio::runtime::Runtime) {
    let server = RealServer::start_with(&["tok"], |c| {
        c.policy.max_photo_bytes = SERVER_PHOTO_LIMIT;
        c.tokens.push((THIEF.into(), THIEF_TOKEN.into()));
    });
    let mut dev = Device::new(&server.url);
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::CheckIn {
                point,
                skew_s,
                mock,
                accuracy,
            } => record_check_in(&dev, &mut model, *point, *skew_s, *mock, *accuracy),
            Op::Visit => {
                let id = dev.visit();
                model.kept.insert(id, "visit");
            }
            Op::Report { photos, oversized } => {
                record_report(&dev, &mut model, *photos, *oversized)
            }
            Op::DamagePhoto(how) => damage_photo(&dev, &model, *how),
            Op::Sync(faults) => sync(&dev, &mut model, &server, faults, rt),
            Op::KillMidSync { after_ms } => kill_mid_sync(&mut dev, *after_ms),
            Op::RestartServer => server.restart(),
            Op::CorruptPageThenRecover { table } => {
                corrupt_then_recover(&mut dev, &mut model, TABLES[*table])
            }
            Op::StolenDeviceId => stolen_device_id(&dev, &server, &model, rt),
            Op::Resolve { discard } => resolve(&dev, &mut model, *discard),
        }
    }
    sync(&dev, &mut model, &server, &[], rt);
    rt.block_on(check(&dev, &model, &server));
}

/// The invariant, against the model and through the server's admin API.
async fn check(dev: &Device, model: &Model, server: &RealServer) {
    let quarantined: HashSet<String> = dev
        .worker
        .quarantined_records()
        .unwrap()
        .into_iter()
        .map(|q| q.record_id)
        .collect();
    let mut held: HashMap<String, usize> = HashMap::new();
    for kind in ["checkin", "visit", "report"] {
        for r in server.records(kind, "applied").await {
            assert_ne!(r["worker_id"], THIEF, "the thief's mutation was stored");
            *held
                .entry(r["id"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
    }
    let mut missing = 0u64;
    for (id, kind) in &model.kept {
        match held.get(id).copied().unwrap_or(0) {
            1 => assert!(
                !quarantined.contains(id),
                "{kind} {id} is on the server and quarantined"
            ),
            0 if quarantined.contains(id) => {
                // A report row a recovery could not salvage is not listed (its outbox entry,
                // which is what is sent, is): reported in `other_rows_lost`.
                let listed = sync_state(dev, id);
                assert!(
                    matches!(listed, Some(SyncState::Quarantined { .. }))
                        || (listed.is_none() && model.recovered),
                    "quarantined {kind} {id} is listed as {listed:?}"
                );
            }
            0 => missing += 1,
            n => panic!("{kind} {id} is held {n} times"),
        }
    }
    assert!(
        missing <= model.reported_lost,
        "{missing} records are neither on the server nor quarantined, but recovery reported only {} lost",
        model.reported_lost
    );
    let counts = dev.worker.sync_counts().unwrap();
    assert_eq!(
        counts.pending.checkins + counts.pending.visits + counts.pending.reports,
        0,
        "records still pending after a clean sync: {counts:?}"
    );
    assert_eq!(
        counts.quarantined.reports as usize,
        quarantined.len(),
        "the counts disagree with the quarantine list"
    );
    let device = &dev.worker.config().device_id;
    let (status, chain) = server
        .admin()
        .get(&format!("/admin/v1/chain?device={device}"))
        .await;
    if status == 404 {
        // The server never received anything from the phone: everything was quarantined.
        assert!(held.is_empty(), "{chain}");
    } else if model.reported_lost == 0 {
        assert_eq!(status, 200, "{chain}");
        // A quarantined entry is held on the phone, visible to the worker, until repaired or
        // discarded: the only gap allowed is right after one of those.
        let held_back = quarantined_seqs(dev);
        for b in chain["chain_breaks"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let seq = b["seq"].as_i64().unwrap_or_default();
            assert!(
                held_back.contains(&(seq - 1)),
                "chain break at seq {seq} not explained by a quarantined entry: {chain}"
            );
        }
    }
}

fn cases() -> u32 {
    std::env::var("GRIDWORKER_PROP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 30,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_histories_lose_block_or_forge_no_record(ops in prop::collection::vec(op(), 1..14)) {
        let rt = runtime();
        run_case(&ops, &rt);
    }
}
