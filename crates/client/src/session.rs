//! Signing in and out: the device's token (in its token store, see `tokens.rs`) and the
//! signed-in user (in the cache), kept so a restart stays signed in.

use fieldsync_core::wire::{LoginRequest, User};
use fieldsync_core::Owner;

use crate::client::{lock, Session, SyncClient};
use crate::transport::TransportError;
use crate::{ClientError, ClientResult};

impl SyncClient {
    /// Signs this device in and keeps the token in the cache.
    pub async fn login(&self, username: &str, password: &str) -> ClientResult<User> {
        let answer = self
            .inner
            .transport
            .login(&LoginRequest {
                username: username.into(),
                password: password.into(),
                device_name: self.inner.config.device_name.clone(),
            })
            .await?;
        self.inner.tokens.save(&answer.token)?;
        self.inner
            .cache
            .set_meta("user", &serde_json::to_string(&answer.user)?)
            .await?;
        self.inner
            .cache
            .set_meta("device_id", &answer.device_id.to_string())
            .await?;
        self.inner.cache.set_meta("signed_out_reason", "").await?;
        lock(&self.inner.state).refused_session = None;
        // Kept beside the token: an app restarted before the person chose their own password
        // still asks for it first.
        self.inner
            .cache
            .set_meta(
                "must_change_password",
                if answer.must_change_password { "1" } else { "" },
            )
            .await?;
        *lock(&self.inner.session) = Some(Session {
            token: answer.token,
            user: answer.user.clone(),
        });
        self.publish().await?;
        Ok(answer.user)
    }

    /// The server answered 401 to this device's token: the device is no longer signed in. The
    /// token goes at once from memory (nothing more is sent under it, nothing retries it) and,
    /// at [`SyncClient::forget_refused_session`], from the cache; the outbox stays, and goes
    /// once the person signs in again. Why is kept for the sign-in screen.
    pub(crate) fn note_refused_session(&self, error: &TransportError) {
        if !error.is_unauthenticated() {
            return;
        }
        let reason = match error {
            TransportError::Refused { message, .. } => message.clone(),
            _ => String::new(),
        };
        *lock(&self.inner.session) = None;
        let mut state = lock(&self.inner.state);
        state.refused_session = Some(reason);
        // The request was refused, not answered: the last round did not reach the server.
        state.round_reached = false;
    }

    /// Writes a refused session to the cache: no token, and the reason, so a restart opens on
    /// the sign-in screen with it.
    pub(crate) async fn forget_refused_session(&self) -> ClientResult<()> {
        let reason = lock(&self.inner.state).refused_session.take();
        if let Some(reason) = reason {
            self.inner.tokens.clear()?;
            self.inner
                .cache
                .set_meta("signed_out_reason", &reason)
                .await?;
            self.publish().await?;
        }
        Ok(())
    }

    /// Why this device is signed out, when the server ended its session (a revoked device, an
    /// expired or replaced sign-in, a disabled person) rather than the person signing out.
    pub async fn signed_out_reason(&self) -> ClientResult<Option<String>> {
        if let Some(reason) = lock(&self.inner.state).refused_session.clone() {
            return Ok(Some(reason));
        }
        Ok(self
            .inner
            .cache
            .meta("signed_out_reason")
            .await?
            .filter(|r| !r.is_empty()))
    }

    /// Signs out: the token is forgotten; the outbox and cache stay for the next sign-in.
    pub async fn sign_out(&self) -> ClientResult<()> {
        self.inner.tokens.clear()?;
        *lock(&self.inner.session) = None;
        self.publish().await
    }

    /// An admin set this person's password (a first one or a reset): they choose their own
    /// before anything else.
    pub async fn must_change_password(&self) -> ClientResult<bool> {
        Ok(self
            .inner
            .cache
            .meta("must_change_password")
            .await?
            .is_some_and(|v| v == "1"))
    }

    /// Who last signed in on this cache, signed in now or not: whose outbox this is.
    pub async fn cached_user(&self) -> ClientResult<Option<User>> {
        match self.inner.cache.meta("user").await? {
            Some(user) if !user.is_empty() => Ok(Some(serde_json::from_str(&user)?)),
            _ => Ok(None),
        }
    }

    pub fn user(&self) -> Option<User> {
        lock(&self.inner.session).as_ref().map(|s| s.user.clone())
    }

    pub(crate) fn token(&self) -> ClientResult<String> {
        lock(&self.inner.session)
            .as_ref()
            .map(|s| s.token.clone())
            .ok_or(ClientError::NotSignedIn)
    }

    /// The owner keys this user answers to.
    pub(crate) fn me(&self) -> [String; 2] {
        match self.user() {
            Some(user) => [
                Owner::User(user.name.clone()).to_key(),
                user.team
                    .map(|t| Owner::Team(t).to_key())
                    .unwrap_or_else(|| "team:".into()),
            ],
            None => [String::new(), String::new()],
        }
    }
}
