//! A form left open while someone else edits the same group saves what the person saw: the
//! version its form opened on travels with the save (`base_version`), so in a manual-review
//! group the newer value is not overwritten unseen but both go to review, and under last write
//! wins only the fields the person changed go, leaving the other person's fields as they are.
//! (The app once read the version when Save was pressed, after the page had refreshed, and a
//! stale billing form was applied over finance's newer email with nothing in review.)
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_app::App;
use fieldsync_client::NewChange;
use fieldsync_core::{Group, Op, RecordId, RecordType, Role};
use serde_json::{json, Value};

/// The group's version as the customer page shows it now.
async fn shown_version(app: &App, customer: RecordId, group: &str) -> i64 {
    let detail = call(
        app,
        "customer",
        json!({ "customer_id": customer.to_string() }),
    )
    .await;
    detail["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == json!(group))
        .unwrap()["version"]
        .as_i64()
        .unwrap()
}

async fn group_values(app: &App, customer: RecordId, group: Group) -> Value {
    let view = app
        .client()
        .unwrap()
        .record(customer)
        .await
        .unwrap()
        .unwrap();
    view.values[&group].clone()
}

#[tokio::test]
async fn a_stale_billing_form_goes_to_review_and_a_stale_profile_form_keeps_the_newer_fields() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[
            ("olivia", Role::Office),
            ("fiona", Role::Finance),
            ("dana", Role::Dispatcher),
        ],
    )
    .await;
    let olivia = signed_in(dir.path(), &url, "olivia").await;
    let fiona = signed_in(dir.path(), &url, "fiona").await;
    let dana = signed_in(dir.path(), &url, "dana").await;

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
            values: json!({
                "profile": {"name": "Northgate Bakery", "phone": "0161 496 0100"},
                "billing": {"billing_email": "old@northgate.example"},
            }),
            file_sha256: None,
        })
        .await
        .unwrap();
    call(&olivia, "sync_now", Value::Null).await;
    call(&fiona, "sync_now", Value::Null).await;
    call(&dana, "sync_now", Value::Null).await;

    // Olivia opens both forms: what she sees is version 1 of each.
    let billing_seen = shown_version(&olivia, customer, "billing").await;
    let profile_seen = shown_version(&olivia, customer, "profile").await;
    assert_eq!((billing_seen, profile_seen), (1, 1));

    // Meanwhile finance changes the billing email, dispatch the phone, and Olivia's page
    // refreshes.
    for (who, group, values) in [
        (
            &fiona,
            "billing",
            json!({"billing_email": "ledger@northgate.example"}),
        ),
        (&dana, "profile", json!({"phone": "0161 496 0199"})),
    ] {
        let saved = call(
            who,
            "save_group",
            json!({"record_type": "customer", "record_id": customer.to_string(), "group": group,
                   "values": values, "action_id": null, "base_version": null}),
        )
        .await;
        assert!(saved["state_label"].is_string());
        call(who, "sync_now", Value::Null).await;
    }
    call(&olivia, "sync_now", Value::Null).await;
    assert_eq!(shown_version(&olivia, customer, "billing").await, 2);

    // Olivia's forms, still open on version 1, are saved.
    for (group, values, seen) in [
        (
            "billing",
            json!({"billing_email": "accounts@northgate.example"}),
            billing_seen,
        ),
        (
            "profile",
            json!({"name": "Northgate Bakery Ltd"}),
            profile_seen,
        ),
    ] {
        call(
            &olivia,
            "save_group",
            json!({"record_type": "customer", "record_id": customer.to_string(), "group": group,
                   "values": values, "action_id": null, "base_version": seen}),
        )
        .await;
    }
    call(&olivia, "sync_now", Value::Null).await;
    call(&fiona, "sync_now", Value::Null).await;

    // Billing: finance's email stands, and both versions wait in review for office or finance.
    let billing = group_values(&fiona, customer, Group::Billing).await;
    assert_eq!(billing["billing_email"], json!("ledger@northgate.example"));
    let inbox = call(&fiona, "inbox", Value::Null).await;
    let card = inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["record_id"] == json!(customer.to_string())
                || c.to_string().contains("accounts@northgate.example")
        })
        .unwrap_or_else(|| panic!("the collision is in finance's inbox: {inbox}"));
    assert!(
        card.to_string().contains("accounts@northgate.example"),
        "{card}"
    );
    assert!(
        card.to_string().contains("ledger@northgate.example"),
        "{card}"
    );
    // Profile (last write wins): Olivia's name goes in, finance's newer phone stays.
    let profile = group_values(&fiona, customer, Group::Profile).await;
    assert_eq!(profile["name"], json!("Northgate Bakery Ltd"));
    assert_eq!(profile["phone"], json!("0161 496 0199"));
}
