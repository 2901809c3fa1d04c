//! Geodesy: coordinate systems, distances and the spatial index over reference data.

pub mod crs;
pub mod membership;
pub mod spatial;

pub use crs::{Crs, convert};
pub use membership::GridShape;

use serde::{Deserialize, Serialize};

/// A WGS-84 position. Everything the core stores or compares is in WGS-84; other systems are
/// converted at the boundary (see [`crs`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
}

impl Position {
    pub fn new(lat: f64, lon: f64) -> Self {
        Position { lat, lon }
    }

    /// Converts a coordinate in any system to WGS-84.
    pub fn from_crs(lat: f64, lon: f64, crs: Crs) -> Self {
        let (lat, lon) = convert(lat, lon, crs, Crs::Wgs84);
        Position { lat, lon }
    }

    /// This position expressed in `crs`, as `(lat, lon)`.
    pub fn to_crs(self, crs: Crs) -> (f64, f64) {
        convert(self.lat, self.lon, Crs::Wgs84, crs)
    }

    /// Great-circle distance in metres (haversine on the mean Earth radius; well within a
    /// metre at patrol distances).
    pub fn distance_m(self, other: Position) -> f64 {
        haversine_m(self.lat, self.lon, other.lat, other.lon)
    }

    /// Both coordinates are finite numbers.
    pub fn is_finite(self) -> bool {
        self.lat.is_finite() && self.lon.is_finite()
    }

    pub(crate) fn point(self) -> geo::Point<f64> {
        geo::Point::new(self.lon, self.lat)
    }
}

/// Mean Earth radius (IUGG), as used by `geo::Haversine`.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Haversine distance in metres between two WGS-84 coordinates.
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    use geo::{Distance, Haversine, Point};
    Haversine.distance(Point::new(lon1, lat1), Point::new(lon2, lat2))
}
