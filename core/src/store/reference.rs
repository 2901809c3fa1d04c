//! Reference data (grids, inspection points, households, the worker's grids), WGS-84.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::domain::{Grid, Household, InspectionPoint};
use crate::error::Result;
use crate::geo::Position;

pub fn upsert_grid(conn: &Connection, g: &Grid) -> Result<()> {
    let ring: Vec<[f64; 2]> = g.boundary.iter().map(|p| [p.lat, p.lon]).collect();
    let ring = serde_json::to_string(&ring).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "INSERT INTO grids(code, name, boundary) VALUES (?1, ?2, ?3)
         ON CONFLICT(code) DO UPDATE SET name = excluded.name, boundary = excluded.boundary",
    )?
    .execute(params![g.code, g.name, ring])?;
    Ok(())
}

pub fn delete_grid(conn: &Connection, code: &str) -> Result<()> {
    conn.execute("DELETE FROM grids WHERE code = ?1", [code])?;
    Ok(())
}

pub fn upsert_point(conn: &Connection, p: &InspectionPoint) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO points(id, grid_code, name, lat, lon, radius_m) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET grid_code = excluded.grid_code, name = excluded.name,
             lat = excluded.lat, lon = excluded.lon, radius_m = excluded.radius_m",
    )?
    .execute(params![p.id, p.grid_code, p.name, p.position.lat, p.position.lon, p.radius_m])?;
    Ok(())
}

pub fn delete_point(conn: &Connection, id: &str) -> Result<()> {
    conn.execute("DELETE FROM points WHERE id = ?1", [id])?;
    Ok(())
}

pub fn upsert_household(conn: &Connection, h: &Household) -> Result<()> {
    let tags = serde_json::to_string(&h.tags).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "INSERT INTO households(id, grid_code, building, address, lat, lon, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(id) DO UPDATE SET grid_code = excluded.grid_code, building = excluded.building,
             address = excluded.address, lat = excluded.lat, lon = excluded.lon, tags = excluded.tags",
    )?
    .execute(params![h.id, h.grid_code, h.building, h.address, h.position.lat, h.position.lon, tags])?;
    Ok(())
}

/// A household as the server sends it, with its profile (`profile` as
/// [`crate::store::residents::profile_json`] writes it): one statement, so a pulled household
/// costs one b-tree write, not an insert and then an update of the same row.
pub fn upsert_household_with_profile(
    conn: &Connection,
    h: &Household,
    profile: &str,
    version: i64,
) -> Result<()> {
    let tags = serde_json::to_string(&h.tags).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "INSERT INTO households(id, grid_code, building, address, lat, lon, tags, profile, version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(id) DO UPDATE SET grid_code = excluded.grid_code, building = excluded.building,
             address = excluded.address, lat = excluded.lat, lon = excluded.lon, tags = excluded.tags,
             profile = excluded.profile, version = excluded.version",
    )?
    .execute(params![
        h.id,
        h.grid_code,
        h.building,
        h.address,
        h.position.lat,
        h.position.lon,
        tags,
        profile,
        version
    ])?;
    Ok(())
}

pub fn delete_household(conn: &Connection, id: &str) -> Result<()> {
    conn.execute("DELETE FROM households WHERE id = ?1", [id])?;
    Ok(())
}

/// Replaces the set of grids assigned to the worker.
pub fn set_worker_grids(conn: &Connection, codes: &[String]) -> Result<()> {
    conn.execute("DELETE FROM worker_grids", [])?;
    let mut stmt = conn.prepare_cached("INSERT OR IGNORE INTO worker_grids(code) VALUES (?1)")?;
    for c in codes {
        stmt.execute([c])?;
    }
    Ok(())
}

pub fn worker_grids(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT code FROM worker_grids ORDER BY code")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn point_from_row(r: &Row<'_>) -> rusqlite::Result<InspectionPoint> {
    Ok(InspectionPoint {
        id: r.get("id")?,
        grid_code: r.get("grid_code")?,
        name: r.get("name")?,
        position: Position::new(r.get("lat")?, r.get("lon")?),
        radius_m: r.get("radius_m")?,
    })
}

fn grid_from_row(r: &Row<'_>) -> rusqlite::Result<Grid> {
    let ring: String = r.get("boundary")?;
    let ring: Vec<[f64; 2]> = serde_json::from_str(&ring).unwrap_or_default();
    Ok(Grid {
        code: r.get("code")?,
        name: r.get("name")?,
        boundary: ring
            .into_iter()
            .map(|[lat, lon]| Position::new(lat, lon))
            .collect(),
    })
}

fn household_from_row(r: &Row<'_>) -> rusqlite::Result<Household> {
    let tags: String = r.get("tags")?;
    Ok(Household {
        id: r.get("id")?,
        grid_code: r.get("grid_code")?,
        building: r.get("building")?,
        address: r.get("address")?,
        position: Position::new(r.get("lat")?, r.get("lon")?),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
    })
}

pub fn point(conn: &Connection, id: &str) -> Result<Option<InspectionPoint>> {
    Ok(conn
        .prepare_cached("SELECT * FROM points WHERE id = ?1")?
        .query_row([id], point_from_row)
        .optional()?)
}

pub fn household(conn: &Connection, id: &str) -> Result<Option<Household>> {
    Ok(conn
        .prepare_cached("SELECT * FROM households WHERE id = ?1")?
        .query_row([id], household_from_row)
        .optional()?)
}

pub fn all_points(conn: &Connection) -> Result<Vec<InspectionPoint>> {
    let mut stmt = conn.prepare_cached("SELECT * FROM points ORDER BY id")?;
    let rows = stmt.query_map([], point_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn all_grids(conn: &Connection) -> Result<Vec<Grid>> {
    let mut stmt = conn.prepare_cached("SELECT * FROM grids ORDER BY code")?;
    let rows = stmt.query_map([], grid_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One grid's points by id, after `after` (keyset paging).
pub fn points_page(
    conn: &Connection,
    grid_code: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<InspectionPoint>> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM points WHERE grid_code = ?1 AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![grid_code, after, limit], point_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One grid's households by id, after `after` (keyset paging).
pub fn households_page(
    conn: &Connection,
    grid_code: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Household>> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM households WHERE grid_code = ?1 AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![grid_code, after, limit], household_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Inspection points of the given grids (the patrol's due list).
pub fn points_in_grids(conn: &Connection, grids: &[String]) -> Result<Vec<InspectionPoint>> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached("SELECT * FROM points WHERE grid_code = ?1 ORDER BY id")?;
    for g in grids {
        let rows = stmt.query_map([g], point_from_row)?;
        for r in rows {
            out.push(r?);
        }
    }
    Ok(out)
}
