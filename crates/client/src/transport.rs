//! The network behind a small trait, with every call of the API written once.
//!
//! A transport only moves bytes: [`Transport::exchange`] sends one HTTP request and returns its
//! answer, and [`Transport::events`] opens the server's event stream. Every call of the API
//! (login, push, pull, uploads, the office's review, resolve, reassign, reopen, history, devices,
//! report, policy) is a typed method with a default body that encodes its request and decodes
//! its answer through [`api`], with the types of `core::wire`. [`HttpTransport`] (reqwest) and
//! the fleet simulation's network implement only `exchange`, so the simulation runs the real
//! encoder and decoder, and a test's fault proxy or the `field` simulator's radio wraps one
//! method, not fifteen.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fieldsync_core::accounts::{
    check_user_name, Account, AccountChange, AdminEvent, NewAccount, PasswordChange, PasswordReset,
};
use fieldsync_core::wire::{
    ApiErrorBody, DeviceInfo, LoginRequest, LoginResponse, PolicyResponse, PullParams,
    PullResponse, PushRequest, PushResponse, ReassignOutcome, ReassignRequest, RecordHistory,
    ReopenRequest, ReportParams, ResolveRequest, ResolveResponse, ReviewItem, ReviewParams,
    SyncReport,
};
use fieldsync_core::{Change, DeviceId, Outcome, RecordId, RecordType, ReviewId};
use futures::stream::BoxStream;
use futures::StreamExt;
use reqwest::header::HeaderMap;
use reqwest::Method;
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

/// One HTTP request of the API, as [`api`] encodes it.
#[derive(Debug, Clone)]
pub struct HttpCall {
    pub method: Method,
    /// The path with its query, e.g. `/api/v1/sync/pull?after=3`.
    pub path: String,
    /// The bearer token, when the call is made as a device.
    pub token: Option<String>,
    /// Headers besides `Authorization`, lowercase names.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// The answer to an [`HttpCall`], read whole.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    fn header_u64(&self, name: &str) -> Option<u64> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    }
}

/// The encoding of every call and the decoding of every answer: the protocol's client side,
/// written once for every transport.
pub mod api {
    use super::*;
    use sha2::Digest;

    fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, TransportError> {
        serde_json::to_vec(value).map_err(|e| TransportError::Decode(e.to_string()))
    }

    fn query<T: serde::Serialize>(path: &str, params: &T) -> Result<String, TransportError> {
        let query = serde_urlencoded::to_string(params)
            .map_err(|e| TransportError::Decode(e.to_string()))?;
        Ok(if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        })
    }

    fn call(method: Method, path: String, token: Option<&str>, body: Option<Vec<u8>>) -> HttpCall {
        let mut headers = Vec::new();
        if body.is_some() {
            headers.push(("content-type", "application/json".to_string()));
        }
        HttpCall {
            method,
            path,
            token: token.map(str::to_string),
            headers,
            body: body.unwrap_or_default(),
        }
    }

    fn record_path(record_type: RecordType, record_id: RecordId, action: &str) -> String {
        format!("/api/v1/records/{record_type}/{record_id}/{action}")
    }

    pub fn login(request: &LoginRequest) -> Result<HttpCall, TransportError> {
        Ok(call(
            Method::POST,
            "/api/v1/auth/login".into(),
            None,
            Some(json(request)?),
        ))
    }

    pub fn push(token: &str, changes: &[Change]) -> Result<HttpCall, TransportError> {
        let body = json(&PushRequest {
            changes: changes.to_vec(),
        })?;
        Ok(call(
            Method::POST,
            "/api/v1/sync/push".into(),
            Some(token),
            Some(body),
        ))
    }

    pub fn pull(token: &str, params: &PullParams) -> Result<HttpCall, TransportError> {
        Ok(call(
            Method::GET,
            query("/api/v1/sync/pull", params)?,
            Some(token),
            None,
        ))
    }

    pub fn upload_offset(token: &str, sha256: &str) -> HttpCall {
        let mut call = call(
            Method::HEAD,
            format!("/api/v1/files/{sha256}"),
            Some(token),
            None,
        );
        call.headers.push(("tus-resumable", "1.0.0".into()));
        call
    }

    pub fn upload(token: &str, sha256: &str, offset: u64, length: u64, bytes: Vec<u8>) -> HttpCall {
        HttpCall {
            method: Method::PATCH,
            path: format!("/api/v1/files/{sha256}"),
            token: Some(token.to_string()),
            headers: vec![
                ("tus-resumable", "1.0.0".into()),
                ("content-type", "application/offset+octet-stream".into()),
                ("upload-offset", offset.to_string()),
                ("upload-length", length.to_string()),
            ],
            body: bytes,
        }
    }

    /// A whole file, by its hash.
    pub fn download(token: &str, sha256: &str) -> HttpCall {
        call(
            Method::GET,
            format!("/api/v1/files/{sha256}"),
            Some(token),
            None,
        )
    }

    pub fn review(token: &str, params: &ReviewParams) -> Result<HttpCall, TransportError> {
        Ok(call(
            Method::GET,
            query("/api/v1/review", params)?,
            Some(token),
            None,
        ))
    }

    pub fn resolve(
        token: &str,
        review_id: ReviewId,
        request: &ResolveRequest,
    ) -> Result<HttpCall, TransportError> {
        Ok(call(
            Method::POST,
            format!("/api/v1/review/{review_id}/resolve"),
            Some(token),
            Some(json(request)?),
        ))
    }

    pub fn reassign(
        token: &str,
        record_type: RecordType,
        record_id: RecordId,
        request: &ReassignRequest,
    ) -> Result<HttpCall, TransportError> {
        Ok(call(
            Method::POST,
            record_path(record_type, record_id, "reassign"),
            Some(token),
            Some(json(request)?),
        ))
    }

    pub fn reopen(
        token: &str,
        record_type: RecordType,
        record_id: RecordId,
        request: &ReopenRequest,
    ) -> Result<HttpCall, TransportError> {
        Ok(call(
            Method::POST,
            record_path(record_type, record_id, "reopen"),
            Some(token),
            Some(json(request)?),
        ))
    }

    pub fn history(token: &str, record_type: RecordType, record_id: RecordId) -> HttpCall {
        call(
            Method::GET,
            record_path(record_type, record_id, "history"),
            Some(token),
            None,
        )
    }

    pub fn devices(token: &str) -> HttpCall {
        call(Method::GET, "/api/v1/devices".into(), Some(token), None)
    }

    pub fn report(token: &str, params: &ReportParams) -> Result<HttpCall, TransportError> {
        Ok(call(
            Method::GET,
            query("/api/v1/report", params)?,
            Some(token),
            None,
        ))
    }

    pub fn policy(token: &str) -> HttpCall {
        call(Method::GET, "/api/v1/policy".into(), Some(token), None)
    }

    pub fn health() -> HttpCall {
        call(Method::GET, "/healthz".into(), None, None)
    }

    pub fn accounts(token: &str) -> HttpCall {
        call(Method::GET, "/api/v1/users".into(), Some(token), None)
    }

    pub fn add_account(token: &str, request: &NewAccount) -> Result<HttpCall, TransportError> {
        Ok(call(
            Method::POST,
            "/api/v1/users".into(),
            Some(token),
            Some(json(request)?),
        ))
    }

    /// A user name goes into the path: only the names core allows (plain ASCII) are sent, so
    /// nothing needs escaping and a stray `/` cannot reach another route.
    fn user_path(name: &str, tail: &str) -> Result<String, TransportError> {
        check_user_name(name).map_err(|r| TransportError::Decode(r.message))?;
        Ok(format!("/api/v1/users/{name}{tail}"))
    }

    pub fn change_account(
        token: &str,
        name: &str,
        change: &AccountChange,
    ) -> Result<HttpCall, TransportError> {
        Ok(call(
            Method::PATCH,
            user_path(name, "")?,
            Some(token),
            Some(json(change)?),
        ))
    }

    pub fn reset_password(
        token: &str,
        name: &str,
        request: &PasswordReset,
    ) -> Result<HttpCall, TransportError> {
        Ok(call(
            Method::POST,
            user_path(name, "/password")?,
            Some(token),
            Some(json(request)?),
        ))
    }

    pub fn change_password(
        token: &str,
        request: &PasswordChange,
    ) -> Result<HttpCall, TransportError> {
        Ok(call(
            Method::POST,
            "/api/v1/auth/password".into(),
            Some(token),
            Some(json(request)?),
        ))
    }

    pub fn revoke_device(token: &str, device_id: DeviceId) -> HttpCall {
        call(
            Method::POST,
            format!("/api/v1/devices/{device_id}/revoke"),
            Some(token),
            None,
        )
    }

    pub fn admin_log(token: &str) -> HttpCall {
        call(Method::GET, "/api/v1/admin/log".into(), Some(token), None)
    }

    /// Turns a refusal into its code, sentence and `Retry-After`.
    pub fn refusal(answer: &HttpAnswer) -> TransportError {
        let status = answer.status;
        let body = serde_json::from_slice::<ApiErrorBody>(&answer.body).ok();
        TransportError::Refused {
            status,
            code: body
                .as_ref()
                .map(|b| b.code.clone())
                .unwrap_or_else(|| "http_error".into()),
            message: body
                .map(|b| b.message)
                .unwrap_or_else(|| format!("the server answered {status}")),
            retry_after: answer.header_u64("retry-after").map(Duration::from_secs),
        }
    }

    fn success(answer: HttpAnswer) -> Result<HttpAnswer, TransportError> {
        if (200..300).contains(&answer.status) {
            Ok(answer)
        } else {
            Err(refusal(&answer))
        }
    }

    /// A JSON answer of type `T`, or the refusal it carries.
    pub fn decode<T: serde::de::DeserializeOwned>(answer: HttpAnswer) -> Result<T, TransportError> {
        let answer = success(answer)?;
        serde_json::from_slice(&answer.body).map_err(|e| TransportError::Decode(e.to_string()))
    }

    /// A push's outcomes, one per change sent.
    pub fn decode_push(answer: HttpAnswer, sent: usize) -> Result<Vec<Outcome>, TransportError> {
        let answer: PushResponse = decode(answer)?;
        if answer.outcomes.len() != sent {
            return Err(TransportError::Decode(format!(
                "{} outcomes for {sent} changes",
                answer.outcomes.len()
            )));
        }
        Ok(answer.outcomes)
    }

    /// Where an upload stands: `None` when the server has none yet.
    pub fn decode_upload_offset(
        answer: HttpAnswer,
    ) -> Result<Option<UploadOffset>, TransportError> {
        if answer.status == 404 {
            return Ok(None);
        }
        let answer = success(answer)?;
        match (
            answer.header_u64("upload-offset"),
            answer.header_u64("upload-length"),
        ) {
            (Some(offset), Some(length)) => Ok(Some(UploadOffset { offset, length })),
            _ => Err(TransportError::Decode(
                "HEAD without Upload-Offset and Upload-Length".into(),
            )),
        }
    }

    /// The server's offset after a chunk.
    pub fn decode_upload(answer: HttpAnswer) -> Result<u64, TransportError> {
        success(answer)?
            .header_u64("upload-offset")
            .ok_or_else(|| TransportError::Decode("PATCH answer without Upload-Offset".into()))
    }

    /// A file's bytes, checked against the hash that names them: a server (or anything on the
    /// way) that sends other bytes is not believed.
    pub fn decode_download(answer: HttpAnswer, sha256: &str) -> Result<Vec<u8>, TransportError> {
        let answer = success(answer)?;
        let got = hex::encode(sha2::Sha256::digest(&answer.body));
        if got != sha256 {
            return Err(TransportError::Decode(format!(
                "the file {sha256} arrived as other bytes ({got})"
            )));
        }
        Ok(answer.body)
    }

    /// Any success: the answer's body is not read.
    pub fn decode_empty(answer: HttpAnswer) -> Result<(), TransportError> {
        success(answer).map(|_| ())
    }
}

/// What the client needs from a server: one way to send a request, one to listen, and a typed
/// method per call of the API written over them.
///
/// Implement `exchange` and `events`; leave the typed methods as they are, so every transport
/// speaks the protocol through the same code.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Sends one request and reads its whole answer. A request that got no answer (refused,
    /// cut, timed out, a body cut off mid-way) is `Unreachable`: it may have been applied.
    async fn exchange(&self, call: HttpCall) -> Result<HttpAnswer, TransportError>;

    /// Server-sent pokes, each with the newest `seq`.
    async fn events(&self, token: &str) -> Result<BoxStream<'static, i64>, TransportError>;

    async fn login(&self, request: &LoginRequest) -> Result<LoginResponse, TransportError> {
        api::decode(self.exchange(api::login(request)?).await?)
    }

    async fn push(&self, token: &str, changes: &[Change]) -> Result<Vec<Outcome>, TransportError> {
        api::decode_push(
            self.exchange(api::push(token, changes)?).await?,
            changes.len(),
        )
    }

    async fn pull(
        &self,
        token: &str,
        after: i64,
        limit: i64,
        outbox_depth: i64,
        oldest_pending: Option<DateTime<Utc>>,
    ) -> Result<PullResponse, TransportError> {
        let params = PullParams {
            after,
            limit: Some(limit),
            outbox_depth: Some(outbox_depth),
            oldest_pending,
        };
        api::decode(self.exchange(api::pull(token, &params)?).await?)
    }

    /// Where an upload stands; `None` when the server has none yet.
    async fn upload_offset(
        &self,
        token: &str,
        sha256: &str,
    ) -> Result<Option<UploadOffset>, TransportError> {
        api::decode_upload_offset(self.exchange(api::upload_offset(token, sha256)).await?)
    }

    /// Sends bytes at `offset`; returns the server's new offset.
    async fn upload(
        &self,
        token: &str,
        sha256: &str,
        offset: u64,
        length: u64,
        bytes: Vec<u8>,
    ) -> Result<u64, TransportError> {
        api::decode_upload(
            self.exchange(api::upload(token, sha256, offset, length, bytes))
                .await?,
        )
    }

    /// A whole file the caller may see, by its hash, checked against it.
    async fn download(&self, token: &str, sha256: &str) -> Result<Vec<u8>, TransportError> {
        api::decode_download(self.exchange(api::download(token, sha256)).await?, sha256)
    }

    /// The review inbox for the caller's roles.
    async fn review(
        &self,
        token: &str,
        params: &ReviewParams,
    ) -> Result<Vec<ReviewItem>, TransportError> {
        api::decode(self.exchange(api::review(token, params)?).await?)
    }

    async fn resolve(
        &self,
        token: &str,
        review_id: ReviewId,
        request: &ResolveRequest,
    ) -> Result<ResolveResponse, TransportError> {
        api::decode(
            self.exchange(api::resolve(token, review_id, request)?)
                .await?,
        )
    }

    async fn reassign(
        &self,
        token: &str,
        record_type: RecordType,
        record_id: RecordId,
        request: &ReassignRequest,
    ) -> Result<ReassignOutcome, TransportError> {
        api::decode(
            self.exchange(api::reassign(token, record_type, record_id, request)?)
                .await?,
        )
    }

    async fn reopen(
        &self,
        token: &str,
        record_type: RecordType,
        record_id: RecordId,
        request: &ReopenRequest,
    ) -> Result<Outcome, TransportError> {
        api::decode(
            self.exchange(api::reopen(token, record_type, record_id, request)?)
                .await?,
        )
    }

    async fn history(
        &self,
        token: &str,
        record_type: RecordType,
        record_id: RecordId,
    ) -> Result<RecordHistory, TransportError> {
        api::decode(
            self.exchange(api::history(token, record_type, record_id))
                .await?,
        )
    }

    async fn devices(&self, token: &str) -> Result<Vec<DeviceInfo>, TransportError> {
        api::decode(self.exchange(api::devices(token)).await?)
    }

    /// Every account (admin).
    async fn accounts(&self, token: &str) -> Result<Vec<Account>, TransportError> {
        api::decode(self.exchange(api::accounts(token)).await?)
    }

    async fn add_account(
        &self,
        token: &str,
        request: &NewAccount,
    ) -> Result<Account, TransportError> {
        api::decode(self.exchange(api::add_account(token, request)?).await?)
    }

    async fn change_account(
        &self,
        token: &str,
        name: &str,
        change: &AccountChange,
    ) -> Result<Account, TransportError> {
        api::decode(
            self.exchange(api::change_account(token, name, change)?)
                .await?,
        )
    }

    async fn reset_password(
        &self,
        token: &str,
        name: &str,
        request: &PasswordReset,
    ) -> Result<Account, TransportError> {
        api::decode(
            self.exchange(api::reset_password(token, name, request)?)
                .await?,
        )
    }

    /// The signed-in person's own new password.
    async fn change_password(
        &self,
        token: &str,
        request: &PasswordChange,
    ) -> Result<(), TransportError> {
        api::decode_empty(self.exchange(api::change_password(token, request)?).await?)
    }

    async fn revoke_device(&self, token: &str, device_id: DeviceId) -> Result<(), TransportError> {
        api::decode_empty(self.exchange(api::revoke_device(token, device_id)).await?)
    }

    async fn admin_log(&self, token: &str) -> Result<Vec<AdminEvent>, TransportError> {
        api::decode(self.exchange(api::admin_log(token)).await?)
    }

    async fn report(
        &self,
        token: &str,
        params: &ReportParams,
    ) -> Result<SyncReport, TransportError> {
        api::decode(self.exchange(api::report(token, params)?).await?)
    }

    async fn policy(&self, token: &str) -> Result<PolicyResponse, TransportError> {
        api::decode(self.exchange(api::policy(token)).await?)
    }

    /// Whether the server answers its liveness check.
    async fn health(&self) -> Result<(), TransportError> {
        api::decode_empty(self.exchange(api::health()).await?)
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

#[async_trait]
impl Transport for HttpTransport {
    async fn exchange(&self, call: HttpCall) -> Result<HttpAnswer, TransportError> {
        let mut request = self.http.request(call.method, self.url(&call.path));
        if let Some(token) = &call.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in call.headers {
            request = request.header(name, value);
        }
        let response = request.body(call.body).send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // A body cut off mid-way is a lost answer, not a bad one: the request may have been applied.
        let body = response.bytes().await.map_err(unreachable)?.to_vec();
        Ok(HttpAnswer {
            status,
            headers,
            body,
        })
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
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await.map_err(unreachable)?.to_vec();
            return Err(api::refusal(&HttpAnswer {
                status,
                headers,
                body,
            }));
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &[u8]) -> HttpAnswer {
        HttpAnswer {
            status,
            headers: HeaderMap::new(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn a_download_is_believed_only_when_its_bytes_match_its_hash() {
        use sha2::Digest;
        let sha = hex::encode(sha2::Sha256::digest(b"the photo"));
        assert_eq!(
            api::decode_download(answer(200, b"the photo"), &sha).unwrap(),
            b"the photo"
        );
        assert!(matches!(
            api::decode_download(answer(200, b"another photo"), &sha),
            Err(TransportError::Decode(_))
        ));
        let refused = br#"{"code":"forbidden","message":"not yours"}"#;
        assert!(matches!(
            api::decode_download(answer(403, refused), &sha),
            Err(TransportError::Refused { status: 403, ref code, .. }) if code == "forbidden"
        ));
    }
}
