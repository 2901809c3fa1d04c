//! A scripted device: builds chained mutations exactly the way the core's outbox does and
//! speaks the sync protocol over HTTP, so a test can send what a real phone would, or what
//! no phone ever could (a broken chain, a forged payload), and read the raw replies.
//!
//! Payloads are built from the model's types; positions are at inspection point p-00001 of
//! the `district-small` fixtures.

use chrono::Utc;
use gridworker_core::chain;
use gridworker_core::domain::{
    CheckIn, CheckInOutcome, LocationFix, MediaType, Photo, ReportPayload, TaskAckPayload, Visit,
    VisitKind,
};
use gridworker_core::sync::wire::{self, Mutation, PushRequest, PushResponse};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A client speaking as one worker from one device.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub device: String,
}

impl Client {
    pub fn new(base: &str, token: &str, device: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.to_string(),
            token: token.to_string(),
            device: device.to_string(),
        }
    }

    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .header(wire::HEADER_PROTOCOL, wire::PROTOCOL_VERSION)
            .header("authorization", format!("Bearer {}", self.token))
            .header(wire::HEADER_DEVICE, &self.device)
    }

    pub async fn push(&self, muts: &[Mutation]) -> PushResponse {
        let r = self
            .req(Method::POST, wire::PATH_PUSH)
            .json(&PushRequest {
                device_id: self.device.clone(),
                mutations: muts.to_vec(),
            })
            .send()
            .await
            .expect("push sent");
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "push failed: {:?}",
            r.text().await
        );
        r.json().await.expect("push reply decodes")
    }

    pub async fn push_raw(&self, body: Vec<u8>) -> (StatusCode, Value) {
        let r = self
            .req(Method::POST, wire::PATH_PUSH)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("push sent");
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_json(&self, path: &str) -> (StatusCode, Value) {
        let r = self.req(Method::GET, path).send().await.expect("sent");
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Pulls until caught up, from `cursor`; returns the changes and the last cursor.
    pub async fn pull_all(&self, cursor: Option<String>, limit: u32) -> (Vec<Value>, String) {
        let mut cursor = cursor;
        let mut all = Vec::new();
        loop {
            let (s, v) = self
                .get_json(&wire::pull_path(cursor.as_deref(), limit))
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            all.extend(v["changes"].as_array().cloned().unwrap_or_default());
            cursor = v["next_cursor"].as_str().map(str::to_string);
            if !v["has_more"].as_bool().unwrap_or(false) {
                return (all, cursor.unwrap_or_default());
            }
        }
    }
}

/// A device's log: builds mutations chained exactly like the core's outbox.
pub struct Device {
    pub id: String,
    pub worker: String,
    pub seq: i64,
    pub head: String,
}

/// A fix at inspection point p-00001 of grid g-0001 (given in GCJ-02 by the fixtures).
pub fn fix() -> LocationFix {
    let p = gridworker_core::geo::Position::from_crs(
        45.2985625,
        130.9503308,
        gridworker_core::geo::Crs::Gcj02,
    );
    LocationFix::wgs84(p.lat, p.lon, 8.0, Utc::now(), 1_000)
}

impl Device {
    pub fn new(id: &str, worker: &str) -> Device {
        Device {
            id: id.to_string(),
            worker: worker.to_string(),
            seq: 0,
            head: chain::GENESIS.to_string(),
        }
    }

    pub fn mutation(&mut self, kind: &str, record_id: &str, payload: String) -> Mutation {
        self.seq += 1;
        let mutation_id = uuid::Uuid::now_v7().to_string();
        let hash = chain::link_hash(&self.head, self.seq, kind, &mutation_id, &payload);
        let m = Mutation {
            mutation_id,
            seq: self.seq,
            kind: kind.to_string(),
            record_id: record_id.to_string(),
            payload,
            device_time: Utc::now(),
            monotonic_ms: 1_000 + self.seq,
            prev_hash: self.head.clone(),
            hash: hash.clone(),
            withdrawn: false,
            expired: false,
        };
        self.head = hash;
        m
    }

    /// An accepted check-in of this device at `point`, with a fresh id.
    fn checkin_record(&self, point: &str) -> CheckIn {
        let f = fix();
        CheckIn {
            id: uuid::Uuid::now_v7().to_string(),
            worker_id: self.worker.clone(),
            device_id: self.id.clone(),
            point_id: point.to_string(),
            position: f.position(),
            fix: f,
            distance_m: 3.0,
            outcome: CheckInOutcome::Accepted,
            flags: vec![],
            recorded_at: Utc::now(),
        }
    }

    pub fn checkin(&mut self, point: &str) -> Mutation {
        let c = self.checkin_record(point);
        let id = c.id.clone();
        self.mutation("checkin", &id, serde_json::to_string(&c).expect("json"))
    }

    pub fn visit(&mut self, household: &str) -> Mutation {
        let f = fix();
        let v = Visit {
            id: uuid::Uuid::now_v7().to_string(),
            worker_id: self.worker.clone(),
            device_id: self.id.clone(),
            household_id: household.to_string(),
            kind: VisitKind::Routine,
            note: "ok".into(),
            position: f.position(),
            fix: f,
            distance_m: 5.0,
            flags: vec![],
            recorded_at: Utc::now(),
        };
        let id = v.id.clone();
        self.mutation("visit", &id, serde_json::to_string(&v).expect("json"))
    }

    pub fn report(&mut self, photos: &[(&str, u64)]) -> Mutation {
        let f = fix();
        let p = ReportPayload {
            id: uuid::Uuid::now_v7().to_string(),
            worker_id: self.worker.clone(),
            device_id: self.id.clone(),
            category: "manhole".into(),
            description: "井盖破损".into(),
            photos: photos
                .iter()
                .map(|(sha, size)| Photo {
                    sha256: sha.to_string(),
                    size: *size,
                    media_type: MediaType::Jpeg,
                    captured_at: None,
                    exif_time: None,
                    exif_position: None,
                    original_sha256: None,
                    original_size: None,
                })
                .collect(),
            position: f.position(),
            fix: f,
            flags: vec![],
            attach_to: None,
            created_at: Utc::now(),
            submitted_at: Utc::now(),
        };
        let id = p.id.clone();
        self.mutation("report", &id, serde_json::to_string(&p).expect("json"))
    }

    pub fn task_ack(&mut self, task: &str) -> Mutation {
        let a = TaskAckPayload {
            task_id: task.to_string(),
            worker_id: self.worker.clone(),
            device_id: self.id.clone(),
            acknowledged_at: Utc::now(),
        };
        self.mutation("task_ack", task, serde_json::to_string(&a).expect("json"))
    }
}

/// Bytes that look like a JPEG, and their hash.
pub fn photo_bytes(n: usize, seed: u8) -> (Vec<u8>, String) {
    let mut b: Vec<u8> = (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    if n >= 3 {
        b[0] = 0xFF;
        b[1] = 0xD8;
        b[2] = 0xFF;
    }
    let sha = hex::encode(Sha256::digest(&b));
    (b, sha)
}

pub async fn patch_photo(
    c: &Client,
    sha: &str,
    offset: u64,
    total: u64,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let r = c
        .req(Method::PATCH, &wire::photo_path(sha))
        .header(wire::HEADER_UPLOAD_OFFSET, offset)
        .header(wire::HEADER_UPLOAD_LENGTH, total)
        .header("content-type", "image/jpeg")
        .body(body)
        .send()
        .await
        .expect("sent");
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

pub fn status_of(r: &PushResponse, i: usize) -> String {
    serde_json::to_value(&r.results[i]).expect("json")["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub fn reason_of(r: &PushResponse, i: usize) -> String {
    serde_json::to_value(&r.results[i]).expect("json")["reason"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

impl Device {
    /// A mutation with a given seq (and the next link after it), chained from the head.
    pub fn mutation_at(
        &mut self,
        seq: i64,
        kind: &str,
        record_id: &str,
        payload: String,
    ) -> Mutation {
        self.seq = seq - 1;
        self.mutation(kind, record_id, payload)
    }

    /// A check-in payload as JSON (to alter before wrapping it in a mutation).
    pub fn checkin_json(&self, point: &str) -> Value {
        serde_json::to_value(self.checkin_record(point)).expect("json")
    }
}
