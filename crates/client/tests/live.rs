//! The device knows at once whether the server is there, and says it in words that are true:
//! a killed server turns the status unreachable within seconds (its event stream drops and
//! cannot be reopened), an offline save reads "Saved on this device" then "Waiting to sync",
//! the words never carry a UTC clock time, and a server that comes back is noticed and synced
//! to without anyone asking.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_client::status::UNREACHABLE;
use fieldsync_client::{ChangeState, SyncClient, SyncStatus};
use fieldsync_core::RecordType;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A real server in a runtime of its own, so the test can kill it the way a crash does: every
/// task and socket goes at once, with no goodbye to the clients. It comes back on the same port
/// over the same database.
struct KillableServer {
    runtime: Option<tokio::runtime::Runtime>,
    port: u16,
    dir: PathBuf,
}

impl KillableServer {
    async fn start(dir: &Path, port: u16) -> KillableServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let db = dir.to_path_buf();
        runtime.spawn(async move {
            let store = fieldsync_server::SqliteStore::open(&db.join("server.db"))
                .await
                .unwrap();
            use fieldsync_server::store::Store;
            if store.list_users().await.unwrap().is_empty() {
                for (name, role, team) in USERS {
                    store
                        .add_user(
                            fieldsync_server::store::NewUser {
                                name: name.into(),
                                display_name: format!("{name} (test)"),
                                role,
                                team: team.map(str::to_string),
                                password_hash: password_hash(),
                            },
                            chrono::Utc::now(),
                        )
                        .await
                        .unwrap();
                }
            }
            // The same port after a kill: the old connections linger in TIME_WAIT.
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.set_reuseaddr(true).unwrap();
            socket
                .bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
                .unwrap();
            let listener = socket.listen(128).unwrap();
            let _ = tx.send(listener.local_addr().unwrap().port());
            let state = fieldsync_server::AppState::new(
                Arc::new(store),
                fieldsync_core::Policy::default_policy(),
                db.join("server-files"),
                Arc::new(fieldsync_server::SystemClock),
                fieldsync_server::Limits::default(),
            );
            let _ = fieldsync_server::serve(listener, state, std::future::pending()).await;
        });
        let port = rx.await.unwrap();
        KillableServer {
            runtime: Some(runtime),
            port,
            dir: dir.to_path_buf(),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    async fn restart(&mut self) {
        self.kill();
        *self = KillableServer::start(&self.dir.clone(), self.port).await;
    }
}

impl Drop for KillableServer {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn api(base: &str, user: &str) -> Api {
    let http = reqwest::Client::new();
    let body: Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": PASSWORD, "device_name": format!("{user}'s desk")}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Api {
        http,
        base: base.to_string(),
        token: body["token"].as_str().unwrap().to_string(),
        user: user.to_string(),
    }
}

/// Waits (polling, with a deadline) until the status satisfies `ok`; the status it ended on.
async fn status_until(
    client: &SyncClient,
    within: Duration,
    what: &str,
    ok: impl Fn(&SyncStatus) -> bool,
) -> SyncStatus {
    let deadline = Instant::now() + within;
    loop {
        let status = client.status().await.unwrap();
        if ok(&status) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not within {within:?}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A clock time as a `%H:%M` (or `%I:%M`) would print it.
fn has_clock_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(5).any(|w| {
        w[0].is_ascii_digit()
            && w[1].is_ascii_digit()
            && w[2] == b':'
            && w[3].is_ascii_digit()
            && w[4].is_ascii_digit()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_is_known_within_five_seconds_and_its_return_is_synced_to_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = KillableServer::start(dir.path(), 0).await;
    let olivia = api(&server.url(), "olivia").await;
    let dana = api(&server.url(), "dana").await;
    let customer = olivia.new_customer("Acme Bakery").await;
    let clock = Arc::new(fieldsync_client::ManualClock::new(chrono::Utc::now()));
    let (job, _) = dana
        .new_job(
            customer,
            "3 Canal Row",
            "tom",
            fieldsync_client::Clock::now(&*clock),
        )
        .await;
    let device_dir = tempfile::tempdir().unwrap();
    let tom = open_client(
        &device_dir.path().join("cache.db"),
        &device_dir.path().join("files"),
        &server.url(),
        clock.clone(),
        "tom's phone",
        5,
        |config| config.reconnect_cap = Duration::from_secs(1),
    )
    .await;
    tom.login("tom", PASSWORD).await.unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let running = tom.clone();
    let run = tokio::spawn(async move { running.run(stop_rx).await });
    let synced = status_until(&tom, Duration::from_secs(5), "first sync", |s| {
        s.is_synced()
    })
    .await;
    assert_eq!(
        synced.banner(fieldsync_client::Clock::now(&*clock)),
        "Synced"
    );

    // Killed: no round is due (the device is idle for a minute), yet the status turns at once.
    server.kill();
    let killed_at = Instant::now();
    let gone = status_until(&tom, Duration::from_secs(5), "unreachable", |s| {
        !s.server_reachable
    })
    .await;
    assert!(killed_at.elapsed() < Duration::from_secs(5));
    assert_eq!(
        gone.banner(fieldsync_client::Clock::now(&*clock)),
        UNREACHABLE
    );
    assert!(!gone.is_synced());

    // An offline save: first on the device, then waiting (the loop tried it and found nobody).
    let (id, state) = tom.save(status(job, "in_progress")).await.unwrap();
    assert_eq!(state, ChangeState::SavedOnDevice);
    assert_eq!(
        state.label(fieldsync_client::Clock::now(&*clock)),
        "Saved on this device"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let waiting = loop {
        let state = tom.change_state(id).await.unwrap().unwrap();
        if state != ChangeState::SavedOnDevice {
            break state;
        }
        assert!(Instant::now() < deadline, "the loop never tried the save");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(waiting, ChangeState::WaitingToSync);
    let offline = tom.status().await.unwrap();
    let banner = offline.banner(fieldsync_client::Clock::now(&*clock));
    assert_eq!(
        banner,
        format!("{UNREACHABLE} Waiting to sync: 1 saved on this device.")
    );
    assert!(!has_clock_time(&banner), "{banner}");
    assert!(
        offline.changes.next_attempt.is_some(),
        "the next try travels as an instant, for the screen to show in local time"
    );

    // Back on the same port: the event stream reopens, a round runs, nobody asked.
    server.restart().await;
    let back = status_until(&tom, Duration::from_secs(10), "synced again", |s| {
        s.is_synced()
    })
    .await;
    assert_eq!(back.banner(fieldsync_client::Clock::now(&*clock)), "Synced");
    assert_eq!(
        tom.change_state(id).await.unwrap(),
        Some(ChangeState::Synced)
    );
    let history = dana.history(RecordType::Job, job).await;
    assert!(
        history.entries.iter().any(|e| e.change_id == id),
        "the offline save is on the server"
    );
    let _ = stop.send(true);
    run.await.unwrap();
}

#[tokio::test]
async fn a_failing_server_reads_sync_failed_in_whole_minutes_without_a_clock_time() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "9 Quay Street").await;
    let tom = harness.device("tom", "tom's phone", 8).await;
    tom.client.sync_once().await.unwrap();
    let id = tom.save(note(&tom, setup.job, "boiler serviced")).await;
    assert_eq!(tom.label(id).await, "Saved on this device");

    // The server is there and says "not now, in five minutes": that is a failure to sync, in
    // the product's fixed words, and the time it names is the status's instant, not text.
    harness
        .proxy
        .inject(Target::push(), Fault::Unavailable { retry_after: 300 }, 1);
    tom.client.sync_once().await.unwrap();
    let label = tom.label(id).await;
    assert_eq!(label, "Sync failed, retrying in 5 minutes");
    let status = tom.client.status().await.unwrap();
    assert!(status.server_reachable, "{status:?}");
    let banner = status.banner(tom.now());
    assert_eq!(
        banner,
        "Sync failed, retrying in 5 minutes. 1 waiting on this device."
    );
    for text in [&label, &banner] {
        assert!(!has_clock_time(text), "{text}");
    }
    assert_eq!(
        status.changes.next_attempt,
        Some(tom.now() + chrono::Duration::seconds(300))
    );
    assert!(!status.is_synced());
}

#[tokio::test]
async fn synced_needs_a_round_that_reached_the_server_and_an_empty_outbox() {
    let harness = Harness::start().await;
    let tom = harness.device("tom", "tom's phone", 9).await;
    // Signed in, but no round yet: nothing says "Synced".
    let fresh = tom.client.status().await.unwrap();
    assert!(!fresh.is_synced());
    assert_ne!(fresh.banner(tom.now()), "Synced");
    tom.client.sync_once().await.unwrap();
    assert_eq!(
        tom.client.status().await.unwrap().banner(tom.now()),
        "Synced"
    );

    // A round that found no server, with nothing waiting: not "Synced" either.
    harness.proxy.go_down();
    tom.client.sync_once().await.unwrap();
    let down = tom.client.status().await.unwrap();
    assert!(!down.server_reachable && !down.round_reached_server);
    assert_eq!(down.banner(tom.now()), UNREACHABLE);

    harness.proxy.come_back();
    tom.client.sync_once().await.unwrap();
    let revision = tom.client.status().await.unwrap().revision;
    assert_eq!(
        tom.client.status().await.unwrap().banner(tom.now()),
        "Synced"
    );

    // Another person's change pulled moves the revision a screen watches.
    let dana = harness.api("dana").await;
    job_for(&harness, &dana, "tom", "4 Dock Road").await;
    tom.client.sync_once().await.unwrap();
    assert!(tom.client.status().await.unwrap().revision > revision);
}

#[tokio::test]
async fn a_void_still_in_the_outbox_shows_the_state_it_ends_in() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "2 Ferry Lane").await;
    let desk = harness.device("dana", "dana's desk", 10).await;
    desk.client.sync_once().await.unwrap();
    harness.proxy.go_down();
    desk.save(fieldsync_client::NewChange {
        change_id: None,
        record_type: RecordType::Job,
        record_id: setup.job,
        group: None,
        op: fieldsync_core::Op::Void,
        values: json!({"reason": "customer cancelled"}),
        file_sha256: None,
    })
    .await;
    // The page and the board read the same view: while the void waits, it says where the job
    // ends, not the state it was voided from.
    let view = desk.client.record(setup.job).await.unwrap().unwrap();
    let end = RecordType::Job.void_state(None);
    assert_eq!(
        view.values[&fieldsync_core::Group::Status]["state"],
        json!(end.as_str())
    );
    assert_eq!(view.state, ChangeState::SavedOnDevice);
}
