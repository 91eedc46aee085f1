//! The stable, machine-readable codes of every refusal, shared by server, client and app.

use serde::{Deserialize, Serialize};

/// A stable snake_case code: clients branch on it, people read the message beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotOwner,
    Forbidden,
    RecordLocked,
    StaleOwnerEpoch,
    InvalidChange,
    InvalidTransition,
    AlreadyExists,
    UnknownRecord,
    FilePending,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
    InvalidCredentials,
    BadRequest,
    NotFound,
    AlreadyResolved,
    HashMismatch,
    OffsetMismatch,
    Unavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::NotOwner => "not_owner",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RecordLocked => "record_locked",
            ErrorCode::StaleOwnerEpoch => "stale_owner_epoch",
            ErrorCode::InvalidChange => "invalid_change",
            ErrorCode::InvalidTransition => "invalid_transition",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::UnknownRecord => "unknown_record",
            ErrorCode::FilePending => "file_pending",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyResolved => "already_resolved",
            ErrorCode::HashMismatch => "hash_mismatch",
            ErrorCode::OffsetMismatch => "offset_mismatch",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// A refusal that will not change by sending the same thing again; the client stops
    /// retrying and shows "Rejected" with the reason.
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            ErrorCode::FilePending
                | ErrorCode::RateLimited
                | ErrorCode::Unavailable
                | ErrorCode::Internal
        )
    }

    /// Whether an outcome with this code is a judgement worth remembering under its change id.
    /// A transient refusal (the photo's file is still on its way) must not be replayed forever.
    pub fn is_final_judgement(&self) -> bool {
        self.is_permanent()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
