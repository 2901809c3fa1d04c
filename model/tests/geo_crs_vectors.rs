//! Checks our WGS-84 → GCJ-02 → BD-09 transforms against an independent implementation: the
//! npm package `gcoord` 1.0.7, whose outputs on 1,450 points over China are committed in
//! `tests/data/gcoord_vectors.csv` (regenerate with `tests/data/gen_gcoord_vectors.mjs`).

use anyhow::{Context, Result, bail};
use gridworker_model::geo::crs::{bd09_to_gcj02, gcj02_to_bd09, gcj02_to_wgs84, wgs84_to_gcj02};
use gridworker_model::geo::{Crs, Position, convert, haversine_m};

const VECTORS: &str = include_str!("data/gcoord_vectors.csv");

/// Forward transforms must agree with gcoord to well under a centimetre: both implement the
/// same published formulas in f64, so anything larger is a transcription error.
const FORWARD_TOLERANCE_M: f64 = 0.01;
/// The bound for inverse transforms.
const ROUND_TRIP_TOLERANCE_M: f64 = 0.5;

struct Vector {
    wgs: (f64, f64),
    gcj: (f64, f64),
    bd: (f64, f64),
}

fn vectors() -> Result<Vec<Vector>> {
    let mut lines = VECTORS.lines();
    let header = lines.next().context("empty vector file")?;
    if header != "wgs_lat,wgs_lon,gcj_lat,gcj_lon,bd_lat,bd_lon" {
        bail!("unexpected header {header:?}");
    }
    lines
        .enumerate()
        .map(|(i, line)| {
            let v: Vec<f64> = line
                .split(',')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .with_context(|| format!("line {}: {line:?}", i + 2))?;
            if v.len() != 6 {
                bail!("line {}: expected 6 columns, got {}", i + 2, v.len());
            }
            Ok(Vector {
                wgs: (v[0], v[1]),
                gcj: (v[2], v[3]),
                bd: (v[4], v[5]),
            })
        })
        .collect()
}

fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
    haversine_m(a.0, a.1, b.0, b.1)
}

#[test]
fn vector_file_covers_china() -> Result<()> {
    let v = vectors()?;
    assert!(v.len() >= 1_000, "only {} vectors", v.len());
    let lat = |f: fn(f64, f64) -> f64| v.iter().map(|x| x.wgs.0).fold(f64::NAN, f);
    let lon = |f: fn(f64, f64) -> f64| v.iter().map(|x| x.wgs.1).fold(f64::NAN, f);
    assert!(lat(f64::min) < 19.0 && lat(f64::max) > 52.0);
    assert!(lon(f64::min) < 75.0 && lon(f64::max) > 133.0);
    // Every vector must actually be shifted, or the comparison would prove nothing.
    for x in &v {
        assert!(dist(x.wgs, x.gcj) > 10.0, "unshifted vector at {:?}", x.wgs);
    }
    Ok(())
}

#[test]
fn forward_transforms_match_gcoord() -> Result<()> {
    let v = vectors()?;
    let (mut max_gcj, mut max_bd, mut max_bd_from_gcj) = (0.0f64, 0.0f64, 0.0f64);
    for x in &v {
        let gcj = wgs84_to_gcj02(x.wgs.0, x.wgs.1);
        let bd = convert(x.wgs.0, x.wgs.1, Crs::Wgs84, Crs::Bd09);
        // BD-09 alone, fed gcoord's own GCJ-02 output: isolates the BD formula.
        let bd_only = gcj02_to_bd09(x.gcj.0, x.gcj.1);
        max_gcj = max_gcj.max(dist(gcj, x.gcj));
        max_bd = max_bd.max(dist(bd, x.bd));
        max_bd_from_gcj = max_bd_from_gcj.max(dist(bd_only, x.bd));
    }
    println!(
        "max deviation from gcoord over {} points: WGS→GCJ {max_gcj:.3e} m, WGS→BD {max_bd:.3e} m, \
         GCJ→BD {max_bd_from_gcj:.3e} m",
        v.len()
    );
    assert!(max_gcj < FORWARD_TOLERANCE_M, "WGS→GCJ off by {max_gcj} m");
    assert!(max_bd < FORWARD_TOLERANCE_M, "WGS→BD off by {max_bd} m");
    assert!(
        max_bd_from_gcj < FORWARD_TOLERANCE_M,
        "GCJ→BD off by {max_bd_from_gcj} m"
    );
    Ok(())
}

#[test]
fn inverses_round_trip_on_vector_points() -> Result<()> {
    let v = vectors()?;
    let mut worst = 0.0f64;
    for x in &v {
        // Inverting gcoord's outputs must land back on the original WGS-84 point.
        let from_gcj = gcj02_to_wgs84(x.gcj.0, x.gcj.1);
        let from_bd = convert(x.bd.0, x.bd.1, Crs::Bd09, Crs::Wgs84);
        let gcj_from_bd = bd09_to_gcj02(x.bd.0, x.bd.1);
        let via_position = Position::from_crs(x.bd.0, x.bd.1, Crs::Bd09);
        for (what, d) in [
            ("GCJ→WGS", dist(from_gcj, x.wgs)),
            ("BD→WGS", dist(from_bd, x.wgs)),
            ("BD→GCJ", dist(gcj_from_bd, x.gcj)),
            (
                "Position::from_crs(BD)",
                dist((via_position.lat, via_position.lon), x.wgs),
            ),
        ] {
            assert!(
                d < ROUND_TRIP_TOLERANCE_M,
                "{what} at {:?} off by {d} m",
                x.wgs
            );
            worst = worst.max(d);
        }
    }
    println!("worst inverse error on gcoord vectors: {worst:.3e} m");
    Ok(())
}
