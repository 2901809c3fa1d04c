//! Ground truth the worker's records are checked against, pulled from the server.
//! All positions here are WGS-84; the wire and fixtures may use GCJ-02 and are converted on
//! arrival.

use serde::{Deserialize, Serialize};

use crate::geo::Position;

/// A grid (网格): the unit of responsibility of one or two full-time workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub code: String,
    pub name: String,
    /// Outer boundary ring, WGS-84, first point not repeated.
    pub boundary: Vec<Position>,
}

/// A patrol check-in point (巡查打卡点).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionPoint {
    pub id: String,
    pub grid_code: String,
    pub name: String,
    pub position: Position,
    /// Check-in radius in metres; 0 means "use the policy default".
    pub radius_m: f64,
}

/// A household on the worker's books. Personal data: never logged, never in error messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Household {
    pub id: String,
    pub grid_code: String,
    pub building: String,
    pub address: String,
    pub position: Position,
    /// Free-form tags such as 低保, disability, veteran, elderly-alone.
    pub tags: Vec<String>,
}
