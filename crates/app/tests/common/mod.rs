//! What the app's tests share: a real server on loopback and the office app on a cache file.
#![allow(clippy::unwrap_used, dead_code)]

use fieldsync_app::{bridge, App};
use fieldsync_client::{ClientConfig, HttpTransport, SyncClient, SystemClock};
use fieldsync_core::Role;
use fieldsync_server::store::{NewUser, Store};
use fieldsync_server::{AppState, Limits, SqliteStore};
use serde_json::Value;
use std::sync::Arc;

pub const PASSWORD: &str = "a long password";

/// The office app on its cache file, talking to `server` (drafts are this device's own; the
/// server only ever sees the job a draft becomes).
pub async fn open_on(dir: &std::path::Path, server: &str) -> App {
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
pub async fn open(dir: &std::path::Path) -> App {
    open_on(dir, "http://127.0.0.1:9").await
}

/// A real server on loopback with one dispatcher, `dana`.
pub async fn server(dir: &std::path::Path) -> String {
    server_with(dir, &[("dana", Role::Dispatcher)]).await
}

/// A real server on loopback with these users (each in a team named after their role).
pub async fn server_with(dir: &std::path::Path, users: &[(&str, Role)]) -> String {
    let people: Vec<(&str, &str, Role, &str)> = users
        .iter()
        .map(|(name, role)| (*name, *name, *role, role.as_str()))
        .collect();
    named_server(dir, &people).await
}

/// A real server on loopback with these people: (user, display name, role, team).
pub async fn named_server(dir: &std::path::Path, people: &[(&str, &str, Role, &str)]) -> String {
    named_server_until(dir, people, std::future::pending()).await
}

/// [`named_server`], serving until `stop` resolves (the server gone, as when its machine is
/// down).
pub async fn named_server_until(
    dir: &std::path::Path,
    people: &[(&str, &str, Role, &str)],
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> String {
    let store = SqliteStore::open(&dir.join("server.db")).await.unwrap();
    let now = chrono::Utc::now();
    let hash = fieldsync_server::auth::hash_password(PASSWORD).unwrap();
    for (name, display, role, team) in people {
        store
            .add_user(
                NewUser {
                    name: name.to_string(),
                    display_name: display.to_string(),
                    role: *role,
                    team: Some(team.to_string()),
                    password_hash: hash.clone(),
                },
                now,
            )
            .await
            .unwrap();
    }
    let state = AppState::new(
        Arc::new(store),
        fieldsync_core::Policy::default_policy(),
        dir.join("server-files"),
        Arc::new(fieldsync_server::SystemClock),
        Limits::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(fieldsync_server::serve(listener, state, stop));
    url
}

/// Runs one command and insists it answered.
pub async fn call(app: &App, command: &str, args: Value) -> Value {
    bridge::dispatch(app, command, args).await.unwrap()
}

/// The office app of `user` on its own cache under `dir`, signed in with `password`.
pub async fn signed_in_with(dir: &std::path::Path, url: &str, user: &str, password: &str) -> App {
    let dir = dir.join(user);
    std::fs::create_dir_all(&dir).unwrap();
    let app = open_on(&dir, url).await;
    call(
        &app,
        "sign_in",
        serde_json::json!({"username": user, "password": password}),
    )
    .await;
    app
}

/// The office app of `user`, signed in with the tests' password.
pub async fn signed_in(dir: &std::path::Path, url: &str, user: &str) -> App {
    signed_in_with(dir, url, user, PASSWORD).await
}
