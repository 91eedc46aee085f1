//! A sync round (the lanes that are due, then a pull of everything after the cursor), the
//! round's plain summary per job, and the loop that runs rounds when a change is saved, the
//! server pokes, or a retry time comes.

use fieldsync_core::wire::ReviewKind;
use fieldsync_core::{Change, Outcome, OutcomeStatus, RecordId, RecordType};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;

use crate::client::{lock, SyncClient, SyncReport};
use crate::saving::first_group_field;
use crate::schedule::{self, Lane};
use crate::text;
use crate::transport::TransportError;
use crate::{ClientError, ClientResult};

impl SyncClient {
    /// One sync round with the lanes that are due: changes, files, then a pull.
    pub async fn sync_once(&self) -> ClientResult<SyncReport> {
        self.round(false).await
    }

    /// "Sync now": both lanes at once, whatever their schedule; the report says what still failed.
    pub async fn sync_now(&self) -> ClientResult<SyncReport> {
        self.round(true).await
    }

    async fn round(&self, force: bool) -> ClientResult<SyncReport> {
        let _one_at_a_time = self.inner.round.lock().await;
        let token = self.token()?;
        let mut report = SyncReport::default();
        let mut answered: Vec<(Change, Outcome)> = Vec::new();
        if force {
            lock(&self.inner.state).server_wait = None;
        }
        if self.due(Lane::Changes, force) && !self.server_waits() {
            self.push_lane(&token, &mut report, &mut answered, force)
                .await?;
        }
        if self.due(Lane::Files, force) && !self.server_waits() {
            let uploaded = self.file_lane(&token, &mut report).await?;
            // Photos whose files just arrived go now, not at the next round.
            if uploaded > 0 && self.due(Lane::Changes, false) {
                self.push_lane(&token, &mut report, &mut answered, force)
                    .await?;
            }
        }
        if !self.server_waits() {
            if let Err(e) = self.pull_all(&token, &mut report).await {
                report.failed.push(text::step_failed("pull", &e));
            }
        }
        report.summary = self.summarise(&answered).await?;
        {
            let mut state = lock(&self.inner.state);
            if report.failed.is_empty() {
                state.last_synced = Some(self.now());
            }
            if !report.summary.is_empty() {
                state.summary = report.summary.clone();
            }
        }
        self.publish().await?;
        Ok(report)
    }

    async fn pull_all(&self, token: &str, report: &mut SyncReport) -> ClientResult<()> {
        let me = self.me();
        let after: i64 = self
            .inner
            .cache
            .meta("cursor")
            .await?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        // The outbox depth is the changes waiting; a photo's file is counted by its change.
        // Pulls do not change it, so it is read once per round.
        let (changes, _, oldest) = self.inner.cache.depth().await?;
        let fetch = |after: i64| async move {
            self.inner
                .transport
                .pull(token, after, PULL_PAGE, changes, oldest)
                .await
        };
        let failed = |e: TransportError| -> ClientError {
            lock(&self.inner.state).reachable = !matches!(e, TransportError::Unreachable(_));
            self.obey_retry_after(&e);
            e.into()
        };
        let mut page = fetch(after).await.map_err(failed)?;
        for _ in 0..100_000 {
            report.pulled += page.changes.len();
            if !page.more {
                return self.inner.cache.apply_pull(&page, &me, self.now()).await;
            }
            // The next page is fetched while this one is folded in: the network and the disk
            // overlap, which is most of a fresh device's catch-up. The cursor still moves only
            // with a committed page, so a crash between the two loses nothing.
            let (applied, next) = tokio::join!(
                self.inner.cache.apply_pull(&page, &me, self.now()),
                fetch(page.next)
            );
            applied?;
            page = next.map_err(failed)?;
        }
        Ok(())
    }

    async fn summarise(&self, answered: &[(Change, Outcome)]) -> ClientResult<Vec<String>> {
        // Per job: what synced; what is held, by why; what was refused.
        type Held = Vec<(&'static str, Vec<&'static str>)>;
        let mut jobs: BTreeMap<RecordId, (Vec<&'static str>, Held, Vec<String>)> = BTreeMap::new();
        for (change, outcome) in answered {
            let job = if change.record_type == RecordType::Job {
                Some(change.record_id)
            } else {
                first_group_field(change.record_type, &change.values, "job_id")
                    .and_then(|j| j.parse().ok())
                    .or(self
                        .inner
                        .cache
                        .record(change.record_id)
                        .await?
                        .and_then(|r| r.job_id))
            };
            let Some(job) = job else { continue };
            let entry = jobs.entry(job).or_default();
            let what = text::what_changed(
                change.record_type,
                fieldsync_core::judge::change_group(change),
            );
            match outcome.status {
                OutcomeStatus::Applied => {
                    if !entry.0.contains(&what) {
                        entry.0.push(what);
                    }
                }
                OutcomeStatus::Held => {
                    let why =
                        text::held_because(outcome.code.as_deref().and_then(ReviewKind::parse));
                    match entry.1.iter_mut().find(|(w, _)| *w == why) {
                        Some((_, whats)) if whats.contains(&what) => {}
                        Some((_, whats)) => whats.push(what),
                        None => entry.1.push((why, vec![what])),
                    }
                }
                OutcomeStatus::Rejected => {
                    if let Some(message) = &outcome.message {
                        if !outcome.is_transient() {
                            entry.2.push(text::refused(what, message));
                        }
                    }
                }
            }
        }
        let mut lines = Vec::new();
        for (job, (synced, held, refused)) in jobs {
            let label = self
                .inner
                .cache
                .record(job)
                .await?
                .and_then(|r| r.number)
                .unwrap_or_else(|| text::NEW_JOB.to_string());
            lines.push(text::job_line(&label, &synced, &held, &refused));
        }
        Ok(lines)
    }

    /// Runs the client until `shutdown` turns true: syncs when a change is saved, when the server
    /// pokes, and when a lane's retry time comes; listens for pokes with reconnects.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let listener = self.clone();
        let mut listen_shutdown = shutdown.clone();
        let events = tokio::spawn(async move {
            let mut attempt = 0u32;
            loop {
                let Ok(token) = listener.token() else { break };
                match listener.inner.transport.events(&token).await {
                    Ok(mut stream) => {
                        attempt = 0;
                        loop {
                            tokio::select! {
                                poke = futures::StreamExt::next(&mut stream) => match poke {
                                    Some(_) => listener.inner.wake.notify_one(),
                                    None => break,
                                },
                                _ = listen_shutdown.changed() => return,
                            }
                        }
                    }
                    Err(_) => attempt += 1,
                }
                let wait = schedule::delay(
                    Lane::Changes,
                    attempt.max(1),
                    1,
                    listener.inner.config.seed.wrapping_add(u64::from(attempt)),
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = listen_shutdown.changed() => return,
                }
            }
        });
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.sync_once().await {
                tracing::warn!(error = %e, "sync round failed");
            }
            if let Err(e) = self.inner.cache.checkpoint().await {
                tracing::warn!(error = %e, "checkpoint of the local cache failed");
            }
            let set_aside = self
                .inner
                .cache
                .next_set_aside(self.now())
                .await
                .unwrap_or_default();
            let next = {
                let state = lock(&self.inner.state);
                [
                    state.changes.next_attempt,
                    state.files.next_attempt,
                    set_aside,
                ]
                .into_iter()
                .flatten()
                .min()
            };
            // Idle devices still pull now and then in case a poke was missed.
            let wait = next
                .map(|at| (at - self.now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(60))
                .min(Duration::from_secs(60));
            tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => break,
            }
        }
        events.abort();
    }
}

/// Changes per pull page: the server's largest.
const PULL_PAGE: i64 = 1000;
