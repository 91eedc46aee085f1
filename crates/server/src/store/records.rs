//! The rows of records, the change log and the review inbox as the store's actions read and
//! write them, over any backend's [`Tx`]: loading and locking a record as the judge sees it, the
//! job whose scope a row is in, a change-log row, a review item and the versions it shows. The
//! push's batch (`batch.rs`) and the office's actions (`office.rs`) both build on these, so
//! neither reaches into the other.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;

use fieldsync_core::model::GroupState;
use fieldsync_core::wire::{ReviewKind, VersionSide};
use fieldsync_core::{
    Change, ChangeId, DeviceId, Group, Op, Outcome, Owner, RecordId, RecordState, RecordType,
    ReviewId,
};

use super::backend::Tx;
use super::rows::{json, owner_of, parse, record_type_of, NewChange, NewReview, RecordRow};
use super::{DeviceAuth, StoreError, StoreResult};

/// Loads a record as the judge sees it.
pub(crate) async fn load_record<T: Tx>(
    tx: &mut T,
    record_id: &str,
) -> StoreResult<Option<(RecordState, RecordRow)>> {
    let Some(row) = tx.record_row(record_id).await? else {
        return Ok(None);
    };
    let groups = tx.group_rows(record_id).await?;
    let history = tx.owner_history(record_id).await?;
    let mut group_map = BTreeMap::new();
    for g in groups {
        let group = Group::parse(&g.grp)
            .ok_or_else(|| StoreError::Corrupt(format!("bad group {}", g.grp)))?;
        group_map.insert(
            group,
            GroupState {
                version: g.version,
                values: json(&g.vals)?,
                contested: g.contested,
            },
        );
    }
    let mut owner_history = BTreeMap::new();
    for (epoch, owner) in history {
        owner_history.insert(epoch, owner_of(&owner)?);
    }
    let state = RecordState {
        record_type: record_type_of(&row.record_type)?,
        record_id: parse(&row.record_id, "record id")?,
        number: row.number.clone(),
        owner: owner_of(&row.owner)?,
        owner_epoch: row.owner_epoch,
        state: parse(&row.state, "state")?,
        groups: group_map,
        owner_history,
    };
    Ok(Some((state, row)))
}

/// Locks a record and the job it hangs off, in the backend's lock order.
pub(crate) async fn lock_with_job<T: Tx>(tx: &mut T, record_id: &str) -> StoreResult<()> {
    let existing = tx.existing_records(&[record_id.to_string()]).await?;
    let mut ids: Vec<String> = Vec::new();
    for row in existing {
        ids.extend(row.job_id);
        ids.push(row.record_id);
    }
    ids.sort();
    ids.dedup();
    tx.lock_records(&ids).await
}

fn scope_of(record: &RecordState, row: &RecordRow) -> Option<String> {
    match record.record_type {
        RecordType::Job => Some(row.record_id.clone()),
        _ => row.job_id.clone(),
    }
}

/// The values of a log row not yet told them.
const NO_VALUES: &Value = &Value::Null;

/// One row of the change log, as the store means to write it. Every row is made here: from a
/// change a device sent ([`LogRow::change`]) or from one the server makes ([`LogRow::server`]),
/// then told what differs for its verdict (the record it stands in, the group, the values).
pub(crate) struct LogRow<'a> {
    change_id: ChangeId,
    kind: &'static str,
    record_type: RecordType,
    record_id: RecordId,
    group: Option<Group>,
    op: Op,
    base_version: i64,
    values: &'a Value,
    owner_epoch: i64,
    device_time: DateTime<Utc>,
    author: &'a str,
    device_id: DeviceId,
    server_time: DateTime<Utc>,
    owner: String,
    state: String,
    scope_job: Option<String>,
}

impl<'a> LogRow<'a> {
    /// A change a device sent, logged as it came: its group, values and versions. Until
    /// [`LogRow::on`] names the record it stands in, it is logged as a record that does not
    /// exist: its author's, in no state, in no job's scope.
    pub fn change(change: &'a Change, device: &'a DeviceAuth, now: DateTime<Utc>) -> Self {
        LogRow {
            change_id: change.change_id,
            kind: "change",
            record_type: change.record_type,
            record_id: change.record_id,
            group: change.group,
            op: change.op,
            base_version: change.base_version,
            values: &change.values,
            owner_epoch: change.owner_epoch,
            device_time: change.device_time,
            author: &device.author.user,
            device_id: device.device_id,
            server_time: now,
            owner: Owner::User(device.author.user.clone()).to_key(),
            state: "none".to_string(),
            scope_job: None,
        }
    }

    /// A change the server makes to a record for a person (a resolution, reassignment or
    /// reopen, as `kind` says), made and received now, at the record's owner epoch, in the
    /// record as it stands; [`LogRow::update`] says what it writes.
    pub fn server(
        kind: &'static str,
        change_id: ChangeId,
        record: &RecordState,
        row: &RecordRow,
        device: &'a DeviceAuth,
        now: DateTime<Utc>,
    ) -> Self {
        LogRow {
            change_id,
            kind,
            record_type: record.record_type,
            record_id: record.record_id,
            group: None,
            op: Op::Update,
            base_version: 0,
            values: NO_VALUES,
            owner_epoch: record.owner_epoch,
            device_time: now,
            author: &device.author.user,
            device_id: device.device_id,
            server_time: now,
            owner: String::new(),
            state: String::new(),
            scope_job: None,
        }
        .on(record, row)
    }

    /// An update of `group` to `version`, with the group's whole values after it.
    pub fn update(mut self, group: Option<Group>, values: &'a Value, version: i64) -> Self {
        self.op = Op::Update;
        self.group = group;
        self.values = values;
        self.base_version = version - 1;
        self
    }

    /// In the record as it stands: its owner, its state, and the job whose scope it is in.
    pub fn on(mut self, record: &RecordState, row: &RecordRow) -> Self {
        self.owner = record.owner.to_key();
        self.state = record.state.as_str().to_string();
        self.scope_job = scope_of(record, row);
        self
    }

    /// In the scope of this job: for a change to a record that does not exist, the job it
    /// names.
    pub fn scope_job(mut self, job: Option<String>) -> Self {
        self.scope_job = job;
        self
    }

    /// The group the row is about, where the verdict names another than the change.
    pub fn group(mut self, group: Option<Group>) -> Self {
        self.group = group;
        self
    }

    /// The values the row keeps, where they are not the change's (a group's whole values
    /// after an update, a new record's first ones).
    pub fn values(mut self, values: &'a Value) -> Self {
        self.values = values;
        self
    }

    /// The record's lifecycle state the row records, where the change moved it.
    pub fn state(mut self, state: &str) -> Self {
        self.state = state.to_string();
        self
    }

    /// A new record's row: a create of no group, made on no version, under its first owner
    /// epoch.
    pub fn created(mut self) -> Self {
        self.op = Op::Create;
        self.group = None;
        self.base_version = 0;
        self.owner_epoch = 1;
        self
    }

    /// The row to insert, with its seq and the outcome it records.
    pub fn new_change(self, seq: i64, outcome: &Outcome) -> StoreResult<NewChange> {
        let outcome_json = serde_json::to_string(outcome)?;
        let mut row = self.columns(seq, outcome);
        row.outcome = outcome_json;
        Ok(row)
    }

    /// The row without the outcome's JSON, for a caller that writes it once the outcome is
    /// final.
    pub fn columns(self, seq: i64, outcome: &Outcome) -> NewChange {
        NewChange {
            seq,
            change_id: self.change_id.to_string(),
            kind: self.kind.to_string(),
            record_type: self.record_type.as_str(),
            record_id: self.record_id.to_string(),
            group: self.group.map(|g| g.as_str()),
            op: self.op.as_str(),
            base_version: self.base_version,
            values: self.values.to_string(),
            owner_epoch: self.owner_epoch,
            device_time: self.device_time,
            author: self.author.to_string(),
            device_id: Some(self.device_id.to_string()),
            server_time: self.server_time,
            status: outcome.status.as_str(),
            version: outcome.version,
            number: outcome.number.clone(),
            owner: self.owner,
            state: self.state,
            scope_job: self.scope_job,
            review_id: outcome.review_id.map(|r| r.to_string()),
            code: outcome.code.clone(),
            outcome: String::new(),
        }
    }
}

/// One side of a review item: a version of a group as the log has it, with who made it, when
/// and from which device. With `values`, the side shows them (the version that stands now);
/// without, the values are the logged ones, and a version the log does not have has no side.
pub(crate) async fn version_side<T: Tx>(
    tx: &mut T,
    record_id: &str,
    group: Group,
    version: i64,
    values: Option<Value>,
) -> StoreResult<Option<VersionSide>> {
    let row = tx
        .applied_change(record_id, group.as_str(), version)
        .await?;
    let values = match (values, &row) {
        (Some(values), _) => values,
        (None, None) => return Ok(None),
        (None, Some(row)) => {
            let vals = json(&row.vals)?;
            if row.op == "create" {
                match vals.get(group.as_str()) {
                    Some(v) => v.clone(),
                    None => return Ok(None),
                }
            } else {
                // An applied update is logged with the group's whole values after it.
                vals
            }
        }
    };
    let Some(row) = row else {
        return Ok(Some(VersionSide {
            values,
            version: Some(version),
            author: None,
            device_id: None,
            device_name: None,
            server_time: None,
            device_time: None,
        }));
    };
    let device_name = match &row.device_id {
        Some(d) => tx.device_name(d).await?,
        None => None,
    };
    Ok(Some(VersionSide {
        values,
        version: Some(version),
        author: Some(row.author),
        device_id: row
            .device_id
            .as_deref()
            .map(|d| parse(d, "device id"))
            .transpose()?,
        device_name,
        server_time: Some(row.server_time),
        device_time: Some(row.device_time),
    }))
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_review<T: Tx>(
    tx: &mut T,
    review_id: ReviewId,
    kind: ReviewKind,
    change: &Change,
    group: Option<Group>,
    base: Option<&VersionSide>,
    current: Option<&VersionSide>,
    incoming: &VersionSide,
    matched: Option<&str>,
    author: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let side = |s: Option<&VersionSide>| s.map(serde_json::to_string).transpose();
    tx.insert_review(&NewReview {
        review_id: review_id.to_string(),
        kind: kind.as_str(),
        record_type: change.record_type.as_str(),
        record_id: change.record_id.to_string(),
        group: group.map(|g| g.as_str()),
        change_id: change.change_id.to_string(),
        change_json: serde_json::to_string(change)?,
        base: side(base)?,
        current: side(current)?,
        incoming: serde_json::to_string(incoming)?,
        matched_record_id: matched.map(str::to_string),
        incoming_author: author.to_string(),
        created_at: now,
    })
    .await
}
