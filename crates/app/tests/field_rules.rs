//! The office app holds a form to the core's field rules before it queues anything: `check_group`
//! gives each field's sentence (the one the server would refuse it with) for the form to show
//! next to the field, and `save_group` refuses with `invalid_change` and leaves the outbox as it
//! was. An emptied field is cleared. Real server over HTTP, real SQLite on both sides.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_app::{bridge, App};
use fieldsync_client::NewChange;
use fieldsync_core::{Group, Op, RecordId, RecordType, Role};
use serde_json::{json, Value};

fn args(customer: RecordId, group: &str, values: Value) -> Value {
    json!({"record_type": "customer", "record_id": customer.to_string(), "group": group,
           "values": values, "action_id": null, "base_version": null})
}

/// How many changes this device has waiting to sync.
async fn waiting(app: &App, customer: RecordId) -> usize {
    app.client()
        .unwrap()
        .record(customer)
        .await
        .unwrap()
        .unwrap()
        .pending
}

#[tokio::test]
async fn a_form_hears_the_core_sentence_next_to_the_field_and_nothing_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(dir.path(), &[("olivia", Role::Office)]).await;
    let olivia = signed_in(dir.path(), &url, "olivia").await;
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
                "profile": {"name": "Northgate Bakery", "phone": "0161 496 0100", "nickname": "NB"},
                "billing": {"billing_email": "old@northgate.example"},
            }),
            file_sha256: None,
        })
        .await
        .unwrap();
    call(&olivia, "sync_now", Value::Null).await;
    assert_eq!(waiting(&olivia, customer).await, 0);

    // The check names each field with its sentence.
    let problems = call(
        &olivia,
        "check_group",
        json!({"record_type": "customer", "record_id": customer.to_string(), "group": "profile",
               "values": {"phone": "call me maybe", "email": "not-an-email"}}),
    )
    .await;
    let problems: Vec<(String, String)> = problems
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["field"].as_str().unwrap().to_string(),
                p["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("email".to_string(), "The email “not-an-email” does not look like an email address (like name@example.com).".to_string()),
            ("phone".to_string(), "The phone “call me maybe” does not look like a phone number: use digits, spaces and + - ( ), at least 6 digits.".to_string()),
        ]
    );
    let fine = call(
        &olivia,
        "check_group",
        json!({"record_type": "customer", "record_id": customer.to_string(), "group": "profile",
               "values": {"phone": "+44 20 7946 0999"}}),
    )
    .await;
    assert_eq!(fine, json!([]));

    // Saving anyway is refused with the same sentence, and nothing waits to sync.
    let refused = bridge::dispatch(
        &olivia,
        "save_group",
        args(
            customer,
            "billing",
            json!({"billing_email": "not-an-email"}),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code, "invalid_change");
    assert_eq!(
        refused.message,
        "The billing email “not-an-email” does not look like an email address (like name@example.com)."
    );
    let refused = bridge::dispatch(
        &olivia,
        "save_group",
        args(customer, "profile", json!({"name": ""})),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (refused.code.as_str(), refused.message.as_str()),
        ("invalid_change", "The name cannot be empty.")
    );
    assert_eq!(waiting(&olivia, customer).await, 0, "nothing was queued");

    // An emptied field that may be empty is cleared, on this device and on the server.
    call(
        &olivia,
        "save_group",
        args(customer, "profile", json!({"nickname": "", "phone": null})),
    )
    .await;
    call(&olivia, "sync_now", Value::Null).await;
    assert_eq!(waiting(&olivia, customer).await, 0);
    let view = olivia
        .client()
        .unwrap()
        .record(customer)
        .await
        .unwrap()
        .unwrap();
    let profile = &view.values[&Group::Profile];
    assert_eq!(profile["nickname"], Value::Null);
    assert_eq!(profile["phone"], Value::Null);
    assert_eq!(profile["name"], json!("Northgate Bakery"));
    assert_eq!(
        view.bases[&Group::Profile],
        2,
        "the server applied the clearing"
    );
}
