//! A small HTTP session against the sync API, for seeding the demo and driving the benchmark.

use anyhow::{bail, Context, Result};
use chrono::Utc;
use fieldsync_core::wire::{Outcome, PushRequest, PushResponse};
use fieldsync_core::{Change, ChangeId, Group, Op, RecordId, RecordType};
use serde_json::Value;
use uuid::Uuid;

/// A signed-in device.
#[derive(Clone)]
pub struct Session {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Session {
    pub async fn login(
        http: &reqwest::Client,
        base: &str,
        user: &str,
        password: &str,
        device: &str,
    ) -> Result<Session> {
        let response = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(
                &serde_json::json!({"username": user, "password": password, "device_name": device}),
            )
            .send()
            .await
            .with_context(|| format!("cannot reach {base}"))?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("login as {user} failed: {body}");
        }
        let token = body["token"]
            .as_str()
            .context("login answer without a token")?
            .to_string();
        Ok(Session {
            http: http.clone(),
            base: base.to_string(),
            token,
        })
    }

    pub async fn push(&self, changes: Vec<Change>) -> Result<Vec<Outcome>> {
        let response = self
            .http
            .post(format!("{}/api/v1/sync/push", self.base))
            .bearer_auth(&self.token)
            .json(&PushRequest { changes })
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            bail!(
                "push failed ({status}): {}",
                response.text().await.unwrap_or_default()
            );
        }
        Ok(response.json::<PushResponse>().await?.outcomes)
    }

    /// Pushes one change and insists it was applied; returns its outcome.
    pub async fn apply(&self, change: Change) -> Result<Outcome> {
        let what = format!(
            "{} {} {:?}",
            change.op.as_str(),
            change.record_type,
            change.group
        );
        let outcome = self
            .push(vec![change])
            .await?
            .into_iter()
            .next()
            .context("no outcome")?;
        if outcome.status != fieldsync_core::OutcomeStatus::Applied {
            bail!(
                "{what} was {:?}: {}",
                outcome.status,
                outcome.message.clone().unwrap_or_default()
            );
        }
        Ok(outcome)
    }

    /// A GET; a refusal becomes an error with the server's sentence and code.
    pub async fn get(&self, path: &str) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!(
                "the server refused ({status}): {} ({})",
                body["message"].as_str().unwrap_or("no reason given"),
                body["code"].as_str().unwrap_or("unknown")
            );
        }
        Ok(body)
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("POST {path} failed ({status}): {body}");
        }
        Ok(body)
    }
}

/// A change made now, with a fresh change id.
pub fn change(
    record_type: RecordType,
    record_id: RecordId,
    group: Option<Group>,
    op: Op,
    base_version: i64,
    values: Value,
    owner_epoch: i64,
) -> Change {
    Change {
        change_id: ChangeId(Uuid::now_v7()),
        record_type,
        record_id,
        group,
        op,
        base_version,
        values,
        owner_epoch,
        device_time: Utc::now(),
    }
}

pub fn new_record_id() -> RecordId {
    RecordId(Uuid::now_v7())
}
