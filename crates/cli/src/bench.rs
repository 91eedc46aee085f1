//! `fieldsync bench push`: many devices pushing batches to server processes over loopback HTTP,
//! printed next to the raw insert rate of the same rows into the same database, measured in the
//! same run. On PostgreSQL the devices are spread over one or more server instances; `--compare`
//! runs SQLite, PostgreSQL with one instance and with two, and prints them side by side.

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::Subcommand;
use fieldsync_core::{Op, RecordType, Role};
use fieldsync_server::auth::hash_password;
use fieldsync_server::store::postgres::redacted;
use fieldsync_server::store::NewUser;
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Executor, PgConnection};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::database::Database;
use crate::http::{change, new_record_id, Session};

#[path = "soak.rs"]
mod soak;

#[path = "bench_board.rs"]
pub mod board;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Push throughput: devices x batches x batch size changes of about 300 bytes.
    ///
    /// With --database postgres://USER@HOST:PORT/DB the benchmark makes a scratch database on
    /// that PostgreSQL server (the user must be allowed to create databases), runs --instances
    /// server processes on it, and drops it afterwards.
    ///
    /// Example: fieldsync bench push --devices 50 --batches 4 --batch-size 100 --compare --database postgres://postgres@127.0.0.1:5432/postgres
    Push {
        #[arg(long, default_value_t = 50)]
        devices: usize,
        #[arg(long, default_value_t = 4)]
        batches: usize,
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
        /// A PostgreSQL server to measure (postgres://...); without it, the embedded SQLite store.
        #[arg(long)]
        database: Option<String>,
        /// Server processes sharing the PostgreSQL database, the devices spread across them.
        #[arg(long, default_value_t = 1)]
        instances: usize,
        /// Measure SQLite, PostgreSQL with one instance and with two, in one run (needs
        /// --database).
        #[arg(long)]
        compare: bool,
    },
    /// The office board of a large office: a server seeded with --jobs jobs and --technicians
    /// technicians (with their tablets), the office app synced with it over loopback HTTP, and
    /// p50/p95 of the board's commands as the UI calls them (the list's page, a search for one
    /// job number, every card, a read after a pulled change and after a save, the page through
    /// the loopback bridge) with the bytes each sends, beside a raw SQLite select of the same
    /// rows timed in the same run.
    ///
    /// Example: fieldsync bench board --jobs 5000 --technicians 200
    Board {
        #[arg(long, default_value_t = 5000)]
        jobs: usize,
        #[arg(long, default_value_t = 200)]
        technicians: usize,
        /// Timed reads of each kind.
        #[arg(long, default_value_t = 60)]
        rounds: usize,
        /// Only seed DIR/fieldsync.db (every password the demo's) and stop: for a browser test
        /// that serves it with `fieldsync serve --data-dir DIR`.
        #[arg(long, value_name = "DIR")]
        seed_only: Option<std::path::PathBuf>,
    },
    /// Soak: many simulated devices against one server process for minutes, reporting the
    /// server's memory (RSS) and open descriptors at the start, the middle and the end; fails
    /// if either grows past its bound in the second half, or a device's call fails.
    ///
    /// Example: fieldsync bench soak --devices 300 --minutes 5
    Soak {
        #[arg(long, default_value_t = 300)]
        devices: usize,
        /// How long the devices work once all are online.
        #[arg(long, default_value_t = 5, conflicts_with = "seconds")]
        minutes: u64,
        /// The same in seconds, for a short run.
        #[arg(long)]
        seconds: Option<u64>,
        /// Seeds each device's rhythm (device i uses seed + i).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A PostgreSQL database to serve from (postgres://...); the embedded SQLite by default.
        #[arg(long)]
        database: Option<String>,
    },
}

/// What one benchmark run stores into.
#[derive(Debug, Clone)]
enum Target {
    Sqlite,
    Postgres { server: String, instances: usize },
}

impl Target {
    fn name(&self) -> String {
        match self {
            Target::Sqlite => "SQLite".into(),
            Target::Postgres { instances: 1, .. } => "PostgreSQL x1".into(),
            Target::Postgres { instances, .. } => format!("PostgreSQL x{instances}"),
        }
    }
}

/// The sizes of a run.
#[derive(Debug, Clone, Copy)]
struct Load {
    devices: usize,
    batches: usize,
    batch_size: usize,
}

impl Load {
    fn total(&self) -> usize {
        self.devices * self.batches * self.batch_size
    }
}

/// What one run measured.
struct Figures {
    rate: f64,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    raw: f64,
    server_cpu_per_change: f64,
    database_cpu_per_change: Option<f64>,
}

pub async fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Board {
            jobs,
            technicians,
            rounds,
            seed_only,
        } => {
            board::run(board::BoardArgs {
                jobs,
                technicians,
                rounds,
                seed_only,
            })
            .await
        }
        BenchCommand::Soak {
            devices,
            minutes,
            seconds,
            seed,
            database,
        } => {
            soak::run(soak::SoakArgs {
                devices,
                duration: Duration::from_secs(seconds.unwrap_or(minutes * 60)),
                seed,
                database,
            })
            .await
        }
        BenchCommand::Push {
            devices,
            batches,
            batch_size,
            database,
            instances,
            compare,
        } => {
            let load = Load {
                devices,
                batches,
                batch_size,
            };
            if devices == 0 || batches == 0 || batch_size == 0 {
                bail!("--devices, --batches and --batch-size are 1 or more");
            }
            if instances == 0 {
                bail!("--instances is 1 or more");
            }
            let server = match &database {
                Some(url) => match Database::from_url(Some(url), Path::new("."))? {
                    Database::Postgres(url) => Some(url),
                    Database::Sqlite(_) => {
                        bail!("--database names a PostgreSQL server; SQLite is the default")
                    }
                },
                None => None,
            };
            match (compare, server) {
                (true, Some(server)) => compare_stores(load, &server).await,
                (true, None) => bail!("--compare needs --database postgres://... to compare with"),
                (false, None) if instances > 1 => {
                    bail!("one SQLite file serves one instance; --instances needs --database postgres://...")
                }
                (false, None) => single(load, Target::Sqlite).await,
                (false, Some(server)) => single(load, Target::Postgres { server, instances }).await,
            }
        }
    }
}

async fn single(load: Load, target: Target) -> Result<()> {
    let change_bytes = change_size()?;
    println!(
        "push benchmark: {} devices x {} batches x {} changes = {} changes, {} store, loopback HTTP",
        load.devices,
        load.batches,
        load.batch_size,
        load.total(),
        target.name()
    );
    let figures = measure(load, &target).await?;
    let raw_name = match target {
        Target::Sqlite => "raw SQLite insert rate:  ",
        Target::Postgres { .. } => "raw PostgreSQL insert rate:",
    };
    let raw_how = match target {
        Target::Sqlite => "WAL, synchronous=FULL",
        Target::Postgres { .. } => "one connection, the server's commit settings",
    };
    let ratio = figures.rate / figures.raw;
    println!("change size on the wire:   {change_bytes} bytes");
    println!(
        "server push rate:          {:.0} changes/s ({} in {:.2} s)",
        figures.rate,
        load.total(),
        figures.elapsed.as_secs_f64()
    );
    println!(
        "batch latency:             p50 {:.1} ms, p99 {:.1} ms",
        figures.p50.as_secs_f64() * 1e3,
        figures.p99.as_secs_f64() * 1e3
    );
    println!(
        "{raw_name}  {:.0} rows/s (same rows, batches of {}, {raw_how})",
        figures.raw, load.batch_size
    );
    println!(
        "ratio server / raw:        {:.1}% (target at least 10%)  {}",
        ratio * 100.0,
        if ratio >= 0.10 { "PASS" } else { "FAIL" }
    );
    println!(
        "server CPU per change:     {:.1} µs (target at most 60 µs)  {}",
        figures.server_cpu_per_change,
        if figures.server_cpu_per_change <= 60.0 {
            "PASS"
        } else {
            "FAIL"
        }
    );
    if let Some(db) = figures.database_cpu_per_change {
        println!(
            "database CPU per change:   {db:.1} µs (every PostgreSQL process on this machine)"
        );
    }
    Ok(())
}

async fn compare_stores(load: Load, server: &str) -> Result<()> {
    let change_bytes = change_size()?;
    println!(
        "push benchmark: {} devices x {} batches x {} changes = {} changes of {change_bytes} bytes, loopback HTTP",
        load.devices,
        load.batches,
        load.batch_size,
        load.total()
    );
    let targets = [
        Target::Sqlite,
        Target::Postgres {
            server: server.to_string(),
            instances: 1,
        },
        Target::Postgres {
            server: server.to_string(),
            instances: 2,
        },
    ];
    let mut columns = Vec::new();
    for target in &targets {
        println!("measuring {} ...", target.name());
        columns.push(measure(load, target).await?);
    }
    let row = |label: &str, cell: &dyn Fn(&Figures) -> String| {
        let cells: Vec<String> = columns.iter().map(|f| format!("{:>15}", cell(f))).collect();
        println!("{label:<30}{}", cells.join(""));
    };
    let header: Vec<String> = targets
        .iter()
        .map(|t| format!("{:>15}", t.name()))
        .collect();
    println!("{:<30}{}", "", header.join(""));
    row("push rate (changes/s)", &|f| format!("{:.0}", f.rate));
    row("batch latency p50 (ms)", &|f| {
        format!("{:.1}", f.p50.as_secs_f64() * 1e3)
    });
    row("batch latency p99 (ms)", &|f| {
        format!("{:.1}", f.p99.as_secs_f64() * 1e3)
    });
    row("server CPU per change (µs)", &|f| {
        format!("{:.1}", f.server_cpu_per_change)
    });
    row("database CPU per change (µs)", &|f| {
        f.database_cpu_per_change
            .map(|c| format!("{c:.1}"))
            .unwrap_or_else(|| "in-process".into())
    });
    row("raw insert rate (rows/s)", &|f| format!("{:.0}", f.raw));
    row("ratio server / raw", &|f| {
        format!("{:.1}%", f.rate / f.raw * 100.0)
    });
    println!(
        "(server CPU is summed over the instances; PostgreSQL's own CPU is every postgres process \
         on this machine; raw = the same rows inserted one statement at a time, a transaction \
         per batch, on one connection)"
    );
    Ok(())
}

/// The note text that makes each change about 300 bytes on the wire.
const NOTE: &str =
    "Replaced the pressure relief valve and bled the system; customer shown the new controls.";

fn change_size() -> Result<usize> {
    let sample = change(
        RecordType::JobNote,
        new_record_id(),
        None,
        Op::Create,
        0,
        json!({"text": {"job_id": new_record_id().to_string(), "text": NOTE}}),
        0,
    );
    Ok(serde_json::to_string(&sample)?.len())
}

/// Inserts the same number of rows the server will store, in the same batches, straight into
/// SQLite with the server's pragmas: the ceiling the server's rate is compared with.
async fn raw_sqlite_rate(dir: &Path, rows: usize, batch_size: usize) -> Result<f64> {
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

/// The same for PostgreSQL, in the scratch database, over one connection.
async fn raw_postgres_rate(url: &str, rows: usize, batch_size: usize) -> Result<f64> {
    let mut conn = PgConnection::connect(url).await?;
    conn.execute("CREATE TABLE raw_changes (seq BIGINT PRIMARY KEY, change_id TEXT NOT NULL UNIQUE, record_id TEXT NOT NULL, vals TEXT NOT NULL, author TEXT NOT NULL, server_time TIMESTAMPTZ NOT NULL)")
        .await?;
    let job = new_record_id().to_string();
    let start = Instant::now();
    let mut seq = 0i64;
    for _ in 0..rows.div_ceil(batch_size) {
        let mut tx = conn.begin().await?;
        for _ in 0..batch_size {
            seq += 1;
            sqlx::query("INSERT INTO raw_changes (seq, change_id, record_id, vals, author, server_time) VALUES ($1, $2, $3, $4, $5, $6)")
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
    conn.execute("DROP TABLE raw_changes").await?;
    conn.close().await?;
    Ok(rate)
}

/// CPU time (user + system) of a process so far, from /proc.
fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("reading /proc (the benchmark needs Linux)")?;
    Ok(stat_cpu(&stat, false).unwrap_or_default())
}

/// Clock ticks per second, the unit of /proc's CPU times.
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(100)
    })
}

/// The CPU time in a /proc/PID/stat line: the process's own, and with `children` also that of
/// the children it has reaped.
fn stat_cpu(stat: &str, children: bool) -> Option<Duration> {
    // Fields after the command name, which is in parentheses and may hold spaces.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let last = if children { 14 } else { 12 };
    let mut ticks = 0u64;
    for i in 11..=last {
        ticks += fields.get(i)?.parse::<u64>().ok()?;
    }
    Some(Duration::from_micros(ticks * 1_000_000 / clock_ticks()))
}

/// CPU time of every PostgreSQL process on this machine (the server runs each session in a
/// process of its own), so the database's share of the work is counted too. A session's
/// process that ended is counted in its parent's reaped-children time, so the sum only grows.
fn postgres_cpu_time() -> Duration {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    let mut total = Duration::ZERO;
    for entry in entries.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if stat.contains("(postgres)") {
            total += stat_cpu(&stat, true).unwrap_or_default();
        }
    }
    total
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A postgres:// URL naming another database on the same server.
fn with_database(url: &str, database: &str) -> Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .context("a PostgreSQL URL starts with postgres://")?;
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, format!("?{query}")),
        None => (rest, String::new()),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    Ok(format!("{scheme}://{authority}/{database}{query}"))
}

/// A scratch database for one run, dropped afterwards.
struct Scratch {
    admin: String,
    name: String,
    url: String,
}

impl Scratch {
    async fn create(server: &str) -> Result<Scratch> {
        let name = format!("fieldsync_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(server)
            .await
            .with_context(|| format!("cannot reach {}", redacted(server)))?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .with_context(|| format!("cannot create a scratch database on {}", redacted(server)))?;
        admin.close().await?;
        Ok(Scratch {
            admin: server.to_string(),
            url: with_database(server, &name)?,
            name,
        })
    }

    async fn drop(self) -> Result<()> {
        let mut admin = PgConnection::connect(&self.admin).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await?;
        Ok(())
    }
}

async fn measure(load: Load, target: &Target) -> Result<Figures> {
    let dir = tempfile::tempdir()?;
    match target {
        Target::Sqlite => {
            let raw = raw_sqlite_rate(dir.path(), load.total(), load.batch_size).await?;
            let database = Database::Sqlite(dir.path().join("server").join("fieldsync.db"));
            measure_servers(load, &database, 1, dir.path(), raw, false).await
        }
        Target::Postgres { server, instances } => {
            let scratch = Scratch::create(server).await?;
            let measured = async {
                let raw = raw_postgres_rate(&scratch.url, load.total(), load.batch_size).await?;
                let database = Database::Postgres(scratch.url.clone());
                measure_servers(load, &database, *instances, dir.path(), raw, true).await
            }
            .await;
            let dropped = scratch.drop().await;
            let figures = measured?;
            dropped?;
            Ok(figures)
        }
    }
}

/// Starts `instances` servers on the database, signs the devices in across them, and times
/// every device pushing its batches at once.
async fn measure_servers(
    load: Load,
    database: &Database,
    instances: usize,
    dir: &Path,
    raw: f64,
    count_postgres: bool,
) -> Result<Figures> {
    let data_dir = dir.join("server");
    std::fs::create_dir_all(&data_dir)?;
    let store = database.open().await?;
    let password = "bench-password";
    let hash = hash_password(password).map_err(|e| anyhow::anyhow!("{e}"))?;
    for i in 0..load.devices {
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
    drop(store);

    let url = match database {
        Database::Sqlite(path) => format!("sqlite:{}", path.display()),
        Database::Postgres(url) => url.clone(),
    };
    let exe = std::env::current_exe()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(load.devices)
        .build()?;
    let mut servers = Vec::new();
    for _ in 0..instances {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = tokio::process::Command::new(&exe)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(&data_dir)
            .args(["--database", &url])
            .env("FIELDSYNC_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .context("starting the server")?;
        let pid = child.id().context("server pid")?;
        servers.push((child, pid, format!("http://127.0.0.1:{port}")));
    }
    for (_, _, base) in &servers {
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
                bail!("the server at {base} did not answer /healthz within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    let mut sessions = Vec::new();
    for i in 0..load.devices {
        let base = &servers[i % servers.len()].2;
        let session = Session::login(
            base,
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

    let server_cpu = |servers: &[(tokio::process::Child, u32, String)]| -> Result<Duration> {
        servers.iter().map(|(_, pid, _)| cpu_time(*pid)).sum()
    };
    let cpu_before = server_cpu(&servers)?;
    let db_before = postgres_cpu_time();
    let start = Instant::now();
    let mut tasks = Vec::new();
    let (batches, batch_size) = (load.batches, load.batch_size);
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
    let cpu = server_cpu(&servers)? - cpu_before;
    let db_cpu = postgres_cpu_time().saturating_sub(db_before);
    for (mut child, _, _) in servers {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    latencies.sort();
    let total = load.total() as f64;
    Ok(Figures {
        rate: total / elapsed.as_secs_f64(),
        elapsed,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        raw,
        server_cpu_per_change: cpu.as_secs_f64() * 1e6 / total,
        database_cpu_per_change: count_postgres.then(|| db_cpu.as_secs_f64() * 1e6 / total),
    })
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_scratch_database_is_named_on_the_same_server() {
        for (url, expected) in [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/scratch",
            ),
            ("postgres://u:p@db:5432", "postgres://u:p@db:5432/scratch"),
            (
                "postgresql://u@db/app?sslmode=disable",
                "postgresql://u@db/scratch?sslmode=disable",
            ),
        ] {
            assert_eq!(
                with_database(url, "scratch").ok().as_deref(),
                Some(expected)
            );
        }
    }
}
