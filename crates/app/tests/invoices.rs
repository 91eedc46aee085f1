//! Finance works its invoices through the command layer against a real server: one made from a
//! job with its totals computed by the core, a form that does not add up refused with the
//! field rule's sentence (and the server refusing the same), a draft edited then sent (its
//! totals lock: the app offers no edit and the server refuses one), marked paid, another voided
//! with its reason; a totals conflict between two finance desks read line by line and settled
//! from the table; the invoices as CSV with formula-looking text made safe.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_app::{bridge, App};
use fieldsync_client::{
    ChangeState, ClientConfig, HttpTransport, NewChange, SyncClient, SystemClock,
};
use fieldsync_core::{Group, Op, RecordId, RecordType, Role};
use serde_json::{json, Value};
use std::sync::Arc;

const PEOPLE: [(&str, Role); 3] = [
    ("olivia", Role::Office),
    ("dana", Role::Dispatcher),
    ("fiona", Role::Finance),
];

/// `user` signed in on a device of their own, named `device`.
async fn device(dir: &std::path::Path, url: &str, user: &str, device: &str) -> App {
    let dir = dir.join(device.replace(' ', "-"));
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

/// A customer (office staff) and a job for it (the dispatcher): what finance invoices.
async fn job(dir: &std::path::Path, url: &str) -> RecordId {
    let olivia = device(dir, url, "olivia", "front office").await;
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
    sync(&olivia).await;
    let dana = device(dir, url, "dana", "dispatch desk").await;
    sync(&dana).await;
    let made = call(
        &dana,
        "create_job",
        json!({
            "action_id": null, "customer_id": customer.to_string(), "site": "Main building",
            "window_start": null, "summary": "Heating not reaching classroom 3", "assignee": "dana",
            "confirm_duplicate": true,
        }),
    )
    .await;
    sync(&dana).await;
    made["job_id"].as_str().unwrap().parse().unwrap()
}

fn form(lines: &[(&str, &str, &str)], tax: Value) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(d, q, p)| json!({"description": d, "quantity": q, "unit_price": p}))
        .collect();
    json!({"lines": lines, "tax": tax, "currency": "GBP"})
}

fn rate(percent: &str) -> Value {
    json!({"kind": "rate", "percent": percent})
}

async fn create(fiona: &App, job: RecordId, form: Value) -> String {
    let saved = call(
        fiona,
        "create_invoice",
        json!({"job_id": job.to_string(), "form": form, "action_id": null}),
    )
    .await;
    sync(fiona).await;
    saved["invoice_id"].as_str().unwrap().to_string()
}

async fn detail(app: &App, invoice: &str) -> Value {
    call(app, "invoice", json!({"invoice_id": invoice})).await
}

async fn refused(app: &App, command: &str, args: Value) -> (String, String) {
    let e = bridge::dispatch(app, command, args)
        .await
        .expect_err("refused");
    (e.code, e.message)
}

/// A change pushed straight to the server, as another client might, past the app's own checks.
async fn push(url: &str, user: &str, change: Value) -> Value {
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"username": user, "password": PASSWORD, "device_name": "script"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();
    let answer: Value = http
        .post(format!("{url}/api/v1/sync/push"))
        .bearer_auth(token)
        .json(&json!({"changes": [change]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["outcomes"][0].clone()
}

fn totals_update(invoice: &str, base: i64, values: Value) -> Value {
    json!({
        "change_id": uuid::Uuid::now_v7().to_string(), "record_type": "invoice", "record_id": invoice,
        "group": "totals", "op": "update", "base_version": base, "values": values,
        "owner_epoch": 1, "device_time": chrono::Utc::now().to_rfc3339(),
    })
}

#[tokio::test]
async fn finance_makes_an_invoice_from_a_job_with_its_totals_computed_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(dir.path(), &PEOPLE).await;
    let job = job(dir.path(), &url).await;
    let fiona = device(dir.path(), &url, "fiona", "finance desk").await;
    sync(&fiona).await;

    // The job is offered with the lines it suggests, waiting for their prices.
    let jobs = call(&fiona, "invoice_jobs", Value::Null).await;
    let offered = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == json!(job.to_string()))
        .unwrap();
    assert_eq!(offered["customer"], json!("Harbour School"));
    assert_eq!(
        offered["suggested"]["lines"][0]["description"],
        json!("Labour")
    );

    // The preview and the save use the core's rule: each line to the cent, 20 % of the subtotal.
    let lines = [
        ("Labour", "1.5", "60"),
        ("Valve", "2", "12.10"),
        ("Sealant", "3", "0.335"),
    ];
    let preview = call(&fiona, "invoice_totals", form(&lines, rate("20"))).await;
    assert_eq!(preview["problems"], json!([]));
    assert_eq!(
        preview["lines"][2]["amount"],
        json!(1.01),
        "3 × 0.335 = 1.005, to the cent"
    );
    assert_eq!(
        (
            preview["subtotal"].clone(),
            preview["tax"].clone(),
            preview["total"].clone()
        ),
        (json!(115.21), json!(23.04), json!(138.25))
    );

    // A form that does not add up is refused with the rule's sentence, and nothing is queued.
    let (code, message) = refused(
        &fiona,
        "create_invoice",
        json!({"job_id": job.to_string(), "form": form(&[("Labour", "0", "60")], rate("20")), "action_id": null}),
    )
    .await;
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("invalid_change", "Line 1's quantity must be more than 0.")
    );
    assert_eq!(
        call(&fiona, "invoices", Value::Null).await,
        json!([]),
        "nothing was queued"
    );

    let id = create(&fiona, job, form(&lines, rate("20"))).await;
    let list = call(&fiona, "invoices", Value::Null).await;
    let card = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == json!(id))
        .unwrap()
        .clone();
    assert!(
        card["number"].as_str().unwrap().starts_with("INV-"),
        "{card}"
    );
    assert_eq!(card["job_id"], json!(job.to_string()));
    assert!(
        card["job_number"].as_str().unwrap().starts_with("J-"),
        "{card}"
    );
    assert_eq!(card["customer"], json!("Harbour School"));
    assert_eq!(card["state"], json!("draft"));
    assert_eq!(
        (card["total"].clone(), card["currency"].clone()),
        (json!(138.25), json!("GBP"))
    );
    assert_eq!(card["sync_label"], json!("Synced"));
    assert_eq!(card["totals_locked"], json!(false));

    // The server holds the same numbers, as another finance desk reads them.
    let laptop = device(dir.path(), &url, "fiona", "finance laptop").await;
    sync(&laptop).await;
    let seen = detail(&laptop, &id).await;
    assert_eq!(seen["totals"]["total"], json!(138.25));
    assert_eq!(seen["totals"]["tax_rate"], json!(20.0));
    assert_eq!(seen["form"]["lines"][1]["unit_price"], json!("12.10"));
    assert_eq!(seen["editable"], json!(true));

    // The server checks the same rule: a total that is not subtotal plus tax, pushed past the
    // app, is refused with the same sentence.
    let outcome = push(&url, "fiona", totals_update(&id, 1, json!({"total": 200}))).await;
    assert_eq!(outcome["status"], json!("rejected"), "{outcome}");
    assert_eq!(outcome["code"], json!("invalid_change"));
    assert_eq!(
        outcome["message"],
        json!("The total (200.00) must be the subtotal plus tax (138.25).")
    );
}

#[tokio::test]
async fn a_draft_is_edited_then_sent_and_locked_then_paid_and_another_is_voided_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(dir.path(), &PEOPLE).await;
    let job = job(dir.path(), &url).await;
    let fiona = device(dir.path(), &url, "fiona", "finance desk").await;
    sync(&fiona).await;
    let id = create(&fiona, job, form(&[("Labour", "2", "60")], rate("20"))).await;

    // Edited while a draft, on the version its form opened on.
    let open = detail(&fiona, &id).await;
    assert_eq!(open["can_send"], json!(true));
    let version = open["totals_version"].as_i64().unwrap();
    call(
        &fiona,
        "save_invoice",
        json!({"invoice_id": id, "form": form(&[("Labour", "2", "60"), ("Valve", "1", "12.50")], json!({"kind": "amount", "amount": "10"})), "base_version": version, "action_id": null}),
    )
    .await;
    sync(&fiona).await;
    let edited = detail(&fiona, &id).await;
    assert_eq!(
        (
            edited["totals"]["subtotal"].clone(),
            edited["totals"]["tax"].clone(),
            edited["totals"]["total"].clone()
        ),
        (json!(132.5), json!(10.0), json!(142.5))
    );

    // Sent: its totals lock. The panel says so and offers no edit.
    call(
        &fiona,
        "set_invoice_status",
        json!({"invoice_id": id, "state": "sent", "base_version": edited["status_version"]}),
    )
    .await;
    sync(&fiona).await;
    let sent = detail(&fiona, &id).await;
    assert_eq!(sent["card"]["state"], json!("sent"));
    assert_eq!(sent["card"]["sync_label"], json!("Synced"));
    assert_eq!(
        (sent["editable"].clone(), sent["can_send"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(sent["card"]["totals_locked"], json!(true));
    let number = sent["card"]["number"].as_str().unwrap().to_string();
    assert_eq!(
        sent["locked_reason"],
        json!(format!("{number} is sent: its lines and totals are locked. To correct it, void it and raise a new invoice."))
    );
    // The app refuses a change with a sentence...
    let (code, message) = refused(
        &fiona,
        "save_invoice",
        json!({"invoice_id": id, "form": form(&[("Labour", "3", "60")], rate("20")), "base_version": sent["totals_version"], "action_id": null}),
    )
    .await;
    assert_eq!(code, "record_locked");
    assert_eq!(message, format!("{number} is sent, so its lines and totals are locked: void it and raise a new invoice to change them."));
    // ...and so does the server, to a change that went past the app.
    let (change_id, _) = fiona
        .client()
        .unwrap()
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Invoice,
            record_id: id.parse().unwrap(),
            group: Some(Group::Totals),
            op: Op::Update,
            values: json!({"tax": 0, "total": 132.5}),
            file_sha256: None,
        })
        .await
        .unwrap();
    sync(&fiona).await;
    match fiona
        .client()
        .unwrap()
        .change_state(change_id)
        .await
        .unwrap()
    {
        Some(ChangeState::Rejected { code, reason }) => {
            assert_eq!(code, "record_locked");
            assert!(
                reason.starts_with(&format!("{number} is sent, so its totals is locked")),
                "{reason}"
            );
        }
        other => panic!("the server took a change to a sent invoice's totals: {other:?}"),
    }
    assert_eq!(
        detail(&fiona, &id).await["totals"]["total"],
        json!(142.5),
        "nothing changed"
    );

    // Paid, from sent.
    let (code, _) = refused(
        &fiona,
        "set_invoice_status",
        json!({"invoice_id": id, "state": "draft", "base_version": null}),
    )
    .await;
    assert_eq!(code, "invalid_transition");
    call(
        &fiona,
        "set_invoice_status",
        json!({"invoice_id": id, "state": "paid", "base_version": sent["status_version"]}),
    )
    .await;
    sync(&fiona).await;
    let paid = detail(&fiona, &id).await;
    assert_eq!(paid["card"]["state"], json!("paid"));
    assert_eq!(
        (paid["can_mark_paid"].clone(), paid["can_void"].clone()),
        (json!(false), json!(false))
    );
    // Its lock says what can still be done, and not a void the page does not offer.
    let why = paid["locked_reason"].as_str().unwrap();
    assert!(why.contains("settled") && !why.contains("void it"), "{why}");

    // Another is voided, never deleted: a reason first, then it stays listed as void with it.
    let other = create(&fiona, job, form(&[("Callout", "1", "45")], rate("0"))).await;
    let (code, _) = refused(
        &fiona,
        "void_invoice",
        json!({"invoice_id": other, "reason": "  ", "base_version": null, "action_id": null}),
    )
    .await;
    assert_eq!(code, "invalid");
    let status = detail(&fiona, &other).await["status_version"].clone();
    call(
        &fiona,
        "void_invoice",
        json!({"invoice_id": other, "reason": "Raised twice for one visit", "base_version": status, "action_id": null}),
    )
    .await;
    sync(&fiona).await;
    let void = detail(&fiona, &other).await;
    assert_eq!(void["card"]["state"], json!("void"));
    assert_eq!(void["card"]["sync_label"], json!("Synced"));
    assert_eq!(void["void_reason"], json!("Raised twice for one visit"));
    assert_eq!(void["editable"], json!(false));
    let list = call(&fiona, "invoices", Value::Null).await;
    assert_eq!(
        list.as_array().unwrap().len(),
        2,
        "the void one stays listed"
    );
}

#[tokio::test]
async fn a_totals_conflict_reads_line_by_line_and_is_settled_from_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(dir.path(), &PEOPLE).await;
    let job = job(dir.path(), &url).await;
    let desk = device(dir.path(), &url, "fiona", "finance desk").await;
    sync(&desk).await;
    let lines = [("Labour", "2", "60"), ("Valve", "1", "12.50")];
    let id = create(&desk, job, form(&lines, rate("20"))).await;
    let laptop = device(dir.path(), &url, "fiona", "finance laptop").await;
    sync(&laptop).await;
    let version = detail(&laptop, &id).await["totals_version"].clone();

    // Two desks edit the draft from the same version: the desk makes it two valves, the
    // laptop (second to arrive) a 5 % rate and an extra line. The laptop's is held.
    call(
        &desk,
        "save_invoice",
        json!({"invoice_id": id, "form": form(&[("Labour", "2", "60"), ("Valve", "2", "12.50")], rate("20")), "base_version": version, "action_id": null}),
    )
    .await;
    sync(&desk).await;
    let saved = call(
        &laptop,
        "save_invoice",
        json!({"invoice_id": id, "form": form(&[("Labour", "2", "60"), ("Valve", "1", "12.50"), ("Callout", "1", "45")], rate("5")), "base_version": version, "action_id": null}),
    )
    .await;
    sync(&laptop).await;
    let held = laptop
        .client()
        .unwrap()
        .change_state(saved["change_id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap();
    assert!(matches!(held, Some(ChangeState::Held { .. })), "{held:?}");

    // The invoice reads as under review, with no edit and no send.
    sync(&desk).await;
    let under = detail(&desk, &id).await;
    assert_eq!(under["card"]["under_review"], json!(true));
    assert_eq!(
        (under["editable"].clone(), under["can_send"].clone()),
        (json!(false), json!(false))
    );

    // The card's two versions, line by line, amounts by the core.
    let inbox = call(&desk, "inbox", Value::Null).await;
    let card = inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["record_id"] == json!(id) && c["group"] == json!("totals"))
        .unwrap()
        .clone();
    let compared = call(
        &desk,
        "compare_totals",
        json!({"current": card["current"]["values"], "incoming": [card["held"][0]["incoming"]["values"]]}),
    )
    .await;
    let current = &compared["current"];
    assert_eq!(
        (current["subtotal"].clone(), current["total"].clone()),
        (json!(145.0), json!(174.0))
    );
    let version = &compared["versions"][0];
    let rows: Vec<(Value, Value, Value)> = version["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["position"].clone(),
                r["differs"].clone(),
                r["incoming"]["amount"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (json!(1), json!([]), json!(120.0)),
            (json!(2), json!(["quantity", "amount"]), json!(12.5)),
            (json!(3), json!(["added"]), json!(45.0)),
        ]
    );
    assert_eq!(version["rows"][1]["current"]["amount"], json!(25.0));
    assert_eq!(version["differing"], json!(["subtotal", "tax", "total"]));
    assert_eq!(
        (
            version["totals"]["subtotal"].clone(),
            version["totals"]["tax"].clone(),
            version["totals"]["total"].clone()
        ),
        (json!(177.5), json!(8.88), json!(186.38)),
        "5 % of 177.50 is 8.875, to the cent"
    );

    // Settled from the table: the current lines, the held version's extra line, its 5 % rate;
    // the merged totals computed by the core and sent as the merge.
    let merged = call(
        &desk,
        "invoice_totals",
        form(
            &[
                ("Labour", "2", "60"),
                ("Valve", "2", "12.50"),
                ("Callout", "1", "45"),
            ],
            rate("5"),
        ),
    )
    .await;
    assert_eq!(merged["problems"], json!([]));
    let ids: Vec<Value> = card["held"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["review_id"].clone())
        .collect();
    call(
        &desk,
        "merge",
        json!({"review_ids": ids, "values": merged["values"], "current_version": card["current"]["version"]}),
    )
    .await;
    sync(&desk).await;
    let settled = detail(&desk, &id).await;
    assert_eq!(settled["card"]["under_review"], json!(false));
    assert_eq!(
        (
            settled["totals"]["subtotal"].clone(),
            settled["totals"]["tax"].clone(),
            settled["totals"]["total"].clone()
        ),
        (json!(190.0), json!(9.5), json!(199.5))
    );
    assert_eq!(settled["totals"]["lines"].as_array().unwrap().len(), 3);
    sync(&laptop).await;
    assert_eq!(
        detail(&laptop, &id).await["totals"]["total"],
        json!(199.5),
        "the laptop learns"
    );
}

#[tokio::test]
async fn invoices_export_as_csv_with_formula_looking_text_made_safe() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(dir.path(), &PEOPLE).await;
    let job = job(dir.path(), &url).await;
    let fiona = device(dir.path(), &url, "fiona", "finance desk").await;
    sync(&fiona).await;
    let exports = dir.path().join("exports");
    fiona.set_exports_dir(exports.clone());
    let lines = [
        ("=HYPERLINK(\"http://x\",\"pay here\")", "1", "10"),
        ("@SUM(A1:A9)", "2", "2.50"),
        ("Labour, 1.5 h", "1.5", "60"),
    ];
    let id = create(&fiona, job, form(&lines, rate("20"))).await;
    create(&fiona, job, form(&[("Callout", "1", "45")], rate("0"))).await;

    // The save dialog opens in the exports folder with the day's file name.
    let place = call(&fiona, "invoice_export", json!({"state": "draft"})).await;
    assert_eq!(place["invoices"], json!(2));
    let path = place["export_path"].as_str().unwrap().to_string();
    assert!(path.starts_with(&exports.display().to_string()), "{path}");
    assert!(
        path.ends_with(".csv") && path.contains("fieldsync-invoices-draft-"),
        "{path}"
    );

    // Saved with no place given (a browser): the exports folder; with one, there.
    let saved = call(
        &fiona,
        "save_invoices_csv",
        json!({"state": null, "path": null}),
    )
    .await;
    assert_eq!(saved["rows"], json!(2), "two invoices");
    let text = std::fs::read_to_string(saved["path"].as_str().unwrap()).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, fieldsync_app::invoices::CSV_COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let col = |name: &str| {
        fieldsync_app::invoices::CSV_COLUMNS
            .iter()
            .position(|c| *c == name)
            .unwrap()
    };
    let ours: Vec<&csv::StringRecord> = rows
        .iter()
        .filter(|r| r[col("invoice_id")] == *id)
        .collect();
    assert_eq!(ours.len(), 3, "one row per line");
    assert_eq!(
        &ours[0][col("description")],
        "'=HYPERLINK(\"http://x\",\"pay here\")"
    );
    assert_eq!(&ours[1][col("description")], "'@SUM(A1:A9)");
    assert_eq!(&ours[2][col("description")], "Labour, 1.5 h");
    assert_eq!(
        (
            &ours[2][col("quantity")],
            &ours[2][col("unit_price")],
            &ours[2][col("line_amount")]
        ),
        ("1.5", "60.00", "90.00")
    );
    assert_eq!(
        (
            &ours[0][col("subtotal")],
            &ours[0][col("tax")],
            &ours[0][col("total")]
        ),
        ("105.00", "21.00", "126.00")
    );
    assert_eq!(&ours[0][col("customer")], "Harbour School");
    assert_eq!(&ours[0][col("state")], "draft");
    assert!(ours[0][col("invoice_number")].starts_with("INV-"));

    let chosen = dir.path().join("chosen.csv");
    let saved = call(
        &fiona,
        "save_invoices_csv",
        json!({"state": "draft", "path": chosen.display().to_string()}),
    )
    .await;
    assert_eq!(saved["path"], json!(chosen.display().to_string()));
    assert!(std::fs::read_to_string(&chosen)
        .unwrap()
        .contains("'@SUM(A1:A9)"));
    let e = bridge::dispatch(
        &fiona,
        "save_invoices_csv",
        json!({"state": null, "path": "relative.txt"}),
    )
    .await
    .expect_err("not a place for a CSV");
    assert_eq!(e.code, "invalid");
}
