//! The sync states in plain words, per change, per record and per lane.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where one saved change stands. `label` gives the exact words people see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ChangeState {
    /// In the outbox, not yet tried.
    SavedOnDevice,
    /// Being sent, or queued to be sent while the lane is healthy.
    WaitingToSync,
    /// The server applied it.
    Synced,
    /// The last try failed; the lane tries again at `retry_at`.
    SyncFailed { retry_at: DateTime<Utc> },
    /// The server held it for review (a conflict, an ownership move, a void meeting an update).
    Held {
        review_id: Option<String>,
        reason: String,
    },
    /// The server refused it; its data stays in the device's history.
    Rejected { code: String, reason: String },
}

impl ChangeState {
    /// The words on screen. `now` turns a retry time into "in N minutes".
    pub fn label(&self, now: DateTime<Utc>) -> String {
        match self {
            ChangeState::SavedOnDevice => "Saved on this device".to_string(),
            ChangeState::WaitingToSync => "Waiting to sync".to_string(),
            ChangeState::Synced => "Synced".to_string(),
            ChangeState::SyncFailed { retry_at } => {
                // Whole minutes, rounded up, as the words are fixed: a retry 2 s away is "in 1
                // minute". No clock time here: the instant travels as itself (the banner's
                // `next_attempt`, RFC 3339) and the screen shows it in the person's own time
                // zone and format; a UTC "%H:%M" baked into these words was an hour off in
                // Berlin and a second format beside the screen's.
                let seconds = (*retry_at - now).num_seconds().max(0);
                let minutes = ((seconds + 59) / 60).max(1);
                let unit = if minutes == 1 { "minute" } else { "minutes" };
                format!("Sync failed, retrying in {minutes} {unit}")
            }
            ChangeState::Held { .. } => {
                "Another update changed this record. Review before sending again.".to_string()
            }
            ChangeState::Rejected { reason, .. } => format!("Rejected: {reason}"),
        }
    }

    /// Whether the change still waits to be sent.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            ChangeState::SavedOnDevice
                | ChangeState::WaitingToSync
                | ChangeState::SyncFailed { .. }
        )
    }

    /// How much a state matters on a record's badge: a refusal above a hold above a failure.
    pub fn severity(&self) -> u8 {
        match self {
            ChangeState::Synced => 0,
            ChangeState::SavedOnDevice => 1,
            ChangeState::WaitingToSync => 2,
            ChangeState::SyncFailed { .. } => 3,
            ChangeState::Held { .. } => 4,
            ChangeState::Rejected { .. } => 5,
        }
    }
}

/// One lane's health and schedule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LaneStatus {
    /// Changes (or files) waiting in this lane.
    pub pending: u64,
    /// Consecutive failed attempts; 0 when the last one worked.
    pub failures: u32,
    /// When the lane tries next, if it has anything to send.
    pub next_attempt: Option<DateTime<Utc>>,
    /// Why the last attempt failed, in words.
    pub last_error: Option<String>,
}

/// The client's sync status, as a UI shows it in its banner.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SyncStatus {
    pub changes: LaneStatus,
    pub files: LaneStatus,
    /// Whether the server answered the last attempt (a sync call, an office call, or opening
    /// its event stream).
    pub server_reachable: bool,
    /// Whether the last sync round got through to the server: "Synced" needs it as well as an
    /// empty outbox, so a device that has not heard from the server never claims it.
    pub round_reached_server: bool,
    /// Someone is signed in on this device. Signed out (by the person, or because the server
    /// refused the token) nothing is sent, so nothing may read "Synced".
    pub signed_in: bool,
    /// Grows whenever this device's copy of the records changed (a pull brought something, a
    /// push was answered): a screen watching the status reads again when it moves.
    pub revision: u64,
    /// Changes held or rejected that need a person.
    pub needs_attention: u64,
    pub last_synced: Option<DateTime<Utc>>,
    /// The plain summary of the last sync round, one line per job.
    pub summary: Vec<String>,
    /// When that round ended: a screen shows the lines as news of then, not as the state now.
    pub summary_at: Option<DateTime<Utc>>,
}

impl SyncStatus {
    /// The banner line: what a person needs to know first. No clock time in it: the next try
    /// is the lanes' `next_attempt`, which the screen shows in the person's own time.
    pub fn banner(&self, now: DateTime<Utc>) -> String {
        // What a person saved: each photo's file waits with its change, counted once.
        let pending = self.changes.pending;
        let waiting = format!("Waiting to sync: {pending} saved on this device.");
        if !self.signed_in {
            return if pending > 0 {
                format!("Not signed in: nothing is sent until you sign in. {waiting}")
            } else {
                "Not signed in: nothing is sent until you sign in.".to_string()
            };
        }
        // Out of reach comes first: nothing is failing that a person could act on, the device
        // simply works from its own copy until the server is back.
        if !self.server_reachable {
            let mut text = UNREACHABLE.to_string();
            if pending > 0 {
                text = format!("{text} {waiting}");
            }
            return text;
        }
        let failing = [&self.changes, &self.files]
            .into_iter()
            .filter(|l| l.failures > 0 && l.pending > 0)
            .filter_map(|l| l.next_attempt)
            .min();
        if let Some(retry_at) = failing {
            let state = ChangeState::SyncFailed { retry_at };
            return format!("{}. {pending} waiting on this device.", state.label(now));
        }
        if pending > 0 {
            return waiting;
        }
        if !self.round_reached_server {
            return CONNECTING.to_string();
        }
        if self.needs_attention > 0 {
            return format!("Synced. {} need review.", self.needs_attention);
        }
        "Synced".to_string()
    }

    /// Whether the banner may say "Synced": nothing waits and the last round reached the server.
    pub fn is_synced(&self) -> bool {
        self.signed_in
            && self.server_reachable
            && self.round_reached_server
            && self.changes.pending == 0
            && self.files.pending == 0
    }
}

/// The banner while the server does not answer.
pub const UNREACHABLE: &str = "The server is unreachable. Working from this device's copy.";

/// The banner before this device's first round has reached the server since it started.
pub const CONNECTING: &str =
    "Not synced yet: reaching the server. Working from this device's copy.";
