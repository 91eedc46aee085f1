//! The core's field rules, kept by the server over real HTTP: a push that breaks them is
//! refused as `invalid_change` with the sentence a person reads, and nothing is written; a rule
//! that spans fields is held against the group as it stands (an update of `total` alone against
//! the stored subtotal and tax); a merged resolution keeps them too.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_core::wire::OutcomeStatus;
use fieldsync_core::{Group, RecordId, RecordType};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// An invoice of 192.50 with 38.50 tax (231.00), made by finance.
async fn invoice(fiona: &Client) -> RecordId {
    let id = new_id();
    fiona
        .apply(create(
            RecordType::Invoice,
            id,
            json!({"totals": {
                "lines": [
                    {"description": "Boiler service", "quantity": 1, "unit_price": 150},
                    {"description": "Valve", "quantity": 2, "unit_price": 21.25}
                ],
                "subtotal": 192.5, "tax": 38.5, "total": 231.0, "currency": "GBP"
            }}),
        ))
        .await;
    id
}

async fn group(
    client: &Client,
    record_type: RecordType,
    id: RecordId,
    group: Group,
) -> (i64, Value) {
    let history = client.history(record_type, id).await;
    let g = &history.record.groups[&group];
    (g.version, g.values.clone())
}

/// Pushes one change and insists it is refused as `invalid_change` with `sentence`.
async fn refused(client: &Client, change: fieldsync_core::Change, sentence: &str) {
    let outcome = client.push_one(change).await;
    assert_eq!(outcome.status, OutcomeStatus::Rejected, "{outcome:?}");
    assert_eq!(
        outcome.code.as_deref(),
        Some("invalid_change"),
        "{outcome:?}"
    );
    assert_eq!(outcome.message.as_deref(), Some(sentence), "{outcome:?}");
}

store_test!(a_total_that_does_not_add_up_is_refused_against_the_stored_subtotal_and_tax);
async fn a_total_that_does_not_add_up_is_refused_against_the_stored_subtotal_and_tax(
    backend: Backend,
) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let id = invoice(&p.fiona).await;
    let before = group(&p.fiona, RecordType::Invoice, id, Group::Totals).await;

    // Only `total` is sent: it is judged with the subtotal and tax the server holds.
    refused(
        &p.fiona,
        update(
            RecordType::Invoice,
            id,
            Group::Totals,
            1,
            json!({"total": 200}),
        ),
        "The total (200.00) must be the subtotal plus tax (231.00).",
    )
    .await;
    refused(
        &p.fiona,
        update(
            RecordType::Invoice,
            id,
            Group::Totals,
            1,
            json!({"lines": [{"description": "Boiler service", "quantity": 1, "unit_price": 150}]}),
        ),
        "The subtotal (192.50) must be the sum of the lines (150.00).",
    )
    .await;
    assert_eq!(
        group(&p.fiona, RecordType::Invoice, id, Group::Totals).await,
        before,
        "nothing was written"
    );

    // A correction that adds up goes through: tax and total together.
    p.fiona
        .apply(update(
            RecordType::Invoice,
            id,
            Group::Totals,
            1,
            json!({"tax": 40, "total": 232.5}),
        ))
        .await;
}

store_test!(
    a_backwards_window_a_false_email_and_a_false_phone_are_refused_and_a_field_can_be_cleared
);
async fn a_backwards_window_a_false_email_and_a_false_phone_are_refused_and_a_field_can_be_cleared(
    backend: Backend,
) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let (_, schedule) = group(&p.dana, RecordType::Job, job, Group::Schedule).await;
    let start: chrono::DateTime<chrono::Utc> =
        schedule["window_start"].as_str().unwrap().parse().unwrap();

    // Only the end moves, to a month before the stored start.
    refused(
        &p.dana,
        update(
            RecordType::Job,
            job,
            Group::Schedule,
            1,
            json!({"window_end": (start - chrono::Duration::days(30)).to_rfc3339()}),
        ),
        "The window must end after it starts.",
    )
    .await;
    refused(
        &p.olivia,
        update(
            RecordType::Customer,
            customer,
            Group::Billing,
            1,
            json!({"billing_email": "not-an-email"}),
        ),
        "The billing email “not-an-email” does not look like an email address (like name@example.com).",
    )
    .await;
    refused(
        &p.olivia,
        update(
            RecordType::Customer,
            customer,
            Group::Profile,
            1,
            json!({"phone": "call me maybe"}),
        ),
        "The phone “call me maybe” does not look like a phone number: use digits, spaces and + - ( ), at least 6 digits.",
    )
    .await;
    refused(
        &p.olivia,
        update(
            RecordType::Customer,
            customer,
            Group::Profile,
            1,
            json!({"name": null}),
        ),
        "The name cannot be empty.",
    )
    .await;
    assert_eq!(
        group(&p.dana, RecordType::Job, job, Group::Schedule)
            .await
            .0,
        1
    );

    // A field a customer can be without is cleared by sending null.
    p.olivia
        .apply(update(
            RecordType::Customer,
            customer,
            Group::Profile,
            1,
            json!({"site_address": null}),
        ))
        .await;
    let (version, profile) = group(&p.olivia, RecordType::Customer, customer, Group::Profile).await;
    assert_eq!(version, 2);
    assert_eq!(profile["site_address"], Value::Null);
    assert_eq!(profile["name"], json!("Harbour View"));
}

store_test!(a_merged_total_that_does_not_add_up_is_refused);
async fn a_merged_total_that_does_not_add_up_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let id = invoice(&p.fiona).await;
    // Two finance desks correct the tax from the same version: the second goes to review.
    p.fiona
        .apply(update(
            RecordType::Invoice,
            id,
            Group::Totals,
            1,
            json!({"tax": 40, "total": 232.5}),
        ))
        .await;
    let other = server.login_device("fiona", "Second desk").await;
    let held = other
        .push_one(update(
            RecordType::Invoice,
            id,
            Group::Totals,
            1,
            json!({"tax": 38, "total": 230.5}),
        ))
        .await;
    assert_eq!(held.status, OutcomeStatus::Held, "{held:?}");
    let item = p
        .fiona
        .review()
        .await
        .into_iter()
        .find(|i| i.record_id == id && i.group == Some(Group::Totals))
        .expect("the conflict is in the inbox");

    let response = p
        .fiona
        .resolve_raw(
            item.review_id,
            json!({"choice": "merged", "values": {"total": 200}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], json!("invalid_change"), "{body}");
    assert_eq!(
        body["message"],
        json!("The total (200.00) must be the subtotal plus tax (232.50)."),
        "{body}"
    );
    assert_eq!(
        group(&p.fiona, RecordType::Invoice, id, Group::Totals)
            .await
            .0,
        2
    );

    // A merged value that adds up closes the conflict.
    p.fiona
        .resolve(
            item.review_id,
            json!({"choice": "merged", "values": {"tax": 39, "total": 231.5}}),
        )
        .await;
    let (version, totals) = group(&p.fiona, RecordType::Invoice, id, Group::Totals).await;
    assert_eq!(version, 3);
    assert_eq!(totals["total"], json!(231.5));
}
