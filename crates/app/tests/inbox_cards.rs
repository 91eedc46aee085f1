//! The review inbox shows one true card per contested field group: every held version of one
//! job's status stacked in one card, newest first, against the status as it stands now; a
//! choice names the version the card showed and is refused when it moved; a possible
//! duplicate's card shows both jobs as they are now (state, owner, device), and a void of the
//! new job is refused when its state moved since the card was read. (The inbox once showed
//! three cards for one status, each with its own stale "Current", and the duplicate card read
//! "unknown · unknown device · —" with the existing job's state from long ago.)
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_app::App;
use fieldsync_client::{ClientConfig, HttpTransport, NewChange, SyncClient, SystemClock};
use fieldsync_core::{Group, Op, RecordId, RecordType, Role};
use serde_json::{json, Value};
use std::sync::Arc;

/// A real server on loopback whose people have display names apart from their user names, so
/// a card that shows a user name where it should show a person's name is caught.
async fn server_named(dir: &std::path::Path, users: &[(&str, &str, Role)]) -> String {
    let people: Vec<(&str, &str, Role, &str)> = users
        .iter()
        .map(|(name, display, role)| (*name, *display, *role, role.as_str()))
        .collect();
    named_server(dir, &people).await
}

/// A person signed in on their own device, named as a person would name it.
async fn device(dir: &std::path::Path, url: &str, user: &str, device: &str) -> App {
    let dir = dir.join(user);
    std::fs::create_dir_all(&dir).unwrap();
    let client = SyncClient::open(
        &dir.join("cache.db"),
        Arc::new(HttpTransport::new(url).unwrap()),
        Arc::new(SystemClock),
        ClientConfig::new(device, &dir.join("files"), 7),
    )
    .await
    .unwrap();
    let app = App::new(client);
    call(
        &app,
        "sign_in",
        json!({"username": user, "password": PASSWORD}),
    )
    .await;
    app
}

async fn sync(app: &App) {
    app.client().unwrap().sync_now().await.unwrap();
}

async fn set_state(app: &App, job: RecordId, state: &str) {
    app.client()
        .unwrap()
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Job,
            record_id: job,
            group: Some(Group::Status),
            op: Op::Update,
            values: json!({ "state": state }),
            file_sha256: None,
        })
        .await
        .unwrap();
    sync(app).await;
}

async fn inbox(app: &App) -> Vec<Value> {
    call(app, "inbox", Value::Null)
        .await
        .as_array()
        .unwrap()
        .clone()
}

/// The card of this job's status.
async fn status_card(app: &App, job: RecordId) -> Option<Value> {
    inbox(app)
        .await
        .into_iter()
        .find(|c| c["record_id"] == json!(job.to_string()) && c["group"] == json!("status"))
}

async fn new_customer(olivia: &App) -> RecordId {
    let customer = olivia.client().unwrap().new_record_id();
    olivia
        .client()
        .unwrap()
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Customer,
            record_id: customer,
            group: None,
            op: Op::Create,
            values: json!({"profile": {"name": "Harbour School"}}),
            file_sha256: None,
        })
        .await
        .unwrap();
    sync(olivia).await;
    customer
}

async fn new_job(dana: &App, customer: RecordId, assignee: &str, summary: &str) -> RecordId {
    sync(dana).await;
    let start = chrono::Utc::now().to_rfc3339();
    let made = call(
        dana,
        "create_job",
        json!({
            "action_id": null, "customer_id": customer.to_string(), "site": "Main building",
            "window_start": start, "summary": summary, "assignee": assignee,
            "confirm_duplicate": true,
        }),
    )
    .await;
    sync(dana).await;
    made["job_id"].as_str().unwrap().parse().unwrap()
}

/// A job made on the client directly, as a device with no match-before-create warning makes it
/// (a job made through the app's "Create anyway" is not asked about again: see
/// `confirmed_duplicates.rs`).
async fn unwarned_job(dana: &App, customer: RecordId, assignee: &str, summary: &str) -> RecordId {
    sync(dana).await;
    let id = dana.client().unwrap().new_record_id();
    dana.client()
        .unwrap()
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Job,
            record_id: id,
            group: None,
            op: Op::Create,
            values: json!({
                "schedule": {"customer_id": customer.to_string(), "site": "Main building",
                             "window_start": chrono::Utc::now().to_rfc3339(), "assignee": assignee},
                "description": {"summary": summary},
            }),
            file_sha256: None,
        })
        .await
        .unwrap();
    sync(dana).await;
    id
}

#[tokio::test]
async fn held_versions_of_one_status_stack_in_one_card_and_each_choice_names_what_it_showed() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_named(
        dir.path(),
        &[
            ("olivia", "Olivia Chen", Role::Office),
            ("dana", "Dana Reyes", Role::Dispatcher),
            ("sam", "Sam Okafor", Role::Supervisor),
            ("tom", "Tom Baker", Role::Technician),
        ],
    )
    .await;
    let olivia = device(dir.path(), &url, "olivia", "Front desk").await;
    let dana = device(dir.path(), &url, "dana", "Dispatch desk").await;
    let customer = new_customer(&olivia).await;
    let job = new_job(&dana, customer, "tom", "Heating not reaching classroom 3").await;
    let tom = device(dir.path(), &url, "tom", "Tom's tablet").await;
    set_state(&tom, job, "opened").await;
    set_state(&tom, job, "in_progress").await;
    let sam = device(dir.path(), &url, "sam", "Supervisor desk").await;

    // Sam pauses the job; Tom, not having pulled, signs it off from the same version: held.
    set_state(&sam, job, "paused").await;
    tom.client()
        .unwrap()
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Job,
            record_id: job,
            group: Some(Group::Status),
            op: Op::Update,
            values: json!({"state": "signed_off"}),
            file_sha256: None,
        })
        .await
        .unwrap();
    sync(&tom).await;
    // Then Sam resumes it while the status is under review: the second version joins it.
    set_state(&sam, job, "in_progress").await;

    let cards: Vec<Value> = inbox(&sam)
        .await
        .into_iter()
        .filter(|c| c["record_id"] == json!(job.to_string()))
        .collect();
    assert_eq!(
        cards.len(),
        1,
        "one card for one contested status: {cards:#?}"
    );
    let card = &cards[0];
    let held = card["held"].as_array().unwrap();
    assert_eq!(held.len(), 2, "both held versions stacked: {card:#}");
    assert_eq!(
        held[0]["incoming"]["values"]["state"],
        json!("in_progress"),
        "newest first"
    );
    assert_eq!(held[1]["incoming"]["values"]["state"], json!("signed_off"));
    assert_eq!(held[0]["incoming"]["who"], json!("Sam Okafor"));
    assert_eq!(held[0]["incoming"]["device"], json!("Supervisor desk"));
    assert_eq!(held[1]["incoming"]["who"], json!("Tom Baker"));
    assert_eq!(held[1]["incoming"]["device"], json!("Tom's tablet"));
    assert!(held[1]["incoming"]["when"].is_string());
    assert_eq!(card["current"]["values"]["state"], json!("paused"));
    // Per field, which side moved it: both sides changed the state from in progress.
    let state = held[1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == json!("state"))
        .unwrap();
    assert_eq!(state["base"], json!("in_progress"));
    assert_eq!(state["changed"], json!("both"));
    // The card names the job: its customer, site and technician.
    assert_eq!(card["job"]["id"], json!(job.to_string()));
    assert_eq!(card["job"]["customer"], json!("Harbour School"));
    assert_eq!(card["job"]["site"], json!("Main building"));
    assert_eq!(card["job"]["owner"]["display_name"], json!("Tom Baker"));

    // Tom's sign-off is taken, on the version the card showed.
    let shown = card["current"]["version"].as_i64().unwrap();
    call(
        &sam,
        "resolve",
        json!({"review_id": held[1]["review_id"], "choice": "incoming", "values": null, "current_version": shown}),
    )
    .await;
    // A card still showing that version, chosen again, was read before it was taken.
    let again = fieldsync_app::bridge::dispatch(
        &sam,
        "keep_current",
        json!({"review_ids": [held[1]["review_id"]], "current_version": shown}),
    )
    .await
    .unwrap_err();
    assert_eq!(again.code, "changed_since_seen", "{again:?}");
    assert!(
        again.message.contains("already resolved by sam"),
        "{again:?}"
    );
    // The other version stays stacked, now against the new current.
    let card = status_card(&sam, job)
        .await
        .expect("the other version still waits");
    let held = card["held"].as_array().unwrap();
    assert_eq!(held.len(), 1, "{card:#}");
    assert_eq!(held[0]["incoming"]["values"]["state"], json!("in_progress"));
    assert_eq!(
        card["current"]["values"]["state"],
        json!("signed_off"),
        "the card shows the status as it stands"
    );
    let now = card["current"]["version"].as_i64().unwrap();
    assert!(now > shown);

    // Keeping current on the picture from before is refused, and nothing changes.
    let stale = fieldsync_app::bridge::dispatch(
        &sam,
        "keep_current",
        json!({"review_ids": [held[0]["review_id"]], "current_version": shown}),
    )
    .await
    .unwrap_err();
    assert_eq!(stale.code, "changed_since_seen", "{stale:?}");
    assert!(
        stale.message.contains("This changed since you opened it"),
        "{stale:?}"
    );
    assert!(
        status_card(&sam, job).await.is_some(),
        "a refused keep resolves nothing"
    );

    // On the picture it shows now, it is kept.
    call(
        &sam,
        "keep_current",
        json!({"review_ids": [held[0]["review_id"]], "current_version": now}),
    )
    .await;
    assert!(status_card(&sam, job).await.is_none());
    let view = sam.client().unwrap().record(job).await.unwrap().unwrap();
    assert_eq!(view.values[&Group::Status]["state"], json!("signed_off"));
}

#[tokio::test]
async fn keep_current_on_a_card_keeps_it_for_every_stacked_version() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_named(
        dir.path(),
        &[
            ("olivia", "Olivia Chen", Role::Office),
            ("dana", "Dana Reyes", Role::Dispatcher),
            ("sam", "Sam Okafor", Role::Supervisor),
            ("tom", "Tom Baker", Role::Technician),
        ],
    )
    .await;
    let olivia = device(dir.path(), &url, "olivia", "Front desk").await;
    let dana = device(dir.path(), &url, "dana", "Dispatch desk").await;
    let customer = new_customer(&olivia).await;
    let job = new_job(&dana, customer, "tom", "Boiler service").await;
    let tom = device(dir.path(), &url, "tom", "Tom's tablet").await;
    set_state(&tom, job, "opened").await;
    set_state(&tom, job, "in_progress").await;
    let sam = device(dir.path(), &url, "sam", "Supervisor desk").await;
    set_state(&sam, job, "paused").await;
    tom.client()
        .unwrap()
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Job,
            record_id: job,
            group: Some(Group::Status),
            op: Op::Update,
            values: json!({"state": "signed_off"}),
            file_sha256: None,
        })
        .await
        .unwrap();
    sync(&tom).await;
    set_state(&sam, job, "in_progress").await;

    let card = status_card(&sam, job).await.unwrap();
    let ids: Vec<Value> = card["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["review_id"].clone())
        .collect();
    assert_eq!(ids.len(), 2);
    // Keeping a contested group writes it again as a new version; the second keep must not
    // be refused for the version the first one wrote.
    call(
        &sam,
        "keep_current",
        json!({"review_ids": ids, "current_version": card["current"]["version"]}),
    )
    .await;
    assert!(
        status_card(&sam, job).await.is_none(),
        "every stacked version resolved"
    );
    let view = sam.client().unwrap().record(job).await.unwrap().unwrap();
    assert_eq!(
        view.values[&Group::Status]["state"],
        json!("paused"),
        "the current the card showed stands"
    );
}

#[tokio::test]
async fn a_duplicate_card_shows_both_jobs_as_they_are_now_and_a_void_on_a_stale_card_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_named(
        dir.path(),
        &[
            ("olivia", "Olivia Chen", Role::Office),
            ("dana", "Dana Reyes", Role::Dispatcher),
            ("kai", "Kai Lindqvist", Role::Technician),
            ("rita", "Rita Alvarez", Role::Technician),
        ],
    )
    .await;
    let olivia = device(dir.path(), &url, "olivia", "Front desk").await;
    let dana = device(dir.path(), &url, "dana", "Dispatch desk").await;
    let customer = new_customer(&olivia).await;
    let existing = new_job(&dana, customer, "kai", "Service the walk-in cooler").await;
    let kai = device(dir.path(), &url, "kai", "Kai's phone").await;
    set_state(&kai, existing, "opened").await;
    set_state(&kai, existing, "in_progress").await;
    let fresh = unwarned_job(&dana, customer, "rita", "Replace extractor fan").await;
    let rita = device(dir.path(), &url, "rita", "Rita's phone").await;
    set_state(&rita, fresh, "opened").await;

    let find = |cards: Vec<Value>| {
        cards.into_iter().find(|c| {
            c["kind"] == json!("possible_duplicate") && c["record_id"] == json!(fresh.to_string())
        })
    };
    // The dispatcher's sync loop takes a round; the card reads this device's cache as it is.
    sync(&dana).await;
    let card = find(inbox(&dana).await).expect("the new job is flagged");
    let pair = &card["duplicate"];
    // The existing job as it is now (in progress, not the assigned it was when flagged).
    assert_eq!(pair["existing"]["id"], json!(existing.to_string()));
    assert_eq!(pair["existing"]["state"], json!("in_progress"), "{pair:#}");
    assert_eq!(
        pair["existing"]["owner"]["display_name"],
        json!("Kai Lindqvist")
    );
    assert_eq!(pair["existing"]["owner"]["device"], json!("Kai's phone"));
    assert_eq!(pair["new"]["id"], json!(fresh.to_string()));
    assert_eq!(pair["new"]["state"], json!("opened"));
    assert_eq!(pair["new"]["owner"]["display_name"], json!("Rita Alvarez"));
    assert_eq!(pair["new"]["owner"]["device"], json!("Rita's phone"));
    assert!(pair["existing"]["number"].is_string() && pair["new"]["number"].is_string());
    // Rita has opened it: the void's confirmation says who is working on it.
    assert_eq!(pair["void_is_serious"], json!(true));
    let said = pair["void_consequences"].to_string();
    assert!(said.contains("Rita Alvarez is working on it"), "{said}");
    let seen = pair["new"]["state"].clone();

    // Rita starts the job after the card was read: the void on that card is refused.
    set_state(&rita, fresh, "in_progress").await;
    let refused = fieldsync_app::bridge::dispatch(
        &dana,
        "resolve",
        json!({"review_id": card["id"], "choice": "current", "values": null, "current_version": null,
               "seen_state": seen, "reason": "Same call as the cooler job"}),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code, "changed_since_seen", "{refused:?}");
    assert!(
        refused.message.contains("This changed since you opened it"),
        "{refused:?}"
    );
    let view = dana.client().unwrap().record(fresh).await.unwrap().unwrap();
    assert_eq!(
        view.record.state.as_str(),
        "in_progress",
        "nothing was voided"
    );

    // Read again, the card shows it started; voided on that picture, it is.
    sync(&dana).await;
    let card = find(inbox(&dana).await).unwrap();
    assert_eq!(card["duplicate"]["new"]["state"], json!("in_progress"));
    call(
        &dana,
        "resolve",
        json!({"review_id": card["id"], "choice": "current", "values": null, "current_version": null,
               "seen_state": card["duplicate"]["new"]["state"], "reason": "Same call as the cooler job"}),
    )
    .await;
    sync(&dana).await;
    let view = dana.client().unwrap().record(fresh).await.unwrap().unwrap();
    assert_eq!(view.record.state.as_str(), "voided");
    let reason = view.values[&Group::Status]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("Same call as the cooler job"),
        "the reason given is kept: {reason}"
    );
    assert!(find(inbox(&dana).await).is_none());
}

#[tokio::test]
async fn a_merge_is_typed_and_checked_by_the_field_rules_and_settles_every_stacked_version() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_named(
        dir.path(),
        &[
            ("olivia", "Olivia Chen", Role::Office),
            ("fiona", "Fiona Marsh", Role::Finance),
        ],
    )
    .await;
    let olivia = device(dir.path(), &url, "olivia", "Front desk").await;
    let customer = olivia.client().unwrap().new_record_id();
    olivia
        .client()
        .unwrap()
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Customer,
            record_id: customer,
            group: None,
            op: Op::Create,
            values: json!({"profile": {"name": "Northgate Bakery"},
                           "billing": {"billing_email": "old@northgate.example"}}),
            file_sha256: None,
        })
        .await
        .unwrap();
    sync(&olivia).await;
    let fiona = device(dir.path(), &url, "fiona", "Finance desk").await;
    let billing = |values: Value| NewChange {
        change_id: None,
        record_type: RecordType::Customer,
        record_id: customer,
        group: Some(Group::Billing),
        op: Op::Update,
        values,
        file_sha256: None,
    };
    fiona
        .client()
        .unwrap()
        .save(billing(
            json!({"billing_email": "ledger@northgate.example"}),
        ))
        .await
        .unwrap();
    sync(&fiona).await;
    // Olivia, on the version she had, changes the email and then the contact: both held.
    olivia
        .client()
        .unwrap()
        .save_seen(
            billing(json!({"billing_email": "accounts@northgate.example"})),
            Some(1),
        )
        .await
        .unwrap();
    sync(&olivia).await;
    olivia
        .client()
        .unwrap()
        .save(billing(json!({"billing_contact": "Pat Lee"})))
        .await
        .unwrap();
    sync(&olivia).await;

    let card = inbox(&fiona)
        .await
        .into_iter()
        .find(|c| c["record_id"] == json!(customer.to_string()))
        .unwrap();
    assert_eq!(card["held"].as_array().unwrap().len(), 2, "{card:#}");
    let email = card["merge_fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == json!("billing_email"))
        .expect("the merge form has the edit form's fields");
    assert_eq!(
        email["kind"],
        json!("email"),
        "the same typed widget as the edit form"
    );
    let ids: Vec<Value> = card["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["review_id"].clone())
        .collect();
    let shown = card["current"]["version"].clone();

    // A merged email that is not one is refused with the field rule's sentence; nothing changes.
    let refused = fieldsync_app::bridge::dispatch(
        &fiona,
        "merge",
        json!({"review_ids": ids, "values": {"billing_email": "not-an-email", "billing_contact": "Pat Lee"},
               "current_version": shown}),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code, "invalid_change", "{refused:?}");
    assert!(
        refused
            .message
            .contains("does not look like an email address"),
        "{refused:?}"
    );
    let still = inbox(&fiona)
        .await
        .into_iter()
        .find(|c| c["record_id"] == json!(customer.to_string()))
        .expect("a refused merge resolves nothing");
    assert_eq!(still["held"].as_array().unwrap().len(), 2);

    // A good merge settles the card: the group is the merged value, every version answered.
    call(
        &fiona,
        "merge",
        json!({"review_ids": ids, "values": {"billing_email": "accounts@northgate.example", "billing_contact": "Pat Lee"},
               "current_version": shown}),
    )
    .await;
    assert!(inbox(&fiona)
        .await
        .iter()
        .all(|c| c["record_id"] != json!(customer.to_string())));
    sync(&fiona).await;
    let view = fiona
        .client()
        .unwrap()
        .record(customer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        view.values[&Group::Billing]["billing_email"],
        json!("accounts@northgate.example")
    );
    assert_eq!(
        view.values[&Group::Billing]["billing_contact"],
        json!("Pat Lee")
    );
}
