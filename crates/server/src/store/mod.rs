//! The store interface: everything the server keeps, behind one trait with a backend each.
//!
//! A store judges and commits a batch of changes in one transaction, calling the core's judge
//! with the record as it stands inside that transaction, so two pushes can never both see the
//! same version and both win.
//!
//! The logic is written once (`engine.rs`, `batch.rs`, `office.rs`, `records.rs`, over the rows
//! of `rows.rs`); each backend (`sqlite.rs`, `postgres.rs`) supplies its SQL and its locks
//! through the traits of `backend.rs`.

mod accounts;
pub(crate) mod backend;
mod batch;
mod engine;
pub mod migrate;
mod office;
pub mod postgres;
mod records;
mod rows;
pub mod sqlite;

pub use accounts::AdminAction;
pub use backend::PokeFn;
pub use engine::poke_fn;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fieldsync_core::accounts::{Account, AdminEvent};
use fieldsync_core::wire::{
    Outcome, PullResponse, ReassignRequest, ResolveRequest, ReviewItem, ReviewParams, SyncReport,
};
use fieldsync_core::{
    Author, Change, DeviceId, ErrorCode, Policy, RecordId, RecordType, ReviewId, Role,
};

/// The store's error, converted from `sqlx::Error` at the store boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A refusal with a domain code (forbidden, locked, already resolved…).
    #[error("{0}: {1}")]
    Refused(ErrorCode, String),
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The transaction lost a race with another (a deadlock broken, a serialization failure);
    /// trying it again is the remedy.
    #[error("transaction lost a race: {0}")]
    Contention(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound("no such row".into()),
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_string())
            }
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // PostgreSQL: serialization_failure, deadlock_detected.
                Some("40001") | Some("40P01") => StoreError::Contention(e),
                // PostgreSQL: a connection exception (class 08), the server shutting down or
                // starting up (57P01-57P03), too many connections (53300). The database is
                // away, not wrong.
                Some(code)
                    if code.starts_with("08")
                        || matches!(code, "57P01" | "57P02" | "57P03" | "53300") =>
                {
                    StoreError::Unavailable(e)
                }
                _ => StoreError::Database(e),
            },
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    /// Whether the transaction lost a race with another and may simply be tried again.
    pub fn is_contention(&self) -> bool {
        matches!(self, StoreError::Contention(_))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> StoreError {
        StoreError::Corrupt(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A device seen this recently, reporting the same outbox, is not written again on its next pull:
/// a fresh device's catch-up is a hundred pulls in a few seconds, and each write would be a flush.
pub(crate) const SEEN_AGAIN_AFTER: chrono::Duration = chrono::Duration::seconds(5);

/// The device behind a request, with its user, as the bearer token names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuth {
    pub device_id: DeviceId,
    pub device_name: String,
    pub author: Author,
}

pub use fieldsync_core::wire::{DeviceInfo, HistoryEntry, ReassignOutcome, RecordHistory, User};

/// A new user, with the password already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub team: Option<String>,
    pub password_hash: String,
}

/// What a device tells the server about itself at each pull.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceReport {
    pub outbox_depth: Option<i64>,
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// Where a resumable upload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    pub length: i64,
    pub received: i64,
    pub complete: bool,
    /// The user whose device began the upload: only they add bytes to it until it is whole.
    pub created_by: String,
}

/// Who may fetch a file, as the records that name it decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAccess {
    /// No record names the file: nothing makes it anyone's to see.
    Unreferenced,
    /// Records name it, none of them in the caller's scope.
    OutOfScope,
    /// A record the caller may see names it.
    Visible,
}

/// One store backend. Every method that writes runs in one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn add_user(&self, user: NewUser, now: DateTime<Utc>) -> StoreResult<()>;
    async fn user_with_hash(&self, name: &str) -> StoreResult<Option<(User, String)>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Registers (or re-registers) a device for a user and stores the hash of its new token.
    async fn register_device(
        &self,
        user: &str,
        device_name: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<DeviceId>;
    async fn device_by_token(&self, token_hash: &str) -> StoreResult<Option<DeviceAuth>>;
    async fn list_devices(&self) -> StoreResult<Vec<DeviceInfo>>;
    async fn revoke_device(&self, device_id: DeviceId, now: DateTime<Utc>) -> StoreResult<()>;
    /// Every account, disabled ones too, as an admin manages them.
    async fn accounts(&self) -> StoreResult<Vec<Account>>;
    async fn account(&self, name: &str) -> StoreResult<Option<Account>>;
    /// One admin action, logged in the same transaction; the account it touched, as it stands.
    async fn administer(
        &self,
        by: &Author,
        action: AdminAction,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Account>>;
    /// A person's own new password (already hashed); clears the must-change flag.
    async fn change_own_password(
        &self,
        by: &Author,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn admin_log(&self) -> StoreResult<Vec<AdminEvent>>;

    /// Judges and commits a batch; one outcome per change, same order.
    async fn push(
        &self,
        device: &DeviceAuth,
        changes: &[Change],
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Outcome>>;
    async fn pull(
        &self,
        device: &DeviceAuth,
        after: i64,
        limit: i64,
        report: DeviceReport,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> StoreResult<PullResponse>;
    async fn max_seq(&self) -> StoreResult<i64>;
    async fn review_list(
        &self,
        author: &Author,
        policy: &Policy,
        params: &ReviewParams,
    ) -> StoreResult<Vec<ReviewItem>>;
    async fn open_review_count(&self) -> StoreResult<i64>;
    /// The sync review of `since <= server_time <= until`: every change flagged as a possible
    /// duplicate, held (conflict, void vs update, ownership moved), rejected, or that reached the
    /// server at least `slow_secs` after its device saved it, with counts per device and rule.
    async fn report(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        slow_secs: i64,
        policy: &Policy,
    ) -> StoreResult<SyncReport>;
    async fn resolve(
        &self,
        device: &DeviceAuth,
        review_id: ReviewId,
        request: &ResolveRequest,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> StoreResult<(ReviewItem, Outcome)>;
    async fn reassign(
        &self,
        device: &DeviceAuth,
        record_id: RecordId,
        request: &ReassignRequest,
        now: DateTime<Utc>,
    ) -> StoreResult<ReassignOutcome>;
    async fn reopen(
        &self,
        device: &DeviceAuth,
        record_id: RecordId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Outcome>;
    async fn history(
        &self,
        author: &Author,
        record_type: RecordType,
        record_id: RecordId,
    ) -> StoreResult<RecordHistory>;

    async fn file_status(&self, sha256: &str) -> StoreResult<Option<FileStatus>>;
    /// Records that an upload of `length` bytes began; returns its status if it already exists.
    async fn file_begin(
        &self,
        sha256: &str,
        length: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<FileStatus>;
    async fn file_progress(
        &self,
        sha256: &str,
        received: i64,
        complete: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Whether `author` may fetch a file: by the same scope rule as a record's history, applied
    /// to each record that names the file (see `file_refs`).
    async fn file_access(&self, author: &Author, sha256: &str) -> StoreResult<FileAccess>;

    /// Closes the store's connections.
    async fn close(&self);

    /// Calls `poke` when another server instance on the same database commits a change, and
    /// after the connection that listens for them was lost and is back (a notice may have been
    /// missed meanwhile), until `closing` turns true.
    async fn relay_pokes(&self, poke: PokeFn, closing: tokio::sync::watch::Receiver<bool>);
}
