//! The patrol records that travel (issue 13, protocol 3): the session's events and the
//! blocks of track fixes. A block's fixes travel in the compact encoding of
//! [`crate::track::block`], base64 in the JSON payload: about 10 bytes per fix on the wire
//! instead of about 120 as JSON objects.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::invalid::Invalid;
use crate::track::{TrackFix, block};

/// What a patrol event does to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatrolEventKind {
    Start,
    Pause,
    Resume,
    Stop,
}

impl PatrolEventKind {
    pub const fn code(self) -> &'static str {
        match self {
            PatrolEventKind::Start => "start",
            PatrolEventKind::Pause => "pause",
            PatrolEventKind::Resume => "resume",
            PatrolEventKind::Stop => "stop",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Start, Self::Pause, Self::Resume, Self::Stop]
            .into_iter()
            .find(|k| k.code() == s)
    }
}

/// The worker started, paused, resumed or stopped a patrol session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatrolEventPayload {
    pub id: String,
    pub worker_id: String,
    pub device_id: String,
    pub session_id: String,
    pub event: PatrolEventKind,
    pub at: DateTime<Utc>,
}

/// A block of a session's track fixes, in time order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackBlockPayload {
    pub id: String,
    pub worker_id: String,
    pub device_id: String,
    pub session_id: String,
    /// The first and last fix's time: must be those of the decoded block.
    pub first_fix_at: DateTime<Utc>,
    pub last_fix_at: DateTime<Utc>,
    /// How many fixes the block holds: must be the decoded count.
    pub fixes: u32,
    /// [`crate::track::block`] bytes, standard base64 with padding.
    pub data: String,
}

impl TrackBlockPayload {
    /// The payload of an encoded block; its time range and count are read from the block.
    pub fn new(
        id: String,
        worker_id: String,
        device_id: String,
        session_id: String,
        data: &[u8],
    ) -> Result<Self, Invalid> {
        let fixes = block::decode(data)?;
        let (first, last) = match (fixes.first(), fixes.last()) {
            (Some(f), Some(l)) => (f.t_ms, l.t_ms),
            _ => return Err(Invalid::new("data", "a block holds at least one fix")),
        };
        Ok(TrackBlockPayload {
            id,
            worker_id,
            device_id,
            session_id,
            first_fix_at: time_of(first)?,
            last_fix_at: time_of(last)?,
            fixes: u32::try_from(fixes.len()).unwrap_or(u32::MAX),
            data: STANDARD.encode(data),
        })
    }

    /// The block's fixes; refuses data that is not a block, or that disagrees with the
    /// payload's count and time range.
    pub fn decode(&self) -> Result<Vec<TrackFix>, Invalid> {
        let bytes = STANDARD
            .decode(&self.data)
            .map_err(|_| Invalid::new("data", "is not base64"))?;
        let fixes = block::decode(&bytes).map_err(|e| Invalid::new("data", e.reason))?;
        if fixes.len() != self.fixes as usize {
            return Err(Invalid::new("fixes", "is not the block's count of fixes"));
        }
        let first = fixes.first().map(|f| f.t_ms);
        let last = fixes.last().map(|f| f.t_ms);
        if first != Some(self.first_fix_at.timestamp_millis())
            || last != Some(self.last_fix_at.timestamp_millis())
        {
            return Err(Invalid::new(
                "first_fix_at",
                "first_fix_at and last_fix_at are not the block's first and last fix",
            ));
        }
        Ok(fixes)
    }
}

fn time_of(ms: i64) -> Result<DateTime<Utc>, Invalid> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| Invalid::new("data", "a time out of range"))
}
