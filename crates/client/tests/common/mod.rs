//! The client's test harness: a real server in-process on 127.0.0.1, a fault-injecting HTTP
//! proxy between it and the clients, one hand-moved clock shared by all of them, and helpers to
//! open sync clients and to speak to the server directly (as the office would) for set-up and
//! for checking what really landed.
//!
//! Every listener binds port 0 first and is served after, so nothing waits for anything to come
//! up. Faults are scripted from the test: each request to the proxy is matched against the rules
//! in order, and the first that matches (and has uses left) decides what happens to it.
#![allow(dead_code)]

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};
use fieldsync_client::cache::OutboxRow;
use fieldsync_client::{ClientConfig, HttpTransport, ManualClock, NewChange, SyncClient};
use fieldsync_core::wire::{PullResponse, PushRequest, PushResponse, ReviewItem};
use fieldsync_core::{Change, ChangeId, Group, Op, Outcome, RecordId, RecordType, Role};
use fieldsync_server::store::{DeviceInfo, NewUser, RecordHistory, Store};
use fieldsync_server::{AppState, Limits, SqliteStore};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery staple";

/// The people of every test: (name, role, team).
pub const USERS: [(&str, Role, Option<&str>); 5] = [
    ("tom", Role::Technician, Some("north")),
    ("rita", Role::Technician, Some("north")),
    ("dana", Role::Dispatcher, Some("dispatch")),
    ("sam", Role::Supervisor, None),
    ("olivia", Role::Office, Some("office")),
];

/// Argon2 is slow in a debug build: hash the one password once per test binary.
pub fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| fieldsync_server::auth::hash_password(PASSWORD).unwrap())
        .clone()
}

/// The shared clock's first reading: a Monday morning.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 7, 30, 0).unwrap()
}

/// The server reads the same hand-moved clock as the clients.
struct ServerClock(Arc<ManualClock>);

impl fieldsync_server::Clock for ServerClock {
    fn now(&self) -> DateTime<Utc> {
        fieldsync_client::Clock::now(&*self.0)
    }
}

// ---------------------------------------------------------------------------------------------
// The fault-injecting proxy.
// ---------------------------------------------------------------------------------------------

/// What the proxy does to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward it and relay the answer.
    Pass,
    /// Forward it (the server commits), then lose the answer: a 200 whose body breaks off
    /// halfway, or, for an answer without a body, a connection closed with no answer at all.
    DropReply,
    /// A push only: forward the first half of its changes (the server commits those), then close
    /// the connection without an answer, as a batch cut halfway on a poor link.
    CommitHalf,
    /// Do not forward; close the connection without an answer.
    Cut,
    /// Do not forward; answer 503 with `Retry-After: N`.
    Unavailable { retry_after: u64 },
    /// Wait, then forward.
    Delay(Duration),
    /// Wait until the test calls [`Proxy::release`], then forward.
    Hold,
    /// Do not forward; answer 500, as a server that fails on what it was sent.
    ServerError,
    /// A push only: do not forward; answer 200 with every change in it rejected with `code`, as
    /// a server that refuses each change for a passing reason (or, for a permanent code, for
    /// good).
    RejectEach { code: &'static str },
    /// Hang for ever: the request never gets an answer. With `forward`, the server gets it
    /// (and commits) first; the app is then killed while it waits.
    Hang { forward: bool },
}

/// Which requests a rule applies to.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// A piece of the path: "/sync/push", "/files/", "/sync/pull".
    pub path: String,
    pub method: Option<Method>,
    /// Only requests whose body is at least this many bytes (a poor link cuts big ones).
    pub min_body: usize,
    /// Only requests whose body contains this text (a change the server fails on).
    pub body_contains: Option<String>,
}

impl Target {
    pub fn path(path: &str) -> Target {
        Target {
            path: path.into(),
            ..Target::default()
        }
    }

    pub fn method(method: Method, path: &str) -> Target {
        Target {
            path: path.into(),
            method: Some(method),
            ..Target::default()
        }
    }

    pub fn push() -> Target {
        Target::method(Method::POST, "/api/v1/sync/push")
    }

    pub fn pull() -> Target {
        Target::method(Method::GET, "/api/v1/sync/pull")
    }

    pub fn patch() -> Target {
        Target::method(Method::PATCH, "/api/v1/files/")
    }

    pub fn head() -> Target {
        Target::method(Method::HEAD, "/api/v1/files/")
    }

    pub fn files() -> Target {
        Target::path("/api/v1/files/")
    }

    /// Every request.
    pub fn any() -> Target {
        Target::path("/")
    }

    pub fn at_least(mut self, bytes: usize) -> Target {
        self.min_body = bytes;
        self
    }

    pub fn containing(mut self, text: &str) -> Target {
        self.body_contains = Some(text.into());
        self
    }

    /// Whether a logged request was one of these (the log keeps sizes, not bodies).
    fn matches_seen(&self, method: &Method, path: &str, body_len: usize) -> bool {
        path.contains(&self.path)
            && self.method.as_ref().is_none_or(|m| m == method)
            && body_len >= self.min_body
    }

    fn matches(&self, method: &Method, path: &str, body: &[u8]) -> bool {
        self.matches_seen(method, path, body.len())
            && self.body_contains.as_ref().is_none_or(|text| {
                body.windows(text.len().max(1))
                    .any(|window| window == text.as_bytes())
            })
    }
}

struct Rule {
    target: Target,
    fault: Fault,
    /// Uses left; `None` for as long as the rule stands.
    left: Option<usize>,
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub fault: Fault,
    /// Bytes of the request body.
    pub body_len: usize,
    /// Bytes of the request body that reached the server.
    pub forwarded_bytes: usize,
    /// A PATCH's `Upload-Offset`.
    pub upload_offset: Option<u64>,
    /// A push's change ids, in order.
    pub change_ids: Vec<ChangeId>,
    /// The server's answer, when one came back to the proxy.
    pub status: Option<u16>,
}

#[derive(Default)]
struct ProxyInner {
    rules: Vec<Rule>,
    down: bool,
    log: Vec<Seen>,
}

/// A fault-injecting HTTP proxy on 127.0.0.1, in front of the server.
#[derive(Clone)]
pub struct Proxy {
    pub url: String,
    upstream: String,
    http: reqwest::Client,
    inner: Arc<Mutex<ProxyInner>>,
    gate: Arc<tokio::sync::Semaphore>,
}

impl Proxy {
    async fn start(upstream: &str) -> (Proxy, oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let proxy = Proxy {
            url,
            upstream: upstream.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            inner: Arc::new(Mutex::new(ProxyInner::default())),
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
        };
        let app = axum::Router::new()
            .fallback(proxy_handler)
            .with_state(proxy.clone())
            .into_make_service_with_connect_info::<ConnTag>();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(KillListener(listener), app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        (proxy, tx)
    }

    /// Applies `fault` to the next `times` requests that match `target`.
    pub fn inject(&self, target: Target, fault: Fault, times: usize) {
        self.inner.lock().unwrap().rules.push(Rule {
            target,
            fault,
            left: Some(times),
        });
    }

    /// Applies `fault` to every request that matches `target` until [`Proxy::heal`].
    pub fn inject_always(&self, target: Target, fault: Fault) {
        self.inner.lock().unwrap().rules.push(Rule {
            target,
            fault,
            left: None,
        });
    }

    /// Removes every rule; the network is good again (unless it is down).
    pub fn heal(&self) {
        self.inner.lock().unwrap().rules.clear();
    }

    /// "Server down": every request is cut without reaching the server.
    pub fn go_down(&self) {
        self.inner.lock().unwrap().down = true;
    }

    pub fn come_back(&self) {
        self.inner.lock().unwrap().down = false;
    }

    pub fn log(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().log.clone()
    }

    pub fn clear_log(&self) {
        self.inner.lock().unwrap().log.clear();
    }

    /// How many requests matching `target` the proxy saw since the log was cleared.
    pub fn count(&self, target: &Target) -> usize {
        self.log()
            .iter()
            .filter(|s| target.matches_seen(&s.method, &s.path, s.body_len))
            .count()
    }

    /// Lets `count` held requests go on to the server.
    pub fn release(&self, count: usize) {
        self.gate.add_permits(count);
    }

    /// Waits (with a deadline) until `count` requests matching `target` were seen and, with
    /// `answered`, until the server answered the last of them. Only for requests a background
    /// task makes, which the test cannot await.
    pub async fn wait_for(&self, target: &Target, count: usize, answered: bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let seen: Vec<Seen> = self
                .log()
                .into_iter()
                .filter(|s| target.matches_seen(&s.method, &s.path, s.body_len))
                .collect();
            if seen.len() >= count && (!answered || seen[count - 1].status.is_some()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the proxy did not see {count} requests to {} in time: {:?}",
                target.path,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Requests since the log was cleared, whatever happened to them.
    pub fn requests(&self) -> usize {
        self.inner.lock().unwrap().log.len()
    }

    fn decide(&self, method: &Method, path: &str, body: &[u8]) -> Fault {
        let mut inner = self.inner.lock().unwrap();
        if inner.down {
            return Fault::Cut;
        }
        for rule in inner.rules.iter_mut() {
            if rule.left == Some(0) || !rule.target.matches(method, path, body) {
                continue;
            }
            if let Some(left) = rule.left.as_mut() {
                *left -= 1;
            }
            return rule.fault.clone();
        }
        Fault::Pass
    }

    fn record(&self, seen: Seen) -> usize {
        let mut inner = self.inner.lock().unwrap();
        inner.log.push(seen);
        inner.log.len() - 1
    }

    fn update(&self, at: usize, f: impl FnOnce(&mut Seen)) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(seen) = inner.log.get_mut(at) {
            f(seen);
        }
    }

    async fn forward(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path_and_query}", self.upstream));
        for (name, value) in headers {
            if !matches!(
                name.as_str(),
                "host" | "content-length" | "connection" | "transfer-encoding"
            ) {
                request = request.header(name, value);
            }
        }
        request.body(body).send().await
    }
}

fn relay_headers(from: &reqwest::header::HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if !matches!(
            name.as_str(),
            "content-length" | "connection" | "transfer-encoding"
        ) {
            to.insert(name.clone(), value.clone());
        }
    }
}

async fn proxy_handler(
    State(proxy): State<Proxy>,
    ConnectInfo(conn): ConnectInfo<ConnTag>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let fault = proxy.decide(&method, &path, &body);
    let change_ids = if path.ends_with("/sync/push") {
        serde_json::from_slice::<PushRequest>(&body)
            .map(|p| p.changes.iter().map(|c| c.change_id).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let upload_offset = parts
        .headers
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let at = proxy.record(Seen {
        method: method.clone(),
        path: path.clone(),
        fault: fault.clone(),
        body_len: body.len(),
        forwarded_bytes: 0,
        upload_offset,
        change_ids,
        status: None,
    });
    match fault {
        Fault::Cut => {
            conn.kill();
            StatusCode::BAD_GATEWAY.into_response()
        }
        Fault::ServerError => {
            proxy.update(at, |s| s.status = Some(500));
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [("content-type", "application/json")],
                json!({"code": "internal", "message": "the server could not finish this request"})
                    .to_string(),
            )
                .into_response()
        }
        Fault::Unavailable { retry_after } => {
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                [("content-type", "application/json")],
                json!({"code": "unavailable", "message": "the server is busy; try again later"})
                    .to_string(),
            )
                .into_response();
            response.headers_mut().insert(
                "retry-after",
                HeaderValue::from_str(&retry_after.to_string()).unwrap(),
            );
            proxy.update(at, |s| s.status = Some(503));
            response
        }
        Fault::RejectEach { code } => {
            let Ok(push) = serde_json::from_slice::<PushRequest>(&body) else {
                conn.kill();
                return StatusCode::BAD_GATEWAY.into_response();
            };
            // Written as the wire has it, not built from core's types: the answer is what a
            // server sends, whatever the client's types make of it.
            let outcomes: Vec<Value> = push
                .changes
                .iter()
                .map(|change| {
                    json!({
                        "change_id": change.change_id,
                        "status": "rejected",
                        "code": code,
                        "message": format!("refused for now ({code})"),
                    })
                })
                .collect();
            proxy.update(at, |s| s.status = Some(200));
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                json!({ "outcomes": outcomes }).to_string(),
            )
                .into_response()
        }
        Fault::CommitHalf => {
            let Ok(mut push) = serde_json::from_slice::<PushRequest>(&body) else {
                conn.kill();
                return StatusCode::BAD_GATEWAY.into_response();
            };
            push.changes.truncate(push.changes.len() / 2);
            let half = Bytes::from(serde_json::to_vec(&push).unwrap());
            let sent = half.len();
            if let Ok(answer) = proxy
                .forward(&method, &path_and_query, &parts.headers, half)
                .await
            {
                let status = answer.status().as_u16();
                let _ = answer.bytes().await;
                proxy.update(at, |s| {
                    s.forwarded_bytes = sent;
                    s.status = Some(status);
                });
            }
            conn.kill();
            StatusCode::BAD_GATEWAY.into_response()
        }
        Fault::Hang { forward: false } => futures::future::pending().await,
        Fault::Pass | Fault::Delay(_) | Fault::DropReply | Fault::Hold | Fault::Hang { .. } => {
            if let Fault::Delay(wait) = fault {
                tokio::time::sleep(wait).await;
            }
            if fault == Fault::Hold {
                if let Ok(permit) = proxy.gate.acquire().await {
                    permit.forget();
                }
            }
            let sent = body.len();
            let answer = match proxy
                .forward(&method, &path_and_query, &parts.headers, body)
                .await
            {
                Ok(answer) => answer,
                Err(_) => {
                    conn.kill();
                    return StatusCode::BAD_GATEWAY.into_response();
                }
            };
            let status = answer.status();
            proxy.update(at, |s| {
                s.forwarded_bytes = sent;
                s.status = Some(status.as_u16());
            });
            if let Fault::Hang { .. } = fault {
                let _ = answer.bytes().await;
                return futures::future::pending().await;
            }
            let mut response = Response::new(Body::empty());
            *response.status_mut() = status;
            relay_headers(answer.headers(), response.headers_mut());
            if fault == Fault::DropReply {
                let bytes = answer.bytes().await.unwrap_or_default();
                if bytes.is_empty() {
                    conn.kill();
                    return response;
                }
                let head = bytes.slice(..bytes.len() / 2);
                let broken = futures::stream::iter(vec![
                    Ok::<Bytes, std::io::Error>(head),
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "the link dropped",
                    )),
                ]);
                *response.body_mut() = Body::from_stream(broken);
                return response;
            }
            // Streamed, so a server-sent event stream passes through too.
            *response.body_mut() = Body::from_stream(answer.bytes_stream());
            response
        }
    }
}

/// A connection's kill switch: once thrown, every read and write on it fails, so the client
/// sees the connection close with no answer.
#[derive(Default)]
struct KillSwitch(AtomicBool);

/// What a handler knows of its connection: its kill switch.
#[derive(Clone)]
pub struct ConnTag(Arc<KillSwitch>);

impl std::fmt::Debug for ConnTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a proxied connection")
    }
}

impl ConnTag {
    fn kill(&self) {
        self.0 .0.store(true, Ordering::SeqCst);
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, KillListener>>
    for ConnTag
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, KillListener>) -> ConnTag {
        stream.remote_addr().clone()
    }
}

struct KillListener(TcpListener);

impl axum::serve::Listener for KillListener {
    type Io = KillIo;
    type Addr = ConnTag;

    async fn accept(&mut self) -> (KillIo, ConnTag) {
        loop {
            if let Ok((stream, _)) = self.0.accept().await {
                let _ = stream.set_nodelay(true);
                let switch = Arc::new(KillSwitch::default());
                return (
                    KillIo {
                        stream,
                        switch: switch.clone(),
                    },
                    ConnTag(switch),
                );
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<ConnTag> {
        Ok(ConnTag(Arc::new(KillSwitch::default())))
    }
}

struct KillIo {
    stream: TcpStream,
    switch: Arc<KillSwitch>,
}

impl KillIo {
    fn killed(&self) -> bool {
        self.switch.0.load(Ordering::SeqCst)
    }
}

fn cut() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut by the proxy")
}

impl AsyncRead for KillIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(cut()));
        }
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.killed() {
            return Poll::Ready(Err(cut()));
        }
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.killed() {
            return Poll::Ready(Err(cut()));
        }
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------------------------
// The server, the clock and the devices.
// ---------------------------------------------------------------------------------------------

/// A real server behind the proxy, and the clock everyone reads.
pub struct Harness {
    pub clock: Arc<ManualClock>,
    pub server_url: String,
    pub proxy: Proxy,
    pub store: SqliteStore,
    dir: TempDir,
    stop_server: Option<oneshot::Sender<()>>,
    stop_proxy: Option<oneshot::Sender<()>>,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(Limits::default()).await
    }

    pub async fn start_with(limits: Limits) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(start_time()));
        let store = SqliteStore::open(&dir.path().join("server.db"))
            .await
            .unwrap();
        for (name, role, team) in USERS {
            store
                .add_user(
                    NewUser {
                        name: name.into(),
                        display_name: format!("{name} (test)"),
                        role,
                        team: team.map(str::to_string),
                        password_hash: password_hash(),
                    },
                    start_time(),
                )
                .await
                .unwrap();
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server_url = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(
            Arc::new(store.clone()),
            fieldsync_core::Policy::default_policy(),
            dir.path().join("server-files"),
            Arc::new(ServerClock(clock.clone())),
            limits,
        );
        let (stop_server, rx) = oneshot::channel::<()>();
        tokio::spawn(fieldsync_server::serve(listener, state, async move {
            let _ = rx.await;
        }));
        let (proxy, stop_proxy) = Proxy::start(&server_url).await;
        Harness {
            clock,
            server_url,
            proxy,
            store,
            dir,
            stop_server: Some(stop_server),
            stop_proxy: Some(stop_proxy),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        fieldsync_client::Clock::now(&*self.clock)
    }

    /// The newest change's sequence number on the server.
    pub async fn store_max_seq(&self) -> i64 {
        self.store.max_seq().await.unwrap()
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    /// Moves the clock to `at` if it is in the future.
    pub fn advance_to(&self, at: DateTime<Utc>) {
        if at > self.now() {
            self.clock.set(at);
        }
    }

    /// A field device (or an office desktop) signed in through the proxy, with its own cache.
    pub async fn device(&self, user: &str, device_name: &str, seed: u64) -> Device {
        let dir = tempfile::tempdir().unwrap();
        let device = Device {
            user: user.to_string(),
            name: device_name.to_string(),
            seed,
            client: open_client(
                &dir.path().join("cache.db"),
                &dir.path().join("files"),
                &self.proxy.url,
                self.clock.clone(),
                device_name,
                seed,
                |_| {},
            )
            .await,
            dir,
            proxy_url: self.proxy.url.clone(),
            clock: self.clock.clone(),
        };
        device.client.login(user, PASSWORD).await.unwrap();
        device
    }

    /// A direct line to the server, not through the proxy: the office checking what landed.
    pub async fn api(&self, user: &str) -> Api {
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{}/api/v1/auth/login", self.server_url))
            .json(&json!({"username": user, "password": PASSWORD, "device_name": format!("{user}'s desk")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login as {user}");
        let body: Value = response.json().await.unwrap();
        Api {
            http,
            base: self.server_url.clone(),
            token: body["token"].as_str().unwrap().to_string(),
            user: user.to_string(),
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.stop_proxy.take() {
            let _ = tx.send(());
        }
        if let Some(tx) = self.stop_server.take() {
            let _ = tx.send(());
        }
    }
}

/// Opens a sync client over a cache file, talking to `url`; `tune` adjusts its configuration.
pub async fn open_client(
    cache: &Path,
    files: &Path,
    url: &str,
    clock: Arc<ManualClock>,
    device_name: &str,
    seed: u64,
    tune: impl FnOnce(&mut ClientConfig),
) -> SyncClient {
    let mut config = ClientConfig::new(device_name, files, seed);
    tune(&mut config);
    SyncClient::open(
        cache,
        Arc::new(HttpTransport::new(url).unwrap()),
        clock,
        config,
    )
    .await
    .unwrap()
}

/// One device: a sync client over its own cache in a temporary directory.
pub struct Device {
    pub user: String,
    pub name: String,
    pub seed: u64,
    pub client: SyncClient,
    pub dir: TempDir,
    proxy_url: String,
    clock: Arc<ManualClock>,
}

impl Device {
    pub fn cache_path(&self) -> PathBuf {
        self.dir.path().join("cache.db")
    }

    pub fn files_dir(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    /// The app killed and started again: a new engine over the same cache file (the old one is
    /// dropped without any goodbye, as a killed process would be).
    pub async fn restart(&mut self) {
        self.restart_with(|_| {}).await;
    }

    pub async fn restart_with(&mut self, tune: impl FnOnce(&mut ClientConfig)) {
        self.client = open_client(
            &self.cache_path(),
            &self.files_dir(),
            &self.proxy_url,
            self.clock.clone(),
            &self.name,
            self.seed,
            tune,
        )
        .await;
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.client.now()
    }

    /// Saves one change and insists it came back "Saved on this device" (or its earlier state,
    /// for a change id saved before).
    pub async fn save(&self, change: NewChange) -> ChangeId {
        let (id, _) = self.client.save(change).await.unwrap();
        id
    }

    /// The words shown for one change now.
    pub async fn label(&self, change_id: ChangeId) -> String {
        self.client
            .change_state(change_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("change {change_id} is not on this device"))
            .label(self.now())
    }

    /// The words shown on a record's badge now.
    pub async fn record_label(&self, record_id: RecordId) -> String {
        self.client
            .record(record_id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("record {record_id} is not on this device"))
            .state
            .label(self.now())
    }

    /// The outbox row of a change (its local history entry).
    pub async fn row(&self, change_id: ChangeId) -> OutboxRow {
        self.client
            .cache()
            .outbox_row(change_id)
            .await
            .unwrap()
            .unwrap()
    }

    /// Changes still waiting, both lanes.
    pub async fn pending(&self) -> i64 {
        let (changes, files, _) = self.client.cache().depth().await.unwrap();
        changes + files
    }

    /// Runs rounds, moving the shared clock to each lane's next retry, until the outbox is empty
    /// or `rounds` have passed; returns how many rounds it took.
    pub async fn sync_until_done(&self, harness: &Harness, rounds: usize) -> usize {
        for round in 1..=rounds {
            self.client.sync_once().await.unwrap();
            if self.pending().await == 0 {
                return round;
            }
            let status = self.client.status().await.unwrap();
            if let Some(next) = [status.changes.next_attempt, status.files.next_attempt]
                .into_iter()
                .flatten()
                .min()
            {
                harness.advance_to(next);
            }
        }
        panic!(
            "{} still has {} waiting after {rounds} rounds",
            self.name,
            self.pending().await
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Changes as a person makes them.
// ---------------------------------------------------------------------------------------------

pub fn create(record_type: RecordType, record_id: RecordId, values: Value) -> NewChange {
    NewChange {
        change_id: None,
        record_type,
        record_id,
        group: None,
        op: Op::Create,
        values,
        file_sha256: None,
    }
}

pub fn update(
    record_type: RecordType,
    record_id: RecordId,
    group: Group,
    values: Value,
) -> NewChange {
    NewChange {
        change_id: None,
        record_type,
        record_id,
        group: Some(group),
        op: Op::Update,
        values,
        file_sha256: None,
    }
}

pub fn status(job: RecordId, state: &str) -> NewChange {
    update(
        RecordType::Job,
        job,
        Group::Status,
        json!({ "state": state }),
    )
}

pub fn note(device: &Device, job: RecordId, text: &str) -> NewChange {
    create(
        RecordType::JobNote,
        device.client.new_record_id(),
        json!({"text": {"job_id": job.to_string(), "text": text}}),
    )
}

pub fn part(device: &Device, job: RecordId, part_number: &str, quantity: i64) -> NewChange {
    create(
        RecordType::PartLine,
        device.client.new_record_id(),
        json!({"line": {"job_id": job.to_string(), "part_number": part_number, "quantity": quantity}}),
    )
}

pub fn photo(device: &Device, job: RecordId, sha256: &str, caption: &str) -> NewChange {
    let mut change = create(
        RecordType::Photo,
        device.client.new_record_id(),
        json!({"file": {"job_id": job.to_string(), "sha256": sha256, "caption": caption}}),
    );
    change.file_sha256 = Some(sha256.to_string());
    change
}

pub fn job_values(
    customer: RecordId,
    site: &str,
    assignee: &str,
    window_start: DateTime<Utc>,
) -> Value {
    json!({
        "schedule": {
            "customer_id": customer.to_string(),
            "site": site,
            "window_start": window_start.to_rfc3339(),
            "window_end": (window_start + chrono::Duration::hours(4)).to_rfc3339(),
            "assignee": assignee,
        },
        "description": {"summary": format!("boiler service at {site}")},
    })
}

/// Bytes that look like a photo, deterministic for a seed.
pub fn photo_bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The server seen directly.
// ---------------------------------------------------------------------------------------------

/// A signed-in line straight to the server (no proxy), for set-up and for checking.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub user: String,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "GET {path} as {}: {text}", self.user);
        serde_json::from_str(&text).unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "POST {path} as {}: {text}", self.user);
        serde_json::from_str(&text).unwrap()
    }

    pub async fn push(&self, changes: Vec<Change>) -> Vec<Outcome> {
        let answer: PushResponse = serde_json::from_value(
            self.post("/api/v1/sync/push", json!({ "changes": changes }))
                .await,
        )
        .unwrap();
        answer.outcomes
    }

    /// Pushes one change and insists it was applied.
    pub async fn apply(&self, change: Change) -> Outcome {
        let outcome = self.push(vec![change]).await.pop().unwrap();
        assert_eq!(
            outcome.status,
            fieldsync_core::OutcomeStatus::Applied,
            "{outcome:?}"
        );
        outcome
    }

    /// A customer, made by office staff or a dispatcher.
    pub async fn new_customer(&self, name: &str) -> RecordId {
        let id = RecordId(uuid::Uuid::now_v7());
        self.apply(wire_create(
            RecordType::Customer,
            id,
            json!({"profile": {"name": name, "site_address": format!("{name} HQ")}}),
        ))
        .await;
        id
    }

    /// A job assigned to `assignee`, made by a dispatcher; its number.
    pub async fn new_job(
        &self,
        customer: RecordId,
        site: &str,
        assignee: &str,
        window_start: DateTime<Utc>,
    ) -> (RecordId, String) {
        let id = RecordId(uuid::Uuid::now_v7());
        let outcome = self
            .apply(wire_create(
                RecordType::Job,
                id,
                job_values(customer, site, assignee, window_start),
            ))
            .await;
        (id, outcome.number.unwrap())
    }

    pub async fn reassign(&self, job: RecordId, to_user: &str) -> Value {
        self.post(
            &format!("/api/v1/records/job/{job}/reassign"),
            json!({"owner": {"kind": "user", "name": to_user}}),
        )
        .await
    }

    pub async fn history(&self, record_type: RecordType, id: RecordId) -> RecordHistory {
        self.get(&format!("/api/v1/records/{record_type}/{id}/history"))
            .await
    }

    pub async fn devices(&self) -> Vec<DeviceInfo> {
        self.get("/api/v1/devices").await
    }

    pub async fn review(&self) -> Vec<ReviewItem> {
        self.get("/api/v1/review").await
    }

    /// Every change in this user's scope, page by page.
    pub async fn pull_all(&self) -> PullResponse {
        let mut all: PullResponse = self.get("/api/v1/sync/pull?after=0&limit=1000").await;
        while all.more {
            let page: PullResponse = self
                .get(&format!("/api/v1/sync/pull?after={}&limit=1000", all.next))
                .await;
            all.changes.extend(page.changes);
            all.ownership.extend(page.ownership);
            all.records.extend(page.records);
            all.review = page.review;
            all.next = page.next;
            all.more = page.more;
        }
        all
    }

    /// How many times each record of a type was created on the server, by its id.
    pub async fn creates_of(
        &self,
        record_type: RecordType,
    ) -> std::collections::BTreeMap<RecordId, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for change in self.pull_all().await.changes {
            if change.record_type == record_type && change.op == Op::Create {
                *counts.entry(change.record_id).or_insert(0) += 1;
            }
        }
        counts
    }

    /// The texts of the notes on the server, each with how often it appears.
    pub async fn note_texts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for change in self.pull_all().await.changes {
            if change.record_type == RecordType::JobNote && change.op == Op::Create {
                let text = change.values["text"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                *counts.entry(text).or_insert(0) += 1;
            }
        }
        counts
    }
}

/// A create as it goes on the wire, for the office's direct pushes.
pub fn wire_create(record_type: RecordType, record_id: RecordId, values: Value) -> Change {
    Change {
        change_id: ChangeId(uuid::Uuid::now_v7()),
        record_type,
        record_id,
        group: None,
        op: Op::Create,
        base_version: 0,
        values,
        owner_epoch: 0,
        device_time: start_time(),
    }
}

/// The usual start: a customer and a job for tom, made in the office, pulled onto tom's device.
pub struct JobSetup {
    pub customer: RecordId,
    pub job: RecordId,
    pub number: String,
}

pub async fn job_for(harness: &Harness, dana: &Api, assignee: &str, site: &str) -> JobSetup {
    let olivia = harness.api("olivia").await;
    let customer = olivia.new_customer("Acme Bakery").await;
    let (job, number) = dana.new_job(customer, site, assignee, harness.now()).await;
    JobSetup {
        customer,
        job,
        number,
    }
}
