//! Patrol events and track blocks (issue 13): the SQL of `worker/track.rs`.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

/// The last patrol event: (session id, kind, when).
pub fn last_event(conn: &Connection) -> Result<Option<(String, String, DateTime<Utc>)>> {
    Ok(conn
        .query_row(
            "SELECT session_id, kind, at FROM patrol_events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

pub fn add_event(conn: &Connection, session_id: &str, kind: &str, at: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "INSERT INTO patrol_events(session_id, kind, at) VALUES (?1, ?2, ?3)",
        params![session_id, kind, at],
    )?;
    Ok(())
}

/// A stored block as the ingest sees it.
pub struct BlockRow {
    pub id: i64,
    pub t_from: i64,
    pub t_to: i64,
    pub fixes: usize,
    pub data: Vec<u8>,
}

/// The session's newest block.
pub fn newest_block(conn: &Connection, session_id: &str) -> Result<Option<BlockRow>> {
    Ok(conn
        .query_row(
            "SELECT id, t_from, t_to, fixes, data FROM track_blocks WHERE session_id = ?1
             ORDER BY id DESC LIMIT 1",
            [session_id],
            |r| {
                Ok(BlockRow {
                    id: r.get(0)?,
                    t_from: r.get(1)?,
                    t_to: r.get(2)?,
                    fixes: r.get::<_, i64>(3)?.max(0) as usize,
                    data: r.get(4)?,
                })
            },
        )
        .optional()?)
}

pub fn replace_block(
    conn: &Connection,
    id: i64,
    t_to: i64,
    fixes: usize,
    data: &[u8],
) -> Result<()> {
    conn.execute(
        "UPDATE track_blocks SET t_to = ?2, fixes = ?3, data = ?4 WHERE id = ?1",
        params![id, t_to, fixes as i64, data],
    )?;
    Ok(())
}

pub fn add_block(
    conn: &Connection,
    session_id: &str,
    t_from: i64,
    t_to: i64,
    fixes: usize,
    data: &[u8],
) -> Result<()> {
    conn.execute(
        "INSERT INTO track_blocks(session_id, t_from, t_to, fixes, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![session_id, t_from, t_to, fixes as i64, data],
    )?;
    Ok(())
}

/// Blocks with a fix in [from_ms, to_ms), oldest first. A block spans at most an hour
/// (`block::MAX_FIXES` at 1 Hz), so those starting up to a day earlier are looked at.
pub fn blocks_between(conn: &Connection, from_ms: i64, to_ms: i64) -> Result<Vec<Vec<u8>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT data FROM track_blocks WHERE t_from < ?2 AND t_from >= ?1 - 86400000 AND t_to >= ?1
         ORDER BY t_from, id",
    )?;
    let rows = stmt.query_map([from_ms, to_ms], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
