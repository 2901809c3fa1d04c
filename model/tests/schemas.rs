//! docs/schemas/payloads.schema.json against the Rust types and the shared validation rules,
//! so the schema a back-end team reads cannot drift from what the phone sends and the server
//! accepts:
//! - every field a payload type serialises is a property of its schema, and every property
//!   of the schema is a field of the type (a field added on one side only fails here);
//! - payloads the phone makes (Chinese text, text at its limit, nine photos, absent optional
//!   values) pass both the schema and `validate::<kind>`;
//! - each refusal of `validate::<kind>` that a schema can express is a refusal of the schema
//!   too, and unknown fields are refused at every level.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use gridworker_model::domain::{
    CheckIn, CheckInOutcome, Flag, LocationFix, MAX_DESCRIPTION_CHARS, MAX_NOTE_CHARS, MAX_PHOTOS,
    MediaType, PatrolEventKind, PatrolEventPayload, Photo, Provider, ReportEvaluationPayload,
    ReportPayload, TaskAckPayload, TaskCompletionPayload, TrackBlockPayload, Visit, VisitKind,
};
use gridworker_model::geo::{Crs, Position};
use gridworker_model::track::{TrackFix, block};
use gridworker_model::validate;
use serde_json::{Value, json};

const KINDS: [&str; 8] = [
    "checkin",
    "visit",
    "report",
    "task_ack",
    "task_completion",
    "patrol_event",
    "track_block",
    "report_evaluation",
];

fn document() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/schemas/payloads.schema.json"
    );
    let text = std::fs::read_to_string(path).expect("docs/schemas/payloads.schema.json");
    serde_json::from_str(&text).expect("the schema file is JSON")
}

/// The schema of one kind: the document with its `$defs`, entered at `#/$defs/<kind>`.
fn schema_of(kind: &str) -> jsonschema::Validator {
    let mut doc = document();
    let obj = doc.as_object_mut().expect("an object");
    obj.remove("oneOf");
    obj.insert("$ref".into(), json!(format!("#/$defs/{kind}")));
    jsonschema::options()
        .should_validate_formats(true)
        .build(&doc)
        .expect("the schema compiles (draft 2020-12)")
}

fn at(h: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, h, 15, 2).unwrap()
        + chrono::Duration::nanoseconds(123_456_789)
}

fn fix() -> LocationFix {
    LocationFix {
        lat: 45.2985625,
        lon: 130.9503308,
        accuracy_m: 6.5,
        altitude_m: Some(180.0),
        speed_mps: None,
        bearing_deg: Some(359.5),
        provider: Provider::Fused,
        crs: Crs::Gcj02,
        is_mock: false,
        fix_time: at(8),
        monotonic_ms: 86_400_000,
    }
}

fn photo(seed: u8) -> Photo {
    Photo {
        sha256: format!("{seed:02x}").repeat(32),
        size: 412_345,
        media_type: MediaType::Jpeg,
        captured_at: seed.is_multiple_of(2).then(|| at(7)),
        exif_time: seed.is_multiple_of(2).then(|| at(7)),
        exif_position: seed.is_multiple_of(2).then(|| Position::new(45.29, 130.95)),
        original_sha256: seed.is_multiple_of(2).then(|| "ab".repeat(32)),
        original_size: seed.is_multiple_of(2).then_some(4_812_345),
    }
}

fn ids() -> (String, String, String) {
    (
        "01938f2a-6b1c-7d4e-8f00-1234567890ab".into(),
        "w-0001".into(),
        "dev-华为-01".into(),
    )
}

fn checkin() -> CheckIn {
    let (id, worker_id, device_id) = ids();
    let f = fix();
    CheckIn {
        id,
        worker_id,
        device_id,
        point_id: "p-00001".into(),
        position: f.position(),
        fix: f,
        distance_m: 3.25,
        outcome: CheckInOutcome::Flagged,
        flags: vec![Flag::Inaccurate, Flag::ClockJump],
        recorded_at: at(8),
    }
}

fn visit() -> Visit {
    let (id, worker_id, device_id) = ids();
    let f = fix();
    Visit {
        id,
        worker_id,
        device_id,
        household_id: "hh-0042".into(),
        kind: VisitKind::CareVisit,
        // At the limit, in characters (three bytes each).
        note: "独居老人，血压偏高，已联系社区医生。"
            .chars()
            .cycle()
            .take(MAX_NOTE_CHARS)
            .collect(),
        position: f.position(),
        fix: f,
        distance_m: 12.0,
        flags: vec![],
        recorded_at: at(9),
    }
}

fn report() -> ReportPayload {
    let (id, worker_id, device_id) = ids();
    let f = fix();
    ReportPayload {
        id,
        worker_id,
        device_id,
        category: "市容环境".into(),
        description: "井".repeat(MAX_DESCRIPTION_CHARS),
        photos: (0..MAX_PHOTOS as u8).map(photo).collect(),
        position: f.position(),
        fix: f,
        flags: vec![Flag::MockLocation],
        attach_to: Some("01938f2a-0000-7000-8000-000000000001".into()),
        created_at: at(10),
        submitted_at: at(11),
    }
}

fn task_ack() -> TaskAckPayload {
    let (_, worker_id, device_id) = ids();
    TaskAckPayload {
        task_id: "t-2026-0042".into(),
        worker_id,
        device_id,
        acknowledged_at: at(12),
    }
}

fn completion() -> TaskCompletionPayload {
    let (id, worker_id, device_id) = ids();
    let f = fix();
    TaskCompletionPayload {
        id,
        task_id: "t-2026-0042".into(),
        worker_id,
        device_id,
        note: String::new(),
        photos: vec![],
        position: f.position(),
        fix: f,
        flags: vec![],
        completed_at: at(13),
    }
}

fn evaluation() -> ReportEvaluationPayload {
    let (id, worker_id, device_id) = ids();
    ReportEvaluationPayload {
        id,
        report_id: "01938f2a-0000-7000-8000-000000000001".into(),
        worker_id,
        device_id,
        satisfied: false,
        reason: "井盖仍在渗水".into(),
        evaluated_at: at(16),
    }
}

fn patrol_event() -> PatrolEventPayload {
    let (id, worker_id, device_id) = ids();
    PatrolEventPayload {
        id,
        worker_id,
        device_id,
        session_id: "01938f2a-0000-7000-8000-00000000000f".into(),
        event: PatrolEventKind::Pause,
        at: at(14),
    }
}

fn track_block() -> TrackBlockPayload {
    let (id, worker_id, device_id) = ids();
    let fixes: Vec<TrackFix> = (0..120)
        .map(|i| TrackFix {
            t_ms: at(15).timestamp_millis() + i * 1000,
            position: Position::new(45.3 + i as f64 * 1e-5, 130.9),
            accuracy_m: 4.5,
            mock: false,
        })
        .collect();
    let data = block::encode(&fixes).unwrap();
    TrackBlockPayload::new(
        id,
        worker_id,
        device_id,
        "01938f2a-0000-7000-8000-00000000000f".into(),
        &data,
    )
    .unwrap()
}

/// Each kind's good payload as JSON, with the shared rule's verdict on a JSON value of it.
type Rule = fn(&Value) -> bool;

fn cases() -> Vec<(&'static str, Value, Rule)> {
    fn ok<T: serde::de::DeserializeOwned>(
        v: &Value,
        check: fn(&T) -> gridworker_model::Check,
    ) -> bool {
        serde_json::from_value::<T>(v.clone()).is_ok_and(|t| check(&t).is_ok())
    }
    vec![
        ("checkin", json!(checkin()), |v| ok(v, validate::checkin)),
        ("visit", json!(visit()), |v| ok(v, validate::visit)),
        ("report", json!(report()), |v| ok(v, validate::report)),
        ("task_ack", json!(task_ack()), |v| ok(v, validate::task_ack)),
        ("task_completion", json!(completion()), |v| {
            ok(v, validate::task_completion)
        }),
        ("patrol_event", json!(patrol_event()), |v| {
            ok(v, validate::patrol_event)
        }),
        ("track_block", json!(track_block()), |v| {
            ok(v, validate::track_block)
        }),
        ("report_evaluation", json!(evaluation()), |v| {
            ok(v, validate::report_evaluation)
        }),
    ]
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

#[test]
fn every_field_of_every_payload_type_is_in_its_schema_and_nothing_else() {
    let doc = document();
    for (kind, payload, _) in cases() {
        let props = keys(&doc["$defs"][kind]["properties"]);
        assert_eq!(
            keys(&payload),
            props,
            "{kind}: type fields vs schema properties"
        );
        // Required = the fields serde cannot leave out (not an Option).
        let required: BTreeSet<String> = doc["$defs"][kind]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        let optional: BTreeSet<String> = payload
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| {
                let mut v = payload.clone();
                v.as_object_mut().unwrap().remove(*k);
                cases()
                    .into_iter()
                    .find(|c| c.0 == kind)
                    .is_some_and(|c| (c.2)(&v))
            })
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(
            required,
            &props - &optional,
            "{kind}: required in the schema vs required by the type"
        );
    }
    let nested = [
        ("location_fix", json!(fix())),
        ("photo", json!(photo(2))),
        ("position", json!(Position::new(45.3, 130.9))),
    ];
    for (def, value) in nested {
        assert_eq!(
            keys(&value),
            keys(&doc["$defs"][def]["properties"]),
            "{def}"
        );
    }
}

#[test]
fn payloads_the_phone_makes_pass_the_schema_and_the_shared_rules() {
    for (kind, payload, rule) in cases() {
        let schema = schema_of(kind);
        let errors: Vec<String> = schema
            .iter_errors(&payload)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{kind}: {errors:?}");
        assert!(rule(&payload), "{kind}: refused by validate::{kind}");
        // Absent optional values: null, as serde writes them.
        let mut lean = payload.clone();
        if let Some(fix) = lean.get_mut("fix") {
            fix["altitude_m"] = Value::Null;
            fix["bearing_deg"] = Value::Null;
        }
        assert!(schema.is_valid(&lean) && rule(&lean), "{kind} with nulls");
    }
}

/// Alters a JSON value at a path of keys and array indexes.
fn with(mut v: Value, path: &[&str], new: Value) -> Value {
    let mut cur = &mut v;
    for (i, p) in path.iter().enumerate() {
        let last = i == path.len() - 1;
        cur = match p.parse::<usize>() {
            Ok(n) => &mut cur[n],
            Err(_) if last => {
                cur.as_object_mut().unwrap().insert(p.to_string(), new);
                return v;
            }
            Err(_) => &mut cur[*p],
        };
        if last {
            *cur = new;
            return v;
        }
    }
    v
}

#[test]
fn what_the_shared_rules_refuse_the_schema_refuses_too() {
    let long = |n: usize| Value::String("字".repeat(n));
    // (kind, path, value, whether validate::<kind> sees it: unknown fields are the strict
    // decoder's refusal, not a rule's)
    let bad: Vec<(&str, Vec<&str>, Value, bool)> = vec![
        ("checkin", vec!["id"], json!(""), true),
        ("checkin", vec!["id"], json!("   "), true),
        ("checkin", vec!["point_id"], json!("../etc"), true),
        ("checkin", vec!["worker_id"], json!("w\u{0}1"), true),
        ("checkin", vec!["device_id"], json!("dev\n1"), true),
        ("checkin", vec!["point_id"], json!(".."), true),
        ("checkin", vec!["id"], long(129), true),
        ("checkin", vec!["position", "lat"], json!(95.0), true),
        ("checkin", vec!["fix", "lon"], json!(-181.0), true),
        ("checkin", vec!["fix", "accuracy_m"], json!(-1.0), true),
        ("checkin", vec!["fix", "speed_mps"], json!(1500.0), true),
        ("checkin", vec!["fix", "monotonic_ms"], json!(-5), true),
        (
            "checkin",
            vec!["fix", "fix_time"],
            json!("1969-12-31T23:59:59Z"),
            true,
        ),
        ("checkin", vec!["distance_m"], json!(-0.5), true),
        (
            "checkin",
            vec!["recorded_at"],
            json!("2100-01-01T00:00:00Z"),
            true,
        ),
        ("checkin", vec!["fix", "crs"], json!("utm"), true),
        ("checkin", vec!["flags", "0"], json!("teleported"), true),
        ("checkin", vec!["fix", "vendor"], json!("x"), false),
        ("checkin", vec!["position", "crs"], json!("wgs84"), false),
        ("checkin", vec!["extra"], json!(1), false),
        ("visit", vec!["note"], long(MAX_NOTE_CHARS + 1), true),
        ("visit", vec!["note"], json!("a\u{0}b"), true),
        ("visit", vec!["kind"], json!("party"), true),
        ("report", vec!["category"], json!(""), true),
        ("report", vec!["category"], json!("  "), true),
        ("report", vec!["category"], long(65), true),
        (
            "report",
            vec!["description"],
            long(MAX_DESCRIPTION_CHARS + 1),
            true,
        ),
        ("report", vec!["photos"], json!([]), true),
        ("report", vec!["photos", "9"], json!(photo(9)), true),
        ("report", vec!["photos", "0", "sha256"], json!("ABCD"), true),
        ("report", vec!["photos", "0", "size"], json!(0), true),
        (
            "report",
            vec!["photos", "0", "media_type"],
            json!("image/gif"),
            true,
        ),
        ("report", vec!["photos", "0", "exif"], json!({}), false),
        ("report", vec!["attach_to"], json!("a/b"), true),
        ("report", vec!["submitted_at"], json!("yesterday"), true),
        ("task_ack", vec!["task_id"], json!(""), true),
        (
            "task_ack",
            vec!["acknowledged_at"],
            json!("0001-01-01T00:00:00Z"),
            true,
        ),
        (
            "task_completion",
            vec!["photos"],
            json!((0..10u8).map(photo).collect::<Vec<_>>()),
            true,
        ),
        (
            "task_completion",
            vec!["note"],
            long(MAX_NOTE_CHARS + 1),
            true,
        ),
        ("patrol_event", vec!["event"], json!("teleport"), true),
        ("patrol_event", vec!["session_id"], json!(""), true),
        ("track_block", vec!["fixes"], json!(0), true),
        ("track_block", vec!["data"], json!("not base64!"), true),
        ("track_block", vec!["data"], json!(""), true),
        ("report_evaluation", vec!["reason"], json!("  "), true),
        ("report_evaluation", vec!["reason"], long(501), true),
        ("report_evaluation", vec!["report_id"], json!(""), true),
    ];
    for (kind, path, value, by_rule) in bad {
        let (_, good, rule) = cases().into_iter().find(|c| c.0 == kind).unwrap();
        let payload = if path == ["photos", "9"] {
            let mut v = good.clone();
            v["photos"].as_array_mut().unwrap().push(value.clone());
            v
        } else {
            with(good, &path, value.clone())
        };
        assert!(
            !schema_of(kind).is_valid(&payload),
            "{kind}.{} = {value}: the schema accepts it",
            path.join(".")
        );
        if by_rule {
            assert!(
                !rule(&payload),
                "{kind}.{} = {value}: the shared rule accepts it",
                path.join(".")
            );
        }
    }
}

#[test]
fn the_document_lists_every_kind_and_only_those() {
    let doc = document();
    let listed: Vec<String> = doc["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["$ref"]
                .as_str()
                .unwrap()
                .trim_start_matches("#/$defs/")
                .to_string()
        })
        .collect();
    assert_eq!(listed, KINDS);
    let codes: Vec<&str> = gridworker_model::wire::MutationKind::ALL
        .iter()
        .map(|k| k.code())
        .collect();
    assert_eq!(codes, KINDS, "every mutation kind has a payload schema");
}

// --- docs/schemas/wire.schema.json: the request and reply bodies ---

fn wire_document() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/schemas/wire.schema.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("wire.schema.json")).unwrap()
}

/// The wire schema of one body, with payloads.schema.json resolvable by its `$id`.
fn wire_schema_of(def: &str) -> jsonschema::Validator {
    let mut doc = wire_document();
    doc.as_object_mut()
        .unwrap()
        .insert("$ref".into(), json!(format!("#/$defs/{def}")));
    let payloads = document();
    let id = payloads["$id"].as_str().unwrap().to_string();
    let registry = jsonschema::Registry::new()
        .add(id, payloads)
        .and_then(|r| r.prepare())
        .expect("payloads.schema.json registers");
    jsonschema::options()
        .should_validate_formats(true)
        .with_registry(&registry)
        .build(&doc)
        .expect("the wire schema compiles")
}

fn sample_mutation(withdrawn: bool) -> gridworker_model::wire::Mutation {
    let payload = serde_json::to_string(&checkin()).unwrap();
    gridworker_model::wire::Mutation {
        mutation_id: "01938f2a-0000-7000-8000-000000000001".into(),
        seq: 1,
        kind: "checkin".into(),
        record_id: checkin().id,
        hash: gridworker_model::chain::link_hash(
            gridworker_model::chain::GENESIS,
            1,
            "checkin",
            "01938f2a-0000-7000-8000-000000000001",
            &payload,
        ),
        payload,
        device_time: at(8),
        monotonic_ms: 86_400_000,
        prev_hash: gridworker_model::chain::GENESIS.into(),
        withdrawn,
    }
}

fn sample_changes() -> Vec<gridworker_model::wire::Change> {
    use gridworker_model::domain::{ReportStatus as Status, TaskStatus};
    use gridworker_model::wire::Change::*;
    vec![
        GridUpsert {
            code: "G-01".into(),
            name: "东风社区一网格".into(),
            crs: Crs::Gcj02,
            ring: vec![[130.94, 45.29], [130.95, 45.29], [130.95, 45.30]],
        },
        GridDelete {
            code: "G-02".into(),
        },
        PointUpsert {
            id: "p-1".into(),
            grid_code: "G-01".into(),
            name: "3号楼东门".into(),
            crs: Crs::Bd09,
            lat: 45.3,
            lon: 130.9,
            radius_m: 0.0,
        },
        PointDelete { id: "p-2".into() },
        HouseholdUpsert {
            id: "h-1".into(),
            grid_code: "G-01".into(),
            building: "3号楼".into(),
            address: "2单元401".into(),
            crs: Crs::Wgs84,
            lat: 45.3,
            lon: 130.9,
            tags: vec!["低保".into()],
        },
        HouseholdDelete { id: "h-2".into() },
        ReportStatus {
            report_id: "r-1".into(),
            status: Status::Dispatched,
            department: Some("城管".into()),
            note: None,
            evaluation: None,
            at: at(14),
        },
        ReportUpsert {
            id: "r-2".into(),
            category: "市容环境".into(),
            description: "".into(),
            crs: Crs::Gcj02,
            lat: 45.3,
            lon: 130.9,
            status: Status::Accepted,
            created_at: at(9),
        },
        TaskUpsert {
            id: "t-1".into(),
            title: "核查井盖".into(),
            description: "".into(),
            crs: None,
            lat: None,
            lon: None,
            address: Some("东风路".into()),
            due_at: None,
            linked_report_id: None,
            status: TaskStatus::Dispatched,
            dispatched_at: at(15),
        },
        WorkerGrids {
            grid_codes: vec!["G-01".into()],
        },
        ReportCatalog {
            categories: vec![gridworker_model::wire::CatalogEntry {
                code: "leaking_manhole".into(),
                name: "井盖/窨井渗漏".into(),
            }],
            departments: vec![gridworker_model::wire::CatalogEntry {
                code: "water".into(),
                name: "鸡西市供水公司".into(),
            }],
        },
    ]
}

fn wire_samples() -> Vec<(&'static str, Value)> {
    use gridworker_model::wire::*;
    let reason = Reason {
        code: codes::MISSING_PHOTO.into(),
        message: "the photo is not held".into(),
    };
    vec![
        (
            "push_request",
            json!(PushRequest {
                device_id: "dev-1".into(),
                mutations: vec![sample_mutation(false), sample_mutation(true)],
            }),
        ),
        (
            "push_response",
            json!(PushResponse {
                results: vec![
                    MutationResult {
                        mutation_id: "m-1".into(),
                        outcome: Outcome::Applied
                    },
                    MutationResult {
                        mutation_id: "m-2".into(),
                        outcome: Outcome::AlreadyApplied
                    },
                    MutationResult {
                        mutation_id: "m-3".into(),
                        outcome: Outcome::Rejected { reason }
                    },
                ],
                chain_breaks: 1,
            }),
        ),
        (
            "handshake_response",
            json!(HandshakeResponse {
                protocol: PROTOCOL,
                min_protocol: PROTOCOL,
                server_time: at(8),
                server_id: "srv-1".into(),
                worker: WorkerInfo {
                    id: "w-0001".into(),
                    name: "张伟".into()
                },
                grids: vec!["G-01".into()],
                policy: gridworker_model::policy::ValidationPolicy::default(),
                device_last_seq: Some(41),
            }),
        ),
        (
            "pull_response",
            json!(PullResponse {
                changes: sample_changes(),
                next_cursor: "c-42".into(),
                has_more: false,
            }),
        ),
        (
            "photo_status",
            json!(PhotoStatus {
                sha256: "ab".repeat(32),
                offset: 100,
                length: Some(300),
                complete: false,
            }),
        ),
        (
            "error_body",
            json!(ErrorBody {
                error: ErrorDetail {
                    code: codes::OFFSET_MISMATCH.into(),
                    message: "the server holds 100 bytes".into(),
                    retryable: false,
                    min_protocol: None,
                    offset: Some(100),
                }
            }),
        ),
    ]
}

/// The properties a schema object lists, following one `$ref` inside the document.
fn props_of(doc: &Value, schema: &Value) -> BTreeSet<String> {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) if r.starts_with("#/$defs/") => {
            props_of(doc, &doc["$defs"][r.trim_start_matches("#/$defs/")])
        }
        _ => keys(&schema["properties"]),
    }
}

#[test]
fn every_body_the_rust_types_write_passes_its_wire_schema_with_the_same_fields() {
    let doc = wire_document();
    for (def, body) in wire_samples() {
        let errors: Vec<String> = wire_schema_of(def)
            .iter_errors(&body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{def}: {errors:?}");
        assert_eq!(keys(&body), props_of(&doc, &doc["$defs"][def]), "{def}");
    }
    // Nested objects: every field the types write is listed, and nothing else.
    let mutation = json!(sample_mutation(true));
    assert_eq!(
        keys(&mutation),
        keys(&doc["$defs"]["mutation"]["properties"])
    );
    let handshake = &wire_samples()[2].1;
    assert_eq!(
        keys(&handshake["policy"]),
        keys(&doc["$defs"]["policy"]["properties"])
    );
    assert_eq!(
        keys(&handshake["worker"]),
        keys(&doc["$defs"]["worker_info"]["properties"])
    );
    // Each change type has its branch, with exactly the variant's fields.
    let branches = doc["$defs"]["change"]["oneOf"].as_array().unwrap();
    let changes = sample_changes();
    assert_eq!(branches.len(), changes.len(), "one branch per change type");
    for change in changes {
        let v = json!(change);
        let t = v["type"].as_str().unwrap();
        let branch = branches
            .iter()
            .find(|b| b["properties"]["type"]["const"] == t)
            .unwrap_or_else(|| panic!("no branch for change type {t}"));
        assert_eq!(keys(&v), keys(&branch["properties"]), "change {t}");
    }
}

#[test]
fn requests_refuse_what_the_server_refuses() {
    let good = wire_samples()[0].1.clone();
    let schema = wire_schema_of("push_request");
    assert!(schema.is_valid(&good));
    for (path, value) in [
        (vec!["extra"], json!(1)),
        (vec!["mutations", "0", "extra"], json!(1)),
        (vec!["mutations", "0", "seq"], json!(0)),
        (vec!["mutations", "0", "hash"], json!("ABC")),
        (vec!["mutations", "0", "payload"], json!(42)),
        (
            vec!["mutations", "0", "device_time"],
            json!("1969-07-20T20:17:40Z"),
        ),
    ] {
        assert!(
            !schema.is_valid(&with(good.clone(), &path, value.clone())),
            "{} = {value}",
            path.join(".")
        );
    }
    // A kind this build does not know is not a schema refusal: it is the per-mutation
    // rejection unknown_kind.
    assert!(schema.is_valid(&with(
        good,
        &["mutations", "0", "kind"],
        json!("patrol_track")
    )));
}
