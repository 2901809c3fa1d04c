//! Tasks the back office dispatched: acknowledging and completing them.

use super::*;

impl GridWorker {
    pub fn list_tasks(&self, offset: u32, limit: u32) -> Result<Vec<Task>> {
        self.store
            .read(|c| records::list_tasks(c, offset, limit.min(1000)))
    }

    pub(super) fn task_for_update(tx: &rusqlite::Connection, task_id: &str) -> Result<Task> {
        let task = records::task(tx, task_id)?
            .ok_or_else(|| Error::not_found(NotFoundKind::Task, task_id))?;
        if matches!(task.status, TaskStatus::Completed | TaskStatus::Cancelled) {
            return Err(Error::InvalidState {
                what: "task",
                state: task.status.code().to_string(),
                reason: "the task is finished".into(),
            });
        }
        Ok(task)
    }

    /// Acknowledges a dispatched task (报到) at the core's clock, like every other record.
    /// Acknowledging twice is a no-op.
    pub fn acknowledge_task(&self, task_id: &str) -> Result<Task> {
        validate::id("task_id", task_id)?;
        let now = self.clock().now();
        self.store.write(|tx| {
            let task = Self::task_for_update(tx, task_id)?;
            if task.status == TaskStatus::Acknowledged {
                return Ok(task);
            }
            let payload = TaskAckPayload {
                task_id: task_id.to_string(),
                worker_id: self.config.worker_id.clone(),
                device_id: self.config.device_id.clone(),
                acknowledged_at: now,
            };
            validate::task_ack(&payload)?;
            records::set_task_status(tx, task_id, TaskStatus::Acknowledged, now)?;
            outbox::append(tx, kind::TASK_ACK, task_id, payload_json(&payload)?, now, 0)?;
            records::task(tx, task_id)?.ok_or_else(|| Error::not_found(NotFoundKind::Task, task_id))
        })
    }

    /// Completes a task with a note, a fix and photos (0-9); a record like any other.
    pub fn complete_task(
        &self,
        task_id: &str,
        note: &str,
        photos_in: &[PhotoInput],
        fix: &LocationFix,
    ) -> Result<TaskCompletionPayload> {
        validate::id("task_id", task_id)?;
        validate::text("note", note, MAX_NOTE_CHARS)?;
        fix.validate("fix")?;
        if photos_in.len() > MAX_PHOTOS {
            return Err(Error::invalid(
                "photos",
                format!("at most {MAX_PHOTOS} photos"),
            ));
        }
        self.store.read(|c| Self::task_for_update(c, task_id))?;
        let policy = self.policy()?;
        let staged = self.stage_photos(photos_in, &policy)?;
        let now = self.clock().now();
        let id = new_id();
        self.write_with_photos(&staged, |tx| {
            Self::task_for_update(tx, task_id)?;
            let photos: Vec<_> = staged.iter().map(|s| s.photo.clone()).collect();
            let (position, flags) = self.judge_fix_and_photos(tx, &policy, fix, &photos, now)?;
            let payload = TaskCompletionPayload {
                id: id.clone(),
                task_id: task_id.to_string(),
                worker_id: self.config.worker_id.clone(),
                device_id: self.config.device_id.clone(),
                note: note.to_string(),
                photos,
                fix: fix.clone(),
                position,
                flags,
                completed_at: now,
            };
            validate::task_completion(&payload)?;
            records::insert_task_completion(tx, &payload)?;
            records::set_task_status(tx, task_id, TaskStatus::Completed, now)?;
            outbox::append(
                tx,
                kind::TASK_COMPLETION,
                &id,
                payload_json(&payload)?,
                now,
                fix.monotonic_ms,
            )?;
            Self::remember_fix(tx, fix, position)?;
            Ok(payload)
        })
    }
}
