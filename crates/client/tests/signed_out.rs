//! A device whose token the server refuses (an admin revoked it) is signed out at once: it stops
//! sending under that token, keeps its outbox, remembers why (also across a restart), and once
//! the person signs in again (with their password: revoking ended the session, not the device)
//! what it held goes to the server.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_server::store::Store;

#[tokio::test]
async fn a_revoked_device_is_signed_out_with_the_reason_and_keeps_its_outbox() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Bakehouse Lane").await;
    let mut tom = harness.device("tom", "tom's phone", 41).await;
    tom.client.sync_now().await.unwrap();
    assert!(tom.client.signed_out_reason().await.unwrap().is_none());

    // The tablet is reported lost and revoked, while a note waits on it.
    let id = harness
        .store
        .list_devices()
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.name == "tom's phone")
        .unwrap()
        .device_id;
    harness
        .store
        .revoke_device(id, harness.now())
        .await
        .unwrap();
    tom.client
        .save(note(&tom, setup.job, "Pump replaced"))
        .await
        .unwrap();
    let round = tom.client.sync_now().await.unwrap();
    assert!(!round.failed.is_empty(), "{round:?}");
    assert!(
        tom.client.user().is_none(),
        "the device is no longer signed in"
    );
    let reason = tom.client.signed_out_reason().await.unwrap().unwrap();
    assert!(reason.contains("revoked"), "the server's words: {reason}");
    let sent = harness.proxy.requests();
    assert!(
        tom.client.sync_now().await.is_err(),
        "nothing goes without a session"
    );
    assert_eq!(
        harness.proxy.requests(),
        sent,
        "no request under the refused token"
    );
    assert_eq!(
        tom.client.status().await.unwrap().changes.pending,
        1,
        "the outbox stays"
    );

    // A restart opens signed out, with the reason.
    tom.restart().await;
    assert!(tom.client.user().is_none());
    assert!(tom.client.signed_out_reason().await.unwrap().is_some());

    // Signing in again with the password starts a new session; what waited goes.
    assert_eq!(tom.client.status().await.unwrap().changes.pending, 1);
    tom.client.login("tom", PASSWORD).await.unwrap();
    assert!(tom.client.signed_out_reason().await.unwrap().is_none());
    let round = tom.client.sync_now().await.unwrap();
    assert_eq!(round.applied, 1, "{round:?}");
    assert_eq!(tom.client.status().await.unwrap().changes.pending, 0);
}

#[tokio::test]
async fn a_session_ended_elsewhere_signs_the_device_out_and_its_outbox_goes_at_the_next_sign_in() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Bakehouse Lane").await;
    let tom = harness.device("tom", "tom's phone", 42).await;
    tom.client.sync_now().await.unwrap();
    tom.client
        .save(note(&tom, setup.job, "Pump replaced"))
        .await
        .unwrap();
    // The same device name signs in from somewhere else: this device's token is replaced.
    let elsewhere = harness.device("tom", "tom's phone", 43).await;
    let round = tom.client.sync_now().await.unwrap();
    assert!(!round.failed.is_empty(), "{round:?}");
    assert!(tom.client.user().is_none());
    assert!(tom.client.signed_out_reason().await.unwrap().is_some());
    assert_eq!(tom.client.status().await.unwrap().changes.pending, 1);
    drop(elsewhere);

    // Tom signs in again: the note goes, and the reason is gone.
    tom.client.login("tom", PASSWORD).await.unwrap();
    assert!(tom.client.signed_out_reason().await.unwrap().is_none());
    let round = tom.client.sync_now().await.unwrap();
    assert_eq!(round.applied, 1, "{round:?}");
    assert_eq!(tom.client.status().await.unwrap().changes.pending, 0);
}
