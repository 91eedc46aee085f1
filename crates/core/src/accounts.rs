//! People and their sign-in: who may manage accounts, what a user name and a password must be,
//! and the bodies of the admin calls. The server checks these before it writes; the CLI's
//! `user add` and the office app's admin page check the same, so a person learns what is wrong
//! before anything is sent, with the same sentence.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, Rejection};
use crate::model::Role;

/// The fewest characters a password may have.
pub const MIN_PASSWORD: usize = 8;

/// Who manages people and devices (adds, changes, disables, resets passwords, revokes devices).
pub fn may_administer(role: Role) -> bool {
    role == Role::Admin
}

/// A user name: what people type to sign in and what the log names, so it stays plain: 2 to 32
/// lowercase letters, digits, `.`, `-` or `_`, starting with a letter.
pub fn check_user_name(name: &str) -> Result<(), Rejection> {
    let ok = (2..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(Rejection::new(
            ErrorCode::BadRequest,
            format!("`{name}` cannot be a user name: use 2 to 32 lowercase letters, digits, dots, dashes or underscores, starting with a letter"),
        ))
    }
}

/// A new password for `user`: long enough, and not the user name itself.
pub fn check_password(user: &str, password: &str) -> Result<(), Rejection> {
    let bad = |m: String| Err(Rejection::new(ErrorCode::BadRequest, m));
    if password.chars().count() < MIN_PASSWORD {
        return bad(format!(
            "A password needs at least {MIN_PASSWORD} characters."
        ));
    }
    if password.trim().eq_ignore_ascii_case(user) {
        return bad("A password cannot be the user name.".into());
    }
    Ok(())
}

/// A person's display name: what every screen shows beside their records.
pub fn check_display_name(display_name: &str) -> Result<(), Rejection> {
    let trimmed = display_name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 80 {
        return Err(Rejection::new(
            ErrorCode::BadRequest,
            "A display name has 1 to 80 characters.",
        ));
    }
    Ok(())
}

/// One account as an admin sees it: disabled ones too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Account {
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub team: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Disabled: every device's token of this person is refused and they cannot sign in; their
    /// records and history stay.
    pub disabled_at: Option<DateTime<Utc>>,
    /// The password was set by an admin (a first one, or a reset): the person changes it when
    /// they next sign in.
    pub must_change_password: bool,
}

/// `POST /api/v1/users`: a new person with a first password they change at first sign-in.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub name: String,
    pub display_name: String,
    pub role: Role,
    #[serde(default)]
    pub team: Option<String>,
    pub password: String,
}

/// `PATCH /api/v1/users/{name}`: what changes (a field left out stays as it is). `team: null`
/// takes the person out of their team; `disabled: false` enables them again.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Present (a name or null) to change the team.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "::serde_with::rust::double_option"
    )]
    #[schema(value_type = Option<String>)]
    pub team: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// `POST /api/v1/users/{name}/password`: an admin sets a password the person must change.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    pub password: String,
}

/// `POST /api/v1/auth/password`: a person changes their own password.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// One entry of the admin log (`GET /api/v1/admin/log`): who did what to which account or
/// device, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AdminEvent {
    pub at: DateTime<Utc>,
    /// The admin (or, for `change_own_password`, the person themselves).
    pub by: String,
    /// `add_user`, `change_user`, `reset_password`, `revoke_device` or `change_own_password`.
    pub action: String,
    /// The user name or device id acted on.
    pub target: String,
    /// What changed, in words ("role technician → dispatcher, team north").
    pub detail: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_plain() {
        for good in ["tom", "rita.alvarez", "k2", "ops_lead-2"] {
            assert!(check_user_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "t",
            "Tom",
            "2tom",
            "tom smith",
            "tom@x",
            &"a".repeat(33),
        ] {
            let refused = check_user_name(bad).unwrap_err();
            assert_eq!(refused.code, ErrorCode::BadRequest, "{bad}");
            assert!(refused.message.contains("cannot be a user name"));
        }
    }

    #[test]
    fn passwords_are_long_enough_and_not_the_name() {
        assert!(check_password("tom", "a long password").is_ok());
        assert!(check_password("tom", "short")
            .unwrap_err()
            .message
            .contains("at least 8"));
        assert!(check_password("tommytom", "TommyTom")
            .unwrap_err()
            .message
            .contains("cannot be the user name"));
        // Counted in characters, not bytes: eight letters of any script are eight.
        assert!(check_password("tom", "ääääääää").is_ok());
        assert!(check_password("tom", "äääää").is_err());
    }

    #[test]
    fn only_an_admin_administers() {
        for role in Role::ALL {
            assert_eq!(may_administer(role), role == Role::Admin, "{role}");
        }
    }

    #[test]
    fn a_change_tells_a_team_cleared_from_a_team_left_alone() {
        let cleared: AccountChange = serde_json::from_str(r#"{"team": null}"#).unwrap();
        assert_eq!(cleared.team, Some(None));
        let alone: AccountChange = serde_json::from_str(r#"{"role": "dispatcher"}"#).unwrap();
        assert_eq!(alone.team, None);
        assert_eq!(alone.role, Some(Role::Dispatcher));
        assert!(serde_json::from_str::<AccountChange>(r#"{"password": "x"}"#).is_err());
    }
}
