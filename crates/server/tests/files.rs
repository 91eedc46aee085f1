//! The file lane: resumable uploads with tus 1.0 core semantics, the hash checked at the last
//! byte, and a photo that waits for its file.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_core::wire::OutcomeStatus;
use fieldsync_core::RecordType;
use fieldsync_server::Limits;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

fn sha_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A photo's bytes, different for each seed.
fn photo_bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn patch(
    who: &Client,
    sha: &str,
    offset: usize,
    length: Option<usize>,
    chunk: &[u8],
) -> reqwest::Response {
    let mut request = who
        .request(Method::PATCH, &format!("/api/v1/files/{sha}"))
        .header("content-type", "application/offset+octet-stream")
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", offset.to_string())
        .body(chunk.to_vec());
    if let Some(length) = length {
        request = request.header("upload-length", length.to_string());
    }
    request.send().await.unwrap()
}

async fn head(who: &Client, sha: &str) -> reqwest::Response {
    who.request(Method::HEAD, &format!("/api/v1/files/{sha}"))
        .send()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> Option<u64> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().parse().unwrap())
}

store_test!(a_file_uploads_in_two_chunks_and_resumes_where_it_broke);
async fn a_file_uploads_in_two_chunks_and_resumes_where_it_broke(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tom = server.login("tom").await;
    let bytes = photo_bytes(7, 10_000);
    let sha = sha_of(&bytes);
    let (first, rest) = bytes.split_at(4_096);

    assert_eq!(
        head(&tom, &sha).await.status(),
        StatusCode::NOT_FOUND,
        "no upload yet"
    );
    let response = patch(&tom, &sha, 0, Some(bytes.len()), first).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "upload-offset"), Some(4_096));
    assert_eq!(response.headers()["tus-resumable"], "1.0.0");

    // The link broke here; the device asks where to go on.
    let status = head(&tom, &sha).await;
    assert_eq!(status.status(), StatusCode::OK);
    assert_eq!(header(&status, "upload-offset"), Some(4_096));
    assert_eq!(header(&status, "upload-length"), Some(10_000));

    // Sending from the wrong place is refused and changes nothing.
    for offset in [0, 100, 5_000] {
        let wrong = patch(&tom, &sha, offset, None, rest).await;
        expect_error(wrong, StatusCode::CONFLICT, "offset_mismatch").await;
    }
    // A different Upload-Length for the same file is refused too.
    let wrong_length = patch(&tom, &sha, 4_096, Some(20_000), rest).await;
    expect_error(wrong_length, StatusCode::CONFLICT, "offset_mismatch").await;
    assert_eq!(
        header(&head(&tom, &sha).await, "upload-offset"),
        Some(4_096)
    );

    let response = patch(&tom, &sha, 4_096, None, rest).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "upload-offset"), Some(10_000));
    let status = head(&tom, &sha).await;
    assert_eq!(header(&status, "upload-offset"), Some(10_000));
    let stored = std::fs::read(server.files_dir().join(&sha)).unwrap();
    assert_eq!(stored, bytes, "the file is whole under its hash");

    // Sending a whole file again is harmless: it is already there.
    let again = patch(&tom, &sha, 0, Some(bytes.len()), &bytes).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&again, "upload-offset"), Some(10_000));

    // The metrics count the bytes of the file lane.
    let metrics = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("fieldsync_file_lane_bytes_total 10000"),
        "{metrics}"
    );
}

store_test!(a_file_whose_bytes_do_not_match_its_hash_is_discarded_and_restarts);
async fn a_file_whose_bytes_do_not_match_its_hash_is_discarded_and_restarts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tom = server.login("tom").await;
    let bytes = photo_bytes(1, 3_000);
    let sha = sha_of(&bytes);
    let mut corrupt = bytes.clone();
    corrupt[2_999] ^= 0xff;

    let response = patch(&tom, &sha, 0, Some(3_000), &corrupt[..1_500]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = patch(&tom, &sha, 1_500, None, &corrupt[1_500..]).await;
    expect_error(response, StatusCode::CONFLICT, "hash_mismatch").await;
    let status = head(&tom, &sha).await;
    assert_eq!(
        header(&status, "upload-offset"),
        Some(0),
        "the upload starts again"
    );
    assert!(!server.files_dir().join(&sha).exists());

    let response = patch(&tom, &sha, 0, None, &bytes).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "upload-offset"), Some(3_000));
    assert_eq!(std::fs::read(server.files_dir().join(&sha)).unwrap(), bytes);
}

store_test!(uploads_over_the_limits_and_bad_names_are_refused);
async fn uploads_over_the_limits_and_bad_names_are_refused(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        Limits {
            max_file: 64 * 1024,
            max_chunk: 16 * 1024,
            ..Limits::default()
        },
    )
    .await;
    let tom = server.login("tom").await;
    let bytes = photo_bytes(3, 1_000);
    let sha = sha_of(&bytes);

    let oversize = patch(&tom, &sha, 0, Some(64 * 1024 + 1), &bytes).await;
    expect_error(oversize, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert_eq!(
        head(&tom, &sha).await.status(),
        StatusCode::NOT_FOUND,
        "nothing began"
    );

    // A chunk over the limit is refused with the API's error body; smaller chunks go through.
    let big = photo_bytes(4, 40 * 1024);
    let big_sha = sha_of(&big);
    let response = patch(&tom, &big_sha, 0, Some(big.len()), &big).await;
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let mut offset = 0;
    for chunk in big.chunks(16 * 1024) {
        let response = patch(&tom, &big_sha, offset, Some(big.len()), chunk).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        offset += chunk.len();
    }
    assert_eq!(
        header(&head(&tom, &big_sha).await, "upload-offset"),
        Some(big.len() as u64)
    );
    std::fs::remove_file(server.files_dir().join(&big_sha)).unwrap();

    // Bytes past the declared length are refused.
    let past_end = patch(&tom, &sha, 0, Some(500), &bytes).await;
    expect_error(past_end, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    for bad in [
        "not-a-hash".to_string(),
        sha.to_uppercase(),
        format!("{sha}0"),
        "..%2F..%2Fetc%2Fpasswd".to_string(),
    ] {
        let response = patch(&tom, &bad, 0, Some(bytes.len()), &bytes).await;
        expect_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
        assert_eq!(
            head(&tom, &bad).await.status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }

    // The first PATCH names its length, and file bytes say what they are.
    let other = sha_of(b"other");
    let response = patch(&tom, &other, 0, None, b"other").await;
    expect_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    let response = tom
        .request(Method::PATCH, &format!("/api/v1/files/{other}"))
        .header("content-type", "application/json")
        .header("upload-offset", "0")
        .header("upload-length", "5")
        .body("other")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(std::fs::read_dir(server.files_dir())
        .map(|d| d.count() == 0)
        .unwrap_or(true));
}

store_test!(a_photo_waits_for_its_file_and_is_applied_once_the_file_is_whole);
async fn a_photo_waits_for_its_file_and_is_applied_once_the_file_is_whole(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let bytes = photo_bytes(9, 5_000);
    let sha = sha_of(&bytes);
    let photo = new_id();
    let create_photo = create(
        RecordType::Photo,
        photo,
        json!({"file": {"job_id": job.to_string(), "sha256": sha, "caption": "boiler plate"}}),
    );
    let newest = server.max_seq().await;

    // Before any byte arrived, and again with half the file: not yet, and nothing kept.
    let early = p.tom.push_one(create_photo.clone()).await;
    assert_eq!(early.status, OutcomeStatus::Rejected);
    assert_eq!(early.code.as_deref(), Some("file_pending"));
    assert!(!early.replayed);
    let response = patch(&p.tom, &sha, 0, Some(bytes.len()), &bytes[..2_000]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let half = p.tom.push_one(create_photo.clone()).await;
    assert_eq!(half.code.as_deref(), Some("file_pending"));
    assert!(!half.replayed, "a transient refusal is not remembered");
    assert_eq!(server.max_seq().await, newest, "nothing was stored");
    let response = p
        .tom
        .get(&format!("/api/v1/records/photo/{photo}/history"))
        .await;
    expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert!(!record_ids(&p.dana.pull_all().await).contains(&photo));

    // The file lane finishes; the same change, sent again, is applied.
    let response = patch(&p.tom, &sha, 2_000, None, &bytes[2_000..]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let applied = p.tom.push_one(create_photo.clone()).await;
    assert_eq!(applied.status, OutcomeStatus::Applied);
    assert!(!applied.replayed);
    assert_eq!(applied.version, Some(1));
    assert!(applied
        .number
        .as_deref()
        .is_some_and(|n| n.starts_with("PH-")));
    let replayed = p.tom.push_one(create_photo.clone()).await;
    assert!(replayed.replayed);
    assert_eq!(replayed.seq, applied.seq);

    let history = p.tom.history(RecordType::Photo, photo).await;
    assert_eq!(history.entries.len(), 1);
    assert_eq!(history.entries[0].change_id, create_photo.change_id);
    let photos: Vec<_> = p
        .tom
        .pull(0)
        .await
        .changes
        .into_iter()
        .filter(|c| c.record_id == photo)
        .collect();
    assert_eq!(
        photos.len(),
        1,
        "the technician pulls the photos of their jobs"
    );
    assert_eq!(photos[0].values["file"]["sha256"], json!(sha));
}
