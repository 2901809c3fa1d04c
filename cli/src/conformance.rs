//! `gridworker conformance`: checks a sync server (ours or a district vendor's) against
//! docs/protocol.md from the outside, over HTTP, and prints a pass/fail table. Exit 0 only if
//! every check that ran passed.
//!
//! Every run uses fresh device ids, record ids and photo bytes, so it can be run again and
//! again against the same server. The pushes are docs/vectors/push.json rebuilt for a fresh
//! device by the same rules (`push_rejections`); checks that need the admin API of the
//! reference server or a second worker are skipped without them, and say so.

mod checks;

use std::time::Duration;

use serde_json::{Value, json};

use crate::args::ConformanceArgs;
use crate::error::{CliError, CliResult, Kind};
use crate::output::Output;

/// Where a check ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass(String),
    Fail(String),
    /// Not run: it needs something the caller did not give (named in the text).
    Skipped(String),
}

/// The vendor's own commands for what the suite cannot do over HTTP (run with `sh -c`; each
/// returns 0 once the server answers again).
#[derive(Debug, Default)]
pub struct Hooks {
    /// Takes a backup of the server's data.
    pub backup: Option<String>,
    /// Restores the backup the last `backup` took.
    pub restore: Option<String>,
    /// Wipes the server's data: it starts afresh with a new `server_id`.
    pub wipe: Option<String>,
}

/// The server under test and who may speak to it.
pub struct Target {
    pub base: String,
    pub worker: String,
    pub token: String,
    /// A second worker, for the refusals that involve another worker's task.
    pub other: Option<(String, String)>,
    pub admin_token: Option<String>,
    pub allow_http: bool,
    pub hooks: Hooks,
    pub http: reqwest::Client,
    /// Distinguishes this run's devices and records from earlier runs'.
    pub run: String,
}

pub fn run(a: &ConformanceArgs) -> CliResult<Output> {
    let mut tokens = a.token_for.iter().map(|s| {
        s.split_once('=')
            .map(|(w, t)| (w.to_string(), t.to_string()))
            .ok_or_else(|| CliError::invalid(format!("--token-for {s}: expected WORKER=TOKEN")))
    });
    let (worker, token) = tokens
        .next()
        .ok_or_else(|| CliError::invalid("at least one --token-for WORKER=TOKEN is needed"))??;
    let other = tokens.next().transpose()?;
    let base = a.server.trim_end_matches('/').to_string();
    let scheme_ok = base.starts_with("https://") || (a.allow_http && base.starts_with("http://"));
    if !scheme_ok {
        return Err(CliError::invalid(
            "--server must be an https:// URL (http:// needs --allow-http)",
        ));
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| CliError::internal(format!("HTTP client: {e}")))?;
    let target = Target {
        base,
        worker,
        token,
        other,
        admin_token: a.admin_token.clone(),
        allow_http: a.allow_http,
        hooks: Hooks {
            backup: a.backup_command.clone(),
            restore: a.restore_command.clone(),
            wipe: a.wipe_command.clone(),
        },
        http,
        run: uuid::Uuid::now_v7().simple().to_string(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::internal(format!("runtime: {e}")))?;
    let results = rt.block_on(checks::all(&target));
    Ok(report(&results))
}

fn report(results: &[(&'static str, &'static str, Verdict)]) -> Output {
    let mut rows = Vec::new();
    let mut human = String::from("check                       result   detail\n");
    let (mut failed, mut skipped) = (0, 0);
    for (name, section, v) in results {
        let (word, detail) = match v {
            Verdict::Pass(d) => ("pass", d),
            Verdict::Fail(d) => {
                failed += 1;
                ("FAIL", d)
            }
            Verdict::Skipped(d) => {
                skipped += 1;
                ("skipped", d)
            }
        };
        human.push_str(&format!("{name:<28}{word:<9}{detail} ({section})\n"));
        rows.push(json!({"check": name, "section": section, "result": word.to_lowercase(), "detail": detail}));
    }
    let passed = results.len() - failed - skipped;
    human.push_str(&format!(
        "{passed} passed, {failed} failed, {skipped} skipped"
    ));
    let json: Value = json!({
        "checks": rows,
        "passed": passed,
        "failed": failed,
        "skipped": skipped,
    });
    let mut out = Output::new(json, human);
    if failed > 0 {
        out.failure = Some(CliError::new(
            Kind::ExpectationFailed,
            format!("{failed} conformance check(s) failed"),
        ));
    }
    out
}
