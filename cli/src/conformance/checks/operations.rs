//! Checks of what happens to a server in operation, driven through the real core: a photo
//! upload cut mid-body (through the fault proxy), a restore from backup (the lost range sent
//! again, the expired cursor) and a reset (a new `server_id`).
//!
//! The suite cannot back up, restore or wipe a vendor's server by itself: those checks run
//! the vendor's own commands (`--backup-command`, `--restore-command`, `--wipe-command`) and
//! are skipped without them. Each command must return 0 once the server answers again.

use std::sync::Arc;
use std::time::Duration;

use gridworker_core::sync::wire::{self, codes};
use gridworker_core::sync::{SyncEngine, SyncOptions, SyncReport};
use gridworker_core::worker::PhotoInput;
use gridworker_core::{Config, GridWorker};
use gridworker_testkit::fault_proxy::{Fault, FaultProxy};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Token, answer, fix};
use crate::conformance::{Target, Verdict};

/// How long one vendor command may take (a restore of a small test database).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// A phone: the real core on a store of its own, syncing with `base`.
struct Phone {
    dir: tempfile::TempDir,
    worker: Arc<GridWorker>,
    engine: SyncEngine,
    device: String,
    /// Makes every photo of this phone distinct (and distinct from earlier runs').
    photos: u32,
    run: String,
}

impl Phone {
    fn open(t: &Target, tag: &str, base: &str) -> Result<Phone, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary store: {e}"))?;
        let device = t.device(tag);
        let config = Config::new(dir.path().join("store"), base, &t.worker, &device);
        let worker = Arc::new(GridWorker::open(config).map_err(|e| format!("store: {e}"))?);
        // Quick retries: a cut must be retried within the run, not left for the next one.
        let options = SyncOptions {
            allow_http: t.allow_http,
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            request_timeout: Duration::from_secs(20),
            ..SyncOptions::default()
        };
        let engine = SyncEngine::new(worker.clone(), options, Arc::new(Token(t.token.clone())))
            .map_err(|e| format!("engine: {e}"))?;
        Ok(Phone {
            dir,
            worker,
            engine,
            device,
            photos: 0,
            run: t.run.clone(),
        })
    }

    /// Files a report with one photo of `size` bytes; returns the photo's SHA-256.
    fn report(&mut self, size: usize) -> Result<String, String> {
        self.photos += 1;
        // Distinct from every earlier run's and phone's photos; small enough to be sent as
        // it is (the photo pipeline keeps it byte for byte).
        let seed = Sha256::digest(format!("{}-{}-{}", self.run, self.device, self.photos));
        let seed = u64::from_be_bytes(seed[..8].try_into().unwrap_or_default());
        let bytes = gridworker_testkit::photos::jpeg(size, seed);
        let sha = hex::encode(Sha256::digest(&bytes));
        let path = self.dir.path().join(format!("photo-{}.jpg", self.photos));
        std::fs::write(&path, &bytes).map_err(|e| format!("photo file: {e}"))?;
        // One of the district's categories once the server sent its catalog (a phone refuses
        // others); the check's own name before that.
        let category = self
            .worker
            .report_catalog()
            .ok()
            .and_then(|c| c.categories.into_iter().next())
            .map_or_else(|| "conformance".to_string(), |c| c.code);
        self.worker
            .file_report(
                &category,
                "一致性检查",
                &[PhotoInput::new(path)],
                &fix(),
                None,
            )
            .map_err(|e| format!("filing a report: {e}"))?;
        Ok(sha)
    }

    async fn sync(&self, what: &str) -> Result<SyncReport, String> {
        self.engine
            .sync()
            .await
            .map_err(|e| format!("{what}: the sync failed: {e}"))
    }

    /// Records the phone made (one report per photo here): its last `seq`.
    fn records(&self) -> i64 {
        i64::from(self.photos)
    }
}

/// Runs a vendor command with `sh -c`; Ok once it returned 0.
async fn run_command(flag: &str, command: &str) -> Result<(), String> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(COMMAND_TIMEOUT, child)
        .await
        .map_err(|_| format!("{flag} did not finish in {} s", COMMAND_TIMEOUT.as_secs()))?
        .map_err(|e| format!("{flag} could not start: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: String = stderr.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
    Err(format!("{flag} failed ({}): {tail}", out.status))
}

/// The raw handshake of `device`.
async fn handshake(t: &Target, device: &str) -> Result<wire::HandshakeResponse, String> {
    let a = answer(t.request(Method::GET, wire::PATH_HANDSHAKE, Some(device))).await?;
    if a.status != StatusCode::OK {
        return Err(format!("handshake: {} {}", a.status, a.code()));
    }
    serde_json::from_value(a.body).map_err(|e| format!("handshake does not decode: {e}"))
}

/// The server's view of a photo upload: (offset, complete).
async fn photo_state(t: &Target, device: &str, sha: &str) -> Result<(u64, bool), String> {
    let a = answer(t.request(Method::GET, &wire::photo_path(sha), Some(device))).await?;
    if a.status != StatusCode::OK {
        return Err(format!("photo state: {} {}", a.status, a.code()));
    }
    Ok((
        a.body["offset"].as_u64().unwrap_or(0),
        a.body["complete"] == json!(true),
    ))
}

/// `host:port` of an `http://` base URL and the path after it.
fn http_parts(base: &str) -> Option<(String, String)> {
    let rest = base.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Some((authority, path.to_string()))
}

/// A photo upload cut after half its body resumes from the server's offset in the same run
/// (§5.2): the bytes sent stay close to one photo, and the server ends with it complete.
pub(super) async fn photo_cut(t: &Target) -> Verdict {
    let Some((authority, path)) = http_parts(&t.base) else {
        return Verdict::Skipped(
            "the fault proxy speaks plain HTTP: needs an http:// server URL".into(),
        );
    };
    let upstream = match tokio::net::lookup_host(&authority).await {
        Ok(mut a) => match a.next() {
            Some(a) => a,
            None => return Verdict::Fail(format!("{authority} has no address")),
        },
        Err(e) => return Verdict::Fail(format!("{authority}: {e}")),
    };
    let proxy = match FaultProxy::start(upstream) {
        Ok(p) => p,
        Err(e) => return Verdict::Fail(format!("fault proxy: {e}")),
    };
    let mut phone = get!(Phone::open(t, "x", &format!("{}{path}", proxy.url())));
    let size = 400_000u64;
    let sha = get!(phone.report(size as usize));
    // The handshake and the photo's state pass; the upload loses its second half.
    proxy.push_fault(Fault::Pass);
    proxy.push_fault(Fault::Pass);
    proxy.push_fault(Fault::CutRequestAfter(size / 2));
    proxy.reset_stats();
    let r = get!(phone.sync("the run with the cut").await);
    ensure!(
        r.photos_uploaded == 1 && r.pushed == 1 && r.quarantined.is_empty(),
        "after the cut: {} photo(s) uploaded, {} pushed, {} quarantined (want 1, 1, 0)",
        r.photos_uploaded,
        r.pushed,
        r.quarantined.len()
    );
    let up = proxy.stats().bytes_up;
    ensure!(
        up > size,
        "only {up} bytes went up for a {size}-byte photo: the cut did not hit the upload"
    );
    ensure!(
        up < size + size / 5,
        "{up} bytes went up for a {size}-byte photo cut at half: it was sent again from the \
         start instead of resumed"
    );
    let (offset, complete) = get!(photo_state(t, &phone.device, &sha).await);
    ensure!(
        complete && offset == size,
        "the server holds {offset} of {size} bytes, complete {complete}"
    );
    Verdict::Pass(format!(
        "cut at {} bytes, resumed: {up} bytes up for {size}",
        size / 2
    ))
}

/// The hooks' verdicts when a command is missing.
fn missing(flags: &[(&str, &Option<String>)]) -> Option<String> {
    let absent: Vec<&str> = flags
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(f, _)| *f)
        .collect();
    (!absent.is_empty()).then(|| format!("needs {}", absent.join(" and ")))
}

/// The last cursor of the worker's feed, paged from scratch.
async fn feed_end(t: &Target, device: &str) -> Result<String, String> {
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let a = answer(t.request(
            Method::GET,
            &wire::pull_path(cursor.as_deref(), 500),
            Some(device),
        ))
        .await?;
        if a.status != StatusCode::OK {
            return Err(format!("pull: {} {}", a.status, a.code()));
        }
        let page: wire::PullResponse =
            serde_json::from_value(a.body).map_err(|e| format!("pull page: {e}"))?;
        cursor = Some(page.next_cursor);
        if !page.has_more {
            break;
        }
    }
    cursor.ok_or_else(|| "the feed gave no cursor".into())
}

/// Restore from backup (§3.1): the records the backup lacks are sent again by the phone in
/// its next run and kept once; a cursor into the lost part of the feed is 410
/// `cursor_expired`. Returns the verdicts of `server_restore` and `cursor_expiry`.
pub(super) async fn restore(t: &Target) -> (Verdict, Verdict) {
    if let Some(why) = missing(&[
        ("--backup-command", &t.hooks.backup),
        ("--restore-command", &t.hooks.restore),
    ]) {
        return (Verdict::Skipped(why.clone()), Verdict::Skipped(why));
    }
    match restore_steps(t).await {
        Ok(v) => v,
        Err(e) => (Verdict::Fail(e.clone()), Verdict::Fail(e)),
    }
}

async fn restore_steps(t: &Target) -> Result<(Verdict, Verdict), String> {
    let (backup, restore) = match (&t.hooks.backup, &t.hooks.restore) {
        (Some(b), Some(r)) => (b, r),
        _ => return Err("hooks missing".into()),
    };
    let mut phone = Phone::open(t, "r", &t.base)?;
    phone.report(20_000)?;
    phone.sync("the first run").await?;
    run_command("--backup-command", backup).await?;

    // Work the backup lacks, and (with the admin API) a change in the feed past it.
    phone.report(20_000)?;
    let lost_photo = phone.report(30_000)?;
    let moved_feed = match &t.admin_token {
        Some(admin) => {
            let r = t
                .http
                .post(format!("{}/admin/v1/tasks", t.base))
                .header("authorization", format!("Bearer {admin}"))
                .json(&json!({"worker_id": t.worker, "title": "一致性检查", "description": "restore"}))
                .send()
                .await
                .map_err(|e| format!("POST /admin/v1/tasks: {e}"))?;
            if !r.status().is_success() {
                return Err(format!("POST /admin/v1/tasks answered {}", r.status()));
            }
            true
        }
        None => false,
    };
    let r = phone.sync("the run before the restore").await?;
    if r.pushed != 2 {
        return Err(format!(
            "the run before the restore pushed {} (want 2)",
            r.pushed
        ));
    }
    let cursor = feed_end(t, &phone.device).await?;
    run_command("--restore-command", restore).await?;

    let expiry = if moved_feed {
        let a = answer(t.request(
            Method::GET,
            &wire::pull_path(Some(&cursor), 500),
            Some(&phone.device),
        ))
        .await?;
        if (a.status.as_u16(), a.code()) == (410, codes::CURSOR_EXPIRED) {
            Verdict::Pass("a cursor past the restored feed: 410 cursor_expired".into())
        } else {
            Verdict::Fail(format!(
                "a cursor past the restored feed: {} {} (want 410 cursor_expired)",
                a.status,
                a.code()
            ))
        }
    } else {
        Verdict::Skipped("needs --admin-token to add to the feed between backup and restore".into())
    };

    let h = handshake(t, &phone.device).await?;
    if h.device_last_seq != Some(1) {
        return Err(format!(
            "after the restore the handshake says device_last_seq {:?} (want 1, the backup's)",
            h.device_last_seq
        ));
    }
    let r = phone.sync("the run after the restore").await?;
    let restored = if r.pushed != 2 || !r.quarantined.is_empty() {
        Verdict::Fail(format!(
            "the run after the restore pushed {} and quarantined {} (want 2 and 0)",
            r.pushed,
            r.quarantined.len()
        ))
    } else {
        let again = phone.sync("the run after that").await?;
        let (_, complete) = photo_state(t, &phone.device, &lost_photo).await?;
        let last = handshake(t, &phone.device).await?.device_last_seq;
        if (again.pushed, again.already_applied) != (0, 0) {
            Verdict::Fail(format!(
                "the next run sent {} again",
                again.pushed + again.already_applied
            ))
        } else if !complete {
            Verdict::Fail("the photo the backup lacked was not sent again".into())
        } else if last != Some(phone.records()) {
            Verdict::Fail(format!(
                "device_last_seq {last:?} after the re-send (want {})",
                phone.records()
            ))
        } else {
            Verdict::Pass("2 records and a photo the backup lacked, sent again once".into())
        }
    };
    Ok((restored, expiry))
}

/// Reset (§3.1): a wiped server answers with a new `server_id`; the phone pulls from scratch
/// and sends its records again in the same run.
pub(super) async fn reset(t: &Target) -> Verdict {
    let Some(wipe) = &t.hooks.wipe else {
        return Verdict::Skipped("needs --wipe-command".into());
    };
    let mut phone = get!(Phone::open(t, "w", &t.base));
    get!(phone.report(20_000));
    let first = get!(phone.sync("the first run").await);
    let before = get!(handshake(t, &phone.device).await).server_id;
    get!(run_command("--wipe-command", wipe).await);
    let h = get!(handshake(t, &phone.device).await);
    ensure!(
        h.server_id != before,
        "the wiped server kept its server_id {before}"
    );
    ensure!(
        h.device_last_seq.is_none(),
        "the wiped server still knows the device (device_last_seq {:?})",
        h.device_last_seq
    );
    let r = get!(phone.sync("the run after the wipe").await);
    ensure!(
        r.pushed == 1 && r.quarantined.is_empty(),
        "the run after the wipe pushed {} and quarantined {} (want 1 and 0)",
        r.pushed,
        r.quarantined.len()
    );
    ensure!(
        r.pulled_changes > 0 || first.pulled_changes == 0,
        "the run after the wipe pulled nothing (the first run pulled {})",
        first.pulled_changes
    );
    let h = get!(handshake(t, &phone.device).await);
    ensure!(
        h.device_last_seq == Some(1),
        "device_last_seq {:?} after the re-send (want 1)",
        h.device_last_seq
    );
    Verdict::Pass(format!(
        "new server_id; 1 record sent again, {} change(s) pulled from scratch",
        r.pulled_changes
    ))
}
