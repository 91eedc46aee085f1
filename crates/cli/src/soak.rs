//! `fieldsync bench soak`: a few hundred simulated devices against one server process on
//! loopback for minutes, watching the server's memory (RSS) and open descriptors (sockets
//! included) from /proc. Each device signs in, keeps an event stream open, and in a seeded
//! rhythm pushes notes and edits, pulls, uploads a photo now and then, and drops out of signal
//! (every connection closed) to come back on new ones. It fails when the server's RSS or
//! descriptors grow past the stated bound in the second half, when growth there would mean a
//! leak rather than a warm-up.

use anyhow::{bail, Context, Result};
use chrono::Utc;
use fieldsync_core::wire::{LoginRequest, LoginResponse, PullResponse, PushRequest, PushResponse};
use fieldsync_core::{Change, Group, Op, Outcome, OutcomeStatus, RecordId, RecordType, Role};
use fieldsync_server::auth::hash_password;
use fieldsync_server::store::NewUser;
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::database::Database;
use crate::http::{change, new_record_id};

/// The second half may end at most this much above where it started, RSS and descriptors
/// alike: what a warm-up (allocator pools, SQLite's page cache) still adds, not a leak.
const RSS_BOUND: (f64, u64) = (1.15, 16 * 1024 * 1024);
const FD_BOUND: (f64, u64) = (1.10, 32);

/// What the soak asks for.
pub struct SoakArgs {
    pub devices: usize,
    pub duration: Duration,
    pub seed: u64,
    pub database: Option<String>,
}

/// One reading of the server process.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    rss: u64,
    fds: u64,
    sockets: u64,
}

impl Sample {
    fn of(pid: u32) -> Result<Sample> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .context("reading /proc (the soak needs Linux)")?;
        let rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .context("no VmRSS in /proc/PID/status")?;
        let mut fds = 0;
        let mut sockets = 0;
        for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))?.flatten() {
            fds += 1;
            if std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
            {
                sockets += 1;
            }
        }
        Ok(Sample {
            rss: rss_kb * 1024,
            fds,
            sockets,
        })
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// What the devices did, counted as they go.
#[derive(Default)]
struct Counters {
    pushes: AtomicU64,
    applied: AtomicU64,
    pulls: AtomicU64,
    uploads: AtomicU64,
    reconnects: AtomicU64,
    pokes: AtomicU64,
    errors: AtomicU64,
}

impl Counters {
    fn error(&self, what: &str, e: &dyn std::fmt::Display) {
        // The first few say what went wrong; the count says how often.
        if self.errors.fetch_add(1, Ordering::Relaxed) < 5 {
            eprintln!("soak: {what}: {e}");
        }
    }
}

pub async fn run(args: SoakArgs) -> Result<()> {
    if args.devices == 0 {
        bail!("--devices is 1 or more");
    }
    if args.duration < Duration::from_secs(10) {
        bail!("a soak runs for 10 seconds or more");
    }
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("server");
    std::fs::create_dir_all(&data_dir)?;
    let database = match &args.database {
        Some(url) => Database::from_url(Some(url), &data_dir)?,
        None => Database::Sqlite(data_dir.join("fieldsync.db")),
    };
    let url = match &database {
        Database::Sqlite(path) => format!("sqlite:{}", path.display()),
        Database::Postgres(url) => url.clone(),
    };
    let password = "soak-password";
    add_technicians(&database, args.devices, password).await?;

    let (mut server, pid, base) = start_server(&data_dir, &url).await?;
    let outcome = soak(&args, pid, &base, password).await;
    let _ = server.start_kill();
    let _ = server.wait().await;
    outcome
}

async fn add_technicians(database: &Database, devices: usize, password: &str) -> Result<()> {
    let store = database.open().await?;
    let hash = hash_password(password).map_err(|e| anyhow::anyhow!("{e}"))?;
    for i in 0..devices {
        store
            .add_user(
                NewUser {
                    name: format!("soak{i}"),
                    display_name: format!("Soak technician {i}"),
                    role: Role::Technician,
                    team: Some(format!("crew{}", i % 10)),
                    password_hash: hash.clone(),
                },
                Utc::now(),
            )
            .await?;
    }
    store.close().await;
    Ok(())
}

/// The server as its own process, so /proc shows its memory and descriptors alone.
async fn start_server(data_dir: &Path, url: &str) -> Result<(tokio::process::Child, u32, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data_dir)
        .args(["--database", url])
        .env("FIELDSYNC_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .context("starting the server")?;
    let pid = child.id().context("server pid")?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        if Instant::now() > deadline {
            bail!("the server at {base} did not answer /healthz within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((child, pid, base))
}

async fn soak(args: &SoakArgs, pid: u32, base: &str, password: &str) -> Result<()> {
    let idle = Sample::of(pid)?;
    println!(
        "soak: {} devices for {} s against one server process ({}), loopback",
        args.devices,
        args.duration.as_secs(),
        if args.database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let connected = Arc::new(AtomicU64::new(0));
    let ramp = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.devices {
        let device = SoakDevice {
            user: format!("soak{i}"),
            password: password.to_string(),
            base: base.to_string(),
            rng: rand::rngs::StdRng::seed_from_u64(args.seed.wrapping_add(i as u64)),
            counters: counters.clone(),
            stop: stop.clone(),
            connected: connected.clone(),
        };
        tasks.push(tokio::spawn(device.run()));
    }
    // The clock starts once every device is signed in with its event stream open: signing in
    // (argon2, 19 MiB each) is a burst of its own, not the steady state being measured.
    let deadline = Instant::now() + Duration::from_secs(120) + args.duration;
    while connected.load(Ordering::Relaxed) < args.devices as u64 {
        if Instant::now() > deadline || tasks.iter().all(|t| t.is_finished()) {
            stop.store(true, Ordering::Relaxed);
            bail!(
                "only {} of {} devices came online",
                connected.load(Ordering::Relaxed),
                args.devices
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "all {} devices signed in with their event streams open in {:.1} s",
        args.devices,
        ramp.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let first = Sample::of(pid)?;
    let half = args.duration / 2;
    let mut middle = None;
    let mut peak = [first, Sample::default()];
    while start.elapsed() < args.duration {
        tokio::time::sleep(Duration::from_secs(1).min(args.duration - start.elapsed())).await;
        let now = Sample::of(pid)?;
        let h = usize::from(start.elapsed() >= half);
        if h == 1 && middle.is_none() {
            middle = Some(now);
        }
        peak[h].rss = peak[h].rss.max(now.rss);
        peak[h].fds = peak[h].fds.max(now.fds);
        peak[h].sockets = peak[h].sockets.max(now.sockets);
    }
    let end = Sample::of(pid)?;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let middle = middle.unwrap_or(end);
    // The server learns that a device's event stream is gone only when it next writes to it (a
    // poke, or the keep-alive every 15 s): the sockets are read again until they are released
    // or the keep-alive has certainly run, not once at an instant that races it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut after = Sample::of(pid)?;
    while after.sockets > idle.sockets + 8 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        after = Sample::of(pid)?;
    }

    println!(
        "{:<18}{:>14}{:>14}{:>14}{:>14}{:>16}",
        "server process", "idle", "start", "middle", "end", "devices gone"
    );
    println!(
        "{:<18}{:>14}{:>14}{:>14}{:>14}{:>16}",
        "RSS",
        mib(idle.rss),
        mib(first.rss),
        mib(middle.rss),
        mib(end.rss),
        mib(after.rss)
    );
    for (label, get) in [
        (
            "open descriptors",
            (|s: &Sample| s.fds) as fn(&Sample) -> u64,
        ),
        ("sockets", |s: &Sample| s.sockets),
    ] {
        println!(
            "{label:<18}{:>14}{:>14}{:>14}{:>14}{:>16}",
            get(&idle),
            get(&first),
            get(&middle),
            get(&end),
            get(&after)
        );
    }
    println!(
        "peaks, first half / second half: RSS {} / {}, descriptors {} / {}",
        mib(peak[0].rss),
        mib(peak[1].rss),
        peak[0].fds,
        peak[1].fds
    );
    let c = &counters;
    println!(
        "devices: {} pushes ({} changes applied), {} pulls, {} photos uploaded, {} times out of \
         signal and back, {} pokes received, {} errors",
        c.pushes.load(Ordering::Relaxed),
        c.applied.load(Ordering::Relaxed),
        c.pulls.load(Ordering::Relaxed),
        c.uploads.load(Ordering::Relaxed),
        c.reconnects.load(Ordering::Relaxed),
        c.pokes.load(Ordering::Relaxed),
        c.errors.load(Ordering::Relaxed)
    );

    // The bounds: the second half's peak against where the second half began.
    let rss_bound = (middle.rss as f64 * RSS_BOUND.0) as u64 + RSS_BOUND.1;
    let fd_bound = (middle.fds as f64 * FD_BOUND.0) as u64 + FD_BOUND.1;
    let rss_ok = peak[1].rss <= rss_bound;
    let fds_ok = peak[1].fds <= fd_bound;
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    println!(
        "RSS in the second half at most middle x {:.2} + {}: peak {} <= {}  {}",
        RSS_BOUND.0,
        mib(RSS_BOUND.1),
        mib(peak[1].rss),
        mib(rss_bound),
        verdict(rss_ok)
    );
    println!(
        "descriptors in the second half at most middle x {:.2} + {}: peak {} <= {}  {}",
        FD_BOUND.0,
        FD_BOUND.1,
        peak[1].fds,
        fd_bound,
        verdict(fds_ok)
    );
    // Every device's connections closed: the server holds no more sockets than when idle
    // (plus a few the last requests may still be closing).
    let released = after.sockets <= idle.sockets + 8;
    println!(
        "sockets once the devices are gone: {} (idle {})  {}",
        after.sockets,
        idle.sockets,
        verdict(released)
    );
    let errors = c.errors.load(Ordering::Relaxed);
    if !(rss_ok && fds_ok && released) || errors > 0 {
        bail!("the soak failed: see the figures above ({errors} device errors)");
    }
    Ok(())
}

/// One simulated technician's device.
struct SoakDevice {
    user: String,
    password: String,
    base: String,
    rng: rand::rngs::StdRng,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    connected: Arc<AtomicU64>,
}

/// A device's connections: its HTTP client (its own pool, as a real device has) and the task
/// reading its event stream. Dropping it closes them all.
struct Online {
    session: Session,
    events: tokio::task::JoinHandle<()>,
}

/// The calls a soak device makes, over its own client. Written here rather than on the client
/// library's transport on purpose: the soak measures the server's descriptors and memory, so
/// each device holds exactly the connections it sets up (one idle per host, plus its event
/// stream), where a transport keeps a pool of its own choosing. The bodies are still
/// `core::wire`'s types.
struct Session {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Session {
    async fn login(
        http: &reqwest::Client,
        base: &str,
        user: &str,
        password: &str,
    ) -> Result<Session> {
        let response = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&LoginRequest {
                username: user.into(),
                password: password.into(),
                device_name: format!("{user}'s tablet"),
            })
            .send()
            .await?;
        let token = answer::<LoginResponse>(response).await?.token;
        Ok(Session {
            http: http.clone(),
            base: base.to_string(),
            token,
        })
    }

    async fn push(&self, changes: Vec<Change>) -> Result<Vec<Outcome>> {
        let response = self
            .http
            .post(format!("{}/api/v1/sync/push", self.base))
            .bearer_auth(&self.token)
            .json(&PushRequest { changes })
            .send()
            .await?;
        Ok(answer::<PushResponse>(response).await?.outcomes)
    }

    /// Pulls every page after `after`; the cursor to pull after next time.
    async fn pull(&self, mut after: i64) -> Result<i64> {
        loop {
            let response = self
                .http
                .get(format!("{}/api/v1/sync/pull", self.base))
                .query(&[("after", after.to_string()), ("outbox_depth", "0".into())])
                .bearer_auth(&self.token)
                .send()
                .await?;
            let page = answer::<PullResponse>(response).await?;
            after = page.next;
            if !page.more {
                return Ok(after);
            }
        }
    }

    /// One PATCH of the file lane.
    async fn upload(&self, sha: &str, offset: usize, length: usize, chunk: &[u8]) -> Result<()> {
        let response = self
            .http
            .patch(format!("{}/api/v1/files/{sha}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/offset+octet-stream")
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", offset.to_string())
            .header("upload-length", length.to_string())
            .body(chunk.to_vec())
            .send()
            .await?;
        if !response.status().is_success() {
            bail!(
                "upload answered {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }
}

/// A success's body, or the refusal as an error with the server's status and sentence.
async fn answer<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let status = response.status();
    if !status.is_success() {
        let path = response.url().path().to_string();
        let body = response.text().await.unwrap_or_default();
        bail!("{path} answered {status}: {body}");
    }
    Ok(response.json::<T>().await?)
}

impl Drop for Online {
    fn drop(&mut self) {
        self.events.abort();
    }
}

impl SoakDevice {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Waits a while, or less if the soak ends first.
    async fn pause(&self, how_long: Duration) {
        let until = Instant::now() + how_long;
        while Instant::now() < until && !self.stopped() {
            tokio::time::sleep((until - Instant::now()).min(Duration::from_millis(250))).await;
        }
    }

    async fn connect(&self, token: Option<&str>) -> Result<(Online, String)> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?;
        let session = match token {
            Some(token) => Session {
                http: http.clone(),
                base: self.base.clone(),
                token: token.to_string(),
            },
            None => Session::login(&http, &self.base, &self.user, &self.password).await?,
        };
        let response = http
            .get(format!("{}/api/v1/events", self.base))
            .bearer_auth(&session.token)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("the event stream answered {}", response.status());
        }
        let counters = self.counters.clone();
        let events = tokio::spawn(async move {
            let mut stream = response.bytes_stream();
            while let Some(Ok(chunk)) = stream.next().await {
                let pokes = chunk
                    .split(|b| *b == b'\n')
                    .filter(|line| line.starts_with(b"event:") && line.ends_with(b"poke"))
                    .count();
                counters.pokes.fetch_add(pokes as u64, Ordering::Relaxed);
            }
        });
        let token = session.token.clone();
        Ok((Online { session, events }, token))
    }

    async fn run(mut self) {
        let (mut online, token) = match self.connect(None).await {
            Ok(connected) => connected,
            Err(e) => {
                self.counters
                    .error(&format!("{} signing in", self.user), &e);
                return;
            }
        };
        let job = new_record_id();
        let created = online
            .session
            .push(vec![change(
                RecordType::Job,
                job,
                None,
                Op::Create,
                0,
                json!({"schedule": {"customer_id": new_record_id().to_string(),
                                    "site": format!("{} yard", self.user)},
                       "description": {"summary": "soak"}}),
                0,
            )])
            .await;
        match created {
            Ok(outcomes) if outcomes.iter().all(|o| o.status == OutcomeStatus::Applied) => {}
            Ok(outcomes) => {
                self.counters.error(
                    &format!("{} creating a job", self.user),
                    &format!("{outcomes:?}"),
                );
                return;
            }
            Err(e) => {
                self.counters
                    .error(&format!("{} creating a job", self.user), &e);
                return;
            }
        }
        self.connected.fetch_add(1, Ordering::Relaxed);
        let mut cursor = 0;
        let mut description = 1;
        let mut round = 0u64;
        // Spread the devices' rhythms so they do not all push in the same second.
        let offset = self.rng.gen_range(0..3000);
        self.pause(Duration::from_millis(offset)).await;
        while !self.stopped() {
            round += 1;
            if let Err(e) = self
                .work(&online.session, job, &mut description, round)
                .await
            {
                self.counters.error(&self.user, &e);
            }
            match online.session.pull(cursor).await {
                Ok(next) => {
                    cursor = next;
                    self.counters.pulls.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => self.counters.error(&format!("{} pulling", self.user), &e),
            }
            if self.rng.gen_bool(0.05) {
                // Out of signal: every connection goes; back later on new ones.
                drop(online);
                let gone = Duration::from_millis(self.rng.gen_range(2_000..10_000));
                self.pause(gone).await;
                loop {
                    match self.connect(Some(&token)).await {
                        Ok((back, _)) => {
                            online = back;
                            break;
                        }
                        Err(e) if self.stopped() => {
                            let _ = e;
                            return;
                        }
                        Err(e) => {
                            self.counters
                                .error(&format!("{} reconnecting", self.user), &e);
                            self.pause(Duration::from_secs(1)).await;
                        }
                    }
                }
                self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            let wait = Duration::from_millis(self.rng.gen_range(2_000..6_000));
            self.pause(wait).await;
        }
    }

    /// One round of a technician's work: a note, an edit, now and then a photo.
    async fn work(
        &mut self,
        session: &Session,
        job: RecordId,
        description: &mut i64,
        round: u64,
    ) -> Result<()> {
        let mut changes = vec![
            change(
                RecordType::JobNote,
                new_record_id(),
                None,
                Op::Create,
                0,
                json!({"text": {"job_id": job.to_string(), "text": format!("round {round}: checked the valves")}}),
                1,
            ),
            change(
                RecordType::Job,
                job,
                Some(Group::Description),
                Op::Update,
                *description,
                json!({"summary": format!("soak round {round}")}),
                1,
            ),
        ];
        if self.rng.gen_bool(0.1) {
            let mut bytes = vec![0u8; 16 * 1024];
            self.rng.fill(&mut bytes[..]);
            let sha = hex(&Sha256::digest(&bytes));
            for (offset, chunk) in [(0, &bytes[..8 * 1024]), (8 * 1024, &bytes[8 * 1024..])] {
                session.upload(&sha, offset, bytes.len(), chunk).await?;
            }
            self.counters.uploads.fetch_add(1, Ordering::Relaxed);
            changes.push(change(
                RecordType::Photo,
                new_record_id(),
                None,
                Op::Create,
                0,
                json!({"file": {"job_id": job.to_string(), "sha256": sha, "caption": "soak"}}),
                1,
            ));
        }
        let outcomes = session.push(changes).await?;
        self.counters.pushes.fetch_add(1, Ordering::Relaxed);
        for outcome in &outcomes {
            if outcome.status != OutcomeStatus::Applied {
                bail!("a change was not applied: {outcome:?}");
            }
        }
        self.counters
            .applied
            .fetch_add(outcomes.len() as u64, Ordering::Relaxed);
        if let Some(version) = outcomes.get(1).and_then(|o| o.version) {
            *description = version;
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
