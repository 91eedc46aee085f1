//! The embedded store: one SQLite file in WAL mode, one writer at a time.
//!
//! Writes go through a pool of one connection and open with `BEGIN IMMEDIATE`, so a batch takes
//! the write lock before it reads what it judges; readers use their own pool and never block it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use fieldsync_core::judge::{change_group, HeldItem, Resolution};
use fieldsync_core::model::GroupState;
use fieldsync_core::wire::{
    OwnershipMove, PullResponse, PulledChange, ResolveChoice, ResolveRequest, ReviewItem,
    ReviewKind, VersionSide,
};
use fieldsync_core::{
    judge, resolve, Apply, Author, Change, ChangeId, DeviceId, ErrorCode, Group, JobMatch,
    JudgeInput, Op, Outcome, OutcomeStatus, Owner, Policy, RecordId, RecordState, RecordType,
    ReviewId, Role, Verdict,
};

use super::{
    DeviceAuth, DeviceInfo, DeviceReport, FileStatus, HistoryEntry, NewUser, ReassignOutcome,
    RecordHistory, Store, StoreError, StoreResult, User,
};

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
}

fn parse<T: FromStr>(s: &str, what: &str) -> StoreResult<T> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad {what}: {s}")))
}

fn owner_of(key: &str) -> StoreResult<Owner> {
    Owner::from_key(key).ok_or_else(|| StoreError::Corrupt(format!("bad owner: {key}")))
}

fn json(s: &str) -> StoreResult<Value> {
    Ok(serde_json::from_str(s)?)
}

impl SqliteStore {
    /// Opens (creating if needed) the store in a file and runs its migrations.
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an outcome the server answered survives a power cut, so a replay after a
            // crash finds it and nothing is applied twice.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(StoreError::Unavailable)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&write)
            .await
            .map_err(|e| StoreError::Database(e.into()))?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await
            .map_err(StoreError::Unavailable)?;
        Ok(SqliteStore { read, write })
    }

    /// Closes both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

#[derive(Clone, FromRow)]
struct RecordRow {
    record_id: String,
    record_type: String,
    number: Option<String>,
    owner: String,
    owner_epoch: i64,
    state: String,
    job_id: Option<String>,
    customer_id: Option<String>,
}

#[derive(FromRow)]
struct GroupRow {
    grp: String,
    version: i64,
    vals: String,
    contested: bool,
}

#[derive(FromRow)]
struct ChangeRow {
    seq: i64,
    change_id: String,
    kind: String,
    record_type: String,
    record_id: String,
    grp: Option<String>,
    op: String,
    base_version: i64,
    vals: String,
    owner_epoch: i64,
    device_time: DateTime<Utc>,
    author: String,
    device_id: Option<String>,
    server_time: DateTime<Utc>,
    version: Option<i64>,
    number: Option<String>,
    owner: String,
    state: String,
    outcome: String,
}

const CHANGE_COLUMNS: &str =
    "seq, change_id, kind, record_type, record_id, grp, op, base_version, vals, owner_epoch, \
     device_time, author, device_id, server_time, version, number, owner, state, outcome";

impl ChangeRow {
    fn pulled(&self) -> StoreResult<PulledChange> {
        Ok(PulledChange {
            change_id: parse(&self.change_id, "change id")?,
            record_type: RecordType::parse(&self.record_type).ok_or_else(|| {
                StoreError::Corrupt(format!("bad record type {}", self.record_type))
            })?,
            record_id: parse(&self.record_id, "record id")?,
            group: self.grp.as_deref().and_then(Group::parse),
            op: op_of(&self.op)?,
            base_version: self.base_version,
            values: json(&self.vals)?,
            owner_epoch: self.owner_epoch,
            device_time: self.device_time,
            seq: self.seq,
            version: self.version.unwrap_or(0),
            number: self.number.clone(),
            author: self.author.clone(),
            device_id: self
                .device_id
                .as_deref()
                .map(|d| parse(d, "device id"))
                .transpose()?,
            server_time: self.server_time,
            owner: owner_of(&self.owner)?,
            state: self.state.clone(),
        })
    }

    fn history(&self) -> StoreResult<HistoryEntry> {
        let pulled = self.pulled()?;
        Ok(HistoryEntry {
            seq: self.seq,
            change_id: pulled.change_id,
            kind: self.kind.clone(),
            record_type: pulled.record_type,
            record_id: pulled.record_id,
            group: pulled.group,
            op: pulled.op,
            base_version: pulled.base_version,
            values: pulled.values,
            author: pulled.author,
            device_id: pulled.device_id,
            device_time: pulled.device_time,
            server_time: pulled.server_time,
            outcome: serde_json::from_str(&self.outcome)?,
        })
    }
}

fn op_of(s: &str) -> StoreResult<Op> {
    match s {
        "create" => Ok(Op::Create),
        "update" => Ok(Op::Update),
        "void" => Ok(Op::Void),
        other => Err(StoreError::Corrupt(format!("bad op {other}"))),
    }
}

#[derive(FromRow)]
struct ReviewRow {
    review_id: String,
    kind: String,
    record_type: String,
    record_id: String,
    grp: Option<String>,
    change_id: String,
    change_json: String,
    base: Option<String>,
    current: Option<String>,
    incoming: String,
    matched_record_id: Option<String>,
    matched_number: Option<String>,
    number: Option<String>,
    incoming_author: String,
    created_at: DateTime<Utc>,
    state: String,
    resolution: Option<String>,
    resolved_by: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
}

const REVIEW_SELECT: &str = "SELECT r.review_id, r.kind, r.record_type, r.record_id, r.grp, r.change_id, r.change_json, \
     r.base, r.current, r.incoming, r.matched_record_id, m.number AS matched_number, rec.number AS number, \
     r.incoming_author, r.created_at, r.state, r.resolution, r.resolved_by, r.resolved_at \
     FROM review_items r LEFT JOIN records m ON m.record_id = r.matched_record_id \
     LEFT JOIN records rec ON rec.record_id = r.record_id";

impl ReviewRow {
    fn item(&self, policy: &Policy) -> StoreResult<ReviewItem> {
        let kind = ReviewKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("bad review kind {}", self.kind)))?;
        let record_type = RecordType::parse(&self.record_type)
            .ok_or_else(|| StoreError::Corrupt(format!("bad record type {}", self.record_type)))?;
        let group = self.grp.as_deref().and_then(Group::parse);
        let side = |s: &Option<String>| -> StoreResult<Option<VersionSide>> {
            s.as_deref()
                .map(|s| serde_json::from_str(s).map_err(StoreError::from))
                .transpose()
        };
        Ok(ReviewItem {
            review_id: parse(&self.review_id, "review id")?,
            kind,
            record_type,
            record_id: parse(&self.record_id, "record id")?,
            number: self.number.clone(),
            group,
            change_id: parse(&self.change_id, "change id")?,
            base: side(&self.base)?,
            current: side(&self.current)?,
            incoming: serde_json::from_str(&self.incoming)?,
            matched_record_id: self
                .matched_record_id
                .as_deref()
                .map(|m| parse(m, "record id"))
                .transpose()?,
            matched_number: self.matched_number.clone(),
            resolvers: policy.resolvers(kind, record_type, group),
            created_at: self.created_at,
            state: self.state.clone(),
            resolution: self.resolution.clone(),
            resolved_by: self.resolved_by.clone(),
            resolved_at: self.resolved_at,
        })
    }
}

/// Loads a record as the judge sees it.
async fn load_record(
    conn: &mut SqliteConnection,
    record_id: &str,
) -> StoreResult<Option<(RecordState, RecordRow)>> {
    let Some(row) = sqlx::query_as::<_, RecordRow>(
        "SELECT record_id, record_type, number, owner, owner_epoch, state, job_id, customer_id \
         FROM records WHERE record_id = ?",
    )
    .bind(record_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let groups = sqlx::query_as::<_, GroupRow>(
        "SELECT grp, version, vals, contested FROM record_groups WHERE record_id = ?",
    )
    .bind(record_id)
    .fetch_all(&mut *conn)
    .await?;
    let history = sqlx::query_as::<_, (i64, String)>(
        "SELECT epoch, owner FROM owner_history WHERE record_id = ?",
    )
    .bind(record_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut group_map = BTreeMap::new();
    for g in groups {
        let group = Group::parse(&g.grp)
            .ok_or_else(|| StoreError::Corrupt(format!("bad group {}", g.grp)))?;
        group_map.insert(
            group,
            GroupState {
                version: g.version,
                values: json(&g.vals)?,
                contested: g.contested,
            },
        );
    }
    let mut owner_history = BTreeMap::new();
    for (epoch, owner) in history {
        owner_history.insert(epoch, owner_of(&owner)?);
    }
    let state = RecordState {
        record_type: RecordType::parse(&row.record_type)
            .ok_or_else(|| StoreError::Corrupt(format!("bad record type {}", row.record_type)))?,
        record_id: parse(&row.record_id, "record id")?,
        number: row.number.clone(),
        owner: owner_of(&row.owner)?,
        owner_epoch: row.owner_epoch,
        state: row.state.clone(),
        groups: group_map,
        owner_history,
    };
    Ok(Some((state, row)))
}

/// Whether a technician may see a record: their job, what hangs off it, or its customer.
async fn in_scope(
    conn: &mut SqliteConnection,
    author: &Author,
    record: &RecordState,
    row: &RecordRow,
) -> StoreResult<bool> {
    if author.role.sees_everything() {
        return Ok(true);
    }
    let keys = owner_keys(author);
    let job_id = match record.record_type {
        RecordType::Job => Some(row.record_id.clone()),
        RecordType::Customer => {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM records WHERE record_type = 'job' AND customer_id = ? AND owner IN (?, ?)",
            )
            .bind(&row.record_id)
            .bind(&keys[0])
            .bind(&keys[1])
            .fetch_one(&mut *conn)
            .await?;
            return Ok(count > 0);
        }
        RecordType::Invoice => return Ok(false),
        _ => row.job_id.clone(),
    };
    let Some(job_id) = job_id else {
        return Ok(false);
    };
    let owner: Option<String> = sqlx::query_scalar("SELECT owner FROM records WHERE record_id = ?")
        .bind(&job_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(owner.is_some_and(|o| keys.contains(&o)))
}

/// The owner keys a person answers to: themselves and their team.
fn owner_keys(author: &Author) -> [String; 2] {
    [
        Owner::User(author.user.clone()).to_key(),
        // A user without a team matches no team owner.
        author
            .team
            .as_ref()
            .map(|t| Owner::Team(t.clone()).to_key())
            .unwrap_or_else(|| "team:".into()),
    ]
}

async fn next_seq(conn: &mut SqliteConnection) -> StoreResult<i64> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM changes")
        .fetch_one(&mut *conn)
        .await?;
    Ok(last.unwrap_or(0) + 1)
}

/// One row of the change log, as written.
struct LogRow<'a> {
    seq: i64,
    change_id: &'a str,
    kind: &'a str,
    record_type: RecordType,
    record_id: &'a str,
    group: Option<Group>,
    op: Op,
    base_version: i64,
    values: &'a Value,
    owner_epoch: i64,
    device_time: DateTime<Utc>,
    author: &'a str,
    device_id: Option<String>,
    server_time: DateTime<Utc>,
    outcome: &'a Outcome,
    owner: &'a str,
    state: &'a str,
    scope_job: Option<&'a str>,
}

/// A log row ready to insert, owned so a batch can hold it until it writes them all at once.
struct PendingLog {
    seq: i64,
    change_id: String,
    kind: String,
    record_type: &'static str,
    record_id: String,
    group: Option<&'static str>,
    op: &'static str,
    base_version: i64,
    values: String,
    owner_epoch: i64,
    device_time: DateTime<Utc>,
    author: String,
    device_id: Option<String>,
    server_time: DateTime<Utc>,
    status: &'static str,
    version: Option<i64>,
    number: Option<String>,
    owner: String,
    state: String,
    scope_job: Option<String>,
    review_id: Option<String>,
    code: Option<String>,
    outcome: String,
}

impl LogRow<'_> {
    fn pending(&self) -> StoreResult<PendingLog> {
        Ok(PendingLog {
            seq: self.seq,
            change_id: self.change_id.to_string(),
            kind: self.kind.to_string(),
            record_type: self.record_type.as_str(),
            record_id: self.record_id.to_string(),
            group: self.group.map(|g| g.as_str()),
            op: self.op.as_str(),
            base_version: self.base_version,
            values: self.values.to_string(),
            owner_epoch: self.owner_epoch,
            device_time: self.device_time,
            author: self.author.to_string(),
            device_id: self.device_id.clone(),
            server_time: self.server_time,
            status: self.outcome.status.as_str(),
            version: self.outcome.version,
            number: self.outcome.number.clone(),
            owner: self.owner.to_string(),
            state: self.state.to_string(),
            scope_job: self.scope_job.map(str::to_string),
            review_id: self.outcome.review_id.map(|r| r.to_string()),
            code: self.outcome.code.clone(),
            outcome: serde_json::to_string(self.outcome)?,
        })
    }
}

/// Rows per multi-row INSERT: well under SQLite's limit on bound parameters.
const ROWS_PER_INSERT: usize = 200;

async fn insert_logs(conn: &mut SqliteConnection, rows: Vec<PendingLog>) -> StoreResult<()> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<PendingLog> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        let mut query = QueryBuilder::<Sqlite>::new(
            "INSERT INTO changes (seq, change_id, kind, record_type, record_id, grp, op, base_version, vals, owner_epoch, \
             device_time, author, device_id, server_time, status, version, number, owner, state, scope_job, review_id, code, outcome) ",
        );
        query.push_values(chunk, |mut b, r| {
            b.push_bind(r.seq)
                .push_bind(r.change_id)
                .push_bind(r.kind)
                .push_bind(r.record_type)
                .push_bind(r.record_id)
                .push_bind(r.group)
                .push_bind(r.op)
                .push_bind(r.base_version)
                .push_bind(r.values)
                .push_bind(r.owner_epoch)
                .push_bind(r.device_time)
                .push_bind(r.author)
                .push_bind(r.device_id)
                .push_bind(r.server_time)
                .push_bind(r.status)
                .push_bind(r.version)
                .push_bind(r.number)
                .push_bind(r.owner)
                .push_bind(r.state)
                .push_bind(r.scope_job)
                .push_bind(r.review_id)
                .push_bind(r.code)
                .push_bind(r.outcome);
        });
        query.build().execute(&mut *conn).await?;
    }
    Ok(())
}

async fn insert_log(conn: &mut SqliteConnection, row: &LogRow<'_>) -> StoreResult<()> {
    insert_logs(conn, vec![row.pending()?]).await
}

/// The side of a review item for the version of a group that stands now (or stood at `version`).
async fn version_side(
    conn: &mut SqliteConnection,
    record_id: &str,
    group: Group,
    version: i64,
    values: Value,
) -> StoreResult<VersionSide> {
    let row = sqlx::query_as::<_, (String, Option<String>, DateTime<Utc>, DateTime<Utc>, String)>(
        "SELECT c.author, c.device_id, c.server_time, c.device_time, c.vals FROM changes c \
         WHERE c.record_id = ? AND c.status = 'applied' AND c.version = ? AND (c.grp = ? OR c.op = 'create') \
         ORDER BY c.seq DESC LIMIT 1",
    )
    .bind(record_id)
    .bind(version)
    .bind(group.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some((author, device_id, server_time, device_time, _)) = row else {
        return Ok(VersionSide {
            values,
            version: Some(version),
            author: None,
            device_id: None,
            device_name: None,
            server_time: None,
            device_time: None,
        });
    };
    let device_name = match &device_id {
        Some(d) => {
            sqlx::query_scalar::<_, String>("SELECT name FROM devices WHERE device_id = ?")
                .bind(d)
                .fetch_optional(&mut *conn)
                .await?
        }
        None => None,
    };
    Ok(VersionSide {
        values,
        version: Some(version),
        author: Some(author),
        device_id: device_id
            .as_deref()
            .map(|d| parse(d, "device id"))
            .transpose()?,
        device_name,
        server_time: Some(server_time),
        device_time: Some(device_time),
    })
}

/// The values a group had at an earlier version, from the change log.
async fn values_at(
    conn: &mut SqliteConnection,
    record_id: &str,
    group: Group,
    version: i64,
) -> StoreResult<Option<Value>> {
    let rows = sqlx::query_as::<_, (String, String, Option<String>)>(
        "SELECT op, vals, grp FROM changes WHERE record_id = ? AND status = 'applied' AND version = ? \
         AND (grp = ? OR op = 'create') ORDER BY seq DESC LIMIT 1",
    )
    .bind(record_id)
    .bind(version)
    .bind(group.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let Some((op, vals, _)) = rows else {
        return Ok(None);
    };
    let vals = json(&vals)?;
    if op == "create" {
        return Ok(vals.get(group.as_str()).cloned());
    }
    // An applied update is logged with the group's whole values after it.
    Ok(Some(vals))
}

fn job_child_id(change: &Change) -> Option<String> {
    let group = change.record_type.groups().first()?;
    change
        .values
        .get(group.as_str())
        .and_then(|g| g.get("job_id"))
        .and_then(Value::as_str)
        .filter(|s| Uuid::parse_str(s).is_ok())
        .map(str::to_string)
}

/// A new record's columns that only its insert needs.
struct NewRecord {
    record_id: String,
    site: Option<String>,
    window_start: Option<String>,
    created_by: String,
}

/// One push batch's unit of work: the records it has read (and changed) in memory, and the
/// writes it owes the database, made in a few multi-row statements when the batch ends.
///
/// Every change is still judged on its own, against the record as the earlier changes of the
/// same batch left it; the whole batch commits in one transaction. Writing row by row costs a
/// round trip to SQLite's worker thread per statement, which dominated the server's CPU time.
struct Batch<'a> {
    device: &'a DeviceAuth,
    policy: &'a Policy,
    now: DateTime<Utc>,
    seq: i64,
    /// Stored outcomes by change id: prefetched for the batch, then each new one.
    outcomes: HashMap<String, Outcome>,
    /// Shared, so reading a job for each of a hundred notes does not copy it a hundred times.
    records: HashMap<String, Option<Arc<(RecordState, RecordRow)>>>,
    new_records: Vec<NewRecord>,
    dirty_groups: BTreeSet<(String, Group)>,
    dirty_records: BTreeSet<String>,
    counters: HashMap<RecordType, (i64, bool)>,
    logs: Vec<PendingLog>,
}

impl<'a> Batch<'a> {
    async fn begin(
        conn: &mut SqliteConnection,
        device: &'a DeviceAuth,
        policy: &'a Policy,
        now: DateTime<Utc>,
        changes: &[Change],
    ) -> StoreResult<Batch<'a>> {
        let mut batch = Batch {
            device,
            policy,
            now,
            seq: next_seq(conn).await?,
            outcomes: HashMap::new(),
            records: HashMap::new(),
            new_records: Vec::new(),
            dirty_groups: BTreeSet::new(),
            dirty_records: BTreeSet::new(),
            counters: HashMap::new(),
            logs: Vec::new(),
        };
        for chunk in changes.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT change_id, outcome FROM changes WHERE change_id IN (",
            );
            let mut ids = query.separated(", ");
            for change in chunk {
                ids.push_bind(change.change_id.to_string());
            }
            query.push(")");
            let rows: Vec<(String, String)> = query.build_query_as().fetch_all(&mut *conn).await?;
            for (id, outcome) in rows {
                batch.outcomes.insert(id, serde_json::from_str(&outcome)?);
            }
            // Which of the named records (and the jobs they point at) exist, in one query; the
            // rest are known to be new without asking again.
            let mut wanted: BTreeSet<String> = BTreeSet::new();
            for change in chunk {
                wanted.insert(change.record_id.to_string());
                if let Some(job) = job_child_id(change) {
                    wanted.insert(job);
                }
            }
            let mut query =
                QueryBuilder::<Sqlite>::new("SELECT record_id FROM records WHERE record_id IN (");
            let mut ids = query.separated(", ");
            for id in &wanted {
                ids.push_bind(id.clone());
            }
            query.push(")");
            let existing: Vec<String> = query.build_query_scalar().fetch_all(&mut *conn).await?;
            for id in wanted {
                if !existing.contains(&id) {
                    batch.records.entry(id).or_insert(None);
                }
            }
        }
        Ok(batch)
    }

    async fn record(
        &mut self,
        conn: &mut SqliteConnection,
        id: &str,
    ) -> StoreResult<Option<Arc<(RecordState, RecordRow)>>> {
        if let Some(known) = self.records.get(id) {
            return Ok(known.clone());
        }
        let loaded = load_record(conn, id).await?.map(Arc::new);
        self.records.insert(id.to_string(), loaded.clone());
        Ok(loaded)
    }

    async fn next_number(
        &mut self,
        conn: &mut SqliteConnection,
        record_type: RecordType,
    ) -> StoreResult<String> {
        let last = match self.counters.get(&record_type) {
            Some((last, _)) => *last,
            None => sqlx::query_scalar::<_, i64>("SELECT last FROM counters WHERE record_type = ?")
                .bind(record_type.as_str())
                .fetch_optional(&mut *conn)
                .await?
                .unwrap_or(0),
        };
        self.counters.insert(record_type, (last + 1, true));
        Ok(format!("{}-{:06}", record_type.number_prefix(), last + 1))
    }

    fn log(&mut self, row: &LogRow<'_>) -> StoreResult<()> {
        self.logs.push(row.pending()?);
        self.seq += 1;
        Ok(())
    }

    /// Writes everything the batch owes, so a query that reads the tables sees it.
    async fn flush(&mut self, conn: &mut SqliteConnection) -> StoreResult<()> {
        for (record_type, (last, dirty)) in self.counters.iter_mut() {
            if *dirty {
                sqlx::query(
                    "INSERT INTO counters (record_type, last) VALUES (?, ?) \
                     ON CONFLICT (record_type) DO UPDATE SET last = excluded.last",
                )
                .bind(record_type.as_str())
                .bind(*last)
                .execute(&mut *conn)
                .await?;
                *dirty = false;
            }
        }
        let new_records = std::mem::take(&mut self.new_records);
        for chunk in new_records.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO records (record_id, record_type, number, owner, owner_epoch, state, job_id, customer_id, site, \
                 window_start, created_at, created_by, updated_at) ",
            );
            let mut rows = Vec::new();
            for new in chunk {
                if let Some(Some(known)) = self.records.get(&new.record_id) {
                    rows.push((new, &known.0, &known.1));
                }
            }
            query.push_values(rows, |mut b, (new, state, row)| {
                b.push_bind(new.record_id.clone())
                    .push_bind(state.record_type.as_str())
                    .push_bind(state.number.clone())
                    .push_bind(state.owner.to_key())
                    .push_bind(state.owner_epoch)
                    .push_bind(state.state.clone())
                    .push_bind(row.job_id.clone())
                    .push_bind(row.customer_id.clone())
                    .push_bind(new.site.clone())
                    .push_bind(new.window_start.clone())
                    .push_bind(self.now)
                    .push_bind(new.created_by.clone())
                    .push_bind(self.now);
            });
            query.build().execute(&mut *conn).await?;
            for new in chunk {
                self.dirty_records.remove(&new.record_id);
            }
        }
        let groups: Vec<(String, Group)> =
            std::mem::take(&mut self.dirty_groups).into_iter().collect();
        for chunk in groups.chunks(ROWS_PER_INSERT) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO record_groups (record_id, grp, version, vals, contested) ",
            );
            let mut rows = Vec::new();
            for (id, group) in chunk {
                if let Some(Some(known)) = self.records.get(id) {
                    if let Some(g) = known.0.groups.get(group) {
                        rows.push((
                            id.clone(),
                            *group,
                            g.version,
                            g.values.to_string(),
                            g.contested,
                        ));
                    }
                }
            }
            query.push_values(rows, |mut b, (id, group, version, values, contested)| {
                b.push_bind(id)
                    .push_bind(group.as_str())
                    .push_bind(version)
                    .push_bind(values)
                    .push_bind(contested);
            });
            query.push(
                " ON CONFLICT (record_id, grp) DO UPDATE SET version = excluded.version, vals = excluded.vals, \
                 contested = excluded.contested",
            );
            query.build().execute(&mut *conn).await?;
        }
        for id in std::mem::take(&mut self.dirty_records) {
            if let Some(Some(known)) = self.records.get(&id) {
                let state = &known.0;
                let schedule = state.groups.get(&Group::Schedule).map(|g| &g.values);
                let text = |k: &str| {
                    schedule
                        .and_then(|s| s.get(k))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                sqlx::query(
                    "UPDATE records SET state = ?, site = COALESCE(?, site), window_start = COALESCE(?, window_start), \
                     updated_at = ? WHERE record_id = ?",
                )
                .bind(&state.state)
                .bind(text("site"))
                .bind(text("window_start"))
                .bind(self.now)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            }
        }
        insert_logs(conn, std::mem::take(&mut self.logs)).await
    }
}

async fn push_one(
    conn: &mut SqliteConnection,
    batch: &mut Batch<'_>,
    change: &Change,
) -> StoreResult<Outcome> {
    let change_id = change.change_id.to_string();
    // Step 1: a change id seen before gets its stored outcome back, whichever instance stored it.
    if let Some(stored) = batch.outcomes.get(&change_id) {
        let mut outcome = stored.clone();
        outcome.replayed = true;
        return Ok(outcome);
    }
    let record_id = change.record_id.to_string();
    // A change is judged against the record type it names. An update or void that names another
    // type than the stored record's (a job's rules on an invoice's id) finds no such record,
    // so one type's writers, voiders and locks cannot reach another's.
    let loaded = match batch.record(conn, &record_id).await? {
        Some(known) if change.op != Op::Create && known.0.record_type != change.record_type => None,
        loaded => loaded,
    };
    let parent_id = match &loaded {
        Some(known) => known.1.job_id.clone(),
        None => job_child_id(change),
    };
    let parent = match &parent_id {
        Some(id) => batch
            .record(conn, id)
            .await?
            .filter(|p| p.0.record_type == RecordType::Job),
        None => None,
    };
    let mut candidates = Vec::new();
    if change.op == Op::Create && change.record_type == RecordType::Job {
        if let Some(customer) = change
            .values
            .get("schedule")
            .and_then(|s| s.get("customer_id"))
            .and_then(Value::as_str)
        {
            // The open jobs of this batch count too.
            batch.flush(conn).await?;
            let rows = sqlx::query_as::<_, (String, Option<String>, Option<String>, Option<String>, String)>(
                "SELECT record_id, number, site, window_start, state FROM records \
                 WHERE record_type = 'job' AND customer_id = ? AND state NOT IN ('closed', 'voided', 'archived')",
            )
            .bind(customer)
            .fetch_all(&mut *conn)
            .await?;
            for (id, number, site, window_start, state) in rows {
                candidates.push(JobMatch {
                    record_id: parse(&id, "record id")?,
                    number,
                    site: site.unwrap_or_default(),
                    window_start,
                    state,
                });
            }
        }
    }
    let mut file_complete = false;
    if change.op == Op::Create && change.record_type == RecordType::Photo {
        if let Some(sha) = change
            .values
            .get("file")
            .and_then(|f| f.get("sha256"))
            .and_then(Value::as_str)
        {
            file_complete =
                sqlx::query_scalar::<_, i64>("SELECT complete FROM files WHERE sha256 = ?")
                    .bind(sha)
                    .fetch_optional(&mut *conn)
                    .await?
                    .is_some_and(|c| c != 0);
        }
    }
    let verdict = judge(&JudgeInput {
        change,
        author: &batch.device.author,
        policy: batch.policy,
        record: loaded.as_deref().map(|(r, _)| r),
        parent_job: parent.as_deref().map(|(p, _)| p),
        open_jobs_of_customer: &candidates,
        file_complete,
    });
    let device = batch.device;
    let now = batch.now;
    let device_id = Some(device.device_id.to_string());
    let author = device.author.user.as_str();
    let mut outcome = Outcome {
        change_id: change.change_id,
        status: OutcomeStatus::Applied,
        version: None,
        seq: None,
        number: loaded.as_ref().and_then(|known| known.0.number.clone()),
        review_id: None,
        code: None,
        message: None,
        flags: Vec::new(),
        replayed: false,
    };
    let seq = batch.seq;
    match verdict {
        Verdict::Apply(Apply::Create {
            owner,
            state,
            groups,
            job_id,
            possible_duplicate_of,
        }) => {
            let number = batch.next_number(conn, change.record_type).await?;
            let schedule = groups.get(&Group::Schedule);
            let text = |k: &str| {
                schedule
                    .and_then(|s| s.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let job_id = job_id.map(|j| j.to_string());
            let record = RecordState {
                record_type: change.record_type,
                record_id: change.record_id,
                number: Some(number.clone()),
                owner: owner.clone(),
                owner_epoch: 1,
                state: state.clone(),
                groups: groups
                    .iter()
                    .map(|(g, v)| {
                        (
                            *g,
                            GroupState {
                                version: 1,
                                values: v.clone(),
                                contested: false,
                            },
                        )
                    })
                    .collect(),
                // Earlier owners are written at reassignment; a new record has none.
                owner_history: BTreeMap::new(),
            };
            let row = RecordRow {
                record_id: record_id.clone(),
                record_type: change.record_type.as_str().to_string(),
                number: Some(number.clone()),
                owner: owner.to_key(),
                owner_epoch: 1,
                state: state.clone(),
                job_id: job_id.clone(),
                customer_id: text("customer_id"),
            };
            batch.new_records.push(NewRecord {
                record_id: record_id.clone(),
                site: text("site"),
                window_start: text("window_start"),
                created_by: author.to_string(),
            });
            for group in groups.keys() {
                batch.dirty_groups.insert((record_id.clone(), *group));
            }
            batch
                .records
                .insert(record_id.clone(), Some(Arc::new((record, row))));
            outcome.version = Some(1);
            outcome.seq = Some(seq);
            outcome.number = Some(number);
            let stored_values = serde_json::to_value(&groups)?;
            if let Some(matched) = possible_duplicate_of {
                let review_id = ReviewId(Uuid::now_v7());
                outcome.flags.push("possible_duplicate".into());
                outcome.review_id = Some(review_id);
                let incoming = VersionSide {
                    values: stored_values.clone(),
                    version: Some(1),
                    author: Some(author.to_string()),
                    device_id: Some(device.device_id),
                    device_name: Some(device.device_name.clone()),
                    server_time: Some(now),
                    device_time: Some(change.device_time),
                };
                let matched_id = matched.record_id.to_string();
                let current = match batch.record(conn, &matched_id).await? {
                    Some(m) => Some(VersionSide {
                        values: serde_json::to_value(
                            m.0.groups
                                .iter()
                                .map(|(g, s)| (*g, s.values.clone()))
                                .collect::<BTreeMap<_, _>>(),
                        )?,
                        version: None,
                        author: None,
                        device_id: None,
                        device_name: None,
                        server_time: None,
                        device_time: None,
                    }),
                    None => None,
                };
                insert_review(
                    conn,
                    review_id,
                    ReviewKind::PossibleDuplicate,
                    change,
                    None,
                    None,
                    current.as_ref(),
                    &incoming,
                    Some(&matched_id),
                    author,
                    now,
                )
                .await?;
            }
            let scope_job = if change.record_type == RecordType::Job {
                Some(record_id.clone())
            } else {
                job_id.clone()
            };
            batch.log(&LogRow {
                seq,
                change_id: &change_id,
                kind: "change",
                record_type: change.record_type,
                record_id: &record_id,
                group: None,
                op: Op::Create,
                base_version: 0,
                values: &stored_values,
                owner_epoch: 1,
                device_time: change.device_time,
                author,
                device_id,
                server_time: now,
                outcome: &outcome,
                owner: &owner.to_key(),
                state: &state,
                scope_job: scope_job.as_deref(),
            })?;
        }
        Verdict::Apply(Apply::Update {
            group,
            values,
            version,
            state,
        }) => {
            let Some(known) = loaded else {
                return Err(StoreError::Corrupt(
                    "judge applied an update to a missing record".into(),
                ));
            };
            let (mut record, row) = Arc::unwrap_or_clone(known);
            let contested = record.group(group).is_some_and(|g| g.contested);
            record.groups.insert(
                group,
                GroupState {
                    version,
                    values: values.clone(),
                    contested,
                },
            );
            if let Some(state) = &state {
                record.state = state.clone();
            }
            batch.dirty_groups.insert((record_id.clone(), group));
            batch.dirty_records.insert(record_id.clone());
            outcome.version = Some(version);
            outcome.seq = Some(seq);
            // The log keeps the group's whole values after the change, so any version can be
            // shown again as it stood (the base side of a later conflict).
            batch.log(&LogRow {
                seq,
                change_id: &change_id,
                kind: "change",
                record_type: change.record_type,
                record_id: &record_id,
                group: Some(group),
                op: change.op,
                base_version: change.base_version,
                values: &values,
                owner_epoch: change.owner_epoch,
                device_time: change.device_time,
                author,
                device_id,
                server_time: now,
                outcome: &outcome,
                owner: &record.owner.to_key(),
                state: &record.state,
                scope_job: scope_of(&record, &row).as_deref(),
            })?;
            batch
                .records
                .insert(record_id.clone(), Some(Arc::new((record, row))));
        }
        Verdict::Hold(hold) => {
            let Some(known) = loaded else {
                return Err(StoreError::Corrupt(
                    "judge held a change to a missing record".into(),
                ));
            };
            let (mut record, row) = Arc::unwrap_or_clone(known);
            // The review item shows the versions as the log has them, this batch's included.
            batch.flush(conn).await?;
            let review_id = ReviewId(Uuid::now_v7());
            let group = hold.group.or_else(|| change_group(change));
            let (base, current) = match group.and_then(|g| record.group(g).map(|s| (g, s.clone())))
            {
                Some((g, state)) => {
                    let base_values = values_at(conn, &record_id, g, change.base_version).await?;
                    let base = match base_values {
                        Some(v) => {
                            Some(version_side(conn, &record_id, g, change.base_version, v).await?)
                        }
                        None => None,
                    };
                    let current =
                        version_side(conn, &record_id, g, state.version, state.values.clone())
                            .await?;
                    (base, Some(current))
                }
                None => (None, None),
            };
            let incoming = VersionSide {
                values: change.values.clone(),
                version: Some(change.base_version),
                author: Some(author.to_string()),
                device_id: Some(device.device_id),
                device_name: Some(device.device_name.clone()),
                server_time: Some(now),
                device_time: Some(change.device_time),
            };
            insert_review(
                conn,
                review_id,
                hold.kind,
                change,
                group,
                base.as_ref(),
                current.as_ref(),
                &incoming,
                None,
                author,
                now,
            )
            .await?;
            let contests = hold.kind == ReviewKind::Conflict
                && group
                    .and_then(|g| batch.policy.rule(change.record_type, g))
                    .is_some_and(|r| r.policy == fieldsync_core::PolicyKind::ManualReview);
            if let (true, Some(g)) = (contests, group) {
                if let Some(state) = record.groups.get_mut(&g) {
                    state.contested = true;
                    batch.dirty_groups.insert((record_id.clone(), g));
                }
            }
            outcome.status = OutcomeStatus::Held;
            outcome.review_id = Some(review_id);
            outcome.code = Some(hold.kind.as_str().to_string());
            outcome.message = Some(hold.message);
            batch.log(&LogRow {
                seq,
                change_id: &change_id,
                kind: "change",
                record_type: change.record_type,
                record_id: &record_id,
                group,
                op: change.op,
                base_version: change.base_version,
                values: &change.values,
                owner_epoch: change.owner_epoch,
                device_time: change.device_time,
                author,
                device_id,
                server_time: now,
                outcome: &outcome,
                owner: &record.owner.to_key(),
                state: &record.state,
                scope_job: scope_of(&record, &row).as_deref(),
            })?;
            batch
                .records
                .insert(record_id.clone(), Some(Arc::new((record, row))));
        }
        Verdict::Reject(rejection) => {
            outcome.status = OutcomeStatus::Rejected;
            outcome.code = Some(rejection.code.as_str().to_string());
            outcome.message = Some(rejection.message);
            if rejection.code.is_final_judgement() {
                let (owner, state, scope) = match &loaded {
                    Some(known) => (
                        known.0.owner.to_key(),
                        known.0.state.clone(),
                        scope_of(&known.0, &known.1),
                    ),
                    None => (
                        Owner::User(author.to_string()).to_key(),
                        "none".to_string(),
                        parent_id.clone(),
                    ),
                };
                batch.log(&LogRow {
                    seq,
                    change_id: &change_id,
                    kind: "change",
                    record_type: change.record_type,
                    record_id: &record_id,
                    group: change.group,
                    op: change.op,
                    base_version: change.base_version,
                    values: &change.values,
                    owner_epoch: change.owner_epoch,
                    device_time: change.device_time,
                    author,
                    device_id,
                    server_time: now,
                    outcome: &outcome,
                    owner: &owner,
                    state: &state,
                    scope_job: scope.as_deref(),
                })?;
            } else {
                return Ok(outcome);
            }
        }
    }
    batch.outcomes.insert(change_id, outcome.clone());
    Ok(outcome)
}

fn scope_of(record: &RecordState, row: &RecordRow) -> Option<String> {
    match record.record_type {
        RecordType::Job => Some(row.record_id.clone()),
        _ => row.job_id.clone(),
    }
}

async fn write_group(
    conn: &mut SqliteConnection,
    record_id: &str,
    group: Group,
    values: &Value,
    version: i64,
    state: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query("UPDATE record_groups SET version = ?, vals = ? WHERE record_id = ? AND grp = ?")
        .bind(version)
        .bind(values.to_string())
        .bind(record_id)
        .bind(group.as_str())
        .execute(&mut *conn)
        .await?;
    let text = |k: &str| values.get(k).and_then(Value::as_str).map(str::to_string);
    if group == Group::Schedule {
        sqlx::query("UPDATE records SET site = COALESCE(?, site), window_start = COALESCE(?, window_start), updated_at = ? WHERE record_id = ?")
            .bind(text("site"))
            .bind(text("window_start"))
            .bind(now)
            .bind(record_id)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "UPDATE records SET state = COALESCE(?, state), updated_at = ? WHERE record_id = ?",
    )
    .bind(state)
    .bind(now)
    .bind(record_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn insert_review(
    conn: &mut SqliteConnection,
    review_id: ReviewId,
    kind: ReviewKind,
    change: &Change,
    group: Option<Group>,
    base: Option<&VersionSide>,
    current: Option<&VersionSide>,
    incoming: &VersionSide,
    matched: Option<&str>,
    author: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let side = |s: Option<&VersionSide>| s.map(serde_json::to_string).transpose();
    sqlx::query(
        "INSERT INTO review_items (review_id, kind, record_type, record_id, grp, change_id, change_json, base, current, \
         incoming, matched_record_id, incoming_author, created_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')",
    )
    .bind(review_id.to_string())
    .bind(kind.as_str())
    .bind(change.record_type.as_str())
    .bind(change.record_id.to_string())
    .bind(group.map(|g| g.as_str()))
    .bind(change.change_id.to_string())
    .bind(serde_json::to_string(change)?)
    .bind(side(base)?)
    .bind(side(current)?)
    .bind(serde_json::to_string(incoming)?)
    .bind(matched)
    .bind(author)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes a server-made change (resolution, reassignment, reopen) to the log as applied.
#[allow(clippy::too_many_arguments)]
async fn log_server_change(
    conn: &mut SqliteConnection,
    kind: &str,
    record: &RecordState,
    row: &RecordRow,
    group: Option<Group>,
    values: &Value,
    version: i64,
    state: &str,
    device: &DeviceAuth,
    now: DateTime<Utc>,
) -> StoreResult<Outcome> {
    let seq = next_seq(conn).await?;
    let change_id = ChangeId(Uuid::now_v7());
    let outcome = Outcome {
        change_id,
        status: OutcomeStatus::Applied,
        version: Some(version),
        seq: Some(seq),
        number: record.number.clone(),
        review_id: None,
        code: None,
        message: None,
        flags: Vec::new(),
        replayed: false,
    };
    let record_id = record.record_id.to_string();
    insert_log(
        conn,
        &LogRow {
            seq,
            change_id: &change_id.to_string(),
            kind,
            record_type: record.record_type,
            record_id: &record_id,
            group,
            op: Op::Update,
            base_version: version - 1,
            values,
            owner_epoch: record.owner_epoch,
            device_time: now,
            author: &device.author.user,
            device_id: Some(device.device_id.to_string()),
            server_time: now,
            outcome: &outcome,
            owner: &record.owner.to_key(),
            state,
            scope_job: scope_of(record, row).as_deref(),
        },
    )
    .await?;
    Ok(outcome)
}

/// A snapshot of a record and everything a new owner needs with it.
async fn snapshot_with_children(
    conn: &mut SqliteConnection,
    record_id: &str,
) -> StoreResult<Vec<RecordState>> {
    let mut out = Vec::new();
    let Some((job, row)) = load_record(conn, record_id).await? else {
        return Ok(out);
    };
    let customer = row.customer_id.clone();
    out.push(job);
    let children: Vec<String> = sqlx::query_scalar(
        "SELECT record_id FROM records WHERE job_id = ? AND record_type != 'invoice'",
    )
    .bind(record_id)
    .fetch_all(&mut *conn)
    .await?;
    for child in children
        .iter()
        .map(String::as_str)
        .chain(customer.as_deref())
    {
        if let Some((r, _)) = load_record(conn, child).await? {
            out.push(r);
        }
    }
    Ok(out)
}

#[async_trait]
impl Store for SqliteStore {
    async fn add_user(&self, user: NewUser, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("INSERT INTO users (name, display_name, role, team, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&user.name)
            .bind(&user.display_name)
            .bind(user.role.as_str())
            .bind(&user.team)
            .bind(&user.password_hash)
            .bind(now)
            .execute(&self.write)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("a user named {} already exists", user.name)),
                other => other,
            })?;
        Ok(())
    }

    async fn user_with_hash(&self, name: &str) -> StoreResult<Option<(User, String)>> {
        let row = sqlx::query_as::<_, (String, String, String, Option<String>, String)>(
            "SELECT name, display_name, role, team, password_hash FROM users WHERE name = ? AND disabled_at IS NULL",
        )
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        row.map(|(name, display_name, role, team, hash)| {
            let role = Role::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("bad role {role}")))?;
            Ok((
                User {
                    name,
                    display_name,
                    role,
                    team,
                },
                hash,
            ))
        })
        .transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows = sqlx::query_as::<_, (String, String, String, Option<String>)>(
            "SELECT name, display_name, role, team FROM users WHERE disabled_at IS NULL ORDER BY name",
        )
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(name, display_name, role, team)| {
                let role = Role::parse(&role)
                    .ok_or_else(|| StoreError::Corrupt(format!("bad role {role}")))?;
                Ok(User {
                    name,
                    display_name,
                    role,
                    team,
                })
            })
            .collect()
    }

    async fn register_device(
        &self,
        user: &str,
        device_name: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<DeviceId> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT device_id FROM devices WHERE user_name = ? AND name = ?")
                .bind(user)
                .bind(device_name)
                .fetch_optional(&mut *tx)
                .await?;
        let device_id = match existing {
            Some(id) => {
                // Signing in again on the same device keeps its id (and its reported outbox) and
                // replaces its token; a revoked device stays revoked until an admin says otherwise.
                let revoked: Option<String> =
                    sqlx::query_scalar("SELECT revoked_at FROM devices WHERE device_id = ?")
                        .bind(&id)
                        .fetch_one(&mut *tx)
                        .await?;
                if revoked.is_some() {
                    return Err(StoreError::Refused(
                        ErrorCode::Forbidden,
                        format!("the device {device_name} was revoked by an admin"),
                    ));
                }
                sqlx::query("UPDATE devices SET token_hash = ?, last_seen = ? WHERE device_id = ?")
                    .bind(token_hash)
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                parse(&id, "device id")?
            }
            None => {
                let id = DeviceId(Uuid::now_v7());
                sqlx::query("INSERT INTO devices (device_id, user_name, name, token_hash, created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?)")
                    .bind(id.to_string())
                    .bind(user)
                    .bind(device_name)
                    .bind(token_hash)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                id
            }
        };
        tx.commit().await?;
        Ok(device_id)
    }

    async fn device_by_token(&self, token_hash: &str) -> StoreResult<Option<DeviceAuth>> {
        let row = sqlx::query_as::<_, (String, String, String, String, Option<String>)>(
            "SELECT d.device_id, d.name, u.name, u.role, u.team FROM devices d JOIN users u ON u.name = d.user_name \
             WHERE d.token_hash = ? AND d.revoked_at IS NULL AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.read)
        .await?;
        row.map(|(device_id, device_name, user, role, team)| {
            Ok(DeviceAuth {
                device_id: parse(&device_id, "device id")?,
                device_name,
                author: Author {
                    user,
                    role: Role::parse(&role)
                        .ok_or_else(|| StoreError::Corrupt(format!("bad role {role}")))?,
                    team,
                },
            })
        })
        .transpose()
    }

    async fn list_devices(&self) -> StoreResult<Vec<DeviceInfo>> {
        #[derive(FromRow)]
        struct Row {
            device_id: String,
            name: String,
            user_name: String,
            display_name: String,
            role: String,
            team: Option<String>,
            created_at: DateTime<Utc>,
            last_seen: Option<DateTime<Utc>>,
            revoked_at: Option<DateTime<Utc>>,
            outbox_depth: Option<i64>,
            oldest_pending: Option<DateTime<Utc>>,
            last_pull_seq: Option<i64>,
        }
        let rows = sqlx::query_as::<_, Row>(
            "SELECT d.device_id, d.name, d.user_name, u.display_name, u.role, u.team, d.created_at, d.last_seen, d.revoked_at, \
             d.outbox_depth, d.oldest_pending, d.last_pull_seq FROM devices d JOIN users u ON u.name = d.user_name ORDER BY d.user_name, d.name",
        )
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(DeviceInfo {
                    device_id: parse(&r.device_id, "device id")?,
                    name: r.name,
                    user: r.user_name,
                    display_name: r.display_name,
                    role: Role::parse(&r.role)
                        .ok_or_else(|| StoreError::Corrupt(format!("bad role {}", r.role)))?,
                    team: r.team,
                    created_at: r.created_at,
                    last_seen: r.last_seen,
                    revoked_at: r.revoked_at,
                    outbox_depth: r.outbox_depth,
                    oldest_pending: r.oldest_pending,
                    last_pull_seq: r.last_pull_seq,
                })
            })
            .collect()
    }

    async fn revoke_device(&self, device_id: DeviceId, now: DateTime<Utc>) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE device_id = ?",
        )
        .bind(now)
        .bind(device_id.to_string())
        .execute(&self.write)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("no device {device_id}")));
        }
        Ok(())
    }

    async fn push(
        &self,
        device: &DeviceAuth,
        changes: &[Change],
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Outcome>> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let mut batch = Batch::begin(&mut tx, device, policy, now, changes).await?;
        let mut outcomes = Vec::with_capacity(changes.len());
        for change in changes {
            let outcome = push_one(&mut tx, &mut batch, change).await?;
            tracing::info!(
                change_id = %change.change_id,
                record = %format!("{}/{}", change.record_type, change.record_id),
                outcome = outcome.status.as_str(),
                code = outcome.code.as_deref().unwrap_or(""),
                replayed = outcome.replayed,
                "judged change"
            );
            outcomes.push(outcome);
        }
        batch.flush(&mut tx).await?;
        sqlx::query("UPDATE devices SET last_seen = ? WHERE device_id = ?")
            .bind(now)
            .bind(device.device_id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(outcomes)
    }

    async fn pull(
        &self,
        device: &DeviceAuth,
        after: i64,
        limit: i64,
        report: DeviceReport,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> StoreResult<PullResponse> {
        sqlx::query("UPDATE devices SET last_seen = ?, outbox_depth = ?, oldest_pending = ?, last_pull_seq = ? WHERE device_id = ?")
            .bind(now)
            .bind(report.outbox_depth)
            .bind(report.oldest_pending)
            .bind(after)
            .bind(device.device_id.to_string())
            .execute(&self.write)
            .await?;
        let author = &device.author;
        let mut conn = self.read.acquire().await?;
        let keys = owner_keys(author);
        let limit = limit.clamp(1, 1000);
        // Read the newest seq first and page only up to it: a commit that lands while this pull
        // runs is above the returned cursor, so it is never skipped.
        let newest: i64 = sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(seq) FROM changes")
            .fetch_one(&mut *conn)
            .await?
            .unwrap_or(0);
        let rows = if author.role.sees_everything() {
            sqlx::query_as::<_, ChangeRow>(&format!(
                "SELECT {CHANGE_COLUMNS} FROM changes WHERE status = 'applied' AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
            ))
            .bind(after)
            .bind(newest)
            .bind(limit + 1)
            .fetch_all(&mut *conn)
            .await?
        } else {
            sqlx::query_as::<_, ChangeRow>(&format!(
                "SELECT {CHANGE_COLUMNS} FROM changes WHERE status = 'applied' AND seq > ? AND seq <= ? AND ( \
                   (record_type IN ('job', 'job_note', 'part_line', 'photo', 'inspection', 'activity') AND scope_job IN \
                      (SELECT record_id FROM records WHERE record_type = 'job' AND owner IN (?, ?))) \
                   OR (record_type = 'customer' AND record_id IN \
                      (SELECT customer_id FROM records WHERE record_type = 'job' AND owner IN (?, ?)))) \
                 ORDER BY seq LIMIT ?"
            ))
            .bind(after)
            .bind(newest)
            .bind(&keys[0])
            .bind(&keys[1])
            .bind(&keys[0])
            .bind(&keys[1])
            .bind(limit + 1)
            .fetch_all(&mut *conn)
            .await?
        };
        let more = rows.len() as i64 > limit;
        let mut changes = Vec::with_capacity(rows.len());
        for row in rows.iter().take(limit as usize) {
            changes.push(row.pulled()?);
        }
        // The page ends at its last change; with nothing newer in scope, at the newest seq, so
        // an idle device's cursor keeps up and ownership moves below it are not asked for again.
        let next = match (more, changes.last()) {
            (true, Some(last)) => last.seq,
            _ => newest.max(after),
        };
        let moves = sqlx::query_as::<_, (i64, String, String, String, String, i64, String, DateTime<Utc>, Option<String>)>(
            "SELECT m.seq, m.record_type, m.record_id, m.from_owner, m.to_owner, m.owner_epoch, m.by_user, m.at, r.number \
             FROM ownership_moves m LEFT JOIN records r ON r.record_id = m.record_id WHERE m.seq > ? AND m.seq <= ? ORDER BY m.seq",
        )
        .bind(after)
        .bind(next)
        .fetch_all(&mut *conn)
        .await?;
        let mut ownership = Vec::new();
        let mut gained = Vec::new();
        for (seq, record_type, record_id, from, to, epoch, by, at, number) in moves {
            let concerns =
                author.role.sees_everything() || keys.contains(&from) || keys.contains(&to);
            if !concerns {
                continue;
            }
            if !author.role.sees_everything() && keys.contains(&to) {
                gained.push(record_id.clone());
            }
            ownership.push(OwnershipMove {
                seq,
                record_type: RecordType::parse(&record_type)
                    .ok_or_else(|| StoreError::Corrupt(format!("bad record type {record_type}")))?,
                record_id: parse(&record_id, "record id")?,
                number,
                from: owner_of(&from)?,
                to: owner_of(&to)?,
                owner_epoch: epoch,
                by,
                at,
            });
        }
        let mut records = Vec::new();
        gained.sort();
        gained.dedup();
        for record_id in gained {
            let snapshot = snapshot_with_children(&mut conn, &record_id).await?;
            // A job moved to this person and on to someone else within the page is not theirs.
            if snapshot
                .first()
                .is_some_and(|job| keys.contains(&job.owner.to_key()))
            {
                records.extend(snapshot);
            }
        }
        let review_rows = sqlx::query_as::<_, ReviewRow>(&format!(
            "{REVIEW_SELECT} WHERE r.state = 'open' ORDER BY r.created_at DESC LIMIT 500"
        ))
        .fetch_all(&mut *conn)
        .await?;
        let mut review = Vec::new();
        for row in review_rows {
            let item = row.item(policy)?;
            if item.resolvers.contains(&author.role) || row.incoming_author == author.user {
                review.push(item);
            }
        }
        Ok(PullResponse {
            changes,
            ownership,
            review,
            records,
            next,
            more,
        })
    }

    async fn max_seq(&self) -> StoreResult<i64> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM changes")
            .fetch_one(&self.read)
            .await?;
        Ok(max.unwrap_or(0))
    }

    async fn review_list(
        &self,
        author: &Author,
        policy: &Policy,
        include_resolved: bool,
    ) -> StoreResult<Vec<ReviewItem>> {
        let filter = if include_resolved {
            ""
        } else {
            " WHERE r.state = 'open'"
        };
        let rows = sqlx::query_as::<_, ReviewRow>(&format!(
            "{REVIEW_SELECT}{filter} ORDER BY r.created_at DESC, r.review_id DESC LIMIT 1000"
        ))
        .fetch_all(&self.read)
        .await?;
        let mut items = Vec::new();
        for row in rows {
            let item = row.item(policy)?;
            if item.resolvers.contains(&author.role) || row.incoming_author == author.user {
                items.push(item);
            }
        }
        Ok(items)
    }

    async fn open_review_count(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM review_items WHERE state = 'open'")
                .fetch_one(&self.read)
                .await?,
        )
    }

    async fn resolve(
        &self,
        device: &DeviceAuth,
        review_id: ReviewId,
        request: &ResolveRequest,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> StoreResult<(ReviewItem, Outcome)> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query_as::<_, ReviewRow>(&format!("{REVIEW_SELECT} WHERE r.review_id = ?"))
            .bind(review_id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no review item {review_id}")))?;
        let item = row.item(policy)?;
        // Who may resolve is answered before whether it still can be: a role without the right
        // learns nothing about the item's state.
        if !item.resolvers.contains(&device.author.role) {
            let names: Vec<&str> = item.resolvers.iter().map(Role::as_str).collect();
            return Err(StoreError::Refused(
                ErrorCode::Forbidden,
                format!("only {} may resolve this review item", names.join(" or ")),
            ));
        }
        if item.state != "open" {
            return Err(StoreError::Refused(
                ErrorCode::AlreadyResolved,
                format!(
                    "this item was already resolved by {}",
                    item.resolved_by.clone().unwrap_or_default()
                ),
            ));
        }
        let change: Change = serde_json::from_str(&row.change_json)?;
        let record_id = item.record_id.to_string();
        let (record, record_row) = load_record(&mut tx, &record_id).await?.ok_or_else(|| {
            StoreError::NotFound(format!("the record of review item {review_id} is gone"))
        })?;
        let held = HeldItem {
            kind: item.kind,
            group: item.group,
            change: &change,
        };
        let resolution = resolve(
            policy,
            &held,
            &record,
            &device.author,
            request.choice,
            request.values.as_ref(),
        )
        .map_err(|r| StoreError::Refused(r.code, r.message))?;
        // An ownership-moved edit applied now must still respect a lock that came since.
        if item.kind == ReviewKind::OwnershipMoved && request.choice == ResolveChoice::Incoming {
            if let Some(rule) = item.group.and_then(|g| policy.rule(record.record_type, g)) {
                if rule.locked_in.contains(&record.state) {
                    return Err(StoreError::Refused(
                        ErrorCode::RecordLocked,
                        format!(
                            "the record is {} now; reopen it before applying this edit",
                            record.state
                        ),
                    ));
                }
            }
        }
        let choice = match request.choice {
            ResolveChoice::Current => "current",
            ResolveChoice::Incoming => "incoming",
            ResolveChoice::Merged => "merged",
        };
        let outcome = match resolution {
            Resolution::Write {
                group,
                values,
                version,
                state,
            } => {
                write_group(
                    &mut tx,
                    &record_id,
                    group,
                    &values,
                    version,
                    state.as_deref(),
                    now,
                )
                .await?;
                let new_state = state.unwrap_or_else(|| record.state.clone());
                log_server_change(
                    &mut tx,
                    "resolution",
                    &record,
                    &record_row,
                    Some(group),
                    &values,
                    version,
                    &new_state,
                    device,
                    now,
                )
                .await?
            }
            Resolution::Keep => {
                let group = item.group;
                let version = group
                    .and_then(|g| record.group(g))
                    .map(|g| g.version)
                    .unwrap_or(0);
                // Nothing in the record changes, so the logged resolution names the version that
                // stands with the group's whole values, as every logged version carries them: a
                // device that applies it, or a later conflict's base side, sees the group as is.
                let values = group
                    .and_then(|g| record.group(g))
                    .map(|g| g.values.clone())
                    .unwrap_or_else(|| serde_json::json!({}));
                log_server_change(
                    &mut tx,
                    "resolution",
                    &record,
                    &record_row,
                    group,
                    &values,
                    version,
                    &record.state,
                    device,
                    now,
                )
                .await?
            }
        };
        sqlx::query("UPDATE review_items SET state = 'resolved', resolution = ?, resolved_by = ?, resolved_at = ? WHERE review_id = ?")
            .bind(choice)
            .bind(&device.author.user)
            .bind(now)
            .bind(review_id.to_string())
            .execute(&mut *tx)
            .await?;
        if let Some(group) = item.group {
            let still_open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM review_items WHERE record_id = ? AND grp = ? AND kind = 'conflict' AND state = 'open'",
            )
            .bind(&record_id)
            .bind(group.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if still_open == 0 {
                sqlx::query(
                    "UPDATE record_groups SET contested = 0 WHERE record_id = ? AND grp = ?",
                )
                .bind(&record_id)
                .bind(group.as_str())
                .execute(&mut *tx)
                .await?;
            }
        }
        let row = sqlx::query_as::<_, ReviewRow>(&format!("{REVIEW_SELECT} WHERE r.review_id = ?"))
            .bind(review_id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let item = row.item(policy)?;
        tx.commit().await?;
        tracing::info!(review_id = %review_id, choice, by = %device.author.user, "resolved review item");
        Ok((item, outcome))
    }

    async fn reassign(
        &self,
        device: &DeviceAuth,
        record_id: RecordId,
        to: &Owner,
        now: DateTime<Utc>,
    ) -> StoreResult<ReassignOutcome> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let id = record_id.to_string();
        let (record, row) = load_record(&mut tx, &id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no job {record_id}")))?;
        if record.record_type != RecordType::Job {
            return Err(StoreError::Refused(
                ErrorCode::BadRequest,
                format!("only jobs are reassigned; this is a {}", record.record_type),
            ));
        }
        if matches!(record.state.as_str(), "closed" | "voided" | "archived") {
            return Err(StoreError::Refused(
                ErrorCode::RecordLocked,
                format!(
                    "{} is {}; reopen it before reassigning",
                    record.number.clone().unwrap_or_default(),
                    record.state
                ),
            ));
        }
        if &record.owner == to {
            return Err(StoreError::Refused(
                ErrorCode::BadRequest,
                format!(
                    "{} already belongs to {to}",
                    record.number.clone().unwrap_or_default()
                ),
            ));
        }
        if let Owner::User(name) = to {
            let exists: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM users WHERE name = ? AND disabled_at IS NULL",
            )
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
            if exists == 0 {
                return Err(StoreError::Refused(
                    ErrorCode::BadRequest,
                    format!("there is no user named {name}"),
                ));
            }
        }
        let epoch = record.owner_epoch + 1;
        let from = record.owner.clone();
        // Part lines and inspections belong to the job's owner, so they move with it.
        let mut moved_ids = vec![id.clone()];
        let children: Vec<(String, String)> = sqlx::query_as(
            "SELECT record_id, record_type FROM records WHERE job_id = ? AND owner = ?",
        )
        .bind(&id)
        .bind(from.to_key())
        .fetch_all(&mut *tx)
        .await?;
        for (child, child_type) in children {
            let follows = RecordType::parse(&child_type)
                .is_some_and(|t| matches!(t, RecordType::PartLine | RecordType::Inspection));
            if follows {
                moved_ids.push(child);
            }
        }
        for moved in &moved_ids {
            // Remember who owned it under the epoch that ends here, so an edit its old owner
            // made offline is recognised (held) rather than refused as a stranger's.
            sqlx::query(
                "INSERT OR IGNORE INTO owner_history (record_id, epoch, owner) \
                 SELECT record_id, owner_epoch, owner FROM records WHERE record_id = ?",
            )
            .bind(moved)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE records SET owner = ?, owner_epoch = owner_epoch + 1, updated_at = ? WHERE record_id = ?")
                .bind(to.to_key())
                .bind(now)
                .bind(moved)
                .execute(&mut *tx)
                .await?;
        }
        let schedule = record
            .group(Group::Schedule)
            .map(|g| (g.version, g.values.clone()))
            .unwrap_or((0, Value::Null));
        let mut values = schedule.1.as_object().cloned().unwrap_or_default();
        let assignee = match to {
            Owner::User(name) => Value::String(name.clone()),
            Owner::Team(_) => Value::Null,
        };
        values.insert("assignee".into(), assignee);
        let values = Value::Object(values);
        let version = schedule.0 + 1;
        write_group(&mut tx, &id, Group::Schedule, &values, version, None, now).await?;
        let (updated, updated_row) = load_record(&mut tx, &id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no job {record_id}")))?;
        let outcome = log_server_change(
            &mut tx,
            "reassign",
            &updated,
            &updated_row,
            Some(Group::Schedule),
            &values,
            version,
            &updated.state,
            device,
            now,
        )
        .await?;
        let seq = outcome.seq.unwrap_or_default();
        sqlx::query("INSERT INTO ownership_moves (seq, record_type, record_id, from_owner, to_owner, owner_epoch, by_user, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(seq)
            .bind(record.record_type.as_str())
            .bind(&id)
            .bind(from.to_key())
            .bind(to.to_key())
            .bind(epoch)
            .bind(&device.author.user)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        drop(row);
        tx.commit().await?;
        tracing::info!(record = %id, from = %from, to = %to, epoch, "reassigned");
        Ok(ReassignOutcome {
            moved: OwnershipMove {
                seq,
                record_type: record.record_type,
                record_id,
                number: record.number.clone(),
                from,
                to: to.clone(),
                owner_epoch: epoch,
                by: device.author.user.clone(),
                at: now,
            },
            record: updated,
        })
    }

    async fn reopen(
        &self,
        device: &DeviceAuth,
        record_id: RecordId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Outcome> {
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let id = record_id.to_string();
        let (record, row) = load_record(&mut tx, &id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no job {record_id}")))?;
        if record.record_type != RecordType::Job {
            return Err(StoreError::Refused(
                ErrorCode::BadRequest,
                format!("only jobs are reopened; this is a {}", record.record_type),
            ));
        }
        if !matches!(record.state.as_str(), "closed" | "signed_off") {
            return Err(StoreError::Refused(
                ErrorCode::InvalidTransition,
                format!(
                    "{} is {}; only a signed-off or closed job is reopened",
                    record.number.clone().unwrap_or_default(),
                    record.state
                ),
            ));
        }
        let status = record
            .group(Group::Status)
            .map(|g| (g.version, g.values.clone()))
            .unwrap_or((0, Value::Null));
        let mut values = status.1.as_object().cloned().unwrap_or_default();
        // The earlier visit's signature, work and times stay: copied into the visit list, and
        // left in their groups until the new visit writes its own.
        let mut visits = values
            .get("visits")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        visits.push(serde_json::json!({
            "state": record.state,
            "signature": record.group(Group::Signature).map(|g| g.values.clone()),
            "work": record.group(Group::Work).map(|g| g.values.clone()),
            "reopened_at": now,
            "reopened_by": device.author.user,
            "reason": reason,
        }));
        values.insert("visit".into(), Value::from(visits.len() as i64 + 1));
        values.insert("visits".into(), Value::Array(visits));
        values.insert("previous_state".into(), Value::String(record.state.clone()));
        values.insert("state".into(), Value::String("reopened".into()));
        values.remove("reason");
        let values = Value::Object(values);
        let version = status.0 + 1;
        write_group(
            &mut tx,
            &id,
            Group::Status,
            &values,
            version,
            Some("reopened"),
            now,
        )
        .await?;
        let outcome = log_server_change(
            &mut tx,
            "reopen",
            &record,
            &row,
            Some(Group::Status),
            &values,
            version,
            "reopened",
            device,
            now,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(record = %id, by = %device.author.user, "reopened");
        Ok(outcome)
    }

    async fn history(
        &self,
        author: &Author,
        record_type: RecordType,
        record_id: RecordId,
    ) -> StoreResult<RecordHistory> {
        let mut conn = self.read.acquire().await?;
        let id = record_id.to_string();
        let not_found = || StoreError::NotFound(format!("no {record_type} {record_id}"));
        let (record, row) = load_record(&mut conn, &id).await?.ok_or_else(not_found)?;
        // Out of scope reads the same as missing, so a technician learns nothing of others' jobs.
        if record.record_type != record_type || !in_scope(&mut conn, author, &record, &row).await? {
            return Err(not_found());
        }
        let rows = sqlx::query_as::<_, ChangeRow>(&format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE record_id = ? ORDER BY seq"
        ))
        .bind(&id)
        .fetch_all(&mut *conn)
        .await?;
        let entries = rows
            .iter()
            .map(ChangeRow::history)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(RecordHistory { record, entries })
    }

    async fn file_status(&self, sha256: &str) -> StoreResult<Option<FileStatus>> {
        let row = sqlx::query_as::<_, (i64, i64, bool)>(
            "SELECT length, received, complete FROM files WHERE sha256 = ?",
        )
        .bind(sha256)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|(length, received, complete)| FileStatus {
            length,
            received,
            complete,
        }))
    }

    async fn file_begin(
        &self,
        sha256: &str,
        length: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<FileStatus> {
        sqlx::query("INSERT INTO files (sha256, length, received, created_at, created_by) VALUES (?, ?, 0, ?, ?) ON CONFLICT (sha256) DO NOTHING")
            .bind(sha256)
            .bind(length)
            .bind(now)
            .bind(by)
            .execute(&self.write)
            .await?;
        let row = sqlx::query_as::<_, (i64, i64, bool)>(
            "SELECT length, received, complete FROM files WHERE sha256 = ?",
        )
        .bind(sha256)
        .fetch_one(&self.write)
        .await?;
        Ok(FileStatus {
            length: row.0,
            received: row.1,
            complete: row.2,
        })
    }

    async fn file_progress(
        &self,
        sha256: &str,
        received: i64,
        complete: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE files SET received = ?, complete = ?, completed_at = CASE WHEN ? THEN ? ELSE completed_at END WHERE sha256 = ?")
            .bind(received)
            .bind(complete)
            .bind(complete)
            .bind(now)
            .bind(sha256)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
