//! Fieldsync's sync server: the HTTP API of DESIGN.md over a store, with auth, events, files
//! and metrics. [`router`] builds the app so tests can serve it on a port they bound first.

pub mod api;
pub mod auth;
pub mod error;
pub mod files;
pub mod metrics;
pub mod store;

use chrono::{DateTime, Utc};
use fieldsync_core::Policy;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

pub use api::router;
pub use store::postgres::{PgOptions, PgStore};
pub use store::sqlite::SqliteStore;
pub use store::Store;

/// Where the time comes from; tests pass a clock they control.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Bounds on what one device may send.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest JSON body, in bytes.
    pub max_body: usize,
    /// Most changes in one push.
    pub max_batch: usize,
    /// Largest file an upload may declare, in bytes.
    pub max_file: u64,
    /// Largest chunk one PATCH may carry, in bytes.
    pub max_chunk: usize,
    /// Requests per second one device may make, and the burst it may save up.
    pub device_rate: u32,
    pub device_burst: u32,
    /// Login attempts per minute for one user name.
    pub login_per_minute: u32,
    /// Event streams one device may hold open at once.
    pub max_event_streams: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body: 4 * 1024 * 1024,
            max_batch: 1000,
            max_file: 200 * 1024 * 1024,
            max_chunk: 8 * 1024 * 1024,
            device_rate: 100,
            device_burst: 400,
            login_per_minute: 10,
            max_event_streams: 8,
        }
    }
}

/// Everything a request handler needs, cloned cheaply into each.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub policy: Arc<Policy>,
    pub clock: Arc<dyn Clock>,
    pub files_dir: PathBuf,
    pub limits: Limits,
    pub(crate) pokes: broadcast::Sender<i64>,
    pub(crate) shutdown: watch::Receiver<bool>,
    shutdown_tx: Arc<watch::Sender<bool>>,
    pub(crate) metrics: Arc<metrics::Metrics>,
    pub(crate) device_limiter: Arc<auth::KeyedLimiter>,
    pub(crate) login_limiter: Arc<auth::KeyedLimiter>,
    pub(crate) file_lock: Arc<tokio::sync::Mutex<()>>,
    /// Password checks running at once: one per core, as each is CPU and 19 MiB of memory.
    pub(crate) password_checks: Arc<tokio::sync::Semaphore>,
    pub(crate) event_streams: Arc<auth::EventStreams>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        policy: Policy,
        files_dir: PathBuf,
        clock: Arc<dyn Clock>,
        limits: Limits,
    ) -> AppState {
        let (pokes, _) = broadcast::channel(1024);
        let (shutdown_tx, shutdown) = watch::channel(false);
        AppState {
            store,
            policy: Arc::new(policy),
            clock,
            files_dir,
            device_limiter: Arc::new(auth::per_second(limits.device_rate, limits.device_burst)),
            login_limiter: Arc::new(auth::per_minute(limits.login_per_minute)),
            limits,
            pokes,
            shutdown,
            shutdown_tx: Arc::new(shutdown_tx),
            metrics: Arc::new(metrics::Metrics::new()),
            file_lock: Arc::new(tokio::sync::Mutex::new(())),
            password_checks: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            event_streams: Arc::new(auth::EventStreams::default()),
        }
    }

    /// Tells connected devices to pull now.
    pub fn poke(&self, seq: i64) {
        // No receiver is fine: nobody is listening.
        let _ = self.pokes.send(seq);
    }
}

/// Serves the API on a listener the caller bound, until `shutdown` resolves; requests in flight
/// (a push half judged) finish before it returns, and event streams close. Meanwhile it relays
/// other instances' pokes (on a shared database) to the devices connected here.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let closing = state.shutdown_tx.clone();
    let relay = {
        let store = state.store.clone();
        let pokes = state.pokes.clone();
        let closed = state.shutdown.clone();
        tokio::spawn(async move {
            let poke = store::poke_fn(move |seq| {
                // No receiver is fine: nobody is listening.
                let _ = pokes.send(seq);
            });
            store.relay_pokes(poke, closed).await;
        })
    };
    let app = router(state);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing requests in flight");
            let _ = closing.send(true);
        })
        .await;
    relay.abort();
    served
}
