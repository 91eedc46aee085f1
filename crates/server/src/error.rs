//! The API error: an HTTP status, a stable code and a sentence a person understands.
//! Internal errors show a generic sentence to the client and the full chain in the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fieldsync_core::wire::ApiErrorBody;
use fieldsync_core::ErrorCode;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    pub fn invalid_change(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidChange,
            message,
        )
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthenticated,
            message,
        )
    }

    pub fn rate_limited(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                "too many requests from this device; slow down and try again shortly",
            )
        }
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(5),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                message,
            )
        }
    }

    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "the server hit an internal error; nothing was lost, try again",
        )
    }

    /// Maps a core rejection code to its HTTP status, for refusals outside a push batch.
    pub fn from_code(code: ErrorCode, message: impl Into<String>) -> ApiError {
        let status = match code {
            ErrorCode::NotOwner | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::RecordLocked
            | ErrorCode::AlreadyExists
            | ErrorCode::AlreadyResolved
            | ErrorCode::ChangedSinceSeen
            | ErrorCode::InvalidTransition
            | ErrorCode::StaleOwnerEpoch
            | ErrorCode::OffsetMismatch
            | ErrorCode::HashMismatch => StatusCode::CONFLICT,
            ErrorCode::InvalidChange => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UnknownRecord | ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Unauthenticated | ErrorCode::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ErrorCode::Unavailable | ErrorCode::FilePending => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, code, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(what) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::AlreadyExists, what)
            }
            StoreError::Refused(code, message) => ApiError::from_code(code, message),
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                ApiError::unavailable("the server's database is unavailable; try again shortly")
            }
            StoreError::Contention(source) => {
                tracing::warn!(error = %source, "a write lost its race again and again");
                ApiError::unavailable("the server is busy with the same records; try again shortly")
            }
            StoreError::Database(source) => {
                tracing::error!(error = %source, "database error");
                ApiError::internal()
            }
            StoreError::Corrupt(what) => {
                tracing::error!(%what, "stored data could not be read");
                ApiError::internal()
            }
            StoreError::Io(source) => {
                tracing::error!(error = %source, "file error");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ApiErrorBody {
            code: self.code.as_str().to_string(),
            message: self.message,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> ApiError {
        use axum::extract::rejection::JsonRejection::*;
        match rejection {
            JsonDataError(e) => ApiError::invalid_change(format!(
                "the request body does not fit: {}",
                e.body_text().trim_start_matches(
                    "Failed to deserialize the JSON body into the target type: "
                )
            )),
            JsonSyntaxError(e) => ApiError::bad_request(format!(
                "the request body is not valid JSON: {}",
                e.body_text()
                    .trim_start_matches("Failed to parse the request body as JSON: ")
            )),
            MissingJsonContentType(_) => {
                ApiError::bad_request("send the body as JSON with Content-Type: application/json")
            }
            BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "the request body is too large; send fewer changes per batch",
            ),
            other => ApiError::bad_request(format!(
                "the request body could not be read: {}",
                other.body_text()
            )),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> ApiError {
        ApiError::bad_request(format!(
            "the query string does not fit: {}",
            rejection
                .body_text()
                .trim_start_matches("Failed to deserialize query string: ")
        ))
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> ApiError {
        ApiError::bad_request(format!("the path does not fit: {}", rejection.body_text()))
    }
}

/// JSON in and out, with the API's error body for every rejection.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// A query string, with the API's error body for every rejection.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// Path parameters, with the API's error body for every rejection.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);
