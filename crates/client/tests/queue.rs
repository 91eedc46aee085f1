//! The outbox as a queue: a change the server refuses or holds never blocks the ones behind it
//! (and its data stays on the device), a device hint shrinks batches and stretches the file
//! lane, each pull tells the office how deep the outbox is, and the sync loop runs on its own,
//! woken by a save and by the server's poke.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::Duration;
use common::*;
use fieldsync_client::{ChangeState, DeviceHint, OutboxState};
use fieldsync_core::{Group, RecordType};
use serde_json::json;

#[tokio::test]
async fn a_refused_change_never_blocks_the_ones_behind_it_and_its_data_stays() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let first = job_for(&harness, &dana, "tom", "Chapel Row").await;
    let second = job_for(&harness, &dana, "tom", "Dock Street").await;
    let tom = harness.device("tom", "tom's phone", 50).await;
    tom.client.sync_once().await.unwrap();

    // The first job is signed off; offline, Tom then adds a note to it, which the server must
    // refuse (a signed-off job is locked). A status jump it cannot make is refused too.
    tom.save(status(first.job, "signed_off")).await;
    tom.client.sync_once().await.unwrap();
    harness.proxy.go_down();
    let locked_note = tom
        .save(note(&tom, first.job, "forgot: replaced the fuse"))
        .await;
    let bad_jump = tom.save(status(second.job, "closed")).await;
    let behind: Vec<_> = vec![
        tom.save(note(&tom, second.job, "meter read 41234")).await,
        tom.save(part(&tom, second.job, "FUSE-13A", 2)).await,
        tom.save(update(
            RecordType::Job,
            second.job,
            Group::Description,
            json!({"summary": "fuse board checked"}),
        ))
        .await,
    ];
    harness.proxy.come_back();

    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(
        (report.applied, report.rejected, report.held),
        (3, 2, 0),
        "{report:?}"
    );
    for id in &behind {
        assert_eq!(tom.label(*id).await, "Synced");
    }
    let locked = tom.client.change_state(locked_note).await.unwrap().unwrap();
    let ChangeState::Rejected { code, reason } = &locked else {
        panic!("{locked:?}");
    };
    assert_eq!(code, "record_locked");
    assert_eq!(tom.label(locked_note).await, format!("Rejected: {reason}"));
    assert!(
        reason.contains(&first.number) && reason.contains("kept on your device"),
        "{reason}"
    );
    let jump = tom.row(bad_jump).await;
    assert_eq!(jump.state, OutboxState::Rejected);
    assert_eq!(jump.code.as_deref(), Some("invalid_transition"));
    assert_eq!(
        tom.record_label(second.job).await,
        tom.label(bad_jump).await
    );

    // What Tom typed is still on the device, for a follow-up.
    let row = tom.row(locked_note).await;
    assert_eq!(
        row.change.values["text"]["text"],
        "forgot: replaced the fuse"
    );
    assert_eq!(tom.client.status().await.unwrap().needs_attention, 2);
    // Nothing refused is sent again.
    harness.proxy.clear_log();
    tom.client.sync_now().await.unwrap();
    assert_eq!(harness.proxy.count(&Target::push()), 0);

    let notes = harness.api("sam").await.note_texts().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes.get("meter read 41234"), Some(&1));
    let history = dana.history(RecordType::Job, second.job).await;
    assert_eq!(history.record.state.as_str(), "assigned");
}

#[tokio::test]
async fn a_second_change_to_a_group_never_skips_review_when_the_first_was_held() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Lock Keeper's House").await;
    let phone = harness.device("tom", "tom's phone", 51).await;
    let sam = harness.device("sam", "sam's desktop", 52).await;
    phone.client.sync_once().await.unwrap();
    sam.client.sync_once().await.unwrap();

    // The office pauses the job; the phone, offline, opens it and then starts it.
    harness.proxy.go_down();
    let opened = phone.save(status(setup.job, "opened")).await;
    let started = phone.save(status(setup.job, "in_progress")).await;
    sam.save(status(setup.job, "paused")).await;
    harness.proxy.come_back();
    sam.client.sync_once().await.unwrap();

    // The first is held. The second was made on top of it, not on the office's version: it is
    // held too, never applied over the office's pause unseen.
    let report = phone.client.sync_once().await.unwrap();
    assert_eq!((report.applied, report.held), (0, 2), "{report:?}");
    for id in [opened, started] {
        assert_eq!(
            phone.label(id).await,
            "Another update changed this record. Review before sending again."
        );
    }
    let history = dana.history(RecordType::Job, setup.job).await;
    assert_eq!(history.record.state.as_str(), "paused");
    // One push per change of the group: the second waited for the first's answer.
    let pushes: Vec<_> = harness
        .proxy
        .log()
        .into_iter()
        .filter(|s| s.change_ids.contains(&started) || s.change_ids.contains(&opened))
        .map(|s| s.change_ids)
        .collect();
    assert_eq!(pushes, vec![vec![opened], vec![started]]);
}

#[tokio::test]
async fn a_device_hint_shrinks_batches_and_stretches_the_file_lane() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Windmill Hill").await;
    let tom = harness.device("tom", "tom's phone", 53).await;
    let twin = harness.device("tom", "tom's tablet", 53).await;
    tom.client.sync_once().await.unwrap();
    twin.client.sync_once().await.unwrap();
    tom.client.set_hint(DeviceHint {
        poor_signal: true,
        ..DeviceHint::default()
    });

    harness.proxy.go_down();
    for i in 0..50 {
        tom.save(note(&tom, setup.job, &format!("hinted {i:02}")))
            .await;
    }
    harness.proxy.come_back();
    harness.proxy.clear_log();
    tom.client.sync_once().await.unwrap();
    let sizes: Vec<usize> = harness
        .proxy
        .log()
        .iter()
        .filter(|s| s.path.ends_with("/sync/push"))
        .map(|s| s.change_ids.len())
        .collect();
    assert_eq!(sizes, vec![20, 20, 10]);

    // The same seed, the same failing upload: the hinted device waits four times as long.
    let mut waits = Vec::new();
    for device in [&tom, &twin] {
        let sha = device
            .client
            .attach_file(&photo_bytes(5_000, device.name.len() as u8))
            .await
            .unwrap();
        device.save(photo(device, setup.job, &sha, "hinted")).await;
    }
    harness.proxy.inject_always(Target::files(), Fault::Cut);
    for device in [&tom, &twin] {
        device.client.sync_now().await.unwrap();
        let next = device
            .client
            .status()
            .await
            .unwrap()
            .files
            .next_attempt
            .unwrap();
        waits.push((next - device.now()).num_milliseconds());
    }
    let (hinted, plain) = (waits[0], waits[1]);
    assert!(plain <= 60_000 && hinted <= 240_000, "{waits:?}");
    assert!((hinted - 4 * plain).abs() <= 4, "{waits:?}");
}

#[tokio::test]
async fn each_pull_tells_the_office_the_outbox_depth_and_the_oldest_pending_change() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Granary Court").await;
    let tom = harness.device("tom", "tom's phone", 54).await;
    tom.client.sync_once().await.unwrap();
    let device = |devices: Vec<fieldsync_server::store::DeviceInfo>| {
        devices
            .into_iter()
            .find(|d| d.name == "tom's phone")
            .unwrap()
    };
    let seen = device(dana.devices().await);
    assert_eq!(seen.outbox_depth, Some(0));
    assert_eq!(seen.oldest_pending, None);

    // Pushes fail, pulls work: the office can see the unsynced work piling up on the device.
    harness.proxy.inject_always(Target::push(), Fault::Cut);
    let oldest = harness.now();
    tom.save(note(&tom, setup.job, "one")).await;
    harness.advance(Duration::minutes(20));
    tom.save(note(&tom, setup.job, "two")).await;
    let sha = tom
        .client
        .attach_file(&photo_bytes(4_000, 9))
        .await
        .unwrap();
    tom.save(photo(&tom, setup.job, &sha, "three")).await;
    harness.advance(Duration::minutes(5));
    let report = tom.client.sync_once().await.unwrap();
    assert!(
        report.failed.iter().any(|f| f.starts_with("changes:")),
        "{report:?}"
    );
    let seen = device(dana.devices().await);
    assert_eq!(
        seen.outbox_depth,
        Some(3),
        "three changes wait; the photo's file is counted by its change"
    );
    assert_eq!(seen.oldest_pending, Some(oldest));
    assert_eq!(seen.last_seen, Some(harness.now()));

    harness.proxy.heal();
    tom.sync_until_done(&harness, 3).await;
    tom.client.sync_once().await.unwrap();
    let seen = device(dana.devices().await);
    assert_eq!(seen.outbox_depth, Some(0));
    assert_eq!(seen.oldest_pending, None);
}

#[tokio::test]
async fn the_sync_loop_runs_on_its_own_woken_by_a_save_and_by_the_servers_poke() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Bridge End").await;
    let tom = harness.device("tom", "tom's phone", 55).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let client = tom.client.clone();
    let running = tokio::spawn(async move { client.run(stopped).await });
    let mut watch = tom.client.subscribe();

    // The loop's first round pulls the job in.
    wait_until(&mut watch, |_| true).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while tom.client.record(setup.job).await.unwrap().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job never arrived"
        );
        watch.changed().await.unwrap();
    }

    // A save wakes the loop; nobody calls sync.
    let id = tom.save(note(&tom, setup.job, "by itself")).await;
    wait_until(&mut watch, |s| {
        s.changes.pending == 0 && s.last_synced.is_some()
    })
    .await;
    assert_eq!(tom.label(id).await, "Synced");

    // The office adds a note; the server's poke wakes the loop, which pulls it.
    let office_note = fieldsync_core::RecordId(uuid::Uuid::now_v7());
    dana.apply(wire_create(
        RecordType::JobNote,
        office_note,
        json!({"text": {"job_id": setup.job.to_string(), "text": "call the customer first"}}),
    ))
    .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while tom.client.record(office_note).await.unwrap().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the poke never led to a pull"
        );
        tokio::time::timeout(std::time::Duration::from_secs(20), watch.changed())
            .await
            .unwrap()
            .unwrap();
    }
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(20), running)
        .await
        .unwrap()
        .unwrap();
}

/// Waits (with a deadline) for the published status to satisfy `ready`: the loop runs on its
/// own task, which the test cannot await.
async fn wait_until(
    watch: &mut tokio::sync::watch::Receiver<fieldsync_client::SyncStatus>,
    ready: impl Fn(&fieldsync_client::SyncStatus) -> bool,
) {
    tokio::time::timeout(std::time::Duration::from_secs(20), watch.wait_for(ready))
        .await
        .expect("the sync loop did not get there in time")
        .unwrap();
}

#[tokio::test]
async fn a_change_the_server_keeps_failing_on_is_set_aside_and_the_rest_go_on() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let first = job_for(&harness, &dana, "tom", "Chapel Row").await;
    let second = job_for(&harness, &dana, "tom", "Dock Street").await;
    let tom = harness.device("tom", "tom's phone", 51).await;
    tom.client.sync_once().await.unwrap();

    // The server fails (500) on any request that carries one particular note, whatever else is
    // in the batch: without isolation, that note would sit at the head of the outbox for ever.
    harness
        .proxy
        .inject_always(Target::push().containing("POISON-NOTE"), Fault::ServerError);
    let poison = tom.save(note(&tom, first.job, "POISON-NOTE")).await;
    // Made on top of the poisoned change's record? No: a note is a record of its own, so a
    // later edit of the same job's description is unrelated and must go.
    let behind: Vec<_> = vec![
        tom.save(note(&tom, first.job, "meter read 41234")).await,
        tom.save(part(&tom, second.job, "FUSE-13A", 2)).await,
        tom.save(update(
            RecordType::Job,
            second.job,
            Group::Description,
            json!({"summary": "fuse board checked"}),
        ))
        .await,
    ];

    // One round finds the culprit in a few halvings, sets it aside, and sends the rest.
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.applied, 3, "{report:?}");
    for id in &behind {
        assert_eq!(tom.label(*id).await, "Synced");
    }
    let row = tom.row(poison).await;
    assert_eq!(row.failures, 1);
    let retry_at = row.retry_at.expect("set aside with its own next try");
    assert!(retry_at > harness.now());
    let ChangeState::SyncFailed { retry_at: shown } =
        tom.client.change_state(poison).await.unwrap().unwrap()
    else {
        panic!("the poisoned change says it failed");
    };
    assert_eq!(shown, retry_at);
    assert!(tom.label(poison).await.starts_with("Sync failed, retrying"));
    // It took a handful of requests, not one per change: three halvings to find it, then the
    // rest in growing batches.
    let pushes = harness.proxy.count(&Target::push());
    assert!((4..=6).contains(&pushes), "{pushes} pushes");

    // Until its own time comes, it is not sent again.
    harness.proxy.clear_log();
    tom.client.sync_once().await.unwrap();
    assert!(harness
        .proxy
        .log()
        .iter()
        .all(|seen| !seen.change_ids.contains(&poison)));

    // When the server is fixed, its own schedule brings it through; nothing was lost.
    harness.proxy.heal();
    harness.advance_to(retry_at);
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.applied, 1, "{report:?}");
    assert_eq!(tom.label(poison).await, "Synced");
    assert_eq!(tom.pending().await, 0);
}

#[tokio::test]
async fn changes_made_on_top_of_a_set_aside_change_wait_behind_it() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let job = job_for(&harness, &dana, "tom", "Chapel Row").await;
    let tom = harness.device("tom", "tom's phone", 52).await;
    tom.client.sync_once().await.unwrap();

    harness.proxy.inject_always(
        Target::push().containing("POISON-SUMMARY"),
        Fault::ServerError,
    );
    let summary = |text: &str| {
        update(
            RecordType::Job,
            job.job,
            Group::Description,
            json!({"summary": text}),
        )
    };
    let poison = tom.save(summary("POISON-SUMMARY")).await;
    let on_top = tom.save(summary("fuse board checked")).await;
    let unrelated = tom.save(note(&tom, job.job, "meter read 41234")).await;

    tom.client.sync_once().await.unwrap();
    assert!(tom.row(poison).await.retry_at.is_some());
    tom.client.sync_once().await.unwrap();
    assert_eq!(tom.label(unrelated).await, "Synced");
    // The second summary was made on the first: sending it first would turn the order round.
    assert_ne!(tom.label(on_top).await, "Synced");
    assert!(harness
        .proxy
        .log()
        .iter()
        .all(|seen| !seen.change_ids.contains(&on_top)));

    harness.proxy.heal();
    // "Sync now" tries what was set aside at once, and the one behind it follows.
    tom.client.sync_now().await.unwrap();
    assert_eq!(tom.label(poison).await, "Synced");
    tom.client.sync_now().await.unwrap();
    assert_eq!(tom.label(on_top).await, "Synced");
    let record = tom.client.record(job.job).await.unwrap().unwrap();
    assert_eq!(
        record.values[&Group::Description]["summary"],
        json!("fuse board checked")
    );
}
