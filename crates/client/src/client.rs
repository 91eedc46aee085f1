//! The sync engine: saves go to the outbox first; two lanes send them with their own retry
//! schedules; pulls fold the server's changes into the cache; every state is readable and
//! watchable.

use chrono::{DateTime, Utc};
use fieldsync_core::wire::{LoginRequest, ReviewItem, ReviewKind, User};
use fieldsync_core::{
    Change, ChangeId, Group, Op, Outcome, OutcomeStatus, Owner, RecordId, RecordType,
};
use rand::{RngCore, SeedableRng};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

use crate::cache::{Cache, CachedRecord, LocalRecord, OutboxRow};
use crate::clock::Clock;
use crate::matching::{self, JobCandidate, Match};
use crate::outbox::OutboxState;
use crate::schedule::{self, Lane};
use crate::status::{ChangeState, LaneStatus, SyncStatus};
use crate::transport::{Transport, TransportError};
use crate::{ClientError, ClientResult};

/// How a client runs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The name this device signs in with ("Tom's tablet").
    pub device_name: String,
    /// Seeds the jitter of the retry schedule and new ids, so a run replays.
    pub seed: u64,
    /// The largest batch a push sends; it halves on a failed push and grows back.
    pub max_batch: usize,
    /// Bytes per upload request of the file lane.
    pub chunk_size: usize,
    /// Where attached files are kept until uploaded.
    pub files_dir: PathBuf,
}

impl ClientConfig {
    pub fn new(device_name: &str, files_dir: &Path, seed: u64) -> ClientConfig {
        ClientConfig {
            device_name: device_name.to_string(),
            seed,
            max_batch: 100,
            chunk_size: 256 * 1024,
            files_dir: files_dir.to_path_buf(),
        }
    }
}

/// What the device knows about its own conditions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceHint {
    pub low_battery: bool,
    pub metered: bool,
    pub poor_signal: bool,
}

impl DeviceHint {
    fn constrained(&self) -> bool {
        self.low_battery || self.metered || self.poor_signal
    }
}

/// One user action to save.
#[derive(Debug, Clone)]
pub struct NewChange {
    /// The action's id, made when the form opened: saving it twice (a double tap, a form sent
    /// again) is one change. `None` makes a fresh one.
    pub change_id: Option<ChangeId>,
    pub record_type: RecordType,
    pub record_id: RecordId,
    pub group: Option<Group>,
    pub op: Op,
    pub values: Value,
    /// For a photo: the SHA-256 of its attached file.
    pub file_sha256: Option<String>,
}

/// What one sync round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub sent: usize,
    pub applied: usize,
    pub held: usize,
    pub rejected: usize,
    pub files_uploaded: usize,
    pub pulled: usize,
    /// Lanes or steps that failed, in words.
    pub failed: Vec<String>,
    /// One plain line per job touched.
    pub summary: Vec<String>,
}

/// A record as this device shows it: the server's confirmed state with its own pending changes
/// laid over, and where its sync stands.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordView {
    pub record: CachedRecord,
    pub values: BTreeMap<Group, Value>,
    pub state: ChangeState,
    pub pending: usize,
}

#[derive(Debug, Clone, Default)]
struct LaneState {
    failures: u32,
    next_attempt: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

struct Session {
    token: String,
    user: User,
}

struct State {
    changes: LaneState,
    files: LaneState,
    batch: usize,
    hint: DeviceHint,
    reachable: bool,
    last_synced: Option<DateTime<Utc>>,
    summary: Vec<String>,
    rng: rand::rngs::StdRng,
    draws: u64,
    /// The server answered `Retry-After`: nothing is sent to it before this time (unless a
    /// person asks with "Sync now").
    server_wait: Option<DateTime<Utc>>,
}

struct Inner {
    cache: Cache,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    config: ClientConfig,
    state: Mutex<State>,
    session: Mutex<Option<Session>>,
    status: watch::Sender<SyncStatus>,
    wake: Notify,
    /// One sync round at a time.
    round: tokio::sync::Mutex<()>,
}

/// The sync client. Cheap to clone; clones share one cache and one engine.
#[derive(Clone)]
pub struct SyncClient {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SyncClient {
    /// Opens the client over its cache file. A restart finds its outbox, cursor and token again.
    pub async fn open(
        cache_path: &Path,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
        config: ClientConfig,
    ) -> ClientResult<SyncClient> {
        let cache = Cache::open(cache_path).await?;
        std::fs::create_dir_all(&config.files_dir)?;
        let session = match (cache.meta("token").await?, cache.meta("user").await?) {
            (Some(token), Some(user)) if !token.is_empty() => Some(Session {
                token,
                user: serde_json::from_str(&user)?,
            }),
            _ => None,
        };
        // Each start draws its ids from a stream of its own: the same seed after a restart (and
        // a clock that has not moved a millisecond) must not make the ids it made before, or a
        // new save would be taken for an old one and silently dropped.
        let starts: u64 = cache
            .meta("starts")
            .await?
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
            + 1;
        cache.set_meta("starts", &starts.to_string()).await?;
        let id_seed = config.seed ^ starts.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let (status, _) = watch::channel(SyncStatus::default());
        let client = SyncClient {
            inner: Arc::new(Inner {
                cache,
                transport,
                clock,
                state: Mutex::new(State {
                    changes: LaneState::default(),
                    files: LaneState::default(),
                    batch: config.max_batch.max(1),
                    hint: DeviceHint::default(),
                    reachable: true,
                    last_synced: None,
                    summary: Vec::new(),
                    rng: rand::rngs::StdRng::seed_from_u64(id_seed),
                    draws: 0,
                    server_wait: None,
                }),
                config,
                session: Mutex::new(session),
                status,
                wake: Notify::new(),
                round: tokio::sync::Mutex::new(()),
            }),
        };
        client.publish().await?;
        Ok(client)
    }

    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Signs this device in and keeps the token in the cache.
    pub async fn login(&self, username: &str, password: &str) -> ClientResult<User> {
        let answer = self
            .inner
            .transport
            .login(&LoginRequest {
                username: username.into(),
                password: password.into(),
                device_name: self.inner.config.device_name.clone(),
            })
            .await?;
        self.inner.cache.set_meta("token", &answer.token).await?;
        self.inner
            .cache
            .set_meta("user", &serde_json::to_string(&answer.user)?)
            .await?;
        self.inner
            .cache
            .set_meta("device_id", &answer.device_id.to_string())
            .await?;
        *lock(&self.inner.session) = Some(Session {
            token: answer.token,
            user: answer.user.clone(),
        });
        Ok(answer.user)
    }

    /// Calls the API beyond sync (reassign, resolve, reopen, history, devices) as this device.
    pub async fn call_api(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> ClientResult<Value> {
        let token = self.token()?;
        let answer = self.inner.transport.call(&token, method, path, body).await;
        if let Err(TransportError::Unreachable(_)) = &answer {
            lock(&self.inner.state).reachable = false;
        }
        Ok(answer?)
    }

    /// Signs out: the token is forgotten; the outbox and cache stay for the next sign-in.
    pub async fn sign_out(&self) -> ClientResult<()> {
        self.inner.cache.set_meta("token", "").await?;
        *lock(&self.inner.session) = None;
        Ok(())
    }

    pub fn user(&self) -> Option<User> {
        lock(&self.inner.session).as_ref().map(|s| s.user.clone())
    }

    fn token(&self) -> ClientResult<String> {
        lock(&self.inner.session)
            .as_ref()
            .map(|s| s.token.clone())
            .ok_or(ClientError::NotSignedIn)
    }

    /// The owner keys this user answers to.
    fn me(&self) -> [String; 2] {
        match self.user() {
            Some(user) => [
                Owner::User(user.name.clone()).to_key(),
                user.team
                    .map(|t| Owner::Team(t).to_key())
                    .unwrap_or_else(|| "team:".into()),
            ],
            None => [String::new(), String::new()],
        }
    }

    /// A new UUIDv7 from the injected clock and the seeded generator.
    fn new_uuid(&self) -> uuid::Uuid {
        let mut random = [0u8; 10];
        {
            let mut state = lock(&self.inner.state);
            state.rng.fill_bytes(&mut random);
        }
        let millis = self.now().timestamp_millis().max(0) as u64;
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }

    /// The id of a new user action: made when a form opens, so saving it twice is one change.
    pub fn new_change_id(&self) -> ChangeId {
        ChangeId(self.new_uuid())
    }

    /// The id of a new record, chosen on this device.
    pub fn new_record_id(&self) -> RecordId {
        RecordId(self.new_uuid())
    }

    /// Keeps a file for the file lane; returns its SHA-256, the name a photo change refers to.
    pub async fn attach_file(&self, bytes: &[u8]) -> ClientResult<String> {
        let sha = hex::encode(Sha256::digest(bytes));
        let path = self.inner.config.files_dir.join(&sha);
        if !path.exists() {
            let partial = self.inner.config.files_dir.join(format!("{sha}.tmp"));
            tokio::fs::write(&partial, bytes).await?;
            tokio::fs::File::open(&partial).await?.sync_all().await?;
            tokio::fs::rename(&partial, &path).await?;
        }
        Ok(sha)
    }

    /// Saves a user action to the outbox, durably, before anything touches the network.
    pub async fn save(&self, new: NewChange) -> ClientResult<(ChangeId, ChangeState)> {
        // Only an action id made earlier (a form's) can have been saved before: a fresh one
        // skips the look-up, one query fewer on every ordinary save.
        if let Some(change_id) = new.change_id {
            if let Some(existing) = self.inner.cache.outbox_row(change_id).await? {
                return Ok((change_id, self.state_of(&existing)));
            }
        }
        let change_id = new.change_id.unwrap_or_else(|| self.new_change_id());
        let now = self.now();
        let (base_version, owner_epoch, local) = match new.op {
            Op::Create => {
                let me = self.user().ok_or(ClientError::NotSignedIn)?;
                let job_id = first_group_field(new.record_type, &new.values, "job_id")
                    .and_then(|j| j.parse().ok());
                let owner = match new.record_type {
                    RecordType::Job => match new
                        .values
                        .get("schedule")
                        .and_then(|s| s.get("assignee"))
                        .and_then(Value::as_str)
                    {
                        Some(a) if !a.is_empty() => Owner::User(a.to_string()),
                        _ => Owner::User(me.name.clone()),
                    },
                    _ => Owner::User(me.name.clone()),
                };
                // A note, part or photo carries the job's ownership epoch as this device knows
                // it, so one made offline on a job that has moved is held, not refused.
                let parent = match job_id {
                    Some(job) if new.record_type.is_job_child() => {
                        self.inner.cache.record_header(job).await?
                    }
                    _ => None,
                };
                if let Some(job) = parent.as_ref().filter(|j| j.read_only) {
                    return Err(ClientError::Invalid(format!(
                        "{} now belongs to {}; it is read-only on this device",
                        job.number.clone().unwrap_or_else(|| "this job".into()),
                        owner_name(&job.owner)
                    )));
                }
                let epoch = parent.map(|j| j.owner_epoch).unwrap_or(0);
                let local = LocalRecord {
                    record_type: new.record_type,
                    record_id: new.record_id,
                    owner,
                    state: new.record_type.initial_state().to_string(),
                    job_id,
                };
                (0, epoch, Some(local))
            }
            Op::Update | Op::Void => {
                let record = self
                    .inner
                    .cache
                    .record(new.record_id)
                    .await?
                    .ok_or_else(|| {
                        ClientError::Invalid(format!(
                            "no {} {} on this device",
                            new.record_type, new.record_id
                        ))
                    })?;
                if record.read_only {
                    return Err(ClientError::Invalid(format!(
                        "{} now belongs to {}; it is read-only on this device",
                        record
                            .number
                            .clone()
                            .unwrap_or_else(|| "this record".into()),
                        owner_name(&record.owner)
                    )));
                }
                let probe = Change {
                    change_id,
                    record_type: new.record_type,
                    record_id: new.record_id,
                    group: new.group,
                    op: new.op,
                    base_version: 0,
                    values: Value::Null,
                    owner_epoch: 0,
                    device_time: now,
                };
                let group = fieldsync_core::judge::change_group(&probe)
                    .or_else(|| new.record_type.groups().first().copied());
                let confirmed = group
                    .and_then(|g| record.groups.get(&g))
                    .map(|(v, _)| *v)
                    .unwrap_or(if record.local_only { 1 } else { 0 });
                // Earlier changes of this group still in the outbox will each make a version:
                // this one is made on top of them, so a device never collides with itself.
                let queued = self
                    .inner
                    .cache
                    .outbox_for(new.record_id)
                    .await?
                    .iter()
                    .filter(|row| {
                        row.state == OutboxState::Pending
                            && row.change.op != Op::Create
                            && fieldsync_core::judge::change_group(&row.change) == group
                    })
                    .count() as i64;
                (confirmed + queued, record.owner_epoch.max(1), None)
            }
        };
        let change = Change {
            change_id,
            record_type: new.record_type,
            record_id: new.record_id,
            group: new.group,
            op: new.op,
            base_version,
            values: new.values,
            owner_epoch,
            device_time: now,
        };
        let file = match &new.file_sha256 {
            Some(sha) => {
                let path = self.inner.config.files_dir.join(sha);
                let length = tokio::fs::metadata(&path)
                    .await
                    .map_err(|_| {
                        ClientError::Invalid(format!(
                            "attach the file {sha} before saving the change that refers to it"
                        ))
                    })?
                    .len() as i64;
                Some((sha.clone(), path.to_string_lossy().into_owned(), length))
            }
            None => None,
        };
        self.inner
            .cache
            .save_change(
                &change,
                Lane::Changes,
                file.as_ref().map(|(s, p, l)| (s.as_str(), p.as_str(), *l)),
                local.as_ref(),
                now,
            )
            .await?;
        self.publish().await?;
        self.inner.wake.notify_one();
        Ok((change_id, ChangeState::SavedOnDevice))
    }

    fn state_of(&self, row: &OutboxRow) -> ChangeState {
        match row.state {
            OutboxState::Synced => ChangeState::Synced,
            OutboxState::Held => ChangeState::Held {
                review_id: row.review_id.clone(),
                reason: row.reason.clone().unwrap_or_default(),
            },
            OutboxState::Rejected => ChangeState::Rejected {
                code: row.code.clone().unwrap_or_default(),
                reason: row
                    .reason
                    .clone()
                    .unwrap_or_else(|| "refused by the server".into()),
            },
            OutboxState::Pending => {
                let state = lock(&self.inner.state);
                // A photo's change waits for its file: while the file lane fails, so does it.
                let lane = match row.lane {
                    _ if row.file_sha256.is_some() && state.files.failures > 0 => &state.files,
                    Lane::Changes => &state.changes,
                    Lane::Files => &state.files,
                };
                // Set aside: the server failed on this change alone; it has its own next try.
                if let Some(retry_at) = row.retry_at.filter(|at| *at > self.now()) {
                    return ChangeState::SyncFailed { retry_at };
                }
                match (lane.failures, lane.next_attempt) {
                    (f, Some(retry_at)) if f > 0 => ChangeState::SyncFailed { retry_at },
                    _ if row.attempts == 0 => ChangeState::SavedOnDevice,
                    _ => ChangeState::WaitingToSync,
                }
            }
        }
    }

    /// Where one saved change stands.
    pub async fn change_state(&self, change_id: ChangeId) -> ClientResult<Option<ChangeState>> {
        Ok(self
            .inner
            .cache
            .outbox_row(change_id)
            .await?
            .map(|row| self.state_of(&row)))
    }

    /// A record as this device shows it, with its pending changes and sync state.
    pub async fn record(&self, record_id: RecordId) -> ClientResult<Option<RecordView>> {
        let Some(record) = self.inner.cache.record(record_id).await? else {
            return Ok(None);
        };
        let rows = self.inner.cache.outbox_for(record_id).await?;
        let resolved = self.inner.cache.resolved_reviews().await?;
        Ok(Some(self.view(record, &rows, &resolved)))
    }

    fn view(
        &self,
        record: CachedRecord,
        rows: &[OutboxRow],
        resolved: &std::collections::HashSet<String>,
    ) -> RecordView {
        let mut values: BTreeMap<Group, Value> = record
            .groups
            .iter()
            .map(|(g, (_, v))| (*g, v.clone()))
            .collect();
        let mut state = ChangeState::Synced;
        let mut pending = 0;
        for row in rows {
            let row_state = self.state_of(row);
            if row_state.is_pending() {
                pending += 1;
                match row.change.op {
                    Op::Create => {
                        if let Some(groups) = row.change.values.as_object() {
                            for (g, v) in groups {
                                if let Some(group) = Group::parse(g) {
                                    values.entry(group).or_insert_with(|| v.clone());
                                }
                            }
                        }
                    }
                    _ => {
                        if let Some(group) = fieldsync_core::judge::change_group(&row.change) {
                            let current = values
                                .remove(&group)
                                .unwrap_or(Value::Object(Default::default()));
                            values.insert(
                                group,
                                fieldsync_core::model::merge_values(&current, &row.change.values),
                            );
                        }
                    }
                }
            }
            // A change settled long ago does not colour today's badge, but one still open does;
            // a held one stops once its review is resolved.
            let review_closed = row
                .review_id
                .as_ref()
                .is_some_and(|id| resolved.contains(id));
            if row_state.severity() > state.severity()
                && !review_closed
                && (row_state.is_pending()
                    || matches!(
                        row_state,
                        ChangeState::Held { .. } | ChangeState::Rejected { .. }
                    ))
            {
                state = row_state;
            }
        }
        RecordView {
            record,
            values,
            state,
            pending,
        }
    }

    /// Records of a type as this device shows them, newest first.
    pub async fn records(&self, record_type: RecordType) -> ClientResult<Vec<RecordView>> {
        let mut out = Vec::new();
        let resolved = self.inner.cache.resolved_reviews().await?;
        for record in self.inner.cache.records(record_type, 10_000).await? {
            let rows = self.inner.cache.outbox_for(record.record_id).await?;
            out.push(self.view(record, &rows, &resolved));
        }
        Ok(out)
    }

    /// The review items that concern this user, as the last pull had them.
    pub async fn review_items(&self) -> ClientResult<Vec<ReviewItem>> {
        self.inner.cache.review_items().await
    }

    /// Before creating a job: local drafts, pending creates and recent jobs that look the same.
    pub async fn find_matches(&self, candidate: &JobCandidate) -> ClientResult<Vec<Match>> {
        matching::find(&self.inner.cache, candidate, self.now()).await
    }

    pub fn set_hint(&self, hint: DeviceHint) {
        let mut state = lock(&self.inner.state);
        state.hint = hint;
        let cap = if hint.constrained() {
            20
        } else {
            self.inner.config.max_batch.max(1)
        };
        state.batch = state.batch.min(cap).max(1);
    }

    /// Watch the sync status (a UI subscribes to this).
    pub fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.inner.status.subscribe()
    }

    /// The sync status now.
    pub async fn status(&self) -> ClientResult<SyncStatus> {
        self.publish().await?;
        Ok(self.inner.status.borrow().clone())
    }

    async fn publish(&self) -> ClientResult<()> {
        let (changes, files, attention) = self.inner.cache.status_counts().await?;
        let status = {
            let state = lock(&self.inner.state);
            let lane = |l: &LaneState, pending: i64| LaneStatus {
                pending: pending.max(0) as u64,
                failures: l.failures,
                next_attempt: if pending > 0 {
                    Some(l.next_attempt.unwrap_or_else(|| self.now()))
                } else {
                    None
                },
                last_error: l.last_error.clone(),
            };
            SyncStatus {
                changes: lane(&state.changes, changes),
                files: lane(&state.files, files),
                server_reachable: state.reachable,
                needs_attention: attention.max(0) as u64,
                last_synced: state.last_synced,
                summary: state.summary.clone(),
            }
        };
        self.inner.status.send_replace(status);
        Ok(())
    }

    fn due(&self, lane: Lane, force: bool) -> bool {
        if force {
            return true;
        }
        let state = lock(&self.inner.state);
        let l = match lane {
            Lane::Changes => &state.changes,
            Lane::Files => &state.files,
        };
        l.next_attempt.is_none_or(|at| at <= self.now())
    }

    /// Whether the server asked (with `Retry-After`) not to be called yet.
    fn server_waits(&self) -> bool {
        lock(&self.inner.state)
            .server_wait
            .is_some_and(|at| at > self.now())
    }

    fn obey_retry_after(&self, error: &TransportError) {
        if let Some(wait) = error.retry_after() {
            let until = self.now()
                + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(5));
            let mut state = lock(&self.inner.state);
            state.server_wait = Some(state.server_wait.map_or(until, |at| at.max(until)));
        }
    }

    fn lane_failed(&self, lane: Lane, error: &TransportError) {
        self.obey_retry_after(error);
        let now = self.now();
        let mut state = lock(&self.inner.state);
        state.draws += 1;
        let seed = self.inner.config.seed.wrapping_add(state.draws);
        let stretch = if state.hint.constrained() && lane == Lane::Files {
            4
        } else {
            1
        };
        if matches!(error, TransportError::Unreachable(_)) {
            state.reachable = false;
        }
        if lane == Lane::Changes {
            state.batch = (state.batch / 2).max(1);
        }
        let l = match lane {
            Lane::Changes => &mut state.changes,
            Lane::Files => &mut state.files,
        };
        l.failures += 1;
        let delay = schedule::next_delay(lane, l.failures, stretch, seed, error.retry_after());
        l.next_attempt =
            Some(now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::minutes(5)));
        l.last_error = Some(error.to_string());
    }

    fn lane_ok(&self, lane: Lane) {
        let mut state = lock(&self.inner.state);
        state.reachable = true;
        let cap = if state.hint.constrained() {
            20
        } else {
            self.inner.config.max_batch.max(1)
        };
        if lane == Lane::Changes {
            state.batch = (state.batch * 2).min(cap).max(1);
        }
        let l = match lane {
            Lane::Changes => &mut state.changes,
            Lane::Files => &mut state.files,
        };
        *l = LaneState::default();
    }

    /// One sync round with the lanes that are due: changes, files, then a pull.
    pub async fn sync_once(&self) -> ClientResult<SyncReport> {
        self.round(false).await
    }

    /// "Sync now": both lanes at once, whatever their schedule; the report says what still failed.
    pub async fn sync_now(&self) -> ClientResult<SyncReport> {
        self.round(true).await
    }

    async fn round(&self, force: bool) -> ClientResult<SyncReport> {
        let _one_at_a_time = self.inner.round.lock().await;
        let token = self.token()?;
        let mut report = SyncReport::default();
        let mut answered: Vec<(Change, Outcome)> = Vec::new();
        if force {
            lock(&self.inner.state).server_wait = None;
        }
        if self.due(Lane::Changes, force) && !self.server_waits() {
            self.push_lane(&token, &mut report, &mut answered, force)
                .await?;
        }
        if self.due(Lane::Files, force) && !self.server_waits() {
            let uploaded = self.file_lane(&token, &mut report).await?;
            // Photos whose files just arrived go now, not at the next round.
            if uploaded > 0 && self.due(Lane::Changes, false) {
                self.push_lane(&token, &mut report, &mut answered, force)
                    .await?;
            }
        }
        if !self.server_waits() {
            if let Err(e) = self.pull_all(&token, &mut report).await {
                report.failed.push(format!("pull: {e}"));
            }
        }
        report.summary = self.summarise(&answered).await?;
        {
            let mut state = lock(&self.inner.state);
            if report.failed.is_empty() {
                state.last_synced = Some(self.now());
            }
            if !report.summary.is_empty() {
                state.summary = report.summary.clone();
            }
        }
        self.publish().await?;
        Ok(report)
    }

    async fn push_lane(
        &self,
        token: &str,
        report: &mut SyncReport,
        answered: &mut Vec<(Change, Outcome)>,
        force: bool,
    ) -> ClientResult<()> {
        // Each pass sends one batch; a pass that settles nothing (every change waits on a file
        // or was asked to wait) ends the lane's turn, so nothing spins.
        let mut bisections = 0;
        let mut set_aside_since_success = false;
        for _ in 0..10_000 {
            let batch_size = lock(&self.inner.state).batch.max(1);
            let mut batch = Vec::new();
            // One change per field group per request: the next one was made on top of it, and
            // its base is the version this one's answer names (the cache rebases it on settle).
            let mut groups_in_batch = std::collections::HashSet::new();
            // A change set aside holds up only what was made on top of it: later changes of its
            // record's field group (or of its record, if it is the create).
            let mut held_back = std::collections::HashSet::new();
            let now = self.now();
            for row in self.inner.cache.pending(Lane::Changes, 10_000).await? {
                let group = fieldsync_core::judge::change_group(&row.change);
                if held_back.contains(&(row.change.record_id, None))
                    || held_back.contains(&(row.change.record_id, group))
                {
                    continue;
                }
                // "Sync now" tries what was set aside too.
                if !force && row.retry_at.is_some_and(|at| at > now) {
                    let key = if row.change.op == Op::Create {
                        None
                    } else {
                        group
                    };
                    held_back.insert((row.change.record_id, key));
                    continue;
                }
                if let Some(sha) = &row.file_sha256 {
                    if !self.inner.cache.file_complete(sha).await? {
                        continue;
                    }
                }
                if row.change.op != Op::Create
                    && !groups_in_batch.insert((row.change.record_id, group))
                {
                    continue;
                }
                batch.push(row.change);
                if batch.len() >= batch_size {
                    break;
                }
            }
            if batch.is_empty() {
                return Ok(());
            }
            let ids: Vec<ChangeId> = batch.iter().map(|c| c.change_id).collect();
            self.inner.cache.bump_attempts(&ids).await?;
            match self.inner.transport.push(token, &batch).await {
                Ok(outcomes) => {
                    self.lane_ok(Lane::Changes);
                    bisections = 0;
                    set_aside_since_success = false;
                    report.sent += batch.len();
                    let mut settled = 0;
                    for outcome in &outcomes {
                        // A transient refusal settles nothing: the outbox keeps the change
                        // pending (the cache reads the same method), so it is not counted.
                        if outcome.is_transient() {
                            continue;
                        }
                        match outcome.status {
                            OutcomeStatus::Applied => report.applied += 1,
                            OutcomeStatus::Held => report.held += 1,
                            OutcomeStatus::Rejected => report.rejected += 1,
                        }
                        settled += 1;
                    }
                    let pairs: Vec<(Change, Outcome)> = batch.into_iter().zip(outcomes).collect();
                    self.inner.cache.settle(&pairs, self.now()).await?;
                    answered.extend(pairs);
                    self.publish().await?;
                    if settled == 0 {
                        return Ok(());
                    }
                }
                Err(e)
                    if e.is_permanent()
                        && batch.len() > 1
                        && matches!(e, TransportError::Refused { status: 413, .. }) =>
                {
                    let mut state = lock(&self.inner.state);
                    state.batch = (batch.len() / 2).max(1);
                }
                // The server answered but failed on this batch: one change in it may be what
                // it chokes on. Halve the batch at once (a few requests at most) until one
                // change fails alone; that one is set aside on its own schedule, so the
                // changes behind it are not held up by it.
                Err(e) if server_failed(&e) && batch.len() > 1 && bisections < MAX_BISECTIONS => {
                    bisections += 1;
                    lock(&self.inner.state).batch = (batch.len() / 2).max(1);
                }
                Err(e) => {
                    // One change set aside per stretch of failures: the rest go on in this
                    // round. A second failure before any success means the server itself is
                    // failing, and the lane backs off.
                    if server_failed(&e) && batch.len() == 1 && !set_aside_since_success {
                        let failures =
                            u32::try_from(rows_failures(&self.inner.cache, ids[0]).await?)
                                .unwrap_or(u32::MAX)
                                .saturating_add(1);
                        let seed = {
                            let mut state = lock(&self.inner.state);
                            state.draws += 1;
                            self.inner.config.seed.wrapping_add(state.draws)
                        };
                        let delay =
                            schedule::next_delay(Lane::Changes, failures, 1, seed, e.retry_after());
                        let retry_at = self.now()
                            + chrono::Duration::from_std(delay)
                                .unwrap_or(chrono::Duration::minutes(5));
                        self.inner.cache.set_aside(ids[0], retry_at).await?;
                        set_aside_since_success = true;
                        report.failed.push(format!(
                            "changes: one change set aside until {}: {e}",
                            retry_at.format("%H:%M:%S")
                        ));
                        self.publish().await?;
                        continue;
                    }
                    self.lane_failed(Lane::Changes, &e);
                    report.failed.push(format!("changes: {e}"));
                    self.publish().await?;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn file_lane(&self, token: &str, report: &mut SyncReport) -> ClientResult<usize> {
        let chunk = self.inner.config.chunk_size.max(1);
        let mut uploaded = 0;
        for file in self.inner.cache.files_pending().await? {
            let result: Result<(), TransportError> = async {
                let length = file.length.max(0) as u64;
                let mut offset = match self
                    .inner
                    .transport
                    .upload_offset(token, &file.sha256)
                    .await?
                {
                    Some(at) => at.offset,
                    None => 0,
                };
                let bytes = tokio::fs::read(&file.path).await.map_err(|e| {
                    TransportError::Decode(format!("cannot read {}: {e}", file.path))
                })?;
                while offset < length {
                    let end = (offset as usize + chunk).min(bytes.len());
                    let part = bytes.get(offset as usize..end).unwrap_or_default().to_vec();
                    offset = self
                        .inner
                        .transport
                        .upload(token, &file.sha256, offset, length, part)
                        .await?;
                    self.inner
                        .cache
                        .set_file_progress(&file.sha256, offset as i64, false)
                        .await
                        .map_err(|e| TransportError::Decode(e.to_string()))?;
                }
                Ok(())
            }
            .await;
            match result {
                Ok(()) => {
                    self.inner
                        .cache
                        .set_file_progress(&file.sha256, file.length, true)
                        .await?;
                    uploaded += 1;
                    report.files_uploaded += 1;
                }
                Err(e) => {
                    self.lane_failed(Lane::Files, &e);
                    report.failed.push(format!("files: {e}"));
                    self.publish().await?;
                    return Ok(uploaded);
                }
            }
        }
        self.lane_ok(Lane::Files);
        Ok(uploaded)
    }

    async fn pull_all(&self, token: &str, report: &mut SyncReport) -> ClientResult<()> {
        let me = self.me();
        let after: i64 = self
            .inner
            .cache
            .meta("cursor")
            .await?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        // The outbox depth is the changes waiting; a photo's file is counted by its change.
        // Pulls do not change it, so it is read once per round.
        let (changes, _, oldest) = self.inner.cache.depth().await?;
        let fetch = |after: i64| async move {
            self.inner
                .transport
                .pull(token, after, PULL_PAGE, changes, oldest)
                .await
        };
        let failed = |e: TransportError| -> ClientError {
            lock(&self.inner.state).reachable = !matches!(e, TransportError::Unreachable(_));
            self.obey_retry_after(&e);
            e.into()
        };
        let mut page = fetch(after).await.map_err(failed)?;
        for _ in 0..100_000 {
            report.pulled += page.changes.len();
            if !page.more {
                return self.inner.cache.apply_pull(&page, &me, self.now()).await;
            }
            // The next page is fetched while this one is folded in: the network and the disk
            // overlap, which is most of a fresh device's catch-up. The cursor still moves only
            // with a committed page, so a crash between the two loses nothing.
            let (applied, next) = tokio::join!(
                self.inner.cache.apply_pull(&page, &me, self.now()),
                fetch(page.next)
            );
            applied?;
            page = next.map_err(failed)?;
        }
        Ok(())
    }

    async fn summarise(&self, answered: &[(Change, Outcome)]) -> ClientResult<Vec<String>> {
        // Per job: what synced; what is held, by why; what was refused.
        type Held = Vec<(String, Vec<&'static str>)>;
        let mut jobs: BTreeMap<RecordId, (Vec<&'static str>, Held, Vec<String>)> = BTreeMap::new();
        for (change, outcome) in answered {
            let job = if change.record_type == RecordType::Job {
                Some(change.record_id)
            } else {
                first_group_field(change.record_type, &change.values, "job_id")
                    .and_then(|j| j.parse().ok())
                    .or(self
                        .inner
                        .cache
                        .record(change.record_id)
                        .await?
                        .and_then(|r| r.job_id))
            };
            let Some(job) = job else { continue };
            let entry = jobs.entry(job).or_default();
            let what = match change.record_type {
                RecordType::JobNote => "notes",
                RecordType::PartLine => "parts",
                RecordType::Photo => "photos",
                RecordType::Inspection => "inspection",
                _ => match fieldsync_core::judge::change_group(change) {
                    Some(Group::Status) => "status",
                    Some(Group::Work) => "labour",
                    Some(Group::Signature) => "signature",
                    Some(Group::Description) => "description",
                    _ => "changes",
                },
            };
            match outcome.status {
                OutcomeStatus::Applied => {
                    if !entry.0.contains(&what) {
                        entry.0.push(what);
                    }
                }
                OutcomeStatus::Held => {
                    let why = match outcome.code.as_deref().and_then(ReviewKind::parse) {
                        Some(ReviewKind::OwnershipMoved) => {
                            "because the job was reassigned while you were offline".to_string()
                        }
                        Some(ReviewKind::VoidVsUpdate) => {
                            "because the job was voided while you were offline".to_string()
                        }
                        _ => "because someone changed it in the office".to_string(),
                    };
                    match entry.1.iter_mut().find(|(w, _)| *w == why) {
                        Some((_, whats)) if whats.contains(&what) => {}
                        Some((_, whats)) => whats.push(what),
                        None => entry.1.push((why, vec![what])),
                    }
                }
                OutcomeStatus::Rejected => {
                    if let Some(message) = &outcome.message {
                        if !outcome.is_transient() {
                            entry
                                .2
                                .push(format!("Your {what} change was rejected: {message}."));
                        }
                    }
                }
            }
        }
        let mut lines = Vec::new();
        for (job, (synced, held, refused)) in jobs {
            let label = self
                .inner
                .cache
                .record(job)
                .await?
                .and_then(|r| r.number)
                .unwrap_or_else(|| "New job".to_string());
            let mut line = format!("{label}:");
            if !synced.is_empty() {
                line.push_str(&format!(" Your {} synced.", join_words(&synced)));
            }
            // "Job status needs review ...", "Job status and notes need review ...".
            for (why, whats) in held {
                let one = matches!(
                    whats.as_slice(),
                    [w] if !matches!(*w, "notes" | "parts" | "photos" | "changes")
                );
                let verb = if one { "needs" } else { "need" };
                line.push_str(&format!(" Job {} {verb} review {why}.", join_words(&whats)));
            }
            for problem in refused {
                line.push(' ');
                line.push_str(&problem);
            }
            lines.push(line);
        }
        Ok(lines)
    }

    /// Runs the client until `shutdown` turns true: syncs when a change is saved, when the server
    /// pokes, and when a lane's retry time comes; listens for pokes with reconnects.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let listener = self.clone();
        let mut listen_shutdown = shutdown.clone();
        let events = tokio::spawn(async move {
            let mut attempt = 0u32;
            loop {
                let Ok(token) = listener.token() else { break };
                match listener.inner.transport.events(&token).await {
                    Ok(mut stream) => {
                        attempt = 0;
                        loop {
                            tokio::select! {
                                poke = futures::StreamExt::next(&mut stream) => match poke {
                                    Some(_) => listener.inner.wake.notify_one(),
                                    None => break,
                                },
                                _ = listen_shutdown.changed() => return,
                            }
                        }
                    }
                    Err(_) => attempt += 1,
                }
                let wait = schedule::delay(
                    Lane::Changes,
                    attempt.max(1),
                    1,
                    listener.inner.config.seed.wrapping_add(u64::from(attempt)),
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = listen_shutdown.changed() => return,
                }
            }
        });
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.sync_once().await {
                tracing::warn!(error = %e, "sync round failed");
            }
            if let Err(e) = self.inner.cache.checkpoint().await {
                tracing::warn!(error = %e, "checkpoint of the local cache failed");
            }
            let set_aside = self
                .inner
                .cache
                .next_set_aside(self.now())
                .await
                .unwrap_or_default();
            let next = {
                let state = lock(&self.inner.state);
                [
                    state.changes.next_attempt,
                    state.files.next_attempt,
                    set_aside,
                ]
                .into_iter()
                .flatten()
                .min()
            };
            // Idle devices still pull now and then in case a poke was missed.
            let wait = next
                .map(|at| (at - self.now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(60))
                .min(Duration::from_secs(60));
            tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => break,
            }
        }
        events.abort();
    }
}

/// How many times one round halves a failing batch to find the change the server fails on:
/// enough to go from the largest batch to one change.
const MAX_BISECTIONS: u32 = 8;

/// The server answered and failed (a 5xx, or an answer that cannot be read), as opposed to being
/// out of reach: what it failed on may be one change.
fn server_failed(error: &TransportError) -> bool {
    match error {
        TransportError::Refused {
            status,
            retry_after,
            ..
        } => (500..=599).contains(status) && *status != 503 && retry_after.is_none(),
        TransportError::Decode(_) => true,
        TransportError::Unreachable(_) => false,
    }
}

async fn rows_failures(cache: &Cache, change_id: ChangeId) -> ClientResult<i64> {
    Ok(cache
        .outbox_row(change_id)
        .await?
        .map_or(0, |row| row.failures))
}

/// Changes per pull page: the server's largest.
const PULL_PAGE: i64 = 1000;

fn owner_name(owner: &Owner) -> String {
    match owner {
        Owner::User(name) => name.clone(),
        Owner::Team(team) => format!("the {team} team"),
    }
}

fn first_group_field(record_type: RecordType, values: &Value, field: &str) -> Option<String> {
    let group = record_type.groups().first()?;
    values
        .get(group.as_str())?
        .get(field)?
        .as_str()
        .map(str::to_string)
}

fn join_words(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
