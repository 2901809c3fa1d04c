//! Recording check-ins, visits, reports and tasks on a real SQLite file.

mod support;

use chrono::{TimeZone, Utc};
use gridworker_core::Clock;
use gridworker_core::domain::{CheckInOutcome, Flag, ReportStatus, VisitKind};
use gridworker_core::geo::Crs;
use gridworker_core::test_hooks::outbox::SyncState;
use gridworker_core::worker::PhotoInput;
use gridworker_core::{Error, chain};
use support::*;

#[test]
fn checkin_within_radius_is_accepted_and_queued() {
    let env = Env::new();
    let p = env.point("P11").position;
    let fix = env.fix_at(offset(p, 10.0, 5.0));
    let r = env.core.check_in("P11", &fix).unwrap();
    assert!(!r.duplicate);
    assert_eq!(r.check_in.outcome, CheckInOutcome::Accepted);
    assert!(r.check_in.flags.is_empty());
    assert!(
        (r.check_in.distance_m - 11.18).abs() < 0.5,
        "{}",
        r.check_in.distance_m
    );
    let listed = env.core.list_checkins(0, 10).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sync, SyncState::Pending);
    assert_eq!(env.core.sync_counts().unwrap().pending.checkins, 1);
}

#[test]
fn checkin_flags_each_reason() {
    let env = Env::new();
    let p = env.point("P11").position;
    // Far outside the radius.
    let r = env
        .core
        .check_in("P11", &env.fix_at(offset(p, 120.0, 0.0)))
        .unwrap();
    assert_eq!(r.check_in.outcome, CheckInOutcome::Flagged);
    assert_eq!(r.check_in.flags, vec![Flag::OutsideRadius]);

    // Inaccurate and mock, at another point (the first is in cooldown), later.
    env.clock.advance(300);
    let mut fix = env.fix_at(env.point("P12").position);
    fix.accuracy_m = 120.0;
    fix.is_mock = true;
    let r = env.core.check_in("P12", &fix).unwrap();
    assert_eq!(r.check_in.flags, vec![Flag::Inaccurate, Flag::MockLocation]);

    // Stale: the fix is 5 minutes old when recorded.
    env.clock.advance(600);
    let mut fix = env.fix_at(env.point("P13").position);
    fix.fix_time -= chrono::Duration::minutes(5);
    fix.monotonic_ms -= 300_000;
    let r = env.core.check_in("P13", &fix).unwrap();
    assert_eq!(r.check_in.flags, vec![Flag::StaleFix]);
}

#[test]
fn checkin_in_gcj02_is_converted_before_comparing() {
    let env = Env::new();
    let p = env.point("P11").position;
    let (glat, glon) = p.to_crs(Crs::Gcj02);
    let mut fix = env.fix_at(p);
    fix.lat = glat;
    fix.lon = glon;
    fix.crs = Crs::Gcj02;
    let r = env.core.check_in("P11", &fix).unwrap();
    assert_eq!(
        r.check_in.outcome,
        CheckInOutcome::Accepted,
        "{:?}",
        r.check_in
    );
    assert!(r.check_in.distance_m < 0.5);
    // The raw GCJ-02 value compared unconverted would be hundreds of metres off.
    assert!(p.distance_m(gridworker_core::geo::Position::new(glat, glon)) > 100.0);
    assert_eq!(r.check_in.fix.crs, Crs::Gcj02, "the original fix is kept");
}

#[test]
fn second_checkin_within_cooldown_returns_the_first() {
    let env = Env::new();
    let p = env.point("P11").position;
    let first = env.core.check_in("P11", &env.fix_at(p)).unwrap();
    env.clock.advance(9 * 60);
    let again = env.core.check_in("P11", &env.fix_at(p)).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.check_in.id, first.check_in.id);
    assert_eq!(env.core.sync_counts().unwrap().pending.checkins, 1);
    env.clock.advance(2 * 60);
    let later = env.core.check_in("P11", &env.fix_at(p)).unwrap();
    assert!(!later.duplicate);
    assert_ne!(later.check_in.id, first.check_in.id);
}

#[test]
fn impossible_speed_and_clock_jump_between_fixes() {
    let env = Env::new();
    env.core
        .check_in("P11", &env.fix_at(env.point("P11").position))
        .unwrap();
    // 20 s later, 1 km away in the other grid: about 177 km/h.
    env.clock.advance(20);
    let r = env
        .core
        .check_in("P21", &env.fix_at(env.point("P21").position))
        .unwrap();
    assert_eq!(r.check_in.flags, vec![Flag::ImpossibleSpeed]);

    // The user sets the clock 3 hours ahead: wall time jumps, monotonic time does not.
    env.clock.advance(600);
    let honest_mono = mono(env.clock.now());
    env.clock.advance(3 * 3600);
    let mut fix = env.fix_at(env.point("P22").position);
    fix.monotonic_ms = honest_mono;
    let r = env.core.check_in("P22", &fix).unwrap();
    assert!(
        r.check_in.flags.contains(&Flag::ClockJump),
        "{:?}",
        r.check_in.flags
    );
}

#[test]
fn visit_records_distance_and_flags() {
    let env = Env::new();
    let h = env.household("H11").position;
    let v = env
        .core
        .record_visit(
            "H11",
            VisitKind::CareVisit,
            "老人身体状况良好",
            &env.fix_at(offset(h, 20.0, 0.0)),
        )
        .unwrap();
    assert!(v.flags.is_empty(), "{:?}", v.flags);
    assert!((v.distance_m - 20.0).abs() < 0.5);

    env.clock.advance(600);
    let v = env
        .core
        .record_visit(
            "H11",
            VisitKind::Routine,
            "",
            &env.fix_at(offset(h, 150.0, 0.0)),
        )
        .unwrap();
    assert_eq!(v.flags, vec![Flag::FarFromHousehold]);

    // H21 lies in G2, which is not the worker's grid.
    env.clock.advance(600);
    let h2 = env.household("H21").position;
    let v = env
        .core
        .record_visit("H21", VisitKind::InformationCollection, "", &env.fix_at(h2))
        .unwrap();
    assert_eq!(v.flags, vec![Flag::OutsideWorkerGrids]);
    assert_eq!(env.core.list_visits(0, 10).unwrap().len(), 3);
}

#[test]
fn report_with_photos_and_draft_lifecycle() {
    let env = Env::new();
    let tmp = tempfile::tempdir().unwrap();
    let a = jpeg(tmp.path(), "a.jpg", 40_000, 1);
    let b = jpeg(tmp.path(), "b.jpg", 30_000, 2);
    let before = std::fs::read(&a).unwrap();
    let fix = env.fix_at(env.point("P12").position);
    let rep = env
        .core
        .file_report(
            "leaking_manhole",
            "井盖破损渗水",
            &[PhotoInput::new(&a), PhotoInput::new(&b)],
            &fix,
            None,
        )
        .unwrap();
    assert_eq!(rep.status, ReportStatus::Queued);
    assert_eq!(rep.photos.len(), 2);
    assert_eq!(
        std::fs::read(&a).unwrap(),
        before,
        "caller's file untouched"
    );
    for ph in &rep.photos {
        let path = env.core.photo_path(&ph.sha256).unwrap().unwrap();
        assert!(path.starts_with(env.dir.path()));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), ph.size);
    }

    // Draft: create, add photos, submit.
    let d = env
        .core
        .create_report_draft("dumped_waste", "建筑垃圾")
        .unwrap();
    assert_eq!(d.status, ReportStatus::Draft);
    let err = env.core.submit_report(&d.id, &fix, None).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    env.core
        .add_photo_to_draft(&d.id, &PhotoInput::new(&a))
        .unwrap();
    let sub = env.core.submit_report(&d.id, &fix, None).unwrap();
    assert_eq!(sub.status, ReportStatus::Queued);
    assert!(matches!(
        env.core
            .add_photo_to_draft(&d.id, &PhotoInput::new(&b))
            .unwrap_err(),
        Error::InvalidState { .. }
    ));

    // A deleted draft takes its only-used photo with it, but not shared ones.
    let d2 = env.core.create_report_draft("other", "x").unwrap();
    let c = jpeg(tmp.path(), "c.jpg", 20_000, 3);
    let only = env
        .core
        .add_photo_to_draft(&d2.id, &PhotoInput::new(&c))
        .unwrap();
    let shared = env
        .core
        .add_photo_to_draft(&d2.id, &PhotoInput::new(&a))
        .unwrap();
    env.core.delete_draft(&d2.id).unwrap();
    assert!(env.core.photo_path(&only.sha256).unwrap().is_none());
    assert!(
        env.core
            .photo_path(&shared.sha256)
            .unwrap()
            .unwrap()
            .exists()
    );
    assert!(matches!(
        env.core.report(&d2.id).unwrap_err(),
        Error::NotFound { .. }
    ));
    assert_eq!(env.core.list_reports(0, 10).unwrap().len(), 2);
}

#[test]
fn duplicate_hint_lists_open_reports_nearby() {
    let env = Env::new();
    let tmp = tempfile::tempdir().unwrap();
    let a = jpeg(tmp.path(), "a.jpg", 5_000, 1);
    let here = env.point("P12").position;
    let rep = env
        .core
        .file_report(
            "illegal_parking",
            "占道停车",
            &[PhotoInput::new(&a)],
            &env.fix_at(here),
            None,
        )
        .unwrap();
    let near = env
        .core
        .duplicate_candidates("illegal_parking", &env.fix_at(offset(here, 30.0, 0.0)))
        .unwrap();
    assert_eq!(near.len(), 1);
    assert_eq!(near[0].report.id, rep.id);
    assert!((near[0].distance_m - 30.0).abs() < 0.5);
    assert!(
        env.core
            .duplicate_candidates("illegal_parking", &env.fix_at(offset(here, 80.0, 0.0)))
            .unwrap()
            .is_empty()
    );
    assert!(
        env.core
            .duplicate_candidates("dumped_waste", &env.fix_at(here))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn outbox_is_a_verifiable_hash_chain() {
    let env = Env::new();
    for (i, id) in ["P11", "P12", "P13"].iter().enumerate() {
        env.clock.advance(300 * (i as i64 + 1));
        env.core
            .check_in(id, &env.fix_at(env.point(id).position))
            .unwrap();
    }
    let batch = env
        .core
        .test_store()
        .read(|c| gridworker_core::test_hooks::outbox::pending_batch(c, 0, 100, 1 << 20))
        .unwrap();
    assert_eq!(batch.len(), 3);
    let mut head = chain::GENESIS.to_string();
    for (i, e) in batch.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1);
        assert_eq!(
            chain::verify_link(
                &head,
                &e.prev_hash,
                &e.hash,
                e.seq,
                &e.kind,
                &e.mutation_id,
                &e.payload
            ),
            chain::LinkCheck::Ok
        );
        head = e.hash.clone();
    }
}

/// The push reads pending entries and unanswered withdrawal links as two index-ordered
/// streams merged by seq; checked against the single query they replace, for every start,
/// count bound and byte bound, with entries in every state interleaved.
#[test]
fn the_push_reads_what_is_to_send_in_seq_order_whatever_the_states_around_it() {
    let env = Env::new();
    let ids = ["P11", "P12", "P13"];
    for i in 0..24 {
        env.clock.advance(700);
        let id = ids[i % 3];
        env.core
            .check_in(id, &env.fix_at(env.point(id).position))
            .unwrap();
    }
    // seq % 6: 0 synced, 1 withdrawn and unanswered, 2 quarantined, 3 withdrawn and
    // answered, 4 and 5 pending.
    env.core
        .test_store()
        .write(|tx| {
            tx.execute_batch(
                "UPDATE outbox SET state = 'synced', synced_at = '2026-01-01T00:00:00Z' WHERE seq % 6 = 0;
                 UPDATE outbox SET state = 'withdrawn' WHERE seq % 6 = 1;
                 UPDATE outbox SET state = 'quarantined', quarantine_reason = 'refused' WHERE seq % 6 = 2;
                 UPDATE outbox SET state = 'withdrawn', synced_at = '2026-01-01T00:00:00Z' WHERE seq % 6 = 3;",
            )?;
            Ok(())
        })
        .unwrap();
    let size: usize = env
        .core
        .test_store()
        .read(|c| {
            Ok(
                c.query_row("SELECT MAX(length(payload)) FROM outbox", [], |r| {
                    r.get::<_, i64>(0)
                })?,
            )
        })
        .unwrap() as usize;
    for after in 0..26i64 {
        for limit in [1usize, 2, 3, 5, 100] {
            for max_bytes in [1usize, size * 2, usize::MAX] {
                let got = env
                    .core
                    .test_store()
                    .read(|c| {
                        gridworker_core::test_hooks::outbox::pending_batch(
                            c, after, limit, max_bytes,
                        )
                    })
                    .unwrap();
                let expected: Vec<i64> = env
                    .core
                    .test_store()
                    .read(|c| {
                        let mut st = c.prepare(
                            "SELECT seq, length(payload) FROM outbox
                             WHERE (state = 'pending' OR (state = 'withdrawn' AND synced_at IS NULL))
                               AND seq > ?1 ORDER BY seq LIMIT ?2",
                        )?;
                        let rows = st.query_map(rusqlite::params![after, limit as i64], |r| {
                            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as usize))
                        })?;
                        let (mut out, mut bytes) = (Vec::new(), 0usize);
                        for row in rows {
                            let (seq, len) = row?;
                            bytes += len;
                            if !out.is_empty() && bytes > max_bytes {
                                break;
                            }
                            out.push(seq);
                        }
                        Ok(out)
                    })
                    .unwrap();
                let seqs: Vec<i64> = got.iter().map(|e| e.seq).collect();
                assert_eq!(
                    seqs, expected,
                    "after {after}, limit {limit}, max_bytes {max_bytes}"
                );
                for e in &got {
                    assert_eq!(e.withdrawn, e.seq % 6 == 1, "seq {}", e.seq);
                }
            }
        }
    }
}

#[test]
fn progress_counts_accepted_flagged_and_missed() {
    let env = Env::new();
    env.core
        .check_in("P11", &env.fix_at(env.point("P11").position))
        .unwrap();
    env.clock.advance(600);
    env.core
        .check_in(
            "P12",
            &env.fix_at(offset(env.point("P12").position, 200.0, 0.0)),
        )
        .unwrap();
    let day = env.core.progress_day(None).unwrap();
    assert_eq!(day.points_due, 3);
    assert_eq!(day.checked_accepted, 1);
    assert_eq!(day.checked_flagged_only, 1);
    assert_eq!(day.missed_point_ids, vec!["P13".to_string()]);
    assert!((day.coverage_percent - 100.0 / 3.0).abs() < 1e-9);
    let week = env.core.progress_week(None).unwrap();
    assert_eq!(week.checked_accepted, 1);
    assert_eq!(week.from_day, "2026-11-23");
    assert_eq!(week.to_day, "2026-11-29");
}

/// Issue 16 item 5: the check-in's day is the district zone's, named by its IANA id. At
/// 16:30 UTC it is already the next day in Shanghai, still the same day at a UTC offset of 0.
#[test]
fn the_district_time_zone_decides_which_day_a_check_in_counts_for() {
    let late = Utc.with_ymd_and_hms(2026, 11, 30, 16, 30, 0).unwrap();
    let (nov30, dec1) = (
        chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
    );
    for (zone, offset, day_of_check_in, other_day) in [
        (Some("Asia/Shanghai"), 0, dec1, nov30),
        (None, 0, nov30, dec1),
        (None, 480, dec1, nov30),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new(late);
        let mut c = config(dir.path(), clock.clone());
        c.time_zone = zone.map(Into::into);
        c.utc_offset_minutes = offset;
        let core = gridworker_core::GridWorker::open(c).unwrap();
        let (grids, points, households) = district();
        core.import_reference(&grids, &points, &households, &["G1".into()])
            .unwrap();
        let p11 = points.iter().find(|p| p.id == "P11").unwrap();
        let fix = gridworker_core::domain::LocationFix::wgs84(
            p11.position.lat,
            p11.position.lon,
            8.0,
            late,
            mono(late),
        );
        core.check_in("P11", &fix).unwrap();
        let on = core.progress_day(Some(day_of_check_in)).unwrap();
        let off = core.progress_day(Some(other_day)).unwrap();
        assert_eq!(
            (on.checked_accepted, off.checked_accepted),
            (1, 0),
            "{zone:?} {offset}"
        );
        // "Today" is the zone's today.
        assert_eq!(
            core.progress_day(None).unwrap().from_day,
            day_of_check_in.to_string(),
            "{zone:?} {offset}"
        );
    }
}

#[test]
fn records_survive_reopen() {
    let env = Env::new();
    env.core
        .check_in("P11", &env.fix_at(env.point("P11").position))
        .unwrap();
    let env = env.reopen();
    assert_eq!(env.core.list_checkins(0, 10).unwrap().len(), 1);
    assert_eq!(
        env.core
            .nearby_points(env.point("P11").position, 1)
            .unwrap()[0]
            .point
            .id,
        "P11"
    );
    assert_eq!(
        env.core
            .grid_at(env.point("P21").position)
            .unwrap()
            .unwrap()
            .code,
        "G2"
    );
}
