//! Child process for the SIGKILL tests: opens the core on `GW_DIR`, syncs once against
//! `GW_URL` with token `GW_TOKEN`, and prints the report. With the `failpoints` feature and
//! `GRIDWORKER_FAILPOINT=name` set it kills itself with SIGKILL at that protocol step.

use std::sync::Arc;

use gridworker_core::sync::{AccessTokenProvider, SyncEngine, SyncOptions};
use gridworker_core::{Config, Error, GridWorker};

struct Fixed(String);
impl AccessTokenProvider for Fixed {
    fn access_token(&self, _force_refresh: bool) -> Result<String, Error> {
        Ok(self.0.clone())
    }
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::var("GW_DIR")?;
    let url = std::env::var("GW_URL")?;
    let token = std::env::var("GW_TOKEN").unwrap_or_else(|_| "tok".into());
    let worker = Arc::new(GridWorker::open(Config::new(
        &dir, &url, "w-0001", "dev-A",
    ))?);
    let options = SyncOptions {
        allow_http: true,
        photo_chunk_bytes: 16 * 1024,
        ..SyncOptions::default()
    };
    let engine = SyncEngine::new(worker, options, Arc::new(Fixed(token)))?;
    let report = engine.sync_blocking()?;
    println!("{report:?}");
    Ok(())
}
