//! The network behind a small trait, so a test or the simulator can stand between the client and
//! a real server; [`HttpTransport`] is the real one (reqwest).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fieldsync_core::wire::{
    ApiErrorBody, LoginRequest, LoginResponse, PullResponse, PushRequest, PushResponse,
};
use fieldsync_core::{Change, Outcome};
use futures::stream::BoxStream;
use futures::StreamExt;
use std::time::Duration;

/// Why a call did not get an answer the client can use.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    /// No answer: refused, cut, timed out.
    #[error("the server is unreachable: {0}")]
    Unreachable(String),
    /// An answer that refused the request.
    #[error("{message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// An answer that could not be read.
    #[error("the server's answer could not be read: {0}")]
    Decode(String),
}

impl TransportError {
    /// Sending the same thing again cannot help (bad input, no rights); the lane stops on it.
    pub fn is_permanent(&self) -> bool {
        match self {
            TransportError::Unreachable(_) | TransportError::Decode(_) => false,
            TransportError::Refused { status, .. } => !matches!(status, 408 | 429 | 500..=599),
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TransportError::Refused { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn is_unauthenticated(&self) -> bool {
        matches!(self, TransportError::Refused { status: 401, .. })
    }
}

/// Where an upload stands on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadOffset {
    pub offset: u64,
    pub length: u64,
}

/// What the client needs from a server.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    async fn login(&self, request: &LoginRequest) -> Result<LoginResponse, TransportError>;
    async fn push(&self, token: &str, changes: &[Change]) -> Result<Vec<Outcome>, TransportError>;
    async fn pull(
        &self,
        token: &str,
        after: i64,
        limit: i64,
        outbox_depth: i64,
        oldest_pending: Option<DateTime<Utc>>,
    ) -> Result<PullResponse, TransportError>;
    /// Where an upload stands; `None` when the server has none yet.
    async fn upload_offset(
        &self,
        token: &str,
        sha256: &str,
    ) -> Result<Option<UploadOffset>, TransportError>;
    /// Sends bytes at `offset`; returns the server's new offset.
    async fn upload(
        &self,
        token: &str,
        sha256: &str,
        offset: u64,
        length: u64,
        bytes: Vec<u8>,
    ) -> Result<u64, TransportError>;
    /// Server-sent pokes, each with the newest `seq`.
    async fn events(&self, token: &str) -> Result<BoxStream<'static, i64>, TransportError>;

    /// Any other call of the API (the office's reassign, resolve, reopen, history, devices):
    /// `method` is GET or POST, `body` the JSON to send. A transport that only syncs says no.
    async fn call(
        &self,
        _token: &str,
        method: &str,
        path: &str,
        _body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, TransportError> {
        Err(TransportError::Refused {
            status: 501,
            code: "unsupported".into(),
            message: format!("this transport cannot {method} {path}"),
            retry_after: None,
        })
    }
}

/// The real transport: HTTP with reqwest.
#[derive(Clone)]
pub struct HttpTransport {
    http: reqwest::Client,
    base: String,
}

impl HttpTransport {
    /// `base` is the server's address, e.g. `http://127.0.0.1:8640`.
    pub fn new(base: &str) -> Result<HttpTransport, TransportError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| TransportError::Unreachable(e.to_string()))?;
        Ok(HttpTransport {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn unreachable(e: reqwest::Error) -> TransportError {
    TransportError::Unreachable(e.to_string())
}

/// Turns a refusal into its code, sentence and `Retry-After`.
async fn refusal(response: reqwest::Response) -> TransportError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.json::<ApiErrorBody>().await.ok();
    TransportError::Refused {
        status,
        code: body
            .as_ref()
            .map(|b| b.code.clone())
            .unwrap_or_else(|| "http_error".into()),
        message: body
            .map(|b| b.message)
            .unwrap_or_else(|| format!("the server answered {status}")),
        retry_after,
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, TransportError> {
    if !response.status().is_success() {
        return Err(refusal(response).await);
    }
    // A body cut off mid-way is a lost answer, not a bad one: the request may have been applied.
    let bytes = response.bytes().await.map_err(unreachable)?;
    serde_json::from_slice(&bytes).map_err(|e| TransportError::Decode(e.to_string()))
}

#[async_trait]
impl Transport for HttpTransport {
    async fn login(&self, request: &LoginRequest) -> Result<LoginResponse, TransportError> {
        let response = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(request)
            .send()
            .await
            .map_err(unreachable)?;
        read_json(response).await
    }

    async fn push(&self, token: &str, changes: &[Change]) -> Result<Vec<Outcome>, TransportError> {
        let body = PushRequest {
            changes: changes.to_vec(),
        };
        let response = self
            .http
            .post(self.url("/api/v1/sync/push"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?;
        let answer: PushResponse = read_json(response).await?;
        if answer.outcomes.len() != changes.len() {
            return Err(TransportError::Decode(format!(
                "{} outcomes for {} changes",
                answer.outcomes.len(),
                changes.len()
            )));
        }
        Ok(answer.outcomes)
    }

    async fn pull(
        &self,
        token: &str,
        after: i64,
        limit: i64,
        outbox_depth: i64,
        oldest_pending: Option<DateTime<Utc>>,
    ) -> Result<PullResponse, TransportError> {
        let mut query = vec![
            ("after", after.to_string()),
            ("limit", limit.to_string()),
            ("outbox_depth", outbox_depth.to_string()),
        ];
        if let Some(oldest) = oldest_pending {
            query.push((
                "oldest_pending",
                oldest.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ));
        }
        let response = self
            .http
            .get(self.url("/api/v1/sync/pull"))
            .bearer_auth(token)
            .query(&query)
            .send()
            .await
            .map_err(unreachable)?;
        read_json(response).await
    }

    async fn upload_offset(
        &self,
        token: &str,
        sha256: &str,
    ) -> Result<Option<UploadOffset>, TransportError> {
        let response = self
            .http
            .head(self.url(&format!("/api/v1/files/{sha256}")))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .map_err(unreachable)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(refusal(response).await);
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        match (header("upload-offset"), header("upload-length")) {
            (Some(offset), Some(length)) => Ok(Some(UploadOffset { offset, length })),
            _ => Err(TransportError::Decode(
                "HEAD without Upload-Offset and Upload-Length".into(),
            )),
        }
    }

    async fn upload(
        &self,
        token: &str,
        sha256: &str,
        offset: u64,
        length: u64,
        bytes: Vec<u8>,
    ) -> Result<u64, TransportError> {
        let response = self
            .http
            .patch(self.url(&format!("/api/v1/files/{sha256}")))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Content-Type", "application/offset+octet-stream")
            .header("Upload-Offset", offset.to_string())
            .header("Upload-Length", length.to_string())
            .body(bytes)
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(refusal(response).await);
        }
        response
            .headers()
            .get("upload-offset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| TransportError::Decode("PATCH answer without Upload-Offset".into()))
    }

    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, TransportError> {
        let request = match method {
            "GET" => self.http.get(self.url(path)),
            "POST" => self.http.post(self.url(path)),
            other => {
                return Err(TransportError::Decode(format!(
                    "unsupported method {other}"
                )))
            }
        };
        let request = request.bearer_auth(token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        read_json(request.send().await.map_err(unreachable)?).await
    }

    async fn events(&self, token: &str) -> Result<BoxStream<'static, i64>, TransportError> {
        use eventsource_stream::Eventsource;
        let response = self
            .http
            .get(self.url("/api/v1/events"))
            .bearer_auth(token)
            .timeout(Duration::from_secs(365 * 24 * 3600))
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(refusal(response).await);
        }
        let stream = response
            .bytes_stream()
            .eventsource()
            .filter_map(|event| async move {
                let event = event.ok()?;
                if event.event != "poke" {
                    return None;
                }
                serde_json::from_str::<serde_json::Value>(&event.data)
                    .ok()?
                    .get("seq")?
                    .as_i64()
            });
        Ok(stream.boxed())
    }
}
