//! The Kotlin/Swift shape of the core's records and enums.
//!
//! Types that cross unchanged are the model's and core's own, declared to uniffi with
//! `#[uniffi::remote(...)]`: the field list written here is checked against the real type by
//! the compiler, and there is no conversion code. A hand mirror with `From` conversions is
//! kept only where the FFI shape differs on purpose: times (`SystemTime`, whose conversion
//! can fail on hostile values with a typed `InvalidInput{field}`), paths, and records that
//! contain such fields (see bindings/README.md, "Mirrors").

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeDelta, Utc};
use gridworker_core::domain as d;
use gridworker_core::geo;
use gridworker_core::policy;
use gridworker_core::progress;
use gridworker_core::sync as s;
use gridworker_core::worker as w;
use gridworker_core::worker::Listed;

use crate::error::{Result, invalid};

mod config;
mod day;
mod fix;
mod geo_types;
mod numbers;
mod progress_types;
mod records;
mod reference;
mod resident_types;
mod sync;
mod time;
mod track_types;

pub use config::*;
pub use day::*;
pub use fix::*;
pub use geo_types::*;
pub(crate) use numbers::*;
pub use progress_types::*;
pub use records::*;
pub use reference::*;
pub use resident_types::*;
pub use sync::*;
pub(crate) use time::*;
pub use track_types::*;
