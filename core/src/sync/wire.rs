//! PROVISIONAL wire types written by the sync-engine helper so the engine compiles while the
//! protocol owner (helper-3) writes the real file. helper-3: replace this file freely; the
//! engine will be adapted to whatever lands. Names the engine uses are listed at the end.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::geo::Crs;
use crate::policy::ValidationPolicy;

pub const PROTOCOL_VERSION: &str = "1";
pub const HEADER_PROTOCOL: &str = "x-gridworker-protocol";
pub const HEADER_DEVICE: &str = "x-gridworker-device";
pub const HEADER_WORKER: &str = "x-gridworker-worker";
pub const PATH_HANDSHAKE: &str = "/v1/handshake";
pub const PATH_PUSH: &str = "/v1/push";

pub fn photo_path(sha256: &str) -> String {
    format!("/v1/photos/{sha256}")
}

pub fn pull_path(cursor: Option<&str>, limit: u32) -> String {
    match cursor {
        Some(c) => format!("/v1/changes?cursor={c}&limit={limit}"),
        None => format!("/v1/changes?limit={limit}"),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandshakeResponse {
    pub server_time: DateTime<Utc>,
    pub worker_grids: Vec<String>,
    pub policy: ValidationPolicy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mutation {
    pub mutation_id: String,
    pub seq: i64,
    pub kind: String,
    pub record_id: String,
    pub payload: String,
    pub device_time: DateTime<Utc>,
    pub monotonic_ms: i64,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushRequest {
    pub mutations: Vec<Mutation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Applied,
    AlreadyApplied,
    Rejected { code: String, reason: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MutationResult {
    pub mutation_id: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushResponse {
    pub results: Vec<MutationResult>,
}

/// `GET /v1/photos/{sha}` and the answer to `PUT /v1/photos/{sha}?offset=N&size=S`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhotoStatus {
    pub received: u64,
    pub complete: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    GridUpsert {
        code: String,
        name: String,
        boundary: Vec<[f64; 2]>,
        crs: Crs,
    },
    GridDelete {
        code: String,
    },
    PointUpsert {
        id: String,
        grid_code: String,
        name: String,
        lat: f64,
        lon: f64,
        crs: Crs,
        radius_m: f64,
    },
    PointDelete {
        id: String,
    },
    HouseholdUpsert {
        id: String,
        grid_code: String,
        building: String,
        address: String,
        lat: f64,
        lon: f64,
        crs: Crs,
        tags: Vec<String>,
    },
    HouseholdDelete {
        id: String,
    },
    ReportStatus {
        report_id: String,
        status: String,
        department: Option<String>,
        note: Option<String>,
        evaluation: Option<String>,
        at: DateTime<Utc>,
    },
    OpenReport {
        id: String,
        category: String,
        description: String,
        lat: f64,
        lon: f64,
        crs: Crs,
        status: String,
        created_at: DateTime<Utc>,
    },
    Task {
        id: String,
        title: String,
        description: String,
        lat: Option<f64>,
        lon: Option<f64>,
        crs: Option<Crs>,
        address: Option<String>,
        due_at: Option<DateTime<Utc>>,
        linked_report_id: Option<String>,
        status: String,
        dispatched_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullResponse {
    pub changes: Vec<Change>,
    pub next_cursor: String,
    pub has_more: bool,
}
