//! The mutation ledger: one device's chain of mutations, each stored once with what the
//! server decided (applied, already applied, rejected, withdrawal link), the link checks
//! and the refusals that keep one device's chain whole.

use std::collections::{HashMap, HashSet};

use crate::params;
use crate::store::{OptionalExtension, Params as _, ToValue as _, Tx, Value};
use axum::http::StatusCode;
use chrono::Utc;
use gridworker_model::chain;
use gridworker_model::wire::{
    self, Mutation, MutationKind, MutationResult, Outcome, Reason, codes,
};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::payload::{Parsed, apply_effect, parse_payload};

pub(crate) fn rejected(m: &Mutation, code: &str, message: impl Into<String>) -> MutationResult {
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
pub(crate) fn link_check(
    tx: &Tx<'_>,
    batch: &mut Batch,
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
    batch.flush(tx)?;
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
pub(crate) fn heal_successor(
    tx: &Tx<'_>,
    batch: &mut Batch,
    device_id: &str,
    m: &Mutation,
) -> Result<(), ApiError> {
    batch.flush(tx)?;
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
pub(crate) fn refuse(
    tx: &Tx<'_>,
    caller: &Caller,
    m: &Mutation,
    code: &'static str,
    message: &str,
) -> crate::store::Result<(MutationResult, bool)> {
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
pub(crate) struct StoredRow<'a> {
    payload: &'a str,
    status: &'a str,
    reason: Option<(&'a str, &'a str)>,
    chain_break: bool,
    expected_prev: Option<&'a str>,
    flags_json: &'a str,
}

/// Columns of a stored mutation, in the order [`insert_mutation`] gives their values.
const COLUMNS: [&str; WIDTH] = [
    "mutation_id",
    "device_id",
    "worker_id",
    "seq",
    "kind",
    "record_id",
    "payload",
    "device_time",
    "monotonic_ms",
    "prev_hash",
    "hash",
    "status",
    "reason_code",
    "reason_message",
    "chain_break",
    "expected_prev",
    "server_flags",
    "received_at",
];
const WIDTH: usize = 18;

/// The one place a mutation row is made (records, rejections and withdrawal links). It is
/// queued in `batch` and written by [`Batch::flush`].
pub(crate) fn insert_mutation(
    batch: &mut Batch,
    caller: &Caller,
    m: &Mutation,
    row: &StoredRow<'_>,
) {
    let values = params![
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
        batch.received_at,
    ]
    .to_values();
    debug_assert_eq!(values.len(), WIDTH);
    batch.queued.extend(values);
}

/// Kinds that change records another writer may change too (a resident, a household's
/// profile, a conflict, a report's or a task's state): a push holding one takes the edits
/// lock ([`crate::store::EDITS_LOCK`]) that the back office's writes take as well.
pub(crate) fn edits_shared(kind: MutationKind) -> bool {
    // Exhaustive, so a new kind has to be placed on one side.
    match kind {
        MutationKind::TaskAck
        | MutationKind::TaskCompletion
        | MutationKind::ReportEvaluation
        | MutationKind::ResidentAdd
        | MutationKind::ResidentUpdate
        | MutationKind::HouseholdUpdate
        | MutationKind::ConflictResolution => true,
        MutationKind::Checkin
        | MutationKind::Visit
        | MutationKind::Report
        | MutationKind::PatrolEvent
        | MutationKind::TrackBlock => false,
    }
}

/// What one query per question tells about a push's batch before its mutations are taken
/// one by one: which mutation ids the server holds for the device, and which record ids an
/// applied mutation holds. Most pushes hold none of either, and their mutations then skip
/// two lookups each. An id met earlier in the same batch is looked up as before, since the
/// batch itself may have stored it.
///
/// It also holds the batch's mutation rows until they are written together
/// ([`Tx::insert_rows`]: on PostgreSQL one INSERT, or one COPY from 64 rows, where one
/// INSERT per mutation was one round trip each and most of a push's time). Every read or
/// update of `mutations` during a push calls [`Batch::flush`] first, so it sees the rows of
/// the mutations taken before it; the push flushes before it commits.
pub(crate) struct Batch {
    stored: HashSet<String>,
    /// Record ids by kind, so a lookup borrows its key instead of building one.
    held: HashMap<String, HashSet<String>>,
    seen_ids: HashSet<String>,
    seen_records: HashMap<String, HashSet<String>>,
    /// Values of the rows not yet written, [`WIDTH`] per row.
    queued: Vec<Value>,
    /// When the push was received: one time for its rows, formatted once.
    received_at: Value,
}

impl Batch {
    pub(crate) fn load(tx: &Tx<'_>, device_id: &str, ms: &[Mutation]) -> Result<Batch, ApiError> {
        let json =
            |v: Vec<&str>| serde_json::to_string(&v).map_err(|e| ApiError::internal(e.to_string()));
        let ids = json(ms.iter().map(|m| m.mutation_id.as_str()).collect())?;
        let sql = format!(
            "SELECT mutation_id FROM mutations WHERE device_id = ?1 AND {}",
            tx.in_json_strings("mutation_id", "?2")
        );
        let stored = tx
            .prepare_cached(&sql)?
            .query_map(params![device_id, ids], |r| r.get::<_, String>(0))?
            .collect::<crate::store::Result<_>>()?;
        let mut kinds: Vec<&str> = ms.iter().map(|m| m.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let sql = format!(
            "SELECT record_id FROM mutations
             WHERE kind = ?1 AND status = 'applied' AND {}",
            tx.in_json_strings("record_id", "?2")
        );
        let mut held: HashMap<String, HashSet<String>> = HashMap::new();
        for kind in kinds {
            let records = json(
                ms.iter()
                    .filter(|m| m.kind == kind)
                    .map(|m| m.record_id.as_str())
                    .collect(),
            )?;
            for r in tx
                .prepare_cached(&sql)?
                .query_map(params![kind, records], |r| r.get::<_, String>(0))?
            {
                held.entry(kind.to_string()).or_default().insert(r?);
            }
        }
        Ok(Batch {
            stored,
            held,
            seen_ids: Default::default(),
            seen_records: Default::default(),
            queued: Vec::new(),
            received_at: Utc::now().to_value(),
        })
    }

    /// Writes the queued mutation rows.
    pub(crate) fn flush(&mut self, tx: &Tx<'_>) -> Result<(), ApiError> {
        tx.insert_rows("mutations", &COLUMNS, std::mem::take(&mut self.queued))?;
        Ok(())
    }

    /// Whether the server may hold this mutation id (else it surely does not).
    fn maybe_stored(&self, id: &str) -> bool {
        self.stored.contains(id) || self.seen_ids.contains(id)
    }

    /// Whether an applied mutation may hold this record id (else surely none does).
    fn maybe_held(&self, kind: &str, record_id: &str) -> bool {
        let within = |by_kind: &HashMap<String, HashSet<String>>| {
            by_kind.get(kind).is_some_and(|ids| ids.contains(record_id))
        };
        within(&self.held) || within(&self.seen_records)
    }

    /// `m` has been taken: later mutations of the batch look its ids up for real.
    pub(crate) fn taken(&mut self, m: &Mutation) {
        self.seen_ids.insert(m.mutation_id.clone());
        match self.seen_records.get_mut(m.kind.as_str()) {
            Some(ids) => {
                ids.insert(m.record_id.clone());
            }
            None => {
                let ids = HashSet::from([m.record_id.clone()]);
                self.seen_records.insert(m.kind.clone(), ids);
            }
        }
    }
}

/// Whether the mutation's hash is the hash of its content and link.
fn hash_holds(m: &Mutation) -> bool {
    chain::link_matches(
        &m.hash,
        &m.prev_hash,
        m.seq,
        &m.kind,
        &m.mutation_id,
        &m.payload,
    )
}

/// One mutation inside the push transaction. Returns its result and whether it broke the
/// chain. `batch` says which lookups it can skip ([`Batch`]).
pub(crate) fn push_one(
    tx: &Tx<'_>,
    caller: &Caller,
    m: &Mutation,
    batch: &mut Batch,
    head: &mut Option<(i64, String)>,
    photos_complete: &mut HashMap<String, bool>,
) -> Result<(MutationResult, bool), ApiError> {
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
    let prior: Option<Prior> = if !batch.maybe_stored(&m.mutation_id) {
        None
    } else {
        batch.flush(tx)?;
        tx.prepare_cached(
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
        .optional()?
    };
    if let Some(p) = prior {
        // The hash commits to the payload (it was verified when stored); a payload not kept
        // (refused as invalid, a withdrawal link's, a track block's) is compared through it.
        // A withdrawn link cannot come back as a record under the same id.
        // An expired link carries no payload: it is the same mutation when its link (hash
        // included, compared below) is.
        let same_payload = if m.expired {
            true
        } else if p.3.is_empty() {
            hash_holds(m)
        } else {
            p.3 == m.payload
        };
        let same = (p.8 != WITHDRAWN || m.withdrawn)
            && (p.8 != EXPIRED || m.expired)
            && p.0 == m.seq
            && p.1 == m.kind
            && p.2 == m.record_id
            && same_payload
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
        let outcome = if p.8 == "applied" || p.8 == WITHDRAWN || p.8 == EXPIRED {
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

    // An expired link's payload is gone: its hash cannot be checked, only its link.
    if !m.expired && !hash_holds(m) {
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
    let (chain_break, expected_prev) = link_check(tx, batch, &caller.device_id, m, head.as_ref())?;
    // A seq below 1 is refused below; it never becomes the head (an honest seq 1 after it
    // would read as a break).
    if m.seq >= 1 && head.as_ref().is_none_or(|h| m.seq > h.0) {
        *head = Some((m.seq, m.hash.clone()));
    }

    if m.withdrawn || m.expired {
        return store_link(
            tx,
            batch,
            caller,
            m,
            head.as_ref(),
            chain_break,
            expected_prev,
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
                        "INSERT INTO photo_refs (sha256, worker_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    )?
                    .execute([sha, &caller.worker_id])?;
                }
                let maybe_held = batch.maybe_held(&m.kind, &m.record_id);
                if maybe_held {
                    batch.flush(tx)?;
                }
                check_applicable(tx, caller, kind, p, maybe_held, photos_complete)?
            }
        },
    };

    let (status, reason, flags, effect) = match verdict {
        Ok((p, _)) => ("applied", None, p.flags, Some(p.effect)),
        Err((code, msg)) => ("rejected", Some((code, msg)), vec![], None),
    };
    // A payload refused as invalid is not a record: it is not kept (it may hold residents'
    // data the server never accepted). The hash still identifies it for replays.
    // A track block's fixes are kept once, in `track_blocks`: the hash still identifies the
    // payload for replays.
    let refused_content = matches!(
        reason.as_ref().map(|r| r.0),
        Some(codes::INVALID_PAYLOAD | codes::UNKNOWN_KIND)
    );
    let block_held = status == "applied" && m.kind == MutationKind::TrackBlock.code();
    let keep_payload = !refused_content && !block_held;
    let flags_json = serde_json::to_string(&flags).unwrap_or_else(|_| "[]".into());
    insert_mutation(
        batch,
        caller,
        m,
        &StoredRow {
            payload: if keep_payload { m.payload.as_str() } else { "" },
            status,
            reason: reason.as_ref().map(|r| (r.0, r.1.as_str())),
            chain_break,
            expected_prev: expected_prev.as_deref(),
            flags_json: &flags_json,
        },
    );
    if head.as_ref().is_some_and(|h| m.seq < h.0) {
        heal_successor(tx, batch, &caller.device_id, m)?;
    }
    if let Some(effect) = effect {
        let more = apply_effect(
            tx,
            &caller.worker_id,
            &caller.device_id,
            &m.mutation_id,
            effect,
        )?;
        if !more.is_empty() {
            let mut all = flags;
            all.extend(more);
            let all = serde_json::to_string(&all).unwrap_or_else(|_| "[]".into());
            batch.flush(tx)?;
            tx.prepare_cached(
                "UPDATE mutations SET server_flags = ?3 WHERE device_id = ?1 AND mutation_id = ?2",
            )?
            .execute(params![caller.device_id, m.mutation_id, all])?;
        }
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
pub(crate) const WITHDRAWN: &str = "withdrawn";
/// Status of a stored expired link (protocol 5).
pub(crate) const EXPIRED: &str = "expired";

/// Stores a link without a record (its link checked by the caller):
/// - a withdrawal link (its hash verified): the device withdrew the entry. Nothing of the
///   payload is kept (personal data minimisation: only the hash, which the device can still
///   prove); it holds no record id, so the repaired record is accepted after it;
/// - an expired link: the device no longer has the entry's payload and this server lacks
///   it (restored from an older backup). Stored as `expired`, so the back office sees a
///   record lost rather than a chain broken at every later link.
///
/// Neither has an effect or needs a photo.
pub(crate) fn store_link(
    tx: &Tx<'_>,
    batch: &mut Batch,
    caller: &Caller,
    m: &Mutation,
    head: Option<&(i64, String)>,
    chain_break: bool,
    expected_prev: Option<String>,
) -> Result<(MutationResult, bool), ApiError> {
    // The kind names the record that was withdrawn; the device can only have made one of
    // the five (a link is still a link, so a bad one is stored as a rejection like any).
    let reason = match MutationKind::parse(&m.kind) {
        None => Some((codes::UNKNOWN_KIND, "unknown mutation kind")),
        Some(_) if m.seq < 1 => Some((codes::INVALID_PAYLOAD, "seq must be at least 1")),
        Some(_) => None,
    };
    let status = match (reason.is_some(), m.expired) {
        (true, _) => "rejected",
        (false, true) => EXPIRED,
        (false, false) => WITHDRAWN,
    };
    // A link is stored without its payload (what was withdrawn is not a record) and flags.
    insert_mutation(
        batch,
        caller,
        m,
        &StoredRow {
            payload: "",
            status,
            reason,
            chain_break,
            expected_prev: expected_prev.as_deref(),
            flags_json: "[]",
        },
    );
    if head.is_some_and(|h| m.seq < h.0) {
        heal_successor(tx, batch, &caller.device_id, m)?;
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
pub(crate) type Verdict = Result<(Parsed, MutationKind), (&'static str, String)>;

/// The checks of a well-formed record of the caller's: the task is theirs, the record id is
/// not already held by another mutation, its photos are held.
pub(crate) fn check_applicable(
    tx: &Tx<'_>,
    caller: &Caller,
    kind: MutationKind,
    p: Parsed,
    maybe_held: bool,
    photos_complete: &mut HashMap<String, bool>,
) -> Result<Verdict, ApiError> {
    if let Some(task) = &p.task_id
        && crate::tasks::assignee(tx, task)?.is_some_and(|w| w != caller.worker_id)
    {
        return Ok(Err((
            codes::TASK_NOT_ASSIGNED,
            "the task is dispatched to another worker".to_string(),
        )));
    }
    // A record is stored once: a second mutation (any device) for a record id that an
    // applied mutation holds is refused. A rejected one holds nothing, so a repaired
    // record can be sent again under a new mutation id.
    // A task's acknowledgement and completion are held per worker: their record id is the
    // task's id, and an acknowledgement of a task the server does not know yet (taken, and
    // flagged `unknown_task`) must not keep the worker it is later dispatched to from
    // acknowledging it.
    let per_worker = matches!(kind, MutationKind::TaskAck | MutationKind::TaskCompletion);
    let held = maybe_held
        && if per_worker {
            tx.prepare_cached(
                "SELECT 1 FROM mutations WHERE kind = ?1 AND record_id = ?2 AND status = 'applied'
                 AND worker_id = ?3 LIMIT 1",
            )?
            .query_row(
                [kind.code(), p.record_id.as_str(), caller.worker_id.as_str()],
                |_| Ok(()),
            )
            .optional()?
            .is_some()
        } else {
            tx.prepare_cached(
                "SELECT 1 FROM mutations WHERE kind = ?1 AND record_id = ?2 AND status = 'applied'
                 LIMIT 1",
            )?
            .query_row([kind.code(), p.record_id.as_str()], |_| Ok(()))
            .optional()?
            .is_some()
        };
    if held {
        return Ok(Err((
            codes::RECORD_ID_REUSED,
            "a record with this id was already stored under another mutation".to_string(),
        )));
    }
    // A new resident under the id of one already registered (by the back office, seeded,
    // or added by another phone) would replace that person: refused as the admin API's
    // registration refuses it.
    if kind == MutationKind::ResidentAdd
        && crate::residents::store::resident(tx, &p.record_id)?.is_some()
    {
        return Ok(Err((
            codes::RECORD_ID_REUSED,
            "a resident with this id is already registered".to_string(),
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
