//! People colliding while offline: two users edit the same job, one voids what another updates,
//! a job is reassigned while its owner is offline, and the same job is open on two devices of
//! one person. Each ends with every change on the server once, nothing lost from the device's
//! history, and the plain words a person sees.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_client::{ChangeState, NewChange, OutboxState};
use fieldsync_core::{Group, Op, OutcomeStatus, Owner, RecordId, RecordType, ReviewKind};
use serde_json::json;

const REVIEW: &str = "Another update changed this record. Review before sending again.";

fn void(job: RecordId, reason: &str) -> NewChange {
    NewChange {
        change_id: None,
        record_type: RecordType::Job,
        record_id: job,
        group: Some(Group::Status),
        op: Op::Void,
        values: json!({ "reason": reason }),
        file_sha256: None,
    }
}

/// How often each change id appears in a record's change log on the server.
async fn log_count(
    api: &Api,
    record_type: RecordType,
    record: RecordId,
    id: fieldsync_core::ChangeId,
) -> usize {
    api.history(record_type, record)
        .await
        .entries
        .iter()
        .filter(|e| e.change_id == id)
        .count()
}

#[tokio::test]
async fn two_users_change_a_job_status_offline_one_is_applied_one_held_with_its_data_kept() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Westgate Dairy").await;
    let tom = harness.device("tom", "tom's phone", 30).await;
    let sam = harness.device("sam", "sam's desktop", 31).await;
    tom.client.sync_once().await.unwrap();
    sam.client.sync_once().await.unwrap();

    // Both offline. Tom works the job; the office moves its status meanwhile.
    harness.proxy.go_down();
    let note_id = tom
        .save(note(&tom, setup.job, "descaled the heat exchanger"))
        .await;
    let part_id = tom.save(part(&tom, setup.job, "GASKET-9", 1)).await;
    let sha = tom
        .client
        .attach_file(&photo_bytes(30_000, 5))
        .await
        .unwrap();
    let photo_id = tom
        .save(photo(&tom, setup.job, &sha, "after descaling"))
        .await;
    let tom_status = tom.save(status(setup.job, "in_progress")).await;
    let sam_status = sam.save(status(setup.job, "paused")).await;
    harness.proxy.come_back();

    let report = sam.client.sync_once().await.unwrap();
    assert_eq!(report.applied, 1);
    assert_eq!(sam.label(sam_status).await, "Synced");

    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(
        (report.applied, report.held, report.rejected),
        (3, 1, 0),
        "{report:?}"
    );
    assert_eq!(
        report.summary,
        vec![format!(
            "{}: Your notes, parts and photos synced. Job status needs review because someone changed it in the office.",
            setup.number
        )]
    );
    assert_eq!(tom.client.status().await.unwrap().summary, report.summary);
    for id in [note_id, part_id, photo_id] {
        assert_eq!(tom.label(id).await, "Synced");
    }
    assert_eq!(tom.label(tom_status).await, REVIEW);
    assert_eq!(tom.record_label(setup.job).await, REVIEW);
    assert!(matches!(
        tom.client.change_state(tom_status).await.unwrap().unwrap(),
        ChangeState::Held {
            review_id: Some(_),
            ..
        }
    ));

    // The held change is still in the device's history, with what Tom entered.
    let history = tom.client.cache().history(100).await.unwrap();
    let held = history
        .iter()
        .find(|r| r.change.change_id == tom_status)
        .unwrap();
    assert_eq!(held.state, OutboxState::Held);
    assert_eq!(held.change.values, json!({"state": "in_progress"}));
    assert_eq!(held.code.as_deref(), Some("conflict"));
    // The device lists the open item that is about its change.
    let items = tom.client.review_items().await.unwrap();
    assert!(items
        .iter()
        .any(|i| i.change_id == tom_status && i.kind == ReviewKind::Conflict));
    // Needs attention in the banner.
    let status = tom.client.status().await.unwrap();
    assert_eq!(status.needs_attention, 1);
    assert_eq!(status.banner(tom.now()), "Synced. 1 need review.");

    // On the server: the office's status applied, Tom's held; each once; the device shows the
    // server's state for the group.
    let api = harness.api("sam").await;
    let job = api.history(RecordType::Job, setup.job).await;
    assert_eq!(job.record.state.as_str(), "paused");
    assert!(job.record.groups[&Group::Status].contested);
    for id in [tom_status, sam_status] {
        assert_eq!(log_count(&api, RecordType::Job, setup.job, id).await, 1);
    }
    let outcome = |id| {
        job.entries
            .iter()
            .find(|e| e.change_id == id)
            .unwrap()
            .outcome
            .status
    };
    assert_eq!(outcome(sam_status), OutcomeStatus::Applied);
    assert_eq!(outcome(tom_status), OutcomeStatus::Held);
    let inbox = api.review().await;
    let item = inbox.iter().find(|i| i.change_id == tom_status).unwrap();
    assert_eq!(item.incoming.values, json!({"state": "in_progress"}));
    assert_eq!(item.current.as_ref().unwrap().values["state"], "paused");
    for kind in [RecordType::JobNote, RecordType::PartLine, RecordType::Photo] {
        assert_eq!(api.creates_of(kind).await.len(), 1, "{kind}");
    }
    tom.client.sync_once().await.unwrap();
    let view = tom.client.record(setup.job).await.unwrap().unwrap();
    assert_eq!(view.values[&Group::Status]["state"], "paused");

    // The supervisor takes Tom's version. Tom's next pull shows it, and the job's badge clears.
    api.post(
        &format!("/api/v1/review/{}/resolve", item.review_id),
        json!({"choice": "incoming"}),
    )
    .await;
    tom.client.sync_once().await.unwrap();
    let view = tom.client.record(setup.job).await.unwrap().unwrap();
    assert_eq!(view.values[&Group::Status]["state"], "in_progress");
    assert!(tom.client.review_items().await.unwrap().is_empty());
    assert_eq!(view.state.label(tom.now()), "Synced");
    // The change itself keeps its history: it was held, and the data stays.
    assert_eq!(tom.row(tom_status).await.state, OutboxState::Held);
}

#[tokio::test]
async fn a_job_reassigned_while_its_owner_is_offline() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Kiln Yard").await;
    let tom = harness.device("tom", "tom's phone", 32).await;
    let rita = harness.device("rita", "rita's phone", 33).await;
    tom.client.sync_once().await.unwrap();
    rita.client.sync_once().await.unwrap();
    assert!(
        rita.client.record(setup.job).await.unwrap().is_none(),
        "not rita's yet"
    );

    harness.proxy.go_down();
    let status_id = tom.save(status(setup.job, "in_progress")).await;
    let note_id = tom
        .save(note(&tom, setup.job, "customer not home, left a card"))
        .await;
    harness.proxy.come_back();
    dana.reassign(setup.job, "rita").await;

    let report = tom.client.sync_once().await.unwrap();
    assert_eq!((report.applied, report.held), (0, 2), "{report:?}");
    for id in [status_id, note_id] {
        assert_eq!(tom.label(id).await, REVIEW, "held, never vanished");
        let row = tom.row(id).await;
        assert_eq!(row.code.as_deref(), Some("ownership_moved"));
    }
    assert_eq!(
        tom.row(status_id).await.change.values,
        json!({"state": "in_progress"})
    );
    assert_eq!(
        report.summary,
        vec![format!(
            "{}: Job status and notes need review because the job was reassigned while you were offline.",
            setup.number
        )],
    );

    // Read-only on Tom's device, with the new owner shown.
    let view = tom.client.record(setup.job).await.unwrap().unwrap();
    assert!(view.record.read_only);
    assert_eq!(view.record.owner, Owner::User("rita".into()));
    let refused = tom
        .client
        .save(status(setup.job, "paused"))
        .await
        .unwrap_err();
    let words = refused.to_string();
    assert!(
        words.contains("now belongs to rita") && words.contains("read-only"),
        "{words}"
    );
    let refused = tom
        .client
        .save(note(&tom, setup.job, "one more thing"))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("read-only"), "{refused}");
    assert_eq!(
        tom.pending().await,
        0,
        "the refused edits never entered the outbox"
    );

    // Rita's device gets the job, whole, and works it.
    rita.client.sync_once().await.unwrap();
    let view = rita.client.record(setup.job).await.unwrap().unwrap();
    assert_eq!(view.record.owner, Owner::User("rita".into()));
    assert!(!view.record.read_only);
    assert_eq!(view.record.number.as_deref(), Some(setup.number.as_str()));
    assert_eq!(view.values[&Group::Schedule]["site"], "Kiln Yard");
    let rita_status = rita.save(status(setup.job, "in_progress")).await;
    rita.client.sync_once().await.unwrap();
    assert_eq!(rita.label(rita_status).await, "Synced");

    // The server holds Tom's edits for the dispatcher; nothing of his was applied or lost.
    let history = dana.history(RecordType::Job, setup.job).await;
    assert_eq!(history.record.owner, Owner::User("rita".into()));
    assert_eq!(history.record.state.as_str(), "in_progress");
    assert_eq!(
        log_count(&dana, RecordType::Job, setup.job, status_id).await,
        1
    );
    let inbox = dana.review().await;
    for id in [status_id, note_id] {
        let item = inbox.iter().find(|i| i.change_id == id).unwrap();
        assert_eq!(item.kind, ReviewKind::OwnershipMoved);
    }
    assert!(dana.creates_of(RecordType::JobNote).await.is_empty());
}

#[tokio::test]
async fn a_void_meets_an_update_in_either_order() {
    let harness = Harness::start().await;
    let api = harness.api("dana").await;
    let first = job_for(&harness, &api, "tom", "Tanners Row").await;
    let second = job_for(&harness, &api, "tom", "Glebe Farm").await;
    let tom = harness.device("tom", "tom's phone", 34).await;
    let dana = harness.device("dana", "dana's desktop", 35).await;
    tom.client.sync_once().await.unwrap();
    dana.client.sync_once().await.unwrap();

    harness.proxy.go_down();
    let update_first = tom.save(status(first.job, "in_progress")).await;
    let update_second = tom.save(status(second.job, "in_progress")).await;
    let void_first = dana.save(void(first.job, "customer cancelled")).await;
    harness.proxy.come_back();

    // The first job: the void lands, then Tom's update meets it.
    dana.client.sync_once().await.unwrap();
    assert_eq!(dana.label(void_first).await, "Synced");
    assert_eq!(
        dana.client
            .record(first.job)
            .await
            .unwrap()
            .unwrap()
            .record
            .state
            .as_str(),
        "voided"
    );
    // The second job: Dana voids it from what her desktop last saw; Tom's update lands first.
    let void_second = dana.save(void(second.job, "booked twice")).await;
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!((report.applied, report.held), (1, 1), "{report:?}");
    let report_dana = dana.client.sync_once().await.unwrap();
    assert_eq!(report_dana.held, 1, "{report_dana:?}");

    assert_eq!(tom.label(update_first).await, REVIEW);
    assert_eq!(
        tom.row(update_first).await.code.as_deref(),
        Some("void_vs_update")
    );
    assert_eq!(tom.label(update_second).await, "Synced");
    assert_eq!(dana.label(void_second).await, REVIEW);
    assert_eq!(
        dana.row(void_second).await.code.as_deref(),
        Some("void_vs_update")
    );
    assert_eq!(
        dana.row(void_second).await.change.values,
        json!({"reason": "booked twice"})
    );
    assert!(
        report.summary.contains(&format!(
            "{}: Job status needs review because the job was voided while you were offline.",
            first.number
        )),
        "{report:?}"
    );
    assert!(
        report
            .summary
            .contains(&format!("{}: Your status synced.", second.number)),
        "{report:?}"
    );

    // Each device shows the server's state once it pulls: the first voided, the second going.
    tom.client.sync_once().await.unwrap();
    dana.client.sync_once().await.unwrap();
    for device in [&tom, &dana] {
        let one = device.client.record(first.job).await.unwrap().unwrap();
        let two = device.client.record(second.job).await.unwrap().unwrap();
        assert_eq!(one.record.state.as_str(), "voided", "{}", device.name);
        assert_eq!(two.record.state.as_str(), "in_progress", "{}", device.name);
    }
    let server_first = api.history(RecordType::Job, first.job).await;
    let server_second = api.history(RecordType::Job, second.job).await;
    assert_eq!(server_first.record.state.as_str(), "voided");
    assert_eq!(server_second.record.state.as_str(), "in_progress");
    for (job, id) in [
        (first.job, update_first),
        (first.job, void_first),
        (second.job, update_second),
        (second.job, void_second),
    ] {
        assert_eq!(log_count(&api, RecordType::Job, job, id).await, 1);
    }
    let inbox = api.review().await;
    for id in [update_first, void_second] {
        let item = inbox.iter().find(|i| i.change_id == id).unwrap();
        assert_eq!(item.kind, ReviewKind::VoidVsUpdate);
    }
}

#[tokio::test]
async fn the_same_job_open_on_two_devices_of_one_person() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Rectory Lane").await;
    let phone = harness.device("tom", "tom's phone", 36).await;
    let tablet = harness.device("tom", "tom's tablet", 37).await;
    phone.client.sync_once().await.unwrap();
    tablet.client.sync_once().await.unwrap();

    harness.proxy.go_down();
    // The tablet: starts the job, writes the summary, adds a note.
    let t_status = tablet.save(status(setup.job, "in_progress")).await;
    let t_summary = tablet
        .save(update(
            RecordType::Job,
            setup.job,
            Group::Description,
            json!({"summary": "tablet: boiler serviced"}),
        ))
        .await;
    let t_note = tablet
        .save(note(&tablet, setup.job, "from the tablet"))
        .await;
    // The phone, offline too: starts the job as well, pauses it, and writes its own summary.
    let p_start = phone.save(status(setup.job, "in_progress")).await;
    let p_pause = phone.save(status(setup.job, "paused")).await;
    let p_summary = phone
        .save(update(
            RecordType::Job,
            setup.job,
            Group::Description,
            json!({"summary": "phone: boiler serviced, flue checked"}),
        ))
        .await;
    let p_note = phone.save(note(&phone, setup.job, "from the phone")).await;
    harness.proxy.come_back();

    tablet.client.sync_once().await.unwrap();
    let report = phone.client.sync_once().await.unwrap();
    // Starting the job again agrees with what the tablet did; the pause follows it; the
    // summary is last-write-wins; the notes are both kept.
    assert_eq!(
        (report.applied, report.held, report.rejected),
        (4, 0, 0),
        "{report:?}"
    );
    tablet.client.sync_once().await.unwrap();
    for (device, ids) in [
        (&tablet, vec![t_status, t_summary, t_note]),
        (&phone, vec![p_start, p_pause, p_summary, p_note]),
    ] {
        for id in ids {
            assert_eq!(device.label(id).await, "Synced");
        }
    }

    // Both devices show the same job, as the server has it.
    let server = dana.history(RecordType::Job, setup.job).await;
    assert_eq!(server.record.state.as_str(), "paused");
    let phone_view = phone.client.record(setup.job).await.unwrap().unwrap();
    let tablet_view = tablet.client.record(setup.job).await.unwrap().unwrap();
    assert_eq!(phone_view.values, tablet_view.values);
    assert_eq!(phone_view.values[&Group::Status]["state"], "paused");
    assert_eq!(
        phone_view.values[&Group::Description]["summary"],
        "phone: boiler serviced, flue checked"
    );
    for group in [Group::Status, Group::Description] {
        assert_eq!(
            phone_view.record.groups[&group].0, server.record.groups[&group].version,
            "{group}"
        );
    }
    let notes = dana.note_texts().await;
    assert_eq!(notes.get("from the tablet"), Some(&1));
    assert_eq!(notes.get("from the phone"), Some(&1));
    let phone_notes: Vec<_> = phone.client.records(RecordType::JobNote).await.unwrap();
    let tablet_notes: Vec<_> = tablet.client.records(RecordType::JobNote).await.unwrap();
    assert_eq!(phone_notes.len(), 2);
    assert_eq!(tablet_notes.len(), 2);
    // The overwritten summary stays in the server's change log.
    assert_eq!(
        log_count(&dana, RecordType::Job, setup.job, t_summary).await,
        1
    );
}
