//! What a residents record the server rejected takes back on the phone.
//!
//! An edit, a resolution or a new resident shows on the phone as soon as it is made, laid
//! over the server's copy. The server stores nothing of a rejected one, and nothing in the
//! feed would ever bring the phone back: it would show the worker's value for good, over a
//! record the server does not hold (a resolution would even stay `resolving`, so the worker
//! could not resolve the conflict again). The record itself stays in the outbox, rejected
//! with its reason, for the worker to see.
//!
//! The phone holds no copy of the server's row apart from what it shows, so it puts back what
//! the record itself says was there: an edit's `previous` values, a conflict's `theirs`. A
//! field changed again since (by a later edit, or an answer recorded in the same batch)
//! keeps its value; the edits still pending are laid over again afterwards. Edits of the
//! same field rejected one after the other unwind to the value before the oldest: one
//! batch's are taken back newest first, and an edit made while an earlier rejected one
//! showed follows it back.

use rusqlite::Transaction;
use serde_json::Value;

use crate::error::Result;
use crate::store::outbox::{self, kind};
use crate::store::residents as rs;
use gridworker_model::residents::{
    ConflictResolutionPayload, Entity, FieldUpdatePayload, Fields, ResidentAddPayload,
};

/// Takes back what the rejected entries `seqs` (one batch's answers) laid over the phone's
/// copy, newest first. The answers matter more than the view: a failure here (a pending
/// edit the model no longer takes, a damaged row) rolls back only that entry's take-back
/// and leaves a warning.
pub fn take_back_answered(tx: &Transaction<'_>, seqs: &[i64]) {
    let mut seqs = seqs.to_vec();
    seqs.sort_unstable_by(|a, b| b.cmp(a));
    for seq in seqs {
        let warn = |e: &dyn std::fmt::Display| {
            log::warn!(
                "sync: entry {seq} was rejected; what it showed could not be taken back: {e}"
            );
        };
        if let Err(e) = tx.execute_batch("SAVEPOINT take_back") {
            warn(&e);
            continue;
        }
        let run = || -> Result<()> {
            match outbox::kind_and_payload(tx, seq)? {
                Some((kind, payload)) => take_back(tx, seq, &kind, &payload),
                None => Ok(()),
            }
        };
        let end = match run() {
            Ok(()) => "RELEASE take_back",
            Err(e) => {
                warn(&e);
                "ROLLBACK TO take_back; RELEASE take_back"
            }
        };
        if let Err(e) = tx.execute_batch(end) {
            warn(&e);
        }
    }
}

/// Takes back what the rejected record of `kind` with `payload` laid over the phone's copy.
/// Records of other kinds, and payloads that do not parse (the server may have rejected a
/// damaged one), change nothing.
pub fn take_back(tx: &Transaction<'_>, seq: i64, kind: &str, payload: &str) -> Result<()> {
    match kind {
        kind::RESIDENT_UPDATE => edit(tx, Entity::Resident, seq, payload),
        kind::HOUSEHOLD_UPDATE => edit(tx, Entity::Household, seq, payload),
        kind::CONFLICT_RESOLUTION => resolution(tx, payload),
        kind::RESIDENT_ADD => added(tx, payload),
        _ => Ok(()),
    }
}

/// Whether a rejected record of `kind` may have to be taken back.
pub fn concerns(kind: &str) -> bool {
    matches!(
        kind,
        kind::RESIDENT_UPDATE
            | kind::HOUSEHOLD_UPDATE
            | kind::CONFLICT_RESOLUTION
            | kind::RESIDENT_ADD
    )
}

fn edit(tx: &Transaction<'_>, entity: Entity, seq: i64, payload: &str) -> Result<()> {
    let Ok(u) = serde_json::from_str::<FieldUpdatePayload>(payload) else {
        return Ok(());
    };
    let earlier = earlier_rejected(tx, entity, &u.target_id, seq)?;
    let back: Vec<Back> = u
        .fields
        .into_iter()
        .filter_map(|(field, made)| {
            // What the phone showed before may itself have come from an edit rejected
            // earlier (taken back then while this one waited): follow the chain to the value
            // before the oldest.
            let mut before = u.previous.get(&field)?.clone();
            for e in &earlier {
                if let (Some(m), Some(p)) = (e.fields.get(&field), e.previous.get(&field))
                    && *m == before
                {
                    before = p.clone();
                }
            }
            Some(Back {
                field,
                made,
                before,
            })
        })
        .collect();
    put_back(tx, entity, &u.target_id, &back)
}

/// The rejected edits of one resident or household before entry `seq`, newest first.
fn earlier_rejected(
    tx: &Transaction<'_>,
    entity: Entity,
    target: &str,
    seq: i64,
) -> Result<Vec<FieldUpdatePayload>> {
    let k = match entity {
        Entity::Resident => kind::RESIDENT_UPDATE,
        Entity::Household => kind::HOUSEHOLD_UPDATE,
    };
    let mut st = tx.prepare_cached(
        "SELECT payload FROM outbox WHERE state = 'rejected' AND seq < ?1 AND kind = ?2
         ORDER BY seq DESC",
    )?;
    let rows = st.query_map(rusqlite::params![seq, k], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for payload in rows {
        if let Ok(u) = serde_json::from_str::<FieldUpdatePayload>(&payload?)
            && u.target_id == target
        {
            out.push(u);
        }
    }
    Ok(out)
}

fn resolution(tx: &Transaction<'_>, payload: &str) -> Result<()> {
    let Ok(p) = serde_json::from_str::<ConflictResolutionPayload>(payload) else {
        return Ok(());
    };
    let Some((mut c, status)) = rs::conflict(tx, &p.conflict_id)? else {
        return Ok(());
    };
    // Settled meanwhile by the back office (a pull brought it resolved): nothing to reopen,
    // and the pull brought the value it settled on.
    if status != "resolving" {
        return Ok(());
    }
    let Some(chosen) = c.resolution.take() else {
        return Ok(());
    };
    c.resolved_by = None;
    c.resolved_at = None;
    rs::reopen_conflict(tx, &c)?;
    let back = [Back {
        field: c.field.clone(),
        made: chosen,
        before: c.theirs.clone(),
    }];
    put_back(tx, c.entity, &c.entity_id, &back)
}

/// A resident the server never stored (version 0: no pull has brought it) leaves the phone.
fn added(tx: &Transaction<'_>, payload: &str) -> Result<()> {
    let Ok(p) = serde_json::from_str::<ResidentAddPayload>(payload) else {
        return Ok(());
    };
    match rs::resident(tx, &p.id)? {
        Some(r) if r.version == 0 => {
            rs::drop_conflicts(tx, Entity::Resident, &r.id)?;
            if let Some(h) = rs::delete_resident(tx, &r.id)? {
                rs::reindex(tx, &h)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A field the rejected record set to `made`, and what it showed `before`.
struct Back {
    field: String,
    made: Value,
    before: Value,
}

/// Sets each field of `back` to `before` where it still shows `made`, then lays the pending
/// edits over again.
fn put_back(tx: &Transaction<'_>, entity: Entity, id: &str, back: &[Back]) -> Result<()> {
    let restore = |current: &Fields| -> Vec<(String, Value)> {
        back.iter()
            .filter(|b| current.get(&b.field) == Some(&b.made))
            .map(|b| (b.field.clone(), b.before.clone()))
            .collect()
    };
    // Field by field: a value that no longer fits (a model changed since) is left as shown.
    let household = match entity {
        Entity::Resident => {
            let Some(mut r) = rs::resident(tx, id)? else {
                return Ok(());
            };
            for (k, v) in restore(&r.fields()) {
                let _ = r.apply(&Fields::from([(k, v)]));
            }
            rs::put_resident(tx, &r)?;
            r.household_id
        }
        Entity::Household => {
            let Some(mut p) = rs::profile(tx, id)? else {
                return Ok(());
            };
            for (k, v) in restore(&p.fields()) {
                let _ = p.apply(&Fields::from([(k, v)]));
            }
            rs::put_profile(tx, id, &p)?;
            id.to_string()
        }
    };
    rs::overlay_pending(tx, entity, id)?;
    rs::reindex(tx, &household)
}
