//! The device's local SQLite cache and outbox. A save is one durable local transaction
//! (WAL, synchronous=FULL) before anything touches the network.

use chrono::{DateTime, Utc};
use fieldsync_core::model::merge_values;
use fieldsync_core::wire::{PullResponse, ReviewItem};
use fieldsync_core::{
    Change, ChangeId, Group, Op, Outcome, Owner, RecordId, RecordState, RecordType, State,
};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, SqliteConnection, SqlitePool};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use crate::outbox::OutboxState;
use crate::schedule::Lane;
use crate::{ClientError, ClientResult};

/// The local store.
#[derive(Clone)]
pub struct Cache {
    pool: SqlitePool,
}

/// A record as the server last confirmed it, with where it stands on this device.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedRecord {
    pub record_type: RecordType,
    pub record_id: RecordId,
    pub number: Option<String>,
    pub owner: Owner,
    pub owner_epoch: i64,
    pub state: State,
    pub job_id: Option<RecordId>,
    /// Ownership moved away from this user.
    pub read_only: bool,
    /// Created here, not yet accepted by the server.
    pub local_only: bool,
    pub created_at: DateTime<Utc>,
    /// Group -> (server version, server values).
    pub groups: BTreeMap<Group, (i64, Value)>,
}

/// A change in the outbox, with where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub position: i64,
    pub change: Change,
    pub lane: Lane,
    pub file_sha256: Option<String>,
    pub state: OutboxState,
    pub attempts: i64,
    pub code: Option<String>,
    pub reason: Option<String>,
    pub review_id: Option<String>,
    pub outcome: Option<Outcome>,
    pub saved_at: DateTime<Utc>,
    /// Requests that failed on this change alone (it was set aside after each).
    pub failures: i64,
    /// Set aside until then: the server failed on this change alone, so it waits on its own
    /// schedule while the changes behind it go on.
    pub retry_at: Option<DateTime<Utc>>,
}

/// A file waiting for (or done with) the file lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    pub sha256: String,
    pub path: String,
    pub length: i64,
    pub uploaded: i64,
    pub complete: bool,
}

#[derive(FromRow)]
struct RecordRow {
    record_id: String,
    record_type: String,
    number: Option<String>,
    owner: String,
    owner_epoch: i64,
    state: String,
    job_id: Option<String>,
    read_only: bool,
    local_only: bool,
    created_at: DateTime<Utc>,
}

#[derive(FromRow)]
struct OutboxDbRow {
    position: i64,
    change_id: String,
    record_type: String,
    record_id: String,
    grp: Option<String>,
    op: String,
    base_version: i64,
    vals: String,
    owner_epoch: i64,
    device_time: DateTime<Utc>,
    lane: String,
    file_sha256: Option<String>,
    state: String,
    attempts: i64,
    code: Option<String>,
    reason: Option<String>,
    review_id: Option<String>,
    outcome: Option<String>,
    saved_at: DateTime<Utc>,
    failures: i64,
    retry_at: Option<DateTime<Utc>>,
}

const OUTBOX_COLUMNS: &str =
    "position, change_id, record_type, record_id, grp, op, base_version, vals, owner_epoch, \
    device_time, lane, file_sha256, state, attempts, code, reason, review_id, outcome, saved_at, failures, retry_at";

fn corrupt(what: &str, value: &str) -> ClientError {
    ClientError::Corrupt(format!("bad {what}: {value}"))
}

fn parse<T: FromStr>(s: &str, what: &str) -> ClientResult<T> {
    s.parse().map_err(|_| corrupt(what, s))
}

fn record_type(s: &str) -> ClientResult<RecordType> {
    RecordType::parse(s).ok_or_else(|| corrupt("record type", s))
}

impl OutboxDbRow {
    fn row(self) -> ClientResult<OutboxRow> {
        let op = Op::parse(&self.op).ok_or_else(|| corrupt("op", &self.op))?;
        Ok(OutboxRow {
            position: self.position,
            change: Change {
                change_id: parse(&self.change_id, "change id")?,
                record_type: record_type(&self.record_type)?,
                record_id: parse(&self.record_id, "record id")?,
                group: self.grp.as_deref().and_then(Group::parse),
                op,
                base_version: self.base_version,
                values: serde_json::from_str(&self.vals)?,
                owner_epoch: self.owner_epoch,
                device_time: self.device_time,
            },
            lane: Lane::parse(&self.lane).ok_or_else(|| corrupt("lane", &self.lane))?,
            file_sha256: self.file_sha256,
            state: OutboxState::parse(&self.state)
                .ok_or_else(|| corrupt("outbox state", &self.state))?,
            attempts: self.attempts,
            code: self.code,
            reason: self.reason,
            review_id: self.review_id,
            outcome: self
                .outcome
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?,
            saved_at: self.saved_at,
            failures: self.failures,
            retry_at: self.retry_at,
        })
    }
}

/// What a new record looks like on this device until the server accepts it.
#[derive(Debug, Clone)]
pub struct LocalRecord {
    pub record_type: RecordType,
    pub record_id: RecordId,
    pub owner: Owner,
    pub state: State,
    pub job_id: Option<RecordId>,
}

impl Cache {
    /// Opens (creating) the cache. synchronous=FULL: a change saved is on disk before the save
    /// returns, so a crash at any point after "Saved on this device" keeps it.
    pub async fn open(path: &Path) -> ClientResult<Cache> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            // SQLite folds its log back into the file (a checkpoint) inside whichever commit
            // crosses the threshold, so every few hundred saves one took several fsyncs. The
            // threshold is raised and the sync loop checkpoints after its rounds instead
            // (`checkpoint`), off the path of a person's save.
            .pragma("wal_autocheckpoint", "10000")
            .busy_timeout(Duration::from_secs(10));
        // One connection: the cache is one device's, and a single writer keeps each save a
        // plain serial transaction.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| ClientError::Cache(e.into()))?;
        Ok(Cache { pool })
    }

    /// Folds the write-ahead log back into the database file, as far as readers allow; called
    /// by the sync loop between rounds so a save never pays for it.
    pub async fn checkpoint(&self) -> ClientResult<()> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub async fn meta(&self, key: &str) -> ClientResult<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> ClientResult<()> {
        sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Saves a change to the outbox in one transaction, with the local record of a create and
    /// the file of a photo. Returns false when the change id was saved before (a double tap).
    pub async fn save_change(
        &self,
        change: &Change,
        lane: Lane,
        file: Option<(&str, &str, i64)>,
        local: Option<&LocalRecord>,
        now: DateTime<Utc>,
    ) -> ClientResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO outbox (change_id, record_type, record_id, grp, op, base_version, vals, owner_epoch, device_time, \
             lane, file_sha256, state, saved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (change_id) DO NOTHING",
        )
        .bind(change.change_id.to_string())
        .bind(change.record_type.as_str())
        .bind(change.record_id.to_string())
        .bind(change.group.map(|g| g.as_str()))
        .bind(change.op.as_str())
        .bind(change.base_version)
        .bind(change.values.to_string())
        .bind(change.owner_epoch)
        .bind(change.device_time)
        .bind(lane.as_str())
        .bind(file.map(|f| f.0))
        .bind(OutboxState::Pending.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some((sha, path, length)) = file {
            sqlx::query("INSERT INTO files (sha256, path, length, saved_at) VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING")
                .bind(sha)
                .bind(path)
                .bind(length)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(local) = local {
            sqlx::query(
                "INSERT INTO records (record_id, record_type, owner, owner_epoch, state, job_id, local_only, created_at, updated_at) \
                 VALUES (?, ?, ?, 1, ?, ?, 1, ?, ?) ON CONFLICT (record_id) DO NOTHING",
            )
            .bind(local.record_id.to_string())
            .bind(local.record_type.as_str())
            .bind(local.owner.to_key())
            .bind(local.state.as_str())
            .bind(local.job_id.map(|j| j.to_string()))
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn outbox_row(&self, change_id: ChangeId) -> ClientResult<Option<OutboxRow>> {
        let row = sqlx::query_as::<_, OutboxDbRow>(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE change_id = ?"
        ))
        .bind(change_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(OutboxDbRow::row).transpose()
    }

    /// Pending changes of a lane, oldest first.
    pub async fn pending(&self, lane: Lane, limit: i64) -> ClientResult<Vec<OutboxRow>> {
        let rows = sqlx::query_as::<_, OutboxDbRow>(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = ? AND lane = ? ORDER BY position LIMIT ?"
        ))
        .bind(OutboxState::Pending.as_str())
        .bind(lane.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(OutboxDbRow::row).collect()
    }

    /// Every change this device saved, newest first: its local history.
    pub async fn history(&self, limit: i64) -> ClientResult<Vec<OutboxRow>> {
        let rows = sqlx::query_as::<_, OutboxDbRow>(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY position DESC LIMIT ?"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(OutboxDbRow::row).collect()
    }

    pub async fn outbox_for(&self, record_id: RecordId) -> ClientResult<Vec<OutboxRow>> {
        let rows = sqlx::query_as::<_, OutboxDbRow>(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE record_id = ? ORDER BY position"
        ))
        .bind(record_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(OutboxDbRow::row).collect()
    }

    /// How many changes wait in the outbox, how many files wait for the file lane, and when the
    /// oldest waiting change was saved. A photo's change rides the changes lane (after its
    /// file), so the file lane's depth is the files still to upload.
    pub async fn depth(&self) -> ClientResult<(i64, i64, Option<DateTime<Utc>>)> {
        let (changes, files, oldest): (i64, i64, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM outbox WHERE state = ?1), \
             (SELECT COUNT(*) FROM files WHERE complete = 0), \
             (SELECT MIN(saved_at) FROM outbox WHERE state = ?1)",
        )
        .bind(OutboxState::Pending.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok((changes, files, oldest))
    }

    /// What the sync status shows, in one query (it runs after every save): changes waiting,
    /// files waiting, and changes held or rejected that need a person.
    pub async fn status_counts(&self) -> ClientResult<(i64, i64, i64)> {
        Ok(sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM outbox WHERE state = ?), \
             (SELECT COUNT(*) FROM files WHERE complete = 0), \
             (SELECT COUNT(*) FROM outbox WHERE state IN (?, ?))",
        )
        .bind(OutboxState::Pending.as_str())
        .bind(OutboxState::Held.as_str())
        .bind(OutboxState::Rejected.as_str())
        .fetch_one(&self.pool)
        .await?)
    }

    /// How many outbox rows are in `state`.
    pub async fn count_in(&self, state: OutboxState) -> ClientResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = ?")
                .bind(state.as_str())
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// [`Cache::count_in`] by the state's stored word ("synced", "held", "rejected").
    pub async fn count_settled(&self, state: &str) -> ClientResult<i64> {
        let state = OutboxState::parse(state)
            .ok_or_else(|| ClientError::Invalid(format!("no outbox state {state}")))?;
        self.count_in(state).await
    }

    pub async fn bump_attempts(&self, change_ids: &[ChangeId]) -> ClientResult<()> {
        let mut tx = self.pool.begin().await?;
        for id in change_ids {
            sqlx::query("UPDATE outbox SET attempts = attempts + 1 WHERE change_id = ?")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets a change aside until `retry_at`: the server failed on it alone.
    pub async fn set_aside(
        &self,
        change_id: ChangeId,
        retry_at: DateTime<Utc>,
    ) -> ClientResult<()> {
        sqlx::query(
            "UPDATE outbox SET failures = failures + 1, retry_at = ? WHERE change_id = ? AND state = ?",
        )
        .bind(retry_at)
        .bind(change_id.to_string())
        .bind(OutboxState::Pending.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// When the first change set aside is due again.
    pub async fn next_set_aside(&self, now: DateTime<Utc>) -> ClientResult<Option<DateTime<Utc>>> {
        Ok(
            sqlx::query_scalar("SELECT MIN(retry_at) FROM outbox WHERE state = ? AND retry_at > ?")
                .bind(OutboxState::Pending.as_str())
                .bind(now)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Records the server's answers to a push in one transaction: settles each change and lays
    /// an applied one into the confirmed state, so the record reads "Synced" at once.
    pub async fn settle(
        &self,
        answered: &[(Change, Outcome)],
        now: DateTime<Utc>,
    ) -> ClientResult<()> {
        let mut tx = self.pool.begin().await?;
        for (change, outcome) in answered {
            // A refusal for a passing reason leaves the change pending, to be sent again.
            if outcome.is_transient() {
                continue;
            }
            sqlx::query(
                "UPDATE outbox SET state = ?, code = ?, reason = ?, review_id = ?, outcome = ?, settled_at = ? \
                 WHERE change_id = ? AND state = ?",
            )
            .bind(OutboxState::settled_by(outcome.status).as_str())
            .bind(outcome.code.as_deref())
            .bind(outcome.message.as_deref())
            .bind(outcome.review_id.map(|r| r.to_string()))
            .bind(serde_json::to_string(outcome)?)
            .bind(now)
            .bind(change.change_id.to_string())
            .bind(OutboxState::Pending.as_str())
            .execute(&mut *tx)
            .await?;
            if outcome.status == fieldsync_core::OutcomeStatus::Applied {
                lay_in_own(&mut tx, change, outcome, now).await?;
            }
            // The next change of the same group was made on top of this one: it is based on the
            // version this one made, or, if this one was not applied, on what this one was.
            if change.op != Op::Create {
                let base = match outcome.status {
                    fieldsync_core::OutcomeStatus::Applied => {
                        outcome.version.unwrap_or(change.base_version)
                    }
                    _ => change.base_version,
                };
                rebase_next(&mut tx, change, base).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Folds a pull page into the cache in one transaction, and moves the cursor with it.
    pub async fn apply_pull(
        &self,
        page: &PullResponse,
        me: &[String; 2],
        now: DateTime<Utc>,
    ) -> ClientResult<()> {
        let mut tx = self.pool.begin().await?;
        for record in &page.records {
            put_snapshot(&mut tx, record, now).await?;
        }
        // A page is a thousand changes: they go in as multi-row statements, each table's rows
        // in the page's order, so a later change of a record still lands after an earlier one.
        // A pulled change carries the ownership epoch it was made under, which an office role's
        // change may have made before a reassignment: a record's epoch only grows (the move
        // itself brings the new one).
        let mut records = Vec::with_capacity(page.changes.len());
        let mut groups = Vec::with_capacity(page.changes.len());
        for change in &page.changes {
            let id = change.record_id.to_string();
            match (change.op, change.group) {
                (Op::Create, _) => {
                    if let Some(values) = change.values.as_object() {
                        for (group, values) in values {
                            groups.push((id.clone(), group.clone(), 1, values.to_string()));
                        }
                    }
                }
                (_, Some(group)) if change.values.as_object().is_some_and(|m| !m.is_empty()) => {
                    groups.push((
                        id.clone(),
                        group.as_str().to_string(),
                        change.version,
                        change.values.to_string(),
                    ));
                }
                _ => {}
            }
            records.push((
                id,
                change,
                change.owner.to_key(),
                job_of(change.record_type, change.group, &change.values, change.op),
            ));
        }
        for chunk in records.chunks(100) {
            let sql = format!(
                "INSERT INTO records (record_id, record_type, number, owner, owner_epoch, state, job_id, local_only, created_at, updated_at) \
                 VALUES {} ON CONFLICT (record_id) DO UPDATE SET number = COALESCE(excluded.number, records.number), \
                 owner = excluded.owner, owner_epoch = MAX(records.owner_epoch, excluded.owner_epoch), state = excluded.state, local_only = 0, updated_at = excluded.updated_at",
                vec!["(?, ?, ?, ?, ?, ?, ?, 0, ?, ?)"; chunk.len()].join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (id, change, owner, job) in chunk {
                query = query
                    .bind(id)
                    .bind(change.record_type.as_str())
                    .bind(change.number.as_deref())
                    .bind(owner)
                    .bind(change.owner_epoch)
                    .bind(change.state.as_str())
                    .bind(job)
                    .bind(change.server_time)
                    .bind(now);
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in groups.chunks(200) {
            let sql = format!(
                "INSERT INTO groups (record_id, grp, version, vals) VALUES {} \
                 ON CONFLICT (record_id, grp) DO UPDATE SET version = excluded.version, vals = excluded.vals \
                 WHERE excluded.version >= groups.version",
                vec!["(?, ?, ?, ?)"; chunk.len()].join(", ")
            );
            let mut query = sqlx::query(&sql);
            for (id, group, version, values) in chunk {
                query = query.bind(id).bind(group).bind(version).bind(values);
            }
            query.execute(&mut *tx).await?;
        }
        for moved in &page.ownership {
            let mine_before = me.contains(&moved.from.to_key());
            let mine_now = me.contains(&moved.to.to_key());
            sqlx::query("UPDATE records SET owner = ?, owner_epoch = MAX(owner_epoch, ?), read_only = ?, updated_at = ? WHERE record_id = ?")
                .bind(moved.to.to_key())
                .bind(moved.owner_epoch)
                .bind(mine_before && !mine_now)
                .bind(now)
                .bind(moved.record_id.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO ownership_moves (seq, record_id, item) VALUES (?, ?, ?) ON CONFLICT (seq) DO NOTHING")
                .bind(moved.seq)
                .bind(moved.record_id.to_string())
                .bind(serde_json::to_string(moved)?)
                .execute(&mut *tx)
                .await?;
        }
        // The pull carries every open item that concerns this user: one it no longer carries
        // was resolved (kept, marked so, so a held change's badge can clear).
        let open: Vec<String> = page
            .review
            .iter()
            .map(|i| i.review_id.to_string())
            .collect();
        sqlx::query(
            "UPDATE review SET item = json_set(item, '$.state', 'resolved') \
             WHERE json_extract(item, '$.state') = 'open' AND review_id NOT IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(&open)?)
        .execute(&mut *tx)
        .await?;
        for item in &page.review {
            sqlx::query(
                "INSERT INTO review (review_id, item) VALUES (?, ?) \
                 ON CONFLICT (review_id) DO UPDATE SET item = excluded.item",
            )
            .bind(item.review_id.to_string())
            .bind(serde_json::to_string(item)?)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("INSERT INTO meta (key, value) VALUES ('cursor', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
            .bind(page.next.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn record(&self, record_id: RecordId) -> ClientResult<Option<CachedRecord>> {
        let row = sqlx::query_as::<_, RecordRow>(
            "SELECT record_id, record_type, number, owner, owner_epoch, state, job_id, read_only, local_only, created_at \
             FROM records WHERE record_id = ?",
        )
        .bind(record_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some(self.hydrate(row).await?)),
            None => Ok(None),
        }
    }

    /// A record without its groups' values: what a save needs to know of a note's job (its
    /// owner, epoch and whether it is still this user's), in one query.
    pub async fn record_header(&self, record_id: RecordId) -> ClientResult<Option<CachedRecord>> {
        let row = sqlx::query_as::<_, RecordRow>(
            "SELECT record_id, record_type, number, owner, owner_epoch, state, job_id, read_only, local_only, created_at \
             FROM records WHERE record_id = ?",
        )
        .bind(record_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Cache::header(row, BTreeMap::new()))
            .transpose()
    }

    /// Records of a type, newest first.
    pub async fn records(
        &self,
        record_type: RecordType,
        limit: i64,
    ) -> ClientResult<Vec<CachedRecord>> {
        let rows = sqlx::query_as::<_, RecordRow>(
            "SELECT record_id, record_type, number, owner, owner_epoch, state, job_id, read_only, local_only, created_at \
             FROM records WHERE record_type = ? ORDER BY created_at DESC LIMIT ?",
        )
        .bind(record_type.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.hydrate(row).await?);
        }
        Ok(out)
    }

    /// Records of a type with their groups, newest first, in two queries whatever their number
    /// (the board of a large office reads thousands; one query per record's groups was most of
    /// its time). With `ids`, only those records.
    pub async fn records_with_groups(
        &self,
        record_type: RecordType,
        ids: Option<&[RecordId]>,
    ) -> ClientResult<Vec<CachedRecord>> {
        let ids = ids
            .map(|ids| {
                serde_json::to_string(&ids.iter().map(|i| i.to_string()).collect::<Vec<_>>())
            })
            .transpose()?;
        // ?2 is bound either way (SQLite refuses a bound parameter the statement lacks): an
        // always-true test without `ids`.
        let only = if ids.is_some() {
            " AND record_id IN (SELECT value FROM json_each(?2))"
        } else {
            " AND ?2 IS NOT NULL"
        };
        let rows = sqlx::query_as::<_, RecordRow>(&format!(
            "SELECT record_id, record_type, number, owner, owner_epoch, state, job_id, read_only, local_only, created_at \
             FROM records WHERE record_type = ?1{only} ORDER BY created_at DESC"
        ))
        .bind(record_type.as_str())
        .bind(ids.as_deref().unwrap_or("[]"))
        .fetch_all(&self.pool)
        .await?;
        let groups: Vec<(String, String, i64, String)> = sqlx::query_as(&format!(
            "SELECT g.record_id, g.grp, g.version, g.vals FROM groups g \
             WHERE g.record_id IN (SELECT record_id FROM records WHERE record_type = ?1{only})"
        ))
        .bind(record_type.as_str())
        .bind(ids.as_deref().unwrap_or("[]"))
        .fetch_all(&self.pool)
        .await?;
        let mut by_record: std::collections::HashMap<String, BTreeMap<Group, (i64, Value)>> =
            std::collections::HashMap::with_capacity(rows.len());
        for (record_id, grp, version, vals) in groups {
            if let Some(group) = Group::parse(&grp) {
                by_record
                    .entry(record_id)
                    .or_default()
                    .insert(group, (version, serde_json::from_str(&vals)?));
            }
        }
        rows.into_iter()
            .map(|row| {
                let groups = by_record.remove(&row.record_id).unwrap_or_default();
                Cache::header(row, groups)
            })
            .collect()
    }

    /// The outbox rows of a type's records (all of them, or those of `ids`), oldest first: the
    /// pending changes a list of records lays over their confirmed values, in one query.
    pub async fn outbox_of_type(
        &self,
        record_type: RecordType,
        ids: Option<&[RecordId]>,
    ) -> ClientResult<Vec<OutboxRow>> {
        let ids = ids
            .map(|ids| {
                serde_json::to_string(&ids.iter().map(|i| i.to_string()).collect::<Vec<_>>())
            })
            .transpose()?;
        // ?2 is bound either way (SQLite refuses a bound parameter the statement lacks): an
        // always-true test without `ids`.
        let only = if ids.is_some() {
            " AND record_id IN (SELECT value FROM json_each(?2))"
        } else {
            " AND ?2 IS NOT NULL"
        };
        let rows = sqlx::query_as::<_, OutboxDbRow>(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE record_type = ?1{only} ORDER BY position"
        ))
        .bind(record_type.as_str())
        .bind(ids.as_deref().unwrap_or("[]"))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(OutboxDbRow::row).collect()
    }

    /// Where the cache stands, for a reader that keeps its own copy of a list and later asks
    /// [`Cache::touched_since`] what to read again: the last outbox position.
    pub async fn last_position(&self) -> ClientResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM outbox")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// The records of a type that may read differently than they did when a reader looked at
    /// `since` (the cache's clock time) and `after_position` (its [`Cache::last_position`]):
    /// written by a pull or a push's answer since then (`updated_at`), with a change saved
    /// after that position or settled since then, or with a change still pending or held (its
    /// sync state moves with the lanes and reviews, which leave no mark on the row). A reader
    /// passes a `since` a margin earlier than the time it read: a write stamps the time it
    /// began, and may commit a moment after.
    pub async fn touched_since(
        &self,
        record_type: RecordType,
        since: DateTime<Utc>,
        after_position: i64,
    ) -> ClientResult<Vec<RecordId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT record_id FROM records WHERE record_type = ?1 AND updated_at >= ?2 \
             UNION SELECT record_id FROM outbox WHERE record_type = ?1 \
               AND (position > ?3 OR settled_at >= ?2 OR state IN (?4, ?5))",
        )
        .bind(record_type.as_str())
        .bind(since)
        .bind(after_position)
        .bind(OutboxState::Pending.as_str())
        .bind(OutboxState::Held.as_str())
        .fetch_all(&self.pool)
        .await?;
        ids.iter().map(|id| parse(id, "record id")).collect()
    }

    pub async fn count_records(&self) -> ClientResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM records")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn hydrate(&self, row: RecordRow) -> ClientResult<CachedRecord> {
        let groups: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT grp, version, vals FROM groups WHERE record_id = ?")
                .bind(&row.record_id)
                .fetch_all(&self.pool)
                .await?;
        let mut map = BTreeMap::new();
        for (grp, version, vals) in groups {
            if let Some(group) = Group::parse(&grp) {
                map.insert(group, (version, serde_json::from_str(&vals)?));
            }
        }
        Cache::header(row, map)
    }

    fn header(row: RecordRow, groups: BTreeMap<Group, (i64, Value)>) -> ClientResult<CachedRecord> {
        Ok(CachedRecord {
            record_type: record_type(&row.record_type)?,
            record_id: parse(&row.record_id, "record id")?,
            number: row.number,
            owner: Owner::from_key(&row.owner).ok_or_else(|| corrupt("owner", &row.owner))?,
            owner_epoch: row.owner_epoch,
            state: parse(&row.state, "state")?,
            job_id: row
                .job_id
                .as_deref()
                .map(|j| parse(j, "job id"))
                .transpose()?,
            read_only: row.read_only,
            local_only: row.local_only,
            created_at: row.created_at,
            groups,
        })
    }

    /// The open review items that concern this user, as the last pull had them.
    pub async fn review_items(&self) -> ClientResult<Vec<ReviewItem>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT item FROM review WHERE json_extract(item, '$.state') = 'open'",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| serde_json::from_str(r).map_err(ClientError::from))
            .collect()
    }

    /// A mark of the review items as they stand (how many, how many open, their total size):
    /// a reader that keeps what depends on them (the board's "Needs review", a held change's
    /// badge that clears with its review) compares it to know when to read them again. A pull
    /// can open or close an item without bringing a change of any record.
    pub async fn review_mark(&self) -> ClientResult<(i64, i64, i64)> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(json_extract(item, '$.state') = 'open'), 0), \
             COALESCE(SUM(length(item)), 0) FROM review",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// The review items this device saw open and then saw resolved.
    pub async fn resolved_reviews(&self) -> ClientResult<std::collections::HashSet<String>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT review_id FROM review WHERE json_extract(item, '$.state') != 'open'",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().collect())
    }

    pub async fn files_pending(&self) -> ClientResult<Vec<FileRow>> {
        let rows: Vec<(String, String, i64, i64, bool)> =
            sqlx::query_as("SELECT sha256, path, length, uploaded, complete FROM files WHERE complete = 0 ORDER BY saved_at")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(sha256, path, length, uploaded, complete)| FileRow {
                sha256,
                path,
                length,
                uploaded,
                complete,
            })
            .collect())
    }

    pub async fn file_complete(&self, sha256: &str) -> ClientResult<bool> {
        let done: Option<bool> = sqlx::query_scalar("SELECT complete FROM files WHERE sha256 = ?")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(done.unwrap_or(true))
    }

    pub async fn set_file_progress(
        &self,
        sha256: &str,
        uploaded: i64,
        complete: bool,
    ) -> ClientResult<()> {
        sqlx::query("UPDATE files SET uploaded = ?, complete = ? WHERE sha256 = ?")
            .bind(uploaded)
            .bind(complete)
            .bind(sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Keeps a form's values as they are typed, so a form left open survives a restart. A
    /// draft already used (or discarded) is not written again.
    pub async fn save_draft(
        &self,
        draft_id: &str,
        record_type: RecordType,
        values: &Value,
        now: DateTime<Utc>,
    ) -> ClientResult<()> {
        sqlx::query(
            "INSERT INTO drafts (draft_id, record_type, vals, saved_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (draft_id) DO UPDATE SET vals = excluded.vals, saved_at = excluded.saved_at \
             WHERE drafts.used_by IS NULL",
        )
        .bind(draft_id)
        .bind(record_type.as_str())
        .bind(values.to_string())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a draft as done with: `used_by` names the record made from it (or says it was
    /// discarded). It stays on the device; it is no longer offered.
    pub async fn close_draft(&self, draft_id: &str, used_by: &str) -> ClientResult<()> {
        sqlx::query("UPDATE drafts SET used_by = ? WHERE draft_id = ? AND used_by IS NULL")
            .bind(used_by)
            .bind(draft_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The drafts still open, newest first.
    pub async fn drafts(
        &self,
        record_type: RecordType,
    ) -> ClientResult<Vec<(String, Value, DateTime<Utc>)>> {
        let rows: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT draft_id, vals, saved_at FROM drafts \
                 WHERE record_type = ? AND used_by IS NULL ORDER BY saved_at DESC",
        )
        .bind(record_type.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, vals, at)| Ok((id, serde_json::from_str(&vals)?, at)))
            .collect()
    }
}

/// The job a pulled change belongs to, from its values.
fn job_of(record_type: RecordType, group: Option<Group>, values: &Value, op: Op) -> Option<String> {
    if !record_type.is_job_child() && record_type != RecordType::Invoice {
        return None;
    }
    let first = record_type.groups().first()?;
    let values = match (op, group) {
        (Op::Create, _) => values.get(first.as_str())?,
        _ => values,
    };
    values
        .get("job_id")
        .and_then(Value::as_str)
        .map(str::to_string)
}

async fn put_group(
    conn: &mut SqliteConnection,
    record_id: &str,
    group: &str,
    version: i64,
    values: &Value,
) -> ClientResult<()> {
    sqlx::query(
        "INSERT INTO groups (record_id, grp, version, vals) VALUES (?, ?, ?, ?) \
         ON CONFLICT (record_id, grp) DO UPDATE SET version = excluded.version, vals = excluded.vals \
         WHERE excluded.version >= groups.version",
    )
    .bind(record_id)
    .bind(group)
    .bind(version)
    .bind(values.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn put_snapshot(
    conn: &mut SqliteConnection,
    record: &RecordState,
    now: DateTime<Utc>,
) -> ClientResult<()> {
    let id = record.record_id.to_string();
    let first = record.record_type.groups().first().copied();
    let job = first
        .and_then(|g| record.groups.get(&g))
        .and_then(|g| g.values.get("job_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    sqlx::query(
        "INSERT INTO records (record_id, record_type, number, owner, owner_epoch, state, job_id, local_only, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (record_id) DO UPDATE SET number = excluded.number, owner = excluded.owner, \
         owner_epoch = excluded.owner_epoch, state = excluded.state, read_only = 0, local_only = 0, updated_at = excluded.updated_at",
    )
    .bind(&id)
    .bind(record.record_type.as_str())
    .bind(record.number.as_deref())
    .bind(record.owner.to_key())
    .bind(record.owner_epoch)
    .bind(record.state.as_str())
    .bind(job)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for (group, state) in &record.groups {
        put_group(conn, &id, group.as_str(), state.version, &state.values).await?;
    }
    Ok(())
}

/// Sets the base version of the next waiting change of `change`'s record and field group.
async fn rebase_next(conn: &mut SqliteConnection, change: &Change, base: i64) -> ClientResult<()> {
    let group = fieldsync_core::judge::change_group(change);
    let later = sqlx::query_as::<_, OutboxDbRow>(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE record_id = ? AND state = ? AND op != 'create' \
         AND position > (SELECT position FROM outbox WHERE change_id = ?) ORDER BY position"
    ))
    .bind(change.record_id.to_string())
    .bind(OutboxState::Pending.as_str())
    .bind(change.change_id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    for row in later {
        let row = row.row()?;
        if fieldsync_core::judge::change_group(&row.change) == group {
            sqlx::query("UPDATE outbox SET base_version = ? WHERE position = ?")
                .bind(base)
                .bind(row.position)
                .execute(&mut *conn)
                .await?;
            break;
        }
    }
    Ok(())
}

/// Lays this device's own applied change into the confirmed state.
async fn lay_in_own(
    conn: &mut SqliteConnection,
    change: &Change,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> ClientResult<()> {
    let id = change.record_id.to_string();
    match change.op {
        Op::Create => {
            sqlx::query("UPDATE records SET number = COALESCE(?, number), local_only = 0, updated_at = ? WHERE record_id = ?")
                .bind(outcome.number.as_deref())
                .bind(now)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            // Only where the server's first version has not arrived by a pull: the server's
            // (which fills in what the create left out) stands over this device's.
            if let Some(groups) = change.values.as_object() {
                for (group, values) in groups {
                    sqlx::query(
                        "INSERT INTO groups (record_id, grp, version, vals) VALUES (?, ?, 1, ?) \
                         ON CONFLICT (record_id, grp) DO NOTHING",
                    )
                    .bind(&id)
                    .bind(group)
                    .bind(values.to_string())
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        Op::Update | Op::Void => {
            let Some(group) = fieldsync_core::judge::change_group(change) else {
                return Ok(());
            };
            let cached: Option<(i64, String)> =
                sqlx::query_as("SELECT version, vals FROM groups WHERE record_id = ? AND grp = ?")
                    .bind(&id)
                    .bind(group.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
            // An answer that comes late (a resend after a lost reply) may find this version,
            // or a newer one, already pulled: the server's values and the record's state as it
            // stands then are the truth, not this change laid over them.
            if cached
                .as_ref()
                .zip(outcome.version)
                .is_some_and(|((have, _), made)| *have >= made)
            {
                return Ok(());
            }
            let current = cached
                .map(|(_, vals)| vals)
                .as_deref()
                .map(serde_json::from_str)
                .transpose()?
                .unwrap_or(Value::Object(Default::default()));
            let mut merged = merge_values(&current, &change.values);
            let mut state = None;
            if group == Group::Status {
                let named = change
                    .values
                    .get("state")
                    .and_then(Value::as_str)
                    .and_then(State::parse);
                if change.op == Op::Void {
                    let end = change.record_type.void_state(named);
                    if let Some(map) = merged.as_object_mut() {
                        map.insert("state".into(), Value::String(end.as_str().into()));
                    }
                    state = Some(end);
                } else {
                    state = named;
                }
            }
            if let Some(version) = outcome.version {
                put_group(conn, &id, group.as_str(), version, &merged).await?;
            }
            if let Some(state) = state {
                sqlx::query("UPDATE records SET state = ?, updated_at = ? WHERE record_id = ?")
                    .bind(state.as_str())
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    Ok(())
}
