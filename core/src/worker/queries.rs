//! Read-only questions the screens ask: nearby points, the grid under a position, patrol
//! progress and the record listings.

use super::*;
use crate::store::records::PageQuery;

impl GridWorker {
    /// The `limit` inspection points nearest to a position in any coordinate system.
    pub fn nearby_points(&self, position: Position, limit: u32) -> Result<Vec<NearbyPoint>> {
        check_position("position", position)?;
        let limit = limit.clamp(1, 500) as usize;
        Ok(self
            .index()
            .nearest_points(position, limit)
            .into_iter()
            .map(|(p, d)| NearbyPoint {
                point: p.clone(),
                distance_m: d,
            })
            .collect())
    }

    /// Every grid the device knows (the district's reference data), by code.
    pub fn grids(&self) -> Result<Vec<Grid>> {
        self.store.read(reference::all_grids)
    }

    /// The codes of the grids this worker patrols.
    pub fn worker_grids(&self) -> Result<Vec<String>> {
        self.store.read(reference::worker_grids)
    }

    /// The inspection points of the given grids, by grid then id.
    pub fn points_in_grids(&self, grids: &[String]) -> Result<Vec<InspectionPoint>> {
        self.store.read(|c| reference::points_in_grids(c, grids))
    }

    /// The grid containing a WGS-84 position.
    pub fn grid_at(&self, position: Position) -> Result<Option<Grid>> {
        check_position("position", position)?;
        Ok(self.index().grid_at(position).cloned())
    }

    pub(super) fn progress_between(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<PatrolProgress> {
        let mut p = self.store.read(|c| {
            let grids = reference::worker_grids(c)?;
            let due: Vec<String> = reference::points_in_grids(c, &grids)?
                .into_iter()
                .map(|p| p.id)
                .collect();
            let outcomes = records::checkin_outcomes(c, &from.to_string(), &to.to_string())?;
            Ok(progress::compute(from, to, &due, &outcomes))
        })?;
        let track = self.track_summary_between(from, to)?;
        p.track_distance_m = track.distance_m;
        p.patrol_s = track.patrol_s;
        p.grid_coverage = if track.coverage.is_empty() {
            0.0
        } else {
            track.coverage.iter().map(|g| g.coverage).sum::<f64>() / track.coverage.len() as f64
        };
        Ok(p)
    }

    /// Patrol progress for one local day (`None`: today).
    pub fn progress_day(&self, day: Option<NaiveDate>) -> Result<PatrolProgress> {
        let day = day.unwrap_or_else(|| self.local_day(self.clock().now()));
        self.progress_between(day, day)
    }

    /// Patrol progress for an ISO week (`None`: this week).
    pub fn progress_week(&self, year_week: Option<(i32, u32)>) -> Result<PatrolProgress> {
        let (y, w) =
            year_week.unwrap_or_else(|| progress::week_of(self.local_day(self.clock().now())));
        let (from, to) = progress::iso_week_days(y, w)
            .ok_or_else(|| Error::invalid("week", "no such ISO week"))?;
        self.progress_between(from, to)
    }

    pub fn list_checkins(&self, offset: u32, limit: u32) -> Result<Vec<Listed<CheckIn>>> {
        let (w, d) = (&self.config.worker_id, &self.config.device_id);
        let q = PageQuery::offset(offset, limit.min(MAX_PAGE));
        self.store.read(|c| records::list_checkins(c, &q, w, d))
    }

    pub fn list_visits(&self, offset: u32, limit: u32) -> Result<Vec<Listed<Visit>>> {
        let (w, d) = (&self.config.worker_id, &self.config.device_id);
        let q = PageQuery::offset(offset, limit.min(MAX_PAGE));
        self.store.read(|c| records::list_visits(c, &q, w, d))
    }

    /// The worker's reports (drafts included) with sync state and lifecycle status.
    pub fn list_reports(&self, offset: u32, limit: u32) -> Result<Vec<Listed<PhotoReport>>> {
        let q = PageQuery::offset(offset, limit.min(MAX_PAGE));
        self.store.read(|c| records::list_reports(c, &q))
    }

    /// Check-ins newest first, a page at a time by keyset: pass the previous page's `next`
    /// (`None` for the first page). Stable while records are added: a new check-in never
    /// shifts a later page, it shows at the top of a fresh first page.
    pub fn checkins_page(&self, after: Option<&str>, limit: u32) -> Result<Page<Listed<CheckIn>>> {
        let (w, d) = (&self.config.worker_id, &self.config.device_id);
        let q = keyset(after, limit)?;
        let items = self.store.read(|c| records::list_checkins(c, &q, w, d))?;
        Ok(Page::of(items, q.limit, |l| {
            (
                records::time_key(&l.record.recorded_at),
                l.record.id.clone(),
            )
        }))
    }

    /// Visits newest first, by keyset (see [`Self::checkins_page`]).
    pub fn visits_page(&self, after: Option<&str>, limit: u32) -> Result<Page<Listed<Visit>>> {
        let (w, d) = (&self.config.worker_id, &self.config.device_id);
        let q = keyset(after, limit)?;
        let items = self.store.read(|c| records::list_visits(c, &q, w, d))?;
        Ok(Page::of(items, q.limit, |l| {
            (
                records::time_key(&l.record.recorded_at),
                l.record.id.clone(),
            )
        }))
    }

    /// The worker's reports (drafts included) newest first, by keyset (see
    /// [`Self::checkins_page`]).
    pub fn reports_page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Listed<PhotoReport>>> {
        let q = keyset(after, limit)?;
        let items = self.store.read(|c| records::list_reports(c, &q))?;
        Ok(Page::of(items, q.limit, |l| {
            (records::time_key(&l.record.created_at), l.record.id.clone())
        }))
    }

    /// The inspection points of one grid by id, a page at a time: `after` is the previous
    /// page's `next` (the last id).
    pub fn points_page(
        &self,
        grid_code: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<InspectionPoint>> {
        validate::id("grid_code", grid_code)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let items = self
            .store
            .read(|c| reference::points_page(c, grid_code, after, limit))?;
        Ok(Page::of(items, limit, |p| (String::new(), p.id.clone())))
    }

    /// The households of one grid by id, a page at a time (see [`Self::points_page`]).
    pub fn households_page(
        &self,
        grid_code: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<Household>> {
        validate::id("grid_code", grid_code)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let items = self
            .store
            .read(|c| reference::households_page(c, grid_code, after, limit))?;
        Ok(Page::of(items, limit, |h| (String::new(), h.id.clone())))
    }
}

/// Most items in one page.
pub const MAX_PAGE: u32 = 1000;

/// One page of a listing and where the next starts (`None`: this was the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// `key` gives the last item's (time key, id); a cursor is `time|id`, or the id alone
    /// for listings by id.
    pub(super) fn of(items: Vec<T>, limit: u32, key: impl Fn(&T) -> (String, String)) -> Self {
        let full = items.len() >= limit as usize;
        let next = if full {
            items.last().map(|last| {
                let (t, id) = key(last);
                if t.is_empty() {
                    id
                } else {
                    format!("{t}|{id}")
                }
            })
        } else {
            None
        };
        Page { items, next }
    }
}

/// A newest-first keyset query from a cursor made by [`Page::of`].
fn keyset(after: Option<&str>, limit: u32) -> Result<PageQuery> {
    let before = match after {
        None => None,
        Some(c) => {
            let (t, id) = c
                .split_once('|')
                .filter(|(t, id)| !t.is_empty() && !id.is_empty() && t.len() <= 64)
                .ok_or_else(|| Error::invalid("after", "is not a cursor this listing gave"))?;
            validate::id("after", id)?;
            Some((t.to_string(), id.to_string()))
        }
    };
    Ok(PageQuery {
        offset: 0,
        limit: limit.clamp(1, MAX_PAGE),
        before,
    })
}
