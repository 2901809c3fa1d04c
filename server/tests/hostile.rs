//! Regression tests of reliability issue #8 (server side): hostile or broken peers against
//! the real server on 127.0.0.1 with real SQLite files.

mod common;

use std::time::Duration;

use common::*;
use gridworker_core::sync::wire::{self, codes};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn bind(base: &str, device: &str, worker: &str) -> (StatusCode, Value) {
    admin_send(
        base,
        Method::POST,
        &format!("/admin/v1/devices/{device}/bind"),
        json!({"worker_id": worker}),
    )
    .await
}

#[tokio::test]
async fn defect3_first_handshake_binds_the_device_before_anything_is_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    // The owner's phone syncs with nothing to send yet: its handshake alone binds the id.
    let owner = Client::new(&base, T1, "dev-new");
    let (s, _) = owner.get_json(wire::PATH_HANDSHAKE).await;
    assert_eq!(s, StatusCode::OK);
    let thief = Client::new(&base, T2, "dev-new");
    let mut forged = Device::new("dev-new", W2);
    let payload = forged.checkin_json("p-00001");
    let id = payload["id"].as_str().unwrap().to_string();
    let m = forged.mutation_at(1, "checkin", &id, payload.to_string());
    let (s, v) = thief
        .push_raw(
            json!({"device_id": "dev-new", "mutations": [m]})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(count(&base, "checkin").await, 0);
    // The owner's first record is taken as usual.
    let mut honest = Device::new("dev-new", W1);
    let r = owner.push(&[honest.checkin("p-00001")]).await;
    assert_eq!(status_of(&r, 0), "applied");
}

#[tokio::test]
async fn defect3_device_bound_to_first_worker() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let owner = Client::new(&base, T1, "dev-a");
    let mut honest = Device::new("dev-a", W1);
    let r = owner.push(&[honest.checkin("p-00001")]).await;
    assert_eq!(status_of(&r, 0), "applied");

    // Worker 2 pushes its own record under worker 1's device id, far ahead in seq.
    let thief = Client::new(&base, T2, "dev-a");
    let mut forged = Device::new("dev-a", W2);
    let payload = forged.checkin_json("p-00001");
    let id = payload["id"].as_str().unwrap().to_string();
    let m = forged.mutation_at(1_000_000_000_000_000, "checkin", &id, payload.to_string());
    let (s, v) = thief
        .push_raw(
            json!({"device_id": "dev-a", "mutations": [m]})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], codes::DEVICE_BOUND);
    // Nor may it upload photos or read state as that device.
    let (bytes, sha) = photo_bytes(100, 3);
    let (s, v) = patch_photo(&thief, &sha, 0, 100, bytes.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = thief.get_json(wire::PATH_HANDSHAKE).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(count(&base, "checkin").await, 1);

    // The owner's chain goes on unbroken.
    let r = owner.push(&[honest.checkin("p-00002")]).await;
    assert_eq!(status_of(&r, 0), "applied");
    assert_eq!(r.chain_breaks, 0);
    let (_, chain) = admin_get(&base, "/admin/v1/chain?device=dev-a").await;
    assert_eq!(chain["intact"], true);
    assert_eq!(chain["head_seq"], 2);

    // A reissued phone: the admin gives the device to worker 2, whose wiped phone starts a
    // new chain; worker 1's token is refused from now on.
    let (s, v) = bind(&base, "dev-a", W2).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["previous_worker_id"], W1);
    let mut reissued = Device::new("dev-a", W2);
    let r = thief.push(&[reissued.checkin("p-00001")]).await;
    assert_eq!(status_of(&r, 0), "applied");
    assert_eq!(r.chain_breaks, 0);
    let (s, v) = owner
        .push_raw(
            json!({"device_id": "dev-a", "mutations": [honest.checkin("p-00001")]})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["error"]["code"], codes::DEVICE_BOUND);
    // Only the admin may bind, and only to a known worker.
    let (s, _) = bind(&base, "dev-a", "w-nobody").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let r = reqwest::Client::new()
        .post(format!("{base}/admin/v1/devices/dev-a/bind"))
        .bearer_auth(T1)
        .json(&json!({"worker_id": W1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    srv.shutdown().await;
}

#[tokio::test]
async fn defect3_seq_gap_too_large_is_refused_not_taken_as_head() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let c = Client::new(&base, T1, "dev-g");
    let mut d = Device::new("dev-g", W1);
    assert_eq!(
        status_of(&c.push(&[d.checkin("p-00001")]).await, 0),
        "applied"
    );
    let head = d.head.clone();

    // A link far ahead (a correct hash, so only its seq is wrong).
    let far = {
        let payload = d.checkin_json("p-00001");
        let id = payload["id"].as_str().unwrap().to_string();
        d.mutation_at(
            1 + wire::MAX_PUSH_MUTATIONS as i64 + 1,
            "checkin",
            &id,
            payload.to_string(),
        )
    };
    let r = c.push(std::slice::from_ref(&far)).await;
    assert_eq!(reason_of(&r, 0), codes::SEQ_GAP_TOO_LARGE);
    // The device's next honest link (seq 2 after the head) is no chain break.
    d.seq = 1;
    d.head = head;
    let r = c.push(&[d.checkin("p-00002")]).await;
    assert_eq!(status_of(&r, 0), "applied");
    assert_eq!(r.chain_breaks, 0);
    let (_, chain) = admin_get(&base, "/admin/v1/chain?device=dev-g").await;
    assert_eq!(chain["head_seq"], 2);
    assert_eq!(chain["intact"], true);
    // Exactly one batch ahead is still fine (a device pushing its log in order).
    let next = d.seq + wire::MAX_PUSH_MUTATIONS as i64;
    let payload = d.checkin_json("p-00001");
    let id = payload["id"].as_str().unwrap().to_string();
    let r = c
        .push(&[d.mutation_at(next, "checkin", &id, payload.to_string())])
        .await;
    assert_eq!(status_of(&r, 0), "applied");
    let v = admin_counts(&base).await;
    assert_eq!(v["reasons"][codes::SEQ_GAP_TOO_LARGE], 1, "{v}");
    assert_eq!(count(&base, "checkin").await, 3);
    srv.shutdown().await;
}

#[tokio::test]
async fn defect3_mutation_ids_are_scoped_to_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    // Worker 2 squats an id that worker 1's device is about to use.
    let mut d1 = Device::new("dev-1", W1);
    let victim = d1.checkin("p-00001");
    let mut d2 = Device::new("dev-2", W2);
    let squat = {
        let payload = d2.checkin_json("p-00010");
        let id = payload["id"].as_str().unwrap().to_string();
        let mut m = d2.mutation("checkin", &id, payload.to_string());
        m.mutation_id = victim.mutation_id.clone();
        m.hash = gridworker_core::chain::link_hash(
            &m.prev_hash,
            m.seq,
            &m.kind,
            &m.mutation_id,
            &m.payload,
        );
        m
    };
    let c2 = Client::new(&base, T2, "dev-2");
    assert_eq!(status_of(&c2.push(&[squat]).await, 0), "applied");
    let c1 = Client::new(&base, T1, "dev-1");
    let r = c1.push(std::slice::from_ref(&victim)).await;
    assert_eq!(status_of(&r, 0), "applied", "{r:?}");
    assert_eq!(count(&base, "checkin").await, 2);

    // Within a device, an id used again for other content is refused, stores nothing, and
    // is counted.
    let mut reused = victim.clone();
    reused.payload = reused.payload.replace("p-00001", "p-00002");
    let r = c1.push(&[reused]).await;
    assert_eq!(reason_of(&r, 0), codes::MUTATION_ID_REUSED);
    assert_eq!(count(&base, "checkin").await, 2);
    let v = admin_counts(&base).await;
    assert_eq!(v["reasons"][codes::MUTATION_ID_REUSED], 1, "{v}");
    assert_eq!(v["refused"], 1);
    srv.shutdown().await;
}

#[tokio::test]
async fn defect3_record_id_reused_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let c = Client::new(&base, T1, "dev-r");
    let mut d = Device::new("dev-r", W1);
    let first = d.checkin("p-00001");
    assert_eq!(
        status_of(&c.push(std::slice::from_ref(&first)).await, 0),
        "applied"
    );
    // The same record under a second mutation id (next link of the chain).
    let again = d.mutation("checkin", &first.record_id, first.payload.clone());
    let r = c.push(&[again]).await;
    assert_eq!(reason_of(&r, 0), codes::RECORD_ID_REUSED);
    assert_eq!(r.chain_breaks, 0);
    // Also from another device of the same worker.
    let c2 = Client::new(&base, T1, "dev-r2");
    let mut d2 = Device::new("dev-r2", W1);
    let payload = first.payload.replace("dev-r", "dev-r2");
    let r = c2
        .push(&[d2.mutation("checkin", &first.record_id, payload)])
        .await;
    assert_eq!(reason_of(&r, 0), codes::RECORD_ID_REUSED);
    assert_eq!(count(&base, "checkin").await, 1);
    // A rejected record holds nothing: repaired, it goes through under a new mutation id.
    let (bytes, sha) = photo_bytes(500, 4);
    let report = d.report(&[(&sha, 500)]);
    assert_eq!(
        reason_of(&c.push(std::slice::from_ref(&report)).await, 0),
        codes::MISSING_PHOTO
    );
    assert_eq!(patch_photo(&c, &sha, 0, 500, bytes).await.0, StatusCode::OK);
    let resent = d.mutation("report", &report.record_id, report.payload.clone());
    assert_eq!(status_of(&c.push(&[resent]).await, 0), "applied");
    assert_eq!(count(&base, "report").await, 1);
    srv.shutdown().await;
}

#[tokio::test]
async fn defect3_task_of_another_worker_cannot_be_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let (s, task) = admin_send(
        &base,
        Method::POST,
        "/admin/v1/tasks",
        json!({"worker_id": W2, "title": "查看"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let task_id = task["id"].as_str().unwrap().to_string();
    let c1 = Client::new(&base, T1, "dev-1");
    let mut d1 = Device::new("dev-1", W1);
    let r = c1.push(&[d1.task_ack(&task_id)]).await;
    assert_eq!(reason_of(&r, 0), codes::TASK_NOT_ASSIGNED);
    // Still dispatched for its worker, who can acknowledge it.
    let c2 = Client::new(&base, T2, "dev-2");
    let (changes, _) = c2.pull_all(None, 5000).await;
    let t: Vec<&Value> = changes
        .iter()
        .filter(|c| c["type"] == "task_upsert")
        .collect();
    assert_eq!(t[0]["status"], "dispatched");
    let mut d2 = Device::new("dev-2", W2);
    assert_eq!(
        status_of(&c2.push(&[d2.task_ack(&task_id)]).await, 0),
        "applied"
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn defect6_partials_are_owned_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    // Long enough for the ownership checks below to run before worker 2's partial expires
    // on a loaded machine (the PostgreSQL + S3 pass takes several round trips per request);
    // 2 s was not.
    config.partial_ttl = Duration::from_secs(6);
    let srv = gridworker_server::serve(config.clone()).await.unwrap();
    let base = srv.url();
    let owner = Client::new(&base, T1, "dev-1");
    let other = Client::new(&base, T2, "dev-2");
    let (bytes, sha) = photo_bytes(3_000, 5);

    // Worker 2 knows the hash and announces a wrong length.
    let (s, _) = patch_photo(&other, &sha, 0, 3_010, bytes[..100].to_vec()).await;
    assert_eq!(s, StatusCode::OK);
    // The owner sees nothing of it and uploads normally.
    let (_, v) = owner.get_json(&wire::photo_path(&sha)).await;
    assert_eq!(v["offset"], 0);
    assert_eq!(v["length"], Value::Null);
    let (s, v) = patch_photo(&owner, &sha, 0, 3_000, bytes[..1_000].to_vec()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = patch_photo(&owner, &sha, 1_000, 3_000, bytes[1_000..].to_vec()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true);
    let (_, v) = owner.get_json(&wire::photo_path(&sha)).await;
    assert_eq!(v["complete"], true);
    // Worker 2 neither uploaded nor cited it: its state is not theirs to read.
    let (_, v) = other.get_json(&wire::photo_path(&sha)).await;
    assert_eq!(v["complete"], false);
    assert_eq!(v["offset"], 100, "only its own partial");
    // The owner's report with it goes through.
    let mut d = Device::new("dev-1", W1);
    assert_eq!(
        status_of(&owner.push(&[d.report(&[(&sha, 3_000)])]).await, 0),
        "applied"
    );

    // Left alone past its lifetime, a partial is deleted and its space reclaimed.
    let (b2, sha2) = photo_bytes(2_000, 6);
    let (s, _) = patch_photo(&owner, &sha2, 0, 2_000, b2[..500].to_vec()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(partial_objects(&config).await.len(), 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !partial_objects(&config).await.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "partials never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, v) = owner.get_json(&wire::photo_path(&sha2)).await;
    assert_eq!(v["offset"], 0);
    // And the upload starts again from zero.
    let (s, v) = patch_photo(&owner, &sha2, 0, 2_000, b2.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true);
    srv.shutdown().await;
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn defect7_rejected_payload_values_are_not_echoed() {
    const NAME: &str = "李四";
    const ID_NUMBER: &str = "220102199003071234";
    let secret = format!("{NAME} 身份证{ID_NUMBER}");
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let c = Client::new(&base, T1, "dev-1");
    let mut d = Device::new("dev-1", W1);
    // A value of the wrong type, an unknown field named by the value, a bad enum value.
    let mut wrong_type = d.checkin_json("p-00001");
    wrong_type["distance_m"] = json!(secret);
    let mut unknown_field = d.checkin_json("p-00001");
    unknown_field[&secret] = json!(1);
    let mut bad_variant = d.checkin_json("p-00001");
    bad_variant["outcome"] = json!(secret);
    let batch: Vec<_> = [wrong_type, unknown_field, bad_variant]
        .into_iter()
        .map(|p| {
            let id = p["id"].as_str().unwrap().to_string();
            d.mutation("checkin", &id, p.to_string())
        })
        .collect();
    let r = c
        .req(Method::POST, wire::PATH_PUSH)
        .json(&json!({"device_id": "dev-1", "mutations": batch}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(!text.contains(NAME) && !text.contains(ID_NUMBER), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    for res in v["results"].as_array().unwrap() {
        assert_eq!(res["reason"]["code"], codes::INVALID_PAYLOAD, "{res}");
    }
    assert!(
        v["results"][0]["reason"]["message"]
            .as_str()
            .unwrap()
            .contains("distance_m"),
        "names the field: {v}"
    );
    // A request envelope of the wrong shape: 422, the value not echoed either.
    let (s, v) = c
        .push_raw(
            json!({"device_id": "dev-1", "mutations": [{"mutation_id": "m", "seq": secret}]})
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!v.to_string().contains(NAME), "{v}");
    // Admin input too.
    let (s, v) = admin_send(
        &base,
        Method::PUT,
        "/admin/v1/points/p-x",
        json!({"grid_code": "g-0001", "name": "x", "crs": secret, "lat": 45.0, "lon": 130.0, "radius_m": 1.0}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!v.to_string().contains(NAME), "{v}");
    // Not in the admin views.
    let (_, v) = admin_get(&base, "/admin/v1/records?kind=checkin&status=rejected").await;
    assert_eq!(v["count"], 3);
    assert!(
        !v.to_string().contains(NAME) && !v.to_string().contains(ID_NUMBER),
        "{v}"
    );
    // Not in the server's files.
    srv.shutdown().await;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            assert!(!contains(&bytes, NAME), "{} holds the name", p.display());
            assert!(
                !contains(&bytes, ID_NUMBER),
                "{} holds the ID number",
                p.display()
            );
        }
    }
}

#[tokio::test]
async fn defect12_server_refuses_what_the_device_would() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let c = Client::new(&base, T1, "dev-1");
    let mut d = Device::new("dev-1", W1);
    type Spoil = fn(&mut Value);
    let spoilers: Vec<(&str, Spoil)> = vec![
        ("empty point id", |p| p["point_id"] = json!("")),
        ("huge point id", |p| {
            p["point_id"] = json!("p".repeat(100_000))
        }),
        ("NUL in point id", |p| p["point_id"] = json!("p-0\u{0}1")),
        ("path in point id", |p| p["point_id"] = json!("../../etc")),
        ("latitude 95", |p| p["fix"]["lat"] = json!(95.0)),
        ("position latitude 95", |p| {
            p["position"]["lat"] = json!(95.0)
        }),
        ("negative distance", |p| p["distance_m"] = json!(-3.0)),
        ("year 9999", |p| {
            p["recorded_at"] = json!("9999-01-01T00:00:00Z")
        }),
    ];
    for (what, spoil) in spoilers {
        let mut p = d.checkin_json("p-00001");
        spoil(&mut p);
        let id = p["id"].as_str().unwrap().to_string();
        let r = c.push(&[d.mutation("checkin", &id, p.to_string())]).await;
        assert_eq!(reason_of(&r, 0), codes::INVALID_PAYLOAD, "{what}: {r:?}");
    }
    // Ids of the envelope itself: the whole push is refused, nothing stored.
    for bad in ["", "../x", "a\u{0}b"] {
        let mut m = d.checkin("p-00001");
        m.mutation_id = bad.to_string();
        let (s, _) = c
            .push_raw(
                json!({"device_id": "dev-1", "mutations": [m]})
                    .to_string()
                    .into_bytes(),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        d.seq -= 1;
    }
    assert_eq!(count(&base, "checkin").await, 0);
    // A photo upload, to see the mode of every file the server wrote.
    let (bytes, sha) = photo_bytes(1_000, 8);
    assert_eq!(
        patch_photo(&c, &sha, 0, 1_000, bytes[..10].to_vec())
            .await
            .0,
        StatusCode::OK
    );
    let (b2, sha2) = photo_bytes(1_000, 9);
    assert_eq!(patch_photo(&c, &sha2, 0, 1_000, b2).await.0, StatusCode::OK);
    srv.shutdown().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fn walk(p: &std::path::Path) {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            if p.is_dir() {
                assert_eq!(mode, 0o700, "{}", p.display());
                for e in std::fs::read_dir(p).unwrap() {
                    walk(&e.unwrap().path());
                }
            } else {
                assert_eq!(mode, 0o600, "{}", p.display());
            }
        }
        walk(dir.path());
    }
}

#[tokio::test]
async fn a_data_dir_of_the_previous_version_opens_migrated() {
    if gridworker_testkit::postgres::selected() {
        eprintln!("SQLite data directories only: covered by the SQLite run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut d = Device::new("dev-old", W1);
    let applied = d.checkin("p-00001");
    {
        let conn = rusqlite::Connection::open(dir.path().join("server.sqlite")).unwrap();
        conn.execute_batch(gridworker_server::store::SQLITE_V1)
            .unwrap();
        conn.execute_batch("INSERT INTO meta (key, value) VALUES ('server_id', 'old')")
            .unwrap();
        let insert = "INSERT INTO mutations (mutation_id, device_id, worker_id, seq, kind,
                record_id, payload, device_time, monotonic_ms, prev_hash, hash, status,
                reason_code, reason_message, chain_break, expected_prev, server_flags,
                received_at)
            VALUES (?1, 'dev-old', 'w-0001', ?2, 'checkin', ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9, ?10,
                0, NULL, '[]', '2026-01-01T00:00:00Z')";
        conn.execute(
            insert,
            rusqlite::params![
                applied.mutation_id,
                applied.seq,
                applied.record_id,
                applied.payload,
                applied.device_time,
                applied.prev_hash,
                applied.hash,
                "applied",
                None::<String>,
                None::<String>
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO devices (device_id, head_seq, head_hash) VALUES ('dev-old', 1, ?1)",
            [&applied.hash],
        )
        .unwrap();
        conn.execute(
            insert,
            rusqlite::params![
                "m-bad",
                0,
                "r-bad",
                "{\"name\": \"李四\"}",
                applied.device_time,
                applied.hash,
                applied.hash,
                "rejected",
                codes::INVALID_PAYLOAD,
                "invalid type: string \"李四\""
            ],
        )
        .unwrap();
    }
    let srv = start(dir.path()).await;
    let base = srv.url();
    assert_eq!(count(&base, "checkin").await, 1);
    // The device is bound to the worker of its first mutation, and its chain continues.
    let c = Client::new(&base, T1, "dev-old");
    let r = c.push(&[d.checkin("p-00002")]).await;
    assert_eq!(status_of(&r, 0), "applied");
    assert_eq!(r.chain_breaks, 0);
    let (s, _) = Client::new(&base, T2, "dev-old")
        .get_json(wire::PATH_HANDSHAKE)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // What the old version echoed of a refused payload is gone.
    let (_, v) = admin_get(&base, "/admin/v1/records?kind=checkin&status=rejected").await;
    assert_eq!(v["count"], 1);
    assert!(!v.to_string().contains("李四"), "{v}");
    srv.shutdown().await;
    // The device's log is read by its seq (the handshake's last seq and holes) through an
    // index again: the rebuild of V2 had dropped the one V1 made.
    let conn = rusqlite::Connection::open(dir.path().join("server.sqlite")).unwrap();
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT MAX(seq) FROM mutations WHERE device_id = 'dev-old' AND seq >= 1",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        plan.iter().any(|p| p.contains("(device_id=? AND seq>?)")),
        "{plan:?}"
    );
}

/// Clients without a valid token that start a push and then trickle its body (a byte within
/// each body timeout) do not keep the places of the pushes the server holds in memory: the
/// token is checked before any of the body is read, so they are told 401 at once and a
/// worker's push still lands. Were the body read first, a handful of such connections would
/// keep every phone at 503 for as long as they trickled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_pushes_without_a_token_do_not_lock_the_workers_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let srv = start_with(dir.path(), |c| c.limits.max_buffered_requests = 2).await;
    let base = srv.url();
    let addr = base.trim_start_matches("http://").to_string();
    let mut trickles = Vec::new();
    for token in ["", "Authorization: Bearer not-a-token\r\n"] {
        for _ in 0..2 {
            let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let head = format!(
                "POST {} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Content-Length: 100000\r\n{}: {}\r\n{}: dev-x\r\n{token}\r\n{{",
                wire::PATH_PUSH,
                wire::HEADER_PROTOCOL,
                wire::PROTOCOL_VERSION,
                wire::HEADER_DEVICE,
            );
            s.write_all(head.as_bytes()).await.unwrap();
            trickles.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut d = Device::new("dev-trickle", W1);
    let c = Client::new(&base, T1, "dev-trickle");
    let r = c.push(&[d.checkin("p-00001")]).await;
    assert_eq!(status_of(&r, 0), "applied");
    for mut s in trickles {
        let mut buf = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("answered without waiting for the body")
            .unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    }
}

/// What the back office may not put in the feed: anything a phone would refuse there. A
/// pull page holding one such item is refused whole, so the worker's pulls would stop at it
/// for good (no endpoint can take a closed report's note or a task back). Each is refused
/// with 422 naming the field, nothing is stored, and the worker's pulls go on.
#[tokio::test]
async fn admin_input_the_phones_would_refuse_is_refused_and_pulls_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let long = |n: usize| "长".repeat(n);
    let c1 = Client::new(&base, T1, "dev-1");
    let (_, cursor) = c1.pull_all(None, 5000).await;

    let refused = [
        (
            Method::POST,
            "/admin/v1/tasks".to_string(),
            json!({"worker_id": W1, "title": long(201)}),
            "task.title",
        ),
        (
            Method::POST,
            "/admin/v1/tasks".to_string(),
            json!({"worker_id": W1, "title": "查看", "description": long(4_001)}),
            "task.description",
        ),
        (
            Method::POST,
            "/admin/v1/tasks".to_string(),
            json!({"id": "T/2026/001", "worker_id": W1, "title": "查看"}),
            "path separator",
        ),
        (
            Method::PUT,
            "/admin/v1/households/h-long".to_string(),
            json!({"grid_code": "g-0001", "building": "1栋", "address": long(501), "crs": "gcj02",
                   "lat": 45.2980, "lon": 130.9500, "tags": []}),
            "household.address",
        ),
        (
            Method::PUT,
            format!("/admin/v1/points/{}", "p".repeat(129)),
            json!({"grid_code": "g-0001", "name": "点", "crs": "gcj02", "lat": 45.2980,
                   "lon": 130.9500, "radius_m": 30.0}),
            "128 bytes",
        ),
    ];
    for (method, path, body, says) in refused {
        let (s, v) = admin_send(&base, method, &path, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{path}: {message}");
        assert!(
            !message.contains("长长"),
            "the value is not quoted: {message}"
        );
    }

    // A report closed with a note longer than a phone takes.
    let (bytes, sha) = photo_bytes(1000, 5);
    assert_eq!(
        patch_photo(&c1, &sha, 0, 1000, bytes).await.0,
        StatusCode::OK
    );
    let mut d = Device::new("dev-1", W1);
    let rep = d.report(&[(&sha, 1000)]);
    let report_id = rep.record_id.clone();
    assert_eq!(status_of(&c1.push(&[rep]).await, 0), "applied");
    let path = format!("/admin/v1/reports/{report_id}/transition");
    let (s, v) = admin_send(
        &base,
        Method::POST,
        &path,
        json!({"to": "accepted", "note": long(4_001)}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("report_status.note"),
        "{v}"
    );

    // The worker's pulls go on, with nothing of the refused requests in them.
    let (changes, _) = c1.pull_all(Some(cursor), 5000).await;
    assert!(
        changes
            .iter()
            .all(|c| c["type"] != "task_upsert" && c["id"] != "h-long"),
        "{changes:?}"
    );
    let (s, _) = admin_send(
        &base,
        Method::POST,
        &path,
        json!({"to": "accepted", "note": "已受理"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "the report still moves on");
    srv.shutdown().await;
}

/// An acknowledgement of a task the server does not know yet (a buggy or hostile phone, a
/// restore) is taken and flagged, and holds nothing against the worker the task is then
/// created for: its own acknowledgement is applied, not refused as `record_id_reused`.
#[tokio::test]
async fn an_ack_of_a_task_not_yet_created_does_not_block_its_assignee() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let c1 = Client::new(&base, T1, "dev-1");
    let mut d1 = Device::new("dev-1", W1);
    let r = c1.push(&[d1.task_ack("T-1002")]).await;
    assert_eq!(status_of(&r, 0), "applied");
    let (s, _) = admin_send(
        &base,
        Method::POST,
        "/admin/v1/tasks",
        json!({"id": "T-1002", "worker_id": W2, "title": "查看"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let c2 = Client::new(&base, T2, "dev-2");
    let mut d2 = Device::new("dev-2", W2);
    let r = c2.push(&[d2.task_ack("T-1002")]).await;
    assert_eq!(status_of(&r, 0), "applied", "{r:?}");
    // Its worker's second acknowledgement of it is still one too many.
    let r = c2.push(&[d2.task_ack("T-1002")]).await;
    assert_eq!(reason_of(&r, 0), codes::RECORD_ID_REUSED);
    srv.shutdown().await;
}

/// A grid with points, households or workers in it is not deleted: they would stay on the
/// phones, and in its feed, after the grid had gone. An empty grid is.
#[tokio::test]
async fn a_grid_still_in_use_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path()).await;
    let base = srv.url();
    let (s, v) = admin_send(&base, Method::DELETE, "/admin/v1/grids/g-0001", json!({})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("move or delete them first"), "{message}");
    let c1 = Client::new(&base, T1, "dev-1");
    let (changes, _) = c1.pull_all(None, 5000).await;
    assert!(
        changes.iter().all(|c| c["type"] != "grid_delete"),
        "{changes:?}"
    );
    let ring = json!([[130.0, 45.0], [130.01, 45.0], [130.01, 45.01]]);
    let (s, v) = admin_send(
        &base,
        Method::PUT,
        "/admin/v1/grids/g-empty",
        json!({"name": "空网格", "crs": "gcj02", "ring": ring}),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = admin_send(&base, Method::DELETE, "/admin/v1/grids/g-empty", json!({})).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    srv.shutdown().await;
}
