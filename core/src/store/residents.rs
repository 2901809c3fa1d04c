//! Residents, household profiles, conflicts and key groups on the device: the server's copy
//! with this phone's pending edits applied on top, and the full-text index the lookup
//! screens search.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::store::outbox::kind;
use gridworker_model::residents::{
    Conflict, ConflictResolutionPayload, ConflictStatus, Entity, FieldUpdatePayload, Fields,
    HouseholdProfile, Resident,
};
use gridworker_model::wire::CatalogEntry;

fn corrupt(what: &str) -> impl Fn(serde_json::Error) -> Error + '_ {
    move |e| Error::Protocol {
        reason: format!(
            "stored {what} is not valid: {}",
            gridworker_model::json_error_shape(&e)
        ),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::invalid("record", e.to_string()))
}

pub fn resident(conn: &Connection, id: &str) -> Result<Option<Resident>> {
    let data: Option<String> = conn
        .prepare_cached("SELECT data FROM residents WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    data.map(|d| serde_json::from_str(&d).map_err(corrupt("resident")))
        .transpose()
}

/// A household's residents: living ones first, then by relation and id.
pub fn residents_of(conn: &Connection, household_id: &str) -> Result<Vec<Resident>> {
    let mut st = conn.prepare_cached(
        "SELECT data FROM residents WHERE household_id = ?1
         ORDER BY json_extract(data, '$.status') <> 'living', json_extract(data, '$.relation') <> 'head', id",
    )?;
    let rows = st.query_map([household_id], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for d in rows {
        out.push(serde_json::from_str(&d?).map_err(corrupt("resident"))?);
    }
    Ok(out)
}

/// Stores a resident as given; the caller reindexes its household.
pub fn put_resident(conn: &Connection, r: &Resident) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO residents(id, household_id, data, version) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(id) DO UPDATE SET household_id = excluded.household_id,
             data = excluded.data, version = excluded.version",
    )?
    .execute(params![r.id, r.household_id, to_json(r)?, r.version])?;
    Ok(())
}

/// Removes a resident; returns the household to reindex.
pub fn delete_resident(conn: &Connection, id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("DELETE FROM residents WHERE id = ?1 RETURNING household_id")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// A household's profile (tags included), or `None` for an unknown household.
pub fn profile(conn: &Connection, id: &str) -> Result<Option<HouseholdProfile>> {
    let row: Option<(String, String, i64)> = conn
        .prepare_cached("SELECT profile, tags, version FROM households WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((profile, tags, version)) = row else {
        return Ok(None);
    };
    let mut p: HouseholdProfile = serde_json::from_str(&profile).map_err(corrupt("profile"))?;
    p.tags = serde_json::from_str(&tags).map_err(corrupt("household tags"))?;
    p.version = version;
    Ok(Some(p))
}

pub fn put_profile(conn: &Connection, id: &str, p: &HouseholdProfile) -> Result<()> {
    conn.prepare_cached(
        "UPDATE households SET profile = ?2, tags = ?3, version = ?4 WHERE id = ?1",
    )?
    .execute(params![id, profile_json(p)?, to_json(&p.tags)?, p.version])?;
    Ok(())
}

/// The `profile` column: the profile's fields but its tags (kept in `tags`) and version.
pub fn profile_json(p: &HouseholdProfile) -> Result<String> {
    let mut rest = p.fields();
    rest.remove("tags");
    to_json(&rest)
}

/// Rebuilds a household's search document from its address and residents.
pub fn reindex(conn: &Connection, household_id: &str) -> Result<()> {
    let row: Option<(i64, String, String, String)> = conn
        .prepare_cached("SELECT rowid, building, address, profile FROM households WHERE id = ?1")?
        .query_row([household_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    let Some((rowid, building, address, profile)) = row else {
        return Ok(());
    };
    conn.prepare_cached("DELETE FROM household_search WHERE rowid = ?1")?
        .execute([rowid])?;
    // Fields are separated by a character no query holds, so no trigram spans two.
    let mut text = format!("{building}\n{address}");
    if let Ok(Value::Object(p)) = serde_json::from_str::<Value>(&profile)
        && let Some(Value::String(phone)) = p.get("contact_phone")
    {
        push_phone(&mut text, phone);
    }
    for r in residents_of(conn, household_id)? {
        push_resident(&mut text, &r.name, &r.id_number, r.phone.as_deref());
    }
    conn.prepare_cached("INSERT INTO household_search(rowid, text) VALUES (?1, ?2)")?
        .execute(params![rowid, text])?;
    Ok(())
}

/// Drops a household's search document (before the household row goes).
pub fn unindex(conn: &Connection, household_id: &str) -> Result<()> {
    conn.prepare_cached(
        "DELETE FROM household_search WHERE rowid = (SELECT rowid FROM households WHERE id = ?1)",
    )?
    .execute([household_id])?;
    Ok(())
}

/// Ids of households whose address, building, residents' names, phones or ID numbers hold
/// `query`, by id after `after`. The trigram index serves a pattern of three characters or
/// more; a shorter one (a two-character name) scans the index's text. `LIKE` without an
/// `ESCAPE` clause (which would keep SQLite from handing the pattern to the index), so the
/// wildcards `%` and `_` are dropped from the query; dashes too (phones are indexed without).
pub fn search(
    conn: &Connection,
    query: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<String>> {
    let q: String = query
        .chars()
        .filter(|c| !matches!(c, '-' | '%' | '_'))
        .collect();
    if q.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut st = conn.prepare_cached(
        "SELECT h.id FROM household_search s JOIN households h ON h.rowid = s.rowid
         WHERE s.text LIKE ?1 AND (?2 IS NULL OR h.id > ?2) ORDER BY h.id LIMIT ?3",
    )?;
    let rows = st.query_map(params![format!("%{q}%"), after, limit], |r| {
        r.get::<_, String>(0)
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Ids of a building's households by id.
pub fn in_building(
    conn: &Connection,
    building: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<String>> {
    let mut st = conn.prepare_cached(
        "SELECT id FROM households WHERE building = ?1 AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3",
    )?;
    let rows = st.query_map(params![building, after, limit], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Ids of households in `grids` tagged `tag`, or with a living resident tagged `tag`.
pub fn with_key_group(
    conn: &Connection,
    grids: &[String],
    tag: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<String>> {
    let grids = to_json(&grids)?;
    let mut st = conn.prepare_cached(
        "SELECT h.id FROM households h
         WHERE h.grid_code IN (SELECT value FROM json_each(?1)) AND (?3 IS NULL OR h.id > ?3)
           AND (EXISTS (SELECT 1 FROM json_each(h.tags) WHERE value = ?2)
                OR EXISTS (SELECT 1 FROM residents r, json_each(r.data, '$.tags') t
                           WHERE r.household_id = h.id AND t.value = ?2
                             AND json_extract(r.data, '$.status') = 'living'))
         ORDER BY h.id LIMIT ?4",
    )?;
    let rows = st.query_map(params![grids, tag, after, limit], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Households within a box around a position (WGS-84 degrees), for the caller to sort by
/// distance.
pub fn in_box(
    conn: &Connection,
    (lat_min, lat_max): (f64, f64),
    (lon_min, lon_max): (f64, f64),
) -> Result<Vec<(String, f64, f64)>> {
    let mut st = conn.prepare_cached(
        "SELECT id, lat, lon FROM households WHERE lat BETWEEN ?1 AND ?2 AND lon BETWEEN ?3 AND ?4",
    )?;
    let rows = st.query_map(params![lat_min, lat_max, lon_min, lon_max], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Applies this phone's edits not yet accepted by the server (pending in the outbox, or set
/// aside for the worker's decision) on top of what was just pulled, in the order they were
/// made, so a pull never hides them.
pub fn overlay_pending(tx: &Transaction<'_>, entity: Entity, id: &str) -> Result<()> {
    let update_kind = match entity {
        Entity::Resident => kind::RESIDENT_UPDATE,
        Entity::Household => kind::HOUSEHOLD_UPDATE,
    };
    let mut edits: Vec<Fields> = Vec::new();
    {
        let mut st = tx.prepare_cached(
            "SELECT kind, payload FROM outbox WHERE state IN ('pending', 'quarantined')
                 AND kind IN (?1, ?2) AND payload <> '' ORDER BY seq",
        )?;
        let rows = st.query_map(params![update_kind, kind::CONFLICT_RESOLUTION], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (k, payload) = row?;
            if k == update_kind {
                let u: FieldUpdatePayload =
                    serde_json::from_str(&payload).map_err(corrupt("edit"))?;
                if u.target_id == id {
                    edits.push(u.fields);
                }
            } else {
                let c: ConflictResolutionPayload =
                    serde_json::from_str(&payload).map_err(corrupt("resolution"))?;
                if let Some((conflict, value)) = local_resolution(tx, &c.conflict_id)?
                    && conflict.entity == entity
                    && conflict.entity_id == id
                {
                    edits.push(Fields::from([(conflict.field, value)]));
                }
            }
        }
    }
    if edits.is_empty() {
        return Ok(());
    }
    let bad = |e: gridworker_model::residents::records::FieldError| Error::Protocol {
        reason: format!("stored edit is not valid: {e}"),
    };
    match entity {
        Entity::Resident => {
            if let Some(mut r) = resident(tx, id)? {
                for f in &edits {
                    r.apply(f).map_err(&bad)?;
                }
                put_resident(tx, &r)?;
            }
        }
        Entity::Household => {
            if let Some(mut p) = profile(tx, id)? {
                for f in &edits {
                    p.apply(f).map_err(&bad)?;
                }
                put_profile(tx, id, &p)?;
            }
        }
    }
    Ok(())
}

/// A conflict as stored, and the value this phone resolved it with (while it waits).
fn local_resolution(conn: &Connection, id: &str) -> Result<Option<(Conflict, Value)>> {
    let Some((c, status)) = conflict(conn, id)? else {
        return Ok(None);
    };
    Ok(match (status.as_str(), &c.resolution) {
        ("resolving", Some(v)) => Some((c.clone(), v.clone())),
        _ => None,
    })
}

/// A conflict and its local status (`open`, `resolving` or `resolved`).
pub fn conflict(conn: &Connection, id: &str) -> Result<Option<(Conflict, String)>> {
    let row: Option<(String, String)> = conn
        .prepare_cached("SELECT body, status FROM conflicts WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    row.map(|(b, s)| Ok((serde_json::from_str(&b).map_err(corrupt("conflict"))?, s)))
        .transpose()
}

/// Stores a conflict the server sent. A conflict this phone resolved stays `resolving`,
/// with the phone's resolution, until the server reports it resolved: the server sends an
/// open conflict again when the back office changes its field meanwhile, and the
/// resolution is what the phone's rows show until it is sent.
pub fn put_conflict(conn: &Connection, c: &Conflict) -> Result<()> {
    let status = match c.status {
        ConflictStatus::Resolved => "resolved",
        ConflictStatus::Open => "open",
    };
    let mut c = std::borrow::Cow::Borrowed(c);
    if c.status == ConflictStatus::Open
        && let Some((mine, local)) = conflict(conn, &c.id)?
        && local == "resolving"
    {
        let c = c.to_mut();
        c.resolution = mine.resolution;
        c.resolved_by = mine.resolved_by;
        c.resolved_at = mine.resolved_at;
    }
    conn.prepare_cached(
        "INSERT INTO conflicts(id, household_id, status, body) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(id) DO UPDATE SET household_id = excluded.household_id, body = excluded.body,
             status = CASE WHEN conflicts.status = 'resolving' AND excluded.status = 'open'
                           THEN 'resolving' ELSE excluded.status END",
    )?
    .execute(params![c.id, c.household_id, status, to_json(&*c)?])?;
    Ok(())
}

/// Forgets the conflicts about a household (and its residents) or about one resident that
/// this phone no longer holds: deleted, or moved out of the worker's grids. Nothing on the
/// phone could show or settle them; a resolution already queued is still sent.
pub fn drop_conflicts(conn: &Connection, entity: Entity, id: &str) -> Result<()> {
    let sql = match entity {
        Entity::Household => "DELETE FROM conflicts WHERE household_id = ?1",
        Entity::Resident => {
            "DELETE FROM conflicts WHERE json_extract(body, '$.entity') = 'resident'
             AND json_extract(body, '$.entity_id') = ?1"
        }
    };
    conn.prepare_cached(sql)?.execute([id])?;
    Ok(())
}

/// Opens again a conflict this phone resolved, its resolution rejected by the server.
pub fn reopen_conflict(conn: &Connection, c: &Conflict) -> Result<()> {
    conn.prepare_cached("UPDATE conflicts SET status = 'open', body = ?2 WHERE id = ?1")?
        .execute(params![c.id, to_json(c)?])?;
    Ok(())
}

/// Marks a conflict resolved here with `value`, waiting for the server.
pub fn mark_resolving(conn: &Connection, c: &Conflict) -> Result<()> {
    conn.prepare_cached("UPDATE conflicts SET status = 'resolving', body = ?2 WHERE id = ?1")?
        .execute(params![c.id, to_json(c)?])?;
    Ok(())
}

/// Conflicts by id after `after`: open and resolving ones, or all with `all`.
pub fn conflicts(
    conn: &Connection,
    all: bool,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<(Conflict, String)>> {
    let mut st = conn.prepare_cached(
        "SELECT body, status FROM conflicts WHERE (?1 OR status <> 'resolved')
         AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3",
    )?;
    let rows = st.query_map(params![all, after, limit], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (b, s) = row?;
        out.push((serde_json::from_str(&b).map_err(corrupt("conflict"))?, s));
    }
    Ok(out)
}

/// Open and resolving conflicts about one household or its residents, with their status.
pub fn household_conflicts(
    conn: &Connection,
    household_id: &str,
) -> Result<Vec<(Conflict, String)>> {
    let mut st = conn.prepare_cached(
        "SELECT body, status FROM conflicts WHERE household_id = ?1 AND status <> 'resolved'
         ORDER BY id",
    )?;
    let rows = st.query_map([household_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (b, s) = row?;
        out.push((serde_json::from_str(&b).map_err(corrupt("conflict"))?, s));
    }
    Ok(out)
}

pub fn set_key_groups(conn: &Connection, list: &[CatalogEntry]) -> Result<()> {
    conn.execute("DELETE FROM key_groups", [])?;
    let mut st = conn
        .prepare_cached("INSERT OR REPLACE INTO key_groups(code, name, ord) VALUES (?1, ?2, ?3)")?;
    for (i, e) in list.iter().enumerate() {
        st.execute(params![e.code, e.name, i as i64])?;
    }
    Ok(())
}

pub fn key_groups(conn: &Connection) -> Result<Vec<CatalogEntry>> {
    let mut st = conn.prepare_cached("SELECT code, name FROM key_groups ORDER BY ord")?;
    let rows = st.query_map([], |r| {
        Ok(CatalogEntry {
            code: r.get(0)?,
            name: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Households whose search documents must be rebuilt.
#[derive(Debug, Default)]
pub struct Dirty(pub BTreeSet<String>);

impl Dirty {
    /// Rebuilds them now.
    pub fn reindex(self, conn: &Connection) -> Result<()> {
        for h in self.0 {
            reindex(conn, &h)?;
        }
        Ok(())
    }

    /// Marks them for [`reindex_marked`] (a pull's later page).
    pub fn mark(self, conn: &Connection) -> Result<()> {
        let mut st =
            conn.prepare_cached("INSERT OR IGNORE INTO search_dirty(household_id) VALUES (?1)")?;
        for h in self.0 {
            st.execute([h])?;
        }
        Ok(())
    }
}

/// Whether households wait for their search documents (a pull not finished).
pub fn any_marked(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM search_dirty LIMIT 1")?
        .exists([])?)
}

/// Rebuilds every marked household's search document and clears the marks: one pass over
/// the marked households and their residents (an initial pull marks them all).
pub fn reindex_marked(conn: &Connection) -> Result<()> {
    let mut docs: Vec<(i64, String)> = Vec::new();
    {
        let mut st = conn.prepare_cached(
            "SELECT h.rowid, h.building, h.address, json_extract(h.profile, '$.contact_phone'),
                    json_extract(r.data, '$.name'), json_extract(r.data, '$.id_number'),
                    json_extract(r.data, '$.phone')
             FROM search_dirty d JOIN households h ON h.id = d.household_id
             LEFT JOIN residents r ON r.household_id = h.id
             ORDER BY d.household_id",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let rowid: i64 = r.get(0)?;
            if docs.last().is_none_or(|d| d.0 != rowid) {
                let mut text = format!("{}\n{}", r.get::<_, String>(1)?, r.get::<_, String>(2)?);
                if let Some(p) = r.get::<_, Option<String>>(3)? {
                    push_phone(&mut text, &p);
                }
                docs.push((rowid, text));
            }
            if let (Some(doc), Some(name)) = (docs.last_mut(), r.get::<_, Option<String>>(4)?) {
                push_resident(
                    &mut doc.1,
                    &name,
                    &r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                    r.get::<_, Option<String>>(6)?.as_deref(),
                );
            }
        }
    }
    // Read in the marks' order (a scan of the marks alone, where the rowid order scanned
    // every household), written in rowid order: FTS5 flushes its pending terms whenever a
    // rowid is lower than the last one.
    docs.sort_unstable_by_key(|d| d.0);
    let mut delete = conn.prepare_cached("DELETE FROM household_search WHERE rowid = ?1")?;
    let mut insert =
        conn.prepare_cached("INSERT INTO household_search(rowid, text) VALUES (?1, ?2)")?;
    for (rowid, text) in docs {
        delete.execute([rowid])?;
        insert.execute(params![rowid, text])?;
    }
    conn.execute("DELETE FROM search_dirty", [])?;
    Ok(())
}

fn push_phone(text: &mut String, phone: &str) {
    text.push('\n');
    text.push_str(&phone.replace('-', ""));
}

fn push_resident(text: &mut String, name: &str, id_number: &str, phone: Option<&str>) {
    text.push('\n');
    text.push_str(name);
    text.push('\n');
    text.push_str(id_number);
    if let Some(p) = phone {
        push_phone(text, p);
    }
}

/// Whether this phone has edits or resolutions the server has not accepted yet, pending or
/// set aside (when it has none, a pulled record needs nothing laid over it).
pub fn has_pending_edits(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM outbox WHERE state IN ('pending', 'quarantined') AND kind IN (?1, ?2, ?3)
                 AND payload <> '' LIMIT 1",
        )?
        .exists(params![
            kind::RESIDENT_UPDATE,
            kind::HOUSEHOLD_UPDATE,
            kind::CONFLICT_RESOLUTION
        ])?)
}

/// The household a stored resident belongs to.
pub fn household_of(conn: &Connection, resident_id: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT household_id FROM residents WHERE id = ?1")?
        .query_row([resident_id], |r| r.get(0))
        .optional()?)
}
