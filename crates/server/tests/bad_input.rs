//! Input the server refuses before judging anything: every refusal is an HTTP status with the
//! `{code, message}` body, and none of them writes anything. Also the rate limits.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_core::wire::OutcomeStatus;
use fieldsync_core::{Group, RecordId, RecordType};
use fieldsync_server::Limits;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// What a refusal must leave as it was: the log's newest seq, the office's whole pull, and the
/// job's history.
#[derive(Debug, PartialEq)]
struct Snapshot {
    newest: i64,
    pulled: Vec<i64>,
    history: String,
}

async fn snapshot(server: &TestServer, office: &Client, job: RecordId) -> Snapshot {
    Snapshot {
        newest: server.max_seq().await,
        pulled: office
            .pull_all()
            .await
            .changes
            .iter()
            .map(|c| c.seq)
            .collect(),
        history: serde_json::to_string(&office.history(RecordType::Job, job).await).unwrap(),
    }
}

fn tight() -> Limits {
    Limits {
        max_body: 8 * 1024,
        max_batch: 5,
        ..Limits::default()
    }
}

store_test!(refused_input_gets_an_error_body_and_writes_nothing);
async fn refused_input_gets_an_error_body_and_writes_nothing(backend: Backend) {
    let server = TestServer::start_with(backend, tight()).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let before = snapshot(&server, &p.dana, job).await;

    // A change that would be applied as it stands, to be spoiled one way at a time.
    let good = serde_json::to_value(status(job, 1, "opened")).unwrap();
    let spoiled = |key: &str, value: Value| {
        let mut change = good.clone();
        change[key] = value;
        json!({ "changes": [change] })
    };
    let push = "/api/v1/sync/push";

    let cases: Vec<(&str, reqwest::Response, StatusCode, &str)> = vec![
        (
            "malformed JSON",
            p.tom
                .post_raw(push, format!("{{\"changes\": [{good}"))
                .await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "not JSON at all",
            p.tom
                .request(Method::POST, push)
                .header("content-type", "text/plain")
                .body(good.to_string())
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "an unknown field in a change",
            p.tom.post(push, spoiled("colour", json!("red"))).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_change",
        ),
        (
            "an unknown field beside the changes",
            p.tom
                .post(push, json!({"changes": [good.clone()], "force": true}))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_change",
        ),
        (
            "a wrong type",
            p.tom
                .post(push, spoiled("base_version", json!("one")))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_change",
        ),
        (
            "a change id that is no UUID",
            p.tom.post(push, spoiled("change_id", json!("42"))).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_change",
        ),
        (
            "an unknown record type",
            p.tom
                .post(push, spoiled("record_type", json!("spaceship")))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_change",
        ),
        (
            "an unknown field group",
            p.tom.post(push, spoiled("group", json!("flavour"))).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_change",
        ),
        (
            "a missing field",
            p.tom
                .post(push, {
                    let mut change = good.clone();
                    change.as_object_mut().unwrap().remove("op");
                    json!({ "changes": [change] })
                })
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_change",
        ),
        (
            "a body over the limit",
            p.tom
                .post(
                    push,
                    json!({"changes": [serde_json::to_value(update(
                        RecordType::Job,
                        job,
                        Group::Description,
                        1,
                        json!({"summary": "x".repeat(16 * 1024)}),
                    ))
                    .unwrap()]}),
                )
                .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "a batch over max_batch",
            p.tom
                .post(
                    push,
                    json!({"changes": (0..6)
                        .map(|i| serde_json::to_value(update(
                            RecordType::Job,
                            job,
                            Group::Description,
                            1,
                            json!({"summary": format!("take {i}")}),
                        ))
                        .unwrap())
                        .collect::<Vec<_>>()}),
                )
                .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "a bad record id in the path",
            p.tom.get("/api/v1/records/job/not-a-uuid/history").await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "a bad record id to reassign",
            p.dana
                .post(
                    "/api/v1/records/job/12345/reassign",
                    json!({"owner": {"kind": "user", "name": "rita"}}),
                )
                .await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "a bad review id",
            p.sam
                .resolve_raw("not-a-review", json!({"choice": "current"}))
                .await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "an unknown record type in the path",
            p.dana
                .get(&format!("/api/v1/records/spaceship/{job}/history"))
                .await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "a reassignment to nobody",
            p.dana
                .post(
                    &format!("/api/v1/records/job/{job}/reassign"),
                    json!({"owner": {"kind": "user", "name": "nobody"}}),
                )
                .await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "a reassignment of a job that does not exist",
            p.dana.reassign(new_id(), "rita").await,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "a negative cursor",
            p.tom.get("/api/v1/sync/pull?after=-1").await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "a page size out of range",
            p.tom.get("/api/v1/sync/pull?after=0&limit=0").await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "a cursor that is no number",
            p.tom.get("/api/v1/sync/pull?after=yesterday").await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "a method the call does not take",
            p.tom.get(push).await,
            StatusCode::METHOD_NOT_ALLOWED,
            "bad_request",
        ),
        (
            "an unknown API call",
            p.tom.get("/api/v1/jobs").await,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (what, response, status, code) in cases {
        let got = response.status();
        if got == StatusCode::METHOD_NOT_ALLOWED {
            assert_eq!(response.headers()["allow"], "POST", "{what}");
        }
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{what}: {text}");
        let body: fieldsync_core::wire::ApiErrorBody = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{what}: not an error body ({e}): {text}"));
        assert_eq!(body.code, code, "{what}: {text}");
        assert!(!body.message.is_empty(), "{what}");
    }

    // A token replaced by signing in again on the same device is stale.
    let stale = p.tom.clone();
    let fresh = server.login("tom").await;
    assert_eq!(
        fresh.device_id, stale.device_id,
        "the same device, a new token"
    );
    let response = stale.post(push, json!({"changes": [good.clone()]})).await;
    expect_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    assert_eq!(
        snapshot(&server, &p.dana, job).await,
        before,
        "nothing was written"
    );

    // The unspoiled change goes through, so the refusals above were for what was spoiled.
    let outcome = fresh.push_one(serde_json::from_value(good).unwrap()).await;
    assert_eq!(outcome.status, OutcomeStatus::Applied);
}

store_test!(values_that_do_not_fit_their_group_are_rejected_as_invalid_change);
async fn values_that_do_not_fit_their_group_are_rejected_as_invalid_change(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let newest = server.max_seq().await;

    let cases = [
        update(
            RecordType::Job,
            job,
            Group::Description,
            1,
            json!({"colour": "red"}),
        ),
        update(
            RecordType::Job,
            job,
            Group::Work,
            1,
            json!({"labour_hours": "two"}),
        ),
        update(
            RecordType::Job,
            job,
            Group::Status,
            1,
            json!({"state": "exploded"}),
        ),
        update(
            RecordType::Job,
            job,
            Group::Text,
            1,
            json!({"text": "a job has no text group"}),
        ),
        update(
            RecordType::Job,
            job,
            Group::Description,
            0,
            json!({"summary": "no base"}),
        ),
        create(
            RecordType::JobNote,
            new_id(),
            json!({"text": {"job_id": job.to_string()}}),
        ),
    ];
    let outcomes = p.tom.push(cases.to_vec()).await;
    for (change, outcome) in cases.iter().zip(&outcomes) {
        assert_eq!(outcome.status, OutcomeStatus::Rejected, "{change:?}");
        assert_eq!(
            outcome.code.as_deref(),
            Some("invalid_change"),
            "{change:?}"
        );
        assert!(outcome.message.as_deref().is_some_and(|m| !m.is_empty()));
    }
    // Judged refusals are in the change log, and the job itself is unchanged.
    let history = p.dana.history(RecordType::Job, job).await;
    assert_eq!(history.record.groups[&Group::Description].version, 1);
    assert_eq!(history.record.groups[&Group::Status].version, 1);
    assert_eq!(server.max_seq().await, newest + cases.len() as i64);
}

store_test!(a_flood_from_one_device_is_rate_limited_with_retry_after);
async fn a_flood_from_one_device_is_rate_limited_with_retry_after(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        Limits {
            device_rate: 1,
            device_burst: 2,
            ..Limits::default()
        },
    )
    .await;
    let tom = server.login("tom").await;
    let dana = server.login("dana").await;

    let mut limited = None;
    let mut served = 0;
    for _ in 0..20 {
        let response = tom.get("/api/v1/sync/pull?after=0").await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
        served += 1;
    }
    assert!(served >= 1, "the burst is served");
    let response = limited.expect("a flood is refused");
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // The limit is per device: another device is served.
    assert_eq!(
        dana.get("/api/v1/sync/pull?after=0").await.status(),
        StatusCode::OK
    );
}

store_test!(sign_in_attempts_are_limited_per_user_name);
async fn sign_in_attempts_are_limited_per_user_name(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        Limits {
            login_per_minute: 3,
            ..Limits::default()
        },
    )
    .await;
    let login = |user: &str, password: &str| {
        server
            .http
            .post(server.url("/api/v1/auth/login"))
            .json(&json!({"username": user, "password": password, "device_name": "desk"}))
            .send()
    };
    for _ in 0..3 {
        let response = login("tom", "guess").await.unwrap();
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    // Even the right password waits now.
    let response = login("tom", PASSWORD).await.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    expect_error(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Another user name is not held up by Tom's.
    assert_eq!(
        login("rita", PASSWORD).await.unwrap().status(),
        StatusCode::OK
    );
}
