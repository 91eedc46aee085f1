//! A small HTTP session against the sync API, for seeding the demo and driving the benchmark.

use anyhow::{bail, Context, Result};
use chrono::Utc;
use fieldsync_client::{HttpTransport, Transport, TransportError};
use fieldsync_core::wire::{
    LoginRequest, Outcome, ReassignOutcome, ReassignRequest, ReopenRequest, ReportParams,
    SyncReport,
};
use fieldsync_core::{Change, ChangeId, Group, Op, Owner, RecordId, RecordType};
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

/// A signed-in device: the client library's transport, so the CLI speaks the protocol through
/// the same typed calls as every device (no request or answer written out by hand here).
#[derive(Clone)]
pub struct Session {
    transport: Arc<HttpTransport>,
    token: String,
}

impl Session {
    pub async fn login(base: &str, user: &str, password: &str, device: &str) -> Result<Session> {
        let transport =
            Arc::new(HttpTransport::new(base).map_err(|e| failed("no HTTP client", e))?);
        let answer = transport
            .login(&LoginRequest {
                username: user.into(),
                password: password.into(),
                device_name: device.into(),
            })
            .await
            .map_err(|e| failed(&format!("login as {user} at {base} failed"), e))?;
        Ok(Session {
            transport,
            token: answer.token,
        })
    }

    pub async fn push(&self, changes: Vec<Change>) -> Result<Vec<Outcome>> {
        self.transport
            .push(&self.token, &changes)
            .await
            .map_err(|e| failed("push failed", e))
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

    /// Sends a whole file up the file lane as a device does (one PATCH: the demo's files are
    /// small), so a photo or signature can name it; answers its SHA-256.
    pub async fn upload(&self, bytes: &[u8]) -> Result<String> {
        use sha2::Digest;
        let sha = format!("{:x}", sha2::Sha256::digest(bytes));
        self.transport
            .upload(&self.token, &sha, 0, bytes.len() as u64, bytes.to_vec())
            .await
            .map_err(|e| failed("the file upload failed", e))?;
        Ok(sha)
    }

    pub async fn reassign(&self, job: RecordId, to: Owner) -> Result<ReassignOutcome> {
        self.transport
            .reassign(
                &self.token,
                RecordType::Job,
                job,
                &ReassignRequest {
                    owner: to,
                    owner_epoch: None,
                    reason: None,
                },
            )
            .await
            .map_err(|e| failed("reassign failed", e))
    }

    pub async fn reopen(&self, job: RecordId, reason: &str) -> Result<Outcome> {
        let request = ReopenRequest {
            reason: reason.into(),
        };
        self.transport
            .reopen(&self.token, RecordType::Job, job, &request)
            .await
            .map_err(|e| failed("reopen failed", e))
    }

    pub async fn report(&self, params: &ReportParams) -> Result<SyncReport> {
        self.transport
            .report(&self.token, params)
            .await
            .map_err(|e| failed("the server refused the report", e))
    }
}

/// A call that did not go through, with the server's sentence and its stable code, as a person
/// reading a terminal needs both.
fn failed(what: &str, e: TransportError) -> anyhow::Error {
    match &e {
        TransportError::Refused { code, message, .. } => {
            anyhow::anyhow!("{what}: {message} ({code})")
        }
        _ => anyhow::anyhow!("{what}: {e}"),
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
