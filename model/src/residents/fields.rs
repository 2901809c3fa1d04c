//! The fields of a resident and of a household's profile that phones and the back office
//! edit, and the rule each value must satisfy. Edits travel as a JSON object of changed
//! fields ([`Fields`]); every value is checked and normalised here, on the phone before it
//! records and on the server before it stores.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::MAX_NOTE_CHARS;
use crate::invalid::{Check, Invalid};
use crate::residents::{idcard, phone};
use crate::validate;

/// Changed fields by name, in name order (the canonical payload order).
pub type Fields = BTreeMap<String, Value>;

/// Longest resident name, in characters.
pub const MAX_NAME_CHARS: usize = 32;
/// Most key-group tags on one resident or household.
pub const MAX_TAGS: usize = 16;
/// Largest number of residents a household may declare.
pub const MAX_RESIDENT_COUNT: u64 = 99;

/// What an edit or a conflict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Resident,
    Household,
}

impl Entity {
    pub const fn code(self) -> &'static str {
        match self {
            Entity::Resident => "resident",
            Entity::Household => "household",
        }
    }

    pub fn parse(s: &str) -> Option<Entity> {
        [Entity::Resident, Entity::Household]
            .into_iter()
            .find(|e| e.code() == s)
    }

    /// The fields an edit may change, in canonical order.
    pub const fn fields(self) -> &'static [&'static str] {
        match self {
            Entity::Resident => &[
                "id_number",
                "name",
                "notes",
                "phone",
                "relation",
                "status",
                "tags",
            ],
            Entity::Household => &[
                "contact_phone",
                "housing_type",
                "notes",
                "occupancy",
                "resident_count",
                "tags",
            ],
        }
    }
}

/// How a field merges: a scalar conflicts when both sides changed it differently; a set
/// (tags) merges additions and removals of both sides and never conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeKind {
    Scalar,
    Set,
}

/// The field's merge kind, or `None` for a field the entity does not have.
pub fn merge_kind(entity: Entity, field: &str) -> Option<MergeKind> {
    if !entity.fields().contains(&field) {
        return None;
    }
    Some(if field == "tags" {
        MergeKind::Set
    } else {
        MergeKind::Scalar
    })
}

/// A resident's relation to the head of household.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    Head,
    Spouse,
    Child,
    Parent,
    Grandparent,
    Grandchild,
    Sibling,
    OtherRelative,
    Tenant,
    Other,
}

/// Whether the resident still lives in the household.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidentStatus {
    Living,
    MovedOut,
    Deceased,
}

/// Housing type of a household's dwelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HousingType {
    /// 商品房
    Commercial,
    /// 保障房 (affordable / resettlement housing)
    Affordable,
    /// 公租房
    PublicRental,
    /// 自建房
    SelfBuilt,
    /// 平房
    Bungalow,
    Other,
}

/// Who lives in the dwelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Occupancy {
    Owner,
    Tenant,
    Vacant,
}

/// `code()` / `parse()` for a field's enum, spelled as its serde name. Written out rather than
/// going through `serde_json::Value`, which instantiated a deserializer per type in the
/// phone's library (its size is budgeted).
macro_rules! codes {
    ($t:ty { $($v:ident => $c:literal),+ $(,)? }) => {
        impl $t {
            pub const fn code(self) -> &'static str {
                match self { $(<$t>::$v => $c),+ }
            }
            pub fn parse(s: &str) -> Option<$t> {
                match s { $($c => Some(<$t>::$v),)+ _ => None }
            }
        }
    };
}

codes!(Relation {
    Head => "head", Spouse => "spouse", Child => "child", Parent => "parent",
    Grandparent => "grandparent", Grandchild => "grandchild", Sibling => "sibling",
    OtherRelative => "other_relative", Tenant => "tenant", Other => "other",
});
codes!(ResidentStatus { Living => "living", MovedOut => "moved_out", Deceased => "deceased" });
codes!(HousingType {
    Commercial => "commercial", Affordable => "affordable", PublicRental => "public_rental",
    SelfBuilt => "self_built", Bungalow => "bungalow", Other => "other",
});
codes!(Occupancy { Owner => "owner", Tenant => "tenant", Vacant => "vacant" });

fn enum_value(field: &str, v: &Value, known: fn(&str) -> bool, what: &str) -> Check {
    match v.as_str() {
        Some(s) if known(s) => Ok(()),
        _ => Err(Invalid::new(field, format!("is not a known {what}"))),
    }
}

fn string<'a>(field: &str, v: &'a Value) -> Check<&'a str> {
    v.as_str()
        .ok_or_else(|| Invalid::new(field, "must be a string"))
}

/// Tags: codes (ids), at most [`MAX_TAGS`], returned sorted without duplicates. Membership in
/// the district's key-group list is checked by the caller that holds the list.
pub fn tags(field: &str, v: &Value) -> Check<Vec<String>> {
    let Some(list) = v.as_array() else {
        return Err(Invalid::new(field, "must be an array of tag codes"));
    };
    if list.len() > MAX_TAGS {
        return Err(Invalid::new(field, "has too many tags"));
    }
    let mut out = Vec::with_capacity(list.len());
    for t in list {
        let t = string(field, t)?;
        validate::id(field, t)?;
        validate::text(field, t, 32)?;
        out.push(t.to_string());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A resident's name: 1 to [`MAX_NAME_CHARS`] characters, no control characters inside it
/// (whitespace around it, a tab or newline of a paste included, is trimmed where it is stored).
pub fn name(field: &str, v: &str) -> Check {
    let v = v.trim();
    if v.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    validate::text(field, v, MAX_NAME_CHARS)?;
    if v.chars().any(char::is_control) {
        return Err(Invalid::new(field, "contains a control character"));
    }
    Ok(())
}

/// Checks one field's new value and returns it normalised (a name and an ID number trimmed, an
/// ID number's `x` uppercased, phones in their stored form, tags sorted). `null` clears the optional fields.
pub fn check_value(entity: Entity, field: &str, v: &Value) -> Check<Value> {
    let path = format!("fields.{field}");
    if merge_kind(entity, field).is_none() {
        return Err(Invalid::new(path, "is not a field of this record"));
    }
    let optional = matches!(
        (entity, field),
        (Entity::Resident, "phone")
            | (
                Entity::Household,
                "contact_phone" | "housing_type" | "occupancy"
            )
    );
    if v.is_null() {
        return if optional {
            Ok(Value::Null)
        } else {
            Err(Invalid::new(path, "must not be null"))
        };
    }
    Ok(match field {
        "id_number" => Value::from(idcard::parse(&path, string(&path, v)?)?.number),
        "name" => {
            let n = string(&path, v)?;
            name(&path, n)?;
            Value::from(n.trim())
        }
        "notes" => {
            validate::text(&path, string(&path, v)?, MAX_NOTE_CHARS)?;
            v.clone()
        }
        "phone" | "contact_phone" => Value::from(phone::normalise(&path, string(&path, v)?)?),
        "relation" => {
            enum_value(&path, v, |s| Relation::parse(s).is_some(), "relation")?;
            v.clone()
        }
        "status" => {
            enum_value(&path, v, |s| ResidentStatus::parse(s).is_some(), "status")?;
            v.clone()
        }
        "housing_type" => {
            enum_value(
                &path,
                v,
                |s| HousingType::parse(s).is_some(),
                "housing type",
            )?;
            v.clone()
        }
        "occupancy" => {
            enum_value(&path, v, |s| Occupancy::parse(s).is_some(), "occupancy")?;
            v.clone()
        }
        "resident_count" => match v.as_u64() {
            Some(n) if n <= MAX_RESIDENT_COUNT => v.clone(),
            _ => return Err(Invalid::new(path, "must be a whole number from 0 to 99")),
        },
        "tags" => Value::from(tags(&path, v)?),
        _ => return Err(Invalid::new(path, "is not a field of this record")),
    })
}

/// [`check_value`] for a value being recorded or stored: also refuses an ID number whose
/// holder is born after `today` ([`idcard::check_born_by`]).
pub fn check_new_value(entity: Entity, field: &str, v: &Value, today: NaiveDate) -> Check<Value> {
    let checked = check_value(entity, field, v)?;
    if field == "id_number"
        && let Some(n) = checked.as_str()
    {
        let path = format!("fields.{field}");
        idcard::check_born_by(&path, &idcard::parse(&path, n)?, today)?;
    }
    Ok(checked)
}

/// [`check_fields`] for an edit being recorded or stored: [`check_new_value`] for each.
pub fn check_new_fields(entity: Entity, fields: &Fields, today: NaiveDate) -> Check<Fields> {
    let checked = check_fields(entity, fields)?;
    for (k, v) in &checked {
        check_new_value(entity, k, v, today)?;
    }
    Ok(checked)
}

/// Checks every field of an edit and returns them normalised; an empty edit is refused.
pub fn check_fields(entity: Entity, fields: &Fields) -> Check<Fields> {
    if fields.is_empty() {
        return Err(Invalid::new("fields", "must change at least one field"));
    }
    fields
        .iter()
        .map(|(k, v)| Ok((k.clone(), check_value(entity, k, v)?)))
        .collect()
}

/// Tags of a checked value that are not in the district's key-group list.
pub fn unknown_tags<'a>(value: &'a Value, known: &[String]) -> Vec<&'a str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|t| !known.iter().any(|k| k == t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_checked_and_normalised() {
        let r = Entity::Resident;
        assert_eq!(
            check_value(r, "id_number", &json!("11010519491231002x")).unwrap(),
            json!("11010519491231002X")
        );
        assert_eq!(
            check_value(r, "phone", &json!("139 1234 5678")).unwrap(),
            json!("13912345678")
        );
        assert_eq!(check_value(r, "phone", &Value::Null).unwrap(), Value::Null);
        assert_eq!(
            check_value(r, "tags", &json!(["veteran", "低保", "veteran"])).unwrap(),
            json!(["veteran", "低保"])
        );
        assert!(check_value(r, "status", &json!("moved_out")).is_ok());
        let h = Entity::Household;
        assert!(check_value(h, "resident_count", &json!(3)).is_ok());
        assert!(check_value(h, "occupancy", &json!("vacant")).is_ok());
    }

    #[test]
    fn bad_values_name_the_field() {
        let r = Entity::Resident;
        for (field, v) in [
            ("id_number", json!("110105194912310021")),
            ("name", json!("")),
            ("name", Value::Null),
            ("phone", json!("12345")),
            ("status", json!("emigrated")),
            ("relation", json!(3)),
            ("tags", json!("veteran")),
            ("occupancy", json!("owner")),
            ("version", json!(3)),
        ] {
            let e = check_value(r, field, &v).unwrap_err();
            assert_eq!(e.field, format!("fields.{field}"));
        }
        let e = check_value(Entity::Household, "resident_count", &json!(-1)).unwrap_err();
        assert_eq!(e.field, "fields.resident_count");
        assert!(check_fields(r, &Fields::new()).is_err());
    }
}
