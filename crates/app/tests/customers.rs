//! The customer page's story through the command table: a phone overwritten under last write
//! wins stays readable in the timeline (who changed it from what to what); the customer's jobs
//! and invoices are on its page; office staff create a customer after the match-before-create
//! check, "create anyway" makes exactly one (however often it is pressed), and the form's draft
//! survives until it becomes a customer.
#![allow(clippy::unwrap_used)]

mod people;

use fieldsync_client::NewChange;
use fieldsync_core::{Op, RecordType};
use people::{action, app, call, sentences, server, sync, version};
use serde_json::{json, Value};

fn form(action_id: &Value, name: &str, phone: &str) -> Value {
    json!({
        "action_id": action_id, "name": name, "nickname": "", "phone": phone, "email": "",
        "site_address": "3 Northgate St", "billing_contact": "Accounts",
        "billing_email": "accounts@northgate.example", "confirm_duplicate": false,
    })
}

#[tokio::test]
async fn a_customers_page_tells_its_story_with_the_overwritten_phone_and_its_jobs_and_invoices() {
    let dir = tempfile::tempdir().unwrap();
    let url = server(dir.path()).await;
    let olivia = app(dir.path(), &url, "olivia").await;
    let dana = app(dir.path(), &url, "dana").await;
    let fiona = app(dir.path(), &url, "fiona").await;

    let made = call(
        &olivia,
        "create_customer",
        form(&action(&olivia).await, "Northgate Bakery", "0161 496 0000"),
    )
    .await;
    assert_eq!(made["created"], json!(true), "{made}");
    let id = made["customer_id"].as_str().unwrap().to_string();
    sync(&[&olivia, &dana]).await;

    // Olivia corrects the phone; Dana, from the version before it, types another over it:
    // last write wins, and both numbers stay readable.
    let detail = call(&olivia, "customer", json!({ "customer_id": id })).await;
    let seen = version(&detail, "profile");
    call(&olivia, "save_group", json!({"record_type": "customer", "record_id": id, "group": "profile",
        "values": {"phone": "0161 496 0999"}, "action_id": action(&olivia).await, "base_version": seen})).await;
    sync(&[&olivia]).await;
    call(&dana, "save_group", json!({"record_type": "customer", "record_id": id, "group": "profile",
        "values": {"phone": "0161 496 0777"}, "action_id": action(&dana).await, "base_version": seen})).await;
    sync(&[&dana, &olivia]).await;

    let detail = call(&olivia, "customer", json!({ "customer_id": id })).await;
    let profile = &detail["groups"][0];
    assert_eq!(
        profile["values"]["phone"],
        json!("0161 496 0777"),
        "the newest save won"
    );
    assert_eq!(detail["timeline_from_server"], json!(true));
    let lines = sentences(&detail);
    assert_eq!(
        lines[..3],
        [
            "Dana Reyes changed the phone from 0161 496 0999 to 0161 496 0777".to_string(),
            "Olivia Chen changed the phone from 0161 496 0000 to 0161 496 0999".to_string(),
            "Olivia Chen created the customer".to_string(),
        ],
        "{lines:#?}"
    );
    let newest = &detail["timeline"][0];
    assert_eq!(newest["who"], json!("Dana Reyes"));
    assert_eq!(newest["user"], json!("dana"));
    assert_eq!(newest["device"], json!("Dana's device"));
    assert_eq!(
        newest["changes"],
        json!([{"field": "phone", "label": "phone", "before": "0161 496 0999", "after": "0161 496 0777"}]),
        "only the phone, with its value before"
    );

    // Dana books a job for the customer; finance invoices it.
    let job = call(&dana, "create_job", json!({"action_id": action(&dana).await, "customer_id": id,
        "site": "3 Northgate St", "window_start": "2026-12-03T09:00:00Z", "summary": "Oven thermostat fault",
        "assignee": "dana", "confirm_duplicate": false})).await;
    let job_id: fieldsync_core::RecordId = job["job_id"].as_str().unwrap().parse().unwrap();
    sync(&[&dana, &fiona]).await;
    let invoice = fiona.client().unwrap().new_record_id();
    fiona
        .client()
        .unwrap()
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Invoice,
            record_id: invoice,
            group: None,
            op: Op::Create,
            values: json!({"totals": {"job_id": job_id.to_string(), "lines": [{"description": "Labour", "quantity": 2, "unit_price": 50}],
                "subtotal": 100.0, "tax": 20.0, "total": 120.0, "currency": "GBP"}}),
            file_sha256: None,
        })
        .await
        .unwrap();
    sync(&[&fiona, &olivia]).await;

    let detail = call(&olivia, "customer", json!({ "customer_id": id })).await;
    let jobs = detail["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{detail}");
    assert_eq!(jobs[0]["id"], json!(job_id.to_string()));
    assert_eq!(jobs[0]["summary"], json!("Oven thermostat fault"));
    assert_eq!(jobs[0]["state"], json!("assigned"));
    assert!(jobs[0]["number"].as_str().unwrap().starts_with("J-"));
    assert_eq!(jobs[0]["window_start"], json!("2026-12-03T09:00:00Z"));
    let invoices = detail["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 1, "{detail}");
    assert_eq!(invoices[0]["total"], json!(120.0));
    assert_eq!(invoices[0]["currency"], json!("GBP"));
    assert_eq!(invoices[0]["state"], json!("draft"));
    assert_eq!(invoices[0]["job_number"], jobs[0]["number"]);
    assert!(invoices[0]["number"].as_str().unwrap().starts_with("I"));
}

#[tokio::test]
async fn a_near_duplicate_is_offered_first_and_create_anyway_makes_one_customer() {
    let dir = tempfile::tempdir().unwrap();
    let url = server(dir.path()).await;
    let olivia = app(dir.path(), &url, "olivia").await;
    let dana = app(dir.path(), &url, "dana").await;

    let first = call(
        &olivia,
        "create_customer",
        form(&action(&olivia).await, "Northgate Bakery", "0161 496 0000"),
    )
    .await;
    assert_eq!(first["created"], json!(true));
    sync(&[&olivia, &dana]).await;

    // Dana's form, typed with a draft kept as she goes.
    let id = action(&dana).await;
    let mut near = form(&id, "Northgate Bakery Ltd", "+44 161 496 0000");
    call(&dana, "save_customer_draft", near.clone()).await;
    let draft = call(&dana, "customer_draft", Value::Null).await;
    assert_eq!(
        draft["form"]["name"],
        json!("Northgate Bakery Ltd"),
        "{draft}"
    );
    assert_eq!(draft["form"]["action_id"], id);

    let offered = call(&dana, "create_customer", near.clone()).await;
    assert_eq!(offered["created"], json!(false), "{offered}");
    let matches = offered["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 1, "its own draft is no match: {offered}");
    let message = matches[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("This looks like C-")
            && message.contains("(Northgate Bakery, 3 Northgate St), created just now"),
        "{message}"
    );

    // Create anyway, pressed twice: one customer, the same id both times.
    near["confirm_duplicate"] = json!(true);
    let made = call(&dana, "create_customer", near.clone()).await;
    let again = call(&dana, "create_customer", near).await;
    assert_eq!(made["created"], json!(true));
    assert_eq!(
        made["customer_id"], again["customer_id"],
        "one action, one customer"
    );
    assert_eq!(
        call(&dana, "customer_draft", Value::Null).await,
        Value::Null,
        "the draft became a customer"
    );
    sync(&[&dana, &olivia]).await;
    let named: Vec<Value> = call(&olivia, "customers", Value::Null)
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("Northgate"))
        .cloned()
        .collect();
    assert_eq!(named.len(), 2, "{named:?}");

    // A stranger is no match; a refused value is said before anything is queued.
    let stranger = call(
        &olivia,
        "create_customer",
        form(
            &action(&olivia).await,
            "Harbour View Apartments",
            "020 7946 0101",
        ),
    )
    .await;
    assert_eq!(stranger["created"], json!(true), "{stranger}");
    let bad = fieldsync_app::bridge::dispatch(
        &olivia,
        "create_customer",
        form(&action(&olivia).await, "Riverside Clinic", "call me maybe"),
    )
    .await
    .unwrap_err();
    assert_eq!(bad.code, "invalid_change");
    assert!(
        bad.message.contains("does not look like a phone number"),
        "{}",
        bad.message
    );
    let nameless = fieldsync_app::bridge::dispatch(
        &olivia,
        "create_customer",
        form(&action(&olivia).await, "  ", ""),
    )
    .await
    .unwrap_err();
    assert_eq!(nameless.code, "invalid_change", "{}", nameless.message);
}
