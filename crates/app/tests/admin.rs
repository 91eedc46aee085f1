//! The admin's people page through the command layer, against a real server: an admin adds a
//! technician, who signs in on a device and is asked for their own password first; the admin
//! sees that device with what it reported and revokes it in one action; a form's bad name or
//! short password is refused with core's sentence before anything is sent; nobody else may.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_app::bridge;
use fieldsync_core::Role;
use serde_json::{json, Value};

#[tokio::test]
async fn an_admin_adds_a_technician_who_chooses_a_password_and_whose_device_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let url = server_with(
        dir.path(),
        &[("ada", Role::Admin), ("dana", Role::Dispatcher)],
    )
    .await;
    let ada = signed_in_with(dir.path(), &url, "ada", PASSWORD).await;
    let session = call(&ada, "session", Value::Null).await;
    assert_eq!(session["can"]["administer"], json!(true));
    assert_eq!(session["must_change_password"], json!(false));

    // The form's mistakes come back with core's sentence, and nothing is added.
    for (args, says) in [
        (
            json!({"name": "Tess Ng", "display_name": "Tess", "role": "technician", "team": "north", "password": "first password"}),
            "cannot be a user name",
        ),
        (
            json!({"name": "tess", "display_name": "Tess", "role": "technician", "team": "north", "password": "short"}),
            "at least 8",
        ),
        (
            json!({"name": "tess", "display_name": "Tess", "role": "plumber", "team": "north", "password": "first password"}),
            "is not a role",
        ),
    ] {
        let refused = bridge::dispatch(&ada, "add_account", args)
            .await
            .unwrap_err();
        assert_eq!(refused.code, "invalid");
        assert!(refused.message.contains(says), "{}", refused.message);
    }
    let page = call(&ada, "people", Value::Null).await;
    assert!(!page["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["name"] == json!("tess")));

    let added = call(
        &ada,
        "add_account",
        json!({"name": "tess", "display_name": "Tess Ng", "role": "technician", "team": "north", "password": "first password"}),
    )
    .await;
    assert_eq!(added["must_change_password"], json!(true));

    // Tess signs in on her tablet: the app asks for her own password before anything else.
    let tess = signed_in_with(dir.path(), &url, "tess", "first password").await;
    let hers = call(&tess, "session", Value::Null).await;
    assert_eq!(hers["must_change_password"], json!(true));
    assert_eq!(hers["can"]["administer"], json!(false));
    let same = bridge::dispatch(
        &tess,
        "change_own_password",
        json!({"current_password": "first password", "new_password": "first password"}),
    )
    .await
    .unwrap_err();
    assert_eq!(same.code, "invalid");
    call(
        &tess,
        "change_own_password",
        json!({"current_password": "first password", "new_password": "tess's own secret"}),
    )
    .await;
    let hers = call(&tess, "session", Value::Null).await;
    assert_eq!(hers["must_change_password"], json!(false));
    let forbidden = bridge::dispatch(&tess, "people", Value::Null)
        .await
        .unwrap_err();
    assert_eq!(forbidden.code, "forbidden");
    tess.client().unwrap().sync_now().await.unwrap();

    // Her tablet is lost: the admin finds it and revokes it; its next call is refused.
    let page = call(&ada, "people", Value::Null).await;
    let tablet = page["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["user"] == json!("tess"))
        .unwrap()
        .clone();
    assert_eq!(tablet["revoked_at"], Value::Null);
    call(
        &ada,
        "revoke_device",
        json!({"device_id": tablet["device_id"]}),
    )
    .await;
    let round = tess.client().unwrap().sync_now().await.unwrap();
    assert!(
        !round.failed.is_empty(),
        "a revoked device's token is refused: {round:?}"
    );
    let page = call(&ada, "people", Value::Null).await;
    let tablet = page["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["user"] == json!("tess"))
        .unwrap()
        .clone();
    assert!(tablet["revoked_at"].is_string());
    let actions: Vec<&str> = page["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["revoke_device", "change_own_password", "add_user"],
        "newest first"
    );

    // A dispatcher may not manage people.
    let dana = signed_in_with(dir.path(), &url, "dana", PASSWORD).await;
    for (command, args) in [
        ("people", Value::Null),
        (
            "add_account",
            json!({"name": "mallory", "display_name": "M", "role": "admin", "team": "", "password": "a long password"}),
        ),
        (
            "change_account",
            json!({"name": "tess", "display_name": null, "role": "admin", "team": null, "disabled": null}),
        ),
    ] {
        let refused = bridge::dispatch(&dana, command, args).await.unwrap_err();
        assert_eq!(refused.code, "forbidden", "{command}");
    }
}
