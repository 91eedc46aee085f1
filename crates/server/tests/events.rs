//! Server-sent pokes, the OpenAPI document, liveness and metrics, and a graceful shutdown.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_core::{Group, RecordType};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

store_test!(a_device_is_poked_at_once_and_after_another_devices_push);
async fn a_device_is_poked_at_once_and_after_another_devices_push(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;

    let mut events = p.tom.events().await;
    assert_eq!(events.next_poke(DEADLINE).await, server.max_seq().await);

    // Another device's push pokes Tom with the newest seq.
    let outcome = p
        .dana
        .apply(update(
            RecordType::Job,
            job,
            Group::Description,
            1,
            json!({"summary": "bring a ladder"}),
        ))
        .await;
    assert_eq!(events.next_poke(DEADLINE).await, outcome.seq.unwrap());

    // So do a reassignment and a held change (news for the office).
    let response = p.dana.reassign(job, "rita").await;
    assert_eq!(response.status(), StatusCode::OK);
    let moved = server.max_seq().await;
    assert_eq!(events.next_poke(DEADLINE).await, moved);
    let held = p.tom.push_one(status(job, 1, "opened")).await;
    assert!(held.review_id.is_some());
    assert!(events.next_poke(DEADLINE).await >= moved);

    // Pulling after the poke finds the change.
    let pulled = p.rita.pull(0).await;
    assert!(pulled.changes.iter().any(|c| c.seq == outcome.seq.unwrap()));
}

store_test!(the_openapi_document_has_every_call_of_the_design);
async fn the_openapi_document_has_every_call_of_the_design(backend: Backend) {
    let server = TestServer::start(backend).await;
    let response = server
        .http
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/auth/login", &["post"][..]),
        ("/api/v1/sync/push", &["post"]),
        ("/api/v1/sync/pull", &["get"]),
        ("/api/v1/events", &["get"]),
        ("/api/v1/review", &["get"]),
        ("/api/v1/review/{id}/resolve", &["post"]),
        ("/api/v1/records/{type}/{id}/reassign", &["post"]),
        ("/api/v1/records/{type}/{id}/reopen", &["post"]),
        ("/api/v1/records/{type}/{id}/history", &["get"]),
        ("/api/v1/files/{sha256}", &["head", "patch"]),
        ("/api/v1/devices", &["get"]),
        ("/api/v1/report", &["get"]),
        ("/api/v1/policy", &["get"]),
        ("/healthz", &["get"]),
        ("/metrics", &["get"]),
    ] {
        let entry = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is missing from the OpenAPI document"));
        for method in methods {
            assert!(entry.get(*method).is_some(), "{method} {path}");
        }
    }
    // The wire types are described with the names DESIGN.md fixes.
    let change = &doc["components"]["schemas"]["Change"]["properties"];
    for field in [
        "change_id",
        "record_type",
        "record_id",
        "group",
        "op",
        "base_version",
        "values",
        "owner_epoch",
        "device_time",
    ] {
        assert!(change.get(field).is_some(), "Change.{field}");
    }
    let pull = &doc["components"]["schemas"]["PullResponse"]["properties"];
    for field in ["changes", "ownership", "review", "next", "more"] {
        assert!(pull.get(field).is_some(), "PullResponse.{field}");
    }
}

store_test!(health_and_metrics_answer_without_a_token);
async fn health_and_metrics_answer_without_a_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    let get = |path: &str| server.http.get(server.url(path)).send();
    let health = get("/healthz").await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap(), "ok");

    let before = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(!before.contains("fieldsync_changes_total"), "{before}");

    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    p.sam.apply(status(job, 1, "in_progress")).await;
    p.tom.push_one(status(job, 1, "opened")).await;
    p.kai.push_one(status(job, 2, "paused")).await;

    let response = get("/metrics").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let after = response.text().await.unwrap();
    for line in [
        "fieldsync_changes_total{status=\"applied\"} 3",
        "fieldsync_changes_total{status=\"held\"} 1",
        "fieldsync_changes_total{status=\"rejected\"} 1",
        "fieldsync_pushes_total 5",
        "fieldsync_review_queue_depth 1",
    ] {
        assert!(after.lines().any(|l| l == line), "{line} in:\n{after}");
    }
}

store_test!(a_graceful_shutdown_closes_event_streams_and_returns);
async fn a_graceful_shutdown_closes_event_streams_and_returns(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let tom = server.login("tom").await;
    let mut events = tom.events().await;
    events.next_poke(DEADLINE).await;

    let serving = server.trigger_shutdown();
    tokio::time::timeout(DEADLINE, serving)
        .await
        .expect("serve returns although an event stream was open")
        .unwrap()
        .unwrap();
    assert_eq!(events.next(DEADLINE).await, None, "the event stream ended");
    // Nothing listens any more.
    let after = reqwest::Client::new()
        .get(server.url("/healthz"))
        .send()
        .await;
    assert!(after.is_err(), "the listener is closed: {after:?}");
}
