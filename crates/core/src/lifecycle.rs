//! Lifecycles: the states a record passes through, which moves a status change may make and who
//! may make them. The one place a state's name is written: the server, the client, the app and
//! the UI (through ts-rs) take [`State`] from here.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::ErrorCode;
use crate::judge::Rejection;
use crate::model::{RecordType, Role};

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

    /// A job reopen applies to: signed off or closed.
    pub fn is_reopenable(self) -> bool {
        matches!(self, State::SignedOff | State::Closed)
    }

    /// Where a job stands in its lifecycle, for "forward only": `None` outside the moves an
    /// update may make (voided, archived).
    fn job_rank(self) -> Option<u8> {
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

impl RecordType {
    /// The states a record of this type may be in.
    pub fn states(&self) -> &'static [State] {
        match self {
            RecordType::Job => &JOB_STATES,
            RecordType::Invoice => &INVOICE_STATES,
            _ => &ITEM_STATES,
        }
    }

    /// The lifecycle state a new record of this type starts in.
    pub fn initial_state(&self) -> State {
        match self {
            RecordType::Job => State::Assigned,
            RecordType::Invoice => State::Draft,
            _ => State::Active,
        }
    }

    /// The state a void leaves a record of this type in, when the void asked for `requested`
    /// (`voided` by default; `archived` where it says so).
    pub fn void_state(&self, requested: Option<State>) -> State {
        match (self, requested) {
            (_, Some(State::Archived)) => State::Archived,
            (RecordType::Invoice, _) => State::Void,
            _ => State::Voided,
        }
    }
}

/// Whether `role` may move a record of type `t` from `from` to `to` by a change to its `status`
/// group. Reopen, void and archive have their own ways in (the reopen call and `op: void`) and
/// are never reachable by an update.
///
/// A signed-off job is locked: its technician has handed it over, so the only move left is an
/// office role closing it (everything else, including the technician's own close, is
/// `record_locked`; the way back is a reopen).
pub fn status_move(t: RecordType, from: State, to: State, role: Role) -> Result<(), Rejection> {
    let invalid = |why: String| Err(Rejection::new(ErrorCode::InvalidTransition, why));
    if !t.states().contains(&to) {
        let known: Vec<&str> = t.states().iter().map(|s| s.as_str()).collect();
        return Err(Rejection::new(
            ErrorCode::InvalidChange,
            format!(
                "`{to}` is not a state of a {t} (known: {})",
                known.join(", ")
            ),
        ));
    }
    match t {
        RecordType::Job => {
            if from == State::SignedOff && to != from {
                if to == State::Closed && role != Role::Technician {
                    return Ok(());
                }
                return Err(Rejection::new(
                    ErrorCode::RecordLocked,
                    if to == State::Closed {
                        "the job is signed off: the office closes it".to_string()
                    } else {
                        format!(
                            "the job is signed off, so its status is locked; a supervisor or dispatcher reopens it to move it to {}",
                            to.words()
                        )
                    },
                ));
            }
            if from == to {
                return Ok(());
            }
            match to {
                State::Reopened => return invalid("a job is reopened by the reopen action".into()),
                State::Assigned => {
                    return invalid("a job is assigned only when it is created".into())
                }
                State::Voided | State::Archived => {
                    return invalid(format!("a job is {to} by a void (op: void)"))
                }
                State::Closed => {
                    return invalid("a job is signed off before it is closed".into());
                }
                _ => {}
            }
            match (from.job_rank(), to.job_rank()) {
                // Forward moves may skip a step (a technician starts work without "opening"
                // first); nothing moves back but pause and resume.
                (Some(a), Some(b)) if a < b || (a == 2 && b == 2) => Ok(()),
                _ => invalid(format!(
                    "a job cannot go from {} to {}",
                    from.words(),
                    to.words()
                )),
            }
        }
        RecordType::Invoice => match (from, to) {
            (a, b) if a == b => Ok(()),
            (State::Draft, State::Sent) | (State::Sent, State::Paid) => Ok(()),
            (_, State::Void) => invalid("an invoice is voided by a void (op: void)".into()),
            _ => invalid(format!("an invoice cannot go from {from} to {to}")),
        },
        _ if from == to => Ok(()),
        _ => invalid(format!("a {t} changes state only by a void")),
    }
}

/// The states a job's status actions offer a person of `role` from `from`, in lifecycle order:
/// what a screen may show as buttons, so it never offers a move the judge refuses.
pub fn next_states(t: RecordType, from: State, role: Role) -> Vec<State> {
    t.states()
        .iter()
        .copied()
        .filter(|to| *to != from && status_move(t, from, *to, role).is_ok())
        .collect()
}
