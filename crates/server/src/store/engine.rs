//! The store written once for every backend: [`Store`] for any [`Backend`]. Each call opens
//! the backend's transaction, reads through its SQL, asks the core (judge or resolve), and
//! writes what the verdict says. Which rows a verdict becomes lives here and in `batch.rs`;
//! how a database stores and locks them lives in the backend.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::watch;
use uuid::Uuid;

use fieldsync_core::judge::{HeldItem, Resolution};
use fieldsync_core::report;
use fieldsync_core::wire::{
    OwnershipMove, PullResponse, ResolveChoice, ResolveRequest, ReviewItem, ReviewKind, SyncReport,
};
use fieldsync_core::{
    resolve, Author, Change, ChangeId, DeviceId, ErrorCode, Group, Op, Outcome, OutcomeStatus,
    Owner, Policy, RecordId, RecordState, RecordType, ReviewId, Role,
};

use super::backend::{Backend, PokeFn, Tx};
use super::batch::Batch;
use super::records::{load_record, lock_with_job, scope_of, LogRow};
use super::rows::{
    owner_of, parse, record_type_of, role_of, GroupWrite, NewMove, RecordRow, RecordUpdate,
};
use super::{
    DeviceAuth, DeviceInfo, DeviceReport, FileStatus, HistoryEntry, NewUser, ReassignOutcome,
    RecordHistory, Store, StoreError, StoreResult, User,
};

/// How often a write that lost a race with another transaction is tried again.
const ATTEMPTS: u32 = 8;

/// Runs a write transaction again when it lost a race that a fresh attempt resolves (see
/// [`StoreError::is_contention`]); `also` names the errors this call may retry besides.
async fn retrying<T, F, Fut>(also: fn(&StoreError) -> bool, mut attempt: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if (e.is_contention() || also(&e)) && tries < ATTEMPTS => {
                tracing::debug!(error = %e, tries, "transaction lost a race; trying again");
                tries += 1;
            }
            other => return other,
        }
    }
}

fn never(_: &StoreError) -> bool {
    false
}

/// In a push or a sign-in, a unique key taken meanwhile means another instance stored the same
/// change (or device) first: the next attempt finds it and answers from it.
fn taken(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict(_))
}

/// The owner keys a person answers to: themselves and their team.
fn owner_keys(author: &Author) -> [String; 2] {
    [
        Owner::User(author.user.clone()).to_key(),
        // A user without a team matches no team owner.
        author
            .team
            .as_ref()
            .map(|t| Owner::Team(t.clone()).to_key())
            .unwrap_or_else(|| "team:".into()),
    ]
}

/// Whether a technician may see a record: their job, what hangs off it, or its customer.
async fn in_scope<T: Tx>(
    tx: &mut T,
    author: &Author,
    record: &RecordState,
    row: &RecordRow,
) -> StoreResult<bool> {
    if author.role.sees_everything() {
        return Ok(true);
    }
    let keys = owner_keys(author);
    let job_id = match record.record_type {
        RecordType::Job => Some(row.record_id.clone()),
        RecordType::Customer => {
            return Ok(tx.jobs_of_customer_owned(&row.record_id, &keys).await? > 0);
        }
        RecordType::Invoice => return Ok(false),
        _ => row.job_id.clone(),
    };
    let Some(job_id) = job_id else {
        return Ok(false);
    };
    let owner = tx.record_owner(&job_id).await?;
    Ok(owner.is_some_and(|o| keys.contains(&o)))
}

/// Writes a new version of a group made by the server (a resolution, reassignment, reopen),
/// and the record columns it decides.
async fn write_group<T: Tx>(
    tx: &mut T,
    record: &RecordState,
    group: Group,
    values: &Value,
    version: i64,
    state: Option<&str>,
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
    let text = |k: &str| {
        (group == Group::Schedule)
            .then(|| values.get(k).and_then(Value::as_str).map(str::to_string))
            .flatten()
    };
    tx.update_records(&[RecordUpdate {
        record_id,
        state: state.map(str::to_string),
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
    kind: &str,
    record: &RecordState,
    row: &RecordRow,
    group: Option<Group>,
    values: &Value,
    version: i64,
    state: &str,
    device: &DeviceAuth,
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
        message: None,
        flags: Vec::new(),
        replayed: false,
    };
    let record_id = record.record_id.to_string();
    let entry = LogRow {
        change_id: &change_id.to_string(),
        kind,
        record_type: record.record_type,
        record_id: &record_id,
        group,
        op: Op::Update,
        base_version: version - 1,
        values,
        owner_epoch: record.owner_epoch,
        device_time: now,
        author: &device.author.user,
        device_id: Some(device.device_id.to_string()),
        server_time: now,
        owner: &record.owner.to_key(),
        state,
        scope_job: scope_of(record, row).as_deref(),
    }
    .new_change(seq, &outcome)?;
    tx.insert_changes(&[entry]).await?;
    tx.announce(seq).await?;
    Ok(outcome)
}

/// A snapshot of a record and everything a new owner needs with it.
async fn snapshot_with_children<T: Tx>(
    tx: &mut T,
    record_id: &str,
) -> StoreResult<Vec<RecordState>> {
    let mut out = Vec::new();
    let Some((job, row)) = load_record(tx, record_id).await? else {
        return Ok(out);
    };
    let customer = row.customer_id.clone();
    out.push(job);
    let children: Vec<String> = tx
        .children(record_id)
        .await?
        .into_iter()
        .filter(|c| c.record_type != RecordType::Invoice.as_str())
        .map(|c| c.record_id)
        .collect();
    for child in children
        .iter()
        .map(String::as_str)
        .chain(customer.as_deref())
    {
        if let Some((r, _)) = load_record(tx, child).await? {
            out.push(r);
        }
    }
    Ok(out)
}

async fn push_once<B: Backend>(
    backend: &B,
    device: &DeviceAuth,
    changes: &[Change],
    policy: &Policy,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Outcome>> {
    let mut tx = backend.write().await?;
    // First, so that every writer takes the device's row before any record's.
    tx.device_seen(&device.device_id.to_string(), now).await?;
    let mut batch = Batch::begin(&mut tx, device, policy, now, changes).await?;
    for change in changes {
        batch.push_one(&mut tx, change).await?;
    }
    let (outcomes, newest) = batch.finish(&mut tx).await?;
    if let Some(seq) = newest {
        tx.announce(seq).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

async fn register_once<B: Backend>(
    backend: &B,
    user: &str,
    device_name: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<DeviceId> {
    let mut tx = backend.write().await?;
    let device_id = match tx.device_named(user, device_name).await? {
        Some((id, revoked)) => {
            // Signing in again on the same device keeps its id (and its reported outbox) and
            // replaces its token; a revoked device stays revoked until an admin says otherwise.
            if revoked.is_some() {
                return Err(StoreError::Refused(
                    ErrorCode::Forbidden,
                    format!("the device {device_name} was revoked by an admin"),
                ));
            }
            tx.set_device_token(&id, token_hash, now).await?;
            parse(&id, "device id")?
        }
        None => {
            let id = DeviceId(Uuid::now_v7());
            tx.insert_device(&id.to_string(), user, device_name, token_hash, now)
                .await?;
            id
        }
    };
    tx.commit().await?;
    Ok(device_id)
}

async fn resolve_once<B: Backend>(
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
    )
    .map_err(|r| StoreError::Refused(r.code, r.message))?;
    // An ownership-moved edit applied now must still respect a lock that came since.
    if item.kind == ReviewKind::OwnershipMoved && request.choice == ResolveChoice::Incoming {
        if let Some(rule) = item.group.and_then(|g| policy.rule(record.record_type, g)) {
            if rule.locked_in.contains(&record.state) {
                return Err(StoreError::Refused(
                    ErrorCode::RecordLocked,
                    format!(
                        "the record is {} now; reopen it before applying this edit",
                        record.state
                    ),
                ));
            }
        }
    }
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
            write_group(
                &mut tx,
                &record,
                group,
                &values,
                version,
                state.as_deref(),
                now,
            )
            .await?;
            let new_state = state.unwrap_or_else(|| record.state.clone());
            log_server_change(
                &mut tx,
                "resolution",
                &record,
                &record_row,
                Some(group),
                &values,
                version,
                &new_state,
                device,
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
                "resolution",
                &record,
                &record_row,
                group,
                &values,
                version,
                &record.state,
                device,
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
    match request.choice {
        ResolveChoice::Merged => Err(StoreError::Refused(
            ErrorCode::BadRequest,
            "a held new item is kept or left out; a merged value is for conflicts".into(),
        )),
        ResolveChoice::Current => Ok(Outcome {
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
        ResolveChoice::Incoming => {
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

/// The job a reassign or reopen acts on: not found, or not a job (`verb`: what only jobs are).
async fn load_job<T: Tx>(
    tx: &mut T,
    id: &str,
    verb: &str,
) -> StoreResult<(RecordState, RecordRow)> {
    let (record, row) = load_record(tx, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no job {id}")))?;
    if record.record_type != RecordType::Job {
        return Err(StoreError::Refused(
            ErrorCode::BadRequest,
            format!("only jobs are {verb}; this is a {}", record.record_type),
        ));
    }
    Ok((record, row))
}

async fn reassign_once<B: Backend>(
    backend: &B,
    device: &DeviceAuth,
    record_id: RecordId,
    to: &Owner,
    now: DateTime<Utc>,
) -> StoreResult<ReassignOutcome> {
    let mut tx = backend.write().await?;
    let id = record_id.to_string();
    // The job's lock also holds its part lines and inspections still: every write to a record
    // that hangs off a job locks the job with it.
    lock_with_job(&mut tx, &id).await?;
    let (record, _) = load_job(&mut tx, &id, "reassigned").await?;
    if matches!(record.state.as_str(), "closed" | "voided" | "archived") {
        return Err(StoreError::Refused(
            ErrorCode::RecordLocked,
            format!(
                "{} is {}; reopen it before reassigning",
                record.number.clone().unwrap_or_default(),
                record.state
            ),
        ));
    }
    if &record.owner == to {
        return Err(StoreError::Refused(
            ErrorCode::BadRequest,
            format!(
                "{} already belongs to {to}",
                record.number.clone().unwrap_or_default()
            ),
        ));
    }
    if let Owner::User(name) = to {
        if !tx.user_exists(name).await? {
            return Err(StoreError::Refused(
                ErrorCode::BadRequest,
                format!("there is no user named {name}"),
            ));
        }
    }
    let epoch = record.owner_epoch + 1;
    let from = record.owner.clone();
    // Part lines and inspections belong to the job's owner, so they move with it. Remembering
    // who owned each under the epoch that ends here lets an edit its old owner made offline be
    // recognised (held) rather than refused as a stranger's.
    let mut moved_ids = vec![id.clone()];
    for child in tx.children(&id).await? {
        let follows = RecordType::parse(&child.record_type)
            .is_some_and(|t| matches!(t, RecordType::PartLine | RecordType::Inspection));
        if follows && child.owner == from.to_key() {
            moved_ids.push(child.record_id);
        }
    }
    tx.move_owner(&moved_ids, &to.to_key(), now).await?;
    let schedule = record
        .group(Group::Schedule)
        .map(|g| (g.version, g.values.clone()))
        .unwrap_or((0, Value::Null));
    let mut values = schedule.1.as_object().cloned().unwrap_or_default();
    let assignee = match to {
        Owner::User(name) => Value::String(name.clone()),
        Owner::Team(_) => Value::Null,
    };
    values.insert("assignee".into(), assignee);
    let values = Value::Object(values);
    let version = schedule.0 + 1;
    write_group(
        &mut tx,
        &record,
        Group::Schedule,
        &values,
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
        "reassign",
        &updated,
        &updated_row,
        Some(Group::Schedule),
        &values,
        version,
        &updated.state,
        device,
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
            "reassign",
            &state,
            &row,
            Some(group),
            &values,
            version,
            &state.state,
            device,
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

async fn reopen_once<B: Backend>(
    backend: &B,
    device: &DeviceAuth,
    record_id: RecordId,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<Outcome> {
    let mut tx = backend.write().await?;
    let id = record_id.to_string();
    lock_with_job(&mut tx, &id).await?;
    let (record, row) = load_job(&mut tx, &id, "reopened").await?;
    if !matches!(record.state.as_str(), "closed" | "signed_off") {
        return Err(StoreError::Refused(
            ErrorCode::InvalidTransition,
            format!(
                "{} is {}; only a signed-off or closed job is reopened",
                record.number.clone().unwrap_or_default(),
                record.state
            ),
        ));
    }
    let status = record
        .group(Group::Status)
        .map(|g| (g.version, g.values.clone()))
        .unwrap_or((0, Value::Null));
    let mut values = status.1.as_object().cloned().unwrap_or_default();
    // The earlier visit's signature, work and times stay: copied into the visit list, and
    // left in their groups until the new visit writes its own.
    let mut visits = values
        .get("visits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    visits.push(serde_json::json!({
        "state": record.state,
        "signature": record.group(Group::Signature).map(|g| g.values.clone()),
        "work": record.group(Group::Work).map(|g| g.values.clone()),
        "reopened_at": now,
        "reopened_by": device.author.user,
        "reason": reason,
    }));
    values.insert("visit".into(), Value::from(visits.len() as i64 + 1));
    values.insert("visits".into(), Value::Array(visits));
    values.insert("previous_state".into(), Value::String(record.state.clone()));
    values.insert("state".into(), Value::String("reopened".into()));
    values.remove("reason");
    let values = Value::Object(values);
    let version = status.0 + 1;
    write_group(
        &mut tx,
        &record,
        Group::Status,
        &values,
        version,
        Some("reopened"),
        now,
    )
    .await?;
    let outcome = log_server_change(
        &mut tx,
        "reopen",
        &record,
        &row,
        Some(Group::Status),
        &values,
        version,
        "reopened",
        device,
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(record = %id, by = %device.author.user, "reopened");
    Ok(outcome)
}

#[async_trait]
impl<B: Backend> Store for B {
    async fn add_user(&self, user: NewUser, now: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.write().await?;
        tx.insert_user(&user, now).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("a user named {} already exists", user.name))
            }
            other => other,
        })?;
        tx.commit().await
    }

    async fn user_with_hash(&self, name: &str) -> StoreResult<Option<(User, String)>> {
        let mut tx = self.read().await?;
        match tx.user_with_hash(name).await? {
            Some((row, hash)) => Ok(Some((row.user()?, hash))),
            None => Ok(None),
        }
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let mut tx = self.read().await?;
        tx.users().await?.into_iter().map(|r| r.user()).collect()
    }

    async fn register_device(
        &self,
        user: &str,
        device_name: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<DeviceId> {
        retrying(taken, || {
            register_once(self, user, device_name, token_hash, now)
        })
        .await
    }

    async fn device_by_token(&self, token_hash: &str) -> StoreResult<Option<DeviceAuth>> {
        let mut tx = self.read().await?;
        let Some(row) = tx.device_by_token(token_hash).await? else {
            return Ok(None);
        };
        Ok(Some(DeviceAuth {
            device_id: parse(&row.device_id, "device id")?,
            device_name: row.device_name,
            author: Author {
                user: row.user_name,
                role: role_of(&row.role)?,
                team: row.team,
            },
        }))
    }

    async fn list_devices(&self) -> StoreResult<Vec<DeviceInfo>> {
        let mut tx = self.read().await?;
        tx.devices()
            .await?
            .into_iter()
            .map(|r| {
                Ok(DeviceInfo {
                    device_id: parse(&r.device_id, "device id")?,
                    role: role_of(&r.role)?,
                    name: r.name,
                    user: r.user_name,
                    display_name: r.display_name,
                    team: r.team,
                    created_at: r.created_at,
                    last_seen: r.last_seen,
                    revoked_at: r.revoked_at,
                    outbox_depth: r.outbox_depth,
                    oldest_pending: r.oldest_pending,
                    last_pull_seq: r.last_pull_seq,
                })
            })
            .collect()
    }

    async fn revoke_device(&self, device_id: DeviceId, now: DateTime<Utc>) -> StoreResult<()> {
        let mut tx = self.write().await?;
        if !tx.revoke_device(&device_id.to_string(), now).await? {
            return Err(StoreError::NotFound(format!("no device {device_id}")));
        }
        tx.commit().await
    }

    async fn push(
        &self,
        device: &DeviceAuth,
        changes: &[Change],
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Outcome>> {
        let outcomes = retrying(taken, || push_once(self, device, changes, policy, now)).await?;
        for (change, outcome) in changes.iter().zip(&outcomes) {
            tracing::info!(
                change_id = %change.change_id,
                record = %format!("{}/{}", change.record_type, change.record_id),
                outcome = outcome.status.as_str(),
                code = outcome.code.as_deref().unwrap_or(""),
                replayed = outcome.replayed,
                "judged change"
            );
        }
        Ok(outcomes)
    }

    async fn pull(
        &self,
        device: &DeviceAuth,
        after: i64,
        limit: i64,
        report: DeviceReport,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> StoreResult<PullResponse> {
        let mut tx = self.write().await?;
        tx.device_pulled(&device.device_id.to_string(), now, report, after)
            .await?;
        tx.commit().await?;
        let author = &device.author;
        let mut tx = self.read().await?;
        let keys = owner_keys(author);
        let limit = limit.clamp(1, 1000);
        // Read the newest seq first and page only up to it: a change that commits while this
        // pull runs has a higher seq than any committed before (see `Tx::claim_seq`), so it is
        // above the returned cursor and never skipped.
        let newest = tx.max_seq().await?;
        let scope = (!author.role.sees_everything()).then_some(&keys);
        let rows = tx.pulled_changes(after, newest, limit + 1, scope).await?;
        let more = rows.len() as i64 > limit;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows.iter().take(limit as usize) {
            changes.push(row.pulled()?);
        }
        // The page ends at its last change; with nothing newer in scope, at the newest seq, so
        // an idle device's cursor keeps up and ownership moves below it are not asked for again.
        let next = match (more, changes.last()) {
            (true, Some(last)) => last.seq,
            _ => newest.max(after),
        };
        let mut ownership = Vec::new();
        let mut gained = Vec::new();
        for m in tx.ownership_moves(after, next).await? {
            let concerns = author.role.sees_everything()
                || keys.contains(&m.from_owner)
                || keys.contains(&m.to_owner);
            if !concerns {
                continue;
            }
            if !author.role.sees_everything() && keys.contains(&m.to_owner) {
                gained.push(m.record_id.clone());
            }
            ownership.push(OwnershipMove {
                seq: m.seq,
                record_type: record_type_of(&m.record_type)?,
                record_id: parse(&m.record_id, "record id")?,
                number: m.number,
                from: owner_of(&m.from_owner)?,
                to: owner_of(&m.to_owner)?,
                owner_epoch: m.owner_epoch,
                by: m.by_user,
                at: m.at,
            });
        }
        // A job created for this person (not moved to them) names a customer whose changes may
        // all lie below their cursor: they pulled before the job existed, when the customer was
        // not theirs to see. Its snapshot comes with the job, as a moved job's does.
        let mut customers: Vec<String> = Vec::new();
        if !author.role.sees_everything() {
            for change in &changes {
                if change.record_type == RecordType::Job && change.op == Op::Create {
                    customers.extend(
                        change
                            .values
                            .get("schedule")
                            .and_then(|s| s.get("customer_id"))
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    );
                }
            }
        }
        let mut records = Vec::new();
        customers.sort();
        customers.dedup();
        for customer in customers {
            if let Some((state, _)) = load_record(&mut tx, &customer).await? {
                records.push(state);
            }
        }
        gained.sort();
        gained.dedup();
        for record_id in gained {
            let snapshot = snapshot_with_children(&mut tx, &record_id).await?;
            // A job moved to this person and on to someone else within the page is not theirs.
            if snapshot
                .first()
                .is_some_and(|job| keys.contains(&job.owner.to_key()))
            {
                records.extend(snapshot);
            }
        }
        let mut review = Vec::new();
        for row in tx.review_rows(false, 500).await? {
            let item = row.item(policy)?;
            if item.resolvers.contains(&author.role) || row.incoming_author == author.user {
                review.push(item);
            }
        }
        tx.commit().await?;
        Ok(PullResponse {
            changes,
            ownership,
            review,
            records,
            next,
            more,
        })
    }

    async fn max_seq(&self) -> StoreResult<i64> {
        self.read().await?.max_seq().await
    }

    async fn review_list(
        &self,
        author: &Author,
        policy: &Policy,
        include_resolved: bool,
    ) -> StoreResult<Vec<ReviewItem>> {
        let mut tx = self.read().await?;
        let mut items = Vec::new();
        for row in tx.review_rows(include_resolved, 1000).await? {
            let item = row.item(policy)?;
            if item.resolvers.contains(&author.role) || row.incoming_author == author.user {
                items.push(item);
            }
        }
        Ok(items)
    }

    async fn open_review_count(&self) -> StoreResult<i64> {
        self.read().await?.open_review_count().await
    }

    async fn report(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        slow_secs: i64,
        policy: &Policy,
    ) -> StoreResult<SyncReport> {
        let mut tx = self.read().await?;
        let mut events = Vec::new();
        for row in tx.report_changes(since, until, slow_secs).await? {
            events.extend(report::events_of(&row.logged()?, policy, slow_secs));
        }
        Ok(report::build(since, until, slow_secs, events))
    }

    async fn resolve(
        &self,
        device: &DeviceAuth,
        review_id: ReviewId,
        request: &ResolveRequest,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> StoreResult<(ReviewItem, Outcome)> {
        retrying(never, || {
            resolve_once(self, device, review_id, request, policy, now)
        })
        .await
    }

    async fn reassign(
        &self,
        device: &DeviceAuth,
        record_id: RecordId,
        to: &Owner,
        now: DateTime<Utc>,
    ) -> StoreResult<ReassignOutcome> {
        retrying(never, || reassign_once(self, device, record_id, to, now)).await
    }

    async fn reopen(
        &self,
        device: &DeviceAuth,
        record_id: RecordId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Outcome> {
        retrying(never, || reopen_once(self, device, record_id, reason, now)).await
    }

    async fn history(
        &self,
        author: &Author,
        record_type: RecordType,
        record_id: RecordId,
    ) -> StoreResult<RecordHistory> {
        let mut tx = self.read().await?;
        let id = record_id.to_string();
        let not_found = || StoreError::NotFound(format!("no {record_type} {record_id}"));
        let (record, row) = load_record(&mut tx, &id).await?.ok_or_else(not_found)?;
        // Out of scope reads the same as missing, so a technician learns nothing of others' jobs.
        if record.record_type != record_type || !in_scope(&mut tx, author, &record, &row).await? {
            return Err(not_found());
        }
        let entries = tx
            .record_changes(&id)
            .await?
            .iter()
            .map(|r| r.history())
            .collect::<StoreResult<Vec<HistoryEntry>>>()?;
        Ok(RecordHistory { record, entries })
    }

    async fn file_status(&self, sha256: &str) -> StoreResult<Option<FileStatus>> {
        self.read().await?.file_status(sha256).await
    }

    async fn file_begin(
        &self,
        sha256: &str,
        length: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<FileStatus> {
        let mut tx = self.write().await?;
        tx.insert_file(sha256, length, by, now).await?;
        let status = tx
            .file_status(sha256)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no upload of {sha256}")))?;
        tx.commit().await?;
        Ok(status)
    }

    async fn file_progress(
        &self,
        sha256: &str,
        received: i64,
        complete: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        tx.file_progress(sha256, received, complete, now).await?;
        tx.commit().await
    }

    async fn close(&self) {
        Backend::close(self).await
    }

    async fn relay_pokes(&self, poke: PokeFn, closing: watch::Receiver<bool>) {
        Backend::relay_pokes(self, poke, closing).await
    }
}

/// A poke function over a closure.
pub fn poke_fn(f: impl Fn(i64) + Send + Sync + 'static) -> PokeFn {
    Arc::new(f)
}
