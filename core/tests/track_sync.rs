//! Issue 13, item 6: patrol events and track blocks sync like every record (idempotent,
//! chained, resumable after a cut), against the real reference server on 127.0.0.1 behind
//! the real fault proxy; the server's admin API gives the day back with the summary it
//! recomputes from the fixes it holds; synced blocks leave the phone after the retention
//! period, pending ones never.

mod support;
mod sync_support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use gridworker_core::Clock;
use gridworker_core::domain::LocationFix;
use gridworker_core::sync::SyncOptions;
use support::{BASE, mono, offset};
use sync_support::{
    Device, Fault, Plan, RealServer, Tokens, WORKER, assert_all_synced_once, fast_options,
    faulty_link_options,
};

/// `seconds` of a walk east at 1.3 m/s from `start`, one fix a second, with a few metres of
/// deterministic scatter.
fn walk(start: DateTime<Utc>, from_s: i64, seconds: i64) -> Vec<LocationFix> {
    (from_s..from_s + seconds)
        .map(|s| {
            let wobble = |k: i64| ((s * k) % 7) as f64 - 3.0;
            let at = offset(
                BASE,
                200.0 + wobble(13) * 0.7,
                1.3 * s as f64 + wobble(17) * 0.7,
            );
            let t = start + chrono::Duration::seconds(s);
            LocationFix::wgs84(at.lat, at.lon, 6.0, t, mono(t))
        })
        .collect()
}

fn local_day(dev: &Device) -> chrono::NaiveDate {
    let offset = i64::from(dev.worker.config().utc_offset_minutes);
    (dev.clock.now() + chrono::Duration::minutes(offset)).date_naive()
}

/// The worker's day (the device's local day now) as the server holds it.
async fn server_day(server: &RealServer, dev: &Device) -> serde_json::Value {
    let day = local_day(dev);
    let offset_min = dev.worker.config().utc_offset_minutes;
    server
        .admin_json(&format!(
            "/admin/v1/tracks?worker={WORKER}&day={day}&utc_offset_minutes={offset_min}"
        ))
        .await
}

fn blocks_on_device(dev: &Device) -> (i64, i64) {
    dev.worker
        .test_store()
        .read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*), COUNT(outbox_seq) FROM track_blocks",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap()
}

/// Records a patrol: start, batches of 30 fixes (a few seconds of callbacks each), a
/// pause, more batches, stop. Returns the number of fixes.
fn patrol(dev: &Device, from_s: i64, batches: i64) -> usize {
    let start = dev.clock.now();
    dev.worker.start_patrol().unwrap();
    let mut n = 0;
    for b in 0..batches {
        let fixes = walk(start, from_s + b * 30, 30);
        n += dev.worker.add_track_fixes(&fixes).unwrap();
        if b == batches / 2 {
            dev.worker.pause_patrol().unwrap();
            dev.worker.resume_patrol().unwrap();
        }
    }
    dev.clock.advance(from_s + batches * 30 + 5);
    dev.worker.stop_patrol().unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patrol_reaches_the_server_once_through_cut_replies_and_the_server_recomputes_the_day() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(2);
    let fixes = patrol(&dev, 0, 40);
    assert_eq!(fixes, 1200);
    dev.check_ins(1);

    // The handshake passes; the first two pushes are stored by the server but their replies
    // are cut: the retries must be answered `already_applied`, nothing stored twice.
    server.proxy.push_fault(Fault::Pass);
    server.proxy.push_fault(Fault::CutResponseAfter(12));
    server.proxy.push_fault(Fault::CutResponseAfter(12));
    let engine = dev.engine(Tokens::fixed("tok"), faulty_link_options());
    let r = engine.sync().await.unwrap();
    assert!(r.retries >= 2, "{r:?}");
    assert_eq!(server.proxy.pending_faults(), 0);
    // Batches join up to 600 fixes; the pause seals the open block.
    let (blocks, sealed) = blocks_on_device(&dev);
    assert_eq!(blocks, sealed);
    assert!((2..=4).contains(&blocks), "{blocks} blocks");
    // 3 check-ins, 4 events and the blocks.
    // What a cut reply hid is answered `already_applied` on the retry.
    assert!(r.already_applied >= 1, "{r:?}");
    assert_eq!((r.pushed + r.already_applied) as i64, 7 + blocks, "{r:?}");
    assert_eq!(
        assert_all_synced_once(&dev, &server).await as i64,
        7 + blocks
    );

    let day = local_day(&dev);
    let held = server_day(&server, &dev).await;
    assert_eq!(held["fixes"], 1200, "{held}");
    assert_eq!(held["blocks"], blocks);
    let events: Vec<&str> = held["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["start", "pause", "resume", "stop"]);
    // The server's figures are the phone's: the same fixes through the same code, against
    // the same grids (the phone pulled them in this run).
    let mine = dev.worker.track_summary(Some(day)).unwrap();
    let theirs = &held["summary"];
    assert!(mine.distance_m > 1400.0, "{mine:?}");
    assert!((theirs["distance_m"].as_f64().unwrap() - mine.distance_m).abs() < 0.01);
    assert!((theirs["patrol_s"].as_f64().unwrap() - mine.patrol_s).abs() < 0.01);
    assert!((theirs["in_grid_s"].as_f64().unwrap() - mine.in_grid_s).abs() < 0.01);
    assert_eq!(theirs["flags"], serde_json::to_value(&mine.flags).unwrap());
    let line = held["line"].as_array().unwrap();
    let points: usize = line.iter().map(|p| p.as_array().unwrap().len()).sum();
    assert!(
        (2..200).contains(&points),
        "the line is simplified: {points} points for 1,200 fixes"
    );
    let stored = held["stored_bytes"].as_u64().unwrap();
    let sent: usize = dev
        .outbox()
        .iter()
        .filter(|r| r.1 == "track_block")
        .map(|r| r.3.len())
        .sum();
    println!(
        "track of {fixes} fixes: {:.2} bytes/fix in the payloads sent (JSON, base64 blocks), \
         {:.2} bytes/fix stored by the server",
        sent as f64 / fixes as f64,
        stored as f64 / fixes as f64
    );

    // Nothing is sent twice.
    let r = engine.sync().await.unwrap();
    assert_eq!(r.pushed, 0, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_sends_the_open_block_and_later_batches_start_a_new_one() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let start = dev.clock.now();
    dev.worker.start_patrol().unwrap();
    dev.worker.add_track_fixes(&walk(start, 0, 60)).unwrap();
    dev.clock.advance(61);
    let engine = dev.engine(Tokens::fixed("tok"), faulty_link_options());
    assert_eq!(
        engine.sync().await.unwrap().pushed,
        2,
        "start and the block"
    );
    // Still on patrol: the next batch cannot join a block already sent.
    dev.worker.add_track_fixes(&walk(start, 60, 60)).unwrap();
    assert_eq!(blocks_on_device(&dev), (2, 1));
    dev.clock.advance(61);
    assert_eq!(engine.sync().await.unwrap().pushed, 1);
    assert_all_synced_once(&dev, &server).await;
    let held = server_day(&server, &dev).await;
    assert_eq!(held["fixes"], 120, "{held}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synced_blocks_leave_the_phone_after_the_retention_period_and_pending_ones_stay() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let options = SyncOptions {
        synced_retention: Duration::from_secs(24 * 3600),
        max_attempts: 2,
        ..faulty_link_options()
    };
    let engine = dev.engine(Tokens::fixed("tok"), options);
    patrol(&dev, 0, 30);
    engine.sync().await.unwrap();
    let (old, sealed) = blocks_on_device(&dev);
    assert_eq!(old, sealed);

    // Two days later another patrol is recorded; its sync gets through the handshake (which
    // applies the retention period) but not the push.
    dev.clock.advance(2 * 24 * 3600);
    patrol(&dev, 0, 10);
    let (all, _) = blocks_on_device(&dev);
    let new = all - old;
    server.proxy.push_fault(Fault::Pass);
    server.proxy.set_plan(Plan::always(Fault::Status {
        code: 503,
        retry_after: None,
    }));
    assert!(engine.sync().await.is_err());
    // The two synced blocks went; the new one, sealed and pending, stayed.
    assert_eq!(blocks_on_device(&dev), (new, new));
    let events: i64 = dev
        .worker
        .test_store()
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM patrol_events", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(
        events, 4,
        "the old session's events went, the new one's stayed"
    );

    server.proxy.set_plan(Plan::pass());
    let r = engine.sync().await.unwrap();
    assert_eq!(
        r.pushed as i64,
        4 + new,
        "the new session: 4 events and its blocks"
    );
    assert_eq!(dev.pending(), 0);
    let held = server_day(&server, &dev).await;
    assert_eq!(held["fixes"], 300, "{held}");
}

/// A fix the platform hands over again at the start of the next batch (Android repeats the
/// last location when updates are requested anew) is stored and sent once; a late fix (a
/// network fix older than the newest GPS one) starts a block of its own. Neither reads as a
/// clock jump on the phone, and the phone's figures are the server's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_handed_over_again_or_late_is_no_clock_jump_and_the_phone_agrees_with_the_server() {
    use gridworker_core::model::track::TrackFlagKind;
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let start = dev.clock.now();
    dev.worker.start_patrol().unwrap();
    assert_eq!(dev.worker.add_track_fixes(&walk(start, 0, 60)).unwrap(), 60);
    assert_eq!(
        dev.worker.add_track_fixes(&walk(start, 59, 61)).unwrap(),
        60,
        "the fix handed over again is not stored again"
    );
    let mut late = walk(start, 118, 1);
    late[0].fix_time += chrono::Duration::milliseconds(500);
    assert_eq!(dev.worker.add_track_fixes(&late).unwrap(), 1);
    dev.clock.advance(125);
    dev.worker.stop_patrol().unwrap();

    let engine = dev.engine(Tokens::fixed("tok"), faulty_link_options());
    engine.sync().await.unwrap();
    let held = server_day(&server, &dev).await;
    let mine = dev.worker.track_summary(Some(local_day(&dev))).unwrap();
    assert!(
        !mine
            .flags
            .iter()
            .any(|f| f.kind == TrackFlagKind::ClockJump),
        "{:?}",
        mine.flags
    );
    assert_eq!(held["fixes"], 121);
    assert_eq!(
        held["summary"]["flags"],
        serde_json::to_value(&mine.flags).unwrap()
    );
    assert_eq!(
        held["summary"]["distance_m"],
        serde_json::to_value(mine.distance_m).unwrap()
    );
}

/// A quarantined block the worker discards still sends a withdrawal link the server can
/// verify: the entry's payload is derived from the block row, which the discard deletes,
/// so the payload is kept in the entry first. The chain stays whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discarded_quarantined_block_sends_a_verifiable_withdrawal_link() {
    use gridworker_core::test_hooks::outbox::QuarantineReason;
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    let start = dev.clock.now();
    dev.worker.start_patrol().unwrap();
    engine.sync().await.unwrap();
    dev.worker.add_track_fixes(&walk(start, 0, 60)).unwrap();
    dev.clock.advance(61);
    assert_eq!(dev.worker.seal_track().unwrap(), 1);
    server.refuse_next_push_as_too_large();
    let r = engine.sync().await.unwrap();
    assert_eq!(r.quarantined.len(), 1, "{r:?}");
    assert_eq!(r.quarantined[0].kind, "track_block");
    assert!(matches!(
        r.quarantined[0].reason,
        QuarantineReason::Refused { status: 413, .. }
    ));
    dev.worker
        .discard_quarantined(&r.quarantined[0].record_id)
        .unwrap();
    let r = engine.sync().await.unwrap();
    assert_eq!(r.rejected, 0, "{r:?}");

    assert_eq!(server.records("track_block", "withdrawn").await.len(), 1);
    let chain = server.admin_json("/admin/v1/chain?device=dev-A").await;
    assert_eq!(chain["intact"], true, "{chain}");
}

/// A block damaged on disk (its bytes no longer decode) holds back nothing: the sync sends
/// the other records, the worker goes off duty, and the day's figures leave it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_undecodable_block_holds_back_no_other_record() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    let start = dev.clock.now();
    dev.worker.start_patrol().unwrap();
    dev.worker.add_track_fixes(&walk(start, 0, 60)).unwrap();
    // The open block's version byte flipped.
    dev.worker
        .test_store()
        .write(|tx| {
            Ok(tx.execute(
                "UPDATE track_blocks SET data = CAST(x'02' || substr(data, 2) AS BLOB)
                 WHERE outbox_seq IS NULL",
                [],
            )?)
        })
        .unwrap();
    dev.worker
        .add_track_fixes(&walk(start, 3600, 60))
        .expect("a new block starts beside the damaged one");
    let checkins = dev.check_ins(1);
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.expect("the sync goes on");
    dev.clock.advance(3700);
    dev.worker.stop_patrol().expect("the worker goes off duty");
    engine.sync().await.unwrap();
    assert_eq!(
        server.records("checkin", "applied").await.len(),
        checkins.len()
    );
    let day = server_day(&server, &dev).await;
    assert_eq!(day["fixes"], 60, "the readable block reached the server");
    let mine = dev.worker.track_summary(Some(local_day(&dev))).unwrap();
    assert_eq!(
        day["summary"]["distance_m"],
        serde_json::to_value(mine.distance_m).unwrap()
    );
}
