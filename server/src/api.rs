//! The worker-facing `/v1` endpoints: handshake, push, photos, changes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gridworker_core::chain;
use gridworker_core::domain::{
    CheckIn, Photo, ReportPayload, TaskAckPayload, TaskCompletionPayload, Visit,
};
use gridworker_core::geo::Crs;
use gridworker_core::sync::wire::{
    self, Change, HandshakeResponse, Mutation, MutationKind, MutationResult, Outcome, PushRequest,
    PushResponse, Reason, WorkerInfo, codes,
};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::auth::{
    Binding, Caller, authenticate, bind_device, binding, bound_to_other, device_bound,
};
use crate::db::{self, emit, grid_scope, worker_scope};
use crate::error::{ApiError, ApiResult};
use crate::http::{blocking, is_sha256, json_response, read_body};
use crate::refdata::grid_containing;
use crate::{sanitize, validate};

/// `GET /v1/handshake`.
pub async fn handshake(State(st): State<Arc<AppState>>, h: HeaderMap) -> ApiResult<Response> {
    let caller = authenticate(&st, &h)?;
    let st2 = st.clone();
    let reply = blocking(move || {
        // The first handshake binds the device, not only its first push: a phone that has
        // nothing to send yet must not leave its id free for another worker to take (its
        // own records would then be refused). A write only while the device is unbound.
        let unbound = st2.db.read(|tx| binding(tx, &caller))? == Binding::Nobody;
        if unbound {
            st2.db.write(|tx| bind_device(tx, &caller))?;
        }
        st2.db.read(|tx| {
            if bound_to_other(tx, &caller)? {
                return Err(device_bound());
            }
            let name: Option<String> = tx
                .query_row(
                    "SELECT name FROM workers WHERE id = ?1",
                    [&caller.worker_id],
                    |r| r.get(0),
                )
                .optional()?;
            let grids = db::worker_grids(tx, &caller.worker_id)?;
            let server_id = db::meta(tx, "server_id")?.unwrap_or_default();
            // What this server holds of the device's log: a device whose synced entries go
            // further re-sends them (the server was restored from an older backup). By device
            // only: a log is the device's, whichever worker's token pushed it.
            let device_last_seq: Option<i64> = tx.query_row(
                "SELECT MAX(seq) FROM mutations WHERE device_id = ?1 AND status = 'applied'",
                params![caller.device_id],
                |r| r.get(0),
            )?;
            Ok::<_, ApiError>(HandshakeResponse {
                protocol: wire::PROTOCOL,
                min_protocol: st2.min_protocol,
                server_time: Utc::now(),
                server_id,
                worker: WorkerInfo {
                    name: name.unwrap_or_else(|| caller.worker_id.clone()),
                    id: caller.worker_id,
                },
                grids,
                policy: st2.policy.clone(),
                device_last_seq,
            })
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &reply))
}

/// Parses strictly (unknown fields anywhere are refused) and checks a payload with the
/// device's rules; `Err` is the `invalid_payload` message, which names fields only.
fn decode_payload<T: DeserializeOwned>(
    text: &str,
    check: impl FnOnce(&T) -> validate::Check,
) -> Result<T, String> {
    let v: T = sanitize::decode_strict(text.as_bytes()).map_err(|e| e.message)?;
    check(&v)?;
    Ok(v)
}

/// What a valid payload tells the push about itself.
struct Parsed {
    record_id: String,
    worker_id: String,
    device_id: String,
    photos: Vec<String>,
    /// The task a task ack or completion is about.
    task_id: Option<String>,
    flags: Vec<&'static str>,
    effect: Effect,
}

enum Effect {
    None,
    Report(ReportPayload),
    TaskAck(TaskAckPayload),
    TaskCompletion(TaskCompletionPayload),
}

fn exists(tx: &Transaction<'_>, sql: &str, id: &str) -> rusqlite::Result<bool> {
    Ok(tx
        .prepare_cached(sql)?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

fn shas(photos: &[Photo]) -> Vec<String> {
    photos.iter().map(|p| p.sha256.clone()).collect()
}

/// Parses and checks a payload; `Err` is the `invalid_payload` message.
fn parse_payload(
    tx: &Transaction<'_>,
    kind: MutationKind,
    text: &str,
) -> Result<Result<Parsed, String>, rusqlite::Error> {
    let parsed = match kind {
        MutationKind::Checkin => match decode_payload::<CheckIn>(text, validate::checkin) {
            Ok(c) => {
                let known = exists(tx, "SELECT 1 FROM points WHERE id = ?1", &c.point_id)?;
                Parsed {
                    record_id: c.id,
                    device_id: c.device_id,
                    worker_id: c.worker_id,
                    photos: vec![],
                    task_id: None,
                    flags: if known { vec![] } else { vec!["unknown_point"] },
                    effect: Effect::None,
                }
            }
            Err(e) => return Ok(Err(e)),
        },
        MutationKind::Visit => match decode_payload::<Visit>(text, validate::visit) {
            Ok(v) => {
                let known = exists(
                    tx,
                    "SELECT 1 FROM households WHERE id = ?1",
                    &v.household_id,
                )?;
                Parsed {
                    record_id: v.id,
                    device_id: v.device_id,
                    worker_id: v.worker_id,
                    photos: vec![],
                    task_id: None,
                    flags: if known {
                        vec![]
                    } else {
                        vec!["unknown_household"]
                    },
                    effect: Effect::None,
                }
            }
            Err(e) => return Ok(Err(e)),
        },
        MutationKind::Report => match decode_payload::<ReportPayload>(text, validate::report) {
            Ok(p) => Parsed {
                record_id: p.id.clone(),
                device_id: p.device_id.clone(),
                worker_id: p.worker_id.clone(),
                photos: shas(&p.photos),
                task_id: None,
                flags: vec![],
                effect: Effect::Report(p),
            },
            Err(e) => return Ok(Err(e)),
        },
        MutationKind::TaskAck => match decode_payload::<TaskAckPayload>(text, validate::task_ack) {
            Ok(a) => {
                let known = exists(tx, "SELECT 1 FROM tasks WHERE id = ?1", &a.task_id)?;
                Parsed {
                    record_id: a.task_id.clone(),
                    device_id: a.device_id.clone(),
                    worker_id: a.worker_id.clone(),
                    photos: vec![],
                    task_id: Some(a.task_id.clone()),
                    flags: if known { vec![] } else { vec!["unknown_task"] },
                    effect: Effect::TaskAck(a),
                }
            }
            Err(e) => return Ok(Err(e)),
        },
        MutationKind::TaskCompletion => {
            match decode_payload::<TaskCompletionPayload>(text, validate::task_completion) {
                Ok(c) => {
                    let known = exists(tx, "SELECT 1 FROM tasks WHERE id = ?1", &c.task_id)?;
                    Parsed {
                        record_id: c.id.clone(),
                        device_id: c.device_id.clone(),
                        worker_id: c.worker_id.clone(),
                        photos: shas(&c.photos),
                        task_id: Some(c.task_id.clone()),
                        flags: if known { vec![] } else { vec!["unknown_task"] },
                        effect: Effect::TaskCompletion(c),
                    }
                }
                Err(e) => return Ok(Err(e)),
            }
        }
    };
    Ok(Ok(parsed))
}

/// Applies what a stored record changes on the server (reports, tasks) and the feed.
fn apply_effect(tx: &Transaction<'_>, worker_id: &str, effect: Effect) -> Result<(), ApiError> {
    let now = Utc::now();
    match effect {
        Effect::None => {}
        Effect::Report(p) => {
            let grid = grid_containing(tx, p.position.lat, p.position.lon)?;
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO reports (id, worker_id, grid_code, category, description, lat, lon,
                     status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'submitted', ?8, ?9)",
                params![
                    p.id,
                    worker_id,
                    grid,
                    p.category,
                    p.description,
                    p.position.lat,
                    p.position.lon,
                    p.created_at,
                    now
                ],
            )?;
            if inserted > 0
                && let Some(g) = grid
            {
                emit(
                    tx,
                    &grid_scope(&g),
                    &format!("report:{}", p.id),
                    Some(worker_id),
                    &Change::ReportUpsert {
                        id: p.id.clone(),
                        category: p.category.clone(),
                        description: p.description.clone(),
                        crs: Crs::Wgs84,
                        lat: p.position.lat,
                        lon: p.position.lon,
                        status: gridworker_core::domain::ReportStatus::Submitted,
                        created_at: p.created_at,
                    },
                )?;
            }
        }
        Effect::TaskAck(a) => {
            tx.execute(
                "UPDATE tasks SET status = 'acknowledged', updated_at = ?3
                 WHERE id = ?1 AND worker_id = ?2 AND status = 'dispatched'",
                params![a.task_id, worker_id, now],
            )?;
            crate::tasks::emit_task(tx, &a.task_id)?;
        }
        Effect::TaskCompletion(c) => {
            tx.execute(
                "UPDATE tasks SET status = 'completed', updated_at = ?3
                 WHERE id = ?1 AND worker_id = ?2 AND status IN ('dispatched', 'acknowledged')",
                params![c.task_id, worker_id, now],
            )?;
            crate::tasks::emit_task(tx, &c.task_id)?;
        }
    }
    Ok(())
}

fn rejected(m: &Mutation, code: &str, message: impl Into<String>) -> MutationResult {
    MutationResult {
        mutation_id: m.mutation_id.clone(),
        outcome: Outcome::Rejected {
            reason: Reason {
                code: code.to_string(),
                message: message.into(),
            },
        },
    }
}

/// Whether `m`'s link breaks the device's chain, and the previous hash it should have had.
///
/// In order (above the head) the link must follow the head. Below the head (a mutation the
/// device held back, e.g. while its photo was quarantined, and sends later with its original
/// seq) it must follow the stored mutation of the seq before it. A link whose predecessor
/// never arrived is a break until that predecessor arrives and proves it
/// ([`heal_successor`]); a deleted record therefore stays a break for good.
fn link_check(
    tx: &Transaction<'_>,
    device_id: &str,
    m: &Mutation,
    head: Option<&(i64, String)>,
) -> Result<(bool, Option<String>), ApiError> {
    let (head_seq, head_hash) = head.map_or((0, chain::GENESIS), |h| (h.0, h.1.as_str()));
    if m.seq > head_seq {
        let broken = m.prev_hash != head_hash;
        return Ok((broken, broken.then(|| head_hash.to_string())));
    }
    if m.seq <= 1 {
        let broken = m.prev_hash != chain::GENESIS;
        return Ok((broken, broken.then(|| chain::GENESIS.to_string())));
    }
    let before: Option<String> = tx
        .prepare_cached(
            "SELECT hash FROM mutations WHERE device_id = ?1 AND seq = ?2
             ORDER BY hash = ?3 DESC LIMIT 1",
        )?
        .query_row(params![device_id, m.seq - 1, m.prev_hash], |r| r.get(0))
        .optional()?;
    Ok(match before {
        Some(h) if h == m.prev_hash => (false, None),
        Some(h) => (true, Some(h)),
        None => (true, None),
    })
}

/// A mutation arriving below the head may be the missing predecessor of one stored as a
/// break: if that one's link names this mutation's hash, the chain is whole again there.
fn heal_successor(tx: &Transaction<'_>, device_id: &str, m: &Mutation) -> Result<(), ApiError> {
    tx.prepare_cached(
        "UPDATE mutations SET chain_break = 0, expected_prev = NULL
         WHERE device_id = ?1 AND seq = ?2 AND prev_hash = ?3 AND chain_break = 1",
    )?
    .execute(params![device_id, m.seq + 1, m.hash])?;
    Ok(())
}

/// A seq further ahead of the device's head than this is refused: no honest device gets
/// there, since it pushes its log in order and at most one batch at a time.
pub const MAX_SEQ_GAP: i64 = wire::MAX_PUSH_MUTATIONS as i64;

/// A refusal that stores no mutation (so it squats no id and moves no head), kept for the
/// admin counts. Only the code is kept: nothing of the payload.
fn refuse(
    tx: &Transaction<'_>,
    caller: &Caller,
    m: &Mutation,
    code: &'static str,
    message: &str,
) -> rusqlite::Result<(MutationResult, bool)> {
    tx.prepare_cached(
        "INSERT INTO refusals (device_id, worker_id, mutation_id, code, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        caller.device_id,
        caller.worker_id,
        m.mutation_id,
        code,
        Utc::now()
    ])?;
    Ok((rejected(m, code, message), false))
}

/// What the server decided about one mutation, as stored beside what the device sent.
struct StoredRow<'a> {
    payload: &'a str,
    status: &'a str,
    reason: Option<(&'a str, &'a str)>,
    chain_break: bool,
    expected_prev: Option<&'a str>,
    flags_json: &'a str,
    now: chrono::DateTime<Utc>,
}

/// The one place a mutation row is written (records, rejections and withdrawal links).
fn insert_mutation(
    tx: &Transaction<'_>,
    caller: &Caller,
    m: &Mutation,
    row: &StoredRow<'_>,
) -> Result<(), ApiError> {
    tx.prepare_cached(
        "INSERT INTO mutations (mutation_id, device_id, worker_id, seq, kind, record_id, payload,
             device_time, monotonic_ms, prev_hash, hash, status, reason_code, reason_message,
             chain_break, expected_prev, server_flags, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    )?
    .execute(params![
        m.mutation_id,
        caller.device_id,
        caller.worker_id,
        m.seq,
        m.kind,
        m.record_id,
        row.payload,
        m.device_time,
        m.monotonic_ms,
        m.prev_hash,
        m.hash,
        row.status,
        row.reason.map(|r| r.0),
        row.reason.map(|r| r.1),
        row.chain_break,
        row.expected_prev,
        row.flags_json,
        row.now,
    ])?;
    Ok(())
}

/// One mutation inside the push transaction. Returns its result and whether it broke the
/// chain.
fn push_one(
    tx: &Transaction<'_>,
    caller: &Caller,
    m: &Mutation,
    head: &mut Option<(i64, String)>,
    photos_complete: &mut HashMap<String, bool>,
) -> Result<(MutationResult, bool), ApiError> {
    let now = Utc::now();
    // Idempotency first: a replay gets the answer the original got. Ids are the device's:
    // another device's id space is not this one's business.
    type Prior = (
        i64,
        String,
        String,
        String,
        chrono::DateTime<Utc>,
        i64,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
    );
    let prior: Option<Prior> = tx
        .prepare_cached(
            "SELECT seq, kind, record_id, payload, device_time, monotonic_ms, prev_hash, hash,
                    status, reason_code, reason_message
             FROM mutations WHERE device_id = ?1 AND mutation_id = ?2",
        )?
        .query_row([&caller.device_id, &m.mutation_id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
            ))
        })
        .optional()?;
    if let Some(p) = prior {
        // The hash commits to the payload (it was verified when stored); a withheld payload
        // (refused as invalid, or a withdrawal link's) is compared through it. A withdrawn
        // link cannot come back as a record under the same id.
        let same = (p.8 != WITHDRAWN || m.withdrawn)
            && p.0 == m.seq
            && p.1 == m.kind
            && p.2 == m.record_id
            && (p.3.is_empty() || p.3 == m.payload)
            && p.4 == m.device_time
            && p.5 == m.monotonic_ms
            && p.6 == m.prev_hash
            && p.7 == m.hash;
        if !same {
            return Ok(refuse(
                tx,
                caller,
                m,
                codes::MUTATION_ID_REUSED,
                "this mutation id was already used for different content",
            )?);
        }
        // A withdrawal link of a mutation already applied (its reply was lost before the
        // device withdrew it) is held too: the record stays, the link is whole.
        let outcome = if p.8 == "applied" || p.8 == WITHDRAWN {
            Outcome::AlreadyApplied
        } else {
            Outcome::Rejected {
                reason: Reason {
                    code: p.9.unwrap_or_default(),
                    message: p.10.unwrap_or_default(),
                },
            }
        };
        return Ok((
            MutationResult {
                mutation_id: m.mutation_id.clone(),
                outcome,
            },
            false,
        ));
    }

    if chain::link_hash(&m.prev_hash, m.seq, &m.kind, &m.mutation_id, &m.payload) != m.hash {
        return Ok(refuse(
            tx,
            caller,
            m,
            codes::HASH_MISMATCH,
            "hash does not match the mutation's content",
        )?);
    }
    // A link far ahead of the head would become the head and break every honest link after
    // it. (A device the server holds nothing of starts wherever its log is.)
    if let Some((head_seq, _)) = head.as_ref()
        && m.seq > head_seq.saturating_add(MAX_SEQ_GAP)
    {
        return Ok(refuse(
            tx,
            caller,
            m,
            codes::SEQ_GAP_TOO_LARGE,
            &format!(
                "seq is more than {MAX_SEQ_GAP} ahead of the last one this server holds for the device"
            ),
        )?);
    }

    // The link is intact: it moves the device's head whatever happens to the record.
    let (chain_break, expected_prev) = link_check(tx, &caller.device_id, m, head.as_ref())?;
    if head.as_ref().is_none_or(|h| m.seq > h.0) {
        *head = Some((m.seq, m.hash.clone()));
    }

    if m.withdrawn {
        return store_withdrawal(
            tx,
            caller,
            m,
            head.as_ref(),
            chain_break,
            expected_prev,
            now,
        );
    }

    let verdict: Verdict = match MutationKind::parse(&m.kind) {
        None => Err((codes::UNKNOWN_KIND, "unknown mutation kind".to_string())),
        Some(kind) if m.seq < 1 => Err((
            codes::INVALID_PAYLOAD,
            format!("seq must be at least 1 for a {} mutation", kind.code()),
        )),
        Some(kind) => match parse_payload(tx, kind, &m.payload)? {
            Err(e) => Err((codes::INVALID_PAYLOAD, e)),
            // Another worker's record refuses the whole request: the error rolls the
            // transaction back, so nothing of the batch is stored and the records stay
            // queued on the phone rather than being filed under this token's worker.
            Ok(p) if p.worker_id != caller.worker_id => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    codes::WORKER_MISMATCH,
                    format!(
                        "mutation {} belongs to another worker than the token's",
                        m.mutation_id
                    ),
                ));
            }
            Ok(p) if p.record_id != m.record_id => Err((
                codes::RECORD_ID_MISMATCH,
                "record_id is not the payload's id".to_string(),
            )),
            Ok(p) if p.device_id != caller.device_id => Err((
                codes::DEVICE_MISMATCH,
                "the payload's device_id is not the pushing device".to_string(),
            )),
            Ok(p) => {
                // Citing a photo lets the worker read its upload state.
                for sha in &p.photos {
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO photo_refs (sha256, worker_id) VALUES (?1, ?2)",
                    )?
                    .execute([sha, &caller.worker_id])?;
                }
                check_applicable(tx, caller, kind, p, photos_complete)?
            }
        },
    };

    let (status, reason, flags, effect) = match verdict {
        Ok((p, _)) => ("applied", None, p.flags, Some(p.effect)),
        Err((code, msg)) => ("rejected", Some((code, msg)), vec![], None),
    };
    // A payload refused as invalid is not a record: it is not kept (it may hold residents'
    // data the server never accepted). The hash still identifies it for replays.
    let keep_payload = !matches!(
        reason.as_ref().map(|r| r.0),
        Some(codes::INVALID_PAYLOAD | codes::UNKNOWN_KIND)
    );
    let flags_json = serde_json::to_string(&flags).unwrap_or_else(|_| "[]".into());
    insert_mutation(
        tx,
        caller,
        m,
        &StoredRow {
            payload: if keep_payload { m.payload.as_str() } else { "" },
            status,
            reason: reason.as_ref().map(|r| (r.0, r.1.as_str())),
            chain_break,
            expected_prev: expected_prev.as_deref(),
            flags_json: &flags_json,
            now,
        },
    )?;
    if head.as_ref().is_some_and(|h| m.seq < h.0) {
        heal_successor(tx, &caller.device_id, m)?;
    }
    if let Some(effect) = effect {
        apply_effect(tx, &caller.worker_id, effect)?;
    }
    let outcome = match reason {
        None => Outcome::Applied,
        Some((code, message)) => Outcome::Rejected {
            reason: Reason {
                code: code.to_string(),
                message,
            },
        },
    };
    Ok((
        MutationResult {
            mutation_id: m.mutation_id.clone(),
            outcome,
        },
        chain_break,
    ))
}

/// Status of a stored withdrawal link.
const WITHDRAWN: &str = "withdrawn";

/// Stores a withdrawal link (its hash was verified and its link checked by the caller): the
/// device withdrew the entry, so it is no record. Nothing of the payload is kept (personal
/// data minimisation: only the hash, which the device can still prove), it has no effect,
/// needs no photo and holds no record id, so the repaired record is accepted after it.
fn store_withdrawal(
    tx: &Transaction<'_>,
    caller: &Caller,
    m: &Mutation,
    head: Option<&(i64, String)>,
    chain_break: bool,
    expected_prev: Option<String>,
    now: chrono::DateTime<Utc>,
) -> Result<(MutationResult, bool), ApiError> {
    // The kind names the record that was withdrawn; the device can only have made one of
    // the five (a link is still a link, so a bad one is stored as a rejection like any).
    let reason = match MutationKind::parse(&m.kind) {
        None => Some((codes::UNKNOWN_KIND, "unknown mutation kind")),
        Some(_) if m.seq < 1 => Some((codes::INVALID_PAYLOAD, "seq must be at least 1")),
        Some(_) => None,
    };
    let status = if reason.is_some() {
        "rejected"
    } else {
        WITHDRAWN
    };
    // A link is stored without its payload (what was withdrawn is not a record) and flags.
    insert_mutation(
        tx,
        caller,
        m,
        &StoredRow {
            payload: "",
            status,
            reason,
            chain_break,
            expected_prev: expected_prev.as_deref(),
            flags_json: "[]",
            now,
        },
    )?;
    if head.is_some_and(|h| m.seq < h.0) {
        heal_successor(tx, &caller.device_id, m)?;
    }
    let outcome = match reason {
        None => Outcome::Applied,
        Some((code, message)) => Outcome::Rejected {
            reason: Reason {
                code: code.to_string(),
                message: message.to_string(),
            },
        },
    };
    Ok((
        MutationResult {
            mutation_id: m.mutation_id.clone(),
            outcome,
        },
        chain_break,
    ))
}

/// A record to apply, or the code and message of its rejection.
type Verdict = Result<(Parsed, MutationKind), (&'static str, String)>;

/// The checks of a well-formed record of the caller's: the task is theirs, the record id is
/// not already held by another mutation, its photos are held.
fn check_applicable(
    tx: &Transaction<'_>,
    caller: &Caller,
    kind: MutationKind,
    p: Parsed,
    photos_complete: &mut HashMap<String, bool>,
) -> Result<Verdict, ApiError> {
    if let Some(task) = &p.task_id {
        let assignee: Option<String> = tx
            .prepare_cached("SELECT worker_id FROM tasks WHERE id = ?1")?
            .query_row([task], |r| r.get(0))
            .optional()?;
        if assignee.is_some_and(|w| w != caller.worker_id) {
            return Ok(Err((
                codes::TASK_NOT_ASSIGNED,
                "the task is dispatched to another worker".to_string(),
            )));
        }
    }
    // A record is stored once: a second mutation (any device) for a record id that an
    // applied mutation holds is refused. A rejected one holds nothing, so a repaired
    // record can be sent again under a new mutation id.
    let held = tx
        .prepare_cached(
            "SELECT 1 FROM mutations WHERE kind = ?1 AND record_id = ?2 AND status = 'applied'
             LIMIT 1",
        )?
        .query_row([kind.code(), p.record_id.as_str()], |_| Ok(()))
        .optional()?
        .is_some();
    if held {
        return Ok(Err((
            codes::RECORD_ID_REUSED,
            "a record with this id was already stored under another mutation".to_string(),
        )));
    }
    for sha in &p.photos {
        let complete = match photos_complete.get(sha) {
            Some(c) => *c,
            None => {
                let c = tx
                    .prepare_cached("SELECT complete FROM photos WHERE sha256 = ?1")?
                    .query_row([sha], |r| r.get::<_, bool>(0))
                    .optional()?
                    .unwrap_or(false);
                photos_complete.insert(sha.clone(), c);
                c
            }
        };
        if !complete {
            return Ok(Err((
                codes::MISSING_PHOTO,
                format!("photo {sha} is not held completely; upload it first"),
            )));
        }
    }
    Ok(Ok((p, kind)))
}

/// Checks the envelope of every mutation before anything is stored: ids the device could
/// have made (422 `invalid_request` otherwise, naming the field and the index).
fn check_envelopes(req: &PushRequest) -> ApiResult<()> {
    for (i, m) in req.mutations.iter().enumerate() {
        let checks = [
            ("mutation_id", m.mutation_id.as_str()),
            ("record_id", m.record_id.as_str()),
            ("kind", m.kind.as_str()),
        ];
        for (field, v) in checks {
            validate::id(&format!("mutations[{i}].{field}"), v).map_err(ApiError::invalid)?;
        }
        if !is_sha256(&m.hash) || !is_sha256(&m.prev_hash) {
            return Err(ApiError::invalid(format!(
                "mutations[{i}]: hash and prev_hash must be 64 lowercase hex digits"
            )));
        }
        validate::time(&format!("mutations[{i}].device_time"), &m.device_time)
            .map_err(ApiError::invalid)?;
    }
    Ok(())
}

/// `POST /v1/push`.
pub async fn push(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let caller = authenticate(&st, &h)?;
    let bytes = read_body(&h, body, wire::MAX_PUSH_BYTES).await?;
    let req: PushRequest = sanitize::decode(&bytes).map_err(ApiError::from_decode)?;
    drop(bytes);
    if req.device_id != caller.device_id {
        return Err(ApiError::bad_header(
            "device_id in the body differs from the Gridworker-Device header",
        ));
    }
    if req.mutations.len() > wire::MAX_PUSH_MUTATIONS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::TOO_MANY_MUTATIONS,
            format!("at most {} mutations per push", wire::MAX_PUSH_MUTATIONS),
        ));
    }
    check_envelopes(&req)?;
    let st2 = st.clone();
    let reply = blocking(move || {
        st2.db.write(|tx| {
            bind_device(tx, &caller)?;
            let mut results = Vec::with_capacity(req.mutations.len());
            let mut breaks = 0u32;
            let mut photos = HashMap::new();
            let mut head: Option<(i64, String)> = tx
                .prepare_cached("SELECT head_seq, head_hash FROM devices WHERE device_id = ?1")?
                .query_row([&caller.device_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let start = head.clone();
            // A batch naming one id twice sees the first as stored: the second is a replay.
            for m in &req.mutations {
                let (r, brk) = push_one(tx, &caller, m, &mut head, &mut photos)?;
                if brk {
                    breaks = breaks.saturating_add(1);
                }
                results.push(r);
            }
            if let Some(head) = head.as_ref()
                && start.as_ref() != Some(head)
            {
                tx.prepare_cached(
                    "INSERT INTO devices (device_id, head_seq, head_hash) VALUES (?1, ?2, ?3)
                     ON CONFLICT (device_id) DO UPDATE SET head_seq = excluded.head_seq, head_hash = excluded.head_hash",
                )?
                .execute(params![caller.device_id, head.0, head.1])?;
            }
            Ok::<_, ApiError>(PushResponse {
                results,
                chain_breaks: breaks,
            })
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &reply))
}

/// `GET /v1/changes`.
pub async fn changes(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let caller = authenticate(&st, &h)?;
    if q.keys().any(|k| k != "cursor" && k != "limit") {
        return Err(ApiError::invalid(
            "unknown query parameter (cursor and limit are known)",
        ));
    }
    let cursor: i64 = match q.get("cursor").map(String::as_str) {
        None | Some("") => 0,
        Some(c) => c.parse::<i64>().ok().filter(|c| *c >= 0).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::BAD_CURSOR,
                "not a cursor this server issued",
            )
        })?,
    };
    let limit: u32 = match q.get("limit") {
        None => wire::DEFAULT_PULL_LIMIT,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| *l >= 1)
            .ok_or_else(|| ApiError::invalid("limit must be a positive integer"))?
            .min(wire::MAX_PULL_LIMIT),
    };
    let st2 = st.clone();
    let body = blocking(move || {
        st2.db.read(|tx| {
            let max = db::max_change_seq(tx)?;
            if cursor > max {
                return Err(ApiError::new(
                    StatusCode::GONE,
                    codes::CURSOR_EXPIRED,
                    "the cursor is ahead of this server's data; pull again without a cursor",
                ));
            }
            let mut scopes = vec![worker_scope(&caller.worker_id)];
            scopes.extend(
                db::worker_grids(tx, &caller.worker_id)?
                    .iter()
                    .map(|g| grid_scope(g)),
            );
            // One index-ordered scan per scope, merged by seq: a single query over all scopes
            // would sort every remaining row on each page.
            let fetch = i64::from(limit) + 1;
            let mut rows: Vec<(i64, String)> = Vec::new();
            let mut stmt = tx.prepare_cached(
                "SELECT seq, body FROM changes
                 WHERE scope = ?1 AND seq > ?2 AND (exclude_worker IS NULL OR exclude_worker <> ?3)
                 ORDER BY seq LIMIT ?4",
            )?;
            for scope in &scopes {
                let found = stmt
                    .query_map(params![scope, cursor, caller.worker_id, fetch], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                    })?;
                for row in found {
                    rows.push(row?);
                }
            }
            rows.sort_unstable_by_key(|r| r.0);
            let has_more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let last = rows.last().map_or(cursor, |r| r.0);
            // Bodies are stored as JSON already: the page is assembled, not re-encoded.
            let mut out =
                String::with_capacity(rows.iter().map(|r| r.1.len() + 1).sum::<usize>() + 64);
            out.push_str("{\"changes\":[");
            for (i, (_, body)) in rows.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(body);
            }
            // Caught up: skip past everything outside the worker's scope too.
            let next = if has_more { last } else { max.max(cursor) };
            out.push_str(&format!(
                "],\"next_cursor\":\"{next}\",\"has_more\":{has_more}}}"
            ));
            Ok(out)
        })
    })
    .await?;
    Ok((
        StatusCode::OK,
        [("content-type", HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response())
}
