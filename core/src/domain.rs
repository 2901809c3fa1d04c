//! The model's domain types (`gridworker_model::domain`), plus what only a device does with
//! them: mint record ids.

pub use gridworker_model::domain::*;

/// A new client-generated id (UUIDv7: time-ordered, so ids sort like the records they name).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
