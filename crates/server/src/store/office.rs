//! The office's actions on records, for every backend: resolving a review item (a held create
//! included), reassigning a job (with what moves with it) and reopening one. Each runs in one
//! write transaction, asks the core where a rule decides, and writes what the server makes of
//! it as an applied change in the record's log.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use fieldsync_core::judge::{HeldItem, Rejection, Resolution};
use fieldsync_core::office::{
    plan_reassign, plan_reopen, resolve_held_create as held_create_plan, Child, HeldCreate,
};
use fieldsync_core::wire::{
    LogKind, OwnershipMove, ReassignRequest, ResolveChoice, ResolveRequest, ReviewItem,
};
use fieldsync_core::{
    resolve, Author, Change, ChangeId, ErrorCode, Group, Op, Outcome, OutcomeStatus, Owner, Policy,
    RecordId, RecordState, RecordType, ReviewId, Role, State,
};

use super::backend::{Backend, Tx};
use super::batch::Batch;
use super::records::{load_record, lock_with_job, LogRow};
use super::rows::{files_named, parse, GroupWrite, NewMove, RecordRow, RecordUpdate};
use super::{DeviceAuth, ReassignOutcome, StoreError, StoreResult};

/// The core's refusal, as the store's.
fn refused(r: Rejection) -> StoreError {
    StoreError::Refused(r.code, r.message)
}

pub(crate) async fn resolve_once<B: Backend>(
    backend: &B,
    device: &DeviceAuth,
    review_id: ReviewId,
    request: &ResolveRequest,
    policy: &Policy,
    now: DateTime<Utc>,
) -> StoreResult<(ReviewItem, Outcome)> {
    let mut tx = backend.write().await?;
    let id = review_id.to_string();
    let row = tx
        .review_row(&id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no review item {review_id}")))?;
    let item = row.item(policy)?;
    // Who may resolve is answered before whether it still can be: a role without the right
    // learns nothing about the item's state.
    if !item.resolvers.contains(&device.author.role) {
        let names: Vec<&str> = item.resolvers.iter().map(Role::as_str).collect();
        return Err(StoreError::Refused(
            ErrorCode::Forbidden,
            format!("only {} may resolve this review item", names.join(" or ")),
        ));
    }
    if item.state != "open" {
        return Err(StoreError::Refused(
            ErrorCode::AlreadyResolved,
            format!(
                "this item was already resolved by {}",
                item.resolved_by.clone().unwrap_or_default()
            ),
        ));
    }
    let change: Change = serde_json::from_str(&row.change_json)?;
    let record_id = item.record_id.to_string();
    lock_with_job(&mut tx, &record_id).await?;
    if change.op == Op::Create && load_record(&mut tx, &record_id).await?.is_none() {
        let outcome = resolve_held_create(
            &mut tx,
            device,
            &change,
            &row.incoming_author,
            request,
            policy,
            now,
        )
        .await?;
        let choice = match request.choice {
            ResolveChoice::Incoming => "incoming",
            _ => "current",
        };
        tx.mark_resolved(&id, choice, &device.author.user, now)
            .await?;
        let row = tx
            .review_row(&id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no review item {review_id}")))?;
        let item = row.item(policy)?;
        tx.commit().await?;
        tracing::info!(review_id = %review_id, choice, by = %device.author.user, "resolved a held create");
        return Ok((item, outcome));
    }
    let (record, record_row) = load_record(&mut tx, &record_id).await?.ok_or_else(|| {
        StoreError::NotFound(format!("the record of review item {review_id} is gone"))
    })?;
    let held = HeldItem {
        kind: item.kind,
        group: item.group,
        change: &change,
    };
    let resolution = resolve(
        policy,
        &held,
        &record,
        &device.author,
        request.choice,
        request.values.as_ref(),
        request.current_version,
    )
    .map_err(refused)?;
    let choice = match request.choice {
        ResolveChoice::Current => "current",
        ResolveChoice::Incoming => "incoming",
        ResolveChoice::Merged => "merged",
    };
    let outcome = match resolution {
        Resolution::Write {
            group,
            values,
            version,
            state,
        } => {
            write_group(&mut tx, &record, group, &values, version, state, now).await?;
            log_server_change(
                &mut tx,
                LogKind::Resolution,
                &record,
                &record_row,
                Some(group),
                &values,
                version,
                state.unwrap_or(record.state),
                device,
                None,
                now,
            )
            .await?
        }
        Resolution::Keep => {
            let group = item.group;
            let version = group
                .and_then(|g| record.group(g))
                .map(|g| g.version)
                .unwrap_or(0);
            // Nothing in the record changes, so the logged resolution names the version that
            // stands with the group's whole values, as every logged version carries them: a
            // device that applies it, or a later conflict's base side, sees the group as is.
            let values = group
                .and_then(|g| record.group(g))
                .map(|g| g.values.clone())
                .unwrap_or_else(|| serde_json::json!({}));
            log_server_change(
                &mut tx,
                LogKind::Resolution,
                &record,
                &record_row,
                group,
                &values,
                version,
                record.state,
                device,
                None,
                now,
            )
            .await?
        }
    };
    tx.mark_resolved(&id, choice, &device.author.user, now)
        .await?;
    if let Some(group) = item.group {
        if tx.open_conflicts(&record_id, group.as_str()).await? == 0 {
            tx.clear_contested(&record_id, group.as_str()).await?;
        }
    }
    let row = tx
        .review_row(&id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no review item {review_id}")))?;
    let item = row.item(policy)?;
    tx.commit().await?;
    tracing::info!(review_id = %review_id, choice, by = %device.author.user, "resolved review item");
    Ok((item, outcome))
}

/// A held create: a note, part or photo made offline on a job that has since moved. Keeping it
/// ("incoming") creates it as its author made it, judged like any create but without the
/// job-scope check the resolver has overruled; keeping what stands ("current") leaves it out,
/// its data still in the log as held.
async fn resolve_held_create<T: Tx>(
    tx: &mut T,
    device: &DeviceAuth,
    change: &Change,
    author: &str,
    request: &ResolveRequest,
    policy: &Policy,
    now: DateTime<Utc>,
) -> StoreResult<Outcome> {
    match held_create_plan(request.choice).map_err(refused)? {
        HeldCreate::LeaveOut => Ok(Outcome {
            change_id: change.change_id,
            status: OutcomeStatus::Applied,
            version: None,
            seq: None,
            number: None,
            review_id: None,
            code: None,
            message: Some("left out: the held item was not added".into()),
            flags: Vec::new(),
            replayed: false,
        }),
        HeldCreate::Admit => {
            // Judged as the author's create from an office role: a role that sees every job,
            // so the scope check (which held it) does not apply, while creators, locks and
            // files still do. A fresh change id: the held one keeps its held outcome.
            let admitted = Change {
                change_id: ChangeId(Uuid::now_v7()),
                ..change.clone()
            };
            let as_author = DeviceAuth {
                device_id: device.device_id,
                device_name: device.device_name.clone(),
                author: Author {
                    user: author.to_string(),
                    role: Role::Supervisor,
                    team: None,
                },
            };
            let changes = [admitted];
            let mut batch = Batch::begin(tx, &as_author, policy, now, &changes).await?;
            batch.push_one(tx, &changes[0]).await?;
            let (mut outcomes, newest) = batch.finish(tx).await?;
            if let Some(seq) = newest {
                tx.announce(seq).await?;
            }
            let outcome = outcomes
                .pop()
                .ok_or_else(|| StoreError::Corrupt("a batch of one gave no outcome".into()))?;
            match outcome.status {
                OutcomeStatus::Applied => Ok(outcome),
                _ => Err(StoreError::Refused(
                    outcome
                        .code
                        .as_deref()
                        .and_then(|c| serde_json::from_value(Value::String(c.into())).ok())
                        .unwrap_or(ErrorCode::Forbidden),
                    outcome
                        .message
                        .unwrap_or_else(|| "the held item cannot be added now".into()),
                )),
            }
        }
    }
}

/// The record a reassign or reopen acts on; whether it may (a job, in a state that allows it) is
/// the core's plan to say.
async fn load_job<T: Tx>(tx: &mut T, id: &str) -> StoreResult<(RecordState, RecordRow)> {
    load_record(tx, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no job {id}")))
}

pub(crate) async fn reassign_once<B: Backend>(
    backend: &B,
    device: &DeviceAuth,
    record_id: RecordId,
    request: &ReassignRequest,
    now: DateTime<Utc>,
) -> StoreResult<ReassignOutcome> {
    let (to, seen_epoch) = (&request.owner, request.owner_epoch);
    // The dispatcher's reason goes in the reassignment's log message (a blank one is none), so
    // the job's timeline says why it changed hands.
    let reason = request
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    let mut tx = backend.write().await?;
    let id = record_id.to_string();
    // The job's lock also holds its part lines and inspections still: every write to a record
    // that hangs off a job locks the job with it.
    lock_with_job(&mut tx, &id).await?;
    let (record, _) = load_job(&mut tx, &id).await?;
    let mut children = Vec::new();
    for child in tx.children(&id).await? {
        let (Some(record_type), Some(owner)) = (
            RecordType::parse(&child.record_type),
            Owner::from_key(&child.owner),
        ) else {
            continue;
        };
        children.push(Child {
            record_id: parse(&child.record_id, "record id")?,
            record_type,
            owner,
        });
    }
    let to_exists = match to {
        Owner::User(name) => tx.user_exists(name).await?,
        Owner::Team(_) => true,
    };
    let plan = plan_reassign(
        &record,
        &children,
        to,
        to_exists,
        &device.author,
        seen_epoch,
    )
    .map_err(refused)?;
    let (epoch, from) = (plan.owner_epoch, plan.from.clone());
    let moved_ids: Vec<String> = std::iter::once(id.clone())
        .chain(plan.moves_with_job.iter().map(RecordId::to_string))
        .collect();
    tx.move_owner(&moved_ids, &to.to_key(), now).await?;
    let (values, version) = (&plan.schedule.values, plan.schedule.version);
    write_group(
        &mut tx,
        &record,
        Group::Schedule,
        values,
        version,
        None,
        now,
    )
    .await?;
    let (updated, updated_row) = load_record(&mut tx, &id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no job {record_id}")))?;
    let outcome = log_server_change(
        &mut tx,
        LogKind::Reassign,
        &updated,
        &updated_row,
        Some(Group::Schedule),
        values,
        version,
        updated.state,
        device,
        reason.clone(),
        now,
    )
    .await?;
    let seq = outcome.seq.unwrap_or_default();
    tx.insert_move(&NewMove {
        seq,
        record_type: record.record_type.as_str(),
        record_id: id.clone(),
        from_owner: from.to_key(),
        to_owner: to.to_key(),
        owner_epoch: epoch,
        by_user: device.author.user.clone(),
        at: now,
    })
    .await?;
    // The part lines and inspections that moved with the job say so in the log, at the version
    // they stand at, so a device that pulls them learns their new owner and epoch (the office's
    // devices hold them too, and no other change may ever come for them).
    for child in moved_ids.iter().skip(1) {
        let Some((state, row)) = load_record(&mut tx, child).await? else {
            continue;
        };
        let Some(group) = state.record_type.groups().first().copied() else {
            continue;
        };
        let (version, values) = state
            .group(group)
            .map(|g| (g.version, g.values.clone()))
            .unwrap_or((1, Value::Object(Default::default())));
        log_server_change(
            &mut tx,
            LogKind::Reassign,
            &state,
            &row,
            Some(group),
            &values,
            version,
            state.state,
            device,
            None,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    tracing::info!(record = %id, from = %from, to = %to, epoch, "reassigned");
    Ok(ReassignOutcome {
        moved: OwnershipMove {
            seq,
            record_type: record.record_type,
            record_id,
            number: record.number.clone(),
            from,
            to: to.clone(),
            owner_epoch: epoch,
            by: device.author.user.clone(),
            at: now,
        },
        record: updated,
    })
}

pub(crate) async fn reopen_once<B: Backend>(
    backend: &B,
    device: &DeviceAuth,
    record_id: RecordId,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<Outcome> {
    let mut tx = backend.write().await?;
    let id = record_id.to_string();
    lock_with_job(&mut tx, &id).await?;
    let (record, row) = load_job(&mut tx, &id).await?;
    let plan = plan_reopen(&record, &device.author, reason, now).map_err(refused)?;
    let (values, version) = (&plan.status.values, plan.status.version);
    write_group(
        &mut tx,
        &record,
        Group::Status,
        values,
        version,
        Some(plan.state),
        now,
    )
    .await?;
    let outcome = log_server_change(
        &mut tx,
        LogKind::Reopen,
        &record,
        &row,
        Some(Group::Status),
        values,
        version,
        plan.state,
        device,
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(record = %id, by = %device.author.user, "job reopened for a new visit");
    Ok(outcome)
}

/// Writes a new version of a group made by the server (a resolution, reassignment, reopen),
/// and the record columns it decides.
async fn write_group<T: Tx>(
    tx: &mut T,
    record: &RecordState,
    group: Group,
    values: &Value,
    version: i64,
    state: Option<State>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let record_id = record.record_id.to_string();
    tx.upsert_groups(&[GroupWrite {
        record_id: record_id.clone(),
        group: group.as_str(),
        version,
        values: values.to_string(),
        contested: record.group(group).is_some_and(|g| g.contested),
    }])
    .await?;
    let files = files_named(record.record_type, group, &record_id, values);
    if !files.is_empty() {
        tx.insert_file_refs(&files).await?;
    }
    let text = |k: &str| {
        (group == Group::Schedule)
            .then(|| values.get(k).and_then(Value::as_str).map(str::to_string))
            .flatten()
    };
    tx.update_records(&[RecordUpdate {
        record_id,
        state: state.map(|s| s.as_str().to_string()),
        site: text("site"),
        window_start: text("window_start"),
        updated_at: now,
    }])
    .await
}

/// Writes a server-made change (resolution, reassignment, reopen) to the log as applied.
#[allow(clippy::too_many_arguments)]
async fn log_server_change<T: Tx>(
    tx: &mut T,
    kind: LogKind,
    record: &RecordState,
    row: &RecordRow,
    group: Option<Group>,
    values: &Value,
    version: i64,
    state: State,
    device: &DeviceAuth,
    message: Option<String>,
    now: DateTime<Utc>,
) -> StoreResult<Outcome> {
    let seq = tx.claim_seq().await?;
    let change_id = ChangeId(Uuid::now_v7());
    let outcome = Outcome {
        change_id,
        status: OutcomeStatus::Applied,
        version: Some(version),
        seq: Some(seq),
        number: record.number.clone(),
        review_id: None,
        code: None,
        message,
        flags: Vec::new(),
        replayed: false,
    };
    let entry = LogRow::server(kind.as_str(), change_id, record, row, device, now)
        .update(group, values, version)
        .state(state.as_str())
        .new_change(seq, &outcome)?;
    tx.insert_changes(&[entry]).await?;
    tx.announce(seq).await?;
    Ok(outcome)
}
