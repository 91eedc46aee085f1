//! `fieldsync serve` on PostgreSQL as an operator runs it: several server processes on one
//! database with devices spread across them, `migrate-store` from a SQLite file (tokens keep
//! working), and a clear refusal when the database cannot be reached. Each test makes its own
//! database on the PostgreSQL at 127.0.0.1:5432 (`FIELDSYNC_TEST_PG` overrides) and drops it.
#![allow(clippy::unwrap_used)]

use chrono::Utc;
use fieldsync_core::wire::{
    LoginResponse, Outcome, OutcomeStatus, PullResponse, PushRequest, PushResponse, ReviewItem,
};
use fieldsync_core::{Change, ChangeId, Group, Op, RecordId, RecordType};
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

const PASSWORD: &str = "a long enough password";

fn pg_server() -> String {
    std::env::var("FIELDSYNC_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// A database of the test's own, dropped at the end.
struct TestDatabase {
    name: String,
}

impl TestDatabase {
    async fn create() -> TestDatabase {
        let name = format!("fieldsync_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&format!("{}/postgres", pg_server()))
            .await
            .expect("PostgreSQL is not running: ./scripts/test starts it");
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        TestDatabase { name }
    }

    fn url(&self) -> String {
        format!("{}/{}", pg_server(), self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&format!("{}/postgres", pg_server()))
                    .await
                    .ok()?;
                admin.execute(drop.as_str()).await.ok()
            })
        })
        .join();
    }
}

fn fieldsync() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fieldsync"));
    command
        .env("FIELDSYNC_LOG", "warn")
        .env_remove("RUST_BACKTRACE");
    command
}

async fn add_user(database: &str, name: &str, role: &str, team: Option<&str>) {
    let mut args = vec!["user", "add", name, "--role", role, "--password-stdin"];
    if let Some(team) = team {
        args.extend(["--team", team]);
    }
    args.extend(["--database", database]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args(&args)
        .env("FIELDSYNC_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Drops terminal colour codes, so a log line reads as plain text.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A running `fieldsync serve` process, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts a server on a port the OS picks and learns it from the server's log.
    async fn start(database: &str, data_dir: &Path) -> Server {
        let mut child = fieldsync()
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--database", database])
            .env("FIELDSYNC_LOG", "warn,fieldsync=info")
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let line = plain(&line);
                if line.contains("fieldsync server listening") {
                    let address = line
                        .split_whitespace()
                        .find_map(|word| word.strip_prefix("address="))
                        .unwrap()
                        .to_string();
                    return address;
                }
            }
            panic!("the server exited before it listened");
        })
        .await
        .expect("the server did not listen within 60 s");
        // Keep reading the log so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server {
            child,
            base: format!("http://{address}"),
        }
    }

    /// Stops the server as an operator would (SIGTERM), waiting for it to finish.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the server did not stop within 30 s")
            .unwrap();
        assert!(status.success(), "the server stopped with {status}");
    }
}

/// A signed-in device talking to one server instance.
#[derive(Clone)]
struct Device {
    http: reqwest::Client,
    base: String,
    token: String,
    user: String,
}

impl Device {
    async fn login(server: &Server, user: &str, name: &str) -> Device {
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{}/api/v1/auth/login", server.base))
            .json(&json!({"username": user, "password": PASSWORD, "device_name": name}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "login as {user}");
        let body: LoginResponse = response.json().await.unwrap();
        Device {
            http,
            base: server.base.clone(),
            token: body.token,
            user: user.to_string(),
        }
    }

    /// The same device (same token) talking to another instance.
    fn via(&self, server: &Server) -> Device {
        Device {
            base: server.base.clone(),
            ..self.clone()
        }
    }

    async fn push(&self, changes: Vec<Change>) -> Vec<Outcome> {
        let response = self
            .http
            .post(format!("{}/api/v1/sync/push", self.base))
            .bearer_auth(&self.token)
            .json(&PushRequest { changes })
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "push by {}: {text}", self.user);
        serde_json::from_str::<PushResponse>(&text)
            .unwrap()
            .outcomes
    }

    async fn push_one(&self, change: Change) -> Outcome {
        self.push(vec![change]).await.pop().unwrap()
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "GET {path} by {}: {text}", self.user);
        serde_json::from_str(&text).unwrap()
    }

    async fn pull(&self, after: i64, limit: i64) -> PullResponse {
        self.get(&format!("/api/v1/sync/pull?after={after}&limit={limit}"))
            .await
    }
}

fn change(
    record_type: RecordType,
    record_id: RecordId,
    group: Option<Group>,
    op: Op,
    base_version: i64,
    values: Value,
) -> Change {
    Change {
        change_id: ChangeId(Uuid::now_v7()),
        record_type,
        record_id,
        group,
        op,
        base_version,
        values,
        owner_epoch: if op == Op::Create { 0 } else { 1 },
        device_time: Utc::now(),
    }
}

fn new_id() -> RecordId {
    RecordId(Uuid::now_v7())
}

fn job_create(customer: RecordId, site: &str) -> Change {
    change(
        RecordType::Job,
        new_id(),
        None,
        Op::Create,
        0,
        json!({"schedule": {"customer_id": customer.to_string(), "site": site, "assignee": "tom",
                            "window_start": "2025-03-03T08:00:00Z", "window_end": "2025-03-03T12:00:00Z"},
               "description": {"summary": format!("work at {site}")}}),
    )
}

fn note(job: RecordId, text: &str) -> Change {
    change(
        RecordType::JobNote,
        new_id(),
        None,
        Op::Create,
        0,
        json!({"text": {"job_id": job.to_string(), "text": text}}),
    )
}

/// The same JSON with every timestamp at microseconds: PostgreSQL keeps times to the
/// microsecond, SQLite as the server wrote them.
fn to_micros(value: &Value) -> Value {
    match value {
        Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(time) => Value::String(
                chrono::SubsecRound::trunc_subsecs(time.with_timezone(&Utc), 6)
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            ),
            Err(_) => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(to_micros).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), to_micros(v))).collect())
        }
        other => other.clone(),
    }
}

/// A device's local copy of what it pulled: every record's groups at their versions.
type Cache = BTreeMap<RecordId, BTreeMap<String, (i64, Value)>>;

/// Pulls everything in small pages, each from the next instance, into a cache; the change ids
/// seen, in order.
async fn pull_into_cache(device: &Device, servers: &[&Server]) -> (Cache, Vec<ChangeId>) {
    let mut cache = Cache::new();
    let mut seen = Vec::new();
    let mut after = 0;
    for page_number in 0.. {
        let page = device
            .via(servers[page_number % servers.len()])
            .pull(after, 9)
            .await;
        for pulled in &page.changes {
            seen.push(pulled.change_id);
            let groups = cache.entry(pulled.record_id).or_default();
            match (pulled.op, pulled.group) {
                (Op::Create, _) => {
                    for (group, values) in pulled.values.as_object().unwrap() {
                        groups.insert(group.clone(), (1, values.clone()));
                    }
                }
                (_, Some(group)) => {
                    groups.insert(
                        group.as_str().to_string(),
                        (pulled.version, pulled.values.clone()),
                    );
                }
                (_, None) => panic!("an update without a group: {pulled:?}"),
            }
        }
        after = page.next;
        if !page.more {
            break;
        }
    }
    (cache, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_serve_processes_on_one_database_agree_on_everything() {
    let db = TestDatabase::create().await;
    let url = db.url();
    let data = tempfile::tempdir().unwrap();
    add_user(&url, "olivia", "office", Some("office")).await;
    add_user(&url, "dana", "dispatcher", Some("dispatch")).await;
    add_user(&url, "sam", "supervisor", None).await;
    add_user(&url, "tom", "technician", Some("north")).await;
    let (a, b, c) = tokio::join!(
        Server::start(&url, data.path()),
        Server::start(&url, data.path()),
        Server::start(&url, data.path())
    );
    let servers = [&a, &b, &c];

    let olivia = Device::login(&a, "olivia", "office pc").await;
    let dana = Device::login(&b, "dana", "dispatch desk").await;
    let sam = Device::login(&c, "sam", "supervisor tablet").await;
    let laptop = Device::login(&a, "sam", "supervisor laptop").await;
    let tom = Device::login(&a, "tom", "Tom's tablet").await;
    let phone = Device::login(&b, "tom", "Tom's phone").await;

    let customer = new_id();
    let created = olivia
        .push_one(change(
            RecordType::Customer,
            customer,
            None,
            Op::Create,
            0,
            json!({"profile": {"name": "Harbour View"}, "billing": {"billing_contact": "Accounts"}}),
        ))
        .await;
    assert_eq!(created.status, OutcomeStatus::Applied);

    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut jobs = Vec::new();
    for round in 0..5 {
        let create = job_create(customer, &format!("{round} Quay Street"));
        let job = create.record_id;
        jobs.push(job);
        assert_eq!(dana.push_one(create).await.status, OutcomeStatus::Applied);

        // Three devices on three instances change the job's status at once (manual review);
        // the office and the technician edit its description (last write wins); the
        // technician's phone adds notes and, its reply lost, sends one again to another
        // instance while the first is still judging it.
        let status = |state: &str| {
            change(
                RecordType::Job,
                job,
                Some(Group::Status),
                Op::Update,
                1,
                json!({"state": state}),
            )
        };
        let summary = |text: &str| {
            change(
                RecordType::Job,
                job,
                Some(Group::Description),
                Op::Update,
                1,
                json!({"summary": text}),
            )
        };
        let resent = note(job, &format!("round {round}: parts ordered"));
        let (tom_c, phone_c) = (tom.via(&c), phone.via(&c));
        let attempts = vec![
            tom.push_one(status("opened")),
            phone.push_one(status("in_progress")),
            sam.push_one(status("paused")),
        ];
        let edits = vec![
            dana.push_one(summary("office says: bring a ladder")),
            tom_c.push_one(summary("field says: ladder on site")),
            phone.push_one(note(job, &format!("round {round}: arrived"))),
            phone.push_one(resent.clone()),
            phone_c.push_one(resent.clone()),
        ];
        let (attempts, edits) = tokio::join!(
            futures::future::join_all(attempts),
            futures::future::join_all(edits)
        );
        let applied = attempts
            .iter()
            .filter(|o| o.status == OutcomeStatus::Applied)
            .count();
        let held = attempts
            .iter()
            .filter(|o| o.status == OutcomeStatus::Held && o.code.as_deref() == Some("conflict"))
            .count();
        assert_eq!((applied, held), (1, 2), "round {round}: {attempts:?}");
        assert!(
            edits.iter().all(|o| o.status == OutcomeStatus::Applied),
            "{edits:?}"
        );
        let (first, second) = (&edits[3], &edits[4]);
        assert_eq!(
            (first.seq, &first.number),
            (second.seq, &second.number),
            "one change, one answer"
        );
        assert!(
            first.replayed != second.replayed,
            "applied once: {first:?} {second:?}"
        );
        outcomes.extend(attempts);
        outcomes.extend(edits);
    }

    // Every collision is in the review inbox, whichever instance is asked.
    for server in servers {
        let inbox: Vec<ReviewItem> = sam.via(server).get("/api/v1/review").await;
        let conflicts = inbox.iter().filter(|i| jobs.contains(&i.record_id)).count();
        assert_eq!(conflicts, 10);
    }

    // Every office device, pulling page by page from all instances, ends with the same cache,
    // each change once; the technician's devices end with the same view of their jobs.
    let (office, office_seen) = pull_into_cache(&olivia, &servers).await;
    for device in [&dana, &sam, &laptop] {
        let (cache, seen) = pull_into_cache(device, &servers).await;
        assert_eq!(
            seen, office_seen,
            "{} saw the log in another order",
            device.user
        );
        assert_eq!(cache, office, "{}'s cache differs", device.user);
    }
    let unique: BTreeSet<&ChangeId> = office_seen.iter().collect();
    assert_eq!(unique.len(), office_seen.len(), "a change pulled twice");
    for outcome in &outcomes {
        let pulled = office_seen.contains(&outcome.change_id);
        assert_eq!(
            pulled,
            outcome.status == OutcomeStatus::Applied,
            "applied changes are pulled, held ones are not: {outcome:?}"
        );
    }
    let (tom_cache, _) = pull_into_cache(&tom, &servers).await;
    let (phone_cache, _) = pull_into_cache(&phone, &servers).await;
    assert_eq!(tom_cache, phone_cache);
    for (record, groups) in &tom_cache {
        assert_eq!(
            office.get(record),
            Some(groups),
            "the technician's copy of {record}"
        );
    }
    for job in &jobs {
        assert!(tom_cache.contains_key(job));
    }

    for server in [a, b, c] {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_store_copies_a_company_to_postgres_and_tokens_keep_working() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("fieldsync.db");
    let sqlite = format!("sqlite:{}", file.display());
    add_user(&sqlite, "olivia", "office", Some("office")).await;
    add_user(&sqlite, "dana", "dispatcher", Some("dispatch")).await;
    add_user(&sqlite, "sam", "supervisor", None).await;
    add_user(&sqlite, "tom", "technician", Some("north")).await;
    add_user(&sqlite, "rita", "technician", Some("north")).await;

    // A company's history on the embedded store: records, a conflict in the inbox, a
    // reassignment, a possible duplicate, an upload's metadata.
    let server = Server::start(&sqlite, data.path()).await;
    let olivia = Device::login(&server, "olivia", "office pc").await;
    let dana = Device::login(&server, "dana", "dispatch desk").await;
    let sam = Device::login(&server, "sam", "supervisor tablet").await;
    let tom = Device::login(&server, "tom", "Tom's tablet").await;
    let customer = new_id();
    olivia
        .push_one(change(
            RecordType::Customer,
            customer,
            None,
            Op::Create,
            0,
            json!({"profile": {"name": "Harbour View"}, "billing": {"billing_contact": "Accounts"}}),
        ))
        .await;
    let create = job_create(customer, "1 Quay Street");
    let job = create.record_id;
    dana.push_one(create).await;
    let twin = job_create(customer, "1 Quay Street");
    let flagged = dana.push_one(twin).await;
    assert!(flagged.flags.contains(&"possible_duplicate".to_string()));
    sam.push_one(change(
        RecordType::Job,
        job,
        Some(Group::Status),
        Op::Update,
        1,
        json!({"state": "in_progress"}),
    ))
    .await;
    let held = tom
        .push_one(change(
            RecordType::Job,
            job,
            Some(Group::Status),
            Op::Update,
            1,
            json!({"state": "opened"}),
        ))
        .await;
    assert_eq!(held.status, OutcomeStatus::Held);
    let notes: Vec<Change> = (0..30).map(|i| note(job, &format!("note {i}"))).collect();
    tom.push(notes).await;
    let moved = dana
        .http
        .post(format!("{}/api/v1/records/job/{job}/reassign", server.base))
        .bearer_auth(&dana.token)
        .json(&json!({"owner": {"kind": "user", "name": "rita"}}))
        .send()
        .await
        .unwrap();
    assert!(moved.status().is_success());
    let upload = tom
        .http
        .patch(format!("{}/api/v1/files/{}", server.base, "ab".repeat(32)))
        .bearer_auth(&tom.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Upload-Length", "10")
        .header("Content-Type", "application/offset+octet-stream")
        .body(vec![1u8; 4])
        .send()
        .await
        .unwrap();
    assert!(upload.status().is_success(), "{}", upload.status());
    let before_sam: PullResponse = sam.get("/api/v1/sync/pull?after=0&limit=1000").await;
    let before_devices: Value = sam.get("/api/v1/devices").await;
    let before_history: Value = sam.get(&format!("/api/v1/records/job/{job}/history")).await;
    server.stop().await;

    let db = TestDatabase::create().await;
    let out = fieldsync()
        .args(["migrate-store", "--from", &sqlite, "--to", &db.url()])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("done:"), "{stdout}");
    for table in [
        "users",
        "devices",
        "records",
        "changes",
        "review_items",
        "files",
    ] {
        assert!(stdout.contains(&format!("checked {table}")), "{stdout}");
    }

    // A second copy into the same database is refused: it is not empty any more.
    let again = fieldsync()
        .args(["migrate-store", "--from", &sqlite, "--to", &db.url()])
        .output()
        .await
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a store"));

    // The same devices, with the tokens they had, see the same company on PostgreSQL.
    let server = Server::start(&db.url(), data.path()).await;
    let (sam, tom) = (sam.via(&server), tom.via(&server));
    let after_sam: PullResponse = sam.get("/api/v1/sync/pull?after=0&limit=1000").await;
    assert_eq!(
        to_micros(&serde_json::to_value(&after_sam.changes).unwrap()),
        to_micros(&serde_json::to_value(&before_sam.changes).unwrap())
    );
    assert_eq!(after_sam.review.len(), before_sam.review.len());
    assert_eq!(after_sam.ownership.len(), before_sam.ownership.len());
    let after_devices: Value = sam.get("/api/v1/devices").await;
    assert_eq!(
        after_devices.as_array().unwrap().len(),
        before_devices.as_array().unwrap().len()
    );
    let after_history: Value = sam.get(&format!("/api/v1/records/job/{job}/history")).await;
    assert_eq!(
        to_micros(&after_history["entries"]),
        to_micros(&before_history["entries"])
    );
    assert_eq!(after_history["record"], before_history["record"]);
    // The upload resumes where it stood, and the next human numbers follow on.
    let head = tom
        .http
        .head(format!("{}/api/v1/files/{}", server.base, "ab".repeat(32)))
        .bearer_auth(&tom.token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["upload-offset"], "4");
    let next = dana
        .via(&server)
        .push_one(job_create(customer, "2 Quay Street"))
        .await;
    assert_eq!(next.number.as_deref(), Some("J-000003"));
    let tom_pull = tom.pull(0, 1000).await;
    assert!(tom_pull.changes.iter().any(|c| c.record_id == customer));
    server.stop().await;
}

#[tokio::test]
async fn serve_refuses_to_start_when_the_database_cannot_be_reached() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let data = tempfile::tempdir().unwrap();
    let out = fieldsync()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args([
            "--database",
            &format!("postgres://fieldsync:secret@127.0.0.1:{port}/fieldsync"),
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot open the PostgreSQL store at postgres://fieldsync:***@127.0.0.1:{port}/fieldsync"
        )),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert!(
        !err.contains("secret"),
        "the password stays out of messages: {err}"
    );
}

#[tokio::test]
async fn the_push_benchmark_compares_sqlite_with_postgres_on_one_and_two_instances() {
    let out = fieldsync()
        .args([
            "bench",
            "push",
            "--devices",
            "2",
            "--batches",
            "2",
            "--batch-size",
            "5",
            "--compare",
            "--database",
            &format!("{}/postgres", pg_server()),
        ])
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header = said
        .lines()
        .find(|l| l.contains("SQLite") && l.contains("PostgreSQL x1"))
        .unwrap_or_else(|| panic!("no table header in {said}"));
    assert!(header.contains("PostgreSQL x2"), "{header}");
    for row in [
        "push rate (changes/s)",
        "batch latency p50 (ms)",
        "server CPU per change (µs)",
        "database CPU per change (µs)",
        "raw insert rate (rows/s)",
    ] {
        let line = said
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no `{row}` in {said}"));
        let cells = line.strip_prefix(row).unwrap_or_default();
        assert_eq!(cells.split_whitespace().count(), 3, "{line}");
    }
    assert!(said.contains("20 changes"), "{said}");
}

/// The network between a sync client and three server instances behind a load balancer: each
/// call goes to the next instance, and every other push (the first, the third, ...) loses its
/// reply after the instance committed it, so the client sends it again, to another instance.
struct Spread {
    instances: Vec<fieldsync_client::HttpTransport>,
    turn: std::sync::atomic::AtomicUsize,
    pushes: std::sync::atomic::AtomicUsize,
    lost: std::sync::atomic::AtomicUsize,
}

impl Spread {
    fn new(servers: &[&Server], start: usize) -> Spread {
        Spread {
            instances: servers
                .iter()
                .map(|s| fieldsync_client::HttpTransport::new(&s.base).unwrap())
                .collect(),
            turn: start.into(),
            pushes: 0.into(),
            lost: 0.into(),
        }
    }

    fn next(&self) -> &fieldsync_client::HttpTransport {
        let turn = self.turn.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        &self.instances[turn % self.instances.len()]
    }
}

type TransportResult<T> = Result<T, fieldsync_client::TransportError>;

/// Each request goes to the next instance; every other push's answer is lost after the
/// instance committed it (the client sends it again, to another instance).
#[async_trait::async_trait]
impl fieldsync_client::Transport for Spread {
    async fn exchange(
        &self,
        call: fieldsync_client::transport::HttpCall,
    ) -> TransportResult<fieldsync_client::transport::HttpAnswer> {
        use std::sync::atomic::Ordering::SeqCst;
        let is_push = call.path == "/api/v1/sync/push";
        let answer = self.next().exchange(call).await;
        if is_push {
            let n = self.pushes.fetch_add(1, SeqCst) + 1;
            if answer.as_ref().is_ok_and(|a| a.status == 200) && n % 2 == 1 {
                self.lost.fetch_add(1, SeqCst);
                return Err(fieldsync_client::TransportError::Unreachable(
                    "the connection broke before the answer arrived".into(),
                ));
            }
        }
        answer
    }

    async fn events(
        &self,
        token: &str,
    ) -> TransportResult<futures::stream::BoxStream<'static, i64>> {
        self.next().events(token).await
    }
}

/// A sync client of one person, its calls spread over the instances.
struct Field {
    client: fieldsync_client::SyncClient,
    network: std::sync::Arc<Spread>,
}

impl Field {
    async fn start(dir: &Path, servers: &[&Server], user: &str, device: &str, seed: u64) -> Field {
        let network = std::sync::Arc::new(Spread::new(servers, seed as usize));
        let client = fieldsync_client::SyncClient::open(
            &dir.join(format!("{device}.db")),
            network.clone(),
            std::sync::Arc::new(fieldsync_client::SystemClock),
            fieldsync_client::ClientConfig::new(device, &dir.join(device), seed),
        )
        .await
        .unwrap();
        client.login(user, PASSWORD).await.unwrap();
        Field { client, network }
    }

    async fn save(
        &self,
        record_type: RecordType,
        record_id: RecordId,
        group: Option<Group>,
        op: Op,
        values: Value,
    ) {
        self.client
            .save(fieldsync_client::NewChange {
                change_id: None,
                record_type,
                record_id,
                group,
                op,
                values,
                file_sha256: None,
            })
            .await
            .unwrap();
    }

    /// "Sync now" until the outbox is empty (a lost reply leaves the change in it).
    async fn settle(&self) {
        let started = std::time::Instant::now();
        loop {
            self.client.sync_now().await.unwrap();
            let status = self.client.status().await.unwrap();
            if status.changes.pending == 0 {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the outbox did not settle: {status:?}"
            );
        }
    }

    /// Every record this device holds, with its groups as the server confirmed them.
    async fn cache(&self) -> BTreeMap<RecordId, BTreeMap<Group, (i64, Value)>> {
        let mut out = BTreeMap::new();
        for t in [RecordType::Customer, RecordType::Job, RecordType::JobNote] {
            for view in self.client.records(t).await.unwrap() {
                out.insert(view.record.record_id, view.record.groups);
            }
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sync_clients_spread_over_three_instances_through_lost_replies_converge() {
    let db = TestDatabase::create().await;
    let url = db.url();
    let data = tempfile::tempdir().unwrap();
    for (name, role, team) in [
        ("olivia", "office", Some("office")),
        ("dana", "dispatcher", Some("dispatch")),
        ("sam", "supervisor", None),
        ("tom", "technician", Some("north")),
    ] {
        add_user(&url, name, role, team).await;
    }
    let (a, b, c) = tokio::join!(
        Server::start(&url, data.path()),
        Server::start(&url, data.path()),
        Server::start(&url, data.path())
    );
    let servers = [&a, &b, &c];
    let devices = tempfile::tempdir().unwrap();
    let dir = devices.path();
    let olivia = Field::start(dir, &servers, "olivia", "office pc", 1).await;
    let dana = Field::start(dir, &servers, "dana", "dispatch desk", 2).await;
    let sam = Field::start(dir, &servers, "sam", "supervisor tablet", 3).await;
    let phone = Field::start(dir, &servers, "tom", "Tom's phone", 4).await;
    let tablet = Field::start(dir, &servers, "tom", "Tom's tablet", 5).await;

    let customer = new_id();
    olivia
        .save(
            RecordType::Customer,
            customer,
            None,
            Op::Create,
            json!({"profile": {"name": "Harbour View"}, "billing": {"billing_contact": "Accounts"}}),
        )
        .await;
    olivia.settle().await;
    let mut jobs = Vec::new();
    for i in 0..4 {
        let create = job_create(customer, &format!("{i} Quay Street"));
        jobs.push(create.record_id);
        dana.save(
            RecordType::Job,
            create.record_id,
            None,
            Op::Create,
            create.values,
        )
        .await;
    }
    dana.settle().await;
    for field in [&sam, &phone, &tablet] {
        field.settle().await;
    }

    // Offline, all three change every job's status from the version they hold; the phone and
    // the tablet add notes and edit descriptions. Then they all sync at once.
    let mut notes = 0;
    for (i, job) in jobs.iter().enumerate() {
        let status = |state: &str| json!({"state": state});
        phone
            .save(
                RecordType::Job,
                *job,
                Some(Group::Status),
                Op::Update,
                status("opened"),
            )
            .await;
        tablet
            .save(
                RecordType::Job,
                *job,
                Some(Group::Status),
                Op::Update,
                status("in_progress"),
            )
            .await;
        sam.save(
            RecordType::Job,
            *job,
            Some(Group::Status),
            Op::Update,
            status("paused"),
        )
        .await;
        tablet
            .save(
                RecordType::Job,
                *job,
                Some(Group::Description),
                Op::Update,
                json!({"summary": format!("ladder for job {i}")}),
            )
            .await;
        for (field, who) in [(&phone, "phone"), (&tablet, "tablet")] {
            let text =
                json!({"text": {"job_id": job.to_string(), "text": format!("{who} on job {i}")}});
            field
                .save(RecordType::JobNote, new_id(), None, Op::Create, text)
                .await;
            notes += 1;
        }
    }
    tokio::join!(phone.settle(), tablet.settle(), sam.settle());
    let lost: usize = [&phone, &tablet, &sam]
        .iter()
        .map(|f| f.network.lost.load(std::sync::atomic::Ordering::SeqCst))
        .sum();
    assert!(lost > 0, "no reply was lost: the faults were not exercised");

    // Everyone pulls what the others did.
    for field in [&olivia, &dana, &sam, &phone, &tablet] {
        field.settle().await;
    }

    // The log holds each change once, every note once, every collision is in the inbox.
    let check = Device::login(&a, "olivia", "auditor").await;
    let (_, seen) = pull_into_cache(&check, &servers).await;
    let unique: BTreeSet<&ChangeId> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a change applied twice");
    let pulled = check.pull(0, 1000).await;
    let note_creates = pulled
        .changes
        .iter()
        .filter(|c| c.record_type == RecordType::JobNote && c.op == Op::Create)
        .count();
    assert_eq!(note_creates, notes, "each note created exactly once");
    let inbox: Vec<ReviewItem> = Device::login(&b, "sam", "auditor")
        .await
        .get("/api/v1/review")
        .await;
    for job in &jobs {
        let history: Value = check
            .get(&format!("/api/v1/records/job/{job}/history"))
            .await;
        assert_eq!(history["record"]["groups"]["status"]["version"], json!(2));
        assert_eq!(
            inbox.iter().filter(|i| i.record_id == *job).count(),
            2,
            "two collisions held for job {job}"
        );
    }

    // Every device's cache converged: the office sees the same everywhere, the technician's
    // two devices the same as each other and as the office for what they hold.
    let office = olivia.cache().await;
    assert_eq!(dana.cache().await, office, "dispatch's cache");
    assert_eq!(sam.cache().await, office, "the supervisor's cache");
    let tom = phone.cache().await;
    assert_eq!(tablet.cache().await, tom, "Tom's two devices");
    for (record, groups) in &tom {
        assert_eq!(office.get(record), Some(groups), "Tom's copy of {record}");
    }
    for job in &jobs {
        let history: Value = check
            .get(&format!("/api/v1/records/job/{job}/history"))
            .await;
        for (group, (version, values)) in &office[job] {
            let on_server = &history["record"]["groups"][group.as_str()];
            assert_eq!(on_server["version"], json!(version), "{job} {group}");
            assert_eq!(&on_server["values"], values, "{job} {group}");
        }
    }
    for server in [a, b, c] {
        server.stop().await;
    }
}
