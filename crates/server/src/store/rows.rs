//! The rows the stores read and write, shared by every backend: each backend's SQL decodes into
//! these structs (`FromRow` works for any sqlx row type whose columns decode) and takes them to
//! insert, so how a stored row becomes a wire type is written once.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::FromRow;
use std::str::FromStr;

use fieldsync_core::accounts::Account;
use fieldsync_core::report::{LoggedChange, LoggedReview};
use fieldsync_core::wire::{LogKind, PulledChange, ReviewItem, ReviewKind, VersionSide};
use fieldsync_core::{Group, Op, Outcome, OutcomeStatus, Owner, Policy, RecordType, Role, State};

use super::{HistoryEntry, StoreError, StoreResult, User};

pub(crate) fn parse<T: FromStr>(s: &str, what: &str) -> StoreResult<T> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad {what}: {s}")))
}

pub(crate) fn owner_of(key: &str) -> StoreResult<Owner> {
    Owner::from_key(key).ok_or_else(|| StoreError::Corrupt(format!("bad owner: {key}")))
}

pub(crate) fn json(s: &str) -> StoreResult<Value> {
    Ok(serde_json::from_str(s)?)
}

pub(crate) fn role_of(s: &str) -> StoreResult<Role> {
    Role::parse(s).ok_or_else(|| StoreError::Corrupt(format!("bad role {s}")))
}

pub(crate) fn record_type_of(s: &str) -> StoreResult<RecordType> {
    RecordType::parse(s).ok_or_else(|| StoreError::Corrupt(format!("bad record type {s}")))
}

pub(crate) fn op_of(s: &str) -> StoreResult<Op> {
    Op::parse(s).ok_or_else(|| StoreError::Corrupt(format!("bad op {s}")))
}

/// The states of a job that is no longer work to do (closed, voided, archived), as the store
/// filters on them: the core says which they are.
pub(crate) fn finished_job_states() -> Vec<&'static str> {
    fieldsync_core::lifecycle::JOB_STATES
        .iter()
        .filter(|s| !s.is_open())
        .map(|s| s.as_str())
        .collect()
}

/// A record's own columns.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct RecordRow {
    pub record_id: String,
    pub record_type: String,
    pub number: Option<String>,
    pub owner: String,
    pub owner_epoch: i64,
    pub state: String,
    pub job_id: Option<String>,
    pub customer_id: Option<String>,
}

/// One field group of a record as stored.
#[derive(Debug, FromRow)]
pub(crate) struct GroupRow {
    pub grp: String,
    pub version: i64,
    pub vals: String,
    pub contested: bool,
}

/// One row of the change log as read back. It also reads from a JSON array of its columns in
/// [`CHANGE_COLUMNS`] order, which is how the SQLite store hands a whole pull page over at once.
#[derive(Debug, FromRow, serde::Deserialize)]
pub(crate) struct ChangeRow {
    pub seq: i64,
    pub change_id: String,
    pub kind: String,
    pub record_type: String,
    pub record_id: String,
    pub grp: Option<String>,
    pub op: String,
    pub base_version: i64,
    pub vals: String,
    pub owner_epoch: i64,
    pub device_time: DateTime<Utc>,
    pub author: String,
    pub device_id: Option<String>,
    pub server_time: DateTime<Utc>,
    pub version: Option<i64>,
    pub number: Option<String>,
    pub owner: String,
    pub state: String,
    pub outcome: String,
}

/// The columns of [`ChangeRow`], for the backends' SELECTs.
pub(crate) const CHANGE_COLUMNS: &str =
    "seq, change_id, kind, record_type, record_id, grp, op, base_version, vals, owner_epoch, \
     device_time, author, device_id, server_time, version, number, owner, state, outcome";

impl ChangeRow {
    /// The row as a pull returns it: an applied change, so its record exists and has a state.
    pub fn pulled(&self) -> StoreResult<PulledChange> {
        self.change(parse(&self.state, "state")?)
    }

    fn change(&self, state: State) -> StoreResult<PulledChange> {
        Ok(PulledChange {
            change_id: parse(&self.change_id, "change id")?,
            record_type: record_type_of(&self.record_type)?,
            record_id: parse(&self.record_id, "record id")?,
            group: self.grp.as_deref().and_then(Group::parse),
            op: op_of(&self.op)?,
            base_version: self.base_version,
            values: json(&self.vals)?,
            owner_epoch: self.owner_epoch,
            device_time: self.device_time,
            seq: self.seq,
            version: self.version.unwrap_or(0),
            number: self.number.clone(),
            author: self.author.clone(),
            device_id: self
                .device_id
                .as_deref()
                .map(|d| parse(d, "device id"))
                .transpose()?,
            server_time: self.server_time,
            owner: owner_of(&self.owner)?,
            state,
        })
    }

    /// The row as a record's history shows it. A held or refused create is logged against a
    /// record that does not exist (state `none`); a history entry carries no state, so it is
    /// read here as the one the record would have started in.
    pub fn history(&self) -> StoreResult<HistoryEntry> {
        let state = match State::parse(&self.state) {
            Some(state) => state,
            None => record_type_of(&self.record_type)?.initial_state(),
        };
        let pulled = self.change(state)?;
        Ok(HistoryEntry {
            seq: self.seq,
            change_id: pulled.change_id,
            kind: LogKind::parse(&self.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("bad log kind {}", self.kind)))?,
            record_type: pulled.record_type,
            record_id: pulled.record_id,
            group: pulled.group,
            op: pulled.op,
            base_version: pulled.base_version,
            values: pulled.values,
            author: pulled.author,
            device_id: pulled.device_id,
            device_time: pulled.device_time,
            server_time: pulled.server_time,
            outcome: serde_json::from_str(&self.outcome)?,
        })
    }
}

/// The applied change that made a version of a group: who, when, from where, and its values.
#[derive(Debug, FromRow)]
pub(crate) struct AppliedRow {
    pub op: String,
    pub vals: String,
    pub author: String,
    pub device_id: Option<String>,
    pub server_time: DateTime<Utc>,
    pub device_time: DateTime<Utc>,
}

/// A review item with the numbers of its record and of the record it matched.
#[derive(Debug, FromRow)]
pub(crate) struct ReviewRow {
    pub review_id: String,
    pub kind: String,
    pub record_type: String,
    pub record_id: String,
    pub grp: Option<String>,
    pub change_id: String,
    pub change_json: String,
    pub base: Option<String>,
    pub current: Option<String>,
    pub incoming: String,
    pub matched_record_id: Option<String>,
    pub matched_number: Option<String>,
    pub number: Option<String>,
    pub incoming_author: String,
    pub created_at: DateTime<Utc>,
    pub state: String,
    pub resolution: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Which review items a reader gets, decided before the query so the database filters and
/// pages: the items this user made (their own held changes), and those their role resolves
/// (by kind, or by the groups whose conflicts they resolve), newest first, after a cursor.
#[derive(Debug, Clone)]
pub(crate) struct ReviewFilter {
    pub all: bool,
    pub author: String,
    pub kinds: Vec<&'static str>,
    /// `record_type.group`, e.g. `job.status`.
    pub conflict_groups: Vec<String>,
    pub before: Option<(DateTime<Utc>, String)>,
    pub limit: i64,
}

impl ReviewFilter {
    pub fn new(
        author: &fieldsync_core::Author,
        policy: &Policy,
        all: bool,
        before: Option<fieldsync_core::wire::ReviewCursor>,
        limit: i64,
    ) -> ReviewFilter {
        let (kinds, groups) = policy.resolvable_by(author.role);
        ReviewFilter {
            all,
            author: author.user.clone(),
            kinds: kinds.iter().map(|k| k.as_str()).collect(),
            conflict_groups: groups
                .iter()
                .map(|(t, g)| format!("{}.{}", t.as_str(), g.as_str()))
                .collect(),
            before: before.map(|c| (c.created_at, c.review_id.to_string())),
            limit,
        }
    }
}

/// The SELECT of [`ReviewRow`]; a backend appends its WHERE and ORDER BY.
pub(crate) const REVIEW_SELECT: &str = "SELECT r.review_id, r.kind, r.record_type, r.record_id, r.grp, r.change_id, r.change_json, \
     r.base, r.current, r.incoming, r.matched_record_id, m.number AS matched_number, rec.number AS number, \
     r.incoming_author, r.created_at, r.state, r.resolution, r.resolved_by, r.resolved_at \
     FROM review_items r LEFT JOIN records m ON m.record_id = r.matched_record_id \
     LEFT JOIN records rec ON rec.record_id = r.record_id";

impl ReviewRow {
    pub fn item(&self, policy: &Policy) -> StoreResult<ReviewItem> {
        let kind = ReviewKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("bad review kind {}", self.kind)))?;
        let record_type = record_type_of(&self.record_type)?;
        let group = self.grp.as_deref().and_then(Group::parse);
        let side = |s: &Option<String>| -> StoreResult<Option<VersionSide>> {
            s.as_deref()
                .map(|s| serde_json::from_str(s).map_err(StoreError::from))
                .transpose()
        };
        Ok(ReviewItem {
            review_id: parse(&self.review_id, "review id")?,
            kind,
            record_type,
            record_id: parse(&self.record_id, "record id")?,
            number: self.number.clone(),
            group,
            change_id: parse(&self.change_id, "change id")?,
            base: side(&self.base)?,
            current: side(&self.current)?,
            incoming: serde_json::from_str(&self.incoming)?,
            matched_record_id: self
                .matched_record_id
                .as_deref()
                .map(|m| parse(m, "record id"))
                .transpose()?,
            matched_number: self.matched_number.clone(),
            resolvers: policy.resolvers(kind, record_type, group),
            created_at: self.created_at,
            state: self.state.clone(),
            resolution: self.resolution.clone(),
            resolved_by: self.resolved_by.clone(),
            resolved_at: self.resolved_at,
        })
    }
}

/// A change of the sync review's period that was held, refused, flagged or slow, with its
/// device, its record's number and the review item it made.
#[derive(Debug, FromRow)]
pub(crate) struct ReportRow {
    pub change_id: String,
    pub record_type: String,
    pub record_id: String,
    pub grp: Option<String>,
    pub op: String,
    pub author: String,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub device_user: Option<String>,
    pub device_time: DateTime<Utc>,
    pub server_time: DateTime<Utc>,
    pub status: String,
    pub number: Option<String>,
    pub code: Option<String>,
    pub outcome: String,
    pub review_id: Option<String>,
    pub review_kind: Option<String>,
    pub review_state: Option<String>,
    pub matched_number: Option<String>,
}

/// The SELECT of [`ReportRow`]; a backend appends its WHERE (the period, and which changes).
pub(crate) const REPORT_SELECT: &str = "SELECT c.change_id, c.record_type, c.record_id, c.grp, c.op, c.author, c.device_id, \
     d.name AS device_name, d.user_name AS device_user, c.device_time, c.server_time, c.status, \
     COALESCE(rec.number, c.number) AS number, c.code, c.outcome, r.review_id, r.kind AS review_kind, \
     r.state AS review_state, m.number AS matched_number \
     FROM changes c LEFT JOIN devices d ON d.device_id = c.device_id \
     LEFT JOIN records rec ON rec.record_id = c.record_id \
     LEFT JOIN review_items r ON r.review_id = c.review_id \
     LEFT JOIN records m ON m.record_id = r.matched_record_id";

impl ReportRow {
    pub fn logged(&self) -> StoreResult<LoggedChange> {
        let outcome: Outcome = serde_json::from_str(&self.outcome)?;
        let review = match (&self.review_id, &self.review_kind) {
            (Some(id), Some(kind)) => Some(LoggedReview {
                review_id: parse(id, "review id")?,
                kind: ReviewKind::parse(kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("bad review kind {kind}")))?,
                state: self.review_state.clone().unwrap_or_default(),
                matched_number: self.matched_number.clone(),
            }),
            _ => None,
        };
        Ok(LoggedChange {
            record_type: record_type_of(&self.record_type)?,
            record_id: parse(&self.record_id, "record id")?,
            number: self.number.clone(),
            group: self.grp.as_deref().and_then(Group::parse),
            op: op_of(&self.op)?,
            change_id: parse(&self.change_id, "change id")?,
            author: self.author.clone(),
            device_id: self
                .device_id
                .as_deref()
                .map(|d| parse(d, "device id"))
                .transpose()?,
            device_name: self.device_name.clone(),
            device_user: self.device_user.clone(),
            server_time: self.server_time,
            device_time: self.device_time,
            status: OutcomeStatus::parse(&self.status)
                .ok_or_else(|| StoreError::Corrupt(format!("bad status {}", self.status)))?,
            code: self.code.clone().or(outcome.code),
            message: outcome.message,
            review,
        })
    }
}

/// A user as stored, without the password hash.
#[derive(Debug, FromRow)]
pub(crate) struct UserRow {
    pub name: String,
    pub display_name: String,
    pub role: String,
    pub team: Option<String>,
}

impl UserRow {
    pub fn user(self) -> StoreResult<User> {
        Ok(User {
            role: role_of(&self.role)?,
            name: self.name,
            display_name: self.display_name,
            team: self.team,
        })
    }
}

/// A user as an admin manages them: disabled ones too, never the password hash.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct AccountRow {
    pub name: String,
    pub display_name: String,
    pub role: String,
    pub team: Option<String>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub must_change_password: bool,
}

impl AccountRow {
    pub fn account(self) -> StoreResult<Account> {
        Ok(Account {
            role: role_of(&self.role)?,
            name: self.name,
            display_name: self.display_name,
            team: self.team,
            created_at: self.created_at,
            disabled_at: self.disabled_at,
            must_change_password: self.must_change_password,
        })
    }
}

/// One entry of the admin log: who did what to which account or device.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct AdminEventRow {
    pub id: String,
    pub at: DateTime<Utc>,
    pub by_user: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// The device a token names, with its user.
#[derive(Debug, FromRow)]
pub(crate) struct TokenRow {
    pub device_id: String,
    pub device_name: String,
    pub user_name: String,
    pub role: String,
    pub team: Option<String>,
}

/// A device as `GET /api/v1/devices` lists it.
#[derive(Debug, FromRow)]
pub(crate) struct DeviceRow {
    pub device_id: String,
    pub name: String,
    pub user_name: String,
    pub display_name: String,
    pub role: String,
    pub team: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub outbox_depth: Option<i64>,
    pub oldest_pending: Option<DateTime<Utc>>,
    pub last_pull_seq: Option<i64>,
}

/// One ownership move as stored, with the record's number.
#[derive(Debug, FromRow)]
pub(crate) struct MoveRow {
    pub seq: i64,
    pub record_type: String,
    pub record_id: String,
    pub from_owner: String,
    pub to_owner: String,
    pub owner_epoch: i64,
    pub by_user: String,
    pub at: DateTime<Utc>,
    pub number: Option<String>,
}

/// An open job a new job may duplicate.
#[derive(Debug, FromRow)]
pub(crate) struct OpenJobRow {
    pub record_id: String,
    pub number: Option<String>,
    pub site: Option<String>,
    pub window_start: Option<String>,
    pub state: String,
}

/// A record that exists, and the job it hangs off.
#[derive(Debug, FromRow)]
pub(crate) struct ExistingRow {
    pub record_id: String,
    pub job_id: Option<String>,
}

/// A record that hangs off a job.
#[derive(Debug, FromRow)]
pub(crate) struct ChildRow {
    pub record_id: String,
    pub record_type: String,
    pub owner: String,
}

/// A new record's row.
#[derive(Debug, Clone)]
pub(crate) struct NewRecord {
    pub record_id: String,
    pub record_type: &'static str,
    pub number: Option<String>,
    pub owner: String,
    pub owner_epoch: i64,
    pub state: String,
    pub job_id: Option<String>,
    pub customer_id: Option<String>,
    pub site: Option<String>,
    pub window_start: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A field group's new version (inserted, or written over the stored one).
#[derive(Debug, Clone)]
pub(crate) struct GroupWrite {
    pub record_id: String,
    pub group: &'static str,
    pub version: i64,
    pub values: String,
    pub contested: bool,
}

/// A record that names a file in one of its groups (`file_refs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileRef {
    pub sha256: String,
    pub record_id: String,
}

/// The files a group's values name: its fields of kind SHA-256, as core's field table has them
/// (today a photo's `file.sha256` and a job's `signature.image_sha256`), so a field added there
/// is found here without a second list.
pub(crate) fn files_named(
    record_type: RecordType,
    group: Group,
    record_id: &str,
    values: &Value,
) -> Vec<FileRef> {
    fieldsync_core::model::fields(record_type, group)
        .iter()
        .filter(|(_, kind, _)| *kind == fieldsync_core::model::FieldKind::Sha256)
        .filter_map(|(name, _, _)| values.get(*name).and_then(Value::as_str))
        .map(|sha| FileRef {
            sha256: sha.to_string(),
            record_id: record_id.to_string(),
        })
        .collect()
}

/// What changes in a record's own columns; `None` keeps the stored value.
#[derive(Debug, Clone)]
pub(crate) struct RecordUpdate {
    pub record_id: String,
    pub state: Option<String>,
    pub site: Option<String>,
    pub window_start: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A change-log row ready to insert, with its final `seq`.
#[derive(Debug, Clone)]
pub(crate) struct NewChange {
    pub seq: i64,
    pub change_id: String,
    pub kind: String,
    pub record_type: &'static str,
    pub record_id: String,
    pub group: Option<&'static str>,
    pub op: &'static str,
    pub base_version: i64,
    pub values: String,
    pub owner_epoch: i64,
    pub device_time: DateTime<Utc>,
    pub author: String,
    pub device_id: Option<String>,
    pub server_time: DateTime<Utc>,
    pub status: &'static str,
    pub version: Option<i64>,
    pub number: Option<String>,
    pub owner: String,
    pub state: String,
    pub scope_job: Option<String>,
    pub review_id: Option<String>,
    pub code: Option<String>,
    pub outcome: String,
}

/// A new review item.
#[derive(Debug, Clone)]
pub(crate) struct NewReview {
    pub review_id: String,
    pub kind: &'static str,
    pub record_type: &'static str,
    pub record_id: String,
    pub group: Option<&'static str>,
    pub change_id: String,
    pub change_json: String,
    pub base: Option<String>,
    pub current: Option<String>,
    pub incoming: String,
    pub matched_record_id: Option<String>,
    pub incoming_author: String,
    pub created_at: DateTime<Utc>,
}

/// A new ownership move.
#[derive(Debug, Clone)]
pub(crate) struct NewMove {
    pub seq: i64,
    pub record_type: &'static str,
    pub record_id: String,
    pub from_owner: String,
    pub to_owner: String,
    pub owner_epoch: i64,
    pub by_user: String,
    pub at: DateTime<Utc>,
}
