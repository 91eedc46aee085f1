//! The desktop app's command layer: every operation the office performs, over the sync client,
//! one file per page of the UI. The Tauri shell exposes these as commands; [`bridge`] serves the
//! same over loopback HTTP for a headless demo and browser tests. No Tauri types here.
//!
//! Where things live:
//! - [`session`]: signing in and out, the session, the sync banner, "Sync now";
//! - [`board`]: the board of jobs, creating a job, the reassignment check and reassigning;
//! - [`job`]: one job's detail and timeline, its status, reopening it;
//! - [`inbox`]: the review inbox and resolving an item;
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
pub mod customers;
mod devices;
pub mod edit;
pub mod ids;
pub mod inbox;
pub mod invoices;
pub mod job;
pub mod live;
pub mod report;
pub mod rules;
pub mod session;
pub mod views;

use fieldsync_client::SyncClient;
use fieldsync_core::{Policy, Role};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use ts_rs::TS;

pub use views::*;

/// The app: one signed-in office device.
pub struct App {
    client: SyncClient,
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
}

impl App {
    pub fn new(client: SyncClient) -> App {
        App {
            client,
            devices: Mutex::new(Vec::new()),
            policy: Mutex::new(None),
            live: live::Live::new(),
            exports: Mutex::new(None),
            alerted: Mutex::new(alerts::Alerted::default()),
        }
    }

    pub fn client(&self) -> &SyncClient {
        &self.client
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
        self.client.user().map(|u| u.role)
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
            ClientError::Transport(TransportError::Unreachable(_)) => {
                AppError::new("unreachable", "The server is unreachable. This needs the server; your saved work stays on this device.")
            }
            ClientError::Transport(TransportError::Refused { code, message, .. }) => AppError::new(&code, message),
            ClientError::NotSignedIn => AppError::new("unauthenticated", "Sign in first."),
            ClientError::Invalid(message) => AppError::new("invalid", message),
            other => AppError::new("internal", other.to_string()),
        }
    }
}
