//! The bounds of what a server may put in its answers (`docs/protocol.md`, "Bounds of server
//! answers"): every change of the pull feed, checked by the phone before it stores a page
//! (a page beyond them is refused whole, so one oversized item stops a worker's pulls) and by
//! the server before it puts a change in the feed (so the back office cannot make one).
//!
//! Refusals name the field and the bound, never the value.

use crate::domain::{MAX_DESCRIPTION_CHARS, MAX_NOTE_CHARS};
use crate::invalid::{Check, Invalid};
use crate::wire::Change;

/// Vertices in one grid boundary (district grids follow streets: tens to hundreds).
pub const MAX_GRID_VERTICES: usize = 10_000;
/// Grids one worker may be responsible for (a district has at most ~1,000).
pub const MAX_WORKER_GRIDS: usize = 2_000;
/// Ids, codes, the server id (characters).
pub const MAX_ID_CHARS: usize = 200;
/// Names, titles, categories, departments, buildings (characters).
pub const MAX_NAME_CHARS: usize = 200;
/// Addresses (characters).
pub const MAX_ADDRESS_CHARS: usize = 500;
/// Tags on one household.
pub const MAX_TAGS: usize = 64;
/// Characters per household tag. (Report descriptions are bounded as on the device by
/// [`MAX_DESCRIPTION_CHARS`]; notes, evaluations and task descriptions by
/// [`MAX_NOTE_CHARS`].)
pub const MAX_TAG_CHARS: usize = 64;
/// Most report categories, and most departments, in a catalog.
pub const MAX_CATALOG: usize = 1_000;
/// Longest phone or ID number pulled.
pub const MAX_PHONE_CHARS: usize = 32;

/// Largest point radius, in metres.
pub const MAX_RADIUS_M: f64 = 100_000.0;

fn refuse(field: &str, reason: &str) -> Check {
    Err(Invalid::new(field, reason))
}

fn tag_list(field: &str, tags: &[String]) -> Check {
    if tags.len() > MAX_TAGS {
        return refuse(field, "has too many tags");
    }
    tags.iter().try_for_each(|t| text(field, t, MAX_TAG_CHARS))
}

/// Length in characters, without walking a string that cannot possibly fit.
pub fn text(field: &str, s: &str, max_chars: usize) -> Check {
    // A char is at most 4 bytes: longer byte strings are too long whatever they hold.
    if s.len() > max_chars.saturating_mul(4) || s.chars().count() > max_chars {
        return refuse(field, &format!("is longer than {max_chars} characters"));
    }
    Ok(())
}

fn opt_text(field: &str, s: &Option<String>, max_chars: usize) -> Check {
    match s {
        Some(s) => text(field, s, max_chars),
        None => Ok(()),
    }
}

/// A list of grid codes (a worker's grids).
pub fn codes(field: &str, list: &[String]) -> Check {
    if list.len() > MAX_WORKER_GRIDS {
        return refuse(field, &format!("has more than {MAX_WORKER_GRIDS} entries"));
    }
    list.iter().try_for_each(|c| text(field, c, MAX_ID_CHARS))
}

/// One change of the pull feed within bounds.
pub fn check_change(c: &Change) -> Check {
    match c {
        Change::GridUpsert {
            code, name, ring, ..
        } => {
            text("grid.code", code, MAX_ID_CHARS)?;
            text("grid.name", name, MAX_NAME_CHARS)?;
            if ring.len() > MAX_GRID_VERTICES {
                return refuse("grid.ring", "has too many vertices");
            }
            Ok(())
        }
        Change::GridDelete { code } => text("grid.code", code, MAX_ID_CHARS),
        Change::PointUpsert {
            id,
            grid_code,
            name,
            radius_m,
            ..
        } => {
            text("point.id", id, MAX_ID_CHARS)?;
            text("point.grid_code", grid_code, MAX_ID_CHARS)?;
            text("point.name", name, MAX_NAME_CHARS)?;
            if !radius_m.is_finite() || *radius_m > MAX_RADIUS_M {
                return refuse("point.radius_m", "is not a finite radius up to 100 km");
            }
            Ok(())
        }
        Change::PointDelete { id } | Change::HouseholdDelete { id } => text("id", id, MAX_ID_CHARS),
        Change::HouseholdUpsert {
            id,
            grid_code,
            building,
            address,
            tags,
            contact_phone,
            notes,
            ..
        } => {
            text("household.id", id, MAX_ID_CHARS)?;
            text("household.grid_code", grid_code, MAX_ID_CHARS)?;
            text("household.building", building, MAX_NAME_CHARS)?;
            text("household.address", address, MAX_ADDRESS_CHARS)?;
            opt_text("household.contact_phone", contact_phone, MAX_PHONE_CHARS)?;
            text("household.notes", notes, MAX_NOTE_CHARS)?;
            tag_list("household.tags", tags)
        }
        Change::ResidentUpsert { resident: r } => {
            text("resident.id", &r.id, MAX_ID_CHARS)?;
            text("resident.household_id", &r.household_id, MAX_ID_CHARS)?;
            text("resident.name", &r.name, MAX_NAME_CHARS)?;
            text("resident.id_number", &r.id_number, MAX_PHONE_CHARS)?;
            opt_text("resident.phone", &r.phone, MAX_PHONE_CHARS)?;
            text("resident.notes", &r.notes, MAX_NOTE_CHARS)?;
            tag_list("resident.tags", &r.tags)
        }
        Change::ResidentDelete { id } => text("id", id, MAX_ID_CHARS),
        Change::ConflictUpsert { conflict: c } => {
            text("conflict.id", &c.id, MAX_ID_CHARS)?;
            text("conflict.entity_id", &c.entity_id, MAX_ID_CHARS)?;
            text("conflict.household_id", &c.household_id, MAX_ID_CHARS)?;
            text("conflict.field", &c.field, MAX_ID_CHARS)?;
            text("conflict.mine_by", &c.mine_by, MAX_ID_CHARS)?;
            text("conflict.theirs_by", &c.theirs_by, MAX_ID_CHARS)?;
            let values = [
                Some(&c.base),
                Some(&c.mine),
                Some(&c.theirs),
                c.resolution.as_ref(),
            ];
            for v in values.into_iter().flatten() {
                if v.to_string().len() > MAX_NOTE_CHARS * 4 {
                    return refuse("conflict.value", "is too long");
                }
            }
            Ok(())
        }
        Change::KeyGroups { tags } => {
            if tags.len() > MAX_CATALOG {
                return refuse("key_groups", "has too many entries");
            }
            tags.iter().try_for_each(|e| {
                text("key_group.code", &e.code, MAX_TAG_CHARS)?;
                text("key_group.name", &e.name, MAX_NAME_CHARS)
            })
        }
        Change::WorkerGrids { grid_codes } => codes("worker_grids", grid_codes),
        Change::ReportCatalog {
            categories,
            departments,
        } => {
            if categories.len() > MAX_CATALOG || departments.len() > MAX_CATALOG {
                return refuse("report_catalog", "has too many entries");
            }
            categories.iter().chain(departments).try_for_each(|e| {
                text("catalog.code", &e.code, MAX_ID_CHARS)?;
                text("catalog.name", &e.name, MAX_NAME_CHARS)
            })
        }
        Change::ReportStatus {
            report_id,
            department,
            note,
            evaluation,
            ..
        } => {
            text("report_status.report_id", report_id, MAX_ID_CHARS)?;
            opt_text("report_status.department", department, MAX_NAME_CHARS)?;
            opt_text("report_status.note", note, MAX_NOTE_CHARS)?;
            opt_text("report_status.evaluation", evaluation, MAX_NOTE_CHARS)
        }
        Change::ReportUpsert {
            id,
            category,
            description,
            ..
        } => {
            text("report.id", id, MAX_ID_CHARS)?;
            text("report.category", category, MAX_NAME_CHARS)?;
            text("report.description", description, MAX_DESCRIPTION_CHARS)
        }
        Change::TaskUpsert {
            id,
            title,
            description,
            address,
            linked_report_id,
            ..
        } => {
            text("task.id", id, MAX_ID_CHARS)?;
            text("task.title", title, MAX_NAME_CHARS)?;
            text("task.description", description, MAX_NOTE_CHARS)?;
            opt_text("task.address", address, MAX_ADDRESS_CHARS)?;
            opt_text("task.linked_report_id", linked_report_id, MAX_ID_CHARS)
        }
    }
}
