//! The office's actions on a job, decided beside [`crate::judge`]: reassign and reopen as pure
//! plans (what to write, what moves with the job, what stays), and what a resolution of a held
//! create does. The store loads what a plan needs inside its transaction, calls the plan, and
//! carries it out; it never decides again.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::{ErrorCode, Rejection};
use crate::ids::RecordId;
use crate::model::{may_reassign, may_reopen, Author, Group, Owner, RecordState, RecordType};
use crate::state::State;
use crate::wire::ResolveChoice;

/// A new version of one field group, as a plan writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupWrite {
    pub group: Group,
    pub values: Value,
    pub version: i64,
}

/// A record that hangs off the job, as the store found it.
#[derive(Debug, Clone, PartialEq)]
pub struct Child {
    pub record_id: RecordId,
    pub record_type: RecordType,
    pub owner: Owner,
}

/// What a reassignment does.
#[derive(Debug, Clone, PartialEq)]
pub struct ReassignPlan {
    pub from: Owner,
    pub to: Owner,
    /// The job's new ownership epoch: an edit made under an earlier one by the old owner is held.
    pub owner_epoch: i64,
    /// The schedule's new version, naming the new assignee (none for a team).
    pub schedule: GroupWrite,
    /// The part lines and inspections that move with the job: they belong to the job's owner,
    /// so they follow it, and each is logged at the version it stands at so devices learn their
    /// new owner. Notes and photos stay their authors'.
    pub moves_with_job: Vec<RecordId>,
}

fn label(record: &RecordState) -> String {
    record
        .number
        .clone()
        .unwrap_or_else(|| format!("{} {}", record.record_type, record.record_id))
}

fn only_jobs(record: &RecordState, verb: &str) -> Result<(), Rejection> {
    if record.record_type != RecordType::Job {
        return Err(Rejection::new(
            ErrorCode::BadRequest,
            format!("only jobs are {verb}; this is a {}", record.record_type),
        ));
    }
    Ok(())
}

/// Plans moving `job` to `to`. `to_exists` says whether a user owner names a user the store
/// knows (a team is whatever the office names).
pub fn plan_reassign(
    job: &RecordState,
    children: &[Child],
    to: &Owner,
    to_exists: bool,
    by: &Author,
    seen_epoch: Option<i64>,
) -> Result<ReassignPlan, Rejection> {
    if !may_reassign(by.role) {
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            format!("a {} cannot reassign jobs; a dispatcher does", by.role),
        ));
    }
    only_jobs(job, "reassigned")?;
    if !job.state.is_open() {
        return Err(Rejection::new(
            ErrorCode::RecordLocked,
            format!(
                "{} is {}; reopen it before reassigning",
                label(job),
                job.state.words()
            ),
        ));
    }
    if let Some(seen) = seen_epoch.filter(|e| *e != job.owner_epoch) {
        return Err(Rejection::new(
            ErrorCode::ChangedSinceSeen,
            format!(
                "This changed since you opened it: {} has changed hands (ownership epoch {}, you saw {seen}); it belongs to {} now. Look at it again before reassigning.",
                label(job),
                job.owner_epoch,
                job.owner
            ),
        ));
    }
    if &job.owner == to {
        return Err(Rejection::new(
            ErrorCode::BadRequest,
            format!("{} already belongs to {to}", label(job)),
        ));
    }
    if let (Owner::User(name), false) = (to, to_exists) {
        return Err(Rejection::new(
            ErrorCode::BadRequest,
            format!("there is no user named {name}"),
        ));
    }
    let (version, values) = job
        .group(Group::Schedule)
        .map(|g| (g.version, g.values.clone()))
        .unwrap_or((0, Value::Null));
    let mut values = values.as_object().cloned().unwrap_or_default();
    let assignee = match to {
        Owner::User(name) => Value::String(name.clone()),
        Owner::Team(_) => Value::Null,
    };
    values.insert("assignee".into(), assignee);
    let moves_with_job = children
        .iter()
        .filter(|c| matches!(c.record_type, RecordType::PartLine | RecordType::Inspection))
        .filter(|c| c.owner == job.owner)
        .map(|c| c.record_id)
        .collect();
    Ok(ReassignPlan {
        from: job.owner.clone(),
        to: to.clone(),
        owner_epoch: job.owner_epoch + 1,
        schedule: GroupWrite {
            group: Group::Schedule,
            values: Value::Object(values),
            version: version + 1,
        },
        moves_with_job,
    })
}

/// What a reopen does: a new version of the status group, in [`State::Reopened`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReopenPlan {
    pub status: GroupWrite,
    pub state: State,
}

/// Plans reopening a signed-off or closed job for a new visit. The earlier visit's signature,
/// work and times stay: copied into the status group's list of visits (with who reopened it,
/// when and why), and left in their groups until the new visit writes its own.
pub fn plan_reopen(
    job: &RecordState,
    by: &Author,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<ReopenPlan, Rejection> {
    if !may_reopen(by.role) {
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            format!(
                "a {} cannot reopen jobs; a supervisor or dispatcher does",
                by.role
            ),
        ));
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Rejection::new(
            ErrorCode::BadRequest,
            "say why the job is reopened",
        ));
    }
    only_jobs(job, "reopened")?;
    if !job.state.is_reopenable() {
        return Err(Rejection::new(
            ErrorCode::InvalidTransition,
            format!(
                "{} is {}; only a signed-off or closed job is reopened",
                label(job),
                job.state.words()
            ),
        ));
    }
    let (version, values) = job
        .group(Group::Status)
        .map(|g| (g.version, g.values.clone()))
        .unwrap_or((0, Value::Null));
    let mut values = values.as_object().cloned().unwrap_or_default();
    let mut visits = values
        .get("visits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    visits.push(serde_json::json!({
        "state": job.state,
        "signature": job.group(Group::Signature).map(|g| g.values.clone()),
        "work": job.group(Group::Work).map(|g| g.values.clone()),
        "reopened_at": now,
        "reopened_by": by.user,
        "reason": reason,
    }));
    values.insert("visit".into(), Value::from(visits.len() as i64 + 1));
    values.insert("visits".into(), Value::Array(visits));
    values.insert(
        "previous_state".into(),
        Value::String(job.state.as_str().into()),
    );
    values.insert(
        "state".into(),
        Value::String(State::Reopened.as_str().into()),
    );
    values.remove("reason");
    Ok(ReopenPlan {
        status: GroupWrite {
            group: Group::Status,
            values: Value::Object(values),
            version: version + 1,
        },
        state: State::Reopened,
    })
}

/// What resolving a held create does (a note, part line or photo made offline on a job that has
/// since moved: there is no record yet to resolve against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldCreate {
    /// Created as its author made it, judged like their create from an office role (the scope
    /// check that held it is what the resolver overruled; creators, locks and files still hold).
    Admit,
    /// Left out; its values stay in the log as held.
    LeaveOut,
}

pub fn resolve_held_create(choice: ResolveChoice) -> Result<HeldCreate, Rejection> {
    match choice {
        ResolveChoice::Incoming => Ok(HeldCreate::Admit),
        ResolveChoice::Current => Ok(HeldCreate::LeaveOut),
        ResolveChoice::Merged => Err(Rejection::new(
            ErrorCode::BadRequest,
            "a held new item is kept or left out; a merged value is for conflicts",
        )),
    }
}
