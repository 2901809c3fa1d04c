//! Conversions between the three coordinate systems a Chinese phone meets.
//!
//! GNSS fixes are WGS-84; AMap/Tencent draw in GCJ-02; Baidu draws in BD-09. The offsets are
//! 100-700 m, so any comparison across systems without conversion breaks every geofence. The
//! forward formulas are the published ones (as in `gcoord`, `eviltransform`); the inverses are
//! solved by fixed-point iteration, so a round trip is exact to well under a millimetre.

use serde::{Deserialize, Serialize};

/// The coordinate system a latitude/longitude pair is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crs {
    /// Raw GNSS (GPS, BeiDou) output.
    Wgs84,
    /// The "Mars" datum required by Chinese regulation: AMap, Tencent, Apple Maps in China.
    Gcj02,
    /// Baidu's datum, derived from GCJ-02.
    Bd09,
}

impl Crs {
    /// Stable lowercase code used in storage, on the wire and in the CLI.
    pub fn code(self) -> &'static str {
        match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        }
    }

    /// Parses `wgs84`, `gcj02` or `bd09` (case-insensitive, `-`/`_` ignored).
    pub fn parse(s: &str) -> Option<Crs> {
        let norm: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        match norm.as_str() {
            "wgs84" => Some(Crs::Wgs84),
            "gcj02" => Some(Crs::Gcj02),
            "bd09" => Some(Crs::Bd09),
            _ => None,
        }
    }
}

const A: f64 = 6_378_245.0;
const EE: f64 = 0.006_693_421_622_965_943;
const X_PI: f64 = std::f64::consts::PI * 3000.0 / 180.0;
const PI: f64 = std::f64::consts::PI;

/// The GCJ-02 offset is only applied inside this box, exactly as `gcoord` does; outside it
/// the systems coincide.
pub fn in_china_bbox(lat: f64, lon: f64) -> bool {
    (72.004..=137.8347).contains(&lon) && (0.8293..=55.8271).contains(&lat)
}

fn transform_lat(x: f64, y: f64) -> f64 {
    let mut ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    ret
}

fn transform_lon(x: f64, y: f64) -> f64 {
    let mut ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    ret += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    ret += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    ret += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    ret
}

/// WGS-84 → GCJ-02. Returns `(lat, lon)`.
pub fn wgs84_to_gcj02(lat: f64, lon: f64) -> (f64, f64) {
    if !in_china_bbox(lat, lon) {
        return (lat, lon);
    }
    let mut d_lat = transform_lat(lon - 105.0, lat - 35.0);
    let mut d_lon = transform_lon(lon - 105.0, lat - 35.0);
    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    d_lat = (d_lat * 180.0) / ((A * (1.0 - EE)) / (magic * sqrt_magic) * PI);
    d_lon = (d_lon * 180.0) / (A / sqrt_magic * rad_lat.cos() * PI);
    (lat + d_lat, lon + d_lon)
}

/// Solves `forward(x) = target` for x by fixed-point iteration. Both datum shifts are smooth
/// and tiny relative to the coordinates, so this converges to 1e-12° in a handful of steps.
fn invert(target: (f64, f64), forward: impl Fn(f64, f64) -> (f64, f64)) -> (f64, f64) {
    let (mut lat, mut lon) = target;
    for _ in 0..30 {
        let (f_lat, f_lon) = forward(lat, lon);
        let (e_lat, e_lon) = (target.0 - f_lat, target.1 - f_lon);
        lat += e_lat;
        lon += e_lon;
        if e_lat.abs() < 1e-12 && e_lon.abs() < 1e-12 {
            break;
        }
    }
    (lat, lon)
}

/// GCJ-02 → WGS-84 (exact inverse of [`wgs84_to_gcj02`]).
pub fn gcj02_to_wgs84(lat: f64, lon: f64) -> (f64, f64) {
    if !in_china_bbox(lat, lon) {
        return (lat, lon);
    }
    invert((lat, lon), wgs84_to_gcj02)
}

/// GCJ-02 → BD-09.
pub fn gcj02_to_bd09(lat: f64, lon: f64) -> (f64, f64) {
    let (x, y) = (lon, lat);
    let z = (x * x + y * y).sqrt() + 0.00002 * (y * X_PI).sin();
    let theta = y.atan2(x) + 0.000003 * (x * X_PI).cos();
    (z * theta.sin() + 0.006, z * theta.cos() + 0.0065)
}

/// BD-09 → GCJ-02 (exact inverse of [`gcj02_to_bd09`]).
pub fn bd09_to_gcj02(lat: f64, lon: f64) -> (f64, f64) {
    invert((lat, lon), gcj02_to_bd09)
}

/// Converts `(lat, lon)` from one system to another.
pub fn convert(lat: f64, lon: f64, from: Crs, to: Crs) -> (f64, f64) {
    let (wlat, wlon) = match from {
        Crs::Wgs84 => (lat, lon),
        Crs::Gcj02 => gcj02_to_wgs84(lat, lon),
        Crs::Bd09 => {
            let (g_lat, g_lon) = bd09_to_gcj02(lat, lon);
            gcj02_to_wgs84(g_lat, g_lon)
        }
    };
    match to {
        Crs::Wgs84 => (wlat, wlon),
        Crs::Gcj02 => wgs84_to_gcj02(wlat, wlon),
        Crs::Bd09 => {
            let (g_lat, g_lon) = wgs84_to_gcj02(wlat, wlon);
            gcj02_to_bd09(g_lat, g_lon)
        }
    }
}
