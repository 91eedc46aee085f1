//! The ids the UI sends and the one place action ids are made: a form asks for an action id
//! when it opens (`new_action_id`, a UUIDv7 from the sync client's clock and seeded generator),
//! and every command that takes one accepts it only as a UUID.

use fieldsync_core::{ChangeId, RecordId, ReviewId};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{App, AppError};

/// A fresh action id, made when a form opens: saving the same form twice is one change.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ActionId {
    pub action_id: String,
}

/// A review item's id the UI sent (it goes into the call's path: only a UUID does).
pub(crate) fn parse_review_id(id: &str) -> Result<ReviewId, AppError> {
    id.parse()
        .map_err(|_| AppError::new("invalid", format!("`{id}` is not a review item's id")))
}

/// A record id the UI sent.
pub(crate) fn parse_id(id: &str) -> Result<RecordId, AppError> {
    id.parse()
        .map_err(|_| AppError::new("invalid", format!("`{id}` is not a record id")))
}

/// A form's action id, when it sent one; the change it saves carries it as its change id.
pub(crate) fn parse_action_id(action_id: Option<&str>) -> Result<Option<ChangeId>, AppError> {
    action_id
        .map(|a| {
            a.parse::<uuid::Uuid>().map(ChangeId).map_err(|_| {
                AppError::new(
                    "invalid",
                    format!("`{a}` is not an action id (a UUID made when the form opened)"),
                )
            })
        })
        .transpose()
}

impl App {
    /// A new action id: a UUIDv7 made by the sync client, the same generator as its change ids.
    pub fn new_action_id(&self) -> Result<ActionId, AppError> {
        Ok(ActionId {
            action_id: self.active()?.new_change_id().to_string(),
        })
    }
}
