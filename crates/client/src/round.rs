//! A sync round (the lanes that are due, then a pull of everything after the cursor), the
//! round's plain summary per job, and the loop that runs rounds when a change is saved, the
//! server pokes, or a retry time comes.

use fieldsync_core::wire::ReviewKind;
use fieldsync_core::{Change, Outcome, OutcomeStatus, RecordId, RecordType};
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;

use crate::client::{lock, SyncClient, SyncReport};
use crate::saving::first_group_field;
use crate::schedule::Lane;
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
        // A session the server refused during an office call is written down now, before the
        // missing token stops the round.
        self.forget_refused_session().await?;
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
        // Whether this round got through to the server: the pull is the one step every round
        // makes (a round the server asked to wait makes none, and changes nothing here).
        let mut reached = None;
        if !self.server_waits() {
            match self.pull_all(&token, &mut report).await {
                Ok(()) => reached = Some(true),
                Err(e) => {
                    report.failed.push(text::step_failed("pull", &e));
                    reached = Some(false);
                }
            }
        }
        report.summary = self.summarise(&answered).await?;
        {
            let mut state = lock(&self.inner.state);
            if let Some(reached) = reached {
                state.round_reached = reached;
                // The files lane marks the server there when it had nothing to send, without
                // asking it; the pull's answer (or its silence) is what the round learned.
                if reached {
                    state.reachable = true;
                }
            }
            if !answered.is_empty() || report.files_uploaded > 0 {
                state.revision += 1;
            }
            if report.failed.is_empty() && reached == Some(true) {
                state.last_synced = Some(self.now());
            }
            if !report.summary.is_empty() {
                state.summary = report.summary.clone();
                state.summary_at = Some(self.now());
            }
        }
        self.forget_refused_session().await?;
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
            self.note_refused_session(&e);
            e.into()
        };
        let mut page = fetch(after).await.map_err(failed)?;
        for _ in 0..100_000 {
            report.pulled += page.changes.len();
            if !(page.changes.is_empty() && page.ownership.is_empty() && page.records.is_empty()) {
                lock(&self.inner.state).revision += 1;
            }
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
    /// pokes, and when a lane's retry time comes; keeps the server's event stream open beside it
    /// (see [`SyncClient::listen`]).
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let listener = self.clone();
        let listen_shutdown = shutdown.clone();
        let events = tokio::spawn(async move { listener.listen(listen_shutdown).await });
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

    /// Keeps the server's event stream open until `shutdown`: each poke wakes the loop for a
    /// round. The stream is also how the device knows, within a moment, whether the server is
    /// there: a server that stops takes its connections with it, so the stream ends; the stream
    /// is reopened at once, and when that finds nobody the device is marked unreachable then,
    /// not when a round next fails (which on an idle device could be a minute away, and the
    /// banner would say "Synced" all that while). While the server is gone it is tried again
    /// every few seconds (up to `reconnect_cap`); when it answers again, the lanes' waits for an
    /// absent server are dropped and a round runs, so what waited is sent without anyone asking.
    async fn listen(&self, mut shutdown: watch::Receiver<bool>) {
        let mut attempt = 0u32;
        loop {
            // Signed out (or the server ended the session): no stream until someone signs in
            // again on this device; the same loop then opens it, so pokes reach the new
            // session too.
            let Ok(token) = self.token() else {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.changed() => return,
                }
            };
            match self.inner.transport.events(&token).await {
                Ok(mut stream) => {
                    attempt = 0;
                    self.server_back().await;
                    loop {
                        tokio::select! {
                            poke = futures::StreamExt::next(&mut stream) => match poke {
                                Some(_) => self.inner.wake.notify_one(),
                                None => break,
                            },
                            _ = shutdown.changed() => return,
                        }
                    }
                }
                Err(e) => {
                    attempt = attempt.saturating_add(1);
                    if matches!(e, TransportError::Unreachable(_)) {
                        if self.set_reachable(false) {
                            let _ = self.publish().await;
                        }
                    } else {
                        // It answered (a refusal, a limit): it is there, just not streaming.
                        self.obey_retry_after(&e);
                        self.set_reachable(true);
                        if e.is_unauthenticated() {
                            // The token is refused (a revoked device, a replaced sign-in):
                            // the device is signed out now, not after the next round.
                            self.note_refused_session(&e);
                            let _ = self.forget_refused_session().await;
                        }
                    }
                }
            }
            let wait = reconnect_delay(
                attempt,
                self.inner.config.reconnect_cap,
                self.inner.config.seed,
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// The event stream opened: the server is there. If it had been out of reach, the lanes'
    /// waits (timed for an absent server) no longer stand, and a round runs now.
    async fn server_back(&self) {
        if !self.set_reachable(true) {
            return;
        }
        {
            let mut guard = lock(&self.inner.state);
            let state = &mut *guard;
            for lane in [&mut state.changes, &mut state.files] {
                if lane.failures > 0 {
                    lane.next_attempt = None;
                }
            }
        }
        let _ = self.publish().await;
        self.inner.wake.notify_one();
    }
}

/// How long to wait before reopening the event stream: a moment after it ended (a server that
/// restarts is back in well under a second, and one that closes at once must not be spun on),
/// then doubling from half a second up to `cap`, each drawn in its upper half so a fleet that
/// lost the server together does not come back in step.
fn reconnect_delay(attempt: u32, cap: Duration, seed: u64) -> Duration {
    if attempt == 0 {
        return Duration::from_millis(200);
    }
    let top = Duration::from_millis(500)
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(cap.max(Duration::from_millis(500)));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ u64::from(attempt));
    let fraction: f64 = rand::Rng::gen_range(&mut rng, 0.5..=1.0);
    top.mul_f64(fraction)
}

/// Changes per pull page: the server's largest.
const PULL_PAGE: i64 = 1000;
