//! Writing residents and household profiles: phones' edits merged field by field
//! (gridworker_model::residents::merge), the back office's edits, additions and conflict
//! resolutions. Every stored change is a new version with one history row per field.

use crate::store::Tx;
use chrono::{DateTime, NaiveDate, Utc};
use gridworker_model::residents::{
    self, Conflict, ConflictStatus, Entity, FieldMerge, FieldUpdatePayload, Fields,
    HouseholdProfile, Resident, ResidentAddPayload, Resolution, merge_field, merge_kind,
};
use serde_json::Value;

use super::store;
use crate::error::{ApiError, ApiResult};

/// Who writes, and as what.
pub(crate) struct Actor<'a> {
    /// A worker id, or `admin`.
    pub(crate) id: &'a str,
    /// The phone, for a worker's edit.
    pub(crate) device: Option<&'a str>,
    /// `mutation:<id>`, `admin` or `resolution:<conflict id>`.
    pub(crate) source: String,
    pub(crate) at: DateTime<Utc>,
}

/// A resident, or a household's profile.
pub(crate) enum Target {
    Resident(Resident),
    Household(String, HouseholdProfile),
}

impl Target {
    pub(crate) fn load(tx: &Tx<'_>, entity: Entity, id: &str) -> ApiResult<Option<Target>> {
        Ok(match entity {
            Entity::Resident => store::resident(tx, id)?.map(|(r, _)| Target::Resident(r)),
            Entity::Household => {
                store::profile(tx, id)?.map(|(p, _)| Target::Household(id.to_string(), p))
            }
        })
    }

    fn entity(&self) -> Entity {
        match self {
            Target::Resident(_) => Entity::Resident,
            Target::Household(..) => Entity::Household,
        }
    }

    fn id(&self) -> &str {
        match self {
            Target::Resident(r) => &r.id,
            Target::Household(id, _) => id,
        }
    }

    pub(crate) fn household_id(&self) -> &str {
        match self {
            Target::Resident(r) => &r.household_id,
            Target::Household(id, _) => id,
        }
    }

    pub(crate) fn fields(&self) -> Fields {
        match self {
            Target::Resident(r) => r.fields(),
            Target::Household(_, p) => p.fields(),
        }
    }

    fn version(&self) -> i64 {
        match self {
            Target::Resident(r) => r.version,
            Target::Household(_, p) => p.version,
        }
    }

    /// Puts the entity's current state in the feed again, unchanged.
    fn emit(&self, tx: &Tx<'_>) -> ApiResult<()> {
        match self {
            Target::Resident(r) => store::emit_resident(tx, r),
            Target::Household(id, _) => store::emit_household(tx, id),
        }
    }

    /// Applies checked values as the next version and stores the entity.
    fn store(&mut self, tx: &Tx<'_>, changes: &Fields, at: DateTime<Utc>) -> ApiResult<()> {
        let bad =
            |e: residents::records::FieldError| ApiError::internal(format!("applying fields: {e}"));
        match self {
            Target::Resident(r) => {
                r.apply(changes).map_err(bad)?;
                r.version += 1;
                store::save_resident(tx, r, "", at)
            }
            Target::Household(id, p) => {
                p.apply(changes).map_err(bad)?;
                p.version += 1;
                store::save_profile(tx, id, p)
            }
        }
    }
}

/// Stores `changes` (checked values) as one new version: a history row per field, the
/// entity, its feed change. An open conflict on a field written here follows the write:
/// the back office's value becomes its `theirs` (or settles it when it is the phone's
/// value); a worker's edit made on the stored value settles it. Returns whether anything
/// was stored.
pub(crate) fn write_fields(
    tx: &Tx<'_>,
    target: &mut Target,
    changes: &Fields,
    actor: &Actor<'_>,
    settles_conflicts: bool,
) -> ApiResult<bool> {
    let current = target.fields();
    let changes: Fields = changes
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if changes.is_empty() {
        return Ok(false);
    }
    let version = target.version() + 1;
    for (field, new) in &changes {
        let old = current.get(field).cloned().unwrap_or(Value::Null);
        store::record_history(
            tx,
            target.entity(),
            target.id(),
            field,
            version,
            &old,
            new,
            actor,
        )?;
        if let Some(mut c) = store::open_conflict(tx, target.entity(), target.id(), field)? {
            // A worker's edit on the current value settles it; so does the other side
            // coming round to the phone's value.
            if settles_conflicts || *new == c.mine {
                c.status = ConflictStatus::Resolved;
                c.resolution = Some(new.clone());
                c.resolved_by = Some(actor.id.to_string());
                c.resolved_at = Some(actor.at);
            } else {
                c.theirs = new.clone();
                c.theirs_by = actor.id.to_string();
                c.theirs_at = actor.at;
            }
            store::save_conflict(tx, &c)?;
        }
    }
    target.store(tx, &changes, actor.at)?;
    Ok(true)
}

/// Merges a phone's edit (values already checked) into the stored entity. Returns the
/// server flags of the mutation: `unknown_resident` / `unknown_household` (nothing to
/// merge into; the edit is kept as evidence), `conflict`, `unknown_tag`.
pub(crate) fn merge_edit(
    tx: &Tx<'_>,
    entity: Entity,
    u: &FieldUpdatePayload,
    actor: &Actor<'_>,
) -> ApiResult<Vec<&'static str>> {
    let Some(mut target) = Target::load(tx, entity, &u.target_id)? else {
        return Ok(vec![match entity {
            Entity::Resident => "unknown_resident",
            Entity::Household => "unknown_household",
        }]);
    };
    let mut flags = Vec::new();
    if !in_worker_grids(tx, actor.id, target.household_id())? {
        flags.push("outside_worker_grids");
    }
    let fields = residents::check_fields(entity, &u.fields)
        .map_err(|e| ApiError::internal(format!("an accepted edit: {e}")))?;
    if let Some(tags) = fields.get("tags")
        && !residents::fields::unknown_tags(tags, &store::key_group_codes(tx)?).is_empty()
    {
        flags.push("unknown_tag");
    }
    let current = target.fields();
    let mut apply = Fields::new();
    for (field, mine) in &fields {
        let Some(kind) = merge_kind(entity, field) else {
            continue;
        };
        let theirs = normalised(entity, field, current.get(field));
        let base = normalised(entity, field, u.previous.get(field));
        match merge_field(kind, &base, &theirs, mine) {
            FieldMerge::Apply(v) => {
                apply.insert(field.clone(), v);
            }
            FieldMerge::Unchanged => {
                // The worker came round to the stored value: nothing left to decide.
                if *mine == theirs
                    && let Some(mut c) = store::open_conflict(tx, entity, &u.target_id, field)?
                {
                    c.status = ConflictStatus::Resolved;
                    c.resolution = Some(theirs.clone());
                    c.resolved_by = Some(actor.id.to_string());
                    c.resolved_at = Some(actor.at);
                    store::save_conflict(tx, &c)?;
                }
            }
            FieldMerge::Conflict { base, mine, theirs } => {
                if !flags.contains(&"conflict") {
                    flags.push("conflict");
                }
                let c = match store::open_conflict(tx, entity, &u.target_id, field)? {
                    // One open conflict per field: a later clash updates it.
                    Some(mut c) => {
                        c.base = base;
                        c.mine = mine;
                        c.mine_by = actor.id.to_string();
                        c.mine_at = u.recorded_at;
                        c
                    }
                    None => {
                        let (theirs_by, theirs_at) =
                            store::last_change(tx, entity, &u.target_id, field)?
                                .unwrap_or_else(|| ("admin".to_string(), actor.at));
                        Conflict {
                            id: uuid::Uuid::now_v7().to_string(),
                            entity,
                            entity_id: u.target_id.clone(),
                            household_id: target.household_id().to_string(),
                            field: field.clone(),
                            base,
                            mine,
                            theirs,
                            mine_by: actor.id.to_string(),
                            mine_at: u.recorded_at,
                            theirs_by,
                            theirs_at,
                            status: ConflictStatus::Open,
                            resolution: None,
                            resolved_by: None,
                            resolved_at: None,
                        }
                    }
                };
                store::save_conflict(tx, &c)?;
            }
        }
    }
    let stored = write_fields(tx, &mut target, &apply, actor, true)?;
    // The phone shows its edit until the server's copy comes back. An edit that stores
    // nothing (answered only with conflicts, or tags whose merge is the stored list) brings
    // nothing new, so a phone showing another value than the stored one would keep it: the
    // entity goes in the feed again.
    let shown_elsewhere = fields
        .iter()
        .any(|(f, mine)| current.get(f).unwrap_or(&Value::Null) != mine);
    if !stored && shown_elsewhere {
        target.emit(tx)?;
    }
    Ok(flags)
}

/// Puts an entity's current state in the feed again: a phone laid a value over it that
/// the server did not store (a resolution of a conflict already resolved).
pub(crate) fn resend(tx: &Tx<'_>, entity: Entity, id: &str) -> ApiResult<()> {
    match Target::load(tx, entity, id)? {
        Some(target) => target.emit(tx),
        None => Ok(()),
    }
}

/// A stored or base value as an edit stores it (`null` when absent), so that one stored
/// before a rule normalised it (a name with spaces around it, from an older build) is not
/// taken for a change in the three-way merge. A value no rule takes stays as it is.
fn normalised(entity: Entity, field: &str, v: Option<&Value>) -> Value {
    let v = v.cloned().unwrap_or(Value::Null);
    residents::check_value(entity, field, &v).unwrap_or(v)
}

/// Adds a resident registered on a phone. Flags: `unknown_household` (not added; kept as
/// evidence), `duplicate_id_number` (another resident has the number: added, for the back
/// office to merge), `unknown_tag`.
pub(crate) fn add_resident(
    tx: &Tx<'_>,
    p: &ResidentAddPayload,
    actor: &Actor<'_>,
) -> ApiResult<Vec<&'static str>> {
    if store::household_grid(tx, &p.household_id)?.is_none() {
        return Ok(vec!["unknown_household"]);
    }
    let mut r = p.resident();
    // Stored normalised, as an edit's values are.
    r.name = r.name.trim().to_string();
    let number = residents::idcard::parse("id_number", &r.id_number)
        .map_err(|e| ApiError::internal(format!("an accepted resident: {e}")))?;
    r.id_number = number.number;
    if let Some(ph) = &r.phone {
        r.phone = Some(
            residents::phone::normalise("phone", ph)
                .map_err(|e| ApiError::internal(format!("an accepted resident: {e}")))?,
        );
    }
    r.tags.sort();
    r.tags.dedup();
    r.version = 1;
    let mut flags = Vec::new();
    if !in_worker_grids(tx, actor.id, &p.household_id)? {
        flags.push("outside_worker_grids");
    }
    let duplicate = tx
        .prepare_cached(&format!(
            "SELECT 1 FROM residents WHERE {} = ?1 AND id <> ?2",
            tx.json_text("data", "id_number")
        ))?
        .exists(crate::params![r.id_number, r.id])?;
    if duplicate {
        flags.push("duplicate_id_number");
    }
    if !residents::fields::unknown_tags(&Value::from(r.tags.clone()), &store::key_group_codes(tx)?)
        .is_empty()
    {
        flags.push("unknown_tag");
    }
    store::save_resident(tx, &r, actor.id, actor.at)?;
    Ok(flags)
}

/// Whether the household is in one of the worker's grids. Edits elsewhere are stored (the
/// worker may have been reassigned since) and flagged for the back office.
fn in_worker_grids(tx: &Tx<'_>, worker: &str, household_id: &str) -> ApiResult<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT 1 FROM households h JOIN worker_grids w ON w.grid_code = h.grid_code
             WHERE h.id = ?1 AND w.worker_id = ?2",
        )?
        .exists(crate::params![household_id, worker])?)
}

/// Why a resolution was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotResolved {
    UnknownConflict,
    AlreadyResolved,
}

/// The value a resolution stores, checked against the conflict's field (a new value as of
/// `today`).
pub(crate) fn resolution_value(
    c: &Conflict,
    take: Resolution,
    value: Option<&Value>,
    today: NaiveDate,
) -> Result<Value, gridworker_model::Invalid> {
    match take {
        Resolution::Mine => Ok(c.mine.clone()),
        Resolution::Theirs => Ok(c.theirs.clone()),
        Resolution::Value => match value {
            Some(v) => residents::check_new_value(c.entity, &c.field, v, today)
                .map_err(|e| gridworker_model::Invalid::new("value", e.reason)),
            None => Err(gridworker_model::Invalid::new(
                "value",
                "is required when taking a new value",
            )),
        },
    }
}

/// Settles a conflict: the chosen value is stored as a new version (when it differs from
/// the stored one) and the conflict keeps the resolution, who made it and when.
pub(crate) fn resolve(
    tx: &Tx<'_>,
    conflict_id: &str,
    value: impl FnOnce(&Conflict) -> ApiResult<Value>,
    actor: &Actor<'_>,
) -> ApiResult<Result<Conflict, NotResolved>> {
    let Some(mut c) = store::conflict(tx, conflict_id)? else {
        return Ok(Err(NotResolved::UnknownConflict));
    };
    if c.status == ConflictStatus::Resolved {
        return Ok(Err(NotResolved::AlreadyResolved));
    }
    let v = value(&c)?;
    c.status = ConflictStatus::Resolved;
    c.resolution = Some(v.clone());
    c.resolved_by = Some(actor.id.to_string());
    c.resolved_at = Some(actor.at);
    // Saved first: the write below then finds no open conflict on the field to update.
    store::save_conflict(tx, &c)?;
    if let Some(mut target) = Target::load(tx, c.entity, &c.entity_id)? {
        let mut f = Fields::new();
        f.insert(c.field.clone(), v);
        write_fields(tx, &mut target, &f, actor, true)?;
    }
    Ok(Ok(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridworker_model::residents::MergeKind;

    /// A name an older build stored with spaces around it, edited on a phone that saw it so:
    /// the server's side is the phone's base once both are normalised, so the edit applies
    /// instead of opening a conflict against an unchanged value.
    #[test]
    fn a_value_stored_before_its_rule_normalised_it_is_not_a_change() {
        let stored = Value::from(" 李四 ");
        let mine = Value::from("李四四");
        let kind = merge_kind(Entity::Resident, "name").unwrap_or(MergeKind::Scalar);
        let theirs = normalised(Entity::Resident, "name", Some(&stored));
        let base = normalised(Entity::Resident, "name", Some(&stored));
        assert_eq!(theirs, Value::from("李四"));
        assert!(matches!(
            merge_field(kind, &base, &theirs, &mine),
            FieldMerge::Apply(v) if v == mine
        ));
        // Compared as stored, the server's side looks changed and the edit clashes.
        assert!(matches!(
            merge_field(kind, &base, &stored, &mine),
            FieldMerge::Conflict { .. }
        ));
        assert_eq!(normalised(Entity::Resident, "phone", None), Value::Null);
    }
}
