//! The store written once for every backend: [`Store`] for any [`Backend`]. Each call opens
//! the backend's transaction, reads through its SQL, asks the core (judge or resolve), and
//! writes what the verdict says. Which rows a verdict becomes lives in `batch.rs` (a push) and
//! `office.rs` (resolve, reassign, reopen), over the rows of `records.rs`; how a database stores
//! and locks them lives in the backend.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::watch;
use uuid::Uuid;

use fieldsync_core::accounts::{Account, AdminEvent};
use fieldsync_core::report;
use fieldsync_core::wire::{
    OwnershipMove, PullResponse, ReassignRequest, ResolveRequest, ReviewCursor, ReviewItem,
    ReviewParams, SyncReport, REVIEW_PAGE,
};
use fieldsync_core::{
    Author, Change, DeviceId, ErrorCode, Op, Outcome, Owner, Policy, RecordId, RecordState,
    RecordType, ReviewId,
};

use super::accounts::{self, AdminAction};
use super::backend::{Backend, PokeFn, Tx};
use super::batch::Batch;
use super::office::{reassign_once, reopen_once, resolve_once};
use super::records::{load_record, version_side};
use super::rows::{owner_of, parse, record_type_of, role_of, RecordRow, ReviewFilter};
use super::{
    DeviceAuth, DeviceInfo, DeviceReport, FileAccess, FileStatus, HistoryEntry, NewUser,
    ReassignOutcome, RecordHistory, Store, StoreError, StoreResult, User,
};

/// The open review items a pull carries: the newest that concern the puller (the inbox itself
/// pages through all of them).
const PULL_REVIEW_ITEMS: i64 = 500;

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

    async fn accounts(&self) -> StoreResult<Vec<Account>> {
        accounts::accounts(self).await
    }

    async fn account(&self, name: &str) -> StoreResult<Option<Account>> {
        accounts::account(self, name).await
    }

    async fn administer(
        &self,
        by: &Author,
        action: AdminAction,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Account>> {
        accounts::administer(self, by, action, now).await
    }

    async fn change_own_password(
        &self,
        by: &Author,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        accounts::change_own_password(self, by, password_hash, now).await
    }

    async fn admin_log(&self) -> StoreResult<Vec<AdminEvent>> {
        accounts::admin_log(self).await
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
        // The open items that concern this user, filtered in the query: the newest of them,
        // however many other roles' items wait.
        let filter = ReviewFilter::new(author, policy, false, None, PULL_REVIEW_ITEMS);
        let mut review = Vec::new();
        for row in tx.review_rows(&filter).await? {
            review.push(row.item(policy)?);
        }
        current_as_it_stands(&mut tx, &mut review).await?;
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
        params: &ReviewParams,
    ) -> StoreResult<Vec<ReviewItem>> {
        let before = match params.before.as_deref() {
            Some(cursor) => Some(ReviewCursor::parse(cursor).ok_or_else(|| {
                StoreError::Refused(
                    ErrorCode::BadRequest,
                    format!("`{cursor}` is not a review cursor (the last item's, from the previous page)"),
                )
            })?),
            None => None,
        };
        let limit = params.limit.unwrap_or(REVIEW_PAGE);
        if !(1..=1000).contains(&limit) {
            return Err(StoreError::Refused(
                ErrorCode::BadRequest,
                "a page of the inbox holds 1 to 1000 items".into(),
            ));
        }
        let filter = ReviewFilter::new(author, policy, params.all, before, limit);
        let mut tx = self.read().await?;
        let mut items = Vec::new();
        for row in tx.review_rows(&filter).await? {
            items.push(row.item(policy)?);
        }
        current_as_it_stands(&mut tx, &mut items).await?;
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
        request: &ReassignRequest,
        now: DateTime<Utc>,
    ) -> StoreResult<ReassignOutcome> {
        retrying(never, || {
            reassign_once(self, device, record_id, request, now)
        })
        .await
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

    async fn file_access(&self, author: &Author, sha256: &str) -> StoreResult<FileAccess> {
        let mut tx = self.read().await?;
        let naming = tx.records_naming_file(sha256).await?;
        if naming.is_empty() {
            return Ok(FileAccess::Unreferenced);
        }
        // A file is named by one record, or a handful (the same photo attached twice): loading
        // each until one is in scope stays cheap, and office roles stop at the first.
        for id in &naming {
            if let Some((record, row)) = load_record(&mut tx, id).await? {
                if in_scope(&mut tx, author, &record, &row).await? {
                    return Ok(FileAccess::Visible);
                }
            }
        }
        Ok(FileAccess::OutOfScope)
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

/// One attempt at a push: the batch judged and written in one write transaction.
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

/// One attempt at signing a device in: its row made, or its token replaced.
async fn register_once<B: Backend>(
    backend: &B,
    user: &str,
    device_name: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<DeviceId> {
    let mut tx = backend.write().await?;
    let device_id = match tx.device_named(user, device_name).await? {
        Some((id, _revoked)) => {
            // Signing in again on the same device keeps its id (and its reported outbox) and
            // replaces its token. A revoked device too: revoking ends its session (its token is
            // refused for good), and whoever signs in on it again needs the person's password,
            // so what it held can still reach the server. To keep a person out, an admin
            // disables them or resets their password.
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

/// An open item's current side as the group stands now, not as it stood when the change was
/// held: a resolution of another item, or a newer change, moves the group on, and a card that
/// still showed the old current would let a person keep a value that is no longer there.
async fn current_as_it_stands<T: Tx>(tx: &mut T, items: &mut [ReviewItem]) -> StoreResult<()> {
    for item in items.iter_mut().filter(|i| i.state == "open") {
        let (Some(group), Some(shown)) = (item.group, item.current.as_ref()) else {
            continue;
        };
        let id = item.record_id.to_string();
        let Some((record, _)) = load_record(tx, &id).await? else {
            continue;
        };
        let Some(now) = record.group(group) else {
            continue;
        };
        if shown.version != Some(now.version) {
            let values = Some(now.values.clone());
            item.current = version_side(tx, &id, group, now.version, values).await?;
        }
    }
    Ok(())
}
