//! gridworker-core: the offline-first heart of the grid worker app.
//!
//! Layout (one job per module):
//! - [`domain`]: records and reference data types;
//! - [`geo`]: coordinate systems, distances, spatial index;
//! - [`policy`]: the validation policy (what is accepted, what is flagged, and why);
//! - [`chain`]: the tamper-evident hash chain over the device's log;
//! - [`store`]: SQLite schema, migrations, records + outbox, photo store;
//! - [`progress`]: patrol progress per day and week;
//! - [`sync`]: wire protocol types and the sync engine;
//! - [`GridWorker`] (in [`worker`]): the handle the app holds.

pub mod chain;
pub mod config;
pub mod domain;
pub mod error;
pub mod geo;
pub mod policy;
pub mod progress;
pub mod store;
pub mod sync;
pub mod worker;

pub use config::{Clock, Config, SystemClock};
pub use error::{Error, LockReason, Result};
pub use store::crypt::DatabaseKey;
pub use store::recover::{RecoveryReport, recover_store};
pub use worker::GridWorker;
