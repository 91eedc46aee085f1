//! A small office for the tests of pages in people's words: a real server on loopback whose
//! people have display names unlike their user names (so a page that shows a user name is
//! caught), and each person's app on their own cache, device and device name.
#![allow(clippy::unwrap_used, dead_code)]

use fieldsync_app::{bridge, App};
use fieldsync_client::{ClientConfig, HttpTransport, SyncClient, SystemClock};
use fieldsync_core::Role;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

#[path = "../common/mod.rs"]
mod common;

pub use common::PASSWORD;

/// (user, display name, role, team).
pub const PEOPLE: [(&str, &str, Role, &str); 5] = [
    ("olivia", "Olivia Chen", Role::Office, "office"),
    ("dana", "Dana Reyes", Role::Dispatcher, "dispatch"),
    ("sam", "Sam Okafor", Role::Supervisor, "supervisors"),
    ("fiona", "Fiona Marsh", Role::Finance, "finance"),
    ("tom", "Tom Baker", Role::Technician, "north"),
];

pub async fn server(dir: &Path) -> String {
    common::named_server(dir, &PEOPLE).await
}

/// `user`'s app on a device named "<Display>'s device", signed in and synced once.
pub async fn app(dir: &Path, url: &str, user: &str) -> App {
    let dir = dir.join(user);
    std::fs::create_dir_all(&dir).unwrap();
    let display = PEOPLE.iter().find(|p| p.0 == user).unwrap().1;
    let first = display.split(' ').next().unwrap();
    let client = SyncClient::open(
        &dir.join("cache.db"),
        Arc::new(HttpTransport::new(url).unwrap()),
        Arc::new(SystemClock),
        ClientConfig::new(&format!("{first}'s device"), &dir.join("files"), 7),
    )
    .await
    .unwrap();
    let app = App::new(client);
    call(
        &app,
        "sign_in",
        json!({"username": user, "password": PASSWORD}),
    )
    .await;
    call(&app, "sync_now", Value::Null).await;
    app
}

pub async fn call(app: &App, command: &str, args: Value) -> Value {
    match bridge::dispatch(app, command, args).await {
        Ok(v) => v,
        Err(e) => panic!("{command}: {} ({})", e.message, e.code),
    }
}

pub async fn sync(apps: &[&App]) {
    for app in apps {
        call(app, "sync_now", Value::Null).await;
    }
}

pub async fn action(app: &App) -> Value {
    call(app, "new_action_id", Value::Null).await["action_id"].clone()
}

/// The version of `group` in a detail's groups.
pub fn version(detail: &Value, group: &str) -> i64 {
    detail["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == group)
        .unwrap()["version"]
        .as_i64()
        .unwrap()
}

/// The timeline's sentences, newest first.
pub fn sentences(detail: &Value) -> Vec<String> {
    detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["text"].as_str().unwrap().to_string())
        .collect()
}
