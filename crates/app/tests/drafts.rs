//! A new job form left open survives a restart: the command layer keeps it as a draft on this
//! device under the form's action id, gives it back when the form opens again, and closes it
//! when it becomes a job (or is discarded), so it is offered neither again nor as a duplicate
//! of itself.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_app::bridge;
use serde_json::{json, Value};

#[tokio::test]
async fn a_job_form_left_open_comes_back_after_a_restart_and_goes_once_it_is_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let url = server(dir.path()).await;
    let app = open_on(dir.path(), &url).await;
    call(
        &app,
        "sign_in",
        json!({"username": "dana", "password": PASSWORD}),
    )
    .await;
    assert_eq!(call(&app, "job_draft", Value::Null).await, Value::Null);
    let action_id = call(&app, "new_action_id", Value::Null).await["action_id"].clone();
    let customer = uuid::Uuid::now_v7().to_string();
    let typed = json!({
        "action_id": action_id,
        "customer_id": customer,
        "site": "12 Harbour Road",
        "window_start": "2026-12-02T09:00:00Z",
        "summary": "Boiler pressure keeps dropping",
        "assignee": "tom",
        "saved_at": null,
    });
    call(&app, "save_job_draft", typed.clone()).await;
    drop(app);

    let app = open_on(dir.path(), &url).await;
    let back = call(&app, "job_draft", Value::Null).await;
    for field in [
        "action_id",
        "customer_id",
        "site",
        "window_start",
        "summary",
        "assignee",
    ] {
        assert_eq!(back[field], typed[field], "{field} comes back as typed");
    }
    assert!(back["saved_at"].is_string());

    // A second form much like it is warned of the draft; the draft's own form is not.
    let other = call(&app, "new_action_id", Value::Null).await["action_id"].clone();
    let form = |id: &Value| {
        json!({
            "action_id": id,
            "customer_id": customer,
            "site": "12 Harbour Road",
            "window_start": "2026-12-02T09:00:00Z",
            "summary": "Boiler pressure keeps dropping",
            "assignee": "tom",
            "confirm_duplicate": false,
        })
    };
    let warned = call(&app, "create_job", form(&other)).await;
    assert_eq!(warned["created"], json!(false));
    assert_eq!(warned["matches"][0]["source"], json!("Draft"), "{warned}");
    // The draft's own form is created without being told it looks like itself.
    let created = call(&app, "create_job", form(&action_id)).await;
    assert_eq!(created["created"], json!(true), "{created}");
    // It is a job now: the form does not come back, and another form is not warned of the
    // draft (the job itself is what it may match now).
    assert_eq!(call(&app, "job_draft", Value::Null).await, Value::Null);
    let again = call(&app, "create_job", form(&other)).await;
    assert!(
        again["matches"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["source"] != json!("Draft")),
        "{again}"
    );
}

#[tokio::test]
async fn a_discarded_draft_is_not_offered_again() {
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path()).await;
    let action_id = call(&app, "new_action_id", Value::Null).await["action_id"].clone();
    let draft = json!({
        "action_id": action_id, "customer_id": "", "site": "Pier 4", "window_start": null,
        "summary": "", "assignee": "", "saved_at": null,
    });
    call(&app, "save_job_draft", draft.clone()).await;
    assert_eq!(
        call(&app, "job_draft", Value::Null).await["site"],
        json!("Pier 4")
    );
    call(&app, "discard_job_draft", json!({ "action_id": action_id })).await;
    assert_eq!(call(&app, "job_draft", Value::Null).await, Value::Null);
    // Typing on in a form already discarded does not bring it back.
    call(&app, "save_job_draft", draft).await;
    assert_eq!(call(&app, "job_draft", Value::Null).await, Value::Null);
    let refused = bridge::dispatch(
        &app,
        "save_job_draft",
        json!({
            "action_id": "form-1", "customer_id": "", "site": "", "window_start": null,
            "summary": "", "assignee": "", "saved_at": null,
        }),
    )
    .await;
    assert_eq!(refused.unwrap_err().code, "invalid");
}

/// A new job's window has an end: kept in the draft, created with the job, and a window that
/// ends before it starts is refused with the field rule's sentence before anything is saved.
#[tokio::test]
async fn a_new_job_window_ends_after_it_starts_and_its_end_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let url = server(dir.path()).await;
    let app = open_on(dir.path(), &url).await;
    call(
        &app,
        "sign_in",
        json!({"username": "dana", "password": PASSWORD}),
    )
    .await;
    let customer = uuid::Uuid::now_v7().to_string();
    let action_id = call(&app, "new_action_id", Value::Null).await["action_id"].clone();
    let form = |end: &str| {
        json!({
            "action_id": action_id,
            "customer_id": customer,
            "site": "4 Quay Street",
            "window_start": "2026-12-03T09:00:00Z",
            "window_end": end,
            "summary": "Replace the pump seal",
            "assignee": "tom",
            "confirm_duplicate": true,
        })
    };
    call(
        &app,
        "save_job_draft",
        json!({"action_id": action_id, "customer_id": customer, "site": "4 Quay Street",
               "window_start": "2026-12-03T09:00:00Z", "window_end": "2026-12-03T11:30:00Z",
               "summary": "Replace the pump seal", "assignee": "tom", "saved_at": null}),
    )
    .await;
    assert_eq!(
        call(&app, "job_draft", Value::Null).await["window_end"],
        json!("2026-12-03T11:30:00Z")
    );
    let refused = bridge::dispatch(&app, "create_job", form("2026-12-03T08:00:00Z"))
        .await
        .unwrap_err();
    assert_eq!(refused.code, "invalid_change", "{refused:?}");
    assert!(refused.message.contains("end"), "{}", refused.message);
    let created = call(&app, "create_job", form("2026-12-03T11:30:00Z")).await;
    assert_eq!(created["created"], json!(true), "{created}");
    let job = call(&app, "job", json!({"job_id": created["job_id"]})).await;
    assert!(
        job.to_string().contains("2026-12-03T11:30:00Z"),
        "the job keeps its window's end: {job}"
    );
}

/// A new job saved without a customer or a site says exactly which is missing, as a sentence.
#[tokio::test]
async fn a_new_job_without_its_customer_or_site_says_which_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let url = server(dir.path()).await;
    let app = open_on(dir.path(), &url).await;
    call(
        &app,
        "sign_in",
        json!({"username": "dana", "password": PASSWORD}),
    )
    .await;
    let action_id = call(&app, "new_action_id", Value::Null).await["action_id"].clone();
    let customer = uuid::Uuid::now_v7().to_string();
    let cases = [
        (customer.as_str(), "  ", "Type the site's address."),
        ("", "4 Quay Street", "Choose the customer."),
        ("", "", "Choose the customer and type the site's address."),
    ];
    for (customer_id, site, sentence) in cases {
        let form = json!({
            "action_id": action_id,
            "customer_id": customer_id,
            "site": site,
            "window_start": null,
            "window_end": null,
            "summary": "Replace the pump seal",
            "assignee": "",
            "confirm_duplicate": false,
        });
        let refused = bridge::dispatch(&app, "create_job", form)
            .await
            .unwrap_err();
        assert_eq!(refused.code, "invalid", "{refused:?}");
        assert_eq!(refused.message, sentence);
    }
}
