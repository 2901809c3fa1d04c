//! gridworker-core: the offline-first heart of the grid worker app.
//!
//! The rules the device shares with the server (domain and wire types, coordinate systems,
//! the spatial index, validation, grid membership, status transitions, the hash chain,
//! progress arithmetic) live in `gridworker-model` and are re-exported here under their own
//! names, so `gridworker_core::geo` is `gridworker_model::geo`.
//!
//! Layout of what is the device's own (one job per module):
//! - `store` (private): every SQL statement, the schema and migrations, records + outbox,
//!   the photo store, encryption and recovery;
//! - [`sync`]: the sync engine;
//! - [`GridWorker`] (in [`worker`]): the handle the app holds.

pub use gridworker_model as model;
pub use gridworker_model::{chain, geo, policy, progress, validate};

pub mod config;
pub mod domain;
pub mod error;
pub mod photo;
pub(crate) mod store;
pub mod sync;
pub mod worker;
pub mod zone;

pub use config::{Clock, Config, SystemClock};
pub use error::{Error, LockReason, NotFoundKind, Result};
pub use store::DB_FILE;
pub use store::crypt::{DatabaseKey, rekey_store};
pub use store::photos::seal::SealDamage;
pub use store::recover::{RecoveryReport, recover_store};

/// The store's internals, for this crate's own tests, benchmarks and fuzz targets only
/// (`features = ["test-hooks"]`, enabled by the crate's dev-dependency on itself). Never a
/// product surface: the CLI and the bindings use [`GridWorker`]'s methods.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub mod test_hooks {
    pub use crate::store::*;
}
pub use worker::GridWorker;
