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

/// A report category or department of the district.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CatalogEntry {
    pub code: String,
    pub name: String,
}

/// The district's report categories and departments, pulled with the reference data
/// (empty until the first sync with a protocol 3 server). Once known, a report's category
/// must be one of them (`InvalidInput` on `category` otherwise).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReportCatalog {
    pub categories: Vec<CatalogEntry>,
    pub departments: Vec<CatalogEntry>,
}

impl From<gridworker_core::worker::ReportCatalog> for ReportCatalog {
    fn from(c: gridworker_core::worker::ReportCatalog) -> Self {
        let entries = |v: Vec<gridworker_core::sync::wire::CatalogEntry>| {
            v.into_iter()
                .map(|e| CatalogEntry {
                    code: e.code,
                    name: e.name,
                })
                .collect()
        };
        ReportCatalog {
            categories: entries(c.categories),
            departments: entries(c.departments),
        }
    }
}
