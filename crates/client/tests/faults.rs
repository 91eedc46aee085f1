//! A bad network between the device and a real server: answers lost after the server
//! committed, batches cut on a poor link, 503 with Retry-After, the retry schedule of each lane,
//! "Sync now", and a photo whose upload breaks three times. Every case ends with each change on
//! the server exactly once and nothing lost; time moves only by the hand-moved clock.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::Duration;
use common::*;
use fieldsync_client::OutboxState;
use fieldsync_core::{OutcomeStatus, RecordType};

#[tokio::test]
async fn a_create_stored_but_whose_reply_is_lost_is_not_duplicated() {
    let harness = Harness::start().await;
    let olivia = harness.api("olivia").await;
    let customer = olivia.new_customer("Harbour Fish Co").await;
    let tom = harness.device("tom", "tom's phone", 10).await;
    tom.client.sync_once().await.unwrap();

    // Tom opens a job himself on site.
    let job = tom.client.new_record_id();
    let id = tom
        .save(create(
            RecordType::Job,
            job,
            job_values(customer, "Pier 4", "tom", harness.now()),
        ))
        .await;
    let local = tom.client.record(job).await.unwrap().unwrap();
    assert!(local.record.local_only);
    assert_eq!(
        local.record.number, None,
        "no number until the server accepts it"
    );
    assert_eq!(tom.record_label(job).await, "Saved on this device");

    // The server stores it; the answer is lost on the way back, twice.
    harness.proxy.inject(Target::push(), Fault::DropReply, 2);
    for attempt in 1..=2 {
        let report = tom.client.sync_once().await.unwrap();
        assert_eq!(report.applied, 0, "attempt {attempt}: {report:?}");
        let label = tom.label(id).await;
        assert!(label.starts_with("Sync failed, retrying in "), "{label}");
        assert_eq!(tom.record_label(job).await, label);
        let next = tom
            .client
            .status()
            .await
            .unwrap()
            .changes
            .next_attempt
            .unwrap();
        harness.advance_to(next);
    }
    let sam = harness.api("sam").await;
    let on_server = sam.history(RecordType::Job, job).await;
    let number = on_server.record.number.clone().unwrap();
    assert_eq!(number, "J-000001");

    // The resend carries the same change id: the stored outcome comes back, marked replayed.
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!((report.sent, report.applied), (1, 1), "{report:?}");
    let row = tom.row(id).await;
    let outcome = row.outcome.unwrap();
    assert!(outcome.replayed);
    assert_eq!(outcome.status, OutcomeStatus::Applied);
    assert_eq!(outcome.number.as_deref(), Some("J-000001"));
    assert_eq!(tom.label(id).await, "Synced");
    let view = tom.client.record(job).await.unwrap().unwrap();
    assert_eq!(view.record.number.as_deref(), Some("J-000001"));
    assert!(!view.record.local_only);
    assert_eq!(view.state.label(tom.now()), "Synced");

    // One job, one create, one number on the server; the three pushes carried one change id.
    let jobs = sam.creates_of(RecordType::Job).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs.get(&job), Some(&1));
    let history = sam.history(RecordType::Job, job).await;
    assert_eq!(history.entries.len(), 1, "{:?}", history.entries);
    let pushes: Vec<_> = harness
        .proxy
        .log()
        .into_iter()
        .filter(|s| s.path.ends_with("/sync/push"))
        .collect();
    assert_eq!(pushes.len(), 3);
    assert!(pushes.iter().all(|p| p.change_ids == vec![id]));
    assert_eq!(tom.client.cache().history(100).await.unwrap().len(), 1);
}

/// Saves `count` notes on a job while the server is unreachable; their change ids in order.
async fn notes_offline(
    harness: &Harness,
    device: &Device,
    job: fieldsync_core::RecordId,
    count: usize,
) -> Vec<fieldsync_core::ChangeId> {
    harness.proxy.go_down();
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(
            device
                .save(note(device, job, &format!("note {i:03}")))
                .await,
        );
    }
    harness.proxy.come_back();
    ids
}

#[tokio::test]
async fn a_poor_link_halves_the_batch_and_everything_lands_once() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Long Acre Farm").await;
    let tom = harness.device("tom", "tom's phone", 11).await;
    tom.client.sync_once().await.unwrap();
    let ids = notes_offline(&harness, &tom, setup.job, 60).await;

    // The link carries small requests only: a push of more than about 12 notes is cut.
    let one = serde_json::to_vec(&tom.row(ids[0]).await.change)
        .unwrap()
        .len();
    let limit = one * 12 + 40;
    harness.proxy.clear_log();
    harness
        .proxy
        .inject_always(Target::push().at_least(limit), Fault::Cut);

    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.applied, 0);
    for id in &ids {
        assert!(tom
            .label(*id)
            .await
            .starts_with("Sync failed, retrying in "));
    }
    let rounds = tom.sync_until_done(&harness, 30).await;
    assert!(rounds < 30);

    let pushes: Vec<_> = harness
        .proxy
        .log()
        .into_iter()
        .filter(|s| s.path.ends_with("/sync/push"))
        .collect();
    let sizes: Vec<usize> = pushes.iter().map(|p| p.change_ids.len()).collect();
    // 60 waiting, sent at most 100 at once; each cut halves the batch until it fits.
    assert_eq!(&sizes[..4], &[60, 50, 25, 12], "{sizes:?}");
    for push in &pushes {
        if push.fault == Fault::Cut {
            assert_eq!(
                push.forwarded_bytes, 0,
                "a cut push never reached the server"
            );
        } else {
            assert!(push.body_len < limit);
        }
    }
    assert!(sizes.iter().all(|s| *s >= 1));

    for id in &ids {
        assert_eq!(tom.label(*id).await, "Synced");
        assert!(
            !tom.row(*id).await.outcome.unwrap().replayed,
            "nothing reached the server twice"
        );
    }
    let notes = harness.api("sam").await.note_texts().await;
    assert_eq!(notes.len(), 60, "{notes:?}");
    assert!(notes.values().all(|n| *n == 1), "{notes:?}");
}

#[tokio::test]
async fn a_batch_cut_halfway_resumes_with_what_the_server_did_not_answer() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Mill Pond").await;
    let tom = harness.device("tom", "tom's phone", 12).await;
    tom.client.sync_once().await.unwrap();
    let ids = notes_offline(&harness, &tom, setup.job, 40).await;

    // The first 20 of the batch reach the server and are committed; then the link breaks.
    harness.proxy.inject(Target::push(), Fault::CommitHalf, 1);
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.applied, 0);
    assert_eq!(
        tom.pending().await,
        40,
        "the device cannot know which landed"
    );
    let sam = harness.api("sam").await;
    assert_eq!(
        sam.note_texts().await.len(),
        20,
        "half the batch was committed"
    );

    tom.sync_until_done(&harness, 5).await;
    let mut replayed = Vec::new();
    for id in &ids {
        let row = tom.row(*id).await;
        assert_eq!(row.state, OutboxState::Synced);
        replayed.push(row.outcome.unwrap().replayed);
    }
    assert_eq!(
        replayed,
        [vec![true; 20], vec![false; 20]].concat(),
        "the half the server had is answered from its stored outcomes"
    );
    let notes = sam.note_texts().await;
    assert_eq!(notes.len(), 40);
    assert!(notes.values().all(|n| *n == 1), "{notes:?}");
}

#[tokio::test]
async fn retry_after_is_obeyed() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Old Forge").await;
    let tom = harness.device("tom", "tom's phone", 13).await;
    tom.client.sync_once().await.unwrap();
    let id = tom.save(note(&tom, setup.job, "waiting for parts")).await;

    harness.proxy.clear_log();
    harness
        .proxy
        .inject(Target::push(), Fault::Unavailable { retry_after: 120 }, 1);
    let start = tom.now();
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.applied, 0);
    let status = tom.client.status().await.unwrap();
    assert_eq!(
        status.changes.next_attempt,
        Some(start + Duration::seconds(120))
    );
    assert_eq!(tom.label(id).await, "Sync failed, retrying in 2 minutes");
    assert_eq!(
        harness.proxy.requests(),
        1,
        "after the 503 the device asks nothing more of the server this round"
    );

    // A second before the server's time: nothing is sent, however often a round runs.
    harness.advance(Duration::seconds(119));
    for _ in 0..3 {
        tom.client.sync_once().await.unwrap();
    }
    assert_eq!(harness.proxy.count(&Target::push()), 1);
    assert_eq!(harness.proxy.requests(), 1, "{:?}", harness.proxy.log());
    assert!(tom
        .label(id)
        .await
        .starts_with("Sync failed, retrying in 1 minute"));

    harness.advance(Duration::seconds(1));
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.applied, 1);
    assert_eq!(tom.label(id).await, "Synced");
    assert_eq!(harness.api("sam").await.note_texts().await.len(), 1);
}

#[tokio::test]
async fn retry_after_on_a_pull_is_obeyed_too() {
    let harness = Harness::start().await;
    let tom = harness.device("tom", "tom's phone", 14).await;
    tom.client.sync_once().await.unwrap();
    harness.proxy.clear_log();
    harness
        .proxy
        .inject(Target::pull(), Fault::Unavailable { retry_after: 300 }, 1);
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].starts_with("pull:"), "{report:?}");
    harness.advance(Duration::seconds(299));
    tom.client.sync_once().await.unwrap();
    assert_eq!(
        harness.proxy.count(&Target::pull()),
        1,
        "no pull before the server's time"
    );
    harness.advance(Duration::seconds(1));
    let report = tom.client.sync_once().await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(harness.proxy.count(&Target::pull()), 2);
}

/// Runs `rounds` rounds against a server that is down, moving the clock to the given lane's
/// next try after each; the delays the lane chose, in seconds (fractional).
async fn delays_while_down(
    harness: &Harness,
    device: &Device,
    files: bool,
    rounds: usize,
) -> Vec<f64> {
    harness.proxy.go_down();
    let mut delays = Vec::new();
    for _ in 0..rounds {
        device.client.sync_once().await.unwrap();
        let status = device.client.status().await.unwrap();
        let lane = if files { status.files } else { status.changes };
        let next = lane.next_attempt.unwrap();
        delays.push((next - device.now()).num_milliseconds() as f64 / 1000.0);
        harness.advance_to(next);
    }
    harness.proxy.come_back();
    delays
}

#[tokio::test]
async fn the_changes_lane_retries_from_about_two_seconds_doubling_with_full_jitter_to_five_minutes()
{
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Cross Keys").await;
    let mut delays = Vec::new();
    for (seed, name) in [
        (21, "tom's phone"),
        (21, "tom's tablet"),
        (22, "tom's old phone"),
    ] {
        let device = harness.device("tom", name, seed).await;
        device.client.sync_once().await.unwrap();
        device.save(note(&device, setup.job, name)).await;
        delays.push(delays_while_down(&harness, &device, false, 14).await);
        device.sync_until_done(&harness, 3).await;
    }
    for (attempt, delay) in delays[0].iter().enumerate() {
        let ceiling = (2.0 * 2f64.powi(attempt as i32)).min(300.0);
        assert!(
            *delay > 0.0 && *delay <= ceiling,
            "attempt {}: {delay} s > {ceiling} s",
            attempt + 1
        );
    }
    assert!(
        delays[0][0] <= 2.0,
        "the first retry comes within about 2 s"
    );
    assert!(
        delays[0].iter().all(|d| *d <= 300.0),
        "capped at five minutes"
    );
    assert!(
        delays[0][9..].iter().any(|d| *d > 150.0),
        "the cap is reached: {:?}",
        delays[0]
    );
    assert_eq!(
        delays[0], delays[1],
        "the same seed gives the same schedule"
    );
    assert_ne!(delays[0], delays[2], "another seed another");
}

#[tokio::test]
async fn the_file_lane_retries_from_about_a_minute_to_thirty_minutes() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Bell Street").await;
    let tom = harness.device("tom", "tom's phone", 23).await;
    tom.client.sync_once().await.unwrap();
    let sha = tom
        .client
        .attach_file(&photo_bytes(50_000, 2))
        .await
        .unwrap();
    let id = tom.save(photo(&tom, setup.job, &sha, "meter")).await;
    let delays = delays_while_down(&harness, &tom, true, 10).await;
    for (attempt, delay) in delays.iter().enumerate() {
        let ceiling = (60.0 * 2f64.powi(attempt as i32)).min(1800.0);
        assert!(
            *delay > 0.0 && *delay <= ceiling,
            "attempt {}: {delay} s > {ceiling} s",
            attempt + 1
        );
    }
    assert!(
        delays[6..].iter().any(|d| *d > 900.0),
        "the cap is reached: {delays:?}"
    );
    // The server is out of reach, not failing: the photo waits (the banner says the server is
    // gone and when the next try is).
    let label = tom.label(id).await;
    assert_eq!(label, "Waiting to sync", "the photo waits for its file");
    tom.sync_until_done(&harness, 3).await;
    assert_eq!(tom.label(id).await, "Synced");
}

#[tokio::test]
async fn sync_now_retries_both_lanes_at_once_and_says_what_still_failed() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Rope Walk").await;
    let tom = harness.device("tom", "tom's phone", 15).await;
    tom.client.sync_once().await.unwrap();
    let note_id = tom.save(note(&tom, setup.job, "gas off")).await;
    let sha = tom
        .client
        .attach_file(&photo_bytes(20_000, 3))
        .await
        .unwrap();
    let photo_id = tom.save(photo(&tom, setup.job, &sha, "flue")).await;

    harness.proxy.go_down();
    let report = tom.client.sync_once().await.unwrap();
    let failed: Vec<&str> = report
        .failed
        .iter()
        .map(|f| f.split(':').next().unwrap())
        .collect();
    assert_eq!(failed, ["changes", "files", "pull"], "{report:?}");
    let status = tom.client.status().await.unwrap();
    assert!(status.changes.next_attempt.unwrap() > tom.now());
    assert!(status.files.next_attempt.unwrap() > tom.now());

    // The network is back but uploads are still broken. A plain round waits for the schedule;
    // "Sync now" tries both lanes at once and says which one still failed.
    harness.proxy.come_back();
    harness.proxy.inject_always(Target::files(), Fault::Cut);
    harness.proxy.clear_log();
    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(harness.proxy.count(&Target::push()), 0);
    assert_eq!(harness.proxy.count(&Target::files()), 0);

    let report = tom.client.sync_now().await.unwrap();
    assert_eq!((report.sent, report.applied), (1, 1), "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].starts_with("files: "), "{report:?}");
    assert_eq!(
        harness.proxy.count(&Target::files()),
        1,
        "the file lane was tried now"
    );
    assert_eq!(tom.label(note_id).await, "Synced");
    assert!(tom
        .label(photo_id)
        .await
        .starts_with("Sync failed, retrying in "));

    harness.proxy.heal();
    let report = tom.client.sync_now().await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.files_uploaded, 1);
    assert_eq!(tom.label(photo_id).await, "Synced");
    assert_eq!(tom.pending().await, 0);
}

#[tokio::test]
async fn a_photo_upload_fails_three_times_then_resumes_at_the_servers_offset() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Canal Basin").await;
    let tom = harness.device("tom", "tom's phone", 16).await;
    tom.client.sync_once().await.unwrap();
    const CHUNK: u64 = 256 * 1024;
    let bytes = photo_bytes(4 * CHUNK as usize, 4);
    let sha = tom.client.attach_file(&bytes).await.unwrap();
    let photo_change = photo(&tom, setup.job, &sha, "burnt-out pump");
    let photo_record = photo_change.record_id;
    let photo_id = tom.save(photo_change).await;
    let status_id = tom.save(status(setup.job, "in_progress")).await;

    // Try 1: the first chunk lands, the second is cut. Try 2: cut before the offset is known.
    // Try 3: a chunk reaches the server but its answer is lost. Then the network is good.
    let proxy = &harness.proxy;
    proxy.inject(Target::head(), Fault::Pass, 1);
    proxy.inject(Target::head(), Fault::Cut, 1);
    proxy.inject(Target::patch(), Fault::Pass, 1);
    proxy.inject(Target::patch(), Fault::Cut, 1);
    proxy.inject(Target::patch(), Fault::DropReply, 1);
    proxy.clear_log();

    let mut file_retries = Vec::new();
    for attempt in 1..=3 {
        let report = tom.client.sync_once().await.unwrap();
        assert_eq!(report.files_uploaded, 0, "try {attempt}: {report:?}");
        assert!(
            report.failed.iter().any(|f| f.starts_with("files:")),
            "{report:?}"
        );
        // A file never holds up a change: the status went in the first round.
        assert_eq!(tom.label(status_id).await, "Synced", "try {attempt}");
        let label = tom.label(photo_id).await;
        assert!(
            label.starts_with("Sync failed, retrying in "),
            "try {attempt}: {label}"
        );
        assert_eq!(tom.record_label(photo_record).await, label);
        let status = tom.client.status().await.unwrap();
        assert_eq!(status.files.failures, attempt);
        assert_eq!(status.files.pending, 1);
        let next = status.files.next_attempt.unwrap();
        file_retries.push((next - tom.now()).num_seconds());
        // A round before the file lane is due leaves it alone.
        let before = proxy.count(&Target::files());
        tom.client.sync_once().await.unwrap();
        assert_eq!(proxy.count(&Target::files()), before);
        harness.advance_to(next);
    }
    assert!(
        file_retries[0] <= 60 && file_retries[1] <= 120 && file_retries[2] <= 240,
        "{file_retries:?}"
    );
    let history = dana.history(RecordType::Job, setup.job).await;
    assert_eq!(history.record.state.as_str(), "in_progress");

    let report = tom.client.sync_once().await.unwrap();
    assert_eq!(report.files_uploaded, 1, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(tom.label(photo_id).await, "Synced");

    // Every PATCH that reached the server began where the server stood: no byte twice.
    let log = proxy.log();
    let patches: Vec<_> = log.iter().filter(|s| s.method == "PATCH").collect();
    let forwarded: Vec<(u64, usize)> = patches
        .iter()
        .filter(|p| p.forwarded_bytes > 0)
        .map(|p| (p.upload_offset.unwrap(), p.forwarded_bytes))
        .collect();
    assert_eq!(
        forwarded,
        vec![
            (0, CHUNK as usize),
            (CHUNK, CHUNK as usize),
            (2 * CHUNK, CHUNK as usize),
            (3 * CHUNK, CHUNK as usize)
        ],
        "the server got the remaining bytes only"
    );
    let cut: Vec<_> = patches.iter().filter(|p| p.fault == Fault::Cut).collect();
    assert_eq!(cut.len(), 1);
    assert_eq!(cut[0].upload_offset, Some(CHUNK));
    // The photo's change went after its file's last byte, and not before.
    let last_patch = log.iter().rposition(|s| s.method == "PATCH").unwrap();
    let photo_pushes: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, s)| s.change_ids.contains(&photo_id))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(photo_pushes.len(), 1);
    assert!(photo_pushes[0] > last_patch);

    let sam = harness.api("sam").await;
    let photos = sam.creates_of(RecordType::Photo).await;
    assert_eq!(photos.get(&photo_record), Some(&1));
    assert_eq!(photos.len(), 1);
    let upload: reqwest::Response = sam
        .http
        .head(format!("{}/api/v1/files/{sha}", sam.base))
        .bearer_auth(&sam.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        upload.headers()["upload-offset"],
        (4 * CHUNK).to_string().as_str()
    );
    assert_eq!(
        report.summary,
        vec![format!("{}: Your photos synced.", setup.number)]
    );
}

#[tokio::test]
async fn a_slow_link_is_slow_but_loses_and_repeats_nothing() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Far Paddock").await;
    let tom = harness.device("tom", "tom's phone", 17).await;
    tom.client.sync_once().await.unwrap();
    tom.client.set_hint(fieldsync_client::DeviceHint {
        poor_signal: true,
        ..Default::default()
    });
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            tom.save(note(&tom, setup.job, &format!("slow {i:02}")))
                .await,
        );
    }
    let sha = tom
        .client
        .attach_file(&photo_bytes(600_000, 8))
        .await
        .unwrap();
    ids.push(tom.save(photo(&tom, setup.job, &sha, "far")).await);

    harness.proxy.clear_log();
    harness.proxy.inject_always(
        Target::any(),
        Fault::Delay(std::time::Duration::from_millis(40)),
    );
    let report = tom.client.sync_once().await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(
        (report.applied, report.files_uploaded),
        (31, 1),
        "{report:?}"
    );
    assert!(harness
        .proxy
        .log()
        .iter()
        .all(|s| matches!(s.fault, Fault::Delay(_))));
    for id in &ids {
        assert_eq!(tom.label(*id).await, "Synced");
        assert!(!tom.row(*id).await.outcome.unwrap().replayed);
    }
    let sam = harness.api("sam").await;
    assert_eq!(sam.note_texts().await.len(), 30);
    assert_eq!(sam.creates_of(RecordType::Photo).await.len(), 1);
}

/// One push answered with the note refused under `code`; returns the device, the note's change
/// id and that round's report.
async fn note_refused_once(
    harness: &Harness,
    code: &'static str,
) -> (
    Device,
    fieldsync_core::ChangeId,
    fieldsync_client::SyncReport,
) {
    let dana = harness.api("dana").await;
    let setup = job_for(harness, &dana, "tom", "Mill Lane").await;
    let tom = harness.device("tom", "tom's phone", 21).await;
    tom.client.sync_once().await.unwrap();
    let id = tom.save(note(&tom, setup.job, "boiler serviced")).await;
    harness.proxy.clear_log();
    harness
        .proxy
        .inject(Target::push(), Fault::RejectEach { code }, 1);
    let report = tom.client.sync_once().await.unwrap();
    (tom, id, report)
}

#[tokio::test]
async fn a_change_refused_for_a_passing_reason_stays_pending_and_is_not_counted_rejected() {
    for code in ["unavailable", "internal"] {
        let harness = Harness::start().await;
        let (tom, id, report) = note_refused_once(&harness, code).await;

        // The lane and the outbox agree: the change was sent, not rejected, and still waits.
        assert_eq!(report.sent, 1, "{code}: {report:?}");
        assert_eq!(report.rejected, 0, "{code}: {report:?}");
        assert_eq!(report.applied, 0, "{code}: {report:?}");
        assert!(
            report.summary.iter().all(|line| !line.contains("rejected")),
            "{code}: {:?}",
            report.summary
        );
        assert_eq!(
            harness.proxy.count(&Target::push()),
            1,
            "{code}: a refusal that settles nothing ends the lane's turn"
        );
        let label = tom.label(id).await;
        assert!(
            label == "Waiting to sync" || label.starts_with("Sync failed, retrying"),
            "{code}: {label}"
        );
        assert_eq!(tom.row(id).await.state, OutboxState::Pending, "{code}");
        assert_eq!(tom.pending().await, 1, "{code}");
        let status = tom.client.status().await.unwrap();
        assert_eq!(status.needs_attention, 0, "{code}: {status:?}");

        // The next round sends it again and it lands.
        let report = tom.client.sync_once().await.unwrap();
        assert_eq!(report.applied, 1, "{code}: {report:?}");
        assert_eq!(tom.label(id).await, "Synced", "{code}");
    }
}

#[tokio::test]
async fn a_change_refused_for_good_reads_rejected_and_is_counted() {
    let harness = Harness::start().await;
    let (tom, id, report) = note_refused_once(&harness, "invalid_change").await;
    assert_eq!(report.rejected, 1, "{report:?}");
    assert_eq!(
        tom.label(id).await,
        "Rejected: refused for now (invalid_change)"
    );
    assert_eq!(tom.pending().await, 0);
}
