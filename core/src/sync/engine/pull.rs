//! The pull: pages of changes until caught up, each applied with its cursor.

use super::*;

impl Inner {
    /// One page of changes after `cursor`, with retries. A page that breaks the documented
    /// bounds (more changes than asked for, oversized objects) is a protocol error before
    /// anything of it reaches the store.
    async fn fetch_page(
        self: &Arc<Self>,
        cancel: &CancellationToken,
        cursor: Option<String>,
    ) -> Result<wire::PullResponse> {
        let limit = self.options.pull_page_limit;
        let path = wire::pull_path(cursor.as_deref(), limit);
        let page = self
            .with_retry(cancel, || {
                let path = path.clone();
                async move {
                    self.transport
                        .json::<(), wire::PullResponse>(Method::GET, &path, None)
                        .await
                }
            })
            .await?;
        let mut page = page;
        bounds::check_page(&page, limit)?;
        apply::positions_to_wgs84(&mut page)?;
        Ok(page)
    }

    /// Pulls until caught up; a 410 `cursor_expired` (the server lost the data the cursor
    /// points into) drops the cursor and pulls again from scratch in the same run, once.
    pub(super) async fn pull(self: &Arc<Self>, cancel: &CancellationToken) -> Result<u64> {
        let mut reference_changed = false;
        let pulled = match self.pull_pages(cancel, &mut reference_changed).await {
            Err(Error::Server { status: 410, .. }) => {
                log::warn!("sync: pull cursor expired on the server; pulling from scratch");
                let worker = self.worker.clone();
                blocking(move || {
                    worker
                        .store()
                        .write(|tx| state::delete(tx, state::keys::PULL_CURSOR))
                })
                .await?;
                self.pull_pages(cancel, &mut reference_changed).await
            }
            other => other,
        };
        // Cancelled, the app wants the run over now: the next pull settles.
        if matches!(pulled, Err(Error::Cancelled)) {
            return pulled;
        }
        let settled = self.settle(reference_changed).await;
        let applied = pulled?;
        settled?;
        Ok(applied)
    }

    /// Whatever ended the pull, the pages it committed are the phone's data now: the spatial
    /// index is reloaded when reference data changed, and the households whose search
    /// documents wait for the end of a pull (`apply::apply_page`) are indexed, so a pull cut
    /// short by the network does not leave them unsearchable offline until the next one.
    async fn settle(self: &Arc<Self>, reference_changed: bool) -> Result<()> {
        let worker = self.worker.clone();
        blocking(move || {
            if reference_changed {
                worker.reload_reference()?;
            }
            if worker.store().read(residents::any_marked)? {
                worker
                    .store()
                    .write_recoverable(|tx| residents::reindex_marked(tx))?;
            }
            Ok(())
        })
        .await
    }

    /// Pulls until caught up. The next page is fetched (server query, transfer, JSON decode)
    /// while the current one is applied: on an initial sync of a large grid the two halves
    /// cost about the same, so overlapping them nearly halves the wall time. Each page is
    /// still applied in its own transaction with its own cursor, in order.
    ///
    /// Bounded: a cursor the run has already used is a protocol error (the feed would loop),
    /// and at most [`SyncOptions::max_pull_pages`] pages are fetched per run.
    async fn pull_pages(
        self: &Arc<Self>,
        cancel: &CancellationToken,
        reference_changed: &mut bool,
    ) -> Result<u64> {
        let mut progress = SyncProgress::new(SyncPhase::Pull);
        self.progress(progress.clone());
        let mut applied = 0u64;
        let worker = self.worker.clone();
        let cursor: Option<String> = blocking(move || {
            worker
                .store()
                .read(|c| state::get(c, state::keys::PULL_CURSOR))
        })
        .await?;
        if cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let mut seen = std::collections::HashSet::new();
        seen.insert(cursor.clone().unwrap_or_default());
        let mut pages = 1u32;
        let mut page = self.fetch_page(cancel, cursor).await?;
        loop {
            let n = page.changes.len() as u64;
            let more = page.has_more;
            if more && n == 0 {
                // "More" with an empty page would loop forever.
                return Err(Error::Protocol {
                    reason: "pull page is empty but claims more changes".into(),
                });
            }
            let next_cursor = page.next_cursor.clone();
            if more {
                if !seen.insert(next_cursor.clone()) {
                    return Err(Error::Protocol {
                        reason: "pull feed repeats a cursor it already gave in this run".into(),
                    });
                }
                if pages >= self.options.max_pull_pages {
                    // The pages so far are committed with their cursor; the next run resumes.
                    return Err(Error::Network {
                        reason: format!(
                            "pull stopped after the page budget of {pages} pages; the rest follows next sync"
                        ),
                    });
                }
                pages += 1;
            }
            let worker = self.worker.clone();
            let apply = blocking(move || apply::apply_page(&worker, page));
            let next = if more {
                if cancel.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                let (applied_page, fetched) =
                    tokio::join!(apply, self.fetch_page(cancel, Some(next_cursor)));
                *reference_changed |= applied_page?;
                Some(fetched)
            } else {
                *reference_changed |= apply.await?;
                None
            };
            applied += n;
            progress.items_done = applied;
            self.progress(progress.clone());
            match next {
                Some(fetched) => page = fetched?,
                None => break,
            }
        }
        Ok(applied)
    }
}
