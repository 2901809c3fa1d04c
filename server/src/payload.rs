//! What a mutation's payload means on the server: strict decoding, the device's
//! validation rules, and the effect applying it has (records, tasks, photos cited).

use crate::params;
use crate::store::Tx;
use chrono::Utc;
use gridworker_model::domain::{
    CheckIn, PatrolEventPayload, Photo, ReportEvaluationPayload, ReportPayload, ReportStatus,
    TaskAckPayload, TaskCompletionPayload, TrackBlockPayload, Visit,
};
use gridworker_model::geo::Crs;
use gridworker_model::residents::{
    ConflictResolutionPayload, ConflictStatus, Entity, FieldUpdatePayload, ResidentAddPayload,
};
use gridworker_model::wire::{Change, MutationKind};
use serde::de::DeserializeOwned;

use crate::db::{emit, grid_scope};
use crate::error::ApiError;
use crate::refdata::grid_containing;
use crate::sanitize;
use gridworker_model::validate;

/// Parses strictly (unknown fields anywhere are refused) and checks a payload with the
/// device's rules; `Err` is the `invalid_payload` message, which names fields only.
pub(crate) fn decode_payload<T: DeserializeOwned>(
    text: &str,
    check: impl FnOnce(&T) -> gridworker_model::Check,
) -> Result<T, String> {
    let v: T = sanitize::decode_strict(text.as_bytes()).map_err(|e| e.message)?;
    check(&v).map_err(|e| e.to_string())?;
    Ok(v)
}

/// What a valid payload tells the push about itself.
pub(crate) struct Parsed {
    pub(crate) record_id: String,
    pub(crate) worker_id: String,
    pub(crate) device_id: String,
    pub(crate) photos: Vec<String>,
    /// The task a task ack or completion is about.
    pub(crate) task_id: Option<String>,
    pub(crate) flags: Vec<&'static str>,
    pub(crate) effect: Effect,
}

pub(crate) enum Effect {
    None,
    Report(ReportPayload),
    TaskAck(TaskAckPayload),
    TaskCompletion(TaskCompletionPayload),
    PatrolEvent(PatrolEventPayload),
    /// The worker's evaluation of their resolved report: close or reopen it.
    ReportEvaluation(ReportEvaluationPayload),
    /// The payload and its decoded block bytes.
    TrackBlock(TrackBlockPayload, Vec<u8>),
    ResidentAdd(ResidentAddPayload),
    /// A phone's edit of a resident or household, merged field by field.
    FieldUpdate(Entity, FieldUpdatePayload),
    /// A worker's resolution of an open conflict, with the value it stores.
    ConflictResolution(ConflictResolutionPayload, serde_json::Value),
    /// A resident's or household's current state sent to the phones again (a resolution
    /// that came after the conflict was settled: the phone shows its value meanwhile).
    Resend(Entity, String),
}

/// Whether the reference row exists (asked once per transaction for each id).
pub(crate) fn exists(tx: &Tx<'_>, sql: &str, id: &str) -> crate::store::Result<bool> {
    tx.cached_exists(sql, id)
}

pub(crate) fn shas(photos: &[Photo]) -> Vec<String> {
    photos.iter().map(|p| p.sha256.clone()).collect()
}

/// Parses and checks a payload; `Err` is the `invalid_payload` message.
pub(crate) fn parse_payload(
    tx: &Tx<'_>,
    kind: MutationKind,
    text: &str,
) -> Result<Result<Parsed, String>, crate::store::Error> {
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
                // Filed before the phone had the district's list (or by an older app):
                // evidence kept, the category flagged for the back office.
                flags: if crate::refdata::known_category(tx, &p.category)? {
                    vec![]
                } else {
                    vec!["unknown_category"]
                },
                effect: Effect::Report(p),
            },
            Err(e) => return Ok(Err(e)),
        },
        MutationKind::TaskAck => match decode_payload::<TaskAckPayload>(text, validate::task_ack) {
            Ok(a) => {
                let known = crate::tasks::assignee(tx, &a.task_id)?.is_some();
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
                    let known = crate::tasks::assignee(tx, &c.task_id)?.is_some();
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
        MutationKind::ReportEvaluation => {
            match decode_payload::<ReportEvaluationPayload>(text, validate::report_evaluation) {
                Ok(e) => {
                    // Evidence is stored whatever the report's state; the transition applies
                    // only to the author's report while it is still resolved here (the back
                    // office may have moved it meanwhile): otherwise the record is flagged.
                    let (flags, effect) = match crate::reports::row(tx, &e.report_id)? {
                        None => (vec!["unknown_report"], Effect::None),
                        Some((_, author)) if author != e.worker_id => {
                            (vec!["not_own_report"], Effect::None)
                        }
                        Some((status, _)) if status == ReportStatus::Resolved.code() => {
                            (vec![], Effect::ReportEvaluation(e.clone()))
                        }
                        Some(_) => (vec!["evaluation_not_applied"], Effect::None),
                    };
                    Parsed {
                        record_id: e.id.clone(),
                        device_id: e.device_id.clone(),
                        worker_id: e.worker_id.clone(),
                        photos: vec![],
                        task_id: None,
                        flags,
                        effect,
                    }
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        MutationKind::PatrolEvent => {
            match decode_payload::<PatrolEventPayload>(text, validate::patrol_event) {
                Ok(e) => Parsed {
                    record_id: e.id.clone(),
                    device_id: e.device_id.clone(),
                    worker_id: e.worker_id.clone(),
                    photos: vec![],
                    task_id: None,
                    flags: vec![],
                    effect: Effect::PatrolEvent(e),
                },
                Err(e) => return Ok(Err(e)),
            }
        }
        MutationKind::ResidentAdd => {
            match decode_payload::<ResidentAddPayload>(text, |r| {
                validate::resident_add(r, crate::residents::today())
            }) {
                Ok(r) => Parsed {
                    record_id: r.id.clone(),
                    device_id: r.device_id.clone(),
                    worker_id: r.worker_id.clone(),
                    photos: vec![],
                    task_id: None,
                    flags: vec![],
                    effect: Effect::ResidentAdd(r),
                },
                Err(e) => return Ok(Err(e)),
            }
        }
        MutationKind::ResidentUpdate | MutationKind::HouseholdUpdate => {
            let entity = if kind == MutationKind::ResidentUpdate {
                Entity::Resident
            } else {
                Entity::Household
            };
            match decode_payload::<FieldUpdatePayload>(text, |u| {
                validate::field_update(entity, u, crate::residents::today())
            }) {
                Ok(u) => Parsed {
                    record_id: u.id.clone(),
                    device_id: u.device_id.clone(),
                    worker_id: u.worker_id.clone(),
                    photos: vec![],
                    task_id: None,
                    flags: vec![],
                    effect: Effect::FieldUpdate(entity, u),
                },
                Err(e) => return Ok(Err(e)),
            }
        }
        MutationKind::ConflictResolution => {
            match decode_payload::<ConflictResolutionPayload>(text, validate::conflict_resolution) {
                Ok(c) => {
                    // Kept whatever the conflict's state; applied only to an open one.
                    let (flags, effect) =
                        match crate::residents::store::conflict(tx, &c.conflict_id)? {
                            None => (vec!["unknown_conflict"], Effect::None),
                            Some(found) if found.status == ConflictStatus::Resolved => (
                                vec!["conflict_already_resolved"],
                                Effect::Resend(found.entity, found.entity_id),
                            ),
                            Some(found) => match crate::residents::edit::resolution_value(
                                &found,
                                c.take,
                                c.value.as_ref(),
                                crate::residents::today(),
                            ) {
                                Ok(v) => (vec![], Effect::ConflictResolution(c.clone(), v)),
                                Err(e) => return Ok(Err(e.to_string())),
                            },
                        };
                    Parsed {
                        record_id: c.id.clone(),
                        device_id: c.device_id.clone(),
                        worker_id: c.worker_id.clone(),
                        photos: vec![],
                        task_id: None,
                        flags,
                        effect,
                    }
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        MutationKind::TrackBlock => {
            match decode_payload::<TrackBlockPayload>(text, validate::track_block) {
                Ok(b) => {
                    use base64::Engine as _;
                    // Validated above, so the data is base64 of a block.
                    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&b.data)
                    else {
                        return Ok(Err("data: is not base64".into()));
                    };
                    Parsed {
                        record_id: b.id.clone(),
                        device_id: b.device_id.clone(),
                        worker_id: b.worker_id.clone(),
                        photos: vec![],
                        task_id: None,
                        flags: vec![],
                        effect: Effect::TrackBlock(b, bytes),
                    }
                }
                Err(e) => return Ok(Err(e)),
            }
        }
    };
    Ok(Ok(parsed))
}

/// Applies what a stored record changes on the server (reports, tasks, residents) and the
/// feed. Returns the flags only applying can tell (a merge's conflicts).
pub(crate) fn apply_effect(
    tx: &Tx<'_>,
    worker_id: &str,
    device_id: &str,
    mutation_id: &str,
    effect: Effect,
) -> Result<Vec<&'static str>, ApiError> {
    let now = Utc::now();
    let actor = || crate::residents::edit::Actor {
        id: worker_id,
        device: Some(device_id),
        source: format!("mutation:{mutation_id}"),
        at: now,
    };
    match effect {
        Effect::None => {}
        Effect::Report(p) => {
            let grid = grid_containing(tx, p.position.lat, p.position.lon)?;
            let inserted = tx.execute(
                "INSERT INTO reports (id, worker_id, grid_code, category, description, lat, lon,
                     status, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'submitted', ?8, ?9)
                 ON CONFLICT DO NOTHING",
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
                        status: gridworker_model::domain::ReportStatus::Submitted,
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
        Effect::ReportEvaluation(e) => {
            let (to, text) = if e.satisfied {
                (
                    ReportStatus::Closed,
                    if e.reason.is_empty() {
                        "satisfied".to_string()
                    } else {
                        e.reason.clone()
                    },
                )
            } else {
                (ReportStatus::Reopened, e.reason.clone())
            };
            crate::reports::move_report(
                tx,
                &e.report_id,
                to,
                &crate::reports::Progress {
                    department: None,
                    note: None,
                    evaluation: Some(&text),
                },
            )?;
        }
        Effect::PatrolEvent(e) => {
            tx.execute(
                "INSERT INTO patrol_events (id, worker_id, device_id, session_id, event, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT DO NOTHING",
                params![
                    e.id,
                    worker_id,
                    e.device_id,
                    e.session_id,
                    e.event.code(),
                    e.at
                ],
            )?;
        }
        Effect::TrackBlock(b, bytes) => {
            tx.execute(
                "INSERT INTO track_blocks
                     (id, worker_id, device_id, session_id, t_from, t_to, fixes, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT DO NOTHING",
                params![
                    b.id,
                    worker_id,
                    b.device_id,
                    b.session_id,
                    b.first_fix_at.timestamp_millis(),
                    b.last_fix_at.timestamp_millis(),
                    b.fixes,
                    bytes
                ],
            )?;
        }
        Effect::ResidentAdd(r) => return crate::residents::edit::add_resident(tx, &r, &actor()),
        Effect::FieldUpdate(entity, u) => {
            return crate::residents::edit::merge_edit(tx, entity, &u, &actor());
        }
        Effect::ConflictResolution(c, value) => {
            let mut resolver = actor();
            resolver.source = format!("resolution:{}", c.conflict_id);
            // Checked open while parsing, in this transaction.
            let _ = crate::residents::edit::resolve(tx, &c.conflict_id, |_| Ok(value), &resolver)?;
        }
        Effect::Resend(entity, id) => crate::residents::edit::resend(tx, entity, &id)?,
    }
    Ok(vec![])
}
