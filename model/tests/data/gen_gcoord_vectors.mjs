// Generates gcoord_vectors.csv: reference outputs of the npm package `gcoord` (an independent
// implementation of the WGS-84 -> GCJ-02 -> BD-09 transforms) for geo_crs_vectors.rs.
//
// Rerun (node >= 18; keep node_modules out of the repository):
//   npm install --prefix /tmp/gcoordgen gcoord@1.0.7
//   NODE_PATH=/tmp/gcoordgen/node_modules node model/tests/data/gen_gcoord_vectors.mjs \
//     > model/tests/data/gcoord_vectors.csv
//
// The output is deterministic (fixed seed), so a rerun with the same gcoord version must
// reproduce the committed file byte for byte.

import { createRequire } from 'node:module';

// NODE_PATH is honoured by require(), not by ESM import, hence createRequire.
const require = createRequire(import.meta.url);
const gcoord = require('gcoord');

// mulberry32: tiny, well-known, deterministic PRNG; Math.random cannot be seeded.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = mulberry32(20240602);
const points = [];

// Stratified jitter over lat 18-53, lon 74-134 (36 x 40 cells): every part of the box is
// covered, including the west (Kashgar) and the far north-east (Heilongjiang) where the
// GCJ-02 polynomial is furthest from its 105E/35N origin.
const LAT0 = 18, LAT1 = 53, LON0 = 74, LON1 = 134;
const NLAT = 36, NLON = 40;
for (let i = 0; i < NLAT; i++) {
  for (let j = 0; j < NLON; j++) {
    const lat = LAT0 + ((i + rand()) * (LAT1 - LAT0)) / NLAT;
    const lon = LON0 + ((j + rand()) * (LON1 - LON0)) / NLON;
    points.push([lat, lon]);
  }
}

// A few named places, so a failure can be read at a glance.
const places = [
  [45.2951, 130.9694], // Jixi
  [39.9087, 116.3975], // Beijing
  [31.2304, 121.4737], // Shanghai
  [43.8256, 87.6168], // Urumqi
  [18.2528, 109.512], // Sanya
  [29.652, 91.1721], // Lhasa
  [45.8038, 126.535], // Harbin
  [39.4704, 75.9898], // Kashgar
  [22.5431, 114.0579], // Shenzhen
  [35.0, 105.0], // origin of the GCJ-02 polynomial
];
points.push(...places);

const rows = ['wgs_lat,wgs_lon,gcj_lat,gcj_lon,bd_lat,bd_lon'];
for (const [lat, lon] of points) {
  // gcoord takes and returns [lon, lat].
  const [gLon, gLat] = gcoord.transform([lon, lat], gcoord.WGS84, gcoord.GCJ02);
  const [bLon, bLat] = gcoord.transform([lon, lat], gcoord.WGS84, gcoord.BD09);
  // Number#toString is the shortest round-trip form, so Rust parses the exact same f64.
  rows.push([lat, lon, gLat, gLon, bLat, bLon].map(String).join(','));
}
process.stdout.write(rows.join('\n') + '\n');
