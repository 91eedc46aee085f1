//! A new job form left open survives a restart: the command layer keeps it as a draft on this
//! device under the form's action id, gives it back when the form opens again, and closes it
//! when it becomes a job (or is discarded), so it is offered neither again nor as a duplicate
//! of itself.
#![allow(clippy::unwrap_used)]

use fieldsync_app::{bridge, App};
use fieldsync_client::{ClientConfig, HttpTransport, SyncClient, SystemClock};
use fieldsync_core::Role;
use fieldsync_server::store::{NewUser, Store};
use fieldsync_server::{AppState, Limits, SqliteStore};
use serde_json::{json, Value};
use std::sync::Arc;

/// The office app on its cache file, talking to `server` (drafts are this device's own; the
/// server only ever sees the job a draft becomes).
async fn open_on(dir: &std::path::Path, server: &str) -> App {
    let client = SyncClient::open(
        &dir.join("cache.db"),
        Arc::new(HttpTransport::new(server).unwrap()),
        Arc::new(SystemClock),
        ClientConfig::new("office desk", &dir.join("files"), 7),
    )
    .await
    .unwrap();
    App::new(client)
}

/// With no server behind it.
async fn open(dir: &std::path::Path) -> App {
    open_on(dir, "http://127.0.0.1:9").await
}

/// A real server on loopback with one dispatcher, `dana`.
async fn server(dir: &std::path::Path) -> String {
    let store = SqliteStore::open(&dir.join("server.db")).await.unwrap();
    let now = chrono::Utc::now();
    store
        .add_user(
            NewUser {
                name: "dana".into(),
                display_name: "Dana".into(),
                role: Role::Dispatcher,
                team: Some("dispatch".into()),
                password_hash: fieldsync_server::auth::hash_password("a long password").unwrap(),
            },
            now,
        )
        .await
        .unwrap();
    let state = AppState::new(
        Arc::new(store),
        fieldsync_core::Policy::default_policy(),
        dir.join("server-files"),
        Arc::new(fieldsync_server::SystemClock),
        Limits::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(fieldsync_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    url
}

async fn call(app: &App, command: &str, args: Value) -> Value {
    bridge::dispatch(app, command, args).await.unwrap()
}

#[tokio::test]
async fn a_job_form_left_open_comes_back_after_a_restart_and_goes_once_it_is_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let url = server(dir.path()).await;
    let app = open_on(dir.path(), &url).await;
    call(
        &app,
        "sign_in",
        json!({"username": "dana", "password": "a long password"}),
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
