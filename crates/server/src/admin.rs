//! The admin's calls: people (add, change a role or team, disable, reset a password) and
//! devices (revoke a lost tablet), and everyone's own password change. Each is authorised here
//! (admin only, but a person's own password) and logged by the store in the same transaction as
//! the change (`GET /api/v1/admin/log`).

use axum::extract::State;
use axum::http::StatusCode;
use fieldsync_core::accounts::{
    check_display_name, check_password, check_user_name, may_administer, Account, AccountChange,
    AdminEvent, NewAccount, PasswordChange, PasswordReset,
};
use fieldsync_core::wire::ApiErrorBody;
use fieldsync_core::{DeviceId, Rejection};

use crate::auth::{self, Authed};
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::store::{AdminAction, DeviceAuth, NewUser};
use crate::AppState;

fn admin_only(device: &DeviceAuth) -> Result<(), ApiError> {
    if may_administer(device.author.role) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "a {} cannot manage people or devices; an admin does",
            device.author.role
        )))
    }
}

fn rule(r: Result<(), Rejection>) -> Result<(), ApiError> {
    r.map_err(|r| ApiError::from_code(r.code, r.message))
}

/// Hashes off the async threads: argon2 takes a good part of a second on purpose.
async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|_| ApiError::internal())
}

/// `GET /api/v1/users`: every account, disabled ones too (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "admin",
    responses((status = 200, body = Vec<Account>), (status = 403, description = "forbidden", body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn list_users(
    State(state): State<AppState>,
    Authed(device): Authed,
) -> Result<ApiJson<Vec<Account>>, ApiError> {
    admin_only(&device)?;
    Ok(ApiJson(state.store.accounts().await?))
}

/// `POST /api/v1/users`: a new person, with a first password they change at first sign-in
/// (admin).
#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = NewAccount,
    responses((status = 201, body = Account), (status = 400, description = "bad_request", body = ApiErrorBody),
        (status = 403, description = "forbidden", body = ApiErrorBody), (status = 409, description = "already_exists", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn add_user(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiJson(req): ApiJson<NewAccount>,
) -> Result<(StatusCode, ApiJson<Account>), ApiError> {
    admin_only(&device)?;
    rule(check_user_name(&req.name))?;
    rule(check_display_name(&req.display_name))?;
    rule(check_password(&req.name, &req.password))?;
    let user = NewUser {
        name: req.name.clone(),
        display_name: req.display_name.trim().to_string(),
        role: req.role,
        team: req
            .team
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
        password_hash: hash(req.password).await?,
    };
    let account = state
        .store
        .administer(&device.author, AdminAction::Add(user), state.clock.now())
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok((StatusCode::CREATED, ApiJson(account)))
}

/// `PATCH /api/v1/users/{name}`: a display name, role or team changed, or the person disabled
/// or enabled again (admin). Disabling refuses every token of theirs at once; their records
/// and history stay.
#[utoipa::path(patch, path = "/api/v1/users/{name}", tag = "admin", request_body = AccountChange,
    params(("name" = String, Path, description = "the user name")),
    responses((status = 200, body = Account), (status = 400, description = "bad_request", body = ApiErrorBody),
        (status = 403, description = "forbidden", body = ApiErrorBody), (status = 404, description = "not_found", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn change_user(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiPath(name): ApiPath<String>,
    ApiJson(change): ApiJson<AccountChange>,
) -> Result<ApiJson<Account>, ApiError> {
    admin_only(&device)?;
    if let Some(display_name) = &change.display_name {
        rule(check_display_name(display_name))?;
    }
    let account = state
        .store
        .administer(
            &device.author,
            AdminAction::Change { name, change },
            state.clock.now(),
        )
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok(ApiJson(account))
}

/// `POST /api/v1/users/{name}/password`: a password the person changes at their next sign-in
/// (admin).
#[utoipa::path(post, path = "/api/v1/users/{name}/password", tag = "admin", request_body = PasswordReset,
    params(("name" = String, Path, description = "the user name")),
    responses((status = 200, body = Account), (status = 400, description = "bad_request", body = ApiErrorBody),
        (status = 403, description = "forbidden", body = ApiErrorBody), (status = 404, description = "not_found", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn reset_password(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<PasswordReset>,
) -> Result<ApiJson<Account>, ApiError> {
    admin_only(&device)?;
    rule(check_password(&name, &req.password))?;
    let password_hash = hash(req.password).await?;
    let account = state
        .store
        .administer(
            &device.author,
            AdminAction::ResetPassword {
                name,
                password_hash,
            },
            state.clock.now(),
        )
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok(ApiJson(account))
}

/// `POST /api/v1/auth/password`: a person changes their own password (anyone signed in).
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = PasswordChange,
    responses((status = 204, description = "changed"), (status = 400, description = "bad_request", body = ApiErrorBody),
        (status = 401, description = "invalid_credentials", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn change_own_password(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let me = &device.author.user;
    rule(check_password(me, &req.new_password))?;
    if req.new_password == req.current_password {
        return Err(ApiError::bad_request(
            "The new password must differ from the current one.",
        ));
    }
    let (_, stored) = state
        .store
        .user_with_hash(me)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no user named {me}")))?;
    let current = req.current_password;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&stored, &current))
        .await
        .map_err(|_| ApiError::internal())?;
    if !ok {
        return Err(ApiError::from_code(
            fieldsync_core::ErrorCode::InvalidCredentials,
            "The current password is wrong.",
        ));
    }
    let password_hash = hash(req.new_password).await?;
    state
        .store
        .change_own_password(&device.author, &password_hash, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/devices/{id}/revoke`: a lost or stolen device's token is refused from now on
/// (admin). What it reported as unsynced stays in the device list. Revoking it again answers
/// the same and logs nothing, since nothing changed.
#[utoipa::path(post, path = "/api/v1/devices/{id}/revoke", tag = "admin",
    params(("id" = uuid::Uuid, Path, description = "the device id")),
    responses((status = 204, description = "revoked"), (status = 403, description = "forbidden", body = ApiErrorBody),
        (status = 404, description = "not_found", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_device(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiPath(id): ApiPath<DeviceId>,
) -> Result<StatusCode, ApiError> {
    admin_only(&device)?;
    state
        .store
        .administer(
            &device.author,
            AdminAction::RevokeDevice(id),
            state.clock.now(),
        )
        .await?;
    // This instance's devices (the store told the others): the revoked one learns at once.
    state.poke(state.store.max_seq().await?);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/admin/log`: every admin action, oldest first (admin).
#[utoipa::path(get, path = "/api/v1/admin/log", tag = "admin",
    responses((status = 200, body = Vec<AdminEvent>), (status = 403, description = "forbidden", body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn admin_log(
    State(state): State<AppState>,
    Authed(device): Authed,
) -> Result<ApiJson<Vec<AdminEvent>>, ApiError> {
    admin_only(&device)?;
    Ok(ApiJson(state.store.admin_log().await?))
}
