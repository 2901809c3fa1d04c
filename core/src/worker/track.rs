//! Patrol sessions and the track (巡查轨迹, issue 13): start, pause, resume, stop; fixes in
//! batches from the platform's location stream; the day's summary.
//!
//! A batch is one FFI call and one transaction, stored as one compact block
//! (`gridworker_model::track::block`) or joined to the session's open block. Fixes outside a
//! session, or while it is paused, are refused. Events enter the outbox as they happen;
//! a block when it is sealed: when the next block starts, when the session pauses or stops,
//! and when a sync starts ([`GridWorker::seal_track`]), so the server gets the track up to
//! the sync and a block never changes after its entry is made. The day summary is computed
//! here from what is stored.

use super::*;
use crate::store::tracks;
use gridworker_model::track::{self, DaySummary, TrackFix, block};

/// Where the worker stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PatrolState {
    OffDuty,
    OnPatrol {
        session_id: String,
        since: DateTime<Utc>,
    },
    Paused {
        session_id: String,
        since: DateTime<Utc>,
    },
}

impl PatrolState {
    fn code(&self) -> &'static str {
        match self {
            PatrolState::OffDuty => "off_duty",
            PatrolState::OnPatrol { .. } => "on_patrol",
            PatrolState::Paused { .. } => "paused",
        }
    }
}

/// Longest time a single batch may span (a batch is a few seconds of callbacks): what one
/// block may span.
const MAX_BATCH_SPAN_MS: i64 = block::MAX_SPAN_MS;
/// A stored block grows by joined batches up to this many fixes (10 minutes at 1 Hz).
const JOIN_UP_TO: usize = 600;
const JOIN_SPAN_MS: i64 = 3600 * 1000;

/// A day's patrol: its figures and the simplified line to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackDay {
    pub summary: DaySummary,
    /// (time ms, WGS-84 position), one piece per stretch between gaps.
    pub line: Vec<Vec<(i64, gridworker_model::geo::Position)>>,
}

impl GridWorker {
    /// UTC ms of the district's local midnight starting `day`.
    fn day_start_ms(&self, day: NaiveDate) -> i64 {
        self.zone.day_start(day).timestamp_millis()
    }

    /// The patrol state, from the last event.
    pub fn patrol_state(&self) -> Result<PatrolState> {
        self.store.read(state_of)
    }

    /// Starts a patrol session (the worker goes on duty).
    pub fn start_patrol(&self) -> Result<PatrolState> {
        self.patrol_event("start", |s| matches!(s, PatrolState::OffDuty))
    }

    /// Pauses the session (a break): fixes are refused until it resumes.
    pub fn pause_patrol(&self) -> Result<PatrolState> {
        self.patrol_event("pause", |s| matches!(s, PatrolState::OnPatrol { .. }))
    }

    pub fn resume_patrol(&self) -> Result<PatrolState> {
        self.patrol_event("resume", |s| matches!(s, PatrolState::Paused { .. }))
    }

    /// Ends the session (off duty).
    pub fn stop_patrol(&self) -> Result<PatrolState> {
        self.patrol_event("stop", |s| !matches!(s, PatrolState::OffDuty))
    }

    fn patrol_event(
        &self,
        kind: &str,
        allowed: impl Fn(&PatrolState) -> bool,
    ) -> Result<PatrolState> {
        let now = self.clock().now();
        self.store.write(|tx| {
            let current = state_of(tx)?;
            if !allowed(&current) {
                return Err(Error::InvalidState {
                    what: "patrol",
                    state: current.code().into(),
                    reason: format!("cannot {kind} from here"),
                });
            }
            let session = match &current {
                PatrolState::OffDuty => new_id(),
                PatrolState::OnPatrol { session_id, .. }
                | PatrolState::Paused { session_id, .. } => session_id.clone(),
            };
            tracks::add_event(tx, &session, kind, now)?;
            tracks::seal(tx, &self.owner(), now, None)?;
            state_of(tx)
        })
    }

    fn owner(&self) -> tracks::Owner<'_> {
        tracks::Owner {
            worker_id: &self.config.worker_id,
            device_id: &self.config.device_id,
        }
    }

    /// Puts the track recorded so far into the outbox (the sync does this before it pushes).
    /// Returns how many entries were made.
    pub fn seal_track(&self) -> Result<usize> {
        let now = self.clock().now();
        self.store
            .write(|tx| tracks::seal(tx, &self.owner(), now, None))
    }

    /// Records a batch of fixes from the location stream (the app buffers its callbacks and
    /// hands them over every few seconds). One transaction; a bad fix refuses the whole batch
    /// with the fix's index in the error, and nothing is written. Only on patrol. Returns
    /// how many fixes were stored: a fix handed over again (its time already held by the
    /// newest block) is not.
    pub fn add_track_fixes(&self, fixes: &[LocationFix]) -> Result<usize> {
        if fixes.is_empty() {
            return Ok(0);
        }
        if fixes.len() > block::MAX_FIXES {
            return Err(Error::invalid(
                "fixes",
                format!("a batch holds at most {} fixes", block::MAX_FIXES),
            ));
        }
        let mut track = Vec::with_capacity(fixes.len());
        for (i, f) in fixes.iter().enumerate() {
            let field = format!("fixes[{i}]");
            f.validate(&field)?;
            validate::time(&format!("{field}.fix_time"), &f.fix_time)?;
            let t_ms = f.fix_time.timestamp_millis();
            if track.last().is_some_and(|p: &TrackFix| t_ms <= p.t_ms) {
                return Err(Error::invalid(
                    format!("{field}.fix_time"),
                    "is not after the fix before it in the batch",
                ));
            }
            track.push(TrackFix {
                t_ms,
                position: f.position(),
                accuracy_m: f.accuracy_m,
                mock: f.is_mock,
            });
        }
        if track[track.len() - 1].t_ms - track[0].t_ms > MAX_BATCH_SPAN_MS {
            return Err(Error::invalid("fixes", "a batch spans more than a day"));
        }
        let now = self.clock().now();
        self.store.write(|tx| match state_of(tx)? {
            PatrolState::OnPatrol { session_id, .. } => {
                let mut track = track.clone();
                // Platforms hand the last location over again when updates are requested
                // anew: a fix the newest block holds is not stored (and sent) twice.
                if let Some(b) = tracks::open_block(tx, &session_id)?
                    && track[0].t_ms <= b.t_to
                    && let Ok(held) = block::decode(&b.data)
                {
                    let times: std::collections::HashSet<i64> =
                        held.iter().map(|f| f.t_ms).collect();
                    track.retain(|f| !times.contains(&f.t_ms));
                }
                let (Some(first), Some(last)) = (track.first(), track.last()) else {
                    return Ok(0);
                };
                let (first, last) = (first.t_ms, last.t_ms);
                // Batches of a few seconds each would pay a block header and a row per few
                // fixes: a batch that follows the session's newest block joins it while the
                // block holds under JOIN_UP_TO fixes and spans under an hour (so a day's
                // blocks are found by their start, `tracks::blocks_between`).
                if let Some(b) = tracks::open_block(tx, &session_id)?
                    && first > b.t_to
                    && last - b.t_from <= JOIN_SPAN_MS
                    && b.fixes + track.len() <= JOIN_UP_TO
                    && let Ok(mut joined) = block::decode(&b.data)
                {
                    joined.extend_from_slice(&track);
                    tracks::replace_block(tx, b.id, last, joined.len(), &block::encode(&joined)?)?;
                    return Ok(track.len());
                }
                let data = block::encode(&track)?;
                let id = tracks::add_block(tx, &session_id, first, last, track.len(), &data)?;
                // The blocks before this one are complete: they go to the outbox now.
                tracks::seal(tx, &self.owner(), now, Some(id))?;
                Ok(track.len())
            }
            other => Err(Error::InvalidState {
                what: "patrol",
                state: other.code().into(),
                reason: "fixes are recorded only on patrol".into(),
            }),
        })
    }

    /// The day's patrol in figures (`None`: today, in the district's local time): distance,
    /// patrol time, time inside the worker's grids, points passed, coverage, gaps and the
    /// track's spoof signs (`gridworker_model::track`).
    pub fn track_summary(&self, day: Option<NaiveDate>) -> Result<DaySummary> {
        Ok(self.track_day(day)?.summary)
    }

    /// The day's summary and its simplified line (`gridworker_model::track::line`), for a
    /// map: one piece per stretch between gaps.
    pub fn track_day(&self, day: Option<NaiveDate>) -> Result<TrackDay> {
        let day = day.unwrap_or_else(|| self.local_day(self.clock().now()));
        self.track_between(day, day, true)
    }

    /// The patrol of the local days `from` to `to` (inclusive) in figures.
    pub(super) fn track_summary_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<DaySummary> {
        Ok(self.track_between(from, to, false)?.summary)
    }

    fn track_between(&self, from: NaiveDate, to: NaiveDate, with_line: bool) -> Result<TrackDay> {
        // The day after `to` starts where it ends: a local day is not always 24 h long.
        let after = to
            .succ_opt()
            .ok_or_else(|| Error::invalid("day", "is the last day chrono knows"))?;
        let (from_ms, to_ms) = (self.day_start_ms(from), self.day_start_ms(after));
        let policy = self.policy()?;
        let (blocks, grids, points) = self.store.read(|c| {
            let codes = reference::worker_grids(c)?;
            let grids: Vec<Grid> = reference::all_grids(c)?
                .into_iter()
                .filter(|g| codes.contains(&g.code))
                .collect();
            let points = reference::points_in_grids(c, &codes)?;
            Ok((tracks::blocks_between(c, from_ms, to_ms)?, grids, points))
        })?;
        let mut fixes = Vec::new();
        for b in &blocks {
            // A block damaged on disk leaves its fixes out of the figures, not the day.
            let Ok(decoded) = block::decode(b) else {
                log::warn!("track: a stored block no longer decodes; left out of the day");
                continue;
            };
            fixes.extend(
                decoded
                    .into_iter()
                    .filter(|f| (from_ms..to_ms).contains(&f.t_ms)),
            );
        }
        // As the server reads them (server/src/tracks.rs): blocks out of order (a late fix
        // starts a block of its own) and a fix stored twice are not clock jumps.
        fixes.sort_by_key(|f| f.t_ms);
        fixes.dedup_by_key(|f| f.t_ms);
        let m = track::measure(&fixes, &track::MeasureParams::default());
        let flags = track::signals(&fixes, &m);
        let line = if with_line {
            track::line::simplified(&m, track::line::TOLERANCE_M)
        } else {
            Vec::new()
        };
        let summary = track::summarise(&m, flags, &grids, &points, policy.checkin_radius_m);
        Ok(TrackDay { summary, line })
    }
}

fn state_of(c: &rusqlite::Connection) -> Result<PatrolState> {
    Ok(match tracks::last_event(c)? {
        None => PatrolState::OffDuty,
        Some((session_id, kind, since)) => match kind.as_str() {
            "start" | "resume" => PatrolState::OnPatrol { session_id, since },
            "pause" => PatrolState::Paused { session_id, since },
            _ => PatrolState::OffDuty,
        },
    })
}
