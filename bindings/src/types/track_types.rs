//! Mirrored types: patrol sessions and the day's track summary (issue 13). Hand mirrors:
//! times cross as `SystemTime`, and the model's summary holds millisecond timestamps.

use super::*;

use gridworker_core::model::track;

/// Where the worker stands.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum PatrolState {
    OffDuty,
    OnPatrol {
        session_id: String,
        since: SystemTime,
    },
    Paused {
        session_id: String,
        since: SystemTime,
    },
}

impl From<w::PatrolState> for PatrolState {
    fn from(s: w::PatrolState) -> Self {
        match s {
            w::PatrolState::OffDuty => PatrolState::OffDuty,
            w::PatrolState::OnPatrol { session_id, since } => PatrolState::OnPatrol {
                session_id,
                since: from_utc(since),
            },
            w::PatrolState::Paused { session_id, since } => PatrolState::Paused {
                session_id,
                since: from_utc(since),
            },
        }
    }
}

/// A track-level sign of a fake location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TrackFlagKind {
    /// A jump no walker makes, after which the track went on from there.
    Teleport,
    /// Minutes of walking with far less scatter than the claimed accuracy (a joystick app).
    TooRegular,
    /// Fixes the platform marked as mock.
    MockLocation,
    /// Fix times went backwards.
    ClockJump,
}

/// A sign and the time it covers.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TrackFlag {
    pub kind: TrackFlagKind,
    pub from: SystemTime,
    pub to: SystemTime,
}

/// A stretch with no usable fix while on patrol.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TrackGap {
    pub from: SystemTime,
    pub to: SystemTime,
}

/// A point the track passed within its radius (evidence, not a check-in).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PointPassed {
    pub point_id: String,
    pub at: SystemTime,
}

/// The share of a grid within 25 m of the track.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct GridCoverage {
    pub grid_code: String,
    /// 0 to 1.
    pub coverage: f64,
}

/// The day on patrol in figures.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TrackSummary {
    pub distance_m: f64,
    pub patrol_s: f64,
    pub moving_s: f64,
    pub in_grid_s: f64,
    pub points_passed: Vec<PointPassed>,
    pub coverage: Vec<GridCoverage>,
    pub gaps: Vec<TrackGap>,
    pub flags: Vec<TrackFlag>,
}

fn at_ms(ms: i64) -> SystemTime {
    from_utc(DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default())
}

impl From<track::DaySummary> for TrackSummary {
    fn from(s: track::DaySummary) -> Self {
        TrackSummary {
            distance_m: s.distance_m,
            patrol_s: s.patrol_s,
            moving_s: s.moving_s,
            in_grid_s: s.in_grid_s,
            points_passed: s
                .points_passed
                .into_iter()
                .map(|p| PointPassed {
                    point_id: p.point_id,
                    at: at_ms(p.at_ms),
                })
                .collect(),
            coverage: s
                .coverage
                .into_iter()
                .map(|c| GridCoverage {
                    grid_code: c.code,
                    coverage: c.coverage,
                })
                .collect(),
            gaps: s
                .gaps
                .into_iter()
                .map(|(a, b)| TrackGap {
                    from: at_ms(a),
                    to: at_ms(b),
                })
                .collect(),
            flags: s
                .flags
                .into_iter()
                .map(|f| TrackFlag {
                    kind: match f.kind {
                        track::TrackFlagKind::Teleport => TrackFlagKind::Teleport,
                        track::TrackFlagKind::TooRegular => TrackFlagKind::TooRegular,
                        track::TrackFlagKind::MockLocation => TrackFlagKind::MockLocation,
                        track::TrackFlagKind::ClockJump => TrackFlagKind::ClockJump,
                    },
                    from: at_ms(f.from_ms),
                    to: at_ms(f.to_ms),
                })
                .collect(),
        }
    }
}

/// A point of the day's simplified track line (WGS-84).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TrackPoint {
    pub at: SystemTime,
    pub lat: f64,
    pub lon: f64,
}

/// The day's track for a map: its summary and the simplified line (5 m tolerance), one
/// piece per stretch between gaps, so nothing is drawn across a gap.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TrackDay {
    pub summary: TrackSummary,
    pub line: Vec<Vec<TrackPoint>>,
}

impl From<w::TrackDay> for TrackDay {
    fn from(d: w::TrackDay) -> Self {
        TrackDay {
            summary: d.summary.into(),
            line: d
                .line
                .into_iter()
                .map(|piece| {
                    piece
                        .into_iter()
                        .map(|(t, p)| TrackPoint {
                            at: at_ms(t),
                            lat: p.lat,
                            lon: p.lon,
                        })
                        .collect()
                })
                .collect(),
        }
    }
}
