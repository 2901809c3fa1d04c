//! SIGKILL of the client at each protocol step, against the real reference server (through
//! the fault proxy), then a restart on the same store: nothing lost, nothing twice. Needs the
//! child example: run with
//! `cargo test -p gridworker-core --features failpoints --test sync_kill`. The last test is
//! encryption's no-plaintext scan across a whole day, a kill mid-upload included.
#![cfg(feature = "failpoints")]

mod support;
mod sync_support;

use std::path::PathBuf;
use std::process::Command;

use sync_support::{Device, RealServer, Tokens, assert_all_synced_once, fast_options};

fn child_exe() -> PathBuf {
    support::failpoint_example("sync_child")
}

/// Runs the child on `dev`'s store with `env`, expecting it to die of SIGKILL.
async fn run_child_killed(dev: &Device, server: &RealServer, point: &str, env: &[(&str, &str)]) {
    let mut cmd = Command::new(child_exe());
    cmd.env("GW_DIR", dev.dir.path())
        .env("GW_URL", &server.url)
        .env("GRIDWORKER_FAILPOINT", point);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = tokio::task::spawn_blocking(move || cmd.status().unwrap())
        .await
        .unwrap();
    assert!(!status.success(), "child was not killed at {point}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{point}: {status:?}");
}

/// The app starts again on the same store, syncs, and the invariant holds; returns the
/// number of records checked.
async fn restart_and_check(mut dev: Device, server: &RealServer) -> usize {
    dev.restart();
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    assert_all_synced_once(&dev, server).await
}

async fn kill_at(point: &str) {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(4);
    dev.visit();
    dev.report(2, 300_000, 5);
    run_child_killed(&dev, &server, point, &[]).await;
    assert_eq!(restart_and_check(dev, &server).await, 6, "{point}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_right_after_recording_before_any_sync() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    run_child_killed(&dev, &server, "after_record", &[("GW_RECORD", "3")]).await;
    // The server never heard from the child.
    let (counts, _) = server.counts().await;
    assert_eq!(counts.values().sum::<u64>(), 0, "{counts:?}");
    // Three check-ins and a report were stored before the kill, and all of them arrive.
    assert_eq!(restart_and_check(dev, &server).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_photo_upload() {
    kill_at("photo_upload_half").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_server_committed_a_push_before_the_ack_was_stored() {
    kill_at("push_acked_before_store").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_apply_of_a_pull() {
    // The fixtures' reference data is the first pull: the kill lands mid-apply of it.
    kill_at("pull_apply_started").await;
}

/// Everything the worker recorded, as the scan looks for it.
struct Secrets {
    strings: Vec<Vec<u8>>,
    /// Windows of each photo's plaintext.
    photo_windows: Vec<Vec<u8>>,
}

const NOTE: &str = "独居老人 低保 每周探访 no-plaintext-scan";
const RESIDENT: &str = "张桂兰 230302195003041234 13912345678";

/// Every byte of every file under `dir` (database, WAL, SHM, journals, temporary files,
/// photos, moved-aside copies): none holds a recorded string, a photo's plaintext or an
/// SQLite header, and none starts with the JPEG or PNG magic. Returns the files scanned.
fn assert_no_plaintext(dir: &std::path::Path, secrets: &Secrets, phase: &str) -> usize {
    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }
    let mut stack = vec![dir.to_path_buf()];
    let mut scanned = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            scanned += 1;
            let bytes = std::fs::read(&p).unwrap();
            let name = p.strip_prefix(dir).unwrap().display().to_string();
            for s in &secrets.strings {
                assert!(
                    !contains(&bytes, s),
                    "{phase}: {name} holds {:?}",
                    String::from_utf8_lossy(s)
                );
            }
            for w in &secrets.photo_windows {
                assert!(!contains(&bytes, w), "{phase}: {name} holds photo bytes");
            }
            assert!(!contains(&bytes, b"SQLite format 3"), "{phase}: {name}");
            assert!(
                !bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
                "{phase}: {name} is a JPEG"
            );
            assert!(!bytes.starts_with(b"\x89PNG"), "{phase}: {name} is a PNG");
        }
    }
    scanned
}

/// The issue-9 scan across a worker's whole day on an encrypted store: after recording,
/// after a SIGKILL mid-upload, after the sync that follows, after recovering a damaged page
/// and after a rekey.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enc_no_plaintext_after_record_kill_mid_sync_sync_recover_and_rekey() {
    use gridworker_core::{Config, DatabaseKey, GridWorker, recover_store};
    let server = RealServer::start(&["tok"]);
    let key1 = DatabaseKey::from_bytes([0x5a; 32]);
    let dev = Device::new_with_key(&server.url, Some(key1.clone()));
    dev.check_ins(3);
    dev.visit_noting(NOTE);
    dev.visit_noting(RESIDENT);
    dev.report(2, 300_000, 9);
    let mut photo_windows = Vec::new();
    for e in std::fs::read_dir(dev.gallery.path()).unwrap().flatten() {
        let b = std::fs::read(e.path()).unwrap();
        for at in [b.len() / 4, b.len() / 2, b.len() - 64] {
            photo_windows.push(b[at..at + 48].to_vec());
        }
    }
    assert_eq!(photo_windows.len(), 6);
    let (_, _, households) = support::district();
    let secrets = Secrets {
        strings: [
            NOTE,
            RESIDENT,
            "230302195003041234",
            "13912345678",
            "独居老人",
            households[0].address.as_str(),
            "CREATE TABLE",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect(),
        photo_windows,
    };
    let data = dev.dir.path().to_path_buf();
    assert!(assert_no_plaintext(&data, &secrets, "recorded") >= 4);

    run_child_killed(
        &dev,
        &server,
        "photo_upload_half",
        &[("GW_KEY", &hex::encode([0x5a; 32]))],
    )
    .await;
    assert_no_plaintext(&data, &secrets, "killed mid-upload");

    let mut dev = dev;
    dev.restart();
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    assert_eq!(assert_all_synced_once(&dev, &server).await, 6);
    drop(engine);
    assert_no_plaintext(&data, &secrets, "synced");

    // A damaged page (the right key): recovery keeps the damaged copy, encrypted too.
    let Device { dir, worker, .. } = dev;
    drop(worker);
    let db = data.join(gridworker_core::test_hooks::DB_FILE);
    let mut bytes = std::fs::read(&db).unwrap();
    let len = bytes.len();
    bytes[len - 4096 + 100] ^= 0x01;
    std::fs::write(&db, bytes).unwrap();
    let report = recover_store(&data, Some(&key1)).unwrap();
    assert!(report.kept_at.is_some(), "{report:?}");
    assert_no_plaintext(&data, &secrets, "recovered");

    // Rekey, with the store open and after it is closed.
    let mut config = Config::new(&data, &server.url, "w-0001", "dev-A");
    config.key = Some(key1);
    let w = GridWorker::open(config)
        .unwrap()
        .rekey(DatabaseKey::from_bytes([0x6b; 32]))
        .unwrap();
    assert_no_plaintext(&data, &secrets, "rekeyed, open");
    drop(w);
    let n = assert_no_plaintext(&data, &secrets, "rekeyed, closed");
    assert!(n >= 4, "database, sidecar and photos expected, scanned {n}");
    drop(dir);
}
