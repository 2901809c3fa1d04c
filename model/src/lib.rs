//! gridworker-model: the rules the device core and the server share, written once.
//!
//! Pure: no SQLite, no async runtime, no HTTP, no filesystem. Each rule lives in one module
//! whose name says it:
//! - [`domain`]: records and reference data types; [`domain::status`]: the report and task
//!   status transition table;
//! - [`geo`]: coordinate systems, distances, [`geo::membership`] (what "inside a grid"
//!   means) and the spatial index;
//! - [`validate`]: what a record of each kind must satisfy, checked by the device before it
//!   writes and by the server before it stores;
//! - [`policy`]: what is accepted and what is flagged, and why;
//! - [`chain`]: the tamper-evident hash chain over a device's log;
//! - [`progress`]: patrol progress arithmetic per day and week;
//! - [`residents`]: residents and household profiles, ID-card and phone rules, masking and
//!   the field-level merge;
//! - [`track`]: measuring a patrol track honestly (distance, time, gaps) from noisy fixes;
//! - [`wire`]: the sync protocol's request and reply types.

pub mod chain;
pub mod domain;
pub mod feed_bounds;
pub mod geo;
pub mod invalid;
pub mod policy;
pub mod progress;
pub mod residents;
pub mod track;
pub mod validate;
pub mod wire;

pub use invalid::{Check, Invalid, json_error_shape};
