//! Pulling: a fresh device catches up page by page on everything in its scope and ends with
//! what the server has, version for version; the cursor never skips or repeats a change.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_core::{Change, ChangeId, Group, Op, RecordId, RecordType};
use serde_json::json;

fn office_update(
    job: RecordId,
    group: Group,
    base_version: i64,
    values: serde_json::Value,
) -> Change {
    Change {
        change_id: ChangeId(uuid::Uuid::now_v7()),
        record_type: RecordType::Job,
        record_id: job,
        group: Some(group),
        op: Op::Update,
        base_version,
        values,
        owner_epoch: 1,
        device_time: start_time(),
    }
}

#[tokio::test]
async fn a_fresh_device_catches_up_page_by_page_and_shows_what_the_server_has() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let sam = harness.api("sam").await;
    let setup = job_for(&harness, &dana, "tom", "Orchard End").await;
    let other = job_for(&harness, &dana, "rita", "Not Tom's").await;

    // A job with a history: its status moved by the supervisor, its summary rewritten twice,
    // and more notes than one page holds.
    sam.apply(office_update(
        setup.job,
        Group::Status,
        1,
        json!({"state": "opened"}),
    ))
    .await;
    sam.apply(office_update(
        setup.job,
        Group::Description,
        1,
        json!({"summary": "first words"}),
    ))
    .await;
    dana.apply(office_update(
        setup.job,
        Group::Description,
        2,
        json!({"summary": "last words"}),
    ))
    .await;
    let mut notes = Vec::new();
    for chunk in 0..3 {
        let batch: Vec<Change> = (0..400)
            .map(|i| {
                let id = RecordId(uuid::Uuid::now_v7());
                notes.push(id);
                wire_create(
                    RecordType::JobNote,
                    id,
                    json!({"text": {"job_id": setup.job.to_string(), "text": format!("note {chunk}-{i}")}}),
                )
            })
            .collect();
        dana.push(batch).await;
    }
    let scope = harness.api("tom").await.pull_all().await;
    assert!(
        scope.changes.len() > 1000,
        "more than one page: {}",
        scope.changes.len()
    );

    let tom = harness.device("tom", "tom's new phone", 70).await;
    harness.proxy.clear_log();
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.pulled, scope.changes.len());
    assert_eq!(harness.proxy.count(&Target::pull()), 2, "two pages");
    assert_eq!(
        tom.client.cache().meta("cursor").await.unwrap(),
        Some(harness.store_max_seq().await.to_string())
    );

    // Every note, the job as the server has it, and nothing out of scope.
    for id in &notes {
        assert!(tom.client.record(*id).await.unwrap().is_some());
    }
    assert!(tom.client.record(other.job).await.unwrap().is_none());
    let server = sam.history(RecordType::Job, setup.job).await.record;
    let view = tom.client.record(setup.job).await.unwrap().unwrap();
    assert_eq!(view.record.state.as_str(), "opened");
    assert_eq!(view.record.number, server.number);
    for (group, state) in &server.groups {
        assert_eq!(view.record.groups[group].0, state.version, "{group}");
        assert_eq!(view.record.groups[group].1, state.values, "{group}");
    }
    assert!(
        tom.client.record(setup.customer).await.unwrap().is_some(),
        "the job's customer"
    );

    // Nothing new: the next round pulls nothing and the cursor stays.
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.pulled, 0);
}

/// Found by the fleet simulation: a supervisor's edit made under the job's first ownership epoch
/// is applied after a reassignment (the role may write whoever owns it); a device that pulled
/// it took its epoch for the record's and showed the job back at epoch 1.
#[tokio::test]
async fn an_edit_made_before_a_reassignment_does_not_take_the_epoch_back() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let sam = harness.api("sam").await;
    let setup = job_for(&harness, &dana, "tom", "Orchard End").await;
    let office = harness.device("olivia", "olivia desk", 11).await;
    office.client.sync_now().await.unwrap();
    dana.reassign(setup.job, "rita").await;
    office.client.sync_now().await.unwrap();
    let epoch = |office: &Device| {
        let client = office.client.clone();
        let job = setup.job;
        async move {
            client
                .cache()
                .record(job)
                .await
                .unwrap()
                .unwrap()
                .owner_epoch
        }
    };
    assert_eq!(epoch(&office).await, 2);

    sam.apply(office_update(
        setup.job,
        Group::Work,
        1,
        json!({"labour_hours": 2.5}),
    ))
    .await;
    office.client.sync_now().await.unwrap();
    assert_eq!(epoch(&office).await, 2, "the epoch only grows");
    let job = office
        .client
        .cache()
        .record(setup.job)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.groups[&Group::Work].1["labour_hours"], json!(2.5));
}

/// Found by the fleet simulation: a status change whose answer was lost was applied again from
/// the replayed answer after the device had already pulled it and a newer version (the office
/// voided the job), so the device showed the job in the technician's state, not voided.
#[tokio::test]
async fn a_late_answer_does_not_lay_an_old_version_over_a_newer_one() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let sam = harness.api("sam").await;
    let setup = job_for(&harness, &dana, "tom", "Orchard End").await;
    let tom = harness.device("tom", "tom phone", 5).await;
    tom.client.sync_now().await.unwrap();
    tom.save(status(setup.job, "opened")).await;

    // The push commits but its answer is lost; the pull that follows brings version 2.
    harness.proxy.inject(Target::push(), Fault::DropReply, 1);
    tom.client.sync_now().await.unwrap();
    // The office voids the job; the device pulls that too while its push is refused again.
    let mut void = office_update(
        setup.job,
        Group::Status,
        2,
        json!({"reason": "customer cancelled"}),
    );
    void.op = Op::Void;
    sam.apply(void).await;
    harness.proxy.inject(Target::push(), Fault::Cut, 1);
    tom.client.sync_now().await.unwrap();
    // The resend gets the stored answer (applied, version 2): old news.
    tom.client.sync_now().await.unwrap();
    assert_eq!(tom.pending().await, 0);

    let job = tom.client.cache().record(setup.job).await.unwrap().unwrap();
    assert_eq!(job.state.as_str(), "voided");
    let (version, values) = &job.groups[&Group::Status];
    assert_eq!(*version, 3);
    assert_eq!(values["state"], json!("voided"));
    assert_eq!(values["previous_state"], json!("opened"));
}
