//! The push: queued mutations in bounded batches, what the server answered for each, and
//! setting aside what it refused for good.

use super::*;
use crate::sync::context::Pending;
use crate::sync::wire::MutationKind;

impl Inner {
    /// Sends the outbox in order, batch by batch, and records each answer.
    ///
    /// Entries that cannot go now are skipped, not failed, and go in a later run with their
    /// original seq: those whose photos are not on the server yet (Wi-Fi only, or an upload
    /// left for the next run) and those depending on a quarantined entry. A batch the server
    /// finds too large (413) is halved until it passes; a single mutation too large alone is
    /// quarantined as refused. Withdrawn entries go in seq order with the rest as withdrawal
    /// links (no photos, no record), so the server's copy of the chain has no hole.
    ///
    /// The phone and the server do not take turns: while a batch travels, the next one is
    /// read from the outbox and the previous one's answers are recorded (separate
    /// connections). Only while answers are clean: after a 413 (the batch is halved and the
    /// bound lowered) the read-ahead is dropped, and a batch with a rejection is recorded
    /// and the next one read afresh, so whatever a verdict changes in the outbox is in place
    /// first. Answers received are recorded however the run ends.
    pub(super) async fn push(
        self: &Arc<Self>,
        cancel: &CancellationToken,
        report: &mut SyncReport,
        server_protocol: u32,
    ) -> Result<()> {
        let network = network_from(self.network.load(Ordering::Relaxed));
        let photos_wait = self.options.photos_wifi_only && network == NetworkKind::Cellular;
        let worker = self.worker.clone();
        let (total, quarantined) = blocking(move || {
            worker
                .store()
                .read(|c| Ok((outbox::to_send(c)?, outbox::quarantined_holds(c)?)))
        })
        .await?;
        let mut progress = SyncProgress::new(SyncPhase::Push);
        progress.items_total = Some(u64::try_from(total).unwrap_or(0));
        self.progress(progress.clone());

        let read = Reader {
            worker: self.worker.clone(),
            max_n: self.options.batch_max_mutations,
            server_protocol,
            photos_wait,
            held: Arc::new(Mutex::new(quarantined)),
        };
        let mut after_seq = 0i64;
        // Lowered after a 413 so the rest of the run does not hit the same wall again.
        let mut max_b = self.options.batch_max_bytes;
        let mut ahead: Option<Pending<ToSend>> = None;
        let mut recording = Recording::default();
        let outcome = async {
            loop {
                if cancel.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                let next = match ahead.take() {
                    Some(h) => match h.finish().await? {
                        // Read while the last batch travelled: what the worker recorded
                        // meanwhile still goes in this run.
                        n if n.last_seq.is_none() => {
                            recording.finish(report, &mut progress, self).await?;
                            read.spawn(after_seq, max_b).finish().await?
                        }
                        n => n,
                    },
                    None => read.spawn(after_seq, max_b).finish().await?,
                };
                let Some(last_seq) = next.last_seq else { break };
                // Only a read that is used says what this run holds back: one dropped after
                // a rejection or a 413 is read again, and may then decide otherwise.
                outbox::merge_holds(&mut lock_held(&read.held), next.holds);
                after_seq = last_seq;
                report.deferred += next.deferred;
                report.held += next.held;
                let mut parts = vec![next.send];
                // The whole batch's body; a half after a 413 is encoded when it goes.
                let mut body = Some(next.body);
                let mut halved = false;
                while let Some(part) = parts.pop() {
                    if part.is_empty() {
                        continue;
                    }
                    if !halved {
                        ahead = Some(read.spawn(after_seq, max_b));
                    }
                    let sent = self.send_batch(cancel, &part, body.take()).await;
                    // If recording the batch before failed, this batch's answers are still
                    // recorded before the run ends with that failure.
                    let before = recording.finish(report, &mut progress, self).await;
                    match sent {
                        Ok(reply) => {
                            crate::sync::failpoint("push_acked_before_store");
                            let clean = reply
                                .results
                                .iter()
                                .all(|r| !matches!(r.outcome, wire::Outcome::Rejected { .. }));
                            let worker = self.worker.clone();
                            let n = part.len() as u64;
                            let batch_ids: Vec<Sent> = part.iter().map(Sent::of).collect();
                            recording.start(
                                Pending::spawn(move || record_results(&worker, &batch_ids, &reply)),
                                n,
                            );
                            if !clean || before.is_err() {
                                drain(&mut ahead).await;
                                let this = recording.finish(report, &mut progress, self).await;
                                before?;
                                this?;
                            }
                        }
                        Err(Error::Server {
                            status: 413,
                            reason,
                        }) => {
                            before?;
                            drain(&mut ahead).await;
                            halved = true;
                            if part.len() > 1 {
                                let bytes: usize = part.iter().map(|e| e.payload.len()).sum();
                                max_b = max_b.min(bytes / 2).max(1);
                                let mut first = part;
                                let second = first.split_off(first.len() / 2);
                                // A stack: the first half goes first, keeping device order.
                                parts.push(second);
                                parts.push(first);
                            } else if part.iter().all(|e| e.withdrawn) {
                                // A withdrawal link must carry its payload for the hash to
                                // be checked; too large alone, it can never go: given up
                                // (its successor stays a break on the server), not resent
                                // every run.
                                let code = reason.split(':').next().unwrap_or_default().trim();
                                self.give_up_links(&part, code).await?;
                                progress.items_done += part.len() as u64;
                            } else {
                                let code = reason.split(':').next().unwrap_or_default().trim();
                                let q = self.quarantine_refused(&part, 413, code).await?;
                                progress.items_done += part.len() as u64;
                                report.quarantined.extend(q);
                                report.held += self.hold_dependents(&mut parts, &read.held).await?;
                            }
                        }
                        Err(e) => {
                            before?;
                            return Err(e);
                        }
                    }
                }
            }
            Ok(())
        }
        .await;
        drain(&mut ahead).await;
        // Whatever ended the run, answers already received are kept.
        let recorded = recording.finish(report, &mut progress, self).await;
        outcome.and(recorded)
    }

    /// One push request with retries.
    async fn send_batch(
        self: &Arc<Self>,
        cancel: &CancellationToken,
        batch: &[OutboxEntry],
        encoded: Option<Vec<u8>>,
    ) -> Result<wire::PushResponse> {
        let body = match encoded {
            Some(body) => body,
            None => encode_push(&self.worker.config().device_id, batch)?,
        };
        self.with_retry(cancel, || {
            let body = body.clone();
            async move {
                let r = self
                    .transport
                    .call(Method::POST, wire::PATH_PUSH, move || {
                        crate::sync::transport::Payload::Json(body.clone())
                    })
                    .await?;
                let decoded: wire::PushResponse = crate::sync::transport::decode(&r.body)?;
                check_results(batch, &decoded)?;
                Ok(decoded)
            }
        })
        .await
    }

    /// Quarantines mutations the server refused as they stand (not a verdict on their
    /// content, which it never read: the worker decides what to do with them).
    async fn quarantine_refused(
        self: &Arc<Self>,
        part: &[OutboxEntry],
        status: u16,
        code: &str,
    ) -> Result<Vec<outbox::QuarantinedRecord>> {
        let worker = self.worker.clone();
        let entries: Vec<(i64, String, String)> = part
            .iter()
            .map(|e| (e.seq, e.kind.clone(), e.record_id.clone()))
            .collect();
        let reason = outbox::QuarantineReason::Refused {
            status,
            code: code.to_string(),
            sha256: None,
        };
        blocking(move || {
            let now = worker.config().clock.now();
            worker.store().write(|tx| {
                let mut out = Vec::new();
                for (seq, kind, record_id) in &entries {
                    if outbox::quarantine(tx, *seq, &reason, now)? {
                        log::warn!("sync: {kind} {record_id} quarantined: refused {status}");
                        out.push(outbox::QuarantinedRecord {
                            record_id: record_id.clone(),
                            kind: kind.clone(),
                            reason: reason.clone(),
                        });
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    /// Takes out of the halves still to go the entries that now wait for what was just
    /// quarantined (the reader's rule, [`outbox::waits_for`]): they were read before it was,
    /// and sent now they would reach the server ahead of the entry they build on. They stay
    /// pending and go in a later run, as the reader would have held them.
    async fn hold_dependents(
        self: &Arc<Self>,
        parts: &mut Vec<Vec<OutboxEntry>>,
        held: &Arc<Mutex<outbox::Held>>,
    ) -> Result<u64> {
        let worker = self.worker.clone();
        let taken = std::mem::take(parts);
        let waiting = held.clone();
        let (kept, n) = blocking(move || {
            worker.store().read(|c| {
                let mut back = lock_held(&waiting);
                let mut n = 0u64;
                let mut kept = Vec::with_capacity(taken.len());
                // The stack's last part goes first: walk it in send order.
                for part in taken.into_iter().rev() {
                    let mut keep = Vec::with_capacity(part.len());
                    for e in part {
                        // A withdrawal link carries no record: it waits for nothing.
                        if !e.withdrawn && outbox::waits_for(c, &e, true, &back)? {
                            n += 1;
                            outbox::hold(&mut back, &e);
                        } else {
                            keep.push(e);
                        }
                    }
                    kept.push(keep);
                }
                kept.reverse();
                Ok((kept, n))
            })
        })
        .await?;
        *parts = kept;
        Ok(n)
    }

    /// Records withdrawal links the server can never take (413 alone) as answered with that
    /// refusal, so they are not resent.
    async fn give_up_links(self: &Arc<Self>, part: &[OutboxEntry], code: &str) -> Result<()> {
        let worker = self.worker.clone();
        let ids: Vec<String> = part.iter().map(|e| e.mutation_id.clone()).collect();
        let code = if code.is_empty() {
            wire::codes::TOO_LARGE.to_string()
        } else {
            code.to_string()
        };
        blocking(move || {
            let now = worker.config().clock.now();
            worker.store().write(|tx| {
                for id in &ids {
                    let reason = "the server refused the withdrawal link as too large";
                    outbox::mark_link_answered(tx, id, Some((code.as_str(), reason)), now)?;
                }
                Ok(())
            })
        })
        .await
    }
}

/// The body of a push of `batch`.
fn encode_push(device_id: &str, batch: &[OutboxEntry]) -> Result<Vec<u8>> {
    let request = wire::PushRequest {
        device_id: device_id.to_string(),
        mutations: batch.iter().map(to_wire).collect(),
    };
    serde_json::to_vec(&request).map_err(|e| Error::Protocol {
        reason: format!("cannot encode push: {e}"),
    })
}

fn to_wire(e: &OutboxEntry) -> wire::Mutation {
    wire::Mutation {
        mutation_id: e.mutation_id.clone(),
        seq: e.seq,
        kind: e.kind.clone(),
        record_id: e.record_id.clone(),
        payload: e.payload.clone(),
        device_time: e.device_time,
        monotonic_ms: e.monotonic_ms,
        prev_hash: e.prev_hash.clone(),
        hash: e.hash.clone(),
        withdrawn: e.withdrawn,
        expired: e.expired,
    }
}

/// A reply must speak only of mutations we sent, each once; anything else means it is not a
/// reply to this request and nothing in it can be trusted (two verdicts on one mutation, say
/// `rejected` then `applied`, would leave which one counts to the order they are recorded
/// in).
fn check_results(
    batch: &[OutboxEntry],
    reply: &wire::PushResponse,
) -> std::result::Result<(), Failure> {
    let mut unanswered: std::collections::HashSet<&str> =
        batch.iter().map(|e| e.mutation_id.as_str()).collect();
    for r in &reply.results {
        if !unanswered.remove(r.mutation_id.as_str()) {
            return Err(Failure::malformed(
                "push reply names a mutation that was not sent, or one twice",
            ));
        }
    }
    Ok(())
}

/// What [`record_results`] needs of a sent entry.
struct Sent {
    seq: i64,
    mutation_id: String,
    kind: String,
    record_id: String,
    withdrawn: bool,
    expired: bool,
}

impl Sent {
    fn of(e: &OutboxEntry) -> Sent {
        Sent {
            seq: e.seq,
            mutation_id: e.mutation_id.clone(),
            kind: e.kind.clone(),
            record_id: e.record_id.clone(),
            withdrawn: e.withdrawn,
            expired: e.expired,
        }
    }
}

/// The entries of one batch that go now, and what was left for later.
struct ToSend {
    send: Vec<OutboxEntry>,
    /// `send` encoded as a push body: encoded while the batch before travels, like the read.
    body: Vec<u8>,
    deferred: u64,
    held: u64,
    /// What the run held back when this read began, with what it held back or deferred
    /// ([`outbox::hold`]).
    holds: outbox::Held,
    /// The last seq looked at, or `None` when nothing is left after `after_seq`.
    last_seq: Option<i64>,
}

/// Reads batches from the outbox.
struct Reader {
    worker: Arc<GridWorker>,
    max_n: usize,
    server_protocol: u32,
    photos_wait: bool,
    /// What does not go in this run: quarantined when it started, then what each batch used
    /// held back. Batches are used in seq order, and a dependent comes after what it builds
    /// on.
    held: Arc<Mutex<outbox::Held>>,
}

fn lock_held(m: &Mutex<outbox::Held>) -> std::sync::MutexGuard<'_, outbox::Held> {
    // The set is only ever extended: what a panicking reader left in it still holds.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Reader {
    /// The next batch after `after_seq`, read on a blocking thread.
    fn spawn(&self, after_seq: i64, max_b: usize) -> Pending<ToSend> {
        let (worker, max_n) = (self.worker.clone(), self.max_n);
        let (server_protocol, photos_wait) = (self.server_protocol, self.photos_wait);
        let waiting = self.held.clone();
        Pending::spawn(move || {
            let mut batch = worker.store().read(|c| {
                let all = outbox::pending_batch(c, after_seq, max_n, max_b)?;
                let last_seq = all.last().map(|e| e.seq);
                let quarantine = outbox::any_quarantined(c)?;
                // What the run holds so far, and what this read adds to it.
                let mut holds = lock_held(&waiting).clone();
                let mut send = Vec::with_capacity(all.len());
                let (mut deferred, mut held) = (0u64, 0u64);
                for e in all {
                    let too_new = MutationKind::parse(&e.kind)
                        .is_some_and(|k| k.since_protocol() > server_protocol);
                    if too_new {
                        // The server's version lacks the kind and would refuse it for good
                        // (`unknown_kind`): it waits for the server's update.
                        deferred += 1;
                        outbox::hold(&mut holds, &e);
                    } else if e.expired && server_protocol < wire::EXPIRED_LINKS_SINCE {
                        // The server's version would refuse the whole push for the field.
                        deferred += 1;
                    } else if e.withdrawn || e.expired {
                        // A link without a record waits for nothing.
                        send.push(e);
                    } else if outbox::waits_for(c, &e, quarantine, &holds)? {
                        held += 1;
                        outbox::hold(&mut holds, &e);
                    } else if photos::waits_for_photos(c, &e)? {
                        // Sent now it would be refused for good (`missing_photo`).
                        if photos_wait {
                            deferred += 1;
                        } else {
                            held += 1;
                        }
                        outbox::hold(&mut holds, &e);
                    } else {
                        send.push(e);
                    }
                }
                Ok(ToSend {
                    send,
                    body: Vec::new(),
                    deferred,
                    held,
                    holds,
                    last_seq,
                })
            })?;
            if !batch.send.is_empty() {
                batch.body = encode_push(&worker.config().device_id, &batch.send)?;
            }
            Ok(batch)
        })
    }
}

/// Applied, already applied, rejected.
type Counts = (u64, u64, u64);

/// The answers of the batch sent before, being recorded, and how many entries it had.
#[derive(Default)]
struct Recording(Option<(Pending<Counts>, u64)>);

impl Recording {
    fn start(&mut self, p: Pending<Counts>, entries: u64) {
        self.0 = Some((p, entries));
    }

    /// Waits for the recording, if one runs, and counts it.
    async fn finish(
        &mut self,
        report: &mut SyncReport,
        progress: &mut SyncProgress,
        inner: &Inner,
    ) -> Result<()> {
        let Some((p, entries)) = self.0.take() else {
            return Ok(());
        };
        let counts = p.finish().await?;
        report.pushed += counts.0;
        report.already_applied += counts.1;
        report.rejected += counts.2;
        progress.items_done += entries;
        inner.progress(progress.clone());
        Ok(())
    }
}

/// Stores the server's answers in one transaction: synced, or rejected with the reason.
/// Mutations the reply does not mention stay pending and go again next time. Withdrawal
/// links are not records: their answer is recorded but not counted.
fn record_results(
    worker: &GridWorker,
    batch: &[Sent],
    reply: &wire::PushResponse,
) -> Result<Counts> {
    let now = worker.config().clock.now();
    let by_id: std::collections::HashMap<&str, &Sent> =
        batch.iter().map(|b| (b.mutation_id.as_str(), b)).collect();
    worker.store().write_recoverable(|tx| {
        let mut counts = (0u64, 0u64, 0u64);
        let mut synced = Vec::with_capacity(reply.results.len());
        let mut taken_back = Vec::new();
        for r in &reply.results {
            let Some(sent) = by_id.get(r.mutation_id.as_str()).copied() else {
                continue;
            };
            let (k, record_id) = (&sent.kind, &sent.record_id);
            if sent.expired {
                // Not a record (it is gone from the phone): recorded, not counted. A refused
                // link is final like any refusal; the entries after it go on.
                match &r.outcome {
                    wire::Outcome::Applied | wire::Outcome::AlreadyApplied => synced.push(sent.seq),
                    wire::Outcome::Rejected { reason } => {
                        outbox::mark_rejected(tx, &r.mutation_id, &reason.code, &reason.message)?
                    }
                }
                continue;
            }
            if sent.withdrawn {
                let reject = match &r.outcome {
                    wire::Outcome::Applied | wire::Outcome::AlreadyApplied => None,
                    wire::Outcome::Rejected { reason } => {
                        Some((reason.code.as_str(), reason.message.as_str()))
                    }
                };
                outbox::mark_link_answered(tx, &r.mutation_id, reject, now)?;
                continue;
            }
            match &r.outcome {
                wire::Outcome::Applied | wire::Outcome::AlreadyApplied => {
                    synced.push(sent.seq);
                    if matches!(r.outcome, wire::Outcome::Applied) {
                        counts.0 += 1;
                    } else {
                        counts.1 += 1;
                    }
                    if k == kind::REPORT {
                        crate::store::sync_queries::mark_report_submitted(tx, record_id, now)?;
                    }
                }
                wire::Outcome::Rejected { reason } => {
                    outbox::mark_rejected(tx, &r.mutation_id, &reason.code, &reason.message)?;
                    counts.2 += 1;
                    if rejected_edits::concerns(k) {
                        taken_back.push(sent.seq);
                    }
                }
            }
        }
        outbox::mark_synced(tx, &synced, now)?;
        // After every answer is recorded, so the edits laid over again are those still
        // pending.
        rejected_edits::take_back_answered(tx, &taken_back);
        Ok(counts)
    })
}

/// Waits for a read-ahead no longer wanted. Dropped, its blocking read would go on holding
/// the worker after the run ended, and a logout wipe right after `sync()` returned would find
/// the store still open.
async fn drain(ahead: &mut Option<Pending<ToSend>>) {
    if let Some(h) = ahead.take() {
        let _ = h.finish().await;
    }
}
