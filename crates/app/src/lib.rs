//! The desktop app's command layer: every operation the office performs, over the sync client,
//! one file per page of the UI. The Tauri shell exposes these as commands; [`bridge`] serves the
//! same over loopback HTTP for a headless demo and browser tests. No Tauri types here.
//!
//! Where things live:
//! - [`session`]: signing in and out, the session, the sync banner, "Sync now";
//! - [`desk`]: the computer (its settings, each person's own cache and outbox) and
//!   [`credentials`] (their tokens in the credential store);
//! - [`board`]: the board of jobs, creating a job, the reassignment check and reassigning;
//! - [`schedule`]: the schedule board (technicians by team, the day or week, the unassigned
//!   tray) and moving a job in time;
//! - [`job`]: one job's detail and timeline, its status, reopening it; [`timeline`]: a record's
//!   change log as sentences (the job and customer pages);
//! - [`inbox`]: the review inbox and resolving an item;
//! - [`field`]: what the field sent for a job (photos as thumbnails kept on this computer,
//!   the signature image, part lines and notes with who and when);
//! - [`invoices`], [`customers`], [`rules`] (the sync rules, and the policy every page's badges
//!   come from), [`report`] (the weekly sync review): their pages;
//! - `edit`: the one path for editing a field group, used by the job and customer pages;
//! - `devices`: the devices the office sees, behind every owner's name;
//! - [`live`]: the change notices the screens refresh on (from the sync loop, no polling);
//! - [`admin`]: people and devices for the admin, and everyone's own password;
//! - [`alerts`]: the desktop notifications for new review items;
//! - [`ids`]: action ids, made here and checked here;
//! - [`views`]: the view types and helpers several pages share (a page's own types live in its
//!   file);
//! - [`bridge`]: the command table ([`bridge::dispatch`]) and the loopback bridge.
//!
//! Files import downwards only: this file and `views` import no page; pages import this file,
//! `views`, `ids` and `edit`; `bridge` imports the pages. A page that uses another's method (the
//! job page shows the board's card) names the page it leans on in its module documentation, and
//! no two pages lean on each other.

pub mod admin;
pub mod alerts;
pub mod board;
pub mod bridge;
mod cards;
mod confirmed;
pub mod credentials;
pub mod customers;
pub mod desk;
mod devices;
pub mod edit;
pub mod field;
pub mod ids;
pub mod inbox;
pub mod invoices;
pub mod job;
pub mod live;
pub mod report;
pub mod rules;
pub mod schedule;
pub mod session;
pub mod timeline;
pub mod views;

use fieldsync_client::SyncClient;
use fieldsync_core::{Policy, Role};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use ts_rs::TS;

pub use views::*;

/// The app: one office computer, and whoever is signed in on it.
pub struct App {
    /// The signed-in person's client (or the last one's, signed out by the server, so its
    /// reason can be shown). An app on a [`desk::Desk`] opens each person's own on sign-in;
    /// one made with [`App::new`] has the one client it was given.
    current: Mutex<Option<SyncClient>>,
    /// The computer, when the app serves whoever signs in on it.
    desk: Option<desk::Desk>,
    /// Bumped when `current` is another person's client: the background loops move to it.
    switched: tokio::sync::watch::Sender<u64>,
    /// The server's device list, kept for when it is unreachable (see `devices`).
    devices: Mutex<Vec<fieldsync_core::wire::DeviceInfo>>,
    /// The server's policy, kept for when it is unreachable (see [`rules`]).
    policy: Mutex<Option<Policy>>,
    /// The change notices the screens read again on (see [`live`]).
    live: live::Live,
    /// Where a file goes when the person has no save dialog to choose a place (a browser on
    /// loopback); set by whoever runs the app (see [`report`]).
    exports: Mutex<Option<std::path::PathBuf>>,
    /// The review items already announced (see [`alerts`]).
    alerted: Mutex<alerts::Alerted>,
    /// Every job's card, kept in memory for the board of a large office (see `cards`).
    cards: cards::CardIndex,
}

impl App {
    /// An app over one client: one person's device (the simulation's office actors, tests).
    pub fn new(client: SyncClient) -> App {
        App::with(Some(client), None)
    }

    /// An app on a shared computer: each person who signs in gets their own client. It opens
    /// on the screens of whoever was signed in when it last closed, if their session stands.
    pub async fn on_desk(desk: desk::Desk) -> App {
        let mut current = None;
        if let Some(user) = desk.last_user().filter(|u| desk.knows(u)) {
            match desk.open_client(&user, rand::random()).await {
                Ok(client) => current = Some(client),
                Err(e) => tracing::warn!(error = %e, "the last person's cache could not be opened"),
            }
        }
        App::with(current, Some(desk))
    }

    fn with(current: Option<SyncClient>, desk: Option<desk::Desk>) -> App {
        App {
            current: Mutex::new(current),
            desk,
            switched: tokio::sync::watch::channel(0).0,
            devices: Mutex::new(Vec::new()),
            policy: Mutex::new(None),
            live: live::Live::new(),
            exports: Mutex::new(None),
            alerted: Mutex::new(alerts::Alerted::default()),
            cards: cards::CardIndex::default(),
        }
    }

    /// The client in use now, signed in or not; none before anyone signed in on a desk.
    pub fn client(&self) -> Option<SyncClient> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The signed-in person's client: every command that reads or changes records goes through
    /// it, so on a desk nothing of a signed-out person's cache is shown or changed. An app over
    /// one client is one person's device: it works from its cache signed out too, as a field
    /// device does, and its outbox waits for the same person's next sign-in.
    pub(crate) fn active(&self) -> Result<SyncClient, AppError> {
        self.client()
            .filter(|c| self.desk.is_none() || c.user().is_some())
            .ok_or_else(|| AppError::new("unauthenticated", "Sign in first."))
    }

    /// Puts `client` in use: the background loops move to it.
    pub(crate) fn switch_to(&self, client: Option<SyncClient>) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = client;
        self.switched.send_modify(|n| *n += 1);
    }

    /// Whether `client` is the one in use (not replaced while a sign-in was under way).
    pub(crate) fn is_current(&self, client: &SyncClient) -> bool {
        self.client().is_some_and(|c| c.same_as(client))
    }

    /// The time now, by the clock the app was given (the client's).
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.client()
            .map(|c| c.now())
            .unwrap_or_else(chrono::Utc::now)
    }

    pub fn desk(&self) -> Option<&desk::Desk> {
        self.desk.as_ref()
    }

    /// The folder exports go to when no place was chosen.
    pub fn set_exports_dir(&self, dir: std::path::PathBuf) {
        *self.exports.lock().unwrap_or_else(|p| p.into_inner()) = Some(dir);
    }

    pub(crate) fn exports_dir(&self) -> Option<std::path::PathBuf> {
        self.exports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn role(&self) -> Option<Role> {
        self.client().and_then(|c| c.user()).map(|u| u.role)
    }
}

/// A refusal the UI can show: a stable code and a sentence.
#[derive(Debug, Clone, Serialize, Deserialize, TS, thiserror::Error)]
#[ts(export)]
#[error("{message}")]
pub struct AppError {
    pub code: String,
    pub message: String,
}

impl AppError {
    pub fn new(code: &str, message: impl Into<String>) -> AppError {
        AppError {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

impl From<fieldsync_client::ClientError> for AppError {
    fn from(e: fieldsync_client::ClientError) -> AppError {
        use fieldsync_client::{ClientError, TransportError};
        match e {
            ClientError::Transport(TransportError::Unreachable(_)) => AppError::new(
                "unreachable",
                "The server is unreachable. This needs the server; your saved work stays on this device.",
            ),
            ClientError::Transport(TransportError::Refused { code, message, .. }) => {
                AppError::new(&code, message)
            }
            ClientError::NotSignedIn => AppError::new("unauthenticated", "Sign in first."),
            ClientError::Invalid(message) => AppError::new("invalid", message),
            other => AppError::new("internal", other.to_string()),
        }
    }
}
