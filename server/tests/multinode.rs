//! Two server processes on one PostgreSQL database (run by the conformance pass,
//! `GRIDWORKER_TEST_BACKEND=postgres`): devices alternate between the nodes, one node is
//! SIGKILLed mid-push again and again and restarted, two nodes get the same device's push
//! at once. Afterwards every record is on the server exactly once and every chain verifies.
//! A photo upload moves between the nodes, through a kill, and completes.

mod common;

use std::time::Duration;

use common::*;
use gridworker_model::wire::{self, Mutation};
use reqwest::Method;

struct Node {
    child: ServerChild,
    url: String,
}

impl Node {
    fn launch(database: &str, data: &std::path::Path, id: &str) -> Node {
        Node::launch_with(database, data, id, None)
    }

    fn launch_with(database: &str, data: &std::path::Path, id: &str, photos: Option<&str>) -> Node {
        let mut cmd = server_command(data);
        if let Some(p) = photos {
            cmd.args(["--photos", p]);
        }
        cmd.args(["--database", database, "--node-id", id]);
        let (child, url) = launch_binary(cmd);
        Node { child, url }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A database of its own on the cluster, when the run is the conformance pass; these tests
/// need two processes on one database, which SQLite cannot be.
fn fresh_database() -> Option<String> {
    if !gridworker_testkit::postgres::selected() {
        eprintln!(
            "needs PostgreSQL: run by the conformance pass (GRIDWORKER_TEST_BACKEND=postgres)"
        );
        return None;
    }
    Some(gridworker_testkit::postgres::fresh_database())
}

/// A device that keeps what it has not seen applied, as the core's outbox does.
struct Phone {
    device: Device,
    token: &'static str,
    pending: Vec<Mutation>,
    created: Vec<Mutation>,
}

impl Phone {
    fn record(&mut self, n: usize) {
        for i in 0..n {
            let m = if i % 2 == 0 {
                self.device.checkin("p-00001")
            } else {
                self.device.visit("h-000001")
            };
            self.created.push(m.clone());
            self.pending.push(m);
        }
    }

    /// Pushes what is pending to `url`; drops what the server confirmed. A node killed
    /// mid-push or a 503 leaves it pending.
    async fn push(&mut self, url: &str) -> Result<(), String> {
        let c = Client::new(url, self.token, &self.device.id);
        let r = c
            .req(Method::POST, wire::PATH_PUSH)
            .json(&wire::PushRequest {
                device_id: self.device.id.clone(),
                mutations: self.pending.clone(),
            })
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = r.status();
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Err("503".into());
        }
        assert_eq!(status, reqwest::StatusCode::OK, "{:?}", r.text().await);
        let reply: wire::PushResponse = r.json().await.map_err(|e| format!("reply: {e}"))?;
        let done: Vec<String> = (0..reply.results.len())
            .filter(|&i| matches!(status_of(&reply, i).as_str(), "applied" | "already_applied"))
            .map(|i| reply.results[i].mutation_id.clone())
            .collect();
        assert_eq!(done.len(), reply.results.len(), "every record applied");
        self.pending.retain(|m| !done.contains(&m.mutation_id));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_database_store_every_record_once_through_kills() {
    let Some(database) = fresh_database() else {
        return;
    };
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    // Both start at once on the empty database: one seeds, the other finds it seeded.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Node::launch(&database, dir_a.path(), "a"));
        let b = s.spawn(|| Node::launch(&database, dir_b.path(), "b"));
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut a = a;
    let b = b;
    for n in [&a, &b] {
        let (s, v) = Client::new(&n.url, T1, "probe").get_json("/readyz").await;
        assert_eq!(s, reqwest::StatusCode::OK, "{v}");
    }

    let mut phones: Vec<Phone> = (0..6)
        .map(|i| Phone {
            device: Device::new(&format!("dev-{i}"), if i % 2 == 0 { W1 } else { W2 }),
            token: if i % 2 == 0 { T1 } else { T2 },
            pending: Vec::new(),
            created: Vec::new(),
        })
        .collect();

    let mut killed = 0;
    let mut interrupted = 0;
    for round in 0..8 {
        for p in &mut phones {
            p.record(12);
        }
        let urls = [a.url.clone(), b.url.clone()];
        let pushes = phones.iter_mut().enumerate().map(|(i, p)| {
            let url = urls[(i + round) % 2].clone();
            async move { p.push(&url).await }
        });
        let killer = async {
            // Into the middle of the pushes: the node dies with transactions in flight.
            tokio::time::sleep(Duration::from_millis(5 + (round as u64 * 7) % 30)).await;
            a.kill();
        };
        let (results, ()) = tokio::join!(futures_util::future::join_all(pushes), killer);
        killed += 1;
        interrupted += results.iter().filter(|r| r.is_err()).count();
        a = Node::launch(&database, dir_a.path(), "a");
    }

    // The same device's push given to both nodes at once: nothing is stored twice; the
    // loser answers 503 `unavailable` or, if it ran after, `already_applied`.
    let p = &mut phones[0];
    p.record(10);
    let batch = p.pending.clone();
    let ca = Client::new(&a.url, p.token, &p.device.id);
    let cb = Client::new(&b.url, p.token, &p.device.id);
    let body = wire::PushRequest {
        device_id: p.device.id.clone(),
        mutations: batch,
    };
    let (ra, rb) = tokio::join!(
        ca.req(Method::POST, wire::PATH_PUSH).json(&body).send(),
        cb.req(Method::POST, wire::PATH_PUSH).json(&body).send()
    );
    let statuses = [ra.unwrap().status(), rb.unwrap().status()];
    assert!(statuses.contains(&reqwest::StatusCode::OK), "{statuses:?}");
    for s in statuses {
        assert!(
            s == reqwest::StatusCode::OK || s == reqwest::StatusCode::SERVICE_UNAVAILABLE,
            "{statuses:?}"
        );
    }

    // Everyone sends what is still pending, to either node, until nothing is.
    for attempt in 0..20 {
        let mut left = 0;
        for (i, p) in phones.iter_mut().enumerate() {
            if !p.pending.is_empty() {
                let url = if (i + attempt) % 2 == 0 {
                    &a.url
                } else {
                    &b.url
                };
                let _ = p.push(url).await;
                left += p.pending.len();
            }
        }
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let created: usize = phones.iter().map(|p| p.created.len()).sum();
    assert!(
        phones.iter().all(|p| p.pending.is_empty()),
        "records still pending"
    );

    // Exactly once: the server's counts equal what the phones created, on both nodes.
    let checkins = phones
        .iter()
        .flat_map(|p| &p.created)
        .filter(|m| m.kind == "checkin")
        .count() as i64;
    for n in [&a, &b] {
        assert_eq!(count(&n.url, "checkin").await, checkins);
        assert_eq!(
            count(&n.url, "checkin").await + count(&n.url, "visit").await,
            created as i64
        );
    }
    for p in &phones {
        let (s, v) = admin_get(&b.url, &format!("/admin/v1/chain?device={}", p.device.id)).await;
        assert_eq!(s, reqwest::StatusCode::OK);
        assert_eq!(v["intact"], true, "{}: {v}", p.device.id);
        assert_eq!(v["head_seq"], p.created.len() as i64, "{}", p.device.id);
    }
    eprintln!(
        "{created} records from 6 devices, node a killed {killed} times, {interrupted} pushes cut"
    );
    // The kills must have cut pushes, or this test proved nothing about them.
    assert!(interrupted > 0, "no push was cut by a kill");
}

/// The back office edits one resident through both nodes at once: every edit is a version
/// of its own (none overwrites another unseen), and the history has each of them once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_edits_of_one_resident_on_two_nodes_each_become_a_version() {
    let Some(database) = fresh_database() else {
        return;
    };
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = Node::launch(&database, dir_a.path(), "a");
    let b = Node::launch(&database, dir_b.path(), "b");
    let id = "r-0000001";
    let (_, before) = admin_get(&a.url, &format!("/admin/v1/residents/{id}")).await;
    let v0 = before["resident"]["version"].as_i64().expect("version");
    let edits = 20;
    let sends = (0..edits).map(|i| {
        let url = if i % 2 == 0 {
            a.url.clone()
        } else {
            b.url.clone()
        };
        async move {
            admin_send(
                &url,
                Method::PATCH,
                &format!("/admin/v1/residents/{id}"),
                serde_json::json!({ "notes": format!("note {i}") }),
            )
            .await
        }
    });
    for (s, v) in futures_util::future::join_all(sends).await {
        assert_eq!(s, reqwest::StatusCode::OK, "{v}");
    }
    let (_, after) = admin_get(&b.url, &format!("/admin/v1/residents/{id}")).await;
    assert_eq!(after["resident"]["version"].as_i64(), Some(v0 + edits));
    let notes: Vec<&serde_json::Value> = after["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["field"] == "notes")
        .collect();
    assert_eq!(notes.len() as i64, edits, "one history row per edit");
    let mut versions: Vec<i64> = notes.iter().filter_map(|h| h["version"].as_i64()).collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(
        versions.len() as i64,
        edits,
        "each edit a version of its own"
    );
    // Each edit's base is the one before it: the chain of old → new values is unbroken.
    let mut by_version: Vec<&&serde_json::Value> = notes.iter().collect();
    by_version.sort_by_key(|h| h["version"].as_i64());
    for pair in by_version.windows(2) {
        assert_eq!(
            pair[0]["new"], pair[1]["old"],
            "an edit saw the one before it"
        );
    }
}

/// A photo's upload started on one node resumes on the other: the offset is the
/// database's and the parts are in the photo store both share (the bucket the run names,
/// `GRIDWORKER_TEST_PHOTOS`, or one directory). A node SIGKILLed mid-upload loses only the
/// part it had not recorded; the upload completes through the other node, and the
/// restarted node serves the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_photo_upload_moves_between_nodes_and_survives_a_kill() {
    let Some(database) = fresh_database() else {
        return;
    };
    let shared = tempfile::tempdir().unwrap();
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let photos = gridworker_testkit::s3::photos_spec()
        .unwrap_or_else(|| format!("file:{}", shared.path().display()));
    let mut a = Node::launch_with(&database, dir_a.path(), "a", Some(&photos));
    let b = Node::launch_with(&database, dir_b.path(), "b", Some(&photos));

    // Over S3's 5 MiB part minimum, so each request's part is itself a multipart upload.
    let (bytes, sha) = photo_bytes(7 * 1024 * 1024 + 123, 21);
    let total = bytes.len() as u64;
    let cut = 6 * 1024 * 1024;
    let on_a = Client::new(&a.url, T1, "dev-p");
    let on_b = Client::new(&b.url, T1, "dev-p");
    let (s, v) = patch_photo(&on_a, &sha, 0, total, bytes[..cut].to_vec()).await;
    assert_eq!(s, reqwest::StatusCode::OK, "{v}");
    assert_eq!(v["offset"], cut);
    let (_, v) = on_b.get_json(&wire::photo_path(&sha)).await;
    assert_eq!(
        v["offset"], cut,
        "the other node resumes where the first stopped"
    );
    let (s, v) = patch_photo(&on_b, &sha, cut as u64, total, bytes[cut..].to_vec()).await;
    assert_eq!(s, reqwest::StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true, "{v}");
    assert!(
        admin_photo(&a.url, &sha).await == bytes,
        "node a serves the bytes"
    );

    // Node a is killed while a body streams into it.
    let (bytes, sha) = photo_bytes(3 * 1024 * 1024, 22);
    let total = bytes.len() as u64;
    let (feed, sent) = {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(2);
        let body =
            reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|c| (c, rx))
            }));
        let req = Client::new(&a.url, T1, "dev-p")
            .req(Method::PATCH, &wire::photo_path(&sha))
            .header(wire::HEADER_UPLOAD_OFFSET, 0)
            .header(wire::HEADER_UPLOAD_LENGTH, total)
            .header("content-type", "image/jpeg")
            .body(body);
        (tx, tokio::spawn(req.send()))
    };
    for chunk in bytes[..2 * 1024 * 1024].chunks(256 * 1024) {
        feed.send(Ok(chunk.to_vec())).await.unwrap();
    }
    a.kill();
    drop(feed);
    assert!(sent.await.unwrap().is_err(), "the upload to a broke off");
    let (_, v) = on_b.get_json(&wire::photo_path(&sha)).await;
    let held = v["offset"].as_u64().expect("an offset");
    assert!(held < total, "{v}");
    let (s, v) = patch_photo(&on_b, &sha, held, total, bytes[held as usize..].to_vec()).await;
    assert_eq!(s, reqwest::StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true, "{v}");
    let a = Node::launch_with(&database, dir_a.path(), "a", Some(&photos));
    assert!(
        admin_photo(&a.url, &sha).await == bytes,
        "the restarted node serves the bytes"
    );
    assert!(admin_photo(&b.url, &sha).await == bytes);
}

/// How many connections of this database wait for a lock.
fn lock_waiters(database: &str) -> i64 {
    let mut c = postgres::Client::connect(database, postgres::NoTls).unwrap();
    c.query_one(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
        &[],
    )
    .unwrap()
    .get(0)
}

async fn wait_for_lock_waiters(database: &str, n: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let db = database.to_string();
        let got = tokio::task::spawn_blocking(move || lock_waiters(&db))
            .await
            .unwrap();
        if got >= n {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{got} of {n} waiting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A transaction of the test's own, kept open with its locks until [`Held::release`]: what
/// makes an interleaving of two nodes exact. (The synchronous client runs a runtime of its
/// own, so it lives on a thread of its own.)
struct Held {
    release: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Held {
    /// Runs `inside` in a new transaction on `database`, with what `before` (outside it)
    /// returned, and returns once `inside` has run.
    fn open<T: 'static>(
        database: &str,
        before: impl FnOnce(&mut postgres::Client) -> T + Send + 'static,
        inside: impl FnOnce(&mut postgres::Transaction<'_>, T) + Send + 'static,
    ) -> Held {
        let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let database = database.to_string();
        let thread = std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&database, postgres::NoTls).unwrap();
            let got = before(&mut c);
            let mut tx = c.transaction().unwrap();
            inside(&mut tx, got);
            locked_tx.send(()).unwrap();
            let _ = release_rx.recv_timeout(Duration::from_secs(60));
            tx.commit().unwrap();
        });
        locked_rx.recv().unwrap();
        Held { release, thread }
    }

    fn release(self) {
        let _ = self.release.send(());
        self.thread.join().unwrap();
    }
}

/// Nodes on one fresh database sharing one photo store (moto's S3 in the S3 pass).
struct Cluster {
    database: String,
    photos: String,
    dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    fn new() -> Option<Cluster> {
        let database = fresh_database()?;
        let shared = tempfile::tempdir().unwrap();
        let photos = gridworker_testkit::s3::photos_spec()
            .unwrap_or_else(|| format!("file:{}", shared.path().display()));
        Some(Cluster {
            database,
            photos,
            dirs: vec![shared],
        })
    }

    /// A data directory for one more node, and what launching it needs.
    fn next_node(&mut self) -> (String, String, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        self.dirs.push(dir);
        (self.database.clone(), self.photos.clone(), path)
    }

    fn launch(&mut self, id: &str) -> Node {
        let (database, photos, dir) = self.next_node();
        Node::launch_with(&database, &dir, id, Some(&photos))
    }
}

/// A phone whose last body reached node a retries on node b (its answer was lost) while a
/// finishes the upload: b must not take the upload a just finished for bytes that do not
/// match (422, which quarantines the phone's record although the server holds the photo).
/// The interleaving is made exact with a lock: a `SHARE` lock on `photo_refs` holds a's
/// completion after it deleted the upload's rows and before it commits; b's request then
/// waits on those rows, and goes on once a has committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_on_another_node_while_the_first_completes_the_upload_is_answered_complete() {
    let Some(mut cluster) = Cluster::new() else {
        return;
    };
    let database = cluster.database.clone();
    let a = cluster.launch("a");
    let b = cluster.launch("b");
    let (bytes, sha) = photo_bytes(600_000, 23);
    let total = bytes.len() as u64;
    let cut = 200_000;
    let on_a = Client::new(&a.url, T1, "dev-r");
    let on_b = Client::new(&b.url, T1, "dev-r");
    let (s, v) = patch_photo(&on_a, &sha, 0, total, bytes[..cut].to_vec()).await;
    assert_eq!(s, reqwest::StatusCode::OK, "{v}");

    let held = Held::open(
        &database,
        |_| (),
        |tx, ()| {
            tx.batch_execute("LOCK TABLE photo_refs IN SHARE MODE")
                .unwrap()
        },
    );
    let last = bytes[cut..].to_vec();
    let (on_a2, sha_a) = (on_a.clone(), sha.clone());
    let to_a =
        tokio::spawn(async move { patch_photo(&on_a2, &sha_a, cut as u64, total, last).await });
    wait_for_lock_waiters(&database, 1).await;
    let (on_b2, sha_b) = (on_b.clone(), sha.clone());
    let to_b =
        tokio::spawn(async move { patch_photo(&on_b2, &sha_b, total, total, Vec::new()).await });
    wait_for_lock_waiters(&database, 2).await;
    held.release();

    let (s, v) = to_a.await.unwrap();
    assert_eq!(s, reqwest::StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true, "{v}");
    let (s, v) = to_b.await.unwrap();
    assert_eq!(s, reqwest::StatusCode::OK, "node b: {v}");
    assert_eq!(v["complete"], true, "node b: {v}");
    let (_, v) = on_b.get_json(&wire::photo_path(&sha)).await;
    assert_eq!(v["complete"], true, "{v}");
    assert!(admin_photo(&b.url, &sha).await == bytes);
    let partials: i64 = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&database, postgres::NoTls).unwrap();
        c.query_one("SELECT count(*) FROM partial_uploads", &[])
            .unwrap()
            .get(0)
    })
    .await
    .unwrap();
    assert_eq!(partials, 0, "no upload left behind for a complete photo");
}

/// The sweep of expired uploads on one node, and a phone resuming such an upload through
/// another at the same moment: the upload the phone refreshed stays, with its parts. The
/// interleaving is made exact with a row lock: the "other node" (this test) refreshes the
/// upload in a transaction it holds open while the starting node's sweep reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sweep_leaves_an_upload_another_node_refreshed_meanwhile() {
    let Some(mut cluster) = Cluster::new() else {
        return;
    };
    let database = cluster.database.clone();
    let a = cluster.launch("a");
    let (bytes, sha) = photo_bytes(500_000, 24);
    let total = bytes.len() as u64;
    let cut = 300_000;
    let on_a = Client::new(&a.url, T1, "dev-s");
    let (s, v) = patch_photo(&on_a, &sha, 0, total, bytes[..cut].to_vec()).await;
    assert_eq!(s, reqwest::StatusCode::OK, "{v}");

    // The upload looks a week old; then a transaction refreshes it and stays open.
    let held = Held::open(
        &database,
        |c| {
            let fresh: String = c
                .query_one("SELECT updated_at FROM partial_uploads", &[])
                .unwrap()
                .get(0);
            c.execute(
                "UPDATE partial_uploads SET updated_at = '2000-01-01T00:00:00Z'",
                &[],
            )
            .unwrap();
            fresh
        },
        |tx, fresh| {
            tx.execute("UPDATE partial_uploads SET updated_at = $1", &[&fresh])
                .unwrap();
        },
    );
    // Node b sweeps as it starts, before it listens.
    let (db, photos, dir) = cluster.next_node();
    let starting = std::thread::spawn(move || Node::launch_with(&db, &dir, "b", Some(&photos)));
    wait_for_lock_waiters(&database, 1).await;
    held.release();
    let b = starting.join().unwrap();

    let on_b = Client::new(&b.url, T1, "dev-s");
    let (_, v) = on_b.get_json(&wire::photo_path(&sha)).await;
    assert_eq!(
        v["offset"], cut,
        "the refreshed upload and its part stay: {v}"
    );
    let (s, v) = patch_photo(&on_b, &sha, cut as u64, total, bytes[cut..].to_vec()).await;
    assert_eq!(s, reqwest::StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true, "{v}");
    assert!(admin_photo(&b.url, &sha).await == bytes);
}
