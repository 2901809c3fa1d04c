//! Residents and household profiles (信息采集): the records, the rule each field must
//! satisfy, the field-level merge, and how personal numbers are masked in lists.

pub mod fields;
pub mod idcard;
pub mod mask;
pub mod merge;
pub mod phone;
pub mod records;

pub use fields::{
    Entity, Fields, HousingType, MergeKind, Occupancy, Relation, ResidentStatus, check_fields,
    check_new_fields, check_new_value, check_value, merge_kind,
};
pub use merge::{FieldMerge, merge_field};
pub use records::{
    Conflict, ConflictResolutionPayload, ConflictStatus, FieldUpdatePayload, HouseholdProfile,
    Resident, ResidentAddPayload, Resolution,
};
