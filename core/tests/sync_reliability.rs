//! Reliability of the sync engine against the real reference server (in-process, on
//! 127.0.0.1) behind the real fault proxy: a property test of random interleavings of
//! record / sync-through-faults / app restart / server restart, and a server restart in the
//! middle of a sync. Each ends on the invariant: the server holds every record exactly once,
//! every photo whole and matching its hash, and the device shows everything synced.

mod support;
mod sync_support;

use std::sync::Arc;
use std::time::Duration;

use gridworker_core::sync::SyncOptions;
use proptest::prelude::*;
use sync_support::{
    Device, Fault, Plan, RealServer, Tokens, assert_all_synced_once, faulty_link_options,
};

fn options() -> SyncOptions {
    faulty_link_options()
}

#[derive(Debug, Clone)]
enum Op {
    CheckIns(usize),
    Visit,
    Report {
        photos: usize,
        size: usize,
    },
    /// A sync with these faults queued for its first requests.
    Sync(Vec<Fault>),
    RestartApp,
    RestartServer,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        3 => Just(Fault::Pass),
        2 => (1u64..400).prop_map(Fault::CutRequestAfter),
        1 => (20_000u64..150_000).prop_map(Fault::CutRequestAfter),
        3 => (1u64..300).prop_map(Fault::CutResponseAfter),
        1 => (0u64..60).prop_map(|ms| Fault::Delay(Duration::from_millis(ms))),
        1 => Just(Fault::Status { code: 500, retry_after: None }),
        1 => Just(Fault::Status { code: 503, retry_after: Some(0) }),
        1 => Just(Fault::Status { code: 429, retry_after: Some(0) }),
        1 => Just(Fault::Garbage),
        2 => Just(Fault::TruncatedJson),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1usize..4).prop_map(Op::CheckIns),
        1 => Just(Op::Visit),
        2 => (1usize..3, 10_000usize..180_000).prop_map(|(photos, size)| Op::Report { photos, size }),
        4 => prop::collection::vec(fault(), 0..6).prop_map(Op::Sync),
        1 => Just(Op::RestartApp),
        1 => Just(Op::RestartServer),
    ]
}

fn run_case(ops: &[Op], rt: &tokio::runtime::Runtime) {
    let server = RealServer::start(&["tok"]);
    let mut dev = Device::new(&server.url);
    let mut seed = 0u8;
    for op in ops {
        match op {
            Op::CheckIns(n) => {
                dev.check_ins(*n);
            }
            Op::Visit => {
                dev.visit();
            }
            Op::Report { photos, size } => {
                seed = seed.wrapping_add(1);
                dev.report(*photos, *size, seed);
            }
            Op::Sync(faults) => {
                server.proxy.clear_faults();
                for f in faults {
                    server.proxy.push_fault(f.clone());
                }
                let engine = dev.engine(Tokens::fixed("tok"), options());
                rt.block_on(engine.sync())
                    .unwrap_or_else(|e| panic!("sync through {faults:?} failed: {e}"));
                server.proxy.clear_faults();
                rt.block_on(assert_all_synced_once(&dev, &server));
            }
            Op::RestartApp => dev.restart(),
            Op::RestartServer => server.restart(),
        }
    }
    // Whatever came last, one clean sync delivers the rest.
    let engine = dev.engine(Tokens::fixed("tok"), options());
    rt.block_on(engine.sync()).unwrap();
    rt.block_on(assert_all_synced_once(&dev, &server));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        max_shrink_iters: 20,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_records_syncs_faults_and_restarts_keep_every_record_exactly_once(
        ops in prop::collection::vec(op(), 1..10)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        run_case(&ops, &rt);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_restarts_mid_sync_and_the_retries_finish_the_job() {
    let server = Arc::new(RealServer::start(&["tok"]));
    let dev = Device::new(&server.url);
    let engine = dev.engine(Tokens::fixed("tok"), options());
    engine.sync().await.unwrap();
    dev.check_ins(10);
    dev.visit();
    dev.report(2, 400_000, 1);
    dev.check_ins(5);
    // A slow link keeps the run in flight (the photos alone take about 4 s).
    server
        .proxy
        .set_plan(Plan::throttled(200_000, Duration::from_millis(20)));
    // Retries that outlast a restart however slow it is on a loaded machine (the faulty
    // link's 30 quick ones covered about 1.3-2.6 s of refused connections).
    let opts = SyncOptions {
        request_timeout: Duration::from_secs(10),
        max_attempts: 600,
        max_backoff: Duration::from_millis(200),
        ..options()
    };
    drop(engine);
    let engine = Arc::new(dev.engine(Tokens::fixed("tok"), opts));
    let e = engine.clone();
    let run = tokio::spawn(async move { e.sync().await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let requests_before = server.proxy.stats().requests;
    let s = server.clone();
    tokio::task::spawn_blocking(move || {
        s.stop();
        // Down long enough that the engine meets refused connections.
        std::thread::sleep(Duration::from_millis(400));
        s.start_again();
    })
    .await
    .unwrap();
    assert!(
        !run.is_finished(),
        "the sync ended before the server went down"
    );
    let report = run.await.unwrap().unwrap();
    assert!(report.retries >= 1, "{report:?}");
    assert!(server.proxy.stats().requests > requests_before);
    server.proxy.set_plan(Plan::pass());
    assert_eq!(assert_all_synced_once(&dev, &server).await, 17);
}
