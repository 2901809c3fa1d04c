//! The sync tests' world: the real reference server (`gridworker-server`, in-process, on
//! 127.0.0.1 with a temporary `--data` seeded from `fixtures/district-small`) behind the
//! real fault proxy, a device (the core on a temporary directory with a settable clock),
//! and the invariant every test ends on — checked through the server's admin API.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridworker_server::{ServerConfig, ServerHandle, spawn_in_thread};
use gridworker_testkit::fault_proxy::FaultProxy;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{TestClock, config, district, jpeg_seeded, mono, morning};
use gridworker_core::domain::LocationFix;
use gridworker_core::geo::Position;
use gridworker_core::sync::{AccessTokenProvider, SyncEngine, SyncOptions};
use gridworker_core::{Clock, Error, GridWorker};

#[allow(unused_imports)]
pub use gridworker_testkit::fault_proxy::{Fault, Plan, ProxyStats};

pub const ADMIN: &str = "admin-secret";
/// The fixtures' worker the device signs in as (its grid is g-0001).
pub const WORKER: &str = "w-0001";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/district-small")
}

/// The reference server on its own data directory, with the fault proxy in front of it.
/// Devices talk to [`RealServer::url`] (the proxy); the admin checks go straight to the
/// server.
pub struct RealServer {
    pub data: tempfile::TempDir,
    config: ServerConfig,
    addr: SocketAddr,
    handle: Mutex<Option<ServerHandle>>,
    pub proxy: FaultProxy,
    /// Where devices connect: the proxy.
    pub url: String,
    http: reqwest::Client,
}

impl RealServer {
    /// A fresh server accepting each token for [`WORKER`].
    pub fn start(tokens: &[&str]) -> RealServer {
        Self::start_with(tokens, |_| {})
    }

    /// As [`RealServer::start`], with the configuration adjusted first.
    pub fn start_with(tokens: &[&str], adjust: impl FnOnce(&mut ServerConfig)) -> RealServer {
        let data = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(data.path()).fixtures(fixtures());
        for t in tokens {
            config = config.token(WORKER, t);
        }
        config.admin_token = ADMIN.to_string();
        // The server's conformance pass runs these tests on PostgreSQL too.
        if let Some(url) = gridworker_testkit::postgres::database_for(data.path()) {
            config.database = gridworker_server::store::Database::Postgres(url);
        }
        adjust(&mut config);
        let handle = spawn_in_thread(config.clone()).expect("server starts");
        let addr = handle.addr();
        // Restarts bind this very port again, so the proxy's upstream stays valid.
        config.listen = addr;
        let proxy = FaultProxy::start(addr).expect("proxy starts");
        let url = proxy.url();
        RealServer {
            data,
            config,
            addr,
            handle: Mutex::new(Some(handle)),
            proxy,
            url,
            http: reqwest::Client::new(),
        }
    }

    /// The next run's handshake passes and its first push is refused as too large (413), as
    /// by a proxy's body limit: a push holding one entry sets it aside.
    pub fn refuse_next_push_as_too_large(&self) {
        self.proxy.push_fault(Fault::Pass);
        self.proxy.push_fault(Fault::Status {
            code: 413,
            retry_after: None,
        });
    }

    /// `http://127.0.0.1:PORT` of the server itself (no proxy).
    pub fn direct_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server like a crash: listener closed, connections dropped mid-way.
    /// Blocks until its database is closed; call from a blocking context.
    pub fn stop(&self) {
        let h = self.handle.lock().unwrap().take();
        if let Some(h) = h {
            h.shutdown();
        }
    }

    /// Starts the server again on the same data directory and port.
    pub fn start_again(&self) {
        let mut slot = self.handle.lock().unwrap();
        assert!(slot.is_none(), "server already running");
        // The old socket may linger for a moment after the crash-like stop.
        let mut last = None;
        for _ in 0..50 {
            match spawn_in_thread(self.config.clone()) {
                Ok(h) => {
                    *slot = Some(h);
                    return;
                }
                Err(e) => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        panic!("server did not restart: {last:?}");
    }

    /// Stop, then start again on the same data directory and port.
    pub fn restart(&self) {
        self.stop();
        self.start_again();
    }

    /// The admin API, straight to the server (not through the proxy).
    pub fn admin(&self) -> gridworker_testkit::admin::Admin {
        gridworker_testkit::admin::Admin::new(&self.direct_url(), ADMIN)
    }

    pub async fn admin_json(&self, path: &str) -> Value {
        let (s, v) = self.admin().get(path).await;
        assert_eq!(s, 200, "{path}: {v}");
        v
    }

    /// An admin request with a JSON body.
    pub async fn admin_send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let (s, v) = self.admin().send(method, path, body).await;
        assert!(s.is_success(), "{path}: {s} {v}");
        v
    }

    /// Mutations of `kind` the server holds with `status` (`applied`, `rejected`, or
    /// `withdrawn` for withdrawal links).
    pub async fn records(&self, kind: &str, status: &str) -> Vec<Value> {
        let v = self
            .admin_json(&format!("/admin/v1/records?kind={kind}&status={status}"))
            .await;
        v["records"].as_array().cloned().unwrap_or_default()
    }

    /// Applied records per kind, and the rejected total.
    pub async fn counts(&self) -> (HashMap<String, u64>, u64) {
        let v = self.admin_json("/admin/v1/records").await;
        let counts = v["counts"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        (counts, v["rejected"].as_u64().unwrap_or(0))
    }

    /// The bytes of a complete photo, or `None` when the server does not hold it whole.
    pub async fn photo(&self, sha: &str) -> Option<Vec<u8>> {
        let r = self
            .admin()
            .get_raw(&format!("/admin/v1/photos/{sha}"))
            .await;
        if r.status() != 200 {
            return None;
        }
        Some(r.bytes().await.expect("photo body").to_vec())
    }
}

/// Hands out a fixed token; counts refreshes.
pub struct Tokens {
    pub first: String,
    pub refreshed: String,
    pub refreshes: Mutex<u32>,
}

impl Tokens {
    pub fn fixed(t: &str) -> Arc<Tokens> {
        Arc::new(Tokens {
            first: t.into(),
            refreshed: t.into(),
            refreshes: Mutex::new(0),
        })
    }
}

impl AccessTokenProvider for Tokens {
    fn access_token(&self, force_refresh: bool) -> Result<String, Error> {
        if force_refresh {
            *self.refreshes.lock().unwrap() += 1;
            Ok(self.refreshed.clone())
        } else {
            Ok(self.first.clone())
        }
    }
}

/// A device: a data dir, a settable clock and the core opened on them.
pub struct Device {
    pub dir: tempfile::TempDir,
    pub clock: Arc<TestClock>,
    pub worker: Arc<GridWorker>,
    pub url: String,
    /// The database key the device opens its store with (`None`: plain).
    pub key: Option<gridworker_core::DatabaseKey>,
    /// Where the "camera" writes the photos the worker attaches (outside the data dir).
    pub gallery: tempfile::TempDir,
    photo_seed: Mutex<u8>,
}

pub fn fast_options() -> SyncOptions {
    SyncOptions {
        allow_http: true,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        max_attempts: 12,
        request_timeout: Duration::from_secs(5),
        ..SyncOptions::default()
    }
}

/// Options for runs through a faulty link: small batches (many requests to cut), short
/// request timeouts and many quick retries, so a run survives the faults it is dealt.
pub fn faulty_link_options() -> SyncOptions {
    SyncOptions {
        request_timeout: Duration::from_secs(1),
        batch_max_mutations: 4,
        max_attempts: 30,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(100),
        ..fast_options()
    }
}

impl Device {
    /// A fresh store with the test district (points P11…, households H11…) imported, so the
    /// worker can record before any sync; the server flags those ids as unknown but stores
    /// the records.
    pub fn new(url: &str) -> Device {
        Self::new_with_key(url, None)
    }

    /// As [`Device::new`], the store encrypted (and photos sealed) under `app_key`.
    pub fn new_sealed(url: &str, app_key: [u8; 32]) -> Device {
        Self::new_with_key(url, Some(gridworker_core::DatabaseKey::from_bytes(app_key)))
    }

    /// As [`Device::new`], with the store encrypted under `key`.
    pub fn new_with_key(url: &str, key: Option<gridworker_core::DatabaseKey>) -> Device {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new(morning());
        let worker = Self::open_at(dir.path(), &clock, url, key.clone());
        let (grids, points, households) = district();
        worker
            .import_reference(&grids, &points, &households, &["G1".into()])
            .unwrap();
        Device {
            dir,
            clock,
            worker,
            url: url.into(),
            key,
            gallery: tempfile::tempdir().unwrap(),
            photo_seed: Mutex::new(0),
        }
    }

    fn open_at(
        dir: &Path,
        clock: &Arc<TestClock>,
        url: &str,
        key: Option<gridworker_core::DatabaseKey>,
    ) -> Arc<GridWorker> {
        let mut c = config(dir, clock.clone());
        c.server_url = url.into();
        c.key = key;
        Arc::new(GridWorker::open(c).unwrap())
    }

    /// Reopens the core on the same directory (an app restart). Engines built on the old
    /// handle keep it alive; build new ones.
    pub fn restart(&mut self) {
        self.worker = Self::open_at(self.dir.path(), &self.clock, &self.url, self.key.clone());
    }

    /// Re-encrypts the store (database and photos) under `key` through
    /// [`GridWorker::rekey`]; engines must be dropped first.
    pub fn rekey(mut self, key: gridworker_core::DatabaseKey) -> Device {
        let scratch = tempfile::tempdir().unwrap();
        let other = Self::open_at(scratch.path(), &self.clock, &self.url, None);
        let worker = std::mem::replace(&mut self.worker, other);
        let worker = Arc::try_unwrap(worker).unwrap_or_else(|_| panic!("a handle is still open"));
        self.worker = Arc::new(worker.rekey(key.clone()).unwrap());
        self.key = Some(key);
        self
    }

    /// Closes the core and opens it again under `key` (re-encryption needs every handle
    /// on the store closed first, unlike [`Device::restart`]). Engines must be dropped first.
    pub fn reopen_with_key(self, key: Option<gridworker_core::DatabaseKey>) -> Device {
        let Device {
            dir,
            clock,
            worker,
            url,
            gallery,
            photo_seed,
            ..
        } = self;
        drop(worker);
        let worker = Self::open_at(dir.path(), &clock, &url, key.clone());
        Device {
            dir,
            clock,
            worker,
            url,
            key,
            gallery,
            photo_seed,
        }
    }

    pub fn engine(&self, tokens: Arc<Tokens>, options: SyncOptions) -> SyncEngine {
        SyncEngine::new(self.worker.clone(), options, tokens).unwrap()
    }

    pub fn fix_at(&self, p: Position) -> LocationFix {
        let now = self.clock.now();
        LocationFix::wgs84(p.lat, p.lon, 8.0, now, mono(now))
    }

    /// Records `n` check-ins across G1's points (moving the clock past the cooldown).
    pub fn check_ins(&self, n: usize) -> Vec<String> {
        let (_, points, _) = district();
        let mut ids = Vec::new();
        for i in 0..n {
            self.clock.advance(700);
            let p = &points[i % 3];
            let r = self
                .worker
                .check_in(&p.id, &self.fix_at(p.position))
                .unwrap();
            ids.push(r.check_in.id);
        }
        ids
    }

    /// Writes `n` accepted check-ins at P11 straight into the outbox, in one transaction and
    /// without their rows (ids `{prefix}-000000`, ...): weeks of records in a moment, for the
    /// push. Returns their ids.
    #[allow(dead_code)]
    pub fn outbox_check_ins(&self, prefix: &str, n: usize) -> Vec<String> {
        use gridworker_core::domain::{CheckIn, CheckInOutcome};
        use gridworker_core::test_hooks::outbox::{self, kind};
        let now = self.clock.now();
        let fix = self.fix_at(crate::support::BASE);
        let device_id = self.worker.config().device_id.clone();
        self.worker
            .test_store()
            .write(|tx| {
                let mut ids = Vec::with_capacity(n);
                for i in 0..n {
                    let c = CheckIn {
                        id: format!("{prefix}-{i:06}"),
                        worker_id: WORKER.into(),
                        device_id: device_id.clone(),
                        point_id: "P11".into(),
                        fix: fix.clone(),
                        position: crate::support::BASE,
                        distance_m: 3.2,
                        outcome: CheckInOutcome::Accepted,
                        flags: vec![],
                        recorded_at: now,
                    };
                    let payload = serde_json::to_string(&c).unwrap();
                    outbox::append(tx, kind::CHECKIN, &c.id, payload, now, 1)?;
                    ids.push(c.id);
                }
                Ok(ids)
            })
            .unwrap()
    }

    pub fn visit(&self) -> String {
        self.visit_noting("note")
    }

    /// A visit to the first household with `note`.
    pub fn visit_noting(&self, note: &str) -> String {
        let (_, _, households) = district();
        self.clock.advance(60);
        let h = &households[0];
        self.worker
            .record_visit(
                &h.id,
                gridworker_core::domain::VisitKind::Routine,
                note,
                &self.fix_at(h.position),
            )
            .unwrap()
            .id
    }

    /// Files a report with `photos` photos of `size` bytes; returns (report id, shas).
    /// Every call makes photos with different bytes.
    pub fn report(&self, photos: usize, size: usize, seed: u8) -> (String, Vec<String>) {
        self.clock.advance(60);
        let salt = {
            let mut s = self.photo_seed.lock().unwrap();
            *s = s.wrapping_add(1);
            *s
        };
        let inputs: Vec<_> = (0..photos)
            .map(|i| {
                let name = format!("in-{seed}-{salt}-{i}.jpg");
                // Distinct per call even with the same seed: distinct photos.
                let path = jpeg_seeded(
                    self.gallery.path(),
                    &name,
                    size,
                    u64::from(seed) << 24 | u64::from(salt) << 16 | i as u64,
                );
                gridworker_core::worker::PhotoInput::new(path)
            })
            .collect();
        let (_, points, _) = district();
        let r = self
            .worker
            .file_report(
                "dumped_waste",
                "建筑垃圾",
                &inputs,
                &self.fix_at(points[0].position),
                None,
            )
            .unwrap();
        let shas = r.photos.iter().map(|p| p.sha256.clone()).collect();
        (r.id, shas)
    }

    /// Records not yet synced (pending in the outbox), all kinds.
    pub fn pending(&self) -> u64 {
        let c = self.worker.sync_counts().unwrap();
        c.pending.checkins + c.pending.visits + c.pending.reports + c.pending.tasks
    }

    /// The outbox as the store has it: (mutation id, kind, record id, payload, state).
    pub fn outbox(&self) -> Vec<(String, String, String, String, String)> {
        self.worker.test_store().read(|c| Ok(outbox_of(c))).unwrap()
    }
}

/// (mutation id, kind, record id, payload, state); a track block's payload is derived from
/// its block, as the push does.
fn outbox_of(conn: &rusqlite::Connection) -> Vec<(String, String, String, String, String)> {
    let rows: Vec<(i64, String, String, String, String, String)> = conn
        .prepare(
            "SELECT seq, mutation_id, kind, record_id, payload, state FROM outbox ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    rows.into_iter()
        .map(|(seq, id, kind, record, payload, state)| {
            let payload = if payload.is_empty() {
                gridworker_core::test_hooks::outbox::entry(conn, seq)
                    .unwrap()
                    .map(|e| e.payload)
                    .unwrap_or_default()
            } else {
                payload
            };
            (id, kind, record, payload, state)
        })
        .collect()
}

/// The invariant, checked on the real server through its admin API: it holds each of the
/// device's outbox mutations exactly once (same mutation id, same record, same payload
/// fields) and nothing else; every photo a report names is held complete and hashes to its
/// name; the device shows everything synced (nothing pending). Returns the number of
/// records checked.
pub async fn assert_all_synced_once(device: &Device, server: &RealServer) -> usize {
    assert_synced_once_all(&[device], server).await
}

/// As [`assert_all_synced_once`] for several devices (or several stores) sharing a server.
pub async fn assert_synced_once_all(devices: &[&Device], server: &RealServer) -> usize {
    let mut rows = Vec::new();
    for d in devices {
        rows.extend(d.outbox());
    }
    let kinds: HashSet<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    let mut held: HashMap<String, Value> = HashMap::new();
    let mut records_seen: HashSet<(String, String)> = HashSet::new();
    let mut held_withdrawn = 0usize;
    for kind in [
        "checkin",
        "visit",
        "report",
        "task_ack",
        "task_completion",
        "patrol_event",
        "track_block",
        "report_evaluation",
        "resident_add",
        "resident_update",
        "household_update",
        "conflict_resolution",
    ] {
        for status in ["applied", "rejected", "withdrawn"] {
            if !kinds.contains(kind) && status != "applied" {
                continue;
            }
            for r in server.records(kind, status).await {
                let id = r["mutation_id"].as_str().unwrap_or_default().to_string();
                let rec = (kind.to_string(), r["id"].to_string());
                assert!(
                    records_seen.insert(rec.clone()) || r.get("id").is_none(),
                    "record {rec:?} held twice"
                );
                held_withdrawn += usize::from(status == "withdrawn");
                let mut r = r;
                r["__status"] = Value::String(status.into());
                assert!(
                    held.insert(id.clone(), r).is_none(),
                    "mutation {id} held twice"
                );
            }
        }
    }
    let mut unheld_rejections = 0usize;
    for (id, kind, record_id, payload, state) in &rows {
        if state == "withdrawn" {
            // Repaired as a new entry or discarded by the worker: not a record, but its link
            // of the chain is held, without the payload.
            let got = held
                .get(id)
                .unwrap_or_else(|| panic!("server lacks the withdrawal link {id} ({kind})"));
            assert_eq!(
                got["__status"], "withdrawn",
                "withdrawn {id} held as a record"
            );
            assert_eq!(got["payload_text"], "", "withdrawn {id} kept its payload");
            continue;
        }
        assert!(
            state == "synced" || state == "rejected",
            "mutation {id} ({kind}) is {state} on the device"
        );
        let Some(got) = held.get(id) else {
            // A mutation refused before it could be stored (a broken hash is not kept)
            // is rejected on the device with its reason; anything else must be held.
            assert_eq!(
                state, "rejected",
                "server lacks mutation {id} ({kind} {record_id})"
            );
            unheld_rejections += 1;
            continue;
        };
        let want_status = if state == "synced" {
            "applied"
        } else {
            "rejected"
        };
        assert_eq!(got["__status"], want_status, "{id}");
        if state == "rejected" {
            // A tampered payload is stored as sent; its fields need not match the store's.
            continue;
        }
        let sent: Value = serde_json::from_str(payload).unwrap();
        for (k, v) in sent.as_object().expect("payload is an object") {
            assert_eq!(&got[k], v, "field {k} of {kind} {record_id} differs");
        }
        if kind == "report" {
            for p in sent["photos"].as_array().cloned().unwrap_or_default() {
                let sha = p["sha256"].as_str().expect("photo sha").to_string();
                let bytes = server
                    .photo(&sha)
                    .await
                    .unwrap_or_else(|| panic!("server lacks photo {sha} whole"));
                assert_eq!(hex::encode(Sha256::digest(&bytes)), sha, "photo corrupted");
            }
        }
    }
    assert_eq!(
        held.len() + unheld_rejections,
        rows.len(),
        "the server holds records the device never sent"
    );
    let (counts, rejected) = server.counts().await;
    let applied: u64 = counts.values().sum();
    let dev_rejected = rows.iter().filter(|r| r.4 == "rejected").count() - unheld_rejections;
    let dev_withdrawn = rows.iter().filter(|r| r.4 == "withdrawn").count();
    assert_eq!(
        held_withdrawn, dev_withdrawn,
        "withdrawal links the device never sent"
    );
    assert_eq!(
        applied + rejected + held_withdrawn as u64,
        held.len() as u64,
        "{counts:?}"
    );
    assert_eq!(rejected, dev_rejected as u64);
    for d in devices {
        let undelivered: i64 = d
            .worker
            .test_store()
            .read(|c| {
                Ok(c.query_row(
                    "SELECT COUNT(*) FROM outbox WHERE state = 'withdrawn' AND synced_at IS NULL",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(undelivered, 0, "withdrawal links the server did not answer");
        assert_eq!(d.pending(), 0, "the device still has records pending");
        assert_eq!(d.worker.sync_counts().unwrap().pending.photos, 0);
    }
    rows.len()
}

/// Runs blocking server control (stop/start) from async tests.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}
