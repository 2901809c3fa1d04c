//! The one error mapping and the time conversions, checked in Rust where every core variant
//! can be built directly (the Kotlin tests reach them through real calls).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gridworker_core::Error as Core;
use gridworker_ffi::{GridWorkerError as Ffi, InputField, NotFoundKind, to_wgs84};

fn map(e: Core) -> Ffi {
    e.into()
}

#[test]
fn every_core_error_maps_to_one_actionable_variant() {
    assert!(
        matches!(map(Core::invalid("note", "too long")), Ffi::InvalidInput { field, input: InputField::Note, .. } if field == "note")
    );
    assert!(
        matches!(map(Core::not_found(gridworker_core::NotFoundKind::Report, "r-1")), Ffi::NotFound { kind: NotFoundKind::Report, id } if id == "r-1")
    );
    assert!(matches!(
        map(Core::InvalidState {
            what: "report",
            state: "queued".into(),
            reason: "r".into()
        }),
        Ffi::InvalidState { .. }
    ));
    assert!(matches!(
        map(Core::Network { reason: "x".into() }),
        Ffi::Network { .. }
    ));
    assert!(matches!(map(Core::SyncBusy), Ffi::Network { .. }));
    assert!(matches!(
        map(Core::Authentication { reason: "x".into() }),
        Ffi::Authentication { .. }
    ));
    assert!(
        matches!(map(Core::ClientTooOld { required: "2".into() }), Ffi::UpdateRequired { required } if required == "2")
    );
    assert!(matches!(map(Core::Cancelled), Ffi::Cancelled));
    assert!(matches!(
        map(Core::DatabaseTooNew {
            found: 9,
            supported: 1
        }),
        Ffi::Storage { .. }
    ));
    assert!(matches!(
        map(Core::StoreDamaged {
            damage: gridworker_core::error::StoreDamage::Unreadable
        }),
        Ffi::Storage {
            needs_recovery: true,
            ..
        }
    ));
    assert!(matches!(
        map(Core::StoreInUse { open_handles: 1 }),
        Ffi::InvalidState { .. }
    ));
    assert!(matches!(
        map(Core::Migration("m".into())),
        Ffi::Storage { .. }
    ));
    assert!(matches!(
        map(Core::Io(std::io::Error::other("disk full"))),
        Ffi::Storage { .. }
    ));
    assert!(matches!(
        map(Core::PhotoSealBroken {
            damage: gridworker_core::SealDamage::Altered
        }),
        Ffi::Storage {
            needs_recovery: false,
            ..
        }
    ));
    assert!(matches!(
        map(Core::Storage(rusqlite_error())),
        Ffi::Storage { .. }
    ));
    assert!(matches!(
        map(Core::Protocol { reason: "x".into() }),
        Ffi::Other { .. }
    ));
    assert!(matches!(
        map(Core::Server {
            status: 400,
            reason: "x".into()
        }),
        Ffi::Other { .. }
    ));
}

fn rusqlite_error() -> rusqlite::Error {
    rusqlite::Error::QueryReturnedNoRows
}

#[test]
fn callback_failures_become_other_and_token_errors_map_back() {
    let e: Ffi = uniffi::UnexpectedUniFFICallbackError::new("boom").into();
    assert!(matches!(e, Ffi::Other { reason } if reason.contains("boom")));
    let back: Core = Ffi::Network {
        reason: "offline".into(),
    }
    .into();
    assert!(matches!(back, Core::Network { .. }));
    let back: Core = Ffi::Other {
        reason: "bug".into(),
    }
    .into();
    assert!(matches!(back, Core::Authentication { .. }));
}

#[test]
fn coordinates_are_checked_at_the_boundary() {
    let bad = gridworker_ffi::Coordinate {
        lat: f64::NAN,
        lon: 130.0,
        crs: gridworker_ffi::Crs::Gcj02,
    };
    assert!(
        matches!(to_wgs84(bad), Err(Ffi::InvalidInput { field, .. }) if field == "coordinate.lat")
    );
}

#[test]
fn times_round_trip_and_out_of_range_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let w = gridworker_ffi::GridWorker::open(gridworker_ffi::WorkerConfig {
        data_dir: dir.path().join("s").to_string_lossy().into_owned(),
        server_url: "https://127.0.0.1:1".into(),
        worker_id: "w".into(),
        device_id: "d".into(),
        policy_override: None,
        time_zone: None,
        utc_offset_minutes: 480,
        key: None,
    })
    .unwrap();
    let fix = |t: SystemTime| gridworker_ffi::LocationFix {
        lat: 45.3,
        lon: 130.95,
        accuracy_m: 5.0,
        altitude_m: None,
        speed_mps: None,
        bearing_deg: None,
        provider: gridworker_ffi::Provider::Gps,
        crs: gridworker_ffi::Crs::Wgs84,
        is_mock: false,
        fix_time: t,
        monotonic_ms: 1,
    };
    let far = UNIX_EPOCH + Duration::from_secs(1 << 60);
    assert!(
        matches!(w.check_in("p".into(), fix(far)), Err(Ffi::InvalidInput { field, .. }) if field == "fix.fix_time")
    );
    let before_epoch = UNIX_EPOCH - Duration::new(12_345, 678_000_000);
    // A pre-1970 fix is a valid time (flagged stale by policy), so the error is the unknown point.
    assert!(matches!(
        w.check_in("p".into(), fix(before_epoch)),
        Err(Ffi::NotFound { .. })
    ));
}

#[test]
fn a_locked_store_maps_to_locked_with_its_reason_and_a_bad_key_to_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let config = |key: Option<Vec<u8>>| gridworker_ffi::WorkerConfig {
        data_dir: dir.path().join("s").to_string_lossy().into_owned(),
        server_url: "https://127.0.0.1:1".into(),
        worker_id: "w".into(),
        device_id: "d".into(),
        policy_override: None,
        time_zone: None,
        utc_offset_minutes: 480,
        key,
    };
    drop(gridworker_ffi::GridWorker::open(config(Some(vec![1; 32]))).unwrap());
    for (key, want) in [
        (None, gridworker_ffi::LockReason::KeyMissing),
        (Some(vec![2; 32]), gridworker_ffi::LockReason::WrongKey),
    ] {
        match gridworker_ffi::GridWorker::open(config(key)) {
            Err(Ffi::Locked { reason }) => assert_eq!(reason, want),
            other => panic!("expected Locked({want:?}), got {other:?}"),
        }
    }
    match gridworker_ffi::GridWorker::open(config(Some(vec![1; 31]))) {
        Err(Ffi::InvalidInput { field, .. }) => assert_eq!(field, "config.key"),
        other => panic!("expected InvalidInput(config.key), got {other:?}"),
    }
    match gridworker_ffi::rekey_store(config(Some(vec![1; 32])), vec![3; 5]) {
        Err(Ffi::InvalidInput { field, .. }) => assert_eq!(field, "new_key"),
        other => panic!("expected InvalidInput(new_key), got {other:?}"),
    }
    gridworker_ffi::rekey_store(config(Some(vec![1; 32])), vec![3; 32]).unwrap();
    assert!(gridworker_ffi::GridWorker::open(config(Some(vec![3; 32]))).is_ok());
}

/// Every field root the core's refusals use today has a variant of its own: the paths the
/// Kotlin and core bad-input tests produce, and the roots the core names in its code. A new
/// root must get a variant (or it reaches apps as `Other`).
#[test]
fn every_field_root_the_core_uses_is_typed() {
    let paths = [
        // From the Kotlin BadInputTest, ResidentsTest, TrackTest and EncryptionTest.
        "attach_to",
        "category",
        "config.data_dir",
        "config.device_id",
        "config.utc_offset_minutes",
        "config.time_zone",
        "config.worker_id",
        "config.key",
        "coordinate.lat",
        "data_dir",
        "day",
        "description",
        "fix.accuracy_m",
        "fix.altitude_m",
        "fix.bearing_deg",
        "fix.fix_time",
        "fix.lat",
        "fix.lon",
        "fix.monotonic_ms",
        "fix.speed_mps",
        "household_id",
        "note",
        "photos",
        "photos[0]",
        "photos[0].captured_at",
        "point_id",
        "policy.checkin_radius_m",
        "policy.max_fix_age_s",
        "position.lat",
        "position.lon",
        "report_id",
        "sha256",
        "sync_options.batch_max_mutations",
        "sync_options.max_attempts",
        "sync_options.run_deadline",
        "task_id",
        "week",
        "fixes[3].lat",
        "id_number",
        "phone",
        "tags",
        "name",
        "relation",
        "notes",
        "status",
        // Roots the core passes to `Error::invalid` literally.
        "record",
        "offset",
        "value",
        "photo",
        "key",
        "sha",
        "resident_id",
        "query",
        "new_key",
        "fields",
        "after",
        "conflict_id",
        "visit_id",
        "limit",
        "resident_count",
        "pinned_sha256",
        "tls",
        "sync options",
    ];
    for p in paths {
        assert_ne!(InputField::of(p), InputField::Other, "{p}");
    }
    assert_eq!(InputField::of("fixes[3].lat"), InputField::Fixes);
    assert_eq!(
        InputField::of("sync_options.max_attempts"),
        InputField::SyncOptions
    );
    assert_eq!(InputField::of("something_new"), InputField::Other);
    // The core's own encoding failures are no input of the app's.
    for internal in [
        "request",
        "sidecar",
        "track_block",
        "patrol_event",
        "chunk_size",
    ] {
        assert_eq!(InputField::of(internal), InputField::Other, "{internal}");
    }
    assert_eq!(InputField::of(""), InputField::Other);
}

/// Every field root the core and the bindings name literally when they refuse input
/// (`invalid("...")`, `validate::...("...")`) is a typed `InputField`, but for the core's
/// own encodings: a root added without its variant reaches the app as `OTHER`.
#[test]
fn every_field_root_named_in_the_source_is_typed() {
    // The core's encodings, and `import_residents` (QA seeding in Rust, not exported).
    const INTERNAL: [&str; 8] = [
        "resident",
        "request",
        "sidecar",
        "track_block",
        "patrol_event",
        "chunk_size",
        "exif_time",
        "exif_position",
    ];
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    sources(&root.join("../core/src"), &mut files);
    let mut roots = std::collections::BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, _) in text.match_indices("(\"") {
            let before = &text[..i];
            let callee = before
                .rsplit(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .next()
                .unwrap_or_default();
            if !(callee.ends_with("invalid") || callee.starts_with("validate::")) {
                continue;
            }
            let rest = &text[i + 2..];
            let name: String = rest.chars().take_while(|c| *c != '"').collect();
            let root = name
                .split(['.', '['])
                .next()
                .unwrap_or_default()
                .to_string();
            if !root.is_empty() {
                roots.insert(root);
            }
        }
    }
    assert!(roots.len() > 20, "the scan found too little: {roots:?}");
    let untyped: Vec<&String> = roots
        .iter()
        .filter(|r| InputField::of(r) == InputField::Other && !INTERNAL.contains(&r.as_str()))
        .collect();
    assert!(
        untyped.is_empty(),
        "roots reaching the app as OTHER: {untyped:?}"
    );
}

fn open_at(
    dir: &std::path::Path,
    time_zone: Option<&str>,
) -> Result<std::sync::Arc<gridworker_ffi::GridWorker>, Ffi> {
    gridworker_ffi::GridWorker::open(gridworker_ffi::WorkerConfig {
        data_dir: dir.join("s").to_string_lossy().into_owned(),
        server_url: "https://127.0.0.1:1".into(),
        worker_id: "w".into(),
        device_id: "d".into(),
        policy_override: None,
        time_zone: time_zone.map(Into::into),
        utc_offset_minutes: 480,
        key: None,
    })
}

/// Issue 16 item 5: counts cross as signed `Int`/`Long`; a negative one is the caller's
/// mistake, named by its field, and changes nothing.
#[test]
fn negative_counts_are_invalid_input_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let w = open_at(dir.path(), None).unwrap();
    let field_of = |r: Result<(), Ffi>| match r {
        Err(Ffi::InvalidInput { field, input, .. }) => (field, input),
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    assert_eq!(
        field_of(w.checkins_page(None, -1).map(drop)),
        ("limit".into(), InputField::Limit)
    );
    assert_eq!(
        field_of(w.list_visits(-5, 10).map(drop)),
        ("offset".into(), InputField::Cursor)
    );
    assert_eq!(
        field_of(w.search_households("x".into(), None, -1).map(drop)),
        ("limit".into(), InputField::Limit)
    );
    assert_eq!(
        field_of(
            w.progress_week(Some(gridworker_ffi::IsoWeek {
                year: 2026,
                week: -1
            }))
            .map(drop)
        ),
        ("week".into(), InputField::Week)
    );
    assert_eq!(
        field_of(
            w.update_household(
                "h".into(),
                gridworker_ffi::HouseholdUpdate {
                    resident_count: Some(-2),
                    ..Default::default()
                },
                None,
            )
            .map(drop)
        ),
        ("resident_count".into(), InputField::ResidentCount)
    );
    // Zero and MAX_PAGE+ are fine: zero is an empty page, more is capped.
    assert!(w.checkins_page(None, 0).unwrap().items.is_empty());
    assert!(w.checkins_page(None, i32::MAX).is_ok());

    let mut options = gridworker_ffi::default_sync_options();
    options.max_attempts = -1;
    let engine = gridworker_ffi::SyncEngine::new(w.clone(), options, Box::new(NoToken));
    assert!(
        matches!(engine, Err(Ffi::InvalidInput { ref field, input: InputField::SyncOptions, .. }) if field == "sync_options.max_attempts"),
        "{engine:?}"
    );
    let mut policy = gridworker_ffi::default_policy();
    policy.photo_jpeg_quality = -80;
    drop(w);
    let opened = gridworker_ffi::GridWorker::open(gridworker_ffi::WorkerConfig {
        data_dir: dir.path().join("s").to_string_lossy().into_owned(),
        server_url: "https://127.0.0.1:1".into(),
        worker_id: "w".into(),
        device_id: "d".into(),
        policy_override: Some(policy),
        time_zone: None,
        utc_offset_minutes: 480,
        key: None,
    });
    assert!(
        matches!(opened, Err(Ffi::InvalidInput { ref field, input: InputField::Policy, .. }) if field == "policy.photo_jpeg_quality"),
        "{opened:?}"
    );
}

struct NoToken;

impl gridworker_ffi::AccessTokenProvider for NoToken {
    fn access_token(&self, _force_refresh: bool) -> Result<String, Ffi> {
        Ok("t".into())
    }
}

/// Issue 16 item 5: the district zone by IANA id; days in it; an unknown id refused at open.
#[test]
fn the_district_zone_is_an_iana_id_and_days_are_counted_in_it() {
    let dir = tempfile::tempdir().unwrap();
    match open_at(dir.path(), Some("Europe/Berlin")) {
        Err(Ffi::InvalidInput { field, input, .. }) => {
            assert_eq!(
                (field.as_str(), input),
                ("config.time_zone", InputField::Config)
            )
        }
        other => panic!("expected InvalidInput(config.time_zone), got {other:?}"),
    }
    assert!(
        !dir.path().join("s").exists(),
        "a refused open creates nothing"
    );
    let w = open_at(dir.path(), Some("Asia/Shanghai")).unwrap();
    let day = gridworker_ffi::LocalDay(chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
    let p = w.progress_day(Some(day)).unwrap();
    assert_eq!((p.from_day, p.to_day), (day, day));
    let t = w.track_summary(Some(day)).unwrap();
    assert_eq!(t.distance_m, 0.0);
}
