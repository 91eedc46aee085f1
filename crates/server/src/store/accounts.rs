//! What an admin does to people and devices, for every backend: each action is one write
//! transaction that also writes its entry in the admin log, so the log can never miss an action
//! that happened or name one that did not. The API checks who may (`may_administer`) and the
//! core's rules for names and passwords before it hashes anything; here the store refuses what
//! only the stored accounts can tell (a name taken, an account that is not there, an admin
//! locking themselves out).

use chrono::{DateTime, Utc};
use fieldsync_core::accounts::{Account, AccountChange, AdminEvent};
use fieldsync_core::{Author, DeviceId, ErrorCode};
use uuid::Uuid;

use super::backend::{Backend, Tx};
use super::rows::{AccountRow, AdminEventRow};
use super::{NewUser, StoreError, StoreResult};

/// One admin action on the store.
#[derive(Debug, Clone)]
pub enum AdminAction {
    /// A new person; their first password (already hashed) is one they change at first sign-in.
    Add(NewUser),
    Change {
        name: String,
        change: AccountChange,
    },
    /// A password the person must change at their next sign-in (already hashed).
    ResetPassword {
        name: String,
        password_hash: String,
    },
    /// A lost or stolen device: its token is refused from now on; what it reported stays.
    RevokeDevice(DeviceId),
}

fn event(
    by: &Author,
    action: &str,
    target: &str,
    detail: String,
    now: DateTime<Utc>,
) -> AdminEventRow {
    AdminEventRow {
        id: Uuid::now_v7().to_string(),
        at: now,
        by_user: by.user.clone(),
        action: action.to_string(),
        target: target.to_string(),
        detail,
    }
}

fn refused(message: impl Into<String>) -> StoreError {
    StoreError::Refused(ErrorCode::BadRequest, message.into())
}

async fn existing<T: Tx>(tx: &mut T, name: &str) -> StoreResult<AccountRow> {
    tx.account(name)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("there is no user named {name}")))
}

/// Carries out one admin action; the account it touched as it now stands (none for a device).
pub(crate) async fn administer<B: Backend>(
    backend: &B,
    by: &Author,
    action: AdminAction,
    now: DateTime<Utc>,
) -> StoreResult<Option<Account>> {
    let mut tx = backend.write().await?;
    let (name, entry) = match action {
        AdminAction::Add(user) => {
            if tx.account(&user.name).await?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "a user named {} already exists",
                    user.name
                )));
            }
            tx.insert_user(&user, now).await?;
            tx.set_password(&user.name, &user.password_hash, true)
                .await?;
            let detail = match &user.team {
                Some(team) => format!("{} ({}), team {team}", user.display_name, user.role),
                None => format!("{} ({})", user.display_name, user.role),
            };
            let entry = event(by, "add_user", &user.name, detail, now);
            (Some(user.name), entry)
        }
        AdminAction::Change { name, change } => {
            let mut row = existing(&mut tx, &name).await?;
            let myself = name == by.user;
            let mut said = Vec::new();
            if let Some(display_name) = change.display_name {
                let display_name = display_name.trim().to_string();
                if display_name != row.display_name {
                    said.push(format!("display name {display_name}"));
                    row.display_name = display_name;
                }
            }
            if let Some(role) = change.role {
                if role.as_str() != row.role {
                    // An admin who demoted themselves could not undo it: another admin does.
                    if myself {
                        return Err(refused(
                            "You cannot change your own role; another admin does.",
                        ));
                    }
                    said.push(format!("role {} → {role}", row.role));
                    row.role = role.as_str().to_string();
                }
            }
            if let Some(team) = change.team {
                let team = team.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
                if team != row.team {
                    said.push(format!("team {}", team.as_deref().unwrap_or("none")));
                    row.team = team;
                }
            }
            if let Some(disabled) = change.disabled {
                if disabled != row.disabled_at.is_some() {
                    if myself && disabled {
                        return Err(refused(
                            "You cannot disable your own account; another admin does.",
                        ));
                    }
                    row.disabled_at = disabled.then_some(now);
                    said.push(if disabled { "disabled" } else { "enabled" }.to_string());
                }
            }
            if said.is_empty() {
                // Nothing to write, nothing to log: the answer is the account as it stands.
                tx.commit().await?;
                return Ok(Some(row.account()?));
            }
            tx.update_account(&row).await?;
            let entry = event(by, "change_user", &name, said.join(", "), now);
            (Some(name), entry)
        }
        AdminAction::ResetPassword {
            name,
            password_hash,
        } => {
            existing(&mut tx, &name).await?;
            tx.set_password(&name, &password_hash, true).await?;
            let entry = event(
                by,
                "reset_password",
                &name,
                "a password to change at the next sign-in".into(),
                now,
            );
            (Some(name), entry)
        }
        AdminAction::RevokeDevice(device_id) => {
            let id = device_id.to_string();
            let device = tx.devices().await?.into_iter().find(|d| d.device_id == id);
            // Revoking a revoked device again changes nothing (its first time stays), so, as a
            // change that changes nothing, it answers as done and is not logged again: the log
            // names only actions that happened (the admin pass of scripts/schemathesis logged
            // the same revoke dozens of times).
            if device.as_ref().is_some_and(|d| d.revoked_at.is_some()) {
                tx.commit().await?;
                return Ok(None);
            }
            // The log names the device as people know it ("Tom's tablet (tom)"), not only its id.
            let named = device
                .map(|d| format!("{} ({}): ", d.name, d.user_name))
                .unwrap_or_default();
            if !tx.revoke_device(&id, now).await? {
                return Err(StoreError::NotFound(format!(
                    "there is no device {device_id}"
                )));
            }
            // Every instance pokes its devices (a poke with nothing new to pull): the revoked
            // one, held on its event stream, pulls at once with its old token, is refused, and
            // shows the sign-in screen now, not at its next round, which could be minutes away.
            let seq = tx.max_seq().await?;
            tx.announce(seq).await?;
            let entry = event(
                by,
                "revoke_device",
                &id,
                format!("{named}its token is refused from now on"),
                now,
            );
            (None, entry)
        }
    };
    tx.insert_admin_event(&entry).await?;
    let account = match &name {
        Some(name) => Some(existing(&mut tx, name).await?.account()?),
        None => None,
    };
    tx.commit().await?;
    tracing::info!(by = %by.user, action = %entry.action, target = %entry.target, detail = %entry.detail, "admin");
    Ok(account)
}

/// A person changes their own password: it is theirs now, so the must-change flag goes.
pub(crate) async fn change_own_password<B: Backend>(
    backend: &B,
    by: &Author,
    password_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let mut tx = backend.write().await?;
    existing(&mut tx, &by.user).await?;
    tx.set_password(&by.user, password_hash, false).await?;
    tx.insert_admin_event(&event(
        by,
        "change_own_password",
        &by.user,
        String::new(),
        now,
    ))
    .await?;
    tx.commit().await
}

pub(crate) async fn accounts<B: Backend>(backend: &B) -> StoreResult<Vec<Account>> {
    let mut tx = backend.read().await?;
    tx.accounts()
        .await?
        .into_iter()
        .map(AccountRow::account)
        .collect()
}

pub(crate) async fn account<B: Backend>(backend: &B, name: &str) -> StoreResult<Option<Account>> {
    let mut tx = backend.read().await?;
    tx.account(name).await?.map(AccountRow::account).transpose()
}

pub(crate) async fn admin_log<B: Backend>(backend: &B) -> StoreResult<Vec<AdminEvent>> {
    let mut tx = backend.read().await?;
    Ok(tx
        .admin_events()
        .await?
        .into_iter()
        .map(|r| AdminEvent {
            at: r.at,
            by: r.by_user,
            action: r.action,
            target: r.target,
            detail: r.detail,
        })
        .collect())
}
