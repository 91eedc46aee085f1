//! The same commands as the Tauri shell, over loopback HTTP, for a headless demo and browser
//! tests. Every call carries the per-run secret in its URL; a call without it is refused.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use tower_http::services::{ServeDir, ServeFile};

use crate::customers::CustomerArgs;
use crate::views::JobArgs;
use crate::{App, AppError};

#[derive(Clone)]
struct Bridge {
    app: Arc<App>,
    secret: Arc<String>,
}

/// A fresh per-run secret: 32 random bytes as hex.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    hex::encode(bytes)
}

/// The bridge's routes: `POST /api/{secret}/{command}` and, when given, the UI's built files.
pub fn router(app: Arc<App>, secret: String, ui_dir: Option<PathBuf>) -> Router {
    let bridge = Bridge {
        app,
        secret: Arc::new(secret),
    };
    let api = Router::new()
        .route("/api/{secret}/{command}", post(call))
        .with_state(bridge);
    match ui_dir {
        Some(dir) => {
            let index = dir.join("index.html");
            api.fallback_service(ServeDir::new(dir).fallback(ServeFile::new(index)))
        }
        None => api,
    }
}

fn error(status: StatusCode, e: AppError) -> Response {
    (status, Json(e)).into_response()
}

fn args<T: DeserializeOwned>(body: Value) -> Result<T, AppError> {
    serde_json::from_value(body).map_err(|e| {
        AppError::new(
            "invalid",
            format!("the command's arguments do not fit: {e}"),
        )
    })
}

fn reply<T: Serialize>(result: Result<T, AppError>) -> Result<Value, AppError> {
    result
        .and_then(|v| serde_json::to_value(v).map_err(|e| AppError::new("internal", e.to_string())))
}

/// Runs one command by name: the one table of the app's operations.
pub async fn dispatch(app: &App, command: &str, body: Value) -> Result<Value, AppError> {
    match command {
        "session" => reply(Ok(app.session())),
        "sign_in" => reply(app.sign_in(args(body)?).await),
        "sign_out" => reply(app.sign_out().await),
        "sync_status" => reply(app.sync_status().await),
        "sync_now" => reply(app.sync_now().await),
        "new_action_id" => reply(Ok(app.new_action_id())),
        "board" => reply(app.board(args(body)?).await),
        "customers" => reply(app.customers().await),
        "customer" => reply(app.customer(args::<CustomerArgs>(body)?.customer_id).await),
        "save_group" => reply(app.save_group(args(body)?).await),
        "job" => reply(app.job(args::<JobArgs>(body)?.job_id).await),
        "inbox" => reply(app.inbox().await),
        "resolve" => reply(app.resolve(args(body)?).await),
        "reassign_check" => reply(app.reassign_check(args::<JobArgs>(body)?.job_id).await),
        "reassign" => reply(app.reassign(args(body)?).await),
        "reopen" => reply(app.reopen(args(body)?).await),
        "set_status" => reply(app.set_status(args(body)?).await),
        "create_job" => reply(app.create_job(args(body)?).await),
        "rules" => reply(app.rules().await),
        "invoices" => reply(app.invoices().await),
        "report" => reply(app.report(args(body)?).await),
        "report_csv" => reply(app.report_csv(args(body)?).await),
        other => Err(AppError::new("not_found", format!("no command `{other}`"))),
    }
}

async fn call(
    State(bridge): State<Bridge>,
    Path((secret, command)): Path<(String, String)>,
    body: Option<Json<Value>>,
) -> Response {
    // Compared in full whatever the length: this is the only thing between another local
    // program and the office's session.
    let expected = bridge.secret.as_bytes();
    let given = secret.as_bytes();
    let same = expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return error(
            StatusCode::FORBIDDEN,
            AppError::new(
                "forbidden",
                "this address needs the per-run secret the app printed",
            ),
        );
    }
    let body = body.map(|Json(v)| v).unwrap_or(Value::Null);
    match dispatch(&bridge.app, &command, body).await {
        Ok(value) => Json(value).into_response(),
        Err(e) => {
            let status = match e.code.as_str() {
                "invalid" | "invalid_change" | "bad_request" => StatusCode::BAD_REQUEST,
                "unauthenticated" => StatusCode::UNAUTHORIZED,
                "forbidden" | "not_owner" => StatusCode::FORBIDDEN,
                "not_found" => StatusCode::NOT_FOUND,
                "unreachable" => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::CONFLICT,
            };
            error(status, e)
        }
    }
}
