//! Bad input gets a typed error and changes nothing: neither a row nor a file.

mod support;

use gridworker_core::Error;
use gridworker_core::domain::{LocationFix, VisitKind};
use gridworker_core::worker::PhotoInput;
use support::*;

fn assert_unchanged(env: &Env, before: &(Vec<String>, Vec<std::path::PathBuf>), what: &str) {
    assert_eq!(
        &snapshot(env.dir.path()),
        before,
        "{what} changed the store"
    );
}

fn invalid_field(e: &Error) -> &str {
    match e {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn hostile_fixes_are_rejected_for_every_record_kind() {
    let env = Env::new();
    let good = env.fix_at(env.point("P11").position);
    let mut cases: Vec<(LocationFix, &str)> = Vec::new();
    for (lat, lon, field) in [
        (f64::NAN, 130.9, "fix.lat"),
        (f64::INFINITY, 130.9, "fix.lat"),
        (91.0, 130.9, "fix.lat"),
        (-90.5, 130.9, "fix.lat"),
        (45.0, f64::NEG_INFINITY, "fix.lon"),
        (45.0, 181.0, "fix.lon"),
        (45.0, f64::NAN, "fix.lon"),
    ] {
        let mut f = good.clone();
        f.lat = lat;
        f.lon = lon;
        cases.push((f, field));
    }
    for acc in [-1.0, f64::NAN, f64::INFINITY, 1e9] {
        let mut f = good.clone();
        f.accuracy_m = acc;
        cases.push((f, "fix.accuracy_m"));
    }
    let mut f = good.clone();
    f.speed_mps = Some(f64::NAN);
    cases.push((f, "fix.speed_mps"));
    let mut f = good.clone();
    f.monotonic_ms = -5;
    cases.push((f, "fix.monotonic_ms"));

    let tmp = tempfile::tempdir().unwrap();
    let photo = jpeg(tmp.path(), "ok.jpg", 2_000, 1);
    let before = snapshot(env.dir.path());
    for (fix, field) in &cases {
        let e = env.core.check_in("P11", fix).unwrap_err();
        assert_eq!(invalid_field(&e), *field);
        let e = env
            .core
            .record_visit("H11", VisitKind::Routine, "", fix)
            .unwrap_err();
        assert_eq!(invalid_field(&e), *field);
        let e = env
            .core
            .file_report("other", "x", &[PhotoInput::new(&photo)], fix, None)
            .unwrap_err();
        assert_eq!(invalid_field(&e), *field);
        let e = env.core.duplicate_candidates("other", fix).unwrap_err();
        assert_eq!(invalid_field(&e), *field);
    }
    assert_unchanged(&env, &before, "hostile fixes");
}

#[test]
fn unknown_ids_and_bad_text() {
    let env = Env::new();
    let fix = env.fix_at(env.point("P11").position);
    let before = snapshot(env.dir.path());
    assert!(matches!(
        env.core.check_in("NOPE", &fix).unwrap_err(),
        Error::NotFound {
            kind: gridworker_core::NotFoundKind::InspectionPoint,
            ..
        }
    ));
    assert!(matches!(
        env.core
            .record_visit("NOPE", VisitKind::Routine, "", &fix)
            .unwrap_err(),
        Error::NotFound {
            kind: gridworker_core::NotFoundKind::Household,
            ..
        }
    ));
    assert_eq!(
        invalid_field(&env.core.check_in("", &fix).unwrap_err()),
        "point_id"
    );
    assert_eq!(
        invalid_field(&env.core.check_in(&"x".repeat(1 << 20), &fix).unwrap_err()),
        "point_id"
    );
    let huge = "很".repeat(5_000);
    assert_eq!(
        invalid_field(
            &env.core
                .record_visit("H11", VisitKind::Routine, &huge, &fix)
                .unwrap_err()
        ),
        "note"
    );
    assert_eq!(
        invalid_field(&env.core.create_report_draft("", "x").unwrap_err()),
        "category"
    );
    assert_eq!(
        invalid_field(&env.core.create_report_draft("   ", "x").unwrap_err()),
        "category"
    );
    assert_eq!(
        invalid_field(
            &env.core
                .create_report_draft("other", &"x".repeat(2_001))
                .unwrap_err()
        ),
        "description"
    );
    assert_eq!(
        invalid_field(&env.core.create_report_draft("other", "a\0b").unwrap_err()),
        "description"
    );
    assert!(matches!(
        env.core.report("no-such").unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(matches!(
        env.core.delete_draft("no-such").unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(matches!(
        env.core.acknowledge_task("no-such").unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(matches!(
        env.core
            .complete_task("no-such", "", &[], &fix)
            .unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(matches!(
        env.core
            .nearby_points(gridworker_core::geo::Position::new(f64::NAN, 0.0), 3)
            .unwrap_err(),
        Error::InvalidInput { .. }
    ));
    assert!(env.core.progress_week(Some((2026, 60))).is_err());
    assert_unchanged(&env, &before, "unknown ids / bad text");
}

#[test]
fn bad_photos_are_rejected_and_leave_no_file() {
    let env = Env::new();
    let fix = env.fix_at(env.point("P12").position);
    let tmp = tempfile::tempdir().unwrap();
    let good = jpeg(tmp.path(), "good.jpg", 3_000, 7);
    let empty = tmp.path().join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let text = tmp.path().join("notes.jpg");
    std::fs::write(&text, "这不是图片 — just text with a .jpg name").unwrap();
    let big = jpeg(tmp.path(), "big.jpg", 20 * 1024 * 1024 + 10, 9);
    let missing = tmp.path().join("missing.jpg");
    let dir = tmp.path().to_path_buf();

    let before = snapshot(env.dir.path());
    for (path, why) in [
        (&missing, "missing"),
        (&dir, "directory"),
        (&empty, "empty"),
        (&text, "not an image"),
        (&big, "over the cap"),
    ] {
        // The bad photo comes second: the good first one must not be left behind either.
        let e = env
            .core
            .file_report(
                "other",
                "x",
                &[PhotoInput::new(&good), PhotoInput::new(path)],
                &fix,
                None,
            )
            .unwrap_err();
        assert_eq!(invalid_field(&e), "photos[1]", "{why}");
    }
    let ten: Vec<PhotoInput> = (0..10).map(|_| PhotoInput::new(&good)).collect();
    assert_eq!(
        invalid_field(
            &env.core
                .file_report("other", "x", &ten, &fix, None)
                .unwrap_err()
        ),
        "photos"
    );
    assert_eq!(
        invalid_field(
            &env.core
                .file_report("other", "x", &[], &fix, None)
                .unwrap_err()
        ),
        "photos"
    );
    assert_unchanged(&env, &before, "bad photos");

    // On a draft as well.
    let d = env.core.create_report_draft("other", "x").unwrap();
    let before = snapshot(env.dir.path());
    for path in [&missing, &dir, &empty, &text, &big] {
        let e = env
            .core
            .add_photo_to_draft(&d.id, &PhotoInput::new(path))
            .unwrap_err();
        assert_eq!(invalid_field(&e), "photos[0]");
    }
    assert_unchanged(&env, &before, "bad draft photos");
    for _ in 0..9 {
        env.core
            .add_photo_to_draft(&d.id, &PhotoInput::new(&good))
            .unwrap();
    }
    let before = snapshot(env.dir.path());
    assert_eq!(
        invalid_field(
            &env.core
                .add_photo_to_draft(&d.id, &PhotoInput::new(&good))
                .unwrap_err()
        ),
        "photos"
    );
    assert_unchanged(&env, &before, "tenth photo");
}

#[test]
fn png_and_heic_are_recognised_by_content_not_name() {
    let env = Env::new();
    let fix = env.fix_at(env.point("P12").position);
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("photo.jpg");
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, 64, 48);
        enc.set_color(png::ColorType::Rgb);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[90u8; 64 * 48 * 3]).unwrap();
    }
    std::fs::write(&png, bytes).unwrap();
    let heic = tmp.path().join("IMG_0001");
    let mut bytes = vec![0, 0, 0, 24];
    bytes.extend(b"ftypheic");
    bytes.extend([0u8; 100]);
    std::fs::write(&heic, bytes).unwrap();
    let rep = env
        .core
        .file_report(
            "other",
            "x",
            &[PhotoInput::new(&png), PhotoInput::new(&heic)],
            &fix,
            None,
        )
        .unwrap();
    // The PNG is decoded whatever its name and sent as a JPEG (the photo pipeline); the
    // HEIC is kept as it is.
    let types: Vec<&str> = rep.photos.iter().map(|p| p.media_type.mime()).collect();
    assert_eq!(types, vec!["image/jpeg", "image/heic"]);
}
