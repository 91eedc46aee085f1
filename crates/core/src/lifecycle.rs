//! Lifecycles: the states a record of each type passes through, which moves a status change may
//! make and who may make them.

use crate::error::{ErrorCode, Rejection};
use crate::model::{RecordType, Role};
pub use crate::state::{State, INVOICE_STATES, ITEM_STATES, JOB_STATES};

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
                let why = match (to, role) {
                    (State::Closed, _) => "the job is signed off: the office closes it".to_string(),
                    (_, Role::Technician) => format!(
                        "the job is signed off, so its status is locked; if it needs more work the office reopens it, then it can be {}",
                        to.words()
                    ),
                    _ => format!(
                        "the job is signed off, so its status is locked; reopen it (a new visit) to move it to {}",
                        to.words()
                    ),
                };
                return Err(Rejection::new(ErrorCode::RecordLocked, why));
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
