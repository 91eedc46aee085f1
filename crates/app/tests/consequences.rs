//! Actions that do damage in one click are said before they are done and can be taken back:
//! a reassignment needs its reason, keeps it in the job's timeline and comes back with a
//! one-click undo that is refused once someone else has moved the job again; a void needs its
//! reason and goes on the status version its dialog showed, so a job a technician started
//! meanwhile is not voided unseen but goes to review.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_app::{bridge, App};
use fieldsync_client::NewChange;
use fieldsync_core::{Group, Op, RecordId, RecordType, Role};
use serde_json::{json, Value};

/// A job for `tom`, created by the dispatcher and synced; tom's device has it too.
async fn job_for_tom(dana: &App, tom: &App) -> RecordId {
    let form = call(dana, "new_action_id", Value::Null).await;
    let created = call(
        dana,
        "create_job",
        json!({
            "action_id": form["action_id"], "customer_id": uuid::Uuid::now_v7().to_string(),
            "site": "Pier 4", "window_start": null, "summary": "Boiler service",
            "assignee": "tom", "confirm_duplicate": true,
        }),
    )
    .await;
    let job: RecordId = created["job_id"].as_str().unwrap().parse().unwrap();
    call(dana, "sync_now", Value::Null).await;
    tom.client().unwrap().sync_now().await.unwrap();
    assert!(tom.client().unwrap().record(job).await.unwrap().is_some());
    job
}

async fn timeline(app: &App, job: RecordId) -> Vec<String> {
    let detail = call(app, "job", json!({ "job_id": job.to_string() })).await;
    detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["text"].as_str().unwrap().to_string())
        .collect()
}

async fn status_version(app: &App, job: RecordId) -> i64 {
    let detail = call(app, "job", json!({ "job_id": job.to_string() })).await;
    detail["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == json!("status"))
        .unwrap()["version"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn a_reassignment_keeps_its_reason_and_undoes_in_one_click_until_someone_moves_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[
            ("dana", Role::Dispatcher),
            ("tom", Role::Technician),
            ("rita", Role::Technician),
        ],
    )
    .await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let tom = signed_in(dir.path(), &url, "tom").await;
    let job = job_for_tom(&dana, &tom).await;
    let check = call(
        &dana,
        "reassign_check",
        json!({ "job_id": job.to_string() }),
    )
    .await;

    let blank = bridge::dispatch(
        &dana,
        "reassign",
        json!({ "job_id": job.to_string(), "to_user": "rita", "owner_epoch": check["owner_epoch"], "reason": "  " }),
    )
    .await
    .unwrap_err();
    assert_eq!(
        blank.code, "invalid",
        "a reassignment without a reason is refused"
    );

    let done = call(
        &dana,
        "reassign",
        json!({ "job_id": job.to_string(), "to_user": "rita", "owner_epoch": check["owner_epoch"], "reason": "Tom is off sick" }),
    )
    .await;
    assert_eq!(done["from"]["name"], json!("tom"));
    assert_eq!(done["to"]["name"], json!("rita"));
    assert_eq!(done["card"]["owner"]["name"], json!("rita"));
    let lines = timeline(&dana, job).await;
    assert!(
        lines
            .iter()
            .any(|l| l == "dana reassigned the job to rita: Tom is off sick"),
        "the reason is in the timeline: {lines:?}"
    );

    // The notice's undo goes back to tom on the epoch this reassignment made; once used (or
    // once anyone has moved the job again), the same undo is refused rather than moving it.
    let undo = done["undo"].clone();
    assert_eq!(undo["to_user"], json!("tom"));
    let again = call(
        &dana,
        "reassign_check",
        json!({ "job_id": job.to_string() }),
    )
    .await;
    assert_eq!(again["owner_epoch"], undo["owner_epoch"]);

    let undone = call(&dana, "reassign", undo.clone()).await;
    assert_eq!(undone["card"]["owner"]["name"], json!("tom"));
    let twice = bridge::dispatch(&dana, "reassign", undo).await.unwrap_err();
    assert_eq!(
        twice.code, "changed_since_seen",
        "an undo on a picture that moved is refused: {}",
        twice.message
    );
    assert!(twice
        .message
        .starts_with("This changed since you opened it"));
}

#[tokio::test]
async fn a_void_goes_on_the_status_its_dialog_showed_and_needs_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[("dana", Role::Dispatcher), ("tom", Role::Technician)],
    )
    .await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let tom = signed_in(dir.path(), &url, "tom").await;
    let job = job_for_tom(&dana, &tom).await;
    let detail = call(&dana, "job", json!({ "job_id": job.to_string() })).await;
    assert_eq!(
        detail["can_void"],
        json!(true),
        "a dispatcher may void a job"
    );
    let shown = status_version(&dana, job).await;

    let blank = bridge::dispatch(
        &dana,
        "void_job",
        json!({ "job_id": job.to_string(), "reason": "", "base_version": shown, "action_id": null }),
    )
    .await
    .unwrap_err();
    assert_eq!(blank.code, "invalid");

    // The dialog is open on the assigned job; meanwhile tom starts it and that syncs.
    tom.client()
        .unwrap()
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Job,
            record_id: job,
            group: Some(Group::Status),
            op: Op::Update,
            values: json!({"state": "in_progress"}),
            file_sha256: None,
        })
        .await
        .unwrap();
    tom.client().unwrap().sync_now().await.unwrap();
    call(&dana, "sync_now", Value::Null).await;
    assert!(status_version(&dana, job).await > shown);

    let form = call(&dana, "new_action_id", Value::Null).await;
    call(
        &dana,
        "void_job",
        json!({ "job_id": job.to_string(), "reason": "Customer cancelled", "base_version": shown, "action_id": form["action_id"] }),
    )
    .await;
    call(&dana, "sync_now", Value::Null).await;
    let detail = call(&dana, "job", json!({ "job_id": job.to_string() })).await;
    assert_ne!(
        detail["card"]["state"],
        json!("voided"),
        "a job started since the dialog opened is not voided unseen"
    );
    let inbox = call(&dana, "inbox", Value::Null).await;
    assert!(
        inbox
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["record_id"] == json!(job.to_string())),
        "the void and the start wait in review together: {inbox}"
    );

    // On the status as it stands, a void goes, and its reason is in the timeline.
    let other = job_for_tom(&dana, &tom).await;
    let shown = status_version(&dana, other).await;
    let saved = call(
        &dana,
        "void_job",
        json!({ "job_id": other.to_string(), "reason": "Customer cancelled", "base_version": shown, "action_id": null }),
    )
    .await;
    assert_eq!(saved["state_label"], json!("Saved on this device"));
    call(&dana, "sync_now", Value::Null).await;
    let detail = call(&dana, "job", json!({ "job_id": other.to_string() })).await;
    assert_eq!(detail["card"]["state"], json!("voided"));
    assert_eq!(
        detail["can_void"],
        json!(false),
        "a voided job offers no second void"
    );
    let lines = timeline(&dana, other).await;
    assert!(
        lines
            .iter()
            .any(|l| l == "dana voided the job: Customer cancelled"),
        "the reason is in the timeline: {lines:?}"
    );
}
