//! Shared test fixtures for the core's integration tests: a tiny district, a settable clock,
//! and a snapshot of everything on disk to prove that bad input changes nothing.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
pub use gridworker_core::Clock as _;
use gridworker_core::domain::{Grid, Household, InspectionPoint, LocationFix};
use gridworker_core::geo::Position;
use gridworker_core::{Clock, Config, GridWorker};

pub use gridworker_testkit::clock::TestClock;

/// 09:00 Beijing time on a November morning.
pub fn morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
}

pub const BASE: Position = Position {
    lat: 45.2950,
    lon: 130.9700,
};

/// Offsets a position by metres north/east.
pub fn offset(p: Position, north_m: f64, east_m: f64) -> Position {
    let dlat = north_m / 111_195.0;
    let dlon = east_m / (111_195.0 * p.lat.to_radians().cos());
    Position::new(p.lat + dlat, p.lon + dlon)
}

fn square(code: &str, sw: Position, side_m: f64) -> Grid {
    let ne = offset(sw, side_m, side_m);
    Grid {
        code: code.into(),
        name: format!("网格 {code}"),
        boundary: vec![
            sw,
            Position::new(sw.lat, ne.lon),
            ne,
            Position::new(ne.lat, sw.lon),
        ],
    }
}

/// Two 1 km grids side by side (G1 west, G2 east), 3 points in each, households in each.
pub fn district() -> (Vec<Grid>, Vec<InspectionPoint>, Vec<Household>) {
    let g1 = square("G1", BASE, 1000.0);
    let g2 = square("G2", offset(BASE, 0.0, 1000.0), 1000.0);
    let mut points = Vec::new();
    let mut households = Vec::new();
    for (gi, g) in ["G1", "G2"].iter().enumerate() {
        for i in 0..3 {
            points.push(InspectionPoint {
                id: format!("P{}{}", gi + 1, i + 1),
                grid_code: g.to_string(),
                name: format!("巡查点 {}-{}", gi + 1, i + 1),
                position: offset(BASE, 200.0 + 250.0 * i as f64, 500.0 + 1000.0 * gi as f64),
                radius_m: 0.0,
            });
            households.push(Household {
                id: format!("H{}{}", gi + 1, i + 1),
                grid_code: g.to_string(),
                building: format!("{}号楼", i + 1),
                address: format!("红旗社区 {}号楼 2单元 30{}", i + 1, i + 1),
                position: offset(BASE, 300.0 + 250.0 * i as f64, 300.0 + 1000.0 * gi as f64),
                tags: vec!["低保".into()],
            });
        }
    }
    (vec![g1, g2], points, households)
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub clock: Arc<TestClock>,
    pub core: GridWorker,
    pub points: Vec<InspectionPoint>,
    pub households: Vec<Household>,
}

impl Env {
    /// A fresh core with the test district and the worker assigned to G1.
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock::new(morning());
        let core = GridWorker::open(config(dir.path(), clock.clone())).unwrap();
        let (grids, points, households) = district();
        core.import_reference(&grids, &points, &households, &["G1".into()])
            .unwrap();
        Env {
            dir,
            clock,
            core,
            points,
            households,
        }
    }

    pub fn reopen(self) -> Env {
        let Env {
            dir,
            clock,
            core,
            points,
            households,
        } = self;
        drop(core);
        let core = GridWorker::open(config(dir.path(), clock.clone())).unwrap();
        Env {
            dir,
            clock,
            core,
            points,
            households,
        }
    }

    pub fn point(&self, id: &str) -> &InspectionPoint {
        self.points.iter().find(|p| p.id == id).unwrap()
    }

    pub fn household(&self, id: &str) -> &Household {
        self.households.iter().find(|h| h.id == id).unwrap()
    }

    /// A good GPS fix at `p`, taken now, with a monotonic reading consistent with the clock.
    pub fn fix_at(&self, p: Position) -> LocationFix {
        let now = self.clock.now();
        LocationFix::wgs84(p.lat, p.lon, 8.0, now, mono(now))
    }
}

/// Monotonic milliseconds consistent with an honest wall clock since `morning()`.
pub fn mono(at: DateTime<Utc>) -> i64 {
    5_000_000 + (at - morning()).num_milliseconds()
}

pub fn config(dir: &Path, clock: Arc<TestClock>) -> Config {
    let mut c = Config::new(dir, "http://127.0.0.1:9", "w-0001", "dev-A");
    c.clock = clock;
    c
}

/// Everything observable on disk: every row of every table, and every file under photos/.
pub fn snapshot(dir: &Path) -> (Vec<String>, Vec<PathBuf>) {
    let conn = rusqlite::Connection::open(dir.join("gridworker.db")).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut rows = Vec::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut q = stmt.query([]).unwrap();
        while let Some(r) = q.next().unwrap() {
            let cols: Vec<String> = (0..n)
                .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                .collect();
            rows.push(format!("{t}: {}", cols.join("|")));
        }
    }
    rows.sort();
    let mut files = Vec::new();
    walk(&dir.join("photos"), &mut files);
    files.sort();
    (rows, files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
}

/// A small real JPEG of exactly `size` bytes (`gridworker_testkit::photos::jpeg`): the
/// photo pipeline keeps it byte for byte (small, upright, no metadata), so the stored photo
/// is this file.
pub fn jpeg(dir: &Path, name: &str, size: usize, seed: u8) -> PathBuf {
    jpeg_seeded(dir, name, size, u64::from(seed))
}

/// [`jpeg`] with a wider seed: distinct seeds, distinct photos.
pub fn jpeg_seeded(dir: &Path, name: &str, size: usize, seed: u64) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, gridworker_testkit::photos::jpeg(size, seed)).unwrap();
    p
}

/// Leaf pages of a table's b-tree (its root when the table fits one page).
pub fn leaf_pages(db: &Path, table: &str) -> (usize, Vec<u32>) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let root: u32 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
            [table],
            |r| r.get(0),
        )
        .unwrap();
    let page_size: usize = conn
        .pragma_query_value(None, "page_size", |r| r.get::<_, i64>(0))
        .unwrap() as usize;
    drop(conn);
    let bytes = std::fs::read(db).unwrap();
    let page = |n: u32| &bytes[(n as usize - 1) * page_size..n as usize * page_size];
    let p = page(root);
    if p[0] == 0x0d {
        return (page_size, vec![root]);
    }
    assert_eq!(p[0], 0x05, "interior table page");
    let cells = u16::from_be_bytes([p[3], p[4]]) as usize;
    let mut leaves: Vec<u32> = (0..cells)
        .map(|i| {
            let off = u16::from_be_bytes([p[12 + 2 * i], p[13 + 2 * i]]) as usize;
            u32::from_be_bytes([p[off], p[off + 1], p[off + 2], p[off + 3]])
        })
        .collect();
    leaves.push(u32::from_be_bytes([p[8], p[9], p[10], p[11]]));
    (page_size, leaves)
}

/// Overwrites the b-tree header of page `n` with garbage (a flipped page).
pub fn flip_page(db: &Path, page_size: usize, n: u32) {
    let mut bytes = std::fs::read(db).unwrap();
    let start = (n as usize - 1) * page_size;
    for b in &mut bytes[start..start + 12] {
        *b ^= 0xA5;
    }
    std::fs::write(db, bytes).unwrap();
}

/// The path of a `failpoints` example (a child process the SIGKILL tests kill), built once
/// per test binary: `cargo test --test X` does not build examples by itself.
pub fn failpoint_example(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap();
    if !built.iter().any(|b| b == name) {
        let ok = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "gridworker-core", "--features", "failpoints"])
            .args(["--example", name])
            .status()
            .unwrap()
            .success();
        assert!(ok, "building the child example {name} failed");
        built.push(name.to_string());
    }
    // target/debug/deps/<test>-… → target/debug/examples/<name>
    let mut p = std::env::current_exe().unwrap();
    p.pop();
    p.pop();
    p.join("examples").join(name)
}
