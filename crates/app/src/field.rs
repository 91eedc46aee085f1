//! What the field sent, for one job: its photos as small thumbnails (one shown larger on
//! request), the customer's signature image beside the signer and the time, its part lines and
//! notes with who added them and when.
//!
//! A file is fetched from the server once (`GET /api/v1/files/{sha256}`, which decides who may
//! see it) into the signed-in person's own files folder, and what is shown is made from it here
//! and kept beside it: a thumbnail for the job panel, a screen-sized view for the photo dialog.
//! No screen is sent a full camera image, and everything shown once is there with the server
//! down. Decoding is bounded (image size and memory) and runs off the async threads, so a huge
//! or malformed file becomes a sentence, never a panic or an exhausted machine.
//!
//! Who added a note, part or photo and when comes from its change log once (the server's
//! history), kept in the cache, since a part line's owner is the job's technician, not
//! necessarily its author.

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use fieldsync_client::client::RecordView;
use fieldsync_client::{ClientError, SyncClient, TransportError};
use fieldsync_core::{Group, Op, Owner, RecordType};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use ts_rs::TS;

use crate::ids::parse_id;
use crate::views::text;
use crate::{App, AppError};

/// The longest edge of a thumbnail, in pixels: twice the job panel's 120 CSS pixels, so it is
/// sharp on a high-density screen.
pub const THUMBNAIL_EDGE: u32 = 240;
/// The longest edge of the photo dialog's view: a large screen's worth, not the camera's.
pub const VIEW_EDGE: u32 = 1600;
/// The longest edge of a signature as shown beside the signer: twice its 240 CSS pixels.
pub const SIGNATURE_EDGE: u32 = 480;
/// The largest image decoded, edge by edge: past a 100-megapixel camera, and so past anything a
/// field device sends; a bigger one is refused before its pixels are read.
pub const MAX_EDGE: u32 = 12_000;
/// The most memory a decode may take (the decoder's own estimate, checked before it allocates).
pub const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

/// The folder inside the person's files folder where what is made from a file is kept.
const MADE_DIR: &str = "thumbnails";

/// One job's photos, signature, part lines and notes.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FieldSent {
    pub job_id: String,
    /// In the order they reached the server.
    pub photos: Vec<PhotoView>,
    /// None until the job has a signature group with a signer or an image.
    pub signature: Option<SignatureView>,
    pub parts: Vec<PartView>,
    pub notes: Vec<NoteView>,
}

/// Who added something and when, as the page shows it.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AddedBy {
    /// Their display name (the user name when this person cannot see the list of people).
    pub name: String,
    /// RFC 3339, UTC: when their device made it (the page shows it in local time).
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PhotoView {
    pub id: String,
    pub sha256: String,
    pub caption: Option<String>,
    pub added: AddedBy,
    /// The thumbnail, when the file is (or could now be) on this computer.
    pub thumbnail: Option<Picture>,
    /// Why there is no thumbnail, in words (`not_downloaded`, `not_on_server`, `forbidden`,
    /// `unreadable_image`, `image_too_large`).
    pub problem: Option<AppError>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SignatureView {
    pub signer: Option<String>,
    /// RFC 3339, UTC.
    pub signed_at: Option<String>,
    pub sha256: Option<String>,
    pub image: Option<Picture>,
    pub problem: Option<AppError>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PartView {
    pub id: String,
    pub part_number: String,
    /// As the technician entered it ("2", "1.5").
    pub quantity: String,
    pub added: AddedBy,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NoteView {
    pub id: String,
    pub text: String,
    pub added: AddedBy,
}

/// An image made for a screen, as a `data:` URL: the desktop window's content policy allows
/// those (`img-src 'self' data:`), and the same answer works over the loopback bridge.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Picture {
    pub data_url: String,
    pub width: u32,
    pub height: u32,
    /// The size of what was made, and of the file it was made from (shown in the dialog, and
    /// the figures the tests print; 0 once the original is no longer on this computer).
    #[ts(type = "number")]
    pub bytes: u64,
    #[ts(type = "number")]
    pub original_bytes: u64,
}

/// The photo dialog's view of one file.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PhotoArgs {
    pub sha256: String,
}

/// A made image as kept on disk: its bytes, its size and the original's size, read back the
/// second time without decoding anything.
struct Made {
    bytes: Vec<u8>,
    mime: &'static str,
    width: u32,
    height: u32,
    original_bytes: u64,
}

impl Made {
    fn picture(self) -> Picture {
        let encoded = base64::engine::general_purpose::STANDARD.encode(&self.bytes);
        Picture {
            data_url: format!("data:{};base64,{encoded}", self.mime),
            width: self.width,
            height: self.height,
            bytes: self.bytes.len() as u64,
            original_bytes: self.original_bytes,
        }
    }
}

impl App {
    /// What the field sent for a job: every photo with its thumbnail (fetched and made the
    /// first time, from this person's files folder after that), the signature, parts and notes.
    pub async fn field_sent(&self, job_id: String) -> Result<FieldSent, AppError> {
        let id = parse_id(&job_id)?;
        let client = self.active()?;
        let job = client
            .record(id)
            .await?
            .ok_or_else(|| AppError::new("not_found", "this job is not on this device"))?;
        let of_job = |views: Vec<RecordView>| -> Vec<RecordView> {
            let mut mine: Vec<RecordView> = views
                .into_iter()
                .filter(|v| v.record.job_id == Some(id) && !v.record.state.is_voided())
                .collect();
            mine.sort_by_key(|v| v.record.created_at);
            mine
        };
        let photos = of_job(client.records(RecordType::Photo).await?);
        let parts = of_job(client.records(RecordType::PartLine).await?);
        let notes = of_job(client.records(RecordType::JobNote).await?);

        // Each photo's thumbnail and who added what, all at once: a job's files and logs are
        // fetched side by side, not one round trip after another.
        let photo_views = futures::future::join_all(photos.iter().map(|p| async {
            let values = p.values.get(&Group::File).cloned().unwrap_or(Value::Null);
            let sha = text(&values, "sha256").unwrap_or_default();
            let (thumbnail, problem) =
                match made(&client, &sha, THUMBNAIL_EDGE, FileKind::Photo).await {
                    Ok(made) => (Some(made.picture()), None),
                    Err(e) => (None, Some(e)),
                };
            PhotoView {
                id: p.record.record_id.to_string(),
                sha256: sha,
                caption: text(&values, "caption").filter(|c| !c.trim().is_empty()),
                added: self.added_by(&client, p).await,
                thumbnail,
                problem,
            }
        }))
        .await;
        let part_views = futures::future::join_all(parts.iter().map(|p| async {
            let values = p.values.get(&Group::Line).cloned().unwrap_or(Value::Null);
            PartView {
                id: p.record.record_id.to_string(),
                part_number: text(&values, "part_number").unwrap_or_default(),
                quantity: match values.get("quantity") {
                    Some(Value::Number(n)) => n.to_string(),
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                },
                added: self.added_by(&client, p).await,
            }
        }))
        .await;
        let note_views = futures::future::join_all(notes.iter().map(|n| async {
            let values = n.values.get(&Group::Text).cloned().unwrap_or(Value::Null);
            NoteView {
                id: n.record.record_id.to_string(),
                text: text(&values, "text").unwrap_or_default(),
                added: self.added_by(&client, n).await,
            }
        }))
        .await;

        let signature = match job.values.get(&Group::Signature) {
            Some(values) if !values.as_object().is_none_or(|m| m.is_empty()) => {
                let sha = text(values, "image_sha256").filter(|s| !s.is_empty());
                let (image, problem) = match &sha {
                    Some(sha) => {
                        match made(&client, sha, SIGNATURE_EDGE, FileKind::Signature).await {
                            Ok(made) => (Some(made.picture()), None),
                            Err(e) => (None, Some(e)),
                        }
                    }
                    None => (None, None),
                };
                let signer = text(values, "signer").filter(|s| !s.trim().is_empty());
                (signer.is_some() || sha.is_some()).then(|| SignatureView {
                    signer,
                    signed_at: text(values, "signed_at"),
                    sha256: sha,
                    image,
                    problem,
                })
            }
            _ => None,
        };
        Ok(FieldSent {
            job_id,
            photos: photo_views,
            signature,
            parts: part_views,
            notes: note_views,
        })
    }

    /// One photo larger, for its dialog: a screen-sized view made from the file once and kept.
    /// The server decides whether this person may have the file (a technician: only their
    /// jobs'); a file already in their own files folder was theirs to see.
    pub async fn field_photo(&self, args: PhotoArgs) -> Result<Picture, AppError> {
        let client = self.active()?;
        Ok(made(&client, &args.sha256, VIEW_EDGE, FileKind::Photo)
            .await?
            .picture())
    }

    /// Who added a note, part or photo and when their device made it: from its change log the
    /// first time (kept in the cache after that); without the log, its owner and the time it
    /// reached the server.
    async fn added_by(&self, client: &SyncClient, record: &RecordView) -> AddedBy {
        let key = format!("added_by:{}", record.record.record_id);
        let kept = match client.cache().meta(&key).await {
            Ok(Some(saved)) => serde_json::from_str::<(String, DateTime<Utc>)>(&saved).ok(),
            _ => None,
        };
        let found = match kept {
            Some(found) => Some(found),
            None if record.record.local_only => None,
            None => match client
                .history(record.record.record_type, record.record.record_id)
                .await
            {
                Ok(history) => {
                    let created = history
                        .entries
                        .iter()
                        .find(|e| e.op == Op::Create)
                        .map(|e| (e.author.clone(), e.device_time));
                    if let Some(created) = &created {
                        if let Ok(saved) = serde_json::to_string(created) {
                            let _ = client.cache().set_meta(&key, &saved).await;
                        }
                    }
                    created
                }
                Err(_) => None,
            },
        };
        let (user, at) = found.unwrap_or_else(|| {
            let user = match &record.record.owner {
                Owner::User(name) => name.clone(),
                Owner::Team(team) => format!("{team} team"),
            };
            (user, record.record.created_at)
        });
        AddedBy {
            name: self.owner_view(&Owner::User(user)).display_name,
            at: at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

/// What a file is to the person reading a sentence about it.
#[derive(Clone, Copy)]
enum FileKind {
    Photo,
    Signature,
}

impl FileKind {
    fn noun(self) -> &'static str {
        match self {
            FileKind::Photo => "photo",
            FileKind::Signature => "signature image",
        }
    }
}

/// A file made ready for a screen at most `edge` pixels on its longest side: the kept one when
/// it was made before; else from the file in the person's files folder (fetched from the server
/// the first time), kept for next time and for when the server is down.
async fn made(
    client: &SyncClient,
    sha256: &str,
    edge: u32,
    kind: FileKind,
) -> Result<Made, AppError> {
    let dir = client.files_dir().join(MADE_DIR);
    if let Some(kept) = read_kept(client.files_dir(), sha256, edge).await {
        return Ok(kept);
    }
    let original = client
        .download_file(sha256)
        .await
        .map_err(|e| fetch_problem(e, kind))?;
    let bytes = tokio::fs::read(&original).await.map_err(|e| {
        AppError::new(
            "internal",
            format!(
                "the {} could not be read from this computer's files folder: {e}",
                kind.noun()
            ),
        )
    })?;
    let original_bytes = bytes.len() as u64;
    // Decoding is CPU work that can take a second on a large photo: off the async threads. A
    // decoder that panicked anyway ends its own task, and the person reads a sentence.
    let result = tokio::task::spawn_blocking(move || shrink(&bytes, edge))
        .await
        .map_err(|_| {
            AppError::new(
                "unreadable_image",
                format!("This {} could not be read as an image.", kind.noun()),
            )
        })?
        .map_err(|e| image_problem(e, kind))?;
    let (bytes, format, width, height) = result;
    let made = Made {
        mime: format.to_mime_type(),
        bytes,
        width,
        height,
        original_bytes,
    };
    keep(&dir, sha256, edge, &made, format).await;
    Ok(made)
}

/// The file a made image is kept in: its source's hash, its size and its format. Named, not
/// listed: a look-up is one or two `stat`s however many photos this person has seen.
fn kept_name(sha256: &str, edge: u32, format: image::ImageFormat) -> String {
    let ext = format.extensions_str().first().copied().unwrap_or("img");
    format!("{sha256}-{edge}.{ext}")
}

/// The formats a made image is kept in (see [`shrink`]).
const MADE_FORMATS: [image::ImageFormat; 2] = [image::ImageFormat::Jpeg, image::ImageFormat::Png];

async fn read_kept(files: &Path, sha256: &str, edge: u32) -> Option<Made> {
    for format in MADE_FORMATS {
        let Ok(bytes) =
            tokio::fs::read(files.join(MADE_DIR).join(kept_name(sha256, edge, format))).await
        else {
            continue;
        };
        // The kept image's own size, from its header alone (no pixels decoded).
        let (width, height) = image::ImageReader::with_format(std::io::Cursor::new(&bytes), format)
            .into_dimensions()
            .ok()?;
        let original_bytes = tokio::fs::metadata(files.join(sha256))
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        return Some(Made {
            mime: format.to_mime_type(),
            bytes,
            width,
            height,
            original_bytes,
        });
    }
    None
}

/// Keeps a made image, whole or not at all (written under a temporary name, then renamed). A
/// failure to keep it only means it is made again next time.
async fn keep(dir: &Path, sha256: &str, edge: u32, made: &Made, format: image::ImageFormat) {
    let name = kept_name(sha256, edge, format);
    let path: PathBuf = dir.join(&name);
    let partial = dir.join(format!("{name}.{}.tmp", std::process::id()));
    let written = async {
        tokio::fs::create_dir_all(dir).await?;
        tokio::fs::write(&partial, &made.bytes).await?;
        tokio::fs::rename(&partial, &path).await
    }
    .await;
    if let Err(e) = written {
        tracing::warn!(error = %e, sha256, "a thumbnail could not be kept");
        let _ = tokio::fs::remove_file(&partial).await;
    }
}

/// Why an image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the file is not a PNG or JPEG image")]
    Unsupported,
    #[error("the image is {width}×{height} pixels, larger than {MAX_EDGE}×{MAX_EDGE}")]
    TooLarge { width: u32, height: u32 },
    #[error("the image would need more memory than allowed to open")]
    TooMuchMemory,
    #[error("the image is damaged: {0}")]
    Damaged(String),
}

/// Decodes `bytes` (PNG or JPEG, bounded) and scales it to at most `edge` pixels on its longest
/// side, upright as the camera meant it; answers the encoded image, its format and size. A
/// photo becomes a JPEG; an image with transparency (a signature) stays a PNG.
pub fn shrink(
    bytes: &[u8],
    edge: u32,
) -> Result<(Vec<u8>, image::ImageFormat, u32, u32), ImageError> {
    use image::ImageDecoder;
    let format = image::guess_format(bytes).map_err(|_| ImageError::Unsupported)?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
        return Err(ImageError::Unsupported);
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_EDGE);
    limits.max_image_height = Some(MAX_EDGE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    // The header alone first (no pixels are read or allocated), so a size past the limits is
    // refused with its numbers before anything is decoded; then the limits for the decode.
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    reader.no_limits();
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    if width > MAX_EDGE || height > MAX_EDGE {
        return Err(ImageError::TooLarge { width, height });
    }
    decoder.set_limits(limits).map_err(decode_error)?;
    let orientation = decoder.orientation().ok();
    let mut picture = image::DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    if let Some(orientation) = orientation {
        picture.apply_orientation(orientation);
    }
    let small = if picture.width() > edge || picture.height() > edge {
        picture.thumbnail(edge, edge)
    } else {
        picture
    };
    let (w, h) = (small.width(), small.height());
    let mut out = std::io::Cursor::new(Vec::new());
    let keep_png = format == image::ImageFormat::Png && small.color().has_alpha();
    let made_format = if keep_png {
        small
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(decode_error)?;
        image::ImageFormat::Png
    } else {
        // JPEG has no transparency: what was see-through reads as white, as on paper.
        let rgb = small.to_rgb8();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .encode_image(&rgb)
            .map_err(decode_error)?;
        image::ImageFormat::Jpeg
    };
    Ok((out.into_inner(), made_format, w, h))
}

fn decode_error(e: image::ImageError) -> ImageError {
    match e {
        image::ImageError::Limits(l) => match l.kind() {
            image::error::LimitErrorKind::DimensionError => ImageError::TooLarge {
                width: 0,
                height: 0,
            },
            _ => ImageError::TooMuchMemory,
        },
        image::ImageError::Unsupported(_) => ImageError::Unsupported,
        other => ImageError::Damaged(other.to_string()),
    }
}

fn image_problem(e: ImageError, kind: FileKind) -> AppError {
    let noun = kind.noun();
    match e {
        ImageError::Unsupported => AppError::new(
            "unreadable_image",
            format!("This {noun} is not a PNG or JPEG image, so it cannot be shown here."),
        ),
        ImageError::TooLarge { width, height } if width > 0 => AppError::new(
            "image_too_large",
            format!(
                "This {noun} is {width}×{height} pixels, too large to open here (at most {MAX_EDGE} on a side)."
            ),
        ),
        ImageError::TooLarge { .. } | ImageError::TooMuchMemory => AppError::new(
            "image_too_large",
            format!("This {noun} is too large to open here (at most {MAX_EDGE} pixels on a side)."),
        ),
        ImageError::Damaged(why) => AppError::new(
            "unreadable_image",
            format!("This {noun}'s file is damaged and cannot be shown ({why})."),
        ),
    }
}

/// Why a file could not be fetched, in words: offline and never fetched is the usual one.
fn fetch_problem(e: ClientError, kind: FileKind) -> AppError {
    let noun = kind.noun();
    let capital = match kind {
        FileKind::Photo => "This photo",
        FileKind::Signature => "This signature image",
    };
    match e {
        ClientError::Transport(TransportError::Unreachable(_)) | ClientError::NotSignedIn => {
            AppError::new(
                "not_downloaded",
                format!(
                    "{capital} has not been downloaded to this computer yet; it appears when the server is back."
                ),
            )
        }
        ClientError::Transport(TransportError::Refused { code, .. }) if code == "forbidden" => {
            AppError::new(
                "forbidden",
                format!(
                    "This {noun} belongs to a job that is not yours; only its technician and the office can open it."
                ),
            )
        }
        ClientError::Transport(TransportError::Refused { code, .. }) if code == "not_found" => {
            AppError::new(
                "not_on_server",
                format!(
                    "{capital} has not reached the server yet; it appears once the technician's device has sent it."
                ),
            )
        }
        other => AppError::from(other),
    }
}
