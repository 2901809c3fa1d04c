//! Reference data: the model's own types, declared to uniffi.

use super::*;

pub use d::{Grid, Household, InspectionPoint};
pub use w::NearbyPoint;

/// A grid (网格). Boundary in WGS-84, first point not repeated.
#[uniffi::remote(Record)]
pub struct Grid {
    pub code: String,
    pub name: String,
    pub boundary: Vec<Position>,
}

/// A patrol check-in point (巡查打卡点), WGS-84.
#[uniffi::remote(Record)]
pub struct InspectionPoint {
    pub id: String,
    pub grid_code: String,
    pub name: String,
    pub position: Position,
    /// Check-in radius in metres; 0 means the policy default.
    pub radius_m: f64,
}

/// A household on the worker's books, WGS-84. Personal data.
#[uniffi::remote(Record)]
pub struct Household {
    pub id: String,
    pub grid_code: String,
    pub building: String,
    pub address: String,
    pub position: Position,
    pub tags: Vec<String>,
}

/// An inspection point near a position.
#[uniffi::remote(Record)]
pub struct NearbyPoint {
    pub point: InspectionPoint,
    pub distance_m: f64,
}

/// An open report that may describe the same problem as the one about to be filed.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DuplicateCandidate {
    pub report: PhotoReport,
    pub distance_m: f64,
}

impl From<w::DuplicateCandidate> for DuplicateCandidate {
    fn from(c: w::DuplicateCandidate) -> Self {
        DuplicateCandidate {
            report: c.report.into(),
            distance_m: c.distance_m,
        }
    }
}
