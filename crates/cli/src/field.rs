//! The field-device simulator: `fieldsync field` drives one technician's device through a day's
//! work (status, notes, part lines, photos, signatures), going offline and online on a seeded
//! schedule; `fieldsync sim` runs many at once, with the office changing jobs at the same time.

use anyhow::{Context, Result};
use async_trait::async_trait;
use chrono::Utc;
use fieldsync_client::transport::{HttpAnswer, HttpCall};
use fieldsync_client::{
    ClientConfig, HttpTransport, NewChange, SyncClient, SystemClock, Transport, TransportError,
};
use fieldsync_core::{Group, Op, Owner, RecordType, State};
use futures::stream::BoxStream;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A transport with an off switch: the simulated device's radio.
pub struct Radio {
    inner: HttpTransport,
    online: AtomicBool,
}

impl Radio {
    fn check(&self) -> Result<(), TransportError> {
        if self.online.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(TransportError::Unreachable("no signal (simulated)".into()))
        }
    }
}

/// The radio sits under the protocol: it lets bytes through or cuts them, and the client's own
/// typed calls run over it as over any network.
#[async_trait]
impl Transport for Radio {
    async fn exchange(&self, call: HttpCall) -> Result<HttpAnswer, TransportError> {
        self.check()?;
        self.inner.exchange(call).await
    }
    async fn events(&self, token: &str) -> Result<BoxStream<'static, i64>, TransportError> {
        self.check()?;
        self.inner.events(token).await
    }
}

/// How one simulated device ended its day.
#[derive(Debug, Clone)]
pub struct DeviceResult {
    pub user: String,
    pub actions: Vec<String>,
    pub synced: i64,
    pub held: i64,
    pub rejected: i64,
    pub pending: u64,
    pub banner: String,
    pub summary: Vec<String>,
}

/// A simulated device, signed in and holding its jobs in its cache.
pub struct Device {
    user: String,
    client: SyncClient,
    radio: Arc<Radio>,
    seed: u64,
}

impl Device {
    /// Opens the device's cache, signs in and pulls its jobs.
    pub async fn prepare(
        base: &str,
        user: &str,
        password: &str,
        dir: &Path,
        seed: u64,
    ) -> Result<Device> {
        std::fs::create_dir_all(dir)?;
        let radio = Arc::new(Radio {
            inner: HttpTransport::new(base)?,
            online: AtomicBool::new(true),
        });
        let config = ClientConfig::new(
            &format!("{user}'s tablet (simulated)"),
            &dir.join("files"),
            seed,
        );
        let client = SyncClient::open(
            &dir.join("cache.db"),
            radio.clone(),
            Arc::new(SystemClock),
            config,
        )
        .await?;
        if client.user().is_none() {
            client
                .login(user, password)
                .await
                .with_context(|| format!("signing in as {user}"))?;
        }
        client.sync_now().await?;
        Ok(Device {
            user: user.to_string(),
            client,
            radio,
            seed,
        })
    }

    /// Goes out of signal, as a technician does on entering a basement.
    pub fn go_offline(&self) {
        self.radio.online.store(false, Ordering::SeqCst);
    }
}

/// Drives one technician's device: every job assigned to them is worked through, with the radio
/// going off and on by a seeded schedule; at the end it comes online and syncs until settled.
pub async fn run_device(
    base: &str,
    user: &str,
    password: &str,
    dir: &Path,
    seed: u64,
    offline_chance: f64,
) -> Result<DeviceResult> {
    let device = Device::prepare(base, user, password, dir, seed).await?;
    work(device, offline_chance).await
}

/// A day's work on a prepared device.
pub async fn work(device: Device, offline_chance: f64) -> Result<DeviceResult> {
    let Device {
        user,
        client,
        radio,
        seed,
    } = device;
    let user = user.as_str();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut actions = Vec::new();
    if !radio.online.load(Ordering::SeqCst) {
        actions.push("started the day out of signal".to_string());
    }
    let me = fieldsync_core::Owner::User(user.to_string());
    let jobs: Vec<_> = client
        .records(RecordType::Job)
        .await?
        .into_iter()
        .filter(|j| {
            j.record.owner == me
                && !j.record.read_only
                && j.record.state.is_open()
                && j.record.state != State::SignedOff
        })
        .collect();
    for job in jobs {
        let id = job.record.record_id;
        let label = job.record.number.clone().unwrap_or_else(|| id.to_string());
        let steps: Vec<(&str, NewChange)> = vec![
            (
                "started work",
                update(id, Group::Status, json!({"state": State::InProgress})),
            ),
            (
                "added a note",
                create(
                    &client,
                    RecordType::JobNote,
                    json!({"text": {"job_id": id.to_string(), "text": "Isolated the supply and drained the system."}}),
                ),
            ),
            (
                "added a part line",
                create(
                    &client,
                    RecordType::PartLine,
                    json!({"line": {"job_id": id.to_string(), "part_number": format!("P-{}", rng.gen_range(100..999)), "quantity": rng.gen_range(1..4)}}),
                ),
            ),
            (
                "logged labour",
                update(
                    id,
                    Group::Work,
                    json!({"labour_hours": f64::from(rng.gen_range(1..8)) / 2.0, "completed_at": Utc::now().to_rfc3339()}),
                ),
            ),
            (
                "took the customer's signature",
                update(
                    id,
                    Group::Signature,
                    json!({"signer": "Site contact", "signed_at": Utc::now().to_rfc3339()}),
                ),
            ),
        ];
        for (what, change) in steps {
            if current_state(&client, id).await? == Some(State::InProgress)
                && what == "started work"
            {
                continue;
            }
            if rng.gen_bool(offline_chance.clamp(0.0, 1.0)) {
                let now_online = !radio.online.load(Ordering::SeqCst);
                radio.online.store(now_online, Ordering::SeqCst);
                actions.push(format!(
                    "{label}: went {}",
                    if now_online { "online" } else { "offline" }
                ));
            }
            match client.save(change).await {
                Ok((_, state)) => {
                    actions.push(format!("{label}: {what} ({})", state.label(client.now())))
                }
                Err(e) => actions.push(format!("{label}: {what}: not saved: {e}")),
            }
            if radio.online.load(Ordering::SeqCst) {
                client.sync_once().await?;
            }
        }
        // A photo of the finished work travels in the file lane.
        let mut bytes = vec![0u8; 48 * 1024];
        rng.fill(&mut bytes[..]);
        let sha = client.attach_file(&bytes).await?;
        let photo = NewChange {
            file_sha256: Some(sha.clone()),
            ..create(
                &client,
                RecordType::Photo,
                json!({"file": {"job_id": id.to_string(), "sha256": sha, "caption": "Finished work"}}),
            )
        };
        match client.save(photo).await {
            Ok((_, state)) => actions.push(format!(
                "{label}: took a photo ({})",
                state.label(client.now())
            )),
            Err(e) => actions.push(format!("{label}: took a photo: not saved: {e}")),
        }
        match client
            .save(update(
                id,
                Group::Status,
                json!({"state": State::SignedOff}),
            ))
            .await
        {
            Ok((_, state)) => actions.push(format!(
                "{label}: signed off ({})",
                state.label(client.now())
            )),
            Err(e) => actions.push(format!("{label}: signed off: not saved: {e}")),
        }
    }
    // End of the day: back in signal, sync until the outbox is settled.
    if !radio.online.load(Ordering::SeqCst) {
        radio.online.store(true, Ordering::SeqCst);
        actions.push("went online".into());
    }
    let mut summary = Vec::new();
    for _ in 0..20 {
        let report = client.sync_now().await?;
        summary.extend(report.summary);
        let status = client.status().await?;
        if status.changes.pending + status.files.pending == 0 {
            break;
        }
    }
    let status = client.status().await?;
    let cache = client.cache();
    let result = DeviceResult {
        user: user.to_string(),
        actions,
        synced: cache.count_settled("synced").await?,
        held: cache.count_settled("held").await?,
        rejected: cache.count_settled("rejected").await?,
        pending: status.changes.pending + status.files.pending,
        banner: status.banner(client.now()),
        summary,
    };
    cache.close().await;
    Ok(result)
}

async fn current_state(client: &SyncClient, id: fieldsync_core::RecordId) -> Result<Option<State>> {
    Ok(client.record(id).await?.and_then(|v| {
        v.values
            .get(&Group::Status)
            .and_then(|s| s.get("state"))
            .and_then(|s| s.as_str())
            .and_then(State::parse)
    }))
}

fn update(
    record_id: fieldsync_core::RecordId,
    group: Group,
    values: serde_json::Value,
) -> NewChange {
    NewChange {
        change_id: None,
        record_type: RecordType::Job,
        record_id,
        group: Some(group),
        op: Op::Update,
        values,
        file_sha256: None,
    }
}

fn create(client: &SyncClient, record_type: RecordType, values: serde_json::Value) -> NewChange {
    NewChange {
        change_id: None,
        record_type,
        record_id: client.new_record_id(),
        group: None,
        op: Op::Create,
        values,
        file_sha256: None,
    }
}

/// Prints a device's day.
pub fn print(result: &DeviceResult) {
    println!("== {} ==", result.user);
    for action in &result.actions {
        println!("  {action}");
    }
    for line in &result.summary {
        println!("  summary: {line}");
    }
    println!(
        "  final: {} synced, {} held for review, {} rejected, {} still pending. {}",
        result.synced, result.held, result.rejected, result.pending, result.banner
    );
}

/// `fieldsync sim`: an embedded server with the demo's people and jobs (and one more technician
/// and job per extra device), N devices working at once, and the office colliding with them:
/// a supervisor pauses every device's first job after the device pulled it, and a dispatcher
/// reassigns the first device's second job while it is out of signal.
pub async fn sim(
    devices: usize,
    seed: u64,
    offline_chance: f64,
    server: Option<String>,
) -> Result<()> {
    use crate::demo_data::{DEMO_PASSWORD, DEMO_USERS};
    let dir = tempfile::tempdir()?;
    let mut running = None;
    let base = match server {
        Some(base) => base,
        None => {
            let (base, handle) =
                crate::demo_data::start_embedded(&dir.path().join("server")).await?;
            println!("embedded demo server at {base}");
            running = Some(handle);
            base
        }
    };
    let dana = crate::http::Session::login(&base, "dana", DEMO_PASSWORD, "Dispatch desk").await?;
    let sam = crate::http::Session::login(&base, "sam", DEMO_PASSWORD, "Supervisor laptop").await?;
    let mut users: Vec<String> = DEMO_USERS
        .iter()
        .filter(|u| u.2 == fieldsync_core::Role::Technician)
        .map(|u| u.0.to_string())
        .collect();
    for i in users.len()..devices {
        let Some(server) = &running else {
            anyhow::bail!("against an outside server the simulator drives the demo's {} technicians; run it without --server for more", users.len());
        };
        let name = format!("tech{}", i + 1);
        crate::demo_data::add_technician_with_job(server, &dana, &name).await?;
        users.push(name);
    }
    users.truncate(devices.max(1));
    let mut prepared = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let device = Device::prepare(
            &base,
            user,
            DEMO_PASSWORD,
            &dir.path().join(user),
            seed.wrapping_add(i as u64),
        )
        .await?;
        prepared.push(device);
    }
    // The office acts on what the devices already hold.
    let mut collisions = Vec::new();
    for (i, device) in prepared.iter().enumerate() {
        let jobs = device.client.records(RecordType::Job).await?;
        let mine: Vec<_> = jobs
            .iter()
            .filter(|j| {
                j.record.owner == fieldsync_core::Owner::User(device.user.clone())
                    && matches!(j.record.state, State::Assigned | State::Opened)
            })
            .collect();
        if let Some(first) = mine.first() {
            let version = first
                .record
                .groups
                .get(&Group::Status)
                .map(|(v, _)| *v)
                .unwrap_or(1);
            let outcome = sam
                .push(vec![crate::http::change(
                    RecordType::Job,
                    first.record.record_id,
                    Some(Group::Status),
                    Op::Update,
                    version,
                    json!({"state": State::Paused}),
                    first.record.owner_epoch,
                )])
                .await?;
            if outcome
                .first()
                .is_some_and(|o| o.status == fieldsync_core::OutcomeStatus::Applied)
            {
                collisions.push(format!(
                    "office paused {} while {} was about to start it",
                    first.record.number.clone().unwrap_or_default(),
                    device.user
                ));
            }
        }
        if i == 0 {
            if let Some(second) = mine.get(1) {
                device.go_offline();
                let to = users.get(1).cloned().unwrap_or_else(|| "rita".into());
                dana.reassign(second.record.record_id, Owner::User(to.clone()))
                    .await?;
                collisions.push(format!(
                    "dispatch reassigned {} to {to} while {} was out of signal",
                    second.record.number.clone().unwrap_or_default(),
                    device.user
                ));
            }
        }
    }
    for line in &collisions {
        println!("office: {line}");
    }
    let mut tasks = Vec::new();
    for device in prepared {
        tasks.push(tokio::spawn(work(device, offline_chance)));
    }
    let mut total = (0, 0, 0, 0u64);
    for task in tasks {
        let result = task.await??;
        print(&result);
        total.0 += result.synced;
        total.1 += result.held;
        total.2 += result.rejected;
        total.3 += result.pending;
    }
    println!(
        "fleet: {} devices, {} changes synced, {} held for review, {} rejected, {} still pending",
        users.len(),
        total.0,
        total.1,
        total.2,
        total.3
    );
    if let Some(handle) = running {
        handle.stop().await?;
    }
    Ok(())
}
