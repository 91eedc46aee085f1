//! The two lanes: the changes lane pushes batches (one change per field group per request,
//! halving on failure, bisecting to the one change a failing server chokes on and setting it
//! aside), the files lane uploads attached files in chunks from the server's offset; each backs
//! off on the schedule of `schedule.rs` and obeys `Retry-After`.

use fieldsync_core::{Change, ChangeId, Op, Outcome, OutcomeStatus};
use std::collections::HashSet;

use crate::cache::Cache;
use crate::client::{lock, DeviceHint, LaneState, SyncClient, SyncReport};
use crate::schedule::{self, Lane};
use crate::text;
use crate::transport::TransportError;
use crate::ClientResult;

impl SyncClient {
    /// What the device knows of its conditions: a constrained one sends smaller batches and
    /// waits longer between uploads.
    pub fn set_hint(&self, hint: DeviceHint) {
        let mut state = lock(&self.inner.state);
        state.hint = hint;
        let cap = if hint.constrained() {
            CONSTRAINED_BATCH
        } else {
            self.inner.config.max_batch.max(1)
        };
        state.batch = state.batch.min(cap).max(1);
    }

    pub(crate) fn due(&self, lane: Lane, force: bool) -> bool {
        if force {
            return true;
        }
        let state = lock(&self.inner.state);
        let l = match lane {
            Lane::Changes => &state.changes,
            Lane::Files => &state.files,
        };
        l.next_attempt.is_none_or(|at| at <= self.now())
    }

    /// Whether the server asked (with `Retry-After`) not to be called yet.
    pub(crate) fn server_waits(&self) -> bool {
        lock(&self.inner.state)
            .server_wait
            .is_some_and(|at| at > self.now())
    }

    pub(crate) fn obey_retry_after(&self, error: &TransportError) {
        if let Some(wait) = error.retry_after() {
            let until = self.now()
                + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(5));
            let mut state = lock(&self.inner.state);
            state.server_wait = Some(state.server_wait.map_or(until, |at| at.max(until)));
        }
    }

    fn lane_failed(&self, lane: Lane, error: &TransportError) {
        self.obey_retry_after(error);
        self.note_refused_session(error);
        let now = self.now();
        let mut state = lock(&self.inner.state);
        state.draws += 1;
        let seed = self.inner.config.seed.wrapping_add(state.draws);
        let stretch = if state.hint.constrained() && lane == Lane::Files {
            4
        } else {
            1
        };
        if matches!(error, TransportError::Unreachable(_)) {
            state.reachable = false;
        }
        if lane == Lane::Changes {
            state.batch = (state.batch / 2).max(1);
        }
        let l = match lane {
            Lane::Changes => &mut state.changes,
            Lane::Files => &mut state.files,
        };
        l.failures += 1;
        let delay = schedule::next_delay(lane, l.failures, stretch, seed, error.retry_after());
        l.next_attempt =
            Some(now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::minutes(5)));
        l.last_error = Some(error.to_string());
    }

    fn lane_ok(&self, lane: Lane) {
        let mut state = lock(&self.inner.state);
        state.reachable = true;
        let cap = if state.hint.constrained() {
            CONSTRAINED_BATCH
        } else {
            self.inner.config.max_batch.max(1)
        };
        if lane == Lane::Changes {
            state.batch = (state.batch * 2).min(cap).max(1);
        }
        let l = match lane {
            Lane::Changes => &mut state.changes,
            Lane::Files => &mut state.files,
        };
        *l = LaneState::default();
    }

    pub(crate) async fn push_lane(
        &self,
        token: &str,
        report: &mut SyncReport,
        answered: &mut Vec<(Change, Outcome)>,
        force: bool,
    ) -> ClientResult<()> {
        // Each pass sends one batch; a pass that settles nothing (every change waits on a file
        // or was asked to wait) ends the lane's turn, so nothing spins.
        let mut bisections = 0;
        let mut set_aside_since_success = false;
        for _ in 0..10_000 {
            let batch_size = lock(&self.inner.state).batch.max(1);
            let mut batch = Vec::new();
            // One change per field group per request: the next one was made on top of it, and
            // its base is the version this one's answer names (the cache rebases it on settle).
            let mut groups_in_batch = HashSet::new();
            // A change set aside holds up only what was made on top of it: later changes of its
            // record's field group (or of its record, if it is the create).
            let mut held_back = HashSet::new();
            let now = self.now();
            for row in self.inner.cache.pending(Lane::Changes, 10_000).await? {
                let group = fieldsync_core::judge::change_group(&row.change);
                if held_back.contains(&(row.change.record_id, None))
                    || held_back.contains(&(row.change.record_id, group))
                {
                    continue;
                }
                // "Sync now" tries what was set aside too.
                if !force && row.retry_at.is_some_and(|at| at > now) {
                    let key = if row.change.op == Op::Create {
                        None
                    } else {
                        group
                    };
                    held_back.insert((row.change.record_id, key));
                    continue;
                }
                if let Some(sha) = &row.file_sha256 {
                    if !self.inner.cache.file_complete(sha).await? {
                        continue;
                    }
                }
                if row.change.op != Op::Create
                    && !groups_in_batch.insert((row.change.record_id, group))
                {
                    continue;
                }
                batch.push(row.change);
                if batch.len() >= batch_size {
                    break;
                }
            }
            if batch.is_empty() {
                return Ok(());
            }
            let ids: Vec<ChangeId> = batch.iter().map(|c| c.change_id).collect();
            self.inner.cache.bump_attempts(&ids).await?;
            match self.inner.transport.push(token, &batch).await {
                Ok(outcomes) => {
                    self.lane_ok(Lane::Changes);
                    bisections = 0;
                    set_aside_since_success = false;
                    report.sent += batch.len();
                    let mut settled = 0;
                    for outcome in &outcomes {
                        // A transient refusal settles nothing: the outbox keeps the change
                        // pending (the cache reads the same method), so it is not counted.
                        if outcome.is_transient() {
                            continue;
                        }
                        match outcome.status {
                            OutcomeStatus::Applied => report.applied += 1,
                            OutcomeStatus::Held => report.held += 1,
                            OutcomeStatus::Rejected => report.rejected += 1,
                        }
                        settled += 1;
                    }
                    let pairs: Vec<(Change, Outcome)> = batch.into_iter().zip(outcomes).collect();
                    self.inner.cache.settle(&pairs, self.now()).await?;
                    answered.extend(pairs);
                    self.publish().await?;
                    if settled == 0 {
                        return Ok(());
                    }
                }
                Err(e)
                    if e.is_permanent()
                        && batch.len() > 1
                        && matches!(e, TransportError::Refused { status: 413, .. }) =>
                {
                    let mut state = lock(&self.inner.state);
                    state.batch = (batch.len() / 2).max(1);
                }
                // The server answered but failed on this batch: one change in it may be what
                // it chokes on. Halve the batch at once (a few requests at most) until one
                // change fails alone; that one is set aside on its own schedule, so the
                // changes behind it are not held up by it.
                Err(e) if server_failed(&e) && batch.len() > 1 && bisections < MAX_BISECTIONS => {
                    bisections += 1;
                    lock(&self.inner.state).batch = (batch.len() / 2).max(1);
                }
                Err(e) => {
                    // One change set aside per stretch of failures: the rest go on in this
                    // round. A second failure before any success means the server itself is
                    // failing, and the lane backs off.
                    if server_failed(&e) && batch.len() == 1 && !set_aside_since_success {
                        let failures =
                            u32::try_from(rows_failures(&self.inner.cache, ids[0]).await?)
                                .unwrap_or(u32::MAX)
                                .saturating_add(1);
                        let seed = {
                            let mut state = lock(&self.inner.state);
                            state.draws += 1;
                            self.inner.config.seed.wrapping_add(state.draws)
                        };
                        let delay =
                            schedule::next_delay(Lane::Changes, failures, 1, seed, e.retry_after());
                        let retry_at = self.now()
                            + chrono::Duration::from_std(delay)
                                .unwrap_or(chrono::Duration::minutes(5));
                        self.inner.cache.set_aside(ids[0], retry_at).await?;
                        set_aside_since_success = true;
                        report.failed.push(text::set_aside(retry_at, &e));
                        self.publish().await?;
                        continue;
                    }
                    self.lane_failed(Lane::Changes, &e);
                    report
                        .failed
                        .push(text::step_failed(Lane::Changes.as_str(), &e));
                    self.publish().await?;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn file_lane(
        &self,
        token: &str,
        report: &mut SyncReport,
    ) -> ClientResult<usize> {
        let chunk = self.inner.config.chunk_size.max(1);
        let mut uploaded = 0;
        for file in self.inner.cache.files_pending().await? {
            let result: Result<(), TransportError> = async {
                let length = file.length.max(0) as u64;
                let mut offset = match self
                    .inner
                    .transport
                    .upload_offset(token, &file.sha256)
                    .await?
                {
                    Some(at) => at.offset,
                    None => 0,
                };
                let bytes = tokio::fs::read(&file.path).await.map_err(|e| {
                    TransportError::Decode(format!("cannot read {}: {e}", file.path))
                })?;
                while offset < length {
                    let end = (offset as usize + chunk).min(bytes.len());
                    let part = bytes.get(offset as usize..end).unwrap_or_default().to_vec();
                    offset = self
                        .inner
                        .transport
                        .upload(token, &file.sha256, offset, length, part)
                        .await?;
                    self.inner
                        .cache
                        .set_file_progress(&file.sha256, offset as i64, false)
                        .await
                        .map_err(|e| TransportError::Decode(e.to_string()))?;
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => {
                    self.inner
                        .cache
                        .set_file_progress(&file.sha256, file.length, true)
                        .await?;
                    uploaded += 1;
                    report.files_uploaded += 1;
                }
                Err(e) => {
                    self.lane_failed(Lane::Files, &e);
                    report
                        .failed
                        .push(text::step_failed(Lane::Files.as_str(), &e));
                    self.publish().await?;
                    return Ok(uploaded);
                }
            }
        }
        self.lane_ok(Lane::Files);
        Ok(uploaded)
    }
}

/// The largest batch a constrained device (low battery, metered, poor signal) sends.
const CONSTRAINED_BATCH: usize = 20;

/// How many times one round halves a failing batch to find the change the server fails on:
/// enough to go from the largest batch to one change.
const MAX_BISECTIONS: u32 = 8;

/// The server answered and failed (a 5xx, or an answer that cannot be read), as opposed to being
/// out of reach: what it failed on may be one change.
fn server_failed(error: &TransportError) -> bool {
    match error {
        TransportError::Refused {
            status,
            retry_after,
            ..
        } => (500..=599).contains(status) && *status != 503 && retry_after.is_none(),
        TransportError::Decode(_) => true,
        TransportError::Unreachable(_) => false,
    }
}

async fn rows_failures(cache: &Cache, change_id: ChangeId) -> ClientResult<i64> {
    Ok(cache
        .outbox_row(change_id)
        .await?
        .map_or(0, |row| row.failures))
}
