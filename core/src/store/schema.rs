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

/// Quarantine (defect 1 of the reliability issue): an outbox entry whose photo cannot be sent
/// is set aside with a typed, persisted reason instead of blocking the run, and an entry the
/// worker repaired or discarded is kept as `withdrawn` (its link stays in the local chain; it
/// is never sent). SQLite cannot alter a CHECK constraint, so the table is rebuilt; the
/// AUTOINCREMENT high-water mark moves with it so a sequence number is still never reused.
const V2: &str = r#"
CREATE TABLE outbox_v2 (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    mutation_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    device_time TEXT NOT NULL,
    monotonic_ms INTEGER NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'synced', 'rejected', 'quarantined', 'withdrawn')),
    reject_code TEXT,
    reject_reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    synced_at TEXT,
    -- Set while state = 'quarantined': why (photo_missing | photo_altered | refused), the
    -- photo concerned, and for 'refused' the server's HTTP status and error code.
    quarantine_reason TEXT,
    quarantine_photo TEXT,
    quarantine_status INTEGER,
    quarantine_code TEXT,
    quarantined_at TEXT
) STRICT;
INSERT INTO outbox_v2(seq, mutation_id, kind, record_id, payload, device_time, monotonic_ms,
                      prev_hash, hash, state, reject_code, reject_reason, attempts, synced_at)
    SELECT seq, mutation_id, kind, record_id, payload, device_time, monotonic_ms,
           prev_hash, hash, state, reject_code, reject_reason, attempts, synced_at FROM outbox;
DELETE FROM sqlite_sequence WHERE name = 'outbox_v2';
UPDATE sqlite_sequence SET name = 'outbox_v2' WHERE name = 'outbox';
DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;
CREATE INDEX outbox_state ON outbox(state, seq);
CREATE INDEX outbox_record ON outbox(record_id);
CREATE INDEX reports_attach_to ON reports(attach_to) WHERE attach_to IS NOT NULL;
"#;

/// The photo pipeline (issue 14): what a photo's EXIF said before it was stripped (capture
/// time, WGS-84 position) and the original file's SHA-256 and size when the stored bytes
/// differ from it. Photos stored before it have none of these (NULL).
const V3: &str = r#"
ALTER TABLE photos ADD COLUMN exif_time TEXT;
ALTER TABLE photos ADD COLUMN exif_lat REAL;
ALTER TABLE photos ADD COLUMN exif_lon REAL;
ALTER TABLE photos ADD COLUMN original_sha256 TEXT;
ALTER TABLE photos ADD COLUMN original_size INTEGER;
"#;

/// Patrol sessions and track fixes (issue 13). A session is the span between a `start` and
/// its `stop`; `pause`/`resume` inside it. Fixes are stored as compact blocks, one per batch
/// the app hands over (`gridworker_model::track::block`), indexed by their time range. Their
/// sync came with V5.
const V4: &str = r#"
CREATE TABLE patrol_events (
    seq INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('start', 'pause', 'resume', 'stop')),
    at TEXT NOT NULL
) STRICT;
CREATE TABLE track_blocks (
    id INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL,
    t_from INTEGER NOT NULL,
    t_to INTEGER NOT NULL,
    fixes INTEGER NOT NULL,
    data BLOB NOT NULL
) STRICT;
CREATE INDEX track_blocks_time ON track_blocks(t_from);
"#;

/// Patrol events and track blocks become records that sync (protocol 3). An event enters the
/// outbox when it happens; a block when it is sealed (no batch joins it any more): its outbox
/// entry holds no payload of its own, the push derives it from the block (`store::tracks`),
/// so a fix is not stored twice. Rows written by the previous release have no outbox entry
/// yet (`outbox_seq` NULL) and are enqueued on the next seal like any open row.
const V5: &str = r#"
ALTER TABLE patrol_events ADD COLUMN id TEXT;
ALTER TABLE patrol_events ADD COLUMN outbox_seq INTEGER;
ALTER TABLE track_blocks ADD COLUMN record_id TEXT;
ALTER TABLE track_blocks ADD COLUMN worker_id TEXT;
ALTER TABLE track_blocks ADD COLUMN device_id TEXT;
ALTER TABLE track_blocks ADD COLUMN outbox_seq INTEGER;
CREATE UNIQUE INDEX track_blocks_outbox ON track_blocks(outbox_seq) WHERE outbox_seq IS NOT NULL;
"#;

/// Residents and household profiles (protocol 4): the server's copy with this phone's
/// pending edits applied on top, a trigram full-text index per household (address,
/// building, residents' names, phones and ID numbers: Chinese has no spaces to split words
/// on), conflicts and the district's key groups.
const V6: &str = r#"
ALTER TABLE households ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';
ALTER TABLE households ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX households_building ON households(building, id);
CREATE TABLE residents (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    data TEXT NOT NULL,               -- the Resident as JSON, local edits applied
    version INTEGER NOT NULL          -- the server's version the row was pulled at
) STRICT;
CREATE INDEX residents_household ON residents(household_id);
-- rowid = the household's rowid (households are updated in place, never replaced). Queried
-- with LIKE only (the trigram index serves any pattern of 3+ characters), so no positions
-- are kept (detail=none: a third less work to build than full detail, measured).
CREATE VIRTUAL TABLE household_search USING fts5(text, tokenize = 'trigram', detail = 'none');
CREATE TABLE conflicts (
    id TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    status TEXT NOT NULL,             -- open | resolving (resolved here, not yet synced) | resolved
    body TEXT NOT NULL                -- the Conflict as the server sent it (JSON)
) STRICT;
CREATE INDEX conflicts_status ON conflicts(status, id);
CREATE TABLE key_groups (code TEXT PRIMARY KEY, name TEXT NOT NULL, ord INTEGER NOT NULL) STRICT;
-- Households whose search document waits to be rebuilt: a pull marks them page by page and
-- rebuilds them once, with its last page (an initial pull brings a household, then its
-- residents pages later).
CREATE TABLE search_dirty (household_id TEXT PRIMARY KEY) WITHOUT ROWID, STRICT;
"#;

/// All migrations, oldest first. `user_version` equals the number applied.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(V1),
        M::up(V2),
        M::up(V3),
        M::up(V4),
        M::up(V5),
        M::up(V6),
    ])
}

/// The schema version this build writes.
pub const CURRENT_VERSION: i64 = 6;

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn v2_keeps_every_entry_and_never_reuses_a_sequence_number() {
        let mut conn = Connection::open_in_memory().unwrap();
        Migrations::new(vec![M::up(V1)])
            .to_latest(&mut conn)
            .unwrap();
        for i in 1..=4 {
            conn.execute(
                "INSERT INTO outbox(mutation_id, kind, record_id, payload, device_time, monotonic_ms, prev_hash, hash, state)
                 VALUES (?1, 'checkin', ?1, '{}', '2026-01-01T00:00:00Z', 0, 'p', 'h', ?2)",
                rusqlite::params![format!("m{i}"), if i == 1 { "synced" } else { "pending" }],
            )
            .unwrap();
        }
        // The newest entry was deleted: its seq (4) must still never come back.
        conn.execute("DELETE FROM outbox WHERE seq = 4", [])
            .unwrap();
        migrations().to_latest(&mut conn).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, CURRENT_VERSION);
        let states: Vec<(i64, String)> = conn
            .prepare("SELECT seq, state FROM outbox ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            states,
            vec![
                (1, "synced".to_string()),
                (2, "pending".to_string()),
                (3, "pending".to_string())
            ]
        );
        let high: i64 = conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(high, 4);
        conn.execute(
            "UPDATE outbox SET state = 'quarantined', quarantine_reason = 'photo_missing' WHERE seq = 2",
            [],
        )
        .unwrap();
    }
}
