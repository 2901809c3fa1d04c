//! What the worker can do about a quarantined record (docs/protocol.md, "Quarantine rules"):
//! put the photo back, re-file the record without it, or discard the record. Each is one
//! transaction together with its outbox change.
//!
//! A record's mutation is covered by the hash chain, so its payload can never change in
//! place. When the original bytes come back the original entry is released unchanged (same
//! seq, same link). Any other repair withdraws the original entry and appends the repaired
//! record as a new entry with a fresh seq. A withdrawn entry is no record any more, but its
//! link is still delivered (a withdrawal link, docs/protocol.md §4.4): a worker repairing a
//! bad photo must not look, on the server, like a worker who deleted evidence.

use chrono::{DateTime, Utc};
use rusqlite::Transaction;

use super::{GridWorker, PhotoInput, payload_json};
use crate::domain::{MAX_PHOTOS, Photo, ReportPayload, TaskCompletionPayload, TaskStatus};
use crate::error::{Error, NotFoundKind, Result};
use crate::store::outbox::{self, OutboxEntry, QuarantineReason, QuarantinedRecord, kind};
use crate::store::{photos, records, rejected_edits};
use crate::validate;

/// The record's quarantined entry with its reason, or a typed error naming the record.
fn quarantined(
    tx: &rusqlite::Connection,
    record_id: &str,
) -> Result<(OutboxEntry, QuarantineReason)> {
    let (seq, _, reason) =
        outbox::quarantined_entry(tx, record_id)?.ok_or_else(|| Error::InvalidState {
            what: "record",
            state: "not quarantined".into(),
            reason: format!("record {record_id} has no quarantined entry"),
        })?;
    let entry =
        outbox::entry(tx, seq)?.ok_or_else(|| Error::not_found(NotFoundKind::Record, record_id))?;
    Ok((entry, reason))
}

/// The photo a repair concerns, or a typed error when the record itself was refused.
fn bad_photo(record_id: &str, reason: &QuarantineReason) -> Result<String> {
    reason
        .photo()
        .map(str::to_string)
        .ok_or_else(|| Error::InvalidState {
            what: "record",
            state: reason.code().into(),
            reason: format!(
                "record {record_id} was refused as a whole, not for a photo: discard it"
            ),
        })
}

/// The payload of `entry` with its photo list replaced by `photos`.
fn payload_with_photos(entry: &OutboxEntry, photos: Vec<Photo>) -> Result<String> {
    let broken = |_| Error::invalid("record", "stored payload cannot be read");
    match entry.kind.as_str() {
        kind::REPORT => {
            let mut p: ReportPayload = serde_json::from_str(&entry.payload).map_err(broken)?;
            p.photos = photos;
            payload_json(&p)
        }
        kind::TASK_COMPLETION => {
            let mut p: TaskCompletionPayload =
                serde_json::from_str(&entry.payload).map_err(broken)?;
            p.photos = photos;
            payload_json(&p)
        }
        _ => Err(Error::invalid(
            "record",
            "this kind of record holds no photos",
        )),
    }
}

/// The record's current photo list, from the entry's payload.
fn photos_of(entry: &OutboxEntry) -> Result<Vec<Photo>> {
    let broken = |_| Error::invalid("record", "stored payload cannot be read");
    match entry.kind.as_str() {
        kind::REPORT => Ok(serde_json::from_str::<ReportPayload>(&entry.payload)
            .map_err(broken)?
            .photos),
        kind::TASK_COMPLETION => Ok(
            serde_json::from_str::<TaskCompletionPayload>(&entry.payload)
                .map_err(broken)?
                .photos,
        ),
        _ => Ok(Vec::new()),
    }
}

/// Withdraws `entry` and appends the record again with `photos`, keeping the original
/// recording times (the repair edits the photo set, not when the record was made).
fn requeue(
    tx: &Transaction<'_>,
    entry: &OutboxEntry,
    photos: Vec<Photo>,
    now: DateTime<Utc>,
) -> Result<()> {
    let shas: Vec<String> = photos.iter().map(|p| p.sha256.clone()).collect();
    if !records::replace_photo_links(tx, &entry.kind, &entry.record_id, &shas)? {
        return Err(Error::invalid(
            "record",
            "this kind of record holds no photos",
        ));
    }
    let payload = payload_with_photos(entry, photos)?;
    outbox::withdraw(tx, entry.seq)?;
    outbox::append(
        tx,
        &entry.kind,
        &entry.record_id,
        payload,
        entry.device_time,
        entry.monotonic_ms,
    )?;
    if entry.kind == kind::REPORT {
        records::touch_report(tx, &entry.record_id, now)?;
    }
    Ok(())
}

impl GridWorker {
    /// Records set aside because they cannot be sent as they stand, oldest first.
    pub fn quarantined_records(&self) -> Result<Vec<QuarantinedRecord>> {
        self.store.read(outbox::quarantined)
    }

    /// Puts a photo back into a record quarantined for a photo (missing, altered or
    /// refused). If `photo` holds the original bytes, the original entry goes unchanged
    /// (and every other record waiting for those bytes with it); otherwise `photo` takes the
    /// bad photo's place and the record is re-queued as a new entry.
    pub fn repair_quarantined_photo(&self, record_id: &str, photo: &PhotoInput) -> Result<()> {
        validate::id("record_id", record_id)?;
        let (_, reason) = self.store.read(|c| quarantined(c, record_id))?;
        bad_photo(record_id, &reason)?;
        let policy = self.policy()?;
        let staged = self.stage_photos(std::slice::from_ref(photo), &policy)?;
        let Some(new) = staged.first() else {
            return Err(Error::invalid("photo", "no photo given"));
        };
        let data_dir = self.config.data_dir.clone();
        let keys = self.photo_keys();
        let result = self.store.write(|tx| {
            let (entry, reason) = quarantined(tx, record_id)?;
            let bad = bad_photo(record_id, &reason)?;
            if new.photo.sha256 == bad {
                if matches!(reason, QuarantineReason::Refused { .. }) {
                    return Err(Error::invalid(
                        "photo",
                        "the server refused these very bytes; choose another photo",
                    ));
                }
                // The damaged file must make way for the good copy.
                if let Some(path) = photos::path_of(tx, &data_dir, &bad)? {
                    match std::fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                photos::commit(tx, &data_dir, new, keys)?;
                outbox::release_repaired_photo(tx, &bad)?;
                return Ok(());
            }
            let mut list = photos_of(&entry)?;
            if list.iter().any(|p| p.sha256 == new.photo.sha256) {
                return Err(Error::invalid(
                    "photo",
                    "the record already holds this photo",
                ));
            }
            photos::commit(tx, &data_dir, new, keys)?;
            for p in list.iter_mut() {
                if p.sha256 == bad {
                    *p = new.photo.clone();
                }
            }
            requeue(tx, &entry, list, self.clock().now())?;
            photos::collect_garbage(tx, &data_dir, self.clock().now())?;
            Ok(())
        });
        if result.is_err() {
            self.forget_uncommitted(&staged);
        }
        result
    }

    /// Re-files a record quarantined for a photo without that photo. A report keeps at least
    /// one photo; a task completion may have none.
    pub fn refile_without_quarantined_photo(&self, record_id: &str) -> Result<()> {
        validate::id("record_id", record_id)?;
        let data_dir = self.config.data_dir.clone();
        self.store.write(|tx| {
            let (entry, reason) = quarantined(tx, record_id)?;
            let bad = bad_photo(record_id, &reason)?;
            let list: Vec<Photo> = photos_of(&entry)?
                .into_iter()
                .filter(|p| p.sha256 != bad)
                .collect();
            if entry.kind == kind::REPORT && list.is_empty() {
                return Err(Error::invalid(
                    "photos",
                    "a report needs at least one photo: replace the photo or discard the report",
                ));
            }
            if list.len() > MAX_PHOTOS {
                return Err(Error::invalid("photos", "too many photos"));
            }
            requeue(tx, &entry, list, self.clock().now())?;
            photos::collect_garbage(tx, &data_dir, self.clock().now())?;
            Ok(())
        })
    }

    /// Discards a quarantined record: its entry is withdrawn (sent only as a withdrawal link,
    /// never as a record), the record is deleted with every photo file only it used. Records
    /// that waited for it are released and go as they were recorded (a reference to a record
    /// the server never receives is stored and flagged there like any unknown reference). A
    /// residents edit, resolution or new resident is taken back on the phone as a rejected
    /// one is (`store::rejected_edits`).
    pub fn discard_quarantined(&self, record_id: &str) -> Result<()> {
        validate::id("record_id", record_id)?;
        let data_dir = self.config.data_dir.clone();
        self.store.write(|tx| {
            let (entry, _) = quarantined(tx, record_id)?;
            outbox::withdraw(tx, entry.seq)?;
            // A residents edit, resolution or new resident showed on the phone from the
            // moment it was made; the server will never have it: what it laid over goes, as
            // for a rejected one.
            if rejected_edits::concerns(&entry.kind) {
                rejected_edits::take_back(tx, entry.seq, &entry.kind, &entry.payload)?;
            }
            match entry.kind.as_str() {
                kind::TASK_ACK => reopen_task(tx, record_id, self.clock().now())?,
                k => {
                    // A discarded completion's task goes back to what the device can prove.
                    if let Some(task) = records::delete_record(tx, k, record_id)? {
                        reopen_task(tx, &task, self.clock().now())?;
                    }
                }
            }
            photos::collect_garbage(tx, &data_dir, self.clock().now())?;
            Ok(())
        })
    }
}

/// A task whose completion (or acknowledgement) was discarded goes back to the last state
/// the device still holds evidence for.
fn reopen_task(tx: &Transaction<'_>, task_id: &str, now: DateTime<Utc>) -> Result<()> {
    let acked = outbox::task_acked(tx, task_id)?;
    let status = if acked {
        TaskStatus::Acknowledged
    } else {
        TaskStatus::Dispatched
    };
    records::set_task_status(tx, task_id, status, now)
}
