//! Encryption at rest of the database (issue 9): nothing readable in any database file, a
//! wrong or missing key is `Locked` and changes nothing, a plain store migrates on the first
//! open with a key and syncs exactly once, rekey, recovery of an encrypted store.

mod support;
mod sync_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gridworker_core::domain::VisitKind;
use gridworker_core::test_hooks::DB_FILE;
use gridworker_core::{DatabaseKey, Error, GridWorker, LockReason, recover_store};
use support::{TestClock, config, district, mono, morning};
use sync_support::{Device, RealServer, Tokens, assert_all_synced_once, fast_options};

const NOTE: &str = "独居老人王秀英 低保 230302195003041234 心脏病 需每周探访";
const RESIDENT: &str = "红旗社区 2号楼 2单元 302";

fn key(b: u8) -> DatabaseKey {
    DatabaseKey::from_bytes([b; 32])
}

fn open(dir: &Path, key: Option<DatabaseKey>) -> Result<GridWorker, Error> {
    let mut c = config(dir, TestClock::new(morning()));
    c.key = key;
    GridWorker::open(c)
}

/// A store under `key` with the test district and `n` visits carrying [`NOTE`].
fn populated(dir: &Path, key: Option<DatabaseKey>, n: usize) -> GridWorker {
    let w = open(dir, key).unwrap();
    let (grids, points, households) = district();
    w.import_reference(&grids, &points, &households, &["G1".into()])
        .unwrap();
    let h = &households[0];
    for i in 0..n {
        let at = morning() + chrono::Duration::minutes(10 * i as i64);
        let fix = gridworker_core::domain::LocationFix::wgs84(
            h.position.lat,
            h.position.lon,
            8.0,
            at,
            mono(at),
        );
        w.record_visit(&h.id, VisitKind::Routine, NOTE, &fix)
            .unwrap();
    }
    w
}

/// Every file directly in `dir` (database, WAL, SHM, journals, temporary and kept copies,
/// sidecar) with its bytes. Photos are the photo store's (sealed separately).
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// No file in `dir` holds the known strings or an SQLite header.
fn assert_nothing_readable(dir: &Path) -> usize {
    let all = files(dir);
    let mut db_files = 0;
    for (path, bytes) in &all {
        let name = path.file_name().unwrap().to_string_lossy();
        if name.starts_with("gridworker.db") {
            db_files += 1;
        }
        for needle in [
            NOTE.as_bytes(),
            "独居老人".as_bytes(),
            RESIDENT.as_bytes(),
            "红旗社区".as_bytes(),
            "低保".as_bytes(),
            b"SQLite format 3",
            b"CREATE TABLE",
        ] {
            assert!(
                !contains(bytes, needle),
                "{name} holds {:?}",
                String::from_utf8_lossy(needle)
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name} mode {mode:o}");
        }
    }
    db_files
}

#[test]
fn enc_no_plaintext_in_any_db_file_open_closed_and_after_rekey() {
    let dir = tempfile::tempdir().unwrap();
    let w = populated(dir.path(), Some(key(1)), 30);
    // Open: the records are in the WAL (and SHM) right now.
    let n = assert_nothing_readable(dir.path());
    assert!(n >= 2, "database and WAL expected, found {n} files");
    let w = w.rekey(key(2)).unwrap();
    assert_nothing_readable(dir.path());
    assert_eq!(w.list_visits(0, 100).unwrap().len(), 30);
    drop(w);
    assert_nothing_readable(dir.path());
}

#[test]
fn enc_wrong_or_missing_key_is_locked_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    drop(populated(dir.path(), Some(key(1)), 5));
    let before = files(dir.path());
    for (k, reason) in [
        (Some(key(9)), LockReason::WrongKey),
        (None, LockReason::KeyMissing),
    ] {
        let err = open(dir.path(), k.clone()).unwrap_err();
        assert!(
            matches!(err, Error::Locked { reason: r } if r == reason),
            "{err:?}"
        );
        // The message names no value (no key bytes).
        assert!(!err.to_string().contains("0909"), "{err}");
        let err = recover_store(dir.path(), k.as_ref()).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err:?}");
        let err = gridworker_core::test_hooks::crypt::rekey_store(dir.path(), k.as_ref(), &key(3))
            .unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err:?}");
        assert_eq!(files(dir.path()), before, "a locked open changed a file");
    }
    let w = open(dir.path(), Some(key(1))).unwrap();
    assert_eq!(w.list_visits(0, 100).unwrap().len(), 5);
    assert_eq!(w.sync_counts().unwrap().pending.visits, 5);
}

#[test]
fn enc_key_never_printed() {
    let mut c = config(Path::new("/tmp/x"), TestClock::new(morning()));
    c.key = Some(DatabaseKey::from_bytes([0xAB; 32]));
    let text = format!("{c:?}");
    assert!(
        !text.contains("171") && !text.to_lowercase().contains("abab"),
        "{text}"
    );
    assert!(DatabaseKey::from_hex("zz").is_err());
    assert_eq!(
        DatabaseKey::from_hex(&"ab".repeat(32)).unwrap(),
        DatabaseKey::from_bytes([0xAB; 32])
    );
}

#[test]
fn enc_damaged_page_with_the_right_key_is_damage_and_recovers_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    drop(populated(dir.path(), Some(key(1)), 40));
    let db = dir.path().join(DB_FILE);
    let mut bytes = std::fs::read(&db).unwrap();
    let len = bytes.len();
    assert!(len >= 8192, "{len}");
    // A byte in the last page: its Poly1305 tag no longer matches.
    bytes[len - 4096 + 100] ^= 0x01;
    std::fs::write(&db, bytes).unwrap();
    // Open reads the schema and the queue only; the full check finds it either way.
    if let Ok(w) = open(dir.path(), Some(key(1))) {
        let err = w.test_store().verify().unwrap_err();
        assert!(matches!(err, Error::StoreDamaged { .. }), "{err:?}");
    }
    let err = open(dir.path(), Some(key(1))).unwrap_err();
    assert!(matches!(err, Error::StoreDamaged { .. }), "{err:?}");
    // Without the key it is locked, not damaged, and recovery without it moves nothing.
    let err = recover_store(dir.path(), None).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    let report = recover_store(dir.path(), Some(&key(1))).unwrap();
    assert!(!report.was_healthy);
    assert!(report.kept_at.is_some());
    assert!(report.recovered > 0, "{report:?}");
    // The new store is encrypted under the same key, and so is the kept copy.
    assert_nothing_readable(dir.path());
    let err = open(dir.path(), None).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    let w = open(dir.path(), Some(key(1))).unwrap();
    w.test_store().verify().unwrap();
    assert_eq!(
        w.sync_counts().unwrap().pending.visits,
        report.recovered,
        "{report:?}"
    );
}

#[test]
fn enc_rekey_old_key_locked_new_key_finds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let w = populated(dir.path(), Some(key(1)), 7);
    let w = w.rekey(key(2)).unwrap();
    assert_eq!(w.list_visits(0, 100).unwrap().len(), 7);
    drop(w);
    let err = open(dir.path(), Some(key(1))).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Locked {
                reason: LockReason::WrongKey
            }
        ),
        "{err:?}"
    );
    let w = open(dir.path(), Some(key(2))).unwrap();
    assert_eq!(w.sync_counts().unwrap().pending.visits, 7);
    // A second handle on the directory: rekey refuses and changes nothing.
    let other = open(dir.path(), Some(key(2))).unwrap();
    let err = match w.rekey(key(3)) {
        Ok(_) => panic!("rekey ran under an open handle"),
        Err(e) => e,
    };
    assert!(matches!(err, Error::StoreInUse { .. }), "{err:?}");
    assert_eq!(other.sync_counts().unwrap().pending.visits, 7);
}

#[test]
fn enc_new_store_with_a_key_is_created_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    drop(populated(dir.path(), Some(key(4)), 1));
    let head = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    assert!(!head.starts_with(b"SQLite format 3"));
    let sidecar = std::fs::read_to_string(dir.path().join("gridworker.store.json")).unwrap();
    assert!(sidecar.contains("key_check"), "{sidecar}");
    assert!(!sidecar.contains(&"04".repeat(32)), "{sidecar}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enc_plain_store_migrates_on_first_open_with_a_key_then_syncs_exactly_once() {
    let server = RealServer::start(&["tok"]);
    let dev = Device::new(&server.url);
    dev.check_ins(4);
    dev.visit();
    let (_, shas) = dev.report(2, 50_000, 3);
    let before = dev.outbox();
    let photos_before = dev.worker.sync_counts().unwrap().pending.photos;
    assert_eq!(before.len(), 6);
    // The plain store is readable as it stands.
    assert!(
        std::fs::read(dev.dir.path().join(DB_FILE))
            .unwrap()
            .starts_with(b"SQLite format 3")
    );
    let dev = dev.reopen_with_key(Some(key(7)));
    assert_eq!(dev.outbox(), before);
    assert_eq!(
        dev.worker.sync_counts().unwrap().pending.photos,
        photos_before
    );
    // The photos were sealed by the same first open with a key: readable through the core,
    // no longer as plain files.
    for sha in &shas {
        assert!(dev.worker.photo_bytes(sha).unwrap().is_some());
        assert!(dev.worker.photo_path(sha).is_err());
    }
    let head = std::fs::read(dev.dir.path().join(DB_FILE)).unwrap();
    assert!(!head.starts_with(b"SQLite format 3"));
    assert!(
        !dev.dir
            .path()
            .join(gridworker_core::test_hooks::crypt::REKEY_FILE)
            .exists()
    );
    let dir = dev.dir.path().to_path_buf();
    // Without the key the migrated store is locked (another handle is open: checked by a
    // separate open that fails before touching anything).
    let err = open(&dir, None).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    let engine = dev.engine(Tokens::fixed("tok"), fast_options());
    engine.sync().await.unwrap();
    assert_eq!(assert_all_synced_once(&dev, &server).await, 6);
}

#[test]
fn enc_wipe_removes_the_rekey_temp_files_too() {
    let dir = tempfile::tempdir().unwrap();
    drop(populated(dir.path(), Some(key(1)), 2));
    let tmp = dir
        .path()
        .join(gridworker_core::test_hooks::crypt::REKEY_FILE);
    std::fs::write(&tmp, b"x").unwrap();
    std::fs::write(dir.path().join(format!("{}-journal", tmp.display())), b"x").unwrap();
    gridworker_core::worker::wipe_data_dir(dir.path()).unwrap();
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
}
