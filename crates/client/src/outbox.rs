//! Where a change in the outbox stands: the `state` of an outbox row, as a type. The cache's
//! column stays TEXT; every read and write of it goes through [`OutboxState`].

use fieldsync_core::OutcomeStatus;

/// The state of one outbox row. A row starts pending and is settled once, by the server's
/// answer; it is never deleted, so the outbox is also the device's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Saved on this device and not yet settled: the lanes send it (again).
    Pending,
    /// The server applied it.
    Synced,
    /// The server held it for review.
    Held,
    /// The server refused it for good.
    Rejected,
}

impl OutboxState {
    /// Every state, in the order a row may pass through them.
    pub const ALL: [OutboxState; 4] = [
        OutboxState::Pending,
        OutboxState::Synced,
        OutboxState::Held,
        OutboxState::Rejected,
    ];

    /// The word stored in the cache's `state` column.
    pub fn as_str(&self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Synced => "synced",
            OutboxState::Held => "held",
            OutboxState::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        OutboxState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
    }

    /// The state a final answer settles a row in. (A transient refusal settles nothing; the
    /// cache leaves such a row pending before it asks.)
    pub fn settled_by(status: OutcomeStatus) -> OutboxState {
        match status {
            OutcomeStatus::Applied => OutboxState::Synced,
            OutcomeStatus::Held => OutboxState::Held,
            OutcomeStatus::Rejected => OutboxState::Rejected,
        }
    }
}

impl std::fmt::Display for OutboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the stored word, so callers that still hold the column's text (and the
/// `row.state == "synced"` of code written before this type) keep working.
impl PartialEq<&str> for OutboxState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
