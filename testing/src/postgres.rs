//! PostgreSQL for tests: the server's conformance suite runs every server test against
//! SQLite (the default) and again against PostgreSQL when `GRIDWORKER_TEST_BACKEND` is
//! `postgres`. Each test server then gets a fresh database on the cluster at
//! `GRIDWORKER_TEST_DATABASE_URL` (`scripts/with-postgres.sh` starts a throwaway one).

/// `sqlite` (default) or `postgres`.
pub const BACKEND_ENV: &str = "GRIDWORKER_TEST_BACKEND";
/// A PostgreSQL URL whose user may create databases.
pub const URL_ENV: &str = "GRIDWORKER_TEST_DATABASE_URL";

/// Whether the tests run against PostgreSQL.
pub fn selected() -> bool {
    std::env::var(BACKEND_ENV).is_ok_and(|b| b == "postgres")
}

/// The cluster's URL. Panics with what to do when it is not set: a test that asked for
/// PostgreSQL must not pass without one.
pub fn cluster_url() -> String {
    std::env::var(URL_ENV).unwrap_or_else(|_| {
        panic!(
            "{URL_ENV} is not set: run the tests through scripts/with-postgres.sh (it starts \
             a throwaway cluster) or point {URL_ENV} at a PostgreSQL server"
        )
    })
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Creates an empty database on the cluster; its URL. Runs on a thread of its own: the
/// blocking client cannot run inside an async test's runtime.
pub fn fresh_database() -> String {
    let url = cluster_url();
    let name = format!("gw_{}", uuid::Uuid::now_v7().simple());
    let create = format!("CREATE DATABASE {name}");
    let admin = url.clone();
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the test cluster: {e}"));
        client
            .batch_execute(&create)
            .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
    })
    .join()
    .unwrap_or_else(|_| panic!("creating the test database failed"));
    with_database(&url, &name)
}

/// The database of the test server whose data directory is `data_dir`, when the tests run
/// against PostgreSQL (`None` for SQLite): fresh for a new directory, the same one again
/// for a server restarted on the same directory.
pub fn database_for(data_dir: &std::path::Path) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static BY_DIR: OnceLock<Mutex<HashMap<std::path::PathBuf, String>>> = OnceLock::new();
    if !selected() {
        return None;
    }
    let mut map = BY_DIR
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    Some(
        map.entry(data_dir.to_path_buf())
            .or_insert_with(fresh_database)
            .clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_database(
                "postgres://u:p@127.0.0.1:5433/postgres?sslmode=disable",
                "t1"
            ),
            "postgres://u:p@127.0.0.1:5433/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@localhost:5432", "t2"),
            "postgres://u@localhost:5432/t2"
        );
    }
}
