//! SIGKILL during the plain -> encrypted migration and during rekey, at each step of the
//! state machine in `store::crypt`: the store then opens with the old key or the new one
//! (the old before the commit point, the new after it) and holds every record. Needs the
//! child example: `cargo nextest run -p gridworker-core --features failpoints --test
//! encryption_kill`.
#![cfg(feature = "failpoints")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use gridworker_core::domain::VisitKind;
use gridworker_core::test_hooks::crypt::REKEY_FILE;
use gridworker_core::worker::PhotoInput;
use gridworker_core::{DatabaseKey, Error, GridWorker};
use support::{TestClock, config, district, mono, morning};

/// The steps of the state machine, in order, and whether the new key is in force after a
/// kill there; the last two are in the photo re-seal that follows the database's swap.
const STEPS: [(&str, bool); 6] = [
    ("rekey_checkpointed", false),
    ("rekey_built", false),
    ("rekey_committed", true),
    ("rekey_swapped", true),
    ("photo_resealed_one", true),
    ("photos_resealed", true),
];

/// The store's photos: (sha256, plaintext).
type Photos = Vec<(String, Vec<u8>)>;

fn child_exe() -> PathBuf {
    support::failpoint_example("rekey_child")
}

fn open(dir: &Path, key: Option<DatabaseKey>) -> Result<GridWorker, Error> {
    let mut c = config(dir, TestClock::new(morning()));
    c.key = key;
    GridWorker::open(c)
}

/// A real JPEG of noise (150 KB) in `gallery`.
fn photo(gallery: &Path, seed: u64) -> (PathBuf, Vec<u8>) {
    let bytes = gridworker_testkit::photos::jpeg(150_000, seed);
    let p = gallery.join(format!("gallery-{seed}.jpg"));
    std::fs::write(&p, &bytes).unwrap();
    (p, bytes)
}

/// A store with 12 pending visits and a report with three photos; returns its outbox as
/// (mutation id, payload) and the photos.
fn populate(dir: &Path, key: Option<DatabaseKey>) -> (Vec<(String, String)>, Photos) {
    let w = open(dir, key).unwrap();
    let (grids, points, households) = district();
    w.import_reference(&grids, &points, &households, &["G1".into()])
        .unwrap();
    let h = &households[0];
    for i in 0..12 {
        let at = morning() + chrono::Duration::minutes(10 * i);
        let fix = gridworker_core::domain::LocationFix::wgs84(
            h.position.lat,
            h.position.lon,
            8.0,
            at,
            mono(at),
        );
        w.record_visit(&h.id, VisitKind::Routine, "走访记录", &fix)
            .unwrap();
    }
    let gallery = tempfile::tempdir().unwrap();
    let shots: Vec<_> = (1..=3).map(|s| photo(gallery.path(), s)).collect();
    let inputs: Vec<_> = shots.iter().map(|(p, _)| PhotoInput::new(p)).collect();
    let at = morning() + chrono::Duration::hours(3);
    let fix = gridworker_core::domain::LocationFix::wgs84(
        points[0].position.lat,
        points[0].position.lon,
        8.0,
        at,
        mono(at),
    );
    let r = w
        .file_report("dumped_waste", "楼道堆物", &inputs, &fix, None)
        .unwrap();
    let photos = r
        .photos
        .iter()
        .zip(shots)
        .map(|(p, (_, bytes))| (p.sha256.clone(), bytes))
        .collect();
    (outbox(&w), photos)
}

fn outbox(w: &GridWorker) -> Vec<(String, String)> {
    w.test_store()
        .read(|c| {
            let mut st = c.prepare("SELECT mutation_id, payload FROM outbox ORDER BY seq")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .unwrap()
}

fn hex(k: u8) -> String {
    format!("{k:02x}").repeat(32)
}

fn key(k: u8) -> DatabaseKey {
    DatabaseKey::from_bytes([k; 32])
}

fn run_killed(dir: &Path, op: &str, old: Option<u8>, new: u8, point: &str) {
    let mut cmd = Command::new(child_exe());
    cmd.env("GW_DIR", dir)
        .env("GW_OP", op)
        .env("GW_NEW_KEY", hex(new))
        .env("GRIDWORKER_FAILPOINT", point);
    if let Some(o) = old {
        cmd.env("GW_OLD_KEY", hex(o));
    }
    let status = cmd.status().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{op} at {point}: {status:?}");
}

/// After a kill: exactly one of the two keys opens the store, the expected one, and it
/// holds every record; the other is `Locked` and changes nothing; the temporary file is
/// gone once the store opened.
fn check_after_kill(
    dir: &Path,
    old: Option<DatabaseKey>,
    new: DatabaseKey,
    new_in_force: bool,
    (expected, photos): &(Vec<(String, String)>, Photos),
    label: &str,
) {
    let (good, bad) = if new_in_force {
        (Some(new), old)
    } else {
        (old, Some(new))
    };
    // Before the commit point of a migration the "other" key would migrate the plain
    // store (a key on a plain store means: encrypt it), not be refused.
    if good.is_some() {
        let err = open(dir, bad).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{label}: {err:?}");
    }
    let w = open(dir, good).unwrap_or_else(|e| panic!("{label}: {e:?}"));
    w.test_store().verify().unwrap();
    assert_eq!(&outbox(&w), expected, "{label}");
    for (sha, bytes) in photos {
        let read = w
            .photo_bytes(sha)
            .unwrap_or_else(|e| panic!("{label}: {e:?}"));
        assert_eq!(read.as_ref(), Some(bytes), "{label}: photo {sha}");
    }
    assert!(!dir.join(REKEY_FILE).exists(), "{label}");
}

#[test]
fn enc_sigkill_during_migration_at_each_step_opens_with_old_or_new_key_and_loses_nothing() {
    for (point, new_in_force) in STEPS {
        let dir = tempfile::tempdir().unwrap();
        let expected = populate(dir.path(), None);
        run_killed(dir.path(), "migrate", None, 5, point);
        check_after_kill(dir.path(), None, key(5), new_in_force, &expected, point);
        // Finishing: opening with the key migrates (or finds it migrated).
        let w = open(dir.path(), Some(key(5))).unwrap();
        assert_eq!(outbox(&w), expected.0, "{point}");
    }
}

#[test]
fn enc_sigkill_during_rekey_at_each_step_opens_with_old_or_new_key_and_loses_nothing() {
    for (point, new_in_force) in STEPS {
        let dir = tempfile::tempdir().unwrap();
        let expected = populate(dir.path(), Some(key(1)));
        run_killed(dir.path(), "rekey", Some(1), 2, point);
        check_after_kill(
            dir.path(),
            Some(key(1)),
            key(2),
            new_in_force,
            &expected,
            point,
        );
    }
}
