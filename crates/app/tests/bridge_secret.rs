//! The loopback bridge answers only a call that carries this run's secret in its URL: without
//! it, with a wrong one, or with one that is nearly right, nothing is dispatched.
#![allow(clippy::unwrap_used)]

use fieldsync_app::{bridge, App};
use fieldsync_client::{ClientConfig, HttpTransport, SyncClient, SystemClock};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

#[tokio::test]
async fn a_call_without_this_runs_secret_is_refused_and_the_right_one_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    // No server behind the client: a command that got through to it would say `unreachable`,
    // so a refusal here can only be the bridge's own.
    let client = SyncClient::open(
        &dir.path().join("cache.db"),
        Arc::new(HttpTransport::new("http://127.0.0.1:9").unwrap()),
        Arc::new(SystemClock),
        ClientConfig::new("office desk", &dir.path().join("files"), 7),
    )
    .await
    .unwrap();
    let app = Arc::new(App::new(client));
    let secret = bridge::new_secret();
    assert_eq!(secret.len(), 64, "256 random bits");
    assert_ne!(secret, bridge::new_secret(), "a new secret each run");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = bridge::router(app.clone(), secret.clone(), None);
    tokio::spawn(async move { axum::serve(listener, router).await });
    let http = reqwest::Client::new();
    let sign_in = json!({"username": "dana", "password": "guess"});

    let mut flipped = secret.clone().into_bytes();
    flipped[0] = if flipped[0] == b'a' { b'b' } else { b'a' };
    let wrong_secrets = [
        ("an empty secret", String::new()),
        ("a made-up secret", "0".repeat(64)),
        ("the secret less its last digit", secret[..63].to_string()),
        ("the secret and one digit more", format!("{secret}0")),
        ("the secret in capitals", secret.to_uppercase()),
        ("one digit changed", String::from_utf8(flipped).unwrap()),
    ];
    for (what, wrong) in &wrong_secrets {
        for command in ["session", "sign_in", "board"] {
            let response = http
                .post(format!("{base}/api/{wrong}/{command}"))
                .json(&sign_in)
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::FORBIDDEN,
                "{what}: {command}"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], "forbidden", "{what}: {body}");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
    // No secret segment at all finds no command.
    let response = http
        .post(format!("{base}/api/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(app.session().await.is_none(), "nothing signed in");

    // The right secret is answered: the session (none yet), and a sign-in that reaches the
    // client (which finds no server).
    let response = http
        .post(format!("{base}/api/{secret}/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap(), Value::Null);
    let response = http
        .post(format!("{base}/api/{secret}/sign_in"))
        .json(&sign_in)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "unreachable", "{body}");
}
