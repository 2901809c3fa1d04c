//! Domain types: what the worker records and the ground truth it is checked against.

pub mod location;
pub mod records;
pub mod reference;
pub mod status;
pub mod track;

pub use location::{LocationFix, Provider};
pub use records::*;
pub use reference::{Grid, Household, InspectionPoint};
pub use track::{PatrolEventKind, PatrolEventPayload, TrackBlockPayload};
