//! What the field sent, as the office sees it: a technician's photos reach the office's job as
//! thumbnails made once from the file fetched once and kept in the person's own files folder;
//! the signature image beside the signer; parts and notes with their author's display name and
//! time; all of it still there with the server gone, and a photo never fetched says so in
//! words. A huge or damaged image is a sentence, not a panic; a technician cannot fetch a file
//! of someone else's job.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fieldsync_app::field::{shrink, ImageError, MAX_EDGE, THUMBNAIL_EDGE};
use fieldsync_app::App;
use fieldsync_client::NewChange;
use fieldsync_core::{Group, Op, RecordId, RecordType, Role};
use serde_json::{json, Value};
use std::time::Instant;

/// A real server on loopback with people who have display names, and the switch that stops it
/// (the server gone, as when its machine is down).
async fn server(dir: &std::path::Path) -> (String, tokio::sync::oneshot::Sender<()>) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let people = [
        ("dana", "Dana Reyes", Role::Dispatcher, "dispatch"),
        ("tom", "Tom Baker", Role::Technician, "north"),
        ("kai", "Kai Lindqvist", Role::Technician, "south"),
    ];
    let url = named_server_until(dir, &people, async move {
        let _ = stopped.await;
    })
    .await;
    (url, stop)
}

/// A camera-like photo: a gradient with seeded noise, so it compresses as a photo does.
fn photo_jpeg(width: u32, height: u32, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (state >> 27) as u8;
        image::Rgb([
            ((x * 200 / width) as u8).saturating_add(noise),
            ((y * 180 / height) as u8).saturating_add(noise / 2),
            (90u8).saturating_add(noise),
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&picture)
        .unwrap();
    out.into_inner()
}

/// A signature: dark strokes on a see-through background, as a signing pad exports it.
fn signature_png() -> Vec<u8> {
    let picture = image::RgbaImage::from_fn(600, 200, |x, y| {
        let wave = 100.0 + 50.0 * ((x as f32) / 40.0).sin();
        if ((y as f32) - wave).abs() < 3.0 {
            image::Rgba([20, 30, 90, 255])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    picture.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A small, valid JPEG whose header then claims `side`×`side` pixels: what a malicious or
/// broken device could send to make a decoder allocate gigabytes.
fn huge_claiming_jpeg(side: u16) -> Vec<u8> {
    let mut bytes = photo_jpeg(16, 16, 3);
    let sof = bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline JPEG has a start-of-frame marker");
    // FFC0, length (2), precision (1), then height and width (2 each, big-endian).
    bytes[sof + 5..sof + 7].copy_from_slice(&side.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&side.to_be_bytes());
    bytes
}

/// A job for `assignee`, made by the dispatcher and synced to the technician's device.
async fn job_for(dana: &App, tech: &App, assignee: &str) -> RecordId {
    let form = call(dana, "new_action_id", Value::Null).await;
    let created = call(
        dana,
        "create_job",
        json!({
            "action_id": form["action_id"], "customer_id": uuid::Uuid::now_v7().to_string(),
            "site": format!("{assignee}'s site"), "window_start": null, "summary": "Boiler service",
            "assignee": assignee, "confirm_duplicate": true,
        }),
    )
    .await;
    let job: RecordId = created["job_id"].as_str().unwrap().parse().unwrap();
    call(dana, "sync_now", Value::Null).await;
    tech.client().unwrap().sync_now().await.unwrap();
    assert!(tech.client().unwrap().record(job).await.unwrap().is_some());
    job
}

/// A technician's device takes a photo of the job: the file is attached (file lane), the photo
/// record saved, both sent. Answers the file's hash.
async fn take_photo(tech: &App, job: RecordId, bytes: &[u8], caption: Option<&str>) -> String {
    let client = tech.client().unwrap();
    let sha = client.attach_file(bytes).await.unwrap();
    let mut file = json!({"job_id": job.to_string(), "sha256": sha});
    if let Some(caption) = caption {
        file["caption"] = json!(caption);
    }
    client
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Photo,
            record_id: client.new_record_id(),
            group: None,
            op: Op::Create,
            values: json!({ "file": file }),
            file_sha256: Some(sha.clone()),
        })
        .await
        .unwrap();
    sync_all(tech).await;
    sha
}

/// Sends everything the device holds (the file lane, then the photo that waited for its file).
async fn sync_all(app: &App) {
    let client = app.client().unwrap();
    for _ in 0..5 {
        client.sync_now().await.unwrap();
        let (changes, files, _) = client.cache().depth().await.unwrap();
        if changes == 0 && files == 0 {
            return;
        }
    }
    panic!("the device still holds unsent work");
}

async fn add(tech: &App, record_type: RecordType, values: Value) {
    let client = tech.client().unwrap();
    client
        .save(NewChange {
            change_id: None,
            record_type,
            record_id: client.new_record_id(),
            group: None,
            op: Op::Create,
            values,
            file_sha256: None,
        })
        .await
        .unwrap();
}

async fn field_sent(app: &App, job: RecordId) -> Value {
    call(app, "field_sent", json!({ "job_id": job.to_string() })).await
}

fn thumbnails_dir(app: &App) -> std::path::PathBuf {
    app.client().unwrap().files_dir().join("thumbnails")
}

#[tokio::test]
async fn a_technicians_photos_reach_the_office_as_thumbnails_made_once_and_shown_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (url, stop) = server(dir.path()).await;
    let tom = signed_in(dir.path(), &url, "tom").await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let job = job_for(&dana, &tom, "tom").await;

    // Tom's tablet: two photos (one without a caption), a part, a note and the signature.
    let first = photo_jpeg(2400, 1800, 1);
    let first_sha = take_photo(&tom, job, &first, Some("Boiler plate before the service")).await;
    let second_sha = take_photo(&tom, job, &photo_jpeg(1800, 2400, 2), None).await;
    add(
        &tom,
        RecordType::PartLine,
        json!({"line": {"job_id": job.to_string(), "part_number": "TRV-15", "quantity": 2}}),
    )
    .await;
    add(
        &tom,
        RecordType::JobNote,
        json!({"text": {"job_id": job.to_string(), "text": "Valve freed, system bled."}}),
    )
    .await;
    let tom_client = tom.client().unwrap();
    let signature_sha = tom_client.attach_file(&signature_png()).await.unwrap();
    let signed_at = "2025-03-04T10:42:00Z";
    tom_client
        .save(NewChange {
            change_id: None,
            record_type: RecordType::Job,
            record_id: job,
            group: Some(Group::Signature),
            op: Op::Update,
            values: json!({"signer": "J. Harbour (manager)", "signed_at": signed_at, "image_sha256": signature_sha}),
            file_sha256: Some(signature_sha.clone()),
        })
        .await
        .unwrap();
    sync_all(&tom).await;

    // The office: the first look fetches each file once and makes its thumbnail.
    call(&dana, "sync_now", Value::Null).await;
    let started = Instant::now();
    let sent = field_sent(&dana, job).await;
    let first_look = started.elapsed();
    let photos = sent["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 2, "{sent:#}");
    assert_eq!(photos[0]["sha256"], json!(first_sha));
    assert_eq!(
        photos[0]["caption"],
        json!("Boiler plate before the service")
    );
    assert_eq!(photos[1]["caption"], Value::Null);
    for photo in photos {
        assert_eq!(
            photo["added"]["name"],
            json!("Tom Baker"),
            "the author's display name"
        );
        assert_eq!(photo["problem"], Value::Null, "{photo:#}");
        let thumb = &photo["thumbnail"];
        assert!(thumb["data_url"]
            .as_str()
            .unwrap()
            .starts_with("data:image/jpeg;base64,"));
        let (w, h) = (
            thumb["width"].as_u64().unwrap(),
            thumb["height"].as_u64().unwrap(),
        );
        assert_eq!(
            w.max(h),
            THUMBNAIL_EDGE as u64,
            "scaled to the thumbnail's edge"
        );
        assert!(w.min(h) == 180, "the photo's shape is kept: {w}×{h}");
    }
    let thumb_bytes = photos[0]["thumbnail"]["bytes"].as_u64().unwrap();
    let original_bytes = photos[0]["thumbnail"]["original_bytes"].as_u64().unwrap();
    assert_eq!(original_bytes, first.len() as u64);
    assert!(
        thumb_bytes * 20 < original_bytes,
        "a thumbnail is a small part of the photo: {thumb_bytes} of {original_bytes} bytes"
    );
    println!(
        "figures: photo 2400x1800 {original_bytes} bytes -> thumbnail {thumb_bytes} bytes ({:.1}%); first look (2 photos, signature, fetch + thumbnails + authors) {} ms",
        100.0 * thumb_bytes as f64 / original_bytes as f64,
        first_look.as_millis()
    );
    let signature = &sent["signature"];
    assert_eq!(signature["signer"], json!("J. Harbour (manager)"));
    assert_eq!(signature["signed_at"], json!(signed_at));
    assert!(
        signature["image"]["data_url"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,"),
        "a signature keeps its transparency: {signature:#}"
    );
    assert_eq!(sent["parts"][0]["part_number"], json!("TRV-15"));
    assert_eq!(sent["parts"][0]["quantity"], json!("2"));
    assert_eq!(sent["parts"][0]["added"]["name"], json!("Tom Baker"));
    assert_eq!(sent["notes"][0]["text"], json!("Valve freed, system bled."));
    assert_eq!(sent["notes"][0]["added"]["name"], json!("Tom Baker"));
    assert!(sent["notes"][0]["added"]["at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    // Both kept in the office person's own files folder: the originals and what was made.
    let files = dana.client().unwrap().files_dir().to_path_buf();
    assert_eq!(std::fs::read(files.join(&first_sha)).unwrap(), first);
    let kept: Vec<String> = std::fs::read_dir(thumbnails_dir(&dana))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(kept.len(), 3, "two thumbnails and the signature: {kept:?}");
    assert!(kept.iter().all(|k| !k.ends_with(".tmp")));

    // Made once: the second look reads the kept thumbnail. The original is spoiled on purpose;
    // had anything been decoded again the answer would be a damaged-image sentence.
    std::fs::write(files.join(&first_sha), b"not a jpeg any more").unwrap();
    let started = Instant::now();
    let again = field_sent(&dana, job).await;
    println!(
        "figures: second look (kept thumbnails) {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!(
        again["photos"][0]["thumbnail"]["data_url"],
        photos[0]["thumbnail"]["data_url"]
    );
    std::fs::write(files.join(&first_sha), &first).unwrap();

    // A third photo reaches the office's cache, but nobody looked at it before the server went.
    take_photo(&tom, job, &photo_jpeg(640, 480, 4), Some("Flue")).await;
    call(&dana, "sync_now", Value::Null).await;
    stop.send(()).unwrap();
    let health = reqwest::Client::new();
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while health.get(format!("{url}/healthz")).send().await.is_ok() {
        assert!(Instant::now() < deadline, "the server did not stop");
        tokio::task::yield_now().await;
    }

    let offline = field_sent(&dana, job).await;
    let photos = offline["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 3);
    assert_eq!(photos[0]["thumbnail"], sent["photos"][0]["thumbnail"]);
    assert_eq!(photos[1]["thumbnail"], sent["photos"][1]["thumbnail"]);
    assert_eq!(offline["signature"]["image"], sent["signature"]["image"]);
    assert_eq!(photos[2]["thumbnail"], Value::Null);
    assert_eq!(photos[2]["problem"]["code"], json!("not_downloaded"));
    assert_eq!(
        photos[2]["problem"]["message"],
        json!("This photo has not been downloaded to this computer yet; it appears when the server is back.")
    );
    // Who added what was kept from the log too.
    assert_eq!(offline["notes"][0]["added"], sent["notes"][0]["added"]);

    // The dialog's larger view is made from the kept original, with no server.
    let large = call(&dana, "field_photo", json!({ "sha256": first_sha })).await;
    assert_eq!(large["width"], json!(1600));
    assert_eq!(large["height"], json!(1200));
    let again = call(&dana, "field_photo", json!({ "sha256": second_sha })).await;
    assert_eq!(
        (again["width"].clone(), again["height"].clone()),
        (json!(1200), json!(1600))
    );
}

#[tokio::test]
async fn a_huge_or_damaged_image_is_a_sentence_not_a_panic() {
    // The decoder itself: a header claiming 60000×60000 is refused before any pixel is read.
    let started = Instant::now();
    match shrink(&huge_claiming_jpeg(60_000), THUMBNAIL_EDGE) {
        Err(ImageError::TooLarge { width, height }) => {
            assert_eq!((width, height), (60_000, 60_000))
        }
        other => panic!("not refused as too large: {:?}", other.map(|o| o.1)),
    }
    assert!(
        started.elapsed().as_secs() < 2,
        "refused from the header alone"
    );
    assert!(matches!(
        shrink(b"%PDF-1.4 not an image", THUMBNAIL_EDGE),
        Err(ImageError::Unsupported)
    ));
    let whole = photo_jpeg(300, 200, 5);
    assert!(matches!(
        shrink(&whole[..whole.len() / 3], THUMBNAIL_EDGE),
        Err(ImageError::Damaged(_)) | Ok(_)
    ));
    let mut broken = whole.clone();
    for b in broken.iter_mut().skip(200).step_by(7) {
        *b = 0xFF;
    }
    let _ = shrink(&broken, THUMBNAIL_EDGE);
    let header_only = &whole[..40];
    assert!(matches!(
        shrink(header_only, THUMBNAIL_EDGE),
        Err(ImageError::Damaged(_))
    ));

    // Through the office's job: each bad photo says what is wrong, the good one still shows.
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop) = server(dir.path()).await;
    let tom = signed_in(dir.path(), &url, "tom").await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let job = job_for(&dana, &tom, "tom").await;
    let huge = take_photo(&tom, job, &huge_claiming_jpeg(60_000), Some("huge")).await;
    let damaged = take_photo(&tom, job, header_only, Some("damaged")).await;
    take_photo(&tom, job, b"just some text, not a picture", Some("text")).await;
    take_photo(&tom, job, &whole, Some("fine")).await;
    call(&dana, "sync_now", Value::Null).await;
    let sent = field_sent(&dana, job).await;
    let by_caption = |caption: &str| {
        sent["photos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["caption"] == json!(caption))
            .unwrap()
            .clone()
    };
    let too_large = by_caption("huge");
    assert_eq!(
        too_large["problem"]["code"],
        json!("image_too_large"),
        "{too_large:#}"
    );
    assert_eq!(
        too_large["problem"]["message"],
        json!(format!("This photo is 60000×60000 pixels, too large to open here (at most {MAX_EDGE} on a side)."))
    );
    let unreadable = by_caption("damaged");
    assert_eq!(unreadable["problem"]["code"], json!("unreadable_image"));
    assert!(unreadable["problem"]["message"]
        .as_str()
        .unwrap()
        .starts_with("This photo's file is damaged and cannot be shown"));
    assert_eq!(
        by_caption("text")["problem"]["message"],
        json!("This photo is not a PNG or JPEG image, so it cannot be shown here.")
    );
    assert!(by_caption("fine")["thumbnail"]["data_url"].is_string());

    // The dialog's command answers the same refusal as an error.
    let refused = fieldsync_app::bridge::dispatch(&dana, "field_photo", json!({ "sha256": huge }))
        .await
        .unwrap_err();
    assert_eq!(refused.code, "image_too_large");
    let refused =
        fieldsync_app::bridge::dispatch(&dana, "field_photo", json!({ "sha256": damaged }))
            .await
            .unwrap_err();
    assert_eq!(refused.code, "unreadable_image");
}

#[tokio::test]
async fn a_technician_cannot_fetch_a_file_of_someone_elses_job() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _stop) = server(dir.path()).await;
    let tom = signed_in(dir.path(), &url, "tom").await;
    let kai = signed_in(dir.path(), &url, "kai").await;
    let dana = signed_in(dir.path(), &url, "dana").await;
    let kais_job = job_for(&dana, &kai, "kai").await;
    let sha = take_photo(
        &kai,
        kais_job,
        &photo_jpeg(320, 240, 6),
        Some("Cooler coils"),
    )
    .await;

    // Tom asks for it by its hash: the server refuses, and nothing lands in Tom's folder.
    let refused = fieldsync_app::bridge::dispatch(&tom, "field_photo", json!({ "sha256": sha }))
        .await
        .unwrap_err();
    assert_eq!(refused.code, "forbidden");
    assert_eq!(
        refused.message,
        "This photo belongs to a job that is not yours; only its technician and the office can open it."
    );
    let files = tom.client().unwrap().files_dir().to_path_buf();
    assert!(!files.join(&sha).exists());
    assert!(!files.join("thumbnails").exists());
    // Nor is the job on Tom's device to look at.
    let not_here = fieldsync_app::bridge::dispatch(
        &tom,
        "field_sent",
        json!({ "job_id": kais_job.to_string() }),
    )
    .await
    .unwrap_err();
    assert_eq!(not_here.code, "not_found");

    // Kai, whose job it is, and the office may.
    let own = call(&kai, "field_photo", json!({ "sha256": sha })).await;
    assert_eq!(own["width"], json!(320));
    call(&dana, "sync_now", Value::Null).await;
    let office = field_sent(&dana, kais_job).await;
    assert_eq!(office["photos"][0]["added"]["name"], json!("Kai Lindqvist"));
    assert!(office["photos"][0]["thumbnail"]["data_url"].is_string());
}
