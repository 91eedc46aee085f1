//! The board's in-memory index (`cards`) is never stale: after a pull brings another person's
//! change, a local save, a reassignment, a customer renamed, a review item opening and closing,
//! the very next board read shows it, and every row equals the card read from the cache on its
//! own (the job page's, which does not use the index). The board's page (offset, limit, total)
//! and its search (number, customer, site, summary, owner) answer from it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_app::App;
use fieldsync_client::NewChange;
use fieldsync_core::{Group, Op, RecordId, RecordType, Role};
use serde_json::{json, Value};

async fn sync(app: &App) {
    app.client().unwrap().sync_now().await.unwrap();
}

async fn board(app: &App) -> Vec<Value> {
    call(app, "board", json!({}))
        .await
        .as_array()
        .unwrap()
        .clone()
}

/// The board's row of `job`, checked against the card the job page reads from the cache
/// without the index: a stale index shows a row that differs from it.
async fn row(app: &App, job: RecordId) -> Value {
    let rows = board(app).await;
    let row = rows
        .iter()
        .find(|r| r["id"] == json!(job.to_string()))
        .unwrap_or_else(|| panic!("{job} is not on the board: {rows:#?}"))
        .clone();
    let fresh = call(app, "job", json!({"job_id": job.to_string()})).await["card"].clone();
    assert_eq!(
        row, fresh,
        "the board's row is the card as the cache has it"
    );
    row
}

/// Every row of the board equals its card read on its own.
async fn all_fresh(app: &App) {
    for r in board(app).await {
        let fresh = call(app, "job", json!({"job_id": r["id"]})).await["card"].clone();
        assert_eq!(r, fresh, "the board's row is the card as the cache has it");
    }
}

async fn save(app: &App, record_type: RecordType, id: RecordId, group: Group, values: Value) {
    app.client()
        .unwrap()
        .save(NewChange {
            change_id: None,
            record_type,
            record_id: id,
            group: Some(group),
            op: Op::Update,
            values,
            file_sha256: None,
        })
        .await
        .unwrap();
}

async fn new_customer(app: &App, name: &str) -> RecordId {
    let customer = app.client().unwrap().new_record_id();
    app.client()
        .unwrap()
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Customer,
            record_id: customer,
            group: None,
            op: Op::Create,
            values: json!({"profile": {"name": name}}),
            file_sha256: None,
        })
        .await
        .unwrap();
    sync(app).await;
    customer
}

async fn new_job(dana: &App, customer: RecordId, assignee: &str, summary: &str) -> RecordId {
    let made = call(
        dana,
        "create_job",
        json!({
            "action_id": null, "customer_id": customer.to_string(), "site": "Main building",
            "window_start": null, "summary": summary, "assignee": assignee,
            "confirm_duplicate": true,
        }),
    )
    .await;
    made["job_id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_board_follows_pulls_saves_reassignments_and_renames_on_the_next_read() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[
            ("olivia", Role::Office),
            ("dana", Role::Dispatcher),
            ("tom", Role::Technician),
            ("rita", Role::Technician),
        ],
    )
    .await;
    let olivia = signed_in(dir.path(), &url, "olivia").await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let tom = signed_in(dir.path(), &url, "tom").await;
    let rita = signed_in(dir.path(), &url, "rita").await;
    let customer = new_customer(&olivia, "Harbour School").await;
    sync(&dana).await;

    // A job made here shows at once, saved on this device, and is built into the index.
    let boiler = new_job(&dana, customer, "tom", "Boiler service").await;
    let first = row(&dana, boiler).await;
    assert_eq!(first["sync_level"], json!("pending"), "{first:#}");
    assert_eq!(first["customer"], json!("Harbour School"));
    sync(&dana).await;
    let synced = row(&dana, boiler).await;
    assert_eq!(synced["sync_level"], json!("synced"), "{synced:#}");
    assert!(
        synced["number"].as_str().is_some(),
        "numbered once the server took it"
    );
    let leak = new_job(&dana, customer, "rita", "Leak under sink").await;
    sync(&dana).await;
    all_fresh(&dana).await;

    // A pull: Tom opens his job; Dana's next read shows it.
    sync(&tom).await;
    save(
        &tom,
        RecordType::Job,
        boiler,
        Group::Status,
        json!({"state": "opened"}),
    )
    .await;
    sync(&tom).await;
    let before = row(&dana, boiler).await;
    assert_ne!(
        before["state"],
        json!("opened"),
        "not pulled yet: {before:#}"
    );
    sync(&dana).await;
    assert_eq!(
        row(&dana, boiler).await["state"],
        json!("opened"),
        "the pull is on the board"
    );

    // A customer renamed elsewhere: every job of theirs reads the new name.
    save(
        &olivia,
        RecordType::Customer,
        customer,
        Group::Profile,
        json!({"name": "Harbour Academy"}),
    )
    .await;
    sync(&olivia).await;
    sync(&dana).await;
    assert_eq!(
        row(&dana, boiler).await["customer"],
        json!("Harbour Academy")
    );
    assert_eq!(row(&dana, leak).await["customer"], json!("Harbour Academy"));

    // A local save: the new summary and "Saved on this device" before any sync, then synced.
    save(
        &dana,
        RecordType::Job,
        leak,
        Group::Description,
        json!({"summary": "Leak under the kitchen sink"}),
    )
    .await;
    let saved = row(&dana, leak).await;
    assert_eq!(saved["summary"], json!("Leak under the kitchen sink"));
    assert_eq!(saved["sync_level"], json!("pending"), "{saved:#}");
    sync(&dana).await;
    assert_eq!(row(&dana, leak).await["sync_level"], json!("synced"));

    // A reassignment: the owner moves on the next read.
    let check = call(
        &dana,
        "reassign_check",
        json!({"job_id": boiler.to_string()}),
    )
    .await;
    call(
        &dana,
        "reassign",
        json!({"job_id": boiler.to_string(), "to_user": "rita", "owner_epoch": check["owner_epoch"], "reason": "Tom is off sick"}),
    )
    .await;
    let moved = row(&dana, boiler).await;
    assert_eq!(moved["owner"]["name"], json!("rita"), "{moved:#}");

    // Another office device's change to the same job, pulled: the index follows it too.
    sync(&rita).await;
    save(
        &rita,
        RecordType::Job,
        boiler,
        Group::Status,
        json!({"state": "in_progress"}),
    )
    .await;
    sync(&rita).await;
    sync(&dana).await;
    assert_eq!(row(&dana, boiler).await["state"], json!("in_progress"));
    all_fresh(&dana).await;
}

#[tokio::test]
async fn needs_review_turns_on_and_off_with_the_review_item_on_the_next_read() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[
            ("olivia", Role::Office),
            ("dana", Role::Dispatcher),
            ("sam", Role::Supervisor),
            ("tom", Role::Technician),
        ],
    )
    .await;
    let olivia = signed_in(dir.path(), &url, "olivia").await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let customer = new_customer(&olivia, "Harbour School").await;
    sync(&dana).await;
    let job = new_job(&dana, customer, "tom", "Heating not reaching classroom 3").await;
    sync(&dana).await;
    let tom = signed_in(dir.path(), &url, "tom").await;
    save(
        &tom,
        RecordType::Job,
        job,
        Group::Status,
        json!({"state": "opened"}),
    )
    .await;
    sync(&tom).await;
    let sam = signed_in(dir.path(), &url, "sam").await;
    sync(&sam).await;
    // Sam's board is built before anything is contested.
    assert_eq!(row(&sam, job).await["needs_review"], json!(false));

    // Sam pauses the job; Tom, not having pulled, marks it in progress from the same version:
    // held for review.
    save(
        &sam,
        RecordType::Job,
        job,
        Group::Status,
        json!({"state": "paused"}),
    )
    .await;
    sync(&sam).await;
    save(
        &tom,
        RecordType::Job,
        job,
        Group::Status,
        json!({"state": "in_progress"}),
    )
    .await;
    sync(&tom).await;
    sync(&sam).await;
    let contested = row(&sam, job).await;
    assert_eq!(contested["needs_review"], json!(true), "{contested:#}");

    // Sam keeps the pause: the item closes, and the next read says so.
    let inbox = call(&sam, "inbox", Value::Null).await;
    let card = inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["record_id"] == json!(job.to_string()))
        .unwrap()
        .clone();
    call(
        &sam,
        "keep_current",
        json!({"review_ids": card["held"].as_array().unwrap().iter().map(|h| h["review_id"].clone()).collect::<Vec<_>>(), "current_version": card["current"]["version"]}),
    )
    .await;
    sync(&sam).await;
    let closed = row(&sam, job).await;
    assert_eq!(closed["needs_review"], json!(false), "{closed:#}");
    assert_eq!(closed["state"], json!("paused"));
}

#[tokio::test]
async fn the_board_answers_a_page_with_the_total_and_searches_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[
            ("olivia", Role::Office),
            ("dana", Role::Dispatcher),
            ("tom", Role::Technician),
        ],
    )
    .await;
    let olivia = signed_in(dir.path(), &url, "olivia").await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let harbour = new_customer(&olivia, "Harbour School").await;
    let mill = new_customer(&olivia, "Mill Lane Bakery").await;
    sync(&dana).await;
    for i in 0..25 {
        let customer = if i % 5 == 0 { mill } else { harbour };
        new_job(&dana, customer, "tom", &format!("Boiler service {i}")).await;
    }
    sync(&dana).await;

    let page = call(
        &dana,
        "board_page",
        json!({"text": null, "state": null, "offset": 10, "limit": 5}),
    )
    .await;
    assert_eq!(page["total"], json!(25));
    assert_eq!(page["jobs"], json!(25));
    assert_eq!(page["offset"], json!(10));
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let everything = board(&dana).await;
    assert_eq!(
        rows[..],
        everything[10..15],
        "a page is the slice of the whole board"
    );

    // By customer (any case), by number, by owner, by summary; with the status filter.
    let by_customer = call(
        &dana,
        "board_page",
        json!({"text": "mill LANE", "state": null}),
    )
    .await;
    assert_eq!(by_customer["total"], json!(5));
    let number = everything[3]["number"].as_str().unwrap().to_string();
    let by_number = call(&dana, "board_page", json!({"text": number, "state": null})).await;
    assert_eq!(by_number["total"], json!(1));
    assert_eq!(by_number["rows"][0]["number"], json!(number));
    let by_owner = call(&dana, "board_page", json!({"text": "tom", "state": null})).await;
    assert_eq!(by_owner["total"], json!(25));
    let by_summary = call(
        &dana,
        "board_page",
        json!({"text": "service 7", "state": null}),
    )
    .await;
    assert_eq!(by_summary["total"], json!(1));
    let none = call(
        &dana,
        "board_page",
        json!({"text": null, "state": "paused"}),
    )
    .await;
    assert_eq!(none["total"], json!(0));
    let assigned = call(
        &dana,
        "board_page",
        json!({"text": "mill", "state": "assigned"}),
    )
    .await;
    assert_eq!(assigned["total"], json!(5));
    // A page past the end is empty, with the total still right.
    let past = call(
        &dana,
        "board_page",
        json!({"text": "mill", "state": null, "offset": 50, "limit": 10}),
    )
    .await;
    assert_eq!(past["total"], json!(5));
    assert_eq!(past["rows"], json!([]));
}
