//! The judge, rule by rule of DESIGN.md's "How a change is judged": one helper that builds the
//! judge's input from a row, and one row per rule, against the shipped default policy.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_core::judge::JobMatch;
use fieldsync_core::wire::ResolveChoice;
use fieldsync_core::{
    judge, resolve, Apply, Author, Change, ErrorCode, Group, HeldItem, JudgeInput, Owner, Policy,
    RecordId, RecordState, RecordType, Resolution, ReviewKind, Verdict,
};
use serde_json::{json, Value};

/// What a row expects of the judge.
#[derive(Debug)]
enum Expect {
    /// Applied as a new record with this owner, not flagged.
    Created(Owner),
    /// Applied as a new record, flagged as a possible duplicate of this job.
    Duplicate(RecordId),
    /// Applied as a new version of the change's group, moving the lifecycle to `state` if given.
    Updated {
        version: i64,
        state: Option<&'static str>,
    },
    Held(ReviewKind),
    Rejected(ErrorCode),
}

/// One row: who sends what against which record, and what DESIGN.md says happens.
struct Case {
    rule: &'static str,
    author: Author,
    change: Change,
    record: Option<RecordState>,
    parent: Option<RecordState>,
    open_jobs: Vec<JobMatch>,
    file_complete: bool,
    expect: Expect,
}

fn case(
    rule: &'static str,
    author: Author,
    change: Change,
    record: Option<RecordState>,
    expect: Expect,
) -> Case {
    Case {
        rule,
        author,
        change,
        record,
        parent: None,
        open_jobs: Vec::new(),
        file_complete: false,
        expect,
    }
}

impl Case {
    fn parent(mut self, parent: RecordState) -> Case {
        self.parent = Some(parent);
        self
    }
    fn open_jobs(mut self, jobs: Vec<JobMatch>) -> Case {
        self.open_jobs = jobs;
        self
    }
    fn file_arrived(mut self) -> Case {
        self.file_complete = true;
        self
    }
}

fn judge_case(case: &Case, policy: &Policy) -> Verdict {
    judge(&JudgeInput {
        change: &case.change,
        author: &case.author,
        policy,
        record: case.record.as_ref(),
        parent_job: case.parent.as_ref(),
        open_jobs_of_customer: &case.open_jobs,
        file_complete: case.file_complete,
    })
}

/// Why the verdict does not meet the row's expectation, if it does not.
fn mismatch(case: &Case, verdict: &Verdict) -> Option<String> {
    let ok = match (&case.expect, verdict) {
        (
            Expect::Created(owner),
            Verdict::Apply(Apply::Create {
                owner: got,
                state,
                groups,
                possible_duplicate_of: None,
                ..
            }),
        ) => {
            got == owner
                && *state == case.change.record_type.initial_state()
                && case
                    .change
                    .record_type
                    .groups()
                    .iter()
                    .all(|g| groups.contains_key(g))
        }
        (
            Expect::Duplicate(id),
            Verdict::Apply(Apply::Create {
                possible_duplicate_of: Some(found),
                ..
            }),
        ) => found.record_id == *id,
        (
            Expect::Updated { version, state },
            Verdict::Apply(Apply::Update {
                group,
                version: got,
                state: got_state,
                ..
            }),
        ) => {
            let group_ok = case.change.group.is_none_or(|g| g == *group);
            group_ok && got == version && got_state.map(fieldsync_core::State::as_str) == *state
        }
        (Expect::Held(kind), Verdict::Hold(hold)) => {
            hold.kind == *kind && hold.group.is_some() && !hold.message.is_empty()
        }
        (Expect::Rejected(code), Verdict::Reject(rejection)) => {
            rejection.code == *code && !rejection.message.is_empty()
        }
        _ => false,
    };
    (!ok).then(|| {
        format!(
            "{}: expected {:?}, got {:?}",
            case.rule, case.expect, verdict
        )
    })
}

/// Runs every row, then fails once with every row that went wrong.
fn run(cases: Vec<Case>) {
    let policy = Policy::default_policy();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| mismatch(c, &judge_case(c, &policy)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn open_job(site: &str, window_start: &str, state: &str) -> JobMatch {
    JobMatch {
        record_id: OTHER_JOB,
        number: Some("J-000249".into()),
        site: site.into(),
        window_start: Some(window_start.into()),
        state: state_named(state),
    }
}

fn note_values(text: &str) -> Value {
    json!({ "text": { "job_id": JOB.to_string(), "text": text } })
}

fn part_values() -> Value {
    json!({ "line": { "job_id": JOB.to_string(), "part_number": "W-12", "quantity": 2 } })
}

fn photo_values() -> Value {
    json!({ "file": { "job_id": JOB.to_string(), "sha256": PHOTO_SHA, "caption": "before" } })
}

use Expect::*;
use RecordType::*;

#[test]
fn creates_are_applied_with_the_owner_the_policy_names() {
    run(vec![
        case(
            "a customer is owned by the office team",
            olly(),
            create(Customer, json!({ "profile": { "name": "Acme" } })),
            None,
            Created(Owner::Team("office".into())),
        ),
        case(
            "a job is owned by its assignee",
            dan(),
            create(
                Job,
                new_job("12 High St", "2024-05-01T08:00:00Z", Some("tom")),
            ),
            None,
            Created(Owner::User("tom".into())),
        ),
        case(
            "a job with no assignee stays with the dispatch team",
            dan(),
            create(Job, new_job("12 High St", "2024-05-01T08:00:00Z", None)),
            None,
            Created(Owner::Team("dispatch".into())),
        ),
        case(
            "a technician creating a job owns it",
            tom(),
            create(Job, new_job("12 High St", "2024-05-01T08:00:00Z", None)),
            None,
            Created(Owner::User("tom".into())),
        ),
        case(
            "a technician may name themselves as assignee",
            tom(),
            create(
                Job,
                new_job("12 High St", "2024-05-01T08:00:00Z", Some("tom")),
            ),
            None,
            Created(Owner::User("tom".into())),
        ),
        case(
            "a note is owned by its author",
            tom(),
            create(JobNote, note_values("tap replaced")),
            None,
            Created(Owner::User("tom".into())),
        )
        .parent(job("in_progress")),
        case(
            "a supervisor's note on tom's job is the supervisor's",
            sue(),
            create(JobNote, note_values("checked")),
            None,
            Created(Owner::User("sue".into())),
        )
        .parent(job("in_progress")),
        case(
            "a part line is owned by the job's owner",
            tom(),
            create(PartLine, part_values()),
            None,
            Created(Owner::User("tom".into())),
        )
        .parent(job("in_progress")),
        case(
            "a part line a supervisor adds is still the job owner's",
            sue(),
            create(PartLine, part_values()),
            None,
            Created(Owner::User("tom".into())),
        )
        .parent(job("in_progress")),
        case(
            "a photo whose file arrived is owned by its author",
            tom(),
            create(Photo, photo_values()),
            None,
            Created(Owner::User("tom".into())),
        )
        .parent(job("in_progress"))
        .file_arrived(),
        case(
            "an invoice is owned by the finance team",
            fay(),
            create(
                Invoice,
                json!({ "totals": { "total": 120, "currency": "EUR" } }),
            ),
            None,
            Created(Owner::Team("finance".into())),
        ),
        case(
            "an activity entry is the system's",
            root(),
            create(
                Activity,
                json!({ "entry": { "who": "root", "what": "policy reloaded", "when": "2024-05-01T08:00:00Z" } }),
            ),
            None,
            Created(Owner::Team("system".into())),
        ),
    ]);
}

#[test]
fn creates_that_are_refused() {
    run(vec![
        case(
            "a record that exists cannot be created again",
            dan(),
            create(
                Job,
                new_job("12 High St", "2024-05-01T08:00:00Z", Some("tom")),
            ),
            Some(job("in_progress")),
            Rejected(ErrorCode::AlreadyExists),
        ),
        case(
            "a technician cannot create a customer",
            tom(),
            create(Customer, json!({ "profile": { "name": "Acme" } })),
            None,
            Rejected(ErrorCode::Forbidden),
        ),
        case(
            "a technician cannot create an invoice",
            tom(),
            create(Invoice, json!({ "totals": { "total": 1 } })),
            None,
            Rejected(ErrorCode::Forbidden),
        ),
        case(
            "a technician cannot create a job for someone else",
            tom(),
            create(
                Job,
                new_job("12 High St", "2024-05-01T08:00:00Z", Some("ana")),
            ),
            None,
            Rejected(ErrorCode::Forbidden),
        ),
        case(
            "a technician cannot add a note to someone else's job",
            tom(),
            create(JobNote, note_values("hello")),
            None,
            Rejected(ErrorCode::NotOwner),
        )
        .parent(anas_job()),
        case(
            "a note made offline on a job that moved away since is held, not refused",
            ana(),
            {
                let mut change = create(JobNote, note_values("left the valve open"));
                change.owner_epoch = 1;
                change
            },
            None,
            Held(ReviewKind::OwnershipMoved),
        )
        .parent(job("in_progress")),
        case(
            "a note from a stranger to the job is refused whatever epoch it names",
            ana(),
            create(JobNote, note_values("hello")),
            None,
            Rejected(ErrorCode::NotOwner),
        )
        .parent(job("in_progress")),
        case(
            "a note needs its job on the server",
            tom(),
            create(JobNote, note_values("hello")),
            None,
            Rejected(ErrorCode::UnknownRecord),
        ),
        case(
            "nothing is added to a closed job",
            tom(),
            create(JobNote, note_values("forgot this")),
            None,
            Rejected(ErrorCode::RecordLocked),
        )
        .parent(job("closed")),
        case(
            "no part line is added to a voided job",
            sue(),
            create(PartLine, part_values()),
            None,
            Rejected(ErrorCode::RecordLocked),
        )
        .parent(job("voided")),
        case(
            "a photo whose file has not arrived waits for it",
            tom(),
            create(Photo, photo_values()),
            None,
            Rejected(ErrorCode::FilePending),
        )
        .parent(job("in_progress")),
    ]);
}

#[test]
fn a_job_create_matching_an_open_job_is_applied_and_flagged() {
    let same = open_job("12 High St", "2024-05-01T08:00:00Z", "in_progress");
    run(vec![
        case(
            "same customer, site and day",
            dan(),
            create(
                Job,
                new_job("12 High St", "2024-05-01T14:00:00Z", Some("tom")),
            ),
            None,
            Duplicate(OTHER_JOB),
        )
        .open_jobs(vec![same.clone()]),
        case(
            "the site matches ignoring case and spacing",
            tom(),
            create(Job, new_job("  12  HIGH st ", "2024-05-01T17:30:00Z", None)),
            None,
            Duplicate(OTHER_JOB),
        )
        .open_jobs(vec![same.clone()]),
        case(
            "an assigned job is open too",
            dan(),
            create(
                Job,
                new_job("12 High St", "2024-05-01T09:00:00Z", Some("tom")),
            ),
            None,
            Duplicate(OTHER_JOB),
        )
        .open_jobs(vec![open_job(
            "12 High St",
            "2024-05-01T08:00:00Z",
            "assigned",
        )]),
        case(
            "another day is not a duplicate",
            dan(),
            create(
                Job,
                new_job("12 High St", "2024-05-02T08:00:00Z", Some("tom")),
            ),
            None,
            Created(Owner::User("tom".into())),
        )
        .open_jobs(vec![same.clone()]),
        case(
            "another site is not a duplicate",
            dan(),
            create(
                Job,
                new_job("14 High St", "2024-05-01T08:00:00Z", Some("tom")),
            ),
            None,
            Created(Owner::User("tom".into())),
        )
        .open_jobs(vec![same]),
        case(
            "a closed job is not open",
            dan(),
            create(
                Job,
                new_job("12 High St", "2024-05-01T08:00:00Z", Some("tom")),
            ),
            None,
            Created(Owner::User("tom".into())),
        )
        .open_jobs(vec![open_job(
            "12 High St",
            "2024-05-01T08:00:00Z",
            "closed",
        )]),
        case(
            "a voided job is not open",
            dan(),
            create(
                Job,
                new_job("12 High St", "2024-05-01T08:00:00Z", Some("tom")),
            ),
            None,
            Created(Owner::User("tom".into())),
        )
        .open_jobs(vec![open_job(
            "12 High St",
            "2024-05-01T08:00:00Z",
            "voided",
        )]),
    ]);
}

#[test]
fn who_may_write_a_group() {
    let summary = json!({ "summary": "tap and valve" });
    run(vec![
        case(
            "an update of a record the server does not have",
            tom(),
            update(Job, Group::Description, 3, 2, summary.clone()),
            None,
            Rejected(ErrorCode::UnknownRecord),
        ),
        case(
            "the owner writes their job's description",
            tom(),
            update(Job, Group::Description, 3, 2, summary.clone()),
            Some(job("in_progress")),
            Updated {
                version: 4,
                state: None,
            },
        ),
        case(
            "a supervisor is a writer of a job's status",
            sue(),
            update(Job, Group::Status, 3, 2, json!({ "state": "paused" })),
            Some(job("in_progress")),
            Updated {
                version: 4,
                state: Some("paused"),
            },
        ),
        case(
            "a supervisor writes under any epoch they have seen",
            sue(),
            update(Job, Group::Work, 3, 1, json!({ "labour_hours": 3 })),
            Some(job("in_progress")),
            Updated {
                version: 4,
                state: None,
            },
        ),
        case(
            "office staff write a customer's profile as its owning team",
            olly(),
            update(Customer, Group::Profile, 2, 1, json!({ "phone": "0161 496 0123" })),
            Some(customer()),
            Updated {
                version: 3,
                state: None,
            },
        ),
        case(
            "finance writes an invoice's totals",
            fay(),
            update(Invoice, Group::Totals, 2, 1, json!({ "total": 110 })),
            Some(invoice("draft")),
            Updated {
                version: 3,
                state: None,
            },
        ),
        case(
            "a technician on someone else's job",
            bob(),
            update(Job, Group::Description, 3, 2, summary.clone()),
            Some(job("in_progress")),
            Rejected(ErrorCode::NotOwner),
        ),
        case(
            "finance is not a writer of a job's description",
            fay(),
            update(Job, Group::Description, 3, 2, summary.clone()),
            Some(job("in_progress")),
            Rejected(ErrorCode::Forbidden),
        ),
        case(
            "a technician does not write the schedule, even of their own job",
            tom(),
            update(Job, Group::Schedule, 3, 2, json!({ "site": "14 High St" })),
            Some(job("in_progress")),
            Rejected(ErrorCode::Forbidden),
        ),
        case(
            "a dispatcher is not a writer of an invoice",
            dan(),
            update(Invoice, Group::Totals, 2, 1, json!({ "total": 1 })),
            Some(invoice("draft")),
            Rejected(ErrorCode::Forbidden),
        ),
        case(
            "the owner before the move edits offline under the old epoch",
            ana(),
            update(Job, Group::Description, 3, 1, summary.clone()),
            Some(job("in_progress")),
            Held(ReviewKind::OwnershipMoved),
        ),
        case(
            "the owner before the move changes status offline under the old epoch",
            ana(),
            update(Job, Group::Status, 3, 1, json!({ "state": "paused" })),
            Some(job("in_progress")),
            Held(ReviewKind::OwnershipMoved),
        ),
        case(
            "a stranger under the old epoch is no owner at all",
            bob(),
            update(Job, Group::Description, 3, 1, summary.clone()),
            Some(job("in_progress")),
            Rejected(ErrorCode::NotOwner),
        ),
        case(
            "the owner before the move under the current epoch",
            ana(),
            update(Job, Group::Description, 3, 2, summary.clone()),
            Some(job("in_progress")),
            Rejected(ErrorCode::NotOwner),
        ),
        case(
            "the owner, writing under an epoch from before the job came to them: behind on ownership",
            tom(),
            update(Job, Group::Description, 3, 1, json!({ "summary": "new" })),
            Some(job("in_progress")),
            Rejected(ErrorCode::StaleOwnerEpoch),
        ),
        case(
            "an epoch from the future",
            tom(),
            update(Job, Group::Description, 3, 3, summary),
            Some(job("in_progress")),
            Rejected(ErrorCode::StaleOwnerEpoch),
        ),
    ]);
}

#[test]
fn locked_records_refuse_changes() {
    run(vec![
        case(
            "a closed job's status",
            tom(),
            update(Job, Group::Status, 3, 2, json!({ "state": "in_progress" })),
            Some(job("closed")),
            Rejected(ErrorCode::RecordLocked),
        ),
        case(
            "a closed job's description, even by a supervisor",
            sue(),
            update(Job, Group::Description, 3, 2, json!({ "summary": "late" })),
            Some(job("closed")),
            Rejected(ErrorCode::RecordLocked),
        ),
        case(
            "a signed-off job's signature",
            tom(),
            update(Job, Group::Signature, 1, 2, json!({ "signer": "Mrs Lee" })),
            Some(job("signed_off")),
            Rejected(ErrorCode::RecordLocked),
        ),
        case(
            "a signed-off job's labour",
            sue(),
            update(Job, Group::Work, 3, 2, json!({ "labour_hours": 5 })),
            Some(job("signed_off")),
            Rejected(ErrorCode::RecordLocked),
        ),
        case(
            "a sent invoice's totals",
            fay(),
            update(Invoice, Group::Totals, 2, 1, json!({ "total": 90 })),
            Some(invoice("sent")),
            Rejected(ErrorCode::RecordLocked),
        ),
        case(
            "a note on a closed job",
            tom(),
            update(JobNote, Group::Text, 1, 1, json!({ "text": "edited" })),
            Some(note()),
            Rejected(ErrorCode::RecordLocked),
        )
        .parent(job("closed")),
        case(
            "a void of a closed job",
            dan(),
            void(Job, 3, 2, json!({ "reason": "entered twice" })),
            Some(job("closed")),
            Rejected(ErrorCode::RecordLocked),
        ),
        case(
            "a signed-off job is closed by the office",
            sue(),
            update(Job, Group::Status, 3, 2, json!({ "state": "closed" })),
            Some(job("signed_off")),
            Updated {
                version: 4,
                state: Some("closed"),
            },
        ),
        case(
            "a signed-off job is locked for its technician, closing included",
            tom(),
            update(Job, Group::Status, 3, 2, json!({ "state": "closed" })),
            Some(job("signed_off")),
            Rejected(ErrorCode::RecordLocked),
        ),
        case(
            "a signed-off job is locked whatever version the change was made on",
            tom(),
            update(Job, Group::Status, 1, 2, json!({ "state": "paused" })),
            Some(job("signed_off")),
            Rejected(ErrorCode::RecordLocked),
        ),
        case(
            "a sent invoice may still be marked paid",
            fay(),
            update(Invoice, Group::Status, 2, 1, json!({ "state": "paid" })),
            Some(invoice("sent")),
            Updated {
                version: 3,
                state: Some("paid"),
            },
        ),
        case(
            "a closed job may be archived",
            sue(),
            void(Job, 3, 2, json!({ "reason": "done", "state": "archived" })),
            Some(job("closed")),
            Updated {
                version: 4,
                state: Some("archived"),
            },
        ),
    ]);
}

#[test]
fn versions_and_policies() {
    run(vec![
        case(
            "equal base: applied as version + 1",
            tom(),
            update(Job, Group::Work, 3, 2, json!({ "labour_hours": 3 })),
            Some(job("in_progress")),
            Updated {
                version: 4,
                state: None,
            },
        ),
        case(
            "stale base, last write wins: applied",
            tom(),
            update(
                Job,
                Group::Description,
                1,
                2,
                json!({ "summary": "old view" }),
            ),
            Some(job("in_progress")),
            Updated {
                version: 4,
                state: None,
            },
        ),
        case(
            "stale base on a customer's profile: applied",
            sue(),
            update(Customer, Group::Profile, 1, 1, json!({ "nickname": "A" })),
            Some(customer()),
            Updated {
                version: 3,
                state: None,
            },
        ),
        case(
            "stale base, owner only: the owner's later word applies",
            dan(),
            update(Job, Group::Schedule, 1, 2, json!({ "site": "14 High St" })),
            Some(job("in_progress")),
            Updated {
                version: 4,
                state: None,
            },
        ),
        case(
            "stale base, manual review (job status): held",
            tom(),
            update(Job, Group::Status, 2, 2, json!({ "state": "paused" })),
            Some(job("in_progress")),
            Held(ReviewKind::Conflict),
        ),
        case(
            "stale base, manual review (job work): held",
            sue(),
            update(Job, Group::Work, 1, 2, json!({ "labour_hours": 7 })),
            Some(job("in_progress")),
            Held(ReviewKind::Conflict),
        ),
        case(
            "stale base, manual review (customer billing): held",
            fay(),
            update(
                Customer,
                Group::Billing,
                1,
                1,
                json!({ "billing_contact": "Al" }),
            ),
            Some(customer()),
            Held(ReviewKind::Conflict),
        ),
        case(
            "stale base, manual review (invoice totals): held",
            fay(),
            update(Invoice, Group::Totals, 1, 1, json!({ "total": 90 })),
            Some(invoice("draft")),
            Held(ReviewKind::Conflict),
        ),
        case(
            "stale base that already agrees with the current values: applied",
            tom(),
            update(Job, Group::Work, 2, 2, json!({ "labour_hours": 2 })),
            Some(job("in_progress")),
            Updated {
                version: 4,
                state: None,
            },
        ),
        case(
            "a contested manual-review group changes only by resolution",
            tom(),
            update(Job, Group::Status, 3, 2, json!({ "state": "paused" })),
            Some(contested(job("in_progress"), Group::Status)),
            Held(ReviewKind::Conflict),
        ),
        case(
            "a contested group holds even a version that agrees",
            sue(),
            update(Job, Group::Work, 3, 2, json!({ "labour_hours": 2 })),
            Some(contested(job("in_progress"), Group::Work)),
            Held(ReviewKind::Conflict),
        ),
        case(
            "a contest on one group does not hold another",
            tom(),
            update(Job, Group::Work, 3, 2, json!({ "labour_hours": 3 })),
            Some(contested(job("in_progress"), Group::Status)),
            Updated {
                version: 4,
                state: None,
            },
        ),
        case(
            "an edit of an append-only note: held",
            tom(),
            update(JobNote, Group::Text, 1, 1, json!({ "text": "edited" })),
            Some(note()),
            Held(ReviewKind::Conflict),
        )
        .parent(job("in_progress")),
        case(
            "an edit of an existing part line: held",
            tom(),
            update(PartLine, Group::Line, 1, 1, json!({ "quantity": 3 })),
            Some(part_line()),
            Held(ReviewKind::Conflict),
        )
        .parent(job("in_progress")),
        case(
            "an edit of a part line that sends its whole group back, job included: held",
            tom(),
            update(
                PartLine,
                Group::Line,
                1,
                1,
                json!({ "job_id": JOB.to_string(), "part_number": "W-12", "quantity": 3 }),
            ),
            Some(part_line()),
            Held(ReviewKind::Conflict),
        )
        .parent(job("in_progress")),
        case(
            "a part line does not move to another job",
            tom(),
            update(
                PartLine,
                Group::Line,
                1,
                1,
                json!({ "job_id": NEW_RECORD.to_string(), "quantity": 3 }),
            ),
            Some(part_line()),
            Rejected(ErrorCode::InvalidChange),
        )
        .parent(job("in_progress")),
    ]);
}

#[test]
fn voids() {
    run(vec![
        case(
            "a void on the current version",
            dan(),
            void(Job, 3, 2, json!({ "reason": "entered twice" })),
            Some(job("in_progress")),
            Updated {
                version: 4,
                state: Some("voided"),
            },
        ),
        case(
            "a void on a stale version meets an update",
            dan(),
            void(Job, 2, 2, json!({ "reason": "entered twice" })),
            Some(job("in_progress")),
            Held(ReviewKind::VoidVsUpdate),
        ),
        case(
            "an update meets a void",
            tom(),
            update(Job, Group::Description, 3, 2, json!({ "summary": "done" })),
            Some(job("voided")),
            Held(ReviewKind::VoidVsUpdate),
        ),
        case(
            "a status update meets a void",
            sue(),
            update(Job, Group::Status, 3, 2, json!({ "state": "paused" })),
            Some(job("voided")),
            Held(ReviewKind::VoidVsUpdate),
        ),
        case(
            "an update meets a voided invoice",
            fay(),
            update(Invoice, Group::Totals, 2, 1, json!({ "total": 1 })),
            Some(invoice("void")),
            Held(ReviewKind::VoidVsUpdate),
        ),
        case(
            "a voided invoice ends in `void`",
            fay(),
            void(Invoice, 2, 1, json!({ "reason": "wrong customer" })),
            Some(invoice("draft")),
            Updated {
                version: 3,
                state: Some("void"),
            },
        ),
        case(
            "a void of a contested status group waits for the review",
            dan(),
            void(Job, 3, 2, json!({ "reason": "entered twice" })),
            Some(contested(job("in_progress"), Group::Status)),
            Held(ReviewKind::VoidVsUpdate),
        ),
        case(
            "the job's own technician is not a voider",
            tom(),
            void(Job, 3, 2, json!({ "reason": "not needed" })),
            Some(job("in_progress")),
            Rejected(ErrorCode::Forbidden),
        ),
        case(
            "a void by someone who is not a voider",
            fay(),
            void(Job, 3, 2, json!({ "reason": "no" })),
            Some(job("in_progress")),
            Rejected(ErrorCode::Forbidden),
        ),
    ]);
}

#[test]
fn lifecycle_and_schedule_rules() {
    run(vec![
        case(
            "nothing moves back to assigned",
            tom(),
            update(Job, Group::Status, 3, 2, json!({ "state": "assigned" })),
            Some(job("in_progress")),
            Rejected(ErrorCode::InvalidTransition),
        ),
        case(
            "closing needs a sign-off first",
            tom(),
            update(Job, Group::Status, 3, 2, json!({ "state": "closed" })),
            Some(job("in_progress")),
            Rejected(ErrorCode::InvalidTransition),
        ),
        case(
            "reopen is its own action",
            sue(),
            update(Job, Group::Status, 3, 2, json!({ "state": "reopened" })),
            Some(job("in_progress")),
            Rejected(ErrorCode::InvalidTransition),
        ),
        case(
            "a signed-off job is reopened by the reopen action, not by its status",
            sue(),
            update(Job, Group::Status, 3, 2, json!({ "state": "reopened" })),
            Some(job("signed_off")),
            Rejected(ErrorCode::RecordLocked),
        ),
        case(
            "void is its own op",
            sue(),
            update(Job, Group::Status, 3, 2, json!({ "state": "voided" })),
            Some(job("in_progress")),
            Rejected(ErrorCode::InvalidTransition),
        ),
        case(
            "a signed-off job does not go back to work",
            tom(),
            update(Job, Group::Status, 3, 2, json!({ "state": "in_progress" })),
            Some(job("signed_off")),
            Rejected(ErrorCode::RecordLocked),
        ),
        case(
            "an invoice is sent before it is paid",
            fay(),
            update(Invoice, Group::Status, 2, 1, json!({ "state": "paid" })),
            Some(invoice("draft")),
            Rejected(ErrorCode::InvalidTransition),
        ),
        case(
            "pause and resume",
            tom(),
            update(Job, Group::Status, 3, 2, json!({ "state": "in_progress" })),
            Some(job("paused")),
            Updated {
                version: 4,
                state: Some("in_progress"),
            },
        ),
        case(
            "a technician starts work without opening first",
            tom(),
            update(Job, Group::Status, 3, 2, json!({ "state": "in_progress" })),
            Some(job("assigned")),
            Updated {
                version: 4,
                state: Some("in_progress"),
            },
        ),
        case(
            "the assignee changes by reassignment, not by a push",
            dan(),
            update(Job, Group::Schedule, 3, 2, json!({ "assignee": "ana" })),
            Some(job("in_progress")),
            Rejected(ErrorCode::InvalidChange),
        ),
        case(
            "a schedule change that repeats the assignee is fine",
            dan(),
            update(
                Job,
                Group::Schedule,
                3,
                2,
                json!({ "assignee": "tom", "window_start": "2024-05-02T08:00:00Z" }),
            ),
            Some(job("in_progress")),
            Updated {
                version: 4,
                state: None,
            },
        ),
    ]);
}

#[test]
fn badly_shaped_changes_are_invalid() {
    let mut create_with_group = create(Customer, json!({ "profile": { "name": "Acme" } }));
    create_with_group.group = Some(Group::Profile);
    let mut create_on_version = create(Customer, json!({ "profile": { "name": "Acme" } }));
    create_on_version.base_version = 1;
    let mut update_without_group = update(Job, Group::Work, 3, 2, json!({ "labour_hours": 3 }));
    update_without_group.group = None;
    let mut void_on_other_group = void(Job, 3, 2, json!({ "reason": "x" }));
    void_on_other_group.group = Some(Group::Work);
    let invalid = || Rejected(ErrorCode::InvalidChange);
    let rec = || Some(job("in_progress"));
    run(vec![
        case(
            "an unknown field in an update",
            tom(),
            update(Job, Group::Work, 3, 2, json!({ "labour_hourz": 3 })),
            rec(),
            invalid(),
        ),
        case(
            "a field of the wrong type",
            tom(),
            update(Job, Group::Work, 3, 2, json!({ "labour_hours": "three" })),
            rec(),
            invalid(),
        ),
        case(
            "a time that is not RFC 3339",
            tom(),
            update(Job, Group::Work, 3, 2, json!({ "completed_at": "yesterday" })),
            rec(),
            invalid(),
        ),
        case(
            "values that are not an object",
            tom(),
            update(Job, Group::Work, 3, 2, json!(["labour_hours", 3])),
            rec(),
            invalid(),
        ),
        case(
            "an update that changes nothing",
            tom(),
            update(Job, Group::Work, 3, 2, json!({})),
            rec(),
            invalid(),
        ),
        case(
            "an update without a group",
            tom(),
            update_without_group,
            rec(),
            invalid(),
        ),
        case(
            "an update of a group the type does not have",
            tom(),
            update(Job, Group::Billing, 3, 2, json!({ "billing_contact": "x" })),
            rec(),
            invalid(),
        ),
        case(
            "an update on version 0",
            tom(),
            update(Job, Group::Work, 0, 2, json!({ "labour_hours": 3 })),
            rec(),
            invalid(),
        ),
        case(
            "a negative epoch",
            tom(),
            update(Job, Group::Work, 3, -1, json!({ "labour_hours": 3 })),
            rec(),
            invalid(),
        ),
        case(
            "a state that does not exist",
            tom(),
            update(Job, Group::Status, 3, 2, json!({ "state": "finished" })),
            rec(),
            invalid(),
        ),
        case(
            "a status update without a state",
            tom(),
            update(Job, Group::Status, 3, 2, json!({ "reason": "x" })),
            rec(),
            invalid(),
        ),
        case(
            "a note moved to another job",
            tom(),
            update(JobNote, Group::Text, 1, 1, json!({ "job_id": OTHER_JOB.to_string() })),
            Some(note()),
            invalid(),
        )
        .parent(job("in_progress")),
        case(
            "a create naming a group",
            olly(),
            create_with_group,
            None,
            invalid(),
        ),
        case(
            "a create on a version",
            olly(),
            create_on_version,
            None,
            invalid(),
        ),
        case(
            "a create with an unknown field",
            olly(),
            create(Customer, json!({ "profile": { "name": "Acme", "fax": "1" } })),
            None,
            invalid(),
        ),
        case(
            "a create with an unknown group",
            olly(),
            create(Customer, json!({ "profile": { "name": "Acme" }, "schedule": {} })),
            None,
            invalid(),
        ),
        case(
            "a create with a field of the wrong type",
            tom(),
            create(
                PartLine,
                json!({ "line": { "job_id": JOB.to_string(), "part_number": "W-12", "quantity": "two" } }),
            ),
            None,
            invalid(),
        )
        .parent(job("in_progress")),
        case(
            "a create missing a required field",
            dan(),
            create(Job, json!({ "schedule": { "customer_id": CUSTOMER.to_string() } })),
            None,
            invalid(),
        ),
        case(
            "a create missing a required group",
            tom(),
            create(JobNote, json!({})),
            None,
            invalid(),
        )
        .parent(job("in_progress")),
        case(
            "a create that starts in a later state",
            dan(),
            create(
                Job,
                json!({
                    "schedule": { "customer_id": CUSTOMER.to_string(), "site": "1 Main Rd" },
                    "status": { "state": "closed" },
                }),
            ),
            None,
            invalid(),
        ),
        case(
            "a photo with a hash that is not lowercase hex",
            tom(),
            create(
                Photo,
                json!({ "file": { "job_id": JOB.to_string(), "sha256": PHOTO_SHA.to_uppercase() } }),
            ),
            None,
            invalid(),
        )
        .parent(job("in_progress"))
        .file_arrived(),
        case(
            "a void without a reason",
            dan(),
            void(Job, 3, 2, json!({})),
            rec(),
            invalid(),
        ),
        case(
            "a void with a blank reason",
            dan(),
            void(Job, 3, 2, json!({ "reason": "  " })),
            rec(),
            invalid(),
        ),
        case(
            "a void that ends in a working state",
            dan(),
            void(Job, 3, 2, json!({ "reason": "x", "state": "paused" })),
            rec(),
            invalid(),
        ),
        case(
            "a void on another group",
            dan(),
            void_on_other_group,
            rec(),
            invalid(),
        ),
    ]);
}

#[test]
fn a_technicians_new_job_names_them_as_assignee() {
    let policy = Policy::default_policy();
    let change = create(Job, new_job("12 High St", "2024-05-01T08:00:00Z", None));
    let verdict = judge(&JudgeInput {
        change: &change,
        author: &tom(),
        policy: &policy,
        record: None,
        parent_job: None,
        open_jobs_of_customer: &[],
        file_complete: false,
    });
    let Verdict::Apply(Apply::Create { groups, state, .. }) = verdict else {
        panic!("expected a create, got {verdict:?}");
    };
    assert_eq!(groups[&Group::Schedule]["assignee"], json!("tom"));
    assert_eq!(groups[&Group::Schedule]["site"], json!("12 High St"));
    assert_eq!(groups[&Group::Status]["state"], json!("assigned"));
    assert_eq!(state, fieldsync_core::State::Assigned);
    assert_eq!(
        groups[&Group::Description]["summary"],
        json!("boiler service")
    );
}

#[test]
fn a_child_create_points_at_its_job() {
    let policy = Policy::default_policy();
    let change = create(PartLine, part_values());
    let parent = job("in_progress");
    let verdict = judge(&JudgeInput {
        change: &change,
        author: &tom(),
        policy: &policy,
        record: None,
        parent_job: Some(&parent),
        open_jobs_of_customer: &[],
        file_complete: false,
    });
    let Verdict::Apply(Apply::Create { job_id, groups, .. }) = verdict else {
        panic!("expected a create, got {verdict:?}");
    };
    assert_eq!(job_id, Some(JOB));
    assert_eq!(groups[&Group::Line]["quantity"], json!(2));
}

#[test]
fn an_applied_update_keeps_the_fields_it_does_not_name() {
    let policy = Policy::default_policy();
    let change = update(
        Job,
        Group::Schedule,
        3,
        2,
        json!({ "window_start": "2024-05-02T08:00:00Z" }),
    );
    let record = job("in_progress");
    let verdict = judge(&JudgeInput {
        change: &change,
        author: &dan(),
        policy: &policy,
        record: Some(&record),
        parent_job: None,
        open_jobs_of_customer: &[],
        file_complete: false,
    });
    let Verdict::Apply(Apply::Update { values, .. }) = verdict else {
        panic!("expected an update, got {verdict:?}");
    };
    assert_eq!(values["window_start"], json!("2024-05-02T08:00:00Z"));
    assert_eq!(values["site"], json!("12 High St"));
    assert_eq!(values["assignee"], json!("tom"));
}

#[test]
fn a_void_keeps_its_reason_and_the_state_it_left() {
    let policy = Policy::default_policy();
    let change = void(Job, 3, 2, json!({ "reason": "entered twice" }));
    let record = job("paused");
    let verdict = judge(&JudgeInput {
        change: &change,
        author: &sue(),
        policy: &policy,
        record: Some(&record),
        parent_job: None,
        open_jobs_of_customer: &[],
        file_complete: false,
    });
    let Verdict::Apply(Apply::Update { group, values, .. }) = verdict else {
        panic!("expected an update, got {verdict:?}");
    };
    assert_eq!(group, Group::Status);
    assert_eq!(values["state"], json!("voided"));
    assert_eq!(values["previous_state"], json!("paused"));
    assert_eq!(values["reason"], json!("entered twice"));
}

#[test]
fn a_pending_file_is_not_a_permanent_refusal() {
    assert!(!ErrorCode::FilePending.is_permanent());
    assert!(!ErrorCode::FilePending.is_final_judgement());
    assert_eq!(ErrorCode::FilePending.as_str(), "file_pending");
    for code in [
        ErrorCode::NotOwner,
        ErrorCode::Forbidden,
        ErrorCode::RecordLocked,
        ErrorCode::StaleOwnerEpoch,
        ErrorCode::InvalidChange,
        ErrorCode::InvalidTransition,
        ErrorCode::AlreadyExists,
        ErrorCode::UnknownRecord,
    ] {
        assert!(code.is_permanent(), "{code} should be permanent");
        // The wire name is the serde name.
        assert_eq!(
            serde_json::to_value(code).unwrap(),
            json!(code.as_str()),
            "{code}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Resolving a review item.

#[derive(Debug)]
enum Resolved {
    /// A new version of `group` whose values include `values`.
    Writes {
        group: Group,
        version: i64,
        state: Option<&'static str>,
        values: Value,
    },
    Keeps,
    Refused(ErrorCode),
}

struct ResolveCase {
    rule: &'static str,
    kind: ReviewKind,
    group: Option<Group>,
    change: Change,
    record: RecordState,
    resolver: Author,
    choice: ResolveChoice,
    merged: Option<Value>,
    expect: Resolved,
}

/// Whether every field of `expected` is in `actual` with the same value.
fn includes(actual: &Value, expected: &Value) -> bool {
    match (actual.as_object(), expected.as_object()) {
        (Some(a), Some(e)) => e.iter().all(|(k, v)| a.get(k) == Some(v)),
        _ => false,
    }
}

fn run_resolutions(cases: Vec<ResolveCase>) {
    let policy = Policy::default_policy();
    let mut failures = Vec::new();
    for c in &cases {
        let item = HeldItem {
            kind: c.kind,
            group: c.group,
            change: &c.change,
        };
        let got = resolve(
            &policy,
            &item,
            &c.record,
            &c.resolver,
            c.choice,
            c.merged.as_ref(),
            None,
        );
        let ok = match (&c.expect, &got) {
            (
                Resolved::Writes {
                    group,
                    version,
                    state,
                    values,
                },
                Ok(Resolution::Write {
                    group: g,
                    version: v,
                    state: s,
                    values: written,
                }),
            ) => {
                g == group
                    && v == version
                    && s.map(fieldsync_core::State::as_str) == *state
                    && includes(written, values)
            }
            (Resolved::Keeps, Ok(Resolution::Keep)) => true,
            (Resolved::Refused(code), Err(rejection)) => {
                rejection.code == *code && !rejection.message.is_empty()
            }
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                c.rule, c.expect, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn status_conflict(resolver: Author, choice: ResolveChoice, merged: Option<Value>) -> ResolveCase {
    ResolveCase {
        rule: "",
        kind: ReviewKind::Conflict,
        group: Some(Group::Status),
        change: update(Job, Group::Status, 2, 2, json!({ "state": "paused" })),
        record: contested(job("in_progress"), Group::Status),
        resolver,
        choice,
        merged,
        expect: Resolved::Keeps,
    }
}

fn work_conflict(resolver: Author, choice: ResolveChoice, merged: Option<Value>) -> ResolveCase {
    ResolveCase {
        group: Some(Group::Work),
        change: update(Job, Group::Work, 2, 2, json!({ "labour_hours": 3 })),
        record: contested(job("in_progress"), Group::Work),
        ..status_conflict(resolver, choice, merged)
    }
}

/// A new job flagged as a possible duplicate, as it stands after its create.
fn flagged_job() -> RecordState {
    let mut record = job("assigned");
    record.record_id = NEW_RECORD;
    record.number = Some("J-000250".into());
    for group in record.groups.values_mut() {
        group.version = 1;
    }
    record
}

fn possible_duplicate(resolver: Author, choice: ResolveChoice) -> ResolveCase {
    ResolveCase {
        kind: ReviewKind::PossibleDuplicate,
        group: None,
        change: create(
            Job,
            new_job("12 High St", "2024-05-01T08:00:00Z", Some("tom")),
        ),
        record: flagged_job(),
        ..status_conflict(resolver, choice, None)
    }
}

fn ownership_moved(resolver: Author, choice: ResolveChoice, merged: Option<Value>) -> ResolveCase {
    ResolveCase {
        kind: ReviewKind::OwnershipMoved,
        group: Some(Group::Description),
        change: update(
            Job,
            Group::Description,
            3,
            1,
            json!({ "summary": "ana's words" }),
        ),
        record: job("in_progress"),
        ..status_conflict(resolver, choice, merged)
    }
}

fn void_vs_update(resolver: Author, choice: ResolveChoice, merged: Option<Value>) -> ResolveCase {
    ResolveCase {
        kind: ReviewKind::VoidVsUpdate,
        group: Some(Group::Status),
        change: void(Job, 2, 2, json!({ "reason": "entered twice" })),
        record: job("in_progress"),
        ..status_conflict(resolver, choice, merged)
    }
}

fn row(rule: &'static str, expect: Resolved, c: ResolveCase) -> ResolveCase {
    ResolveCase { rule, expect, ..c }
}

#[test]
fn only_the_policys_resolvers_resolve() {
    use ResolveChoice::*;
    let refused = || Resolved::Refused(ErrorCode::Forbidden);
    run_resolutions(vec![
        row(
            "a technician does not resolve a status conflict",
            refused(),
            status_conflict(tom(), Incoming, None),
        ),
        row(
            "a dispatcher does not resolve a status conflict",
            refused(),
            status_conflict(dan(), Current, None),
        ),
        row(
            "finance does not resolve a possible duplicate",
            refused(),
            possible_duplicate(fay(), Incoming),
        ),
        row(
            "a technician does not resolve their own moved edit",
            refused(),
            ownership_moved(ana(), Incoming, None),
        ),
        row(
            "finance does not resolve a void against an update",
            refused(),
            void_vs_update(fay(), Current, None),
        ),
        row(
            "a dispatcher does not resolve a customer's billing conflict",
            refused(),
            ResolveCase {
                group: Some(Group::Billing),
                change: update(
                    Customer,
                    Group::Billing,
                    1,
                    1,
                    json!({ "billing_contact": "Al" }),
                ),
                record: contested(customer(), Group::Billing),
                ..status_conflict(dan(), Incoming, None)
            },
        ),
        row(
            "finance resolves a customer's billing conflict",
            Resolved::Writes {
                group: Group::Billing,
                version: 3,
                state: None,
                values: json!({ "billing_contact": "Al" }),
            },
            ResolveCase {
                group: Some(Group::Billing),
                change: update(
                    Customer,
                    Group::Billing,
                    1,
                    1,
                    json!({ "billing_contact": "Al" }),
                ),
                record: contested(customer(), Group::Billing),
                ..status_conflict(fay(), Incoming, None)
            },
        ),
    ]);
}

#[test]
fn a_conflict_resolution_writes_a_new_version() {
    use ResolveChoice::*;
    run_resolutions(vec![
        row(
            "current: the standing values again, as a new version",
            Resolved::Writes {
                group: Group::Status,
                version: 4,
                state: Some("in_progress"),
                values: json!({ "state": "in_progress" }),
            },
            status_conflict(sue(), Current, None),
        ),
        row(
            "incoming: the held values",
            Resolved::Writes {
                group: Group::Status,
                version: 4,
                state: Some("paused"),
                values: json!({ "state": "paused" }),
            },
            status_conflict(sue(), Incoming, None),
        ),
        row(
            "merged: the value the resolver entered",
            Resolved::Writes {
                group: Group::Work,
                version: 4,
                state: None,
                values: json!({ "labour_hours": 2.5 }),
            },
            work_conflict(sue(), Merged, Some(json!({ "labour_hours": 2.5 }))),
        ),
        row(
            "merged status names its state",
            Resolved::Writes {
                group: Group::Status,
                version: 4,
                state: Some("paused"),
                values: json!({ "state": "paused" }),
            },
            status_conflict(sue(), Merged, Some(json!({ "state": "paused" }))),
        ),
        row(
            "merged without values",
            Resolved::Refused(ErrorCode::BadRequest),
            work_conflict(sue(), Merged, None),
        ),
        row(
            "merged with an unknown field",
            Resolved::Refused(ErrorCode::InvalidChange),
            work_conflict(sue(), Merged, Some(json!({ "hours": 2 }))),
        ),
        row(
            "merged status with a state that does not exist",
            Resolved::Refused(ErrorCode::InvalidChange),
            status_conflict(sue(), Merged, Some(json!({ "state": "done" }))),
        ),
    ]);
}

#[test]
fn other_review_items_are_resolved_by_choosing() {
    use ResolveChoice::*;
    run_resolutions(vec![
        row(
            "a merged value is only for conflicts: possible duplicate",
            Resolved::Refused(ErrorCode::BadRequest),
            possible_duplicate(dan(), Merged),
        ),
        row(
            "a merged value is only for conflicts: ownership moved",
            Resolved::Refused(ErrorCode::BadRequest),
            ownership_moved(dan(), Merged, Some(json!({ "summary": "x" }))),
        ),
        row(
            "a merged value is only for conflicts: void against update",
            Resolved::Refused(ErrorCode::BadRequest),
            void_vs_update(sue(), Merged, Some(json!({ "state": "voided" }))),
        ),
        row(
            "possible duplicate, current: the new job is voided",
            Resolved::Writes {
                group: Group::Status,
                version: 2,
                state: Some("voided"),
                values: json!({ "state": "voided", "previous_state": "assigned" }),
            },
            possible_duplicate(dan(), Current),
        ),
        row(
            "possible duplicate, incoming: both jobs stay",
            Resolved::Keeps,
            possible_duplicate(sue(), Incoming),
        ),
        row(
            "ownership moved, incoming: the old owner's edit is applied",
            Resolved::Writes {
                group: Group::Description,
                version: 4,
                state: None,
                values: json!({ "summary": "ana's words" }),
            },
            ownership_moved(dan(), Incoming, None),
        ),
        row(
            "ownership moved, current: nothing changes",
            Resolved::Keeps,
            ownership_moved(sue(), Current, None),
        ),
        row(
            "void against update, incoming: the void is applied",
            Resolved::Writes {
                group: Group::Status,
                version: 4,
                state: Some("voided"),
                values: json!({ "state": "voided", "reason": "entered twice" }),
            },
            void_vs_update(sue(), Incoming, None),
        ),
        row(
            "void against update on a customer, incoming: the customer is voided",
            Resolved::Writes {
                group: Group::Profile,
                version: 3,
                state: Some("voided"),
                values: json!({ "name": "Acme", "reason": "moved away" }),
            },
            ResolveCase {
                group: Some(Group::Profile),
                change: void(Customer, 1, 1, json!({ "reason": "moved away" })),
                record: customer(),
                ..void_vs_update(dan(), Incoming, None)
            },
        ),
        row(
            "void against update, incoming archive: the job is archived",
            Resolved::Writes {
                group: Group::Status,
                version: 4,
                state: Some("archived"),
                values: json!({ "state": "archived", "previous_state": "in_progress" }),
            },
            ResolveCase {
                change: void(Job, 2, 2, json!({ "reason": "old", "state": "archived" })),
                ..void_vs_update(sue(), Incoming, None)
            },
        ),
        row(
            "ownership moved, incoming void: the void made under the old owner is applied",
            Resolved::Writes {
                group: Group::Status,
                version: 4,
                state: Some("voided"),
                values: json!({ "state": "voided", "reason": "customer cancelled" }),
            },
            ResolveCase {
                group: Some(Group::Status),
                change: void(Job, 3, 1, json!({ "reason": "customer cancelled" })),
                ..ownership_moved(dan(), Incoming, None)
            },
        ),
        row(
            "void against update, current: the record stays as it is",
            Resolved::Keeps,
            void_vs_update(dan(), Current, None),
        ),
        row(
            "update against void, incoming: the update is applied",
            Resolved::Writes {
                group: Group::Description,
                version: 4,
                state: None,
                values: json!({ "summary": "done" }),
            },
            ResolveCase {
                group: Some(Group::Description),
                change: update(Job, Group::Description, 3, 2, json!({ "summary": "done" })),
                record: job("voided"),
                ..void_vs_update(sue(), Incoming, None)
            },
        ),
    ]);
}

#[test]
fn a_possible_duplicate_voided_in_review_says_why() {
    let policy = Policy::default_policy();
    let c = possible_duplicate(dan(), ResolveChoice::Current);
    let item = HeldItem {
        kind: c.kind,
        group: c.group,
        change: &c.change,
    };
    let resolution = resolve(&policy, &item, &c.record, &c.resolver, c.choice, None, None).unwrap();
    let Resolution::Write { values, .. } = resolution else {
        panic!("expected a write, got {resolution:?}");
    };
    assert!(
        values["reason"]
            .as_str()
            .is_some_and(|r| r.contains("duplicate")),
        "{values}"
    );
}

#[test]
fn a_held_create_is_admitted_when_a_resolver_keeps_it() {
    let policy = fieldsync_core::Policy::default_policy();
    let mut change = create(JobNote, note_values("left the valve open"));
    change.owner_epoch = 1;
    let parent = job("in_progress");
    let input = fieldsync_core::JudgeInput {
        change: &change,
        author: &ana(),
        policy: &policy,
        record: None,
        parent_job: Some(&parent),
        open_jobs_of_customer: &[],
        file_complete: false,
    };
    match fieldsync_core::judge::admit_held_create(&input) {
        fieldsync_core::Verdict::Apply(fieldsync_core::Apply::Create { owner, .. }) => {
            assert_eq!(owner, fieldsync_core::Owner::User("ana".into()));
        }
        other => panic!("expected the note to be created, got {other:?}"),
    }
}
