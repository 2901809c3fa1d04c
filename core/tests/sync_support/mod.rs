//! A small in-process stand-in for the reference server, speaking `core::sync::wire`, with
//! scripted faults. Used by the sync tests until the reference server (server/) lands; it
//! keeps what the real one must keep: every mutation once by id, photos verified by hash.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use gridworker_core::policy::ValidationPolicy;
use gridworker_core::sync::wire::{
    self, Change, HandshakeResponse, MutationResult, Outcome, PhotoStatus, PullResponse,
    PushRequest, PushResponse,
};
use sha2::{Digest, Sha256};

/// A fault the server plays on the next matching request.
#[derive(Debug, Clone)]
pub enum Fault {
    Status(u16, Option<u64>),
    Garbage,
    Truncated,
    /// Process the request fully (commit), then answer 500: the acknowledgement is lost.
    CommitThenFail,
    /// Keep only half of a photo upload, then drop the answer.
    HalfUpload,
    Stall(Duration),
}

#[derive(Default)]
pub struct ServerState {
    pub tokens: Vec<String>,
    pub records: HashMap<String, (String, String)>, // mutation id -> (kind, payload)
    pub applied_order: Vec<String>,
    pub photos: HashMap<String, Vec<u8>>,
    pub photo_complete: HashMap<String, bool>,
    pub changes: Vec<Change>,
    pub faults: VecDeque<Fault>,
    pub requests: u64,
    pub bytes_in: u64,
    pub min_protocol: Option<String>,
    pub reject_kind: Option<String>,
}

pub type Shared = Arc<Mutex<ServerState>>;

pub struct TestServer {
    pub url: String,
    pub state: Shared,
}

fn auth(st: &ServerState, h: &HeaderMap) -> Option<Response> {
    if let Some(min) = &st.min_protocol {
        let v = h
            .get(wire::HEADER_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if v < min.as_str() {
            let mut r = err(426, "client_too_old", "upgrade");
            if let Ok(v) = min.parse() {
                r.headers_mut().insert(wire::HEADER_PROTOCOL, v);
            }
            return Some(r);
        }
    }
    let t = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !st.tokens.iter().any(|k| k == t) {
        return Some(err(401, "unauthorized", "bad token"));
    }
    None
}

fn err(status: u16, code: &str, msg: &str) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": msg}}).to_string();
    (StatusCode::from_u16(status).unwrap(), body).into_response()
}

fn json<T: serde::Serialize>(v: &T) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        serde_json::to_vec(v).unwrap(),
    )
        .into_response()
}

enum Pre {
    Answer(Response),
    Then(Option<Fault>),
}

async fn pre(state: &Shared, h: &HeaderMap, body_len: usize) -> Pre {
    let fault = {
        let mut st = state.lock().unwrap();
        st.requests += 1;
        st.bytes_in += body_len as u64;
        if let Some(r) = auth(&st, h) {
            return Pre::Answer(r);
        }
        st.faults.pop_front()
    };
    match fault {
        Some(Fault::Status(s, ra)) => {
            let mut r = err(s, "fault", "injected");
            if let Some(ra) = ra {
                r.headers_mut().insert("retry-after", ra.into());
            }
            Pre::Answer(r)
        }
        Some(Fault::Garbage) => Pre::Answer((StatusCode::OK, "<html>proxy</html>").into_response()),
        Some(Fault::Stall(d)) => {
            tokio::time::sleep(d).await;
            Pre::Then(None)
        }
        other => Pre::Then(other),
    }
}

fn finish(resp: Response, fault: Option<Fault>) -> Response {
    match fault {
        Some(Fault::CommitThenFail) => err(500, "fault", "lost ack"),
        Some(Fault::Truncated) => (StatusCode::OK, "{\"results\": [").into_response(),
        _ => resp,
    }
}

async fn handshake(State(s): State<Shared>, h: HeaderMap) -> Response {
    let fault = match pre(&s, &h, 0).await {
        Pre::Answer(r) => return r,
        Pre::Then(f) => f,
    };
    finish(
        json(&HandshakeResponse {
            protocol: wire::PROTOCOL,
            min_protocol: wire::PROTOCOL,
            server_time: Utc::now(),
            server_id: "test".into(),
            worker: wire::WorkerInfo {
                id: "w1".into(),
                name: "w1".into(),
            },
            grids: vec!["G1".into()],
            policy: ValidationPolicy::default(),
        }),
        fault,
    )
}

async fn push(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    let fault = match pre(&s, &h, body.len()).await {
        Pre::Answer(r) => return r,
        Pre::Then(f) => f,
    };
    let Ok(req) = serde_json::from_slice::<PushRequest>(&body) else {
        return err(400, "bad_request", "malformed push");
    };
    let mut results = Vec::new();
    {
        let mut st = s.lock().unwrap();
        for m in req.mutations {
            let outcome = if st.records.contains_key(&m.mutation_id) {
                Outcome::AlreadyApplied
            } else if st.reject_kind.as_deref() == Some(m.kind.as_str()) {
                Outcome::Rejected {
                    reason: wire::Reason {
                        code: "not_allowed".into(),
                        message: "kind refused by test".into(),
                    },
                }
            } else {
                st.applied_order.push(m.mutation_id.clone());
                st.records
                    .insert(m.mutation_id.clone(), (m.kind.clone(), m.payload.clone()));
                Outcome::Applied
            };
            results.push(MutationResult {
                mutation_id: m.mutation_id,
                outcome,
            });
        }
    }
    finish(
        json(&PushResponse {
            results,
            chain_breaks: 0,
        }),
        fault,
    )
}

fn photo_status(st: &ServerState, sha: &str) -> PhotoStatus {
    PhotoStatus {
        sha256: sha.to_string(),
        offset: st.photos.get(sha).map(|b| b.len() as u64).unwrap_or(0),
        length: None,
        complete: st.photo_complete.get(sha).copied().unwrap_or(false),
    }
}

async fn photo_get(State(s): State<Shared>, h: HeaderMap, Path(sha): Path<String>) -> Response {
    let fault = match pre(&s, &h, 0).await {
        Pre::Answer(r) => return r,
        Pre::Then(f) => f,
    };
    let st = photo_status(&s.lock().unwrap(), &sha);
    finish(json(&st), fault)
}

async fn photo_put(
    State(s): State<Shared>,
    h: HeaderMap,
    Path(sha): Path<String>,
    body: Bytes,
) -> Response {
    let fault = match pre(&s, &h, body.len()).await {
        Pre::Answer(r) => return r,
        Pre::Then(f) => f,
    };
    let header = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let offset = header(wire::HEADER_UPLOAD_OFFSET);
    let size = header(wire::HEADER_UPLOAD_LENGTH);
    let mut st = s.lock().unwrap();
    let have = st.photos.entry(sha.clone()).or_default();
    if offset != have.len() as u64 {
        return err(409, "offset_mismatch", "wrong offset");
    }
    let take = if matches!(fault, Some(Fault::HalfUpload)) {
        body.len() / 2
    } else {
        body.len()
    };
    have.extend_from_slice(&body[..take]);
    if matches!(fault, Some(Fault::HalfUpload)) {
        return err(503, "fault", "cut");
    }
    if have.len() as u64 == size {
        let digest = hex::encode(Sha256::digest(&have[..]));
        if digest != sha {
            have.clear();
            return err(422, "hash_mismatch", "bytes do not match");
        }
        st.photo_complete.insert(sha.clone(), true);
    }
    let status = photo_status(&st, &sha);
    drop(st);
    finish(json(&status), fault)
}

async fn changes(
    State(s): State<Shared>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let fault = match pre(&s, &h, 0).await {
        Pre::Answer(r) => return r,
        Pre::Then(f) => f,
    };
    let from: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|c| c.parse().ok()).unwrap_or(100);
    let st = s.lock().unwrap();
    let end = (from + limit).min(st.changes.len());
    let page = PullResponse {
        changes: st.changes[from.min(end)..end].to_vec(),
        next_cursor: end.to_string(),
        has_more: end < st.changes.len(),
    };
    drop(st);
    finish(json(&page), fault)
}

impl TestServer {
    pub async fn start(tokens: &[&str]) -> TestServer {
        let state: Shared = Arc::new(Mutex::new(ServerState {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }));
        let app = Router::new()
            .route(wire::PATH_HANDSHAKE, get(handshake))
            .route(wire::PATH_PUSH, post(push))
            .route("/v1/photos/{sha}", get(photo_get).patch(photo_put))
            .route("/v1/changes", get(changes))
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer {
            url: format!("http://{addr}"),
            state,
        }
    }

    pub fn fault(&self, f: Fault) {
        self.state.lock().unwrap().faults.push_back(f);
    }
}

use crate::support::{TestClock, config, district, jpeg, mono, morning};
use gridworker_core::domain::LocationFix;
use gridworker_core::geo::Position;
use gridworker_core::sync::{AccessTokenProvider, SyncEngine, SyncOptions};
use gridworker_core::{Clock, Error, GridWorker};

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

impl Device {
    pub fn new(url: &str) -> Device {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new(morning());
        let worker = Self::open_at(dir.path(), &clock, url);
        let (grids, points, households) = district();
        worker
            .import_reference(&grids, &points, &households, &["G1".into()])
            .unwrap();
        Device {
            dir,
            clock,
            worker,
            url: url.into(),
        }
    }

    fn open_at(dir: &std::path::Path, clock: &Arc<TestClock>, url: &str) -> Arc<GridWorker> {
        let mut c = config(dir, clock.clone());
        c.server_url = url.into();
        Arc::new(GridWorker::open(c).unwrap())
    }

    /// Closes and reopens the core on the same directory (an app restart).
    pub fn restart(&mut self) {
        let fresh = {
            // Drop our handle first so only one core has the store open at a time.
            let url = self.url.clone();
            self.worker = Arc::new(
                GridWorker::open({
                    let mut c = config(self.dir.path(), self.clock.clone());
                    c.server_url = url;
                    c
                })
                .unwrap(),
            );
            self.worker.clone()
        };
        let _ = fresh;
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

    pub fn visit(&self) -> String {
        let (_, _, households) = district();
        self.clock.advance(60);
        let h = &households[0];
        self.worker
            .record_visit(
                &h.id,
                gridworker_core::domain::VisitKind::Routine,
                "note",
                &self.fix_at(h.position),
            )
            .unwrap()
            .id
    }

    /// Files a report with `photos` photos of `size` bytes; returns (report id, shas).
    pub fn report(&self, photos: usize, size: usize, seed: u8) -> (String, Vec<String>) {
        self.clock.advance(60);
        let inputs: Vec<_> = (0..photos)
            .map(|i| {
                gridworker_core::worker::PhotoInput::new(jpeg(
                    self.dir.path(),
                    &format!("in-{seed}-{i}.jpg"),
                    size,
                    seed.wrapping_add(i as u8 * 17),
                ))
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

    pub fn pending(&self) -> u64 {
        let c = self.worker.sync_counts().unwrap();
        c.pending.checkins + c.pending.visits + c.pending.reports + c.pending.tasks
    }
}

/// The invariant: the server holds each of the device's outbox mutations exactly once (by
/// id, with the same payload), every photo complete and matching its hash, and the device
/// shows nothing pending.
pub fn assert_all_synced_once(device: &Device, server: &TestServer) {
    let conn = rusqlite::Connection::open(device.dir.path().join("gridworker.db")).unwrap();
    let rows: Vec<(String, String, String)> = conn
        .prepare("SELECT mutation_id, payload, state FROM outbox")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let st = server.state.lock().unwrap();
    for (id, payload, state) in &rows {
        assert_eq!(state, "synced", "mutation {id} not synced on the device");
        let (_, held) = st.records.get(id).expect("server lacks a mutation");
        assert_eq!(held, payload, "payload differs for {id}");
    }
    let mut ids = st.applied_order.clone();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "a mutation was applied twice");
    assert_eq!(n, rows.len(), "server holds records the device never sent");
    for (sha, bytes) in &st.photos {
        assert_eq!(&hex::encode(Sha256::digest(bytes)), sha, "photo corrupted");
        assert!(st.photo_complete.get(sha).copied().unwrap_or(false));
    }
    assert_eq!(device.pending(), 0);
}
