//! The SQLite backend's WAL checkpoints, on a thread of their own.
//!
//! By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: the
//! push whose commit that is waits while the WAL is copied into the database file and the
//! file is fsynced, every second or third push of 1,000 mutations. Here the writer turns
//! that off and only nudges this thread after a commit; the thread checkpoints in PASSIVE
//! mode (it never waits for, nor blocks, a writer or a reader) at most once per
//! [`INTERVAL`] while commits come. One device's push of 10,000 records took 264 – 334 ms
//! with checkpoints in the commits and 256 – 267 ms without any (same-minute runs).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::Error;

/// How long commits accumulate before the next checkpoint: a page changed by several
/// commits is copied once. Bounds the WAL to what the server writes in that time.
const INTERVAL: Duration = Duration::from_millis(500);

#[derive(Default)]
struct State {
    committed: bool,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The checkpoint thread; stopped and joined on drop (closing the last connection then
/// checkpoints what is left).
pub(super) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on `conn`, a connection of its own to the database.
    pub(super) fn start(conn: Connection) -> Result<Checkpointer, Error> {
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new()
            .name("gridworker-checkpoint".into())
            .spawn({
                let shared = shared.clone();
                move || run(&conn, &shared)
            })?;
        Ok(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// A write transaction committed.
    pub(super) fn nudge(&self) {
        self.shared.lock().committed = true;
        self.shared.wake.notify_one();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(conn: &Connection, shared: &Shared) {
    loop {
        {
            let mut st = shared.lock();
            while !st.committed && !st.stop {
                st = shared.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            if st.stop {
                return;
            }
            st.committed = false;
        }
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            // The next commit's nudge tries again; the WAL only grows meanwhile.
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
        let st = shared.lock();
        let _ = shared
            .wake
            .wait_timeout_while(st, INTERVAL, |s| !s.stop)
            .unwrap_or_else(|p| p.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Database, Db};

    /// With SQLite's own checkpoints off, only this thread copies the WAL into the database
    /// file while the server runs.
    #[test]
    fn commits_reach_the_database_file_while_the_server_runs() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&Database::Sqlite, dir.path(), 1).unwrap();
        let file = dir.path().join("server.sqlite");
        let before = std::fs::metadata(&file).unwrap().len();
        db.write(|tx| tx.execute("CREATE TABLE filler (x TEXT NOT NULL)", [] as [&str; 0]))
            .unwrap();
        let row = "x".repeat(1000);
        for _ in 0..30 {
            db.write(|tx| {
                for _ in 0..100 {
                    tx.execute("INSERT INTO filler (x) VALUES (?1)", [row.as_str()])?;
                }
                Ok::<_, super::super::Error>(())
            })
            .unwrap();
        }
        // 3,000 rows of 1 KB: about 3 MB that must leave the WAL.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut size = before;
        while size < before + 2_000_000 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
            size = std::fs::metadata(&file).unwrap().len();
        }
        assert!(
            size >= before + 2_000_000,
            "the database file is {size} bytes ({before} before the writes)"
        );
    }
}
