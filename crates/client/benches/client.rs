//! The client's benchmarks, each printed next to a baseline measured in the same run:
//!
//! 1. a local save (one durable transaction, synchronous=FULL) against a raw write+fsync of a
//!    small file on the same disk; target: save p99 within 3x the fsync p99;
//! 2. catch-up: a fresh device pulling 100,000 changes into its cache, against a raw SQLite
//!    insert of the same rows; target: under 3 s;
//! 3. 1,000 changes saved offline, drained after reconnect.
//!
//! Run with `cargo bench -p fieldsync-client --bench client` (a release build). A real server
//! runs in-process on 127.0.0.1; the figures include HTTP and JSON.
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use fieldsync_client::cache::Cache;
use fieldsync_client::{
    ClientConfig, HttpTransport, ManualClock, NewChange, SyncClient, Transport,
};
use fieldsync_core::wire::{LoginRequest, PullResponse};
use fieldsync_core::{Change, ChangeId, Op, RecordId, RecordType, Role};
use fieldsync_server::store::{NewUser, Store};
use fieldsync_server::{AppState, Limits, SqliteStore};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

struct ServerClock;

impl fieldsync_server::Clock for ServerClock {
    fn now(&self) -> chrono::DateTime<Utc> {
        Utc::now()
    }
}

/// A real server on 127.0.0.1 over a fresh store; its address and its store.
async fn start_server(dir: &Path) -> (String, SqliteStore) {
    let store = SqliteStore::open(&dir.join("server.db")).await.unwrap();
    let hash = fieldsync_server::auth::hash_password(PASSWORD).unwrap();
    for (name, role, team) in [
        ("tom", Role::Technician, Some("north")),
        ("dana", Role::Dispatcher, Some("dispatch")),
        ("olivia", Role::Office, Some("office")),
    ] {
        store
            .add_user(
                NewUser {
                    name: name.into(),
                    display_name: name.into(),
                    role,
                    team: team.map(str::to_string),
                    password_hash: hash.clone(),
                },
                Utc::now(),
            )
            .await
            .unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let limits = Limits {
        device_rate: 10_000,
        device_burst: 10_000,
        ..Limits::default()
    };
    let state = AppState::new(
        Arc::new(store.clone()),
        fieldsync_core::Policy::default_policy(),
        dir.join("files"),
        Arc::new(ServerClock),
        limits,
    );
    tokio::spawn(fieldsync_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    (url, store)
}

async fn token(transport: &HttpTransport, user: &str) -> String {
    transport
        .login(&LoginRequest {
            username: user.into(),
            password: PASSWORD.into(),
            device_name: format!("{user}'s bench device"),
        })
        .await
        .unwrap()
        .token
}

fn wire(record_type: RecordType, values: Value) -> Change {
    Change {
        change_id: ChangeId(uuid::Uuid::now_v7()),
        record_type,
        record_id: RecordId(uuid::Uuid::now_v7()),
        group: None,
        op: Op::Create,
        base_version: 0,
        values,
        owner_epoch: 0,
        device_time: Utc::now(),
    }
}

/// A customer and a job for tom, made by the office; the job's id.
async fn job_for_tom(url: &str) -> RecordId {
    let transport = HttpTransport::new(url).unwrap();
    let olivia = token(&transport, "olivia").await;
    let customer = wire(
        RecordType::Customer,
        json!({"profile": {"name": "Bench Ltd"}}),
    );
    let customer_id = customer.record_id;
    transport.push(&olivia, &[customer]).await.unwrap();
    let dana = token(&transport, "dana").await;
    let job = wire(
        RecordType::Job,
        json!({"schedule": {"customer_id": customer_id.to_string(), "site": "Bench Yard", "assignee": "tom"}}),
    );
    let job_id = job.record_id;
    transport.push(&dana, &[job]).await.unwrap();
    job_id
}

async fn client(url: &str, dir: &Path, name: &str) -> SyncClient {
    let client = SyncClient::open(
        &dir.join(format!("{name}.db")),
        Arc::new(HttpTransport::new(url).unwrap()),
        Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2025, 3, 3, 7, 30, 0).unwrap(),
        )),
        ClientConfig::new(name, &dir.join(format!("{name}-files")), 1),
    )
    .await
    .unwrap();
    client.login("tom", PASSWORD).await.unwrap();
    client
}

fn note(client: &SyncClient, job: RecordId, i: usize) -> NewChange {
    NewChange {
        change_id: None,
        record_type: RecordType::JobNote,
        record_id: client.new_record_id(),
        group: None,
        op: Op::Create,
        values: json!({"text": {"job_id": job.to_string(), "text": format!("bench note {i}")}}),
        file_sha256: None,
    }
}

/// 1. A save against a raw write+fsync on the same disk.
async fn save_vs_fsync(url: &str, dir: &Path, job: RecordId) {
    const N: usize = 2000;
    // Each save is measured next to one raw fsync and one fdatasync of the same disk, in turn,
    // so a busy moment of the shared machine weighs on both sides of the ratio alike.
    let mut fsyncs = Vec::with_capacity(N);
    let mut datasyncs = Vec::with_capacity(N);
    let mut saves = Vec::with_capacity(N);
    let mut synced = std::fs::File::create(dir.join("fsync.bin")).unwrap();
    // SQLite's WAL commit syncs data only, into a file it reuses: the same with fdatasync.
    let mut datasynced = std::fs::File::create(dir.join("fdatasync.bin")).unwrap();
    let payload = [7u8; 300];
    let client = client(url, dir, "saver").await;
    for i in 0..N {
        let start = Instant::now();
        synced.write_all(&payload).unwrap();
        synced.sync_all().unwrap();
        fsyncs.push(start.elapsed());
        let start = Instant::now();
        datasynced.write_all(&payload).unwrap();
        datasynced.sync_data().unwrap();
        datasyncs.push(start.elapsed());
        let change = note(&client, job, i);
        let start = Instant::now();
        client.save(change).await.unwrap();
        saves.push(start.elapsed());
    }
    let (f50, f99) = (percentile(&mut fsyncs, 0.5), percentile(&mut fsyncs, 0.99));
    let (s50, s99) = (percentile(&mut saves, 0.5), percentile(&mut saves, 0.99));
    let (d50, d99) = (
        percentile(&mut datasyncs, 0.5),
        percentile(&mut datasyncs, 0.99),
    );
    println!("local save, synchronous=FULL ({N} saves):");
    println!(
        "  raw write+fsync     p50 {:>10}   p99 {:>10}",
        ms(f50),
        ms(f99)
    );
    println!(
        "  raw write+fdatasync p50 {:>10}   p99 {:>10}",
        ms(d50),
        ms(d99)
    );
    println!(
        "  save                p50 {:>10}   p99 {:>10}",
        ms(s50),
        ms(s99)
    );
    println!(
        "  save / fsync        p50 {:>9.2}x   p99 {:>9.2}x   (target p99 <= 3x)",
        s50.as_secs_f64() / f50.as_secs_f64(),
        s99.as_secs_f64() / f99.as_secs_f64()
    );
}

/// 2. A fresh device catching up on 100,000 changes.
async fn catch_up(url: &str, store: &SqliteStore, dir: &Path, job: RecordId) {
    const TOTAL: usize = 100_000;
    let transport = HttpTransport::new(url).unwrap();
    let dana = token(&transport, "dana").await;
    let seeding = Instant::now();
    // The customer and the job are two changes in tom's scope; the rest are notes on the job.
    let mut made = 2;
    while made < TOTAL {
        let batch: Vec<Change> = (0..1000.min(TOTAL - made))
            .map(|i| {
                wire(
                    RecordType::JobNote,
                    json!({"text": {"job_id": job.to_string(), "text": format!("office note {}", made + i)}}),
                )
            })
            .collect();
        made += batch.len();
        transport.push(&dana, &batch).await.unwrap();
    }
    println!(
        "catch-up of {TOTAL} changes (seeded in {:.1} s):",
        seeding.elapsed().as_secs_f64()
    );

    // The whole thing, as a device does it: one sync round on a fresh cache.
    let fresh = client(url, dir, "fresh").await;
    let start = Instant::now();
    let report = fresh.sync_once().await.unwrap();
    let round = start.elapsed();
    assert_eq!(report.pulled, TOTAL);
    assert_eq!(fresh.cache().count_records().await.unwrap(), TOTAL as i64);

    // Where the time goes: the pages over HTTP with their JSON, then folding them in.
    let tom = token(&transport, "tom").await;
    let start = Instant::now();
    let mut pages: Vec<PullResponse> = Vec::new();
    let mut after = 0;
    loop {
        let page = transport.pull(&tom, after, 1000, 0, None).await.unwrap();
        after = page.next;
        let more = page.more;
        pages.push(page);
        if !more {
            break;
        }
    }
    let fetch = start.elapsed();
    // The same pages again as bytes: the server's answer time apart from the client's decoding.
    let http = reqwest::Client::new();
    let (mut answer, mut decode) = (Duration::ZERO, Duration::ZERO);
    let mut after = 0;
    loop {
        let start = Instant::now();
        let bytes = http
            .get(format!("{url}/api/v1/sync/pull?after={after}&limit=1000"))
            .bearer_auth(&tom)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        answer += start.elapsed();
        let start = Instant::now();
        let page: PullResponse = serde_json::from_slice(&bytes).unwrap();
        decode += start.elapsed();
        after = page.next;
        if !page.more {
            break;
        }
    }
    // The same pages from the server's store alone: its queries, without HTTP or JSON.
    let device = store
        .device_by_token(&fieldsync_server::auth::token_hash(&tom))
        .await
        .unwrap()
        .unwrap();
    let policy = fieldsync_core::Policy::default_policy();
    let start = Instant::now();
    let mut after = 0;
    loop {
        let page = store
            .pull(
                &device,
                after,
                1000,
                Default::default(),
                &policy,
                Utc::now(),
            )
            .await
            .unwrap();
        after = page.next;
        if !page.more {
            break;
        }
    }
    let store_time = start.elapsed();
    let cache = Cache::open(&dir.join("apply-only.db")).await.unwrap();
    let me = ["user:tom".to_string(), "team:north".to_string()];
    let start = Instant::now();
    for page in &pages {
        cache.apply_pull(page, &me, Utc::now()).await.unwrap();
    }
    let apply = start.elapsed();

    // The baseline: the same rows (a record and its group each) inserted raw, in the same
    // page-sized transactions, with the same pragmas.
    let raw_rows = raw_insert(&dir.join("raw-rows.db"), &pages, false).await;
    let raw = raw_insert(&dir.join("raw.db"), &pages, true).await;
    println!(
        "  one sync round on a fresh cache   {:>8.3} s   (target < 3 s)",
        round.as_secs_f64()
    );
    println!(
        "    pages over HTTP + JSON          {:>8.3} s",
        fetch.as_secs_f64()
    );
    println!(
        "      the server's answers (bytes)  {:>8.3} s",
        answer.as_secs_f64()
    );
    println!(
        "      decoding them on the device   {:>8.3} s",
        decode.as_secs_f64()
    );
    println!(
        "      of which the server's store   {:>8.3} s",
        store_time.as_secs_f64()
    );
    println!(
        "    folding into the cache          {:>8.3} s",
        apply.as_secs_f64()
    );
    println!(
        "  raw SQLite insert of the same rows {:>7.3} s   (multi-row; row by row {:.3} s)",
        raw.as_secs_f64(),
        raw_rows.as_secs_f64()
    );
    println!(
        "  round / raw insert {:>6.2}x   folding / raw insert {:>6.2}x",
        round.as_secs_f64() / raw.as_secs_f64(),
        apply.as_secs_f64() / raw.as_secs_f64()
    );
}

/// The rows a page makes (a record and its group per note), inserted raw with the cache's
/// pragmas in one transaction per page: row by row, or in multi-row statements of the sizes the
/// cache uses. No upsert, no version check: the floor for writing the same rows.
async fn raw_insert(path: &Path, pages: &[PullResponse], multi_row: bool) -> Duration {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    use sqlx::ConnectOptions;
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .connect()
        .await
        .unwrap();
    sqlx::query("CREATE TABLE records (record_id TEXT PRIMARY KEY, record_type TEXT, number TEXT, owner TEXT, owner_epoch INTEGER, state TEXT, job_id TEXT, created_at TEXT, updated_at TEXT)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE groups (record_id TEXT, grp TEXT, version INTEGER, vals TEXT, PRIMARY KEY (record_id, grp)) WITHOUT ROWID")
        .execute(&mut conn)
        .await
        .unwrap();
    let (records_per, groups_per) = if multi_row { (100, 200) } else { (1, 1) };
    let start = Instant::now();
    for page in pages {
        let mut records = Vec::new();
        let mut groups = Vec::new();
        for change in &page.changes {
            let id = change.record_id.to_string();
            let job = change
                .values
                .as_object()
                .and_then(|groups| groups.values().next())
                .and_then(|g| g.get("job_id"))
                .and_then(Value::as_str);
            if let Some(values) = change.values.as_object() {
                for (group, values) in values {
                    groups.push((id.clone(), group, values.to_string()));
                }
            }
            records.push((id, change, job));
        }
        let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
        for chunk in records.chunks(records_per) {
            let sql = format!(
                "INSERT INTO records VALUES {}",
                vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (id, change, job) in chunk {
                query = query
                    .bind(id)
                    .bind(change.record_type.as_str())
                    .bind(change.number.as_deref())
                    .bind(change.owner.to_key())
                    .bind(change.owner_epoch)
                    .bind(change.state.as_str())
                    .bind(*job)
                    .bind(change.server_time)
                    .bind(change.server_time);
            }
            query.execute(&mut *tx).await.unwrap();
        }
        for chunk in groups.chunks(groups_per) {
            let sql = format!(
                "INSERT INTO groups VALUES {}",
                vec!["(?, ?, 1, ?)"; chunk.len()].join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (id, group, values) in chunk {
                query = query.bind(id).bind(group.as_str()).bind(values);
            }
            query.execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    start.elapsed()
}

/// 3. 1,000 changes saved offline, drained after reconnect.
async fn drain(url: &str, dir: &Path, job: RecordId) {
    const N: usize = 1000;
    let device = client(url, dir, "drainer").await;
    device.sync_once().await.unwrap();
    for i in 0..N {
        device.save(note(&device, job, i)).await.unwrap();
    }
    let start = Instant::now();
    let mut rounds = 0;
    loop {
        rounds += 1;
        device.sync_now().await.unwrap();
        let (changes, files, _) = device.cache().depth().await.unwrap();
        if changes + files == 0 {
            break;
        }
    }
    let took = start.elapsed();
    println!("drain after reconnect:");
    println!(
        "  {N} pending changes drained in {:.3} s ({rounds} round), {:.0} changes/s, {:.3} ms each",
        took.as_secs_f64(),
        N as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / N as f64
    );
}

/// The allocator the `fieldsync` binary runs with (server and simulated devices alike), so the
/// figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (url, store) = start_server(dir.path()).await;
        let job = job_for_tom(&url).await;
        println!(
            "fieldsync-client benchmarks (cache and baselines in {})",
            dir.path().display()
        );
        save_vs_fsync(&url, dir.path(), job).await;
        catch_up(&url, &store, dir.path(), job).await;
        drain(&url, dir.path(), job).await;
    });
}
