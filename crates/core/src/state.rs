//! A record's lifecycle state: the one place a state's name is written. The server, the client,
//! the app and the UI (through ts-rs) take [`State`] from here; what moves a state may make is
//! [`crate::lifecycle`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// A record's lifecycle state, as it travels on the wire (`"signed_off"`).
///
/// One enum for every record type, rather than one per type, because the names never clash
/// across types (an invoice's `void` is not a job's `voided`) and the store keeps one column; which
/// states a type may be in is [`RecordType::states`].
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
    ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum State {
    // A job's.
    Assigned,
    Opened,
    InProgress,
    Paused,
    SignedOff,
    Closed,
    Reopened,
    Voided,
    Archived,
    // An invoice's.
    Draft,
    Sent,
    Paid,
    Void,
    // Every other record's until it is voided or archived.
    Active,
}

/// A job's states in the order of its lifecycle.
pub const JOB_STATES: [State; 9] = [
    State::Assigned,
    State::Opened,
    State::InProgress,
    State::Paused,
    State::SignedOff,
    State::Closed,
    State::Reopened,
    State::Voided,
    State::Archived,
];

/// An invoice's states in the order of its lifecycle.
pub const INVOICE_STATES: [State; 4] = [State::Draft, State::Sent, State::Paid, State::Void];

/// The states of a customer, note, part line, photo, inspection or activity.
pub const ITEM_STATES: [State; 3] = [State::Active, State::Voided, State::Archived];

impl State {
    pub const ALL: [State; 14] = [
        State::Assigned,
        State::Opened,
        State::InProgress,
        State::Paused,
        State::SignedOff,
        State::Closed,
        State::Reopened,
        State::Voided,
        State::Archived,
        State::Draft,
        State::Sent,
        State::Paid,
        State::Void,
        State::Active,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Assigned => "assigned",
            State::Opened => "opened",
            State::InProgress => "in_progress",
            State::Paused => "paused",
            State::SignedOff => "signed_off",
            State::Closed => "closed",
            State::Reopened => "reopened",
            State::Voided => "voided",
            State::Archived => "archived",
            State::Draft => "draft",
            State::Sent => "sent",
            State::Paid => "paid",
            State::Void => "void",
            State::Active => "active",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// The state in words for people ("signed off").
    pub fn words(self) -> &'static str {
        match self {
            State::InProgress => "in progress",
            State::SignedOff => "signed off",
            other => other.as_str(),
        }
    }

    /// Voided (a job or item) or void (an invoice): the record stays, out of use.
    pub fn is_voided(self) -> bool {
        matches!(self, State::Voided | State::Void)
    }

    /// A job that is still work to do: not closed, voided or archived. Only such a job can be
    /// the match of a possible duplicate, or be reassigned.
    pub fn is_open(self) -> bool {
        !matches!(self, State::Closed | State::Voided | State::Archived)
    }

    /// Work has begun on the job (a technician started it, or went further): voiding it now
    /// throws work away, so the void dialog says so.
    pub fn is_work_started(self) -> bool {
        matches!(
            self,
            State::InProgress | State::Paused | State::SignedOff | State::Closed | State::Reopened
        )
    }

    /// A job reopen applies to: signed off or closed.
    pub fn is_reopenable(self) -> bool {
        matches!(self, State::SignedOff | State::Closed)
    }

    /// Where a job stands in its lifecycle, for "forward only": `None` outside the moves an
    /// update may make (voided, archived).
    pub(crate) fn job_rank(self) -> Option<u8> {
        match self {
            State::Assigned | State::Reopened => Some(0),
            State::Opened => Some(1),
            State::InProgress | State::Paused => Some(2),
            State::SignedOff => Some(3),
            State::Closed => Some(4),
            _ => None,
        }
    }
}

impl std::str::FromStr for State {
    type Err = String;

    fn from_str(s: &str) -> Result<State, String> {
        State::parse(s).ok_or_else(|| format!("`{s}` is not a lifecycle state"))
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
