//! The judge: one pure function that decides what happens to an incoming change, following
//! DESIGN.md's steps, and the decision of what a review resolution writes.
//!
//! Step 1 (a change id seen before) needs the store's memory, so the server answers it before
//! calling [`judge`]; every other step is here. No verdict drops the change's values: an applied
//! change is in the log, a held one is in the review inbox, a rejected one is in the log and on
//! the device.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::error::ErrorCode;
pub use crate::error::Rejection;
use crate::fields::first_problem;
use crate::ids::RecordId;
use crate::lifecycle::status_move;
use crate::model::{
    check_values, merge_values, Author, Group, Owner, RecordState, RecordType, Role,
};
use crate::policy::{OwnerRule, Policy, PolicyKind};
use crate::state::State;
use crate::wire::{Change, Op, ResolveChoice, ReviewKind};

/// An open job the store found for the same customer, for the possible-duplicate check.
#[derive(Debug, Clone, PartialEq)]
pub struct JobMatch {
    pub record_id: RecordId,
    pub number: Option<String>,
    pub site: String,
    pub window_start: Option<String>,
    pub state: State,
}

/// Everything the judge needs to know; the store gathers it inside the transaction.
#[derive(Debug, Clone)]
pub struct JudgeInput<'a> {
    pub change: &'a Change,
    pub author: &'a Author,
    pub policy: &'a Policy,
    /// The record as it stands, if it exists.
    pub record: Option<&'a RecordState>,
    /// For a job's note, part line, photo or inspection: the job it points at, if it exists.
    pub parent_job: Option<&'a RecordState>,
    /// For a job create: open jobs of the same customer.
    pub open_jobs_of_customer: &'a [JobMatch],
    /// For a photo create: whether its file has arrived whole.
    pub file_complete: bool,
}

/// What an applied change writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Apply {
    Create {
        owner: Owner,
        state: State,
        /// Every group's first values (version 1).
        groups: BTreeMap<Group, Value>,
        /// The job it points at, for notes, part lines, photos and inspections.
        job_id: Option<RecordId>,
        possible_duplicate_of: Option<JobMatch>,
    },
    Update {
        group: Group,
        /// The group's whole values after the change.
        values: Value,
        version: i64,
        /// The record's new lifecycle state, when the change moves it.
        state: Option<State>,
    },
}

/// Why a change is held for a person to decide.
#[derive(Debug, Clone, PartialEq)]
pub struct Hold {
    pub kind: ReviewKind,
    pub group: Option<Group>,
    pub message: String,
    /// Whether the held change marks its group contested: a collision on a manual-review group
    /// opens a conflict that only a resolution closes, so nothing else may be applied to the
    /// group meanwhile. Other holds (an edit of an append-only item, an ownership-moved edit, a
    /// void that met an update) wait in the inbox without stopping the group.
    pub contests: bool,
}

/// The judge's decision on one change.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Apply(Apply),
    Hold(Hold),
    Reject(Rejection),
}

fn reject(code: ErrorCode, message: impl Into<String>) -> Verdict {
    Verdict::Reject(Rejection::new(code, message))
}

fn label(record: &RecordState) -> String {
    record
        .number
        .clone()
        .unwrap_or_else(|| format!("{} {}", record.record_type, record.record_id))
}

/// The group a change addresses: a void addresses the status group where the type has one.
pub fn change_group(change: &Change) -> Option<Group> {
    match change.op {
        Op::Void => change.group.or_else(|| {
            change
                .record_type
                .has_group(Group::Status)
                .then_some(Group::Status)
        }),
        _ => change.group,
    }
}

/// Checks the shape of a change before anything else: it is refused as `invalid_change` with a
/// sentence that says what to fix.
pub fn check_shape(change: &Change) -> Result<(), Rejection> {
    let invalid = |m: String| Err(Rejection::new(ErrorCode::InvalidChange, m));
    let t = change.record_type;
    if change.owner_epoch < 0 || change.base_version < 0 {
        return invalid("base_version and owner_epoch cannot be negative".into());
    }
    match change.op {
        Op::Create => {
            if change.group.is_some() {
                return invalid(
                    "a create carries every group's first values: leave `group` out".into(),
                );
            }
            if change.base_version != 0 {
                return invalid("a create has base_version 0".into());
            }
            let Some(map) = change.values.as_object() else {
                return invalid(
                    "a create's values are an object of groups: {\"schedule\": {...}}".into(),
                );
            };
            for (key, values) in map {
                let Some(group) = Group::parse(key).filter(|g| t.has_group(*g)) else {
                    let names: Vec<&str> = t.groups().iter().map(Group::as_str).collect();
                    return invalid(format!(
                        "a {t} has no field group `{key}` (groups: {})",
                        names.join(", ")
                    ));
                };
                check_values(t, group, values, true)
                    .map_err(|m| Rejection::new(ErrorCode::InvalidChange, m))?;
                // The field rules, on the first values as they are given.
                first_problem(t, group, &Value::Object(Map::new()), values)
                    .map_err(|m| Rejection::new(ErrorCode::InvalidChange, m))?;
            }
            for group in t.groups() {
                if !map.contains_key(group.as_str()) {
                    check_values(t, *group, &Value::Object(Map::new()), true)
                        .map_err(|m| Rejection::new(ErrorCode::InvalidChange, m))?;
                }
            }
            if let Some(state) = map
                .get("status")
                .and_then(|s| s.get("state"))
                .and_then(Value::as_str)
            {
                if State::parse(state) != Some(t.initial_state()) {
                    return invalid(format!(
                        "a new {t} starts as `{}`, not `{state}`",
                        t.initial_state()
                    ));
                }
            }
            Ok(())
        }
        Op::Update => {
            let Some(group) = change.group else {
                return invalid("an update names its field group".into());
            };
            if !t.has_group(group) {
                let names: Vec<&str> = t.groups().iter().map(Group::as_str).collect();
                return invalid(format!(
                    "a {t} has no field group `{group}` (groups: {})",
                    names.join(", ")
                ));
            }
            if change.base_version < 1 {
                return invalid(
                    "an update names the version it was made on (base_version 1 or more)".into(),
                );
            }
            check_values(t, group, &change.values, false)
                .map_err(|m| Rejection::new(ErrorCode::InvalidChange, m))?;
            // What the change alone breaks (an email that is not one, a window given whole and
            // backwards) is refused here, before any hold: a person reviewing it could not
            // accept it either. What it breaks with the stored values is judged on those.
            first_problem(t, group, &Value::Object(Map::new()), &change.values)
                .map_err(|m| Rejection::new(ErrorCode::InvalidChange, m))?;
            if change.values.as_object().is_some_and(Map::is_empty) {
                return invalid("an update changes at least one field".into());
            }
            if group == Group::Status {
                let valid = t.states();
                match change.values.get("state").and_then(Value::as_str) {
                    Some(state) if State::parse(state).is_some_and(|s| valid.contains(&s)) => {}
                    Some(state) => {
                        let known: Vec<&str> = valid.iter().map(|s| s.as_str()).collect();
                        return invalid(format!(
                            "`{state}` is not a state of a {t} (known: {})",
                            known.join(", ")
                        ));
                    }
                    None => return invalid("a status change names the new `state`".into()),
                }
                if change.values.get("reason").is_some() {
                    return invalid("a reason goes with a void (op: void)".into());
                }
            }
            Ok(())
        }
        Op::Void => {
            if change.group.is_some_and(|g| {
                Some(g)
                    != change_group(&Change {
                        group: None,
                        ..change.clone()
                    })
            }) {
                return invalid("a void goes on the status group".into());
            }
            let Some(map) = change.values.as_object() else {
                return invalid("a void's values are {\"reason\": \"...\"}".into());
            };
            for key in map.keys() {
                if key != "reason" && key != "state" {
                    return invalid(format!(
                        "unknown field `{key}` in a void (known: reason, state)"
                    ));
                }
            }
            match map.get("reason").and_then(Value::as_str) {
                Some(reason) if !reason.trim().is_empty() => {}
                _ => return invalid("a void says why: {\"reason\": \"...\"}".into()),
            }
            match map.get("state").and_then(Value::as_str) {
                None => Ok(()),
                Some(s) if matches!(State::parse(s), Some(State::Voided | State::Archived)) => {
                    Ok(())
                }
                Some(other) => invalid(format!(
                    "a void ends in `voided` or `archived`, not `{other}`"
                )),
            }
        }
    }
}

/// The state a void leaves a record in.
fn void_state(change: &Change) -> State {
    let requested = change
        .values
        .get("state")
        .and_then(Value::as_str)
        .and_then(State::parse);
    change.record_type.void_state(requested)
}

fn job_id_of(change: &Change) -> Option<RecordId> {
    let group = change.record_type.groups().first()?;
    change
        .values
        .get(group.as_str())
        .and_then(|g| g.get("job_id"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
}

/// Same site, ignoring case and spacing.
fn same_site(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    norm(a) == norm(b)
}

/// Same calendar day (UTC) of two RFC 3339 times; two jobs with no window both count as today's.
fn same_day(a: Option<&str>, b: Option<&str>) -> bool {
    let day = |s: Option<&str>| {
        s.and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&chrono::Utc).date_naive())
    };
    day(a) == day(b)
}

/// Decides what happens to a change. Deterministic: the same input gives the same verdict.
pub fn judge(input: &JudgeInput<'_>) -> Verdict {
    let change = input.change;
    if let Err(rejection) = check_shape(change) {
        return Verdict::Reject(rejection);
    }
    match (change.op, input.record) {
        (Op::Create, Some(record)) => reject(
            ErrorCode::AlreadyExists,
            format!(
                "{} already exists: send an update instead of a second create",
                label(record)
            ),
        ),
        (Op::Create, None) => judge_create(input),
        (_, None) => reject(
            ErrorCode::UnknownRecord,
            format!(
                "no {} with id {} on the server",
                change.record_type, change.record_id
            ),
        ),
        (_, Some(record)) => judge_write(input, record),
    }
}

/// The create of a held ownership-moved item, once a resolver chose to keep it: judged as a
/// create by its author, without the job-scope check its resolution has overruled.
pub fn admit_held_create(input: &JudgeInput<'_>) -> Verdict {
    if let Err(rejection) = check_shape(input.change) {
        return Verdict::Reject(rejection);
    }
    match input.record {
        Some(record) => reject(
            ErrorCode::AlreadyExists,
            format!("{} already exists", label(record)),
        ),
        None => create_verdict(input, true),
    }
}

fn judge_create(input: &JudgeInput<'_>) -> Verdict {
    create_verdict(input, false)
}

fn create_verdict(input: &JudgeInput<'_>, skip_scope: bool) -> Verdict {
    let change = input.change;
    let author = input.author;
    let t = change.record_type;
    let type_rule = input.policy.type_rule(t);
    if !type_rule.creators.contains(&author.role) {
        return reject(
            ErrorCode::Forbidden,
            format!("a {} cannot create a {t}", author.role),
        );
    }
    let mut groups: BTreeMap<Group, Value> = BTreeMap::new();
    for group in t.groups() {
        let values = change
            .values
            .get(group.as_str())
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        groups.insert(*group, values);
    }
    if let Some(status) = groups.get_mut(&Group::Status) {
        if let Some(map) = status.as_object_mut() {
            map.insert(
                "state".into(),
                Value::String(t.initial_state().as_str().into()),
            );
        }
    }

    // A job's children need the job, in the author's scope, and not locked.
    let mut job_id = None;
    if t.is_job_child() || (t == RecordType::Invoice && job_id_of(change).is_some()) {
        let Some(parent) = input.parent_job else {
            return reject(
                ErrorCode::UnknownRecord,
                format!("the job this {t} belongs to is not on the server"),
            );
        };
        job_id = Some(parent.record_id);
        if !skip_scope && !author.role.sees_everything() && !parent.owner.includes(author) {
            // A note, part or photo made offline on a job that has since moved to someone else
            // is the old owner's edit: held for review, not refused and not lost.
            let was_owner = change.owner_epoch > 0
                && change.owner_epoch < parent.owner_epoch
                && parent
                    .owner_at(change.owner_epoch)
                    .is_some_and(|o| o.includes(author));
            if was_owner {
                return Verdict::Hold(Hold {
                    kind: ReviewKind::OwnershipMoved,
                    group: t.groups().first().copied(),
                    message: format!(
                        "{} moved to {} while this device was offline: the new {} is held for review, not applied and not lost",
                        label(parent),
                        parent.owner,
                        t.as_str().replace('_', " ")
                    ),
                    contests: false,
                });
            }
            return reject(
                ErrorCode::NotOwner,
                format!(
                    "{} is not yours: it belongs to {}",
                    label(parent),
                    parent.owner
                ),
            );
        }
        let group = t.groups()[0];
        if let Some(rule) = input.policy.rule(t, group) {
            if t.is_job_child() && rule.locked_in.contains(&parent.state) {
                return reject(
                    ErrorCode::RecordLocked,
                    format!("{} is {}: nothing can be added to it until it is reopened; your {} is kept on your device", label(parent), parent.state.words(), t.as_str().replace('_', " ")),
                );
            }
        }
    }

    let owner = match &type_rule.owner {
        OwnerRule::Fixed(owner) => owner.clone(),
        OwnerRule::Author => Owner::User(author.user.clone()),
        OwnerRule::JobOwner => match input.parent_job {
            Some(parent) => parent.owner.clone(),
            None => Owner::User(author.user.clone()),
        },
        OwnerRule::Assignee => {
            let schedule = groups.get_mut(&Group::Schedule);
            let assignee = schedule
                .as_ref()
                .and_then(|s| s.get("assignee"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            match (author.role, assignee) {
                (Role::Technician, Some(a)) if a != author.user => {
                    return reject(
                        ErrorCode::Forbidden,
                        "a technician creates jobs for themselves; a dispatcher assigns others",
                    );
                }
                (Role::Technician, None) => {
                    if let Some(map) = schedule.and_then(Value::as_object_mut) {
                        map.insert("assignee".into(), Value::String(author.user.clone()));
                    }
                    Owner::User(author.user.clone())
                }
                (_, Some(a)) => Owner::User(a),
                (_, None) => Owner::Team("dispatch".into()),
            }
        }
    };

    if t == RecordType::Photo && !input.file_complete {
        return reject(
            ErrorCode::FilePending,
            "the photo's file has not arrived whole yet; it is sent first, then the photo",
        );
    }

    let mut possible_duplicate_of = None;
    if t == RecordType::Job {
        let schedule = &groups[&Group::Schedule];
        let site = schedule
            .get("site")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let start = schedule.get("window_start").and_then(Value::as_str);
        possible_duplicate_of = input
            .open_jobs_of_customer
            .iter()
            .filter(|j| j.state.is_open())
            .find(|j| same_site(&j.site, site) && same_day(j.window_start.as_deref(), start))
            .cloned();
    }

    Verdict::Apply(Apply::Create {
        owner,
        state: t.initial_state(),
        groups,
        job_id,
        possible_duplicate_of,
    })
}

fn judge_write(input: &JudgeInput<'_>, record: &RecordState) -> Verdict {
    let change = input.change;
    let author = input.author;
    let t = change.record_type;
    let Some(group) = change_group(change).or_else(|| t.groups().first().copied()) else {
        return reject(ErrorCode::InvalidChange, "the change names no field group");
    };
    let Some(rule) = input.policy.rule(t, group) else {
        return reject(
            ErrorCode::InvalidChange,
            format!("a {t} has no field group `{group}`"),
        );
    };
    let type_rule = input.policy.type_rule(t);
    let Some(current) = record.group(group) else {
        return reject(
            ErrorCode::UnknownRecord,
            format!("{} has no {group} yet", label(record)),
        );
    };

    // Step 2: who may write.
    if change.owner_epoch > record.owner_epoch {
        return reject(
            ErrorCode::StaleOwnerEpoch,
            format!(
                "{} is at ownership epoch {}, not {}: pull, then try again",
                label(record),
                record.owner_epoch,
                change.owner_epoch
            ),
        );
    }
    // Voiding is an office decision: only the roles the policy names for the type may do it,
    // whoever owns the record.
    if change.op == Op::Void && !type_rule.voiders.contains(&author.role) {
        let names: Vec<&str> = type_rule.voiders.iter().map(Role::as_str).collect();
        return reject(
            ErrorCode::Forbidden,
            format!(
                "a {} cannot void a {t}; {} can",
                author.role,
                names.join(" or ")
            ),
        );
    }
    let by_role = rule.writers.contains(&author.role) || change.op == Op::Void;
    let owns_now = rule.owner_writes && record.owner.includes(author);
    let allowed = by_role || (owns_now && change.owner_epoch == record.owner_epoch);
    if !allowed {
        let was_owner = rule.owner_writes
            && change.owner_epoch < record.owner_epoch
            && record
                .owner_at(change.owner_epoch)
                .is_some_and(|o| o.includes(author));
        if was_owner {
            return Verdict::Hold(Hold {
                kind: ReviewKind::OwnershipMoved,
                group: Some(group),
                message: format!(
                    "{} moved to {} while this device was offline: the edit is held for review, not applied and not lost",
                    label(record),
                    record.owner
                ),
                contests: false,
            });
        }
        // The owner, writing under an epoch from before the record came to them: their device
        // has not yet pulled the move. Telling them it "belongs to" themselves would be false.
        if owns_now {
            return reject(
                ErrorCode::StaleOwnerEpoch,
                format!(
                    "this device is behind on who owns {}: it is yours since ownership epoch {}, and this change was made under epoch {}; pull, then try again",
                    label(record),
                    record.owner_epoch,
                    change.owner_epoch
                ),
            );
        }
        if rule.owner_writes && author.role == Role::Technician {
            return reject(
                ErrorCode::NotOwner,
                format!(
                    "{} is not yours: it belongs to {}",
                    label(record),
                    record.owner
                ),
            );
        }
        return reject(
            ErrorCode::Forbidden,
            format!("a {} cannot change the {group} of a {t}", author.role),
        );
    }

    // A void that meets an update, and an update that meets a void, go to a person.
    if change.op == Op::Update && record.state.is_voided() {
        return Verdict::Hold(Hold {
            kind: ReviewKind::VoidVsUpdate,
            group: Some(group),
            message: format!(
                "{} was voided while this change was made: held for review",
                label(record)
            ),
            contests: false,
        });
    }

    // Step 3: locked.
    let parent_state = input
        .parent_job
        .filter(|_| t.is_job_child())
        .map(|p| p.state);
    let archive_of_closed = change.op == Op::Void
        && void_state(change) == State::Archived
        && record.state == State::Closed;
    let locked_by = if parent_state.is_some_and(|s| rule.locked_in.contains(&s)) {
        parent_state
    } else if rule.locked_in.contains(&record.state) && !archive_of_closed {
        Some(record.state)
    } else {
        None
    };
    if let Some(state) = locked_by {
        return reject(
            ErrorCode::RecordLocked,
            format!("{} is {}, so its {group} is locked; your change is kept on your device for a follow-up", label(record), state.words()),
        );
    }

    // The status of a signed-off job is locked too, but for the one move the lifecycle leaves
    // open (an office role closing it): decided before any policy, so a technician's move is
    // refused whatever its version, never held for a person to allow by mistake.
    let to_state = (group == Group::Status && change.op == Op::Update)
        .then(|| {
            change
                .values
                .get("state")
                .and_then(Value::as_str)
                .and_then(State::parse)
        })
        .flatten();
    if let Some(to) = to_state.filter(|_| record.state == State::SignedOff) {
        if let Err(rejection) = status_move(t, record.state, to, author.role) {
            if rejection.code == ErrorCode::RecordLocked {
                return reject(
                    ErrorCode::RecordLocked,
                    format!(
                        "{}: {}; your change is kept on your device",
                        label(record),
                        rejection.message
                    ),
                );
            }
        }
    }

    if change.op == Op::Void {
        // A void that meets an open conflict on the group meets an update too: it must not
        // close the review by overwriting the group it is about.
        if rule.policy == PolicyKind::ManualReview && current.contested {
            return Verdict::Hold(Hold {
                kind: ReviewKind::VoidVsUpdate,
                group: Some(group),
                message: format!(
                    "the {group} of {} is under review: the void is held for review",
                    label(record)
                ),
                contests: false,
            });
        }
        if change.base_version != current.version {
            return Verdict::Hold(Hold {
                kind: ReviewKind::VoidVsUpdate,
                group: Some(group),
                message: format!(
                    "{} changed after this device last saw it: the void is held for review",
                    label(record)
                ),
                contests: false,
            });
        }
        let state = void_state(change);
        let values = voided_values(
            record,
            &current.values,
            t,
            state,
            change.values.get("reason"),
        );
        return Verdict::Apply(Apply::Update {
            group,
            values,
            version: current.version + 1,
            state: Some(state),
        });
    }

    // A record's job is part of what it is: an edit may send the whole group back with the same
    // `job_id` (a part line's edit does), but never another one.
    if let Some(job_id) = change.values.get("job_id") {
        if current.values.get("job_id") != Some(job_id) {
            return reject(
                ErrorCode::InvalidChange,
                "a record cannot move to another job",
            );
        }
    }

    // Schedule's assignee moves only by reassignment, so ownership and epochs stay in step.
    if group == Group::Schedule
        && change
            .values
            .get("assignee")
            .is_some_and(|a| Some(a) != current.values.get("assignee"))
    {
        return reject(
            ErrorCode::InvalidChange,
            "the assignee changes by reassignment (POST .../reassign), not by an edit",
        );
    }

    // Append-only items are never overwritten: an edit is for a person to approve.
    if rule.policy == PolicyKind::AppendOnly {
        return Verdict::Hold(Hold {
            kind: ReviewKind::Conflict,
            group: Some(group),
            message: format!(
                "{} is append-only: an edit of it is held for review",
                label(record)
            ),
            contests: false,
        });
    }

    // A contested manual-review group changes only by a resolution.
    if rule.policy == PolicyKind::ManualReview && current.contested {
        return Verdict::Hold(Hold {
            kind: ReviewKind::Conflict,
            group: Some(group),
            message: format!(
                "the {group} of {} is already under review: this version joins it",
                label(record)
            ),
            contests: true,
        });
    }

    let merged = merge_values(&current.values, &change.values);
    let base_is_current = change.base_version == current.version;
    let already_agrees = merged == current.values;
    if !base_is_current && !already_agrees && rule.policy == PolicyKind::ManualReview {
        return Verdict::Hold(Hold {
            kind: ReviewKind::Conflict,
            group: Some(group),
            message: format!(
                "Another update changed this record. Review before sending again. ({}'s {group} is at version {}, this change was made on {})",
                label(record),
                current.version,
                change.base_version
            ),
            contests: true,
        });
    }

    // The field rules on the group as it would stand: an update of `total` alone is held
    // against the stored subtotal and tax. Checked after the holds, so a stale edit that only
    // breaks them together with someone else's newer values goes to a person, not away.
    if let Err(message) = first_problem(t, group, &current.values, &change.values) {
        return reject(ErrorCode::InvalidChange, message);
    }

    // Steps 4 and 5 (last write wins, owner only): applied, with the lifecycle checked.
    let mut new_state = None;
    if let Some(to) = to_state {
        if let Err(mut rejection) = status_move(t, record.state, to, author.role) {
            rejection.message = format!("{}: {}", label(record), rejection.message);
            return Verdict::Reject(rejection);
        }
        new_state = Some(to);
    }
    Verdict::Apply(Apply::Update {
        group,
        values: merged,
        version: current.version + 1,
        state: new_state,
    })
}

/// A group's values once a void has gone through: the status keeps the state it had and the
/// reason, so a reopen or a reader of the log can tell what was voided and why.
fn voided_values(
    record: &RecordState,
    current: &Value,
    t: RecordType,
    state: State,
    reason: Option<&Value>,
) -> Value {
    let mut values = current.as_object().cloned().unwrap_or_default();
    if t.has_group(Group::Status) {
        values.insert(
            "previous_state".into(),
            Value::String(record.state.as_str().into()),
        );
        values.insert("state".into(), Value::String(state.as_str().into()));
    }
    if let Some(reason) = reason {
        values.insert("reason".into(), reason.clone());
    }
    Value::Object(values)
}

/// What a resolution writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// A new version of the group with these values (and a new lifecycle state, for status).
    Write {
        group: Group,
        values: Value,
        version: i64,
        state: Option<State>,
    },
    /// Nothing changes in the record; the item is closed and the choice logged.
    Keep,
}

/// What a review item holds, as the resolver needs it.
#[derive(Debug, Clone)]
pub struct HeldItem<'a> {
    pub kind: ReviewKind,
    pub group: Option<Group>,
    /// The held (or flagged) change.
    pub change: &'a Change,
}

/// Decides what a resolution writes. Only the roles the policy names may resolve.
pub fn resolve(
    policy: &Policy,
    item: &HeldItem<'_>,
    record: &RecordState,
    resolver: &Author,
    choice: ResolveChoice,
    merged: Option<&Value>,
    seen_current: Option<i64>,
) -> Result<Resolution, Rejection> {
    let t = record.record_type;
    let resolvers = policy.resolvers(item.kind, t, item.group);
    if !resolvers.contains(&resolver.role) {
        let names: Vec<&str> = resolvers.iter().map(Role::as_str).collect();
        return Err(Rejection::new(
            ErrorCode::Forbidden,
            format!("only {} may resolve this review item", names.join(" or ")),
        ));
    }
    // The card showed the group at a version: a resolution chosen on an older picture would
    // keep (or overwrite) a value the person never saw.
    if let (Some(seen), Some(group)) = (seen_current, item.group) {
        if let Some(now) = record.group(group).map(|g| g.version) {
            if now != seen {
                return Err(Rejection::new(
                    ErrorCode::ChangedSinceSeen,
                    format!(
                        "This changed since you opened it: the {group} of {} is at version {now}, the card showed version {seen}. Look at it again before choosing.",
                        label(record)
                    ),
                ));
            }
        }
    }
    // An ownership-moved edit applied now must still respect a lock that came since.
    if item.kind == ReviewKind::OwnershipMoved && choice == ResolveChoice::Incoming {
        if let Some(rule) = item.group.and_then(|g| policy.rule(t, g)) {
            if rule.locked_in.contains(&record.state) {
                return Err(Rejection::new(
                    ErrorCode::RecordLocked,
                    format!(
                        "the record is {} now; reopen it before applying this edit",
                        record.state.words()
                    ),
                ));
            }
        }
    }
    let write = |group: Group, values: Value| -> Result<Resolution, Rejection> {
        let current = record.group(group).ok_or_else(|| {
            Rejection::new(
                ErrorCode::UnknownRecord,
                format!("{} has no {group}", label(record)),
            )
        })?;
        let state = if group == Group::Status {
            values
                .get("state")
                .and_then(Value::as_str)
                .and_then(State::parse)
        } else {
            None
        };
        Ok(Resolution::Write {
            group,
            values,
            version: current.version + 1,
            state,
        })
    };
    match (item.kind, choice) {
        (ReviewKind::PossibleDuplicate, ResolveChoice::Incoming) => Ok(Resolution::Keep),
        (ReviewKind::PossibleDuplicate, ResolveChoice::Current) => {
            let status = record.group(Group::Status).map(|g| g.values.clone()).unwrap_or_default();
            let mut values = status.as_object().cloned().unwrap_or_default();
            values.insert(
                "previous_state".into(),
                Value::String(record.state.as_str().into()),
            );
            values.insert("state".into(), Value::String(State::Voided.as_str().into()));
            // The resolver's own words when they gave them (the app's void dialog asks), so
            // the timeline says why this job was voided, not only that review did it.
            let reason = merged
                .and_then(|m| m.get("reason"))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| format!("duplicate of an open job: {r}"))
                .unwrap_or_else(|| "duplicate of an open job (resolved in review)".into());
            values.insert(
                "reason".into(),
                Value::String(reason),
            );
            write(Group::Status, Value::Object(values))
        }
        (ReviewKind::PossibleDuplicate, ResolveChoice::Merged)
        | (ReviewKind::VoidVsUpdate, ResolveChoice::Merged)
        | (ReviewKind::OwnershipMoved, ResolveChoice::Merged) => Err(Rejection::new(
            ErrorCode::BadRequest,
            "this item is resolved by choosing current or incoming; a merged value is for conflicts",
        )),
        (_, ResolveChoice::Current) => {
            // Keep what stands; for a contested group write it again as a new version so every
            // device sees the conflict closed at one version.
            match item.group {
                Some(group) if item.kind == ReviewKind::Conflict => {
                    let current = record.group(group).map(|g| g.values.clone()).unwrap_or_default();
                    write(group, current)
                }
                _ => Ok(Resolution::Keep),
            }
        }
        // A held void, chosen: the record is voided as the judge would have voided it, whether
        // it met an update or was made under an earlier owner.
        (ReviewKind::VoidVsUpdate | ReviewKind::OwnershipMoved, ResolveChoice::Incoming)
            if item.change.op == Op::Void =>
        {
            let group = item.group.unwrap_or(Group::Status);
            let state = void_state(item.change);
            let current = record.group(group).map(|g| g.values.clone()).unwrap_or_default();
            let values = if group == Group::Status {
                voided_values(record, &current, t, state, item.change.values.get("reason"))
            } else {
                let mut values = current.as_object().cloned().unwrap_or_default();
                if let Some(reason) = item.change.values.get("reason") {
                    values.insert("reason".into(), reason.clone());
                }
                Value::Object(values)
            };
            // The lifecycle moves whatever group the void was on (a customer has no status).
            write(group, values).map(|resolution| match resolution {
                Resolution::Write {
                    group,
                    values,
                    version,
                    ..
                } => Resolution::Write {
                    group,
                    values,
                    version,
                    state: Some(state),
                },
                Resolution::Keep => Resolution::Keep,
            })
        }
        (ReviewKind::VoidVsUpdate, ResolveChoice::Incoming) => {
            // The update wins over the void: apply it. A status update says the new state;
            // any other group's update leaves the record voided until its status is set.
            let group = item.group.unwrap_or(Group::Status);
            let current = record.group(group).map(|g| g.values.clone()).unwrap_or_default();
            write(group, merge_values(&current, &item.change.values))
        }
        (_, ResolveChoice::Incoming) => {
            let group = item
                .group
                .ok_or_else(|| Rejection::new(ErrorCode::BadRequest, "this item names no field group"))?;
            let current = record.group(group).map(|g| g.values.clone()).unwrap_or_default();
            // The held values laid over the group as it stands now must still keep the field
            // rules; when they do not, the resolver merges a value that does.
            first_problem(t, group, &current, &item.change.values)
                .map_err(|m| Rejection::new(ErrorCode::InvalidChange, format!("{m} Choose a merged value that adds up.")))?;
            write(group, merge_values(&current, &item.change.values))
        }
        (ReviewKind::Conflict, ResolveChoice::Merged) => {
            let group = item
                .group
                .ok_or_else(|| Rejection::new(ErrorCode::BadRequest, "this item names no field group"))?;
            let Some(values) = merged else {
                return Err(Rejection::new(ErrorCode::BadRequest, "a merged resolution carries `values`"));
            };
            check_values(t, group, values, false).map_err(|m| Rejection::new(ErrorCode::InvalidChange, m))?;
            if group == Group::Status {
                let valid = t.states();
                if !values.get("state").and_then(Value::as_str).and_then(State::parse).is_some_and(|s| valid.contains(&s)) {
                    return Err(Rejection::new(ErrorCode::InvalidChange, "a merged status names a valid `state`"));
                }
            }
            let current = record.group(group).map(|g| g.values.clone()).unwrap_or_default();
            // A merged value is a person's new value: it keeps the field rules like an edit,
            // on the group as it will stand (a merged total of 200 on 192.50 + 38.50 is refused).
            first_problem(t, group, &current, values).map_err(|m| Rejection::new(ErrorCode::InvalidChange, m))?;
            write(group, merge_values(&current, values))
        }
    }
}
