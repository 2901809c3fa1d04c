//! Domain types: what the worker records and the ground truth it is checked against.

pub mod location;
pub mod records;
pub mod reference;
pub mod status;

pub use location::{LocationFix, Provider};
pub use records::*;
pub use reference::{Grid, Household, InspectionPoint};

/// A new client-generated id (UUIDv7: time-ordered, so ids sort like the records they name).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
