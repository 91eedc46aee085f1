//! The fleet and its step loop: a real server (SQLite in a temporary directory) and real sync
//! clients, each with its own cache file and clock, acting as the people of DESIGN.md would.
//!
//! At each step the run's generator picks one thing: time passes, a device loses or finds its
//! network, the server or an app crashes and restarts from its database, a device runs a sync
//! round (perhaps killed half-way, perhaps with its person typing while it is in the air), or a
//! person does something on their device (a save, a double tap, a form sent twice, a
//! reassignment, a void, a resolution, a reopen). People act on what their own device shows.

use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use fieldsync_app::App;
use fieldsync_client::cache::CachedRecord;
use fieldsync_client::client::RecordView;
use fieldsync_client::{ChangeState, ClientConfig, NewChange, SyncClient};
use fieldsync_core::wire::{
    ReassignRequest, ReopenRequest, ResolveChoice, ResolveRequest, ReviewKind,
};
use fieldsync_core::{ChangeId, Group, Op, Owner, RecordId, RecordType, ReviewId, Role, State};
use fieldsync_server::store::{NewUser, Store};
use fieldsync_server::{AppState, Limits, PgOptions, PgStore, SqliteStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::net::{DeviceClock, FaultRates, KillPlan, Net, ServerClock, SimTime, SimTransport};
use crate::screens::{AppResolve, AppSave, Screen};
use crate::{Failure, RunSummary};

pub const PASSWORD: &str = "simulated password";

/// The first reading of the time line: a Monday morning.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 7, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A password hash the server accepts, made cheap (argon2 with the smallest parameters and a
/// fixed salt): every device signs in, and hundreds of seeds must run in a debug build. The
/// server verifies with the parameters written in the hash.
fn cheap_hash() -> Result<String, Failure> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).map_err(|e| Failure::setup(e.to_string()))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt =
        SaltString::encode_b64(b"fieldsync-sim-salt").map_err(|e| Failure::setup(e.to_string()))?;
    argon
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Failure::setup(e.to_string()))
}

/// A saved user action, as the simulation made it: what the checker holds every device to.
#[derive(Debug, Clone)]
pub struct Saved {
    pub device: usize,
    pub change_id: ChangeId,
    pub record_type: RecordType,
    pub record_id: RecordId,
    pub op: Op,
    /// For a create: the tag its values carry, unique to the action.
    pub tag: Option<String>,
}

/// What a device has shown over time, to check that nothing it shows goes backwards.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub cursor: i64,
    pub epochs: BTreeMap<RecordId, i64>,
    pub versions: BTreeMap<(RecordId, Group), i64>,
}

pub struct Device {
    pub user: String,
    pub role: Role,
    pub name: String,
    pub line: usize,
    pub dir: PathBuf,
    pub seed: u64,
    pub skew: Span,
    pub client: SyncClient,
    /// Forms this device sent lately, kept to send again (a form submitted twice).
    pub recent: Vec<NewChange>,
    pub seen: Seen,
    /// When an offline device finds its network again.
    pub back_at: Option<DateTime<Utc>>,
    pub kills: u32,
    /// The office app over this device's client, on office desks: their people act through its
    /// commands (see [`crate::office`]).
    pub app: Option<Arc<App>>,
    /// The screen its person has open, with what it showed when it opened.
    pub screen: Option<Screen>,
}

impl Device {
    pub fn cache_path(&self) -> PathBuf {
        self.dir.join("cache.db")
    }
}

/// What happened, in counts, for the report.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub saves: u64,
    pub double_taps: u64,
    pub resubmits: u64,
    pub typed_in_flight: u64,
    pub syncs: u64,
    pub app_kills: u64,
    pub app_restarts: u64,
    pub server_crashes: u64,
    pub reassigns: u64,
    pub resolutions: u64,
    pub reopens: u64,
    pub voids: u64,
    pub photos: u64,
    /// Outcomes the devices were told, over all their rounds.
    pub applied: u64,
    pub held: u64,
    pub rejected: u64,
    pub files_uploaded: u64,
    /// Office calls (reassign, reopen, resolve) the server carried out.
    pub office_calls_done: u64,
    pub sign_ins: u64,
    /// Forms and status buttons pressed in the office app, and its review cards chosen on.
    pub app_saves: u64,
    pub app_resolves: u64,
    /// Apps killed inside a local transaction (a save, a pull's fold); see [`crate::kills`].
    pub kills_in_transactions: u64,
    /// Devices that arrived late, with more than a pull page to catch up on.
    pub late_devices: u64,
}

pub struct World {
    pub seed: u64,
    pub steps: usize,
    pub(crate) rng: StdRng,
    pub time: Arc<SimTime>,
    pub net: Arc<Net>,
    pub dir: PathBuf,
    pub devices: Vec<Device>,
    /// The store the checker and the step loop read (the first instance's, on PostgreSQL).
    pub store: Option<Arc<dyn Store>>,
    /// Every running instance's store, to close when the server crashes.
    stores: Vec<Arc<dyn Store>>,
    /// On PostgreSQL (a share of seeds): the run's own database, served by two instances.
    pub pg: Option<crate::pg::PgDatabase>,
    server_down_until: Option<DateTime<Utc>>,
    pub saves: Arc<Mutex<Vec<Saved>>>,
    pub trace: Vec<String>,
    trace_hasher: Sha256,
    pub counts: Counts,
    tags: u64,
    pub technicians: Vec<String>,
    /// The highest seq the server ever reported, to check it never goes back after a crash.
    pub max_seq_seen: i64,
    /// Edits made through the office app, with the version their form opened on.
    pub app_saves: Vec<AppSave>,
    /// Resolutions chosen through the office app, with the version their card showed.
    pub app_resolves: Vec<AppResolve>,
    /// The step at which a late device arrives (a share of seeds), after the office's import.
    late_at: Option<usize>,
}

/// The people of a run: (name, role, team).
fn people(technicians: usize) -> Vec<(String, Role, Option<String>)> {
    let mut people: Vec<(String, Role, Option<String>)> = (0..technicians)
        .map(|i| {
            (
                format!("tech{i}"),
                Role::Technician,
                Some("north".to_string()),
            )
        })
        .collect();
    people.push(("dana".into(), Role::Dispatcher, Some("dispatch".into())));
    people.push(("sam".into(), Role::Supervisor, None));
    people.push(("fay".into(), Role::Finance, Some("finance".into())));
    people.push(("olivia".into(), Role::Office, Some("office".into())));
    people
}

const SITES: [&str; 3] = ["1 Mill Lane", "22 Harbour Road", "5 Station Square"];

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> Failure + '_ {
    move |e| Failure::setup(format!("{what}: {e}"))
}

impl World {
    pub async fn new(seed: u64, steps: usize, dir: &Path) -> Result<World, Failure> {
        let mut rng = StdRng::seed_from_u64(seed);
        let time = Arc::new(SimTime::new(start_time()));
        let rates = FaultRates::draw(&mut rng);
        let net = Arc::new(Net::new(
            StdRng::seed_from_u64(rng.gen()),
            rates,
            time.clone(),
        ));
        let technicians = rng.gen_range(2..=3);
        let mut world = World {
            seed,
            steps,
            rng,
            time,
            net,
            dir: dir.to_path_buf(),
            devices: Vec::new(),
            store: None,
            stores: Vec::new(),
            pg: None,
            server_down_until: None,
            saves: Arc::new(Mutex::new(Vec::new())),
            trace: Vec::new(),
            trace_hasher: Sha256::new(),
            counts: Counts::default(),
            tags: 0,
            technicians: (0..technicians).map(|i| format!("tech{i}")).collect(),
            max_seq_seen: 0,
            app_saves: Vec::new(),
            app_resolves: Vec::new(),
            late_at: None,
        };
        world.note(format!(
            "seed {seed}: {technicians} technicians, faults per thousand {rates:?}"
        ));
        // A share of seeds run the server on PostgreSQL with two instances over one database,
        // the devices spread over the two (see `net::Net::set_servers`).
        if world.rng.gen_bool(0.1) {
            world.pg = Some(crate::pg::PgDatabase::create(seed).await?);
            world.note("server: PostgreSQL, two instances over one database".into());
        }
        let store = world.open_store().await?;
        let hash = cheap_hash()?;
        for (name, role, team) in people(technicians) {
            store
                .add_user(
                    NewUser {
                        name: name.clone(),
                        display_name: name.clone(),
                        role,
                        team,
                        password_hash: hash.clone(),
                    },
                    start_time(),
                )
                .await
                .map_err(err("add a user"))?;
        }
        store.close().await;
        world.start_server().await?;
        // The fleet: a phone per technician (the first also has a tablet, now and then: the
        // same job open on two devices), and the office's desks (finance on two machines).
        let mut devices: Vec<(String, Role, String)> = Vec::new();
        for i in 0..technicians {
            devices.push((
                format!("tech{i}"),
                Role::Technician,
                format!("tech{i} phone"),
            ));
        }
        if world.rng.gen_bool(0.5) {
            devices.push(("tech0".into(), Role::Technician, "tech0 tablet".into()));
        }
        devices.push(("dana".into(), Role::Dispatcher, "dana desk".into()));
        devices.push(("sam".into(), Role::Supervisor, "sam desk".into()));
        devices.push(("fay".into(), Role::Finance, "fay desk".into()));
        if world.rng.gen_bool(0.5) {
            devices.push(("fay".into(), Role::Finance, "fay laptop".into()));
        }
        devices.push(("olivia".into(), Role::Office, "olivia desk".into()));
        for (user, role, name) in devices {
            world.add_device(&user, role, &name).await?;
        }
        // A share of seeds: the office's log grows past a pull page before a new laptop's first
        // sync, so that device pages through the pull (a thousand changes a page) in the storm.
        if world.rng.gen_bool(0.1) {
            world.late_at = Some(world.rng.gen_range(0..steps.max(1)));
        }
        Ok(world)
    }

    /// A device signed in (on a calm network: it is set up at the office) and added to the fleet.
    async fn add_device(&mut self, user: &str, role: Role, name: &str) -> Result<usize, Failure> {
        let line = self.net.add_line();
        let device_dir = self.dir.join(format!("device-{line}"));
        std::fs::create_dir_all(&device_dir).map_err(err("make a device directory"))?;
        let device_seed = self
            .seed
            .wrapping_mul(0x9e37_79b9)
            .wrapping_add(line as u64 + 1);
        let skew = Span::seconds(self.rng.gen_range(-600..=600));
        let client = open_client(self, line, &device_dir, name, device_seed, skew).await?;
        let calm = self.net.calm();
        self.net.set_calm(true);
        let signed_in = client.login(user, PASSWORD).await;
        self.net.set_calm(calm);
        signed_in.map_err(err("sign a device in"))?;
        let app = (role != Role::Technician).then(|| Arc::new(App::new(client.clone())));
        self.devices.push(Device {
            user: user.to_string(),
            role,
            name: name.to_string(),
            line,
            dir: device_dir,
            seed: device_seed,
            skew,
            client,
            recent: Vec::new(),
            seen: Seen::default(),
            back_at: None,
            kills: 0,
            app,
            screen: None,
        });
        Ok(self.devices.len() - 1)
    }

    /// The office's import: more than a pull page of changes (phone numbers of the customers),
    /// pushed on a calm network by an import tool of the office's (a client of its own with big
    /// batches, outside the fleet), before the late device arrives.
    async fn import(&mut self) -> Result<(), Failure> {
        let line = self.net.add_line();
        let dir = self.dir.join("import");
        std::fs::create_dir_all(&dir).map_err(err("make the import's directory"))?;
        let mut config = ClientConfig::new("olivia import", &dir.join("files"), self.seed ^ 0x1a);
        config.max_batch = 500;
        let client = SyncClient::open(
            &dir.join("cache.db"),
            Arc::new(SimTransport {
                net: self.net.clone(),
                line,
            }),
            Arc::new(DeviceClock {
                time: self.time.clone(),
                skew: Span::zero(),
            }),
            config,
        )
        .await
        .map_err(err("open the import's client"))?;
        client
            .login("olivia", PASSWORD)
            .await
            .map_err(err("sign the import in"))?;
        client
            .sync_now()
            .await
            .map_err(err("the import's first sync"))?;
        // Forty customers, then their phone numbers a few dozen times each: each save reads its
        // record's outbox rows, so the rows are spread over many records.
        let mut customers = Vec::new();
        for i in 0..40 {
            let id = client.new_record_id();
            let values = json!({
                "profile": {"name": format!("imported customer {i}"), "site_address": SITES[i % SITES.len()]},
                "billing": {"billing_contact": format!("imported billing {i}")},
            });
            client
                .save(create(RecordType::Customer, id, values))
                .await
                .map_err(|e| Failure::invariant(format!("the import's save: {e}")))?;
            customers.push(id);
        }
        let n = 1000 + self.rng.gen_range(50..300);
        for i in 0..n {
            let change = update(
                RecordType::Customer,
                customers[i % customers.len()],
                Group::Profile,
                json!({"phone": format!("0{}", 100_000 + i)}),
            );
            client
                .save(change)
                .await
                .map_err(|e| Failure::invariant(format!("the import's save: {e}")))?;
        }
        for _ in 0..100 {
            let (waiting, _, _) = client
                .cache()
                .depth()
                .await
                .map_err(|e| Failure::invariant(format!("cache: {e}")))?;
            if waiting == 0 {
                break;
            }
            client.sync_now().await.map_err(err("the import's sync"))?;
        }
        client.cache().close().await;
        self.drain_net_trace();
        self.note(format!("olivia import: {n} phone numbers imported"));
        Ok(())
    }

    /// The late device arrives: a new office laptop, signed in, and its first sync.
    async fn arrive(&mut self) -> Result<(), Failure> {
        let d = self
            .add_device("olivia", Role::Office, "olivia laptop")
            .await?;
        let max = match &self.store {
            Some(store) => store.max_seq().await.unwrap_or_default(),
            None => 0,
        };
        self.note(format!(
            "olivia laptop: set up and signed in, {max} changes in the log before its first sync"
        ));
        self.counts.late_devices += 1;
        self.sync(d, true).await
    }

    /// One instance's store: SQLite over the run's file, or a connection pool to its database.
    async fn open_store(&self) -> Result<Arc<dyn Store>, Failure> {
        Ok(match &self.pg {
            Some(db) => Arc::new(
                PgStore::connect_with(
                    &db.url(),
                    PgOptions {
                        max_connections: 4,
                        ..PgOptions::default()
                    },
                )
                .await
                .map_err(err("connect to the run's PostgreSQL database"))?,
            ),
            None => Arc::new(
                SqliteStore::open(&self.dir.join("server.db"))
                    .await
                    .map_err(err("open the server's store"))?,
            ),
        })
    }

    /// Starts (or restarts) the server over its database (file or PostgreSQL) and its files
    /// directory: one instance, or two over one PostgreSQL database.
    async fn start_server(&mut self) -> Result<(), Failure> {
        let instances = if self.pg.is_some() { 2 } else { 1 };
        let mut routers = Vec::new();
        for _ in 0..instances {
            let store = self.open_store().await?;
            // The rate limiters read the wall clock (governor): set far above anything the fleet
            // does, so no answer depends on how fast the host runs the simulation.
            let limits = Limits {
                device_rate: 1_000_000,
                device_burst: 1_000_000,
                login_per_minute: 1_000_000,
                ..Limits::default()
            };
            let state = AppState::new(
                store.clone(),
                fieldsync_core::Policy::default_policy(),
                self.dir.join("server-files"),
                Arc::new(ServerClock(self.time.clone())),
                limits.clone(),
            );
            routers.push(fieldsync_server::router(state));
            if self.store.is_none() {
                self.store = Some(store.clone());
            }
            self.stores.push(store);
        }
        self.net.set_servers(routers);
        Ok(())
    }

    /// The server process dies: its router and its connections go; the files stay.
    pub(crate) async fn crash_server(&mut self) {
        self.net.set_server(None);
        self.store = None;
        for store in std::mem::take(&mut self.stores) {
            store.close().await;
        }
    }

    /// A trace line: hashed (the run's fingerprint) and kept (the tail of a failure).
    pub(crate) fn note(&mut self, line: String) {
        self.trace_hasher.update(line.as_bytes());
        self.trace_hasher.update(b"\n");
        self.trace.push(line);
        if self.trace.len() > 4000 {
            self.trace.drain(..2000);
        }
    }

    pub(crate) fn drain_net_trace(&mut self) {
        for line in self.net.take_trace() {
            self.note(line);
        }
    }

    pub fn trace_hash(&self) -> String {
        hex::encode(self.trace_hasher.clone().finalize())
    }

    pub(crate) fn tag(&mut self) -> String {
        self.tags += 1;
        format!("a{}", self.tags)
    }

    fn elapsed(&self) -> String {
        let s = (self.time.now() - start_time()).num_seconds();
        format!("{}h{:02}m{:02}s", s / 3600, (s / 60) % 60, s % 60)
    }

    pub async fn run(&mut self) -> Result<(), Failure> {
        self.setup().await?;
        for step in 0..self.steps {
            let at = self.elapsed();
            self.note(format!("-- step {step} at {at}"));
            if self.late_at.is_some_and(|at| at <= step) && self.net.server_up() {
                self.late_at = None;
                self.arrive().await?;
            } else {
                self.step().await?;
            }
            self.drain_net_trace();
            if self.net.take_crashed() {
                self.crash_server().await;
                self.counts.server_crashes += 1;
                let down = Span::seconds(self.rng.gen_range(0..=300));
                self.server_down_until = Some(self.time.now() + down);
                self.note(format!(
                    "server: crashed under a request, down for {}s",
                    down.num_seconds()
                ));
            }
        }
        Ok(())
    }

    /// The morning: customers and jobs made in the office and pulled onto every device, on a
    /// calm network.
    async fn setup(&mut self) -> Result<(), Failure> {
        self.net.set_calm(true);
        let office = self.device_of(Role::Office);
        for _ in 0..2 {
            self.create_customer(office).await?;
        }
        self.sync(office, true).await?;
        let dispatcher = self.device_of(Role::Dispatcher);
        self.sync(dispatcher, true).await?;
        for _ in 0..self.technicians.len() * 2 {
            self.create_job(dispatcher).await?;
        }
        for d in 0..self.devices.len() {
            self.sync(d, true).await?;
        }
        for d in 0..self.devices.len() {
            self.sync(d, true).await?;
        }
        if self.late_at.is_some() {
            self.import().await?;
        }
        self.drain_net_trace();
        self.net.set_calm(false);
        Ok(())
    }

    fn device_of(&self, role: Role) -> usize {
        self.devices
            .iter()
            .position(|d| d.role == role)
            .unwrap_or_default()
    }

    async fn step(&mut self) -> Result<(), Failure> {
        let now = self.time.now();
        if self.server_down_until.is_some_and(|at| at <= now) {
            self.server_down_until = None;
            self.start_server().await?;
            self.note("server: restarted from its database".into());
        }
        for d in 0..self.devices.len() {
            if self.devices[d].back_at.is_some_and(|at| at <= now) {
                self.devices[d].back_at = None;
                self.net.set_online(self.devices[d].line, true);
                let name = self.devices[d].name.clone();
                self.note(format!("{name}: back online"));
            }
        }
        self.net.deliver_due(false).await;
        let roll = self.rng.gen_range(0..100);
        match roll {
            0..=9 => {
                let by = match self.rng.gen_range(0..10) {
                    0..=5 => Span::seconds(self.rng.gen_range(1..=120)),
                    6..=8 => Span::minutes(self.rng.gen_range(2..=60)),
                    _ => Span::hours(self.rng.gen_range(1..=6)),
                };
                self.time.advance(by);
                self.note(format!("time: +{}s", by.num_seconds()));
            }
            10..=14 => {
                let d = self.rng.gen_range(0..self.devices.len());
                let line = self.devices[d].line;
                let name = self.devices[d].name.clone();
                if self.net.online(line) {
                    // Offline for minutes, now and then for hours; it comes back when the time
                    // line gets there.
                    let hours = if self.rng.gen_bool(0.2) {
                        Span::minutes(self.rng.gen_range(60..=8 * 60))
                    } else {
                        Span::minutes(self.rng.gen_range(2..=30))
                    };
                    self.net.set_online(line, false);
                    self.devices[d].back_at = Some(now + hours);
                    self.note(format!("{name}: offline for {}m", hours.num_minutes()));
                } else {
                    self.net.set_online(line, true);
                    self.devices[d].back_at = None;
                    self.note(format!("{name}: online"));
                }
            }
            15..=16 => {
                if self.net.server_up() {
                    self.crash_server().await;
                    self.counts.server_crashes += 1;
                    let down = Span::seconds(self.rng.gen_range(0..=300));
                    self.server_down_until = Some(now + down);
                    self.note(format!("server: crashed, down for {}s", down.num_seconds()));
                }
            }
            17..=18 => {
                let d = self.rng.gen_range(0..self.devices.len());
                self.restart_app(d, "crashed while idle").await?;
            }
            19 => {
                // The person signs in again on the same device (a new token; the old one stops
                // working at once), perhaps with work still in the outbox.
                let d = self.rng.gen_range(0..self.devices.len());
                self.sign_in(d, "signs in again").await;
            }
            20..=44 => {
                let d = self.rng.gen_range(0..self.devices.len());
                let force = self.rng.gen_bool(0.3);
                let kill = self.rng.gen_bool(0.08).then(|| KillPlan {
                    calls_left: self.rng.gen_range(0..4),
                    after_delivery: self.rng.gen_bool(0.5),
                });
                if self.rng.gen_bool(0.03) {
                    return self.fold_killed(d).await;
                }
                if self.rng.gen_bool(0.12) {
                    self.arm_typing(d).await?;
                }
                self.sync_with(d, force, kill).await?;
            }
            _ => {
                let d = self.rng.gen_range(0..self.devices.len());
                self.act(d).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn restart_app(&mut self, d: usize, why: &str) -> Result<(), Failure> {
        let (line, dir, name, seed, skew) = {
            let dev = &self.devices[d];
            (
                dev.line,
                dev.dir.clone(),
                dev.name.clone(),
                dev.seed,
                dev.skew,
            )
        };
        self.net.disarm(line);
        self.devices[d].client.cache().close().await;
        let client = open_client(self, line, &dir, &name, seed, skew).await?;
        // The app starts again over the new client; whatever screen was open is gone.
        if self.devices[d].app.is_some() {
            self.devices[d].app = Some(Arc::new(App::new(client.clone())));
        }
        self.devices[d].screen = None;
        self.devices[d].client = client;
        self.counts.app_restarts += 1;
        self.note(format!("{name}: app {why}, restarted from its cache"));
        self.observe(d).await
    }

    async fn sign_in(&mut self, d: usize, what: &str) {
        let client = self.devices[d].client.clone();
        let (user, name) = (self.devices[d].user.clone(), self.devices[d].name.clone());
        let result = client.login(&user, PASSWORD).await;
        self.drain_net_trace();
        self.counts.sign_ins += 1;
        let shown = match result {
            Ok(_) => "signed in".to_string(),
            Err(e) => format!("failed: {e}"),
        };
        self.note(format!("{name}: {what}: {shown}"));
    }

    pub async fn sync(&mut self, d: usize, force: bool) -> Result<(), Failure> {
        self.sync_with(d, force, None).await
    }

    /// One sync round of a device, as its background loop (or "Sync now") would run it; a kill
    /// drops the round where it stands and restarts the app from its cache.
    async fn sync_with(
        &mut self,
        d: usize,
        force: bool,
        kill: Option<KillPlan>,
    ) -> Result<(), Failure> {
        let line = self.devices[d].line;
        let name = self.devices[d].name.clone();
        let killed = Arc::new(tokio::sync::Notify::new());
        if let Some(plan) = kill {
            self.net.arm_kill(line, plan, killed.clone());
        }
        let client = self.devices[d].client.clone();
        self.counts.syncs += 1;
        let result = {
            let round = async {
                if force {
                    client.sync_now().await
                } else {
                    client.sync_once().await
                }
            };
            tokio::select! {
                biased;
                report = round => Some(report),
                _ = killed.notified() => None,
            }
        };
        drop(client);
        self.net.disarm(line);
        self.drain_net_trace();
        let how = if force { "sync now" } else { "sync" };
        match result {
            None => {
                self.counts.app_kills += 1;
                self.devices[d].kills += 1;
                self.note(format!("{name}: {how} killed mid-round"));
                return self.restart_app(d, "killed mid-sync").await;
            }
            Some(Ok(report)) => {
                let signed_out = report.failed.iter().any(|f| f.contains("sign in again"));
                self.note(format!(
                    "{name}: {how}: sent {} applied {} held {} rejected {} files {} pulled {} failed {:?}",
                    report.sent,
                    report.applied,
                    report.held,
                    report.rejected,
                    report.files_uploaded,
                    report.pulled,
                    report.failed
                ));
                self.counts.applied += report.applied as u64;
                self.counts.held += report.held as u64;
                self.counts.rejected += report.rejected as u64;
                self.counts.files_uploaded += report.files_uploaded as u64;
                // The app says the sign-in is no longer valid: its person signs in again.
                if signed_out {
                    self.sign_in(d, "is told to sign in again and does").await;
                }
            }
            Some(Err(e)) => {
                let e = e.to_string();
                // A local store that fails is a bug; a network that fails is the weather.
                if e.starts_with("local store") || e.starts_with("local data") {
                    return Err(Failure::invariant(format!(
                        "{name}: sync round failed: {e}"
                    )));
                }
                self.note(format!("{name}: {how} failed: {e}"));
                // A refused session signs the device out (the app goes to its sign-in screen,
                // the outbox kept): its person signs in again.
                if self.devices[d].client.user().is_none() {
                    self.sign_in(d, "is at the sign-in screen and signs in")
                        .await;
                }
            }
        }
        self.banner_tells_the_truth(d).await?;
        self.observe(d).await
    }

    /// After each round on an office desk, the app's banner is held to the truth (issue 11): it
    /// says "Synced" only when nothing waits in the outbox and the desk's last request was
    /// answered. The truth is the simulation's own: the cache's depth and the network's record.
    async fn banner_tells_the_truth(&mut self, d: usize) -> Result<(), Failure> {
        if self.devices[d].app.is_none() {
            return Ok(());
        }
        let Ok(banner) = self.command(d, "sync_status", Value::Null).await? else {
            return Ok(());
        };
        let text = banner["text"].as_str().unwrap_or_default().to_string();
        let name = self.devices[d].name.clone();
        let (changes, files, _) = self.devices[d]
            .client
            .cache()
            .depth()
            .await
            .map_err(|e| Failure::invariant(format!("{name}: cache: {e}")))?;
        let answered = self.net.last_answered(self.devices[d].line);
        if text.starts_with("Synced") && (changes + files > 0 || answered != Some(true)) {
            return Err(Failure::invariant(format!(
                "{name}: the banner says {text:?} with {changes} changes and {files} files waiting, the last request {}",
                match answered {
                    Some(true) => "answered",
                    Some(false) => "unanswered",
                    None => "never sent",
                }
            )));
        }
        Ok(())
    }

    /// Reads what a device shows and checks that nothing went backwards: its cursor, the
    /// versions of its groups, the ownership epochs of its records.
    pub async fn observe(&mut self, d: usize) -> Result<(), Failure> {
        let name = self.devices[d].name.clone();
        let client = self.devices[d].client.clone();
        let cursor: i64 = client
            .cache()
            .meta("cursor")
            .await
            .map_err(|e| Failure::invariant(format!("{name}: cache: {e}")))?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let seen = &mut self.devices[d].seen;
        if cursor < seen.cursor {
            return Err(Failure::invariant(format!(
                "{name}: pull cursor went back from {} to {cursor}",
                seen.cursor
            )));
        }
        seen.cursor = cursor;
        let records = cached_records(&client)
            .await
            .map_err(|e| Failure::invariant(format!("{name}: cache: {e}")))?;
        for record in records {
            let before = seen.epochs.insert(record.record_id, record.owner_epoch);
            if before.is_some_and(|b| b > record.owner_epoch) {
                return Err(Failure::invariant(format!(
                    "{name}: ownership epoch of {} went back from {before:?} to {}",
                    record.record_id, record.owner_epoch
                )));
            }
            for (group, (version, _)) in &record.groups {
                let before = seen.versions.insert((record.record_id, *group), *version);
                if before.is_some_and(|b| b > *version) {
                    return Err(Failure::invariant(format!(
                        "{name}: version of {}.{group} went back from {before:?} to {version}",
                        record.record_id
                    )));
                }
            }
        }
        if let Some(store) = &self.store {
            let max = store
                .max_seq()
                .await
                .map_err(|e| Failure::invariant(format!("server: {e}")))?;
            if max < self.max_seq_seen {
                return Err(Failure::invariant(format!(
                    "server: newest seq went back from {} to {max}",
                    self.max_seq_seen
                )));
            }
            self.max_seq_seen = max;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // People.
    // -----------------------------------------------------------------------------------------

    async fn act(&mut self, d: usize) -> Result<(), Failure> {
        // A form sent again: the same action id, whatever happened since.
        if !self.devices[d].recent.is_empty() && self.rng.gen_bool(0.08) {
            let i = self.rng.gen_range(0..self.devices[d].recent.len());
            let change = self.devices[d].recent[i].clone();
            self.counts.resubmits += 1;
            return self.save(d, change, "form sent again").await;
        }
        // Office people work in the office app about half the time: through its commands, with
        // screens left open across steps; the rest straight on the client, as before.
        if self.devices[d].app.is_some() && self.rng.gen_bool(0.5) {
            return self.act_in_app(d).await;
        }
        match self.devices[d].role {
            Role::Technician => self.act_technician(d).await,
            Role::Dispatcher => self.act_dispatcher(d).await,
            Role::Supervisor => self.act_supervisor(d).await,
            Role::Finance => self.act_finance(d).await,
            _ => self.act_office(d).await,
        }
    }

    async fn act_technician(&mut self, d: usize) -> Result<(), Failure> {
        let user = self.devices[d].user.clone();
        let jobs = self.views(d, RecordType::Job).await?;
        let mine: Vec<&RecordView> = jobs
            .iter()
            .filter(|j| {
                (j.record.owner == Owner::User(user.clone())
                    || j.record.owner == Owner::Team("north".into()))
                    && !j.record.read_only
            })
            .collect();
        // Mostly their own jobs; now and then one that moved away (the app says read-only).
        let job = if !mine.is_empty() && self.rng.gen_bool(0.95) {
            Some(mine[self.rng.gen_range(0..mine.len())].clone())
        } else if !jobs.is_empty() {
            Some(jobs[self.rng.gen_range(0..jobs.len())].clone())
        } else {
            None
        };
        let roll = self.rng.gen_range(0..100);
        let Some(job) = job.filter(|_| roll >= 8) else {
            return self.create_job(d).await;
        };
        let job_id = job.record.record_id;
        let tag = self.tag();
        let change = match roll {
            8..=32 => {
                let states = [
                    State::Opened,
                    State::InProgress,
                    State::Paused,
                    State::InProgress,
                    State::SignedOff,
                    State::Closed,
                ];
                let to = states[self.rng.gen_range(0..states.len())];
                update(
                    RecordType::Job,
                    job_id,
                    Group::Status,
                    json!({ "state": to }),
                )
            }
            33..=45 => update(
                RecordType::Job,
                job_id,
                Group::Work,
                json!({ "labour_hours": self.rng.gen_range(1..=16) as f64 / 2.0 }),
            ),
            46..=53 => update(
                RecordType::Job,
                job_id,
                Group::Description,
                json!({ "summary": format!("{tag} summary") }),
            ),
            54..=57 => update(
                RecordType::Job,
                job_id,
                Group::Signature,
                json!({ "signer": format!("{tag} signer"), "signed_at": self.devices[d].client.now().to_rfc3339() }),
            ),
            58..=73 => self.child(d, RecordType::JobNote, job_id, &tag),
            74..=83 => self.child(d, RecordType::PartLine, job_id, &tag),
            84..=91 => return self.photo(d, job_id, &tag).await,
            // An inspection form, or its answers changed (owner only, locked after sign-off).
            92..=95 => {
                let existing = self.children_of(d, RecordType::Inspection, job_id).await?;
                match existing.first() {
                    Some(id) if self.rng.gen_bool(0.6) => update(
                        RecordType::Inspection,
                        *id,
                        Group::Answers,
                        json!({"answers": {"note": format!("{tag} answer")}}),
                    ),
                    _ => self.child(d, RecordType::Inspection, job_id, &tag),
                }
            }
            // An edit of a part line already added: append-only, so it goes to review.
            _ => {
                let lines = self.children_of(d, RecordType::PartLine, job_id).await?;
                let Some(line) = lines.first().copied() else {
                    return Ok(());
                };
                update(
                    RecordType::PartLine,
                    line,
                    Group::Line,
                    json!({"quantity": 5}),
                )
            }
        };
        self.save(d, change, "saves").await
    }

    fn child(&self, d: usize, record_type: RecordType, job: RecordId, tag: &str) -> NewChange {
        let id = self.devices[d].client.new_record_id();
        let values = match record_type {
            RecordType::JobNote => {
                json!({"text": {"job_id": job.to_string(), "text": format!("{tag} note")}})
            }
            RecordType::Inspection => {
                json!({"answers": {"job_id": job.to_string(), "answers": {"note": format!("{tag} inspection")}}})
            }
            _ => {
                json!({"line": {"job_id": job.to_string(), "part_number": format!("{tag} part"), "quantity": 2}})
            }
        };
        create(record_type, id, values)
    }

    async fn photo(&mut self, d: usize, job: RecordId, tag: &str) -> Result<(), Failure> {
        let len = self.rng.gen_range(200..3000usize);
        let salt: u8 = self.rng.gen();
        let bytes: Vec<u8> = tag
            .bytes()
            .chain((0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ salt))
            .collect();
        let client = self.devices[d].client.clone();
        let sha = client
            .attach_file(&bytes)
            .await
            .map_err(|e| Failure::invariant(format!("attach a photo: {e}")))?;
        let mut change = create(
            RecordType::Photo,
            client.new_record_id(),
            json!({"file": {"job_id": job.to_string(), "sha256": sha, "caption": format!("{tag} photo")}}),
        );
        change.file_sha256 = Some(sha);
        self.counts.photos += 1;
        self.save(d, change, "takes a photo").await
    }

    /// A job, by a dispatcher (for a technician) or by a technician (for themselves). The
    /// customer, site and day come from a small set, so possible duplicates happen.
    async fn create_job(&mut self, d: usize) -> Result<(), Failure> {
        let customers = self.views(d, RecordType::Customer).await?;
        if customers.is_empty() {
            return Ok(());
        }
        let customer = customers[self.rng.gen_range(0..customers.len())]
            .record
            .record_id;
        let assignee = match self.devices[d].role {
            Role::Technician => self.devices[d].user.clone(),
            _ => self.technicians[self.rng.gen_range(0..self.technicians.len())].clone(),
        };
        let site = SITES[self.rng.gen_range(0..SITES.len())];
        let start = start_time() + Span::days(self.rng.gen_range(0..3)) + Span::hours(2);
        let tag = self.tag();
        let id = self.devices[d].client.new_record_id();
        let mut values = json!({
            "schedule": {
                "customer_id": customer.to_string(),
                "site": site,
                "window_start": start.to_rfc3339(),
                "window_end": (start + Span::hours(4)).to_rfc3339(),
                "assignee": assignee,
            },
            "description": {"summary": format!("{tag} job")},
        });
        // A technician's app may leave the assignee out: the server fills it in, so the
        // server's first version differs from what the device sent.
        if self.devices[d].role == Role::Technician && self.rng.gen_bool(0.5) {
            if let Some(schedule) = values.get_mut("schedule").and_then(Value::as_object_mut) {
                schedule.remove("assignee");
            }
        }
        self.save(d, create(RecordType::Job, id, values), "creates a job")
            .await
    }

    async fn create_customer(&mut self, d: usize) -> Result<(), Failure> {
        let tag = self.tag();
        let id = self.devices[d].client.new_record_id();
        let values = json!({
            "profile": {"name": format!("{tag} customer"), "site_address": SITES[0]},
            "billing": {"billing_contact": format!("{tag} billing")},
        });
        self.save(
            d,
            create(RecordType::Customer, id, values),
            "creates a customer",
        )
        .await
    }

    async fn act_dispatcher(&mut self, d: usize) -> Result<(), Failure> {
        let jobs = self.views(d, RecordType::Job).await?;
        let roll = self.rng.gen_range(0..100);
        if jobs.is_empty() || roll < 15 {
            return self.create_job(d).await;
        }
        let job = jobs[self.rng.gen_range(0..jobs.len())].clone();
        let job_id = job.record.record_id;
        match roll {
            15..=39 => {
                // Mostly to someone else than the job's owner, as a dispatcher would.
                let others: Vec<String> = self
                    .technicians
                    .iter()
                    .filter(|t| {
                        job.record.owner != Owner::User(t.to_string()) || self.rng.gen_bool(0.05)
                    })
                    .cloned()
                    .collect();
                let Some(to) = others
                    .get(self.rng.gen_range(0..others.len().max(1)))
                    .cloned()
                else {
                    return Ok(());
                };
                self.counts.reassigns += 1;
                // Now and then to the whole team: any of its technicians may take it.
                let owner = if self.rng.gen_bool(0.15) {
                    Owner::Team("north".into())
                } else {
                    Owner::User(to)
                };
                let (Owner::User(name) | Owner::Team(name)) = &owner;
                let what = format!("reassigns {} to {name}", short(job_id));
                // With the ownership epoch the dispatcher's own desk shows, as the office app
                // sends the one its warning was about: a job that changed hands meanwhile is
                // refused, not moved on a stale picture.
                let request = ReassignRequest {
                    owner,
                    owner_epoch: Some(job.record.owner_epoch),
                    reason: Some("the dispatcher moves the work".into()),
                };
                self.call(d, OfficeCall::Reassign(job_id, request), &what)
                    .await
            }
            40..=49 => self.void(d, RecordType::Job, job_id).await,
            50..=59 => {
                let start = start_time()
                    + Span::days(self.rng.gen_range(0..3))
                    + Span::hours(self.rng.gen_range(1..9));
                let change = update(
                    RecordType::Job,
                    job_id,
                    Group::Schedule,
                    json!({"window_start": start.to_rfc3339(), "window_end": (start + Span::hours(3)).to_rfc3339()}),
                );
                self.save(d, change, "moves the window").await
            }
            60..=67 => {
                let tag = self.tag();
                let change = update(
                    RecordType::Job,
                    job_id,
                    Group::Description,
                    json!({"summary": format!("{tag} office summary")}),
                );
                self.save(d, change, "edits the summary").await
            }
            68..=74 => self.reopen(d, job_id).await,
            _ => self.resolve(d).await,
        }
    }

    async fn act_supervisor(&mut self, d: usize) -> Result<(), Failure> {
        let jobs = self.views(d, RecordType::Job).await?;
        let roll = self.rng.gen_range(0..100);
        if jobs.is_empty() || roll >= 60 {
            return self.resolve(d).await;
        }
        let job = jobs[self.rng.gen_range(0..jobs.len())].clone();
        let job_id = job.record.record_id;
        match roll {
            0..=24 => {
                let states = [
                    State::Paused,
                    State::InProgress,
                    State::SignedOff,
                    State::Closed,
                ];
                let to = states[self.rng.gen_range(0..states.len())];
                let change = update(
                    RecordType::Job,
                    job_id,
                    Group::Status,
                    json!({ "state": to }),
                );
                self.save(d, change, "changes the status").await
            }
            25..=39 => {
                let change = update(
                    RecordType::Job,
                    job_id,
                    Group::Work,
                    json!({ "labour_hours": self.rng.gen_range(1..=16) as f64 / 2.0 }),
                );
                self.save(d, change, "corrects the labour").await
            }
            40..=47 => self.void(d, RecordType::Job, job_id).await,
            _ => self.reopen(d, job_id).await,
        }
    }

    async fn act_finance(&mut self, d: usize) -> Result<(), Failure> {
        let invoices = self.views(d, RecordType::Invoice).await?;
        let roll = self.rng.gen_range(0..100);
        if invoices.is_empty() || roll < 20 {
            let jobs = self.views(d, RecordType::Job).await?;
            if jobs.is_empty() {
                return Ok(());
            }
            let job = jobs[self.rng.gen_range(0..jobs.len())].record.record_id;
            let tag = self.tag();
            let subtotal = self.rng.gen_range(50..500) as f64;
            let id = self.devices[d].client.new_record_id();
            let values = json!({"totals": {"job_id": job.to_string(), "lines": [{"text": format!("{tag} invoice"), "amount": subtotal}], "subtotal": subtotal, "tax": subtotal / 5.0, "total": subtotal * 1.2, "currency": "EUR"}});
            return self
                .save(
                    d,
                    create(RecordType::Invoice, id, values),
                    "creates an invoice",
                )
                .await;
        }
        if roll < 30 {
            return self.billing(d).await;
        }
        if roll < 45 {
            return self.resolve(d).await;
        }
        let picked = &invoices[self.rng.gen_range(0..invoices.len())];
        let invoice = picked.record.record_id;
        // A correction keeps the invoice adding up (core field rules): new tax, and the total
        // that goes with it on the subtotal this device sees.
        let subtotal = picked
            .values
            .get(&Group::Totals)
            .and_then(|t| t.get("subtotal"))
            .and_then(Value::as_f64)
            .unwrap_or_default();
        match roll {
            45..=74 => {
                let tax = self.rng.gen_range(0..200) as f64;
                let change = update(
                    RecordType::Invoice,
                    invoice,
                    Group::Totals,
                    json!({"tax": tax, "total": subtotal + tax}),
                );
                self.save(d, change, "corrects a total").await
            }
            75..=92 => {
                let to = if self.rng.gen_bool(0.6) {
                    State::Sent
                } else {
                    State::Paid
                };
                let change = update(
                    RecordType::Invoice,
                    invoice,
                    Group::Status,
                    json!({"state": to}),
                );
                self.save(d, change, "moves an invoice").await
            }
            _ => self.void(d, RecordType::Invoice, invoice).await,
        }
    }

    async fn act_office(&mut self, d: usize) -> Result<(), Failure> {
        let roll = self.rng.gen_range(0..100);
        let customers = self.views(d, RecordType::Customer).await?;
        if customers.is_empty() || roll < 10 {
            return self.create_customer(d).await;
        }
        match roll {
            10..=49 => {
                let customer = customers[self.rng.gen_range(0..customers.len())]
                    .record
                    .record_id;
                let tag = self.tag();
                let change = update(
                    RecordType::Customer,
                    customer,
                    Group::Profile,
                    // A phone must look like one (core field rules): the tag as its digits.
                    json!({"phone": format!("+44 1632 {:0>6}", &tag[1..])}),
                );
                self.save(d, change, "edits a customer").await
            }
            50..=79 => self.billing(d).await,
            _ => self.resolve(d).await,
        }
    }

    async fn billing(&mut self, d: usize) -> Result<(), Failure> {
        let customers = self.views(d, RecordType::Customer).await?;
        if customers.is_empty() {
            return Ok(());
        }
        let customer = customers[self.rng.gen_range(0..customers.len())]
            .record
            .record_id;
        let tag = self.tag();
        let change = update(
            RecordType::Customer,
            customer,
            Group::Billing,
            json!({"billing_contact": format!("{tag} contact")}),
        );
        self.save(d, change, "edits billing").await
    }

    async fn void(
        &mut self,
        d: usize,
        record_type: RecordType,
        record_id: RecordId,
    ) -> Result<(), Failure> {
        let tag = self.tag();
        self.counts.voids += 1;
        let change = NewChange {
            change_id: None,
            record_type,
            record_id,
            group: Some(Group::Status),
            op: Op::Void,
            values: json!({"reason": format!("{tag} void")}),
            file_sha256: None,
        };
        self.save(d, change, "voids").await
    }

    async fn reopen(&mut self, d: usize, job: RecordId) -> Result<(), Failure> {
        // Mostly a job the person sees signed off or closed; now and then one that is not.
        let closed: Vec<RecordId> = self
            .views(d, RecordType::Job)
            .await?
            .iter()
            .filter(|v| v.record.state.is_reopenable())
            .map(|v| v.record.record_id)
            .collect();
        let job = if !closed.is_empty() && self.rng.gen_bool(0.9) {
            closed[self.rng.gen_range(0..closed.len())]
        } else {
            job
        };
        self.counts.reopens += 1;
        let tag = self.tag();
        let request = ReopenRequest {
            reason: format!("{tag} reopen"),
        };
        let what = format!("reopens {}", short(job));
        self.call(d, OfficeCall::Reopen(job, request), &what).await
    }

    /// Resolves an item of the inbox the person's role may resolve, as the office app would.
    async fn resolve(&mut self, d: usize) -> Result<(), Failure> {
        let client = self.devices[d].client.clone();
        let name = self.devices[d].name.clone();
        let mut items = match client.inbox(false).await {
            Ok(items) => items,
            Err(e) => {
                self.drain_net_trace();
                self.note(format!("{name}: cannot open the inbox: {e}"));
                return Ok(());
            }
        };
        self.drain_net_trace();
        let role = self.devices[d].role;
        items.retain(|i| i.state == "open" && i.resolvers.contains(&role));
        // The server's order is by time; the simulation's pick must not depend on the random
        // parts of review ids, so it picks by the held change's id (the device's, seeded).
        items.sort_by_key(|i| (i.change_id, i.record_id));
        if items.is_empty() {
            self.note(format!("{name}: inbox empty"));
            return Ok(());
        }
        let item = items[self.rng.gen_range(0..items.len())].clone();
        let request = match (item.kind, self.rng.gen_range(0..3)) {
            (ReviewKind::Conflict, 2) => {
                match merged_values(item.record_type, item.group, &mut self.rng) {
                    Some(values) => ResolveRequest {
                        choice: ResolveChoice::Merged,
                        values: Some(values),
                        current_version: None,
                    },
                    None => ResolveRequest {
                        choice: ResolveChoice::Current,
                        values: None,
                        current_version: None,
                    },
                }
            }
            (_, 0) => ResolveRequest {
                choice: ResolveChoice::Current,
                values: None,
                current_version: None,
            },
            _ => ResolveRequest {
                choice: ResolveChoice::Incoming,
                values: None,
                current_version: None,
            },
        };
        self.counts.resolutions += 1;
        // The choice as the wire spells it, so the trace reads as it did.
        let choice = serde_json::to_value(request.choice).unwrap_or_default();
        let what = format!(
            "resolves a {} on {} ({}) with {choice}",
            item.kind.as_str(),
            short(item.record_id),
            item.group.map(|g| g.as_str()).unwrap_or("-"),
        );
        self.call(d, OfficeCall::Resolve(item.review_id, request), &what)
            .await
    }

    /// An office call beyond sync (reassign, reopen, resolve) through the device's network.
    async fn call(&mut self, d: usize, call: OfficeCall, what: &str) -> Result<(), Failure> {
        let client = self.devices[d].client.clone();
        let name = self.devices[d].name.clone();
        // Only the parts that do not carry the server's random ids go in the trace: an outcome's
        // status, version and seq (a reassignment has no outcome of its own).
        let answer = match call {
            OfficeCall::Reassign(job, request) => client
                .reassign(RecordType::Job, job, &request)
                .await
                .map(|_| None),
            OfficeCall::Reopen(job, request) => client
                .reopen(RecordType::Job, job, &request)
                .await
                .map(Some),
            OfficeCall::Resolve(id, request) => {
                client.resolve(id, &request).await.map(|r| Some(r.outcome))
            }
        };
        self.drain_net_trace();
        let shown = match answer {
            Ok(outcome) => {
                self.counts.office_calls_done += 1;
                match outcome {
                    Some(o) => format!(
                        "ok (status {} version {} seq {})",
                        o.status.as_str(),
                        o.version.unwrap_or(-1),
                        o.seq.unwrap_or(-1),
                    ),
                    None => "ok (status - version -1 seq -1)".to_string(),
                }
            }
            Err(e) => format!("refused: {e}"),
        };
        self.note(format!("{name}: {what}: {shown}"));
        Ok(())
    }

    /// Saves one action on a device; with a double tap now and then (the same action id twice).
    async fn save(&mut self, d: usize, mut change: NewChange, what: &str) -> Result<(), Failure> {
        let client = self.devices[d].client.clone();
        let name = self.devices[d].name.clone();
        if change.change_id.is_none() {
            change.change_id = Some(client.new_change_id());
        }
        if self.rng.gen_bool(0.04) {
            self.counts.saves += 1;
            return self.save_killed(d, change, what).await;
        }
        let taps = if self.rng.gen_bool(0.15) { 2 } else { 1 };
        for tap in 0..taps {
            let result = record_save(&client, &self.saves, d, change.clone()).await;
            let line = format!(
                "{name}: {what}{}: {} {} {} -> {result}",
                if tap > 0 { " (double tap)" } else { "" },
                change.op.as_str(),
                change.record_type,
                short(change.record_id),
            );
            self.note(line);
            if tap > 0 {
                self.counts.double_taps += 1;
            } else {
                self.counts.saves += 1;
            }
        }
        let recent = &mut self.devices[d].recent;
        recent.push(change);
        if recent.len() > 8 {
            recent.remove(0);
        }
        Ok(())
    }

    /// Arms a save to be made while the device's next request is in the air: a technician
    /// typing a note or a summary, an office person editing, as the device reconnects.
    async fn arm_typing(&mut self, d: usize) -> Result<(), Failure> {
        let client = self.devices[d].client.clone();
        let views = self.views(d, RecordType::Job).await?;
        let user = self.devices[d].user.clone();
        let jobs: Vec<RecordId> = views
            .iter()
            .filter(|j| {
                !j.record.read_only
                    && (self.devices[d].role != Role::Technician
                        || j.record.owner == Owner::User(user.clone()))
            })
            .map(|j| j.record.record_id)
            .collect();
        if jobs.is_empty() {
            return Ok(());
        }
        let job = jobs[self.rng.gen_range(0..jobs.len())];
        let tag = self.tag();
        let mut change = match (self.devices[d].role, self.rng.gen_range(0..3)) {
            (Role::Technician, 0) => self.child(d, RecordType::JobNote, job, &tag),
            (Role::Technician, 1) => update(
                RecordType::Job,
                job,
                Group::Work,
                json!({"labour_hours": 3.5}),
            ),
            (Role::Finance | Role::Office, _) => self.child(d, RecordType::JobNote, job, &tag),
            _ => update(
                RecordType::Job,
                job,
                Group::Description,
                json!({"summary": format!("{tag} typed")}),
            ),
        };
        change.change_id = Some(client.new_change_id());
        let saves = self.saves.clone();
        let line = self.devices[d].line;
        self.counts.typed_in_flight += 1;
        self.net.arm_in_flight(
            line,
            Box::new(move || {
                Box::pin(async move {
                    let what = format!(
                        "{} {} {}",
                        change.op.as_str(),
                        change.record_type,
                        short(change.record_id)
                    );
                    let result = record_save(&client, &saves, d, change).await;
                    format!("typed {what} -> {result}")
                })
            }),
        );
        Ok(())
    }

    /// The records of a type on a job, as the device has them (confirmed by the server).
    async fn children_of(
        &mut self,
        d: usize,
        record_type: RecordType,
        job: RecordId,
    ) -> Result<Vec<RecordId>, Failure> {
        Ok(self
            .views(d, record_type)
            .await?
            .into_iter()
            .filter(|v| v.record.job_id == Some(job) && !v.record.local_only)
            .map(|v| v.record.record_id)
            .collect())
    }

    /// A device's records of a type as its person sees them, in a fixed order.
    pub(crate) async fn views(
        &mut self,
        d: usize,
        record_type: RecordType,
    ) -> Result<Vec<RecordView>, Failure> {
        let client = self.devices[d].client.clone();
        let mut views = client.records(record_type).await.map_err(|e| {
            Failure::invariant(format!("{}: read the cache: {e}", self.devices[d].name))
        })?;
        // Sorted by id, so a pick by index does not depend on the cache's own order.
        views.sort_by_key(|v| v.record.record_id);
        Ok(views)
    }

    // -----------------------------------------------------------------------------------------
    // The calm after the storm.
    // -----------------------------------------------------------------------------------------

    /// Heals everything (network calm, every device online, the server up, held-back requests
    /// delivered) and runs "Sync now" on every device until no outbox holds anything and a whole
    /// round of pulls brought nothing new.
    pub async fn settle(&mut self, rounds: usize) -> Result<(), Failure> {
        self.note("-- the network heals; everyone syncs".into());
        self.net.set_calm(true);
        if !self.net.server_up() {
            self.server_down_until = None;
            self.start_server().await?;
            self.note("server: restarted from its database".into());
        }
        for d in 0..self.devices.len() {
            self.net.set_online(self.devices[d].line, true);
            self.devices[d].back_at = None;
        }
        if self.late_at.take().is_some() {
            self.arrive().await?;
        }
        self.net.deliver_due(true).await;
        self.drain_net_trace();
        let mut last = -1;
        for round in 0..rounds {
            // Past any retry time or set-aside a lane still waits for.
            self.time.advance(Span::minutes(31));
            for d in 0..self.devices.len() {
                self.sync(d, true).await?;
            }
            let max = match &self.store {
                Some(store) => store
                    .max_seq()
                    .await
                    .map_err(|e| Failure::invariant(format!("server: {e}")))?,
                None => 0,
            };
            let mut waiting = 0;
            for device in &self.devices {
                let (changes, files, _) = device
                    .client
                    .cache()
                    .depth()
                    .await
                    .map_err(|e| Failure::invariant(format!("{}: cache: {e}", device.name)))?;
                waiting += changes + files;
            }
            self.note(format!(
                "settle round {round}: newest seq {max}, {waiting} waiting"
            ));
            if waiting == 0 && max == last {
                return Ok(());
            }
            last = max;
        }
        let mut stuck = Vec::new();
        for device in &self.devices {
            let status = device
                .client
                .status()
                .await
                .map_err(|e| Failure::invariant(e.to_string()))?;
            if status.changes.pending + status.files.pending > 0 {
                stuck.push(format!(
                    "{}: {} changes, {} files ({:?} / {:?})",
                    device.name,
                    status.changes.pending,
                    status.files.pending,
                    status.changes.last_error,
                    status.files.last_error
                ));
            }
        }
        Err(Failure::invariant(format!(
            "the fleet did not settle in {rounds} rounds on a healed network: {}",
            stuck.join("; ")
        )))
    }

    pub fn summary(&self) -> RunSummary {
        RunSummary {
            seed: self.seed,
            steps: self.steps,
            trace_hash: self.trace_hash(),
            faults: self
                .net
                .struck()
                .into_iter()
                .map(|(f, n)| (f.name().to_string(), n))
                .collect(),
            counts: self.counts.clone(),
            devices: self.devices.len(),
            trace: self.trace.clone(),
        }
    }
}

async fn open_client(
    world: &World,
    line: usize,
    dir: &Path,
    name: &str,
    seed: u64,
    skew: Span,
) -> Result<SyncClient, Failure> {
    let mut config = ClientConfig::new(name, &dir.join("files"), seed);
    // Small chunks, so a photo takes several requests and an upload breaks half-way.
    config.chunk_size = 512;
    config.max_batch = 8;
    SyncClient::open(
        &dir.join("cache.db"),
        Arc::new(SimTransport {
            net: world.net.clone(),
            line,
        }),
        Arc::new(DeviceClock {
            time: world.time.clone(),
            skew,
        }),
        config,
    )
    .await
    .map_err(|e| Failure::invariant(format!("{name}: the app cannot open its cache: {e}")))
}

/// Saves a change and remembers it if the device accepted it; a refusal on the device (a
/// read-only record, say) is a person told no, not a saved change.
pub(crate) async fn record_save(
    client: &SyncClient,
    saves: &Mutex<Vec<Saved>>,
    device: usize,
    change: NewChange,
) -> String {
    let tag = (change.op == Op::Create)
        .then(|| tag_of(&change.values))
        .flatten();
    let (record_type, record_id, op) = (change.record_type, change.record_id, change.op);
    match client.save(change).await {
        Ok((change_id, state)) => {
            let mut saves = saves.lock().unwrap_or_else(|p| p.into_inner());
            if !saves
                .iter()
                .any(|s| s.device == device && s.change_id == change_id)
            {
                saves.push(Saved {
                    device,
                    change_id,
                    record_type,
                    record_id,
                    op,
                    tag,
                });
            }
            match state {
                // The review id is the server's random choice: it stays out of the trace.
                ChangeState::Held { reason, .. } => format!("Held ({reason})"),
                other => format!("{other:?}"),
            }
        }
        Err(e) => format!("refused on the device: {e}"),
    }
}

/// The unique tag a create's values carry (`a17`), found in its text fields.
pub fn tag_of(values: &Value) -> Option<String> {
    fn walk(v: &Value) -> Option<String> {
        match v {
            Value::String(s) if s.starts_with('a') && s.contains(' ') => {
                s.split(' ').next().map(str::to_string)
            }
            Value::Object(map) => {
                // Only the fields that carry a tag (never ids or sites).
                for key in [
                    "name",
                    "summary",
                    "text",
                    "part_number",
                    "caption",
                    "lines",
                    "note",
                ] {
                    if let Some(found) = map.get(key).and_then(walk) {
                        return Some(found);
                    }
                }
                map.values().filter(|v| v.is_object()).find_map(walk)
            }
            Value::Array(items) => items.iter().find_map(walk),
            _ => None,
        }
    }
    walk(values)
}

/// Every record in a device's cache.
pub async fn cached_records(
    client: &SyncClient,
) -> fieldsync_client::ClientResult<Vec<CachedRecord>> {
    let mut out = Vec::new();
    for t in RecordType::ALL {
        out.extend(client.cache().records(t, 100_000).await?);
    }
    Ok(out)
}

fn create(record_type: RecordType, record_id: RecordId, values: Value) -> NewChange {
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

fn update(record_type: RecordType, record_id: RecordId, group: Group, values: Value) -> NewChange {
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

/// A merged value a resolver might type for a contested group.
pub(crate) fn merged_values(
    record_type: RecordType,
    group: Option<Group>,
    rng: &mut StdRng,
) -> Option<Value> {
    match (record_type, group?) {
        (RecordType::Job, Group::Status) => {
            let states = [State::InProgress, State::Paused, State::SignedOff];
            Some(json!({"state": states[rng.gen_range(0..states.len())]}))
        }
        (RecordType::Job, Group::Work) => {
            Some(json!({"labour_hours": rng.gen_range(1..=20) as f64 / 2.0}))
        }
        (RecordType::Invoice, Group::Totals) => {
            // The whole of the totals, adding up on its own (core field rules).
            let subtotal = rng.gen_range(10..999) as f64;
            Some(
                json!({"lines": [{"text": "merged", "amount": subtotal}], "subtotal": subtotal, "tax": 0.0, "total": subtotal}),
            )
        }
        (RecordType::Customer, Group::Billing) => {
            Some(json!({"billing_contact": "merged contact"}))
        }
        _ => None,
    }
}

/// The first eight hex digits of an id's random tail, for the trace.
pub fn short(id: RecordId) -> String {
    let s = id.to_string();
    s.get(s.len().saturating_sub(8)..)
        .unwrap_or_default()
        .to_string()
}

/// An office action beyond sync, as the office app makes it.
enum OfficeCall {
    Reassign(RecordId, ReassignRequest),
    Reopen(RecordId, ReopenRequest),
    Resolve(ReviewId, ResolveRequest),
}
