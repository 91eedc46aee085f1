//! Fieldsync's domain: records, owners, field groups, the policy file and the judge of changes.
//!
//! Everything here is pure: no I/O, no clock, no randomness. The server and the client call
//! [`judge::judge`] and carry out what it decides; they never decide again.

pub mod accounts;
pub mod error;
pub mod fields;
pub mod ids;
pub mod invoice;
pub mod judge;
pub mod lifecycle;
pub mod model;
pub mod office;
pub mod policy;
pub mod report;
pub mod state;
pub mod wire;

pub use error::ErrorCode;
pub use ids::{ChangeId, DeviceId, RecordId, ReviewId};
pub use judge::{
    judge, resolve, Apply, HeldItem, Hold, JobMatch, JudgeInput, Rejection, Resolution, Verdict,
};
pub use model::{Author, Group, Owner, RecordState, RecordType, Role};
pub use policy::{GroupRule, Policy, PolicyError, PolicyKind};
pub use state::State;
pub use wire::{Change, Op, Outcome, OutcomeStatus, ReviewKind};
