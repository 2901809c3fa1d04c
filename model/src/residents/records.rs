//! Residents, household profiles, the edits phones record about them, and conflicts.
//! Personal data: never logged, never in error messages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::residents::fields::{Entity, Fields, HousingType, Occupancy, Relation, ResidentStatus};

/// A person living (or who lived) in a household on the worker's books.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resident {
    pub id: String,
    pub household_id: String,
    pub name: String,
    /// 18-character 公民身份号码; sex and birth date are derived from it.
    pub id_number: String,
    pub phone: Option<String>,
    pub relation: Relation,
    /// Key-group tags from the district's list.
    pub tags: Vec<String>,
    pub status: ResidentStatus,
    pub notes: String,
    /// Increases by one with every change the server stores; 0 for a resident added on the
    /// phone and not yet stored by the server.
    pub version: i64,
}

impl Resident {
    /// The editable fields, as an edit names them.
    pub fn fields(&self) -> Fields {
        self.field_map()
    }

    /// Applies checked field values (see [`crate::residents::check_fields`]); all or nothing.
    pub fn apply(&mut self, fields: &Fields) -> Result<(), FieldError> {
        apply_all(self, fields, Resident::set)
    }
}

/// What the district keeps about a household beyond its address (一标三实: actual housing).
/// Fields missing from stored JSON take their defaults (a household not yet profiled).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HouseholdProfile {
    pub housing_type: Option<HousingType>,
    pub occupancy: Option<Occupancy>,
    /// Residents the household declares (it may differ from the residents on record).
    pub resident_count: u32,
    pub contact_phone: Option<String>,
    /// Key-group tags from the district's list (低保, disability, veteran, elderly_alone…).
    pub tags: Vec<String>,
    pub notes: String,
    /// As [`Resident::version`].
    pub version: i64,
}

impl HouseholdProfile {
    pub fn fields(&self) -> Fields {
        self.field_map()
    }

    /// As [`Resident::apply`].
    pub fn apply(&mut self, fields: &Fields) -> Result<(), FieldError> {
        apply_all(self, fields, HouseholdProfile::set)
    }
}

fn opt_text(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::from(s.as_str()))
}

fn text(field: &str, v: &Value) -> Result<String, FieldError> {
    v.as_str()
        .map(str::to_string)
        .ok_or(FieldError(field.to_string()))
}

fn nullable(field: &str, v: &Value) -> Result<Option<String>, FieldError> {
    if v.is_null() {
        Ok(None)
    } else {
        text(field, v).map(Some)
    }
}

fn tag_list(field: &str, v: &Value) -> Result<Vec<String>, FieldError> {
    v.as_array()
        .ok_or(FieldError(field.to_string()))?
        .iter()
        .map(|t| text(field, t))
        .collect()
}

fn code_of<T>(field: &str, v: &Value, parse: fn(&str) -> Option<T>) -> Result<T, FieldError> {
    v.as_str()
        .and_then(parse)
        .ok_or(FieldError(field.to_string()))
}

/// Sets every field on a copy, and keeps it only when all fit.
fn apply_all<T: Clone>(
    target: &mut T,
    fields: &Fields,
    set: fn(&mut T, &str, &Value) -> Result<(), FieldError>,
) -> Result<(), FieldError> {
    let mut next = target.clone();
    for (k, v) in fields {
        set(&mut next, k, v)?;
    }
    *target = next;
    Ok(())
}

/// A value that does not fit its field (apply checked values only: see
/// [`crate::residents::check_fields`]). Names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}: not a value of this field")]
pub struct FieldError(pub String);

impl Resident {
    fn field_map(&self) -> Fields {
        Fields::from([
            (
                "id_number".to_string(),
                Value::from(self.id_number.as_str()),
            ),
            ("name".to_string(), Value::from(self.name.as_str())),
            ("notes".to_string(), Value::from(self.notes.as_str())),
            ("phone".to_string(), opt_text(&self.phone)),
            ("relation".to_string(), Value::from(self.relation.code())),
            ("status".to_string(), Value::from(self.status.code())),
            ("tags".to_string(), Value::from(self.tags.clone())),
        ])
    }

    fn set(&mut self, field: &str, v: &Value) -> Result<(), FieldError> {
        match field {
            "id_number" => self.id_number = text(field, v)?,
            "name" => self.name = text(field, v)?,
            "notes" => self.notes = text(field, v)?,
            "phone" => self.phone = nullable(field, v)?,
            "relation" => self.relation = code_of(field, v, Relation::parse)?,
            "status" => self.status = code_of(field, v, ResidentStatus::parse)?,
            "tags" => self.tags = tag_list(field, v)?,
            _ => return Err(FieldError(field.to_string())),
        }
        Ok(())
    }
}

impl HouseholdProfile {
    fn field_map(&self) -> Fields {
        Fields::from([
            ("contact_phone".to_string(), opt_text(&self.contact_phone)),
            (
                "housing_type".to_string(),
                self.housing_type
                    .map_or(Value::Null, |h| Value::from(h.code())),
            ),
            ("notes".to_string(), Value::from(self.notes.as_str())),
            (
                "occupancy".to_string(),
                self.occupancy
                    .map_or(Value::Null, |o| Value::from(o.code())),
            ),
            (
                "resident_count".to_string(),
                Value::from(self.resident_count),
            ),
            ("tags".to_string(), Value::from(self.tags.clone())),
        ])
    }

    fn set(&mut self, field: &str, v: &Value) -> Result<(), FieldError> {
        match field {
            "contact_phone" => self.contact_phone = nullable(field, v)?,
            "housing_type" => {
                self.housing_type = if v.is_null() {
                    None
                } else {
                    Some(code_of(field, v, HousingType::parse)?)
                }
            }
            "notes" => self.notes = text(field, v)?,
            "occupancy" => {
                self.occupancy = if v.is_null() {
                    None
                } else {
                    Some(code_of(field, v, Occupancy::parse)?)
                }
            }
            "resident_count" => {
                self.resident_count = v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or(FieldError(field.to_string()))?
            }
            "tags" => self.tags = tag_list(field, v)?,
            _ => return Err(FieldError(field.to_string())),
        }
        Ok(())
    }
}

/// `resident_add`: the worker registers a resident, usually during a visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResidentAddPayload {
    /// The new resident's id (UUIDv7 made on the phone); also the record id.
    pub id: String,
    pub worker_id: String,
    pub device_id: String,
    pub household_id: String,
    /// The visit during which it was collected, when there was one.
    pub visit_id: Option<String>,
    pub name: String,
    pub id_number: String,
    pub phone: Option<String>,
    pub relation: Relation,
    pub tags: Vec<String>,
    pub notes: String,
    pub recorded_at: DateTime<Utc>,
}

impl ResidentAddPayload {
    /// The resident as added (living, version 0 until the server stores it).
    pub fn resident(&self) -> Resident {
        Resident {
            id: self.id.clone(),
            household_id: self.household_id.clone(),
            name: self.name.clone(),
            id_number: self.id_number.clone(),
            phone: self.phone.clone(),
            relation: self.relation,
            tags: self.tags.clone(),
            status: ResidentStatus::Living,
            notes: self.notes.clone(),
            version: 0,
        }
    }
}

/// `resident_update` / `household_update`: the fields the worker changed, with their values
/// before and after. Marking a resident moved out or deceased is an update of `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldUpdatePayload {
    /// The edit's own id (the record id).
    pub id: String,
    pub worker_id: String,
    pub device_id: String,
    /// The resident or household edited.
    pub target_id: String,
    /// The server's version the phone's copy was pulled at (for the record and the history;
    /// the merge works on `previous`).
    pub base_version: i64,
    /// Only the changed fields, each with its new value.
    pub fields: Fields,
    /// The same fields as the phone showed them before the edit: the merge's base.
    pub previous: Fields,
    pub visit_id: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// How a conflict is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The phone's value.
    Mine,
    /// The value stored by the other side.
    Theirs,
    /// A new value entered by the resolver.
    Value,
}

/// `conflict_resolution`: the worker settles a conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictResolutionPayload {
    pub id: String,
    pub worker_id: String,
    pub device_id: String,
    pub conflict_id: String,
    pub take: Resolution,
    /// The new value, for `take: value` only.
    pub value: Option<Value>,
    pub recorded_at: DateTime<Utc>,
}

/// Whether a conflict still waits for someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    Open,
    Resolved,
}

/// One field changed on both sides to different values (docs/protocol.md §4.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub id: String,
    pub entity: Entity,
    pub entity_id: String,
    /// The household the resident belongs to (or the household itself).
    pub household_id: String,
    pub field: String,
    /// The value both sides started from.
    pub base: Value,
    /// The phone's value.
    pub mine: Value,
    /// The value stored by the other side (back office or another worker).
    pub theirs: Value,
    /// Who made the phone's change, and when.
    pub mine_by: String,
    pub mine_at: DateTime<Utc>,
    pub theirs_by: String,
    pub theirs_at: DateTime<Utc>,
    pub status: ConflictStatus,
    pub resolution: Option<Value>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_round_trip_through_apply() {
        let mut r = Resident {
            id: "r".into(),
            household_id: "h".into(),
            name: "王伟".into(),
            id_number: "11010519491231002X".into(),
            phone: None,
            relation: Relation::Head,
            tags: vec![],
            status: ResidentStatus::Living,
            notes: String::new(),
            version: 3,
        };
        let f = r.fields();
        assert_eq!(f.len(), Entity::Resident.fields().len());
        assert!(!f.contains_key("version") && !f.contains_key("household_id"));
        let mut edit = Fields::new();
        edit.insert("status".into(), json!("moved_out"));
        edit.insert("phone".into(), json!("13912345678"));
        r.apply(&edit).unwrap();
        assert_eq!(r.status, ResidentStatus::MovedOut);
        assert_eq!(r.phone.as_deref(), Some("13912345678"));
        assert_eq!(r.version, 3);
        let p = HouseholdProfile::default();
        assert_eq!(p.fields().len(), Entity::Household.fields().len());
    }
}
