//! Read-only questions the screens ask: nearby points, the grid under a position, patrol
//! progress and the record listings.

use super::*;

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
        self.store
            .read(|c| records::list_checkins(c, offset, limit.min(1000), w, d))
    }

    pub fn list_visits(&self, offset: u32, limit: u32) -> Result<Vec<Listed<Visit>>> {
        let (w, d) = (&self.config.worker_id, &self.config.device_id);
        self.store
            .read(|c| records::list_visits(c, offset, limit.min(1000), w, d))
    }

    /// The worker's reports (drafts included) with sync state and lifecycle status.
    pub fn list_reports(&self, offset: u32, limit: u32) -> Result<Vec<Listed<PhotoReport>>> {
        self.store
            .read(|c| records::list_reports(c, offset, limit.min(1000)))
    }
}
