//! Records and enums mirrored from the core, with their conversions. No logic beyond moving
//! fields and converting time and path representations (which can fail on hostile values).

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

/// Mirrors a fieldless core enum both ways.
macro_rules! mirror_enum {
    ($(#[$m:meta])* $name:ident <=> $core:path { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
        pub enum $name { $($(#[$vm])* $v),+ }

        impl From<$core> for $name {
            fn from(v: $core) -> Self {
                match v { $(<$core>::$v => $name::$v),+ }
            }
        }

        impl From<$name> for $core {
            fn from(v: $name) -> Self {
                match v { $($name::$v => <$core>::$v),+ }
            }
        }
    };
}

mod config;
mod fix;
mod geo_types;
mod progress_types;
mod records;
mod reference;
mod sync;
mod time;

pub use config::*;
pub use fix::*;
pub use geo_types::*;
pub use progress_types::*;
pub use records::*;
pub use reference::*;
pub use sync::*;
pub(crate) use time::*;
