//! Residents, household profiles and conflicts (信息采集). Personal data: lists carry ID
//! numbers and phones masked; `residentUnmasked` is the one call that shows them whole.

use super::*;
use gridworker_core::model::residents as r;
use serde_json::Value;

pub use r::idcard::Sex;
pub use r::{HousingType, Occupancy, Relation, ResidentStatus, Resolution};

/// Relation to the head of household.
#[uniffi::remote(Enum)]
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
#[uniffi::remote(Enum)]
pub enum ResidentStatus {
    Living,
    MovedOut,
    Deceased,
}

/// Housing type of the dwelling.
#[uniffi::remote(Enum)]
pub enum HousingType {
    Commercial,
    Affordable,
    PublicRental,
    SelfBuilt,
    Bungalow,
    Other,
}

/// Who lives in the dwelling.
#[uniffi::remote(Enum)]
pub enum Occupancy {
    Owner,
    Tenant,
    Vacant,
}

/// Sex as the ID number records it.
#[uniffi::remote(Enum)]
pub enum Sex {
    Male,
    Female,
}

/// How a conflict is resolved: this phone's value, the other side's, or a new one.
#[uniffi::remote(Enum)]
pub enum Resolution {
    Mine,
    Theirs,
    Value,
}

/// A household's profile (一标三实: actual housing). The contact phone is masked in lists.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HouseholdProfile {
    pub housing_type: Option<HousingType>,
    pub occupancy: Option<Occupancy>,
    pub resident_count: i32,
    pub contact_phone: Option<String>,
    pub tags: Vec<String>,
    pub notes: String,
    /// The server's version this profile is based on.
    pub version: i64,
}

impl From<r::HouseholdProfile> for HouseholdProfile {
    fn from(p: r::HouseholdProfile) -> Self {
        HouseholdProfile {
            housing_type: p.housing_type,
            occupancy: p.occupancy,
            resident_count: int(p.resident_count),
            contact_phone: p.contact_phone,
            tags: p.tags,
            notes: p.notes,
            version: p.version,
        }
    }
}

/// A resident. `id_number` and `phone` are masked (`230102********1234`, `139****5678`)
/// unless `masked` is false (only from `residentUnmasked`). Sex and birth date are derived
/// from the ID number.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Resident {
    pub id: String,
    pub household_id: String,
    pub name: String,
    pub id_number: String,
    pub phone: Option<String>,
    pub relation: Relation,
    pub tags: Vec<String>,
    pub status: ResidentStatus,
    pub notes: String,
    pub sex: Option<Sex>,
    pub birth_date: Option<LocalDay>,
    /// The server's version (0: added on this phone, not yet synced).
    pub version: i64,
    pub masked: bool,
}

impl From<w::ResidentView> for Resident {
    fn from(v: w::ResidentView) -> Self {
        Resident {
            id: v.id,
            household_id: v.household_id,
            name: v.name,
            id_number: v.id_number,
            phone: v.phone,
            relation: v.relation,
            tags: v.tags,
            status: v.status,
            notes: v.notes,
            sex: v.sex,
            birth_date: v.birth_date.map(LocalDay),
            version: v.version,
            masked: v.masked,
        }
    }
}

/// A household in a list: where it is, its profile, who lives there in brief.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HouseholdCard {
    pub household: Household,
    pub profile: HouseholdProfile,
    /// Residents living there now.
    pub living: i32,
    pub head_name: Option<String>,
    pub open_conflicts: i32,
}

impl From<w::HouseholdCard> for HouseholdCard {
    fn from(c: w::HouseholdCard) -> Self {
        HouseholdCard {
            household: c.household,
            profile: c.profile.into(),
            living: int(c.living),
            head_name: c.head_name,
            open_conflicts: int(c.open_conflicts),
        }
    }
}

/// A page of households (search, building, key group); `next` is the cursor of the next.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HouseholdCardPage {
    pub items: Vec<HouseholdCard>,
    pub next: Option<String>,
}

/// A household near a position.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NearbyHousehold {
    pub household: HouseholdCard,
    pub distance_m: f64,
}

/// A household with its residents (masked) and open conflicts: the visit screen.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HouseholdDetail {
    pub household: Household,
    pub profile: HouseholdProfile,
    pub residents: Vec<Resident>,
    pub conflicts: Vec<Conflict>,
}

impl From<w::HouseholdDetail> for HouseholdDetail {
    fn from(d: w::HouseholdDetail) -> Self {
        HouseholdDetail {
            household: d.household,
            profile: d.profile.into(),
            residents: map(d.residents),
            conflicts: map(d.conflicts),
        }
    }
}

/// A field's value in a conflict.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum FieldValue {
    /// No value (a phone removed, a type not collected).
    Empty,
    /// Text, or an enum's code (`moved_out`, `tenant`).
    Text {
        value: String,
    },
    /// Key-group tags.
    Tags {
        values: Vec<String>,
    },
    Number {
        value: i64,
    },
}

impl From<Value> for FieldValue {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => FieldValue::Empty,
            Value::String(s) => FieldValue::Text { value: s },
            Value::Number(n) => FieldValue::Number {
                value: n.as_i64().unwrap_or_default(),
            },
            Value::Array(a) => FieldValue::Tags {
                values: a
                    .into_iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect(),
            },
            other => FieldValue::Text {
                value: other.to_string(),
            },
        }
    }
}

impl From<FieldValue> for Value {
    fn from(v: FieldValue) -> Self {
        match v {
            FieldValue::Empty => Value::Null,
            FieldValue::Text { value } => Value::from(value),
            FieldValue::Tags { values } => Value::from(values),
            FieldValue::Number { value } => Value::from(value),
        }
    }
}

/// What a conflict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConflictEntity {
    Resident,
    Household,
}

/// One field changed on this phone and on the other side (the back office or another
/// worker) to different values. Nothing was overwritten: the stored value is `theirs` until
/// someone resolves it. In lists the values of ID numbers and phones are masked.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Conflict {
    pub id: String,
    pub entity: ConflictEntity,
    pub entity_id: String,
    pub household_id: String,
    /// The field's name as edits name it (`phone`, `status`, `occupancy`…).
    pub field: String,
    pub base: FieldValue,
    pub mine: FieldValue,
    pub theirs: FieldValue,
    pub mine_by: String,
    pub mine_at: SystemTime,
    pub theirs_by: String,
    pub theirs_at: SystemTime,
    pub resolved: bool,
    /// Resolved on this phone, waiting to sync.
    pub resolving: bool,
    pub resolution: Option<FieldValue>,
}

impl From<w::ConflictView> for Conflict {
    fn from(v: w::ConflictView) -> Self {
        let c = v.conflict;
        Conflict {
            id: c.id,
            entity: match c.entity {
                r::Entity::Resident => ConflictEntity::Resident,
                r::Entity::Household => ConflictEntity::Household,
            },
            entity_id: c.entity_id,
            household_id: c.household_id,
            field: c.field,
            base: c.base.into(),
            mine: c.mine.into(),
            theirs: c.theirs.into(),
            mine_by: c.mine_by,
            mine_at: from_utc(c.mine_at),
            theirs_by: c.theirs_by,
            theirs_at: from_utc(c.theirs_at),
            resolved: c.status == r::ConflictStatus::Resolved,
            resolving: v.resolving,
            resolution: c.resolution.map(Into::into),
        }
    }
}

/// A page of conflicts.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ConflictPage {
    pub items: Vec<Conflict>,
    pub next: Option<String>,
}

/// A resident to register.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NewResident {
    pub household_id: String,
    pub name: String,
    pub id_number: String,
    #[uniffi(default = None)]
    pub phone: Option<String>,
    pub relation: Relation,
    #[uniffi(default = [])]
    pub tags: Vec<String>,
    #[uniffi(default = "")]
    pub notes: String,
}

impl From<NewResident> for w::NewResident {
    fn from(n: NewResident) -> Self {
        w::NewResident {
            household_id: n.household_id,
            name: n.name,
            id_number: n.id_number,
            phone: n.phone,
            relation: n.relation,
            tags: n.tags,
            notes: n.notes,
        }
    }
}

/// The fields of a resident to change; `null` leaves a field as it is, `phone = ""` removes
/// the phone.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct ResidentUpdate {
    #[uniffi(default = None)]
    pub name: Option<String>,
    #[uniffi(default = None)]
    pub id_number: Option<String>,
    #[uniffi(default = None)]
    pub phone: Option<String>,
    #[uniffi(default = None)]
    pub relation: Option<Relation>,
    #[uniffi(default = None)]
    pub tags: Option<Vec<String>>,
    #[uniffi(default = None)]
    pub status: Option<ResidentStatus>,
    #[uniffi(default = None)]
    pub notes: Option<String>,
}

impl From<ResidentUpdate> for w::ResidentUpdate {
    fn from(u: ResidentUpdate) -> Self {
        w::ResidentUpdate {
            name: u.name,
            id_number: u.id_number,
            phone: u.phone,
            relation: u.relation,
            tags: u.tags,
            status: u.status,
            notes: u.notes,
        }
    }
}

/// The fields of a household's profile to change; `contact_phone = ""` removes it.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct HouseholdUpdate {
    #[uniffi(default = None)]
    pub housing_type: Option<HousingType>,
    #[uniffi(default = None)]
    pub occupancy: Option<Occupancy>,
    #[uniffi(default = None)]
    pub resident_count: Option<i32>,
    #[uniffi(default = None)]
    pub contact_phone: Option<String>,
    #[uniffi(default = None)]
    pub tags: Option<Vec<String>>,
    #[uniffi(default = None)]
    pub notes: Option<String>,
}

impl HouseholdUpdate {
    /// The core's update; a negative `resident_count` is `InvalidInput{field}`.
    pub(crate) fn into_core(self) -> Result<w::HouseholdUpdate> {
        let u = self;
        Ok(w::HouseholdUpdate {
            housing_type: u.housing_type,
            occupancy: u.occupancy,
            resident_count: u
                .resident_count
                .map(|n| count("resident_count", n))
                .transpose()?,
            contact_phone: u.contact_phone,
            tags: u.tags,
            notes: u.notes,
        })
    }
}
