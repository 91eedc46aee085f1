//! The desktop notification for a new review item: what waits at start is not announced; an
//! item that arrives later is, once, to the roles that may resolve it; a saved CSV export is
//! written where the person chose, or in the exports folder when there is no dialog.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_client::NewChange;
use fieldsync_core::{Group, Op, RecordId, RecordType, Role, State};
use serde_json::{json, Value};

fn status(job: RecordId, state: State) -> NewChange {
    NewChange {
        change_id: None,
        record_type: RecordType::Job,
        record_id: job,
        group: Some(Group::Status),
        op: Op::Update,
        values: json!({ "state": state.as_str() }),
        file_sha256: None,
    }
}

#[tokio::test]
async fn a_new_review_item_is_announced_once_to_who_may_resolve_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[
            ("dana", Role::Dispatcher),
            ("sam", Role::Supervisor),
            ("fiona", Role::Finance),
            ("tom", Role::Technician),
        ],
    )
    .await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let sam = signed_in(dir.path(), &url, "sam").await;
    let fiona = signed_in(dir.path(), &url, "fiona").await;
    let tom = signed_in(dir.path(), &url, "tom").await;
    assert!(
        sam.new_review_alerts().await.unwrap().is_empty(),
        "the first look only remembers"
    );
    assert!(fiona.new_review_alerts().await.unwrap().is_empty());

    let form = call(&dana, "new_action_id", Value::Null).await;
    let created = call(
        &dana,
        "create_job",
        json!({
            "action_id": form["action_id"], "customer_id": uuid::Uuid::now_v7().to_string(),
            "site": "Pier 4", "window_start": null, "summary": "Boiler service",
            "assignee": "tom", "confirm_duplicate": true,
        }),
    )
    .await;
    let job: RecordId = created["job_id"].as_str().unwrap().parse().unwrap();
    dana.client().unwrap().sync_now().await.unwrap();
    tom.client().unwrap().sync_now().await.unwrap();
    // Sam marks the job in progress while Tom, not yet having pulled that, pauses it from the
    // version he has: a status conflict.
    sam.client().unwrap().sync_now().await.unwrap();
    sam.client()
        .unwrap()
        .save(status(job, State::InProgress))
        .await
        .unwrap();
    sam.client().unwrap().sync_now().await.unwrap();
    tom.client()
        .unwrap()
        .save(status(job, State::Paused))
        .await
        .unwrap();
    let round = tom.client().unwrap().sync_now().await.unwrap();
    assert_eq!(round.held, 1, "{round:?}");

    sam.client().unwrap().sync_now().await.unwrap();
    let alerts = sam.new_review_alerts().await.unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].title.ends_with("needs review"), "{alerts:?}");
    assert!(alerts[0].body.contains("tom"), "{alerts:?}");
    assert!(
        sam.new_review_alerts().await.unwrap().is_empty(),
        "announced once"
    );
    fiona.client().unwrap().sync_now().await.unwrap();
    assert!(
        fiona.new_review_alerts().await.unwrap().is_empty(),
        "finance does not resolve a job's status"
    );
}

#[tokio::test]
async fn the_sync_review_is_saved_as_a_file_where_chosen_or_in_the_exports_folder() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(dir.path(), &[("sam", Role::Supervisor)]).await;
    let sam = signed_in(dir.path(), &url, "sam").await;
    let refused =
        fieldsync_app::bridge::dispatch(&sam, "save_report_csv", json!({"days": 7, "path": null}))
            .await
            .unwrap_err();
    assert_eq!(refused.code, "invalid", "no dialog and no folder: say so");
    let chosen = dir.path().join("mine.csv");
    let saved = call(
        &sam,
        "save_report_csv",
        json!({"days": 7, "path": chosen.to_string_lossy()}),
    )
    .await;
    assert_eq!(saved["path"], json!(chosen.to_string_lossy()));
    let text = std::fs::read_to_string(&chosen).unwrap();
    assert!(text.starts_with("kind,"), "{text}");
    let relative = fieldsync_app::bridge::dispatch(
        &sam,
        "save_report_csv",
        json!({"days": 7, "path": "x.csv"}),
    )
    .await
    .unwrap_err();
    assert_eq!(relative.code, "invalid");

    sam.set_exports_dir(dir.path().join("exports"));
    let saved = call(&sam, "save_report_csv", json!({"days": 7, "path": null})).await;
    let path = std::path::PathBuf::from(saved["path"].as_str().unwrap());
    assert!(path.starts_with(dir.path().join("exports")), "{path:?}");
    assert!(path.exists());
}
