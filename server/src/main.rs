//! `gridworker-server`: the reference sync server.
//!
//! ```text
//! gridworker-server --data DIR --listen 127.0.0.1:PORT --fixtures fixtures/district-small \
//!     --token WORKER_ID:TOKEN [--token ...] --admin-token TOKEN [--log debug]
//! ```
//!
//! Logs go to stderr (level from `--log`, `GRIDWORKER_LOG` or `RUST_LOG`; default `info`);
//! stdout carries only the `listening on URL` line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use gridworker_server::{ServerConfig, spawn_in_thread};

#[derive(Parser, Debug)]
#[command(
    name = "gridworker-server",
    version,
    about = "Reference sync server for the gridworker protocol"
)]
struct Args {
    /// Data directory (database and photos); kept across restarts.
    #[arg(long)]
    data: PathBuf,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Fixtures directory seeded into an empty data directory.
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// A worker token, WORKER_ID:TOKEN (repeatable).
    #[arg(long = "token", value_name = "WORKER_ID:TOKEN")]
    tokens: Vec<String>,
    /// Bearer token of the admin endpoints.
    #[arg(long)]
    admin_token: String,
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
    let mut config = ServerConfig::new(&args.data);
    config.limits.header_timeout = Duration::from_secs_f64(args.header_timeout);
    config.limits.idle_timeout = Duration::from_secs_f64(args.idle_timeout);
    config.limits.body_timeout = Duration::from_secs_f64(args.body_timeout);
    config.limits.max_connections = args.max_connections;
    config.limits.max_buffered_requests = args.max_buffered_requests.max(1);
    config.partial_ttl = Duration::from_secs_f64(args.partial_ttl);
    config.listen = args.listen;
    config.fixtures_dir = args.fixtures;
    config.admin_token = args.admin_token;
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
