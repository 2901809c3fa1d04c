//! Rows, versions and history of residents and household profiles, and their feed changes.

use crate::params;
use crate::store::{OptionalExtension, Tx};
use chrono::{DateTime, Utc};
use gridworker_model::geo::Crs;
use gridworker_model::residents::{Conflict, Entity, Fields, HouseholdProfile, Resident};
use gridworker_model::wire::{CatalogEntry, Change};
use serde_json::Value;

use super::edit::Actor;
use crate::db::{self, emit, grid_scope};
use crate::error::{ApiError, ApiResult};

fn to_json<T: serde::Serialize>(v: &T) -> ApiResult<String> {
    serde_json::to_string(v).map_err(|e| ApiError::internal(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> ApiResult<T> {
    crate::sanitize::decode(s.as_bytes())
        .map_err(|e| ApiError::internal(format!("stored record: {}", e.message)))
}

/// A resident and the grid of their household (`None` when the household is gone).
pub(crate) fn resident(tx: &Tx<'_>, id: &str) -> ApiResult<Option<(Resident, Option<String>)>> {
    let row = tx
        .prepare_cached(
            "SELECT r.data, r.version, r.household_id, h.grid_code
             FROM residents r LEFT JOIN households h ON h.id = r.household_id WHERE r.id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .optional()?;
    let Some((data, version, household_id, grid)) = row else {
        return Ok(None);
    };
    let mut fields: Fields = from_json(&data)?;
    fields.insert("id".into(), Value::from(id));
    fields.insert("household_id".into(), Value::from(household_id));
    fields.insert("version".into(), Value::from(version));
    let r: Resident =
        serde_json::from_value(Value::Object(fields.into_iter().collect())).map_err(|e| {
            ApiError::internal(format!(
                "stored resident: {}",
                gridworker_model::json_error_shape(&e)
            ))
        })?;
    Ok(Some((r, grid)))
}

/// Stores a resident as given (version included) and puts it in its grid's feed.
pub(crate) fn save_resident(
    tx: &Tx<'_>,
    r: &Resident,
    created_by: &str,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO residents (id, household_id, data, version, created_by, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET household_id = ?2, data = ?3, version = ?4, updated_at = ?6",
    )?
    .execute(params![
        r.id,
        r.household_id,
        to_json(&r.fields())?,
        r.version,
        created_by,
        now
    ])?;
    emit_resident(tx, r)
}

/// Puts a resident's current state in its grid's feed.
pub(crate) fn emit_resident(tx: &Tx<'_>, r: &Resident) -> ApiResult<()> {
    if let Some(grid) = household_grid(tx, &r.household_id)? {
        emit(
            tx,
            &grid_scope(&grid),
            &format!("resident:{}", r.id),
            None,
            &Change::ResidentUpsert {
                resident: r.clone(),
            },
        )?;
    }
    Ok(())
}

pub(crate) fn household_grid(tx: &Tx<'_>, id: &str) -> crate::store::Result<Option<String>> {
    tx.prepare_cached("SELECT grid_code FROM households WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()
}

/// A household's profile (tags included) and grid.
pub(crate) fn profile(tx: &Tx<'_>, id: &str) -> ApiResult<Option<(HouseholdProfile, String)>> {
    let row = tx
        .prepare_cached("SELECT profile, tags, version, grid_code FROM households WHERE id = ?1")?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .optional()?;
    let Some((profile, tags, version, grid)) = row else {
        return Ok(None);
    };
    let mut p: HouseholdProfile = from_json(&profile)?;
    p.tags = from_json(&tags)?;
    p.version = version;
    Ok(Some((p, grid)))
}

/// Stores a household's profile (version included) and re-issues the household's change.
pub(crate) fn save_profile(tx: &Tx<'_>, id: &str, p: &HouseholdProfile) -> ApiResult<()> {
    let mut rest = p.fields();
    rest.remove("tags");
    tx.prepare_cached("UPDATE households SET profile = ?2, tags = ?3, version = ?4 WHERE id = ?1")?
        .execute(params![id, to_json(&rest)?, to_json(&p.tags)?, p.version])?;
    emit_household(tx, id)
}

/// Puts a household's current state (reference data and profile) in its grid's feed.
pub(crate) fn emit_household(tx: &Tx<'_>, id: &str) -> ApiResult<()> {
    let row = tx
        .prepare_cached(
            "SELECT grid_code, building, address, crs, lat, lon FROM households WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, f64>(4)?,
                r.get::<_, f64>(5)?,
            ))
        })
        .optional()?;
    let (Some((grid, building, address, crs, lat, lon)), Some((p, _))) = (row, profile(tx, id)?)
    else {
        return Ok(());
    };
    let crs = Crs::parse(&crs).ok_or_else(|| ApiError::internal("stored household crs"))?;
    emit(
        tx,
        &grid_scope(&grid),
        &format!("household:{id}"),
        None,
        &Change::HouseholdUpsert {
            id: id.to_string(),
            grid_code: grid.clone(),
            building,
            address,
            crs,
            lat,
            lon,
            tags: p.tags,
            housing_type: p.housing_type,
            occupancy: p.occupancy,
            resident_count: p.resident_count,
            contact_phone: p.contact_phone,
            notes: p.notes,
            version: p.version,
        },
    )?;
    Ok(())
}

/// A household's residents leave grid `old`'s feed (the household moved or was removed).
pub(crate) fn leave_grid(tx: &Tx<'_>, household_id: &str, old: &str) -> ApiResult<()> {
    for id in resident_ids(tx, household_id)? {
        emit(
            tx,
            &grid_scope(old),
            &format!("resident:{id}"),
            None,
            &Change::ResidentDelete { id },
        )?;
    }
    // The conflicts about the household leave the old grid's feed too: they hold its
    // residents' values, and a phone set up on that grid later would pull them. (Phones
    // that hold them drop them with the deletes above; the feed has no conflict delete.)
    // Drained first, so a conflict still waiting for its feed number is found.
    crate::db::drain_pending(tx)?;
    let ids: Vec<String> = tx
        .prepare_cached(&format!(
            "SELECT id FROM conflicts WHERE {} = ?1",
            tx.json_text("body", "household_id")
        ))?
        .query_map([household_id], |r| r.get(0))?
        .collect::<crate::store::Result<_>>()?;
    for id in ids {
        tx.prepare_cached("DELETE FROM changes WHERE scope = ?1 AND entity = ?2")?
            .execute(params![grid_scope(old), format!("conflict:{id}")])?;
    }
    Ok(())
}

fn resident_ids(tx: &Tx<'_>, household_id: &str) -> crate::store::Result<Vec<String>> {
    tx.prepare_cached("SELECT id FROM residents WHERE household_id = ?1")?
        .query_map([household_id], |r| r.get(0))?
        .collect()
}

/// A household moved from grid `old` to another: its residents leave the old grid's feed and
/// join the new one's, with the conflicts about them.
pub(crate) fn rescope_household(tx: &Tx<'_>, household_id: &str, old: &str) -> ApiResult<()> {
    leave_grid(tx, household_id, old)?;
    join_grid(tx, household_id)
}

/// A household's residents and the conflicts about them enter its grid's feed (it moved
/// there, or was put back after a delete, which keeps its residents on record).
pub(crate) fn join_grid(tx: &Tx<'_>, household_id: &str) -> ApiResult<()> {
    for id in resident_ids(tx, household_id)? {
        if let Some((r, _)) = resident(tx, &id)? {
            save_resident(tx, &r, "", Utc::now())?;
        }
    }
    let bodies: Vec<String> = tx
        .prepare_cached(&format!(
            "SELECT body FROM conflicts WHERE {} = ?1",
            tx.json_text("body", "household_id")
        ))?
        .query_map([household_id], |r| r.get(0))?
        .collect::<crate::store::Result<_>>()?;
    for b in bodies {
        save_conflict(tx, &from_json(&b)?)?;
    }
    Ok(())
}

/// Tags as stored: checked, sorted, without duplicates, and from the district's key groups
/// once it has a list (seeding stores households before the list).
pub(crate) fn checked_tags(tx: &Tx<'_>, field: &str, tags: &[String]) -> ApiResult<Vec<String>> {
    let out = gridworker_model::residents::fields::tags(field, &Value::from(tags.to_vec()))
        .map_err(ApiError::invalid)?;
    let known = key_group_codes(tx)?;
    if !known.is_empty()
        && !gridworker_model::residents::fields::unknown_tags(&Value::from(out.clone()), &known)
            .is_empty()
    {
        return Err(ApiError::invalid(format!(
            "{field}: is not in the district's key groups"
        )));
    }
    Ok(out)
}

/// Records that `field` of an entity went from `old` to `new` at `version`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_history(
    tx: &Tx<'_>,
    entity: Entity,
    id: &str,
    field: &str,
    version: i64,
    old: &Value,
    new: &Value,
    actor: &Actor<'_>,
) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO field_history
             (entity, entity_id, field, version, old, new, actor, device_id, source, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (entity, entity_id, field, version) DO UPDATE SET old = excluded.old, new = excluded.new, actor = excluded.actor, device_id = excluded.device_id, source = excluded.source, at = excluded.at",
    )?
    .execute(params![
        entity.code(),
        id,
        field,
        version,
        to_json(old)?,
        to_json(new)?,
        actor.id,
        actor.device,
        actor.source,
        actor.at
    ])?;
    Ok(())
}

/// Who last changed a field, and when (`None` when it is as first stored).
pub(crate) fn last_change(
    tx: &Tx<'_>,
    entity: Entity,
    id: &str,
    field: &str,
) -> ApiResult<Option<(String, DateTime<Utc>)>> {
    Ok(tx
        .prepare_cached(
            "SELECT actor, at FROM field_history WHERE entity = ?1 AND entity_id = ?2 AND field = ?3
             ORDER BY version DESC LIMIT 1",
        )?
        .query_row(params![entity.code(), id, field], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// One entry of an entity's history, for the admin API.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HistoryEntry {
    pub version: i64,
    pub field: String,
    pub old: Value,
    pub new: Value,
    pub actor: String,
    pub source: String,
    pub at: DateTime<Utc>,
}

pub(crate) fn history(tx: &Tx<'_>, entity: Entity, id: &str) -> ApiResult<Vec<HistoryEntry>> {
    let mut st = tx.prepare_cached(
        "SELECT version, field, old, new, actor, source, at FROM field_history
         WHERE entity = ?1 AND entity_id = ?2 ORDER BY version, field",
    )?;
    let rows = st.query_map(params![entity.code(), id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, DateTime<Utc>>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (version, field, old, new, actor, source, at) = row?;
        out.push(HistoryEntry {
            version,
            field,
            old: from_json(&old)?,
            new: from_json(&new)?,
            actor,
            source,
            at,
        });
    }
    Ok(out)
}

/// The open conflict on a field, if any.
pub(crate) fn open_conflict(
    tx: &Tx<'_>,
    entity: Entity,
    id: &str,
    field: &str,
) -> ApiResult<Option<Conflict>> {
    let body: Option<String> = tx
        .prepare_cached(
            "SELECT body FROM conflicts
             WHERE entity = ?1 AND entity_id = ?2 AND field = ?3 AND status = 'open'",
        )?
        .query_row(params![entity.code(), id, field], |r| r.get(0))
        .optional()?;
    body.map(|b| from_json(&b)).transpose()
}

pub(crate) fn conflict(tx: &Tx<'_>, id: &str) -> crate::store::Result<Option<Conflict>> {
    let body: Option<String> = tx
        .prepare_cached("SELECT body FROM conflicts WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    body.map(|b| {
        serde_json::from_str(&b)
            .map_err(|e| crate::store::Error::Encode(gridworker_model::json_error_shape(&e)))
    })
    .transpose()
}

/// Stores a conflict (new or changed) and puts it in the household's grid's feed.
pub(crate) fn save_conflict(tx: &Tx<'_>, c: &Conflict) -> ApiResult<()> {
    let status = match c.status {
        gridworker_model::residents::ConflictStatus::Open => "open",
        gridworker_model::residents::ConflictStatus::Resolved => "resolved",
    };
    tx.prepare_cached(
        "INSERT INTO conflicts (id, entity, entity_id, field, status, body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET status = ?5, body = ?6",
    )?
    .execute(params![
        c.id,
        c.entity.code(),
        c.entity_id,
        c.field,
        status,
        to_json(c)?,
        Utc::now()
    ])?;
    if let Some(grid) = household_grid(tx, &c.household_id)? {
        emit(
            tx,
            &grid_scope(&grid),
            &format!("conflict:{}", c.id),
            None,
            &Change::ConflictUpsert {
                conflict: c.clone(),
            },
        )?;
    }
    Ok(())
}

/// Conflicts by status (`None`: all), oldest first.
pub(crate) fn conflicts(tx: &Tx<'_>, status: Option<&str>, limit: u32) -> ApiResult<Vec<Conflict>> {
    let mut st = tx.prepare_cached(
        "SELECT body FROM conflicts WHERE (CAST(?1 AS TEXT) IS NULL OR status = ?1)
         ORDER BY created_at, id LIMIT ?2",
    )?;
    let rows = st.query_map(params![status, limit], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for b in rows {
        out.push(from_json(&b?)?);
    }
    Ok(out)
}

/// Open conflicts about one resident or household.
pub(crate) fn open_conflicts_of(tx: &Tx<'_>, entity: Entity, id: &str) -> ApiResult<Vec<Conflict>> {
    let mut st = tx.prepare_cached(
        "SELECT body FROM conflicts WHERE entity = ?1 AND entity_id = ?2 AND status = 'open'
         ORDER BY created_at, id",
    )?;
    let rows = st.query_map(params![entity.code(), id], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for b in rows {
        out.push(from_json(&b?)?);
    }
    Ok(out)
}

/// The district's key-group codes.
pub(crate) fn key_group_codes(tx: &Tx<'_>) -> crate::store::Result<Vec<String>> {
    tx.prepare_cached("SELECT code FROM key_groups ORDER BY ord")?
        .query_map((), |r| r.get(0))?
        .collect()
}

/// Replaces the district's key groups and puts the list in the district's feed.
pub(crate) fn set_key_groups(tx: &Tx<'_>, list: &[CatalogEntry]) -> ApiResult<()> {
    tx.execute("DELETE FROM key_groups", ())?;
    for (i, e) in list.iter().enumerate() {
        tx.execute(
            "INSERT INTO key_groups (code, name, ord) VALUES (?1, ?2, ?3)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, ord = excluded.ord",
            params![e.code, e.name, i as i64],
        )?;
    }
    emit(
        tx,
        &db::district_scope(),
        "key_groups",
        None,
        &Change::KeyGroups {
            tags: list.to_vec(),
        },
    )?;
    Ok(())
}
