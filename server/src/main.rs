//! `gridworker-server`: the reference sync server.
//!
//! ```text
//! gridworker-server --data DIR --listen 127.0.0.1:PORT --fixtures fixtures/district-small \
//!     --token WORKER_ID:TOKEN [--token ...] --admin-token TOKEN
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

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
    #[arg(long, default_value_t = gridworker_core::sync::wire::PROTOCOL)]
    min_protocol: u32,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = ServerConfig::new(&args.data);
    config.listen = args.listen;
    config.fixtures_dir = args.fixtures;
    config.admin_token = args.admin_token;
    config.min_protocol = args.min_protocol;
    for t in &args.tokens {
        let Some((worker, token)) = t.split_once(':') else {
            bail!("--token must be WORKER_ID:TOKEN, got {t:?}");
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
