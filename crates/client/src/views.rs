//! What a screen reads: where a change and a record stand (the server's state with this
//! device's pending changes laid over), lists of records, review items, matches before a
//! create, and the sync status a banner watches.

use fieldsync_core::wire::ReviewItem;
use fieldsync_core::{ChangeId, Group, Op, RecordId, RecordType};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use tokio::sync::watch;

use crate::cache::{CachedRecord, OutboxRow};
use crate::client::{lock, LaneState, RecordView, SyncClient};
use crate::matching::{self, JobCandidate, Match};
use crate::outbox::OutboxState;
use crate::schedule::Lane;
use crate::status::{ChangeState, LaneStatus, SyncStatus};
use crate::ClientResult;

impl SyncClient {
    /// Where one saved change stands.
    pub async fn change_state(&self, change_id: ChangeId) -> ClientResult<Option<ChangeState>> {
        Ok(self
            .inner
            .cache
            .outbox_row(change_id)
            .await?
            .map(|row| self.state_of(&row)))
    }

    pub(crate) fn state_of(&self, row: &OutboxRow) -> ChangeState {
        match row.state {
            OutboxState::Synced => ChangeState::Synced,
            OutboxState::Held => ChangeState::Held {
                review_id: row.review_id.clone(),
                reason: row.reason.clone().unwrap_or_default(),
            },
            OutboxState::Rejected => ChangeState::Rejected {
                code: row.code.clone().unwrap_or_default(),
                reason: row
                    .reason
                    .clone()
                    .unwrap_or_else(|| "refused by the server".into()),
            },
            OutboxState::Pending => {
                let state = lock(&self.inner.state);
                // A photo's change waits for its file: while the file lane fails, so does it.
                let lane = match row.lane {
                    _ if row.file_sha256.is_some() && state.files.failures > 0 => &state.files,
                    Lane::Changes => &state.changes,
                    Lane::Files => &state.files,
                };
                // Set aside: the server failed on this change alone; it has its own next try.
                if let Some(retry_at) = row.retry_at.filter(|at| *at > self.now()) {
                    return ChangeState::SyncFailed { retry_at };
                }
                match (lane.failures, lane.next_attempt) {
                    // Out of reach is not a failure of the change: it waits, and the banner
                    // says the server is gone and when the next try is.
                    (f, Some(_)) if f > 0 && !state.reachable => ChangeState::WaitingToSync,
                    (f, Some(retry_at)) if f > 0 => ChangeState::SyncFailed { retry_at },
                    _ if row.attempts == 0 => ChangeState::SavedOnDevice,
                    _ => ChangeState::WaitingToSync,
                }
            }
        }
    }

    /// A record as this device shows it, with its pending changes and sync state.
    pub async fn record(&self, record_id: RecordId) -> ClientResult<Option<RecordView>> {
        let Some(record) = self.inner.cache.record(record_id).await? else {
            return Ok(None);
        };
        let rows = self.inner.cache.outbox_for(record_id).await?;
        let resolved = self.inner.cache.resolved_reviews().await?;
        Ok(Some(self.view(record, &rows, &resolved)))
    }

    /// Records of a type as this device shows them, newest first: every one, in a few queries
    /// whatever their number (one per record was seconds for an office's thousands of jobs).
    pub async fn records(&self, record_type: RecordType) -> ClientResult<Vec<RecordView>> {
        self.records_of(record_type, None).await
    }

    /// Those of `ids` of a type's records as this device shows them (the ones it has), newest
    /// first: what a reader keeping its own copy of a list reads again when they changed.
    pub async fn records_in(
        &self,
        record_type: RecordType,
        ids: &[RecordId],
    ) -> ClientResult<Vec<RecordView>> {
        self.records_of(record_type, Some(ids)).await
    }

    /// The records of a type that may read differently now than when a reader read them at
    /// `since` with the outbox at `after_position` (see [`crate::cache::Cache::touched_since`]).
    pub async fn records_touched(
        &self,
        record_type: RecordType,
        since: chrono::DateTime<chrono::Utc>,
        after_position: i64,
    ) -> ClientResult<Vec<RecordId>> {
        self.inner
            .cache
            .touched_since(record_type, since, after_position)
            .await
    }

    async fn records_of(
        &self,
        record_type: RecordType,
        ids: Option<&[RecordId]>,
    ) -> ClientResult<Vec<RecordView>> {
        let cache = &self.inner.cache;
        let resolved = cache.resolved_reviews().await?;
        let records = cache.records_with_groups(record_type, ids).await?;
        let mut rows: std::collections::HashMap<RecordId, Vec<OutboxRow>> = Default::default();
        for row in cache.outbox_of_type(record_type, ids).await? {
            rows.entry(row.change.record_id).or_default().push(row);
        }
        Ok(records
            .into_iter()
            .map(|record| {
                let mine = rows.remove(&record.record_id).unwrap_or_default();
                self.view(record, &mine, &resolved)
            })
            .collect())
    }

    fn view(
        &self,
        record: CachedRecord,
        rows: &[OutboxRow],
        resolved: &HashSet<String>,
    ) -> RecordView {
        let mut values: BTreeMap<Group, Value> = record
            .groups
            .iter()
            .map(|(g, (_, v))| (*g, v.clone()))
            .collect();
        let mut state = ChangeState::Synced;
        let mut pending = 0;
        for row in rows {
            let row_state = self.state_of(row);
            if row_state.is_pending() {
                pending += 1;
                match row.change.op {
                    Op::Create => {
                        if let Some(groups) = row.change.values.as_object() {
                            for (g, v) in groups {
                                if let Some(group) = Group::parse(g) {
                                    values.entry(group).or_insert_with(|| v.clone());
                                }
                            }
                        }
                    }
                    _ => {
                        if let Some(group) = fieldsync_core::judge::change_group(&row.change) {
                            let current = values
                                .remove(&group)
                                .unwrap_or(Value::Object(Default::default()));
                            let mut merged =
                                fieldsync_core::model::merge_values(&current, &row.change.values);
                            // A void still in the outbox shows the state it ends in, as it will
                            // once settled (the cache lays it in the same way): its values name
                            // only the reason, and the job page would otherwise still show the
                            // state it was voided from while the board's next read shows voided.
                            if row.change.op == Op::Void && group == Group::Status {
                                let named = row
                                    .change
                                    .values
                                    .get("state")
                                    .and_then(Value::as_str)
                                    .and_then(fieldsync_core::State::parse);
                                let end = record.record_type.void_state(named);
                                if let Some(map) = merged.as_object_mut() {
                                    map.insert("state".into(), Value::String(end.as_str().into()));
                                }
                            }
                            values.insert(group, merged);
                        }
                    }
                }
            }
            // A change settled long ago does not colour today's badge, but one still open does;
            // a held one stops once its review is resolved.
            let review_closed = row
                .review_id
                .as_ref()
                .is_some_and(|id| resolved.contains(id));
            if row_state.severity() > state.severity()
                && !review_closed
                && (row_state.is_pending()
                    || matches!(
                        row_state,
                        ChangeState::Held { .. } | ChangeState::Rejected { .. }
                    ))
            {
                state = row_state;
            }
        }
        let bases = record
            .record_type
            .groups()
            .iter()
            .map(|g| (*g, crate::saving::base_of(&record, rows, *g)))
            .collect();
        RecordView {
            record,
            values,
            state,
            pending,
            bases,
        }
    }

    /// The review items that concern this user, as the last pull had them.
    pub async fn review_items(&self) -> ClientResult<Vec<ReviewItem>> {
        self.inner.cache.review_items().await
    }

    /// Before creating a job: local drafts, pending creates and recent jobs that look the same.
    pub async fn find_matches(&self, candidate: &JobCandidate) -> ClientResult<Vec<Match>> {
        matching::find(&self.inner.cache, candidate, self.now()).await
    }

    /// Watch the sync status (a UI subscribes to this).
    pub fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.inner.status.subscribe()
    }

    /// The sync status now.
    pub async fn status(&self) -> ClientResult<SyncStatus> {
        self.publish().await?;
        Ok(self.inner.status.borrow().clone())
    }

    pub(crate) async fn publish(&self) -> ClientResult<()> {
        let (changes, files, attention) = self.inner.cache.status_counts().await?;
        let signed_in = lock(&self.inner.session).is_some();
        let status = {
            let state = lock(&self.inner.state);
            let lane = |l: &LaneState, pending: i64| LaneStatus {
                pending: pending.max(0) as u64,
                failures: l.failures,
                next_attempt: if pending > 0 {
                    Some(l.next_attempt.unwrap_or_else(|| self.now()))
                } else {
                    None
                },
                last_error: l.last_error.clone(),
            };
            SyncStatus {
                changes: lane(&state.changes, changes),
                files: lane(&state.files, files),
                server_reachable: state.reachable,
                round_reached_server: state.round_reached,
                signed_in,
                revision: state.revision,
                needs_attention: attention.max(0) as u64,
                last_synced: state.last_synced,
                summary: state.summary.clone(),
                summary_at: state.summary_at,
            }
        };
        // Only a real change wakes the watchers: a screen that reads the status on each
        // notification must not cause the next one.
        self.inner.status.send_if_modified(|old| {
            let changed = *old != status;
            *old = status;
            changed
        });
        Ok(())
    }
}
