//! Mirrored types: reference data.

use super::*;

/// A grid (网格). Boundary in WGS-84, first point not repeated.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Grid {
    pub code: String,
    pub name: String,
    pub boundary: Vec<Position>,
}

impl From<d::Grid> for Grid {
    fn from(g: d::Grid) -> Self {
        Grid {
            code: g.code,
            name: g.name,
            boundary: map(g.boundary),
        }
    }
}

impl From<Grid> for d::Grid {
    fn from(g: Grid) -> Self {
        d::Grid {
            code: g.code,
            name: g.name,
            boundary: map(g.boundary),
        }
    }
}

/// A patrol check-in point (巡查打卡点), WGS-84.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct InspectionPoint {
    pub id: String,
    pub grid_code: String,
    pub name: String,
    pub position: Position,
    /// Check-in radius in metres; 0 means the policy default.
    pub radius_m: f64,
}

impl From<d::InspectionPoint> for InspectionPoint {
    fn from(p: d::InspectionPoint) -> Self {
        InspectionPoint {
            id: p.id,
            grid_code: p.grid_code,
            name: p.name,
            position: p.position.into(),
            radius_m: p.radius_m,
        }
    }
}

impl From<InspectionPoint> for d::InspectionPoint {
    fn from(p: InspectionPoint) -> Self {
        d::InspectionPoint {
            id: p.id,
            grid_code: p.grid_code,
            name: p.name,
            position: p.position.into(),
            radius_m: p.radius_m,
        }
    }
}

/// A household on the worker's books, WGS-84. Personal data.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Household {
    pub id: String,
    pub grid_code: String,
    pub building: String,
    pub address: String,
    pub position: Position,
    pub tags: Vec<String>,
}

impl From<Household> for d::Household {
    fn from(h: Household) -> Self {
        d::Household {
            id: h.id,
            grid_code: h.grid_code,
            building: h.building,
            address: h.address,
            position: h.position.into(),
            tags: h.tags,
        }
    }
}

/// An inspection point near a position.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct NearbyPoint {
    pub point: InspectionPoint,
    pub distance_m: f64,
}

impl From<w::NearbyPoint> for NearbyPoint {
    fn from(n: w::NearbyPoint) -> Self {
        NearbyPoint {
            point: n.point.into(),
            distance_m: n.distance_m,
        }
    }
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
