//! The schema, as numbered migrations keyed on `PRAGMA user_version`.
//!
//! Rules: never edit a released migration, only append; every table the sync engine reads in
//! bulk has the index it needs, so nothing at start-up or per record grows with the data.

use rusqlite_migration::{M, Migrations};

const V1: &str = r#"
-- Reference data (ground truth), WGS-84, replaced by pulls.
CREATE TABLE grids (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    boundary TEXT NOT NULL            -- JSON [[lat, lon], ...], WGS-84
) STRICT;
CREATE TABLE points (
    id TEXT PRIMARY KEY,
    grid_code TEXT NOT NULL,
    name TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    radius_m REAL NOT NULL
) STRICT;
CREATE INDEX points_grid ON points(grid_code);
CREATE TABLE households (
    id TEXT PRIMARY KEY,
    grid_code TEXT NOT NULL,
    building TEXT NOT NULL,
    address TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    tags TEXT NOT NULL                -- JSON array of strings
) STRICT;
CREATE INDEX households_grid ON households(grid_code);
CREATE TABLE worker_grids (code TEXT PRIMARY KEY) STRICT;

-- The device's log: one row per mutation to send, chained (see chain.rs).
-- seq is AUTOINCREMENT so a sequence number is never reused, even after deletes.
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    mutation_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    device_time TEXT NOT NULL,
    monotonic_ms INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'synced', 'rejected')),
    reject_code TEXT,
    reject_reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    synced_at TEXT
) STRICT;
CREATE INDEX outbox_state ON outbox(state, seq);
CREATE INDEX outbox_record ON outbox(record_id);

CREATE TABLE checkins (
    id TEXT PRIMARY KEY,
    point_id TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    fix TEXT NOT NULL,                -- the platform's fix verbatim (JSON)
    distance_m REAL NOT NULL,
    outcome TEXT NOT NULL,
    flags TEXT NOT NULL,              -- JSON array of flag codes
    recorded_at TEXT NOT NULL,
    local_day TEXT NOT NULL           -- YYYY-MM-DD in the district's time zone
) STRICT;
CREATE INDEX checkins_point_time ON checkins(point_id, recorded_at);
CREATE INDEX checkins_day ON checkins(local_day);

CREATE TABLE visits (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    note TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    fix TEXT NOT NULL,
    distance_m REAL NOT NULL,
    flags TEXT NOT NULL,
    recorded_at TEXT NOT NULL
) STRICT;
CREATE INDEX visits_time ON visits(recorded_at);

-- Photos held by the photo store. rel_path is relative to the data directory (iOS moves the
-- app container between launches) and NULL once the file was collected after sync.
CREATE TABLE photos (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    captured_at TEXT,
    rel_path TEXT,
    uploaded INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Reports: the worker's own (drafts included) and others' pulled for the duplicate hint.
CREATE TABLE reports (
    id TEXT PRIMARY KEY,
    own INTEGER NOT NULL,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    lat REAL,
    lon REAL,
    fix TEXT,
    flags TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    department TEXT,
    progress_note TEXT,
    evaluation TEXT,
    attach_to TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX reports_category ON reports(category, status);
CREATE TABLE report_photos (
    report_id TEXT NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    sha256 TEXT NOT NULL REFERENCES photos(sha256),
    PRIMARY KEY (report_id, ord)
) STRICT;
CREATE INDEX report_photos_sha ON report_photos(sha256);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    lat REAL,
    lon REAL,
    address TEXT,
    due_at TEXT,
    linked_report_id TEXT,
    status TEXT NOT NULL,
    dispatched_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE TABLE task_completions (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks(id),
    note TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    fix TEXT NOT NULL,
    flags TEXT NOT NULL,
    completed_at TEXT NOT NULL
) STRICT;
CREATE TABLE task_completion_photos (
    completion_id TEXT NOT NULL REFERENCES task_completions(id),
    ord INTEGER NOT NULL,
    sha256 TEXT NOT NULL REFERENCES photos(sha256),
    PRIMARY KEY (completion_id, ord)
) STRICT;
CREATE INDEX task_completion_photos_sha ON task_completion_photos(sha256);

-- Small device state: last fix (for speed / clock checks), sync cursor, clock offset, policy.
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
"#;

/// All migrations, oldest first. `user_version` equals the number applied.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(V1)])
}

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = 1;
