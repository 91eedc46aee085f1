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
    /// What the person saw when they opened the form or card has changed since: the action is
    /// refused, and the screen shows the new picture before they choose again.
    ChangedSinceSeen,
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
            ErrorCode::ChangedSinceSeen => "changed_since_seen",
            ErrorCode::HashMismatch => "hash_mismatch",
            ErrorCode::OffsetMismatch => "offset_mismatch",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The code as its stable name, or `None` for a name this build does not know.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        Some(match s {
            "not_owner" => ErrorCode::NotOwner,
            "forbidden" => ErrorCode::Forbidden,
            "record_locked" => ErrorCode::RecordLocked,
            "stale_owner_epoch" => ErrorCode::StaleOwnerEpoch,
            "invalid_change" => ErrorCode::InvalidChange,
            "invalid_transition" => ErrorCode::InvalidTransition,
            "already_exists" => ErrorCode::AlreadyExists,
            "unknown_record" => ErrorCode::UnknownRecord,
            "file_pending" => ErrorCode::FilePending,
            "payload_too_large" => ErrorCode::PayloadTooLarge,
            "rate_limited" => ErrorCode::RateLimited,
            "unauthenticated" => ErrorCode::Unauthenticated,
            "invalid_credentials" => ErrorCode::InvalidCredentials,
            "bad_request" => ErrorCode::BadRequest,
            "not_found" => ErrorCode::NotFound,
            "already_resolved" => ErrorCode::AlreadyResolved,
            "changed_since_seen" => ErrorCode::ChangedSinceSeen,
            "hash_mismatch" => ErrorCode::HashMismatch,
            "offset_mismatch" => ErrorCode::OffsetMismatch,
            "unavailable" => ErrorCode::Unavailable,
            "internal" => ErrorCode::Internal,
            _ => return None,
        })
    }

    /// A refusal that may go away by itself (the photo's file is still on its way, the server is
    /// busy or failing): the change stays in the outbox and is sent again. The one list every
    /// retry decision reads.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ErrorCode::FilePending
                | ErrorCode::RateLimited
                | ErrorCode::Unavailable
                | ErrorCode::Internal
        )
    }

    /// A refusal that will not change by sending the same thing again; the client stops
    /// retrying and shows "Rejected" with the reason.
    pub fn is_permanent(&self) -> bool {
        !self.is_transient()
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

/// Why a change is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// Every code, for the round trips below (a code added to the enum belongs here too).
    const ALL: [ErrorCode; 21] = [
        ErrorCode::NotOwner,
        ErrorCode::Forbidden,
        ErrorCode::RecordLocked,
        ErrorCode::StaleOwnerEpoch,
        ErrorCode::InvalidChange,
        ErrorCode::InvalidTransition,
        ErrorCode::AlreadyExists,
        ErrorCode::UnknownRecord,
        ErrorCode::FilePending,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidCredentials,
        ErrorCode::BadRequest,
        ErrorCode::NotFound,
        ErrorCode::AlreadyResolved,
        ErrorCode::ChangedSinceSeen,
        ErrorCode::HashMismatch,
        ErrorCode::OffsetMismatch,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    #[test]
    fn every_code_parses_back_from_its_wire_name() {
        for code in ALL {
            let wire = serde_json::to_value(code).ok();
            assert_eq!(wire.as_ref().and_then(|w| w.as_str()), Some(code.as_str()));
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("ownership_moved"), None);
    }

    #[test]
    fn transient_is_exactly_what_is_not_permanent() {
        let transient: Vec<&str> = ALL
            .iter()
            .filter(|c| c.is_transient())
            .map(|c| c.as_str())
            .collect();
        assert_eq!(
            transient,
            ["file_pending", "rate_limited", "unavailable", "internal"]
        );
        assert!(ALL.iter().all(|c| c.is_transient() != c.is_permanent()));
    }
}
