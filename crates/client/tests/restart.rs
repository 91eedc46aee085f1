//! The app killed mid-sync and started again, in-process at chosen points and as a real
//! process killed with SIGKILL at seeded random points; and a reconnect after hours offline
//! while the person keeps saving. Every saved change ends on the server exactly once.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::Duration;
use common::*;
use fieldsync_client::cache::Cache;
use fieldsync_client::OutboxState;
use fieldsync_core::RecordType;
use rand::{Rng, SeedableRng};
use tokio::io::AsyncBufReadExt;

/// Runs a sync round in the background, waits until the proxy saw the `nth` request to
/// `target` from now (and, with `answered`, until the server answered it), then kills the app:
/// the round is dropped mid-flight and a new engine opens the same cache file.
async fn kill_during(
    harness: &Harness,
    device: &mut Device,
    target: Target,
    nth: usize,
    answered: bool,
) {
    let seen = harness.proxy.count(&target);
    let client = device.client.clone();
    let round = tokio::spawn(async move { client.sync_once().await });
    harness.proxy.wait_for(&target, seen + nth, answered).await;
    round.abort();
    assert!(round.await.unwrap_err().is_cancelled());
    device.restart().await;
}

#[tokio::test]
async fn killed_mid_push_after_the_server_committed_then_restarted() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Bakehouse Lane").await;
    let mut tom = harness.device("tom", "tom's phone", 40).await;
    tom.client.sync_once().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(
            tom.save(note(&tom, setup.job, &format!("note {i:03}")))
                .await,
        );
    }
    let status_id = tom.save(status(setup.job, "in_progress")).await;

    // The push reaches the server and is committed; the app dies before the answer.
    harness
        .proxy
        .inject(Target::push(), Fault::Hang { forward: true }, 1);
    kill_during(&harness, &mut tom, Target::push(), 1, true).await;
    assert_eq!(
        tom.pending().await,
        13,
        "after the restart the outbox is whole"
    );
    for id in &ids {
        assert_eq!(
            tom.label(*id).await,
            "Waiting to sync",
            "tried, not yet answered"
        );
    }
    let sam = harness.api("sam").await;
    assert_eq!(
        sam.note_texts().await.len(),
        12,
        "the server has them already"
    );

    tom.sync_until_done(&harness, 5).await;
    for id in ids.iter().chain([&status_id]) {
        assert_eq!(tom.label(*id).await, "Synced");
        assert!(tom.row(*id).await.outcome.unwrap().replayed);
    }
    let notes = sam.note_texts().await;
    assert_eq!(notes.len(), 12);
    assert!(notes.values().all(|n| *n == 1), "{notes:?}");
    let history = sam.history(RecordType::Job, setup.job).await;
    assert_eq!(
        history
            .entries
            .iter()
            .filter(|e| e.change_id == status_id)
            .count(),
        1
    );
}

#[tokio::test]
async fn killed_before_the_push_reached_the_server_mid_pull_and_mid_upload() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Tithe Barn").await;
    let mut tom = harness.device("tom", "tom's phone", 41).await;
    tom.client.sync_once().await.unwrap();

    // Mid-push, before the server saw it.
    let first = tom.save(note(&tom, setup.job, "first")).await;
    harness
        .proxy
        .inject(Target::push(), Fault::Hang { forward: false }, 1);
    kill_during(&harness, &mut tom, Target::push(), 1, false).await;
    assert_eq!(tom.pending().await, 1);
    let sam = harness.api("sam").await;
    assert!(sam.note_texts().await.is_empty());

    // Mid-pull: the cursor stays where the last whole page left it.
    let cursor = tom.client.cache().meta("cursor").await.unwrap();
    let office_note = fieldsync_core::RecordId(uuid::Uuid::now_v7());
    dana.apply(wire_create(
        RecordType::JobNote,
        office_note,
        serde_json::json!({"text": {"job_id": setup.job.to_string(), "text": "from the office"}}),
    ))
    .await;
    harness
        .proxy
        .inject(Target::pull(), Fault::Hang { forward: true }, 1);
    kill_during(&harness, &mut tom, Target::pull(), 1, true).await;
    assert_eq!(tom.client.cache().meta("cursor").await.unwrap(), cursor);
    assert!(tom.client.record(office_note).await.unwrap().is_none());

    // Mid-upload: one chunk of four reached the server; the restarted app resumes after it.
    let bytes = photo_bytes(4 * 256 * 1024, 7);
    let sha = tom.client.attach_file(&bytes).await.unwrap();
    let photo_id = tom.save(photo(&tom, setup.job, &sha, "roof")).await;
    harness.proxy.inject(Target::patch(), Fault::Pass, 1);
    harness
        .proxy
        .inject(Target::patch(), Fault::Hang { forward: true }, 1);
    harness.proxy.clear_log();
    // The killed round's first PATCH was answered; the second hung after the server stored it.
    kill_during(&harness, &mut tom, Target::patch(), 2, true).await;

    tom.sync_until_done(&harness, 5).await;
    let offsets: Vec<(u64, usize)> = harness
        .proxy
        .log()
        .iter()
        .filter(|s| s.method == "PATCH" && s.forwarded_bytes > 0)
        .map(|s| (s.upload_offset.unwrap(), s.forwarded_bytes))
        .collect();
    let chunk = 256 * 1024;
    assert_eq!(
        offsets,
        vec![
            (0, chunk),
            (chunk as u64, chunk),
            (2 * chunk as u64, chunk),
            (3 * chunk as u64, chunk)
        ],
        "each byte reached the server once"
    );
    for id in [first, photo_id] {
        assert_eq!(tom.label(id).await, "Synced");
    }
    assert!(
        tom.client.record(office_note).await.unwrap().is_some(),
        "pulled after all"
    );
    assert_eq!(sam.note_texts().await.get("first"), Some(&1));
    assert_eq!(sam.creates_of(RecordType::Photo).await.len(), 1);
}

#[tokio::test]
async fn reconnect_after_hours_offline_while_the_person_keeps_saving() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Ferry Road").await;
    let tom = harness.device("tom", "tom's phone", 42).await;
    tom.client.sync_once().await.unwrap();

    // Six hours without signal; the device keeps trying on its schedule and keeps saving.
    harness.proxy.go_down();
    let offline_from = harness.now();
    let mut expected = Vec::new();
    let mut ids = Vec::new();
    for i in 0..120 {
        let text = format!("hour {} note {i:03}", i / 20);
        ids.push(tom.save(note(&tom, setup.job, &text)).await);
        expected.push(text);
        if i % 10 == 0 {
            tom.client.sync_once().await.unwrap();
        }
        harness.advance(Duration::minutes(3));
    }
    ids.push(tom.save(status(setup.job, "in_progress")).await);
    ids.push(tom.save(part(&tom, setup.job, "FLUE-100", 1)).await);
    let status = tom.client.status().await.unwrap();
    assert_eq!(status.changes.pending, 122);
    assert!(status.changes.failures >= 10);
    let retry = status.changes.next_attempt.unwrap() - harness.now();
    assert!(
        retry <= Duration::minutes(5),
        "never more than the cap: {retry}"
    );
    assert!(harness.now() - offline_from >= Duration::hours(6));

    // Signal returns. The first push of the round is held at the proxy while the person goes
    // on saving; then it goes through.
    harness.proxy.come_back();
    harness.proxy.inject(Target::push(), Fault::Hold, 1);
    harness.proxy.clear_log();
    let client = tom.client.clone();
    let round = tokio::spawn(async move { client.sync_now().await });
    harness.proxy.wait_for(&Target::push(), 1, false).await;
    let mut typed = Vec::new();
    for i in 0..15 {
        let text = format!("typed while syncing {i:02}");
        let (id, state) = tom.client.save(note(&tom, setup.job, &text)).await.unwrap();
        assert_eq!(state.label(tom.now()), "Saved on this device");
        typed.push(id);
        expected.push(text);
    }
    assert_eq!(
        tom.pending().await,
        137,
        "the saves went in while a push was out"
    );
    harness.proxy.release(1);
    let report = round.await.unwrap().unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert!(report.applied >= 122, "{report:?}");
    tom.sync_until_done(&harness, 3).await;

    for id in ids.iter().chain(&typed) {
        assert_eq!(tom.label(*id).await, "Synced");
    }
    let notes = harness.api("sam").await.note_texts().await;
    assert_eq!(notes.len(), expected.len());
    for text in &expected {
        assert_eq!(notes.get(text), Some(&1), "{text}");
    }
    let history = dana.history(RecordType::Job, setup.job).await;
    assert_eq!(history.record.state.as_str(), "in_progress");
}

/// Where the kill -9 test's child program is.
fn sync_loop() -> &'static str {
    env!("CARGO_BIN_EXE_sync-loop")
}

/// Starts the child; it prints a line per save and per round, and "done" at the end.
fn spawn_child(
    harness: &Harness,
    cache: &std::path::Path,
    files: &std::path::Path,
    job: &str,
    count: u64,
) -> tokio::process::Child {
    tokio::process::Command::new(sync_loop())
        .args([
            harness.proxy.url.as_str(),
            cache.to_str().unwrap(),
            files.to_str().unwrap(),
            "tom",
            PASSWORD,
            job,
            &count.to_string(),
            "77",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn kill_9_at_random_points_then_restart_until_done() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Signal Box").await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache.db");
    let files = dir.path().join("files");
    let job = setup.job.to_string();
    const COUNT: u64 = 40;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_0009);

    let mut kills = 0;
    let mut mid_push_kills = 0;
    let mut finished = false;
    for run in 0..60 {
        let mut child = spawn_child(&harness, &cache, &files, &job, COUNT);
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // Some runs die exactly while a push is at the server: committed, never answered.
        let mid_push = run % 3 == 2;
        if mid_push {
            harness
                .proxy
                .inject(Target::push(), Fault::Hang { forward: true }, 1);
        }
        let kill_after: usize = rng.gen_range(1..=12);
        let push = Target::push();
        let pushes_before = harness.proxy.count(&push);
        let mut read = 0;
        let mut done = false;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let line = if mid_push {
                let pushed = harness.proxy.wait_for(&push, pushes_before + 1, true);
                tokio::select! {
                    line = lines.next_line() => line.unwrap(),
                    _ = pushed => {
                        mid_push_kills += 1;
                        break;
                    }
                }
            } else {
                tokio::time::timeout_at(deadline, lines.next_line())
                    .await
                    .expect("the child went quiet")
                    .unwrap()
            };
            let Some(line) = line else { break };
            read += 1;
            if line == "done" {
                done = true;
                break;
            }
            if !mid_push && read >= kill_after {
                break;
            }
        }
        if done {
            child.wait().await.unwrap();
            finished = true;
            break;
        }
        child.start_kill().unwrap();
        let status = child.wait().await.unwrap();
        assert!(!status.success());
        kills += 1;
        harness.proxy.heal();
    }
    eprintln!("kill -9: {kills} kills ({mid_push_kills} while a push was at the server)");
    assert!(finished, "the child never finished");
    assert!(kills >= 5, "only {kills} kills");
    assert!(
        mid_push_kills >= 1,
        "no kill while a push was at the server"
    );

    // Every note the child saved is on the server exactly once, and its outbox is settled.
    let notes = harness.api("sam").await.note_texts().await;
    assert_eq!(notes.len() as u64, COUNT, "{notes:?}");
    for index in 0..COUNT {
        assert_eq!(
            notes.get(&format!("note {index:03}")),
            Some(&1),
            "note {index}"
        );
    }
    let local = Cache::open(&cache).await.unwrap();
    assert_eq!(local.depth().await.unwrap(), (0, 0, None));
    let history = local.history(1000).await.unwrap();
    assert_eq!(history.len() as u64, COUNT);
    assert!(history.iter().all(|r| r.state == OutboxState::Synced));
}

#[tokio::test]
async fn a_restart_never_makes_an_id_it_made_before() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Weir Cottage").await;
    let mut tom = harness.device("tom", "tom's phone", 43).await;
    tom.client.sync_once().await.unwrap();
    let before_restart = tom.save(note(&tom, setup.job, "before the restart")).await;
    let made: Vec<_> = (0..50).map(|_| tom.client.new_change_id()).collect();

    // Killed and started again within the same millisecond, with the same seed.
    tom.restart().await;
    let again: Vec<_> = (0..50).map(|_| tom.client.new_change_id()).collect();
    assert!(made.iter().all(|id| !again.contains(id)));
    let after_restart = tom.save(note(&tom, setup.job, "after the restart")).await;
    assert_ne!(after_restart, before_restart);
    assert_eq!(
        tom.pending().await,
        2,
        "the new save is not taken for the old one"
    );
    tom.client.sync_once().await.unwrap();
    let notes = harness.api("sam").await.note_texts().await;
    assert_eq!(notes.get("before the restart"), Some(&1));
    assert_eq!(notes.get("after the restart"), Some(&1));
}
