//! Storage behind one interface, two backends: SQLite (the embedded default: one file, one
//! writer) and PostgreSQL (production: any number of server processes on one database).
//!
//! Every rule of the server is written once, as SQL both databases accept, against [`Tx`].
//! The differences live here and nowhere else: placeholders (`?1` is rewritten to `$1` for
//! PostgreSQL), the schema and its migrations (`sqlite.rs`, `postgres.rs`), locking
//! ([`Tx::try_lock`]) and JSON field access ([`Tx::json_text`]).
//!
//! On PostgreSQL a write transaction runs at READ COMMITTED and takes explicit locks, held
//! by the database until it commits ([`Tx::lock`], [`Db::write_edit`]): one push per device,
//! one writer per record id, one writer of shared records (residents, households, reports'
//! and tasks' states, reference data) at a time. A transaction that loses a race anyway (a
//! deadlock, a unique key taken meanwhile) is run again from the start ([`Db::write`]);
//! after a bounded number of attempts the caller answers 503 `unavailable`.
//! SERIALIZABLE was tried first: under a district's rush its index-page conflicts made most
//! pushes run again (docs/architecture.md, "Server storage").

mod checkpoint;
mod postgres;
mod sqlite;
pub mod value;

use std::path::Path;
use std::time::Duration;

pub use value::{FromValue, ToValue, Value};

/// The first SQLite schema, for tests that build a data directory of an early release.
#[doc(hidden)]
pub use sqlite::V1 as SQLITE_V1;

/// Where the server keeps its records. Its `Debug` is [`Database::describe`]: a URL may
/// carry a password.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// `server.sqlite` in the data directory.
    Sqlite,
    /// A PostgreSQL connection URL (`postgres://user:pass@host:port/db`).
    Postgres(String),
}

impl Database {
    /// Parses `sqlite:` (the data directory), `sqlite:DIR` (handled by the caller, which
    /// takes DIR as the data directory) or `postgres://…` / `postgresql://…`.
    pub fn parse(s: &str) -> Result<(Database, Option<String>), String> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            s.parse::<::postgres::Config>()
                .map_err(|_| "the PostgreSQL URL does not parse".to_string())?;
            Ok((Database::Postgres(s.to_string()), None))
        } else if let Some(dir) = s.strip_prefix("sqlite:") {
            Ok((Database::Sqlite, (!dir.is_empty()).then(|| dir.to_string())))
        } else {
            Err("expected sqlite:DIR or postgres://…".to_string())
        }
    }

    /// For logs: the backend and, for PostgreSQL, host and database without credentials.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite => "sqlite".to_string(),
            Database::Postgres(url) => match url.parse::<::postgres::Config>() {
                Ok(c) => format!(
                    "postgres ({} database {})",
                    c.get_hosts()
                        .iter()
                        .map(|h| match h {
                            ::postgres::config::Host::Tcp(h) => h.clone(),
                            #[cfg(unix)]
                            ::postgres::config::Host::Unix(p) => p.display().to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                    c.get_dbname().unwrap_or("-")
                ),
                Err(_) => "postgres".to_string(),
            },
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A storage failure. Its text names codes, tables and constraints, never a stored value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {}", postgres::describe(.0))]
    Postgres(#[from] ::postgres::Error),
    #[error("the query returned no row")]
    NoRows,
    #[error("a column holds {found} where {want} was expected")]
    Conversion {
        found: &'static str,
        want: &'static str,
    },
    #[error("an integer column is out of range")]
    OutOfRange,
    #[error("column {0} does not exist in the row")]
    NoColumn(usize),
    #[error("encoding a stored value: {0}")]
    Encode(String),
    #[error("migration: {0}")]
    Migration(String),
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal: {0}")]
    Internal(&'static str),
    /// A change the phones would refuse (`gridworker_model::feed_bounds`): never written to
    /// the feed, where it would stop every pull that meets it.
    #[error("a feed change beyond the documented bounds: {0}")]
    OutOfBounds(gridworker_model::invalid::Invalid),
}

impl Error {
    /// A transaction that lost a race (serialization failure, deadlock, busy): the same
    /// work may succeed when run again.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Postgres(e) => postgres::is_transient(e),
            Error::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `Option` for a query that may find no row.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Parameters of a statement.
pub trait Params {
    fn to_values(&self) -> Vec<Value>;
}

impl Params for () {
    fn to_values(&self) -> Vec<Value> {
        Vec::new()
    }
}

impl<T: ToValue, const N: usize> Params for [T; N] {
    fn to_values(&self) -> Vec<Value> {
        self.iter().map(ToValue::to_value).collect()
    }
}

impl<T: ToValue> Params for &[T] {
    fn to_values(&self) -> Vec<Value> {
        self.iter().map(ToValue::to_value).collect()
    }
}

impl<T: ToValue> Params for Vec<T> {
    fn to_values(&self) -> Vec<Value> {
        self.iter().map(ToValue::to_value).collect()
    }
}

/// `params![a, b, c]`: positional parameters of mixed types.
#[macro_export]
macro_rules! params {
    () => { () };
    ($($x:expr),+ $(,)?) => {
        &[$(&$x as &dyn $crate::store::ToValue),+] as &[&dyn $crate::store::ToValue]
    };
}

/// Column index of a row.
pub trait RowIndex {
    fn index(self) -> usize;
}

impl RowIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// One result row, decoded into backend-neutral values.
#[derive(Debug, Clone)]
pub struct Row {
    values: Vec<Value>,
}

impl Row {
    pub fn get<I: RowIndex, T: FromValue>(&self, idx: I) -> Result<T> {
        let i = idx.index();
        let v = self.values.get(i).ok_or(Error::NoColumn(i))?;
        T::from_value(v.clone())
    }
}

/// Rows of a query, read one at a time.
pub struct Rows {
    rows: std::vec::IntoIter<Row>,
    current: Option<Row>,
}

impl Rows {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<&Row>> {
        self.current = self.rows.next();
        Ok(self.current.as_ref())
    }
}

enum TxInner<'c> {
    Sqlite(rusqlite::Transaction<'c>),
    Postgres(postgres::PgTx<'c>),
}

/// One transaction on either backend. Every server rule runs against this.
pub struct Tx<'c> {
    inner: TxInner<'c>,
    /// Whether this transaction writes the pull feed itself (see [`crate::db::emit`]):
    /// always on SQLite; on PostgreSQL once it has drained the pending changes.
    direct_feed: std::cell::Cell<bool>,
    /// Feed sequence numbers this transaction reserved and has not used: `next..end`
    /// (empty at first).
    feed_seqs: std::cell::Cell<(i64, i64)>,
    /// Answers of [`Tx::cached_exists`] in this transaction.
    exists: std::cell::RefCell<std::collections::HashMap<(String, String), bool>>,
}

impl<'c> Tx<'c> {
    fn rows(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
        match &self.inner {
            TxInner::Sqlite(tx) => sqlite::rows(tx, sql, params),
            TxInner::Postgres(tx) => tx.rows(sql, params),
        }
    }

    /// Runs a statement; the number of rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        match &self.inner {
            TxInner::Sqlite(tx) => sqlite::execute(tx, sql, params.to_values()),
            TxInner::Postgres(tx) => tx.execute(sql, params.to_values()),
        }
    }

    /// Writes rows of `columns` into `table`, `values` holding one row after the other.
    /// PostgreSQL takes them in one binary `COPY`, its bulk path (multi-row INSERTs of 256
    /// rows cost a push of 1,000 mutations 17-18 ms, COPY 10-12 ms, measured), or few rows
    /// in one INSERT; SQLite, which has no round trips to save, one cached INSERT per row.
    /// `table` and `columns` are the caller's constants, never input.
    pub fn insert_rows(&self, table: &str, columns: &[&str], values: Vec<Value>) -> Result<()> {
        if columns.is_empty() || values.is_empty() {
            return Ok(());
        }
        if !values.len().is_multiple_of(columns.len()) {
            return Err(Error::NoColumn(values.len() % columns.len()));
        }
        match &self.inner {
            TxInner::Sqlite(tx) => sqlite::insert_rows(tx, table, columns, values),
            TxInner::Postgres(tx) => tx.insert_rows(table, columns, values),
        }
    }

    /// The first row, or [`Error::NoRows`].
    pub fn query_row<P: Params, T>(
        &self,
        sql: &str,
        params: P,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        let rows = self.rows(sql, params.to_values())?;
        f(rows.first().ok_or(Error::NoRows)?)
    }

    /// A statement to run (backends cache their prepared forms by text).
    pub fn prepare<'t>(&'t self, sql: &str) -> Result<Stmt<'t, 'c>> {
        Ok(Stmt {
            tx: self,
            sql: sql.to_string(),
        })
    }

    /// Same as [`Tx::prepare`]: every statement is cached.
    pub fn prepare_cached<'t>(&'t self, sql: &str) -> Result<Stmt<'t, 'c>> {
        self.prepare(sql)
    }

    /// Whether this is PostgreSQL (for the few places the dialects differ).
    pub fn is_postgres(&self) -> bool {
        matches!(self.inner, TxInner::Postgres(_))
    }

    /// Whether feed changes go straight into `changes` (else into `pending_changes`).
    pub fn feed_is_direct(&self) -> bool {
        self.direct_feed.get()
    }

    /// From now on this transaction writes the feed itself (after draining what is pending).
    pub fn set_feed_direct(&self) {
        self.direct_feed.set(true);
    }

    /// The next feed sequence number this transaction reserved, if any is left.
    pub fn take_feed_seq(&self) -> Option<i64> {
        let (next, end) = self.feed_seqs.get();
        (next < end).then(|| {
            self.feed_seqs.set((next + 1, end));
            next
        })
    }

    /// Records that this transaction reserved the feed numbers `first..=last`.
    pub fn reserve_feed_seqs(&self, first: i64, last: i64) {
        self.feed_seqs.set((first, last.saturating_add(1)));
    }

    /// Takes the lock named `key` until the transaction ends, if no other transaction
    /// holds it. Always true on SQLite, whose single writer already excludes every other.
    pub fn try_lock(&self, key: &str) -> Result<bool> {
        match &self.inner {
            TxInner::Sqlite(_) => Ok(true),
            TxInner::Postgres(tx) => tx.lock(key, false),
        }
    }

    /// Takes the lock named `key` until the transaction ends, waiting for it. After it, this
    /// transaction's statements see what its previous holder committed. Nothing on SQLite.
    pub fn lock(&self, key: &str) -> Result<()> {
        match &self.inner {
            TxInner::Sqlite(_) => Ok(()),
            TxInner::Postgres(tx) => tx.lock(key, true).map(|_| ()),
        }
    }

    /// Takes the locks named by `keys`, in sorted order (so two transactions taking
    /// overlapping sets cannot deadlock), in one round trip. Nothing on SQLite.
    pub fn lock_all(&self, keys: &[String]) -> Result<()> {
        match &self.inner {
            TxInner::Sqlite(_) => Ok(()),
            TxInner::Postgres(tx) => tx.lock_all(keys),
        }
    }

    /// Whether `sql` (one `?1` parameter) finds a row for `id`, asked once per transaction:
    /// for reference data a push cites again and again (its points, its households).
    pub fn cached_exists(&self, sql: &str, id: &str) -> Result<bool> {
        let key = (sql.to_string(), id.to_string());
        if let Some(known) = self.exists.borrow().get(&key) {
            return Ok(*known);
        }
        let found = !self
            .rows(sql, vec![Value::Text(id.to_string())])?
            .is_empty();
        self.exists.borrow_mut().insert(key, found);
        Ok(found)
    }

    /// SQL for "`column` is one of the strings in the JSON array bound to parameter
    /// `param`" (e.g. `?2`), for a list of any length. On PostgreSQL the list becomes one
    /// array (`= ANY`), so an index on `column` is used; a subquery over the JSON made the
    /// planner scan the table.
    pub fn in_json_strings(&self, column: &str, param: &str) -> String {
        match &self.inner {
            TxInner::Sqlite(_) => format!("{column} IN (SELECT value FROM json_each({param}))"),
            TxInner::Postgres(_) => format!(
                "{column} = ANY (ARRAY(SELECT json_array_elements_text(CAST(CAST({param} AS TEXT) AS json))))"
            ),
        }
    }

    /// SQL for the text of `field` in the JSON object in `column`.
    pub fn json_text(&self, column: &str, field: &str) -> String {
        match &self.inner {
            TxInner::Sqlite(_) => format!("json_extract({column}, '$.{field}')"),
            TxInner::Postgres(_) => format!("({column}::jsonb ->> '{field}')"),
        }
    }
}

/// A statement bound to its transaction (rusqlite's shape, so call sites read the same).
pub struct Stmt<'t, 'c> {
    tx: &'t Tx<'c>,
    sql: String,
}

impl Stmt<'_, '_> {
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.tx.execute(&self.sql, params)
    }

    pub fn query_row<P: Params, T>(
        &mut self,
        params: P,
        f: impl FnOnce(&Row) -> Result<T>,
    ) -> Result<T> {
        self.tx.query_row(&self.sql, params, f)
    }

    pub fn query_map<P: Params, T>(
        &mut self,
        params: P,
        mut f: impl FnMut(&Row) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let rows = self.tx.rows(&self.sql, params.to_values())?;
        Ok(rows.iter().map(&mut f).collect::<Vec<_>>().into_iter())
    }

    pub fn query<P: Params>(&mut self, params: P) -> Result<Rows> {
        Ok(Rows {
            rows: self.tx.rows(&self.sql, params.to_values())?.into_iter(),
            current: None,
        })
    }

    pub fn exists<P: Params>(&mut self, params: P) -> Result<bool> {
        Ok(!self.tx.rows(&self.sql, params.to_values())?.is_empty())
    }
}

enum Backend {
    Sqlite(sqlite::SqliteDb),
    Postgres(postgres::PgDb),
}

/// The server's database.
pub struct Db {
    backend: Backend,
}

/// The lock held by every transaction that changes records more than one writer may change
/// (residents, households, conflicts, reports' and tasks' states, reference data): they
/// take turns, while pushes of check-ins, visits, reports and tracks run side by side.
pub const EDITS_LOCK: &str = "edits";

/// How many times a write that lost a race is run again before the caller gives up.
const WRITE_ATTEMPTS: u32 = 12;

/// Writes run again in this process because they lost a race (for benchmarks and logs).
static LOST_RACES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many write transactions this process has run again after losing a race.
pub fn lost_races() -> u64 {
    LOST_RACES.load(std::sync::atomic::Ordering::Relaxed)
}

impl Db {
    /// Opens the database, creating and migrating its schema to the latest version.
    pub fn open(database: &Database, data_dir: &Path, max_connections: usize) -> Result<Db> {
        let backend = match database {
            Database::Sqlite => Backend::Sqlite(sqlite::SqliteDb::open(data_dir)?),
            Database::Postgres(url) => {
                Backend::Postgres(postgres::PgDb::open(url, max_connections)?)
            }
        };
        let db = Db { backend };
        db.write(|tx| {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('server_id', ?1)
                 ON CONFLICT (key) DO NOTHING",
                [uuid::Uuid::now_v7().to_string()],
            )
        })?;
        Ok(db)
    }

    /// Applies pending migrations only (`gridworker-server migrate`); the applied version.
    pub fn migrate(database: &Database, data_dir: &Path) -> Result<i64> {
        match database {
            Database::Sqlite => sqlite::SqliteDb::open(data_dir)?.version(),
            Database::Postgres(url) => postgres::PgDb::open(url, 1)?.version(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Whether the database answers (readiness).
    pub fn ping(&self) -> Result<()> {
        self.read(|tx| tx.query_row("SELECT 1", (), |_| Ok(())))
    }

    /// Runs `f` in one write transaction, committed when it returns `Ok`. On PostgreSQL a
    /// transaction that lost a race to another is rolled back and `f` runs again.
    pub fn write<T, E>(&self, mut f: impl FnMut(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Error>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = match &self.backend {
                Backend::Sqlite(db) => db.write(&mut f),
                Backend::Postgres(db) => db.transaction(Kind::Write, &mut f),
            };
            let last = attempt >= WRITE_ATTEMPTS;
            match outcome {
                Ok(result) => return result,
                Err(Attempt::Failed(e)) => return Err(e.into()),
                Err(Attempt::Lost(e)) if last => return Err(e.into()),
                Err(Attempt::Returned(e)) if last => return Err(e),
                Err(_) => {
                    LOST_RACES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::debug!(attempt, "write transaction lost a race, running it again");
                    std::thread::sleep(backoff(attempt));
                }
            }
        }
    }

    /// [`Db::write`] holding the lock of shared records ([`EDITS_LOCK`]) from its start: for
    /// admin writes, seeding and pushes that change residents, households, reports or tasks.
    pub fn write_edit<T, E>(&self, mut f: impl FnMut(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Error>,
    {
        self.write(|tx| {
            tx.lock(EDITS_LOCK)?;
            f(tx)
        })
    }

    /// Runs `f` in one read transaction (a consistent snapshot).
    pub fn read<T, E>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Error>,
    {
        match &self.backend {
            Backend::Sqlite(db) => db.read(f),
            Backend::Postgres(db) => match db.transaction(Kind::Read, f) {
                Ok(result) => result,
                Err(Attempt::Returned(e)) => Err(e),
                Err(Attempt::Lost(e)) | Err(Attempt::Failed(e)) => Err(e.into()),
            },
        }
    }
}

/// The kinds of transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// READ COMMITTED on PostgreSQL, with the explicit locks of [`Tx::lock`].
    Write,
    /// A read-only REPEATABLE READ snapshot on PostgreSQL.
    Read,
}

/// Why one attempt at a transaction did not commit.
pub(crate) enum Attempt<E> {
    /// Lost a race (serialization failure, deadlock): worth running again.
    Lost(Error),
    /// Failed for good (connection, commit).
    Failed(Error),
    /// `f` returned this error after a statement lost a race: run again.
    Returned(E),
}

fn backoff(attempt: u32) -> Duration {
    // Jitter from the clock's nanoseconds keeps two losers from colliding again in step.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let base = 2u64 << attempt.min(6);
    Duration::from_millis(base + u64::from(nanos % 7))
}

#[cfg(test)]
mod tests {
    use super::Database;

    #[test]
    fn a_database_url_prints_without_its_credentials() {
        let (db, dir) = Database::parse("postgres://gw:s3cret@db.internal:5432/district").unwrap();
        assert_eq!(dir, None);
        for shown in [format!("{db:?}"), db.describe()] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(
                shown.contains("db.internal") && shown.contains("district"),
                "{shown}"
            );
        }
        assert!(Database::parse("mysql://x").is_err());
        assert_eq!(
            Database::parse("sqlite:/srv/gw").unwrap(),
            (Database::Sqlite, Some("/srv/gw".to_string()))
        );
    }
}
