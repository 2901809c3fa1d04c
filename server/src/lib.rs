//! Reference sync server for the gridworker protocol (docs/protocol.md): axum over SQLite,
//! seeded from a fixtures directory, bearer tokens for workers and one admin token.
//!
//! Run it in-process from tests with [`spawn_in_thread`] (blocking code) or [`serve`]
//! (async code); both run the server on its own thread and tokio runtime, so stopping it
//! ends every connection at once, as a crash would.

pub mod admin;
pub mod api;
pub mod auth;
pub mod backup;
pub mod blobs;
pub mod db;
pub mod device_log;
pub mod error;
pub mod health;
pub mod http;
pub mod ledger;
pub mod listen;
pub mod logging;
pub mod payload;
pub mod photos;
pub mod refdata;
pub mod reports;
pub mod residents;
pub mod sanitize;
pub mod store;
pub mod tasks;
pub mod tracks;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::routing::{get, post, put};
use gridworker_model::policy::ValidationPolicy;
use gridworker_model::wire;
use tower::ServiceBuilder;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use error::ApiError;
pub use listen::Limits;

/// Partial uploads untouched for this long are deleted by default.
pub const DEFAULT_PARTIAL_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// PostgreSQL connections per process by default: enough for the blocking pool's busy
/// threads on a small node, well under PostgreSQL's default of 100 for several nodes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// What can stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("database error: {0}")]
    Db(#[from] store::Error),
    #[error("database migration: {0}")]
    Migration(String),
    #[error("fixtures: {0}")]
    Fixtures(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("seeding failed: {0}")]
    Seed(String),
}

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Holds `photos/` and, with the SQLite default, `server.sqlite`; kept across restarts.
    pub data_dir: PathBuf,
    /// Where the records are kept: SQLite in the data directory (default) or PostgreSQL.
    pub database: store::Database,
    /// Where photo bytes are kept: `photos/` in the data directory (default), another
    /// directory, or an S3-compatible bucket.
    pub photos: blobs::PhotoStorage,
    /// PostgreSQL connections this process opens at most (requests beyond wait).
    pub max_connections: usize,
    /// Names this process in logs when several serve one database.
    pub node_id: Option<String>,
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Seeded into an empty data directory only.
    pub fixtures_dir: Option<PathBuf>,
    /// `(worker_id, token)` pairs. Workers not in the fixtures are created with no grids.
    pub tokens: Vec<(String, String)>,
    pub admin_token: String,
    /// Lowest protocol accepted (426 `client_too_old` below). Default [`wire::PROTOCOL`].
    pub min_protocol: u32,
    /// Sent at handshake.
    pub policy: ValidationPolicy,
    /// Timeouts and caps on connections and request bodies.
    pub limits: Limits,
    /// A partial photo upload untouched for this long is deleted and its space reclaimed.
    pub partial_ttl: Duration,
}

impl ServerConfig {
    /// A config on `data_dir`, listening on a free loopback port, with no fixtures, no
    /// workers and admin token `admin`.
    pub fn new(data_dir: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            data_dir: data_dir.into(),
            database: store::Database::Sqlite,
            photos: blobs::PhotoStorage::Local(None),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            node_id: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            fixtures_dir: None,
            tokens: Vec::new(),
            admin_token: "admin".to_string(),
            min_protocol: wire::OLDEST_PROTOCOL,
            policy: ValidationPolicy::default(),
            limits: Limits::default(),
            partial_ttl: DEFAULT_PARTIAL_TTL,
        }
    }

    /// Adds a worker token.
    pub fn token(mut self, worker_id: &str, token: &str) -> Self {
        self.tokens.push((worker_id.to_string(), token.to_string()));
        self
    }

    /// Seeds from this fixtures directory (when the data directory is empty).
    pub fn fixtures(mut self, dir: impl Into<PathBuf>) -> Self {
        self.fixtures_dir = Some(dir.into());
        self
    }
}

/// Shared by every handler.
pub struct AppState {
    pub(crate) db: Arc<store::Db>,
    /// Names this process in logs and probes (`-` when not given).
    pub(crate) node_id: String,
    /// token → worker id.
    pub(crate) tokens: HashMap<String, String>,
    pub(crate) admin_token: String,
    pub(crate) min_protocol: u32,
    pub(crate) policy: ValidationPolicy,
    pub(crate) blobs: blobs::Blobs,
    pub(crate) max_photo_bytes: u64,
    /// Partial uploads with a request in progress, by [`photos::owner_key`].
    pub(crate) uploads: Mutex<HashSet<String>>,
    pub(crate) limits: Limits,
    pub(crate) partial_ttl: Duration,
}

/// The routes of the protocol and of the admin API.
pub fn router(state: Arc<AppState>) -> Router {
    // Handlers that hold a whole body in memory: a bounded number at once, the rest are
    // told to come back (503 with Retry-After) rather than queued with their bodies.
    let buffered = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            ApiError::unavailable("the server is busy; retry shortly", 1)
        }))
        .load_shed()
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            state.limits.max_buffered_requests.max(1),
        ));
    let body_timeout = state.limits.body_timeout;
    let node = state.node_id.clone();
    Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route(wire::PATH_HANDSHAKE, get(api::handshake))
        .route(wire::PATH_PUSH, post(api::push).layer(buffered.clone()))
        .route(wire::PATH_CHANGES, get(api::changes))
        .route(
            "/v1/photos/{sha}",
            get(photos::get).head(photos::head).patch(photos::patch),
        )
        .route("/admin/v1/records", get(admin::records))
        .route("/admin/v1/reports/{id}", get(admin::report))
        .route("/admin/v1/reports/{id}/transition", post(admin::transition))
        .route("/admin/v1/tasks", post(admin::create_task))
        .route(
            "/admin/v1/grids/{code}",
            put(admin::put_grid).delete(admin::delete_grid),
        )
        .route(
            "/admin/v1/points/{id}",
            put(admin::put_point).delete(admin::delete_point),
        )
        .route(
            "/admin/v1/households/{id}",
            put(admin::put_household)
                .delete(admin::delete_household)
                .patch(residents::admin::patch_household),
        )
        .route("/admin/v1/workers/{id}/grids", put(admin::put_worker_grids))
        .route("/admin/v1/photos/{sha}", get(admin::photo))
        .route("/admin/v1/chain", get(admin::chain))
        .route("/admin/v1/tracks", get(tracks::day_track))
        .route(
            "/admin/v1/residents/{id}",
            get(residents::admin::get_resident)
                .patch(residents::admin::patch_resident)
                .put(residents::admin::put_resident),
        )
        .route("/admin/v1/conflicts", get(residents::admin::list_conflicts))
        .route(
            "/admin/v1/conflicts/{id}/resolve",
            post(residents::admin::resolve_conflict),
        )
        .route(
            "/admin/v1/devices/{device_id}/bind",
            post(admin::bind_device).layer(buffered),
        )
        .fallback(http::fallback)
        .method_not_allowed_fallback(http::method_fallback)
        // Bodies are read by the handlers with their own limits (413 in the protocol's
        // error shape); photo bodies are streamed.
        .layer(axum::extract::DefaultBodyLimit::disable())
        // A body that sends nothing for this long ends with an error its handler sees.
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
        // One line per request at debug (method, path, status, latency; no headers, so no
        // tokens); 5xx at error.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |req: &axum::http::Request<_>| {
                    tracing::debug_span!(
                        "request",
                        node = %node,
                        method = %req.method(),
                        uri = %req.uri(),
                        version = ?req.version(),
                    )
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(tracing::Level::DEBUG)),
        )
        .with_state(state)
}

/// Opens the data directory, seeds it if empty, registers the token workers.
fn prepare(config: &ServerConfig) -> Result<Arc<AppState>, ServerError> {
    if config.admin_token.is_empty() {
        return Err(ServerError::Config(
            "the admin token must not be empty".into(),
        ));
    }
    if config.partial_ttl.is_zero() {
        return Err(ServerError::Config(
            "the partial-upload lifetime must be positive".into(),
        ));
    }
    db::private_dir(&config.data_dir)?;
    let db = store::Db::open(&config.database, &config.data_dir, config.max_connections)?;
    let blobs = blobs::Blobs::open(&config.photos, &config.data_dir)
        .map_err(|e| ServerError::Config(e.to_string()))?;
    let seeded = db.read(|tx| db::meta(tx, "seeded"))?.is_some();
    if !seeded {
        let district = match &config.fixtures_dir {
            Some(dir) => Some(
                gridworker_fixtures::load(dir)
                    .map_err(|e| ServerError::Fixtures(format!("{}: {e}", dir.display())))?,
            ),
            None => None,
        };
        // Nodes that start together on an empty database take turns: the first seeds, the
        // others find `seeded`.
        db.write_edit(|tx| {
            if db::meta(tx, "seeded")?.is_some() {
                return Ok(());
            }
            if let Some(d) = &district {
                refdata::seed(tx, d).map_err(|e| ServerError::Seed(e.message))?;
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('seeded', ?1)",
                [chrono::Utc::now().to_rfc3339()],
            )?;
            Ok::<_, ServerError>(())
        })?;
    }
    let mut tokens = HashMap::new();
    for (worker, token) in &config.tokens {
        if token.is_empty() || worker.is_empty() {
            return Err(ServerError::Config(
                "worker ids and tokens must not be empty".into(),
            ));
        }
        if token == &config.admin_token {
            return Err(ServerError::Config(
                "a worker token must differ from the admin token".into(),
            ));
        }
        tokens.insert(token.clone(), worker.clone());
    }
    db.write(|tx| {
        for (worker, _) in &config.tokens {
            tx.execute(
                "INSERT INTO workers (id, name) VALUES (?1, ?1) ON CONFLICT (id) DO NOTHING",
                [worker],
            )?;
        }
        Ok::<_, ServerError>(())
    })?;
    let max_photo_bytes = config.policy.max_photo_bytes.min(wire::MAX_PHOTO_BYTES);
    Ok(Arc::new(AppState {
        db: Arc::new(db),
        node_id: config.node_id.clone().unwrap_or_else(|| "-".to_string()),
        tokens,
        admin_token: config.admin_token.clone(),
        min_protocol: config.min_protocol,
        policy: config.policy.clone(),
        blobs,
        max_photo_bytes,
        uploads: Mutex::new(HashSet::new()),
        limits: config.limits.clone(),
        partial_ttl: config.partial_ttl,
    }))
}

/// A server running on its own thread and runtime. Dropping it stops the server.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server: the listener closes and open connections are dropped mid-way, like
    /// a crash; committed data is on disk. Blocks until the database is closed.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Starts a server on a thread of its own (with its own tokio runtime) and returns once it
/// listens. Usable from non-async code.
pub fn spawn_in_thread(config: ServerConfig) -> Result<ServerHandle, ServerError> {
    // On a plain thread: PostgreSQL's blocking client cannot run on a caller's async
    // runtime thread.
    let state = std::thread::scope(|s| {
        s.spawn(|| prepare(&config))
            .join()
            .map_err(|_| ServerError::Config("start-up failed".into()))?
    })?;
    let listener = std::net::TcpListener::bind(config.listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("gridworker-server")
        .enable_all()
        .build()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("gridworker-server".into())
        .spawn(move || {
            let limits = state.limits.clone();
            let sweeper = state.clone();
            let drainer = state.clone();
            let app = router(state);
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("cannot listen: {e}");
                        return;
                    }
                };
                // Expired partials go before the first request, then periodically. A store
                // that cannot be swept now is no reason not to serve.
                if let Err(e) = photos::sweep(&sweeper).await {
                    tracing::error!(code = e.code, "partial sweep failed: {}", e.message);
                }
                tokio::spawn(photos::sweep_periodically(sweeper));
                if drainer.db.is_postgres() {
                    tokio::spawn(db::drain_periodically(drainer));
                }
                listen::serve(listener, app, &limits, async {
                    let _ = stop_rx.await;
                })
                .await;
            });
            // Ends every connection task now; blocking work in flight gets a moment to
            // finish its transaction.
            runtime.shutdown_timeout(Duration::from_secs(2));
        })?;
    Ok(ServerHandle {
        addr,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

/// A server started from async code; see [`ServerHandle`].
pub struct RunningServer {
    handle: Option<ServerHandle>,
    addr: SocketAddr,
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server (see [`ServerHandle::shutdown`]) without blocking the caller's
    /// runtime.
    pub async fn shutdown(mut self) {
        if let Some(h) = self.handle.take() {
            let _ = tokio::task::spawn_blocking(move || h.shutdown()).await;
        }
    }
}

/// Starts a server from async code (on its own thread and runtime).
pub async fn serve(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let handle = tokio::task::spawn_blocking(move || spawn_in_thread(config))
        .await
        .map_err(|e| ServerError::Config(format!("start-up task failed: {e}")))??;
    Ok(RunningServer {
        addr: handle.addr(),
        handle: Some(handle),
    })
}
