//! The test harness: a real server on 127.0.0.1 over a fresh store (SQLite, or PostgreSQL in
//! a database of its own), a user for every role, a clock the test controls, and a small HTTP
//! client with change builders.
//!
//! Every server binds port 0 first and is spawned after, so a test never waits for it to come up.
//! [`store_test!`] runs one test body on each backend, so the suite is written once.
#![allow(dead_code)]

pub mod proxy;

use chrono::{DateTime, Duration, TimeZone, Utc};
use fieldsync_core::wire::{
    ApiErrorBody, Outcome, OutcomeStatus, PullResponse, PushRequest, PushResponse, ReviewItem,
};
use fieldsync_core::wire::{LoginResponse, ResolveResponse};
use fieldsync_core::{Change, ChangeId, DeviceId, Group, Op, Policy, RecordId, RecordType, Role};
use fieldsync_server::auth::hash_password;
use fieldsync_server::store::{NewUser, RecordHistory, Store};
use fieldsync_server::{AppState, Clock, Limits, PgOptions, PgStore, SqliteStore};
use futures::{Stream, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery staple";

/// Runs a test body, `async fn name(backend: Backend)`, once on each store backend, as the
/// tests `name::sqlite` and `name::postgres`. A tokio test attribute may come first:
/// `store_test!(#[tokio::test(flavor = "multi_thread")] name);`.
#[allow(unused_macros)]
macro_rules! store_test {
    ($name:ident) => {
        $crate::common::store_test!(
            #[tokio::test]
            $name
        );
    };
    (#[$test:meta] $name:ident) => {
        mod $name {
            #[$test]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }

            #[$test]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use store_test;

/// Which store a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests use (without a database name); `FIELDSYNC_TEST_PG` overrides.
pub fn pg_server() -> String {
    std::env::var("FIELDSYNC_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// A PostgreSQL database of one test's own, dropped when the last server using it is gone.
pub struct TestDatabase {
    pub name: String,
    server: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let server = pg_server();
        let name = format!("fieldsync_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&format!("{server}/postgres"))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is not reachable at {server} ({e}); ./scripts/test starts it, or: \
                     pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
                )
            });
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        admin.close().await.unwrap();
        TestDatabase { name, server }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// How many server instances listen for each other's pokes on this database.
    pub async fn listeners(&self) -> i64 {
        let mut conn = PgConnection::connect(&self.url()).await.unwrap();
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        n
    }

    /// Waits (with a deadline) until `n` instances listen, so a test's first notice is heard.
    pub async fn wait_for_listeners(&self, n: i64) {
        let started = std::time::Instant::now();
        while self.listeners().await < n {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{n} instances did not listen within 20 s"
            );
            tokio::task::yield_now().await;
        }
    }

    /// The URL of the same database reached through another host and port (a proxy).
    pub fn url_via(&self, address: std::net::SocketAddr) -> String {
        let credentials = self
            .server
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('@'))
            .map(|(credentials, _)| format!("{credentials}@"))
            .unwrap_or_default();
        format!("postgres://{credentials}{address}/{}", self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = format!("{}/postgres", self.server);
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop may run inside the test's runtime, which cannot be blocked on: a thread of its own.
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                conn.execute(drop.as_str()).await.ok()
            })
        })
        .join();
        if !matches!(done, Ok(Some(_))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// The people of every test: (name, role, team).
pub const USERS: [(&str, Role, Option<&str>); 8] = [
    ("tom", Role::Technician, Some("north")),
    ("rita", Role::Technician, Some("north")),
    ("kai", Role::Technician, Some("south")),
    ("dana", Role::Dispatcher, Some("dispatch")),
    ("sam", Role::Supervisor, None),
    ("fiona", Role::Finance, Some("finance")),
    ("olivia", Role::Office, Some("office")),
    ("ada", Role::Admin, None),
];

/// The users of each role, in the order of [`Role::ALL`].
pub fn user_of(role: Role) -> &'static str {
    USERS
        .iter()
        .find(|(_, r, _)| *r == role)
        .map(|(name, _, _)| *name)
        .unwrap()
}

/// Argon2 is slow in a debug build: hash the one password once per test binary.
fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(PASSWORD).unwrap())
        .clone()
}

/// A clock that moves only when the test says so.
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn new(start: DateTime<Utc>) -> TestClock {
        TestClock(Mutex::new(start))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().unwrap() = to;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// The test clock's first reading: a Monday morning.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 7, 30, 0).unwrap()
}

/// How a test server is set up.
#[derive(Clone)]
pub struct Setup {
    pub backend: Backend,
    pub limits: Limits,
    /// PostgreSQL only: reach the database through a proxy the test can cut.
    pub proxied: bool,
    pub pg: PgOptions,
}

impl Setup {
    pub fn new(backend: Backend) -> Setup {
        Setup {
            backend,
            limits: Limits::default(),
            proxied: false,
            pg: PgOptions::default(),
        }
    }
}

/// A running server over its own data directory (and, on PostgreSQL, its own database).
pub struct TestServer {
    pub base: String,
    pub backend: Backend,
    pub store: Arc<dyn Store>,
    pub clock: Arc<TestClock>,
    pub limits: Limits,
    pub http: reqwest::Client,
    /// PostgreSQL only: the proxy between this server and its database, when asked for.
    pub proxy: Option<Arc<proxy::Proxy>>,
    pub database: Option<Arc<TestDatabase>>,
    pg: PgOptions,
    dir: Arc<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::start_setup(Setup::new(backend)).await
    }

    pub async fn start_with(backend: Backend, limits: Limits) -> TestServer {
        TestServer::start_setup(Setup {
            limits,
            ..Setup::new(backend)
        })
        .await
    }

    pub async fn start_setup(setup: Setup) -> TestServer {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let clock = Arc::new(TestClock::new(start_time()));
        let database = match setup.backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(Arc::new(TestDatabase::create().await)),
        };
        let proxy = match (&database, setup.proxied) {
            (Some(_), true) => Some(Arc::new(proxy::Proxy::start("127.0.0.1:5432").await)),
            _ => None,
        };
        let store = open_store(&dir, database.as_deref(), proxy.as_deref(), &setup.pg).await;
        let mut server = TestServer {
            base: String::new(),
            backend: setup.backend,
            store,
            clock,
            limits: setup.limits,
            http: reqwest::Client::new(),
            proxy,
            database,
            pg: setup.pg,
            dir,
            shutdown: None,
            task: None,
        };
        for (name, role, team) in USERS {
            server
                .store
                .add_user(
                    NewUser {
                        name: name.into(),
                        display_name: format!("{name} (test)"),
                        role,
                        team: team.map(str::to_string),
                        password_hash: password_hash(),
                    },
                    server.clock.now(),
                )
                .await
                .unwrap();
        }
        server.spawn().await;
        server
    }

    /// Another server instance on the same database, data directory and clock, on its own
    /// port: what a second `fieldsync serve` behind the same load balancer is.
    pub async fn another_instance(&self) -> TestServer {
        assert_eq!(
            self.backend,
            Backend::Postgres,
            "one SQLite file serves one instance"
        );
        let store = open_store(&self.dir, self.database.as_deref(), None, &self.pg).await;
        let mut server = TestServer {
            base: String::new(),
            backend: self.backend,
            store,
            clock: self.clock.clone(),
            limits: self.limits.clone(),
            http: reqwest::Client::new(),
            proxy: None,
            database: self.database.clone(),
            pg: self.pg.clone(),
            dir: self.dir.clone(),
            shutdown: None,
            task: None,
        };
        server.spawn().await;
        server
    }

    pub fn files_dir(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    /// Binds a fresh port and serves the current store on it.
    async fn spawn(&mut self) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(
            self.store.clone(),
            Policy::default_policy(),
            self.files_dir(),
            self.clock.clone(),
            self.limits.clone(),
        );
        let (tx, rx) = oneshot::channel::<()>();
        self.shutdown = Some(tx);
        self.task = Some(tokio::spawn(fieldsync_server::serve(
            listener,
            state,
            async move {
                let _ = rx.await;
            },
        )));
    }

    /// Asks the server to stop; the serve future's handle, to await.
    pub fn trigger_shutdown(&mut self) -> JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().unwrap()
    }

    /// Stops the server, waiting (with a deadline) for the serve future to return.
    pub async fn stop(&mut self) {
        let task = self.trigger_shutdown();
        tokio::time::timeout(std::time::Duration::from_secs(20), task)
            .await
            .expect("the server did not stop within 20 s")
            .unwrap()
            .unwrap();
        self.store.close().await;
    }

    /// Stops the server and starts a new one on the same store and a new port.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.store = open_store(
            &self.dir,
            self.database.as_deref(),
            self.proxy.as_deref(),
            &self.pg,
        )
        .await;
        self.spawn().await;
    }

    pub async fn login(&self, user: &str) -> Client {
        self.login_device(user, &format!("{user}'s device")).await
    }

    pub async fn login_device(&self, user: &str, device: &str) -> Client {
        let response = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"username": user, "password": PASSWORD, "device_name": device}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "login as {user}");
        let body: LoginResponse = response.json().await.unwrap();
        assert_eq!(body.user.name, user);
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            token: body.token,
            device_id: body.device_id,
            user: user.to_string(),
        }
    }

    /// Everyone signed in, one device each.
    pub async fn everyone(&self) -> People {
        People {
            tom: self.login("tom").await,
            rita: self.login("rita").await,
            kai: self.login("kai").await,
            dana: self.login("dana").await,
            sam: self.login("sam").await,
            fiona: self.login("fiona").await,
            olivia: self.login("olivia").await,
            ada: self.login("ada").await,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with no token at all.
    pub fn anonymous(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path))
    }

    pub async fn max_seq(&self) -> i64 {
        self.store.max_seq().await.unwrap()
    }
}

/// Opens the store of a test server: the SQLite file in its directory, or its PostgreSQL
/// database (through the proxy, if it has one).
async fn open_store(
    dir: &TempDir,
    database: Option<&TestDatabase>,
    proxy: Option<&proxy::Proxy>,
    pg: &PgOptions,
) -> Arc<dyn Store> {
    match database {
        None => Arc::new(
            SqliteStore::open(&dir.path().join("fieldsync.db"))
                .await
                .unwrap(),
        ),
        Some(db) => {
            let url = match proxy {
                Some(proxy) => db.url_via(proxy.address()),
                None => db.url(),
            };
            Arc::new(PgStore::connect_with(&url, pg.clone()).await.unwrap())
        }
    }
}

/// One signed-in device of each person.
pub struct People {
    pub tom: Client,
    pub rita: Client,
    pub kai: Client,
    pub dana: Client,
    pub sam: Client,
    pub fiona: Client,
    pub olivia: Client,
    pub ada: Client,
}

impl People {
    pub fn by_role(&self, role: Role) -> &Client {
        match role {
            Role::Technician => &self.tom,
            Role::Dispatcher => &self.dana,
            Role::Supervisor => &self.sam,
            Role::Finance => &self.fiona,
            Role::Office => &self.olivia,
            Role::Admin => &self.ada,
        }
    }

    pub fn office(&self) -> [&Client; 5] {
        [&self.dana, &self.sam, &self.fiona, &self.olivia, &self.ada]
    }
}

/// A signed-in device.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub device_id: DeviceId,
    pub user: String,
}

impl Client {
    /// The same device (same token) talking to another server instance.
    pub fn via(&self, server: &TestServer) -> Client {
        Client {
            base: server.base.clone(),
            ..self.clone()
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.request(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Posts a body as it is, with a JSON content type, for malformed input.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.request(Method::POST, path)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Pushes and insists on a 200; the outcomes, one per change.
    pub async fn push(&self, changes: Vec<Change>) -> Vec<Outcome> {
        let count = changes.len();
        let response = self
            .request(Method::POST, "/api/v1/sync/push")
            .json(&PushRequest { changes })
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "push by {}: {text}", self.user);
        let outcomes = serde_json::from_str::<PushResponse>(&text)
            .unwrap()
            .outcomes;
        assert_eq!(outcomes.len(), count, "one outcome per change");
        outcomes
    }

    pub async fn push_one(&self, change: Change) -> Outcome {
        self.push(vec![change]).await.pop().unwrap()
    }

    /// Pushes one change and insists it was applied.
    pub async fn apply(&self, change: Change) -> Outcome {
        let what = format!(
            "{} {} {:?}",
            change.op.as_str(),
            change.record_type,
            change.group
        );
        let outcome = self.push_one(change).await;
        assert_eq!(
            outcome.status,
            OutcomeStatus::Applied,
            "{what} by {}: {outcome:?}",
            self.user
        );
        outcome
    }

    pub async fn pull(&self, after: i64) -> PullResponse {
        self.pull_with(&[("after", after.to_string())]).await
    }

    pub async fn pull_with(&self, query: &[(&str, String)]) -> PullResponse {
        let response = self
            .request(Method::GET, "/api/v1/sync/pull")
            .query(query)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "pull by {}: {text}", self.user);
        serde_json::from_str(&text).unwrap()
    }

    /// Every change in scope, page by page.
    pub async fn pull_all(&self) -> PullResponse {
        let mut all = self.pull(0).await;
        while all.more {
            let page = self.pull(all.next).await;
            all.changes.extend(page.changes);
            all.ownership.extend(page.ownership);
            all.records.extend(page.records);
            all.review = page.review;
            all.next = page.next;
            all.more = page.more;
        }
        all
    }

    pub async fn history(&self, record_type: RecordType, id: RecordId) -> RecordHistory {
        let response = self
            .get(&format!("/api/v1/records/{record_type}/{id}/history"))
            .await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "history by {}: {text}", self.user);
        serde_json::from_str(&text).unwrap()
    }

    pub async fn review(&self) -> Vec<ReviewItem> {
        let response = self.get("/api/v1/review").await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    pub async fn resolve_raw(
        &self,
        review_id: impl std::fmt::Display,
        body: Value,
    ) -> reqwest::Response {
        self.post(&format!("/api/v1/review/{review_id}/resolve"), body)
            .await
    }

    pub async fn resolve(&self, review_id: impl std::fmt::Display, body: Value) -> ResolveResponse {
        let response = self.resolve_raw(review_id, body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "resolve by {}: {text}", self.user);
        serde_json::from_str(&text).unwrap()
    }

    pub async fn reassign(&self, job: RecordId, to_user: &str) -> reqwest::Response {
        self.post(
            &format!("/api/v1/records/job/{job}/reassign"),
            json!({"owner": {"kind": "user", "name": to_user}}),
        )
        .await
    }

    pub async fn reopen(&self, job: RecordId, reason: &str) -> reqwest::Response {
        self.post(
            &format!("/api/v1/records/job/{job}/reopen"),
            json!({"reason": reason}),
        )
        .await
    }

    /// A customer created by this person (office staff, a dispatcher or a supervisor).
    pub async fn new_customer(&self, name: &str) -> RecordId {
        let id = new_id();
        self.apply(create(
            RecordType::Customer,
            id,
            json!({"profile": {"name": name, "site_address": format!("{name} HQ")},
                   "billing": {"billing_contact": "Accounts"}}),
        ))
        .await;
        id
    }

    /// A job for a customer, at a site of its own so it never looks like a duplicate.
    pub async fn new_job(&self, customer: RecordId, assignee: &str) -> RecordId {
        let site = format!("site {}", Uuid::new_v4());
        self.new_job_at(customer, &site, assignee, start_time())
            .await
    }

    pub async fn new_job_at(
        &self,
        customer: RecordId,
        site: &str,
        assignee: &str,
        window_start: DateTime<Utc>,
    ) -> RecordId {
        let id = new_id();
        self.apply(create(
            RecordType::Job,
            id,
            job_values(customer, site, Some(assignee), window_start),
        ))
        .await;
        id
    }

    /// A note on a job, by this person.
    pub async fn new_note(&self, job: RecordId, text: &str) -> RecordId {
        let id = new_id();
        self.apply(create(
            RecordType::JobNote,
            id,
            json!({"text": {"job_id": job.to_string(), "text": text}}),
        ))
        .await;
        id
    }

    pub async fn new_part_line(&self, job: RecordId, part: &str, quantity: i64) -> RecordId {
        let id = new_id();
        self.apply(create(
            RecordType::PartLine,
            id,
            json!({"line": {"job_id": job.to_string(), "part_number": part, "quantity": quantity}}),
        ))
        .await;
        id
    }

    /// Opens a server-sent event stream.
    pub async fn events(&self) -> Events {
        let response = self.get("/api/v1/events").await;
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Events {
            stream: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// `bytes_stream`'s chunks; axum re-exports the same `Bytes` type reqwest uses.
type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>;

/// A server-sent event stream, read with a deadline.
pub struct Events {
    stream: ByteStream,
    buffer: String,
}

impl Events {
    /// The next event (keep-alive comments skipped), `None` once the server closed the stream.
    /// Panics if nothing arrives within `within`.
    pub async fn next(&mut self, within: std::time::Duration) -> Option<SseEvent> {
        tokio::time::timeout(within, self.next_event())
            .await
            .expect("no server-sent event arrived before the deadline")
    }

    async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: String::new(),
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event.event = name.trim().to_string();
                    } else if let Some(data) = line.strip_prefix("data:") {
                        event.data.push_str(data.trim_start());
                    }
                }
                if !event.event.is_empty() || !event.data.is_empty() {
                    return Some(event);
                }
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => self
                    .buffer
                    .push_str(&String::from_utf8_lossy(chunk.as_ref())),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next `poke`'s sequence number.
    pub async fn next_poke(&mut self, within: std::time::Duration) -> i64 {
        let event = self.next(within).await.expect("the event stream closed");
        assert_eq!(event.event, "poke", "{event:?}");
        let data: Value = serde_json::from_str(&event.data).unwrap();
        data["seq"].as_i64().unwrap()
    }
}

/// Reads an error answer: its status and its `{code, message}` body.
pub async fn expect_error(
    response: reqwest::Response,
    status: StatusCode,
    code: &str,
) -> ApiErrorBody {
    let got = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "answer: {text}");
    let body: ApiErrorBody =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not an error body ({e}): {text}"));
    assert_eq!(body.code, code, "answer: {text}");
    assert!(!body.message.is_empty(), "an error says what to do");
    body
}

pub fn new_id() -> RecordId {
    RecordId(Uuid::now_v7())
}

pub fn change(
    record_type: RecordType,
    record_id: RecordId,
    group: Option<Group>,
    op: Op,
    base_version: i64,
    values: Value,
    owner_epoch: i64,
) -> Change {
    Change {
        change_id: ChangeId(Uuid::now_v7()),
        record_type,
        record_id,
        group,
        op,
        base_version,
        values,
        owner_epoch,
        device_time: Utc::now(),
    }
}

/// A create: every group's first values, base 0.
pub fn create(record_type: RecordType, record_id: RecordId, values: Value) -> Change {
    change(record_type, record_id, None, Op::Create, 0, values, 0)
}

/// An update made under the first ownership epoch.
pub fn update(
    record_type: RecordType,
    record_id: RecordId,
    group: Group,
    base_version: i64,
    values: Value,
) -> Change {
    change(
        record_type,
        record_id,
        Some(group),
        Op::Update,
        base_version,
        values,
        1,
    )
}

/// A job status change under the first ownership epoch.
pub fn status(job: RecordId, base_version: i64, state: &str) -> Change {
    update(
        RecordType::Job,
        job,
        Group::Status,
        base_version,
        json!({ "state": state }),
    )
}

pub fn void(
    record_type: RecordType,
    record_id: RecordId,
    base_version: i64,
    reason: &str,
) -> Change {
    change(
        record_type,
        record_id,
        Some(Group::Status),
        Op::Void,
        base_version,
        json!({ "reason": reason }),
        1,
    )
}

pub fn job_values(
    customer: RecordId,
    site: &str,
    assignee: Option<&str>,
    window_start: DateTime<Utc>,
) -> Value {
    let mut schedule = json!({
        "customer_id": customer.to_string(),
        "site": site,
        "window_start": window_start.to_rfc3339(),
        "window_end": (window_start + Duration::hours(4)).to_rfc3339(),
    });
    if let Some(assignee) = assignee {
        schedule["assignee"] = json!(assignee);
    }
    json!({"schedule": schedule, "description": {"summary": format!("work at {site}")}})
}

/// The ids of the records a pull's changes touch.
pub fn record_ids(pull: &PullResponse) -> std::collections::BTreeSet<RecordId> {
    pull.changes.iter().map(|c| c.record_id).collect()
}
