//! Action ids are made in Rust, in one place: `new_action_id` answers a fresh UUIDv7 from the
//! sync client's generator, and a command that takes an action id refuses one that is not a
//! UUID with a sentence, before it saves anything.
#![allow(clippy::unwrap_used)]

use fieldsync_app::{bridge, App};
use fieldsync_client::{ClientConfig, HttpTransport, SyncClient, SystemClock};
use serde_json::{json, Value};
use std::sync::Arc;

/// An app with no server behind it: these commands must answer without one.
async fn app(dir: &std::path::Path) -> App {
    let client = SyncClient::open(
        &dir.join("cache.db"),
        Arc::new(HttpTransport::new("http://127.0.0.1:9").unwrap()),
        Arc::new(SystemClock),
        ClientConfig::new("office desk", &dir.join("files"), 7),
    )
    .await
    .unwrap();
    App::new(client)
}

#[tokio::test]
async fn new_action_id_answers_a_fresh_uuid_v7() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let answer = bridge::dispatch(&app, "new_action_id", Value::Null)
            .await
            .unwrap();
        let text = answer["action_id"].as_str().unwrap().to_string();
        let id = uuid::Uuid::parse_str(&text).unwrap();
        assert_eq!(id.get_version(), Some(uuid::Version::SortRand), "{text}");
        assert_eq!(answer, json!({ "action_id": text }), "nothing else");
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1], "each form gets its own id");
}

#[tokio::test]
async fn an_action_id_that_is_not_a_uuid_is_refused_with_a_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let record_id = uuid::Uuid::now_v7().to_string();
    let calls = [
        (
            "save_group",
            json!({
                "record_type": "customer",
                "record_id": record_id,
                "group": "profile",
                "values": {"name": "Acme"},
                "action_id": "form-1",
            }),
        ),
        (
            "create_job",
            json!({
                "action_id": "form-1",
                "customer_id": record_id,
                "site": "Depot",
                "window_start": null,
                "summary": "Boiler",
                "assignee": "tom",
                "confirm_duplicate": true,
            }),
        ),
    ];
    for (command, args) in calls {
        let error = bridge::dispatch(&app, command, args).await.unwrap_err();
        assert_eq!(error.code, "invalid", "{command}: {error:?}");
        assert!(
            error.message.contains("`form-1` is not an action id"),
            "{command}: {}",
            error.message
        );
    }
}
