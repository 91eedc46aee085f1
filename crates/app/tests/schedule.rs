//! The schedule board's commands against a real server on loopback: a job moved in time keeps
//! its owner and reaches the server; a board that missed someone else's move is refused
//! instead of overwriting it; a job given to a team waits in the unassigned tray and its old
//! technician's device learns it moved; and which jobs the tray holds.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_app::App;
use fieldsync_client::NewChange;
use fieldsync_core::{Group, Op, Owner, RecordId, RecordType, Role};
use serde_json::{json, Value};

/// Today from midnight UTC, as the UI asks for a day.
fn today() -> (chrono::DateTime<chrono::Utc>, Value) {
    let midnight = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let args = json!({
        "from": midnight.to_rfc3339(),
        "to": (midnight + chrono::Duration::days(1)).to_rfc3339(),
    });
    (midnight, args)
}

/// A stored time as the instant it names (the store writes `+00:00`, a form `Z`).
fn instant(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .into()
}

fn at(midnight: chrono::DateTime<chrono::Utc>, hour: i64) -> String {
    (midnight + chrono::Duration::hours(hour)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A customer made by `app` (a dispatcher may create customers).
async fn customer(app: &App) -> RecordId {
    let id = app.client().unwrap().new_record_id();
    app.client()
        .unwrap()
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Customer,
            record_id: id,
            group: None,
            op: Op::Create,
            values: json!({"profile": {"name": "Northgate Bakery"}}),
            file_sha256: None,
        })
        .await
        .unwrap();
    id
}

/// A job created by `app` for `assignee` (empty: nobody yet), at `window` if given, synced.
async fn job(
    app: &App,
    customer: RecordId,
    site: &str,
    assignee: &str,
    window: Option<(&str, &str)>,
) -> RecordId {
    let id = app.client().unwrap().new_record_id();
    let mut schedule =
        json!({"customer_id": customer.to_string(), "site": site, "assignee": assignee});
    if assignee.is_empty() {
        schedule.as_object_mut().unwrap().remove("assignee");
    }
    if let Some((start, end)) = window {
        schedule["window_start"] = json!(start);
        schedule["window_end"] = json!(end);
    }
    app.client()
        .unwrap()
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Job,
            record_id: id,
            group: None,
            op: Op::Create,
            values: json!({"schedule": schedule, "description": {"summary": site}}),
            file_sha256: None,
        })
        .await
        .unwrap();
    call(app, "sync_now", Value::Null).await;
    id
}

/// The board's entry for `job`, among its timed jobs or in its tray.
fn find<'a>(board: &'a Value, list: &str, job: RecordId) -> Option<&'a Value> {
    board[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["card"]["id"] == json!(job.to_string()))
}

async fn window_on_server(app: &App, job: RecordId) -> (Value, Value, Owner) {
    call(app, "sync_now", Value::Null).await;
    let view = app.client().unwrap().record(job).await.unwrap().unwrap();
    let schedule = view.values[&Group::Schedule].clone();
    (
        schedule["window_start"].clone(),
        schedule["window_end"].clone(),
        view.record.owner,
    )
}

#[tokio::test]
async fn a_job_moved_in_time_keeps_its_owner_and_the_server_has_the_new_window() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[("tom", Role::Technician), ("dana", Role::Dispatcher)],
    )
    .await;
    let tom = signed_in(dir.path(), &url, "tom").await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let (midnight, day) = today();
    let c = customer(&dana).await;
    let id = job(
        &dana,
        c,
        "Bakery oven",
        "tom",
        Some((&at(midnight, 8), &at(midnight, 10))),
    )
    .await;

    let board = call(&dana, "schedule", day.clone()).await;
    assert_eq!(board["can_move"], json!(true));
    let shown = find(&board, "jobs", id)
        .expect("tom's job is on today's board")
        .clone();
    assert_eq!(shown["card"]["owner"]["name"], json!("tom"));
    let tom_row = board["teams"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|lane| lane["technicians"].as_array().unwrap().iter())
        .find(|r| r["person"]["name"] == json!("tom"))
        .expect("tom has a row");
    assert_eq!(tom_row["person"]["team"], json!("technician"));

    let moved = call(
        &dana,
        "reschedule",
        json!({"job_id": id.to_string(), "window_start": at(midnight, 13), "window_end": at(midnight, 15),
               "base_version": shown["schedule_version"], "action_id": null}),
    )
    .await;
    assert_eq!(moved["job"]["card"]["owner"]["name"], json!("tom"));
    assert_eq!(moved["state_label"], json!("Synced"));
    assert!(
        moved["job"]["schedule_version"].as_i64() > shown["schedule_version"].as_i64(),
        "the board's next move is made on the new version"
    );

    // The technician's device pulls the new window, and the job is still his.
    let (start, end, owner) = window_on_server(&tom, id).await;
    assert_eq!(
        (instant(&start), instant(&end), owner),
        (
            midnight + chrono::Duration::hours(13),
            midnight + chrono::Duration::hours(15),
            Owner::User("tom".into())
        )
    );

    // A window that ends before it starts is refused with a sentence, nothing queued.
    let error = fieldsync_app::bridge::dispatch(
        &dana,
        "reschedule",
        json!({"job_id": id.to_string(), "window_start": at(midnight, 15), "window_end": at(midnight, 14),
               "base_version": moved["job"]["schedule_version"], "action_id": null}),
    )
    .await
    .expect_err("backwards window");
    assert_eq!(error.code, "invalid_change");
}

#[tokio::test]
async fn a_stale_boards_reschedule_is_refused_and_the_newer_schedule_stands() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[
            ("tom", Role::Technician),
            ("dana", Role::Dispatcher),
            ("dev", Role::Dispatcher),
        ],
    )
    .await;
    let tom = signed_in(dir.path(), &url, "tom").await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let dev = signed_in(dir.path(), &url, "dev").await;
    let (midnight, day) = today();
    let c = customer(&dana).await;
    let id = job(
        &dana,
        c,
        "Walk-in cooler",
        "tom",
        Some((&at(midnight, 8), &at(midnight, 10))),
    )
    .await;
    call(&dev, "sync_now", Value::Null).await;

    // Dana's board is read; meanwhile Dev moves the job to the afternoon.
    let dana_board = call(&dana, "schedule", day.clone()).await;
    let dana_saw = find(&dana_board, "jobs", id).unwrap()["schedule_version"].clone();
    let dev_board = call(&dev, "schedule", day.clone()).await;
    let dev_saw = find(&dev_board, "jobs", id).unwrap()["schedule_version"].clone();
    assert_eq!(dana_saw, dev_saw);
    call(
        &dev,
        "reschedule",
        json!({"job_id": id.to_string(), "window_start": at(midnight, 14), "window_end": at(midnight, 16),
               "base_version": dev_saw, "action_id": null}),
    )
    .await;

    // Dana drags the job on her board, which still shows the morning: refused, not applied.
    let error = fieldsync_app::bridge::dispatch(
        &dana,
        "reschedule",
        json!({"job_id": id.to_string(), "window_start": at(midnight, 9), "window_end": at(midnight, 11),
               "base_version": dana_saw, "action_id": null}),
    )
    .await
    .expect_err("a stale board's move");
    assert_eq!(error.code, "changed_since_seen");
    assert!(
        error.message.contains("since this board showed it"),
        "{}",
        error.message
    );

    // Dev's afternoon stands on the server, and Dana's board now shows it.
    let (start, _, _) = window_on_server(&tom, id).await;
    assert_eq!(instant(&start), midnight + chrono::Duration::hours(14));
    let again = call(&dana, "schedule", day).await;
    assert_eq!(
        instant(&find(&again, "jobs", id).unwrap()["window_start"]),
        midnight + chrono::Duration::hours(14)
    );

    // A reassignment moves the schedule group too: a board from before it is stale as well.
    let before = find(&again, "jobs", id).unwrap().clone();
    let check = call(&dana, "reassign_check", json!({"job_id": id.to_string()})).await;
    call(
        &dana,
        "reassign",
        json!({"job_id": id.to_string(), "to_user": "", "to_team": "technician",
               "owner_epoch": check["owner_epoch"], "reason": "whoever is free"}),
    )
    .await;
    let error = fieldsync_app::bridge::dispatch(
        &dana,
        "reschedule",
        json!({"job_id": id.to_string(), "window_start": at(midnight, 9), "window_end": at(midnight, 11),
               "base_version": before["schedule_version"], "action_id": null}),
    )
    .await
    .expect_err("a board from before the reassignment");
    assert_eq!(error.code, "changed_since_seen");
}

#[tokio::test]
async fn a_job_given_to_a_team_waits_in_the_tray_and_the_old_device_learns() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[("tom", Role::Technician), ("dana", Role::Dispatcher)],
    )
    .await;
    let tom = signed_in(dir.path(), &url, "tom").await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let (midnight, day) = today();
    let c = customer(&dana).await;
    let id = job(
        &dana,
        c,
        "Depot boiler",
        "tom",
        Some((&at(midnight, 9), &at(midnight, 11))),
    )
    .await;
    call(&tom, "sync_now", Value::Null).await;

    let check = call(&dana, "reassign_check", json!({"job_id": id.to_string()})).await;
    let teams: Vec<&Value> = check["teams"].as_array().unwrap().iter().collect();
    assert!(
        teams
            .iter()
            .any(|t| t["name"] == json!("technician") && t["kind"] == json!("team")),
        "the technicians' team is offered: {teams:?}"
    );
    // One target at a time, and a target at all.
    for (to_user, to_team) in [("tom", json!("technician")), ("", Value::Null)] {
        let error = fieldsync_app::bridge::dispatch(
            &dana,
            "reassign",
            json!({"job_id": id.to_string(), "to_user": to_user, "to_team": to_team,
                   "owner_epoch": check["owner_epoch"], "reason": "x"}),
        )
        .await
        .expect_err("one technician or one team");
        assert_eq!(error.code, "invalid");
    }
    let done = call(
        &dana,
        "reassign",
        json!({"job_id": id.to_string(), "to_user": "", "to_team": "technician",
               "owner_epoch": check["owner_epoch"], "reason": "Tom is off sick"}),
    )
    .await;
    assert_eq!(done["to"]["kind"], json!("team"));
    assert_eq!(
        done["undo"]["to_user"],
        json!("tom"),
        "the way back is to Tom"
    );

    // On the board it is in the tray, saying why, and no longer on Tom's row.
    let board = call(&dana, "schedule", day).await;
    assert!(find(&board, "jobs", id).is_none());
    let waiting = find(&board, "tray", id).expect("in the unassigned tray");
    assert_eq!(
        waiting["tray_reason"],
        json!("No technician yet: technician team")
    );

    // Tom's device learns the job is the team's now (his team's, so he still sees it).
    call(&tom, "sync_now", Value::Null).await;
    let view = tom.client().unwrap().record(id).await.unwrap().unwrap();
    assert_eq!(view.record.owner, Owner::Team("technician".into()));
    assert!(
        !view.record.read_only,
        "a job of his own team's is still his to work on"
    );
    assert!(view.record.owner_epoch > check["owner_epoch"].as_i64().unwrap());

    // The undo gives it back to Tom, from the team.
    let undone = call(&dana, "reassign", done["undo"].clone()).await;
    assert_eq!(undone["to"]["name"], json!("tom"));
    assert_eq!(undone["undo"]["to_team"], json!("technician"));
}

#[tokio::test]
async fn the_tray_holds_work_with_no_technician_or_no_time_and_old_callers_still_reassign() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[
            ("tom", Role::Technician),
            ("rita", Role::Technician),
            ("dana", Role::Dispatcher),
        ],
    )
    .await;
    let _tom = signed_in(dir.path(), &url, "tom").await;
    let _rita = signed_in(dir.path(), &url, "rita").await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let (midnight, day) = today();
    let c = customer(&dana).await;
    let nobody = job(
        &dana,
        c,
        "Nobody yet",
        "",
        Some((&at(midnight, 8), &at(midnight, 9))),
    )
    .await;
    let overdue = job(
        &dana,
        c,
        "Overdue",
        "",
        Some((&at(midnight, -20), &at(midnight, -18))),
    )
    .await;
    let untimed = job(&dana, c, "No time", "tom", None).await;
    let tomorrow = job(
        &dana,
        c,
        "Tomorrow",
        "tom",
        Some((&at(midnight, 32), &at(midnight, 34))),
    )
    .await;
    let later = job(
        &dana,
        c,
        "Next week, nobody",
        "",
        Some((&at(midnight, 24 * 8), &at(midnight, 24 * 8 + 1))),
    )
    .await;
    let today_tom = job(
        &dana,
        c,
        "Today",
        "tom",
        Some((&at(midnight, 10), &at(midnight, 12))),
    )
    .await;

    let board = call(&dana, "schedule", day.clone()).await;
    assert_eq!(
        find(&board, "tray", nobody).unwrap()["tray_reason"],
        json!("No technician yet: dispatch team")
    );
    assert_eq!(
        find(&board, "tray", overdue).unwrap()["tray_reason"],
        json!("Overdue, no technician yet: dispatch team")
    );
    assert_eq!(
        find(&board, "tray", untimed).unwrap()["tray_reason"],
        json!("No time yet: tom")
    );
    for (id, what) in [(tomorrow, "tomorrow's"), (later, "next week's")] {
        assert!(
            find(&board, "tray", id).is_none(),
            "{what} job is not in today's tray"
        );
        assert!(
            find(&board, "jobs", id).is_none(),
            "{what} job is not on today's board"
        );
    }
    assert!(find(&board, "jobs", today_tom).is_some());
    assert!(find(&board, "tray", today_tom).is_none());
    // Both technicians have rows, in their team's lane, with their devices' health.
    let lane = board["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["team"]["name"] == json!("technician"))
        .expect("the technicians' lane");
    let names: Vec<&Value> = lane["technicians"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["person"]["name"])
        .collect();
    assert_eq!(names, [&json!("rita"), &json!("tom")]);
    for row in lane["technicians"].as_array().unwrap() {
        assert!(
            ["ok", "warn"].contains(&row["health"].as_str().unwrap()),
            "{row}"
        );
    }

    // The week holds tomorrow's job too.
    let week =
        json!({"from": day["from"], "to": (midnight + chrono::Duration::days(7)).to_rfc3339()});
    let board = call(&dana, "schedule", week).await;
    assert!(find(&board, "jobs", tomorrow).is_some());

    // A caller from before teams (no `to_team`) reassigns to a person as it always did.
    let check = call(
        &dana,
        "reassign_check",
        json!({"job_id": today_tom.to_string()}),
    )
    .await;
    let done = call(
        &dana,
        "reassign",
        json!({"job_id": today_tom.to_string(), "to_user": "rita",
               "owner_epoch": check["owner_epoch"], "reason": "closer"}),
    )
    .await;
    assert_eq!(done["to"]["name"], json!("rita"));

    // Nonsense ranges are refused with a sentence.
    let error = fieldsync_app::bridge::dispatch(
        &dana,
        "schedule",
        json!({"from": day["to"], "to": day["from"]}),
    )
    .await
    .expect_err("backwards range");
    assert_eq!(error.code, "invalid");
}

#[tokio::test]
async fn a_reschedules_undo_moves_the_window_back_and_is_refused_after_someone_elses_move() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[
            ("tom", Role::Technician),
            ("dana", Role::Dispatcher),
            ("dev", Role::Dispatcher),
        ],
    )
    .await;
    let tom = signed_in(dir.path(), &url, "tom").await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let dev = signed_in(dir.path(), &url, "dev").await;
    let (midnight, day) = today();
    let c = customer(&dana).await;
    let id = job(
        &dana,
        c,
        "Bakery oven",
        "tom",
        Some((&at(midnight, 8), &at(midnight, 10))),
    )
    .await;
    let board = call(&dana, "schedule", day.clone()).await;
    let shown = find(&board, "jobs", id).unwrap().clone();
    let moved = call(
        &dana,
        "reschedule",
        json!({"job_id": id.to_string(), "window_start": at(midnight, 13), "window_end": at(midnight, 15),
               "base_version": shown["schedule_version"], "action_id": null}),
    )
    .await;
    // The undo names the old window, on the version this move made.
    let undo = moved["undo"].clone();
    assert_eq!(
        instant(&undo["window_start"]),
        midnight + chrono::Duration::hours(8)
    );
    assert_eq!(
        instant(&undo["window_end"]),
        midnight + chrono::Duration::hours(10)
    );
    assert_eq!(undo["base_version"], moved["job"]["schedule_version"]);
    let back = call(&dana, "reschedule", undo).await;
    let (start, end, owner) = window_on_server(&tom, id).await;
    assert_eq!(
        (instant(&start), instant(&end), owner),
        (
            midnight + chrono::Duration::hours(8),
            midnight + chrono::Duration::hours(10),
            Owner::User("tom".into())
        ),
        "the undo put the morning back"
    );

    // Moved again by Dana, then by Dev: Dana's undo would undo Dev's move, so it is refused.
    let moved = call(
        &dana,
        "reschedule",
        json!({"job_id": id.to_string(), "window_start": at(midnight, 11), "window_end": at(midnight, 13),
               "base_version": back["job"]["schedule_version"], "action_id": null}),
    )
    .await;
    call(&dev, "sync_now", Value::Null).await;
    let dev_board = call(&dev, "schedule", day.clone()).await;
    call(
        &dev,
        "reschedule",
        json!({"job_id": id.to_string(), "window_start": at(midnight, 16), "window_end": at(midnight, 17),
               "base_version": find(&dev_board, "jobs", id).unwrap()["schedule_version"], "action_id": null}),
    )
    .await;
    let error = fieldsync_app::bridge::dispatch(&dana, "reschedule", moved["undo"].clone())
        .await
        .expect_err("an undo after someone else's move");
    assert_eq!(error.code, "changed_since_seen");
    let (start, _, _) = window_on_server(&tom, id).await;
    assert_eq!(
        instant(&start),
        midnight + chrono::Duration::hours(16),
        "Dev's move stands"
    );
}

#[tokio::test]
async fn the_boards_device_health_is_read_fresh_as_the_move_dialogs_check_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[
            ("tom", Role::Technician),
            ("rita", Role::Technician),
            ("dana", Role::Dispatcher),
        ],
    )
    .await;
    let _tom = signed_in(dir.path(), &url, "tom").await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let (midnight, day) = today();
    let c = customer(&dana).await;
    let id = job(
        &dana,
        c,
        "Bakery oven",
        "tom",
        Some((&at(midnight, 8), &at(midnight, 10))),
    )
    .await;
    let rows = |board: &Value| -> Vec<Value> {
        board["teams"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|lane| lane["technicians"].as_array().unwrap().iter().cloned())
            .collect()
    };
    let first = call(&dana, "schedule", day.clone()).await;
    assert!(rows(&first)
        .iter()
        .all(|r| r["person"]["name"] != json!("rita")));

    // Rita's tablet joins after the board was read: the next board read has her and her device.
    let rita = signed_in(dir.path(), &url, "rita").await;
    call(&rita, "sync_now", Value::Null).await;
    let board = call(&dana, "schedule", day).await;
    let check = call(&dana, "reassign_check", json!({"job_id": id.to_string()})).await;
    let row = rows(&board)
        .into_iter()
        .find(|r| r["person"]["name"] == json!("rita"))
        .expect("Rita's row, from a fresh device list");
    let candidate = check["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == json!("rita"))
        .unwrap()
        .clone();
    assert_eq!(
        (
            &row["person"]["device"],
            &row["person"]["last_seen"],
            &row["person"]["unsynced"]
        ),
        (
            &candidate["device"],
            &candidate["last_seen"],
            &candidate["unsynced"]
        ),
        "the row and the dialog say the same of her device"
    );
    assert!(row["person"]["last_seen"].is_string());
}
