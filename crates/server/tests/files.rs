//! The file lane: resumable uploads with tus 1.0 core semantics, the hash checked at the last
//! byte, a photo that waits for its file, and downloads: who may fetch a file, ranges and ETags.
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

/// Uploads a whole file in one PATCH; its hash.
async fn upload(who: &Client, bytes: &[u8]) -> String {
    let sha = sha_of(bytes);
    let response = patch(who, &sha, 0, Some(bytes.len()), bytes).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    sha
}

/// A photo on `job` with these bytes, uploaded and pushed by `who`; the file's hash.
async fn photo_on(who: &Client, job: fieldsync_core::RecordId, bytes: &[u8]) -> String {
    let sha = upload(who, bytes).await;
    let outcome = who
        .push_one(create(
            RecordType::Photo,
            new_id(),
            json!({"file": {"job_id": job.to_string(), "sha256": sha}}),
        ))
        .await;
    assert_eq!(outcome.status, OutcomeStatus::Applied, "{outcome:?}");
    sha
}

async fn download(who: &Client, sha: &str) -> reqwest::Response {
    who.get(&format!("/api/v1/files/{sha}")).await
}

/// A JPEG's first bytes, then the seed's pattern.
fn jpeg_bytes(seed: u8, len: usize) -> Vec<u8> {
    let mut bytes = photo_bytes(seed, len);
    bytes[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
    bytes
}

store_test!(the_office_and_the_jobs_technician_download_its_files_and_no_other_technician);
async fn the_office_and_the_jobs_technician_download_its_files_and_no_other_technician(
    backend: Backend,
) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let toms_job = p.dana.new_job(customer, "tom").await;
    let kais_job = p.dana.new_job(customer, "kai").await;
    let photo = jpeg_bytes(11, 20_000);
    let sha = photo_on(&p.tom, toms_job, &photo).await;

    for who in p.office().into_iter().chain([&p.tom]) {
        let response = download(who, &sha).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", who.user);
        let headers = response.headers();
        assert_eq!(headers["etag"], format!("\"{sha}\"").as_str());
        assert_eq!(headers["content-type"], "image/jpeg");
        assert_eq!(headers["content-length"], "20000");
        assert_eq!(headers["accept-ranges"], "bytes");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(
            headers["cache-control"],
            "private, max-age=31536000, immutable"
        );
        assert_eq!(response.bytes().await.unwrap(), photo, "{}", who.user);
    }
    let refused = download(&p.kai, &sha).await;
    expect_error(refused, StatusCode::FORBIDDEN, "forbidden").await;

    // A signature image is the job's: its technician fetches it, another does not.
    let signature = photo_bytes(12, 3_000);
    let signature_sha = upload(&p.tom, &signature).await;
    let signed = p
        .tom
        .push_one(update(
            RecordType::Job,
            toms_job,
            fieldsync_core::Group::Signature,
            1,
            json!({"signer": "Ms Quay", "image_sha256": signature_sha}),
        ))
        .await;
    assert_eq!(signed.status, OutcomeStatus::Applied, "{signed:?}");
    let response = download(&p.tom, &signature_sha).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    assert_eq!(response.bytes().await.unwrap(), signature);
    let response = download(&p.sam, &signature_sha).await;
    assert_eq!(response.status(), StatusCode::OK);
    expect_error(
        download(&p.kai, &signature_sha).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // The same bytes attached on Kai's job too: each may fetch it, through their own record.
    photo_on(&p.kai, kais_job, &photo).await;
    let response = download(&p.kai, &sha).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap(), photo);

    // Reassigning Tom's job to Kai moves its files with it.
    let response = p.dana.reassign(toms_job, "kai").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        download(&p.kai, &signature_sha).await.status(),
        StatusCode::OK
    );
    expect_error(
        download(&p.tom, &signature_sha).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

store_test!(unknown_unnamed_and_unfinished_files_are_not_found);
async fn unknown_unnamed_and_unfinished_files_are_not_found(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;

    let unknown = sha_of(b"nobody has these bytes");
    for who in [&p.tom, &p.dana] {
        expect_error(
            download(who, &unknown).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }

    // Whole, but no record names it: nobody's to see, its uploader's neither.
    let unnamed = upload(&p.tom, &photo_bytes(21, 1_000)).await;
    assert!(server.files_dir().join(&unnamed).exists());
    for who in [&p.tom, &p.dana] {
        expect_error(
            download(who, &unnamed).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }

    // Half uploaded: the `.part` holds bytes not yet checked against the hash.
    let bytes = photo_bytes(22, 4_000);
    let sha = sha_of(&bytes);
    let response = patch(&p.tom, &sha, 0, Some(bytes.len()), &bytes[..1_000]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(server.files_dir().join(format!("{sha}.part")).exists());
    for who in [&p.tom, &p.dana] {
        expect_error(
            download(who, &sha).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }

    for bad in [
        sha.to_uppercase(),
        format!("{sha}.part"),
        "..%2Fsecret".into(),
    ] {
        expect_error(
            download(&p.dana, &bad).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
}

store_test!(a_range_is_served_in_part_and_a_cached_copy_is_not_sent_again);
async fn a_range_is_served_in_part_and_a_cached_copy_is_not_sent_again(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = server.everyone().await;
    let customer = p.olivia.new_customer("Harbour View").await;
    let job = p.dana.new_job(customer, "tom").await;
    let photo = jpeg_bytes(31, 10_000);
    let sha = photo_on(&p.tom, job, &photo).await;
    let path = format!("/api/v1/files/{sha}");
    let etag = format!("\"{sha}\"");
    let ranged = |range: &str| {
        p.tom
            .request(Method::GET, &path)
            .header("range", range.to_string())
    };

    for (range, from, to) in [
        ("bytes=100-199", 100, 199),
        ("bytes=9990-", 9_990, 9_999),
        ("bytes=-10", 9_990, 9_999),
        ("bytes=0-0", 0, 0),
    ] {
        let response = ranged(range).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            response.headers()["content-range"],
            format!("bytes {from}-{to}/10000").as_str(),
            "{range}"
        );
        assert_eq!(response.headers()["etag"], etag.as_str());
        assert_eq!(response.bytes().await.unwrap(), photo[from..=to], "{range}");
    }

    // A range outside the file: 416, with the file's length.
    let response = ranged("bytes=20000-20100").send().await.unwrap();
    assert_eq!(
        response.headers()["content-range"].to_str().unwrap(),
        "bytes */10000"
    );
    expect_error(response, StatusCode::RANGE_NOT_SATISFIABLE, "bad_request").await;

    // If-Range naming another validator: the whole file, not a part of something else.
    let response = ranged("bytes=0-9")
        .header("if-range", "\"not-this-file\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().len(), 10_000);
    let response = ranged("bytes=0-9")
        .header("if-range", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);

    // A copy cached under this ETag is not sent again, however the header names it.
    for if_none_match in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"{}\", {etag}", sha_of(b"another")),
        "*".to_string(),
    ] {
        let response = p
            .tom
            .request(Method::GET, &path)
            .header("if-none-match", if_none_match.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::NOT_MODIFIED,
            "{if_none_match}"
        );
        assert_eq!(response.headers()["etag"], etag.as_str());
        assert!(response.bytes().await.unwrap().is_empty());
    }
    let response = p
        .tom
        .request(Method::GET, &path)
        .header("if-none-match", format!("\"{}\"", sha_of(b"another")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap(), photo);

    // Nobody learns whether a file they may not see is cached: the scope comes first.
    let response = p
        .kai
        .request(Method::GET, &path)
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::FORBIDDEN, "forbidden").await;
}
