//! `fieldsync bench board`: the office board of a large office. A server is seeded straight
//! into its store (thousands of jobs, hundreds of technicians with their tablets, some holding
//! unsynced work), the office app syncs it all over loopback HTTP, and the board's commands are
//! timed as the UI calls them: the list's page, a search for one job number, every card at once
//! (what the board sent before it had pages), a read just after a change from the field was
//! pulled, and the page through the loopback bridge. Each figure is printed beside a raw SQLite
//! select of the same rows from the app's own cache, timed in the same run and interleaved with
//! it, since the machine is shared and noisy.
//!
//! `--seed-only DIR` only seeds DIR's store (`DIR/fieldsync.db`, every person's password the
//! demo's), for a browser test that serves it with `fieldsync serve --data-dir DIR`.

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use fieldsync_app::{bridge, App};
use fieldsync_client::{ClientConfig, Clock, HttpTransport, NewChange, SyncClient};
use fieldsync_core::{Group, Op, OutcomeStatus, Policy, RecordId, RecordType, Role, State};
use fieldsync_server::auth::{hash_password, new_token, token_hash};
use fieldsync_server::store::{DeviceReport, NewUser, Store};
use fieldsync_server::SqliteStore;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::instrument::WithSubscriber;

use crate::demo_data::DEMO_PASSWORD;
use crate::http::{change, new_record_id};

/// The sizes of a run.
pub struct BoardArgs {
    pub jobs: usize,
    pub technicians: usize,
    pub rounds: usize,
    pub seed_only: Option<PathBuf>,
}

/// The office app's clock: the system's, moved on by the bench. The board's index reads again
/// what was written within its margin of a minute before its last read, so right after the
/// first sync every record is "recent"; the bench moves the office's clock two minutes on to
/// time the reads an office makes after that, as it would in the next minutes of a day.
struct Ahead(AtomicI64);

impl Clock for Ahead {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.0.load(Ordering::Relaxed))
    }
}

const FIRST: [&str; 20] = [
    "Tom", "Rita", "Ahmed", "Mei", "Jonas", "Priya", "Carlos", "Aisha", "Lena", "Kwame", "Sofia",
    "Dmitri", "Grace", "Mateo", "Yuki", "Omar", "Hannah", "Ivan", "Zara", "Noah",
];
const LAST: [&str; 10] = [
    "Baker", "Nguyen", "Okafor", "Schmidt", "Costa", "Patel", "Müller", "Kowalski", "Haddad",
    "Larsen",
];
const TEAMS: [&str; 8] = [
    "north", "south", "east", "west", "central", "harbour", "hills", "airport",
];
const WORK: [&str; 8] = [
    "Boiler service",
    "Leak under sink",
    "Heating not reaching classroom",
    "Annual gas safety check",
    "Gate motor hums",
    "Replace thermostat",
    "Walk-in cooler alarm",
    "Radiator valve stuck",
];

/// The user name and display name of technician `i`.
fn technician(i: usize) -> (String, String) {
    (
        format!("tech{i:03}"),
        format!(
            "{} {}",
            FIRST[i % FIRST.len()],
            // Every pair once for the first 200: a first name's ten go with ten last names.
            LAST[(i / FIRST.len() + i) % LAST.len()]
        ),
    )
}

/// Seeds `database` with an office (olivia, office; dana, dispatcher), `technicians` with a
/// tablet each (every seventh holding unsynced work at its last pull), a customer per ten jobs,
/// and `jobs` jobs spread over the technicians and the next two weeks, pushed through the
/// store's own judging in batches. Answers how many customers it made.
pub async fn seed(database: &Path, jobs: usize, technicians: usize) -> Result<usize> {
    if let Some(dir) = database.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let store = SqliteStore::open(database).await?;
    let policy = Policy::default_policy();
    let now = Utc::now();
    let hash = hash_password(DEMO_PASSWORD).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut people = vec![
        (
            "olivia".to_string(),
            "Olivia Chen".to_string(),
            Role::Office,
            "office".to_string(),
        ),
        (
            "dana".to_string(),
            "Dana Reyes".to_string(),
            Role::Dispatcher,
            "dispatch".to_string(),
        ),
    ];
    for i in 0..technicians {
        let (name, display) = technician(i);
        people.push((
            name,
            display,
            Role::Technician,
            TEAMS[i % TEAMS.len()].to_string(),
        ));
    }
    for (name, display, role, team) in &people {
        store
            .add_user(
                NewUser {
                    name: name.clone(),
                    display_name: display.clone(),
                    role: *role,
                    team: Some(team.clone()),
                    password_hash: hash.clone(),
                },
                now,
            )
            .await?;
    }
    let device = |user: String, name: String| {
        let store = &store;
        async move {
            let token = new_token();
            store
                .register_device(&user, &name, &token_hash(&token), now)
                .await?;
            store
                .device_by_token(&token_hash(&token))
                .await?
                .context("the device just registered")
        }
    };
    for i in 0..technicians {
        let (name, display) = technician(i);
        let tablet = device(name, format!("{display}'s tablet")).await?;
        let depth = if i % 7 == 0 { (i % 5 + 1) as i64 } else { 0 };
        let report = DeviceReport {
            outbox_depth: Some(depth),
            oldest_pending: (depth > 0).then(|| now - chrono::Duration::minutes(40 + i as i64)),
        };
        store.pull(&tablet, 0, 1, report, &policy, now).await?;
    }
    let front_desk = device("olivia".into(), "Front desk".into()).await?;
    let dispatch = device("dana".into(), "Dispatch desk".into()).await?;
    let customers: Vec<RecordId> = (0..jobs.div_ceil(10).max(1))
        .map(|_| new_record_id())
        .collect();
    let made: Vec<_> = customers
        .iter()
        .enumerate()
        .map(|(i, id)| {
            change(
                RecordType::Customer,
                *id,
                None,
                Op::Create,
                0,
                json!({"profile": {"name": format!("{} {}", LAST[i % LAST.len()], ["School", "Bakery", "Dental", "Hotel", "Garage"][i % 5]), "phone": format!("+44 20 7946 {:04}", i % 10_000)}}),
                0,
            )
        })
        .collect();
    for batch in made.chunks(500) {
        applied(store.push(&front_desk, batch, &policy, now).await?)?;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let start = now
        .date_naive()
        .and_hms_opt(7, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let made: Vec<_> = (0..jobs)
        .map(|i| {
            let (tech, _) = technician(i % technicians.max(1));
            let customer = customers[rng.gen_range(0..customers.len())];
            let window = start
                + chrono::Duration::days(rng.gen_range(0..14))
                + chrono::Duration::minutes(30 * rng.gen_range(0..20));
            change(
                RecordType::Job,
                new_record_id(),
                None,
                Op::Create,
                0,
                json!({
                    "schedule": {
                        "customer_id": customer.to_string(),
                        "site": format!("{} {} Street", 1 + i % 180, LAST[i % LAST.len()]),
                        "window_start": window.to_rfc3339(),
                        "assignee": tech,
                    },
                    "description": {"summary": format!("{} {}", WORK[i % WORK.len()], 1 + i % 40)},
                }),
                0,
            )
        })
        .collect();
    for batch in made.chunks(500) {
        applied(store.push(&dispatch, batch, &policy, now).await?)?;
    }
    store.close().await;
    Ok(customers.len())
}

fn applied(outcomes: Vec<fieldsync_core::Outcome>) -> Result<()> {
    if let Some(o) = outcomes.iter().find(|o| o.status != OutcomeStatus::Applied) {
        bail!("a seeded change was not applied: {o:?}");
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// p50 and p95 of a run of timings.
fn spread(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at = |p: f64| ms(times[((times.len() as f64 - 1.0) * p).round() as usize]);
    (at(0.5), at(0.95))
}

fn line(what: &str, times: Vec<Duration>, bytes: Option<usize>, note: &str) {
    let (p50, p95) = spread(times);
    let bytes = bytes.map_or(String::new(), |b| {
        if b >= 1_000_000 {
            format!("{:.1} MB", b as f64 / 1e6)
        } else {
            format!("{:.1} kB", b as f64 / 1e3)
        }
    });
    println!("{what:<44} {p50:>8.2} {p95:>8.2} {bytes:>10}  {note}");
}

pub async fn run(args: BoardArgs) -> Result<()> {
    if args.jobs == 0 || args.technicians == 0 || args.rounds == 0 {
        bail!("--jobs, --technicians and --rounds are 1 or more");
    }
    if let Some(dir) = &args.seed_only {
        let t = Instant::now();
        let customers = seed(&dir.join("fieldsync.db"), args.jobs, args.technicians)
            .with_subscriber(tracing::subscriber::NoSubscriber::default())
            .await?;
        println!(
            "seeded {} jobs, {} technicians, {customers} customers into {} in {:.1} s",
            args.jobs,
            args.technicians,
            dir.join("fieldsync.db").display(),
            t.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    let database = dir.path().join("server").join("fieldsync.db");
    let customers = seed(&database, args.jobs, args.technicians)
        .with_subscriber(tracing::subscriber::NoSubscriber::default())
        .await?;
    let seeding = t.elapsed();

    // The server in a process of its own, as in production (and its logs kept to warnings).
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("server"))
        .env("FIELDSYNC_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .context("starting the server")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reqwest::get(format!("{base}/healthz"))
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        if Instant::now() > deadline {
            bail!("the server did not answer /healthz within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let measured = measure(&args, dir.path(), &base, customers, seeding).await;
    let _ = server.start_kill();
    let _ = server.wait().await;
    measured
}

async fn measure(
    args: &BoardArgs,
    dir: &Path,
    base: &str,
    customers: usize,
    seeding: Duration,
) -> Result<()> {
    let clock = Arc::new(Ahead(AtomicI64::new(0)));
    let cache = dir.join("office").join("cache.db");
    std::fs::create_dir_all(cache.parent().context("cache dir")?)?;
    let client = SyncClient::open(
        &cache,
        Arc::new(HttpTransport::new(base)?),
        clock.clone(),
        ClientConfig::new("Bench office", &dir.join("office").join("files"), 7),
    )
    .await?;
    let app = Arc::new(App::new(client));
    let call = |command: &'static str, args: Value| {
        let app = app.clone();
        async move {
            bridge::dispatch(&app, command, args)
                .await
                .map_err(|e| anyhow::anyhow!("{command}: {} ({})", e.message, e.code))
        }
    };
    let t = Instant::now();
    call(
        "sign_in",
        json!({"username": "dana", "password": DEMO_PASSWORD}),
    )
    .await?;
    app.client().context("signed in")?.sync_now().await?;
    let first_sync = t.elapsed();
    println!(
        "board benchmark: {} jobs, {} technicians, {customers} customers; the office app (dana) on loopback HTTP",
        args.jobs, args.technicians
    );
    println!(
        "seeding the server: {:.1} s; the office app's first sync: {:.1} s",
        seeding.as_secs_f64(),
        first_sync.as_secs_f64()
    );

    // The raw baseline: the same rows from the app's own cache file, no JSON parsed.
    let raw = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&cache)
                .read_only(true),
        )
        .await?;
    let raw_select = || async {
        let t = Instant::now();
        let rows: Vec<(String, Option<String>, String, String, String, String)> = sqlx::query_as(
            "SELECT r.record_id, r.number, r.owner, r.state, g.grp, g.vals FROM records r \
             JOIN groups g ON g.record_id = r.record_id WHERE r.record_type = 'job'",
        )
        .fetch_all(&raw)
        .await?;
        Ok::<_, anyhow::Error>((t.elapsed(), rows.len()))
    };
    let raw_search = |needle: String| {
        let raw = &raw;
        async move {
            let t = Instant::now();
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT DISTINCT r.record_id FROM records r JOIN groups g ON g.record_id = r.record_id \
                 WHERE r.record_type = 'job' AND (r.number LIKE ?1 OR g.vals LIKE ?1)",
            )
            .bind(format!("%{needle}%"))
            .fetch_all(raw)
            .await?;
            Ok::<_, anyhow::Error>((t.elapsed(), rows.len()))
        }
    };

    let page = json!({"text": null, "state": null, "offset": 0, "limit": 100});
    let t = Instant::now();
    let first = call("board_page", page.clone()).await?;
    let build = t.elapsed();
    let (raw_once, raw_rows) = raw_select().await?;
    if first["jobs"].as_u64() != Some(args.jobs as u64) {
        bail!("the board has {} jobs, not {}", first["jobs"], args.jobs);
    }
    println!(
        "the board's index, built at its first read: {:.0} ms for {} jobs (raw select of their {raw_rows} group rows: {:.1} ms)",
        ms(build),
        args.jobs,
        ms(raw_once)
    );
    let numbers: Vec<String> = call("board", json!({}))
        .await?
        .as_array()
        .context("board rows")?
        .iter()
        .filter_map(|c| c["number"].as_str().map(str::to_string))
        .collect();
    if numbers.is_empty() {
        bail!("no job has a number");
    }
    // Two minutes on: the first sync's writes are behind the index's margin (see `Ahead`).
    clock.0.store(120_000, Ordering::Relaxed);
    call("board_page", page.clone()).await?;

    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (mut raw_t, mut raw_s, mut all_t, mut page_t, mut search_t, mut bridge_t) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut all_bytes, mut page_bytes, mut search_bytes, mut bridge_bytes) = (0, 0, 0, 0);
    // The schedule board's day and week (about 1/14 and 1/2 of the jobs: the seed spreads them
    // over two weeks from today), from the same index.
    let today = app
        .client()
        .context("signed in")?
        .now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let span = |days: i64| json!({"from": today.to_rfc3339(), "to": (today + chrono::Duration::days(days)).to_rfc3339()});
    let (mut day_t, mut week_t, mut day_bytes, mut week_bytes) = (vec![], vec![], 0, 0);
    let secret = bridge::new_secret();
    let router = bridge::router(app.clone(), secret.clone(), None);
    let bridge_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bridge_url = format!(
        "http://{}/api/{secret}/board_page",
        bridge_listener.local_addr()?
    );
    tokio::spawn(async move { axum::serve(bridge_listener, router).await });
    let http = reqwest::Client::new();
    for round in 0..args.rounds {
        raw_t.push(raw_select().await?.0);
        let t = Instant::now();
        let answer = call("board_page", page.clone()).await?;
        page_bytes = serde_json::to_vec(&answer)?.len();
        page_t.push(t.elapsed());
        let number = numbers[rng.gen_range(0..numbers.len())].clone();
        raw_s.push(raw_search(number.clone()).await?.0);
        let t = Instant::now();
        let found = call(
            "board_page",
            json!({"text": number, "state": null, "offset": 0, "limit": 100}),
        )
        .await?;
        search_bytes = serde_json::to_vec(&found)?.len();
        search_t.push(t.elapsed());
        if found["total"] != json!(1) {
            bail!("searching {number} found {}", found["total"]);
        }
        let t = Instant::now();
        let body = http
            .post(&bridge_url)
            .json(&page)
            .send()
            .await?
            .bytes()
            .await?;
        bridge_t.push(t.elapsed());
        bridge_bytes = body.len();
        let t = Instant::now();
        let day = call("schedule", span(1)).await?;
        day_t.push(t.elapsed());
        day_bytes = serde_json::to_vec(&day)?.len();
        let t = Instant::now();
        let week = call("schedule", span(7)).await?;
        week_t.push(t.elapsed());
        week_bytes = serde_json::to_vec(&week)?.len();
        if round % 4 == 0 {
            let t = Instant::now();
            let everything = call("board", json!({})).await?;
            all_bytes = serde_json::to_vec(&everything)?.len();
            all_t.push(t.elapsed());
        }
    }

    // A change from the field, pulled: a technician starts one of their jobs, the office syncs
    // (as its loop does on the server's poke), and the board is read.
    let tech = technician(1).0;
    std::fs::create_dir_all(dir.join("tablet"))?;
    let tablet = SyncClient::open(
        &dir.join("tablet").join("cache.db"),
        Arc::new(HttpTransport::new(base)?),
        Arc::new(fieldsync_client::SystemClock),
        ClientConfig::new("Bench tablet", &dir.join("tablet").join("files"), 8),
    )
    .await?;
    tablet.login(&tech, DEMO_PASSWORD).await?;
    tablet.sync_now().await?;
    let theirs: Vec<RecordId> = call("board", json!({"text": tech, "state": null}))
        .await?
        .as_array()
        .context("rows")?
        .iter()
        .filter_map(|c| c["id"].as_str()?.parse().ok())
        .collect();
    let (mut pulled_t, mut raw_p) = (vec![], vec![]);
    let office = app.client().context("signed in")?;
    for (i, job) in theirs.iter().take(args.rounds.min(20)).enumerate() {
        tablet
            .save(NewChange {
                change_id: None,
                record_type: RecordType::Job,
                record_id: *job,
                group: Some(Group::Status),
                op: Op::Update,
                values: json!({"state": State::Opened}),
                file_sha256: None,
            })
            .await?;
        let report = tablet.sync_now().await?;
        if report.applied != 1 {
            bail!("the technician's change was not applied: {report:?}");
        }
        office.sync_now().await?;
        raw_p.push(raw_select().await?.0);
        let t = Instant::now();
        let answer = call(
            "board_page",
            json!({"text": tech, "state": State::Opened, "offset": 0, "limit": 100}),
        )
        .await?;
        pulled_t.push(t.elapsed());
        if answer["total"] != json!(i + 1) {
            bail!(
                "after {} pulled changes the board shows {}",
                i + 1,
                answer["total"]
            );
        }
    }
    // A save on this device, read back at once.
    let (mut saved_t, mut raw_v) = (vec![], vec![]);
    for job in theirs.iter().skip(20).take(10) {
        office
            .save(NewChange {
                change_id: None,
                record_type: RecordType::Job,
                record_id: *job,
                group: Some(Group::Description),
                op: Op::Update,
                values: json!({"summary": "Customer called: bring a ladder"}),
                file_sha256: None,
            })
            .await?;
        raw_v.push(raw_select().await?.0);
        let t = Instant::now();
        let answer = call(
            "board_page",
            json!({"text": "bring a ladder", "state": null, "offset": 0, "limit": 100}),
        )
        .await?;
        saved_t.push(t.elapsed());
        if answer["rows"]
            .as_array()
            .is_none_or(|rows| !rows.iter().any(|r| r["id"] == json!(job.to_string())))
        {
            bail!("a job saved here is not found by its new summary");
        }
    }

    println!();
    println!("{:<44} {:>8} {:>8} {:>10}", "", "p50 ms", "p95 ms", "bytes");
    line(
        "raw SQLite select of the same rows",
        raw_t.clone(),
        None,
        "(baseline, same run)",
    );
    let (page_p50, _) = spread(page_t.clone());
    line(
        "board_page: the list's 100 rows",
        page_t,
        Some(page_bytes),
        &format!(
            "target < 20 ms: {}",
            if page_p50 < 20.0 { "PASS" } else { "FAIL" }
        ),
    );
    line(
        "  the same through the loopback bridge",
        bridge_t,
        Some(bridge_bytes),
        "(HTTP + JSON)",
    );
    line(
        "raw SQLite LIKE search of the same rows",
        raw_s,
        None,
        "(baseline, same run)",
    );
    let (search_p50, _) = spread(search_t.clone());
    line(
        "search for one job number",
        search_t,
        Some(search_bytes),
        &format!(
            "target < 20 ms: {}",
            if search_p50 < 20.0 { "PASS" } else { "FAIL" }
        ),
    );
    let (day_p50, _) = spread(day_t.clone());
    line(
        "schedule: the day, every technician",
        day_t,
        Some(day_bytes),
        &format!(
            "target < 20 ms: {}",
            if day_p50 < 20.0 { "PASS" } else { "FAIL" }
        ),
    );
    line("schedule: the week", week_t, Some(week_bytes), "");
    line(
        "board: every card at once",
        all_t,
        Some(all_bytes),
        "(what the list fetched before pages)",
    );
    line(
        "raw SQLite select (beside the next two)",
        [raw_p, raw_v].concat(),
        None,
        "(baseline, same run)",
    );
    line(
        "board_page after a change pulled from the field",
        pulled_t,
        None,
        "(the index reads that job again)",
    );
    line(
        "board_page after a save on this device",
        saved_t,
        None,
        "(the waiting changes' jobs read again)",
    );
    Ok(())
}
