//! Local first: a save is on the device before anything touches the network, a double tap and
//! a form sent twice are one change, and the states a person sees (and a UI watches) follow
//! each step.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_client::ChangeState;
use fieldsync_core::{OutcomeStatus, RecordType};

#[tokio::test]
async fn a_save_is_saved_on_this_device_before_any_network_then_synced() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "12 Mill Lane").await;
    let tom = harness.device("tom", "tom's phone", 1).await;
    tom.client.sync_once().await.unwrap();
    let job = tom.client.record(setup.job).await.unwrap().unwrap();
    assert_eq!(job.record.number.as_deref(), Some(setup.number.as_str()));
    assert_eq!(tom.record_label(setup.job).await, "Synced");

    // Offline: the save answers at once, from the device alone.
    harness.proxy.go_down();
    harness.proxy.clear_log();
    let (id, state) = tom
        .client
        .save(status(setup.job, "in_progress"))
        .await
        .unwrap();
    assert_eq!(state, ChangeState::SavedOnDevice);
    assert_eq!(state.label(tom.now()), "Saved on this device");
    assert_eq!(
        harness.proxy.requests(),
        0,
        "a save never touches the network"
    );
    assert_eq!(tom.label(id).await, "Saved on this device");
    assert_eq!(tom.record_label(setup.job).await, "Saved on this device");
    let view = tom.client.record(setup.job).await.unwrap().unwrap();
    assert_eq!(
        view.values[&fieldsync_core::Group::Status]["state"],
        "in_progress",
        "the device shows its own change laid over the server's state"
    );
    assert_eq!(view.pending, 1);

    // A round while the server is down: the change stays and waits; out of reach is not a
    // failure of the change, and its words carry no clock time (the next try is the status's
    // instant, shown by the screen in the person's own time).
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.applied, 0);
    assert!(
        report.failed.iter().any(|f| f.starts_with("changes:")),
        "{report:?}"
    );
    let status = tom.client.status().await.unwrap();
    let retry_at = status.changes.next_attempt.unwrap();
    assert!(retry_at > tom.now() && retry_at <= tom.now() + chrono::Duration::seconds(2));
    assert!(!status.server_reachable);
    let label = tom.label(id).await;
    assert_eq!(label, "Waiting to sync");
    assert_eq!(tom.record_label(setup.job).await, label);
    assert_eq!(tom.pending().await, 1);

    // Back online at the retry time: synced, once.
    harness.proxy.come_back();
    harness.advance_to(retry_at);
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!((report.sent, report.applied), (1, 1), "{report:?}");
    assert_eq!(tom.label(id).await, "Synced");
    assert_eq!(tom.record_label(setup.job).await, "Synced");
    let history = dana.history(RecordType::Job, setup.job).await;
    let mine: Vec<_> = history
        .entries
        .iter()
        .filter(|e| e.change_id == id)
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].outcome.status, OutcomeStatus::Applied);
    assert_eq!(history.record.state.as_str(), "in_progress");
}

#[tokio::test]
async fn a_double_tap_on_save_is_one_change() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "3 Harbour Road").await;
    let tom = harness.device("tom", "tom's phone", 2).await;
    tom.client.sync_once().await.unwrap();

    // The form made its change id when it opened; both taps carry it.
    let tap = note(&tom, setup.job, "replaced the pressure valve");
    let form_id = tom.client.new_change_id();
    let mut first = tap.clone();
    first.change_id = Some(form_id);
    let mut second = tap;
    second.change_id = Some(form_id);
    let (a, state_a) = tom.client.save(first).await.unwrap();
    let (b, state_b) = tom.client.save(second).await.unwrap();
    assert_eq!((a, b), (form_id, form_id));
    assert_eq!(state_a, ChangeState::SavedOnDevice);
    assert_eq!(state_b, ChangeState::SavedOnDevice);
    assert_eq!(tom.pending().await, 1, "two taps, one change in the outbox");
    assert_eq!(tom.client.cache().history(100).await.unwrap().len(), 1);

    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.sent, 1);
    // A third tap after the sync is still the same change: it says where that one stands.
    let mut third = note(&tom, setup.job, "replaced the pressure valve");
    third.change_id = Some(form_id);
    let (_, state) = tom.client.save(third).await.unwrap();
    assert_eq!(state, ChangeState::Synced);
    assert_eq!(tom.pending().await, 0);
    tom.client.sync_once().await.unwrap();

    let sam = harness.api("sam").await;
    let notes = sam.note_texts().await;
    assert_eq!(
        notes.get("replaced the pressure valve"),
        Some(&1),
        "{notes:?}"
    );
}

#[tokio::test]
async fn the_same_form_submitted_twice_is_one_change_on_the_server() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "9 Quarry Street").await;
    let tom = harness.device("tom", "tom's phone", 3).await;
    tom.client.sync_once().await.unwrap();

    // The first submission reaches the server but its answer is lost; the person, seeing no
    // "Synced", submits the same form again (the form keeps its change id; the record id it
    // would make a second time is new, and must not matter).
    let form_id = tom.client.new_change_id();
    let mut first = part(&tom, setup.job, "VALVE-22", 2);
    first.change_id = Some(form_id);
    let first_record = first.record_id;
    tom.save(first).await;
    harness.proxy.inject(Target::push(), Fault::DropReply, 1);
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.applied, 0, "the answer was lost: {report:?}");
    assert!(tom
        .label(form_id)
        .await
        .starts_with("Sync failed, retrying in "));

    let mut again = part(&tom, setup.job, "VALVE-22", 2);
    again.change_id = Some(form_id);
    assert_ne!(again.record_id, first_record);
    let (_, state) = tom.client.save(again).await.unwrap();
    assert!(state.is_pending(), "{state:?}");
    assert_eq!(tom.pending().await, 1, "still one change on the device");

    tom.sync_until_done(&harness, 5).await;
    assert_eq!(tom.label(form_id).await, "Synced");
    let row = tom.row(form_id).await;
    assert!(
        row.outcome.as_ref().unwrap().replayed,
        "the server answered the resend from its stored outcome: {:?}",
        row.outcome
    );

    let sam = harness.api("sam").await;
    let parts = sam.creates_of(RecordType::PartLine).await;
    assert_eq!(parts.len(), 1, "one part line on the server: {parts:?}");
    assert_eq!(parts.get(&first_record), Some(&1));
    let history = sam.history(RecordType::PartLine, first_record).await;
    assert_eq!(
        history
            .entries
            .iter()
            .filter(|e| e.change_id == form_id)
            .count(),
        1
    );
}

#[tokio::test]
async fn the_watch_channel_and_status_follow_every_step() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "1 Station Yard").await;
    let tom = harness.device("tom", "tom's phone", 4).await;
    tom.client.sync_once().await.unwrap();
    let mut watch = tom.client.subscribe();
    watch.borrow_and_update();
    assert_eq!(watch.borrow().changes.pending, 0);
    assert_eq!(watch.borrow().banner(tom.now()), "Synced");

    tom.save(note(&tom, setup.job, "on site")).await;
    assert!(watch.has_changed().unwrap(), "a save is published at once");
    {
        let now = watch.borrow_and_update();
        assert_eq!(now.changes.pending, 1);
        assert_eq!(now.changes.next_attempt, Some(tom.now()), "due now");
        assert_eq!(
            now.banner(tom.now()),
            "Waiting to sync: 1 saved on this device."
        );
    }

    harness.proxy.go_down();
    tom.client.sync_once().await.unwrap();
    let failed = watch.borrow_and_update().clone();
    assert_eq!(failed.changes.failures, 1);
    assert!(!failed.server_reachable);
    let changes_retry = failed.changes.next_attempt.unwrap();
    assert!(changes_retry > tom.now());
    assert!(failed.changes.last_error.is_some());
    let banner = failed.banner(tom.now());
    assert_eq!(
        banner,
        "The server is unreachable. Working from this device's copy. Waiting to sync: 1 saved on this device."
    );
    // Nothing in the file lane: it has no next try to show.
    assert_eq!(failed.files.pending, 0);
    assert_eq!(failed.files.next_attempt, None);

    // A photo makes the file lane known too, with its own next try.
    let sha = tom
        .client
        .attach_file(&photo_bytes(10_000, 1))
        .await
        .unwrap();
    tom.save(photo(&tom, setup.job, &sha, "boiler plate")).await;
    harness.advance_to(changes_retry);
    tom.client.sync_once().await.unwrap();
    let both = tom.client.status().await.unwrap();
    assert_eq!(both.files.pending, 1);
    assert_eq!(both.changes.pending, 2);
    let files_retry = both.files.next_attempt.unwrap();
    assert!(files_retry > tom.now() && files_retry <= tom.now() + chrono::Duration::seconds(60));
    assert!(both.changes.next_attempt.unwrap() > tom.now());
    assert_eq!(*watch.borrow_and_update(), both);

    harness.proxy.come_back();
    let report = tom.client.sync_now().await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    let done = watch.borrow_and_update().clone();
    assert_eq!(done.changes.pending + done.files.pending, 0);
    assert_eq!(
        (done.changes.next_attempt, done.files.next_attempt),
        (None, None)
    );
    assert!(done.server_reachable);
    assert_eq!(done.last_synced, Some(tom.now()));
    assert_eq!(done.banner(tom.now()), "Synced");
    assert_eq!(
        done.summary,
        vec![format!("{}: Your notes and photos synced.", setup.number)]
    );
}
