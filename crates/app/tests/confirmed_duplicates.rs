//! "Create anyway" is not asked twice: a dispatcher shown "This looks like J-000002" who creates
//! the job anyway finds no "may duplicate" card for it in the inbox once the server has flagged
//! it (the app settles it as "keep both" for them), while a job the server flags that nobody was
//! warned about (a technician's follow-up made on a tablet that could not see the other job)
//! stays in the inbox for dispatch.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_core::Role;
use serde_json::{json, Value};

fn form(action_id: &Value, customer: &str, summary: &str, confirm: bool) -> Value {
    json!({
        "action_id": action_id,
        "customer_id": customer,
        "site": "3 Northgate St",
        "window_start": "2026-12-03T09:00:00Z",
        "window_end": "2026-12-03T11:00:00Z",
        "summary": summary,
        "assignee": "",
        "confirm_duplicate": confirm,
    })
}

/// The inbox as Dana's app shows it once it has caught up with the server: the server judged
/// every push before answering it, so one round brings every item there is (no polling).
async fn inbox_now(app: &fieldsync_app::App) -> String {
    call(app, "sync_now", Value::Null).await;
    call(app, "inbox", Value::Null).await.to_string()
}

#[tokio::test]
async fn a_duplicate_the_dispatcher_ruled_out_is_not_asked_again_and_another_still_is() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[("dana", Role::Dispatcher), ("tom", Role::Technician)],
    )
    .await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let customer = uuid::Uuid::now_v7().to_string();
    let first = call(&dana, "new_action_id", Value::Null).await["action_id"].clone();
    let made = call(
        &dana,
        "create_job",
        form(&first, &customer, "Oven thermostat fault", false),
    )
    .await;
    assert_eq!(made["created"], json!(true), "{made}");
    let existing = made["job_id"].as_str().unwrap().to_string();
    call(&dana, "sync_now", Value::Null).await;

    // The same customer, site and day: the form warns; Dana creates it anyway.
    let second = call(&dana, "new_action_id", Value::Null).await["action_id"].clone();
    let warned = call(
        &dana,
        "create_job",
        form(&second, &customer, "Freezer door seal", false),
    )
    .await;
    assert_eq!(warned["created"], json!(false), "{warned}");
    assert_eq!(warned["matches"][0]["id"], json!(existing), "{warned}");
    let anyway = call(
        &dana,
        "create_job",
        form(&second, &customer, "Freezer door seal", true),
    )
    .await;
    assert_eq!(anyway["created"], json!(true), "{anyway}");
    let new_job = anyway["job_id"].as_str().unwrap().to_string();

    // A technician's follow-up at the same place and day, from a tablet that cannot see the
    // first job (it is nobody's yet): no warning there, and the server flags it.
    let tom = signed_in(dir.path(), &url, "tom").await;
    let third = call(&tom, "new_action_id", Value::Null).await["action_id"].clone();
    let follow = call(
        &tom,
        "create_job",
        form(&third, &customer, "Follow-up: check seal", false),
    )
    .await;
    assert_eq!(follow["created"], json!(true), "{follow}");
    let tom_job = follow["job_id"].as_str().unwrap().to_string();
    call(&tom, "sync_now", Value::Null).await;

    let cards = inbox_now(&dana).await;
    assert!(
        cards.contains(&tom_job),
        "the duplicate nobody was warned about waits for dispatch: {cards}"
    );
    assert!(
        !cards.contains(&new_job),
        "the job Dana created anyway is not asked about again: {cards}"
    );
    // Kept, not voided: both of Dana's jobs stand.
    let job = call(&dana, "job", json!({"job_id": new_job})).await;
    assert_ne!(job["card"]["state"], json!("voided"), "{job}");
}
