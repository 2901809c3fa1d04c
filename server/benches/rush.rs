//! District rush hour: N devices (default 1,000; `GW_RUSH_DEVICES`) each push a day's records
//! (30 check-ins, 15 visits, 5 reports, no photos) in one push at the end of a shift,
//! concurrently (`GW_RUSH_CONCURRENCY`, default 32 in flight), over real HTTP on 127.0.0.1,
//! against one node on SQLite, then one and two nodes on PostgreSQL when
//! `GRIDWORKER_TEST_DATABASE_URL` is set (run it through `GW_PG_DURABLE=1
//! scripts/with-postgres.sh` for a cluster with default durability). Each line ends with the
//! ratio to the floor: the same rows inserted directly into a table of the same shape, in
//! one transaction (SQLite) or multi-row INSERTs of 1,000 (PostgreSQL).
//!
//! `cargo bench -p gridworker-server --bench rush`
//!
//! Then the photos, as a separate part: `GW_RUSH_PHOTOS` photos (default 500) of 256 KiB, each
//! sent whole in one resumable-upload request by one of the devices, into the photo store
//! all nodes of a configuration share (a directory, or the bucket `GRIDWORKER_TEST_PHOTOS`
//! names: run through `scripts/with-s3.sh`), with its ratio to the floor of writing the same
//! files directly, each fsynced.
//!
//! The servers run in this process, so the peak RSS printed is the nodes' and the load
//! generator's together. A push answered 503 (the node's buffered-request cap, or another
//! node holding the device) is sent again after 20 ms, not after `Retry-After`, so the
//! figure is the server's capacity rather than the phones' patience.

use std::time::{Duration, Instant};

use gridworker_model::wire::{self, Mutation};
use gridworker_server::blobs::PhotoStorage;
use gridworker_server::store::Database;
use gridworker_server::{ServerConfig, ServerHandle, spawn_in_thread};
use gridworker_testkit::scripted::Device;

const ADMIN: &str = "admin";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn day(i: usize) -> (String, Vec<Mutation>) {
    let worker = format!("w-rush-{i:05}");
    let mut d = Device::new(&format!("dev-rush-{i:05}"), &worker);
    let mut m = Vec::with_capacity(50);
    for _ in 0..30 {
        m.push(d.checkin("p-00001"));
    }
    for _ in 0..15 {
        m.push(d.visit("h-000001"));
    }
    for _ in 0..5 {
        m.push(d.report(&[]));
    }
    (worker, m)
}

fn config(
    database: Database,
    photos: PhotoStorage,
    dir: &std::path::Path,
    devices: usize,
) -> ServerConfig {
    let mut c = ServerConfig::new(dir).fixtures(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/district-small"),
    );
    c.admin_token = ADMIN.into();
    c.database = database;
    c.photos = photos;
    c.limits.max_buffered_requests = 64;
    for i in 0..devices {
        c = c.token(&format!("w-rush-{i:05}"), &format!("tok-{i:05}"));
    }
    c
}

struct Outcome {
    records: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Sends every request `concurrency` at a time, each again after 20 ms while it is answered
/// 503, and times them; `units` is what they carry (records or photos).
async fn load(requests: Vec<reqwest::RequestBuilder>, units: usize, concurrency: usize) -> Outcome {
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for req in requests {
        let sem = sem.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore");
            let t = Instant::now();
            loop {
                let r = req
                    .try_clone()
                    .expect("a buffered body")
                    .send()
                    .await
                    .expect("request sent");
                match r.status() {
                    reqwest::StatusCode::OK => break,
                    reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                        tokio::time::sleep(Duration::from_millis(20)).await
                    }
                    s => panic!("answered {s}"),
                }
            }
            t.elapsed().as_secs_f64() * 1000.0
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.push(t.await.expect("task"));
    }
    let seconds = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    Outcome {
        records: units,
        seconds,
        p50_ms: q(0.5),
        p99_ms: q(0.99),
    }
}

/// A request of device `i` (its token and device headers).
fn as_device(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    i: usize,
) -> reqwest::RequestBuilder {
    http.request(method, url)
        .header(wire::HEADER_PROTOCOL, wire::PROTOCOL_VERSION)
        .header("authorization", format!("Bearer tok-{i:05}"))
        .header(wire::HEADER_DEVICE, format!("dev-rush-{i:05}"))
}

async fn rush(urls: &[String], days: &[(String, Vec<Mutation>)], concurrency: usize) -> Outcome {
    let http = reqwest::Client::new();
    let requests = days
        .iter()
        .enumerate()
        .map(|(i, (_, muts))| {
            let body = serde_json::to_vec(&wire::PushRequest {
                device_id: format!("dev-rush-{i:05}"),
                mutations: muts.clone(),
            })
            .expect("encodes");
            let url = format!("{}{}", urls[i % urls.len()], wire::PATH_PUSH);
            as_device(&http, reqwest::Method::POST, url, i)
                .header("content-type", "application/json")
                .body(body)
        })
        .collect();
    let records = days.iter().map(|(_, m)| m.len()).sum();
    load(requests, records, concurrency).await
}

const PHOTO_BYTES: usize = 256 * 1024;

fn photo(k: usize) -> (Vec<u8>, String) {
    use sha2::Digest;
    let mut b: Vec<u8> = (0..PHOTO_BYTES)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(k as u32) as u8
        })
        .collect();
    b[..8].copy_from_slice(&(k as u64).to_le_bytes());
    b[..3].copy_from_slice(&[0xFF, 0xD8, 0xFF]);
    let sha = hex::encode(sha2::Sha256::digest(&b));
    (b, sha)
}

/// Uploads `photos` photos, photo k by device k % devices to node k % nodes.
async fn photo_rush(urls: &[String], devices: usize, photos: usize, concurrency: usize) -> Outcome {
    let http = reqwest::Client::new();
    let requests = (0..photos)
        .map(|k| {
            let (bytes, sha) = photo(k);
            let url = format!("{}{}", urls[k % urls.len()], wire::photo_path(&sha));
            as_device(&http, reqwest::Method::PATCH, url, k % devices)
                .header(wire::HEADER_UPLOAD_OFFSET, 0)
                .header(wire::HEADER_UPLOAD_LENGTH, PHOTO_BYTES)
                .header("content-type", "image/jpeg")
                .body(bytes)
        })
        .collect();
    load(requests, photos, concurrency).await
}

/// The same photos written straight to files, each fsynced, one after another.
fn floor_photos(dir: &std::path::Path, photos: usize) -> f64 {
    use std::io::Write;
    let mut spent = Duration::ZERO;
    for k in 0..photos {
        let (bytes, sha) = photo(k);
        let t = Instant::now();
        let mut f = std::fs::File::create(dir.join(sha)).expect("creates");
        f.write_all(&bytes).expect("writes");
        f.sync_all().expect("syncs");
        spent += t.elapsed();
    }
    spent.as_secs_f64()
}

/// Starts a new peak-RSS measurement (Linux: writing 5 to clear_refs resets VmHWM), so each
/// part's figure is its own.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn photo_storage(shared: &std::path::Path) -> PhotoStorage {
    match gridworker_testkit::s3::photos_spec() {
        Some(spec) => PhotoStorage::parse(&spec).expect("a valid --photos"),
        None => PhotoStorage::Local(Some(shared.to_path_buf())),
    }
}

const FLOOR_TABLE: &str = "CREATE TABLE floor_mutations (
    device_id TEXT NOT NULL, mutation_id TEXT NOT NULL, worker_id TEXT NOT NULL,
    seq BIGINT NOT NULL, kind TEXT NOT NULL, record_id TEXT NOT NULL, payload TEXT NOT NULL,
    device_time TEXT NOT NULL, monotonic_ms BIGINT NOT NULL, prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL, status TEXT NOT NULL, server_flags TEXT NOT NULL,
    received_at TEXT NOT NULL, PRIMARY KEY (device_id, mutation_id))";

fn rows(days: &[(String, Vec<Mutation>)]) -> impl Iterator<Item = (usize, &String, &Mutation)> {
    days.iter()
        .enumerate()
        .flat_map(|(i, (w, ms))| ms.iter().map(move |m| (i, w, m)))
}

fn floor_sqlite(dir: &std::path::Path, days: &[(String, Vec<Mutation>)]) -> f64 {
    let mut c = rusqlite::Connection::open(dir.join("floor.sqlite")).expect("opens");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.pragma_update(None, "synchronous", "FULL").expect("sync");
    c.execute_batch(FLOOR_TABLE).expect("table");
    let t = Instant::now();
    let tx = c.transaction().expect("tx");
    {
        let mut st = tx
            .prepare("INSERT INTO floor_mutations VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,'applied','[]',?12)")
            .expect("prepares");
        for (i, w, m) in rows(days) {
            st.execute(rusqlite::params![
                format!("dev-rush-{i:05}"),
                m.mutation_id,
                w,
                m.seq,
                m.kind,
                m.record_id,
                m.payload,
                m.device_time,
                m.monotonic_ms,
                m.prev_hash,
                m.hash,
                "2026-11-30 18:00:00+00:00"
            ])
            .expect("inserts");
        }
    }
    tx.commit().expect("commits");
    t.elapsed().as_secs_f64()
}

fn floor_postgres(url: &str, days: &[(String, Vec<Mutation>)]) -> f64 {
    let url = url.to_string();
    let days = days.to_vec();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connects");
        c.batch_execute(FLOOR_TABLE).expect("table");
        let all: Vec<_> = rows(&days).collect();
        let t = Instant::now();
        let mut tx = c.transaction().expect("tx");
        for chunk in all.chunks(1000) {
            let mut sql = String::from("INSERT INTO floor_mutations VALUES ");
            let mut params: Vec<Box<dyn postgres::types::ToSql + Sync>> = Vec::new();
            for (k, (i, w, m)) in chunk.iter().enumerate() {
                let b = k * 12;
                if k > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${},${},${},${},${},${},${},${},${},${},${},'applied','[]',${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9,
                    b + 10,
                    b + 11,
                    b + 12
                ));
                params.push(Box::new(format!("dev-rush-{i:05}")));
                params.push(Box::new(m.mutation_id.clone()));
                params.push(Box::new((*w).clone()));
                params.push(Box::new(m.seq));
                params.push(Box::new(m.kind.clone()));
                params.push(Box::new(m.record_id.clone()));
                params.push(Box::new(m.payload.clone()));
                params.push(Box::new(m.device_time.format("%F %T%.f%:z").to_string()));
                params.push(Box::new(m.monotonic_ms));
                params.push(Box::new(m.prev_hash.clone()));
                params.push(Box::new(m.hash.clone()));
                params.push(Box::new("2026-11-30 18:00:00+00:00".to_string()));
            }
            let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                params.iter().map(|p| p.as_ref()).collect();
            tx.execute(sql.as_str(), &refs).expect("inserts");
        }
        tx.commit().expect("commits");
        t.elapsed().as_secs_f64()
    })
    .join()
    .expect("floor thread")
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn report(backend: &str, nodes: usize, o: &Outcome, floor_s: f64) {
    let rate = o.records as f64 / o.seconds;
    let floor_rate = o.records as f64 / floor_s;
    println!(
        "rush {backend} {nodes} node(s): {rate:.0} records/s, p50 {:.1} ms, p99 {:.1} ms, floor ratio {:.2}x",
        o.p50_ms,
        o.p99_ms,
        floor_rate / rate
    );
    println!(
        "  {} records from {} devices in {:.2} s; floor {:.0} records/s ({:.2} s); peak RSS {:.0} MiB",
        o.records,
        o.records / 50,
        o.seconds,
        floor_rate,
        floor_s,
        peak_rss_mib()
    );
}

struct Floors {
    records_s: f64,
    photos_s: f64,
    photos: usize,
}

fn run(
    backend: &str,
    database: impl Fn() -> Database,
    nodes: usize,
    days: &[(String, Vec<Mutation>)],
    concurrency: usize,
    floors: &Floors,
) {
    let dirs: Vec<_> = (0..nodes)
        .map(|_| tempfile::tempdir().expect("dir"))
        .collect();
    let shared = tempfile::tempdir().expect("dir");
    let photos = photo_storage(shared.path());
    let db = database();
    let servers: Vec<ServerHandle> = dirs
        .iter()
        .map(|d| {
            spawn_in_thread(config(db.clone(), photos.clone(), d.path(), days.len()))
                .expect("starts")
        })
        .collect();
    let urls: Vec<String> = servers.iter().map(ServerHandle::url).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let races = gridworker_server::store::lost_races();
    reset_peak_rss();
    let o = rt.block_on(rush(&urls, days, concurrency));
    report(backend, nodes, &o, floors.records_s);
    println!(
        "  write transactions run again after losing a race: {}",
        gridworker_server::store::lost_races() - races
    );
    if floors.photos > 0 {
        reset_peak_rss();
        let p = rt.block_on(photo_rush(&urls, days.len(), floors.photos, concurrency));
        let rate = p.records as f64 / p.seconds;
        let mb = |n: f64| n * PHOTO_BYTES as f64 / 1e6;
        println!(
            "rush photos {backend} {nodes} node(s) into {}: {rate:.0} photos/s ({:.1} MB/s), p50 {:.1} ms, p99 {:.1} ms, floor ratio {:.2}x",
            match photos {
                PhotoStorage::Local(_) => "a directory",
                PhotoStorage::S3(_) => "S3",
            },
            mb(rate),
            p.p50_ms,
            p.p99_ms,
            (p.records as f64 / floors.photos_s) / rate
        );
        println!(
            "  {} photos of {} KiB in {:.2} s; floor {:.1} MB/s (files written and fsynced one by one); peak RSS {:.0} MiB (the load generator's photos included)",
            p.records,
            PHOTO_BYTES / 1024,
            p.seconds,
            mb(p.records as f64 / floors.photos_s),
            peak_rss_mib()
        );
    }
    for s in servers {
        s.shutdown();
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let devices = env_usize("GW_RUSH_DEVICES", 1000);
    let concurrency = env_usize("GW_RUSH_CONCURRENCY", 32);
    let days: Vec<_> = (0..devices).map(day).collect();

    let photos = env_usize("GW_RUSH_PHOTOS", 500);
    let floor_dir = tempfile::tempdir().expect("dir");
    let mut floors = Floors {
        records_s: floor_sqlite(floor_dir.path(), &days),
        photos_s: floor_photos(floor_dir.path(), photos),
        photos,
    };
    run(
        "sqlite",
        || Database::Sqlite,
        1,
        &days,
        concurrency,
        &floors,
    );

    let Ok(cluster) = std::env::var(gridworker_testkit::postgres::URL_ENV) else {
        println!(
            "rush postgres: skipped ({} is not set; run through scripts/with-postgres.sh)",
            gridworker_testkit::postgres::URL_ENV
        );
        return;
    };
    floors.records_s = floor_postgres(&gridworker_testkit::postgres::fresh_database(), &days);
    let _ = cluster;
    for nodes in [1, 2] {
        run(
            "postgres",
            || Database::Postgres(gridworker_testkit::postgres::fresh_database()),
            nodes,
            &days,
            concurrency,
            &floors,
        );
    }
}
