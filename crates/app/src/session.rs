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
    /// Every invoice state in lifecycle order, for the invoices' filter.
    pub invoice_states: Vec<State>,
    /// An admin set this person's password: the app asks for their own before anything else.
    pub must_change_password: bool,
}

/// What signing out left behind on this computer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SignedOut {
    /// Changes (and files) of this person's not yet synced, kept for their next sign-in here.
    pub unsynced: u32,
    /// "3 of Dana's changes are not synced yet; ...", when there are any.
    pub message: Option<String>,
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

impl SyncBanner {
    /// Nobody signed in on this computer: nothing of anyone's is shown or sent.
    fn nobody() -> SyncBanner {
        SyncBanner {
            level: "pending".into(),
            text: "Not signed in: nothing is sent until you sign in.".into(),
            next_sync: None,
            changes_pending: 0,
            files_pending: 0,
            server_reachable: true,
            synced: false,
            needs_review: 0,
            summary: Vec::new(),
            summary_at: None,
            signed_out: None,
        }
    }
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
        let client = self.active().ok()?;
        let must_change_password = client.must_change_password().await.unwrap_or(false);
        client.user().map(|u| SessionInfo {
            can: App::permissions(u.role),
            user: u.name,
            display_name: u.display_name,
            role: u.role.as_str().to_string(),
            team: u.team,
            job_states: JOB_STATES.to_vec(),
            invoice_states: fieldsync_core::lifecycle::INVOICE_STATES.to_vec(),
            must_change_password,
        })
    }

    /// Signs a person in. On a desk they get their own client (their cache, outbox and token,
    /// opened from their folder, or made on their first sign-in here); whoever's client was in
    /// use is left as it is, its outbox kept for their own next sign-in.
    pub async fn sign_in(&self, args: SignInArgs) -> Result<SessionInfo, AppError> {
        self.sign_in_as(args).await.map_err(|e| match e.code.as_str() {
            "unreachable" => AppError::new(
                "unreachable",
                "Signing in needs the server, and it cannot be reached from this computer now. Try again when it is back; nothing saved on this computer is lost.",
            ),
            "invalid_credentials" => {
                AppError::new("invalid_credentials", "The user name or password is wrong.")
            }
            _ => e,
        })
    }

    async fn sign_in_as(&self, args: SignInArgs) -> Result<SessionInfo, AppError> {
        let Some(desk) = &self.desk else {
            let client = self
                .client()
                .ok_or_else(|| AppError::new("unauthenticated", "This app has no client."))?;
            client.login(&args.username, &args.password).await?;
            return self.signed_in(client).await;
        };
        let name = args.username.trim().to_lowercase();
        let current = self.client();
        let theirs = match &current {
            Some(c) if c.cached_user().await?.is_some_and(|u| u.name == name) => Some(c.clone()),
            _ => None,
        };
        let client = match theirs {
            Some(client) => {
                client.login(&name, &args.password).await?;
                client
            }
            None => {
                let known = desk.knows(&name);
                let client = desk.open_client(&name, rand::random()).await?;
                if let Err(e) = client.login(&name, &args.password).await {
                    drop(client);
                    if !known {
                        // A mistyped name or password leaves no folder behind.
                        desk.forget_new(&name);
                    }
                    return Err(e.into());
                }
                if let Some(previous) = current {
                    self.leave(&previous).await;
                }
                self.switch_to(Some(client.clone()));
                client
            }
        };
        let session = self.signed_in(client).await?;
        desk.set_last_user(Some(&session.user));
        desk.note_unsynced(&session.user, &session.display_name, 0);
        Ok(session)
    }

    /// Fills the screens of a person just signed in.
    async fn signed_in(
        &self,
        client: fieldsync_client::SyncClient,
    ) -> Result<SessionInfo, AppError> {
        // A first sync fills the board; a failure here is shown by the banner, not as a sign-in error.
        let _ = client.sync_now().await;
        if self.refresh_devices().await {
            self.devices_changed();
        }
        self.session()
            .await
            .ok_or_else(|| AppError::new("unauthenticated", "sign-in did not complete"))
    }

    /// Notes what `client`'s person leaves unsynced on this computer, for the sign-in screen.
    async fn leave(&self, client: &fieldsync_client::SyncClient) -> u32 {
        let pending = match client.status().await {
            Ok(s) => (s.changes.pending + s.files.pending) as u32,
            Err(_) => 0,
        };
        if let (Some(desk), Ok(Some(user))) = (&self.desk, client.cached_user().await) {
            desk.note_unsynced(&user.name, &user.display_name, pending);
        }
        pending
    }

    /// Signs out. What the person has not synced stays in their own outbox on this computer
    /// and goes when they sign in here again; the answer says how much, in words.
    pub async fn sign_out(&self) -> Result<SignedOut, AppError> {
        let Some(client) = self.client() else {
            return Ok(SignedOut::default());
        };
        let who = client.cached_user().await?;
        client.sign_out().await?;
        let unsynced = self.leave(&client).await;
        if let Some(desk) = &self.desk {
            desk.set_last_user(None);
            if self.is_current(&client) {
                self.switch_to(None);
            }
        }
        Ok(SignedOut {
            unsynced,
            message: who.and_then(|u| crate::desk::unsynced_sentence(&u.display_name, unsynced)),
        })
    }

    /// The computer's settings and who left work on it, for the first-run, settings and sign-in
    /// screens; none for an app over one client.
    pub fn desk_view(&self) -> Option<crate::desk::DeskView> {
        self.desk.as_ref().map(|d| d.view())
    }

    pub async fn save_settings(
        &self,
        settings: crate::desk::DeskSettings,
    ) -> Result<crate::desk::DeskView, AppError> {
        match &self.desk {
            Some(desk) => desk.save(settings).await,
            None => Err(AppError::new(
                "fixed_settings",
                "This app's settings come from how it was started.",
            )),
        }
    }

    /// The banner as it stands. Its words come from the client (`SyncStatus::banner`) and hold
    /// no clock time: the next try travels as an RFC 3339 instant (`next_sync`), which the UI
    /// shows in the person's own time, so the banner has one time format and it is theirs.
    pub async fn sync_status(&self) -> Result<SyncBanner, AppError> {
        let Some(client) = self.client() else {
            return Ok(SyncBanner::nobody());
        };
        let status = client.status().await?;
        let now = client.now();
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
            signed_out: if client.user().is_none() {
                client.signed_out_reason().await.ok().flatten()
            } else {
                None
            },
            summary: status.summary,
        })
    }

    /// "Sync now": both lanes at once; the banner says what still failed.
    pub async fn sync_now(&self) -> Result<SyncBanner, AppError> {
        let report = self.active()?.sync_now().await?;
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
