//! Every endpoint for every role: allowed, or `403 forbidden`; and `401 unauthenticated` without
//! a token, with a bad one, or with a revoked device's.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_core::{Group, RecordId, RecordType, Role};
use fieldsync_server::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A job of Tom's, signed off, ready to be reopened.
async fn signed_off_job(p: &People, customer: RecordId) -> RecordId {
    let job = p.dana.new_job(customer, "tom").await;
    p.tom
        .apply(update(
            RecordType::Job,
            job,
            Group::Signature,
            1,
            json!({"signer": "the customer"}),
        ))
        .await;
    p.tom.apply(status(job, 1, "signed_off")).await;
    job
}

async fn status_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    (status, response.text().await.unwrap())
}

store_test!(every_endpoint_for_every_role);
async fn every_endpoint_for_every_role(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let to_reopen_by_supervisor = signed_off_job(&p, customer).await;
    let to_reopen_by_dispatcher = signed_off_job(&p, customer).await;
    p.sam.apply(status(job, 1, "in_progress")).await;
    let conflict = p.tom.push_one(status(job, 1, "opened")).await;
    let review_id = conflict.review_id.unwrap();

    for role in Role::ALL {
        let who = p.by_role(role);
        let name = role.as_str();

        // Open to every role.
        let (code, text) =
            status_of(who.post("/api/v1/sync/push", json!({"changes": []})).await).await;
        assert_eq!(code, StatusCode::OK, "{name} push: {text}");
        let (code, text) = status_of(who.get("/api/v1/sync/pull?after=0").await).await;
        assert_eq!(code, StatusCode::OK, "{name} pull: {text}");
        let (code, text) = status_of(who.get("/api/v1/review").await).await;
        assert_eq!(code, StatusCode::OK, "{name} review: {text}");
        let (code, text) = status_of(who.get("/api/v1/policy").await).await;
        assert_eq!(code, StatusCode::OK, "{name} policy: {text}");
        let policy: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            policy["policy"]["types"]["job"]["groups"]["status"]["policy"],
            json!("manual_review"),
            "{name}: {text}"
        );
        let events = who.get("/api/v1/events").await;
        assert_eq!(events.status(), StatusCode::OK, "{name} events");
        drop(events);
        let (code, text) =
            status_of(who.get(&format!("/api/v1/records/job/{job}/history")).await).await;
        assert_eq!(
            code,
            StatusCode::OK,
            "{name} history of a job in scope: {text}"
        );

        // Every device uploads files.
        let bytes = format!("a photo taken by {name}").into_bytes();
        let sha = hex::encode(Sha256::digest(&bytes));
        let patch = who
            .request(Method::PATCH, &format!("/api/v1/files/{sha}"))
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", "0")
            .header("upload-length", bytes.len().to_string())
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(patch.status(), StatusCode::NO_CONTENT, "{name} upload");
        let head = who
            .request(Method::HEAD, &format!("/api/v1/files/{sha}"))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::OK, "{name} upload status");
        // A file no record names is nobody's to download, not even its uploader's.
        let get = who.get(&format!("/api/v1/files/{sha}")).await;
        expect_error(get, StatusCode::NOT_FOUND, "not_found").await;

        // The device list is for the office.
        let devices = who.get("/api/v1/devices").await;
        if role == Role::Technician {
            expect_error(devices, StatusCode::FORBIDDEN, "forbidden").await;
        } else {
            assert_eq!(devices.status(), StatusCode::OK, "{name} devices");
        }
    }

    // Reassign: the dispatcher only. Reopen: the supervisor and the dispatcher. Resolve a
    // status conflict: the supervisor (the policy's resolver). The refusals write nothing.
    let newest = server.max_seq().await;
    for role in Role::ALL {
        let who = p.by_role(role);
        if role != Role::Dispatcher {
            expect_error(
                who.reassign(job, "rita").await,
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
        }
        if !matches!(role, Role::Supervisor | Role::Dispatcher) {
            expect_error(
                who.reopen(to_reopen_by_supervisor, "why not").await,
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
        }
        if role != Role::Supervisor {
            expect_error(
                who.resolve_raw(review_id, json!({"choice": "incoming"}))
                    .await,
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
        }
    }
    assert_eq!(server.max_seq().await, newest, "no refusal wrote anything");
    let history = p.dana.history(RecordType::Job, job).await;
    assert_eq!(history.record.owner_epoch, 1);
    assert!(history.record.groups[&Group::Status].contested);

    let (code, text) = status_of(p.dana.reassign(job, "rita").await).await;
    assert_eq!(code, StatusCode::OK, "dispatcher reassigns: {text}");
    for (who, to_reopen) in [
        (&p.sam, to_reopen_by_supervisor),
        (&p.dana, to_reopen_by_dispatcher),
    ] {
        let (code, text) = status_of(who.reopen(to_reopen, "the leak is back").await).await;
        assert_eq!(code, StatusCode::OK, "{} reopens: {text}", who.user);
    }
    p.sam.resolve(review_id, json!({"choice": "current"})).await;

    // A technician's history is their own jobs only.
    let response = p
        .kai
        .get(&format!(
            "/api/v1/records/job/{to_reopen_by_dispatcher}/history"
        ))
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
}

/// Every call that needs a token, with a body that would be accepted with a good one.
fn authed_calls(job: RecordId, review: &str) -> Vec<(Method, String, Option<Value>)> {
    let sha = hex::encode(Sha256::digest(b"x"));
    vec![
        (
            Method::POST,
            "/api/v1/sync/push".into(),
            Some(json!({"changes": []})),
        ),
        (Method::GET, "/api/v1/sync/pull?after=0".into(), None),
        (Method::GET, "/api/v1/events".into(), None),
        (Method::GET, "/api/v1/review".into(), None),
        (
            Method::POST,
            format!("/api/v1/review/{review}/resolve"),
            Some(json!({"choice": "current"})),
        ),
        (
            Method::POST,
            format!("/api/v1/records/job/{job}/reassign"),
            Some(json!({"owner": {"kind": "user", "name": "rita"}})),
        ),
        (
            Method::POST,
            format!("/api/v1/records/job/{job}/reopen"),
            Some(json!({"reason": "because"})),
        ),
        (
            Method::GET,
            format!("/api/v1/records/job/{job}/history"),
            None,
        ),
        (Method::GET, "/api/v1/devices".into(), None),
        (Method::GET, "/api/v1/policy".into(), None),
        (Method::HEAD, format!("/api/v1/files/{sha}"), None),
        (Method::PATCH, format!("/api/v1/files/{sha}"), None),
        (Method::GET, format!("/api/v1/files/{sha}"), None),
    ]
}

store_test!(a_missing_bad_or_revoked_token_is_unauthenticated);
async fn a_missing_bad_or_revoked_token_is_unauthenticated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    p.sam.apply(status(job, 1, "in_progress")).await;
    let review = p
        .tom
        .push_one(status(job, 1, "opened"))
        .await
        .review_id
        .unwrap();
    let lost = server.login_device("dana", "lost tablet").await;
    server
        .store
        .revoke_device(lost.device_id, server.clock.now())
        .await
        .unwrap();
    let newest = server.max_seq().await;

    let authorizations: [(&str, Option<String>); 5] = [
        ("no token", None),
        (
            "a made-up token",
            Some(format!("Bearer {}", "ab".repeat(32))),
        ),
        ("an empty bearer", Some("Bearer ".into())),
        ("another scheme", Some(format!("Basic {}", lost.token))),
        (
            "a revoked device's token",
            Some(format!("Bearer {}", lost.token)),
        ),
    ];
    for (method, path, body) in authed_calls(job, &review.to_string()) {
        for (what, authorization) in &authorizations {
            let mut request = server.anonymous(method.clone(), &path);
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            if method == Method::HEAD {
                assert_eq!(
                    response.status(),
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} with {what}"
                );
            } else {
                expect_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
            }
        }
    }
    assert_eq!(server.max_seq().await, newest, "nothing was written");
    let history = p.dana.history(RecordType::Job, job).await;
    assert_eq!(history.record.owner_epoch, 1);
    assert!(history.record.groups[&Group::Status].contested);

    // The person's other devices work.
    let relogin = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .json(&json!({"username": "dana", "password": PASSWORD, "device_name": "lost tablet"}))
        .send()
        .await
        .unwrap();
    // Revoking ended the session: its old token stays refused, and signing in again needs the
    // password and makes a new one.
    assert_eq!(relogin.status(), StatusCode::OK);
    let answer: serde_json::Value = relogin.json().await.unwrap();
    assert_ne!(answer["token"].as_str(), None);
    assert_eq!(p.dana.get("/api/v1/devices").await.status(), StatusCode::OK);

    // A wrong password is told apart from a missing token.
    for (username, password) in [("dana", "wrong"), ("nobody", PASSWORD)] {
        let response = server
            .http
            .post(server.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password, "device_name": "desk"}))
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
}

store_test!(each_role_pages_through_its_own_inbox_however_busy_another_role_is);
/// The inbox is filtered by the caller's role in the query, then paged: finance's one item is
/// there behind a thousand of the supervisors' (the store once took the newest thousand items
/// of every role and filtered after, and finance saw none of its own), and paging with a cursor
/// gives every item once, newest first.
async fn each_role_pages_through_its_own_inbox_however_busy_another_role_is(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let billing = |email: &str| json!({ "billing_email": email });
    p.olivia
        .apply(update(
            RecordType::Customer,
            customer,
            Group::Billing,
            1,
            billing("a@example.com"),
        ))
        .await;
    let held = p
        .fiona
        .push_one(update(
            RecordType::Customer,
            customer,
            Group::Billing,
            1,
            billing("b@example.com"),
        ))
        .await;
    assert_eq!(held.code.as_deref(), Some("conflict"), "{held:?}");

    // A thousand and one status collisions, newer than finance's item, for the supervisors.
    let job = p.dana.new_job(customer, "tom").await;
    p.sam.apply(status(job, 1, "opened")).await;
    let states = ["in_progress", "paused"];
    for batch in 0..2 {
        let n = if batch == 0 { 1000 } else { 1 };
        let changes = (0..n).map(|i| status(job, 1, states[i % 2])).collect();
        let outcomes = p.sam.push(changes).await;
        assert!(outcomes
            .iter()
            .all(|o| o.code.as_deref() == Some("conflict")));
    }

    let finance = p.fiona.review().await;
    assert_eq!(
        finance.iter().map(|i| i.record_id).collect::<Vec<_>>(),
        vec![customer],
        "finance sees its own item, and only that"
    );

    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![("limit", "300".to_string())];
        if let Some(cursor) = &before {
            query.push(("before", cursor.clone()));
        }
        let response = p
            .sam
            .request(Method::GET, "/api/v1/review")
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page: Vec<fieldsync_core::wire::ReviewItem> = response.json().await.unwrap();
        pages += 1;
        before = page.last().map(|i| i.cursor());
        let full = page.len() == 300;
        seen.extend(page);
        if !full {
            break;
        }
    }
    assert_eq!(pages, 4, "1001 items in pages of 300");
    assert_eq!(seen.len(), 1001);
    let ids: std::collections::BTreeSet<_> = seen.iter().map(|i| i.review_id).collect();
    assert_eq!(ids.len(), 1001, "no item twice across pages");
    assert!(seen.iter().all(|i| i.record_id == job));
    assert!(
        seen.windows(2)
            .all(|w| w[0].cursor() > w[1].cursor() || w[0].created_at > w[1].created_at),
        "newest first"
    );

    let refused = p.sam.get("/api/v1/review?before=yesterday").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let refused = p.sam.get("/api/v1/review?limit=0").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
}
