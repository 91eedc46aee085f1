//! Passwords (argon2), device tokens (random, stored as SHA-256), the bearer-token extractor and
//! the rate limiters (governor).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use fieldsync_core::DeviceId;
use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use crate::error::ApiError;
use crate::store::DeviceAuth;
use crate::AppState;

/// A rate limiter keyed by device or user name.
pub type KeyedLimiter = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

pub fn per_second(rate: u32, burst: u32) -> KeyedLimiter {
    RateLimiter::keyed(Quota::per_second(nz(rate)).allow_burst(nz(burst)))
}

pub fn per_minute(rate: u32) -> KeyedLimiter {
    RateLimiter::keyed(Quota::per_minute(nz(rate)))
}

/// Checks a key against a limiter; on refusal, the seconds to wait.
pub fn check(limiter: &KeyedLimiter, key: &str) -> Result<(), ApiError> {
    limiter.check_key(&key.to_string()).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::rate_limited(wait.as_secs() + 1)
    })
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether a password matches its stored hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new device token: 32 random bytes, as hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the store keeps of a token. A token is 256 random bits, so a plain SHA-256 is enough to
/// make a stolen database useless without slowing every request down the way argon2 would.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The authenticated device behind a request.
pub struct Authed(pub DeviceAuth);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Authed, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthenticated("sign in first: send Authorization: Bearer <token>")
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header must be `Bearer <token>`")
            })?;
        let device = state
            .store
            .device_by_token(&token_hash(token))
            .await?
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "this device's sign-in is no longer valid (revoked or replaced); sign in again",
                )
            })?;
        check(&state.device_limiter, &device.device_id.to_string())?;
        Ok(Authed(device))
    }
}

/// The event streams each device holds open on this instance.
#[derive(Default)]
pub struct EventStreams(Arc<Mutex<HashMap<DeviceId, usize>>>);

/// One open event stream; dropping it gives its place back.
pub struct EventStreamSlot {
    streams: Arc<Mutex<HashMap<DeviceId, usize>>>,
    device: DeviceId,
}

impl EventStreams {
    /// A place for one more stream of `device`, if it holds fewer than `max`.
    pub fn open(&self, device: DeviceId, max: usize) -> Option<EventStreamSlot> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let held = open.entry(device).or_insert(0);
        if *held >= max {
            return None;
        }
        *held += 1;
        Some(EventStreamSlot {
            streams: self.0.clone(),
            device,
        })
    }
}

impl Drop for EventStreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = open.get_mut(&self.device) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                open.remove(&self.device);
            }
        }
    }
}
