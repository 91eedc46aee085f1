//! What a store backend supplies: how to open a transaction, and its SQL for each statement the
//! shared store logic (`engine.rs`, `batch.rs`, `office.rs`, `records.rs`) needs. The logic that
//! turns a verdict into rows is written once, over these traits; a backend says only how its
//! database does each step and what it locks while doing it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fieldsync_core::RecordType;
use std::sync::Arc;
use tokio::sync::watch;

use super::rows::{
    AccountRow, AdminEventRow, AppliedRow, ChangeRow, ChildRow, DeviceRow, ExistingRow, FileRef,
    GroupRow, GroupWrite, MoveRow, NewChange, NewMove, NewRecord, NewReview, OpenJobRow, RecordRow,
    RecordUpdate, ReportRow, ReviewFilter, ReviewRow, TokenRow, UserRow,
};
use super::{DeviceReport, FileStatus, NewUser, StoreResult};

/// Called with the newest `seq` when devices connected to this instance should pull.
pub type PokeFn = Arc<dyn Fn(i64) + Send + Sync>;

/// One database a store runs on.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    type Tx: Tx;

    /// A transaction for writing. It holds what the backend needs so that what a write reads
    /// (and judges) cannot change under it before it commits; see each backend for how.
    async fn write(&self) -> StoreResult<Self::Tx>;

    /// A connection for reading; it sees committed data only.
    async fn read(&self) -> StoreResult<Self::Tx>;

    /// Closes the backend's connections.
    async fn close(&self);

    /// Forwards pokes announced by other server instances on the same database, until
    /// `closing` turns true. A backend without other instances just waits.
    async fn relay_pokes(&self, _poke: PokeFn, mut closing: watch::Receiver<bool>) {
        let _ = closing.wait_for(|closing| *closing).await;
    }
}

/// A connection in a transaction (or, from [`Backend::read`], a plain reading connection),
/// speaking the store's SQL. Each method is one statement (or one per chunk of rows).
#[async_trait]
pub(crate) trait Tx: Send + Sized {
    /// Commits a write transaction; a reading connection just goes back to its pool.
    async fn commit(self) -> StoreResult<()>;

    // Users and devices.
    async fn insert_user(&mut self, user: &NewUser, now: DateTime<Utc>) -> StoreResult<()>;
    async fn user_with_hash(&mut self, name: &str) -> StoreResult<Option<(UserRow, String)>>;
    async fn users(&mut self) -> StoreResult<Vec<UserRow>>;
    async fn user_exists(&mut self, name: &str) -> StoreResult<bool>;
    /// The device a user named so, and when it was revoked; a write locks its row.
    async fn device_named(
        &mut self,
        user: &str,
        name: &str,
    ) -> StoreResult<Option<(String, Option<DateTime<Utc>>)>>;
    async fn set_device_token(
        &mut self,
        device_id: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn insert_device(
        &mut self,
        device_id: &str,
        user: &str,
        name: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn device_by_token(&mut self, token_hash: &str) -> StoreResult<Option<TokenRow>>;
    async fn devices(&mut self) -> StoreResult<Vec<DeviceRow>>;
    /// Revokes a device (keeping the first revocation time); whether it exists.
    async fn revoke_device(&mut self, device_id: &str, now: DateTime<Utc>) -> StoreResult<bool>;
    async fn device_seen(&mut self, device_id: &str, now: DateTime<Utc>) -> StoreResult<()>;

    // Accounts, as an admin manages them.
    async fn accounts(&mut self) -> StoreResult<Vec<AccountRow>>;
    /// One account, disabled or not; a write locks its row.
    async fn account(&mut self, name: &str) -> StoreResult<Option<AccountRow>>;
    /// Writes an account's display name, role, team, disabled time and must-change flag.
    async fn update_account(&mut self, row: &AccountRow) -> StoreResult<()>;
    async fn set_password(&mut self, name: &str, hash: &str, must_change: bool) -> StoreResult<()>;
    async fn insert_admin_event(&mut self, event: &AdminEventRow) -> StoreResult<()>;
    async fn admin_events(&mut self) -> StoreResult<Vec<AdminEventRow>>;
    async fn device_pulled(
        &mut self,
        device_id: &str,
        now: DateTime<Utc>,
        report: DeviceReport,
        after: i64,
    ) -> StoreResult<()>;

    // Records.
    async fn record_row(&mut self, record_id: &str) -> StoreResult<Option<RecordRow>>;
    async fn group_rows(&mut self, record_id: &str) -> StoreResult<Vec<GroupRow>>;
    async fn owner_history(&mut self, record_id: &str) -> StoreResult<Vec<(i64, String)>>;
    /// Which of these records exist, with the jobs they hang off.
    async fn existing_records(&mut self, ids: &[String]) -> StoreResult<Vec<ExistingRow>>;
    /// Locks existing records (sorted ids) until commit, so what is judged against them stays
    /// as read. A backend whose write transaction already excludes every other writer does
    /// nothing here.
    async fn lock_records(&mut self, ids: &[String]) -> StoreResult<()>;
    /// Locks the job creates of these customers (sorted ids) until commit, so two new jobs for
    /// one customer are compared with each other for `possible_duplicate`.
    async fn lock_customers(&mut self, customer_ids: &[String]) -> StoreResult<()>;
    async fn open_jobs_of_customer(&mut self, customer_id: &str) -> StoreResult<Vec<OpenJobRow>>;
    /// How many jobs of a customer one of these owners holds.
    async fn jobs_of_customer_owned(
        &mut self,
        customer_id: &str,
        owners: &[String; 2],
    ) -> StoreResult<i64>;
    async fn record_owner(&mut self, record_id: &str) -> StoreResult<Option<String>>;
    async fn children(&mut self, job_id: &str) -> StoreResult<Vec<ChildRow>>;
    async fn insert_records(&mut self, rows: &[NewRecord]) -> StoreResult<()>;
    /// Inserts groups, or writes them over the stored ones.
    async fn upsert_groups(&mut self, rows: &[GroupWrite]) -> StoreResult<()>;
    async fn update_records(&mut self, rows: &[RecordUpdate]) -> StoreResult<()>;
    /// Remembers each record's current owner under its current epoch, then gives it to `to`
    /// under the next epoch.
    async fn move_owner(&mut self, ids: &[String], to: &str, now: DateTime<Utc>)
        -> StoreResult<()>;
    /// Takes `count` new human numbers of a record type, ascending; they are this
    /// transaction's until it ends.
    async fn reserve_numbers(
        &mut self,
        record_type: RecordType,
        count: i64,
    ) -> StoreResult<Vec<i64>>;
    /// Gives back numbers reserved and not used, where the backend can (the highest it
    /// reserved is `last_reserved`, the lowest unused `first_unused`).
    async fn release_numbers(
        &mut self,
        record_type: RecordType,
        first_unused: i64,
        last_reserved: i64,
    ) -> StoreResult<()>;

    // The change log.
    /// The next `seq`. From here until commit, this transaction is the only one that adds to
    /// the change log, so the seqs it writes follow every seq committed before and precede
    /// every seq committed after.
    async fn claim_seq(&mut self) -> StoreResult<i64>;
    async fn max_seq(&mut self) -> StoreResult<i64>;
    async fn insert_changes(&mut self, rows: &[NewChange]) -> StoreResult<()>;
    /// The stored outcomes (as JSON) of the change ids that were seen before.
    async fn stored_outcomes(
        &mut self,
        change_ids: &[String],
    ) -> StoreResult<Vec<(String, String)>>;
    /// The applied change that made `version` of a group (a create makes every group's 1).
    async fn applied_change(
        &mut self,
        record_id: &str,
        group: &str,
        version: i64,
    ) -> StoreResult<Option<AppliedRow>>;
    async fn device_name(&mut self, device_id: &str) -> StoreResult<Option<String>>;
    /// Applied changes with `after < seq <= upto`, oldest first, at most `limit`; only those in
    /// the scope of these owner keys when `scope` is given.
    async fn pulled_changes(
        &mut self,
        after: i64,
        upto: i64,
        limit: i64,
        scope: Option<&[String; 2]>,
    ) -> StoreResult<Vec<ChangeRow>>;
    async fn record_changes(&mut self, record_id: &str) -> StoreResult<Vec<ChangeRow>>;
    async fn ownership_moves(&mut self, after: i64, upto: i64) -> StoreResult<Vec<MoveRow>>;
    async fn insert_move(&mut self, row: &NewMove) -> StoreResult<()>;
    /// Tells other server instances, when this transaction commits, that the log grew to `seq`.
    async fn announce(&mut self, seq: i64) -> StoreResult<()>;

    // The review inbox.
    async fn insert_review(&mut self, row: &NewReview) -> StoreResult<()>;
    /// One page of the review items `filter` names, newest first.
    async fn review_rows(&mut self, filter: &ReviewFilter) -> StoreResult<Vec<ReviewRow>>;
    /// One review item; a write locks it until commit.
    async fn review_row(&mut self, review_id: &str) -> StoreResult<Option<ReviewRow>>;
    async fn mark_resolved(
        &mut self,
        review_id: &str,
        choice: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn open_conflicts(&mut self, record_id: &str, group: &str) -> StoreResult<i64>;
    async fn clear_contested(&mut self, record_id: &str, group: &str) -> StoreResult<()>;
    async fn open_review_count(&mut self) -> StoreResult<i64>;

    // The sync review.
    /// The changes made on devices (`kind = 'change'`) that the server judged in
    /// `since <= server_time <= until` and that were not applied, went to the review inbox, or
    /// reached the server at least `slow_secs - 1` seconds after their `device_time` (a second
    /// of slack for the database's date arithmetic; the core decides exactly), oldest first.
    async fn report_changes(
        &mut self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        slow_secs: i64,
    ) -> StoreResult<Vec<ReportRow>>;

    // Files.
    async fn file_status(&mut self, sha256: &str) -> StoreResult<Option<FileStatus>>;
    /// Records an upload's start unless it is known already.
    async fn insert_file(
        &mut self,
        sha256: &str,
        length: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn file_progress(
        &mut self,
        sha256: &str,
        received: i64,
        complete: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Remembers that these records name these files (a pair known already is kept once).
    async fn insert_file_refs(&mut self, refs: &[FileRef]) -> StoreResult<()>;
    /// The records that name a file, now or in an earlier version of the group.
    async fn records_naming_file(&mut self, sha256: &str) -> StoreResult<Vec<String>>;
}
