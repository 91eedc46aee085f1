//! The sync protocol's messages, with the field names DESIGN.md fixes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ErrorCode;
use crate::ids::{ChangeId, DeviceId, RecordId, ReviewId};
use crate::model::{Group, Owner, RecordState, RecordType, Role};
use crate::policy::Policy;
use crate::state::State;

/// What a change does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Create,
    Update,
    Void,
}

impl Op {
    pub fn as_str(&self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Void => "void",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        [Op::Create, Op::Update, Op::Void]
            .into_iter()
            .find(|op| op.as_str() == s)
    }
}

/// What a device sends: one user action on one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub change_id: ChangeId,
    pub record_type: RecordType,
    pub record_id: RecordId,
    /// Left out on a create, which carries every group's first values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
    pub op: Op,
    /// The group version the device last saw; 0 for a create.
    pub base_version: i64,
    #[schema(value_type = Object)]
    pub values: Value,
    pub owner_epoch: i64,
    /// The device's own time: shown to people, never used for ordering.
    pub device_time: DateTime<Utc>,
}

/// How the server judged a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Applied,
    Held,
    Rejected,
}

impl OutcomeStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            OutcomeStatus::Applied => "applied",
            OutcomeStatus::Held => "held",
            OutcomeStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<OutcomeStatus> {
        match s {
            "applied" => Some(OutcomeStatus::Applied),
            "held" => Some(OutcomeStatus::Held),
            "rejected" => Some(OutcomeStatus::Rejected),
            _ => None,
        }
    }
}

/// The server's answer to one change, stored under its change id and given back on replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outcome {
    pub change_id: ChangeId,
    pub status: OutcomeStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// The record's human number (J-000248), on its first accepted change and after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_id: Option<ReviewId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

impl Outcome {
    /// A refusal that may go away by itself (its code is a transient [`ErrorCode`]): the change
    /// stays pending and is sent again. A code this build does not know is not transient, so
    /// such a change is shown as rejected rather than retried for ever.
    pub fn is_transient(&self) -> bool {
        self.status == OutcomeStatus::Rejected
            && self
                .code
                .as_deref()
                .and_then(ErrorCode::parse)
                .is_some_and(|code| code.is_transient())
    }
}

/// `POST /api/v1/sync/push`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushResponse {
    pub outcomes: Vec<Outcome>,
}

/// An applied change as the server committed it, as a pull returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PulledChange {
    pub change_id: ChangeId,
    pub record_type: RecordType,
    pub record_id: RecordId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
    pub op: Op,
    pub base_version: i64,
    #[schema(value_type = Object)]
    pub values: Value,
    pub owner_epoch: i64,
    pub device_time: DateTime<Utc>,
    pub seq: i64,
    pub version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    pub author: String,
    pub device_id: Option<DeviceId>,
    pub server_time: DateTime<Utc>,
    pub owner: Owner,
    /// The record's lifecycle state after this change.
    pub state: State,
}

/// A record changed owner: the old owner's device makes it read-only, the new one's takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OwnershipMove {
    pub seq: i64,
    pub record_type: RecordType,
    pub record_id: RecordId,
    pub number: Option<String>,
    pub from: Owner,
    pub to: Owner,
    pub owner_epoch: i64,
    pub by: String,
    pub at: DateTime<Utc>,
}

pub use crate::model::ReviewKind;

/// One version of a contested group: its values and who wrote them, when, from which device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionSide {
    #[schema(value_type = Object)]
    pub values: Value,
    pub version: Option<i64>,
    pub author: Option<String>,
    pub device_id: Option<DeviceId>,
    pub device_name: Option<String>,
    pub server_time: Option<DateTime<Utc>>,
    pub device_time: Option<DateTime<Utc>>,
}

/// An item of the review inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReviewItem {
    pub review_id: ReviewId,
    pub kind: ReviewKind,
    pub record_type: RecordType,
    pub record_id: RecordId,
    pub number: Option<String>,
    pub group: Option<Group>,
    /// The change that was held (or flagged).
    pub change_id: ChangeId,
    pub base: Option<VersionSide>,
    pub current: Option<VersionSide>,
    pub incoming: VersionSide,
    /// For a possible duplicate: the open job it matched.
    pub matched_record_id: Option<RecordId>,
    pub matched_number: Option<String>,
    pub resolvers: Vec<Role>,
    pub created_at: DateTime<Utc>,
    /// `open` or `resolved`.
    pub state: String,
    pub resolution: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl ReviewItem {
    /// The cursor that asks for the items after this one.
    pub fn cursor(&self) -> String {
        ReviewCursor {
            created_at: self.created_at,
            review_id: self.review_id,
        }
        .encode()
    }
}

/// `GET /api/v1/sync/pull`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PullResponse {
    pub changes: Vec<PulledChange>,
    pub ownership: Vec<OwnershipMove>,
    pub review: Vec<ReviewItem>,
    /// Whole records that came into the caller's scope in this page (a job reassigned to
    /// them, with its notes, parts, photos and customer), so a new owner starts complete.
    #[serde(default)]
    pub records: Vec<crate::model::RecordState>,
    /// The cursor for the next pull (`after=next`).
    pub next: i64,
    pub more: bool,
}

/// How to resolve a review item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolveChoice {
    Current,
    Incoming,
    Merged,
}

impl ResolveChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            ResolveChoice::Current => "current",
            ResolveChoice::Incoming => "incoming",
            ResolveChoice::Merged => "merged",
        }
    }

    pub fn parse(s: &str) -> Option<ResolveChoice> {
        [
            ResolveChoice::Current,
            ResolveChoice::Incoming,
            ResolveChoice::Merged,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    pub choice: ResolveChoice,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub values: Option<Value>,
    /// The version of the group the card showed as current. When the group has moved on
    /// since (another resolution, a newer change), the choice is refused with
    /// `changed_since_seen` instead of keeping a value the person never saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}

/// The error body of every refusal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiErrorBody {
    pub code: String,
    pub message: String,
}

/// A user as the API shows it (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub team: Option<String>,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    pub device_name: String,
}

/// A bearer token for this device.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub device_id: DeviceId,
    pub user: User,
    /// The password was set by an admin (a first one or a reset): the app asks for a new one
    /// before anything else (`POST /api/v1/auth/password`).
    #[serde(default)]
    pub must_change_password: bool,
}

/// The kinds of event the weekly sync review lists.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// A create that matched an open job (applied, flagged into review).
    PossibleDuplicate,
    /// A manual-review collision, held.
    Conflict,
    /// A void that met an update, held.
    VoidVsUpdate,
    /// A refused change, with its code.
    Rejected,
    /// An edit made under an earlier owner, held.
    OwnershipMoved,
    /// A change that reached the server long after it was saved on its device.
    SlowChange,
}

impl ReportKind {
    pub const ALL: [ReportKind; 6] = [
        ReportKind::PossibleDuplicate,
        ReportKind::Conflict,
        ReportKind::VoidVsUpdate,
        ReportKind::Rejected,
        ReportKind::OwnershipMoved,
        ReportKind::SlowChange,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ReportKind::PossibleDuplicate => "possible_duplicate",
            ReportKind::Conflict => "conflict",
            ReportKind::VoidVsUpdate => "void_vs_update",
            ReportKind::Rejected => "rejected",
            ReportKind::OwnershipMoved => "ownership_moved",
            ReportKind::SlowChange => "slow_change",
        }
    }

    /// The review item kind that makes this event, for the kinds that come from the inbox.
    pub fn of_review(kind: ReviewKind) -> ReportKind {
        match kind {
            ReviewKind::Conflict => ReportKind::Conflict,
            ReviewKind::OwnershipMoved => ReportKind::OwnershipMoved,
            ReviewKind::PossibleDuplicate => ReportKind::PossibleDuplicate,
            ReviewKind::VoidVsUpdate => ReportKind::VoidVsUpdate,
        }
    }
}

/// Where a problem comes from, so a team knows what to change: who owns what, a field
/// group's conflict rule, the devices' retry timing, duplicate creates, or the data sent.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReportCause {
    Ownership,
    ConflictRule,
    RetryTiming,
    Duplicate,
    InvalidData,
}

impl ReportCause {
    pub const ALL: [ReportCause; 5] = [
        ReportCause::Ownership,
        ReportCause::ConflictRule,
        ReportCause::RetryTiming,
        ReportCause::Duplicate,
        ReportCause::InvalidData,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            ReportCause::Ownership => "ownership",
            ReportCause::ConflictRule => "conflict_rule",
            ReportCause::RetryTiming => "retry_timing",
            ReportCause::Duplicate => "duplicate",
            ReportCause::InvalidData => "invalid_data",
        }
    }
}

/// One event of the sync review: a change that was flagged, held, refused or slow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportEvent {
    pub kind: ReportKind,
    pub cause: ReportCause,
    /// The rule that decided: the group's policy (`manual_review`), the rejection code
    /// (`record_locked`), `ownership_moved`, `duplicate_match` or `sync_delay`.
    pub rule: String,
    pub record_type: RecordType,
    pub record_id: RecordId,
    pub number: Option<String>,
    pub group: Option<Group>,
    pub op: Op,
    pub change_id: ChangeId,
    /// Who made the change.
    pub author: String,
    pub device_id: Option<DeviceId>,
    pub device_name: Option<String>,
    /// The user the device belongs to.
    pub device_user: Option<String>,
    /// When the server judged it.
    pub server_time: DateTime<Utc>,
    /// When the device saved it (the device's clock).
    pub device_time: DateTime<Utc>,
    /// `server_time - device_time` in seconds, 0 when the device's clock is ahead.
    pub delay_secs: i64,
    /// A rejection's code and sentence.
    pub code: Option<String>,
    pub message: Option<String>,
    pub review_id: Option<ReviewId>,
    /// `open` or `resolved`, for the events that went to the review inbox.
    pub review_state: Option<String>,
    /// For a possible duplicate: the number of the open job it matched.
    pub matched_number: Option<String>,
}

/// How many events of each kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReportCounts {
    pub possible_duplicate: i64,
    pub conflict: i64,
    pub void_vs_update: i64,
    pub rejected: i64,
    pub ownership_moved: i64,
    pub slow_change: i64,
    pub total: i64,
}

impl ReportCounts {
    pub fn add(&mut self, kind: ReportKind) {
        *self.slot(kind) += 1;
        self.total += 1;
    }

    pub fn get(&self, kind: ReportKind) -> i64 {
        match kind {
            ReportKind::PossibleDuplicate => self.possible_duplicate,
            ReportKind::Conflict => self.conflict,
            ReportKind::VoidVsUpdate => self.void_vs_update,
            ReportKind::Rejected => self.rejected,
            ReportKind::OwnershipMoved => self.ownership_moved,
            ReportKind::SlowChange => self.slow_change,
        }
    }

    fn slot(&mut self, kind: ReportKind) -> &mut i64 {
        match kind {
            ReportKind::PossibleDuplicate => &mut self.possible_duplicate,
            ReportKind::Conflict => &mut self.conflict,
            ReportKind::VoidVsUpdate => &mut self.void_vs_update,
            ReportKind::Rejected => &mut self.rejected,
            ReportKind::OwnershipMoved => &mut self.ownership_moved,
            ReportKind::SlowChange => &mut self.slow_change,
        }
    }
}

/// The events of one device in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceSummary {
    pub device_id: Option<DeviceId>,
    pub device_name: Option<String>,
    pub device_user: Option<String>,
    pub counts: ReportCounts,
}

/// The events one rule decided in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleSummary {
    pub rule: String,
    pub cause: ReportCause,
    pub counts: ReportCounts,
}

/// `GET /api/v1/report`: the sync review of a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncReport {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// A change counts as slow when it reached the server at least this long after its device
    /// saved it.
    pub slow_secs: i64,
    pub totals: ReportCounts,
    /// Per device, most events first.
    pub devices: Vec<DeviceSummary>,
    /// Per rule, most events first.
    pub rules: Vec<RuleSummary>,
    /// Newest first.
    pub events: Vec<ReportEvent>,
}

/// The query of `GET /api/v1/sync/pull`: the cursor, and what the device reports about its
/// outbox so the office sees unsynced work on a device it has not heard from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
// A query string, not the path (utoipa's default for IntoParams).
#[into_params(parameter_in = Query)]
pub struct PullParams {
    /// Return changes with `seq` greater than this.
    #[serde(default)]
    pub after: i64,
    /// Most changes in one page (1 to 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// How many changes wait in the device's outbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbox_depth: Option<i64>,
    /// When the oldest of them was saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// The query of `GET /api/v1/review`. The answer is one page, newest first, of the items the
/// caller may resolve or made: a full page (`limit` items) means there may be more, fetched with
/// `before` set to the last item's [`ReviewItem::cursor`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
// A query string, not the path (utoipa's default for IntoParams).
#[into_params(parameter_in = Query)]
pub struct ReviewParams {
    /// Include resolved items too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Most items in one page (1 to 1000; 200 when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Only items older than this cursor (the last item of the previous page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
}

/// A page of the review inbox when the query names no `limit`.
pub const REVIEW_PAGE: i64 = 200;

/// Where a page of the inbox ends: the last item's creation time and id, the order the inbox
/// is read in (two items made in the same microsecond still have an order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewCursor {
    pub created_at: DateTime<Utc>,
    pub review_id: ReviewId,
}

impl ReviewCursor {
    /// `2025-03-03T07:00:00.123456Z~<review id>`, the time to the precision the store kept.
    pub fn encode(&self) -> String {
        format!(
            "{}~{}",
            self.created_at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            self.review_id
        )
    }

    pub fn parse(s: &str) -> Option<ReviewCursor> {
        let (at, id) = s.split_once('~')?;
        Some(ReviewCursor {
            created_at: DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc),
            review_id: id.parse().ok()?,
        })
    }
}

/// The slow-change threshold when a report does not name one: an hour.
pub const DEFAULT_SLOW_SECS: i64 = 3600;

/// The query of `GET /api/v1/report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
// A query string, not the path (utoipa's default for IntoParams).
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// Start of the period (RFC 3339), e.g. `2025-03-03T00:00:00Z`.
    pub since: DateTime<Utc>,
    /// End of the period (RFC 3339); now when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// A change is slow when it reached the server at least this many seconds after its device
    /// saved it (its `device_time`); 3600 when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_secs: Option<i64>,
}

/// `POST /api/v1/records/{type}/{id}/reassign`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignRequest {
    /// The new owner: `{"kind": "user", "name": "tom"}` or `{"kind": "team", "name": "north"}`.
    pub owner: Owner,
    /// The ownership epoch the dispatcher's warning was about. When the job has changed hands
    /// since, the reassignment is refused with `changed_since_seen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_epoch: Option<i64>,
    /// Why the job moves, in the dispatcher's words: kept in the job's change log (the
    /// reassignment's message) and shown in its timeline, so the next person reading the job
    /// knows why it changed hands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A reassignment's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReassignOutcome {
    pub record: RecordState,
    pub moved: OwnershipMove,
}

/// `POST /api/v1/records/{type}/{id}/reopen`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenRequest {
    pub reason: String,
}

/// The answer of `POST /api/v1/review/{id}/resolve`: the item as it now stands, and the
/// resolution's own outcome (itself a change in the log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResolveResponse {
    pub item: ReviewItem,
    pub outcome: Outcome,
}

/// `GET /api/v1/policy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyResponse {
    pub policy: Policy,
}

/// A device as `GET /api/v1/devices` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceInfo {
    pub device_id: DeviceId,
    pub name: String,
    pub user: String,
    pub display_name: String,
    pub role: Role,
    pub team: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The outbox depth the device reported at its last pull.
    pub outbox_depth: Option<i64>,
    /// The oldest change still in its outbox at its last pull.
    pub oldest_pending: Option<DateTime<Utc>>,
    pub last_pull_seq: Option<i64>,
}

/// What wrote an entry of a record's change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// A device's change, judged.
    Change,
    /// A review item resolved.
    Resolution,
    Reassign,
    Reopen,
}

impl std::fmt::Display for LogKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl LogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Change => "change",
            LogKind::Resolution => "resolution",
            LogKind::Reassign => "reassign",
            LogKind::Reopen => "reopen",
        }
    }

    pub fn parse(s: &str) -> Option<LogKind> {
        [
            LogKind::Change,
            LogKind::Resolution,
            LogKind::Reassign,
            LogKind::Reopen,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One entry of a record's change log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub seq: i64,
    pub change_id: ChangeId,
    pub kind: LogKind,
    pub record_type: RecordType,
    pub record_id: RecordId,
    pub group: Option<Group>,
    pub op: Op,
    pub base_version: i64,
    #[schema(value_type = Object)]
    pub values: Value,
    pub author: String,
    pub device_id: Option<DeviceId>,
    pub device_time: DateTime<Utc>,
    pub server_time: DateTime<Utc>,
    pub outcome: Outcome,
}

/// `GET /api/v1/records/{type}/{id}/history`: a record's change log with its current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordHistory {
    pub record: RecordState,
    pub entries: Vec<HistoryEntry>,
}
