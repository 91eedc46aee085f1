//! A push batch's unit of work, for every backend: the records it has read (and changed) in
//! memory, how each verdict of the judge becomes rows, and the writes it owes the database,
//! made in a few multi-row statements when the batch ends.
//!
//! Every change is still judged on its own, against the record as the earlier changes of the
//! same batch left it; the whole batch commits in one transaction. Writing row by row costs a
//! round trip per statement, which dominated the server's CPU time.
//!
//! The batch's log rows get their `seq` only when they are first written ([`Tx::claim_seq`]):
//! until then they carry their place in the batch. On a backend with many writers this keeps
//! the stretch during which one transaction owns the end of the change log as short as the
//! write of its rows and its commit.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use uuid::Uuid;

use fieldsync_core::judge::change_group;
use fieldsync_core::model::GroupState;
use fieldsync_core::wire::{ReviewKind, VersionSide};
use fieldsync_core::{
    judge, Apply, Change, Group, Hold, JobMatch, JudgeInput, Op, Outcome, OutcomeStatus, Owner,
    Policy, RecordId, RecordState, RecordType, Rejection, ReviewId, State, Verdict,
};

use super::backend::Tx;
use super::records::{insert_review, load_record, version_side, LogRow};
use super::rows::{files_named, parse, GroupWrite, NewChange, NewRecord, RecordRow, RecordUpdate};
use super::{DeviceAuth, StoreError, StoreResult};

/// A record as the batch knows it: shared, so reading a job for each of a hundred notes does
/// not copy it a hundred times.
type Known = Arc<(RecordState, RecordRow)>;

/// What the batch knows of a change id.
enum Seen {
    /// Stored by an earlier push.
    Stored(Outcome),
    /// Judged earlier in this batch: the index of its answer.
    InBatch(usize),
}

/// One answer of the batch, in the order of the changes.
enum Answer {
    Judged {
        outcome: Outcome,
        /// The place of its log row in the batch, if it has one.
        offset: Option<i64>,
    },
    Replayed(Outcome),
    ReplayedInBatch(usize),
}

/// A log row waiting for its seq.
struct PendingLog {
    offset: i64,
    row: NewChange,
    outcome: Outcome,
}

/// Human numbers reserved for one record type.
#[derive(Default)]
struct Numbers {
    free: VecDeque<i64>,
    last_reserved: i64,
}

/// A new record's columns that only its insert needs.
struct Created {
    record_id: String,
    site: Option<String>,
    window_start: Option<String>,
    created_by: String,
}

/// A change the judge has decided on, with what the batch read to judge it: what each
/// verdict's writer starts from.
struct Judged<'c> {
    change: &'c Change,
    /// The record as the batch knows it, if it exists as the type the change names.
    loaded: Option<Known>,
    /// The job the record hangs off, or the job a new record names.
    parent_id: Option<String>,
    /// The answer so far: applied, with the record's number.
    outcome: Outcome,
}

/// What an applied create makes: the judge's [`Apply::Create`] but its duplicate match.
struct Creation {
    owner: Owner,
    state: State,
    groups: BTreeMap<Group, Value>,
    job_id: Option<RecordId>,
}

pub(crate) struct Batch<'a> {
    device: &'a DeviceAuth,
    policy: &'a Policy,
    now: DateTime<Utc>,
    seen: HashMap<String, Seen>,
    records: HashMap<String, Option<Known>>,
    created: Vec<Created>,
    dirty_groups: BTreeSet<(String, Group)>,
    dirty_records: BTreeSet<String>,
    numbers: HashMap<RecordType, Numbers>,
    /// Creates still to judge that may need a number, by type: how many numbers to reserve.
    creates_left: HashMap<RecordType, i64>,
    /// The seq of the batch's first log row, claimed when the first is written.
    seq_base: Option<i64>,
    /// Log rows made so far: the next one's place.
    logged: i64,
    logs: Vec<PendingLog>,
    answers: Vec<Answer>,
}

pub(crate) fn job_child_id(change: &Change) -> Option<String> {
    let group = change.record_type.groups().first()?;
    change
        .values
        .get(group.as_str())
        .and_then(|g| g.get("job_id"))
        .and_then(Value::as_str)
        .filter(|s| Uuid::parse_str(s).is_ok())
        .map(str::to_string)
}

fn customer_of(change: &Change) -> Option<&str> {
    if change.op != Op::Create || change.record_type != RecordType::Job {
        return None;
    }
    change
        .values
        .get("schedule")
        .and_then(|s| s.get("customer_id"))
        .and_then(Value::as_str)
}

impl<'a> Batch<'a> {
    /// Reads what the whole batch needs up front: the outcomes of change ids seen before and
    /// which records exist; then locks the records it will judge against (with their jobs)
    /// and the customers it creates jobs for.
    pub async fn begin<T: Tx>(
        tx: &mut T,
        device: &'a DeviceAuth,
        policy: &'a Policy,
        now: DateTime<Utc>,
        changes: &[Change],
    ) -> StoreResult<Batch<'a>> {
        let mut batch = Batch {
            device,
            policy,
            now,
            seen: HashMap::new(),
            records: HashMap::new(),
            created: Vec::new(),
            dirty_groups: BTreeSet::new(),
            dirty_records: BTreeSet::new(),
            numbers: HashMap::new(),
            creates_left: HashMap::new(),
            seq_base: None,
            logged: 0,
            logs: Vec::new(),
            answers: Vec::with_capacity(changes.len()),
        };
        let ids: Vec<String> = changes.iter().map(|c| c.change_id.to_string()).collect();
        for (id, outcome) in tx.stored_outcomes(&ids).await? {
            batch
                .seen
                .insert(id, Seen::Stored(serde_json::from_str(&outcome)?));
        }
        // Which of the named records (and the jobs they point at) exist, in one query; the
        // rest are known to be new without asking again.
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for change in changes {
            wanted.insert(change.record_id.to_string());
            if let Some(job) = job_child_id(change) {
                wanted.insert(job);
            }
        }
        let wanted: Vec<String> = wanted.into_iter().collect();
        let existing = tx.existing_records(&wanted).await?;
        let mut to_lock: BTreeSet<String> = BTreeSet::new();
        for row in &existing {
            to_lock.insert(row.record_id.clone());
            // A record is judged with its job (a note on a signed-off job is refused), so the
            // job is held still too.
            if let Some(job) = &row.job_id {
                to_lock.insert(job.clone());
            }
        }
        let existing: BTreeSet<&str> = existing.iter().map(|r| r.record_id.as_str()).collect();
        for id in &wanted {
            if !existing.contains(id.as_str()) {
                batch.records.insert(id.clone(), None);
            }
        }
        for change in changes {
            let fresh = !batch.seen.contains_key(&change.change_id.to_string());
            if fresh && change.op == Op::Create {
                *batch.creates_left.entry(change.record_type).or_default() += 1;
            }
        }
        let to_lock: Vec<String> = to_lock.into_iter().collect();
        tx.lock_records(&to_lock).await?;
        let customers: BTreeSet<String> = changes
            .iter()
            .filter_map(customer_of)
            .map(str::to_string)
            .collect();
        if !customers.is_empty() {
            let customers: Vec<String> = customers.into_iter().collect();
            tx.lock_customers(&customers).await?;
        }
        Ok(batch)
    }

    async fn record<T: Tx>(&mut self, tx: &mut T, id: &str) -> StoreResult<Option<Known>> {
        if let Some(known) = self.records.get(id) {
            return Ok(known.clone());
        }
        let loaded = load_record(tx, id).await?.map(Arc::new);
        self.records.insert(id.to_string(), loaded.clone());
        Ok(loaded)
    }

    async fn next_number<T: Tx>(
        &mut self,
        tx: &mut T,
        record_type: RecordType,
    ) -> StoreResult<String> {
        let left = self.creates_left.get(&record_type).copied().unwrap_or(0);
        let numbers = self.numbers.entry(record_type).or_default();
        if numbers.free.is_empty() {
            // Enough for this create and every later one of its type in the batch: one
            // statement per type and batch rather than one per create.
            let got = tx.reserve_numbers(record_type, left + 1).await?;
            if let Some(last) = got.last() {
                numbers.last_reserved = numbers.last_reserved.max(*last);
            }
            numbers.free.extend(got);
        }
        let number = numbers
            .free
            .pop_front()
            .ok_or_else(|| StoreError::Corrupt("no human number was reserved".into()))?;
        Ok(format!("{}-{:06}", record_type.number_prefix(), number))
    }

    /// Keeps a log row until the batch writes it; its place in the batch.
    fn log(&mut self, row: LogRow<'_>, outcome: &Outcome) -> i64 {
        let offset = self.logged;
        self.logs.push(PendingLog {
            offset,
            row: row.columns(0, outcome),
            outcome: outcome.clone(),
        });
        self.logged += 1;
        offset
    }

    /// Writes everything the batch owes, so a query that reads the tables sees it. The log
    /// rows go last: claiming their seqs is what other writers may wait for.
    pub async fn flush<T: Tx>(&mut self, tx: &mut T) -> StoreResult<()> {
        let created = std::mem::take(&mut self.created);
        let mut new_rows = Vec::with_capacity(created.len());
        for new in created {
            self.dirty_records.remove(&new.record_id);
            if let Some(Some(known)) = self.records.get(&new.record_id) {
                let (state, row) = &**known;
                new_rows.push(NewRecord {
                    record_type: state.record_type.as_str(),
                    number: state.number.clone(),
                    owner: state.owner.to_key(),
                    owner_epoch: state.owner_epoch,
                    state: state.state.as_str().to_string(),
                    job_id: row.job_id.clone(),
                    customer_id: row.customer_id.clone(),
                    site: new.site,
                    window_start: new.window_start,
                    created_at: self.now,
                    created_by: new.created_by,
                    record_id: new.record_id,
                });
            }
        }
        if !new_rows.is_empty() {
            tx.insert_records(&new_rows).await?;
        }
        let mut groups = Vec::new();
        let mut files = Vec::new();
        for (id, group) in std::mem::take(&mut self.dirty_groups) {
            if let Some(Some(known)) = self.records.get(&id) {
                if let Some(g) = known.0.groups.get(&group) {
                    files.extend(files_named(known.0.record_type, group, &id, &g.values));
                    groups.push(GroupWrite {
                        record_id: id,
                        group: group.as_str(),
                        version: g.version,
                        values: g.values.to_string(),
                        contested: g.contested,
                    });
                }
            }
        }
        if !groups.is_empty() {
            tx.upsert_groups(&groups).await?;
        }
        if !files.is_empty() {
            tx.insert_file_refs(&files).await?;
        }
        let mut updates = Vec::new();
        for id in std::mem::take(&mut self.dirty_records) {
            if let Some(Some(known)) = self.records.get(&id) {
                let state = &known.0;
                let schedule = state.groups.get(&Group::Schedule).map(|g| &g.values);
                let text = |k: &str| {
                    schedule
                        .and_then(|s| s.get(k))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                updates.push(RecordUpdate {
                    state: Some(state.state.as_str().to_string()),
                    site: text("site"),
                    window_start: text("window_start"),
                    updated_at: self.now,
                    record_id: id,
                });
            }
        }
        if !updates.is_empty() {
            tx.update_records(&updates).await?;
        }
        if !self.logs.is_empty() {
            let base = match self.seq_base {
                Some(base) => base,
                None => {
                    let base = tx.claim_seq().await?;
                    self.seq_base = Some(base);
                    base
                }
            };
            let mut rows = Vec::with_capacity(self.logs.len());
            for pending in std::mem::take(&mut self.logs) {
                let seq = base + pending.offset;
                let mut row = pending.row;
                let mut outcome = pending.outcome;
                if outcome.status == OutcomeStatus::Applied {
                    outcome.seq = Some(seq);
                }
                row.seq = seq;
                row.outcome = serde_json::to_string(&outcome)?;
                rows.push(row);
            }
            tx.insert_changes(&rows).await?;
        }
        Ok(())
    }

    /// Writes what is left and gives back unused numbers; the outcomes, one per change, and
    /// the newest seq the batch wrote.
    pub async fn finish<T: Tx>(mut self, tx: &mut T) -> StoreResult<(Vec<Outcome>, Option<i64>)> {
        self.flush(tx).await?;
        for (record_type, numbers) in &self.numbers {
            if let Some(first_unused) = numbers.free.front() {
                tx.release_numbers(*record_type, *first_unused, numbers.last_reserved)
                    .await?;
            }
        }
        let base = self.seq_base;
        let newest = base.map(|b| b + self.logged - 1);
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(self.answers.len());
        for answer in self.answers {
            let outcome = match answer {
                Answer::Judged {
                    mut outcome,
                    offset,
                } => {
                    if outcome.status == OutcomeStatus::Applied {
                        outcome.seq = match (base, offset) {
                            (Some(base), Some(offset)) => Some(base + offset),
                            _ => None,
                        };
                    }
                    outcome
                }
                Answer::Replayed(outcome) => outcome,
                Answer::ReplayedInBatch(index) => {
                    let mut outcome = outcomes
                        .get(index)
                        .cloned()
                        .ok_or_else(|| StoreError::Corrupt("replay of an unknown answer".into()))?;
                    outcome.replayed = true;
                    outcome
                }
            };
            outcomes.push(outcome);
        }
        Ok((outcomes, newest))
    }

    /// Judges one change against the records as they stand (this batch's writes included)
    /// and turns the verdict into rows, each verdict by its own writer below.
    pub async fn push_one<T: Tx>(&mut self, tx: &mut T, change: &Change) -> StoreResult<()> {
        let change_id = change.change_id.to_string();
        // Step 1: a change id seen before gets its stored outcome back, whichever instance
        // stored it.
        if self.replayed(&change_id) {
            return Ok(());
        }
        let (verdict, judged) = self.judge_change(tx, change).await?;
        let (outcome, offset) = match verdict {
            Verdict::Apply(Apply::Create {
                owner,
                state,
                groups,
                job_id,
                possible_duplicate_of,
            }) => {
                let creation = Creation {
                    owner,
                    state,
                    groups,
                    job_id,
                };
                self.applied_create(tx, judged, creation, possible_duplicate_of)
                    .await?
            }
            Verdict::Apply(Apply::Update {
                group,
                values,
                version,
                state,
            }) => self.applied_update(judged, group, values, version, state)?,
            Verdict::Hold(hold) if judged.loaded.is_none() => {
                self.held_create(tx, judged, hold).await?
            }
            Verdict::Hold(hold) => self.held(tx, judged, hold).await?,
            Verdict::Reject(rejection) => self.rejected(judged, rejection),
        };
        // A change the log keeps no row of (a refusal the device can fix and resend) is judged
        // afresh if it comes again, in this batch too.
        if offset.is_some() {
            self.seen
                .insert(change_id, Seen::InBatch(self.answers.len()));
        }
        self.answers.push(Answer::Judged { outcome, offset });
        Ok(())
    }

    /// Answers a change id seen before: with its stored outcome, or with the answer given to
    /// it earlier in this batch. Whether it was seen.
    fn replayed(&mut self, change_id: &str) -> bool {
        let answer = match self.seen.get(change_id) {
            Some(Seen::Stored(stored)) => {
                let mut outcome = stored.clone();
                outcome.replayed = true;
                Answer::Replayed(outcome)
            }
            Some(Seen::InBatch(index)) => Answer::ReplayedInBatch(*index),
            None => return false,
        };
        self.answers.push(answer);
        true
    }

    /// Reads what the judge needs to know of one change (its record, its job, a new job's
    /// rivals, a photo's file) and asks it.
    async fn judge_change<'c, T: Tx>(
        &mut self,
        tx: &mut T,
        change: &'c Change,
    ) -> StoreResult<(Verdict, Judged<'c>)> {
        if change.op == Op::Create {
            if let Some(left) = self.creates_left.get_mut(&change.record_type) {
                *left = (*left - 1).max(0);
            }
        }
        let record_id = change.record_id.to_string();
        // A change is judged against the record type it names. An update or void that names
        // another type than the stored record's (a job's rules on an invoice's id) finds no
        // such record, so one type's writers, voiders and locks cannot reach another's.
        let loaded = match self.record(tx, &record_id).await? {
            Some(known) if change.op != Op::Create && known.0.record_type != change.record_type => {
                None
            }
            loaded => loaded,
        };
        let parent_id = match &loaded {
            Some(known) => known.1.job_id.clone(),
            None => job_child_id(change),
        };
        let parent = match &parent_id {
            Some(id) => self
                .record(tx, id)
                .await?
                .filter(|p| p.0.record_type == RecordType::Job),
            None => None,
        };
        let mut candidates = Vec::new();
        if let Some(customer) = customer_of(change) {
            // The open jobs of this batch count too.
            self.flush(tx).await?;
            for row in tx.open_jobs_of_customer(customer).await? {
                candidates.push(JobMatch {
                    record_id: parse(&row.record_id, "record id")?,
                    number: row.number,
                    site: row.site.unwrap_or_default(),
                    window_start: row.window_start,
                    state: parse(&row.state, "state")?,
                });
            }
        }
        let mut file_complete = false;
        if change.op == Op::Create && change.record_type == RecordType::Photo {
            if let Some(sha) = change
                .values
                .get("file")
                .and_then(|f| f.get("sha256"))
                .and_then(Value::as_str)
            {
                file_complete = tx.file_status(sha).await?.is_some_and(|f| f.complete);
            }
        }
        let verdict = judge(&JudgeInput {
            change,
            author: &self.device.author,
            policy: self.policy,
            record: loaded.as_deref().map(|(r, _)| r),
            parent_job: parent.as_deref().map(|(p, _)| p),
            open_jobs_of_customer: &candidates,
            file_complete,
        });
        let outcome = Outcome {
            change_id: change.change_id,
            status: OutcomeStatus::Applied,
            version: None,
            seq: None,
            number: loaded.as_ref().and_then(|known| known.0.number.clone()),
            review_id: None,
            code: None,
            message: None,
            flags: Vec::new(),
            replayed: false,
        };
        Ok((
            verdict,
            Judged {
                change,
                loaded,
                parent_id,
                outcome,
            },
        ))
    }

    /// An applied create: the new record (with a number of its type), its groups at version
    /// 1, and, when it may duplicate an open job, a review item that says so.
    async fn applied_create<T: Tx>(
        &mut self,
        tx: &mut T,
        judged: Judged<'_>,
        creation: Creation,
        possible_duplicate_of: Option<JobMatch>,
    ) -> StoreResult<(Outcome, Option<i64>)> {
        let Judged {
            change,
            mut outcome,
            ..
        } = judged;
        let Creation {
            owner,
            state,
            groups,
            job_id,
        } = creation;
        let (device, now) = (self.device, self.now);
        let author = device.author.user.as_str();
        let record_id = change.record_id.to_string();
        let number = self.next_number(tx, change.record_type).await?;
        let schedule = groups.get(&Group::Schedule);
        let text = |k: &str| {
            schedule
                .and_then(|s| s.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let job_id = job_id.map(|j| j.to_string());
        let record = RecordState {
            record_type: change.record_type,
            record_id: change.record_id,
            number: Some(number.clone()),
            owner: owner.clone(),
            owner_epoch: 1,
            state,
            groups: groups
                .iter()
                .map(|(g, v)| {
                    (
                        *g,
                        GroupState {
                            version: 1,
                            values: v.clone(),
                            contested: false,
                        },
                    )
                })
                .collect(),
            // Earlier owners are written at reassignment; a new record has none.
            owner_history: BTreeMap::new(),
        };
        let row = RecordRow {
            record_id: record_id.clone(),
            record_type: change.record_type.as_str().to_string(),
            number: Some(number.clone()),
            owner: owner.to_key(),
            owner_epoch: 1,
            state: state.as_str().to_string(),
            job_id: job_id.clone(),
            customer_id: text("customer_id"),
        };
        let stored_values = serde_json::to_value(&groups)?;
        let log_row = LogRow::change(change, device, now)
            .created()
            .values(&stored_values)
            .on(&record, &row);
        self.created.push(Created {
            record_id: record_id.clone(),
            site: text("site"),
            window_start: text("window_start"),
            created_by: author.to_string(),
        });
        for group in groups.keys() {
            self.dirty_groups.insert((record_id.clone(), *group));
        }
        self.records
            .insert(record_id.clone(), Some(Arc::new((record, row))));
        outcome.version = Some(1);
        outcome.number = Some(number);
        if let Some(matched) = possible_duplicate_of {
            let review_id = self
                .possible_duplicate(tx, change, &matched, &stored_values)
                .await?;
            outcome.flags.push("possible_duplicate".into());
            outcome.review_id = Some(review_id);
        }
        let offset = self.log(log_row, &outcome);
        Ok((outcome, Some(offset)))
    }

    /// The review item of a new job that may repeat an open one of the same customer: the new
    /// job as sent beside the open job as it stands.
    async fn possible_duplicate<T: Tx>(
        &mut self,
        tx: &mut T,
        change: &Change,
        matched: &JobMatch,
        values: &Value,
    ) -> StoreResult<ReviewId> {
        let (device, now) = (self.device, self.now);
        let review_id = ReviewId(Uuid::now_v7());
        let incoming = incoming_side(values.clone(), Some(1), device, change, now);
        let matched_id = matched.record_id.to_string();
        let current = match self.record(tx, &matched_id).await? {
            Some(m) => Some(VersionSide {
                values: serde_json::to_value(
                    m.0.groups
                        .iter()
                        .map(|(g, s)| (*g, s.values.clone()))
                        .collect::<BTreeMap<_, _>>(),
                )?,
                version: None,
                author: None,
                device_id: None,
                device_name: None,
                server_time: None,
                device_time: None,
            }),
            None => None,
        };
        insert_review(
            tx,
            review_id,
            ReviewKind::PossibleDuplicate,
            change,
            None,
            None,
            current.as_ref(),
            &incoming,
            Some(&matched_id),
            &device.author.user,
            now,
        )
        .await?;
        Ok(review_id)
    }

    /// An applied update: the group's new version (and the record's new state, when the change
    /// moves it).
    fn applied_update(
        &mut self,
        judged: Judged<'_>,
        group: Group,
        values: Value,
        version: i64,
        state: Option<State>,
    ) -> StoreResult<(Outcome, Option<i64>)> {
        let Judged {
            change,
            loaded,
            mut outcome,
            ..
        } = judged;
        let (device, now) = (self.device, self.now);
        let record_id = change.record_id.to_string();
        let Some(known) = loaded else {
            return Err(StoreError::Corrupt(
                "judge applied an update to a missing record".into(),
            ));
        };
        let (mut record, row) = Arc::unwrap_or_clone(known);
        let contested = record.group(group).is_some_and(|g| g.contested);
        record.groups.insert(
            group,
            GroupState {
                version,
                values: values.clone(),
                contested,
            },
        );
        if let Some(state) = &state {
            record.state = *state;
        }
        self.dirty_groups.insert((record_id.clone(), group));
        self.dirty_records.insert(record_id.clone());
        outcome.version = Some(version);
        // The log keeps the group's whole values after the change, so any version can
        // be shown again as it stood (the base side of a later conflict).
        let log_row = LogRow::change(change, device, now)
            .group(Some(group))
            .values(&values)
            .on(&record, &row);
        let offset = self.log(log_row, &outcome);
        self.records
            .insert(record_id, Some(Arc::new((record, row))));
        Ok((outcome, Some(offset)))
    }

    /// A held create: a new note, part or photo made offline on a job that has moved since.
    /// Nothing exists yet to contest; it waits in the inbox as it was sent.
    async fn held_create<T: Tx>(
        &mut self,
        tx: &mut T,
        judged: Judged<'_>,
        hold: Hold,
    ) -> StoreResult<(Outcome, Option<i64>)> {
        let Judged {
            change,
            parent_id,
            mut outcome,
            ..
        } = judged;
        let (device, now) = (self.device, self.now);
        let author = device.author.user.as_str();
        let review_id = ReviewId(Uuid::now_v7());
        let incoming = incoming_side(change.values.clone(), Some(0), device, change, now);
        insert_review(
            tx, review_id, hold.kind, change, hold.group, None, None, &incoming, None, author, now,
        )
        .await?;
        outcome.status = OutcomeStatus::Held;
        outcome.review_id = Some(review_id);
        outcome.code = Some(hold.kind.as_str().to_string());
        outcome.message = Some(hold.message);
        let log_row = LogRow::change(change, device, now)
            .group(hold.group)
            .scope_job(parent_id);
        let offset = self.log(log_row, &outcome);
        Ok((outcome, Some(offset)))
    }

    /// A held change to a record: a review item with the versions it contests, and, for a
    /// manual-review conflict, its group marked contested until the item is resolved.
    async fn held<T: Tx>(
        &mut self,
        tx: &mut T,
        judged: Judged<'_>,
        hold: Hold,
    ) -> StoreResult<(Outcome, Option<i64>)> {
        let Judged {
            change,
            loaded,
            mut outcome,
            ..
        } = judged;
        let (device, now) = (self.device, self.now);
        let author = device.author.user.as_str();
        let record_id = change.record_id.to_string();
        let Some(known) = loaded else {
            return Err(StoreError::Corrupt(
                "judge held a change to a missing record".into(),
            ));
        };
        let (mut record, row) = Arc::unwrap_or_clone(known);
        // The review item shows the versions as the log has them, this batch's
        // included.
        self.flush(tx).await?;
        let review_id = ReviewId(Uuid::now_v7());
        let group = hold.group.or_else(|| change_group(change));
        let (base, current) = match group.and_then(|g| record.group(g).map(|s| (g, s.clone()))) {
            Some((g, state)) => {
                let base = version_side(tx, &record_id, g, change.base_version, None).await?;
                let current =
                    version_side(tx, &record_id, g, state.version, Some(state.values.clone()))
                        .await?;
                (base, current)
            }
            None => (None, None),
        };
        let incoming = incoming_side(
            change.values.clone(),
            Some(change.base_version),
            device,
            change,
            now,
        );
        insert_review(
            tx,
            review_id,
            hold.kind,
            change,
            group,
            base.as_ref(),
            current.as_ref(),
            &incoming,
            None,
            author,
            now,
        )
        .await?;
        // Whether the hold marks its group contested is the judge's verdict.
        if let (true, Some(g)) = (hold.contests, group) {
            if let Some(state) = record.groups.get_mut(&g) {
                state.contested = true;
                self.dirty_groups.insert((record_id.clone(), g));
            }
        }
        outcome.status = OutcomeStatus::Held;
        outcome.review_id = Some(review_id);
        outcome.code = Some(hold.kind.as_str().to_string());
        outcome.message = Some(hold.message);
        let log_row = LogRow::change(change, device, now)
            .group(group)
            .on(&record, &row);
        let offset = self.log(log_row, &outcome);
        self.records
            .insert(record_id, Some(Arc::new((record, row))));
        Ok((outcome, Some(offset)))
    }

    /// A rejected change: logged when the refusal is a judgement on it, so that it is answered
    /// the same if it comes again; not logged when the device can fix it and resend it.
    fn rejected(&mut self, judged: Judged<'_>, rejection: Rejection) -> (Outcome, Option<i64>) {
        let Judged {
            change,
            loaded,
            parent_id,
            mut outcome,
        } = judged;
        outcome.status = OutcomeStatus::Rejected;
        outcome.code = Some(rejection.code.as_str().to_string());
        outcome.message = Some(rejection.message);
        if !rejection.code.is_final_judgement() {
            return (outcome, None);
        }
        let log_row = LogRow::change(change, self.device, self.now);
        let log_row = match &loaded {
            Some(known) => log_row.on(&known.0, &known.1),
            None => log_row.scope_job(parent_id),
        };
        let offset = self.log(log_row, &outcome);
        (outcome, Some(offset))
    }
}

/// The incoming side of a review item: what this device sent, by whom, from where, and when.
fn incoming_side(
    values: Value,
    version: Option<i64>,
    device: &DeviceAuth,
    change: &Change,
    now: DateTime<Utc>,
) -> VersionSide {
    VersionSide {
        values,
        version,
        author: Some(device.author.user.clone()),
        device_id: Some(device.device_id),
        device_name: Some(device.device_name.clone()),
        server_time: Some(now),
        device_time: Some(change.device_time),
    }
}
