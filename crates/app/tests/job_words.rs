//! A job in people's words through the command table: its timeline names people by their
//! display names and devices by their names, says what changed in sentences that list only the
//! fields that changed ("Dana Reyes moved the window to …", not every schedule field), tells a
//! status collision as one ("Status went to review: Tom's device and Sam Okafor both changed
//! it"), includes the part lines added to it, and a voided job says it is final.
#![allow(clippy::unwrap_used)]

mod people;

use fieldsync_client::NewChange;
use fieldsync_core::{Op, RecordType};
use people::{action, app, call, sentences, server, sync, version};
use serde_json::{json, Value};

#[tokio::test]
async fn a_jobs_timeline_is_sentences_with_display_names_and_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let url = server(dir.path()).await;
    let olivia = app(dir.path(), &url, "olivia").await;
    let dana = app(dir.path(), &url, "dana").await;
    let sam = app(dir.path(), &url, "sam").await;
    let tom = app(dir.path(), &url, "tom").await;

    let customer = call(&olivia, "create_customer", json!({"action_id": action(&olivia).await, "name": "Northgate Bakery",
        "nickname": "", "phone": "", "email": "", "site_address": "3 Northgate St", "billing_contact": "",
        "billing_email": "", "confirm_duplicate": false})).await;
    sync(&[&olivia, &dana]).await;
    let made = call(&dana, "create_job", json!({"action_id": action(&dana).await, "customer_id": customer["customer_id"],
        "site": "3 Northgate St", "window_start": "2026-12-02T08:00:00Z", "summary": "Oven thermostat fault",
        "assignee": "tom", "confirm_duplicate": false})).await;
    let job = made["job_id"].as_str().unwrap().to_string();
    sync(&[&dana, &tom, &sam]).await;

    // Dana moves the window: one sentence, the window as one range, nothing about the site.
    let detail = call(&dana, "job", json!({ "job_id": job })).await;
    call(
        &dana,
        "save_group",
        json!({"record_type": "job", "record_id": job, "group": "schedule",
        "values": {"window_start": "2026-12-03T09:00:00Z", "window_end": "2026-12-03T11:00:00Z"},
        "action_id": action(&dana).await, "base_version": version(&detail, "schedule")}),
    )
    .await;
    sync(&[&dana, &tom]).await;

    // Tom starts the job and adds a part line from his device.
    let detail = call(&tom, "job", json!({ "job_id": job })).await;
    call(
        &tom,
        "set_status",
        json!({"job_id": job, "state": "in_progress", "base_version": version(&detail, "status")}),
    )
    .await;
    let client = tom.client().unwrap();
    client
        .save(NewChange {
            change_id: None,
            record_type: RecordType::PartLine,
            record_id: client.new_record_id(),
            group: None,
            op: Op::Create,
            values: json!({"line": {"job_id": job, "part_number": "TRV-15", "quantity": 2}}),
            file_sha256: None,
        })
        .await
        .unwrap();
    sync(&[&tom, &sam]).await;

    // The office pauses it while Tom, from the same version, signs it off: a collision.
    let seen = version(&call(&sam, "job", json!({ "job_id": job })).await, "status");
    call(
        &sam,
        "set_status",
        json!({"job_id": job, "state": "paused", "base_version": seen}),
    )
    .await;
    sync(&[&sam]).await;
    call(
        &tom,
        "set_status",
        json!({"job_id": job, "state": "signed_off", "base_version": seen}),
    )
    .await;
    sync(&[&tom, &dana]).await;

    let detail = call(&dana, "job", json!({ "job_id": job })).await;
    assert_eq!(detail["card"]["owner"]["display_name"], json!("Tom Baker"));
    assert_eq!(detail["timeline_from_server"], json!(true));
    let lines = sentences(&detail);
    let expected = [
        "Status went to review: Tom's device and Sam Okafor both changed it (Tom Baker wanted it signed off)",
        "Sam Okafor paused the job",
        "Tom Baker added part TRV-15 ×2",
        "Tom Baker started the job",
        "Dana Reyes moved the window to Thu 3 Dec 09:00–11:00 UTC",
        "Dana Reyes created the job",
    ];
    assert_eq!(lines, expected, "{lines:#?}");
    let moved = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["text"].as_str().unwrap().contains("moved the window"))
        .unwrap();
    let fields: Vec<&str> = moved["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["window_start", "window_end"],
        "only the window changed"
    );
    assert_eq!(moved["who"], json!("Dana Reyes"));
    assert_eq!(
        moved["group"],
        json!("schedule"),
        "the group name is there for the details view"
    );
    assert_eq!(
        moved["pieces"],
        json!([{"kind": "text", "text": "Dana Reyes moved the window to "},
               {"kind": "window", "start": "2026-12-03T09:00:00+00:00", "end": "2026-12-03T11:00:00+00:00"}]),
        "the screen gets the window as instants, to show in the person's own zone"
    );
    for entry in detail["timeline"].as_array().unwrap() {
        let who = entry["who"].as_str().unwrap();
        assert!(
            who.contains(' '),
            "a display name, not a user name: {entry}"
        );
    }
    assert_eq!(detail["final_note"], Value::Null);
}

#[tokio::test]
async fn a_voided_job_says_it_is_final_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let url = server(dir.path()).await;
    let olivia = app(dir.path(), &url, "olivia").await;
    let dana = app(dir.path(), &url, "dana").await;
    let customer = call(&olivia, "create_customer", json!({"action_id": action(&olivia).await, "name": "Riverside Clinic",
        "nickname": "", "phone": "", "email": "", "site_address": "8 Mill Walk", "billing_contact": "",
        "billing_email": "", "confirm_duplicate": false})).await;
    sync(&[&olivia, &dana]).await;
    let made = call(&dana, "create_job", json!({"action_id": action(&dana).await, "customer_id": customer["customer_id"],
        "site": "8 Mill Walk", "window_start": null, "summary": "Fan noise", "assignee": "tom", "confirm_duplicate": false})).await;
    let job = made["job_id"].as_str().unwrap().to_string();
    sync(&[&dana]).await;
    let detail = call(&dana, "job", json!({ "job_id": job })).await;
    call(&dana, "void_job", json!({"job_id": job, "reason": "Customer cancelled", "base_version": version(&detail, "status"), "action_id": action(&dana).await})).await;
    sync(&[&dana]).await;
    let detail = call(&dana, "job", json!({ "job_id": job })).await;
    assert_eq!(
        sentences(&detail)[0],
        "Dana Reyes voided the job: Customer cancelled"
    );
    let note = detail["final_note"].as_str().unwrap();
    assert!(
        note.starts_with("This job is voided, and that is final"),
        "{note}"
    );
    assert!(
        note.contains("nothing is deleted") && note.contains("cannot be reopened"),
        "{note}"
    );
    assert!(note.ends_with("Reason: Customer cancelled."), "{note}");
    assert_eq!(detail["can_reopen"], json!(false));
}
