//! Mirrored types: geo.

use super::*;

pub use geo::{Crs, Position};

/// The coordinate system a latitude/longitude pair is expressed in. Android's and iOS's
/// own fixes are WGS-84; AMap and Tencent maps draw in GCJ-02, Baidu in BD-09.
#[uniffi::remote(Enum)]
pub enum Crs {
    /// Raw GNSS output (GPS, BeiDou), Android `Location`, iOS `CLLocation`.
    Wgs84,
    /// The datum of AMap, Tencent and Apple Maps inside China.
    Gcj02,
    /// Baidu's datum.
    Bd09,
}

/// A WGS-84 position (everything the core stores and compares is WGS-84).
#[uniffi::remote(Record)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
}

/// A latitude/longitude pair in a named coordinate system (e.g. a tap on a GCJ-02 map).
#[derive(Debug, Clone, Copy, PartialEq, uniffi::Record)]
pub struct Coordinate {
    pub lat: f64,
    pub lon: f64,
    pub crs: Crs,
}
