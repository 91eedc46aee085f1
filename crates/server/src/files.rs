//! The file lane's server side: resumable uploads with tus 1.0 core semantics at
//! `/api/v1/files/{sha256}`, the hash checked when the last byte arrives, and the download of a
//! whole file by whoever may see a record that names it.
//!
//! The upload is created by its first PATCH (which names `Upload-Length`) rather than by a tus
//! POST, because the file's name is its hash: a device that knows the hash knows the URL.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fieldsync_core::ErrorCode;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::auth::Authed;
use crate::error::{ApiError, ApiPath};
use crate::store::FileAccess;
use crate::AppState;

const TUS_VERSION: &str = "1.0.0";

/// A hash is the file's only name, so it must be exactly 64 lowercase hex digits: nothing in it
/// can climb out of the files directory.
fn check_sha(sha: &str) -> Result<(), ApiError> {
    if sha.len() == 64
        && sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "a file is named by its SHA-256: 64 lowercase hex digits",
        ))
    }
}

fn paths(state: &AppState, sha: &str) -> (PathBuf, PathBuf) {
    (
        state.files_dir.join(format!("{sha}.part")),
        state.files_dir.join(sha),
    )
}

fn header_u64(headers: &HeaderMap, name: &str) -> Result<Option<u64>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(format!("{name} must be a whole number of bytes"))
            }),
    }
}

fn tus_response(status: StatusCode, offset: i64, length: i64) -> Response {
    let mut response = status.into_response();
    let headers = response.headers_mut();
    headers.insert("Tus-Resumable", HeaderValue::from_static(TUS_VERSION));
    headers.insert("Cache-Control", HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&offset.to_string()) {
        headers.insert("Upload-Offset", v);
    }
    if let Ok(v) = HeaderValue::from_str(&length.to_string()) {
        headers.insert("Upload-Length", v);
    }
    response
}

/// `HEAD /api/v1/files/{sha256}`: where an upload stands, so a device resumes where it broke.
#[utoipa::path(head, path = "/api/v1/files/{sha256}", tag = "files",
    params(("sha256" = String, Path, description = "the file's SHA-256, lowercase hex", pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64)),
    responses((status = 200, description = "Upload-Offset and Upload-Length headers"), (status = 404, description = "no upload yet")),
    security(("bearer" = [])))]
pub async fn head_file(
    State(state): State<AppState>,
    Authed(_device): Authed,
    ApiPath(sha): ApiPath<String>,
) -> Result<Response, ApiError> {
    check_sha(&sha)?;
    match state.store.file_status(&sha).await? {
        Some(status) => Ok(tus_response(StatusCode::OK, status.received, status.length)),
        None => Ok(ApiError::not_found(
            "no upload of this file yet; start one with PATCH at Upload-Offset 0",
        )
        .into_response()),
    }
}

/// `PATCH /api/v1/files/{sha256}`: appends bytes at `Upload-Offset`; the first names `Upload-Length`.
#[utoipa::path(patch, path = "/api/v1/files/{sha256}", tag = "files",
    params(("sha256" = String, Path, description = "the file's SHA-256, lowercase hex", pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64)),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses((status = 204, description = "bytes stored; Upload-Offset says how many"),
        (status = 409, description = "offset_mismatch or hash_mismatch", body = fieldsync_core::wire::ApiErrorBody),
        (status = 413, description = "payload_too_large", body = fieldsync_core::wire::ApiErrorBody),
        (status = 503, description = "file_pending: another person's upload of the file is in progress", body = fieldsync_core::wire::ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn patch_file(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiPath(sha): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    check_sha(&sha)?;
    // A chunk over the limit gets the API's error body, not the framework's plain text.
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::from_code(
                ErrorCode::PayloadTooLarge,
                format!(
                    "a PATCH carries at most {} bytes; send the file in smaller chunks",
                    state.limits.max_chunk
                ),
            )
        } else {
            ApiError::bad_request(format!(
                "the file bytes could not be read: {}",
                rejection.body_text()
            ))
        }
    })?;
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != "application/offset+octet-stream" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::BadRequest,
            "send file bytes with Content-Type: application/offset+octet-stream",
        ));
    }
    let offset = header_u64(&headers, "upload-offset")?
        .ok_or_else(|| ApiError::bad_request("a PATCH names its Upload-Offset"))?;
    let declared = header_u64(&headers, "upload-length")?;
    let _guard = state.file_lock.lock().await;
    let now = state.clock.now();
    let status = match (state.store.file_status(&sha).await?, declared) {
        (Some(status), Some(length)) if status.length != length as i64 => {
            return Err(ApiError::from_code(
                ErrorCode::OffsetMismatch,
                format!(
                    "this upload was started with Upload-Length {}, not {length}",
                    status.length
                ),
            ))
        }
        (Some(status), _) => status,
        (None, Some(length)) => {
            if length > state.limits.max_file {
                return Err(ApiError::from_code(
                    ErrorCode::PayloadTooLarge,
                    format!(
                        "files are limited to {} MiB",
                        state.limits.max_file / (1024 * 1024)
                    ),
                ));
            }
            if length == 0 {
                return Err(ApiError::bad_request("an empty file has nothing to upload"));
            }
            // Refuse a first chunk that cannot fit before anything is recorded, so a bad first
            // try does not pin the upload to its length.
            if offset != 0 {
                return Err(ApiError::from_code(
                    ErrorCode::OffsetMismatch,
                    "the server has 0 bytes of this file; send from offset 0",
                ));
            }
            if body.len() as u64 > length {
                return Err(ApiError::from_code(
                    ErrorCode::PayloadTooLarge,
                    "these bytes run past the declared Upload-Length",
                ));
            }
            state
                .store
                .file_begin(&sha, length as i64, &device.author.user, now)
                .await?
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "the first PATCH of a file names its Upload-Length",
            ))
        }
    };
    // An upload half done belongs to whoever began it: anyone else's bytes could only spoil it
    // (the hash check at the end would throw the whole file away). Someone else with the same
    // file waits until it is whole, then has nothing to send.
    if !status.complete && status.created_by != device.author.user {
        return Err(ApiError {
            retry_after: Some(60),
            ..ApiError::from_code(
                ErrorCode::FilePending,
                "another person's device is uploading this file; it is kept once whole, try again later",
            )
        });
    }
    if status.complete {
        return Ok(tus_response(
            StatusCode::NO_CONTENT,
            status.length,
            status.length,
        ));
    }
    if offset as i64 != status.received {
        return Err(ApiError::from_code(
            ErrorCode::OffsetMismatch,
            format!(
                "the server has {} bytes of this file; send from there (HEAD tells)",
                status.received
            ),
        ));
    }
    let end = offset + body.len() as u64;
    if end > status.length as u64 {
        return Err(ApiError::from_code(
            ErrorCode::PayloadTooLarge,
            "these bytes run past the declared Upload-Length",
        ));
    }
    let (part, done) = paths(&state, &sha);
    tokio::fs::create_dir_all(&state.files_dir)
        .await
        .map_err(io_error)?;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .read(true)
        .open(&part)
        .await
        .map_err(io_error)?;
    // Drop bytes past the recorded offset: a write cut by a crash is not counted, so resent.
    file.set_len(offset).await.map_err(io_error)?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(io_error)?;
    file.write_all(&body).await.map_err(io_error)?;
    file.sync_all().await.map_err(io_error)?;
    state.metrics.file_bytes.inc_by(body.len() as u64);
    if end == status.length as u64 {
        file.seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(io_error)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).await.map_err(io_error)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        if hex::encode(hasher.finalize()) != sha {
            file.set_len(0).await.map_err(io_error)?;
            state.store.file_progress(&sha, 0, false, now).await?;
            return Err(ApiError::from_code(
                ErrorCode::HashMismatch,
                "the file's bytes do not match its SHA-256; it was discarded, upload it again from the start",
            ));
        }
        drop(file);
        tokio::fs::rename(&part, &done).await.map_err(io_error)?;
        state
            .store
            .file_progress(&sha, end as i64, true, now)
            .await?;
        tracing::info!(sha256 = %sha, bytes = end, "file complete");
    } else {
        state
            .store
            .file_progress(&sha, end as i64, false, now)
            .await?;
    }
    Ok(tus_response(
        StatusCode::NO_CONTENT,
        end as i64,
        status.length,
    ))
}

/// A file's content never changes under its name (the name is its hash), so a browser or
/// device may keep it for good; `private` because it is one person's to see, not a proxy's.
const FILE_CACHE_CONTROL: &str = "private, max-age=31536000, immutable";

/// `GET /api/v1/files/{sha256}`: a whole, hash-checked file, for whoever may see a record that
/// names it (office roles: any such file; a technician: those of their jobs).
#[utoipa::path(get, path = "/api/v1/files/{sha256}", tag = "files",
    params(("sha256" = String, Path, description = "the file's SHA-256, lowercase hex", pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64),
        ("Range" = Option<String>, Header, description = "one range of bytes, `bytes=a-b`, `bytes=a-` or `bytes=-n`"),
        ("If-None-Match" = Option<String>, Header, description = "the ETag a cached copy has; 304 when it is this file's")),
    responses((status = 200, description = "the file's bytes; ETag is the quoted SHA-256", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "the range asked for; Content-Range says which bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "If-None-Match named this file's ETag"),
        (status = 403, description = "forbidden: only records outside the caller's scope name this file", body = fieldsync_core::wire::ApiErrorBody),
        (status = 404, description = "not_found: no whole file by this hash, or no record names it", body = fieldsync_core::wire::ApiErrorBody),
        (status = 416, description = "the range lies outside the file; Content-Range gives its length", body = fieldsync_core::wire::ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn get_file(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiPath(sha): ApiPath<String>,
    mut request: Request,
) -> Result<Response, ApiError> {
    check_sha(&sha)?;
    // A `.part` is bytes on their way, not yet checked against the hash: never served.
    if !state
        .store
        .file_status(&sha)
        .await?
        .is_some_and(|status| status.complete)
    {
        return Err(ApiError::not_found(
            "the server has no whole file by this hash",
        ));
    }
    match state.store.file_access(&device.author, &sha).await? {
        FileAccess::Visible => {}
        FileAccess::Unreferenced => {
            return Err(ApiError::not_found("no record names a file by this hash"))
        }
        FileAccess::OutOfScope => {
            return Err(ApiError::forbidden(format!(
                "this file belongs to a job that is not yours to see, {}",
                device.author.user
            )))
        }
    }
    let etag = format!("\"{sha}\"");
    let cached = request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .any(|v| names_etag(v, &etag));
    // The content under a hash is the same for good, so a cached copy is always this one: a
    // Range with an If-Range naming another validator cannot be answered in part.
    if let Some(if_range) = request.headers().get(header::IF_RANGE) {
        if if_range.as_bytes() != etag.as_bytes() {
            request.headers_mut().remove(header::RANGE);
        }
    }
    let etag = HeaderValue::from_str(&etag).map_err(|_| ApiError::internal())?;
    if cached {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag);
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(FILE_CACHE_CONTROL),
        );
        return Ok(response);
    }
    let (_, path) = paths(&state, &sha);
    let content_type = sniff(&path).await?;
    // tower-http's ServeFile (0.6.11) does Range, 416, Last-Modified and If-Modified-Since, but
    // no ETag or If-None-Match (added upstream later, and from mtime, not content): those are
    // above, from the hash.
    let served = tower_http::services::ServeFile::new(&path)
        .try_call(request)
        .await
        .map_err(io_error)?;
    let (mut parts, body) = served.into_parts();
    match parts.status {
        StatusCode::OK | StatusCode::PARTIAL_CONTENT => {}
        StatusCode::RANGE_NOT_SATISFIABLE => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                fieldsync_core::ErrorCode::BadRequest,
                "ask for one range of bytes inside the file; Content-Range gives its length",
            )
            .into_response();
            if let Some(range) = parts.headers.get(header::CONTENT_RANGE) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_RANGE, range.clone());
            }
            return Ok(response);
        }
        StatusCode::NOT_FOUND => {
            tracing::error!(sha256 = %sha, "a complete file is missing from the files directory");
            return Err(ApiError::internal());
        }
        // 304 (If-Modified-Since) and 412 (If-Unmodified-Since) as ServeFile decided them.
        _ => return Ok(Response::from_parts(parts, Body::empty())),
    }
    let headers = &mut parts.headers;
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        "X-Content-Type-Options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::ETAG, etag);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(FILE_CACHE_CONTROL),
    );
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// Whether an `If-None-Match` value names this ETag (or `*`); a weak `W/` one matches too, as
/// RFC 9110 section 13.1.2 compares for this header.
fn names_etag(value: &HeaderValue, etag: &str) -> bool {
    value.to_str().is_ok_and(|list| {
        list.split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
    })
}

/// The file's type from its first bytes, for the kinds a field device makes (photos, signature
/// images, PDFs); anything else is plain bytes. Never a type a browser would run (HTML, SVG):
/// the bytes are whatever a device sent.
async fn sniff(path: &std::path::Path) -> Result<&'static str, ApiError> {
    let mut head = [0u8; 12];
    let mut file = tokio::fs::File::open(path).await.map_err(io_error)?;
    let mut filled = 0;
    while filled < head.len() {
        let n = file.read(&mut head[filled..]).await.map_err(io_error)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(match &head[..filled] {
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "image/webp",
        [_, _, _, _, b'f', b't', b'y', b'p', b'h', b'e', b'i', b'c', ..] => "image/heic",
        [b'%', b'P', b'D', b'F', ..] => "application/pdf",
        _ => "application/octet-stream",
    })
}

fn io_error(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "file store error");
    ApiError::internal()
}
