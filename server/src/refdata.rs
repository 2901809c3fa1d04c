//! Reference data (grids, inspection points, households): stored as given (GCJ-02 from the
//! fixtures), every write mirrored into the pull feed of the grids it touches.

use crate::params;
use crate::store::{OptionalExtension, Tx};
use gridworker_model::geo::Crs;
use gridworker_model::residents::{Entity, Fields};
use gridworker_model::wire::{CatalogEntry, Change};
use serde::{Deserialize, Serialize};

use crate::db::{self, emit, grid_scope};
use crate::error::{ApiError, ApiResult};

/// Body of `PUT /admin/v1/grids/{code}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridIn {
    pub name: String,
    pub crs: Crs,
    /// `[lon, lat]` pairs, first point not repeated.
    pub ring: Vec<[f64; 2]>,
}

/// Body of `PUT /admin/v1/points/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointIn {
    pub grid_code: String,
    pub name: String,
    pub crs: Crs,
    pub lat: f64,
    pub lon: f64,
    pub radius_m: f64,
}

/// Body of `PUT /admin/v1/households/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HouseholdIn {
    pub grid_code: String,
    pub building: String,
    pub address: String,
    pub crs: Crs,
    pub lat: f64,
    pub lon: f64,
    #[serde(default)]
    pub tags: Vec<String>,
}

fn check_coord(lat: f64, lon: f64) -> ApiResult<()> {
    if !lat.is_finite() || !lon.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(ApiError::invalid(
            "lat must be a finite number in [-90, 90]",
        ));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(ApiError::invalid(
            "lon must be a finite number in [-180, 180]",
        ));
    }
    Ok(())
}

/// The id rule the phones hold their records to (a point's or household's id is cited by
/// check-ins and visits): an id they would refuse makes the item unusable there.
fn check_id(what: &str, id: &str) -> ApiResult<()> {
    gridworker_model::validate::id(what, id).map_err(ApiError::invalid)
}

/// Creates or redraws a grid.
pub fn put_grid(tx: &Tx<'_>, code: &str, g: &GridIn) -> ApiResult<()> {
    check_id("grid code", code)?;
    if g.ring.len() < 3 {
        return Err(ApiError::invalid("ring needs at least 3 points"));
    }
    for [lon, lat] in &g.ring {
        check_coord(*lat, *lon)?;
    }
    let ring = serde_json::to_string(&g.ring).map_err(|e| ApiError::internal(e.to_string()))?;
    tx.prepare_cached(
        "INSERT INTO grids (code, name, crs, ring) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, crs = excluded.crs, ring = excluded.ring",
    )?
    .execute(params![code, g.name, g.crs.code(), ring])?;
    emit(
        tx,
        &grid_scope(code),
        &format!("grid:{code}"),
        None,
        &Change::GridUpsert {
            code: code.to_string(),
            name: g.name.clone(),
            crs: g.crs,
            ring: g.ring.clone(),
        },
    )?;
    Ok(())
}

/// Removes a grid; false when unknown. Refused while points, households or workers are in
/// it: they would stay on the phones (and in their grid's feed) after the grid had gone.
pub fn delete_grid(tx: &Tx<'_>, code: &str) -> ApiResult<bool> {
    let count = |table: &str, column: &str| -> ApiResult<i64> {
        Ok(tx.query_row(
            &format!("SELECT count(*) FROM {table} WHERE {column} = ?1"),
            [code],
            |r| r.get(0),
        )?)
    };
    let (points, households, workers) = (
        count("points", "grid_code")?,
        count("households", "grid_code")?,
        count("worker_grids", "grid_code")?,
    );
    if points + households + workers > 0 {
        return Err(ApiError::invalid(format!(
            "the grid still has {points} points, {households} households and {workers} workers: \
             move or delete them first"
        )));
    }
    if tx.execute("DELETE FROM grids WHERE code = ?1", [code])? == 0 {
        return Ok(false);
    }
    emit(
        tx,
        &grid_scope(code),
        &format!("grid:{code}"),
        None,
        &Change::GridDelete {
            code: code.to_string(),
        },
    )?;
    Ok(true)
}

fn previous_grid(tx: &Tx<'_>, table: &str, id: &str) -> crate::store::Result<Option<String>> {
    tx.query_row(
        &format!("SELECT grid_code FROM {table} WHERE id = ?1"),
        [id],
        |r| r.get(0),
    )
    .optional()
}

/// Creates or changes an inspection point; a point that moves to another grid is deleted
/// from the old grid's feed first.
pub fn put_point(tx: &Tx<'_>, id: &str, p: &PointIn) -> ApiResult<()> {
    check_id("point id", id)?;
    check_id("grid_code", &p.grid_code)?;
    check_coord(p.lat, p.lon)?;
    if !p.radius_m.is_finite() || !(0.0..=10_000.0).contains(&p.radius_m) {
        return Err(ApiError::invalid("radius_m must be in [0, 10000]"));
    }
    let entity = format!("point:{id}");
    if let Some(old) = previous_grid(tx, "points", id)?
        && old != p.grid_code
    {
        emit(
            tx,
            &grid_scope(&old),
            &entity,
            None,
            &Change::PointDelete { id: id.to_string() },
        )?;
    }
    tx.prepare_cached(
        "INSERT INTO points (id, grid_code, name, crs, lat, lon, radius_m)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET grid_code = excluded.grid_code, name = excluded.name, crs = excluded.crs, lat = excluded.lat, lon = excluded.lon, radius_m = excluded.radius_m",
    )?
    .execute(params![
        id,
        p.grid_code,
        p.name,
        p.crs.code(),
        p.lat,
        p.lon,
        p.radius_m
    ])?;
    emit(
        tx,
        &grid_scope(&p.grid_code),
        &entity,
        None,
        &Change::PointUpsert {
            id: id.to_string(),
            grid_code: p.grid_code.clone(),
            name: p.name.clone(),
            crs: p.crs,
            lat: p.lat,
            lon: p.lon,
            radius_m: p.radius_m,
        },
    )?;
    Ok(())
}

/// Removes a point; false when unknown.
pub fn delete_point(tx: &Tx<'_>, id: &str) -> ApiResult<bool> {
    let Some(grid) = previous_grid(tx, "points", id)? else {
        return Ok(false);
    };
    tx.execute("DELETE FROM points WHERE id = ?1", [id])?;
    emit(
        tx,
        &grid_scope(&grid),
        &format!("point:{id}"),
        None,
        &Change::PointDelete { id: id.to_string() },
    )?;
    Ok(true)
}

/// Creates or changes a household (see [`put_point`] for moves between grids). Its profile
/// and version are kept; a change of tags is stored as a new version, like any back-office
/// edit, so that phones' edits made before it merge with it.
pub fn put_household(tx: &Tx<'_>, id: &str, h: &HouseholdIn) -> ApiResult<()> {
    check_id("household id", id)?;
    check_id("grid_code", &h.grid_code)?;
    check_coord(h.lat, h.lon)?;
    let entity = format!("household:{id}");
    let previous = previous_grid(tx, "households", id)?;
    if let Some(old) = &previous
        && *old != h.grid_code
    {
        emit(
            tx,
            &grid_scope(old),
            &entity,
            None,
            &Change::HouseholdDelete { id: id.to_string() },
        )?;
    }
    let tags = crate::residents::store::checked_tags(tx, "tags", &h.tags)?;
    let tags_json = serde_json::to_string(&tags).map_err(|e| ApiError::internal(e.to_string()))?;
    tx.prepare_cached(
        "INSERT INTO households (id, grid_code, building, address, crs, lat, lon, tags)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET grid_code = ?2, building = ?3, address = ?4, crs = ?5,
             lat = ?6, lon = ?7",
    )?
    .execute(params![
        id,
        h.grid_code,
        h.building,
        h.address,
        h.crs.code(),
        h.lat,
        h.lon,
        tags_json
    ])?;
    if previous.is_some()
        && let Some(mut target) = crate::residents::edit::Target::load(tx, Entity::Household, id)?
    {
        let mut f = Fields::new();
        f.insert("tags".into(), serde_json::Value::from(tags));
        let actor = crate::residents::edit::Actor {
            id: "admin",
            device: None,
            source: "admin".to_string(),
            at: chrono::Utc::now(),
        };
        crate::residents::edit::write_fields(tx, &mut target, &f, &actor, false)?;
    }
    if previous.is_none() {
        // Put back after a delete: its profile's versions go on from its history, so a
        // later change does not reuse a version its history already holds.
        tx.execute(
            "UPDATE households SET version = (SELECT COALESCE(MAX(version), 1) FROM field_history
                 WHERE entity = 'household' AND entity_id = ?1)
             WHERE id = ?1",
            [id],
        )?;
    }
    crate::residents::store::emit_household(tx, id)?;
    match previous {
        Some(old) if old != h.grid_code => {
            crate::residents::store::rescope_household(tx, id, &old)?;
        }
        Some(_) => {}
        // New, or put back after a delete: the residents a delete kept on record return
        // to the grid's phones.
        None => crate::residents::store::join_grid(tx, id)?,
    }
    Ok(())
}

/// Removes a household; false when unknown.
pub fn delete_household(tx: &Tx<'_>, id: &str) -> ApiResult<bool> {
    let Some(grid) = previous_grid(tx, "households", id)? else {
        return Ok(false);
    };
    tx.execute("DELETE FROM households WHERE id = ?1", [id])?;
    emit(
        tx,
        &grid_scope(&grid),
        &format!("household:{id}"),
        None,
        &Change::HouseholdDelete { id: id.to_string() },
    )?;
    // Its residents stay on record (and in the history); they leave the phones' feed.
    crate::residents::store::leave_grid(tx, id, &grid)?;
    Ok(true)
}

/// Makes `grids` exactly the worker's grids. Newly assigned grids have their feed re-issued
/// (with new sequence numbers) so the worker's next pull delivers them although its cursor
/// is past them; items of grids taken away are deleted from the worker's device.
pub fn set_worker_grids(tx: &Tx<'_>, worker_id: &str, grids: &[String]) -> ApiResult<()> {
    // Re-issuing rewrites `changes` itself: what is pending goes first.
    db::drain_pending(tx)?;
    let before = db::worker_grids(tx, worker_id)?;
    tx.execute("DELETE FROM worker_grids WHERE worker_id = ?1", [worker_id])?;
    for g in grids {
        check_id("grid code", g)?;
        tx.execute(
            "INSERT INTO worker_grids (worker_id, grid_code) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![worker_id, g],
        )?;
    }
    let wscope = db::worker_scope(worker_id);
    for removed in before.iter().filter(|g| !grids.contains(g)) {
        let mut deletes: Vec<(String, Change)> = Vec::new();
        {
            let mut st = tx.prepare("SELECT id FROM points WHERE grid_code = ?1")?;
            for id in st.query_map([removed], |r| r.get::<_, String>(0))? {
                let id = id?;
                deletes.push((format!("point:{id}"), Change::PointDelete { id }));
            }
            let mut st = tx.prepare("SELECT id FROM households WHERE grid_code = ?1")?;
            for id in st.query_map([removed], |r| r.get::<_, String>(0))? {
                let id = id?;
                deletes.push((format!("household:{id}"), Change::HouseholdDelete { id }));
            }
            let mut st = tx.prepare(
                "SELECT r.id FROM residents r JOIN households h ON h.id = r.household_id
                 WHERE h.grid_code = ?1",
            )?;
            for id in st.query_map([removed], |r| r.get::<_, String>(0))? {
                let id = id?;
                deletes.push((format!("resident:{id}"), Change::ResidentDelete { id }));
            }
        }
        deletes.push((
            format!("grid:{removed}"),
            Change::GridDelete {
                code: removed.clone(),
            },
        ));
        for (entity, change) in deletes {
            emit(tx, &wscope, &entity, None, &change)?;
        }
    }
    // Only what the grid holds now is re-issued. Its deletes are of items that left it, and
    // may since live in another grid of this worker (or of every worker of both grids, who
    // get the re-issued rows too): sent after their upsert there, they would delete them
    // from the phones. A phone gaining a grid holds nothing of it to delete.
    let current = format!(
        "{} NOT IN ('grid_delete', 'point_delete', 'household_delete', 'resident_delete')",
        tx.json_text("body", "type")
    );
    for added in grids.iter().filter(|g| !before.contains(g)) {
        let scope = grid_scope(added);
        // Re-issue in the original order, after the worker-scope deletes of an earlier
        // removal (which are then superseded by these newer upserts).
        let entities = tx
            .prepare(&format!(
                "SELECT entity FROM changes WHERE scope = ?1 AND {current} ORDER BY seq"
            ))?
            .query_map([&scope], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        for entity in &entities {
            tx.execute(
                "UPDATE changes SET seq = ?1 WHERE scope = ?2 AND entity = ?3",
                params![db::next_seq(tx)?, scope, entity],
            )?;
        }
        // Worker-scope deletes of these items from an earlier removal are now stale.
        tx.execute(
            &format!(
                "DELETE FROM changes WHERE scope = ?1
                 AND entity IN (SELECT entity FROM changes WHERE scope = ?2 AND {current})"
            ),
            params![wscope, scope],
        )?;
    }
    emit(
        tx,
        &wscope,
        "worker_grids",
        None,
        &Change::WorkerGrids {
            grid_codes: grids.to_vec(),
        },
    )?;
    Ok(())
}

/// Seeds an empty database from a fixture district (GCJ-02, stored as given).
pub fn seed(tx: &Tx<'_>, d: &gridworker_fixtures::District) -> ApiResult<()> {
    // Workers first: with their grids assigned before the grids' feed exists, nothing has
    // to be re-issued.
    for w in &d.workers {
        tx.execute(
            "INSERT INTO workers (id, name) VALUES (?1, ?2)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name",
            params![w.id, w.name],
        )?;
        set_worker_grids(tx, &w.id, &w.grid_ids)?;
    }
    for g in &d.grids {
        put_grid(
            tx,
            &g.id,
            &GridIn {
                name: g.name.clone(),
                crs: Crs::Gcj02,
                ring: g.ring.clone(),
            },
        )?;
    }
    for p in &d.points {
        put_point(
            tx,
            &p.id,
            &PointIn {
                grid_code: p.grid_id.clone(),
                name: p.name.clone(),
                crs: Crs::Gcj02,
                lat: p.lat,
                lon: p.lon,
                radius_m: p.radius_m,
            },
        )?;
    }
    for h in &d.households {
        put_household(
            tx,
            &h.id,
            &HouseholdIn {
                grid_code: h.grid_id.clone(),
                building: h.building.clone(),
                address: h.address.clone(),
                crs: Crs::Gcj02,
                lat: h.lat,
                lon: h.lon,
                tags: h.tags.clone(),
            },
        )?;
    }
    crate::residents::seed::seed(tx, d)?;
    let departments =
        serde_json::to_string(&d.departments).map_err(|e| ApiError::internal(e.to_string()))?;
    let categories =
        serde_json::to_string(&d.categories).map_err(|e| ApiError::internal(e.to_string()))?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('departments', ?1), ('categories', ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![departments, categories],
    )?;
    emit(
        tx,
        &db::district_scope(),
        "report_catalog",
        None,
        &Change::ReportCatalog {
            categories: d
                .categories
                .iter()
                .map(|c| CatalogEntry {
                    code: c.code.clone(),
                    name: c.name.clone(),
                })
                .collect(),
            departments: d
                .departments
                .iter()
                .map(|c| CatalogEntry {
                    code: c.id.clone(),
                    name: c.name.clone(),
                })
                .collect(),
        },
    )?;
    Ok(())
}

/// Whether `category` is one of the district's (true when the district has no list).
pub fn known_category(tx: &Tx<'_>, category: &str) -> crate::store::Result<bool> {
    let list: Option<String> = tx
        .prepare_cached("SELECT value FROM meta WHERE key = 'categories'")?
        .query_row((), |r| r.get(0))
        .optional()?;
    let codes: Vec<serde_json::Value> = list
        .and_then(|l| serde_json::from_str(&l).ok())
        .unwrap_or_default();
    Ok(codes.is_empty() || codes.iter().any(|c| c["code"] == category))
}

/// The grid a WGS-84 position belongs to, by the one rule the device uses too
/// ([`gridworker_model::geo::membership`]: boundary included, the grid whose code sorts first
/// wins, tested in WGS-84 against the boundary as the device receives it).
pub fn grid_containing(tx: &Tx<'_>, lat: f64, lon: f64) -> ApiResult<Option<String>> {
    use gridworker_model::geo::{GridShape, Position};
    let pos = Position::new(lat, lon);
    let mut st = tx.prepare_cached("SELECT code, crs, ring FROM grids ORDER BY code")?;
    let rows = st.query_map((), |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (code, crs, ring) = row?;
        let Some(crs) = Crs::parse(&crs) else {
            continue;
        };
        let Ok(ring) = serde_json::from_str::<Vec<[f64; 2]>>(&ring) else {
            continue;
        };
        let boundary: Vec<Position> = ring
            .iter()
            .map(|[lon, lat]| Position::from_crs(*lat, *lon, crs))
            .collect();
        if GridShape::new(&boundary).is_some_and(|g| g.contains(pos)) {
            return Ok(Some(code));
        }
    }
    Ok(None)
}
