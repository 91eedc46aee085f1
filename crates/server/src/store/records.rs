//! The rows of records, the change log and the review inbox as the store's actions read and
//! write them, over any backend's [`Tx`]: loading and locking a record as the judge sees it, the
//! job whose scope a row is in, a change-log row, a review item and the versions it shows. The
//! push's batch (`batch.rs`) and the office's actions (`engine.rs`) both build on these, so
//! neither reaches into the other.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;

use fieldsync_core::model::GroupState;
use fieldsync_core::wire::{ReviewKind, VersionSide};
use fieldsync_core::{Change, Group, Op, Outcome, RecordState, RecordType, ReviewId};

use super::backend::Tx;
use super::rows::{json, owner_of, parse, record_type_of, NewChange, NewReview, RecordRow};
use super::{StoreError, StoreResult};

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
        state: row.state.clone(),
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

pub(crate) fn scope_of(record: &RecordState, row: &RecordRow) -> Option<String> {
    match record.record_type {
        RecordType::Job => Some(row.record_id.clone()),
        _ => row.job_id.clone(),
    }
}

/// One row of the change log, as the store means to write it.
pub(crate) struct LogRow<'a> {
    pub change_id: &'a str,
    pub kind: &'a str,
    pub record_type: RecordType,
    pub record_id: &'a str,
    pub group: Option<Group>,
    pub op: Op,
    pub base_version: i64,
    pub values: &'a Value,
    pub owner_epoch: i64,
    pub device_time: DateTime<Utc>,
    pub author: &'a str,
    pub device_id: Option<String>,
    pub server_time: DateTime<Utc>,
    pub owner: &'a str,
    pub state: &'a str,
    pub scope_job: Option<&'a str>,
}

impl LogRow<'_> {
    /// The row to insert, with its seq and the outcome it records.
    pub fn new_change(&self, seq: i64, outcome: &Outcome) -> StoreResult<NewChange> {
        let mut row = self.columns(seq, outcome);
        row.outcome = serde_json::to_string(outcome)?;
        Ok(row)
    }

    /// The row without the outcome's JSON, for a caller that writes it once the outcome is
    /// final.
    pub fn columns(&self, seq: i64, outcome: &Outcome) -> NewChange {
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
            device_id: self.device_id.clone(),
            server_time: self.server_time,
            status: outcome.status.as_str(),
            version: outcome.version,
            number: outcome.number.clone(),
            owner: self.owner.to_string(),
            state: self.state.to_string(),
            scope_job: self.scope_job.map(str::to_string),
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
