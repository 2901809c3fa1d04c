//! The reference server against real sockets on 127.0.0.1 and real SQLite files.

mod common;

use common::*;
use gridworker_core::sync::wire::{self, codes};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn handshake_gives_worker_grids_policy_and_refuses_bad_headers() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-1");
    let (s, v) = c.get_json(wire::PATH_HANDSHAKE).await;
    assert_eq!(s, StatusCode::OK);
    let h: wire::HandshakeResponse = serde_json::from_value(v).unwrap();
    assert_eq!(h.protocol, wire::PROTOCOL);
    assert_eq!(h.worker.id, W1);
    assert_eq!(h.grids, vec!["g-0001".to_string()]);
    assert_eq!(h.policy.checkin_radius_m, 50.0);
    assert!((h.server_time - chrono::Utc::now()).num_seconds().abs() < 60);

    let http = reqwest::Client::new();
    let url = format!("{}{}", srv.url(), wire::PATH_HANDSHAKE);
    // Too old: 426 with the minimum in body and header.
    let r = http
        .get(&url)
        .header(wire::HEADER_PROTOCOL, "0")
        .bearer_auth(T1)
        .header(wire::HEADER_DEVICE, "d")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(r.headers()[wire::HEADER_PROTOCOL], "1");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], codes::CLIENT_TOO_OLD);
    assert_eq!(v["error"]["min_protocol"], 1);
    // A version 1 phone not yet updated is still served (a v1 payload is a valid v3 one);
    // the handshake says which version the server speaks.
    let r = http
        .get(&url)
        .header(wire::HEADER_PROTOCOL, "1")
        .bearer_auth(T1)
        .header(wire::HEADER_DEVICE, "d")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["protocol"].as_u64(), v["min_protocol"].as_u64()),
        (Some(u64::from(wire::PROTOCOL)), Some(1))
    );
    // No protocol header.
    let r = http.get(&url).bearer_auth(T1).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Bad token.
    let (s, v) = Client::new(&srv.url(), "nope", "d")
        .get_json(wire::PATH_HANDSHAKE)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], codes::UNAUTHORIZED);
    assert_eq!(v["error"]["retryable"], false);
    // Token of another worker than the client claims.
    let r = c
        .req(Method::GET, wire::PATH_HANDSHAKE)
        .header(wire::HEADER_WORKER, W2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Unknown path: the one error shape.
    let (s, v) = c.get_json("/v1/nothing").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(v["error"]["code"], codes::NOT_FOUND);
    srv.shutdown().await;
}

#[tokio::test]
async fn push_is_idempotent_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-1");
    let mut d = Device::new("dev-1", W1);
    let batch = vec![
        d.checkin("p-00001"),
        d.checkin("p-00002"),
        d.visit("h-000001"),
    ];
    let r = c.push(&batch).await;
    assert_eq!(r.results.len(), 3);
    for (i, m) in batch.iter().enumerate() {
        assert_eq!(status_of(&r, i), "applied");
        assert_eq!(r.results[i].mutation_id, m.mutation_id);
    }
    assert_eq!(r.chain_breaks, 0);
    // The reply was "lost": the retry is answered from what was stored.
    let r = c.push(&batch).await;
    for i in 0..3 {
        assert_eq!(status_of(&r, i), "already_applied");
    }
    assert_eq!(count(&srv.url(), "checkin").await, 2);
    assert_eq!(count(&srv.url(), "visit").await, 1);

    // Restart on the same address, so clients (and a fault proxy) keep their URL.
    let url = srv.url();
    let addr = srv.addr();
    srv.shutdown().await;
    let mut cfg = config(dir.path());
    cfg.listen = addr;
    let srv = gridworker_server::serve(cfg)
        .await
        .expect("restarts on the same port");
    assert_eq!(srv.url(), url);
    let c = Client::new(&srv.url(), T1, "dev-1");
    let r = c.push(&batch).await;
    assert_eq!(status_of(&r, 0), "already_applied");
    assert_eq!(count(&srv.url(), "checkin").await, 2);
    // The chain continues across the restart.
    let r = c.push(&[d.checkin("p-00001")]).await;
    assert_eq!(status_of(&r, 0), "applied");
    assert_eq!(r.chain_breaks, 0);
    let (s, v) = admin_get(&srv.url(), "/admin/v1/records?kind=checkin").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["count"], 3);
    let rec = &v["records"][0];
    assert_eq!(rec["device_id"], "dev-1");
    assert_eq!(rec["chain_break"], false);
    assert_eq!(rec["point_id"], "p-00001");
    assert!(rec["mutation_id"].is_string() && rec["received_at"].is_string());
    srv.shutdown().await;
}

#[tokio::test]
async fn per_mutation_rejections_do_not_block_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-1");
    let mut d = Device::new("dev-1", W1);
    let good1 = d.checkin("p-00001");
    let mut altered = d.checkin("p-00002");
    altered.payload = altered.payload.replace("p-00002", "p-00003");
    // The chain continues from the altered one's link, as the device built it.
    let malformed = d.mutation("visit", "x", "{not json".into());
    let unknown_field = {
        let m = d.checkin("p-00001");
        let mut v: Value = serde_json::from_str(&m.payload).unwrap();
        v["sneaky"] = json!(1);
        d.seq -= 1;
        d.head = m.prev_hash.clone();
        let text = v.to_string();
        let id = v["id"].as_str().unwrap().to_string();
        d.mutation("checkin", &id, text)
    };
    let unknown_kind = d.mutation("selfie", "s1", "{}".into());
    let unknown_point = d.checkin("p-does-not-exist");
    let missing_photo = d.report(&[(&"ab".repeat(32), 10)]);
    let good2 = d.visit("h-000002");
    let batch = vec![
        good1,
        altered,
        malformed,
        unknown_field,
        unknown_kind,
        unknown_point,
        missing_photo.clone(),
        good2,
    ];
    let r = c.push(&batch).await;
    let got: Vec<(String, String)> = (0..batch.len())
        .map(|i| (status_of(&r, i), reason_of(&r, i)))
        .collect();
    assert_eq!(got[0], ("applied".into(), "".into()));
    assert_eq!(got[1], ("rejected".into(), codes::HASH_MISMATCH.into()));
    assert_eq!(got[2], ("rejected".into(), codes::INVALID_PAYLOAD.into()));
    assert_eq!(got[3], ("rejected".into(), codes::INVALID_PAYLOAD.into()));
    assert_eq!(got[4], ("rejected".into(), codes::UNKNOWN_KIND.into()));
    // Unknown references are evidence: accepted and flagged.
    assert_eq!(got[5], ("applied".into(), "".into()));
    assert_eq!(got[6], ("rejected".into(), codes::MISSING_PHOTO.into()));
    assert_eq!(got[7], ("applied".into(), "".into()));
    // The altered link was not accepted, so the next one does not follow the head.
    assert_eq!(r.chain_breaks, 1);
    assert_eq!(count(&srv.url(), "checkin").await, 2);
    assert_eq!(count(&srv.url(), "visit").await, 1);
    assert_eq!(count(&srv.url(), "report").await, 0);
    let (_, v) = admin_get(&srv.url(), "/admin/v1/records?kind=checkin").await;
    let flagged: Vec<&Value> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["server_flags"] == json!(["unknown_point"]))
        .collect();
    assert_eq!(flagged.len(), 1);
    // A rejection is permanent: the same mutation gets the same answer again.
    let r = c.push(std::slice::from_ref(&missing_photo)).await;
    assert_eq!(reason_of(&r, 0), codes::MISSING_PHOTO);
    // The same id with other content never makes a second record.
    let mut reused = batch[0].clone();
    reused.payload = reused.payload.replace("p-00001", "p-00002");
    let r = c.push(&[reused]).await;
    assert_eq!(reason_of(&r, 0), codes::MUTATION_ID_REUSED);
    assert_eq!(count(&srv.url(), "checkin").await, 2);
    let (_, v) = admin_get(&srv.url(), "/admin/v1/records?kind=report&status=rejected").await;
    assert_eq!(v["count"], 1);
    assert_eq!(v["records"][0]["reason"]["code"], codes::MISSING_PHOTO);
    srv.shutdown().await;
}

#[tokio::test]
async fn a_deleted_record_shows_as_a_chain_break() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-9");
    let mut d = Device::new("dev-9", W1);
    let a = d.checkin("p-00001");
    let _deleted = d.checkin("p-00002");
    let b = d.checkin("p-00001");
    let r = c.push(&[a, b.clone()]).await;
    assert_eq!(status_of(&r, 0), "applied");
    assert_eq!(status_of(&r, 1), "applied");
    assert_eq!(r.chain_breaks, 1);
    let (s, v) = admin_get(&srv.url(), "/admin/v1/chain?device=dev-9").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["intact"], false);
    assert_eq!(v["head_seq"], 3);
    assert_eq!(v["chain_breaks"][0]["mutation_id"], b.mutation_id);
    let (_, v) = admin_get(&srv.url(), "/admin/v1/records").await;
    assert_eq!(v["chain_breaks"], 1);
    srv.shutdown().await;
}

#[tokio::test]
async fn a_held_back_record_sent_later_with_its_seq_heals_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-8");
    let mut d = Device::new("dev-8", W1);
    let a = d.checkin("p-00001");
    let held = d.checkin("p-00002");
    let b = d.checkin("p-00001");
    let r = c.push(&[a, b]).await;
    assert_eq!(r.chain_breaks, 1, "a gap is a break until it is filled");
    let r = c.push(std::slice::from_ref(&held)).await;
    assert_eq!(status_of(&r, 0), "applied");
    assert_eq!(r.chain_breaks, 0);
    let (_, v) = admin_get(&srv.url(), "/admin/v1/chain?device=dev-8").await;
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["head_seq"], 3);
    srv.shutdown().await;
}

/// The handshake names the holes in what the server holds of the calling device's log below
/// its highest seq, whatever the status of what it holds (a rejected record is no hole), and
/// only that device's: a phone re-sends its synced entries there after a restore.
#[tokio::test]
async fn the_handshake_names_the_seqs_the_server_lacks_below_its_last() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-9");
    let mut d = Device::new("dev-9", W1);
    let mut all: Vec<_> = (0..3).map(|_| d.checkin("p-00001")).collect();
    // Seq 4 is refused for good (its photo never came) and held as such.
    all.push(d.report(&[(&"ab".repeat(32), 10)]));
    all.extend((0..4).map(|_| d.checkin("p-00001")));
    let mut other = Device::new("dev-10", W1);
    let theirs = other.checkin("p-00001");
    // Seqs 1, 3, 4, 7 and 8 reach the server; 2, 5 and 6 wait on the phone.
    let r = c
        .push(&[
            all[0].clone(),
            all[2].clone(),
            all[3].clone(),
            all[6].clone(),
            all[7].clone(),
        ])
        .await;
    assert_eq!(reason_of(&r, 2), codes::MISSING_PHOTO);
    Client::new(&srv.url(), T1, "dev-10").push(&[theirs]).await;
    let handshake = |c: &Client, from: Option<i64>| {
        let c = c.clone();
        async move {
            let (s, v) = c.get_json(&wire::handshake_path(from)).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            serde_json::from_value::<wire::HandshakeResponse>(v).unwrap()
        }
    };
    let h = handshake(&c, Some(1)).await;
    assert_eq!(h.device_last_seq, Some(8));
    assert_eq!(h.device_missing, vec![[2, 2], [5, 6]]);
    // From where the phone asks: below it, it has nothing left to send again.
    assert_eq!(handshake(&c, Some(3)).await.device_missing, vec![[5, 6]]);
    assert_eq!(handshake(&c, Some(6)).await.device_missing, vec![[6, 6]]);
    // A phone that asks nothing (a build before the holes) is told none.
    assert_eq!(handshake(&c, None).await.device_missing.len(), 0);
    for bad in ["0", "-1", "x", ""] {
        let (s, v) = c
            .get_json(&format!("{}?missing_from={bad}", wire::PATH_HANDSHAKE))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        assert!(v.to_string().contains("missing_from"), "{v}");
    }
    c.push(&[all[1].clone(), all[4].clone(), all[5].clone()])
        .await;
    let h = handshake(&c, Some(1)).await;
    assert_eq!(h.device_missing, Vec::<[i64; 2]>::new());
    // A device the server holds nothing of has no holes.
    let h = handshake(&Client::new(&srv.url(), T1, "dev-11"), Some(1)).await;
    assert_eq!((h.device_last_seq, h.device_missing.len()), (None, 0));
    srv.shutdown().await;
}

/// A push writes its mutation rows a few hundred to a statement, not one by one: every rule
/// that reads what the same push took before must still see it. In one push: a link ahead
/// of its predecessors (a break), the predecessors below the head (their links are checked
/// against rows of this push, and the last of them heals the break), a record id taken
/// earlier in the push, and a mutation id sent twice.
#[tokio::test]
async fn one_push_sees_the_mutations_it_took_before() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-9");
    let mut d = Device::new("dev-9", W1);
    let a = d.checkin("p-00001");
    let b = d.checkin("p-00002");
    let again = d.mutation("checkin", &a.record_id, a.payload.clone());
    let last = d.checkin("p-00001");
    let r = c.push(&[a.clone(), last, b, again, a]).await;
    let statuses: Vec<String> = (0..5).map(|i| status_of(&r, i)).collect();
    assert_eq!(
        statuses,
        [
            "applied",
            "applied",
            "applied",
            "rejected",
            "already_applied"
        ],
        "{r:?}"
    );
    assert_eq!(reason_of(&r, 3), codes::RECORD_ID_REUSED);
    assert_eq!(
        r.chain_breaks, 1,
        "the link ahead of its predecessors, until they came"
    );
    let (_, v) = admin_get(&srv.url(), "/admin/v1/chain?device=dev-9").await;
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["head_seq"], 4);
    assert_eq!(count(&srv.url(), "checkin").await, 3);
    srv.shutdown().await;
}

/// A push larger than a handful of rows: its mutation rows are written in bulk (one COPY on
/// PostgreSQL, from 64 rows), and in two writes when a replayed id in the middle makes the
/// push read `mutations` (the rows before it are flushed first). Every record once, the chain
/// whole, and the same push again is all `already_applied`.
#[tokio::test]
async fn a_large_push_is_stored_once_whichever_way_its_rows_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-8");
    let mut d = Device::new("dev-8", W1);
    let mut batch: Vec<_> = (0..300)
        .map(|i| d.checkin(&format!("p-{:05}", i % 10 + 1)))
        .collect();
    // The 101st entry names the 100th's id again (it is a replay of it), after 100 rows.
    let replayed = batch[99].clone();
    batch.insert(100, replayed);
    let r = c.push(&batch).await;
    let statuses: Vec<String> = (0..batch.len()).map(|i| status_of(&r, i)).collect();
    assert_eq!(
        statuses.iter().filter(|s| *s == "applied").count(),
        300,
        "{r:?}"
    );
    assert_eq!(statuses[100], "already_applied");
    assert_eq!(r.chain_breaks, 0);
    let (_, v) = admin_get(&srv.url(), "/admin/v1/chain?device=dev-8").await;
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["head_seq"], 300);
    assert_eq!(count(&srv.url(), "checkin").await, 300);

    let again = c.push(&batch).await;
    assert!(
        (0..batch.len()).all(|i| status_of(&again, i) == "already_applied"),
        "{again:?}"
    );
    assert_eq!(count(&srv.url(), "checkin").await, 300);
    srv.shutdown().await;
}

/// Issue 8, defect 1 follow-up: an entry the device withdrew (a quarantined record repaired
/// as a new entry, or discarded) is delivered as a withdrawal link. Its link heals the chain;
/// it keeps no payload, needs no photo, claims no record id; an altered one is refused.
#[tokio::test]
async fn a_withdrawal_link_keeps_the_chain_intact_without_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-6");
    let mut d = Device::new("dev-6", W1);
    let a = d.checkin("p-00001");
    // Quarantined on the device: its photo never reaches the server.
    let (_, never_sent) = photo_bytes(10_000, 3);
    let original = d.report(&[(&never_sent, 10_000)]);
    let b = d.checkin("p-00002");
    let r = c.push(&[a, b]).await;
    assert_eq!(
        r.chain_breaks, 1,
        "held back: a break until its link arrives"
    );

    // An altered withdrawal link (its hash no longer covers the payload) is refused and
    // stored nowhere; the chain stays broken.
    let mut forged = original.clone();
    forged.withdrawn = true;
    forged.payload = forged.payload.replace("井盖破损", "tampered");
    let r = c.push(&[forged]).await;
    assert_eq!(status_of(&r, 0), "rejected");
    assert_eq!(reason_of(&r, 0), codes::HASH_MISMATCH);
    let (_, v) = admin_get(&srv.url(), "/admin/v1/chain?device=dev-6").await;
    assert_eq!(v["intact"], false, "{v}");

    let mut link = original.clone();
    link.withdrawn = true;
    let body = serde_json::to_value(&link).unwrap();
    assert_eq!(body["withdrawn"], true);
    let r = c.push(std::slice::from_ref(&link)).await;
    assert_eq!(status_of(&r, 0), "applied", "{r:?}");
    assert_eq!(r.chain_breaks, 0);
    let (_, v) = admin_get(&srv.url(), "/admin/v1/chain?device=dev-6").await;
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["head_seq"], 3);
    // Held as a link: counted, no record, no payload kept.
    let (_, v) = admin_get(&srv.url(), "/admin/v1/records").await;
    assert_eq!(
        (v["withdrawn"].as_i64(), v["counts"]["report"].as_i64()),
        (Some(1), Some(0)),
        "{v}"
    );
    assert_eq!(v["chain_breaks"], 0);
    let (_, v) = admin_get(&srv.url(), "/admin/v1/records?kind=report&status=withdrawn").await;
    assert_eq!(v["count"], 1, "{v}");
    let held = &v["records"][0];
    assert_eq!(held["mutation_id"], link.mutation_id.as_str());
    assert_eq!(held["payload_text"], "", "the payload was kept: {held}");
    assert!(held.get("description").is_none(), "{held}");

    // A retry is already applied; the same id as a record is another content.
    let r = c.push(std::slice::from_ref(&link)).await;
    assert_eq!(status_of(&r, 0), "already_applied");
    let r = c.push(std::slice::from_ref(&original)).await;
    assert_eq!(reason_of(&r, 0), codes::MUTATION_ID_REUSED);

    // The repaired record (same record id, a photo the server holds) is accepted.
    let (bytes, sha) = photo_bytes(8_000, 4);
    let (s, _) = patch_photo(&c, &sha, 0, bytes.len() as u64, bytes.clone()).await;
    assert_eq!(s, StatusCode::OK);
    let mut payload: Value = serde_json::from_str(&original.payload).unwrap();
    payload["photos"][0]["sha256"] = json!(sha);
    payload["photos"][0]["size"] = json!(bytes.len());
    let repaired = d.mutation(
        "report",
        &original.record_id,
        serde_json::to_string(&payload).unwrap(),
    );
    let r = c.push(&[repaired]).await;
    assert_eq!(status_of(&r, 0), "applied", "{r:?}");
    assert_eq!(r.chain_breaks, 0);
    assert_eq!(count(&srv.url(), "report").await, 1);
    let (_, v) = admin_get(&srv.url(), "/admin/v1/chain?device=dev-6").await;
    assert_eq!(v["intact"], true, "{v}");
    srv.shutdown().await;
}

/// An expired link (protocol 5): a phone that no longer has an entry's payload sends its link
/// alone for a server restored from a backup older than it. Stored as `expired` without a
/// payload, record or effect; its link keeps the chain whole and moves the head, so the
/// records after it are not refused as too far ahead; a retry is already applied; the
/// seq-gap rule still holds for it; it never comes back as a record.
#[tokio::test]
async fn an_expired_link_keeps_the_chain_whole_without_a_record() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-12");
    let mut d = Device::new("dev-12", W1);
    let first = d.checkin("p-00001");
    c.push(std::slice::from_ref(&first)).await;
    let gone: Vec<_> = (0..2_100).map(|_| d.checkin("p-00001")).collect();
    let after = d.checkin("p-00002");
    let link = |m: &wire::Mutation| wire::Mutation {
        payload: String::new(),
        expired: true,
        ..m.clone()
    };
    // Too far ahead, even as a link (nothing stored).
    let r = c.push(&[link(&gone[2_050])]).await;
    assert_eq!(reason_of(&r, 0), codes::SEQ_GAP_TOO_LARGE);
    // A link with a payload, or withdrawn as well, is not an expired link.
    for bad in [
        wire::Mutation {
            payload: gone[0].payload.clone(),
            ..link(&gone[0])
        },
        wire::Mutation {
            withdrawn: true,
            ..link(&gone[0])
        },
    ] {
        let body = serde_json::to_vec(&wire::PushRequest {
            device_id: "dev-12".into(),
            mutations: vec![bad],
        })
        .unwrap();
        let (s, v) = c.push_raw(body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(v["error"]["code"], codes::INVALID_REQUEST, "{v}");
    }
    let links: Vec<_> = gone.iter().map(link).collect();
    for part in links.chunks(1_000) {
        let r = c.push(part).await;
        assert!(
            (0..part.len()).all(|i| status_of(&r, i) == "applied"),
            "{r:?}"
        );
        assert_eq!(r.chain_breaks, 0);
    }
    let r = c.push(std::slice::from_ref(&after)).await;
    assert_eq!(status_of(&r, 0), "applied", "{r:?}");
    assert_eq!(r.chain_breaks, 0);
    let (_, v) = admin_get(&srv.url(), "/admin/v1/chain?device=dev-12").await;
    assert_eq!(
        (v["intact"].as_bool(), v["head_seq"].as_i64()),
        (Some(true), Some(2_102)),
        "{v}"
    );
    let (_, v) = admin_get(&srv.url(), "/admin/v1/records").await;
    assert_eq!(
        (v["expired"].as_i64(), v["counts"]["checkin"].as_i64()),
        (Some(2_100), Some(2)),
        "{v}"
    );
    let (_, v) = admin_get(&srv.url(), "/admin/v1/records?kind=checkin&status=expired").await;
    assert_eq!(v["count"], 2_100);
    // A retry, or a link of a record the server holds, is already applied; a link's id
    // never comes back as a record.
    let r = c.push(&[link(&gone[0]), link(&first)]).await;
    assert_eq!(
        (status_of(&r, 0), status_of(&r, 1)),
        ("already_applied".into(), "already_applied".into())
    );
    let r = c.push(std::slice::from_ref(&gone[1])).await;
    assert_eq!(reason_of(&r, 0), codes::MUTATION_ID_REUSED);
    assert_eq!(count(&srv.url(), "checkin").await, 2);
    // Links count as what the server holds of the device's log.
    let (_, h) = c.get_json(&wire::handshake_path(Some(1))).await;
    assert_eq!(h["device_last_seq"], 2_102, "{h}");
    srv.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-1");
    let mut d = Device::new("dev-1", W1);
    let m = d.checkin("p-00001");

    let (s, v) = c
        .push_raw(b"{\"device_id\": \"dev-1\", \"mutations\": [".to_vec())
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], codes::MALFORMED_JSON);

    let mut body = json!({"device_id": "dev-1", "mutations": [m], "extra": true});
    let (s, v) = c.push_raw(body.to_string().into_bytes()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["code"], codes::INVALID_REQUEST);

    body = json!({"device_id": "dev-1", "mutations": [{"mutation_id": 5}]});
    let (s, _) = c.push_raw(body.to_string().into_bytes()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let huge = vec![b' '; wire::MAX_PUSH_BYTES + 10];
    let (s, v) = c.push_raw(huge).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(v["error"]["code"], codes::TOO_LARGE);

    // Body names another device than the header.
    body = json!({"device_id": "dev-2", "mutations": [m]});
    let (s, _) = c.push_raw(body.to_string().into_bytes()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Worker 2's token pushing worker 1's records: refused whole, nothing stored.
    let other = Client::new(&srv.url(), T2, "dev-1");
    let (s, v) = other
        .push_raw(
            json!({"device_id": "dev-1", "mutations": [m]})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["error"]["code"], codes::WORKER_MISMATCH);

    let (_, v) = admin_get(&srv.url(), "/admin/v1/records").await;
    assert_eq!(v["counts"]["checkin"], 0);
    assert_eq!(v["rejected"], 0);
    // Still serving, and the refused mutation goes through with the right token.
    let r = c.push(&[m]).await;
    assert_eq!(status_of(&r, 0), "applied");
    // Admin endpoints need the admin token.
    let r = reqwest::Client::new()
        .get(format!("{}/admin/v1/records", srv.url()))
        .bearer_auth(T1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    srv.shutdown().await;
}

#[tokio::test]
async fn photos_resume_verify_and_unlock_reports() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-1");
    let (bytes, sha) = photo_bytes(300_000, 7);
    let total = bytes.len() as u64;

    let (s, v) = c.get_json(&wire::photo_path(&sha)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["offset"], 0);
    assert_eq!(v["complete"], false);

    // First part, then the link drops.
    let (s, v) = patch_photo(&c, &sha, 0, total, bytes[..100_000].to_vec()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["offset"], 100_000);
    assert_eq!(v["complete"], false);
    // HEAD tells how much is held.
    let r = c
        .req(Method::HEAD, &wire::photo_path(&sha))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()[wire::HEADER_UPLOAD_OFFSET], "100000");
    assert_eq!(r.headers()[wire::HEADER_UPLOAD_COMPLETE], "?0");
    // A wrong offset: 409 with the right one.
    let (s, v) = patch_photo(&c, &sha, 50_000, total, bytes[50_000..].to_vec()).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["error"]["code"], codes::OFFSET_MISMATCH);
    assert_eq!(v["error"]["offset"], 100_000);
    // A report needing it is refused while it is partial.
    let mut d = Device::new("dev-1", W1);
    let report = d.report(&[(&sha, total)]);
    let r = c.push(&[report]).await;
    assert_eq!(reason_of(&r, 0), codes::MISSING_PHOTO);
    // The rest.
    let (s, v) = patch_photo(&c, &sha, 100_000, total, bytes[100_000..].to_vec()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true);
    // Already complete: answered at once.
    let (s, v) = patch_photo(&c, &sha, 0, total, bytes.clone()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["complete"], true);
    // Now a report with it goes through.
    let report = d.report(&[(&sha, total)]);
    let r = c.push(&[report]).await;
    assert_eq!(status_of(&r, 0), "applied", "{r:?}");
    // The admin gets the exact bytes back.
    assert!(admin_photo(&srv.url(), &sha).await == bytes);

    // Bytes that do not match their address are discarded.
    let (other, _) = photo_bytes(5_000, 9);
    let (_, wrong_sha) = photo_bytes(5_000, 10);
    let (s, v) = patch_photo(&c, &wrong_sha, 0, 5_000, other).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["error"]["code"], codes::PHOTO_HASH_MISMATCH);
    let (_, v) = c.get_json(&wire::photo_path(&wrong_sha)).await;
    assert_eq!(v["offset"], 0);
    // Over the cap, a body past the announced length, a bad address, a bad media type.
    let (s, _) = patch_photo(&c, &wrong_sha, 0, wire::MAX_PHOTO_BYTES + 1, vec![1]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (s, _) = patch_photo(&c, &wrong_sha, 0, 10, vec![0; 20]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, v) = c.get_json(&wire::photo_path(&wrong_sha)).await;
    assert_eq!(v["offset"], 0);
    let (s, _) = patch_photo(&c, "../../etc/passwd", 0, 10, vec![0; 10]).await;
    assert!(s == StatusCode::BAD_REQUEST || s == StatusCode::NOT_FOUND);
    let r = c
        .req(Method::PATCH, &wire::photo_path(&wrong_sha))
        .header(wire::HEADER_UPLOAD_OFFSET, 0)
        .header(wire::HEADER_UPLOAD_LENGTH, 3)
        .header("content-type", "text/plain")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    srv.shutdown().await;
}

fn of_type<'a>(changes: &'a [Value], t: &str) -> Vec<&'a Value> {
    changes.iter().filter(|c| c["type"] == t).collect()
}

#[tokio::test]
async fn pull_is_scoped_paginated_and_follows_admin_changes() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let c1 = Client::new(&base, T1, "dev-1");
    let c2 = Client::new(&base, T2, "dev-2");

    let (all, cursor) = c1.pull_all(None, 7).await;
    assert_eq!(of_type(&all, "grid_upsert").len(), 1);
    assert_eq!(of_type(&all, "worker_grids").len(), 1);
    assert!(!of_type(&all, "point_upsert").is_empty());
    assert!(!of_type(&all, "household_upsert").is_empty());
    assert!(
        all.iter()
            .filter(|c| c["grid_code"].is_string())
            .all(|c| c["grid_code"] == "g-0001"),
        "only the worker's grid"
    );
    assert!(
        all.iter()
            .all(|c| c["type"] != "grid_upsert" || c["crs"] == "gcj02")
    );
    // One page at once gives the same.
    let (one, _) = c1.pull_all(None, 5000).await;
    assert_eq!(one.len(), all.len());
    // Caught up.
    let (none, same) = c1.pull_all(Some(cursor.clone()), 100).await;
    assert!(none.is_empty());
    assert_eq!(same, cursor);

    // Reference data changes.
    let (s, _) = admin_send(
        &base,
        Method::PUT,
        "/admin/v1/points/p-new",
        json!({"grid_code": "g-0001", "name": "新点", "crs": "gcj02", "lat": 45.2980, "lon": 130.9500, "radius_m": 30.0}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = admin_send(
        &base,
        Method::DELETE,
        "/admin/v1/households/h-000001",
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Moving a point to another grid removes it from this worker's view.
    let (s, _) = admin_send(
        &base,
        Method::PUT,
        "/admin/v1/points/p-00002",
        json!({"grid_code": "g-0002", "name": "moved", "crs": "gcj02", "lat": 45.2980, "lon": 130.9600, "radius_m": 50.0}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (ch, cursor) = c1.pull_all(Some(cursor), 100).await;
    // The removed household's residents leave the phone with it (protocol 4 clients).
    let residents_gone = ch.iter().filter(|c| c["type"] == "resident_delete").count();
    assert!(residents_gone >= 1, "{ch:?}");
    let ch: Vec<&serde_json::Value> = ch
        .iter()
        .filter(|c| c["type"] != "resident_delete")
        .collect();
    let types: Vec<&str> = ch.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        vec!["point_upsert", "household_delete", "point_delete"]
    );
    assert_eq!(ch[0]["id"], "p-new");
    assert_eq!(ch[2]["id"], "p-00002");
    // Bad input to the admin API.
    let (s, _) = admin_send(
        &base,
        Method::PUT,
        "/admin/v1/points/p-bad",
        json!({"grid_code": "g-0001", "name": "x", "crs": "gcj02", "lat": 95.0, "lon": 130.0, "radius_m": 1.0}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // A report by worker 1 in g-0001; worker 2 joins g-0001 and sees it for the hint.
    let (bytes, sha) = photo_bytes(1000, 1);
    let (s, _) = patch_photo(&c1, &sha, 0, 1000, bytes).await;
    assert_eq!(s, StatusCode::OK);
    let mut d = Device::new("dev-1", W1);
    let rep = d.report(&[(&sha, 1000)]);
    let report_id = rep.record_id.clone();
    assert_eq!(status_of(&c1.push(&[rep]).await, 0), "applied");
    let (_, c2_cursor) = c2.pull_all(None, 5000).await;
    let (s, _) = admin_send(
        &base,
        Method::PUT,
        "/admin/v1/workers/w-0002/grids",
        json!({"grid_codes": ["g-0002", "g-0001"]}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (ch2, c2_cursor) = c2.pull_all(Some(c2_cursor), 500).await;
    assert_eq!(of_type(&ch2, "worker_grids").len(), 1);
    // p-00002 left g-0001 for g-0002, which this worker already holds: g-0001's old delete
    // of it must not come again after its upsert in g-0002 (the phone would drop a point of
    // its own grid); nothing a phone gaining a grid gets is a delete.
    assert!(
        ch2.iter()
            .all(|c| !c["type"].as_str().unwrap_or("").ends_with("_delete")),
        "{ch2:?}"
    );
    assert_eq!(
        of_type(&ch2, "grid_upsert").len(),
        1,
        "the new grid arrives"
    );
    let seen = of_type(&ch2, "report_upsert");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["id"], report_id.as_str());
    assert_eq!(seen[0]["status"], "submitted");
    // The author does not get their own report as someone else's.
    let (ch, cursor) = c1.pull_all(Some(cursor), 100).await;
    assert!(of_type(&ch, "report_upsert").is_empty());

    // The closed loop.
    let tr = |to: &str| {
        let base = base.clone();
        let path = format!("/admin/v1/reports/{report_id}/transition");
        let to = to.to_string();
        async move {
            admin_send(
                &base,
                Method::POST,
                &path,
                json!({"to": to, "department": "水务局"}),
            )
            .await
        }
    };
    assert_eq!(tr("dispatched").await.0, StatusCode::CONFLICT);
    assert_eq!(tr("accepted").await.0, StatusCode::OK);
    let (s, v) = tr("dispatched").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["department"], "水务局");
    let (ch, cursor) = c1.pull_all(Some(cursor), 100).await;
    let st = of_type(&ch, "report_status");
    assert_eq!(st.len(), 1, "only the latest state: {ch:?}");
    assert_eq!(st[0]["status"], "dispatched");
    assert_eq!(st[0]["department"], "水务局");
    let (s, v) = admin_send(
        &base,
        Method::POST,
        &format!("/admin/v1/reports/{report_id}/transition"),
        json!({"to": "resolved", "bogus": 1}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (ch2, _) = c2.pull_all(Some(c2_cursor), 100).await;
    assert_eq!(of_type(&ch2, "report_upsert")[0]["status"], "dispatched");

    // A task dispatched to worker 1, acknowledged from the phone.
    let (s, task) = admin_send(
        &base,
        Method::POST,
        "/admin/v1/tasks",
        json!({"worker_id": W1, "title": "查看井盖", "description": "3号楼", "crs": "gcj02", "lat": 45.298, "lon": 130.95, "linked_report_id": report_id}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{task}");
    let task_id = task["id"].as_str().unwrap().to_string();
    let (ch, cursor) = c1.pull_all(Some(cursor), 100).await;
    let t = of_type(&ch, "task_upsert");
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["status"], "dispatched");
    assert!(of_type(&c2.pull_all(None, 5000).await.0, "task_upsert").is_empty());
    let ack = d.task_ack(&task_id);
    assert_eq!(status_of(&c1.push(&[ack]).await, 0), "applied");
    let (ch, _) = c1.pull_all(Some(cursor), 100).await;
    assert_eq!(of_type(&ch, "task_upsert")[0]["status"], "acknowledged");

    // Cursors.
    let (s, v) = c1.get_json("/v1/changes?cursor=abc").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], codes::BAD_CURSOR);
    let (s, v) = c1.get_json("/v1/changes?cursor=999999999").await;
    assert_eq!(s, StatusCode::GONE);
    assert_eq!(v["error"]["code"], codes::CURSOR_EXPIRED);
    srv.shutdown().await;
}

#[tokio::test]
async fn concurrent_pushes_from_many_devices_all_land_once() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let base = srv.url();
        tasks.push(tokio::spawn(async move {
            let dev = format!("dev-c{i}");
            let c = Client::new(&base, T1, &dev);
            let mut d = Device::new(&dev, W1);
            for _ in 0..5 {
                let batch: Vec<_> = (0..20).map(|_| d.checkin("p-00001")).collect();
                let r = c.push(&batch).await;
                // Every batch twice, as after a lost reply.
                let again = c.push(&batch).await;
                assert!((0..20).all(|i| status_of(&r, i) == "applied"));
                assert!((0..20).all(|i| status_of(&again, i) == "already_applied"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(count(&srv.url(), "checkin").await, 6 * 5 * 20);
    srv.shutdown().await;
}

type BodyFeed = tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>;
type Sent = tokio::task::JoinHandle<Result<reqwest::Response, reqwest::Error>>;

/// A PATCH whose body the test feeds by hand: the returned sender sends more of it, or an
/// error that breaks the upload off the way a dropped link does.
fn open_upload(c: &Client, sha: &str, total: u64) -> (BodyFeed, Sent) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|c| (c, rx))
    }));
    let req = c
        .req(Method::PATCH, &wire::photo_path(sha))
        .header(wire::HEADER_UPLOAD_OFFSET, 0)
        .header(wire::HEADER_UPLOAD_LENGTH, total)
        .header("content-type", "image/jpeg")
        .body(body);
    (tx, tokio::spawn(req.send()))
}

/// Waits until the server writes a part of this photo (its upload slot is then held and the
/// bytes sent so far go into that part). On disk only: an S3 multipart upload is invisible
/// until it completes.
async fn upload_begun(data: &std::path::Path, sha: &str) {
    let dir = data.join("photos").join("partial");
    for _ in 0..500 {
        let begun = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(sha));
        if begun {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the server never began writing the upload");
}

/// A node that recorded the last part and died before assembling the photo leaves an upload
/// whose offset is its length but which is not complete (the state is made here by hand, on
/// SQLite and the photo directory: a part object and its row). The device, told offset =
/// length, sends an empty body at the end; that assembles the photo.
#[tokio::test]
async fn an_upload_whose_last_part_was_recorded_but_not_assembled_completes_on_an_empty_patch() {
    if gridworker_testkit::postgres::selected() || gridworker_testkit::s3::selected() {
        eprintln!("the state is made by hand in the SQLite file and the photo directory");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-1");
    let (bytes, sha) = photo_bytes(300_000, 31);
    let (s, v) = patch_photo(&c, &sha, 0, 300_000, bytes[..100_000].to_vec()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    srv.shutdown().await;
    std::fs::write(dir.path().join("photos/partial/by-hand"), &bytes[100_000..]).unwrap();
    let db = rusqlite::Connection::open(dir.path().join("server.sqlite")).unwrap();
    db.execute(
        "INSERT INTO photo_parts (sha256, worker_id, device_id, start_offset, length, object)
         VALUES (?1, ?2, 'dev-1', 100000, 200000, 'partial/by-hand')",
        [&sha, W1],
    )
    .unwrap();
    db.execute(
        "UPDATE partial_uploads SET received = 300000 WHERE sha256 = ?1",
        [&sha],
    )
    .unwrap();
    drop(db);

    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-1");
    let (_, v) = c.get_json(&wire::photo_path(&sha)).await;
    assert_eq!(v["offset"], 300_000, "{v}");
    assert_eq!(v["complete"], false, "{v}");
    let (s, v) = patch_photo(&c, &sha, 300_000, 300_000, Vec::new()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true, "{v}");
    assert!(admin_photo(&srv.url(), &sha).await == bytes);
    assert!(
        !dir.path().join("photos/partial/by-hand").exists(),
        "the assembled parts are deleted"
    );
    srv.shutdown().await;

    // A photo sent whole whose part was promoted to the complete object, after which the
    // transaction recording it failed: its part row points at an object that is gone.
    let (bytes, sha) = photo_bytes(50_000, 32);
    std::fs::write(dir.path().join("photos").join(&sha), &bytes).unwrap();
    let db = rusqlite::Connection::open(dir.path().join("server.sqlite")).unwrap();
    db.execute(
        "INSERT INTO partial_uploads (sha256, worker_id, device_id, length, media_type, file,
             started_at, updated_at, received)
         VALUES (?1, ?2, 'dev-1', 50000, 'image/jpeg', 'x', ?3, ?3, 50000)",
        rusqlite::params![sha, W1, chrono::Utc::now()],
    )
    .unwrap();
    db.execute(
        "INSERT INTO photo_parts (sha256, worker_id, device_id, start_offset, length, object)
         VALUES (?1, ?2, 'dev-1', 0, 50000, 'partial/promoted-away')",
        [&sha, W1],
    )
    .unwrap();
    drop(db);
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-1");
    let (s, v) = patch_photo(&c, &sha, 50_000, 50_000, Vec::new()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true, "{v}");
    assert!(admin_photo(&srv.url(), &sha).await == bytes);
    srv.shutdown().await;
}

/// A client whose upload broke off asks for the offset and resumes at once, while the server
/// may still be reading the broken request. The status waits for that upload to end and
/// gives the offset it ended at; a resume arriving meanwhile waits too instead of a 503.
/// (Before, the status answered with an offset still moving, or the resume got a 503, and
/// the client streamed half the remaining file into the refusal: the resume bench measured
/// 53-63 % of a 20 MB photo sent twice.)
#[tokio::test]
async fn a_resume_during_a_broken_upload_waits_for_it_and_continues_where_it_ended() {
    if gridworker_testkit::s3::selected() {
        eprintln!("on disk only: the test watches the photo directory for the upload's start");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-1");

    // The status asked while the broken upload is still being read.
    let (bytes, sha) = photo_bytes(300_000, 9);
    let total = bytes.len() as u64;
    let (feed, first) = open_upload(&c, &sha, total);
    feed.send(Ok(bytes[..100_000].to_vec())).await.unwrap();
    upload_begun(dir.path(), &sha).await;
    let rest = bytes[100_000..150_000].to_vec();
    let breaker = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        feed.send(Ok(rest)).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let _ = feed.send(Err(std::io::Error::other("link dropped"))).await;
    });
    let (s, v) = c.get_json(&wire::photo_path(&sha)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["offset"], 150_000, "{v}");
    breaker.await.unwrap();
    assert!(
        first.await.unwrap().is_err(),
        "the broken upload fails on the client"
    );
    let (s, v) = patch_photo(&c, &sha, 150_000, total, bytes[150_000..].to_vec()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true, "{v}");

    // A resume sent while the broken upload is still being read.
    let (bytes, sha) = photo_bytes(300_000, 10);
    let (feed, first) = open_upload(&c, &sha, total);
    feed.send(Ok(bytes[..150_000].to_vec())).await.unwrap();
    upload_begun(dir.path(), &sha).await;
    let breaker = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let _ = feed.send(Err(std::io::Error::other("link dropped"))).await;
    });
    let (s, v) = patch_photo(&c, &sha, 150_000, total, bytes[150_000..].to_vec()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true, "{v}");
    breaker.await.unwrap();
    let _ = first.await.unwrap();
}

/// docs/vectors/chain.json (hashed by Python's hashlib, not by our code) is a chain the
/// reference server accepts link by link, intact, with each payload stored as sent.
#[tokio::test]
async fn the_chain_vectors_are_applied_as_an_intact_chain() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/chain.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let device = v["device_id"].as_str().unwrap();
    assert_eq!(v["worker_id"], W1);
    let c = Client::new(&srv.url(), T1, device);
    let links = v["links"].as_array().unwrap();
    let muts: Vec<wire::Mutation> = links
        .iter()
        .map(|l| {
            serde_json::from_value(json!({
                "mutation_id": l["mutation_id"],
                "seq": l["seq"],
                "kind": l["kind"],
                "record_id": l["record_id"],
                "payload": l["payload"],
                "device_time": "2026-11-30T09:30:00Z",
                "monotonic_ms": 86_400_000,
                "prev_hash": l["prev_hash"],
                "hash": l["hash"],
            }))
            .unwrap()
        })
        .collect();
    let r = c.push(&muts).await;
    for i in 0..links.len() {
        assert_eq!(
            status_of(&r, i),
            "applied",
            "link {}: {:?}",
            i + 1,
            r.results[i]
        );
    }
    assert_eq!(r.chain_breaks, 0);
    let (s, chain) = admin_get(&srv.url(), &format!("/admin/v1/chain?device={device}")).await;
    assert_eq!(s, StatusCode::OK, "{chain}");
    assert_eq!(chain["intact"], true, "{chain}");
    assert_eq!(chain["head_hash"], links[2]["hash"], "{chain}");
    srv.shutdown().await;
}

/// Issue 11: the identical-content check compares `device_time` as an instant. A retry that
/// spells the same instant differently (a server or proxy that normalised it: milliseconds
/// instead of nanoseconds, `+00:00` instead of `Z`) is the same mutation, not
/// `mutation_id_reused`; a different instant is different content.
#[tokio::test]
async fn a_retry_spelling_the_same_device_time_differently_is_the_same_mutation() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-times");
    let mut d = Device::new("dev-times", W1);
    let mut m = d.checkin("p-00001");
    m.device_time = chrono::DateTime::parse_from_rfc3339("2026-11-30T08:15:02.120000000Z")
        .unwrap()
        .to_utc();
    let r = c.push(std::slice::from_ref(&m)).await;
    assert_eq!(status_of(&r, 0), "applied");
    let body = |time: &str| {
        let mut v = serde_json::to_value(wire::PushRequest {
            device_id: "dev-times".into(),
            mutations: vec![m.clone()],
        })
        .unwrap();
        v["mutations"][0]["device_time"] = json!(time);
        serde_json::to_vec(&v).unwrap()
    };
    for same in ["2026-11-30T08:15:02.12Z", "2026-11-30T16:15:02.120+08:00"] {
        let (s, v) = c.push_raw(body(same)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["results"][0]["status"], "already_applied", "{same}: {v}");
    }
    let (s, v) = c.push_raw(body("2026-11-30T08:15:02.121Z")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["results"][0]["reason"]["code"],
        codes::MUTATION_ID_REUSED,
        "{v}"
    );
    srv.shutdown().await;
}

/// docs/vectors/push.json: every per-mutation rejection of protocol.md §4.2, with the
/// answer the document promises, replayed against the reference server as raw bodies.
#[tokio::test]
async fn the_push_vectors_get_the_documented_answers() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/push.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    assert_eq!(v["worker_id"], W1);
    let (s, body) = admin_send(
        &srv.url(),
        Method::POST,
        "/admin/v1/tasks",
        v["setup"]["task"].clone(),
    )
    .await;
    assert!(s.is_success(), "{s} {body}");
    let c = Client::new(&srv.url(), T1, v["device_id"].as_str().unwrap());
    for (i, req) in v["requests"].as_array().unwrap().iter().enumerate() {
        let (s, reply) = c.push_raw(serde_json::to_vec(&req["body"]).unwrap()).await;
        assert_eq!(s, StatusCode::OK, "request {}: {reply}", i + 1);
        let expect = &req["expect"];
        assert_eq!(
            reply["chain_breaks"],
            expect["chain_breaks"],
            "request {}",
            i + 1
        );
        let got = reply["results"].as_array().unwrap();
        let want = expect["results"].as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g["mutation_id"], w["mutation_id"]);
            assert_eq!(g["status"], w["status"], "{w}: got {g}");
            if let Some(code) = w.get("code") {
                assert_eq!(&g["reason"]["code"], code, "{w}: got {g}");
            }
        }
    }
    srv.shutdown().await;
}

/// Issue 11: the order of the request checks and the answers to malformed requests, as
/// protocol.md §1.1 and §1.3 write them down.
#[tokio::test]
async fn the_order_of_request_checks_and_malformed_requests_get_the_documented_answers() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let url = format!("{}{}", srv.url(), wire::PATH_HANDSHAKE);
    let http = reqwest::Client::new();
    let send = |headers: Vec<(&'static str, String)>| {
        let mut r = http.get(&url);
        for (k, v) in headers {
            r = r.header(k, v);
        }
        async move {
            let r = r.send().await.unwrap();
            let s = r.status();
            let proto = r
                .headers()
                .get(wire::HEADER_PROTOCOL)
                .map(|v| v.to_str().unwrap().to_string());
            let v: Value = r.json().await.unwrap_or(Value::Null);
            (
                s,
                v["error"]["code"].as_str().unwrap_or("").to_string(),
                proto,
            )
        }
    };
    let proto = (wire::HEADER_PROTOCOL, wire::PROTOCOL_VERSION.to_string());
    let bad_token = ("authorization", "Bearer nope".to_string());
    let token = ("authorization", format!("Bearer {T1}"));
    let device = |d: &str| (wire::HEADER_DEVICE, d.to_string());
    // 1. protocol, before anything else.
    let r = send(vec![bad_token.clone()]).await;
    assert_eq!((r.0.as_u16(), r.1.as_str()), (400, codes::BAD_HEADER));
    let r = send(vec![(wire::HEADER_PROTOCOL, "0".into()), bad_token.clone()]).await;
    assert_eq!((r.0.as_u16(), r.1.as_str()), (426, codes::CLIENT_TOO_OLD));
    assert_eq!(
        r.2.as_deref(),
        Some("1"),
        "426 names the minimum in the header"
    );
    // 2. the token, before the device header.
    let r = send(vec![proto.clone(), bad_token]).await;
    assert_eq!((r.0.as_u16(), r.1.as_str()), (401, codes::UNAUTHORIZED));
    // 3. the worker header, before the device header.
    let r = send(vec![
        proto.clone(),
        token.clone(),
        (wire::HEADER_WORKER, W2.into()),
    ])
    .await;
    assert_eq!((r.0.as_u16(), r.1.as_str()), (403, codes::WORKER_MISMATCH));
    // 4. the device header: present, and an id by the payloads' rule.
    for d in [None, Some(""), Some("a/b"), Some("dev\t1")] {
        let mut h = vec![proto.clone(), token.clone()];
        h.extend(d.map(device));
        let r = send(h).await;
        assert_eq!(
            (r.0.as_u16(), r.1.as_str()),
            (400, codes::BAD_HEADER),
            "{d:?}"
        );
    }
    let r = send(vec![proto.clone(), token.clone(), device(&"d".repeat(129))]).await;
    assert_eq!(r.0.as_u16(), 400, "129-byte device id");
    let r = send(vec![proto, token, device("dev-ok")]).await;
    assert_eq!(r.0.as_u16(), 200);

    // Malformed parameters of the pull and the photo upload.
    let c = Client::new(&srv.url(), T1, "dev-ok");
    for (path, status, code) in [
        ("/v1/changes?limit=0", 422, codes::INVALID_REQUEST),
        ("/v1/changes?limit=abc", 422, codes::INVALID_REQUEST),
        ("/v1/changes?limt=10", 422, codes::INVALID_REQUEST),
        ("/v1/changes?cursor=garbage", 400, codes::BAD_CURSOR),
    ] {
        let (s, v) = c.get_json(path).await;
        assert_eq!(
            (s.as_u16(), v["error"]["code"].as_str().unwrap_or("")),
            (status, code),
            "{path}"
        );
    }
    // A limit above the maximum is served at the maximum, however large.
    for limit in ["99999", "4294967296", "99999999999999999999"] {
        let (s, v) = c.get_json(&format!("/v1/changes?limit={limit}")).await;
        assert_eq!(s, StatusCode::OK, "{limit}: {v}");
    }
    let (s, v) = patch_photo(&c, &"ab".repeat(32), 0, 0, vec![]).await;
    assert_eq!(
        (s.as_u16(), v["error"]["code"].as_str().unwrap()),
        (400, codes::BAD_HEADER)
    );
    // A seq below 1 is the mutation's own refusal, not the request's.
    let mut d = Device::new("dev-ok", W1);
    let p = d.checkin_json("p-00001");
    let m = d.mutation_at(0, "checkin", p["id"].as_str().unwrap(), p.to_string());
    let r = c.push(&[m]).await;
    assert_eq!(reason_of(&r, 0), codes::INVALID_PAYLOAD);
    srv.shutdown().await;
}

/// Whether every key of `want` is in `got` with the same value (nested objects alike): a
/// vector lists what a server must answer, a server may add fields (§1, lenient output).
fn contains_json(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| contains_json(gv, wv))),
        _ => got == want,
    }
}

/// docs/vectors/photo.json: an upload cut after 600 bytes and resumed, exchange by exchange.
#[tokio::test]
async fn the_photo_vectors_get_the_documented_answers() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/photo.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let bytes = hex::decode(v["bytes_hex"].as_str().unwrap()).unwrap();
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        v["sha256"]
    );
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-photo-vectors");
    for (i, x) in v["exchanges"].as_array().unwrap().iter().enumerate() {
        let req = &x["request"];
        let method = Method::from_bytes(req["method"].as_str().unwrap().as_bytes()).unwrap();
        let mut r = c.req(method, req["path"].as_str().unwrap());
        for (k, hv) in req["headers"].as_object().into_iter().flatten() {
            r = r.header(k.as_str(), hv.as_str().unwrap());
        }
        if let Some(b) = req.get("body") {
            let (from, to) = (b["from"].as_u64().unwrap(), b["to"].as_u64().unwrap());
            r = r.body(bytes[from as usize..to as usize].to_vec());
        }
        let resp = r.send().await.unwrap();
        let want = &x["response"];
        assert_eq!(
            resp.status().as_u16() as u64,
            want["status"].as_u64().unwrap(),
            "exchange {}",
            i + 1
        );
        for (k, hv) in want["headers"].as_object().into_iter().flatten() {
            assert_eq!(
                resp.headers().get(k.as_str()).and_then(|h| h.to_str().ok()),
                hv.as_str(),
                "exchange {}: header {k}",
                i + 1
            );
        }
        if let Some(wj) = want.get("json") {
            let got: Value = resp.json().await.unwrap();
            assert!(
                contains_json(&got, wj),
                "exchange {}: {got} lacks {wj}",
                i + 1
            );
        }
    }
    srv.shutdown().await;
}

/// docs/vectors/pull.json: from a caught-up cursor, the latest state of each changed item
/// once, in order, paged by `limit`.
#[tokio::test]
async fn the_pull_vectors_page_the_latest_states_in_order() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/pull.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    assert_eq!(v["worker_id"], W1);
    let c = Client::new(&srv.url(), T1, "dev-pull-vectors");
    let (_, caught_up) = c.pull_all(None, 5_000).await;
    for step in v["setup"].as_array().unwrap() {
        let method = Method::from_bytes(step["method"].as_str().unwrap().as_bytes()).unwrap();
        let body = step.get("body").cloned().unwrap_or(Value::Null);
        let (s, reply) = admin_send(&srv.url(), method, step["path"].as_str().unwrap(), body).await;
        assert!(s.is_success(), "{step}: {s} {reply}");
    }
    let limit = v["limit"].as_u64().unwrap() as u32;
    let mut cursor = Some(caught_up);
    for (i, page) in v["pages"].as_array().unwrap().iter().enumerate() {
        let (s, got) = c.get_json(&wire::pull_path(cursor.as_deref(), limit)).await;
        assert_eq!(s, StatusCode::OK, "page {}: {got}", i + 1);
        let changes = got["changes"].as_array().unwrap();
        let want = page["changes"].as_array().unwrap();
        assert_eq!(changes.len(), want.len(), "page {}: {got}", i + 1);
        for (g, w) in changes.iter().zip(want) {
            assert!(contains_json(g, w), "page {}: {g} lacks {w}", i + 1);
        }
        assert_eq!(got["has_more"], page["has_more"], "page {}", i + 1);
        cursor = got["next_cursor"].as_str().map(str::to_string);
    }
    srv.shutdown().await;
}

/// Issue 11: a mutation rejected for its content still stores its link, so a link that does
/// not follow is a chain break even though no record is kept (protocol.md §4.3).
#[tokio::test]
async fn a_rejected_mutation_whose_link_does_not_follow_is_a_chain_break() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-breaks");
    let mut d = Device::new("dev-breaks", W1);
    let first = d.checkin("p-00001");
    let _deleted = d.checkin("p-00002");
    // Seq 3 follows the deleted seq 2, not the server's head: a break, and invalid too.
    let mut bad = d.checkin_json("p-00003");
    bad["position"]["lat"] = json!(95.0);
    let id = bad["id"].as_str().unwrap().to_string();
    let third = d.mutation("checkin", &id, bad.to_string());
    let r = c.push(&[first, third.clone()]).await;
    assert_eq!(status_of(&r, 0), "applied");
    assert_eq!(reason_of(&r, 1), codes::INVALID_PAYLOAD);
    assert_eq!(r.chain_breaks, 1);
    let (_, v) = admin_get(&srv.url(), "/admin/v1/chain?device=dev-breaks").await;
    assert_eq!(v["intact"], false, "{v}");
    assert_eq!(
        v["chain_breaks"][0]["mutation_id"], third.mutation_id,
        "{v}"
    );
    srv.shutdown().await;
}

/// A prepared statement's cached generic plan on PostgreSQL is made from the table's size at
/// its sixth run: on a fresh database an empty table, and a batch's lookup of record ids then
/// scanned every row until the table was analysed again, a minute later. The server's
/// connections plan each run for its own parameters.
#[test]
fn on_postgresql_each_run_of_a_statement_is_planned_for_its_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = gridworker_testkit::postgres::database_for(dir.path()) else {
        return; // The SQLite run: SQLite plans each statement when it is prepared.
    };
    let db = gridworker_server::store::Db::open(
        &gridworker_server::store::Database::Postgres(url),
        dir.path(),
        2,
    )
    .expect("the database opens");
    let mode: String = db
        .read(|tx| tx.query_row("SHOW plan_cache_mode", (), |r| r.get(0)))
        .expect("the setting reads");
    assert_eq!(mode, "force_custom_plan");
}

/// §4.2/§4.4: an altered withdrawal link is refused (`mutation_id_reused`: a replay with
/// different content); it is never `already_applied`. A payload the server does not keep is
/// compared through the hash (it was compared as "anything").
#[tokio::test]
async fn an_altered_replay_of_a_withdrawal_link_is_not_already_applied() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-w7");
    let mut d = Device::new("dev-w7", W1);
    let mut link = d.checkin("p-00001");
    link.withdrawn = true;
    let r = c.push(std::slice::from_ref(&link)).await;
    assert_eq!(status_of(&r, 0), "applied", "{r:?}");
    // The same id, seq, link and hash, but another payload: the hash no longer matches it.
    let mut altered = link.clone();
    altered.payload = altered.payload.replace("p-00001", "p-00002");
    assert_ne!(altered.payload, link.payload);
    let r = c.push(std::slice::from_ref(&altered)).await;
    let status = status_of(&r, 0);
    assert_ne!(
        status, "already_applied",
        "altered withdrawal link accepted as a replay: {r:?}"
    );
    assert!(
        [codes::HASH_MISMATCH, codes::MUTATION_ID_REUSED].contains(&reason_of(&r, 0).as_str()),
        "{r:?}"
    );
    srv.shutdown().await;
}

/// The same for a payload refused as invalid (kept only as its hash): a replay with another
/// payload under the same id is "different content" (`mutation_id_reused`), not the first
/// answer again.
#[tokio::test]
async fn an_altered_replay_of_an_invalid_payload_is_refused_as_another_content() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-w8");
    let mut d = Device::new("dev-w8", W1);
    let m = d.mutation("checkin", "c-1", "{\"not\":\"a checkin\"}".to_string());
    let r = c.push(std::slice::from_ref(&m)).await;
    assert_eq!(reason_of(&r, 0), codes::INVALID_PAYLOAD, "{r:?}");
    let mut altered = m.clone();
    altered.payload = "{\"other\":\"content\"}".to_string();
    let r = c.push(std::slice::from_ref(&altered)).await;
    assert!(
        [codes::HASH_MISMATCH, codes::MUTATION_ID_REUSED].contains(&reason_of(&r, 0).as_str()),
        "different content under a stored id answered as the first time: {r:?}"
    );
    srv.shutdown().await;
}

/// A link with seq 0 (refused: seq starts at 1) never becomes the device's head: the
/// device's honest seq 1 after it follows GENESIS and is no chain break (it was one).
#[tokio::test]
async fn a_link_below_seq_1_does_not_become_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let c = Client::new(&srv.url(), T1, "dev-s0");
    let mut broken = Device::new("dev-s0", W1);
    let zero = broken.mutation_at(0, "checkin", "c-0", "{}".to_string());
    let r = c.push(&[zero]).await;
    assert_eq!(status_of(&r, 0), "rejected", "{r:?}");
    let mut honest = Device::new("dev-s0", W1);
    let first = honest.checkin("p-00001");
    let r = c.push(&[first]).await;
    assert_eq!(
        (status_of(&r, 0).as_str(), r.chain_breaks),
        ("applied", 0),
        "{r:?}"
    );
    srv.shutdown().await;
}
