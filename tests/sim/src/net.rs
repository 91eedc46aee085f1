//! The simulated network and clocks: every device's [`Transport`] hands its requests to the real
//! server's axum router in-process (`tower::ServiceExt::oneshot`), through a network whose faults
//! are drawn from the run's seeded generator.
//!
//! Nothing here reads the wall clock or global randomness: time is [`SimTime`], moved only by the
//! step loop, and every fault comes from the one generator of the run, drawn in the order the
//! (sequential) fleet makes its calls, so a seed replays exactly.

use async_trait::async_trait;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use chrono::{DateTime, Duration as Span, Utc};
use fieldsync_client::transport::{HttpAnswer, HttpCall};
use fieldsync_client::{Transport, TransportError};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tower::ServiceExt;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The simulation's one time line. Devices read it through their own skew; the server reads it
/// through [`ServerClock`].
#[derive(Debug)]
pub struct SimTime {
    inner: Mutex<TimeInner>,
}

#[derive(Debug)]
struct TimeInner {
    now: DateTime<Utc>,
    /// The server's last reading: each reading is a millisecond past the one before, so no two
    /// server events share a time and the checker can order them by `server_time`.
    server_last: DateTime<Utc>,
}

impl SimTime {
    pub fn new(start: DateTime<Utc>) -> SimTime {
        SimTime {
            inner: Mutex::new(TimeInner {
                now: start,
                server_last: start - Span::milliseconds(1),
            }),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        lock(&self.inner).now
    }

    pub fn advance(&self, by: Span) {
        let mut inner = lock(&self.inner);
        inner.now += by;
    }

    fn server_now(&self) -> DateTime<Utc> {
        let mut inner = lock(&self.inner);
        let next = inner.now.max(inner.server_last + Span::milliseconds(1));
        inner.server_last = next;
        next
    }
}

/// The server's clock: the simulated time line, strictly increasing per reading.
pub struct ServerClock(pub Arc<SimTime>);

impl fieldsync_server::Clock for ServerClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.server_now()
    }
}

/// A device's own clock: the time line plus this device's skew (devices' clocks disagree, and
/// `device_time` must never order anything).
pub struct DeviceClock {
    pub time: Arc<SimTime>,
    pub skew: Span,
}

impl fieldsync_client::Clock for DeviceClock {
    fn now(&self) -> DateTime<Utc> {
        self.time.now() + self.skew
    }
}

/// One HTTP request as a device sent it, kept whole so the network can deliver it again later.
#[derive(Debug, Clone)]
pub struct SimRequest {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl SimRequest {
    fn to_http(&self) -> Option<Request<Body>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str());
        for (name, value) in &self.headers {
            builder = builder.header(*name, value.as_str());
        }
        builder.body(Body::from(self.body.clone())).ok()
    }

    /// A short name for the trace: `POST /api/v1/sync/push`.
    pub fn label(&self) -> String {
        let path = self.path.split('?').next().unwrap_or_default();
        // A review item's id is the server's random choice: it stays out of the trace.
        let path = if path.starts_with("/api/v1/files/") {
            "/api/v1/files/{sha}"
        } else if path.starts_with("/api/v1/review/") {
            "/api/v1/review/{id}/resolve"
        } else {
            path
        };
        format!("{} {path}", self.method)
    }
}

/// The server's answer, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What the network does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Lost on the way: the server never sees it.
    DropRequest,
    /// The server commits it; the answer is lost.
    DropReply,
    /// Delivered twice (a retransmission): the first answer is lost, the second comes back.
    Duplicate,
    /// Held in the network and delivered later, after other requests (the device gives up on
    /// it); its answer goes nowhere.
    Delay,
    /// A proxy in front of the server answers 503 with `Retry-After`.
    Unavailable,
    /// The server fails on the request (a 500) and commits nothing.
    InternalError,
    /// The server commits the request and crashes before answering; it is down until the step
    /// loop restarts it from its database.
    CrashAfterCommit,
    /// The device has no network.
    Offline,
    /// The server is down (crashed, not yet restarted).
    ServerDown,
}

impl Fault {
    pub const ALL: [Fault; 9] = [
        Fault::DropRequest,
        Fault::DropReply,
        Fault::Duplicate,
        Fault::Delay,
        Fault::Unavailable,
        Fault::InternalError,
        Fault::CrashAfterCommit,
        Fault::Offline,
        Fault::ServerDown,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Fault::DropRequest => "drop_request",
            Fault::DropReply => "drop_reply",
            Fault::Duplicate => "duplicate",
            Fault::Delay => "delay",
            Fault::Unavailable => "unavailable",
            Fault::InternalError => "internal_error",
            Fault::CrashAfterCommit => "crash_after_commit",
            Fault::Offline => "offline",
            Fault::ServerDown => "server_down",
        }
    }
}

/// How often (per thousand requests) each fault strikes a request that would otherwise go
/// through. Drawn per seed, so some runs are calm and some are storms.
#[derive(Debug, Clone, Copy, Default)]
pub struct FaultRates {
    pub drop_request: u32,
    pub drop_reply: u32,
    pub duplicate: u32,
    pub delay: u32,
    pub unavailable: u32,
    pub internal_error: u32,
    pub crash_after_commit: u32,
}

impl FaultRates {
    pub fn draw(rng: &mut StdRng) -> FaultRates {
        let storm = rng.gen_bool(0.3);
        let top = if storm { 200 } else { 60 };
        FaultRates {
            drop_request: rng.gen_range(0..=top),
            drop_reply: rng.gen_range(0..=top),
            duplicate: rng.gen_range(0..=top / 2),
            delay: rng.gen_range(0..=top / 2),
            unavailable: rng.gen_range(0..=top / 4),
            internal_error: rng.gen_range(0..=top / 4),
            crash_after_commit: rng.gen_range(0..=top / 20),
        }
    }
}

/// What the network does to one request: the fault that strikes it (if any), the save armed to
/// happen while it is in the air, and the kill armed on its device (after delivery or before,
/// and the notice to fire).
type Decision = (
    Option<Fault>,
    Option<InFlight>,
    Option<(bool, Arc<tokio::sync::Notify>)>,
);

/// A request the network holds back, delivered when its time comes.
struct Delayed {
    due: DateTime<Utc>,
    /// Order of arrival, so two due at once are delivered in a fixed order.
    order: u64,
    line: usize,
    request: SimRequest,
}

/// A save the person makes while a request of a sync round is in the air ("typing while
/// reconnecting"): run by the transport between the request leaving and being delivered.
pub type InFlight = Box<dyn FnOnce() -> BoxFuture<'static, String> + Send>;

/// A kill armed on a device: after `calls_left` more calls, the app dies at the next one
/// (before or after the server got it).
#[derive(Debug, Clone, Copy)]
pub struct KillPlan {
    pub calls_left: u32,
    pub after_delivery: bool,
}

/// One device's line: whether it has network, and what is armed on it.
#[derive(Default)]
struct Line {
    online: bool,
    in_flight: Option<InFlight>,
    kill: Option<KillPlan>,
    /// Fired when the kill strikes: the step loop drops the app's sync round and the app.
    killed: Option<Arc<tokio::sync::Notify>>,
    /// Whether this device's last request had an answer (the truth a banner is held to).
    answered: Option<bool>,
}

struct NetInner {
    rng: StdRng,
    rates: FaultRates,
    /// No faults at all: the network after the storm, while the fleet settles.
    calm: bool,
    lines: Vec<Line>,
    delayed: Vec<Delayed>,
    arrivals: u64,
    /// How many times each fault struck, for the report.
    struck: BTreeMap<Fault, u64>,
    /// Lines for the trace, taken by the step loop.
    trace: Vec<String>,
    /// The server crashed under a request; the step loop closes its store and restarts it.
    crashed: bool,
}

/// The network between the fleet and the server.
pub struct Net {
    inner: Mutex<NetInner>,
    /// The server's instances (one, or two over one PostgreSQL database); none while it is
    /// down. A device's requests go to the instance of its line.
    server: Mutex<Vec<Router>>,
    time: Arc<SimTime>,
}

impl Net {
    pub fn new(rng: StdRng, rates: FaultRates, time: Arc<SimTime>) -> Net {
        Net {
            inner: Mutex::new(NetInner {
                rng,
                rates,
                calm: true,
                lines: Vec::new(),
                delayed: Vec::new(),
                arrivals: 0,
                struck: BTreeMap::new(),
                trace: Vec::new(),
                crashed: false,
            }),
            server: Mutex::new(Vec::new()),
            time,
        }
    }

    /// Adds a device's line (online); its index.
    pub fn add_line(&self) -> usize {
        let mut inner = lock(&self.inner);
        inner.lines.push(Line {
            online: true,
            ..Line::default()
        });
        inner.lines.len() - 1
    }

    pub fn set_server(&self, router: Option<Router>) {
        *lock(&self.server) = router.into_iter().collect();
    }

    /// Every instance of the server at once (a line's requests go to instance `line % n`).
    pub fn set_servers(&self, routers: Vec<Router>) {
        *lock(&self.server) = routers;
    }

    pub fn server_up(&self) -> bool {
        !lock(&self.server).is_empty()
    }

    pub fn set_online(&self, line: usize, online: bool) {
        if let Some(l) = lock(&self.inner).lines.get_mut(line) {
            l.online = online;
        }
    }

    /// Whether the line's last request was answered (by the server, or a proxy in front of it);
    /// `None` before its first.
    pub fn last_answered(&self, line: usize) -> Option<bool> {
        lock(&self.inner).lines.get(line).and_then(|l| l.answered)
    }

    pub fn online(&self, line: usize) -> bool {
        lock(&self.inner).lines.get(line).is_some_and(|l| l.online)
    }

    pub fn calm(&self) -> bool {
        lock(&self.inner).calm
    }

    pub fn set_calm(&self, calm: bool) {
        lock(&self.inner).calm = calm;
    }

    pub fn arm_in_flight(&self, line: usize, action: InFlight) {
        if let Some(l) = lock(&self.inner).lines.get_mut(line) {
            l.in_flight = Some(action);
        }
    }

    /// Arms a kill on a device; the notify fires when it strikes.
    pub fn arm_kill(&self, line: usize, plan: KillPlan, killed: Arc<tokio::sync::Notify>) {
        if let Some(l) = lock(&self.inner).lines.get_mut(line) {
            l.kill = Some(plan);
            l.killed = Some(killed);
        }
    }

    /// Disarms whatever is left on a line (the round ended without reaching it).
    pub fn disarm(&self, line: usize) {
        if let Some(l) = lock(&self.inner).lines.get_mut(line) {
            l.kill = None;
            l.killed = None;
            l.in_flight = None;
        }
    }

    /// Whether the server crashed under a request since last asked.
    pub fn take_crashed(&self) -> bool {
        std::mem::take(&mut lock(&self.inner).crashed)
    }

    pub fn struck(&self) -> BTreeMap<Fault, u64> {
        lock(&self.inner).struck.clone()
    }

    pub fn take_trace(&self) -> Vec<String> {
        std::mem::take(&mut lock(&self.inner).trace)
    }

    pub fn delayed_count(&self) -> usize {
        lock(&self.inner).delayed.len()
    }

    /// Delivers the held-back requests whose time has come (all of them with `everything`), in
    /// the order they are due; their answers go nowhere.
    pub async fn deliver_due(&self, everything: bool) {
        loop {
            let next = {
                let mut inner = lock(&self.inner);
                let now = self.time.now();
                let pick = inner
                    .delayed
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| everything || d.due <= now)
                    .min_by_key(|(_, d)| (d.due, d.order))
                    .map(|(i, _)| i);
                pick.map(|i| inner.delayed.remove(i))
            };
            let Some(delayed) = next else { return };
            let status = match self.deliver(delayed.line, &delayed.request).await {
                Some(reply) => reply.status.as_u16().to_string(),
                None => "server down, lost".to_string(),
            };
            let line = format!(
                "net: late delivery of {} -> {status}",
                delayed.request.label()
            );
            lock(&self.inner).trace.push(line);
        }
    }

    /// Hands a request to the server, if it is up.
    async fn deliver(&self, line: usize, request: &SimRequest) -> Option<Reply> {
        let router = {
            let servers = lock(&self.server);
            servers.get(line % servers.len().max(1))?.clone()
        };
        let http = request.to_http()?;
        let response = match router.oneshot(http).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.ok()?;
        Some(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// What happens to one request of `line`: the fault (if any) and what was armed.
    fn decide(&self, line: usize) -> Decision {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let Some(l) = inner.lines.get_mut(line) else {
            return (Some(Fault::Offline), None, None);
        };
        let in_flight = l.in_flight.take();
        let mut kill = None;
        if let Some(plan) = l.kill.as_mut() {
            if plan.calls_left == 0 {
                let after = plan.after_delivery;
                l.kill = None;
                kill = l.killed.take().map(|k| (after, k));
            } else {
                plan.calls_left -= 1;
            }
        }
        let fault = if !l.online {
            Some(Fault::Offline)
        } else if lock(&self.server).is_empty() {
            Some(Fault::ServerDown)
        } else if inner.calm {
            None
        } else {
            let r = inner.rates;
            let roll = inner.rng.gen_range(0..1000u32);
            let mut edge = 0;
            let mut pick = None;
            for (rate, fault) in [
                (r.drop_request, Fault::DropRequest),
                (r.drop_reply, Fault::DropReply),
                (r.duplicate, Fault::Duplicate),
                (r.delay, Fault::Delay),
                (r.unavailable, Fault::Unavailable),
                (r.internal_error, Fault::InternalError),
                (r.crash_after_commit, Fault::CrashAfterCommit),
            ] {
                edge += rate;
                if roll < edge {
                    pick = Some(fault);
                    break;
                }
            }
            pick
        };
        if let Some(fault) = fault {
            *inner.struck.entry(fault).or_default() += 1;
        }
        (fault, in_flight, kill)
    }

    /// Sends one request of `line` through the network: `Err` for no usable answer (the device
    /// sees a cut connection), `Ok` with whatever the server said.
    pub async fn exchange(
        &self,
        line: usize,
        request: SimRequest,
    ) -> Result<Reply, TransportError> {
        let (fault, in_flight, kill) = self.decide(line);
        let label = request.label();
        if let Some(action) = in_flight {
            let what = action().await;
            lock(&self.inner)
                .trace
                .push(format!("net: while {label} is in the air: {what}"));
        }
        if let Some((after_delivery, killed)) = kill {
            if after_delivery && fault.is_none() {
                let status = self
                    .deliver(line, &request)
                    .await
                    .map(|r| r.status.as_u16());
                lock(&self.inner).trace.push(format!(
                    "net: {label} -> {status:?}, then the app is killed"
                ));
            } else {
                lock(&self.inner)
                    .trace
                    .push(format!("net: the app is killed as it sends {label}"));
            }
            killed.notify_one();
            // The app is dead: this call never returns; the step loop drops the round.
            return futures::future::pending().await;
        }
        let cut = |why: &str| TransportError::Unreachable(why.to_string());
        let answer = match fault {
            Some(Fault::Offline) => Err(cut("no network")),
            Some(Fault::ServerDown) => Err(cut("connection refused")),
            Some(Fault::DropRequest) => Err(cut("the request was lost")),
            Some(Fault::DropReply) => {
                let _ = self.deliver(line, &request).await;
                Err(cut("the answer was lost"))
            }
            Some(Fault::Duplicate) => {
                let _ = self.deliver(line, &request).await;
                self.deliver(line, &request)
                    .await
                    .ok_or_else(|| cut("connection refused"))
            }
            Some(Fault::Delay) => {
                let mut inner = lock(&self.inner);
                let wait = Span::seconds(inner.rng.gen_range(1..=3600));
                let order = inner.arrivals;
                inner.arrivals += 1;
                inner.delayed.push(Delayed {
                    due: self.time.now() + wait,
                    order,
                    line,
                    request: request.clone(),
                });
                Err(cut("timed out"))
            }
            Some(Fault::InternalError) => Ok(Reply {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                headers: HeaderMap::new(),
                body: Bytes::from_static(
                    br#"{"code":"internal","message":"something went wrong on the server"}"#,
                ),
            }),
            Some(Fault::CrashAfterCommit) => {
                let _ = self.deliver(line, &request).await;
                self.set_server(None);
                lock(&self.inner).crashed = true;
                Err(cut("the connection closed"))
            }
            Some(Fault::Unavailable) => {
                let retry_after = lock(&self.inner).rng.gen_range(1..=120u64);
                let mut headers = HeaderMap::new();
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    headers.insert("retry-after", v);
                }
                Ok(Reply {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    headers,
                    body: Bytes::from_static(
                        br#"{"code":"unavailable","message":"the server is busy; try again later"}"#,
                    ),
                })
            }
            None => self
                .deliver(line, &request)
                .await
                .ok_or_else(|| cut("connection refused")),
        };
        let shown = match (&answer, fault) {
            (Ok(reply), None) => format!("{}", reply.status.as_u16()),
            (Ok(reply), Some(f)) => format!("{} ({})", reply.status.as_u16(), f.name()),
            (Err(_), Some(f)) => f.name().to_string(),
            (Err(e), None) => e.to_string(),
        };
        let mut inner = lock(&self.inner);
        inner
            .trace
            .push(format!("net: line {line} {label} -> {shown}"));
        if let Some(l) = inner.lines.get_mut(line) {
            l.answered = Some(answer.is_ok());
        }
        drop(inner);
        answer
    }
}

/// A device's transport: the real client's requests, as HTTP, through the simulated network.
pub struct SimTransport {
    pub net: Arc<Net>,
    pub line: usize,
}

/// Only bytes cross the simulated network: every call is encoded and every answer decoded by
/// the client's own protocol code (the typed methods of [`Transport`]), so the simulation
/// exercises the real decoder.
#[async_trait]
impl Transport for SimTransport {
    async fn exchange(&self, call: HttpCall) -> Result<HttpAnswer, TransportError> {
        let mut headers = call.headers;
        if let Some(token) = &call.token {
            headers.push(("authorization", format!("Bearer {token}")));
        }
        let request = SimRequest {
            method: call.method,
            path: call.path,
            headers,
            body: Bytes::from(call.body),
        };
        let reply = self.net.exchange(self.line, request).await?;
        Ok(HttpAnswer {
            status: reply.status.as_u16(),
            headers: reply.headers,
            body: reply.body.to_vec(),
        })
    }

    async fn events(&self, _token: &str) -> Result<BoxStream<'static, i64>, TransportError> {
        // The simulation drives sync rounds itself; nothing listens for pokes.
        Err(TransportError::Unreachable(
            "no event stream in the simulation".into(),
        ))
    }
}
