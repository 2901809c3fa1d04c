//! Documented sizes of what the server may send (`docs/protocol.md`, "Bounds of server
//! answers"). Anything beyond them is a protocol error raised before the store is touched: a
//! broken or hostile server must not be able to bloat the phone's database or make every
//! later command slow.

use super::wire::{Change, HandshakeResponse, PullResponse};
use crate::domain::{MAX_DESCRIPTION_CHARS, MAX_NOTE_CHARS};
use crate::error::{Error, Result};

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

fn tag_list(field: &str, tags: &[String]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(refuse("a record with too many tags"));
    }
    tags.iter().try_for_each(|t| text(field, t, MAX_TAG_CHARS))
}

fn refuse(what: &str) -> Error {
    Error::Protocol {
        reason: format!("server sent {what} beyond the documented bounds"),
    }
}

/// Length in characters, without walking a string that cannot possibly fit.
fn text(field: &str, s: &str, max_chars: usize) -> Result<()> {
    // A char is at most 4 bytes: longer byte strings are too long whatever they hold.
    if s.len() > max_chars.saturating_mul(4) || s.chars().count() > max_chars {
        return Err(refuse(field));
    }
    Ok(())
}

fn opt_text(field: &str, s: &Option<String>, max_chars: usize) -> Result<()> {
    match s {
        Some(s) => text(field, s, max_chars),
        None => Ok(()),
    }
}

fn codes(field: &str, list: &[String]) -> Result<()> {
    if list.len() > MAX_WORKER_GRIDS {
        return Err(refuse(field));
    }
    list.iter().try_for_each(|c| text(field, c, MAX_ID_CHARS))
}

/// The handshake's strings and lists (the policy has its own bounds).
pub fn check_handshake(h: &HandshakeResponse) -> Result<()> {
    // A version 1 server would refuse this build's payloads (new photo fields and flags) one
    // by one; stopping here keeps every record pending until the server is updated. A
    // version 2 server takes everything but the patrol kinds, which the push holds back.
    if h.protocol < super::wire::OLDEST_SERVER_PROTOCOL {
        return Err(crate::Error::Protocol {
            reason: format!(
                "the server speaks protocol {}; this app needs {}: update the server",
                h.protocol,
                super::wire::OLDEST_SERVER_PROTOCOL
            ),
        });
    }
    text("server_id", &h.server_id, MAX_ID_CHARS)?;
    text("worker.id", &h.worker.id, MAX_ID_CHARS)?;
    text("worker.name", &h.worker.name, MAX_NAME_CHARS)?;
    codes("grids", &h.grids)?;
    missing(h)
}

/// The holes: at most the documented number, each within `1..=device_last_seq`, ascending
/// and apart. A server that lists its whole range would have the phone re-send every entry
/// it still holds; refused before anything is stored, the phone's state stays. (A hole below
/// what the phone asked from has nothing there to send again: harmless.)
fn missing(h: &HandshakeResponse) -> Result<()> {
    let last = h.device_last_seq.unwrap_or(0);
    if h.device_missing.len() > super::wire::MAX_MISSING_RANGES {
        return Err(refuse("device_missing"));
    }
    let mut after = 0;
    for &[from, to] in &h.device_missing {
        if from <= after || to < from || to > last {
            return Err(refuse("device_missing"));
        }
        after = to;
    }
    Ok(())
}

/// A pull page: no more changes than `limit` asked for, each within bounds.
pub fn check_page(page: &PullResponse, limit: u32) -> Result<()> {
    if page.changes.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        return Err(refuse("a page with more changes than asked for"));
    }
    check_contents(page)
}

/// The cursor and every change of a page within bounds (whatever was asked for).
pub fn check_contents(page: &PullResponse) -> Result<()> {
    text("next_cursor", &page.next_cursor, MAX_ID_CHARS)?;
    page.changes.iter().try_for_each(check_change)
}

fn check_change(c: &Change) -> Result<()> {
    match c {
        Change::GridUpsert {
            code, name, ring, ..
        } => {
            text("grid.code", code, MAX_ID_CHARS)?;
            text("grid.name", name, MAX_NAME_CHARS)?;
            if ring.len() > MAX_GRID_VERTICES {
                return Err(refuse("a grid with too many vertices"));
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
            if !radius_m.is_finite() || *radius_m > 100_000.0 {
                return Err(refuse("a point radius"));
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
                    return Err(refuse("a conflict value too long"));
                }
            }
            Ok(())
        }
        Change::KeyGroups { tags } => {
            if tags.len() > MAX_CATALOG {
                return Err(refuse("too many key groups"));
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
                return Err(refuse("a report catalog with too many entries"));
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
