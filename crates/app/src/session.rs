//! The session: signing in and out, what this person may do, the sync banner and "Sync now".
//! It leans on `devices` (the device list is read at sign-in and at each "Sync now") and `live`
//! (which is told when that read changed the list).

use fieldsync_core::lifecycle::JOB_STATES;
use fieldsync_core::model::{may_list_devices, may_reassign, may_reopen, may_see_sync_review};
use fieldsync_core::{Role, State};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::views::{Permissions, SignInArgs};
use crate::{App, AppError};

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SessionInfo {
    pub user: String,
    pub display_name: String,
    pub role: String,
    pub team: Option<String>,
    pub can: Permissions,
    /// A job's states in lifecycle order, for the board's filter.
    pub job_states: Vec<State>,
    /// An admin set this person's password: the app asks for their own before anything else.
    pub must_change_password: bool,
}

/// The sync banner: plain words, the next sync time, and how much waits.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SyncBanner {
    /// `ok`, `pending`, `failed` or `attention`.
    pub level: String,
    pub text: String,
    pub next_sync: Option<String>,
    pub changes_pending: u32,
    pub files_pending: u32,
    pub server_reachable: bool,
    /// Nothing waits and the last round reached the server: the only time "Synced" is said.
    pub synced: bool,
    /// This person's changes held or refused: the banner links to the review inbox for them.
    pub needs_review: u32,
    pub summary: Vec<String>,
    /// When the round those lines tell of ended.
    pub summary_at: Option<String>,
    /// The server ended this device's session (revoked, replaced, the person disabled): why, in
    /// its words. The app goes to the sign-in screen and says so; the outbox stays for the same
    /// person's next sign-in.
    pub signed_out: Option<String>,
}

impl App {
    pub(crate) fn permissions(role: Role) -> Permissions {
        Permissions {
            create_job: matches!(role, Role::Dispatcher | Role::Supervisor),
            reassign: may_reassign(role),
            reopen: may_reopen(role),
            change_status: matches!(role, Role::Supervisor),
            edit_customers: matches!(role, Role::Office | Role::Dispatcher),
            finance: matches!(role, Role::Finance),
            see_devices: may_list_devices(role),
            sync_review: may_see_sync_review(role),
            administer: fieldsync_core::accounts::may_administer(role),
        }
    }

    pub async fn session(&self) -> Option<SessionInfo> {
        let must_change_password = self.client.must_change_password().await.unwrap_or(false);
        self.client.user().map(|u| SessionInfo {
            can: App::permissions(u.role),
            user: u.name,
            display_name: u.display_name,
            role: u.role.as_str().to_string(),
            team: u.team,
            job_states: JOB_STATES.to_vec(),
            must_change_password,
        })
    }

    pub async fn sign_in(&self, args: SignInArgs) -> Result<SessionInfo, AppError> {
        self.client.login(&args.username, &args.password).await?;
        // A first sync fills the board; a failure here is shown by the banner, not as a sign-in error.
        let _ = self.client.sync_now().await;
        if self.refresh_devices().await {
            self.devices_changed();
        }
        self.session()
            .await
            .ok_or_else(|| AppError::new("unauthenticated", "sign-in did not complete"))
    }

    pub async fn sign_out(&self) -> Result<(), AppError> {
        Ok(self.client.sign_out().await?)
    }

    /// The banner as it stands. Its words come from the client (`SyncStatus::banner`) and hold
    /// no clock time: the next try travels as an RFC 3339 instant (`next_sync`), which the UI
    /// shows in the person's own time, so the banner has one time format and it is theirs.
    pub async fn sync_status(&self) -> Result<SyncBanner, AppError> {
        let status = self.client.status().await?;
        let now = self.client.now();
        let pending = status.changes.pending + status.files.pending;
        let failing = [&status.changes, &status.files]
            .into_iter()
            .any(|l| l.failures > 0 && l.pending > 0);
        let level = if failing || !status.server_reachable {
            "failed"
        } else if pending > 0 || !status.round_reached_server {
            "pending"
        } else if status.needs_attention > 0 {
            "attention"
        } else {
            "ok"
        };
        let next = [status.changes.next_attempt, status.files.next_attempt]
            .into_iter()
            .flatten()
            .min();
        Ok(SyncBanner {
            level: level.into(),
            text: status.banner(now),
            next_sync: next.map(|t| t.to_rfc3339()),
            changes_pending: status.changes.pending as u32,
            files_pending: status.files.pending as u32,
            server_reachable: status.server_reachable,
            synced: status.is_synced(),
            needs_review: status.needs_attention as u32,
            summary_at: status.summary_at.map(|t| t.to_rfc3339()),
            signed_out: if self.client.user().is_none() {
                self.client.signed_out_reason().await.ok().flatten()
            } else {
                None
            },
            summary: status.summary,
        })
    }

    /// "Sync now": both lanes at once; the banner says what still failed.
    pub async fn sync_now(&self) -> Result<SyncBanner, AppError> {
        let report = self.client.sync_now().await?;
        if self.refresh_devices().await {
            self.devices_changed();
        }
        let mut banner = self.sync_status().await?;
        if !report.failed.is_empty() {
            banner.level = "failed".into();
        }
        Ok(banner)
    }
}
