//! Fetching a file a record names: the office's device and the job's technician get the bytes,
//! checked against the hash and kept in the files folder (asked for once); another technician
//! is refused, and a file the server does not have is not found.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_client::{ClientError, TransportError};

fn refusal(e: ClientError) -> (u16, String) {
    match e {
        ClientError::Transport(TransportError::Refused { status, code, .. }) => (status, code),
        other => panic!("not a refusal: {other:?}"),
    }
}

#[tokio::test]
async fn a_photo_is_fetched_by_the_office_and_its_technician_once_and_by_nobody_else() {
    let harness = Harness::start().await;
    let dana = harness.api("dana").await;
    let setup = job_for(&harness, &dana, "tom", "Westgate Dairy").await;
    let tom = harness.device("tom", "tom's phone", 50).await;
    let bytes = photo_bytes(40_000, 3);
    let sha = tom.client.attach_file(&bytes).await.unwrap();
    tom.save(photo(&tom, setup.job, &sha, "the new valve"))
        .await;
    tom.sync_until_done(&harness, 3).await;

    let office = harness.device("dana", "dana's desktop", 51).await;
    office.client.sync_once().await.unwrap();
    let asked = harness.proxy.count(&Target::files());
    let path = office.client.download_file(&sha).await.unwrap();
    assert_eq!(path, office.files_dir().join(&sha));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(harness.proxy.count(&Target::files()), asked + 1);
    // Kept: the same file again is read from the folder, not the server.
    assert_eq!(office.client.download_file(&sha).await.unwrap(), path);
    assert_eq!(harness.proxy.count(&Target::files()), asked + 1);
    let leftovers: Vec<_> = std::fs::read_dir(office.files_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(leftovers, vec![sha.clone()], "no temporary file left");

    // Rita is a technician of the same team, but the job is Tom's.
    let rita = harness.device("rita", "rita's phone", 52).await;
    rita.client.sync_once().await.unwrap();
    let refused = rita.client.download_file(&sha).await.unwrap_err();
    assert_eq!(refusal(refused), (403, "forbidden".to_string()));
    assert!(!rita.files_dir().join(&sha).exists());

    let unknown = "ab".repeat(32);
    let missing = office.client.download_file(&unknown).await.unwrap_err();
    assert_eq!(refusal(missing), (404, "not_found".to_string()));
    assert!(matches!(
        office.client.download_file("../cache.db").await,
        Err(ClientError::Invalid(_))
    ));

    // A fetch cut on the way keeps nothing, and the next one succeeds.
    let other = harness.device("olivia", "olivia's laptop", 53).await;
    other.client.sync_once().await.unwrap();
    harness.proxy.inject(Target::files(), Fault::DropReply, 1);
    let cut = other.client.download_file(&sha).await.unwrap_err();
    assert!(
        matches!(cut, ClientError::Transport(TransportError::Unreachable(_))),
        "{cut:?}"
    );
    assert!(!other.files_dir().join(&sha).exists());
    let path = other.client.download_file(&sha).await.unwrap();
    assert_eq!(std::fs::read(path).unwrap(), bytes);
}
