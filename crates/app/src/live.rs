//! Change notifications: one stream of "something changed" for the screens, made from the sync
//! loop's own events, so no screen polls. The client publishes its status on a watch channel
//! whenever it really changed (a save, a push answered, a pull that brought something, the
//! server gone or back); [`App::run`] turns that into coarse [`Changed`] notices, and
//! keeps the device list (the owner column's unsynced changes) fresh after rounds, throttled.
//! The Tauri shell forwards each notice as a window event, the bridge serves them as SSE
//! (`GET /api/{secret}/events`); the UI reads again on each. It leans on `devices` and on
//! `confirmed` (duplicates the person ruled out, settled after a round).

use fieldsync_client::{SyncClient, SyncStatus};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use ts_rs::TS;

use crate::App;

/// The window event the Tauri shell emits for each notice (its payload is a [`Changed`]).
pub const TAURI_EVENT: &str = "fieldsync://changed";

/// What changed, coarsely: a screen reads again what it shows of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Changed {
    /// The sync banner: reachability, what waits, failures, the last round.
    pub status: bool,
    /// Records on this device (the board, a job, customers, invoices).
    pub records: bool,
    /// The review inbox.
    pub reviews: bool,
    /// The device list behind the owner column (unsynced changes per device, last seen).
    pub devices: bool,
}

impl Changed {
    /// Everything: for a listener that fell behind and cannot know what it missed.
    pub fn everything() -> Changed {
        Changed {
            status: true,
            records: true,
            reviews: true,
            devices: true,
        }
    }

    fn any(&self) -> bool {
        self.status || self.records || self.reviews || self.devices
    }
}

/// The notices' channel. Listeners come and go (a window, a browser tab); one that lags gets
/// [`Changed::everything`] from the bridge rather than a gap.
pub(crate) struct Live {
    tx: broadcast::Sender<Changed>,
    /// Turns true when [`App::run`] stops: the streams of notices end with it, so a
    /// server shutting down gracefully is not held open by a page's stream.
    closed: watch::Sender<bool>,
}

impl Live {
    pub(crate) fn new() -> Live {
        Live {
            tx: broadcast::channel(64).0,
            closed: watch::channel(false).0,
        }
    }

    fn send(&self, changed: Changed) {
        if changed.any() {
            // No listener is fine: nobody is looking.
            let _ = self.tx.send(changed);
        }
    }
}

/// What of the status a screen shows. A pending change's "due now" reads the clock, so its
/// next try is left out unless a lane is failing: otherwise each banner read would be a change,
/// and each change a banner read.
#[derive(Debug, PartialEq)]
struct Shown {
    banner: (u64, u64, u32, u32, bool, bool, Vec<String>),
    failing_next: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    last_synced: Option<chrono::DateTime<chrono::Utc>>,
    revision: u64,
    attention: u64,
}

impl Shown {
    fn of(s: &SyncStatus) -> Shown {
        Shown {
            banner: (
                s.changes.pending,
                s.files.pending,
                s.changes.failures,
                s.files.failures,
                s.server_reachable,
                s.round_reached_server,
                s.summary.clone(),
            ),
            failing_next: [&s.changes, &s.files]
                .into_iter()
                .map(|l| l.next_attempt.filter(|_| l.failures > 0))
                .collect(),
            last_synced: s.last_synced,
            revision: s.revision,
            attention: s.needs_attention,
        }
    }
}

/// At most one device-list read per this long: rounds come in bursts (a poke per commit).
const DEVICES_THROTTLE: Duration = Duration::from_secs(1);

/// One more read this long after a round's: another device reports its outbox on its pull,
/// which comes just after the push whose poke started our round, so the first read can be a
/// moment early and show changes that have in fact synced.
const DEVICES_TRAILING: Duration = Duration::from_secs(2);

impl App {
    /// A new listener of the change notices.
    pub fn changes(&self) -> broadcast::Receiver<Changed> {
        self.live.tx.subscribe()
    }

    /// Turns true once the notices have stopped for good (the app is shutting down).
    pub fn changes_closed(&self) -> watch::Receiver<bool> {
        self.live.closed.subscribe()
    }

    /// The app's background work until `shutdown`: the signed-in person's sync loop
    /// ([`fieldsync_client::SyncClient::run`]) and its notices beside it. When another person
    /// signs in on the desk, both stop for the last person's client and start on theirs, so
    /// one person's outbox is only ever sent while they are the one signed in.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let mut switched = self.switched.subscribe();
        loop {
            switched.borrow_and_update();
            let (stop, stop_rx) = watch::channel(false);
            let work = async {
                if let Some(client) = self.client() {
                    let looping = client.clone();
                    let rx = stop_rx.clone();
                    tokio::join!(looping.run(rx), self.notices(client, stop_rx.clone()));
                } else {
                    // Nobody signed in: nothing runs until someone does, or the app stops.
                    let mut idle = stop_rx.clone();
                    let _ = idle.wait_for(|stop| *stop).await;
                }
            };
            tokio::pin!(work);
            let (ended, done) = tokio::select! {
                _ = &mut work => (true, true),
                _ = shutdown.changed() => (false, true),
                _ = switched.changed() => (false, false),
            };
            // The loops finish what they were doing (a round in flight) before the next starts.
            let _ = stop.send(true);
            if !ended {
                work.await;
            }
            if done || *shutdown.borrow() {
                break;
            }
            // Everything a screen shows belongs to someone else now.
            self.live.send(Changed::everything());
        }
        self.live.closed.send_replace(true);
    }

    /// Turns the client's status changes into notices until `shutdown`, and re-reads the
    /// device list after rounds (throttled, with one trailing read).
    async fn notices(&self, client: SyncClient, mut shutdown: watch::Receiver<bool>) {
        let mut status = client.subscribe();
        let mut seen = Shown::of(&status.borrow_and_update());
        let mut devices_at: Option<Instant> = None;
        let mut last_read: Option<Instant> = None;
        let mut trailing = false;
        loop {
            let due = devices_at;
            tokio::select! {
                changed = status.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let now = Shown::of(&status.borrow_and_update());
                    let pending_moved = now.banner.0 != seen.banner.0 || now.banner.1 != seen.banner.1;
                    let records = now.revision != seen.revision || pending_moved;
                    let notice = Changed {
                        status: now.banner != seen.banner
                            || now.failing_next != seen.failing_next
                            || now.last_synced != seen.last_synced,
                        records,
                        reviews: records || now.attention != seen.attention,
                        devices: false,
                    };
                    // A round that reached the server, or the server back: other devices'
                    // health may have moved with what it brought.
                    let round = now.last_synced != seen.last_synced
                        || now.revision != seen.revision
                        || (now.banner.4 && !seen.banner.4);
                    seen = now;
                    if notice.reviews {
                        // A duplicate the person already ruled out is not asked again.
                        self.settle_confirmed().await;
                    }
                    self.live.send(notice);
                    if round {
                        let earliest = last_read
                            .map(|at| at + DEVICES_THROTTLE)
                            .unwrap_or_else(Instant::now)
                            .max(Instant::now());
                        devices_at = Some(devices_at.map_or(earliest, |at| at.min(earliest)));
                        trailing = true;
                    }
                }
                _ = async { tokio::time::sleep_until(due.unwrap_or_else(Instant::now)).await },
                    if due.is_some() =>
                {
                    devices_at = None;
                    last_read = Some(Instant::now());
                    if self.refresh_devices().await {
                        self.live.send(Changed {
                            devices: true,
                            ..Changed::default()
                        });
                    }
                    if std::mem::take(&mut trailing) {
                        devices_at = Some(Instant::now() + DEVICES_TRAILING);
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
    }

    /// Tells the listeners the device list moved (a read at sign-in or at "Sync now").
    pub(crate) fn devices_changed(&self) {
        self.live.send(Changed {
            devices: true,
            ..Changed::default()
        });
    }
}
