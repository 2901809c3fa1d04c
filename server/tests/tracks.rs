//! Issue 13, item 6 on the server: patrol events and track blocks are stored once, a block
//! whose bytes do not decode or disagree with its fields is refused as `invalid_payload`
//! without holding back the rest of the push, and the admin API gives the worker's day back
//! with the fix count and a summary recomputed from the fixes held.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use gridworker_core::sync::wire::codes;
use gridworker_model::domain::{PatrolEventKind, PatrolEventPayload, TrackBlockPayload};
use gridworker_model::geo::Position;
use gridworker_model::track::{TrackFix, block};
use serde_json::{Value, json};

fn t0() -> DateTime<Utc> {
    // 09:00 in Jixi (UTC+8) on 2026-11-23.
    DateTime::parse_from_rfc3339("2026-11-23T01:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// `n` fixes walking north at 1.25 m/s from (45.30, 130.95), one a second from `from_s`.
fn fixes(from_s: i64, n: i64) -> Vec<TrackFix> {
    (from_s..from_s + n)
        .map(|s| TrackFix {
            t_ms: (t0() + Duration::seconds(s)).timestamp_millis(),
            position: Position::new(45.30 + 1.25 * s as f64 / 111_195.0, 130.95),
            accuracy_m: 5.0 + (s % 3) as f64,
            mock: false,
        })
        .collect()
}

fn block_payload(d: &Device, id: &str, f: &[TrackFix]) -> TrackBlockPayload {
    TrackBlockPayload::new(
        id.into(),
        d.worker.clone(),
        d.id.clone(),
        "session-1".into(),
        &block::encode(f).unwrap(),
    )
    .unwrap()
}

fn event(d: &Device, id: &str, event: PatrolEventKind, at_s: i64) -> String {
    serde_json::to_string(&PatrolEventPayload {
        id: id.into(),
        worker_id: d.worker.clone(),
        device_id: d.id.clone(),
        session_id: "session-1".into(),
        event,
        at: t0() + Duration::seconds(at_s),
    })
    .unwrap()
}

#[tokio::test]
async fn blocks_are_checked_stored_once_and_the_day_is_recomputed_from_them() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-1");
    let mut d = Device::new("dev-1", W1);

    let start = event(&d, "e1", PatrolEventKind::Start, 0);
    let start = d.mutation("patrol_event", "e1", start);
    let good1 = block_payload(&d, "b1", &fixes(0, 600));
    let good1 = d.mutation("track_block", "b1", serde_json::to_string(&good1).unwrap());
    // The count says 10, the block holds 20.
    let mut miscounted = block_payload(&d, "b2", &fixes(600, 20));
    miscounted.fixes = 10;
    let miscounted = d.mutation(
        "track_block",
        "b2",
        serde_json::to_string(&miscounted).unwrap(),
    );
    // A block cut short: its bytes no longer decode.
    let mut cut = block_payload(&d, "b3", &fixes(620, 20));
    cut.data = cut.data[..cut.data.len() / 2].to_string();
    let cut = d.mutation("track_block", "b3", serde_json::to_string(&cut).unwrap());
    let good2 = block_payload(&d, "b4", &fixes(640, 300));
    let good2 = d.mutation("track_block", "b4", serde_json::to_string(&good2).unwrap());
    let bad_event = event(&d, "e2", PatrolEventKind::Stop, 940).replace("\"stop\"", "\"nap\"");
    let bad_event = d.mutation("patrol_event", "e2", bad_event);
    let stop = event(&d, "e3", PatrolEventKind::Stop, 941);
    let stop = d.mutation("patrol_event", "e3", stop);
    let batch = vec![start, good1, miscounted, cut, good2, bad_event, stop];
    let r = c.push(&batch).await;
    let got: Vec<(String, String)> = (0..batch.len())
        .map(|i| (status_of(&r, i), reason_of(&r, i)))
        .collect();
    let applied = ("applied".to_string(), String::new());
    let invalid = ("rejected".to_string(), codes::INVALID_PAYLOAD.to_string());
    assert_eq!(
        got,
        [
            applied.clone(),
            applied.clone(),
            invalid.clone(),
            invalid.clone(),
            applied.clone(),
            invalid,
            applied
        ]
    );

    // A replay of the whole push stores nothing twice.
    let again = c.push(&batch).await;
    assert_eq!(status_of(&again, 1), "already_applied");
    assert_eq!(count(&srv.url(), "track_block").await, 2);
    assert_eq!(count(&srv.url(), "patrol_event").await, 2);

    // The admin listing gives the block back as sent (the mutation row keeps no copy).
    let (_, v) = admin_get(&srv.url(), "/admin/v1/records?kind=track_block").await;
    let sent: Value = serde_json::from_str(&batch[1].payload).unwrap();
    let held = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "b1")
        .unwrap();
    for (k, want) in sent.as_object().unwrap() {
        assert_eq!(&held[k], want, "{k}");
    }

    let (s, day) = admin_get(
        &srv.url(),
        &format!("/admin/v1/tracks?worker={W1}&day=2026-11-23"),
    )
    .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{day}");
    assert_eq!(day["fixes"], 900);
    assert_eq!(day["blocks"], 2);
    assert_eq!(day["utc_offset_minutes"], 480);
    assert_eq!(
        day["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].clone())
            .collect::<Vec<_>>(),
        [json!("start"), json!("stop")]
    );
    // 900 s at 1.25 m/s along a straight line: 1,125 m, recomputed by the server.
    let dist = day["summary"]["distance_m"].as_f64().unwrap();
    assert!((dist - 1125.0).abs() < 1125.0 * 0.05, "{dist}");
    // Another day holds nothing.
    let (_, other) = admin_get(
        &srv.url(),
        &format!("/admin/v1/tracks?worker={W1}&day=2026-11-24"),
    )
    .await;
    assert_eq!(other["fixes"], 0);
    // Bad queries are refused with the one error shape.
    for q in [
        format!("worker={W1}"),
        format!("worker={W1}&day=23/11/2026"),
        format!("worker={W1}&day=2026-11-23&utc_offset_minutes=9999"),
        format!("worker={W1}&day=2026-11-23&extra=1"),
    ] {
        let (s, v) = admin_get(&srv.url(), &format!("/admin/v1/tracks?{q}")).await;
        assert!(s.is_client_error(), "{q}: {s}");
        assert!(v["error"]["code"].is_string(), "{q}: {v}");
    }
    srv.shutdown().await;
}

/// A block spanning more than a day is refused: a day's blocks are found by their start (a
/// day back at most, as no phone records a longer one), so its later fixes would show on no
/// day while the record counted as stored. A block of exactly a day is taken.
#[tokio::test]
async fn a_block_spanning_more_than_a_day_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-1");
    let mut d = Device::new("dev-1", W1);
    let later = |f: &[TrackFix], s: i64| -> Vec<TrackFix> {
        f.iter()
            .map(|x| TrackFix {
                t_ms: x.t_ms + s * 1000,
                ..*x
            })
            .collect()
    };
    let mut long = fixes(0, 600);
    long.extend(later(&fixes(0, 600), 3 * 86_400));
    let long = block_payload(&d, "b-long", &long);
    let long = d.mutation(
        "track_block",
        "b-long",
        serde_json::to_string(&long).unwrap(),
    );
    let mut day = fixes(0, 1);
    day.extend(later(&fixes(0, 1), 86_400));
    let day = block_payload(&d, "b-day", &day);
    let day = d.mutation("track_block", "b-day", serde_json::to_string(&day).unwrap());
    let r = c.push(&[long, day]).await;
    assert_eq!(
        (status_of(&r, 0), reason_of(&r, 0)),
        ("rejected".into(), codes::INVALID_PAYLOAD.into())
    );
    assert_eq!(status_of(&r, 1), "applied");
    srv.shutdown().await;
}
