//! The store itself: schema versions, corruption, concurrency.

mod support;

use std::sync::Arc;

use gridworker_core::test_hooks::{DB_FILE, schema};
use gridworker_core::{Error, GridWorker};
use support::*;

#[test]
fn fresh_store_is_at_current_version_with_wal_and_full_sync() {
    let env = Env::new();
    let conn = rusqlite::Connection::open(env.dir.path().join(DB_FILE)).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, schema::CURRENT_VERSION);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = env
        .core
        .test_store()
        .read(|c| Ok(c.pragma_query_value(None, "synchronous", |r| r.get(0))?))
        .unwrap();
    assert_eq!(sync, 2, "synchronous = FULL");
    let fk: i64 = env
        .core
        .test_store()
        .read(|c| Ok(c.pragma_query_value(None, "foreign_keys", |r| r.get(0))?))
        .unwrap();
    assert_eq!(fk, 1);
}

#[test]
fn newer_database_is_refused_and_left_alone() {
    let env = Env::new();
    let dir = env.dir.path().to_path_buf();
    env.core
        .check_in("P11", &env.fix_at(env.point("P11").position))
        .unwrap();
    let clock = env.clock.clone();
    drop(env.core);
    {
        let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let before = snapshot(&dir);
    let err = GridWorker::open(config(&dir, clock)).unwrap_err();
    assert!(
        matches!(err, Error::DatabaseTooNew { found: 99, supported } if supported == schema::CURRENT_VERSION),
        "{err}"
    );
    assert_eq!(snapshot(&dir), before);
}

#[test]
fn garbage_database_is_refused_untouched_until_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let garbage =
        b"this is not an sqlite database, but it may be all that is left of one".repeat(100);
    std::fs::write(dir.path().join(DB_FILE), &garbage).unwrap();
    let clock = TestClock::new(morning());
    for _ in 0..2 {
        let err = GridWorker::open(config(dir.path(), clock.clone())).unwrap_err();
        assert!(matches!(err, Error::StoreDamaged { .. }), "{err:?}");
        assert!(err.to_string().contains("recover"), "{err}");
        assert_eq!(std::fs::read(dir.path().join(DB_FILE)).unwrap(), garbage);
    }
    let report = gridworker_core::recover_store(dir.path(), None).unwrap();
    let kept = report.kept_at.expect("the damaged file is kept");
    assert_eq!(std::fs::read(&kept).unwrap(), garbage, "kept byte for byte");
    let core = GridWorker::open(config(dir.path(), clock)).unwrap();
    assert_eq!(core.sync_counts().unwrap().pending.checkins, 0);
}

#[test]
fn eight_threads_record_at_once_and_nothing_is_lost() {
    let env = Env::new();
    let core = Arc::new(env.core);
    let households = env.households.clone();
    let clock = env.clock.clone();
    let per_thread = 40;
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let core = core.clone();
            let h = households[t % households.len()].clone();
            let clock = clock.clone();
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let now = gridworker_core::Clock::now(clock.as_ref());
                    let fix = gridworker_core::domain::LocationFix::wgs84(
                        h.position.lat,
                        h.position.lon,
                        5.0,
                        now,
                        mono(now),
                    );
                    core.record_visit(
                        &h.id,
                        gridworker_core::domain::VisitKind::Routine,
                        &format!("t{t} v{i}"),
                        &fix,
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let visits = core.list_visits(0, 1000).unwrap();
    assert_eq!(visits.len(), 8 * per_thread);
    let batch = core
        .test_store()
        .read(|c| gridworker_core::test_hooks::outbox::pending_batch(c, 0, 10_000, usize::MAX))
        .unwrap();
    assert_eq!(batch.len(), 8 * per_thread);
    // Sequence numbers are dense and the chain is unbroken despite the contention.
    let mut head = gridworker_core::chain::GENESIS.to_string();
    for (i, e) in batch.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1);
        assert_eq!(e.prev_hash, head);
        head = e.hash.clone();
    }
}

#[test]
fn two_handles_on_one_store_never_see_busy() {
    // The app and a background sync process may both open the store.
    let env = Env::new();
    let second = Arc::new(GridWorker::open(config(env.dir.path(), env.clock.clone())).unwrap());
    let first = Arc::new(env.core);
    let hs = env.households.clone();
    let clock = env.clock.clone();
    let threads: Vec<_> = [first.clone(), second.clone()]
        .into_iter()
        .enumerate()
        .map(|(k, core)| {
            let h = hs[k].clone();
            let clock = clock.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let now = gridworker_core::Clock::now(clock.as_ref());
                    let fix = gridworker_core::domain::LocationFix::wgs84(
                        h.position.lat,
                        h.position.lon,
                        5.0,
                        now,
                        mono(now),
                    );
                    core.record_visit(&h.id, gridworker_core::domain::VisitKind::Routine, "", &fix)
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(first.list_visits(0, 1000).unwrap().len(), 100);
    assert_eq!(second.sync_counts().unwrap().pending.visits, 100);
}

#[test]
fn recoverable_writes_leave_the_writer_durable_again() {
    let env = Env::new();
    let store = env.core.test_store();
    let inside: i64 = store
        .write_recoverable(|tx| Ok(tx.pragma_query_value(None, "synchronous", |r| r.get(0))?))
        .unwrap();
    assert_eq!(inside, 1, "NORMAL inside a recoverable write");
    let after: i64 = store
        .write(|tx| Ok(tx.pragma_query_value(None, "synchronous", |r| r.get(0))?))
        .unwrap();
    assert_eq!(after, 2, "FULL again for the next user record");
    // Also after a failed recoverable write.
    let _ = store
        .write_recoverable(|_| -> gridworker_core::Result<()> { Err(Error::invalid("x", "y")) });
    let after: i64 = store
        .write(|tx| Ok(tx.pragma_query_value(None, "synchronous", |r| r.get(0))?))
        .unwrap();
    assert_eq!(after, 2);
}

/// A store belongs to the worker who first opened it. Opened for another worker (a phone
/// reissued without a wipe), it is refused with a typed error and nothing changes: the
/// server would refuse every push holding the first worker's records as a whole, and the
/// new worker would see the first one's data. After a wipe the new worker starts afresh.
#[test]
fn a_store_opened_for_another_worker_is_refused_until_it_is_wiped() {
    let env = Env::new();
    let fix = env.fix_at(env.point("P11").position);
    env.core.check_in("P11", &fix).unwrap();
    let Env {
        dir: tmp,
        clock,
        core,
        ..
    } = env;
    drop(core);
    let dir = tmp.path().to_path_buf();
    let before = snapshot(&dir);
    let other = |clock| {
        let mut c = config(&dir, clock);
        c.worker_id = "w-0002".into();
        c.device_id = "dev-B".into();
        c
    };
    match GridWorker::open(other(clock.clone())) {
        Err(Error::InvalidState { what, state, .. }) => {
            assert_eq!((what, state.as_str()), ("store", "another_worker"));
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert_eq!(snapshot(&dir), before, "a refused open changed the store");
    GridWorker::open(config(&dir, clock.clone())).expect("its own worker opens it");

    // A store with no record left (synced, or never made) still holds the worker's pulled
    // residents and tracks: refused all the same.
    let fresh = tempfile::tempdir().unwrap();
    drop(GridWorker::open(config(fresh.path(), clock.clone())).unwrap());
    let mut c = config(fresh.path(), clock.clone());
    c.worker_id = "w-0002".into();
    assert!(matches!(
        GridWorker::open(c),
        Err(Error::InvalidState { .. })
    ));

    gridworker_core::worker::wipe_data_dir(&dir).unwrap();
    let w = GridWorker::open(other(clock)).expect("a wiped store is the new worker's");
    assert_eq!(w.config().worker_id, "w-0002");
}

/// While another process wipes, recovers or re-encrypts a data directory (it holds
/// `store.lock` exclusive; a second descriptor of the file stands in for that process, flock
/// tells them apart alike), opening the store there is refused, naming another process, and
/// changes nothing; once it lets go the store opens with everything. And while a store is
/// open, that process's exclusive lock is refused.
#[test]
fn a_store_another_process_holds_for_a_wipe_or_rekey_is_not_opened_under_it() {
    let env = Env::new();
    let dir = env.dir.path().to_path_buf();
    let fix = env.fix_at(env.points[0].position);
    env.core.check_in(&env.points[0].id, &fix).unwrap();
    let lock_path = dir.join(gridworker_core::test_hooks::registry::OPEN_LOCK_FILE);
    let other = std::fs::File::options()
        .read(true)
        .write(true)
        .open(&lock_path)
        .expect("an open store made its lock file");
    assert!(
        other.try_lock().is_err(),
        "an open store holds its lock shared"
    );
    drop(env.core);

    other.try_lock().expect("a closed store lets the lock go");
    let err = match GridWorker::open(config(&dir, TestClock::new(morning()))) {
        Err(e) => e,
        Ok(_) => panic!("opened under another process's wipe"),
    };
    assert!(
        matches!(err, Error::StoreInUse { open_handles: 0 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("another process"), "{err}");
    other.unlock().unwrap();
    let w = GridWorker::open(config(&dir, TestClock::new(morning()))).unwrap();
    assert_eq!(w.sync_counts().unwrap().pending.checkins, 1);
}
