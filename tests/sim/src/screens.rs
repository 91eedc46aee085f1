//! What an office desk's open screens showed, kept between steps, and what the person did on
//! them: the records both the office actors (`office.rs`) and the fleet's state and checker
//! (`fleet.rs`, `check.rs`) read. In a file of their own so the office and the fleet do not
//! import each other.

use fieldsync_core::{ChangeId, Group, RecordId, RecordType};
use serde_json::Value;

/// A screen a person has open on an office desk, with what it showed when it opened.
#[derive(Debug, Clone)]
pub enum Screen {
    /// An edit form of one field group: the group's version and values as the form opened.
    Form {
        record_type: RecordType,
        record_id: RecordId,
        group: Group,
        version: i64,
        confirmed: i64,
        /// The field this person will change, and what they will type.
        field: String,
        typed: String,
        action_id: String,
    },
    /// A job page's status buttons, with the status version the page showed.
    Status {
        job_id: RecordId,
        version: i64,
        confirmed: i64,
        to: Value,
    },
    /// A review card, with the current version it showed (none for a card without a group).
    Card {
        review_id: String,
        record_id: RecordId,
        group: Option<Group>,
        shown: Option<i64>,
        choice: &'static str,
        values: Option<Value>,
        /// For a possible duplicate: the new job's state as the card showed it.
        seen_state: Value,
    },
    /// The reassign dialog, with the ownership epoch its warning was about.
    Reassign {
        job_id: RecordId,
        epoch: i64,
        to: String,
    },
}

/// An edit saved through the app, with the version its form (or page) opened on.
#[derive(Debug, Clone)]
pub struct AppSave {
    pub device: usize,
    pub change_id: ChangeId,
    pub record_type: RecordType,
    pub record_id: RecordId,
    pub group: Group,
    /// The version the person saw: what the form showed when it opened (the server's version
    /// the device had confirmed, plus this device's own changes of the group still queued).
    pub seen: i64,
    /// The server's version the device had confirmed when the form opened: the form showed
    /// its values, so a change applied on any version from here to `seen` was made on values
    /// its person saw.
    pub confirmed: i64,
}

/// A resolution chosen through the app, with the current version its card showed, and what the
/// app answered.
#[derive(Debug, Clone)]
pub struct AppResolve {
    pub device: usize,
    pub review_id: String,
    pub record_id: RecordId,
    pub group: Option<Group>,
    pub shown: Option<i64>,
    /// `Ok` when the app said it was done; `Err(code)` when refused (or not answered).
    pub answer: Result<(), String>,
}
