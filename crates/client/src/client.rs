//! The sync client, [`SyncClient`], and the types of its public face: how it runs, what a
//! person saves, what a round reports, how a record reads. Its methods live by concern:
//! `session.rs` (sign in and out, the token), `saving.rs` (saves to the outbox, ids, files),
//! `lanes.rs` (the changes and files lanes, their schedules), `round.rs` (a sync round, the
//! pull, the round's summary, the background loop) and `views.rs` (what a screen reads). Here
//! are opening the client and the untyped API call.

use chrono::{DateTime, Utc};
use fieldsync_core::wire::User;
use fieldsync_core::{ChangeId, Group, Op, RecordId, RecordType};
use rand::SeedableRng;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

use crate::cache::{Cache, CachedRecord};
use crate::clock::Clock;
use crate::status::{ChangeState, SyncStatus};
use crate::tokens::{FileTokens, TokenStore};
use crate::transport::{Transport, TransportError};
use crate::ClientResult;

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
    /// The longest wait between tries to reopen the server's event stream while it is gone. The
    /// stream is how the device learns the server is back (and so syncs without anyone asking):
    /// an office desk on mains power wants seconds, a phone on a battery can wait longer.
    pub reconnect_cap: Duration,
}

impl ClientConfig {
    pub fn new(device_name: &str, files_dir: &Path, seed: u64) -> ClientConfig {
        ClientConfig {
            device_name: device_name.to_string(),
            seed,
            max_batch: 100,
            chunk_size: 256 * 1024,
            files_dir: files_dir.to_path_buf(),
            reconnect_cap: Duration::from_secs(30),
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
    pub(crate) fn constrained(&self) -> bool {
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
    /// Per group, the version an edit made now would be made on (confirmed, plus this device's
    /// own queued changes of it): what a form that opens now saw, to send back with its save.
    pub bases: BTreeMap<Group, i64>,
}

/// One lane's run of failures and when it tries next.
#[derive(Debug, Clone, Default)]
pub(crate) struct LaneState {
    pub(crate) failures: u32,
    pub(crate) next_attempt: Option<DateTime<Utc>>,
    pub(crate) last_error: Option<String>,
}

/// Who is signed in on this device, with the device's token.
pub(crate) struct Session {
    pub(crate) token: String,
    pub(crate) user: User,
}

/// The engine's state in memory: the lanes, the batch size, what the device knows of itself
/// and of the server, and the seeded generator.
pub(crate) struct State {
    pub(crate) changes: LaneState,
    pub(crate) files: LaneState,
    pub(crate) batch: usize,
    pub(crate) hint: DeviceHint,
    /// Whether the server answered the last thing this device asked of it (a sync call, an
    /// office call, or opening its event stream). A dropped stream that cannot be reopened
    /// turns it false at once, not at the next round.
    pub(crate) reachable: bool,
    /// Whether the last sync round got through to the server (its pull was answered): with an
    /// empty outbox, the only time the device may say "Synced".
    pub(crate) round_reached: bool,
    /// Bumped whenever this device's copy of the records changed (a pull brought something, a
    /// push was answered), so a watcher of the status learns that screens should read again.
    pub(crate) revision: u64,
    pub(crate) last_synced: Option<DateTime<Utc>>,
    pub(crate) summary: Vec<String>,
    /// When the round that wrote `summary` ended: the lines are that round's news, not now's.
    pub(crate) summary_at: Option<DateTime<Utc>>,
    /// The server refused this device's token (revoked, replaced, the person disabled): why, in
    /// its words, until the token is forgotten in the cache too (see `session.rs`).
    pub(crate) refused_session: Option<String>,
    pub(crate) rng: rand::rngs::StdRng,
    pub(crate) draws: u64,
    /// The server answered `Retry-After`: nothing is sent to it before this time (unless a
    /// person asks with "Sync now").
    pub(crate) server_wait: Option<DateTime<Utc>>,
}

/// What every clone of one client shares.
pub(crate) struct Inner {
    pub(crate) cache: Cache,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: ClientConfig,
    pub(crate) state: Mutex<State>,
    pub(crate) session: Mutex<Option<Session>>,
    pub(crate) status: watch::Sender<SyncStatus>,
    pub(crate) wake: Notify,
    /// One sync round at a time.
    pub(crate) round: tokio::sync::Mutex<()>,
    /// Where the session token is kept (see `tokens.rs`): not in the cache.
    pub(crate) tokens: Arc<dyn TokenStore>,
}

/// The sync client. Cheap to clone; clones share one cache and one engine.
#[derive(Clone)]
pub struct SyncClient {
    pub(crate) inner: Arc<Inner>,
}

/// Locks `m`; a holder that panicked does not lock the engine out for the rest of the process.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SyncClient {
    /// Opens the client over its cache file, its token in a file beside it that only this user
    /// can read. A restart finds its outbox, cursor and token again.
    pub async fn open(
        cache_path: &Path,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
        config: ClientConfig,
    ) -> ClientResult<SyncClient> {
        let tokens = Arc::new(FileTokens::beside(cache_path));
        SyncClient::open_with_tokens(cache_path, transport, clock, config, tokens).await
    }

    /// Opens the client with its token kept in `tokens` (the desktop's credential store).
    pub async fn open_with_tokens(
        cache_path: &Path,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
        config: ClientConfig,
        tokens: Arc<dyn TokenStore>,
    ) -> ClientResult<SyncClient> {
        let cache = Cache::open(cache_path).await?;
        std::fs::create_dir_all(&config.files_dir)?;
        // A cache from before tokens left it keeps its sign-in: the token moves to its store
        // and out of the database.
        if let Some(old) = cache.meta("token").await?.filter(|t| !t.is_empty()) {
            tokens.save(&old)?;
            cache.set_meta("token", "").await?;
        }
        let session = match (tokens.load()?, cache.meta("user").await?) {
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
                    round_reached: false,
                    revision: 0,
                    last_synced: None,
                    summary: Vec::new(),
                    summary_at: None,
                    refused_session: None,
                    rng: rand::rngs::StdRng::seed_from_u64(id_seed),
                    draws: 0,
                    server_wait: None,
                }),
                config,
                session: Mutex::new(session),
                status,
                wake: Notify::new(),
                round: tokio::sync::Mutex::new(()),
                tokens,
            }),
        };
        client.publish().await?;
        Ok(client)
    }

    /// Whether `other` is a clone of this client (one cache, one engine).
    pub fn same_as(&self, other: &SyncClient) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The transport, for the office's typed calls (`office.rs`).
    pub(crate) fn transport(&self) -> &dyn Transport {
        self.inner.transport.as_ref()
    }

    /// A call beyond sync says whether the server answered, as a sync round does: one that
    /// found no server turns the banner at once, and one that got any answer (even a refusal)
    /// shows the server is there.
    pub(crate) fn note_unreachable<T>(&self, answer: &Result<T, TransportError>) {
        self.set_reachable(!matches!(answer, Err(TransportError::Unreachable(_))));
    }

    /// Records whether the server answered, and tells the status's watchers at once when that
    /// changed (without waiting for a round, which may be minutes away).
    pub(crate) fn set_reachable(&self, reachable: bool) -> bool {
        let was = std::mem::replace(&mut lock(&self.inner.state).reachable, reachable);
        self.inner.status.send_if_modified(|status| {
            let changed = status.server_reachable != reachable;
            status.server_reachable = reachable;
            changed
        });
        was != reachable
    }
}
