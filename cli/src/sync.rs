//! `sync`: one full run of the core's sync engine, with a progress bar on a terminal.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use gridworker_core::sync::{
    AccessTokenProvider, NetworkKind, SyncEngine, SyncListener, SyncOptions, SyncPhase,
    SyncProgress, SyncReport,
};
use gridworker_core::{Error as CoreError, GridWorker, SystemClock};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::{NetworkArg, SyncArgs};
use crate::error::{CliError, CliResult, Kind};
use crate::home::{Home, HomeConfig};
use crate::output::Output;

/// Hands the engine the token from the home's config. It cannot log in again, so a refused
/// token is an authentication failure (exit 4).
pub struct StaticToken(pub Option<String>);

impl AccessTokenProvider for StaticToken {
    fn access_token(&self, force_refresh: bool) -> Result<String, CoreError> {
        // Without a token the request still goes out (empty bearer), so an unreachable
        // server reads as a network failure and only a server that answers refuses us.
        match (&self.0, force_refresh) {
            (Some(_), true) => Err(CoreError::Authentication {
                reason: "the server refused the configured token".into(),
            }),
            (None, true) => Err(CoreError::Authentication {
                reason: "the server wants a token; none configured (gridworker init --token)"
                    .into(),
            }),
            (t, false) => Ok(t.clone().unwrap_or_default()),
        }
    }
}

/// Engine options for the CLI: the platform defaults, with retries short enough that an
/// unreachable server answers in seconds rather than minutes.
pub fn options(allow_http: bool) -> SyncOptions {
    SyncOptions {
        allow_http,
        max_attempts: 3,
        base_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        max_retry_time: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(30),
        ..SyncOptions::default()
    }
}

/// An engine for `gw` as configured in `cfg`.
pub fn engine(gw: Arc<GridWorker>, cfg: &HomeConfig) -> CliResult<SyncEngine> {
    Ok(SyncEngine::new(
        gw,
        options(cfg.allow_http),
        Arc::new(StaticToken(cfg.token.clone())),
    )?)
}

/// Maps a failed run to the CLI's error, naming what stays queued.
pub fn sync_error(e: CoreError) -> CliError {
    match e {
        CoreError::Network { reason } => CliError::new(
            Kind::Network,
            format!("network error: {reason}; work stays queued"),
        ),
        other => other.into(),
    }
}

/// Draws the engine's progress on stderr.
struct Bar(ProgressBar);

impl SyncListener for Bar {
    fn on_progress(&self, p: &SyncProgress) {
        let phase = match p.phase {
            SyncPhase::Handshake => "handshake",
            SyncPhase::Photos => "photos",
            SyncPhase::Push => "push",
            SyncPhase::Pull => "pull",
            SyncPhase::Done => "done",
        };
        match p.items_total {
            Some(t) => {
                self.0.set_length(t);
                self.0.set_position(p.items_done.min(t));
            }
            None => {
                self.0.set_length(p.items_done.max(1));
                self.0.set_position(p.items_done);
            }
        }
        self.0.set_message(phase);
    }
}

/// The JSON form of a run's report.
pub fn report_json(r: &SyncReport) -> serde_json::Value {
    serde_json::to_value(r).unwrap_or_else(|_| json!({}))
}

pub fn sync(home: &Home, a: &SyncArgs, as_json: bool) -> CliResult<Output> {
    let cfg = home.load()?;
    let gw = Arc::new(home.open(&cfg, Arc::new(SystemClock))?);
    let engine = engine(gw.clone(), &cfg)?;
    engine.set_network(match a.network {
        NetworkArg::None => NetworkKind::None,
        NetworkArg::Cellular => NetworkKind::Cellular,
        NetworkArg::Wifi => NetworkKind::Wifi,
    });
    let show_bar = !as_json && std::io::stderr().is_terminal();
    let bar = show_bar.then(|| {
        let pb = ProgressBar::new(1);
        pb.set_style(
            ProgressStyle::with_template("{spinner} sync {msg:>9} [{bar:30}] {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    });
    let _handle = bar
        .as_ref()
        .map(|pb| engine.add_listener(Arc::new(Bar(pb.clone()))));
    let result = engine.sync_blocking();
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    let r = result.map_err(sync_error)?;
    gw.reload_reference()?;
    let mut human = format!(
        "synced: {} pushed, {} already on the server, {} rejected, {} deferred, {} held, \
         {} quarantined, {} photos uploaded, {} changes pulled",
        r.pushed,
        r.already_applied,
        r.rejected,
        r.deferred,
        r.held,
        r.quarantined.len(),
        r.photos_uploaded,
        r.pulled_changes
    );
    for q in &r.quarantined {
        human.push_str(&format!(
            "\nquarantined {} {}: {}",
            q.kind, q.record_id, q.reason
        ));
    }
    Ok(Output::new(
        json!({"sync": report_json(&r), "status": crate::query::status_json(&gw)?}),
        human,
    ))
}
