//! Patrol tracks (巡查轨迹, issue 13): measuring a walk from the platform's noisy fixes.
//!
//! - [`measure`]: distance, moving and tracked time, gaps, and the smoothed line, with
//!   accuracy and outlier filtering and standing-still detection;
//! - `kalman`: the smoother it uses;
//! - [`line`]: the simplified line drawn on a map;
//! - [`block`]: the compact encoding of a block of fixes, stored and sent;
//! - [`spoof`]: track-level signs of a fake location (teleport, too regular, mock, clock);
//! - [`summary`]: the day in figures (time in the worker's grids, points passed, coverage).

pub mod block;
mod kalman;
pub mod line;
pub mod measure;
pub mod spoof;
pub mod summary;

pub use measure::{MeasureParams, Measurement, Residual, TrackFix, measure, naive_distance};
pub use spoof::{TrackFlag, TrackFlagKind, signals};
pub use summary::{DaySummary, summarise};
