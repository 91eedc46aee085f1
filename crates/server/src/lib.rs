//! Fieldsync's sync server: the HTTP API of DESIGN.md over a store, with auth, events, files
//! and metrics. [`router`] builds the app so tests can serve it on a port they bound first.

pub mod admin;
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
    /// How long a connection may take to send a request's headers, idle ones included.
    pub header_read_timeout: std::time::Duration,
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
            header_read_timeout: std::time::Duration::from_secs(30),
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
    let header_read_timeout = state.limits.header_read_timeout;
    let app = router(state);
    let served = serve_connections(listener, app, header_read_timeout, async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = closing.send(true);
    })
    .await;
    relay.abort();
    served
}

/// Accepts HTTP/1.1 connections until `shutdown`, then lets each finish its request in flight.
/// What `axum::serve` does, plus a deadline for a request's headers: a connection that sends
/// none (or sends them a byte at a time) is closed, so no one holds sockets without a request.
async fn serve_connections(
    listener: TcpListener,
    app: axum::Router,
    header_read_timeout: std::time::Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, most likely: give connections a moment to close, as
                    // axum::serve does, rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::select! {
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
