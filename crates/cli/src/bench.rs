//! `fieldsync bench push`: many devices pushing batches to one server over loopback HTTP,
//! printed next to the raw SQLite insert rate of the same rows measured in the same run.

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::Subcommand;
use fieldsync_core::{Op, RecordType, Role};
use fieldsync_server::auth::hash_password;
use fieldsync_server::store::{NewUser, Store};
use fieldsync_server::SqliteStore;
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::http::{change, new_record_id, Session};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Push throughput: devices x batches x batch size changes of about 300 bytes.
    ///
    /// Example: fieldsync bench push --devices 50 --batches 4 --batch-size 100
    Push {
        #[arg(long, default_value_t = 50)]
        devices: usize,
        #[arg(long, default_value_t = 4)]
        batches: usize,
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
    },
}

pub async fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Push {
            devices,
            batches,
            batch_size,
        } => push(devices, batches, batch_size).await,
    }
}

/// The note text that makes each change about 300 bytes on the wire.
const NOTE: &str =
    "Replaced the pressure relief valve and bled the system; customer shown the new controls.";

/// Inserts the same number of rows the server will store, in the same batches, straight into
/// SQLite with the server's pragmas: the ceiling the server's rate is compared with.
async fn raw_insert_rate(dir: &Path, rows: usize, batch_size: usize) -> Result<f64> {
    let options = SqliteConnectOptions::new()
        .filename(dir.join("raw.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    sqlx::query("CREATE TABLE changes (seq INTEGER PRIMARY KEY, change_id TEXT NOT NULL UNIQUE, record_id TEXT NOT NULL, vals TEXT NOT NULL, author TEXT NOT NULL, server_time TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    let job = new_record_id().to_string();
    let start = Instant::now();
    let mut seq = 0i64;
    for _ in 0..rows.div_ceil(batch_size) {
        let mut tx = pool.begin().await?;
        for _ in 0..batch_size {
            seq += 1;
            sqlx::query("INSERT INTO changes (seq, change_id, record_id, vals, author, server_time) VALUES (?, ?, ?, ?, ?, ?)")
                .bind(seq)
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(new_record_id().to_string())
                .bind(json!({"text": {"job_id": job, "text": NOTE}}).to_string())
                .bind("bench")
                .bind(Utc::now())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    let rate = seq as f64 / start.elapsed().as_secs_f64();
    pool.close().await;
    Ok(rate)
}

/// CPU time (user + system) of a process so far, from /proc.
fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("reading /proc (the benchmark needs Linux)")?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|s| s.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let hz = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(100);
    Ok(Duration::from_micros(ticks * 1_000_000 / hz))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn push(devices: usize, batches: usize, batch_size: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let total = devices * batches * batch_size;
    println!("push benchmark: {devices} devices x {batches} batches x {batch_size} changes = {total} changes, SQLite store, loopback HTTP");

    let raw = raw_insert_rate(dir.path(), total, batch_size).await?;

    let data_dir = dir.path().join("server");
    std::fs::create_dir_all(&data_dir)?;
    let store = SqliteStore::open(&data_dir.join("fieldsync.db")).await?;
    let password = "bench-password";
    let hash = hash_password(password).map_err(|e| anyhow::anyhow!("{e}"))?;
    for i in 0..devices {
        store
            .add_user(
                NewUser {
                    name: format!("tech{i}"),
                    display_name: format!("Tech {i}"),
                    role: Role::Technician,
                    team: Some("bench".into()),
                    password_hash: hash.clone(),
                },
                Utc::now(),
            )
            .await?;
    }
    store.close().await;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let exe = std::env::current_exe()?;
    let mut server = tokio::process::Command::new(exe)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data_dir)
        .env("FIELDSYNC_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .context("starting the server")?;
    let pid = server.id().context("server pid")?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(devices)
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        if Instant::now() > deadline {
            bail!("the server did not answer /healthz within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut sessions = Vec::new();
    for i in 0..devices {
        let session = Session::login(
            &http,
            &base,
            &format!("tech{i}"),
            password,
            &format!("bench device {i}"),
        )
        .await?;
        let job = new_record_id();
        session
            .apply(change(RecordType::Job, job, None, Op::Create, 0, json!({"schedule": {"customer_id": new_record_id().to_string(), "site": format!("Site {i}")}}), 0))
            .await?;
        sessions.push((session, job));
    }
    let sample = change(
        RecordType::JobNote,
        new_record_id(),
        None,
        Op::Create,
        0,
        json!({"text": {"job_id": new_record_id().to_string(), "text": NOTE}}),
        0,
    );
    let change_bytes = serde_json::to_string(&sample)?.len();

    let cpu_before = cpu_time(pid)?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (session, job) in sessions {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for _ in 0..batches {
                let changes = (0..batch_size)
                    .map(|_| {
                        change(
                            RecordType::JobNote,
                            new_record_id(),
                            None,
                            Op::Create,
                            0,
                            json!({"text": {"job_id": job.to_string(), "text": NOTE}}),
                            0,
                        )
                    })
                    .collect();
                let t = Instant::now();
                let outcomes = session.push(changes).await?;
                latencies.push(t.elapsed());
                if outcomes
                    .iter()
                    .any(|o| o.status != fieldsync_core::OutcomeStatus::Applied)
                {
                    bail!("a benchmark change was not applied");
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = start.elapsed();
    let cpu = cpu_time(pid)? - cpu_before;
    let _ = server.start_kill();
    let _ = server.wait().await;
    latencies.sort();

    let rate = total as f64 / elapsed.as_secs_f64();
    let ratio = rate / raw;
    let cpu_per_change = cpu.as_secs_f64() * 1e6 / total as f64;
    println!("change size on the wire:   {change_bytes} bytes");
    println!(
        "server push rate:          {rate:.0} changes/s ({total} in {:.2} s)",
        elapsed.as_secs_f64()
    );
    println!(
        "batch latency:             p50 {:.1} ms, p99 {:.1} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    println!("raw SQLite insert rate:    {raw:.0} rows/s (same rows, batches of {batch_size}, WAL, synchronous=FULL)");
    println!(
        "ratio server / raw:        {:.1}% (target at least 10%)  {}",
        ratio * 100.0,
        if ratio >= 0.10 { "PASS" } else { "FAIL" }
    );
    println!(
        "server CPU per change:     {cpu_per_change:.1} µs (target at most 60 µs)  {}",
        if cpu_per_change <= 60.0 {
            "PASS"
        } else {
            "FAIL"
        }
    );
    Ok(())
}
