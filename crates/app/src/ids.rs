//! The ids the UI sends.

use fieldsync_core::RecordId;

use crate::AppError;

/// A record id the UI sent.
pub(crate) fn parse_id(id: &str) -> Result<RecordId, AppError> {
    id.parse()
        .map_err(|_| AppError::new("invalid", format!("`{id}` is not a record id")))
}
