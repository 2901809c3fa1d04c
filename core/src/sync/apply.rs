//! Applying pulled changes: one page per transaction, with the cursor that covers it, so a
//! crash mid-apply leaves either the whole page and its cursor or neither (and the page is
//! simply pulled again). Positions arrive in the system the server names and are stored in
//! WGS-84.

use super::wire::{self, Change};
use crate::GridWorker;
use crate::domain::{Grid, Household, InspectionPoint, ReportStatus, Task, status};
use crate::error::{Error, Result};
use crate::geo::{Crs, Position};
use crate::store::records::{self, ReportRow};
use crate::store::{reference, residents, state};
use gridworker_model::residents::{Entity, HouseholdProfile};

fn finite(lat: f64, lon: f64, crs: Crs) -> Result<Position> {
    if !lat.is_finite()
        || !lon.is_finite()
        || !(-90.0..=90.0).contains(&lat)
        || !(-180.0..=180.0).contains(&lon)
    {
        return Err(Error::Protocol {
            reason: "pulled position out of range".into(),
        });
    }
    Ok(Position::from_crs(lat, lon, crs))
}

/// Converts every position of a fetched page to WGS-84 in place (refusing any out of range,
/// as [`apply_page`] would). The pull runs this on the fetched page while the previous page
/// is being applied: the GCJ-02 inversion is iterative and was a sixth of the apply's time
/// on an initial pull, on the path the next page waits for.
pub(crate) fn positions_to_wgs84(page: &mut wire::PullResponse) -> Result<()> {
    let to_wgs84 = |lat: &mut f64, lon: &mut f64, crs: Crs| -> Result<()> {
        let p = finite(*lat, *lon, crs)?;
        (*lat, *lon) = (p.lat, p.lon);
        Ok(())
    };
    for change in &mut page.changes {
        match change {
            Change::GridUpsert { ring, crs, .. } => {
                for [lon, lat] in ring.iter_mut() {
                    to_wgs84(lat, lon, *crs)?;
                }
                *crs = Crs::Wgs84;
            }
            Change::PointUpsert { lat, lon, crs, .. }
            | Change::HouseholdUpsert { lat, lon, crs, .. }
            | Change::ReportUpsert { lat, lon, crs, .. } => {
                to_wgs84(lat, lon, *crs)?;
                *crs = Crs::Wgs84;
            }
            Change::TaskUpsert {
                lat: Some(lat),
                lon: Some(lon),
                crs,
                ..
            } => {
                to_wgs84(lat, lon, crs.unwrap_or(Crs::Wgs84))?;
                *crs = Some(Crs::Wgs84);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether the server's `to` may replace the report's current status (the one transition
/// table, [`status::server_may_set`]). A refused change is skipped, not applied, and the rest
/// of the page still applies: one bad change must not stall the feed.
fn status_may_change(
    tx: &rusqlite::Transaction<'_>,
    report_id: &str,
    to: ReportStatus,
) -> Result<bool> {
    let current = crate::store::sync_queries::report_status(tx, report_id)?;
    let Some(from) = current.as_deref().and_then(ReportStatus::parse) else {
        // Unknown report (or a status this build cannot read): nothing to move.
        return Ok(false);
    };
    let ok = status::server_may_set(from, to);
    if !ok {
        log::warn!(
            "sync: refused a status change {} -> {} from the server",
            from.code(),
            to.code()
        );
    }
    Ok(ok)
}

/// Applies one page and saves its cursor in the same transaction. Returns whether reference
/// data (grids, points, households) changed, so the caller can rebuild the spatial index.
pub fn apply_page(worker: &GridWorker, page: wire::PullResponse) -> Result<bool> {
    // Refused whole, before the transaction: nothing of an out-of-bounds page is stored.
    super::bounds::check_contents(&page)?;
    let now = worker.config().clock.now();
    super::failpoint("pull_apply_started");
    worker.store().write_recoverable(|tx| {
        let mut reference_changed = false;
        let mut dirty = residents::Dirty::default();
        // Edits not yet accepted are laid over what is pulled; most pages find none.
        let pending_edits = residents::has_pending_edits(tx)?;
        for change in &page.changes {
            match change {
                Change::GridUpsert {
                    code,
                    name,
                    ring,
                    crs,
                } => {
                    // The wire gives rings in GeoJSON order: [lon, lat].
                    let ring = ring
                        .iter()
                        .map(|[lon, lat]| finite(*lat, *lon, *crs))
                        .collect::<Result<Vec<_>>>()?;
                    reference::upsert_grid(
                        tx,
                        &Grid {
                            code: code.clone(),
                            name: name.clone(),
                            boundary: ring,
                        },
                    )?;
                    reference_changed = true;
                }
                Change::GridDelete { code } => {
                    reference::delete_grid(tx, code)?;
                    reference_changed = true;
                }
                Change::PointUpsert {
                    id,
                    grid_code,
                    name,
                    lat,
                    lon,
                    crs,
                    radius_m,
                } => {
                    reference::upsert_point(
                        tx,
                        &InspectionPoint {
                            id: id.clone(),
                            grid_code: grid_code.clone(),
                            name: name.clone(),
                            position: finite(*lat, *lon, *crs)?,
                            radius_m: radius_m.max(0.0),
                        },
                    )?;
                    reference_changed = true;
                }
                Change::PointDelete { id } => {
                    reference::delete_point(tx, id)?;
                    reference_changed = true;
                }
                Change::HouseholdUpsert {
                    id,
                    grid_code,
                    building,
                    address,
                    lat,
                    lon,
                    crs,
                    tags,
                    housing_type,
                    occupancy,
                    resident_count,
                    contact_phone,
                    notes,
                    version,
                } => {
                    let profile = HouseholdProfile {
                        housing_type: *housing_type,
                        occupancy: *occupancy,
                        resident_count: *resident_count,
                        contact_phone: contact_phone.clone(),
                        tags: tags.clone(),
                        notes: notes.clone(),
                        version: *version,
                    };
                    reference::upsert_household_with_profile(
                        tx,
                        &Household {
                            id: id.clone(),
                            grid_code: grid_code.clone(),
                            building: building.clone(),
                            address: address.clone(),
                            position: finite(*lat, *lon, *crs)?,
                            tags: tags.clone(),
                        },
                        &residents::profile_json(&profile)?,
                        *version,
                    )?;
                    if pending_edits {
                        residents::overlay_pending(tx, Entity::Household, id)?;
                    }
                    dirty.0.insert(id.clone());
                }
                Change::HouseholdDelete { id } => {
                    residents::unindex(tx, id)?;
                    residents::drop_conflicts(tx, Entity::Household, id)?;
                    tx.execute("DELETE FROM residents WHERE household_id = ?1", [id])?;
                    dirty.0.remove(id);
                    reference::delete_household(tx, id)?;
                }
                Change::ResidentUpsert { resident } => {
                    if let Some(old) = residents::household_of(tx, &resident.id)?
                        && old != resident.household_id
                    {
                        dirty.0.insert(old);
                    }
                    residents::put_resident(tx, resident)?;
                    if pending_edits {
                        residents::overlay_pending(tx, Entity::Resident, &resident.id)?;
                    }
                    dirty.0.insert(resident.household_id.clone());
                }
                Change::ResidentDelete { id } => {
                    residents::drop_conflicts(tx, Entity::Resident, id)?;
                    if let Some(h) = residents::delete_resident(tx, id)? {
                        dirty.0.insert(h);
                    }
                }
                Change::ConflictUpsert { conflict } => residents::put_conflict(tx, conflict)?,
                Change::KeyGroups { tags } => residents::set_key_groups(tx, tags)?,
                Change::WorkerGrids { grid_codes } => {
                    reference::set_worker_grids(tx, grid_codes)?;
                    reference_changed = true;
                }
                Change::ReportCatalog {
                    categories,
                    departments,
                } => {
                    state::put(
                        tx,
                        state::keys::REPORT_CATALOG,
                        &crate::worker::ReportCatalog {
                            categories: categories.clone(),
                            departments: departments.clone(),
                        },
                    )?;
                }
                Change::ReportStatus {
                    report_id,
                    status: st,
                    department,
                    note,
                    evaluation,
                    at,
                } => {
                    let st = *st;
                    if !status_may_change(tx, report_id, st)? {
                        continue;
                    }
                    crate::store::sync_queries::apply_report_status(
                        tx,
                        report_id,
                        st,
                        department.as_deref(),
                        note.as_deref(),
                        evaluation.as_deref(),
                        *at,
                    )?;
                }
                Change::ReportUpsert {
                    id,
                    category,
                    description,
                    lat,
                    lon,
                    crs,
                    status: st,
                    created_at,
                } => {
                    let st = *st;
                    let own = crate::store::sync_queries::report_is_own(tx, id)?;
                    match own {
                        // Our own report: its status arrives as ReportStatus changes.
                        Some(true) => {}
                        Some(false) => {
                            if status_may_change(tx, id, st)? {
                                records::set_report_status(tx, id, st, now)?
                            }
                        }
                        None if !status::server_may_insert(st) => {
                            log::warn!("sync: ignored a pulled report with a device-owned status");
                        }
                        None => records::insert_report(
                            tx,
                            &ReportRow {
                                id,
                                own: false,
                                category,
                                description,
                                fix: None,
                                position: Some(finite(*lat, *lon, *crs)?),
                                flags: &[],
                                status: st,
                                attach_to: None,
                                created_at: *created_at,
                            },
                        )?,
                    }
                }
                Change::TaskUpsert {
                    id,
                    title,
                    description,
                    lat,
                    lon,
                    crs,
                    address,
                    due_at,
                    linked_report_id,
                    status: st,
                    dispatched_at,
                } => {
                    let place = match (lat, lon) {
                        (Some(lat), Some(lon)) => {
                            Some(finite(*lat, *lon, crs.unwrap_or(Crs::Wgs84))?)
                        }
                        _ => None,
                    };
                    let status = *st;
                    records::upsert_task(
                        tx,
                        &Task {
                            id: id.clone(),
                            title: title.clone(),
                            description: description.clone(),
                            place,
                            address: address.clone(),
                            due_at: *due_at,
                            linked_report_id: linked_report_id.clone(),
                            status,
                            dispatched_at: *dispatched_at,
                        },
                        now,
                    )?;
                }
            }
        }
        // Search documents are rebuilt once per household at the end of a pull, not once
        // per page: an initial pull brings a household long before its residents.
        std::mem::take(&mut dirty).mark(tx)?;
        if !page.has_more {
            residents::reindex_marked(tx)?;
        }
        state::put(tx, state::keys::PULL_CURSOR, &page.next_cursor)?;
        Ok(reference_changed)
    })
}
