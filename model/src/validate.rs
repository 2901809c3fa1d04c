//! What a record of each kind must satisfy: one function per kind, run by the device on the
//! record it is about to write and by the server on the payload it is about to store, so the
//! server never stores what a phone could not have made and a phone never queues what the
//! server would refuse (empty or huge ids, NUL, path separators, latitude 95, negative
//! distances, year 9999).
//!
//! Fixes are judged by [`LocationFix::validate`]; text limits are the domain's constants.
//!
//! Messages name the field and the rule, never the value.

use crate::domain::{
    CheckIn, LocationFix, MAX_DESCRIPTION_CHARS, MAX_EVALUATION_CHARS, MAX_NOTE_CHARS, MAX_PHOTOS,
    PatrolEventPayload, Photo, ReportEvaluationPayload, ReportPayload, TaskAckPayload,
    TaskCompletionPayload, TrackBlockPayload, Visit,
};
use crate::geo::Position;
use crate::invalid::{Check, Invalid};
use crate::residents::{
    self, ConflictResolutionPayload, Entity, FieldUpdatePayload, ResidentAddPayload, Resolution,
};
use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// Longest id, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Longest report category, in characters.
pub const MAX_CATEGORY_CHARS: usize = 64;
/// Earliest plausible record time: a phone whose clock reset to the epoch still records.
pub const MIN_YEAR: i32 = 1970;
/// Latest plausible record time (exclusive). Wide on purpose: a clock set wrong by hand
/// still records, and the record is kept and flagged; only impossible years are refused.
pub const MAX_YEAR: i32 = 2100;
/// Longest distance on Earth between two points, in metres.
pub const MAX_DISTANCE_M: f64 = 20_038_000.0;

fn bad(field: &str, reason: &str) -> Check {
    Err(Invalid::new(field, reason))
}

/// Lowercase hex SHA-256, the name of a photo everywhere.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// An opaque id: non-empty, bounded, printable, and never a path.
pub fn id(field: &str, v: &str) -> Check {
    if v.trim().is_empty() {
        return bad(field, "must not be empty");
    }
    if v.len() > MAX_ID_BYTES {
        return bad(field, "is longer than 128 bytes");
    }
    if v.chars().any(char::is_control) {
        return bad(field, "contains a control character");
    }
    if v.contains(['/', '\\']) || v == "." || v == ".." {
        return bad(field, "contains a path separator");
    }
    Ok(())
}

/// Free text of at most `max_chars` characters, without NUL.
pub fn text(field: &str, v: &str, max_chars: usize) -> Check {
    // Bytes first: a hostile multi-megabyte string is refused without counting it.
    if v.len() > max_chars.saturating_mul(4) || v.chars().count() > max_chars {
        return bad(field, "is too long");
    }
    if v.contains('\0') {
        return bad(field, "contains a NUL character");
    }
    Ok(())
}

/// A report category: non-empty, at most [`MAX_CATEGORY_CHARS`] characters.
pub fn category(v: &str) -> Check {
    if v.trim().is_empty() {
        return bad("category", "must not be empty");
    }
    text("category", v, MAX_CATEGORY_CHARS)
}

/// A WGS-84 position.
pub fn position(field: &str, p: &Position) -> Check {
    if !p.lat.is_finite() || !(-90.0..=90.0).contains(&p.lat) {
        return bad(field, "lat must be a finite number between -90 and 90");
    }
    if !p.lon.is_finite() || !(-180.0..=180.0).contains(&p.lon) {
        return bad(field, "lon must be a finite number between -180 and 180");
    }
    Ok(())
}

/// A distance in metres.
pub fn distance(field: &str, d: f64) -> Check {
    if !d.is_finite() || !(0.0..=MAX_DISTANCE_M).contains(&d) {
        return bad(field, "must be a finite, non-negative distance on Earth");
    }
    Ok(())
}

/// A time a phone could have recorded (see [`MIN_YEAR`], [`MAX_YEAR`]).
pub fn time(field: &str, t: &DateTime<Utc>) -> Check {
    if !(MIN_YEAR..MAX_YEAR).contains(&t.year()) {
        return bad(field, "is not a plausible date");
    }
    Ok(())
}

fn fix(f: &LocationFix, pos: &Position) -> Check {
    f.validate("fix")?;
    time("fix.fix_time", &f.fix_time)?;
    position("position", pos)
}

fn photos(list: &[Photo], min: usize) -> Check {
    if list.len() < min || list.len() > MAX_PHOTOS {
        return Err(Invalid::new(
            "photos",
            format!("needs {min} to {MAX_PHOTOS} photos"),
        ));
    }
    for p in list {
        if !is_sha256(&p.sha256) {
            return bad("photos.sha256", "must be 64 lowercase hex digits");
        }
        if p.size == 0 {
            return bad("photos.size", "must be positive");
        }
        if let Some(t) = &p.captured_at {
            time("photos.captured_at", t)?;
        }
        if let Some(t) = &p.exif_time {
            time("photos.exif_time", t)?;
        }
        if let Some(at) = &p.exif_position {
            position("photos.exif_position", at)?;
        }
        if p.original_sha256.as_deref().is_some_and(|s| !is_sha256(s)) {
            return bad("photos.original_sha256", "must be 64 lowercase hex digits");
        }
        if p.original_size == Some(0) {
            return bad("photos.original_size", "must be positive");
        }
    }
    Ok(())
}

fn owner(id_v: &str, worker: &str, device: &str) -> Check {
    id("id", id_v)?;
    id("worker_id", worker)?;
    id("device_id", device)
}

pub fn checkin(c: &CheckIn) -> Check {
    owner(&c.id, &c.worker_id, &c.device_id)?;
    id("point_id", &c.point_id)?;
    fix(&c.fix, &c.position)?;
    distance("distance_m", c.distance_m)?;
    time("recorded_at", &c.recorded_at)
}

pub fn visit(v: &Visit) -> Check {
    owner(&v.id, &v.worker_id, &v.device_id)?;
    id("household_id", &v.household_id)?;
    text("note", &v.note, MAX_NOTE_CHARS)?;
    fix(&v.fix, &v.position)?;
    distance("distance_m", v.distance_m)?;
    time("recorded_at", &v.recorded_at)
}

pub fn report(p: &ReportPayload) -> Check {
    owner(&p.id, &p.worker_id, &p.device_id)?;
    category(&p.category)?;
    text("description", &p.description, MAX_DESCRIPTION_CHARS)?;
    if let Some(a) = &p.attach_to {
        id("attach_to", a)?;
    }
    fix(&p.fix, &p.position)?;
    photos(&p.photos, 1)?;
    time("created_at", &p.created_at)?;
    time("submitted_at", &p.submitted_at)
}

pub fn report_evaluation(e: &ReportEvaluationPayload) -> Check {
    owner(&e.id, &e.worker_id, &e.device_id)?;
    id("report_id", &e.report_id)?;
    text("reason", &e.reason, MAX_EVALUATION_CHARS)?;
    if !e.satisfied && e.reason.trim().is_empty() {
        return bad("reason", "is required when not satisfied");
    }
    time("evaluated_at", &e.evaluated_at)
}

pub fn patrol_event(e: &PatrolEventPayload) -> Check {
    owner(&e.id, &e.worker_id, &e.device_id)?;
    id("session_id", &e.session_id)?;
    time("at", &e.at)
}

/// A track block: its bytes decode (bounded, never panics), agree with the payload's count
/// and time range, and every fix is at a plausible time.
pub fn track_block(b: &TrackBlockPayload) -> Check {
    owner(&b.id, &b.worker_id, &b.device_id)?;
    id("session_id", &b.session_id)?;
    time("first_fix_at", &b.first_fix_at)?;
    time("last_fix_at", &b.last_fix_at)?;
    let span = b.last_fix_at.timestamp_millis() - b.first_fix_at.timestamp_millis();
    if span > crate::track::block::MAX_SPAN_MS {
        return Err(Invalid::new("last_fix_at", "a block spans at most a day"));
    }
    b.decode().map(|_| ())
}

pub fn task_ack(a: &TaskAckPayload) -> Check {
    id("task_id", &a.task_id)?;
    id("worker_id", &a.worker_id)?;
    id("device_id", &a.device_id)?;
    time("acknowledged_at", &a.acknowledged_at)
}

pub fn task_completion(c: &TaskCompletionPayload) -> Check {
    owner(&c.id, &c.worker_id, &c.device_id)?;
    id("task_id", &c.task_id)?;
    text("note", &c.note, MAX_NOTE_CHARS)?;
    fix(&c.fix, &c.position)?;
    photos(&c.photos, 0)?;
    time("completed_at", &c.completed_at)
}

/// A resident added on the phone: every field by its rule (see [`crate::residents::fields`]),
/// the ID number's birth date not after `today` (the local day where it is checked).
pub fn resident_add(r: &ResidentAddPayload, today: NaiveDate) -> Check {
    owner(&r.id, &r.worker_id, &r.device_id)?;
    id("household_id", &r.household_id)?;
    if let Some(v) = &r.visit_id {
        id("visit_id", v)?;
    }
    residents::fields::name("name", &r.name)?;
    residents::idcard::parse_new("id_number", &r.id_number, today)?;
    if let Some(p) = &r.phone {
        residents::phone::normalise("phone", p)?;
    }
    residents::fields::tags("tags", &serde_json::Value::from(r.tags.clone()))?;
    text("notes", &r.notes, MAX_NOTE_CHARS)?;
    time("recorded_at", &r.recorded_at)
}

/// An edit of a resident's or household's fields; new values as of `today` (an ID number's
/// birth date), the `previous` ones whatever the day.
pub fn field_update(entity: Entity, u: &FieldUpdatePayload, today: NaiveDate) -> Check {
    owner(&u.id, &u.worker_id, &u.device_id)?;
    id("target_id", &u.target_id)?;
    if let Some(v) = &u.visit_id {
        id("visit_id", v)?;
    }
    if u.base_version < 0 {
        return bad("base_version", "must not be negative");
    }
    residents::check_new_fields(entity, &u.fields, today)?;
    if u.previous.len() != u.fields.len() || u.previous.keys().any(|k| !u.fields.contains_key(k)) {
        return bad("previous", "must name exactly the fields the edit changes");
    }
    for (k, v) in &u.previous {
        // A previous value may be empty where a new one may not (a field never collected).
        if !v.is_null() {
            residents::check_value(entity, k, v)
                .map_err(|e| crate::Invalid::new(format!("previous.{k}"), e.reason))?;
        }
    }
    time("recorded_at", &u.recorded_at)
}

/// A worker's resolution of a conflict; a new value is checked when the conflict's field is
/// known (by the caller holding the conflict).
pub fn conflict_resolution(c: &ConflictResolutionPayload) -> Check {
    owner(&c.id, &c.worker_id, &c.device_id)?;
    id("conflict_id", &c.conflict_id)?;
    match (c.take, &c.value) {
        (Resolution::Value, None) => return bad("value", "is required when taking a new value"),
        (Resolution::Mine | Resolution::Theirs, Some(_)) => {
            return bad("value", "is only for taking a new value");
        }
        _ => {}
    }
    time("recorded_at", &c.recorded_at)
}
