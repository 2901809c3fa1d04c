//! A damaged store is never silently replaced: opening refuses with a typed error until
//! `recover_store` salvages what can be read (reliability issue 8, defect 4); wiping refuses
//! while the store is open and leaves nothing behind (defect 9); what the core creates is
//! owner-only (defect 12).

mod support;
mod sync_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gridworker_core::error::StoreDamage;
use gridworker_core::test_hooks::{DB_FILE, sidecar::SIDECAR_FILE};
use gridworker_core::worker::wipe_data_dir;
use gridworker_core::{Error, GridWorker, recover_store};
use support::*;
use sync_support::{Device, RealServer, Tokens, assert_all_synced_once, fast_options};

/// Closes the device's core (checkpointing the WAL into the database file) by swapping in a
/// handle on a scratch directory.
fn close(dev: &mut Device, scratch: &Path) {
    let other = GridWorker::open(config(scratch, dev.clock.clone())).unwrap();
    drop(std::mem::replace(&mut dev.worker, Arc::new(other)));
}

fn open_err(dir: &Path) -> Error {
    GridWorker::open(config(dir, TestClock::new(morning()))).unwrap_err()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect4_flipped_page_is_refused_then_recovered_and_synced_exactly_once() {
    let server = RealServer::start(&["tok"]);
    let mut dev = Device::new(&server.url);
    dev.check_ins(8);
    assert_eq!(dev.pending(), 8);
    let scratch = tempfile::tempdir().unwrap();
    close(&mut dev, scratch.path());
    let db = dev.dir.path().join(DB_FILE);
    let (page_size, leaves) = leaf_pages(&db, "checkins");
    flip_page(&db, page_size, leaves[0]);
    let damaged = std::fs::read(&db).unwrap();

    // The queue is intact, so the cheap check at open lets the store open; the full check
    // before a sync finds the page: nothing is sent, and the damage is recorded.
    dev.restart();
    let err = dev
        .engine(Tokens::fixed("tok"), fast_options())
        .sync()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StoreDamaged { .. }), "{err:?}");
    assert_eq!(server.counts().await.0.values().sum::<u64>(), 0);
    close(&mut dev, scratch.path());
    assert_eq!(
        std::fs::read(&db).unwrap(),
        damaged,
        "the database is untouched"
    );

    // From then on: refused, typed, and nothing touched — every time, not just once.
    for _ in 0..2 {
        let err = open_err(dev.dir.path());
        assert!(
            matches!(
                err,
                Error::StoreDamaged {
                    damage: StoreDamage::Unreadable
                }
            ),
            "{err:?}"
        );
        assert_eq!(std::fs::read(&db).unwrap(), damaged);
    }

    let report = recover_store(dev.dir.path(), None).unwrap();
    assert_eq!((report.recovered, report.lost), (8, 0), "{report:?}");
    assert!(report.damaged_tables.contains(&"checkins".to_string()));
    let kept = report.kept_at.clone().expect("damaged file kept");
    assert_eq!(std::fs::read(&kept).unwrap(), damaged);
    #[cfg(unix)]
    assert_eq!(mode(&kept), 0o600);

    dev.restart();
    assert_eq!(dev.pending(), 8);
    let run = dev
        .engine(Tokens::fixed("tok"), fast_options())
        .sync()
        .await
        .unwrap();
    assert_eq!(run.pushed, 8);
    assert_eq!(assert_all_synced_once(&dev, &server).await, 8);
    // Recovering a healthy store changes nothing.
    let worker = std::mem::replace(
        &mut dev.worker,
        Arc::new(GridWorker::open(config(scratch.path(), dev.clock.clone())).unwrap()),
    );
    drop(worker);
    let again = recover_store(dev.dir.path(), None).unwrap();
    assert!(again.was_healthy && again.kept_at.is_none(), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect4_lost_outbox_page_is_counted_and_the_rest_syncs_exactly_once() {
    let server = RealServer::start(&["tok"]);
    let mut dev = Device::new(&server.url);
    dev.check_ins(12);
    let before = dev.outbox();
    let scratch = tempfile::tempdir().unwrap();
    close(&mut dev, scratch.path());
    let db = dev.dir.path().join(DB_FILE);
    let (page_size, leaves) = leaf_pages(&db, "outbox");
    assert!(leaves.len() >= 2, "the outbox spans pages: {leaves:?}");
    flip_page(&db, page_size, leaves[0]);
    // Open reads the queue's index only; the full check before the first sync finds the
    // page, sends nothing, and from then on every open refuses the store.
    dev.restart();
    let err = dev
        .engine(Tokens::fixed("tok"), fast_options())
        .sync()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StoreDamaged { .. }), "{err:?}");
    assert_eq!(server.counts().await.0.values().sum::<u64>(), 0);
    close(&mut dev, scratch.path());
    assert!(matches!(
        open_err(dev.dir.path()),
        Error::StoreDamaged { .. }
    ));

    let report = recover_store(dev.dir.path(), None).unwrap();
    assert!(report.lost >= 1, "{report:?}");
    assert_eq!(report.recovered + report.lost, 12, "{report:?}");
    dev.restart();
    let after = dev.outbox();
    assert_eq!(after.len() as u64, report.recovered);
    // Salvaged entries are byte for byte what they were (mutation id, payload...).
    for row in &after {
        assert!(before.contains(row), "changed in recovery: {}", row.0);
    }
    // New records continue the sequence, never reusing a number.
    dev.check_ins(1);
    let _ = dev
        .engine(Tokens::fixed("tok"), fast_options())
        .sync()
        .await
        .unwrap();
    assert_eq!(
        assert_all_synced_once(&dev, &server).await as u64,
        report.recovered + 1
    );
}

#[test]
fn defect4_zero_byte_database_where_a_store_existed_is_damage() {
    let env = Env::new();
    env.core
        .check_in("P11", &env.fix_at(env.point("P11").position))
        .unwrap();
    let dir = env.dir.path().to_path_buf();
    let Env {
        dir: keep, core, ..
    } = env;
    drop(core);
    std::fs::write(dir.join(DB_FILE), b"").unwrap();
    let err = open_err(&dir);
    assert!(
        matches!(
            err,
            Error::StoreDamaged {
                damage: StoreDamage::Empty
            }
        ),
        "{err:?}"
    );
    assert_eq!(std::fs::metadata(dir.join(DB_FILE)).unwrap().len(), 0);
    let report = recover_store(&dir, None).unwrap();
    assert_eq!((report.recovered, report.lost), (0, 0));
    assert!(report.kept_at.is_some());
    GridWorker::open(config(&dir, TestClock::new(morning()))).unwrap();
    drop(keep);
}

#[test]
fn defect4_deleted_database_with_sidecar_is_damage_not_a_fresh_install() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::new(morning());
    drop(GridWorker::open(config(dir.path(), clock.clone())).unwrap());
    assert!(dir.path().join(SIDECAR_FILE).exists());
    std::fs::remove_file(dir.path().join(DB_FILE)).unwrap();
    let err = open_err(dir.path());
    assert!(
        matches!(
            err,
            Error::StoreDamaged {
                damage: StoreDamage::Missing
            }
        ),
        "{err:?}"
    );
    assert!(!dir.path().join(DB_FILE).exists(), "no empty store created");
    let report = recover_store(dir.path(), None).unwrap();
    assert_eq!(report.kept_at, None);
    GridWorker::open(config(dir.path(), clock)).unwrap();
}

#[test]
fn defect4_store_locked_by_another_writer_is_not_damage() {
    let env = Env::new();
    let dir = env.dir.path().to_path_buf();
    let other = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    // A second handle (another process in real life) opens fine while the write is held.
    let second = GridWorker::open(config(&dir, env.clock.clone())).unwrap();
    assert_eq!(second.sync_counts().unwrap().pending.checkins, 0);
    other.execute_batch("ROLLBACK").unwrap();
}

/// Every file and directory under `dir`, relative.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn defect9_wipe_refuses_while_open_then_leaves_nothing_the_core_wrote() {
    let env = Env::new();
    let tmp = tempfile::tempdir().unwrap();
    let a = jpeg(tmp.path(), "a.jpg", 5_000, 1);
    env.core
        .file_report(
            "illegal_parking",
            "占道停车",
            &[gridworker_core::worker::PhotoInput::new(&a)],
            &env.fix_at(env.point("P11").position),
            None,
        )
        .unwrap();
    let dir = env.dir.path().to_path_buf();
    std::fs::write(dir.join("app-owned.txt"), b"not ours").unwrap();
    // Debris of the core's own: a sync lock and a damaged copy kept by an earlier recovery,
    // and one moved aside by an older build.
    std::fs::write(dir.join("sync.lock"), b"").unwrap();
    std::fs::write(dir.join("gridworker.db.damaged-20260101T000000.000Z"), b"x").unwrap();
    std::fs::write(dir.join("gridworker.db.corrupt-20250101T000000Z"), b"x").unwrap();

    let err = wipe_data_dir(&dir).unwrap_err();
    assert!(
        matches!(err, Error::StoreInUse { open_handles: 1 }),
        "{err:?}"
    );
    assert!(dir.join(DB_FILE).exists(), "a refused wipe deletes nothing");
    // The handle still works: nothing was deleted under it.
    env.clock.advance(700);
    env.core
        .check_in("P12", &env.fix_at(env.point("P12").position))
        .unwrap();

    let Env {
        dir: keep, core, ..
    } = env;
    drop(core);
    wipe_data_dir(&dir).unwrap();
    assert_eq!(tree(&dir), vec![PathBuf::from("app-owned.txt")]);
    // A fresh start afterwards is a fresh install, not damage.
    GridWorker::open(config(&dir, TestClock::new(morning()))).unwrap();
    drop(keep);
}

#[cfg(unix)]
#[test]
fn defect12_files_and_directories_the_core_creates_are_owner_only() {
    let env = Env::new();
    let tmp = tempfile::tempdir().unwrap();
    let a = jpeg(tmp.path(), "a.jpg", 5_000, 1);
    let rep = env
        .core
        .file_report(
            "illegal_parking",
            "占道停车",
            &[gridworker_core::worker::PhotoInput::new(&a)],
            &env.fix_at(env.point("P11").position),
            None,
        )
        .unwrap();
    let dir = env.dir.path();
    let _lock = gridworker_core::sync::lock::SyncLock::acquire(dir).unwrap();
    assert_eq!(mode(dir), 0o700);
    for name in [
        "gridworker.db",
        "gridworker.db-wal",
        "gridworker.db-shm",
        SIDECAR_FILE,
        "sync.lock",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    assert_eq!(mode(&dir.join("photos")), 0o700);
    assert_eq!(mode(&dir.join("photos/tmp")), 0o700);
    let photo = env.core.photo_path(&rep.photos[0].sha256).unwrap().unwrap();
    assert_eq!(mode(&photo), 0o600);
}

/// A recovery copies the households that wait for their search documents (a pull cut short
/// marks them; the table has no rowids to walk), and names only the table that was damaged:
/// it listed `search_dirty` as damaged in every recovery and dropped its marks, leaving those
/// households unsearchable.
#[test]
fn a_recovery_keeps_the_households_waiting_for_their_search_documents() {
    let env = Env::new();
    let page: gridworker_core::sync::wire::PullResponse =
        serde_json::from_value(serde_json::json!({
        "changes": [{"type": "resident_upsert", "resident": {
            "id": "r-1", "household_id": "H11", "name": "于秀珍",
            "id_number": "11010519491231002X", "phone": "13800000000", "relation": "head",
            "tags": [], "status": "living", "notes": "", "version": 1}}],
        "next_cursor": "1", "has_more": true}))
        .unwrap();
    gridworker_core::sync::apply::apply_page(&env.core, page).unwrap();
    for p in ["P11", "P12", "P13"] {
        let fix = env.fix_at(env.point(p).position);
        env.core.check_in(p, &fix).unwrap();
        env.clock.advance(700);
    }
    let marks = |dir: &Path| -> i64 {
        rusqlite::Connection::open(dir.join(DB_FILE))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM search_dirty", [], |r| r.get(0))
            .unwrap()
    };
    let address = env.household("H12").address.clone();
    let Env {
        dir, core, clock, ..
    } = env;
    drop(core);
    assert_eq!(marks(dir.path()), 1);
    let db = dir.path().join(DB_FILE);
    let (page_size, leaves) = leaf_pages(&db, "checkins");
    flip_page(&db, page_size, leaves[0]);

    let report = recover_store(dir.path(), None).unwrap();
    assert_eq!(report.damaged_tables, ["checkins"], "{report:?}");
    assert_eq!(marks(dir.path()), 1, "the household's mark was dropped");
    // The search index is rebuilt from its copied documents, whole.
    let w = GridWorker::open(config(dir.path(), clock)).unwrap();
    let found = w.search_households(&address, None, 10).unwrap().items;
    assert!(found.iter().any(|h| h.household.id == "H12"), "{found:?}");
    w.test_store()
        .write(|tx| {
            tx.execute(
                "INSERT INTO household_search(household_search) VALUES ('integrity-check')",
                [],
            )?;
            Ok(())
        })
        .expect("the search index is whole");
}
