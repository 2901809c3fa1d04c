//! The sync protocol's wire types (version [`PROTOCOL`]), shared by the phone's engine and the reference
//! server. `docs/protocol.md` is the prose contract for back-end teams and
//! `docs/openapi.yaml` the machine-readable one; this file and those two must agree.
//!
//! Compatibility rules:
//! - what the server *receives* is strict (`deny_unknown_fields`): a typo in a field name is a
//!   400, never a silently dropped value;
//! - what the client receives is lenient about *added* fields, so a server may add fields
//!   within a protocol version; removing or changing a field needs a new version;
//! - every coordinate carries its coordinate system (`crs`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{ReportStatus, TaskStatus};
use crate::geo::Crs;
use crate::policy::ValidationPolicy;
use crate::residents::{Conflict, HousingType, Occupancy, Resident};

/// The protocol version this build speaks (docs/protocol.md §9). Version 2 added the photo
/// evidence fields of a payload's photos (`exif_time`, `exif_position`, `original_sha256`,
/// `original_size`) and the flags `photo_far_from_fix` and `photo_too_old`; version 3 the
/// mutation kinds `patrol_event`, `track_block` and `report_evaluation`; version 4 residents
/// and household profiles (`resident_add`, `resident_update`, `household_update`,
/// `conflict_resolution`, and the changes `resident_upsert`, `resident_delete`,
/// `conflict_upsert`, `key_groups`); version 5 expired links ([`Mutation::expired`]).
pub const PROTOCOL: u32 = 5;
/// [`PROTOCOL`] as sent in the [`HEADER_PROTOCOL`] header.
pub const PROTOCOL_VERSION: &str = "5";
/// The first version whose servers take expired links ([`Mutation::expired`]).
pub const EXPIRED_LINKS_SINCE: u32 = 5;
/// The oldest server version a phone of this build syncs with: what a version 2 server
/// cannot take (the patrol kinds) waits on the phone until the server is updated.
pub const OLDEST_SERVER_PROTOCOL: u32 = 2;
/// The oldest version the reference server still serves by default: a version 1 payload is a
/// valid version 2 payload, so phones not yet updated keep syncing.
pub const OLDEST_PROTOCOL: u32 = 1;

/// Request header carrying the client's protocol version (decimal). Header names are
/// case-insensitive; they are spelled in lowercase here because that is how HTTP/2 and the
/// `http` crate carry them (`Gridworker-Protocol` in the docs).
pub const HEADER_PROTOCOL: &str = "gridworker-protocol";
/// Request header carrying the device id (the id the device's hash chain is kept under).
pub const HEADER_DEVICE: &str = "gridworker-device";
/// Optional request header naming the worker the client believes it is signed in as; when
/// present it must match the token's worker (403 `worker_mismatch` otherwise). Lets a shared
/// phone find out that its queued records belong to someone else before pushing them.
pub const HEADER_WORKER: &str = "gridworker-worker";
/// Photo upload: bytes the server holds (HEAD reply) / where this PATCH starts (request).
pub const HEADER_UPLOAD_OFFSET: &str = "upload-offset";
/// Photo upload: total size of the photo in bytes (PATCH request; HEAD reply when known).
pub const HEADER_UPLOAD_LENGTH: &str = "upload-length";
/// Photo upload: `?1` when the server holds the whole, verified photo, `?0` otherwise
/// (an RFC 8941 boolean, as in the IETF resumable-uploads draft).
pub const HEADER_UPLOAD_COMPLETE: &str = "upload-complete";
/// Seconds to wait before retrying, on 429 and 503.
pub const HEADER_RETRY_AFTER: &str = "retry-after";

/// `GET`: server time, the worker, the worker's grids and the validation policy.
pub const PATH_HANDSHAKE: &str = "/v1/handshake";
/// `POST` a [`PushRequest`].
pub const PATH_PUSH: &str = "/v1/push";
/// `GET ?cursor=C&limit=N` → [`PullResponse`].
pub const PATH_CHANGES: &str = "/v1/changes";

/// Largest push body the server accepts (413 beyond).
pub const MAX_PUSH_BYTES: usize = 4 * 1024 * 1024;
/// Most mutations in one push (422 `too_many_mutations` beyond).
pub const MAX_PUSH_MUTATIONS: usize = 2_000;
/// Largest photo the server accepts (413 beyond).
pub const MAX_PHOTO_BYTES: u64 = 20 * 1024 * 1024;
/// Changes per page when the client gives no `limit`.
pub const DEFAULT_PULL_LIMIT: u32 = 500;
/// Largest `limit` honoured (larger values are clamped, not refused).
pub const MAX_PULL_LIMIT: u32 = 5_000;
/// Most ranges a handshake's `device_missing` lists (the lowest ones): holes are the records
/// still waiting on the phone, and those a restored backup lost; a client refuses more.
pub const MAX_MISSING_RANGES: usize = 1_000;

/// `/v1/photos/{sha256}`: `HEAD` or `GET` for the upload state, `PATCH` to append bytes.
pub fn photo_path(sha256: &str) -> String {
    format!("/v1/photos/{sha256}")
}

/// `/v1/changes` with the cursor (absent on the first pull) and page size.
pub fn pull_path(cursor: Option<&str>, limit: u32) -> String {
    // Cursors are opaque but made of URL-safe characters ([A-Za-z0-9_-]), so no escaping.
    match cursor {
        Some(c) if !c.is_empty() => format!("{PATH_CHANGES}?cursor={c}&limit={limit}"),
        _ => format!("{PATH_CHANGES}?limit={limit}"),
    }
}

/// `/v1/handshake`, asking for the holes in the server's copy of the device's log from
/// `missing_from` on (the lowest seq the device could still send again); none asked without.
pub fn handshake_path(missing_from: Option<i64>) -> String {
    match missing_from {
        Some(seq) => format!("{PATH_HANDSHAKE}?missing_from={seq}"),
        None => PATH_HANDSHAKE.to_string(),
    }
}

/// Stable error codes of [`ErrorDetail::code`] and [`Reason::code`].
pub mod codes {
    /// 400: the body is not JSON.
    pub const MALFORMED_JSON: &str = "malformed_json";
    /// 422: JSON of the wrong shape (unknown field, wrong type, missing field).
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// 400: a required header is missing or unparseable.
    pub const BAD_HEADER: &str = "bad_header";
    /// 400: a photo path that is not 64 lowercase hex digits.
    pub const BAD_SHA256: &str = "bad_sha256";
    /// 400: the cursor is not one this server issued.
    pub const BAD_CURSOR: &str = "bad_cursor";
    /// 410: the cursor is ahead of the server (its data was reset): pull again from scratch.
    pub const CURSOR_EXPIRED: &str = "cursor_expired";
    /// 401: missing or unknown bearer token.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// 403: the token's worker is not the worker named by the request or its payloads.
    pub const WORKER_MISMATCH: &str = "worker_mismatch";
    /// 403: an admin endpoint called without the admin token.
    pub const FORBIDDEN: &str = "forbidden";
    /// 403: the device id is bound to another worker (the one that first used it); nothing
    /// was stored. Re-binding (a reissued phone) is an admin act.
    pub const DEVICE_BOUND: &str = "device_bound";
    /// 404.
    pub const NOT_FOUND: &str = "not_found";
    /// 405.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// 409: a photo PATCH whose `Upload-Offset` is not what the server holds
    /// (see [`super::ErrorDetail::offset`]).
    pub const OFFSET_MISMATCH: &str = "offset_mismatch";
    /// 409: a photo PATCH whose `Upload-Length` differs from the length given earlier.
    pub const LENGTH_MISMATCH: &str = "length_mismatch";
    /// 409: an admin resolution of a conflict that is already resolved.
    pub const ALREADY_RESOLVED: &str = "already_resolved";
    /// 409: an admin transition the report's lifecycle does not allow.
    pub const INVALID_TRANSITION: &str = "invalid_transition";
    /// 413: body or photo over the cap.
    pub const TOO_LARGE: &str = "too_large";
    /// 415: photo media type not image/jpeg, image/png or image/heic.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    /// 422: the uploaded bytes do not hash to the photo's address; the partial is discarded.
    pub const PHOTO_HASH_MISMATCH: &str = "photo_hash_mismatch";
    /// 422: more than [`super::MAX_PUSH_MUTATIONS`] in one push.
    pub const TOO_MANY_MUTATIONS: &str = "too_many_mutations";
    /// 426: the client's protocol is below the server's minimum.
    pub const CLIENT_TOO_OLD: &str = "client_too_old";
    /// 429.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// 503: e.g. another upload of the same photo is in progress; retry after `Retry-After`.
    pub const UNAVAILABLE: &str = "unavailable";
    /// 500.
    pub const INTERNAL: &str = "internal";

    // Per-mutation rejection reasons (push results, status `rejected`). All permanent.
    /// The payload is not JSON, or not a valid payload of the mutation's kind.
    pub const INVALID_PAYLOAD: &str = "invalid_payload";
    /// The mutation's `kind` is not one of [`super::MutationKind`].
    pub const UNKNOWN_KIND: &str = "unknown_kind";
    /// `record_id` is not the payload's id.
    pub const RECORD_ID_MISMATCH: &str = "record_id_mismatch";
    /// The payload's `device_id` is not the push's device.
    pub const DEVICE_MISMATCH: &str = "device_mismatch";
    /// A report or task completion names a photo the server does not hold completely.
    pub const MISSING_PHOTO: &str = "missing_photo";
    /// `hash` does not match the mutation's content: it was altered.
    pub const HASH_MISMATCH: &str = "hash_mismatch";
    /// The mutation id was already used by this device for different content.
    pub const MUTATION_ID_REUSED: &str = "mutation_id_reused";
    /// `seq` is further ahead of the last one the server holds for the device than one
    /// batch can be; not stored, not taken as the device's new head.
    pub const SEQ_GAP_TOO_LARGE: &str = "seq_gap_too_large";
    /// Another mutation already stored the record with this id.
    pub const RECORD_ID_REUSED: &str = "record_id_reused";
    /// A task acknowledgement or completion for a task dispatched to another worker.
    pub const TASK_NOT_ASSIGNED: &str = "task_not_assigned";
}

/// The one error shape of every non-2xx reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// See [`codes`]. Status classes: 400/404/409/410/413/415/422 permanent for that request;
/// 401/403 authentication; 426 client too old; 429/503 transient with `Retry-After`; other
/// 5xx transient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Machine-readable, stable (see [`codes`]).
    pub code: String,
    /// For people and logs; never carries residents' personal data.
    pub message: String,
    /// Whether the same request may succeed later unchanged.
    #[serde(default)]
    pub retryable: bool,
    /// On 426: the lowest protocol version the server accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_protocol: Option<u32>,
    /// On 409 `offset_mismatch`: the bytes of the photo the server holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// The signed-in worker, as the server knows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    pub id: String,
    pub name: String,
}

/// `GET /v1/handshake`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandshakeResponse {
    /// The version the server speaks (at most what the client sent, if it can).
    pub protocol: u32,
    /// The lowest version the server accepts.
    pub min_protocol: u32,
    /// Server clock when the reply was made; the client derives its clock offset from it.
    pub server_time: DateTime<Utc>,
    /// Identifies the server's database; changes when it is reset, so a client holding a
    /// cursor from another instance knows to pull from scratch.
    pub server_id: String,
    pub worker: WorkerInfo,
    /// Codes of the grids the worker is responsible for.
    pub grids: Vec<String>,
    /// The thresholds the core must apply from now on.
    pub policy: ValidationPolicy,
    /// The highest `seq` the server holds, in any status, for the device named in the
    /// `Gridworker-Device` header (`null` when it holds none). A device whose synced records
    /// go further than this re-sends the missing range: the server was restored from an older
    /// backup.
    #[serde(default)]
    pub device_last_seq: Option<i64>,
    /// The holes from the request's `missing_from` up to `device_last_seq`: ranges
    /// `[from, to]` (both included) of the device's `seq`s the server holds no mutation of,
    /// lowest first, at most [`MAX_MISSING_RANGES`]; none when the request asked from no seq.
    /// A record the phone sent after later ones (its photos waited for Wi-Fi) falls in one
    /// when the server is restored from a backup older than it; the device re-sends its
    /// synced entries there. Missing reads as none (a server before it).
    #[serde(default)]
    pub device_missing: Vec<[i64; 2]>,
}

/// What a mutation records. `kind` travels as a string (see [`MutationKind::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MutationKind {
    /// Payload: [`crate::domain::CheckIn`]; `record_id` = its `id`.
    Checkin,
    /// Payload: [`crate::domain::Visit`]; `record_id` = its `id`.
    Visit,
    /// Payload: [`crate::domain::ReportPayload`]; `record_id` = its `id`.
    Report,
    /// Payload: [`crate::domain::TaskAckPayload`]; `record_id` = its `task_id`.
    TaskAck,
    /// Payload: [`crate::domain::TaskCompletionPayload`]; `record_id` = its `id`.
    TaskCompletion,
    /// Payload: [`crate::domain::PatrolEventPayload`]; `record_id` = its `id`. Protocol 3.
    PatrolEvent,
    /// Payload: [`crate::domain::TrackBlockPayload`]; `record_id` = its `id`. Protocol 3.
    TrackBlock,
    /// Payload: [`crate::domain::ReportEvaluationPayload`]; `record_id` = its `id`.
    /// Protocol 3.
    ReportEvaluation,
    /// Payload: [`crate::residents::ResidentAddPayload`]; `record_id` = its `id` (the new
    /// resident's). Protocol 4.
    ResidentAdd,
    /// Payload: [`crate::residents::FieldUpdatePayload`] about a resident; `record_id` = its
    /// `id`. Protocol 4.
    ResidentUpdate,
    /// Payload: [`crate::residents::FieldUpdatePayload`] about a household's profile;
    /// `record_id` = its `id`. Protocol 4.
    HouseholdUpdate,
    /// Payload: [`crate::residents::ConflictResolutionPayload`]; `record_id` = its `id`.
    /// Protocol 4.
    ConflictResolution,
}

impl MutationKind {
    /// Every kind, in a stable order.
    pub const ALL: [MutationKind; 12] = [
        MutationKind::Checkin,
        MutationKind::Visit,
        MutationKind::Report,
        MutationKind::TaskAck,
        MutationKind::TaskCompletion,
        MutationKind::PatrolEvent,
        MutationKind::TrackBlock,
        MutationKind::ReportEvaluation,
        MutationKind::ResidentAdd,
        MutationKind::ResidentUpdate,
        MutationKind::HouseholdUpdate,
        MutationKind::ConflictResolution,
    ];

    /// The wire spelling.
    pub const fn code(self) -> &'static str {
        match self {
            MutationKind::Checkin => "checkin",
            MutationKind::Visit => "visit",
            MutationKind::Report => "report",
            MutationKind::TaskAck => "task_ack",
            MutationKind::TaskCompletion => "task_completion",
            MutationKind::PatrolEvent => "patrol_event",
            MutationKind::TrackBlock => "track_block",
            MutationKind::ReportEvaluation => "report_evaluation",
            MutationKind::ResidentAdd => "resident_add",
            MutationKind::ResidentUpdate => "resident_update",
            MutationKind::HouseholdUpdate => "household_update",
            MutationKind::ConflictResolution => "conflict_resolution",
        }
    }

    /// The first protocol version that has this kind: a phone keeps a kind the server's
    /// version lacks pending rather than have it refused as `unknown_kind` for good.
    pub const fn since_protocol(self) -> u32 {
        match self {
            MutationKind::PatrolEvent
            | MutationKind::TrackBlock
            | MutationKind::ReportEvaluation => 3,
            MutationKind::ResidentAdd
            | MutationKind::ResidentUpdate
            | MutationKind::HouseholdUpdate
            | MutationKind::ConflictResolution => 4,
            _ => 1,
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        MutationKind::ALL.into_iter().find(|k| k.code() == s)
    }
}

/// One outbox entry on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mutation {
    /// Client-generated (UUIDv7), unique forever; the idempotency key.
    pub mutation_id: String,
    /// Position in the device's log, from 1, increasing by one.
    pub seq: i64,
    /// One of [`MutationKind`]'s codes.
    pub kind: String,
    /// The id of the record the mutation creates (see [`MutationKind`]).
    pub record_id: String,
    /// The canonical JSON of the payload, as a string: exactly the text the hash covers.
    pub payload: String,
    /// Device wall clock when recorded.
    pub device_time: DateTime<Utc>,
    /// Device monotonic clock when recorded (ms).
    pub monotonic_ms: i64,
    /// Hash of the device's previous mutation, or [`crate::chain::GENESIS`].
    pub prev_hash: String,
    /// [`crate::chain::link_hash`] of this mutation.
    pub hash: String,
    /// A *withdrawal link*: the device withdrew this entry (the worker repaired the record as
    /// a new entry or discarded it) and sends it only so that its link of the hash chain is
    /// not missing. The server verifies the hash over the payload and links it like any
    /// mutation, but stores no record, no payload and no effect (docs/protocol.md §4.4).
    /// Omitted when false, so pushes without withdrawals are unchanged on the wire.
    #[serde(default, skip_serializing_if = "is_false")]
    pub withdrawn: bool,
    /// An *expired link* (protocol 5): the server lacks this entry (it was restored from a
    /// backup older than it) and the device no longer has its payload (emptied after the
    /// retention period), so it sends the link alone, `payload` empty, to keep its chain
    /// whole. The hash cannot be checked; the server links it like any mutation and stores
    /// it as `expired`: no record, no effect, visible to the back office as a record the
    /// phone could not send again (docs/protocol.md §4.4). Omitted when false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub expired: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `POST /v1/push`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Must equal the `Gridworker-Device` header.
    pub device_id: String,
    /// In device sequence order.
    pub mutations: Vec<Mutation>,
}

/// Why a mutation was rejected (see [`codes`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub code: String,
    pub message: String,
}

/// The server's verdict on one mutation. `rejected` is permanent: resending the same
/// mutation gets the same answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Stored now (for a withdrawal link: its link is stored, without a record).
    Applied,
    /// Stored by an earlier request (a retry after a lost reply).
    AlreadyApplied,
    /// Not stored, for good.
    Rejected { reason: Reason },
}

/// `{mutation_id, status, reason?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MutationResult {
    pub mutation_id: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Reply to a push: one result per mutation, in request order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushResponse {
    pub results: Vec<MutationResult>,
    /// Mutations of this request stored with a link that does not follow the device's chain
    /// (records were deleted or reordered before them), applied or rejected for their
    /// content alike (protocol.md §4.3). Informational for the client.
    #[serde(default)]
    pub chain_breaks: u32,
}

/// `GET /v1/photos/{sha256}` (the JSON twin of `HEAD`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoStatus {
    pub sha256: String,
    /// Bytes the server holds: where the next PATCH must start.
    pub offset: u64,
    /// Total size, once a PATCH has announced it.
    #[serde(default)]
    pub length: Option<u64>,
    /// The whole photo is held and its hash verified.
    pub complete: bool,
}

/// One change in the pull feed. Every coordinate carries its `crs`; rings are `[lon, lat]`
/// pairs (GeoJSON order), first point not repeated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    GridUpsert {
        code: String,
        name: String,
        crs: Crs,
        ring: Vec<[f64; 2]>,
    },
    GridDelete {
        code: String,
    },
    PointUpsert {
        id: String,
        grid_code: String,
        name: String,
        crs: Crs,
        lat: f64,
        lon: f64,
        /// 0 means "use the policy's radius".
        radius_m: f64,
    },
    /// The point was removed, or moved out of the worker's grids.
    PointDelete {
        id: String,
    },
    HouseholdUpsert {
        id: String,
        grid_code: String,
        building: String,
        address: String,
        crs: Crs,
        lat: f64,
        lon: f64,
        tags: Vec<String>,
        /// The household's profile (protocol 4; absent from older servers' feeds, then the
        /// defaults: unknown housing and occupancy, version 0).
        #[serde(default)]
        housing_type: Option<HousingType>,
        #[serde(default)]
        occupancy: Option<Occupancy>,
        #[serde(default)]
        resident_count: u32,
        #[serde(default)]
        contact_phone: Option<String>,
        #[serde(default)]
        notes: String,
        #[serde(default)]
        version: i64,
    },
    /// The household was removed, or moved out of the worker's grids.
    HouseholdDelete {
        id: String,
    },
    /// The back office moved one of the worker's own reports.
    ReportStatus {
        report_id: String,
        status: ReportStatus,
        department: Option<String>,
        note: Option<String>,
        evaluation: Option<String>,
        at: DateTime<Utc>,
    },
    /// Another worker's report in one of the worker's grids, for the duplicate hint; sent
    /// again with the new status when it moves (closed/resolved ones are no longer open).
    ReportUpsert {
        id: String,
        category: String,
        description: String,
        crs: Crs,
        lat: f64,
        lon: f64,
        status: ReportStatus,
        created_at: DateTime<Utc>,
    },
    /// A task dispatched to the worker, new or changed.
    TaskUpsert {
        id: String,
        title: String,
        description: String,
        crs: Option<Crs>,
        lat: Option<f64>,
        lon: Option<f64>,
        address: Option<String>,
        due_at: Option<DateTime<Utc>>,
        linked_report_id: Option<String>,
        status: TaskStatus,
        dispatched_at: DateTime<Utc>,
    },
    /// The worker's grids are now exactly these.
    WorkerGrids {
        grid_codes: Vec<String>,
    },
    /// The district's report categories (随手拍 categories) and departments, whole: replaces
    /// what the phone had. Protocol 3; sent only to clients that speak it.
    ReportCatalog {
        categories: Vec<CatalogEntry>,
        departments: Vec<CatalogEntry>,
    },
    /// A resident of a household in the worker's grids, new or changed. Protocol 4.
    ResidentUpsert {
        resident: Resident,
    },
    /// The resident was removed, or their household left the worker's grids. Protocol 4.
    ResidentDelete {
        id: String,
    },
    /// A conflict about a resident or household in the worker's grids, opened or resolved.
    /// Protocol 4.
    ConflictUpsert {
        conflict: Conflict,
    },
    /// The district's key-group tags (重点人群), whole: replaces what the phone had.
    /// Protocol 4.
    KeyGroups {
        tags: Vec<CatalogEntry>,
    },
}

impl Change {
    /// The first protocol version whose clients understand this change: a server sends a
    /// change only to clients that speak its version (an older client would fail on an
    /// unknown `type`).
    pub const fn since_protocol(&self) -> u32 {
        match self {
            Change::ReportCatalog { .. } => 3,
            Change::ResidentUpsert { .. }
            | Change::ResidentDelete { .. }
            | Change::ConflictUpsert { .. }
            | Change::KeyGroups { .. } => 4,
            _ => 1,
        }
    }
}

/// One report category or department of the district.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub code: String,
    pub name: String,
}

/// `GET /v1/changes` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PullResponse {
    /// In feed order; apply in order.
    pub changes: Vec<Change>,
    /// Pass back as `cursor` next time; store it with the applied changes.
    pub next_cursor: String,
    /// More changes are waiting: pull again now.
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_have_the_documented_shape() {
        let r = PushResponse {
            results: vec![
                MutationResult {
                    mutation_id: "a".into(),
                    outcome: Outcome::Applied,
                },
                MutationResult {
                    mutation_id: "b".into(),
                    outcome: Outcome::Rejected {
                        reason: Reason {
                            code: codes::MISSING_PHOTO.into(),
                            message: "m".into(),
                        },
                    },
                },
            ],
            chain_breaks: 0,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["results"][0]["status"], "applied");
        assert_eq!(v["results"][1]["status"], "rejected");
        assert_eq!(v["results"][1]["reason"]["code"], "missing_photo");
        let back: PushResponse = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn server_inputs_refuse_unknown_fields() {
        let bad = r#"{"device_id":"d","mutations":[],"extra":1}"#;
        assert!(serde_json::from_str::<PushRequest>(bad).is_err());
        let ok = r#"{"device_id":"d","mutations":[]}"#;
        assert!(serde_json::from_str::<PushRequest>(ok).is_ok());
    }

    #[test]
    fn withdrawn_and_expired_travel_only_when_set() {
        let mut m = Mutation {
            mutation_id: "m".into(),
            seq: 1,
            kind: "checkin".into(),
            record_id: "r".into(),
            payload: "{}".into(),
            device_time: Utc::now(),
            monotonic_ms: 0,
            prev_hash: "0".repeat(64),
            hash: "0".repeat(64),
            withdrawn: false,
            expired: false,
        };
        let v = serde_json::to_value(&m).unwrap();
        assert!(v.get("withdrawn").is_none(), "{v}");
        assert!(v.get("expired").is_none(), "{v}");
        assert!(!serde_json::from_value::<Mutation>(v).unwrap().withdrawn);
        m.withdrawn = true;
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["withdrawn"], true);
        assert!(serde_json::from_value::<Mutation>(v).unwrap().withdrawn);
        m.withdrawn = false;
        m.expired = true;
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["expired"], true);
        assert!(serde_json::from_value::<Mutation>(v).unwrap().expired);
    }

    #[test]
    fn changes_are_tagged_by_type() {
        let c = Change::WorkerGrids {
            grid_codes: vec!["G1".into()],
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["type"], "worker_grids");
        let c = Change::ReportStatus {
            report_id: "r".into(),
            status: ReportStatus::Dispatched,
            department: Some("water".into()),
            note: None,
            evaluation: None,
            at: Utc::now(),
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["type"], "report_status");
        assert_eq!(v["status"], "dispatched");
    }

    #[test]
    fn kinds_round_trip() {
        for k in MutationKind::ALL {
            assert_eq!(MutationKind::parse(k.code()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.code());
        }
        assert_eq!(pull_path(None, 10), "/v1/changes?limit=10");
        assert_eq!(pull_path(Some("42"), 10), "/v1/changes?cursor=42&limit=10");
    }
}
