//! A shared office PC: each person who signs in gets their own cache, outbox and token, so the
//! next person sees none of the last one's records and never sends their changes; signing out
//! with unsynced work says so and keeps it for that person's next sign-in; a refused session
//! keeps its outbox for the same person; the token is never in a cache database. All against a
//! real server on loopback, through the command table the window uses.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_app::desk::{Desk, DeskPreset};
use fieldsync_app::App;
use fieldsync_client::SystemClock;
use fieldsync_core::Role;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

async fn desk(dir: &Path, server: &str) -> App {
    let desk = Desk::open(
        &dir.join("desk"),
        DeskPreset {
            server: Some(server.into()),
            computer_name: Some("Front desk PC".into()),
            default_computer_name: None,
        },
        Desk::file_tokens(),
        Arc::new(SystemClock),
    )
    .unwrap();
    App::on_desk(desk).await
}

async fn sign_in(app: &App, user: &str) -> Value {
    call(
        app,
        "sign_in",
        json!({"username": user, "password": PASSWORD}),
    )
    .await
}

/// A job saved on this device and not yet sent (nothing runs the sync loop in these tests).
async fn unsent_job(app: &App, summary: &str) -> String {
    let form = call(app, "new_action_id", Value::Null).await;
    let created = call(
        app,
        "create_job",
        json!({
            "action_id": form["action_id"], "customer_id": uuid::Uuid::now_v7().to_string(),
            "site": "Pier 4", "window_start": null, "summary": summary,
            "assignee": "tom", "confirm_duplicate": true,
        }),
    )
    .await;
    created["job_id"].as_str().unwrap().to_string()
}

async fn summaries(app: &App) -> Vec<String> {
    let board = call(app, "board", json!({})).await;
    board
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["summary"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Waits until `check` holds, reading again on each of the app's change notices (no sleeping),
/// for at most `within`; the last value read is in the failure.
async fn until<F, Fut>(app: &App, within: std::time::Duration, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), Value>>,
{
    let mut notices = app.changes();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let last = match check().await {
            Ok(()) => return,
            Err(last) => last,
        };
        if tokio::time::timeout_at(deadline, notices.recv())
            .await
            .is_err()
        {
            panic!("{what} within {within:?}; last: {last}");
        }
    }
}

/// The desk's device ("Front desk PC"), as the admin's People page lists it.
async fn desk_device(ada: &App) -> Value {
    let people = call(ada, "people", Value::Null).await;
    people["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Front desk PC")
        .unwrap()["device_id"]
        .clone()
}

/// Every byte of a SQLite database, its log included.
fn database_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    let mut wal = path.as_os_str().to_os_string();
    wal.push("-wal");
    bytes.extend(std::fs::read(wal).unwrap_or_default());
    bytes
}

#[tokio::test]
async fn the_next_person_sees_none_of_the_last_ones_records_and_sends_none_of_their_changes() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[
            ("dana", Role::Dispatcher),
            ("sam", Role::Supervisor),
            ("tom", Role::Technician),
        ],
    )
    .await;
    let app = desk(dir.path(), &url).await;
    assert_eq!(call(&app, "session", Value::Null).await, Value::Null);

    sign_in(&app, "dana").await;
    unsent_job(&app, "Dana's unsent job").await;
    unsent_job(&app, "Dana's second unsent job").await;
    assert_eq!(summaries(&app).await.len(), 2);
    let out = call(&app, "sign_out", Value::Null).await;
    assert_eq!(out["unsynced"], 2);
    assert_eq!(
        out["message"],
        "2 of dana's changes are not synced yet; they are sent when dana signs in again on this computer."
    );
    // Signed out, nothing of hers is readable.
    let refused = fieldsync_app::bridge::dispatch(&app, "board", json!({}))
        .await
        .unwrap_err();
    assert_eq!(refused.code, "unauthenticated");
    let view = call(&app, "desk", Value::Null).await;
    assert_eq!(view["waiting"][0]["user"], "dana");
    assert_eq!(view["waiting"][0]["changes"], 2);

    // Sam on the same computer: none of Dana's records, and a round of his sends none of them.
    let session = sign_in(&app, "sam").await;
    assert_eq!(session["user"], "sam");
    assert!(summaries(&app).await.is_empty(), "sam sees dana's cache");
    call(&app, "sync_now", Value::Null).await;
    let banner = call(&app, "sync_status", Value::Null).await;
    assert_eq!(banner["changes_pending"], 0);
    let elsewhere = signed_in(&dir.path().join("elsewhere"), &url, "sam").await;
    call(&elsewhere, "sync_now", Value::Null).await;
    assert!(
        summaries(&elsewhere).await.is_empty(),
        "dana's changes reached the server while sam was signed in"
    );
    call(&app, "sign_out", Value::Null).await;

    // Dana again: her outbox goes, under her name.
    sign_in(&app, "dana").await;
    call(&app, "sync_now", Value::Null).await;
    let banner = call(&app, "sync_status", Value::Null).await;
    assert_eq!(banner["changes_pending"], 0, "{banner}");
    let view = call(&app, "desk", Value::Null).await;
    assert_eq!(view["waiting"], json!([]));
    call(&elsewhere, "sync_now", Value::Null).await;
    let mut seen = summaries(&elsewhere).await;
    seen.sort();
    assert_eq!(seen, ["Dana's second unsent job", "Dana's unsent job"]);
    let card = &call(&elsewhere, "board", json!({})).await[0];
    let job = call(&elsewhere, "job", json!({ "job_id": card["id"] })).await;
    let timeline = job["timeline"].to_string();
    assert!(timeline.contains("dana"), "{timeline}");
    assert!(!timeline.contains("sam"), "{timeline}");

    // Each person's folder, and no token in any cache database.
    for user in ["dana", "sam"] {
        let folder = dir.path().join("desk").join("people").join(user);
        let token = std::fs::read_to_string(folder.join("session.token")).unwrap_or_default();
        let cache = database_bytes(&folder.join("cache.db"));
        if !token.is_empty() {
            assert!(
                !cache.windows(token.len()).any(|w| w == token.as_bytes()),
                "{user}'s token is in their cache"
            );
        }
    }
}

#[tokio::test]
async fn a_restart_opens_on_the_last_persons_screens_until_they_sign_out() {
    let dir = tempfile::tempdir().unwrap();
    let url = server(dir.path()).await;
    {
        let app = desk(dir.path(), &url).await;
        sign_in(&app, "dana").await;
    }
    let app = desk(dir.path(), &url).await;
    let session = call(&app, "session", Value::Null).await;
    assert_eq!(session["user"], "dana");
    call(&app, "sign_out", Value::Null).await;
    drop(app);
    let app = desk(dir.path(), &url).await;
    assert_eq!(call(&app, "session", Value::Null).await, Value::Null);
}

#[tokio::test]
async fn a_failed_first_sign_in_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let url = server(dir.path()).await;
    let app = desk(dir.path(), &url).await;
    let refused = fieldsync_app::bridge::dispatch(
        &app,
        "sign_in",
        json!({"username": "dana", "password": "not her password"}),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code, "invalid_credentials", "{refused:?}");
    let refused = fieldsync_app::bridge::dispatch(
        &app,
        "sign_in",
        json!({"username": "../etc", "password": PASSWORD}),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code, "invalid_credentials", "{refused:?}");
    let people: Vec<_> = std::fs::read_dir(dir.path().join("desk").join("people"))
        .unwrap()
        .collect();
    assert!(people.is_empty(), "{people:?}");
}

#[tokio::test]
async fn a_revoked_desk_returns_to_sign_in_and_its_outbox_goes_after_signing_in_again() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[("dana", Role::Dispatcher), ("ada", Role::Admin)],
    )
    .await;
    let app = desk(dir.path(), &url).await;
    sign_in(&app, "dana").await;
    let ada = signed_in(dir.path(), &url, "ada").await;
    let device = desk_device(&ada).await;
    unsent_job(&app, "Saved before the revoke").await;
    call(&ada, "revoke_device", json!({ "device_id": device })).await;

    call(&app, "sync_now", Value::Null).await;
    assert_eq!(call(&app, "session", Value::Null).await, Value::Null);
    let banner = call(&app, "sync_status", Value::Null).await;
    assert!(banner["signed_out"].is_string(), "{banner}");
    assert_eq!(banner["changes_pending"], 1);
    assert_eq!(banner["synced"], false);

    sign_in(&app, "dana").await;
    call(&app, "sync_now", Value::Null).await;
    let banner = call(&app, "sync_status", Value::Null).await;
    assert_eq!(banner["changes_pending"], 0, "{banner}");
    call(&ada, "sync_now", Value::Null).await;
    assert_eq!(summaries(&ada).await, ["Saved before the revoke"]);
}

#[tokio::test]
async fn the_server_address_is_checked_before_it_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let url = server(dir.path()).await;
    let desk = Desk::open(
        &dir.path().join("desk"),
        DeskPreset::default(),
        Desk::file_tokens(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let app = App::on_desk(desk).await;
    let view = call(&app, "desk", Value::Null).await;
    assert_eq!(view["first_run"], true);
    assert_eq!(view["settings"]["computer_name"], view["hostname"]);

    let wrong = call(&app, "check_server", json!({"server": "not an address"})).await;
    assert_eq!(wrong["ok"], false);
    assert!(wrong["message"]
        .as_str()
        .unwrap()
        .contains("not a web address"));
    let silent = call(
        &app,
        "check_server",
        json!({"server": "http://127.0.0.1:9"}),
    )
    .await;
    assert_eq!(silent["ok"], false);
    assert!(silent["message"]
        .as_str()
        .unwrap()
        .contains("Nothing answered"));
    let right = call(&app, "check_server", json!({"server": format!("{url}/")})).await;
    assert_eq!(right["ok"], true, "{right}");
    assert_eq!(right["server"], url);
    // Typed without its scheme, as people do: a server on the office network is plain HTTP.
    let bare = call(
        &app,
        "check_server",
        json!({"server": url.trim_start_matches("http://")}),
    )
    .await;
    assert_eq!(bare["ok"], true, "{bare}");
    assert_eq!(bare["server"], url);

    let refused = fieldsync_app::bridge::dispatch(
        &app,
        "save_settings",
        json!({"server": "http://127.0.0.1:9", "computer_name": "Front desk PC"}),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code, "server_check");
    let refused = fieldsync_app::bridge::dispatch(
        &app,
        "sign_in",
        json!({"username": "dana", "password": PASSWORD}),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code, "not_configured");

    let saved = call(
        &app,
        "save_settings",
        json!({"server": url, "computer_name": "  Front desk PC "}),
    )
    .await;
    assert_eq!(saved["first_run"], false);
    assert_eq!(saved["settings"]["computer_name"], "Front desk PC");
    sign_in(&app, "dana").await;
    // The name the dispatchers see for this computer is the one given.
    let devices = call(&app, "sync_now", Value::Null).await;
    assert!(devices.is_object());
    drop(app);
    let desk = Desk::open(
        &dir.path().join("desk"),
        DeskPreset::default(),
        Desk::file_tokens(),
        Arc::new(SystemClock),
    )
    .unwrap();
    assert_eq!(desk.settings().server.as_deref(), Some(url.as_str()));
    assert_eq!(desk.settings().computer_name, "Front desk PC");
}

#[tokio::test]
async fn the_background_work_follows_whoever_signs_in_and_stops_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[("dana", Role::Dispatcher), ("sam", Role::Supervisor)],
    )
    .await;
    let app = Arc::new(desk(dir.path(), &url).await);
    let (stop, rx) = tokio::sync::watch::channel(false);
    let running = tokio::spawn({
        let app = app.clone();
        async move { app.run(rx).await }
    });
    // Nobody signed in: it idles, and stops when asked.
    sign_in(&app, "dana").await;
    unsent_job(&app, "Sent by Dana's own loop").await;
    // Dana's loop sends her save by itself: the banner says so, read on each notice.
    until(
        &app,
        std::time::Duration::from_secs(10),
        "dana's save synced by her own loop",
        || async {
            let banner = call(&app, "sync_status", Value::Null).await;
            match banner["changes_pending"] == 0 && banner["synced"] == true {
                true => Ok(()),
                false => Err(banner),
            }
        },
    )
    .await;
    call(&app, "sign_out", Value::Null).await;
    let _ = stop.send(true);
    tokio::time::timeout(std::time::Duration::from_secs(5), running)
        .await
        .expect("the app's background work ends when asked, with nobody signed in")
        .unwrap();
}

#[tokio::test]
async fn a_revoked_desk_goes_to_sign_in_at_once_with_nobody_pressing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[("dana", Role::Dispatcher), ("ada", Role::Admin)],
    )
    .await;
    let app = Arc::new(desk(dir.path(), &url).await);
    sign_in(&app, "dana").await;
    let ada = signed_in(dir.path(), &url, "ada").await;
    let mut notices = app.changes();
    let (stop, rx) = tokio::sync::watch::channel(false);
    tokio::spawn({
        let app = app.clone();
        async move { app.run(rx).await }
    });
    // The loop's first rounds (at start, when its event stream opens, and the device list's
    // trailing read 2 s after) are over once its notices go quiet for longer than that; after
    // that it would call the server again only when poked, or in a minute.
    while tokio::time::timeout(std::time::Duration::from_millis(2500), notices.recv())
        .await
        .is_ok()
    {}
    let device = desk_device(&ada).await;
    call(&ada, "revoke_device", json!({ "device_id": device })).await;
    // The revoke pokes the devices; the desk's own loop pulls, is refused, and signs out.
    until(
        &app,
        std::time::Duration::from_secs(5),
        "signed out after the revoke",
        || async {
            match call(&app, "session", Value::Null).await {
                Value::Null => Ok(()),
                session => Err(session),
            }
        },
    )
    .await;
    let banner = call(&app, "sync_status", Value::Null).await;
    assert!(banner["signed_out"].is_string(), "{banner}");
    assert_eq!(banner["synced"], false);
    let _ = stop.send(true);
}
