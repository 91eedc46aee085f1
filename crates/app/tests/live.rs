//! Screens live without polling: another person's change, committed on the server, reaches this
//! app's change notices (the server pokes, the client's loop syncs and publishes, `run_live`
//! turns it into a notice) within a second or two, over the bridge's SSE route too; and the
//! owner column's unsynced count follows the technician's device after rounds, with nobody
//! opening a dialog.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_app::live::Changed;
use fieldsync_app::{bridge, App};
use fieldsync_client::{HttpTransport, Transport};
use fieldsync_core::Role;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

async fn signed_in_shared(dir: &std::path::Path, url: &str, user: &str) -> Arc<App> {
    Arc::new(signed_in(dir, url, user).await)
}

/// Waits (a poll with a deadline) until the app's own loop has had its first round with the
/// server, so the notices that follow are about what the test does, not about starting up.
async fn settled(app: &App) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = app.client().unwrap().status().await.unwrap();
        if status.round_reached_server {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no first round: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The app's background work (the sync loop and its notices), as the shells run it.
fn run(app: &Arc<App>) -> tokio::sync::watch::Sender<bool> {
    let (stop, rx) = tokio::sync::watch::channel(false);
    let app = app.clone();
    tokio::spawn(async move { app.run(rx).await });
    stop
}

/// The next notice that satisfies `want`, within `within`.
async fn notice(
    rx: &mut broadcast::Receiver<Changed>,
    within: Duration,
    want: impl Fn(&Changed) -> bool,
) -> Changed {
    tokio::time::timeout(within, async {
        loop {
            let changed = rx.recv().await.unwrap();
            if want(&changed) {
                return changed;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no such notice within {within:?}"))
}

async fn new_job(app: &App, site: &str, assignee: &str) -> String {
    let form = call(app, "new_action_id", Value::Null).await;
    let created = call(
        app,
        "create_job",
        json!({
            "action_id": form["action_id"], "customer_id": uuid::Uuid::now_v7().to_string(),
            "site": site, "window_start": null, "summary": "Boiler service",
            "assignee": assignee, "confirm_duplicate": true,
        }),
    )
    .await;
    created["job_id"].as_str().unwrap().to_string()
}

async fn board_has(app: &App, job: &str) -> bool {
    let board = call(app, "board", json!({"text": null, "state": null})).await;
    board
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == json!(job))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_persons_commit_reaches_the_notices_and_the_board_without_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[("dana", Role::Dispatcher), ("sam", Role::Supervisor)],
    )
    .await;
    let dana = signed_in_shared(dir.path(), &url, "dana").await;
    let sam = signed_in_shared(dir.path(), &url, "sam").await;
    let _dana_runs = run(&dana);
    let _sam_runs = run(&sam);
    let mut notices = dana.changes();
    // Dana's first round done, the test listens from a clean slate.
    settled(&dana).await;
    while notices.try_recv().is_ok() {}

    let job = new_job(&sam, "Pier 9", "dana").await;
    let seen = notice(&mut notices, Duration::from_secs(3), |c| c.records).await;
    assert!(seen.records && seen.reviews);
    assert!(
        board_has(&dana, &job).await,
        "the notice came after the job was on dana's device"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_serves_the_notices_as_server_sent_events_behind_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[("dana", Role::Dispatcher), ("sam", Role::Supervisor)],
    )
    .await;
    let dana = signed_in_shared(dir.path(), &url, "dana").await;
    let sam = signed_in_shared(dir.path(), &url, "sam").await;
    let stop = run(&dana);
    let _sam_runs = run(&sam);
    let secret = bridge::new_secret();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = bridge::router(dana.clone(), secret.clone(), None);
    let serving = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(std::future::pending())
            .await
    });

    let http = reqwest::Client::new();
    let refused = http
        .get(format!("{base}/api/not-the-secret/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let mut stream = http
        .get(format!("{base}/api/{secret}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    settled(&dana).await;
    let job = new_job(&sam, "Pier 10", "dana").await;
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(3), async {
        while !text.contains("\"records\":true") {
            let chunk = stream.chunk().await.unwrap().unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no records notice over SSE: {text:?}"));
    assert!(text.contains("event: changed"), "{text}");
    assert!(board_has(&dana, &job).await);

    // The notices end with the app's loop, so a graceful shutdown is not held open.
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(3), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await
    .expect("the stream ends when the app stops");
    serving.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_columns_unsynced_count_follows_the_technicians_device_after_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[("dana", Role::Dispatcher), ("tom", Role::Technician)],
    )
    .await;
    let dana = signed_in_shared(dir.path(), &url, "dana").await;
    let tom = signed_in_shared(dir.path(), &url, "tom").await;
    let job = new_job(&dana, "Pier 11", "tom").await;
    call(&dana, "sync_now", Value::Null).await;
    let _dana_runs = run(&dana);
    let mut notices = dana.changes();
    let unsynced = |board: Value| {
        board
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == json!(job))
            .map(|c| c["owner"]["unsynced"].clone())
    };

    // Tom's device reports three changes waiting (as its pulls do while its pushes fail);
    // someone's commit then pokes dana's app, and its owner column has them, unasked.
    use fieldsync_client::TokenStore;
    let token = fieldsync_client::FileTokens::beside(&dir.path().join("tom").join("cache.db"))
        .load()
        .unwrap()
        .unwrap();
    HttpTransport::new(&url)
        .unwrap()
        .pull(&token, 0, 1, 3, Some(chrono::Utc::now()))
        .await
        .unwrap();
    new_job(&dana, "Pier 12", "tom").await;
    notice(&mut notices, Duration::from_secs(5), |c| c.devices).await;
    let board = call(&dana, "board", json!({"text": null, "state": null})).await;
    assert_eq!(unsynced(board), Some(json!(3)));

    // Tom's device syncs (its push pokes, its pull reports an empty outbox just after): the
    // count goes back to none waiting with nobody opening anything.
    tom.client()
        .unwrap()
        .save(fieldsync_client::NewChange {
            change_id: None,
            record_type: fieldsync_core::RecordType::JobNote,
            record_id: tom.client().unwrap().new_record_id(),
            group: None,
            op: fieldsync_core::Op::Create,
            values: json!({"text": {"job_id": job, "text": "on site"}}),
            file_sha256: None,
        })
        .await
        .unwrap();
    tom.client().unwrap().sync_once().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(6);
    loop {
        notice(&mut notices, Duration::from_secs(6), |c| c.devices).await;
        let board = call(&dana, "board", json!({"text": null, "state": null})).await;
        if unsynced(board.clone()) == Some(json!(0)) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{board}");
    }
}
