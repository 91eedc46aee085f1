//! Saving a person's action: the change goes to the outbox, durably, before any network call;
//! the ids of new changes and records; files attached for the file lane, and files fetched
//! from the server into the same folder.

use fieldsync_core::{Change, ChangeId, Group, Op, Owner, RecordId, RecordType};
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::cache::{CachedRecord, LocalRecord, OutboxRow};
use crate::client::{lock, NewChange, SyncClient};
use crate::outbox::OutboxState;
use crate::schedule::Lane;
use crate::status::ChangeState;
use crate::text;
use crate::{ClientError, ClientResult};

impl SyncClient {
    /// A new UUIDv7 from the injected clock and the seeded generator.
    fn new_uuid(&self) -> uuid::Uuid {
        let mut random = [0u8; 10];
        {
            let mut state = lock(&self.inner.state);
            state.rng.fill_bytes(&mut random);
        }
        let millis = self.now().timestamp_millis().max(0) as u64;
        uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
    }

    /// The id of a new user action: made when a form opens, so saving it twice is one change.
    pub fn new_change_id(&self) -> ChangeId {
        ChangeId(self.new_uuid())
    }

    /// The id of a new record, chosen on this device.
    pub fn new_record_id(&self) -> RecordId {
        RecordId(self.new_uuid())
    }

    /// Keeps a file for the file lane; returns its SHA-256, the name a photo change refers to.
    pub async fn attach_file(&self, bytes: &[u8]) -> ClientResult<String> {
        let sha = hex::encode(Sha256::digest(bytes));
        let path = self.inner.config.files_dir.join(&sha);
        if !path.exists() {
            let partial = self.inner.config.files_dir.join(format!("{sha}.tmp"));
            tokio::fs::write(&partial, bytes).await?;
            tokio::fs::File::open(&partial).await?.sync_all().await?;
            tokio::fs::rename(&partial, &path).await?;
        }
        Ok(sha)
    }

    /// This device's files folder: the files attached here and those fetched from the server,
    /// each under its hash. What the app makes from a file (a photo's thumbnail) is kept in a
    /// folder of its own inside it, so it is this person's, like the file.
    pub fn files_dir(&self) -> &std::path::Path {
        &self.inner.config.files_dir
    }

    /// A file a record names, as a path in this device's files folder: kept there once fetched
    /// (or attached here), since the bytes under a hash never change. The bytes are checked
    /// against the hash before they are kept.
    pub async fn download_file(&self, sha256: &str) -> ClientResult<std::path::PathBuf> {
        let valid = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(ClientError::Invalid(format!(
                "`{sha256}` is not a file's SHA-256 (64 lowercase hex digits)"
            )));
        }
        let path = self.inner.config.files_dir.join(sha256);
        if tokio::fs::try_exists(&path).await? {
            return Ok(path);
        }
        let token = self.token()?;
        let answer = self.transport().download(&token, sha256).await;
        self.note_unreachable(&answer);
        let bytes = answer?;
        // Its own temporary name, so two fetches of one file at once do not write into each
        // other; the rename makes the file appear whole or not at all.
        let partial = self
            .inner
            .config
            .files_dir
            .join(format!("{sha256}.{}.download", self.new_uuid()));
        tokio::fs::write(&partial, &bytes).await?;
        tokio::fs::File::open(&partial).await?.sync_all().await?;
        tokio::fs::rename(&partial, &path).await?;
        Ok(path)
    }

    /// Saves a user action to the outbox, durably, before anything touches the network, made on
    /// the newest version this device has.
    pub async fn save(&self, new: NewChange) -> ClientResult<(ChangeId, ChangeState)> {
        self.save_seen(new, None).await
    }

    /// Saves a user action made on the version of its group the person saw (`seen`: the
    /// version their form opened on, [`RecordView::bases`](crate::client::RecordView)), as
    /// HTTP's `If-Match` carries what a client saw.
    pub async fn save_seen(
        &self,
        new: NewChange,
        seen: Option<i64>,
    ) -> ClientResult<(ChangeId, ChangeState)> {
        // Only an action id made earlier (a form's) can have been saved before: a fresh one
        // skips the look-up, one query fewer on every ordinary save.
        if let Some(change_id) = new.change_id {
            if let Some(existing) = self.inner.cache.outbox_row(change_id).await? {
                return Ok((change_id, self.state_of(&existing)));
            }
        }
        let change_id = new.change_id.unwrap_or_else(|| self.new_change_id());
        let now = self.now();
        let (base_version, owner_epoch, local) = match new.op {
            Op::Create => {
                let me = self.user().ok_or(ClientError::NotSignedIn)?;
                let job_id = first_group_field(new.record_type, &new.values, "job_id")
                    .and_then(|j| j.parse().ok());
                let owner = match new.record_type {
                    RecordType::Job => match new
                        .values
                        .get("schedule")
                        .and_then(|s| s.get("assignee"))
                        .and_then(Value::as_str)
                    {
                        Some(a) if !a.is_empty() => Owner::User(a.to_string()),
                        _ => Owner::User(me.name.clone()),
                    },
                    _ => Owner::User(me.name.clone()),
                };
                // A note, part or photo carries the job's ownership epoch as this device knows
                // it, so one made offline on a job that has moved is held, not refused.
                let parent = match job_id {
                    Some(job) if new.record_type.is_job_child() => {
                        self.inner.cache.record_header(job).await?
                    }
                    _ => None,
                };
                if let Some(job) = parent.as_ref().filter(|j| j.read_only) {
                    return Err(ClientError::Invalid(text::read_only(
                        job.number.as_deref().unwrap_or("this job"),
                        &job.owner,
                    )));
                }
                let epoch = parent.map(|j| j.owner_epoch).unwrap_or(0);
                let local = LocalRecord {
                    record_type: new.record_type,
                    record_id: new.record_id,
                    owner,
                    state: new.record_type.initial_state(),
                    job_id,
                };
                (0, epoch, Some(local))
            }
            Op::Update | Op::Void => {
                let record = self
                    .inner
                    .cache
                    .record(new.record_id)
                    .await?
                    .ok_or_else(|| {
                        ClientError::Invalid(text::not_on_device(new.record_type, new.record_id))
                    })?;
                if record.read_only {
                    return Err(ClientError::Invalid(text::read_only(
                        record.number.as_deref().unwrap_or("this record"),
                        &record.owner,
                    )));
                }
                let probe = Change {
                    change_id,
                    record_type: new.record_type,
                    record_id: new.record_id,
                    group: new.group,
                    op: new.op,
                    base_version: 0,
                    values: Value::Null,
                    owner_epoch: 0,
                    device_time: now,
                };
                let group = fieldsync_core::judge::change_group(&probe)
                    .or_else(|| new.record_type.groups().first().copied());
                let rows = self.inner.cache.outbox_for(new.record_id).await?;
                let newest = group.map(|g| base_of(&record, &rows, g)).unwrap_or(0);
                // The version the person saw when their form opened, when they say: a change
                // made on it that meets a newer one is judged as the collision it is (held for
                // review in a manual-review group), never laid over the newer one unseen.
                let base = seen.map_or(newest, |seen| seen.clamp(0, newest));
                (base, record.owner_epoch.max(1), None)
            }
        };
        let change = Change {
            change_id,
            record_type: new.record_type,
            record_id: new.record_id,
            group: new.group,
            op: new.op,
            base_version,
            values: new.values,
            owner_epoch,
            device_time: now,
        };
        let file = match &new.file_sha256 {
            Some(sha) => {
                let path = self.inner.config.files_dir.join(sha);
                let length = tokio::fs::metadata(&path)
                    .await
                    .map_err(|_| ClientError::Invalid(text::attach_first(sha)))?
                    .len() as i64;
                Some((sha.clone(), path.to_string_lossy().into_owned(), length))
            }
            None => None,
        };
        self.inner
            .cache
            .save_change(
                &change,
                Lane::Changes,
                file.as_ref().map(|(s, p, l)| (s.as_str(), p.as_str(), *l)),
                local.as_ref(),
                now,
            )
            .await?;
        self.publish().await?;
        self.inner.wake.notify_one();
        Ok((change_id, ChangeState::SavedOnDevice))
    }
}

/// A field of a record's first group, as a create carries it (a note's `job_id`).
pub(crate) fn first_group_field(
    record_type: RecordType,
    values: &Value,
    field: &str,
) -> Option<String> {
    let group = record_type.groups().first()?;
    values
        .get(group.as_str())?
        .get(field)?
        .as_str()
        .map(str::to_string)
}

/// The version an edit of `group` made now is made on: the version the server last confirmed,
/// plus this device's own changes of the group still in the outbox (each will make a version,
/// so a device never collides with itself).
pub(crate) fn base_of(record: &CachedRecord, rows: &[OutboxRow], group: Group) -> i64 {
    let confirmed = record
        .groups
        .get(&group)
        .map(|(v, _)| *v)
        .unwrap_or(if record.local_only { 1 } else { 0 });
    let queued = rows
        .iter()
        .filter(|row| {
            row.state == OutboxState::Pending
                && row.change.op != Op::Create
                && fieldsync_core::judge::change_group(&row.change) == Some(group)
        })
        .count() as i64;
    confirmed + queued
}
