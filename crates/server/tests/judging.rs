//! How the server judges a change, step by step as DESIGN.md lists them, over real HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::Duration;
use common::*;
use fieldsync_core::wire::{OutcomeStatus, ReviewKind};
use fieldsync_core::{Group, Op, Owner, RecordType};
use fieldsync_server::store::ReassignOutcome;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn entries_of(
    history: &fieldsync_server::store::RecordHistory,
    change: &fieldsync_core::Change,
) -> usize {
    history
        .entries
        .iter()
        .filter(|e| e.change_id == change.change_id)
        .count()
}

store_test!(a_change_sent_twice_gets_its_stored_outcome_and_is_applied_once);
async fn a_change_sent_twice_gets_its_stored_outcome_and_is_applied_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;

    let opened = status(job, 1, "opened");
    let first = p.tom.push_one(opened.clone()).await;
    assert_eq!(first.status, OutcomeStatus::Applied);
    assert_eq!(first.version, Some(2));
    assert!(!first.replayed);
    let seq_after_first = server.max_seq().await;

    // The same change id again, alone and twice in one batch: the stored outcome, marked.
    let response = p
        .tom
        .post(
            "/api/v1/sync/push",
            json!({ "changes": [serde_json::to_value(&opened).unwrap()] }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let raw: Value = response.json().await.unwrap();
    assert_eq!(raw["outcomes"][0]["replayed"], json!(true));
    assert_eq!(raw["outcomes"][0]["status"], json!("applied"));
    let batch = p.tom.push(vec![opened.clone(), opened.clone()]).await;
    for again in batch {
        assert!(again.replayed);
        let mut unmarked = again.clone();
        unmarked.replayed = false;
        assert_eq!(
            unmarked, first,
            "a replay gives the stored outcome unchanged"
        );
    }

    // A rejected change replays the same way.
    let stranger = status(job, 1, "in_progress");
    let rejected = p.kai.push_one(stranger.clone()).await;
    assert_eq!(rejected.code.as_deref(), Some("not_owner"));
    let rejected_again = p.kai.push_one(stranger.clone()).await;
    assert!(rejected_again.replayed);
    assert_eq!(rejected_again.code, rejected.code);
    assert_eq!(rejected_again.message, rejected.message);

    // Nothing was applied twice: one log entry each, the status group one step on.
    let history = p.dana.history(RecordType::Job, job).await;
    assert_eq!(entries_of(&history, &opened), 1);
    assert_eq!(entries_of(&history, &stranger), 1);
    assert_eq!(history.record.groups[&Group::Status].version, 2);
    assert_eq!(history.record.state.as_str(), "opened");
    assert_eq!(
        server.max_seq().await,
        seq_after_first + 1,
        "only kai's rejection was logged"
    );
}

store_test!(a_replay_after_a_restart_finds_the_stored_outcome);
async fn a_replay_after_a_restart_finds_the_stored_outcome(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let (olivia, dana, tom) = (
        server.login("olivia").await,
        server.login("dana").await,
        server.login("tom").await,
    );
    let customer = olivia.new_customer("Northgate Bakery").await;
    let job = new_id();
    let created = create(
        RecordType::Job,
        job,
        job_values(customer, "3 Northgate St", Some("tom"), start_time()),
    );
    let created_outcome = dana.apply(created.clone()).await;
    let opened = status(job, 1, "opened");
    let opened_outcome = tom.apply(opened.clone()).await;
    let newest = server.max_seq().await;

    server.restart().await;
    let dana = server.login("dana").await;
    let tom = server.login("tom").await;
    // The reply was lost: both devices send again after the restart.
    let again = dana.push_one(created.clone()).await;
    assert!(again.replayed);
    assert_eq!(again.number, created_outcome.number);
    assert_eq!(again.seq, created_outcome.seq);
    let again = tom.push_one(opened.clone()).await;
    assert!(again.replayed);
    assert_eq!(again.version, opened_outcome.version);
    assert_eq!(again.seq, opened_outcome.seq);

    assert_eq!(server.max_seq().await, newest, "nothing new was logged");
    let history = dana.history(RecordType::Job, job).await;
    assert_eq!(entries_of(&history, &created), 1);
    assert_eq!(entries_of(&history, &opened), 1);
    assert_eq!(history.record.groups[&Group::Status].version, 2);
}

store_test!(a_technician_editing_another_technicians_job_is_not_owner);
async fn a_technician_editing_another_technicians_job_is_not_owner(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("St. Anne's School").await;
    let job = p.dana.new_job(customer, "tom").await;

    // Kai is in another team; Rita is in Tom's team but the job is Tom's own.
    for who in [&p.kai, &p.rita] {
        let outcome = who.push_one(status(job, 1, "opened")).await;
        assert_eq!(outcome.status, OutcomeStatus::Rejected, "{}", who.user);
        assert_eq!(outcome.code.as_deref(), Some("not_owner"));
        assert!(outcome.version.is_none() && outcome.seq.is_none());
    }
    let note = p
        .kai
        .push_one(create(
            RecordType::JobNote,
            new_id(),
            json!({"text": {"job_id": job.to_string(), "text": "not my job"}}),
        ))
        .await;
    assert_eq!(note.code.as_deref(), Some("not_owner"));

    let history = p.dana.history(RecordType::Job, job).await;
    assert_eq!(history.record.state.as_str(), "assigned");
    assert_eq!(history.record.groups[&Group::Status].version, 1);
    let rejected: Vec<_> = history
        .entries
        .iter()
        .filter(|e| e.outcome.status == OutcomeStatus::Rejected)
        .map(|e| e.author.as_str())
        .collect();
    assert_eq!(
        rejected,
        ["kai", "rita"],
        "every outcome is in the change log"
    );
}

store_test!(a_role_the_policy_does_not_name_is_forbidden);
async fn a_role_the_policy_does_not_name_is_forbidden(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Riverside Clinic").await;
    let job = p.dana.new_job(customer, "tom").await;

    // Finance does not write a job's status; office staff do not create jobs; a technician
    // does not create invoices, nor a job for someone else.
    let finance = p.fiona.push_one(status(job, 1, "opened")).await;
    assert_eq!(finance.code.as_deref(), Some("forbidden"));
    let office = p
        .olivia
        .push_one(create(
            RecordType::Job,
            new_id(),
            job_values(customer, "8 Mill Walk", Some("tom"), start_time()),
        ))
        .await;
    assert_eq!(office.code.as_deref(), Some("forbidden"));
    let invoice = p
        .tom
        .push_one(create(
            RecordType::Invoice,
            new_id(),
            json!({"totals": {"job_id": job.to_string(), "total": 10.0, "currency": "GBP"}}),
        ))
        .await;
    assert_eq!(invoice.code.as_deref(), Some("forbidden"));
    let for_kai = p
        .tom
        .push_one(create(
            RecordType::Job,
            new_id(),
            job_values(customer, "9 Mill Walk", Some("kai"), start_time()),
        ))
        .await;
    assert_eq!(for_kai.code.as_deref(), Some("forbidden"));
    for outcome in [finance, office, invoice, for_kai] {
        assert_eq!(outcome.status, OutcomeStatus::Rejected);
    }
    let history = p.dana.history(RecordType::Job, job).await;
    assert_eq!(history.record.groups[&Group::Status].version, 1);
}

store_test!(an_edit_made_before_a_reassignment_is_held_for_the_dispatcher);
async fn an_edit_made_before_a_reassignment_is_held_for_the_dispatcher(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;

    let response = p.dana.reassign(job, "rita").await;
    assert_eq!(response.status(), StatusCode::OK);
    let moved: ReassignOutcome = response.json().await.unwrap();
    assert_eq!(moved.moved.from, Owner::User("tom".into()));
    assert_eq!(moved.moved.to, Owner::User("rita".into()));
    assert_eq!(moved.moved.owner_epoch, 2);
    assert_eq!(moved.record.owner, Owner::User("rita".into()));
    assert_eq!(moved.record.owner_epoch, 2);

    // Tom was offline and edits under the epoch he knew.
    let offline = status(job, 1, "in_progress");
    let held = p.tom.push_one(offline.clone()).await;
    assert_eq!(held.status, OutcomeStatus::Held);
    assert_eq!(held.code.as_deref(), Some("ownership_moved"));
    let review_id = held.review_id.unwrap();

    let inbox = p.dana.review().await;
    let item = inbox.iter().find(|i| i.review_id == review_id).unwrap();
    assert_eq!(item.kind, ReviewKind::OwnershipMoved);
    assert_eq!(item.record_id, job);
    assert_eq!(item.change_id, offline.change_id);
    assert_eq!(item.incoming.author.as_deref(), Some("tom"));
    assert_eq!(item.incoming.device_id, Some(p.tom.device_id));
    assert_eq!(item.incoming.values, offline.values);
    assert_eq!(item.state, "open");

    // Nothing silently applied: the job stands as it was, and its new owner writes on.
    let history = p.dana.history(RecordType::Job, job).await;
    assert_eq!(history.record.state.as_str(), "assigned");
    assert_eq!(history.record.groups[&Group::Status].version, 1);
    let rita = p
        .rita
        .apply(change(
            RecordType::Job,
            job,
            Some(Group::Status),
            Op::Update,
            1,
            json!({"state": "opened"}),
            2,
        ))
        .await;
    assert_eq!(rita.version, Some(2));

    // An epoch from the future is stale, not a hold.
    let future = p
        .rita
        .push_one(change(
            RecordType::Job,
            job,
            Some(Group::Description),
            Op::Update,
            1,
            json!({"summary": "from the future"}),
            3,
        ))
        .await;
    assert_eq!(future.code.as_deref(), Some("stale_owner_epoch"));
}

store_test!(a_change_to_a_locked_group_is_rejected_and_kept_in_the_history);
async fn a_change_to_a_locked_group_is_rejected_and_kept_in_the_history(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Northgate Bakery").await;
    let job = p.dana.new_job(customer, "tom").await;
    p.tom
        .apply(update(
            RecordType::Job,
            job,
            Group::Signature,
            1,
            json!({"signer": "Ms Hill", "signed_at": start_time().to_rfc3339()}),
        ))
        .await;
    p.tom.apply(status(job, 1, "signed_off")).await;

    let late = update(
        RecordType::Job,
        job,
        Group::Signature,
        2,
        json!({"signer": "Mr Hill"}),
    );
    let outcome = p.tom.push_one(late.clone()).await;
    assert_eq!(outcome.status, OutcomeStatus::Rejected);
    assert_eq!(outcome.code.as_deref(), Some("record_locked"));

    let history = p.tom.history(RecordType::Job, job).await;
    assert_eq!(
        history.record.groups[&Group::Signature].values["signer"],
        json!("Ms Hill")
    );
    assert_eq!(history.record.groups[&Group::Signature].version, 2);
    let entry = history
        .entries
        .iter()
        .find(|e| e.change_id == late.change_id)
        .expect("the rejected change is in the change log");
    assert_eq!(entry.outcome.status, OutcomeStatus::Rejected);
    assert_eq!(entry.outcome.code.as_deref(), Some("record_locked"));
    assert_eq!(entry.values, late.values, "its data stays for a follow-up");
    assert_eq!(entry.author, "tom");
    assert_eq!(entry.device_id, Some(p.tom.device_id));
}

store_test!(a_change_on_the_current_version_is_applied_as_the_next);
async fn a_change_on_the_current_version_is_applied_as_the_next(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;

    let first = p
        .tom
        .apply(update(
            RecordType::Job,
            job,
            Group::Description,
            1,
            json!({"summary": "boiler"}),
        ))
        .await;
    assert_eq!(first.version, Some(2));
    let second = p
        .tom
        .apply(update(
            RecordType::Job,
            job,
            Group::Description,
            2,
            json!({"summary": "boiler and radiator"}),
        ))
        .await;
    assert_eq!(second.version, Some(3));
    assert!(second.seq > first.seq);
    assert!(second
        .number
        .as_deref()
        .is_some_and(|n| n.starts_with("J-")));

    let pulled = p.tom.pull(0).await;
    let versions: Vec<i64> = pulled
        .changes
        .iter()
        .filter(|c| c.record_id == job && c.group == Some(Group::Description))
        .map(|c| c.version)
        .collect();
    assert_eq!(versions, [2, 3]);
    let history = p.tom.history(RecordType::Job, job).await;
    assert_eq!(
        history.record.groups[&Group::Description].values["summary"],
        json!("boiler and radiator")
    );
}

store_test!(last_write_wins_applies_a_stale_base_and_keeps_the_overwritten_value);
async fn last_write_wins_applies_a_stale_base_and_keeps_the_overwritten_value(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;

    let toms = update(
        RecordType::Job,
        job,
        Group::Description,
        1,
        json!({"summary": "tom's words"}),
    );
    p.tom.apply(toms.clone()).await;
    let danas = p
        .dana
        .apply(update(
            RecordType::Job,
            job,
            Group::Description,
            1,
            json!({"summary": "dana's words"}),
        ))
        .await;
    assert_eq!(danas.version, Some(3), "server order decides");

    let history = p.dana.history(RecordType::Job, job).await;
    assert_eq!(
        history.record.groups[&Group::Description].values["summary"],
        json!("dana's words")
    );
    let overwritten = history
        .entries
        .iter()
        .find(|e| e.change_id == toms.change_id)
        .unwrap();
    assert_eq!(overwritten.values["summary"], json!("tom's words"));
}

store_test!(manual_review_holds_a_stale_base_with_base_current_and_incoming);
async fn manual_review_holds_a_stale_base_with_base_current_and_incoming(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let sam = server.login_device("sam", "Supervisor laptop").await;
    let customer = p.olivia.new_customer("St. Anne's School").await;
    let job = p.dana.new_job(customer, "tom").await;

    server.clock.advance(Duration::minutes(5));
    sam.apply(status(job, 1, "in_progress")).await;
    server.clock.advance(Duration::minutes(5));
    let incoming = status(job, 1, "opened");
    let held = p.tom.push_one(incoming.clone()).await;
    assert_eq!(held.status, OutcomeStatus::Held);
    assert_eq!(held.code.as_deref(), Some("conflict"));
    assert!(held.version.is_none());

    let inbox = sam.review().await;
    let item = inbox
        .iter()
        .find(|i| Some(i.review_id) == held.review_id)
        .unwrap();
    assert_eq!(item.kind, ReviewKind::Conflict);
    assert_eq!(item.group, Some(Group::Status));
    assert!(item.resolvers.contains(&fieldsync_core::Role::Supervisor));

    let base = item.base.as_ref().expect("the base side");
    assert_eq!(base.version, Some(1));
    assert_eq!(base.values["state"], json!("assigned"));
    assert_eq!(base.author.as_deref(), Some("dana"));

    let current = item.current.as_ref().expect("the current side");
    assert_eq!(current.version, Some(2));
    assert_eq!(current.values["state"], json!("in_progress"));
    assert_eq!(current.author.as_deref(), Some("sam"));
    assert_eq!(current.device_id, Some(sam.device_id));
    assert_eq!(current.device_name.as_deref(), Some("Supervisor laptop"));
    assert_eq!(
        current.server_time,
        Some(start_time() + Duration::minutes(5))
    );

    assert_eq!(item.incoming.values["state"], json!("opened"));
    assert_eq!(item.incoming.author.as_deref(), Some("tom"));
    assert_eq!(item.incoming.device_id, Some(p.tom.device_id));
    assert_eq!(item.incoming.device_name.as_deref(), Some("tom's device"));
    assert_eq!(
        item.incoming.server_time,
        Some(start_time() + Duration::minutes(10))
    );
    assert!(item.incoming.device_time.is_some());

    // The group is contested and stands at the current version until someone resolves it.
    let history = p.dana.history(RecordType::Job, job).await;
    let group = &history.record.groups[&Group::Status];
    assert!(group.contested);
    assert_eq!(group.version, 2);
    assert_eq!(history.record.state.as_str(), "in_progress");
    // The technician sees the item they caused in their inbox too.
    assert!(p
        .tom
        .review()
        .await
        .iter()
        .any(|i| Some(i.review_id) == held.review_id));
}

store_test!(append_only_notes_from_two_devices_are_both_applied);
async fn append_only_notes_from_two_devices_are_both_applied(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let phone = server.login_device("tom", "Tom's phone").await;
    assert_ne!(phone.device_id, p.tom.device_id);
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;

    // Both devices saw the job at the same moment and each adds a note and a part line.
    let tablet_note = p.tom.new_note(job, "valve seized").await;
    let phone_note = phone.new_note(job, "customer says it rattles").await;
    let dispatcher_note = p.dana.new_note(job, "customer will be home after 10").await;
    let tablet_part = p.tom.new_part_line(job, "TRV-15", 2).await;
    let phone_part = phone.new_part_line(job, "TRV-15", 1).await;

    let pulled = p.tom.pull(0).await;
    for id in [
        tablet_note,
        phone_note,
        dispatcher_note,
        tablet_part,
        phone_part,
    ] {
        let created: Vec<_> = pulled
            .changes
            .iter()
            .filter(|c| c.record_id == id)
            .collect();
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].op, Op::Create);
        assert_eq!(created[0].version, 1);
    }
    let devices: Vec<_> = pulled
        .changes
        .iter()
        .filter(|c| c.record_type == RecordType::JobNote && c.author == "tom")
        .map(|c| c.device_id)
        .collect();
    assert_eq!(devices, [Some(p.tom.device_id), Some(phone.device_id)]);

    // An edit of an existing part line is for a person to approve.
    let edit = p
        .tom
        .push_one(update(
            RecordType::PartLine,
            tablet_part,
            Group::Line,
            1,
            json!({"quantity": 3}),
        ))
        .await;
    assert_eq!(edit.status, OutcomeStatus::Held);
    assert_eq!(edit.code.as_deref(), Some("conflict"));
    let line = p.tom.history(RecordType::PartLine, tablet_part).await;
    assert_eq!(
        line.record.groups[&Group::Line].values["quantity"],
        json!(2)
    );
}

store_test!(a_void_that_meets_an_update_goes_to_review_in_either_order);
async fn a_void_that_meets_an_update_goes_to_review_in_either_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Riverside Clinic").await;

    // The void arrives first, then the technician's update made before it.
    let first = p.dana.new_job(customer, "tom").await;
    let voided = p
        .dana
        .apply(void(RecordType::Job, first, 1, "customer cancelled"))
        .await;
    assert_eq!(voided.version, Some(2));
    let late_update = p.tom.push_one(status(first, 1, "in_progress")).await;
    assert_eq!(late_update.status, OutcomeStatus::Held);
    assert_eq!(late_update.code.as_deref(), Some("void_vs_update"));
    let history = p.dana.history(RecordType::Job, first).await;
    assert_eq!(history.record.state.as_str(), "voided");
    assert_eq!(
        history.record.groups[&Group::Status].values["reason"],
        json!("customer cancelled")
    );

    // The update arrives first, then a void made on the version before it.
    let second = p.dana.new_job(customer, "tom").await;
    p.tom.apply(status(second, 1, "in_progress")).await;
    let late_void = p
        .dana
        .push_one(void(RecordType::Job, second, 1, "customer cancelled"))
        .await;
    assert_eq!(late_void.status, OutcomeStatus::Held);
    assert_eq!(late_void.code.as_deref(), Some("void_vs_update"));
    let history = p.dana.history(RecordType::Job, second).await;
    assert_eq!(history.record.state.as_str(), "in_progress");

    let inbox = p.dana.review().await;
    for held in [&late_update, &late_void] {
        let item = inbox
            .iter()
            .find(|i| Some(i.review_id) == held.review_id)
            .unwrap();
        assert_eq!(item.kind, ReviewKind::VoidVsUpdate);
        assert!(item.resolvers.contains(&fieldsync_core::Role::Dispatcher));
    }
}

store_test!(a_second_job_for_the_same_customer_site_and_day_is_flagged);
async fn a_second_job_for_the_same_customer_site_and_day_is_flagged(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let morning = start_time() + Duration::minutes(30);
    let first = p
        .dana
        .new_job_at(customer, "12 Harbour Rd", "tom", morning)
        .await;
    let first_number = p.dana.history(RecordType::Job, first).await.record.number;

    // Tom, on site, opens a job of his own for the same call.
    let second = new_id();
    let outcome = p
        .tom
        .push_one(create(
            RecordType::Job,
            second,
            job_values(
                customer,
                " 12  harbour RD ",
                None,
                morning + Duration::hours(5),
            ),
        ))
        .await;
    assert_eq!(outcome.status, OutcomeStatus::Applied, "flagged, not held");
    assert_eq!(outcome.flags, ["possible_duplicate"]);
    let review_id = outcome.review_id.expect("a review item");

    let inbox = p.dana.review().await;
    let item = inbox.iter().find(|i| i.review_id == review_id).unwrap();
    assert_eq!(item.kind, ReviewKind::PossibleDuplicate);
    assert_eq!(item.record_id, second);
    assert_eq!(item.matched_record_id, Some(first));
    assert_eq!(item.matched_number, first_number);
    assert_eq!(item.incoming.author.as_deref(), Some("tom"));
    assert_eq!(
        p.tom.history(RecordType::Job, second).await.record.owner,
        Owner::User("tom".into())
    );

    // Another day, or another site, is not a duplicate.
    for (site, when) in [
        ("12 Harbour Rd", morning + Duration::days(1)),
        ("14 Harbour Rd", morning),
    ] {
        let other = p
            .dana
            .apply(create(
                RecordType::Job,
                new_id(),
                job_values(customer, site, Some("rita"), when),
            ))
            .await;
        assert!(other.flags.is_empty(), "{site} {when}");
        assert!(other.review_id.is_none());
    }
}

/// A status conflict on a new job of Tom's: Sam moved it to `in_progress`, Tom (from the same
/// version) to `opened`. Returns the job and the review item.
async fn status_conflict(
    p: &People,
    customer: fieldsync_core::RecordId,
) -> (fieldsync_core::RecordId, fieldsync_core::ReviewId) {
    let job = p.dana.new_job(customer, "tom").await;
    p.sam.apply(status(job, 1, "in_progress")).await;
    let held = p.tom.push_one(status(job, 1, "paused")).await;
    assert_eq!(held.status, OutcomeStatus::Held);
    (job, held.review_id.unwrap())
}

store_test!(a_supervisor_resolves_a_status_conflict_with_each_choice);
async fn a_supervisor_resolves_a_status_conflict_with_each_choice(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("St. Anne's School").await;

    for (choice, values, expected) in [
        ("incoming", None, "paused"),
        ("current", None, "in_progress"),
        ("merged", Some(json!({"state": "opened"})), "opened"),
    ] {
        let (job, review_id) = status_conflict(&p, customer).await;
        let mut body = json!({ "choice": choice });
        if let Some(values) = &values {
            body["values"] = values.clone();
        }
        let resolved = p.sam.resolve(review_id, body).await;
        assert_eq!(resolved.outcome.status, OutcomeStatus::Applied, "{choice}");
        assert_eq!(resolved.outcome.version, Some(3), "{choice}: a new version");
        assert_eq!(resolved.item.state, "resolved");
        assert_eq!(resolved.item.resolution.as_deref(), Some(choice));
        assert_eq!(resolved.item.resolved_by.as_deref(), Some("sam"));

        let history = p.dana.history(RecordType::Job, job).await;
        let group = &history.record.groups[&Group::Status];
        assert!(!group.contested, "{choice}: contested cleared");
        assert_eq!(group.version, 3);
        assert_eq!(group.values["state"], json!(expected), "{choice}");
        assert_eq!(history.record.state.as_str(), expected, "{choice}");
        let resolution = history.entries.last().unwrap();
        assert_eq!(resolution.kind.as_str(), "resolution");
        assert_eq!(resolution.author, "sam");
        assert_eq!(resolution.outcome.seq, resolved.outcome.seq);
        assert_eq!(resolution.values["state"], json!(expected));

        // The item left the open inbox, and the group takes changes on the new version again.
        assert!(!p
            .sam
            .review()
            .await
            .iter()
            .any(|i| i.review_id == review_id));
        let next = p.tom.push_one(update(
            RecordType::Job,
            job,
            Group::Status,
            3,
            json!({"state": "signed_off"}),
        ));
        assert_eq!(next.await.status, OutcomeStatus::Applied, "{choice}");
    }
}

store_test!(only_the_named_resolvers_resolve_and_only_once);
async fn only_the_named_resolvers_resolve_and_only_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Riverside Clinic").await;
    let (job, review_id) = status_conflict(&p, customer).await;

    for who in [&p.tom, &p.fiona] {
        let response = who
            .resolve_raw(review_id, json!({"choice": "incoming"}))
            .await;
        expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let history = p.dana.history(RecordType::Job, job).await;
    assert!(history.record.groups[&Group::Status].contested);
    assert_eq!(history.record.groups[&Group::Status].version, 2);

    p.sam.resolve(review_id, json!({"choice": "current"})).await;
    let newest = server.max_seq().await;
    let twice = p
        .sam
        .resolve_raw(review_id, json!({"choice": "incoming"}))
        .await;
    expect_error(twice, StatusCode::CONFLICT, "already_resolved").await;
    assert_eq!(
        server.max_seq().await,
        newest,
        "the second resolution wrote nothing"
    );
    let history = p.dana.history(RecordType::Job, job).await;
    assert_eq!(history.record.state.as_str(), "in_progress");
}

store_test!(a_reopened_job_keeps_its_signature_and_starts_a_new_visit);
async fn a_reopened_job_keeps_its_signature_and_starts_a_new_visit(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let signed_at = start_time().to_rfc3339();
    p.tom
        .apply(update(
            RecordType::Job,
            job,
            Group::Signature,
            1,
            json!({"signer": "J. Harbour", "signed_at": signed_at}),
        ))
        .await;
    p.tom
        .apply(update(
            RecordType::Job,
            job,
            Group::Work,
            1,
            json!({"labour_hours": 2.5}),
        ))
        .await;
    p.tom.new_note(job, "all done").await;
    p.tom.apply(status(job, 1, "signed_off")).await;

    let response = p.sam.reopen(job, "the leak is back").await;
    assert_eq!(response.status(), StatusCode::OK);
    let outcome: fieldsync_core::Outcome = response.json().await.unwrap();
    assert_eq!(outcome.status, OutcomeStatus::Applied);
    assert_eq!(outcome.version, Some(3));

    let history = p.tom.history(RecordType::Job, job).await;
    assert_eq!(history.record.state.as_str(), "reopened");
    let signature = &history.record.groups[&Group::Signature];
    assert_eq!(signature.values["signer"], json!("J. Harbour"));
    assert_eq!(signature.version, 2);
    assert_eq!(
        history.record.groups[&Group::Work].values["labour_hours"],
        json!(2.5)
    );
    let status_values = &history.record.groups[&Group::Status].values;
    assert_eq!(status_values["visit"], json!(2));
    assert_eq!(status_values["previous_state"], json!("signed_off"));
    assert_eq!(
        status_values["visits"][0]["signature"]["signer"],
        json!("J. Harbour")
    );
    assert_eq!(
        status_values["visits"][0]["reason"],
        json!("the leak is back")
    );
    let entry = history.entries.last().unwrap();
    assert_eq!(entry.kind.as_str(), "reopen");
    assert_eq!(entry.author, "sam");

    // The new visit is open for work again.
    p.tom.apply(status(job, 3, "in_progress")).await;
    p.tom.new_note(job, "second visit").await;
    // A job that is not signed off or closed is not reopened.
    let again = p.sam.reopen(job, "again").await;
    expect_error(again, StatusCode::CONFLICT, "invalid_transition").await;
    let value: Value = serde_json::to_value(&history.record).unwrap();
    assert_eq!(value["owner"], json!({"kind": "user", "name": "tom"}));
}

store_test!(a_change_that_names_another_record_type_is_unknown_record);
async fn a_change_that_names_another_record_type_is_unknown_record(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let invoice = new_id();
    p.fiona
        .apply(create(
            RecordType::Invoice,
            invoice,
            json!({"totals": {"job_id": job.to_string(), "total": 120.0, "currency": "GBP"}}),
        ))
        .await;
    p.fiona
        .apply(update(
            RecordType::Invoice,
            invoice,
            Group::Status,
            1,
            json!({"state": "sent"}),
        ))
        .await;

    // A supervisor may void jobs, not invoices; calling the invoice a job must not get round
    // that, nor the job's rules round the invoice's lock or its states.
    let as_job = |op: Op, values: Value| {
        change(
            RecordType::Job,
            invoice,
            Some(Group::Status),
            op,
            2,
            values,
            1,
        )
    };
    for (who, attempt) in [
        (&p.sam, as_job(Op::Void, json!({"reason": "not a job"}))),
        (&p.dana, as_job(Op::Void, json!({"reason": "not a job"}))),
        (
            &p.fiona,
            as_job(Op::Void, json!({"reason": "sent, but call it a job"})),
        ),
        (&p.sam, as_job(Op::Update, json!({"state": "closed"}))),
    ] {
        let outcome = who.push_one(attempt).await;
        assert_eq!(outcome.status, OutcomeStatus::Rejected, "{}", who.user);
        assert_eq!(
            outcome.code.as_deref(),
            Some("unknown_record"),
            "{}",
            who.user
        );
    }
    // A job's rules on a customer's id find no such group either way.
    let outcome = p
        .dana
        .push_one(change(
            RecordType::Job,
            customer,
            Some(Group::Description),
            Op::Update,
            1,
            json!({"summary": "x"}),
            1,
        ))
        .await;
    assert_eq!(outcome.status, OutcomeStatus::Rejected);

    let history = p.fiona.history(RecordType::Invoice, invoice).await;
    assert_eq!(history.record.state.as_str(), "sent");
    assert_eq!(history.record.groups[&Group::Status].version, 2);
    // The invoice's own rules still apply to its own type.
    let void = p
        .fiona
        .push_one(void(
            RecordType::Invoice,
            invoice,
            2,
            "customer disputes it",
        ))
        .await;
    assert_eq!(void.status, OutcomeStatus::Applied);
    assert_eq!(
        p.fiona
            .history(RecordType::Invoice, invoice)
            .await
            .record
            .state
            .as_str(),
        "void"
    );
}

store_test!(a_resolution_that_keeps_the_current_version_logs_it_whole);
async fn a_resolution_that_keeps_the_current_version_logs_it_whole(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    assert_eq!(p.dana.reassign(job, "rita").await.status(), StatusCode::OK);
    let held = p.tom.push_one(status(job, 1, "opened")).await;
    assert_eq!(held.code.as_deref(), Some("ownership_moved"));

    // The dispatcher keeps what stands: the record does not change.
    let resolved = p
        .dana
        .resolve(held.review_id.unwrap(), json!({"choice": "current"}))
        .await;
    assert_eq!(resolved.outcome.status, OutcomeStatus::Applied);
    let history = p.dana.history(RecordType::Job, job).await;
    let standing = history.record.groups[&Group::Status].clone();
    assert_eq!(standing.version, 1);
    assert_eq!(standing.values["state"], json!("assigned"));
    assert_eq!(history.entries.last().unwrap().kind.as_str(), "resolution");

    // A device that applies what it pulls, group version by group version, ends where the
    // server stands: no logged version of a group may carry other values than it had.
    let pulled = p.rita.pull(0).await;
    let mut status_group = None;
    for c in &pulled.changes {
        if c.record_id != job {
            continue;
        }
        match (c.op, c.group) {
            (Op::Create, _) => status_group = Some((c.version, c.values["status"].clone())),
            (_, Some(Group::Status)) => status_group = Some((c.version, c.values.clone())),
            _ => {}
        }
    }
    assert_eq!(
        status_group,
        Some((standing.version, standing.values.clone()))
    );

    // A later conflict made on that version shows it as it stood.
    p.sam.apply(status(job, 1, "in_progress")).await;
    let conflict = p
        .rita
        .push_one(change(
            RecordType::Job,
            job,
            Some(Group::Status),
            Op::Update,
            1,
            json!({"state": "paused"}),
            2,
        ))
        .await;
    let item = p
        .sam
        .review()
        .await
        .into_iter()
        .find(|i| Some(i.review_id) == conflict.review_id)
        .unwrap();
    assert_eq!(item.base.unwrap().values["state"], json!("assigned"));
}

store_test!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    concurrent_pushes_on_one_version_never_both_win
);
async fn concurrent_pushes_on_one_version_never_both_win(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let phone = server.login_device("tom", "Tom's phone").await;
    let laptop = server.login_device("sam", "Supervisor laptop").await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;

    // Three different moves, each allowed from where the job stands (a sign-off arriving first
    // would lock the job for the others: the lifecycle's rule, not a collision).
    let attempts = [
        (&p.tom, "opened"),
        (&phone, "in_progress"),
        (&laptop, "paused"),
    ];
    let outcomes = futures::future::join_all(
        attempts
            .iter()
            .map(|(who, state)| who.push_one(status(job, 1, state))),
    )
    .await;
    let applied: Vec<_> = outcomes
        .iter()
        .filter(|o| o.status == OutcomeStatus::Applied)
        .collect();
    assert_eq!(applied.len(), 1, "{outcomes:?}");
    assert_eq!(applied[0].version, Some(2));
    assert!(outcomes
        .iter()
        .filter(|o| o.status != OutcomeStatus::Applied)
        .all(|o| o.status == OutcomeStatus::Held && o.code.as_deref() == Some("conflict")));

    let history = p.dana.history(RecordType::Job, job).await;
    assert_eq!(history.record.groups[&Group::Status].version, 2);
    let held = p.sam.review().await;
    assert_eq!(
        held.iter().filter(|i| i.record_id == job).count(),
        attempts.len() - 1
    );

    // A held change sent again is the same hold, not a second review item.
    let first_held = outcomes
        .iter()
        .zip(&attempts)
        .find(|(o, _)| o.status == OutcomeStatus::Held)
        .unwrap();
    let open_before = p.sam.review().await.len();
    let history = p.dana.history(RecordType::Job, job).await;
    let entry = history
        .entries
        .iter()
        .find(|e| e.outcome.review_id == first_held.0.review_id)
        .unwrap();
    let resent = fieldsync_core::Change {
        change_id: entry.change_id,
        ..status(job, 1, first_held.1 .1)
    };
    let again = first_held.1 .0.push_one(resent).await;
    assert!(again.replayed);
    assert_eq!(again.status, OutcomeStatus::Held);
    assert_eq!(again.review_id, first_held.0.review_id);
    assert_eq!(p.sam.review().await.len(), open_before);
}

store_test!(a_note_made_offline_on_a_job_that_moved_is_held_then_kept_or_left_out);
async fn a_note_made_offline_on_a_job_that_moved_is_held_then_kept_or_left_out(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    assert_eq!(p.dana.reassign(job, "rita").await.status(), StatusCode::OK);

    // Tom, offline, adds two notes under the epoch he knew.
    let note = |text: &str| {
        change(
            RecordType::JobNote,
            new_id(),
            None,
            Op::Create,
            0,
            json!({"text": {"job_id": job.to_string(), "text": text}}),
            1,
        )
    };
    let kept = note("valve replaced");
    let dropped = note("customer was rude");
    let outcomes = p.tom.push(vec![kept.clone(), dropped.clone()]).await;
    for outcome in &outcomes {
        assert_eq!(outcome.status, OutcomeStatus::Held, "{outcome:?}");
        assert_eq!(outcome.code.as_deref(), Some("ownership_moved"));
    }
    // Not created yet: nothing applied silently.
    let before = p.dana.pull_all().await;
    assert!(!record_ids(&before).contains(&kept.record_id));

    // The dispatcher keeps one: it is created as Tom's note; the other stays out.
    let resolved = p
        .dana
        .resolve(
            outcomes[0].review_id.unwrap(),
            json!({"choice": "incoming"}),
        )
        .await;
    assert_eq!(resolved.outcome.status, OutcomeStatus::Applied);
    assert!(resolved.outcome.number.is_some());
    let left_out = p
        .dana
        .resolve(outcomes[1].review_id.unwrap(), json!({"choice": "current"}))
        .await;
    assert_eq!(left_out.item.state, "resolved");
    let history = p.dana.history(RecordType::JobNote, kept.record_id).await;
    assert_eq!(history.record.owner, Owner::User("tom".into()));
    assert_eq!(
        history.record.groups[&Group::Text].values["text"],
        json!("valve replaced")
    );
    let after = p.rita.pull_all().await;
    assert!(
        record_ids(&after).contains(&kept.record_id),
        "the new owner sees the kept note"
    );
    assert!(!record_ids(&after).contains(&dropped.record_id));
    // A stranger's note is refused whatever epoch it names.
    let stranger = p.kai.push_one(note("not mine")).await;
    assert_eq!(stranger.code.as_deref(), Some("not_owner"));
}

store_test!(an_office_action_on_a_picture_that_moved_is_refused_with_the_new_one);
/// A reassignment names the ownership epoch its warning was about, a resolution the version of
/// the group its card showed as current: when either moved meanwhile, the action is refused
/// with `changed_since_seen` and a sentence, and nothing changes; on the picture as it now is,
/// it goes through. Callers that name neither are not checked (older clients).
async fn an_office_action_on_a_picture_that_moved_is_refused_with_the_new_one(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;

    // The dispatcher's warning was about epoch 1; another dispatcher moves the job first.
    let path = format!("/api/v1/records/job/{job}/reassign");
    let moved = p
        .dana
        .post(
            &path,
            json!({"owner": {"kind": "user", "name": "kai"}, "owner_epoch": 1}),
        )
        .await;
    assert_eq!(moved.status(), StatusCode::OK);
    let stale = p
        .dana
        .post(
            &path,
            json!({"owner": {"kind": "user", "name": "rita"}, "owner_epoch": 1}),
        )
        .await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(body["code"], json!("changed_since_seen"), "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("This changed since you opened it"));
    let history = p.dana.history(RecordType::Job, job).await;
    assert_eq!(history.record.owner, Owner::User("kai".into()));
    let fresh = p
        .dana
        .post(
            &path,
            json!({"owner": {"kind": "user", "name": "rita"}, "owner_epoch": 2}),
        )
        .await;
    assert_eq!(fresh.status(), StatusCode::OK);

    // Two colliding status changes make a card whose current side is version 2; a resolution
    // of another card moves the group to 3 before this one is chosen.
    p.sam.apply(status(job, 1, "opened")).await;
    for state in ["in_progress", "paused"] {
        let held = p.sam.push_one(status(job, 1, state)).await;
        assert_eq!(held.status, OutcomeStatus::Held);
    }
    let inbox = p.sam.review().await;
    let cards: Vec<_> = inbox.iter().filter(|i| i.record_id == job).collect();
    assert_eq!(cards.len(), 2);
    let shown = cards[1].current.as_ref().unwrap().version.unwrap();
    let first = p
        .sam
        .resolve(
            cards[0].review_id,
            json!({"choice": "current", "current_version": shown}),
        )
        .await;
    assert_eq!(first.outcome.status, OutcomeStatus::Applied);
    let late = p
        .sam
        .resolve_raw(
            cards[1].review_id,
            json!({"choice": "incoming", "current_version": shown}),
        )
        .await;
    assert_eq!(late.status(), StatusCode::CONFLICT);
    let body: Value = late.json().await.unwrap();
    assert_eq!(body["code"], json!("changed_since_seen"), "{body}");
    let now = p.dana.history(RecordType::Job, job).await.record.groups[&Group::Status].version;
    assert_eq!(now, shown + 1, "the late choice changed nothing");
    // Read again, the card shows the group as it stands now: the version the first resolution
    // wrote, with its values and who made it (it once kept showing the old current for ever).
    let reread = p.sam.review().await;
    let card = reread
        .iter()
        .find(|i| i.review_id == cards[1].review_id)
        .unwrap();
    let current = card.current.as_ref().unwrap();
    assert_eq!(current.version, Some(now));
    assert_eq!(current.values["state"], json!("opened"));
    assert_eq!(current.author.as_deref(), Some("sam"));
    let again = p
        .sam
        .resolve(
            cards[1].review_id,
            json!({"choice": "incoming", "current_version": now}),
        )
        .await;
    assert_eq!(again.outcome.status, OutcomeStatus::Applied);
}
