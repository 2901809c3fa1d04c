//! Check-ins at patrol points and household visits: judging the fix, the cooldown, and
//! writing each record with its outbox entry.

use super::*;

impl GridWorker {
    /// Judges the fix and returns (WGS-84 position, fix flags); updates nothing.
    pub(super) fn judge_fix(
        &self,
        tx: &rusqlite::Connection,
        policy: &ValidationPolicy,
        fix: &LocationFix,
        now: DateTime<Utc>,
    ) -> Result<(Position, Vec<Flag>)> {
        let position = fix.position();
        let prev: Option<PreviousFix> = state::get(tx, state::keys::LAST_FIX)?;
        Ok((
            position,
            policy.fix_flags(fix, position, now, prev.as_ref()),
        ))
    }

    /// [`Self::judge_fix`], plus what the photos' own EXIF says about the record (taken far
    /// from the fix, or long before it).
    pub(super) fn judge_fix_and_photos(
        &self,
        tx: &rusqlite::Connection,
        policy: &ValidationPolicy,
        fix: &LocationFix,
        photos: &[Photo],
        now: DateTime<Utc>,
    ) -> Result<(Position, Vec<Flag>)> {
        let (position, mut flags) = self.judge_fix(tx, policy, fix, now)?;
        flags.extend(policy.photo_flags(photos, position, now));
        flags.sort();
        flags.dedup();
        Ok((position, flags))
    }

    pub(super) fn remember_fix(
        tx: &rusqlite::Connection,
        fix: &LocationFix,
        position: Position,
    ) -> Result<()> {
        state::put(tx, state::keys::LAST_FIX, &PreviousFix::of(fix, position))
    }

    /// Records a patrol check-in at `point_id`.
    ///
    /// Accepted when within the point's radius with a good fix; otherwise recorded and flagged
    /// with the reasons. A second check-in at the same point within the cooldown returns the
    /// first one (`duplicate = true`) and writes nothing.
    pub fn check_in(&self, point_id: &str, fix: &LocationFix) -> Result<CheckInResult> {
        validate::id("point_id", point_id)?;
        fix.validate("fix")?;
        let now = self.clock().now();
        let (worker, device) = (&self.config.worker_id, &self.config.device_id);
        self.store.write(|tx| {
            let policy = self.policy_in(tx)?;
            let point = reference::point(tx, point_id)?
                .ok_or_else(|| Error::not_found(NotFoundKind::InspectionPoint, point_id))?;
            let probe = records::CooldownProbe {
                point_id,
                now,
                fix,
                cooldown_s: policy.checkin_cooldown_s,
                same_clock_tolerance_s: policy.max_clock_drift_s,
            };
            if let Some(existing) = records::cooldown_suppressor(tx, &probe, worker, device)? {
                return Ok(CheckInResult {
                    check_in: existing.record,
                    duplicate: true,
                });
            }
            let (position, mut flags) = self.judge_fix(tx, &policy, fix, now)?;
            let distance_m = position.distance_m(point.position);
            let radius = if point.radius_m > 0.0 {
                point.radius_m
            } else {
                policy.checkin_radius_m
            };
            if distance_m > radius {
                flags.push(Flag::OutsideRadius);
                flags.sort();
            }
            let check_in = CheckIn {
                id: new_id(),
                worker_id: worker.clone(),
                device_id: device.clone(),
                point_id: point_id.to_string(),
                fix: fix.clone(),
                position,
                distance_m,
                outcome: if flags.is_empty() {
                    CheckInOutcome::Accepted
                } else {
                    CheckInOutcome::Flagged
                },
                flags,
                recorded_at: now,
            };
            validate::checkin(&check_in)?;
            records::insert_checkin(tx, &check_in, &self.local_day(now).to_string())?;
            outbox::append(
                tx,
                kind::CHECKIN,
                &check_in.id,
                payload_json(&check_in)?,
                now,
                fix.monotonic_ms,
            )?;
            Self::remember_fix(tx, fix, position)?;
            Ok(CheckInResult {
                check_in,
                duplicate: false,
            })
        })
    }

    /// Records a household visit. The distance to the household is kept; beyond the policy's
    /// limit, or outside the worker's grids, the visit is flagged.
    pub fn record_visit(
        &self,
        household_id: &str,
        kind: VisitKind,
        note: &str,
        fix: &LocationFix,
    ) -> Result<Visit> {
        validate::id("household_id", household_id)?;
        validate::text("note", note, MAX_NOTE_CHARS)?;
        fix.validate("fix")?;
        let now = self.clock().now();
        let index = self.index();
        self.store.write(|tx| {
            let policy = self.policy_in(tx)?;
            let household = reference::household(tx, household_id)?
                .ok_or_else(|| Error::not_found(NotFoundKind::Household, household_id))?;
            let (position, mut flags) = self.judge_fix(tx, &policy, fix, now)?;
            let distance_m = position.distance_m(household.position);
            if distance_m > policy.visit_max_distance_m {
                flags.push(Flag::FarFromHousehold);
            }
            let mine = reference::worker_grids(tx)?;
            // Without assigned grids (never synced) there is nothing to judge against.
            if !mine.is_empty()
                && !index
                    .grid_at(position)
                    .is_some_and(|g| mine.contains(&g.code))
            {
                flags.push(Flag::OutsideWorkerGrids);
            }
            flags.sort();
            let visit = Visit {
                id: new_id(),
                worker_id: self.config.worker_id.clone(),
                device_id: self.config.device_id.clone(),
                household_id: household_id.to_string(),
                kind,
                note: note.to_string(),
                fix: fix.clone(),
                position,
                distance_m,
                flags,
                recorded_at: now,
            };
            validate::visit(&visit)?;
            records::insert_visit(tx, &visit)?;
            outbox::append(
                tx,
                kind::VISIT,
                &visit.id,
                payload_json(&visit)?,
                now,
                fix.monotonic_ms,
            )?;
            Self::remember_fix(tx, fix, position)?;
            Ok(visit)
        })
    }
}
