//! `gridworker-server`: the reference sync server.
//!
//! ```text
//! gridworker-server --data DIR --listen 127.0.0.1:PORT --fixtures fixtures/district-small \
//!     --token WORKER_ID:TOKEN [--token ...] --admin-token TOKEN [--log debug]
//! gridworker-server --database postgres://user@host/db --data DIR --node-id a \
//!     --photos s3://BUCKET?endpoint=https://… ...
//! gridworker-server migrate --database sqlite:DIR|postgres://…
//! gridworker-server backup --data DIR --to NEW_DIR
//! ```
//!
//! Logs go to stderr (level from `--log`, `GRIDWORKER_LOG` or `RUST_LOG`; default `info`);
//! stdout carries only the `listening on URL` line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use gridworker_server::blobs::PhotoStorage;
use gridworker_server::store::{Database, Db};
use gridworker_server::{ServerConfig, spawn_in_thread};

#[derive(Parser, Debug)]
#[command(
    name = "gridworker-server",
    version,
    about = "Reference sync server for the gridworker protocol"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Data directory (photos, and the database with SQLite); kept across restarts.
    /// Optional when `--database sqlite:DIR` names it.
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Where the records live: `sqlite:DIR` (the default, in the data directory) or
    /// `postgres://user:password@host:port/database` (any number of nodes on one database).
    #[arg(
        long,
        global = true,
        env = "GRIDWORKER_DATABASE",
        hide_env_values = true
    )]
    database: Option<String>,
    /// Where photo bytes are kept: `file:DIR` (default: `photos/` in the data directory) or
    /// `s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION]`, credentials from
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Nodes of one database share one store.
    #[arg(long, global = true, env = "GRIDWORKER_PHOTOS")]
    photos: Option<String>,
    /// Names this process in logs and health probes when several serve one database.
    #[arg(long)]
    node_id: Option<String>,
    /// PostgreSQL connections this process opens at most.
    #[arg(long, default_value_t = gridworker_server::DEFAULT_MAX_CONNECTIONS)]
    db_connections: usize,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Fixtures directory seeded into an empty data directory.
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// A worker token, WORKER_ID:TOKEN (repeatable).
    #[arg(long = "token", value_name = "WORKER_ID:TOKEN")]
    tokens: Vec<String>,
    /// Bearer token of the admin endpoints (required to serve).
    #[arg(long)]
    admin_token: Option<String>,
    /// Lowest protocol version accepted.
    #[arg(long, default_value_t = gridworker_model::wire::OLDEST_PROTOCOL)]
    min_protocol: u32,
    /// Log filter (e.g. info, debug, gridworker_server=debug); overrides GRIDWORKER_LOG and
    /// RUST_LOG. Debug logs one line per request.
    #[arg(long)]
    log: Option<String>,
    /// Seconds allowed to receive a request's headers.
    #[arg(long, default_value_t = 30.0, value_parser = seconds)]
    header_timeout: f64,
    /// Seconds an idle keep-alive connection waits for its next request.
    #[arg(long, default_value_t = 30.0, value_parser = seconds)]
    idle_timeout: f64,
    /// Longest gap between two chunks of a request body, in seconds.
    #[arg(long, default_value_t = 30.0, value_parser = seconds)]
    body_timeout: f64,
    /// Open connections at most (default and ceiling: 3/4 of the file-handle limit).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Requests holding their whole body in memory at once (push); more get 503.
    #[arg(long, default_value_t = 16)]
    max_buffered_requests: usize,
    /// Seconds after which an untouched partial photo upload is deleted (default 7 days).
    #[arg(long, default_value_t = 7.0 * 24.0 * 3600.0, value_parser = seconds)]
    partial_ttl: f64,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Applies the database's pending migrations and exits (servers also migrate when they
    /// start; run this first when several nodes start together on a new release).
    Migrate,
    /// Copies an SQLite server's database (a consistent snapshot, taken while it serves)
    /// and its photos into a new directory; start a server on that directory to restore.
    Backup {
        /// The new directory (must not exist or be empty).
        #[arg(long)]
        to: PathBuf,
    },
}

/// The database and data directory from `--database` and `--data`. The directory may be
/// missing only when migrating PostgreSQL (it holds photos and the SQLite database).
fn storage(args: &Args) -> anyhow::Result<(Database, Option<PathBuf>)> {
    let (database, dir) = match &args.database {
        Some(spec) => Database::parse(spec).map_err(anyhow::Error::msg)?,
        None => (Database::Sqlite, None),
    };
    let data = match (&args.data, dir) {
        (Some(d), Some(s)) if d.as_path() != std::path::Path::new(&s) => {
            bail!("--data and --database sqlite:DIR name different directories")
        }
        (Some(d), _) => Some(d.clone()),
        (None, Some(s)) => Some(PathBuf::from(s)),
        (None, None) => None,
    };
    Ok((database, data))
}

/// A positive number of seconds of at most a year.
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 366.0 * 24.0 * 3600.0 => Ok(v),
        _ => Err("must be a positive number of seconds, at most a year".into()),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    gridworker_server::logging::init(args.log.as_deref())?;
    let (database, data) = storage(&args)?;
    let needs_dir = || anyhow::anyhow!("--data DIR (or --database sqlite:DIR) is required");
    if let Some(Command::Migrate) = args.command {
        let dir = match (&database, data) {
            (Database::Sqlite, None) => return Err(needs_dir()),
            (_, d) => d.unwrap_or_default(),
        };
        let version = Db::migrate(&database, &dir)
            .with_context(|| format!("migrating {}", database.describe()))?;
        println!("{} is at schema version {version}", database.describe());
        return Ok(());
    }
    let photos = match &args.photos {
        Some(spec) => PhotoStorage::parse(spec).map_err(anyhow::Error::msg)?,
        None => PhotoStorage::Local(None),
    };
    if let Some(Command::Backup { to }) = &args.command {
        if database != Database::Sqlite {
            bail!(gridworker_server::backup::BackupError::NotSqlite);
        }
        let data = data.ok_or_else(needs_dir)?;
        let b = gridworker_server::backup::backup(&data, &photos, to)
            .with_context(|| format!("backing up {}", data.display()))?;
        println!(
            "backup in {}: {} records, {} photos ({} bytes){}",
            to.display(),
            b.records,
            b.photos,
            b.photo_bytes,
            if b.photos_elsewhere {
                "; the photos stay in the object store, back it up with its own tools"
            } else {
                ""
            }
        );
        return Ok(());
    }
    let data = data.ok_or_else(needs_dir)?;
    let Some(admin_token) = args.admin_token.clone() else {
        bail!("--admin-token is required to serve");
    };
    tracing::info!(
        node = args.node_id.as_deref().unwrap_or("-"),
        database = %database.describe(),
        photos = %photos.describe(),
        "starting"
    );
    let mut config = ServerConfig::new(&data);
    config.database = database;
    config.photos = photos;
    config.node_id = args.node_id.clone();
    config.max_connections = args.db_connections.max(1);
    config.limits.header_timeout = Duration::from_secs_f64(args.header_timeout);
    config.limits.idle_timeout = Duration::from_secs_f64(args.idle_timeout);
    config.limits.body_timeout = Duration::from_secs_f64(args.body_timeout);
    config.limits.max_connections = args.max_connections;
    config.limits.max_buffered_requests = args.max_buffered_requests.max(1);
    config.partial_ttl = Duration::from_secs_f64(args.partial_ttl);
    config.listen = args.listen;
    config.fixtures_dir = args.fixtures;
    config.admin_token = admin_token;
    config.min_protocol = args.min_protocol;
    for t in &args.tokens {
        let Some((worker, token)) = t.split_once(':') else {
            // The value is a secret: never echoed.
            bail!("--token must be WORKER_ID:TOKEN");
        };
        config.tokens.push((worker.to_string(), token.to_string()));
    }
    let server = spawn_in_thread(config).context("cannot start the server")?;
    println!("listening on {}", server.url());
    // Serve until interrupted; committed data is durable, so a plain exit is safe.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    server.shutdown();
    Ok(())
}
