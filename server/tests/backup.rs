//! `gridworker-server backup` on the SQLite default, taken while the server serves and a
//! device keeps pushing: the copy is a consistent snapshot (every chain in it verifies), it
//! holds every record and photo committed before it began, a server started on it serves
//! them, and the phones' replays are recognised, nothing stored twice.

mod common;

use std::process::Command;

use common::*;
use gridworker_core::sync::wire;
use reqwest::StatusCode;

fn launch(data: &std::path::Path) -> (ServerChild, String) {
    launch_binary(server_command(data))
}

fn backup(data: &std::path::Path, to: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gridworker-server"))
        .arg("backup")
        .arg("--data")
        .arg(data)
        .arg("--to")
        .arg(to)
        .output()
        .expect("backup runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_while_serving_restores_every_record_and_photo_once() {
    if gridworker_testkit::postgres::selected() || gridworker_testkit::s3::selected() {
        eprintln!("the backup command copies the SQLite default and its photo directory");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut server, url) = launch(&data);

    // Before the backup: records, a complete photo with its report, a partial upload.
    let c1 = Client::new(&url, T1, "dev-1");
    let mut d1 = Device::new("dev-1", W1);
    let (photo, sha) = photo_bytes(40_000, 3);
    let (s, v) = patch_photo(&c1, &sha, 0, photo.len() as u64, photo.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mut before: Vec<_> = (0..30).map(|_| d1.checkin("p-00001")).collect();
    before.push(d1.report(&[(&sha, photo.len() as u64)]));
    let r = c1.push(&before).await;
    assert!(
        (0..before.len()).all(|i| status_of(&r, i) == "applied"),
        "{r:?}"
    );
    let (partial, partial_sha) = photo_bytes(30_000, 4);
    let (s, _) = patch_photo(&c1, &partial_sha, 0, 30_000, partial[..10_000].to_vec()).await;
    assert_eq!(s, StatusCode::OK);

    // A second device pushes all along; the backup runs in the middle of it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Pushes answered so far: the backup starts after the first and the pusher stops two
    // after it (the second of them began after the backup's snapshot), whatever the load.
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let answered_at_least = |n: usize| {
        let answered = answered.clone();
        async move {
            let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while answered.load(std::sync::atomic::Ordering::SeqCst) < n {
                assert!(std::time::Instant::now() < until, "the pusher stalled");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    };
    let pusher = {
        let (url, stop, answered) = (url.clone(), stop.clone(), answered.clone());
        tokio::spawn(async move {
            let c2 = Client::new(&url, T2, "dev-2");
            let mut d2 = Device::new("dev-2", W2);
            let mut sent = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let batch: Vec<_> = (0..5).map(|_| d2.visit("h-000002")).collect();
                let r = c2.push(&batch).await;
                assert!((0..5).all(|i| status_of(&r, i) == "applied"), "{r:?}");
                sent += 5;
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            sent
        })
    };
    answered_at_least(1).await;
    let copy = dir.path().join("copy");
    let out = tokio::task::spawn_blocking({
        let (data, copy) = (data.clone(), copy.clone());
        move || backup(&data, &copy)
    })
    .await
    .unwrap();
    answered_at_least(answered.load(std::sync::atomic::Ordering::SeqCst) + 2).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent_by_dev2 = pusher.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(line.contains("1 photos (40000 bytes)"), "{line}");
    let _ = server.kill();
    let _ = server.wait();

    // A second backup into the same place is refused and changes nothing.
    let again = backup(&data, &copy);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // Restore: a server on the copy.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&copy), 0o700);
        assert_eq!(mode(&copy.join("server.sqlite")), 0o600);
        assert_eq!(mode(&copy.join("photos").join(&sha)), 0o600);
    }
    let (_restored, url) = launch(&copy);
    let (s, v) = admin_get(&url, "/admin/v1/chain?device=dev-1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["head_seq"], before.len() as i64);
    // The second device's chain in the copy is whole up to a commit: a snapshot.
    let (_, v) = admin_get(&url, "/admin/v1/chain?device=dev-2").await;
    assert_eq!(v["intact"], true, "{v}");
    let held = v["head_seq"].as_i64().unwrap_or(0);
    assert!(
        held > 0 && held < sent_by_dev2 as i64,
        "{held} of {sent_by_dev2}"
    );
    assert_eq!(count(&url, "visit").await, held);
    assert_eq!(count(&url, "checkin").await, 30);
    assert!(admin_photo(&url, &sha).await == photo);
    // The phone's replay is recognised; the partial upload starts again from zero.
    let c1 = Client::new(&url, T1, "dev-1");
    let r = c1.push(&before).await;
    assert!(
        (0..before.len()).all(|i| status_of(&r, i) == "already_applied"),
        "{r:?}"
    );
    assert_eq!(count(&url, "checkin").await, 30);
    let (_, v) = c1.get_json(&wire::photo_path(&partial_sha)).await;
    assert_eq!(v["offset"], 0, "{v}");
    let (s, v) = patch_photo(&c1, &partial_sha, 0, 30_000, partial).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["complete"], true);
}
