//! The view types and helpers several pages share (a page's own types live in its file), as
//! plain serialisable types. The UI's TypeScript types are generated from these (ts-rs), never
//! written twice. This file imports no other file of the crate, so every page may use it.

use fieldsync_core::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

/// A string field of a JSON object, when it is one.
pub(crate) fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The lifecycle state a record shows on this device: the one its status group says, which
/// includes a status change still in the outbox, else the one the server last confirmed.
pub(crate) fn shown_state(view: &fieldsync_client::client::RecordView) -> State {
    view.values
        .get(&fieldsync_core::Group::Status)
        .and_then(|status| status.get("state"))
        .and_then(Value::as_str)
        .and_then(State::parse)
        .unwrap_or(view.record.state)
}

/// A sync state as the level the UI colours it by.
pub(crate) fn level_of(state: &fieldsync_client::ChangeState) -> &'static str {
    use fieldsync_client::ChangeState::*;
    match state {
        Synced => "synced",
        SavedOnDevice | WaitingToSync => "pending",
        SyncFailed { .. } => "failed",
        Held { .. } => "held",
        Rejected { .. } => "rejected",
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
    /// People and devices (the admin).
    pub administer: bool,
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
    pub state: State,
    pub summary: String,
    pub window_start: Option<String>,
    pub owner: OwnerView,
    pub sync_label: String,
    /// `synced`, `pending`, `failed`, `held` or `rejected`.
    pub sync_level: String,
    pub read_only: bool,
    /// An open review item is about this job (a conflict on one of its groups, a possible
    /// duplicate it is part of): it reads "Needs review" with a way to its card.
    pub needs_review: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct GroupView {
    pub group: String,
    pub policy: String,
    /// `last write wins`, `manual review` (the rule, not an open review: that is "Needs review"),
    /// `shared`, `owner only` or `locked`.
    pub badge: String,
    #[ts(type = "Record<string, unknown>")]
    pub values: Value,
    /// The version an edit made now is made on; a form keeps it from when it opened.
    #[ts(type = "number")]
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
    /// The values the field may take, when it is one of a fixed set (a record's lifecycle
    /// state): the form offers them to pick from instead of a free text box.
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SaveResult {
    pub change_id: String,
    pub state_label: String,
}

/// Which job a command is about (the job page, and the board's reassignment check).
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct JobArgs {
    pub job_id: String,
}

/// Signing in; the session page sends it, and so do the shells that sign in for a person (the
/// CLI's `fieldsync app`).
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SignInArgs {
    pub username: String,
    pub password: String,
}

/// A field as people call it, in a sentence ("the labour hours"): the one source of field names
/// for the timeline's sentences, the edit forms' labels and the review cards.
pub fn field_words(field: &str) -> String {
    match field {
        "site_address" => "site address".into(),
        "window_start" => "window start".into(),
        "window_end" => "window end".into(),
        "labour_hours" => "labour hours".into(),
        "completed_at" => "completion time".into(),
        "signed_at" => "signing time".into(),
        "image_sha256" => "signature image".into(),
        "part_number" => "part number".into(),
        "customer_id" => "customer".into(),
        "summary" => "summary".into(),
        "state" => "status".into(),
        "billing_contact" => "billing contact".into(),
        "billing_email" => "billing email".into(),
        other => other.replace('_', " "),
    }
}

/// A field's label on a form or a card ("Labour hours"): [`field_words`] with a capital.
pub fn field_label(field: &str) -> String {
    let words = field_words(field);
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => words,
    }
}
