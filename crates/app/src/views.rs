//! What the UI shows, as plain serialisable types. The UI's TypeScript types are generated from
//! these (ts-rs), never written twice.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

/// A refusal the UI can show: a stable code and a sentence.
#[derive(Debug, Clone, Serialize, Deserialize, TS, thiserror::Error)]
#[ts(export)]
#[error("{message}")]
pub struct AppError {
    pub code: String,
    pub message: String,
}

impl AppError {
    pub fn new(code: &str, message: impl Into<String>) -> AppError {
        AppError {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

impl From<fieldsync_client::ClientError> for AppError {
    fn from(e: fieldsync_client::ClientError) -> AppError {
        use fieldsync_client::{ClientError, TransportError};
        match e {
            ClientError::Transport(TransportError::Unreachable(_)) => {
                AppError::new("unreachable", "The server is unreachable. This needs the server; your saved work stays on this device.")
            }
            ClientError::Transport(TransportError::Refused { code, message, .. }) => AppError::new(&code, message),
            ClientError::NotSignedIn => AppError::new("unauthenticated", "Sign in first."),
            ClientError::Invalid(message) => AppError::new("invalid", message),
            other => AppError::new("internal", other.to_string()),
        }
    }
}

/// What this user may do; buttons a role may not use are not offered.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Permissions {
    pub create_job: bool,
    pub reassign: bool,
    pub reopen: bool,
    pub change_status: bool,
    pub edit_customers: bool,
    pub finance: bool,
    pub see_devices: bool,
    /// Whether the weekly sync review is offered.
    pub sync_review: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SessionInfo {
    pub user: String,
    pub display_name: String,
    pub role: String,
    pub team: Option<String>,
    pub can: Permissions,
}

/// The sync banner: plain words, the next sync time, and how much waits.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SyncBanner {
    /// `ok`, `pending`, `failed` or `attention`.
    pub level: String,
    pub text: String,
    pub next_sync: Option<String>,
    pub changes_pending: u32,
    pub files_pending: u32,
    pub server_reachable: bool,
    pub summary: Vec<String>,
}

/// A record's owner as a dispatcher needs to see it.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct OwnerView {
    /// `user` or `team`.
    pub kind: String,
    pub name: String,
    pub display_name: String,
    pub team: Option<String>,
    pub device: Option<String>,
    pub last_seen: Option<String>,
    /// Changes waiting on the owner's device at its last pull.
    pub unsynced: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct JobCard {
    pub id: String,
    pub number: Option<String>,
    pub customer: String,
    pub site: String,
    pub state: String,
    pub summary: String,
    pub window_start: Option<String>,
    pub owner: OwnerView,
    pub sync_label: String,
    /// `synced`, `pending`, `failed`, `held` or `rejected`.
    pub sync_level: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct BoardFilter {
    pub text: Option<String>,
    pub state: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct GroupView {
    pub group: String,
    pub policy: String,
    /// `last write wins`, `needs review`, `shared`, `owner only` or `locked`.
    pub badge: String,
    #[ts(type = "Record<string, unknown>")]
    pub values: Value,
    pub version: i64,
    /// This person may change it now (a writer the policy names, or the owner; not locked).
    pub editable: bool,
    /// The fields a form shows for it.
    pub fields: Vec<FieldView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FieldView {
    pub name: String,
    pub label: String,
    /// `text`, `number` or `time`.
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CustomerDetail {
    pub id: String,
    pub number: Option<String>,
    pub name: String,
    pub groups: Vec<GroupView>,
    pub sync_label: String,
    pub sync_level: String,
}

/// An edit of one field group, from a form.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SaveGroupArgs {
    pub record_type: String,
    pub record_id: String,
    pub group: String,
    /// Field name -> the text typed (numbers and times are parsed by the command layer).
    #[ts(type = "Record<string, string>")]
    pub values: Value,
    /// Made when the form opened: the same form saved twice is one change.
    pub action_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TimelineEntry {
    pub seq: i64,
    pub at: String,
    pub who: String,
    pub device: Option<String>,
    /// `created`, `applied`, `held`, `rejected`, `resolved`, `reassigned`, `reopened`, `voided`.
    pub kind: String,
    pub group: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct JobDetail {
    pub card: JobCard,
    pub groups: Vec<GroupView>,
    pub timeline: Vec<TimelineEntry>,
    /// Whether the timeline came from the server (false: this device's own history only).
    pub timeline_from_server: bool,
    pub notes: Vec<String>,
    pub can_reopen: bool,
    pub can_reassign: bool,
    pub can_change_status: bool,
    pub next_states: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SideView {
    #[ts(type = "Record<string, unknown>")]
    pub values: Value,
    pub who: Option<String>,
    pub when: Option<String>,
    pub device: Option<String>,
    pub version: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReviewCard {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub record_id: String,
    pub record_number: Option<String>,
    pub group: Option<String>,
    pub base: Option<SideView>,
    pub current: Option<SideView>,
    pub incoming: SideView,
    /// Fields whose current and incoming values differ.
    pub differing: Vec<String>,
    pub matched_number: Option<String>,
    pub created_at: String,
    pub can_resolve: bool,
    pub resolvers: Vec<String>,
    pub allows_merge: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ResolveArgs {
    pub review_id: String,
    /// `current`, `incoming` or `merged`.
    pub choice: String,
    #[ts(type = "Record<string, unknown> | null")]
    pub values: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReassignCheck {
    pub current_owner: OwnerView,
    pub warning: Option<String>,
    pub candidates: Vec<OwnerView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReassignArgs {
    pub job_id: String,
    pub to_user: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewJobForm {
    /// Made when the form opened: saving twice is one job.
    pub action_id: Option<String>,
    pub customer_id: String,
    pub site: String,
    pub window_start: Option<String>,
    pub summary: String,
    pub assignee: String,
    /// The person saw the possible duplicates and creates anyway.
    pub confirm_duplicate: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MatchView {
    pub source: String,
    pub id: String,
    pub number: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CreateJobResult {
    pub created: bool,
    pub job_id: Option<String>,
    pub matches: Vec<MatchView>,
    pub state_label: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct StatusArgs {
    pub job_id: String,
    pub state: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SaveResult {
    pub change_id: String,
    pub state_label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CustomerView {
    pub id: String,
    pub number: Option<String>,
    pub name: String,
    pub site_address: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SignInArgs {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReopenArgs {
    pub job_id: String,
    pub reason: String,
}

/// One field group's rule in plain words, for the sync rules page.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RuleView {
    pub record_type: String,
    pub group: String,
    pub policy: String,
    pub explanation: String,
}

/// An invoice as finance sees it.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct InvoiceCard {
    pub id: String,
    pub number: Option<String>,
    pub job_number: Option<String>,
    pub state: String,
    pub currency: String,
    pub subtotal: Option<f64>,
    pub tax: Option<f64>,
    pub total: Option<f64>,
    /// Totals have an open conflict waiting for finance.
    pub under_review: bool,
    pub review_id: Option<String>,
    pub sync_label: String,
}
