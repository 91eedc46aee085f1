//! The HTTP API: DESIGN.md's calls at their fixed paths, and the OpenAPI document generated
//! from the same handlers so it cannot drift from what the server does.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use axum::Router;
use fieldsync_core::model::{may_list_devices, may_reassign, may_reopen, may_see_sync_review};
use fieldsync_core::wire::{
    ApiErrorBody, DeviceInfo, Outcome, OutcomeStatus, PolicyResponse, PullParams, PullResponse,
    PushRequest, PushResponse, ReassignOutcome, ReassignRequest, RecordHistory, ReopenRequest,
    ReportParams, ResolveRequest, ResolveResponse, ReviewItem, ReviewParams, SyncReport,
    DEFAULT_SLOW_SECS,
};
use fieldsync_core::{RecordId, RecordType, ReviewId};
use futures::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use tokio_stream::wrappers::BroadcastStream;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;

use crate::admin;
use crate::auth::{self, Authed};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::files;
use crate::metrics::StatusLabel;
use crate::store::DeviceReport;
use crate::AppState;

pub use fieldsync_core::wire::{LoginRequest, LoginResponse};

#[derive(OpenApi)]
#[openapi(
    info(title = "Fieldsync sync API", description = "Offline-first sync for field service: every change judged by ownership and field-group policy."),
    paths(login, push, pull, events, review_list, resolve, reassign, reopen, history, files::head_file, files::patch_file, files::get_file, devices, report, policy, healthz, metrics,
        admin::list_users, admin::add_user, admin::change_user, admin::reset_password, admin::change_own_password, admin::revoke_device, admin::admin_log),
    components(schemas(ApiErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole API, ready to serve.
pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.max_body;
    let chunk_limit = state.limits.max_chunk;
    let files = Router::new()
        .route(
            "/api/v1/files/{sha256}",
            axum::routing::head(files::head_file)
                .patch(files::patch_file)
                .get(files::get_file),
        )
        .layer(DefaultBodyLimit::max(chunk_limit));
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/sync/push", post(push))
        .route("/api/v1/sync/pull", get(pull))
        .route("/api/v1/events", get(events))
        .route("/api/v1/review", get(review_list))
        .route("/api/v1/review/{id}/resolve", post(resolve))
        .route("/api/v1/records/{type}/{id}/reassign", post(reassign))
        .route("/api/v1/records/{type}/{id}/reopen", post(reopen))
        .route("/api/v1/records/{type}/{id}/history", get(history))
        .route("/api/v1/devices", get(devices))
        .route("/api/v1/devices/{id}/revoke", post(admin::revoke_device))
        .route(
            "/api/v1/users",
            get(admin::list_users).post(admin::add_user),
        )
        .route("/api/v1/users/{name}", patch(admin::change_user))
        .route("/api/v1/users/{name}/password", post(admin::reset_password))
        .route("/api/v1/auth/password", post(admin::change_own_password))
        .route("/api/v1/admin/log", get(admin::admin_log))
        .route("/api/v1/report", get(report))
        .route("/api/v1/policy", get(policy))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .merge(files)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such API call; see /api/v1/openapi.json")
}

/// A known path with a method it does not take: the error body, with axum's `Allow` header.
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        fieldsync_core::ErrorCode::BadRequest,
        "this API call does not take that method; see /api/v1/openapi.json",
    )
}

async fn openapi() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}

/// `POST /api/v1/auth/login`: a bearer token for this device.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "invalid_credentials", body = ApiErrorBody),
        (status = 429, description = "rate_limited", body = ApiErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<ApiJson<LoginResponse>, ApiError> {
    let device_name = req.device_name.trim();
    if device_name.is_empty() || device_name.len() > 100 {
        return Err(ApiError::bad_request(
            "name this device (1 to 100 characters), e.g. \"Tom's tablet\"",
        ));
    }
    auth::check(&state.login_limiter, &req.username)?;
    // Each check holds 19 MiB for argon2: a burst of sign-ins (or of guesses at names, which the
    // per-name limit does not stop) waits its turn rather than taking the server's memory.
    let _turn = state
        .password_checks
        .acquire()
        .await
        .map_err(|_| ApiError::internal())?;
    let invalid = || {
        ApiError::from_code(
            fieldsync_core::ErrorCode::InvalidCredentials,
            "the user name or password is wrong",
        )
    };
    let found = state.store.user_with_hash(&req.username).await?;
    let (user, hash) = match found {
        Some(found) => found,
        None => {
            // Spend the same time as a real check so a missing user is not told apart by timing.
            let password = req.password.clone();
            let _ = tokio::task::spawn_blocking(move || auth::verify_password("$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &password)).await;
            return Err(invalid());
        }
    };
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&hash, &password))
        .await
        .map_err(|_| ApiError::internal())?;
    if !ok {
        return Err(invalid());
    }
    let token = auth::new_token();
    let device_id = state
        .store
        .register_device(
            &user.name,
            device_name,
            &auth::token_hash(&token),
            state.clock.now(),
        )
        .await?;
    tracing::info!(user = %user.name, device = %device_name, %device_id, "signed in");
    let must_change_password = state
        .store
        .account(&user.name)
        .await?
        .is_some_and(|a| a.must_change_password);
    Ok(ApiJson(LoginResponse {
        token,
        device_id,
        user,
        must_change_password,
    }))
}

/// `POST /api/v1/sync/push`: each change judged on its own; one outcome per change, same order.
#[utoipa::path(post, path = "/api/v1/sync/push", tag = "sync", request_body = PushRequest,
    responses((status = 200, body = PushResponse), (status = 413, description = "payload_too_large", body = ApiErrorBody),
        (status = 422, description = "invalid_change", body = ApiErrorBody), (status = 429, description = "rate_limited", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn push(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiJson(req): ApiJson<PushRequest>,
) -> Result<ApiJson<PushResponse>, ApiError> {
    if req.changes.len() > state.limits.max_batch {
        return Err(ApiError::from_code(
            fieldsync_core::ErrorCode::PayloadTooLarge,
            format!(
                "a push carries at most {} changes; send the rest in another",
                state.limits.max_batch
            ),
        ));
    }
    let outcomes = state
        .store
        .push(&device, &req.changes, &state.policy, state.clock.now())
        .await?;
    state.metrics.pushes.inc();
    let mut newest = None;
    for outcome in &outcomes {
        state
            .metrics
            .outcomes
            .get_or_create(&StatusLabel {
                status: outcome.status.as_str().to_string(),
            })
            .inc();
        if outcome.status == OutcomeStatus::Applied && !outcome.replayed {
            newest = newest.max(outcome.seq);
        }
    }
    if let Some(seq) = newest {
        state.poke(seq);
    } else if outcomes
        .iter()
        .any(|o| o.status == OutcomeStatus::Held && !o.replayed)
    {
        // A new review item is news for the office even though no change was applied.
        state.poke(state.store.max_seq().await?);
    }
    Ok(ApiJson(PushResponse { outcomes }))
}

/// `GET /api/v1/sync/pull`: changes in the device's scope after a cursor, oldest first.
#[utoipa::path(get, path = "/api/v1/sync/pull", tag = "sync", params(PullParams),
    responses((status = 200, body = PullResponse)), security(("bearer" = [])))]
pub async fn pull(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiQuery(params): ApiQuery<PullParams>,
) -> Result<ApiJson<PullResponse>, ApiError> {
    if params.after < 0 {
        return Err(ApiError::bad_request(
            "`after` is a sequence number, 0 or more",
        ));
    }
    let limit = params.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("`limit` is between 1 and 1000"));
    }
    let report = DeviceReport {
        outbox_depth: params.outbox_depth,
        oldest_pending: params.oldest_pending,
    };
    let response = state
        .store
        .pull(
            &device,
            params.after,
            limit,
            report,
            &state.policy,
            state.clock.now(),
        )
        .await?;
    let newest = state.store.max_seq().await?;
    state
        .metrics
        .pull_lag
        .observe((newest - params.after).max(0) as f64);
    Ok(ApiJson(response))
}

/// `GET /api/v1/events`: server-sent `poke` events with the newest `seq`, so a device pulls now.
#[utoipa::path(get, path = "/api/v1/events", tag = "sync",
    responses((status = 200, description = "text/event-stream of `poke` events: {\"seq\": N}"),
        (status = 429, description = "rate_limited: this device holds as many streams as it may", body = ApiErrorBody)),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    Authed(device): Authed,
) -> Result<impl IntoResponse, ApiError> {
    // A stream holds a connection for as long as the device likes: each device gets a few (one
    // in use, the rest for reconnects the server has not noticed yet), not the server's sockets.
    let slot = state
        .event_streams
        .open(device.device_id, state.limits.max_event_streams)
        .ok_or_else(|| ApiError {
            retry_after: Some(15),
            ..ApiError::from_code(
                fieldsync_core::ErrorCode::RateLimited,
                format!(
                    "this device already holds {} event streams; close one before opening another",
                    state.limits.max_event_streams
                ),
            )
        })?;
    let first = state.store.max_seq().await?;
    let poke = |seq: i64| {
        Ok::<Event, Infallible>(
            Event::default()
                .event("poke")
                .data(format!("{{\"seq\":{seq}}}")),
        )
    };
    let updates = BroadcastStream::new(state.pokes.subscribe()).filter_map(move |msg| async move {
        // A lagging receiver missed pokes; one poke with no newer number still makes it pull.
        Some(poke(msg.unwrap_or(first)))
    });
    let mut shutdown = state.shutdown.clone();
    let closing = async move {
        let _ = shutdown.wait_for(|closing| *closing).await;
    };
    let stream: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> = Box::pin(
        stream::once(async move { poke(first) })
            .chain(updates)
            .take_until(closing)
            // The slot is given back when the stream is dropped: the device went or we close.
            .map(move |event| {
                let _held = &slot;
                event
            }),
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// `GET /api/v1/review`: the review inbox for the caller's roles, newest first.
#[utoipa::path(get, path = "/api/v1/review", tag = "review", params(ReviewParams),
    responses((status = 200, body = Vec<ReviewItem>)), security(("bearer" = [])))]
pub async fn review_list(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiQuery(params): ApiQuery<ReviewParams>,
) -> Result<ApiJson<Vec<ReviewItem>>, ApiError> {
    Ok(ApiJson(
        state
            .store
            .review_list(&device.author, &state.policy, &params)
            .await?,
    ))
}

/// `POST /api/v1/review/{id}/resolve`: choose current, incoming, or a merged value.
#[utoipa::path(post, path = "/api/v1/review/{id}/resolve", tag = "review", request_body = ResolveRequest,
    params(("id" = uuid::Uuid, Path, description = "review item id")),
    responses((status = 200, body = ResolveResponse), (status = 403, description = "forbidden", body = ApiErrorBody),
        (status = 409, description = "already_resolved", body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn resolve(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiPath(id): ApiPath<ReviewId>,
    ApiJson(req): ApiJson<ResolveRequest>,
) -> Result<ApiJson<ResolveResponse>, ApiError> {
    let (item, outcome) = state
        .store
        .resolve(&device, id, &req, &state.policy, state.clock.now())
        .await?;
    if let Some(seq) = outcome.seq {
        state.poke(seq);
    }
    Ok(ApiJson(ResolveResponse { item, outcome }))
}

fn record_type(name: &str) -> Result<RecordType, ApiError> {
    RecordType::parse(name).ok_or_else(|| {
        let known: Vec<&str> = RecordType::ALL.iter().map(RecordType::as_str).collect();
        ApiError::bad_request(format!(
            "unknown record type `{name}` (known: {})",
            known.join(", ")
        ))
    })
}

/// `POST /api/v1/records/{type}/{id}/reassign`: move a job to another owner (dispatcher).
#[utoipa::path(post, path = "/api/v1/records/{type}/{id}/reassign", tag = "records", request_body = ReassignRequest,
    params(("type" = RecordType, Path, description = "the record type, e.g. `job`"), ("id" = uuid::Uuid, Path, description = "the record id")),
    responses((status = 200, body = ReassignOutcome), (status = 403, description = "forbidden", body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn reassign(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiPath((kind, id)): ApiPath<(String, RecordId)>,
    ApiJson(req): ApiJson<ReassignRequest>,
) -> Result<ApiJson<ReassignOutcome>, ApiError> {
    record_type(&kind)?;
    if !may_reassign(device.author.role) {
        return Err(ApiError::forbidden(format!(
            "a {} cannot reassign jobs; a dispatcher does",
            device.author.role
        )));
    }
    let done = state
        .store
        .reassign(&device, id, &req, state.clock.now())
        .await?;
    state.poke(done.moved.seq);
    Ok(ApiJson(done))
}

/// `POST /api/v1/records/{type}/{id}/reopen`: a signed-off or closed job starts a new visit.
#[utoipa::path(post, path = "/api/v1/records/{type}/{id}/reopen", tag = "records", request_body = ReopenRequest,
    params(("type" = RecordType, Path, description = "the record type, e.g. `job`"), ("id" = uuid::Uuid, Path, description = "the record id")),
    responses((status = 200, body = Outcome), (status = 403, description = "forbidden", body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn reopen(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiPath((kind, id)): ApiPath<(String, RecordId)>,
    ApiJson(req): ApiJson<ReopenRequest>,
) -> Result<ApiJson<Outcome>, ApiError> {
    record_type(&kind)?;
    if !may_reopen(device.author.role) {
        return Err(ApiError::forbidden(format!(
            "a {} cannot reopen jobs; a supervisor or dispatcher does",
            device.author.role
        )));
    }
    if req.reason.trim().is_empty() {
        return Err(ApiError::bad_request("say why the job is reopened"));
    }
    let outcome = state
        .store
        .reopen(&device, id, req.reason.trim(), state.clock.now())
        .await?;
    if let Some(seq) = outcome.seq {
        state.poke(seq);
    }
    Ok(ApiJson(outcome))
}

/// `GET /api/v1/records/{type}/{id}/history`: the record and its whole change log.
#[utoipa::path(get, path = "/api/v1/records/{type}/{id}/history", tag = "records",
    params(("type" = RecordType, Path, description = "the record type, e.g. `job`"), ("id" = uuid::Uuid, Path, description = "the record id")),
    responses((status = 200, body = RecordHistory), (status = 404, description = "not_found", body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiPath((kind, id)): ApiPath<(String, RecordId)>,
) -> Result<ApiJson<RecordHistory>, ApiError> {
    let t = record_type(&kind)?;
    Ok(ApiJson(state.store.history(&device.author, t, id).await?))
}

/// `GET /api/v1/devices`: every device with its user, last seen, and reported outbox.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices",
    responses((status = 200, body = Vec<DeviceInfo>), (status = 403, description = "forbidden", body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn devices(
    State(state): State<AppState>,
    Authed(device): Authed,
) -> Result<ApiJson<Vec<DeviceInfo>>, ApiError> {
    if !may_list_devices(device.author.role) {
        return Err(ApiError::forbidden(
            "a technician sees their own device only",
        ));
    }
    Ok(ApiJson(state.store.list_devices().await?))
}

/// `GET /api/v1/report`: the sync review of a period (office roles): every possible duplicate,
/// conflict, void vs update, rejection, ownership-moved hold and slow change, with counts per
/// device and per rule.
#[utoipa::path(get, path = "/api/v1/report", tag = "report", params(ReportParams),
    responses((status = 200, body = SyncReport), (status = 400, description = "bad_request", body = ApiErrorBody),
        (status = 403, description = "forbidden", body = ApiErrorBody)), security(("bearer" = [])))]
pub async fn report(
    State(state): State<AppState>,
    Authed(device): Authed,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<ApiJson<SyncReport>, ApiError> {
    if !may_see_sync_review(device.author.role) {
        return Err(ApiError::forbidden(
            "the sync review is for the office; a technician sees their own changes on their device",
        ));
    }
    let until = params.until.unwrap_or_else(|| state.clock.now());
    if params.since >= until {
        return Err(ApiError::bad_request(
            "`since` must be before `until` (or before now)",
        ));
    }
    let slow_secs = params.slow_secs.unwrap_or(DEFAULT_SLOW_SECS);
    if slow_secs < 1 {
        return Err(ApiError::bad_request(
            "`slow_secs` is a number of seconds, 1 or more",
        ));
    }
    Ok(ApiJson(
        state
            .store
            .report(params.since, until, slow_secs, &state.policy)
            .await?,
    ))
}

/// `GET /api/v1/policy`: the policy file in force.
#[utoipa::path(get, path = "/api/v1/policy", tag = "policy",
    responses((status = 200, body = PolicyResponse)), security(("bearer" = [])))]
pub async fn policy(
    State(state): State<AppState>,
    Authed(_device): Authed,
) -> ApiJson<PolicyResponse> {
    ApiJson(PolicyResponse {
        policy: (*state.policy).clone(),
    })
}

/// `GET /healthz`: liveness, and whether the store answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "ok"), (status = 503, description = "store unavailable")))]
pub async fn healthz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.store.max_seq().await?;
    Ok("ok")
}

/// `GET /metrics`: Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Ok(depth) = state.store.open_review_count().await {
        state.metrics.review_queue.set(depth);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
