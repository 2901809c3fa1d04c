//! 随手拍 reports: drafts, photos staged into the store, filing, and duplicate candidates.

use super::*;

impl GridWorker {
    /// Copies photos into the store's temp area, checking each; nothing is referenced yet.
    pub(super) fn stage_photos(
        &self,
        photos_in: &[PhotoInput],
        policy: &ValidationPolicy,
    ) -> Result<Vec<photos::StagedPhoto>> {
        let mut staged = Vec::with_capacity(photos_in.len());
        for (i, p) in photos_in.iter().enumerate() {
            let mut s = photos::stage(
                &self.config.data_dir,
                &p.path,
                policy,
                &format!("photos[{i}]"),
                self.photo_key.as_ref(),
            )?;
            s.photo.captured_at = p.captured_at.or(s.photo.exif_time);
            staged.push(s);
        }
        Ok(staged)
    }

    /// After a failed write, removes photo files the failed transaction had moved into place
    /// but which no committed row references.
    /// Removes the files a failed write moved into place. Under the writer lock: a
    /// concurrent write of the same photo may have found the file in place and be about to
    /// commit a row pointing at it (it commits first, and the file stays).
    pub(super) fn forget_uncommitted(&self, staged: &[photos::StagedPhoto]) {
        let _ = self.store.write(|c| {
            for s in staged {
                if photos::path_of(c, &self.config.data_dir, &s.photo.sha256)?.is_none() {
                    let rel = format!(
                        "{}/{}.{}",
                        photos::PHOTO_DIR,
                        s.photo.sha256,
                        s.photo.media_type.extension()
                    );
                    let _ = std::fs::remove_file(self.config.data_dir.join(rel));
                }
            }
            Ok(())
        });
    }

    pub(super) fn write_with_photos<T>(
        &self,
        staged: &[photos::StagedPhoto],
        mut f: impl FnMut(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let result = self.store.write(|tx| {
            for s in staged {
                photos::commit(tx, &self.config.data_dir, s, self.photo_keys())?;
            }
            f(tx)
        });
        if result.is_err() {
            self.forget_uncommitted(staged);
        }
        result
    }

    /// Starts a report draft (no photos yet). Drafts stay on the device until submitted.
    pub fn create_report_draft(&self, category: &str, description: &str) -> Result<PhotoReport> {
        validate::category(category)?;
        self.known_category(category)?;
        validate::text("description", description, MAX_DESCRIPTION_CHARS)?;
        let now = self.clock().now();
        let id = new_id();
        self.store
            .write(|tx| insert_draft(tx, &id, category, description, now))?;
        self.report(&id)
    }

    pub(super) fn draft(&self, tx: &rusqlite::Connection, report_id: &str) -> Result<PhotoReport> {
        let (rep, _) = records::report(tx, report_id)?
            .ok_or_else(|| Error::not_found(NotFoundKind::Report, report_id))?;
        if !rep.own || rep.status != ReportStatus::Draft {
            return Err(Error::InvalidState {
                what: "report",
                state: rep.status.code().to_string(),
                reason: "only drafts can be changed".into(),
            });
        }
        Ok(rep)
    }

    /// Adds a photo to a draft (copied into the store; the caller's file is untouched).
    pub fn add_photo_to_draft(&self, report_id: &str, photo: &PhotoInput) -> Result<Photo> {
        validate::id("report_id", report_id)?;
        let policy = self.policy()?;
        // Check the draft before copying megabytes.
        let rep = self.store.read(|c| self.draft(c, report_id))?;
        if rep.photos.len() >= MAX_PHOTOS {
            return Err(Error::invalid(
                "photos",
                format!("a report holds at most {MAX_PHOTOS} photos"),
            ));
        }
        let staged = self.stage_photos(std::slice::from_ref(photo), &policy)?;
        let now = self.clock().now();
        self.write_with_photos(&staged, |tx| {
            let rep = self.draft(tx, report_id)?;
            if rep.photos.len() >= MAX_PHOTOS {
                return Err(Error::invalid(
                    "photos",
                    format!("a report holds at most {MAX_PHOTOS} photos"),
                ));
            }
            records::add_report_photos(tx, report_id, &[staged[0].photo.sha256.clone()])?;
            records::touch_report(tx, report_id, now)?;
            Ok(())
        })?;
        Ok(staged[0].photo.clone())
    }

    /// Files a draft: it gets its position and enters the outbox (status `queued`).
    pub fn submit_report(
        &self,
        report_id: &str,
        fix: &LocationFix,
        attach_to: Option<&str>,
    ) -> Result<PhotoReport> {
        validate::id("report_id", report_id)?;
        fix.validate("fix")?;
        if let Some(a) = attach_to {
            validate::id("attach_to", a)?;
        }
        let policy = self.policy()?;
        let now = self.clock().now();
        self.store.write(|tx| {
            let rep = self.draft(tx, report_id)?;
            if rep.photos.is_empty() {
                return Err(Error::invalid(
                    "photos",
                    "a report needs at least one photo",
                ));
            }
            self.queue_report(tx, &policy, &rep, fix, attach_to, now)
        })?;
        self.report(report_id)
    }

    pub(super) fn queue_report(
        &self,
        tx: &rusqlite::Transaction<'_>,
        policy: &ValidationPolicy,
        rep: &PhotoReport,
        fix: &LocationFix,
        attach_to: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (position, flags) = self.judge_fix_and_photos(tx, policy, fix, &rep.photos, now)?;
        let payload = ReportPayload {
            id: rep.id.clone(),
            worker_id: self.config.worker_id.clone(),
            device_id: self.config.device_id.clone(),
            category: rep.category.clone(),
            description: rep.description.clone(),
            photos: rep.photos.clone(),
            fix: fix.clone(),
            position,
            flags: flags.clone(),
            attach_to: attach_to.map(str::to_string),
            created_at: rep.created_at,
            submitted_at: now,
        };
        validate::report(&payload)?;
        records::queue_report(
            tx,
            &rep.id,
            position,
            &payload_json(fix)?,
            &payload_json(&flags)?,
            attach_to,
            now,
        )?;
        outbox::append(
            tx,
            kind::REPORT,
            &rep.id,
            payload_json(&payload)?,
            now,
            fix.monotonic_ms,
        )?;
        Self::remember_fix(tx, fix, position)
    }

    /// Files a report in one step: 1-9 photos, category, description, position. Everything is
    /// checked before anything is written.
    pub fn file_report(
        &self,
        category: &str,
        description: &str,
        photos_in: &[PhotoInput],
        fix: &LocationFix,
        attach_to: Option<&str>,
    ) -> Result<PhotoReport> {
        validate::category(category)?;
        self.known_category(category)?;
        validate::text("description", description, MAX_DESCRIPTION_CHARS)?;
        fix.validate("fix")?;
        if let Some(a) = attach_to {
            validate::id("attach_to", a)?;
        }
        if photos_in.is_empty() {
            return Err(Error::invalid(
                "photos",
                "a report needs at least one photo",
            ));
        }
        if photos_in.len() > MAX_PHOTOS {
            return Err(Error::invalid(
                "photos",
                format!("a report holds at most {MAX_PHOTOS} photos"),
            ));
        }
        let policy = self.policy()?;
        let staged = self.stage_photos(photos_in, &policy)?;
        let now = self.clock().now();
        let id = new_id();
        let shas: Vec<String> = staged.iter().map(|s| s.photo.sha256.clone()).collect();
        self.write_with_photos(&staged, |tx| {
            insert_draft(tx, &id, category, description, now)?;
            records::add_report_photos(tx, &id, &shas)?;
            let (rep, _) = records::report(tx, &id)?
                .ok_or_else(|| Error::not_found(NotFoundKind::Report, &id))?;
            self.queue_report(tx, &policy, &rep, fix, attach_to, now)
        })?;
        self.report(&id)
    }

    /// Deletes a draft and collects photos only it used.
    pub fn delete_draft(&self, report_id: &str) -> Result<()> {
        validate::id("report_id", report_id)?;
        self.store.write(|tx| {
            self.draft(tx, report_id)?;
            records::delete_report(tx, report_id)?;
            photos::collect_garbage(tx, &self.config.data_dir, self.config.clock.now())?;
            Ok(())
        })
    }

    /// One report of the worker's (or pulled), with photos.
    /// The worker's (or the resident's, through the worker) evaluation of one of the worker's
    /// resolved reports (评价): `satisfied` closes it; otherwise it is reopened and `reason`
    /// (required then, at most 500 characters) tells why. A record synced like any other;
    /// the report shows the new status at once. A report that is not the worker's or not
    /// resolved is `InvalidState` and nothing is written.
    pub fn evaluate_report(
        &self,
        report_id: &str,
        satisfied: bool,
        reason: &str,
    ) -> Result<PhotoReport> {
        validate::id("report_id", report_id)?;
        let now = self.clock().now();
        let payload = ReportEvaluationPayload {
            id: new_id(),
            report_id: report_id.to_string(),
            worker_id: self.config.worker_id.clone(),
            device_id: self.config.device_id.clone(),
            satisfied,
            reason: reason.trim().to_string(),
            evaluated_at: now,
        };
        validate::report_evaluation(&payload)?;
        self.store.write(|tx| {
            let (report, _) = records::report(tx, report_id)?
                .ok_or_else(|| Error::not_found(NotFoundKind::Report, report_id))?;
            if !report.own || report.status != ReportStatus::Resolved {
                return Err(Error::InvalidState {
                    what: "report",
                    state: report.status.code().into(),
                    reason: "only the worker's own resolved reports are evaluated".into(),
                });
            }
            let (to, text) = if satisfied {
                let text = if payload.reason.is_empty() {
                    "satisfied".to_string()
                } else {
                    payload.reason.clone()
                };
                (ReportStatus::Closed, text)
            } else {
                (ReportStatus::Reopened, payload.reason.clone())
            };
            records::set_report_evaluation(tx, report_id, to, &text, now)?;
            outbox::append(
                tx,
                kind::REPORT_EVALUATION,
                &payload.id,
                payload_json(&payload)?,
                now,
                0,
            )?;
            records::report(tx, report_id)?
                .map(|(r, _)| r)
                .ok_or_else(|| Error::not_found(NotFoundKind::Report, report_id))
        })
    }

    /// The district's report categories and departments as last pulled (empty before the
    /// first sync with a protocol 3 server).
    pub fn report_catalog(&self) -> Result<ReportCatalog> {
        Ok(self
            .store
            .read(|c| state::get::<ReportCatalog>(c, state::keys::REPORT_CATALOG))?
            .unwrap_or_default())
    }

    /// Once the district's categories are known, a report must use one of them.
    fn known_category(&self, category: &str) -> Result<()> {
        let catalog = self.report_catalog()?;
        if catalog.categories.is_empty() || catalog.categories.iter().any(|c| c.code == category) {
            Ok(())
        } else {
            Err(Error::invalid(
                "category",
                "is not one of the district's report categories",
            ))
        }
    }

    pub fn report(&self, report_id: &str) -> Result<PhotoReport> {
        validate::id("report_id", report_id)?;
        self.store
            .read(|c| records::report(c, report_id))?
            .map(|(r, _)| r)
            .ok_or_else(|| Error::not_found(NotFoundKind::Report, report_id))
    }

    /// Open reports of `category` within the policy's duplicate radius of `fix` that the core
    /// knows of (own and pulled), nearest first.
    pub fn duplicate_candidates(
        &self,
        category: &str,
        fix: &LocationFix,
    ) -> Result<Vec<DuplicateCandidate>> {
        validate::category(category)?;
        fix.validate("fix")?;
        let policy = self.policy()?;
        let here = fix.position();
        // Degrees per metre at this latitude, generously rounded up for the prefilter box.
        let dlat = policy.duplicate_radius_m / 111_000.0 * 1.2;
        let dlon = dlat / here.lat.to_radians().cos().abs().max(0.01);
        let found = self.store.read(|c| {
            records::open_reports_in_box(
                c,
                category,
                Position::new(here.lat - dlat, here.lon - dlon),
                Position::new(here.lat + dlat, here.lon + dlon),
            )
        })?;
        let mut out: Vec<DuplicateCandidate> = found
            .into_iter()
            .filter_map(|r| {
                let d = here.distance_m(r.position?);
                (d <= policy.duplicate_radius_m).then_some(DuplicateCandidate {
                    report: r,
                    distance_m: d,
                })
            })
            .collect();
        out.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
        Ok(out)
    }
}

/// A report starts as the worker's own draft, with no position until it is filed.
pub(super) fn insert_draft(
    tx: &rusqlite::Connection,
    id: &str,
    category: &str,
    description: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    records::insert_report(
        tx,
        &ReportRow {
            id,
            own: true,
            category,
            description,
            fix: None,
            position: None,
            flags: &[],
            status: ReportStatus::Draft,
            attach_to: None,
            created_at: now,
        },
    )
}
