//! People and devices managed over the API, on both backends: an admin adds a technician with a
//! first password, who must change it at first sign-in; a role and team change; disabling
//! refuses every token of the person at once and enabling lets them back; a reset password is
//! one to change again; a lost tablet is revoked in one call while what it reported stays; every
//! action is in the admin log; nobody but an admin may do any of it, and everyone may change
//! their own password.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_core::wire::LoginResponse;
use fieldsync_core::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn login_as(server: &TestServer, user: &str, password: &str) -> reqwest::Response {
    server
        .http
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"username": user, "password": password, "device_name": format!("{user}'s tablet")}))
        .send()
        .await
        .unwrap()
}

async fn signed_in_as(server: &TestServer, user: &str, password: &str) -> LoginResponse {
    serde_json::from_value(json_of(login_as(server, user, password).await, StatusCode::OK).await)
        .unwrap()
}

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "answer: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    }
}

async fn patch(client: &Client, path: &str, body: Value) -> reqwest::Response {
    client
        .request(Method::PATCH, path)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn people_and_devices_are_managed_by_an_admin_and_logged(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let ada = &p.ada;

    // A new technician with a first password.
    let added = json_of(
        ada.post(
            "/api/v1/users",
            json!({"name": "tess", "display_name": "Tess Ng", "role": "technician", "team": "north", "password": "first password"}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(added["must_change_password"], json!(true));
    assert_eq!(added["team"], json!("north"));
    expect_error(
        ada.post(
            "/api/v1/users",
            json!({"name": "tess", "display_name": "Tess again", "role": "technician", "password": "first password"}),
        )
        .await,
        StatusCode::CONFLICT,
        "already_exists",
    )
    .await;
    let bad = expect_error(
        ada.post(
            "/api/v1/users",
            json!({"name": "Tess Ng", "display_name": "Tess", "role": "technician", "password": "first password"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(
        bad.message.contains("cannot be a user name"),
        "{}",
        bad.message
    );
    let short = expect_error(
        ada.post(
            "/api/v1/users",
            json!({"name": "ty", "display_name": "Ty", "role": "technician", "password": "short"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(short.message.contains("at least 8"), "{}", short.message);

    // Tess signs in: she is told to change the first password, and does.
    let first: LoginResponse = signed_in_as(&server, "tess", "first password").await;
    assert!(first.must_change_password);
    let tess = Client {
        http: server.http.clone(),
        base: server.base.clone(),
        token: first.token.clone(),
        device_id: first.device_id,
        user: "tess".into(),
    };
    expect_error(
        tess.post(
            "/api/v1/auth/password",
            json!({"current_password": "not it at all", "new_password": "tess's own secret"}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    json_of(
        tess.post(
            "/api/v1/auth/password",
            json!({"current_password": "first password", "new_password": "tess's own secret"}),
        )
        .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        login_as(&server, "tess", "first password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let again: LoginResponse = signed_in_as(&server, "tess", "tess's own secret").await;
    assert!(!again.must_change_password);

    // A role and a team change; an admin cannot demote or disable themselves.
    let changed = json_of(
        patch(
            ada,
            "/api/v1/users/tess",
            json!({"role": "dispatcher", "team": null}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["role"], json!("dispatcher"));
    assert_eq!(changed["team"], Value::Null);
    expect_error(
        patch(ada, "/api/v1/users/ada", json!({"disabled": true})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    expect_error(
        patch(ada, "/api/v1/users/nobody", json!({"disabled": true})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Disabled: her token is refused at once and she cannot sign in; enabled, she can.
    json_of(
        patch(ada, "/api/v1/users/tess", json!({"disabled": true})).await,
        StatusCode::OK,
    )
    .await;
    let mut signed_in = tess.clone();
    signed_in.token = again.token.clone();
    assert_eq!(
        signed_in.get("/api/v1/sync/pull?after=0").await.status(),
        StatusCode::UNAUTHORIZED
    );
    expect_error(
        login_as(&server, "tess", "tess's own secret").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    let listed = json_of(ada.get("/api/v1/users").await, StatusCode::OK).await;
    let tess_row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == json!("tess"))
        .unwrap();
    assert!(
        tess_row["disabled_at"].is_string(),
        "a disabled account is still listed"
    );
    json_of(
        patch(ada, "/api/v1/users/tess", json!({"disabled": false})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        signed_in.get("/api/v1/sync/pull?after=0").await.status(),
        StatusCode::OK
    );

    // A reset: a password to change at the next sign-in.
    let reset = json_of(
        ada.post(
            "/api/v1/users/tess/password",
            json!({"password": "reset by ada"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(reset["must_change_password"], json!(true));
    let after_reset: LoginResponse = signed_in_as(&server, "tess", "reset by ada").await;
    assert!(after_reset.must_change_password);

    // Tom's tablet is lost: revoked in one call, its token refused at once, its last report kept.
    p.tom.get("/api/v1/sync/pull?after=0&outbox_depth=3").await;
    json_of(
        ada.post(
            &format!("/api/v1/devices/{}/revoke", p.tom.device_id),
            json!({}),
        )
        .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        p.tom.get("/api/v1/sync/pull?after=0").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let devices = json_of(ada.get("/api/v1/devices").await, StatusCode::OK).await;
    let toms = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == json!(p.tom.device_id.to_string()))
        .unwrap();
    assert!(toms["revoked_at"].is_string());
    assert_eq!(
        toms["outbox_depth"],
        json!(3),
        "what it reported stays listed"
    );

    // Every action is in the admin log, in order.
    let log = json_of(ada.get("/api/v1/admin/log").await, StatusCode::OK).await;
    let actions: Vec<(String, String)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let tom_device = p.tom.device_id.to_string();
    let expected: Vec<(&str, &str)> = vec![
        ("add_user", "tess"),
        ("change_own_password", "tess"),
        ("change_user", "tess"),
        ("change_user", "tess"),
        ("change_user", "tess"),
        ("reset_password", "tess"),
        ("revoke_device", &tom_device),
    ];
    assert_eq!(
        actions
            .iter()
            .map(|(a, t)| (a.as_str(), t.as_str()))
            .collect::<Vec<_>>(),
        expected
    );
    assert!(log[2]["detail"]
        .as_str()
        .unwrap()
        .contains("role technician → dispatcher"));
}
store_test!(people_and_devices_are_managed_by_an_admin_and_logged);

async fn nobody_but_an_admin_manages_people_or_devices(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    for role in Role::ALL {
        if role == Role::Admin {
            continue;
        }
        let who = p.by_role(role);
        let calls = [
            who.get("/api/v1/users").await,
            who.post(
                "/api/v1/users",
                json!({"name": "mallory", "display_name": "M", "role": "admin", "password": "a long password"}),
            )
            .await,
            patch(who, "/api/v1/users/tom", json!({"role": "admin"})).await,
            who.post("/api/v1/users/ada/password", json!({"password": "taken over now"}))
                .await,
            who.post(&format!("/api/v1/devices/{}/revoke", p.ada.device_id), json!({}))
                .await,
            who.get("/api/v1/admin/log").await,
        ];
        for response in calls {
            expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
        }
        // Everyone changes their own password.
        let mine = who
            .post(
                "/api/v1/auth/password",
                json!({"current_password": PASSWORD, "new_password": format!("{} new secret", who.user)}),
            )
            .await;
        assert_eq!(mine.status(), StatusCode::NO_CONTENT, "{role}");
    }
    let log = json_of(p.ada.get("/api/v1/admin/log").await, StatusCode::OK).await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"] == json!("change_own_password")),
        "nothing refused was logged as done: {log}"
    );
}
store_test!(nobody_but_an_admin_manages_people_or_devices);

/// What the admin pass of scripts/schemathesis does to itself and to a revoked device: an admin
/// cannot lock themselves out (their own role and disabling are refused, a reset of their own
/// password leaves their token valid), revoking a revoked device again answers as done without
/// a second log entry or a new revoked time, and revoking their own device ends only that
/// device's sign-in, with a 401 rather than an error.
async fn an_admin_cannot_lock_themselves_out_and_a_second_revoke_is_not_logged(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let ada = &p.ada;

    let own_role = expect_error(
        patch(ada, "/api/v1/users/ada", json!({"role": "dispatcher"})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert!(
        own_role.message.contains("own role"),
        "{}",
        own_role.message
    );
    expect_error(
        patch(ada, "/api/v1/users/ada", json!({"disabled": true})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let reset = json_of(
        ada.post(
            "/api/v1/users/ada/password",
            json!({"password": "ada resets herself"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(reset["role"], json!("admin"));
    assert_eq!(reset["disabled_at"], json!(null), "{reset}");
    assert_eq!(ada.get("/api/v1/users").await.status(), StatusCode::OK);

    // Tom's tablet revoked twice: one revoke, one entry, the first time kept.
    let revoke_tom = format!("/api/v1/devices/{}/revoke", p.tom.device_id);
    json_of(
        ada.post(&revoke_tom, json!({})).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let revoked_at = |devices: &Value| {
        devices
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["device_id"] == json!(p.tom.device_id.to_string()))
            .unwrap()["revoked_at"]
            .clone()
    };
    let first = revoked_at(&json_of(ada.get("/api/v1/devices").await, StatusCode::OK).await);
    assert!(first.is_string());
    json_of(
        ada.post(&revoke_tom, json!({})).await,
        StatusCode::NO_CONTENT,
    )
    .await;
    let again = revoked_at(&json_of(ada.get("/api/v1/devices").await, StatusCode::OK).await);
    assert_eq!(again, first, "the first revoke's time stays");
    let log = json_of(ada.get("/api/v1/admin/log").await, StatusCode::OK).await;
    let revokes = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == json!("revoke_device"))
        .count();
    assert_eq!(revokes, 1, "one revoke logged: {log}");
    // A device nobody has is still not found.
    expect_error(
        ada.post(
            &format!("/api/v1/devices/{}/revoke", uuid::Uuid::now_v7()),
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Ada revokes the device she is signed in on: done, and its token refused from then on.
    json_of(
        ada.post(
            &format!("/api/v1/devices/{}/revoke", ada.device_id),
            json!({}),
        )
        .await,
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_error(
        ada.get("/api/v1/users").await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}
store_test!(an_admin_cannot_lock_themselves_out_and_a_second_revoke_is_not_logged);
