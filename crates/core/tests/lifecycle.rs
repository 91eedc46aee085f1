//! The lifecycles as a table: every move a status change may try, and what the core says.

mod common;

use common::*;
use fieldsync_core::lifecycle::{next_states, status_move, State, INVOICE_STATES, JOB_STATES};
use fieldsync_core::office::{plan_reassign, plan_reopen, resolve_held_create, Child, HeldCreate};
use fieldsync_core::wire::ResolveChoice;
use fieldsync_core::{ErrorCode, Group, Owner, RecordType, Role};
use serde_json::json;

use State::*;

/// One row: from, to, who, and the code it is refused with (`None`: allowed).
type Row = (State, State, Role, Option<ErrorCode>);

#[test]
fn job_moves() {
    use ErrorCode::{InvalidTransition as Bad, RecordLocked as Locked};
    let tech = Role::Technician;
    let sup = Role::Supervisor;
    let rows: Vec<Row> = vec![
        (Assigned, Opened, tech, None),
        (Assigned, InProgress, tech, None),
        (Opened, InProgress, tech, None),
        (InProgress, Paused, tech, None),
        (Paused, InProgress, tech, None),
        (InProgress, SignedOff, tech, None),
        (Reopened, InProgress, tech, None),
        (InProgress, Opened, tech, Some(Bad)),
        (InProgress, Closed, sup, Some(Bad)),
        (InProgress, Reopened, sup, Some(Bad)),
        (InProgress, Voided, sup, Some(Bad)),
        (Opened, Assigned, sup, Some(Bad)),
        (SignedOff, Closed, sup, None),
        (SignedOff, Closed, Role::Dispatcher, None),
        (SignedOff, Closed, tech, Some(Locked)),
        (SignedOff, InProgress, tech, Some(Locked)),
        (SignedOff, Paused, sup, Some(Locked)),
        (SignedOff, Reopened, sup, Some(Locked)),
        (SignedOff, SignedOff, tech, None),
    ];
    let mut failed = Vec::new();
    for (from, to, role, want) in rows {
        let got = status_move(RecordType::Job, from, to, role)
            .err()
            .map(|r| r.code);
        if got != want {
            failed.push(format!(
                "{from} -> {to} by {role}: expected {want:?}, got {got:?}"
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn invoice_moves_and_foreign_states() {
    assert!(status_move(RecordType::Invoice, Draft, Sent, Role::Finance).is_ok());
    assert!(status_move(RecordType::Invoice, Sent, Paid, Role::Finance).is_ok());
    let back = status_move(RecordType::Invoice, Paid, Draft, Role::Finance);
    assert_eq!(
        back.err().map(|r| r.code),
        Some(ErrorCode::InvalidTransition)
    );
    let foreign = status_move(RecordType::Invoice, Draft, SignedOff, Role::Finance);
    assert_eq!(
        foreign.err().map(|r| r.code),
        Some(ErrorCode::InvalidChange)
    );
    assert_eq!(RecordType::Invoice.states(), &INVOICE_STATES);
    assert_eq!(RecordType::Job.states(), &JOB_STATES);
}

#[test]
fn names_round_trip_and_screens_offer_only_allowed_moves() {
    for state in State::ALL {
        assert_eq!(State::parse(state.as_str()), Some(state));
        assert_eq!(
            serde_json::to_value(state).ok(),
            Some(json!(state.as_str()))
        );
    }
    assert_eq!(
        next_states(RecordType::Job, SignedOff, Role::Technician),
        Vec::<State>::new()
    );
    assert_eq!(
        next_states(RecordType::Job, SignedOff, Role::Supervisor),
        vec![Closed]
    );
    assert_eq!(
        next_states(RecordType::Job, InProgress, Role::Technician),
        vec![Paused, SignedOff]
    );
}

#[test]
fn a_reassignment_plan_moves_part_lines_and_inspections_with_the_job() {
    let job = job("in_progress");
    let children = [
        Child {
            record_id: PART,
            record_type: RecordType::PartLine,
            owner: Owner::User("tom".into()),
        },
        Child {
            record_id: NOTE,
            record_type: RecordType::JobNote,
            owner: Owner::User("tom".into()),
        },
    ];
    let to = Owner::User("rita".into());
    let plan =
        plan_reassign(&job, &children, &to, true, &dan(), None).expect("a dispatcher reassigns");
    assert_eq!(plan.owner_epoch, job.owner_epoch + 1);
    assert_eq!(plan.moves_with_job, vec![PART]);
    assert_eq!(plan.schedule.group, Group::Schedule);
    assert_eq!(plan.schedule.values["assignee"], json!("rita"));
    let schedule_version = job.group(Group::Schedule).map(|g| g.version).unwrap_or(0);
    assert_eq!(plan.schedule.version, schedule_version + 1);

    let refused = |r: Result<_, fieldsync_core::Rejection>| r.err().map(|r| r.code);
    assert_eq!(
        refused(plan_reassign(&job, &children, &to, true, &tom(), None)),
        Some(ErrorCode::Forbidden)
    );
    // The warning the dispatcher read was about an earlier owner: the job changed hands since.
    assert_eq!(
        refused(plan_reassign(
            &job,
            &children,
            &to,
            true,
            &dan(),
            Some(job.owner_epoch - 1)
        )),
        Some(ErrorCode::ChangedSinceSeen)
    );
    assert!(plan_reassign(&job, &children, &to, true, &dan(), Some(job.owner_epoch)).is_ok());
    assert_eq!(
        refused(plan_reassign(&job, &children, &to, false, &dan(), None)),
        Some(ErrorCode::BadRequest)
    );
    assert_eq!(
        refused(plan_reassign(
            &job,
            &children,
            &job.owner,
            true,
            &dan(),
            None
        )),
        Some(ErrorCode::BadRequest)
    );
    assert_eq!(
        refused(plan_reassign(
            &common::job("closed"),
            &children,
            &to,
            true,
            &dan(),
            None
        )),
        Some(ErrorCode::RecordLocked)
    );
}

#[test]
fn a_reopen_plan_keeps_the_earlier_visit() {
    let job = job("signed_off");
    let now = chrono::DateTime::UNIX_EPOCH;
    let plan = plan_reopen(&job, &sue(), " the tap leaks again ", now).expect("reopened");
    assert_eq!(plan.state, Reopened);
    assert_eq!(plan.status.values["state"], json!("reopened"));
    assert_eq!(plan.status.values["previous_state"], json!("signed_off"));
    assert_eq!(plan.status.values["visit"], json!(2));
    let visit = &plan.status.values["visits"][0];
    assert_eq!(visit["reason"], json!("the tap leaks again"));
    assert_eq!(visit["reopened_by"], json!("sue"));
    assert_eq!(
        visit["signature"],
        job.group(Group::Signature)
            .map(|g| g.values.clone())
            .unwrap_or_default()
    );

    let code = |r: Result<_, fieldsync_core::Rejection>| r.err().map(|r| r.code);
    assert_eq!(
        code(plan_reopen(&job, &tom(), "why", now)),
        Some(ErrorCode::Forbidden)
    );
    assert_eq!(
        code(plan_reopen(&job, &sue(), "  ", now)),
        Some(ErrorCode::BadRequest)
    );
    assert_eq!(
        code(plan_reopen(&common::job("in_progress"), &sue(), "why", now)),
        Some(ErrorCode::InvalidTransition)
    );
}

#[test]
fn a_held_create_is_kept_or_left_out() {
    assert_eq!(
        resolve_held_create(ResolveChoice::Incoming).ok(),
        Some(HeldCreate::Admit)
    );
    assert_eq!(
        resolve_held_create(ResolveChoice::Current).ok(),
        Some(HeldCreate::LeaveOut)
    );
    assert_eq!(
        resolve_held_create(ResolveChoice::Merged)
            .err()
            .map(|r| r.code),
        Some(ErrorCode::BadRequest)
    );
}

#[test]
fn a_resolution_chosen_on_an_older_picture_is_refused() {
    use fieldsync_core::judge::{resolve, HeldItem};
    let record = job("in_progress");
    let shown = record.group(Group::Status).map(|g| g.version).unwrap_or(0);
    let change = update(
        RecordType::Job,
        Group::Status,
        1,
        2,
        json!({"state": "paused"}),
    );
    let item = HeldItem {
        kind: fieldsync_core::ReviewKind::Conflict,
        group: Some(Group::Status),
        change: &change,
    };
    let policy = fieldsync_core::Policy::default_policy();
    let choose = |seen| {
        resolve(
            &policy,
            &item,
            &record,
            &sue(),
            ResolveChoice::Current,
            None,
            seen,
        )
    };
    assert_eq!(
        choose(Some(shown - 1)).err().map(|r| r.code),
        Some(ErrorCode::ChangedSinceSeen)
    );
    assert!(choose(Some(shown)).is_ok());
    assert!(
        choose(None).is_ok(),
        "a caller that names no version is not checked"
    );
}
