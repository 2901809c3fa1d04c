//! The checks, one per documented behaviour, each naming its section of docs/protocol.md.

use std::sync::Arc;

use chrono::Utc;
use gridworker_core::chain::{GENESIS, link_hash};
use gridworker_core::domain::{CheckIn, CheckInOutcome, LocationFix, Provider};
use gridworker_core::geo::Crs;
use gridworker_core::sync::wire::{self, codes};
use gridworker_core::sync::{AccessTokenProvider, SyncEngine, SyncOptions};
use gridworker_core::{Config, GridWorker};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Target, Verdict};

type Check = (&'static str, &'static str, Verdict);

pub async fn all(t: &Target) -> Vec<Check> {
    let mut checks = vec![
        ("handshake", "§3", handshake(t).await),
        ("order_of_checks", "§1.1", order_of_checks(t).await),
        ("push_rejections", "§4.2", push_rejections(t).await),
        ("task_not_assigned", "§4.2", task_not_assigned(t).await),
        ("idempotent_retry", "§4.2", idempotent_retry(t).await),
        ("chain_break", "§4.3", chain_break(t).await),
        ("expired_link", "§4.4", expired_link(t).await),
        ("pull_paging", "§6", pull_paging(t).await),
        ("photo_resume", "§5", photo_resume(t).await),
        ("real_client_sync", "§2", real_client_sync(t).await),
        ("photo_cut", "§5.2", operations::photo_cut(t).await),
    ];
    let (restored, expired) = operations::restore(t).await;
    checks.push(("server_restore", "§3.1", restored));
    checks.push(("cursor_expiry", "§6", expired));
    checks.push(("server_reset", "§3.1", operations::reset(t).await));
    checks
}

/// Answers of one request: status, JSON body (Null if none), and the body's error code.
struct Answer {
    status: StatusCode,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Target {
    fn request(&self, method: Method, path: &str, device: Option<&str>) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(wire::HEADER_PROTOCOL, wire::PROTOCOL_VERSION)
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(d) = device {
            r = r.header(wire::HEADER_DEVICE, d);
        }
        r
    }

    fn device(&self, tag: &str) -> String {
        format!("conf-{}-{tag}", self.run)
    }
}

async fn answer(r: reqwest::RequestBuilder) -> Result<Answer, String> {
    let resp = r.send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.map_err(|e| format!("reply cut: {e}"))?;
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer {
        status,
        body,
        headers,
    })
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Verdict::Fail(format!($($fmt)+));
        }
    };
}

macro_rules! get {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Verdict::Fail(e),
        }
    };
}

mod operations;

async fn handshake(t: &Target) -> Verdict {
    let dev = t.device("h");
    let a = get!(answer(t.request(Method::GET, wire::PATH_HANDSHAKE, Some(&dev))).await);
    ensure!(
        a.status == StatusCode::OK,
        "status {} {}",
        a.status,
        a.code()
    );
    let h: wire::HandshakeResponse = match serde_json::from_value(a.body.clone()) {
        Ok(h) => h,
        Err(e) => return Verdict::Fail(format!("reply does not decode: {e}")),
    };
    ensure!(
        h.worker.id == t.worker,
        "worker.id is {}, not {}",
        h.worker.id,
        t.worker
    );
    ensure!(!h.server_id.is_empty(), "server_id is empty");
    ensure!(h.min_protocol <= h.protocol, "min_protocol above protocol");
    if let Err(e) = h.policy.validate() {
        return Verdict::Fail(format!("policy out of bounds: {e}"));
    }
    ensure!(
        h.device_last_seq.is_none(),
        "a new device has device_last_seq {:?}",
        h.device_last_seq
    );
    Verdict::Pass(format!(
        "protocol {}, {} grid(s)",
        h.protocol,
        h.grids.len()
    ))
}

async fn order_of_checks(t: &Target) -> Verdict {
    let url = format!("{}{}", t.base, wire::PATH_HANDSHAKE);
    let no_protocol = t
        .http
        .get(&url)
        .header("authorization", "Bearer conformance-bad");
    let a = get!(answer(no_protocol).await);
    ensure!(
        (a.status.as_u16(), a.code()) == (400, codes::BAD_HEADER),
        "no protocol header: {} {} (want 400 bad_header)",
        a.status,
        a.code()
    );
    let bad_token = t
        .http
        .get(&url)
        .header(wire::HEADER_PROTOCOL, wire::PROTOCOL_VERSION)
        .header("authorization", "Bearer conformance-bad");
    let a = get!(answer(bad_token).await);
    ensure!(
        (a.status.as_u16(), a.code()) == (401, codes::UNAUTHORIZED),
        "bad token without a device header: {} {} (want 401 unauthorized: the token is checked first)",
        a.status,
        a.code()
    );
    for dev in [None, Some("a/b")] {
        let a = get!(answer(t.request(Method::GET, wire::PATH_HANDSHAKE, dev)).await);
        ensure!(
            (a.status.as_u16(), a.code()) == (400, codes::BAD_HEADER),
            "device header {dev:?}: {} {} (want 400 bad_header)",
            a.status,
            a.code()
        );
    }
    Verdict::Pass("protocol, token, device header".into())
}

/// A fresh fix at the fixture district's first point (GCJ-02, as a Chinese phone reports); on
/// a vendor's district it lies outside the grids, and a record made with it is only flagged.
fn fix() -> LocationFix {
    LocationFix {
        lat: 45.2985625,
        lon: 130.9503308,
        accuracy_m: 6.0,
        altitude_m: None,
        speed_mps: None,
        bearing_deg: None,
        provider: Provider::Gps,
        crs: Crs::Gcj02,
        is_mock: false,
        fix_time: Utc::now(),
        monotonic_ms: 86_400_000,
    }
}

/// A check-in payload of `device` as the phone writes it.
fn checkin(t: &Target, device: &str, id: &str) -> String {
    let f = fix();
    let c = CheckIn {
        id: id.to_string(),
        worker_id: t.worker.clone(),
        device_id: device.to_string(),
        point_id: "p-conformance".into(),
        position: f.position(),
        fix: f,
        distance_m: 3.25,
        outcome: CheckInOutcome::Accepted,
        flags: vec![],
        recorded_at: Utc::now(),
    };
    serde_json::to_string(&c).unwrap_or_default()
}

/// A device's log as the server's head moves (protocol.md §4.3): a link that is refused
/// without being stored does not move it.
struct Log {
    head: String,
}

impl Log {
    fn new() -> Log {
        Log {
            head: GENESIS.to_string(),
        }
    }

    fn link(
        &mut self,
        seq: i64,
        kind: &str,
        record_id: &str,
        payload: String,
        moves: bool,
    ) -> Value {
        let mutation_id = uuid::Uuid::now_v7().to_string();
        let hash = link_hash(&self.head, seq, kind, &mutation_id, &payload);
        let m = json!({
            "mutation_id": mutation_id, "seq": seq, "kind": kind, "record_id": record_id,
            "payload": payload, "device_time": Utc::now(), "monotonic_ms": 90_000_000 + seq,
            "prev_hash": self.head, "hash": hash,
        });
        if moves {
            self.head = hash;
        }
        m
    }
}

fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn push(t: &Target, device: &str, mutations: &[Value]) -> Result<Answer, String> {
    let body = json!({"device_id": device, "mutations": mutations});
    answer(
        t.request(Method::POST, wire::PATH_PUSH, Some(device))
            .json(&body),
    )
    .await
}

/// Compares a push reply with the expected `(status, code)` of each mutation.
fn compare(a: &Answer, want: &[(&str, Option<&str>)]) -> Result<(), String> {
    if a.status != StatusCode::OK {
        return Err(format!("push answered {} {}", a.status, a.code()));
    }
    let got = a.body["results"].as_array().cloned().unwrap_or_default();
    if got.len() != want.len() {
        return Err(format!(
            "{} results for {} mutations",
            got.len(),
            want.len()
        ));
    }
    for (i, (g, (status, code))) in got.iter().zip(want).enumerate() {
        let gs = g["status"].as_str().unwrap_or("");
        let gc = g["reason"]["code"].as_str();
        if gs != *status || (code.is_some() && gc != *code) {
            return Err(format!(
                "mutation {}: {gs} {} (want {status} {})",
                i + 1,
                gc.unwrap_or(""),
                code.unwrap_or("")
            ));
        }
    }
    Ok(())
}

/// docs/vectors/push.json rebuilt for a fresh device: every per-mutation rejection.
async fn push_rejections(t: &Target) -> Verdict {
    let dev = t.device("p");
    let mut log = Log::new();
    let first = rid();
    let mut muts = vec![log.link(1, "checkin", &first, checkin(t, &dev, &first), true)];
    let mut want: Vec<(&str, Option<&str>)> = vec![("applied", None)];
    // hash_mismatch: the content changed after it was hashed; the head stays.
    let id = rid();
    let mut altered = log.link(2, "checkin", &id, checkin(t, &dev, &id), false);
    altered["payload"] =
        json!(checkin(t, &dev, &id).replace("\"distance_m\":3.25", "\"distance_m\":0.5"));
    muts.push(altered);
    want.push(("rejected", Some(codes::HASH_MISMATCH)));
    let cases: Vec<(&str, String, String, &str)> = {
        let (a, b, c, d, e) = (rid(), rid(), rid(), rid(), rid());
        vec![
            ("patrol_track", a.clone(), "{}".into(), codes::UNKNOWN_KIND),
            (
                "checkin",
                b.clone(),
                checkin(t, &dev, &b).replace("\"lat\":45.2985625", "\"lat\":95.0"),
                codes::INVALID_PAYLOAD,
            ),
            (
                "checkin",
                rid(),
                checkin(t, &dev, &c),
                codes::RECORD_ID_MISMATCH,
            ),
            (
                "checkin",
                d.clone(),
                checkin(t, &t.device("elsewhere"), &d),
                codes::DEVICE_MISMATCH,
            ),
            (
                "report",
                e.clone(),
                report(t, &dev, &e),
                codes::MISSING_PHOTO,
            ),
            (
                "checkin",
                first.clone(),
                checkin(t, &dev, &first).replace("\"distance_m\":3.25", "\"distance_m\":3.5"),
                codes::RECORD_ID_REUSED,
            ),
        ]
    };
    let mut seq = 1;
    for (kind, record_id, payload, code) in cases {
        seq += 1;
        muts.push(log.link(seq, kind, &record_id, payload, true));
        want.push(("rejected", Some(code)));
    }
    let gap = rid();
    muts.push(log.link(seq + 2_001, "checkin", &gap, checkin(t, &dev, &gap), false));
    want.push(("rejected", Some(codes::SEQ_GAP_TOO_LARGE)));
    let a = get!(push(t, &dev, &muts).await);
    if let Err(e) = compare(&a, &want) {
        return Verdict::Fail(e);
    }
    ensure!(
        a.body["chain_breaks"] == json!(0),
        "chain_breaks {} (want 0)",
        a.body["chain_breaks"]
    );
    Verdict::Pass(format!(
        "{} rejection codes, head moved as documented",
        want.len() - 1
    ))
}

/// `task_not_assigned`: needs a task of another worker, set up through the admin API.
async fn task_not_assigned(t: &Target) -> Verdict {
    let task = match other_workers_task(t).await {
        Ok(Some(task)) => task,
        Ok(None) => {
            return Verdict::Skipped("needs a second --token-for and --admin-token".into());
        }
        Err(e) => return Verdict::Fail(format!("setting up another worker's task: {e}")),
    };
    let dev = t.device("t");
    let mut log = Log::new();
    let payload = json!({"task_id": task, "worker_id": t.worker, "device_id": dev,
                         "acknowledged_at": Utc::now()})
    .to_string();
    let m = log.link(1, "task_ack", &task, payload, true);
    let a = get!(push(t, &dev, &[m]).await);
    if let Err(e) = compare(&a, &[("rejected", Some(codes::TASK_NOT_ASSIGNED))]) {
        return Verdict::Fail(e);
    }
    Verdict::Pass("another worker's task is refused".into())
}

fn report(t: &Target, device: &str, id: &str) -> String {
    let f = fix();
    json!({
        "id": id, "worker_id": t.worker, "device_id": device, "category": "市容环境",
        "description": "井盖破损", "photos": [{"sha256": "ab".repeat(32), "size": 1000,
        "media_type": "image/jpeg", "captured_at": null}], "position": f.position(), "fix": f,
        "flags": [], "attach_to": null, "created_at": Utc::now(), "submitted_at": Utc::now(),
    })
    .to_string()
}

/// A task dispatched to the second worker through the reference server's admin API, when
/// both were given.
async fn other_workers_task(t: &Target) -> Result<Option<String>, String> {
    let (Some((other, _)), Some(admin)) = (&t.other, &t.admin_token) else {
        return Ok(None);
    };
    let id = format!("t-conf-{}", t.run);
    let r = t
        .http
        .post(format!("{}/admin/v1/tasks", t.base))
        .header("authorization", format!("Bearer {admin}"))
        .json(&json!({"id": id, "worker_id": other, "title": "conformance"}));
    let a = answer(r).await?;
    if !a.status.is_success() {
        return Err(format!(
            "POST /admin/v1/tasks answered {} {}",
            a.status,
            a.code()
        ));
    }
    Ok(Some(id))
}

async fn idempotent_retry(t: &Target) -> Verdict {
    let dev = t.device("i");
    let mut log = Log::new();
    let id = rid();
    let m = log.link(1, "checkin", &id, checkin(t, &dev, &id), true);
    let a = get!(push(t, &dev, std::slice::from_ref(&m)).await);
    if let Err(e) = compare(&a, &[("applied", None)]) {
        return Verdict::Fail(e);
    }
    // The same mutation again (a lost reply), then its device_time in another spelling.
    let a = get!(push(t, &dev, std::slice::from_ref(&m)).await);
    if let Err(e) = compare(&a, &[("already_applied", None)]) {
        return Verdict::Fail(format!("identical retry: {e}"));
    }
    let mut respelled = m.clone();
    let time: chrono::DateTime<Utc> = match serde_json::from_value(m["device_time"].clone()) {
        Ok(t) => t,
        Err(e) => return Verdict::Fail(format!("device_time: {e}")),
    };
    // The same instant in Beijing time.
    respelled["device_time"] = json!(
        chrono::FixedOffset::east_opt(8 * 3600)
            .map(|bj| time.with_timezone(&bj).to_rfc3339())
            .unwrap_or_else(|| time.to_rfc3339())
    );
    let a = get!(push(t, &dev, &[respelled]).await);
    if let Err(e) = compare(&a, &[("already_applied", None)]) {
        return Verdict::Fail(format!(
            "device_time as +08:00: {e} (compare instants, §4.2)"
        ));
    }
    let mut changed = m;
    changed["monotonic_ms"] = json!(1);
    let a = get!(push(t, &dev, &[changed]).await);
    if let Err(e) = compare(&a, &[("rejected", Some(codes::MUTATION_ID_REUSED))]) {
        return Verdict::Fail(format!("changed content: {e}"));
    }
    Verdict::Pass("already_applied, instants, mutation_id_reused".into())
}

async fn chain_break(t: &Target) -> Verdict {
    let dev = t.device("c");
    let mut log = Log::new();
    let ids = [rid(), rid(), rid()];
    let one = log.link(1, "checkin", &ids[0], checkin(t, &dev, &ids[0]), true);
    let _deleted = log.link(2, "checkin", &ids[1], checkin(t, &dev, &ids[1]), true);
    let three = log.link(3, "checkin", &ids[2], checkin(t, &dev, &ids[2]), true);
    let a = get!(push(t, &dev, &[one, three]).await);
    if let Err(e) = compare(&a, &[("applied", None), ("applied", None)]) {
        return Verdict::Fail(e);
    }
    ensure!(
        a.body["chain_breaks"] == json!(1),
        "chain_breaks {} (want 1)",
        a.body["chain_breaks"]
    );
    // The hole is told at the handshake (§3.1): a phone re-sends what it synced there.
    let path = wire::handshake_path(Some(1));
    let a = get!(answer(t.request(Method::GET, &path, Some(&dev))).await);
    let h: wire::HandshakeResponse = match serde_json::from_value(a.body.clone()) {
        Ok(h) => h,
        Err(e) => return Verdict::Fail(format!("handshake reply does not decode: {e}")),
    };
    ensure!(
        h.device_last_seq == Some(3) && h.device_missing == [[2, 2]],
        "the handshake after it says device_last_seq {:?}, device_missing {:?} (want 3 and [[2, 2]])",
        h.device_last_seq,
        h.device_missing
    );
    Verdict::Pass(
        "a deleted record shows as one break and as a hole at the handshake; the record after it is kept"
            .into(),
    )
}

/// An expired link (protocol 5): the link alone, its payload gone, taken without its hash
/// checked, keeping the chain whole; a retry is already applied; with a payload it is 422.
async fn expired_link(t: &Target) -> Verdict {
    let dev = t.device("x");
    let a = get!(answer(t.request(Method::GET, wire::PATH_HANDSHAKE, Some(&dev))).await);
    let protocol = a.body["protocol"].as_u64().unwrap_or(0);
    if protocol < u64::from(wire::EXPIRED_LINKS_SINCE) {
        return Verdict::Skipped(format!(
            "the server speaks protocol {protocol}; expired links came with {}",
            wire::EXPIRED_LINKS_SINCE
        ));
    }
    let mut log = Log::new();
    let ids = [rid(), rid(), rid()];
    let one = log.link(1, "checkin", &ids[0], checkin(t, &dev, &ids[0]), true);
    let mut gone = log.link(2, "checkin", &ids[1], checkin(t, &dev, &ids[1]), true);
    let three = log.link(3, "checkin", &ids[2], checkin(t, &dev, &ids[2]), true);
    let with_payload = {
        let mut m = gone.clone();
        m["expired"] = json!(true);
        m
    };
    let a = get!(push(t, &dev, &[with_payload]).await);
    ensure!(
        a.status == StatusCode::UNPROCESSABLE_ENTITY,
        "an expired link with a payload: status {} (want 422)",
        a.status
    );
    gone["payload"] = json!("");
    gone["expired"] = json!(true);
    let a = get!(push(t, &dev, &[one, gone.clone(), three]).await);
    if let Err(e) = compare(
        &a,
        &[("applied", None), ("applied", None), ("applied", None)],
    ) {
        return Verdict::Fail(e);
    }
    ensure!(
        a.body["chain_breaks"] == json!(0),
        "chain_breaks {} (want 0: the link keeps the chain whole)",
        a.body["chain_breaks"]
    );
    let a = get!(push(t, &dev, &[gone]).await);
    if let Err(e) = compare(&a, &[("already_applied", None)]) {
        return Verdict::Fail(format!("a retry: {e}"));
    }
    Verdict::Pass("taken without its payload, the chain whole, a retry already applied".into())
}

async fn pull_paging(t: &Target) -> Verdict {
    let dev = t.device("l");
    let mut cursor: Option<String> = None;
    let mut seen = std::collections::HashSet::new();
    let mut pages = 0;
    let mut changes = 0;
    loop {
        let a = get!(
            answer(t.request(
                Method::GET,
                &wire::pull_path(cursor.as_deref(), 1),
                Some(&dev)
            ))
            .await
        );
        ensure!(
            a.status == StatusCode::OK,
            "page {}: {} {}",
            pages + 1,
            a.status,
            a.code()
        );
        let page: wire::PullResponse = match serde_json::from_value(a.body) {
            Ok(p) => p,
            Err(e) => return Verdict::Fail(format!("page {} does not decode: {e}", pages + 1)),
        };
        pages += 1;
        changes += page.changes.len();
        ensure!(
            page.changes.len() <= 1,
            "page {} has {} changes for limit=1",
            pages,
            page.changes.len()
        );
        ensure!(
            !(page.has_more && page.changes.is_empty()),
            "page {pages} is empty but has_more"
        );
        ensure!(
            seen.insert(page.next_cursor.clone()),
            "page {pages} repeats a cursor"
        );
        cursor = Some(page.next_cursor);
        if !page.has_more || pages >= 5 {
            break;
        }
    }
    let a = get!(
        answer(t.request(
            Method::GET,
            &wire::pull_path(Some("conformance-not-a-cursor"), 1),
            Some(&dev)
        ))
        .await
    );
    ensure!(
        (a.status.as_u16(), a.code()) == (400, codes::BAD_CURSOR),
        "a foreign cursor: {} {} (want 400 bad_cursor)",
        a.status,
        a.code()
    );
    let a = get!(
        answer(t.request(
            Method::GET,
            &format!("{}?limt=1", wire::PATH_CHANGES),
            Some(&dev)
        ))
        .await
    );
    ensure!(
        a.status.as_u16() == 422,
        "an unknown parameter: {} (want 422)",
        a.status
    );
    Verdict::Pass(format!(
        "{pages} page(s) of limit=1, {changes} change(s); bad cursor, unknown parameter"
    ))
}

async fn photo_resume(t: &Target) -> Verdict {
    let dev = t.device("f");
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.extend(t.run.bytes().cycle().take(996));
    let sha = hex::encode(Sha256::digest(&bytes));
    let path = wire::photo_path(&sha);
    let patch = |from: usize, to: usize| {
        t.request(Method::PATCH, &path, Some(&dev))
            .header(wire::HEADER_UPLOAD_OFFSET, from.to_string())
            .header(wire::HEADER_UPLOAD_LENGTH, "1000")
            .header("content-type", "image/jpeg")
            .body(bytes[from..to].to_vec())
    };
    let a = get!(answer(t.request(Method::GET, &path, Some(&dev))).await);
    ensure!(
        a.status == StatusCode::OK && a.body["offset"] == json!(0),
        "fresh photo state: {} {}",
        a.status,
        a.body
    );
    let a = get!(answer(patch(0, 600)).await);
    ensure!(
        a.status == StatusCode::OK
            && a.body["offset"] == json!(600)
            && a.body["complete"] == json!(false),
        "first 600 bytes: {} {}",
        a.status,
        a.body
    );
    let a = get!(answer(t.request(Method::HEAD, &path, Some(&dev))).await);
    let header = |h: &str| {
        a.headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    ensure!(
        header(wire::HEADER_UPLOAD_OFFSET) == "600",
        "HEAD Upload-Offset {:?}",
        header(wire::HEADER_UPLOAD_OFFSET)
    );
    let a = get!(answer(patch(300, 1000)).await);
    ensure!(
        a.status == StatusCode::CONFLICT
            && a.code() == codes::OFFSET_MISMATCH
            && a.body["error"]["offset"] == json!(600),
        "a wrong offset: {} {} (want 409 offset_mismatch with offset 600)",
        a.status,
        a.body
    );
    let a = get!(answer(patch(600, 1000)).await);
    ensure!(
        a.status == StatusCode::OK && a.body["complete"] == json!(true),
        "the rest: {} {}",
        a.status,
        a.body
    );
    let a = get!(answer(patch(0, 1000)).await);
    ensure!(
        a.status == StatusCode::OK && a.body["complete"] == json!(true),
        "after completion: {} {}",
        a.status,
        a.body
    );
    Verdict::Pass("state, 600 bytes, HEAD, 409 with the offset, the rest".into())
}

struct Token(String);

impl AccessTokenProvider for Token {
    fn access_token(&self, _force_refresh: bool) -> Result<String, gridworker_core::Error> {
        Ok(self.0.clone())
    }
}

/// The real core, from an empty store: a full run, then an idle one.
async fn real_client_sync(t: &Target) -> Verdict {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return Verdict::Fail(format!("temporary store: {e}")),
    };
    let config = Config::new(dir.path(), &t.base, &t.worker, &t.device("s"));
    let worker = match GridWorker::open(config) {
        Ok(w) => Arc::new(w),
        Err(e) => return Verdict::Fail(format!("store: {e}")),
    };
    let options = SyncOptions {
        allow_http: t.allow_http,
        ..SyncOptions::default()
    };
    let engine = match SyncEngine::new(worker, options, Arc::new(Token(t.token.clone()))) {
        Ok(e) => e,
        Err(e) => return Verdict::Fail(format!("engine: {e}")),
    };
    let first = match engine.sync().await {
        Ok(r) => r,
        Err(e) => return Verdict::Fail(format!("first sync: {e}")),
    };
    if let Err(e) = engine.sync().await {
        return Verdict::Fail(format!("idle sync: {e}"));
    }
    Verdict::Pass(format!(
        "pulled {} change(s), then an idle run",
        first.pulled_changes
    ))
}
