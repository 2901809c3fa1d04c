//! docs/schemas/payloads.schema.json against the Rust types and the shared validation rules,
//! so the schema a back-end team reads cannot drift from what the phone sends and the server
//! accepts:
//! - every field a payload type serialises is a property of its schema, and every property
//!   of the schema is a field of the type (a field added on one side only fails here);
//! - payloads the phone makes (Chinese text, text at its limit, nine photos, absent optional
//!   values) pass both the schema and `validate::<kind>`;
//! - each refusal of `validate::<kind>` that a schema can express is a refusal of the schema
//!   too, and unknown fields are refused at every level;
//! - what a schema cannot express (an ID number's check character and calendar date, a
//!   conflict resolution's value against the conflict's field) is named, and left to the
//!   shared rules.

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use gridworker_model::domain::{
    CheckIn, CheckInOutcome, Flag, LocationFix, MAX_DESCRIPTION_CHARS, MAX_NOTE_CHARS, MAX_PHOTOS,
    MediaType, PatrolEventKind, PatrolEventPayload, Photo, Provider, ReportEvaluationPayload,
    ReportPayload, TaskAckPayload, TaskCompletionPayload, TrackBlockPayload, Visit, VisitKind,
};
use gridworker_model::geo::{Crs, Position};
use gridworker_model::residents::{
    self, ConflictResolutionPayload, Entity, FieldUpdatePayload, Relation, ResidentAddPayload,
    Resolution, idcard, phone,
};
use gridworker_model::track::{TrackFix, block};
use gridworker_model::validate;
use serde_json::{Value, json};

/// In `MutationKind::ALL` order.
const KINDS: [&str; 12] = [
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

/// The day the shared rules check the payloads on (an ID number's birth date is checked
/// against it): the day they are recorded.
fn today() -> chrono::NaiveDate {
    at(0).date_naive()
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

fn resident_add() -> ResidentAddPayload {
    let (id, worker_id, device_id) = ids();
    ResidentAddPayload {
        id,
        worker_id,
        device_id,
        household_id: "hh-0042".into(),
        visit_id: Some("01938f2a-0000-7000-8000-000000000002".into()),
        name: "于秀珍".into(),
        // A valid number (region 230321, born 1939-12-01, female).
        id_number: "230321193912011664".into(),
        // As typed: stored normalised as 13912345678.
        phone: Some("+86 139-1234-5678".into()),
        relation: Relation::Head,
        tags: vec!["elderly_alone".into(), "低保".into()],
        notes: "无子女，邻居代为照看。"
            .chars()
            .cycle()
            .take(MAX_NOTE_CHARS)
            .collect(),
        recorded_at: at(9),
    }
}

/// The district's key groups as the fixtures have them, and more up to the limit.
fn sixteen_tags() -> Vec<String> {
    let mut t: Vec<String> = ["disability", "elderly_alone", "veteran", "低保"]
        .map(String::from)
        .to_vec();
    t.extend((4..residents::fields::MAX_TAGS).map(|i| format!("重点人群-{i:02}")));
    t
}

fn field_update(target_id: &str, fields: Value, previous: Value) -> FieldUpdatePayload {
    let (id, worker_id, device_id) = ids();
    FieldUpdatePayload {
        id,
        worker_id,
        device_id,
        target_id: target_id.into(),
        base_version: 3,
        fields: serde_json::from_value(fields).unwrap(),
        previous: serde_json::from_value(previous).unwrap(),
        visit_id: None,
        recorded_at: at(10),
    }
}

/// A resident edit naming every field (phones send only the changed ones).
fn resident_update() -> FieldUpdatePayload {
    field_update(
        "r-0000006",
        json!({
            // A lowercase x is the same number (stored as X).
            "id_number": "11010519491231002x",
            "name": "于秀珍",
            "notes": "",
            "phone": "0467 234 5678",
            "relation": "parent",
            "status": "moved_out",
            "tags": ["veteran", "低保", "veteran"],
        }),
        // What the phone showed: never-collected values are null.
        json!({
            "id_number": "230321193912011664",
            "name": "于秀",
            "notes": "无子女",
            "phone": null,
            "relation": "head",
            "status": "living",
            "tags": ["elderly_alone"],
        }),
    )
}

fn household_update() -> FieldUpdatePayload {
    field_update(
        "hh-0042",
        json!({
            "contact_phone": null,
            "housing_type": "public_rental",
            "notes": "房东住在3单元",
            "occupancy": "tenant",
            "resident_count": residents::fields::MAX_RESIDENT_COUNT,
            "tags": sixteen_tags(),
        }),
        json!({
            "contact_phone": "0467-2345678",
            "housing_type": null,
            "notes": "",
            "occupancy": "owner",
            "resident_count": 0,
            "tags": [],
        }),
    )
}

fn conflict_resolution(take: Resolution, value: Option<Value>) -> ConflictResolutionPayload {
    let (id, worker_id, device_id) = ids();
    ConflictResolutionPayload {
        id,
        worker_id,
        device_id,
        conflict_id: "01938f2a-0000-7000-8000-0000000000c1".into(),
        take,
        value,
        recorded_at: at(17),
    }
}

fn resident_rule(v: &Value) -> bool {
    serde_json::from_value::<FieldUpdatePayload>(v.clone())
        .is_ok_and(|u| validate::field_update(Entity::Resident, &u, today()).is_ok())
}

fn household_rule(v: &Value) -> bool {
    serde_json::from_value::<FieldUpdatePayload>(v.clone())
        .is_ok_and(|u| validate::field_update(Entity::Household, &u, today()).is_ok())
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
        ("resident_add", json!(resident_add()), |v| {
            ok(v, |r| validate::resident_add(r, today()))
        }),
        ("resident_update", json!(resident_update()), resident_rule),
        (
            "household_update",
            json!(household_update()),
            household_rule,
        ),
        (
            "conflict_resolution",
            json!(conflict_resolution(Resolution::Mine, None)),
            |v| ok(v, validate::conflict_resolution),
        ),
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
    // The fields an edit may name: exactly the entity's editable fields, which are exactly
    // the fields its record has.
    let resident = residents::Resident {
        version: 0,
        status: residents::ResidentStatus::Living,
        ..resident_add().resident()
    };
    for (def, entity, record) in [
        ("resident_fields", Entity::Resident, resident.fields()),
        (
            "household_fields",
            Entity::Household,
            residents::HouseholdProfile::default().fields(),
        ),
    ] {
        let listed: BTreeSet<String> = entity.fields().iter().map(|f| f.to_string()).collect();
        assert_eq!(keys(&doc["$defs"][def]["properties"]), listed, "{def}");
        assert_eq!(
            record.keys().cloned().collect::<BTreeSet<_>>(),
            listed,
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
        for optional in ["visit_id", "phone"] {
            if let Some(v) = lean.get_mut(optional) {
                *v = Value::Null;
            }
        }
        assert!(schema.is_valid(&lean) && rule(&lean), "{kind} with nulls");
    }
    // One changed field at a time, as phones send them, and every way to resolve.
    for (kind, entity) in [
        ("resident_update", Entity::Resident),
        ("household_update", Entity::Household),
    ] {
        let (_, good, rule) = cases().into_iter().find(|c| c.0 == kind).unwrap();
        for (field, value) in good["fields"].as_object().unwrap() {
            let before = &good["previous"][field];
            let one = with(good.clone(), &["fields"], json!({ field: value }));
            let one = with(one, &["previous"], json!({ field: before }));
            assert!(schema_of(kind).is_valid(&one), "{kind}: {field} alone");
            assert!(rule(&one), "{kind}: {field} alone");
            assert!(residents::check_value(entity, field, value).is_ok());
        }
    }
    let resolutions = [
        json!(conflict_resolution(Resolution::Theirs, None)),
        json!(conflict_resolution(
            Resolution::Value,
            Some(json!("13912345678"))
        )),
        json!(conflict_resolution(
            Resolution::Value,
            Some(json!(["veteran"]))
        )),
    ];
    for r in resolutions {
        assert!(schema_of("conflict_resolution").is_valid(&r), "{r}");
        assert!(
            serde_json::from_value::<ConflictResolutionPayload>(r.clone())
                .is_ok_and(|c| validate::conflict_resolution(&c).is_ok()),
            "{r}"
        );
    }
    // Without the optional fields at all (serde reads them as None).
    let mut bare = json!(conflict_resolution(Resolution::Mine, None));
    bare.as_object_mut().unwrap().remove("value");
    assert!(schema_of("conflict_resolution").is_valid(&bare));
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
        // Residents (protocol 4).
        (
            "resident_add",
            vec!["id_number"],
            json!("11010519491231002"),
            true,
        ),
        (
            "resident_add",
            vec!["id_number"],
            json!("1101051949123100212"),
            true,
        ),
        (
            "resident_add",
            vec!["id_number"],
            json!("1101051949123100A2"),
            true,
        ),
        (
            "resident_add",
            vec!["id_number"],
            json!("11010519491231002Y"),
            true,
        ),
        (
            "resident_add",
            vec!["id_number"],
            json!("990105194912310020"),
            true,
        ),
        (
            "resident_add",
            vec!["id_number"],
            json!("230302199913010010"),
            true,
        ),
        (
            "resident_add",
            vec!["id_number"],
            json!("230302170001010010"),
            true,
        ),
        (
            "resident_add",
            vec!["id_number"],
            json!("门牌号门牌号"),
            true,
        ),
        ("resident_add", vec!["id_number"], Value::Null, true),
        ("resident_add", vec!["phone"], json!("12345"), true),
        ("resident_add", vec!["phone"], json!("12912345678"), true),
        ("resident_add", vec!["phone"], json!("139123456789"), true),
        ("resident_add", vec!["phone"], json!("0467-0234567"), true),
        ("resident_add", vec!["phone"], json!("0467-234567"), true),
        ("resident_add", vec!["phone"], json!("0086 2345678"), true),
        ("resident_add", vec!["phone"], json!("1391234567８"), true),
        ("resident_add", vec!["phone"], json!("call me"), true),
        ("resident_add", vec!["phone"], json!(""), true),
        ("resident_add", vec!["name"], json!(""), true),
        ("resident_add", vec!["name"], json!("   "), true),
        ("resident_add", vec!["name"], json!("王\n伟"), true),
        ("resident_add", vec!["name"], long(33), true),
        ("resident_add", vec!["relation"], json!("uncle"), true),
        ("resident_add", vec!["tags"], json!("veteran"), true),
        ("resident_add", vec!["tags", "0"], json!("a/b"), true),
        ("resident_add", vec!["tags", "0"], json!(""), true),
        ("resident_add", vec!["tags", "0"], long(33), true),
        ("resident_add", vec!["tags"], json!(seventeen_tags()), true),
        (
            "resident_add",
            vec!["notes"],
            long(MAX_NOTE_CHARS + 1),
            true,
        ),
        ("resident_add", vec!["notes"], json!("a\u{0}b"), true),
        ("resident_add", vec!["household_id"], json!(""), true),
        ("resident_add", vec!["visit_id"], json!("../v"), true),
        ("resident_add", vec!["status"], json!("living"), false),
        ("resident_add", vec!["version"], json!(1), false),
        ("resident_update", vec!["fields"], json!({}), true),
        ("resident_update", vec!["fields"], json!(["name"]), true),
        ("resident_update", vec!["fields", "version"], json!(4), true),
        (
            "resident_update",
            vec!["fields", "household_id"],
            json!("h-2"),
            true,
        ),
        (
            "resident_update",
            vec!["fields", "occupancy"],
            json!("owner"),
            true,
        ),
        (
            "resident_update",
            vec!["fields", "status"],
            json!("emigrated"),
            true,
        ),
        (
            "resident_update",
            vec!["fields", "relation"],
            json!(3),
            true,
        ),
        ("resident_update", vec!["fields", "name"], Value::Null, true),
        (
            "resident_update",
            vec!["fields", "notes"],
            Value::Null,
            true,
        ),
        (
            "resident_update",
            vec!["fields", "phone"],
            json!("110"),
            true,
        ),
        (
            "resident_update",
            vec!["fields", "id_number"],
            json!("2303021999"),
            true,
        ),
        (
            "resident_update",
            vec!["fields", "tags"],
            json!(seventeen_tags()),
            true,
        ),
        (
            "resident_update",
            vec!["previous"],
            json!({"phone": null}),
            true,
        ),
        ("resident_update", vec!["previous"], json!({}), true),
        (
            "resident_update",
            vec!["previous", "version"],
            json!(3),
            true,
        ),
        (
            "resident_update",
            vec!["previous", "status"],
            json!("emigrated"),
            true,
        ),
        (
            "resident_update",
            vec!["previous", "phone"],
            json!("12345"),
            true,
        ),
        ("resident_update", vec!["previous", "name"], json!(""), true),
        ("resident_update", vec!["base_version"], json!(-1), true),
        ("resident_update", vec!["target_id"], json!(""), true),
        ("resident_update", vec!["visit_id"], json!("v\u{0}"), true),
        (
            "resident_update",
            vec!["recorded_at"],
            json!("2100-01-01T00:00:00Z"),
            true,
        ),
        ("resident_update", vec!["entity"], json!("resident"), false),
        (
            "household_update",
            vec!["fields", "resident_count"],
            json!(100),
            true,
        ),
        (
            "household_update",
            vec!["fields", "resident_count"],
            json!(-1),
            true,
        ),
        (
            "household_update",
            vec!["fields", "resident_count"],
            json!("3"),
            true,
        ),
        (
            "household_update",
            vec!["fields", "housing_type"],
            json!("villa"),
            true,
        ),
        (
            "household_update",
            vec!["fields", "occupancy"],
            json!("squatter"),
            true,
        ),
        (
            "household_update",
            vec!["fields", "contact_phone"],
            json!("110"),
            true,
        ),
        (
            "household_update",
            vec!["fields", "notes"],
            Value::Null,
            true,
        ),
        (
            "household_update",
            vec!["fields", "tags"],
            Value::Null,
            true,
        ),
        (
            "household_update",
            vec!["fields", "name"],
            json!("王伟"),
            true,
        ),
        (
            "household_update",
            vec!["fields", "address"],
            json!("2单元"),
            true,
        ),
        (
            "household_update",
            vec!["previous", "resident_count"],
            json!(100),
            true,
        ),
        (
            "household_update",
            vec!["previous", "name"],
            json!("王伟"),
            true,
        ),
        (
            "household_update",
            vec!["previous"],
            json!({"contact_phone": null, "notes": null}),
            true,
        ),
        ("conflict_resolution", vec!["take"], json!("both"), true),
        ("conflict_resolution", vec!["take"], json!("value"), true),
        (
            "conflict_resolution",
            vec!["value"],
            json!("13912345678"),
            true,
        ),
        ("conflict_resolution", vec!["conflict_id"], json!(""), true),
        (
            "conflict_resolution",
            vec!["recorded_at"],
            json!("1969-12-31T23:59:59Z"),
            true,
        ),
        ("conflict_resolution", vec!["field"], json!("phone"), false),
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

fn seventeen_tags() -> Vec<String> {
    let mut t = sixteen_tags();
    t.push("one_too_many".into());
    t
}

/// Where JSON Schema stops: an ID number's check character (ISO 7064 MOD 11-2) and whether
/// its birth date is a real day not after today, a whole number written as `3.0`, and whether a conflict
/// resolution's value suits the conflict's field (only the server holding the conflict knows
/// the field). The schema accepts these; the shared rules (and the server) refuse them.
#[test]
fn what_the_schema_cannot_express_is_left_to_the_shared_rules() {
    let add = cases().into_iter().find(|c| c.0 == "resident_add").unwrap();
    let upd = cases()
        .into_iter()
        .find(|c| c.0 == "resident_update")
        .unwrap();
    for n in [
        "110105194912310021", // wrong check digit
        "440524188001010015", // wrong check digit
        "230302199902300010", // 30 February
        "230302199904310010", // 31 April
    ] {
        let v = with(add.1.clone(), &["id_number"], json!(n));
        assert!(schema_of("resident_add").is_valid(&v), "{n}");
        assert!(!(add.2)(&v), "{n}: the rule accepts it");
        let v = with(upd.1.clone(), &["fields", "id_number"], json!(n));
        assert!(schema_of("resident_update").is_valid(&v), "{n}");
        assert!(!(upd.2)(&v), "{n}: the rule accepts it");
    }
    // Born the day after the payloads are checked: the schema has no clock.
    let unborn = "230302202612010013";
    let v = with(add.1.clone(), &["id_number"], json!(unborn));
    assert!(schema_of("resident_add").is_valid(&v));
    assert!(!(add.2)(&v), "the rule accepts a birth date after today");
    let v = with(upd.1.clone(), &["fields", "id_number"], json!(unborn));
    assert!(schema_of("resident_update").is_valid(&v));
    assert!(!(upd.2)(&v), "the rule accepts a birth date after today");
    let hh = cases()
        .into_iter()
        .find(|c| c.0 == "household_update")
        .unwrap();
    let v = with(hh.1.clone(), &["fields", "resident_count"], json!(3.0));
    assert!(schema_of("household_update").is_valid(&v));
    assert!(!(hh.2)(&v), "3.0 is not a whole number to the rule");
    // A value the server refuses (invalid_payload) for a conflict on `phone`.
    let r = json!(conflict_resolution(
        Resolution::Value,
        Some(json!("not a phone"))
    ));
    assert!(schema_of("conflict_resolution").is_valid(&r));
}

/// A tiny deterministic generator (no dependency, same cases on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// The phone pattern accepts exactly what `phone::normalise` accepts: written forms with
/// spaces, dashes and +86/0086, near misses of each, and random strings of the characters
/// that matter. The normalised form is itself a valid input.
#[test]
fn the_phone_pattern_is_the_phone_rule() {
    let schema = schema_of("phone");
    let seeds = [
        "13912345678",
        "139 1234 5678",
        "+86 139-1234-5678",
        "008619912345678",
        "0467-2345678",
        "046723456789",
        "010 87654321",
        "021-62345678",
        "0086 0467 2345678",
        "+8601087654321",
        "0001-2345678",
        "12345",
        "0467-0234567",
        "110",
    ];
    let mut inputs: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
    let alphabet: Vec<char> = "0123456789 -+8601".chars().collect();
    let mut rng = Lcg(20_260_401);
    for _ in 0..20_000 {
        let mut s: Vec<char> = seeds[rng.next(seeds.len())].chars().collect();
        for _ in 0..=rng.next(3) {
            let c = alphabet[rng.next(alphabet.len())];
            let i = rng.next(s.len() + 1);
            match rng.next(3) {
                0 => s.insert(i, c),
                1 if i < s.len() => {
                    s.remove(i);
                }
                _ if i < s.len() => s[i] = c,
                _ => s.push(c),
            }
        }
        inputs.push(s.into_iter().collect());
    }
    let mut accepted = 0;
    for s in &inputs {
        let rule = phone::normalise("phone", s);
        assert_eq!(
            schema.is_valid(&json!(s)),
            rule.is_ok(),
            "{s:?}: schema and phone::normalise disagree"
        );
        if let Ok(n) = rule {
            accepted += 1;
            assert_eq!(phone::normalise("phone", &n).as_deref(), Ok(n.as_str()));
            assert!(schema.is_valid(&json!(n)), "{n}");
        }
    }
    assert!(
        accepted > 1_000 && accepted < inputs.len() - 1_000,
        "{accepted}"
    );
}

/// Every number `idcard::parse` accepts (none of these has whitespace around it, which the
/// rule drops and the wire never carries) matches the ID-number pattern; a number the pattern
/// matches and the rule refuses is refused for its check character or its calendar date,
/// nothing else (the two things the schema says it cannot check).
#[test]
fn the_id_number_pattern_is_the_id_rule_but_for_the_check_character_and_the_calendar() {
    let schema = schema_of("id_number");
    let mut rng = Lcg(11_643);
    let regions = [
        "110105", "230302", "440524", "650102", "820000", "990105", "000000",
    ];
    let (mut valid, mut left_to_the_rule) = (0, 0);
    for _ in 0..20_000 {
        let year = 1750 + rng.next(400);
        let month = rng.next(14);
        let day = rng.next(33);
        let seq = rng.next(1000);
        let mut n = format!(
            "{}{year:04}{month:02}{day:02}{seq:03}",
            regions[rng.next(regions.len())]
        );
        let first17: [u8; 17] = n.as_bytes().try_into().unwrap();
        let check = match rng.next(4) {
            0 => char::from(b"0123456789Xx"[rng.next(12)]),
            _ => char::from(idcard::check_char(&first17)),
        };
        n.push(check);
        if rng.next(8) == 0 {
            n = n.to_lowercase();
        }
        let in_schema = schema.is_valid(&json!(n));
        match idcard::parse("id_number", &n) {
            Ok(card) => {
                valid += 1;
                assert!(in_schema, "{n}: valid, but the schema refuses it");
                assert!(schema.is_valid(&json!(card.number)));
            }
            Err(e) if in_schema => {
                left_to_the_rule += 1;
                assert!(
                    ["has a wrong check digit", "has an impossible birth date"]
                        .contains(&e.reason.as_str()),
                    "{n}: the schema should refuse it ({})",
                    e.reason
                );
            }
            Err(_) => {}
        }
    }
    assert!(
        valid > 1_000 && left_to_the_rule > 100,
        "{valid} {left_to_the_rule}"
    );
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
        expired: false,
    }
}

/// An expired link (protocol 5): the link alone, its payload gone.
fn expired_link() -> gridworker_model::wire::Mutation {
    gridworker_model::wire::Mutation {
        payload: String::new(),
        expired: true,
        ..sample_mutation(false)
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
            housing_type: Some(residents::HousingType::PublicRental),
            occupancy: Some(residents::Occupancy::Tenant),
            resident_count: 3,
            contact_phone: Some("0467-2345678".into()),
            notes: "房东住在3单元".into(),
            version: 2,
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
        ResidentUpsert {
            resident: sample_resident(),
        },
        ResidentDelete {
            id: "r-0000007".into(),
        },
        ConflictUpsert {
            conflict: sample_conflict(),
        },
        KeyGroups {
            tags: vec![gridworker_model::wire::CatalogEntry {
                code: "elderly_alone".into(),
                name: "独居老人".into(),
            }],
        },
    ]
}

fn sample_resident() -> residents::Resident {
    residents::Resident {
        id: "r-0000006".into(),
        household_id: "h-1".into(),
        name: "于秀珍".into(),
        id_number: "230321193912011664".into(),
        phone: Some("17662500281".into()),
        relation: Relation::Head,
        tags: vec!["elderly_alone".into()],
        status: residents::ResidentStatus::Living,
        notes: "无子女，邻居代为照看".into(),
        version: 4,
    }
}

/// A conflict on a resident's phone, resolved on the phone by taking its own value.
fn sample_conflict() -> residents::Conflict {
    residents::Conflict {
        id: "01938f2a-0000-7000-8000-0000000000c1".into(),
        entity: Entity::Resident,
        entity_id: "r-0000006".into(),
        household_id: "h-1".into(),
        field: "phone".into(),
        base: json!("17662500281"),
        mine: json!("13912345678"),
        theirs: json!("15845678901"),
        mine_by: "w-0001".into(),
        mine_at: at(9),
        theirs_by: "admin".into(),
        theirs_at: at(10),
        status: residents::ConflictStatus::Resolved,
        resolution: Some(json!("13912345678")),
        resolved_by: Some("w-0001".into()),
        resolved_at: Some(at(11)),
    }
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
                mutations: vec![
                    sample_mutation(false),
                    sample_mutation(true),
                    expired_link()
                ],
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
                device_missing: vec![[12, 12], [30, 33]],
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
    let mut mutation = json!(sample_mutation(true));
    mutation["expired"] = json!(true);
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
    // Nested objects of the protocol 4 changes.
    assert_eq!(
        keys(&json!(sample_resident())),
        keys(&doc["$defs"]["resident"]["properties"])
    );
    assert_eq!(
        keys(&json!(sample_conflict())),
        keys(&doc["$defs"]["conflict"]["properties"])
    );
    // An open conflict (nothing resolved yet) is valid too.
    let open = residents::Conflict {
        status: residents::ConflictStatus::Open,
        resolution: None,
        resolved_by: None,
        resolved_at: None,
        ..sample_conflict()
    };
    let page = json!({"changes": [{"type": "conflict_upsert", "conflict": open}],
                      "next_cursor": "c-1", "has_more": false});
    assert!(wire_schema_of("pull_response").is_valid(&page));
}

/// A household_upsert from a server before protocol 4 has no profile fields: it passes the
/// schema and reads as "nothing known, version 0"; a new change type stays refused by a
/// schema of the types it knows (which is why it goes only to clients that speak it).
#[test]
fn household_upserts_without_a_profile_are_still_read() {
    use gridworker_model::wire::{Change, PullResponse};
    let mut v = json!(sample_changes()[4]);
    assert_eq!(v["type"], "household_upsert");
    for f in [
        "housing_type",
        "occupancy",
        "resident_count",
        "contact_phone",
        "notes",
        "version",
    ] {
        v.as_object_mut().unwrap().remove(f);
    }
    let page = json!({"changes": [v], "next_cursor": "c-1", "has_more": false});
    assert!(wire_schema_of("pull_response").is_valid(&page));
    let read: PullResponse = serde_json::from_value(page).unwrap();
    let Change::HouseholdUpsert {
        housing_type,
        occupancy,
        resident_count,
        contact_phone,
        notes,
        version,
        ..
    } = &read.changes[0]
    else {
        panic!("not a household");
    };
    assert!(housing_type.is_none() && occupancy.is_none() && contact_phone.is_none());
    assert_eq!((*resident_count, notes.as_str(), *version), (0, "", 0));
    for c in sample_changes() {
        let t = json!(c)["type"].as_str().unwrap().to_string();
        let want = match t.as_str() {
            "report_catalog" => 3,
            "resident_upsert" | "resident_delete" | "conflict_upsert" | "key_groups" => 4,
            _ => 1,
        };
        assert_eq!(c.since_protocol(), want, "{t}");
    }
    let unknown = json!({"changes": [{"type": "resident_merge", "id": "r-1"}],
                         "next_cursor": "c-1", "has_more": false});
    assert!(!wire_schema_of("pull_response").is_valid(&unknown));
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
