//! gridworker-core: the offline-first heart of the grid worker app.
//!
//! The rules the device shares with the server (domain and wire types, coordinate systems,
//! the spatial index, validation, grid membership, status transitions, the hash chain,
//! progress arithmetic) live in `gridworker-model` and are re-exported here under their own
//! names, so `gridworker_core::geo` is `gridworker_model::geo`.
//!
//! Layout of what is the device's own (one job per module):
//! - [`store`]: SQLite schema, migrations, records + outbox, photo store;
//! - [`sync`]: the sync engine;
//! - [`GridWorker`] (in [`worker`]): the handle the app holds.

pub use gridworker_model as model;
pub use gridworker_model::{chain, geo, policy, progress, validate};

pub mod config;
pub mod domain;
pub mod error;
pub mod store;
pub mod sync;
pub mod worker;

pub use config::{Clock, Config, SystemClock};
pub use error::{Error, LockReason, Result};
pub use store::crypt::DatabaseKey;
pub use store::recover::{RecoveryReport, recover_store};
pub use worker::GridWorker;
