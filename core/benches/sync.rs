//! Sync benchmarks: `cargo bench -p gridworker-core --bench sync`. Prints figures and ratios
//! measured side by side in one run (absolute times on shared machines are noise).
//!
//! Server: the in-process stand-in from core/tests/sync_support (it keeps records in memory;
//! the reference server in server/ commits to SQLite, so its push figure will be higher).

#[path = "../tests/support/mod.rs"]
mod support;
#[path = "../tests/sync_support/mod.rs"]
mod sync_support;

use std::time::{Duration, Instant};

use gridworker_core::Clock;
use gridworker_core::geo::Crs;
use gridworker_core::store::outbox::{self, kind};
use gridworker_core::sync::wire::Change;
use sync_support::{Device, TestServer, Tokens, fast_options};

fn floor_db(dir: &std::path::Path, ddl: &str) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(dir.join("floor.db")).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "FULL").unwrap();
    c.execute_batch(ddl).unwrap();
    c
}

fn push_bench(rt: &tokio::runtime::Runtime) {
    const N: usize = 10_000;
    let server = rt.block_on(TestServer::start(&["tok"]));
    let dev = Device::new(&server.url);
    let now = dev.clock.now();
    let fix = dev.fix_at(support::BASE);
    let payload = |i: usize| {
        serde_json::json!({"id": format!("ci-{i:06}"), "worker_id": "w-0001", "device_id": "dev-A",
            "point_id": "P11", "fix": fix, "position": support::BASE, "distance_m": 3.2,
            "outcome": "accepted", "flags": [], "recorded_at": now})
        .to_string()
    };
    dev.worker
        .store()
        .write(|tx| {
            for i in 0..N {
                outbox::append(tx, kind::CHECKIN, &format!("ci-{i:06}"), payload(i), now, 1)?;
            }
            Ok(())
        })
        .unwrap();
    let mut opts = fast_options();
    opts.batch_max_mutations = 1000;
    opts.batch_max_bytes = 2 * 1024 * 1024;
    let engine = dev.engine(Tokens::fixed("tok"), opts);
    let t = Instant::now();
    let report = rt.block_on(engine.sync()).unwrap();
    let push = t.elapsed();
    assert_eq!(report.pushed as usize, N);

    let tmp = tempfile::tempdir().unwrap();
    let mut c = floor_db(
        tmp.path(),
        "CREATE TABLE records (mutation_id TEXT PRIMARY KEY, kind TEXT, record_id TEXT, payload TEXT,
         device_time TEXT, monotonic_ms INTEGER, prev_hash TEXT, hash TEXT, state TEXT);",
    );
    let t = Instant::now();
    let tx = c.transaction().unwrap();
    for i in 0..N {
        tx.execute(
            "INSERT INTO records VALUES (?1, 'checkin', ?2, ?3, ?4, 1, ?5, ?6, 'synced')",
            rusqlite::params![
                format!("m-{i}"),
                format!("ci-{i:06}"),
                payload(i),
                now,
                "0".repeat(64),
                "1".repeat(64)
            ],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    let floor = t.elapsed();
    println!(
        "push 10,000 records: {:.1} ms (floor {:.1} ms) ratio {:.2}x (goal <= 4x); {} round trips; {:.0} bytes up per record, {:.0} down",
        push.as_secs_f64() * 1e3,
        floor.as_secs_f64() * 1e3,
        push.as_secs_f64() / floor.as_secs_f64(),
        report.round_trips,
        report.bytes_up as f64 / N as f64,
        report.bytes_down as f64 / N as f64
    );
}

fn pull_bench(rt: &tokio::runtime::Runtime) {
    const N: usize = 100_000;
    let server = rt.block_on(TestServer::start(&["tok"]));
    let mk = |i: usize| Change::HouseholdUpsert {
        id: format!("H{i:07}"),
        grid_code: format!("G{}", i / 350),
        building: format!("{}号楼", i % 40),
        address: format!("红旗社区 {}号楼 2单元 {}", i % 40, i % 300),
        lat: 45.29 + (i % 1000) as f64 * 1e-5,
        lon: 130.97 + (i / 1000) as f64 * 1e-5,
        crs: Crs::Gcj02,
        tags: vec!["低保".into()],
    };
    server.state.lock().unwrap().changes = (0..N).map(mk).collect();
    let dev = Device::new(&server.url);
    let mut opts = fast_options();
    opts.pull_page_limit = 5000;
    let engine = dev.engine(Tokens::fixed("tok"), opts);
    let t = Instant::now();
    let report = rt.block_on(engine.sync()).unwrap();
    let pull = t.elapsed();
    assert_eq!(report.pulled_changes as usize, N);

    let tmp = tempfile::tempdir().unwrap();
    let mut c = floor_db(
        tmp.path(),
        "CREATE TABLE households (id TEXT PRIMARY KEY, grid_code TEXT NOT NULL, building TEXT NOT NULL,
         address TEXT NOT NULL, lat REAL NOT NULL, lon REAL NOT NULL, tags TEXT NOT NULL) STRICT;
         CREATE INDEX households_grid ON households(grid_code);",
    );
    let rows: Vec<Change> = (0..N).map(mk).collect();
    let t = Instant::now();
    let tx = c.transaction().unwrap();
    {
        let mut st = tx
            .prepare("INSERT INTO households VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
            .unwrap();
        for r in &rows {
            if let Change::HouseholdUpsert {
                id,
                grid_code,
                building,
                address,
                lat,
                lon,
                tags,
                ..
            } = r
            {
                st.execute(rusqlite::params![
                    id,
                    grid_code,
                    building,
                    address,
                    lat,
                    lon,
                    serde_json::to_string(tags).unwrap()
                ])
                .unwrap();
            }
        }
    }
    tx.commit().unwrap();
    let floor = t.elapsed();
    println!(
        "initial pull of 100,000 households: {:.0} ms (floor {:.0} ms) ratio {:.2}x (goal <= 2x); {:.0} rows/s (PowerSync publishes 27,600); {:.0} bytes down per row",
        pull.as_secs_f64() * 1e3,
        floor.as_secs_f64() * 1e3,
        pull.as_secs_f64() / floor.as_secs_f64(),
        N as f64 / pull.as_secs_f64(),
        report.bytes_down as f64 / N as f64
    );
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn resume_bench(rt: &tokio::runtime::Runtime) {
    const SIZE: usize = 20 * 1024 * 1024 - 1024;
    let server = rt.block_on(TestServer::start(&["tok"]));
    let dev = Device::new(&server.url);
    dev.report(1, SIZE, 42);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    server.fault(sync_support::Fault::Stall(Duration::ZERO));
    server.fault(sync_support::Fault::Stall(Duration::ZERO));
    server.fault(sync_support::Fault::HalfUpload);
    let rss0 = rss_kb();
    let in0 = server.state.lock().unwrap().bytes_in;
    rt.block_on(engine.sync()).unwrap();
    let rss1 = rss_kb();
    let sent = server.state.lock().unwrap().bytes_in - in0;
    // First attempt sends the whole file (the server keeps half); the resume needs the rest.
    let resent_beyond = sent as i64 - SIZE as i64 - (SIZE / 2) as i64;
    println!(
        "20 MB photo cut at 50% then resumed: bytes re-sent beyond the remaining half {} ({:.2}% of file, goal <= 10%); RSS growth {} KB (goal <= 8192 KB; note: the in-process stand-in server holds the photo in the same process)",
        resent_beyond,
        resent_beyond as f64 * 100.0 / SIZE as f64,
        rss1.saturating_sub(rss0)
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    push_bench(&rt);
    pull_bench(&rt);
    resume_bench(&rt);
}
