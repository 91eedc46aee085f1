//! People and devices, for the admin: the accounts (add with a first password, change a role or
//! team, disable and enable, reset a password), every device with its person, last seen and what
//! it reported as unsynced (revoked in one action), the admin log; and, for everyone, changing
//! their own password (asked first when an admin set it). Each is one API call the server
//! authorises and logs; the names and passwords are checked here with core's rules first, so the
//! form says what is wrong before anything is sent. It leans on `devices` for the device list.

use chrono::SecondsFormat;
use fieldsync_core::accounts::{
    check_display_name, check_password, check_user_name, may_administer, Account, AccountChange,
    NewAccount, PasswordChange,
};
use fieldsync_core::{DeviceId, Role};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{App, AppError};

/// One account as the people table shows it.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AccountView {
    pub name: String,
    pub display_name: String,
    /// A role's name (`technician`, `dispatcher`...).
    pub role: String,
    pub team: Option<String>,
    pub created_at: String,
    pub disabled_at: Option<String>,
    pub must_change_password: bool,
    /// This is the signed-in admin: they cannot disable or demote themselves.
    pub is_me: bool,
}

/// One device as the devices table shows it.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DeviceView {
    pub device_id: String,
    pub name: String,
    pub user: String,
    pub display_name: String,
    pub role: String,
    pub last_seen: Option<String>,
    pub revoked_at: Option<String>,
    /// Changes waiting on the device at its last pull, as it reported them.
    #[ts(type = "number | null")]
    pub unsynced: Option<i64>,
    pub oldest_pending: Option<String>,
}

/// The people page: accounts, devices and the log, with what this person may do there.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PeoplePage {
    pub accounts: Vec<AccountView>,
    pub devices: Vec<DeviceView>,
    pub log: Vec<AdminLogLine>,
    /// Every role's name, for the role pickers.
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AdminLogLine {
    pub at: String,
    pub by: String,
    pub action: String,
    /// Who or what was acted on, in words (a device as "its name (its person)").
    pub target: String,
    /// The user name or device id the server logged, for the curious.
    pub target_id: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AddAccountArgs {
    pub name: String,
    pub display_name: String,
    pub role: String,
    /// Empty: no team.
    pub team: String,
    /// A first password the person changes at first sign-in.
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ChangeAccountArgs {
    pub name: String,
    pub display_name: Option<String>,
    pub role: Option<String>,
    /// Present to change the team; an empty one takes the person out of their team.
    pub team: Option<String>,
    pub disabled: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ResetPasswordArgs {
    pub name: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct OwnPasswordArgs {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DeviceArgs {
    pub device_id: String,
}

fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn role_named(name: &str) -> Result<Role, AppError> {
    Role::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Role::ALL.iter().map(Role::as_str).collect();
        AppError::new(
            "invalid",
            format!("`{name}` is not a role (roles: {})", known.join(", ")),
        )
    })
}

fn invalid(r: fieldsync_core::Rejection) -> AppError {
    AppError::new("invalid", r.message)
}

impl App {
    fn admin_only(&self) -> Result<(), AppError> {
        if self.role().is_some_and(may_administer) {
            Ok(())
        } else {
            Err(AppError::new(
                "forbidden",
                "Only an admin manages people and devices.",
            ))
        }
    }

    fn account_view(&self, a: Account) -> AccountView {
        let me = self
            .client()
            .and_then(|c| c.user())
            .map(|u| u.name)
            .unwrap_or_default();
        AccountView {
            is_me: a.name == me,
            name: a.name,
            display_name: a.display_name,
            role: a.role.as_str().to_string(),
            team: a.team,
            created_at: stamp(a.created_at),
            disabled_at: a.disabled_at.map(stamp),
            must_change_password: a.must_change_password,
        }
    }

    /// The people page (admin).
    pub async fn people(&self) -> Result<PeoplePage, AppError> {
        self.admin_only()?;
        let accounts = self.active()?.accounts().await?;
        let devices = self.active()?.devices().await?;
        let log = self.active()?.admin_log().await?;
        // The log names people and devices by id (that is what the server records); the admin
        // reads names: "Tom's tablet (Tom Baker)", not a UUID.
        let person = |user: &str| {
            accounts
                .iter()
                .find(|a| a.name == user)
                .map(|a| a.display_name.clone())
                .unwrap_or_else(|| user.to_string())
        };
        let target = |e: &fieldsync_core::accounts::AdminEvent| match devices
            .iter()
            .find(|d| d.device_id.to_string() == e.target)
        {
            Some(d) => format!("{} ({})", d.name, d.display_name),
            None if e.action == "revoke_device" => "a device no longer listed".to_string(),
            None => person(&e.target),
        };
        let log: Vec<AdminLogLine> = log
            .into_iter()
            .rev()
            .map(|e| {
                // A revoke's detail starts "Tess laptop (tess): ", which the target now says.
                let detail = devices
                    .iter()
                    .find(|d| d.device_id.to_string() == e.target)
                    .and_then(|d| e.detail.strip_prefix(&format!("{} ({}): ", d.name, d.user)))
                    .map(str::to_string)
                    .unwrap_or_else(|| e.detail.clone());
                AdminLogLine {
                    at: stamp(e.at),
                    by: person(&e.by),
                    action: e.action.clone(),
                    target: target(&e),
                    target_id: e.target.clone(),
                    detail,
                }
            })
            .collect();
        Ok(PeoplePage {
            accounts: accounts.into_iter().map(|a| self.account_view(a)).collect(),
            devices: devices
                .into_iter()
                .map(|d| DeviceView {
                    device_id: d.device_id.to_string(),
                    name: d.name,
                    user: d.user,
                    display_name: d.display_name,
                    role: d.role.as_str().to_string(),
                    last_seen: d.last_seen.map(stamp),
                    revoked_at: d.revoked_at.map(stamp),
                    unsynced: d.outbox_depth,
                    oldest_pending: d.oldest_pending.map(stamp),
                })
                .collect(),
            // Newest first: the admin looks for what just happened.
            log,
            roles: Role::ALL.iter().map(|r| r.as_str().to_string()).collect(),
        })
    }

    pub async fn add_account(&self, args: AddAccountArgs) -> Result<AccountView, AppError> {
        self.admin_only()?;
        let name = args.name.trim().to_string();
        check_user_name(&name).map_err(invalid)?;
        check_display_name(&args.display_name).map_err(invalid)?;
        check_password(&name, &args.password).map_err(invalid)?;
        let team = Some(args.team.trim().to_string()).filter(|t| !t.is_empty());
        let account = self
            .active()?
            .add_account(&NewAccount {
                name,
                display_name: args.display_name.trim().to_string(),
                role: role_named(&args.role)?,
                team,
                password: args.password,
            })
            .await?;
        Ok(self.account_view(account))
    }

    pub async fn change_account(&self, args: ChangeAccountArgs) -> Result<AccountView, AppError> {
        self.admin_only()?;
        if let Some(display_name) = &args.display_name {
            check_display_name(display_name).map_err(invalid)?;
        }
        let change = AccountChange {
            display_name: args.display_name.map(|d| d.trim().to_string()),
            role: args.role.as_deref().map(role_named).transpose()?,
            team: args
                .team
                .map(|t| Some(t.trim().to_string()).filter(|t| !t.is_empty())),
            disabled: args.disabled,
        };
        let account = self.active()?.change_account(&args.name, &change).await?;
        // A disabled person's devices lose their tokens: the owner column should say so now.
        self.refresh_devices().await;
        Ok(self.account_view(account))
    }

    pub async fn reset_password(&self, args: ResetPasswordArgs) -> Result<AccountView, AppError> {
        self.admin_only()?;
        check_password(&args.name, &args.password).map_err(invalid)?;
        let account = self
            .active()?
            .reset_password(&args.name, &args.password)
            .await?;
        Ok(self.account_view(account))
    }

    /// A lost tablet: its token is refused at once; what it had not synced stays listed.
    pub async fn revoke_device(&self, args: DeviceArgs) -> Result<(), AppError> {
        self.admin_only()?;
        let id: DeviceId = args.device_id.parse().map_err(|_| {
            AppError::new(
                "invalid",
                format!("`{}` is not a device id", args.device_id),
            )
        })?;
        self.active()?.revoke_device(id).await?;
        self.refresh_devices().await;
        Ok(())
    }

    /// Everyone's own password; the first thing asked when an admin set it.
    pub async fn change_own_password(&self, args: OwnPasswordArgs) -> Result<(), AppError> {
        let me = self
            .active()?
            .user()
            .ok_or_else(|| AppError::new("unauthenticated", "Sign in first."))?;
        check_password(&me.name, &args.new_password).map_err(invalid)?;
        if args.new_password == args.current_password {
            return Err(AppError::new(
                "invalid",
                "The new password must differ from the current one.",
            ));
        }
        self.active()?
            .change_password(&PasswordChange {
                current_password: args.current_password,
                new_password: args.new_password,
            })
            .await?;
        Ok(())
    }
}
