//! Child process for the SIGKILL tests: opens the core on `GW_DIR`, optionally records
//! (`GW_RECORD=n`: n check-ins at the nearest points and one report with a photo), then syncs
//! once against `GW_URL` with token `GW_TOKEN` and prints the report. With the `failpoints`
//! feature and `GRIDWORKER_FAILPOINT=name` set it kills itself with SIGKILL at that step
//! (`after_record` right after the records are stored, before any sync). `GW_KEY` (64 hex
//! digits): the store's key; `GW_GALLERY`: where the recorded photo is written (default
//! `GW_DIR`).

use std::sync::Arc;

use gridworker_core::domain::LocationFix;
use gridworker_core::geo::Position;
use gridworker_core::sync::{AccessTokenProvider, SyncEngine, SyncOptions, failpoints};
use gridworker_core::worker::PhotoInput;
use gridworker_core::{Config, DatabaseKey, Error, GridWorker};

struct Fixed(String);
impl AccessTokenProvider for Fixed {
    fn access_token(&self, _force_refresh: bool) -> Result<String, Error> {
        Ok(self.0.clone())
    }
}

/// Records `n` check-ins at the points nearest to the store's first grid and one report.
fn record(worker: &GridWorker, dir: &str, n: usize) -> anyhow::Result<()> {
    let near = worker.nearby_points(Position::new(45.2950, 130.9700), 10)?;
    anyhow::ensure!(!near.is_empty(), "the store has no points to check in at");
    let now = chrono::Utc::now();
    for i in 0..n {
        let p = &near[i % near.len()].point;
        // Far enough apart in monotonic time that the speed check stays quiet.
        let fix = LocationFix::wgs84(
            p.position.lat,
            p.position.lon,
            8.0,
            now,
            1_000_000 + i as i64 * 600_000,
        );
        worker.check_in(&p.id, &fix)?;
    }
    let photo = std::path::Path::new(dir).join("child-photo.jpg");
    std::fs::write(&photo, gridworker_testkit::photos::jpeg(200_000, n as u64))?;
    let p = &near[0].point;
    let fix = LocationFix::wgs84(
        p.position.lat,
        p.position.lon,
        8.0,
        now,
        1_000_000 + n as i64 * 600_000,
    );
    worker.file_report(
        "dumped_waste",
        "建筑垃圾",
        &[PhotoInput::new(photo)],
        &fix,
        None,
    )?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::var("GW_DIR")?;
    let url = std::env::var("GW_URL")?;
    let token = std::env::var("GW_TOKEN").unwrap_or_else(|_| "tok".into());
    let mut config = Config::new(&dir, &url, "w-0001", "dev-A");
    if let Ok(k) = std::env::var("GW_KEY") {
        config.key = Some(DatabaseKey::from_hex(&k)?);
    }
    let worker = Arc::new(GridWorker::open(config)?);
    if let Ok(n) = std::env::var("GW_RECORD") {
        let gallery = std::env::var("GW_GALLERY").unwrap_or_else(|_| dir.clone());
        record(&worker, &gallery, n.parse()?)?;
        failpoints::hit("after_record");
    }
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
