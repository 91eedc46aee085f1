//! The embedded store: one SQLite file in WAL mode, one writer at a time.
//!
//! Writes go through a pool of one connection and open with `BEGIN IMMEDIATE`, so a write
//! transaction takes the database's write lock before it reads what it judges: no other writer
//! runs until it commits. That is why the locking steps of [`Tx`] do nothing here, and why
//! `MAX(seq) + 1` is the next seq. Readers use their own pool and never block the writer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fieldsync_core::RecordType;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::path::Path;
use std::time::Duration;

use super::backend::{Backend, Tx};
use super::rows::{
    finished_job_states, AccountRow, AdminEventRow, AppliedRow, ChangeRow, ChildRow, DeviceRow,
    ExistingRow, FileRef, GroupRow, GroupWrite, MoveRow, NewChange, NewMove, NewRecord, NewReview,
    OpenJobRow, RecordRow, RecordUpdate, ReportRow, ReviewFilter, ReviewRow, TokenRow, UserRow,
    CHANGE_COLUMNS, REPORT_SELECT, REVIEW_SELECT,
};
use super::{DeviceReport, FileStatus, NewUser, StoreError, StoreResult};

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
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
}

/// A write transaction, or a connection for reading.
pub(crate) enum SqliteTx {
    Write(Transaction<'static, Sqlite>),
    Read(PoolConnection<Sqlite>),
}

impl SqliteTx {
    fn conn(&mut self) -> &mut SqliteConnection {
        match self {
            SqliteTx::Write(tx) => tx,
            SqliteTx::Read(conn) => conn,
        }
    }
}

#[async_trait]
impl Backend for SqliteStore {
    type Tx = SqliteTx;

    async fn write(&self) -> StoreResult<SqliteTx> {
        Ok(SqliteTx::Write(
            self.write.begin_with("BEGIN IMMEDIATE").await?,
        ))
    }

    async fn read(&self) -> StoreResult<SqliteTx> {
        Ok(SqliteTx::Read(self.read.acquire().await?))
    }

    /// Closes both pools, checkpointing the WAL.
    async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Rows per multi-row statement: well under SQLite's limit on bound parameters.
const ROWS_PER_STATEMENT: usize = 200;

#[async_trait]
impl Tx for SqliteTx {
    async fn commit(self) -> StoreResult<()> {
        if let SqliteTx::Write(tx) = self {
            tx.commit().await?;
        }
        Ok(())
    }

    async fn insert_user(&mut self, user: &NewUser, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("INSERT INTO users (name, display_name, role, team, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&user.name)
            .bind(&user.display_name)
            .bind(user.role.as_str())
            .bind(&user.team)
            .bind(&user.password_hash)
            .bind(now)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn user_with_hash(&mut self, name: &str) -> StoreResult<Option<(UserRow, String)>> {
        let row = sqlx::query_as::<_, (String, String, String, Option<String>, String)>(
            "SELECT name, display_name, role, team, password_hash FROM users WHERE name = ? AND disabled_at IS NULL",
        )
        .bind(name)
        .fetch_optional(self.conn())
        .await?;
        Ok(row.map(|(name, display_name, role, team, hash)| {
            (
                UserRow {
                    name,
                    display_name,
                    role,
                    team,
                },
                hash,
            )
        }))
    }

    async fn users(&mut self) -> StoreResult<Vec<UserRow>> {
        Ok(sqlx::query_as(
            "SELECT name, display_name, role, team FROM users WHERE disabled_at IS NULL ORDER BY name",
        )
        .fetch_all(self.conn())
        .await?)
    }

    async fn user_exists(&mut self, name: &str) -> StoreResult<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE name = ? AND disabled_at IS NULL")
                .bind(name)
                .fetch_one(self.conn())
                .await?;
        Ok(n > 0)
    }

    async fn device_named(
        &mut self,
        user: &str,
        name: &str,
    ) -> StoreResult<Option<(String, Option<DateTime<Utc>>)>> {
        Ok(sqlx::query_as(
            "SELECT device_id, revoked_at FROM devices WHERE user_name = ? AND name = ?",
        )
        .bind(user)
        .bind(name)
        .fetch_optional(self.conn())
        .await?)
    }

    async fn set_device_token(
        &mut self,
        device_id: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE devices SET token_hash = ?, last_seen = ?, revoked_at = NULL WHERE device_id = ?")
            .bind(token_hash)
            .bind(now)
            .bind(device_id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn insert_device(
        &mut self,
        device_id: &str,
        user: &str,
        name: &str,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO devices (device_id, user_name, name, token_hash, created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(device_id)
            .bind(user)
            .bind(name)
            .bind(token_hash)
            .bind(now)
            .bind(now)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn device_by_token(&mut self, token_hash: &str) -> StoreResult<Option<TokenRow>> {
        Ok(sqlx::query_as(
            "SELECT d.device_id, d.name AS device_name, u.name AS user_name, u.role, u.team FROM devices d \
             JOIN users u ON u.name = d.user_name \
             WHERE d.token_hash = ? AND d.revoked_at IS NULL AND u.disabled_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(self.conn())
        .await?)
    }

    async fn devices(&mut self) -> StoreResult<Vec<DeviceRow>> {
        Ok(sqlx::query_as(
            "SELECT d.device_id, d.name, d.user_name, u.display_name, u.role, u.team, d.created_at, d.last_seen, d.revoked_at, \
             d.outbox_depth, d.oldest_pending, d.last_pull_seq FROM devices d JOIN users u ON u.name = d.user_name ORDER BY d.user_name, d.name",
        )
        .fetch_all(self.conn())
        .await?)
    }

    async fn revoke_device(&mut self, device_id: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE device_id = ?",
        )
        .bind(now)
        .bind(device_id)
        .execute(self.conn())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn accounts(&mut self) -> StoreResult<Vec<AccountRow>> {
        Ok(sqlx::query_as(
            "SELECT name, display_name, role, team, created_at, disabled_at, must_change_password FROM users ORDER BY name",
        )
        .fetch_all(self.conn())
        .await?)
    }

    async fn account(&mut self, name: &str) -> StoreResult<Option<AccountRow>> {
        Ok(sqlx::query_as(
            "SELECT name, display_name, role, team, created_at, disabled_at, must_change_password FROM users WHERE name = ?",
        )
        .bind(name)
        .fetch_optional(self.conn())
        .await?)
    }

    async fn update_account(&mut self, row: &AccountRow) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET display_name = ?, role = ?, team = ?, disabled_at = ?, must_change_password = ? WHERE name = ?",
        )
        .bind(&row.display_name)
        .bind(&row.role)
        .bind(&row.team)
        .bind(row.disabled_at)
        .bind(row.must_change_password)
        .bind(&row.name)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn set_password(&mut self, name: &str, hash: &str, must_change: bool) -> StoreResult<()> {
        sqlx::query("UPDATE users SET password_hash = ?, must_change_password = ? WHERE name = ?")
            .bind(hash)
            .bind(must_change)
            .bind(name)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn insert_admin_event(&mut self, event: &AdminEventRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO admin_log (id, at, by_user, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&event.id)
        .bind(event.at)
        .bind(&event.by_user)
        .bind(&event.action)
        .bind(&event.target)
        .bind(&event.detail)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn admin_events(&mut self) -> StoreResult<Vec<AdminEventRow>> {
        Ok(sqlx::query_as(
            "SELECT id, at, by_user, action, target, detail FROM admin_log ORDER BY at, id",
        )
        .fetch_all(self.conn())
        .await?)
    }

    async fn device_seen(&mut self, device_id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE devices SET last_seen = ? WHERE device_id = ?")
            .bind(now)
            .bind(device_id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn device_pulled(
        &mut self,
        device_id: &str,
        now: DateTime<Utc>,
        report: DeviceReport,
        after: i64,
    ) -> StoreResult<()> {
        // A device paging through a catch-up is written at most every few seconds while what it
        // reports stays the same: an UPDATE that matches nothing commits without a disk flush.
        sqlx::query(
            "UPDATE devices SET last_seen = ?, outbox_depth = ?, oldest_pending = ?, last_pull_seq = ? \
             WHERE device_id = ? AND NOT (last_seen IS NOT NULL AND last_seen > ? \
             AND outbox_depth IS ? AND oldest_pending IS ?)",
        )
            .bind(now)
            .bind(report.outbox_depth)
            .bind(report.oldest_pending)
            .bind(after)
            .bind(device_id)
            .bind(now - super::SEEN_AGAIN_AFTER)
            .bind(report.outbox_depth)
            .bind(report.oldest_pending)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn record_row(&mut self, record_id: &str) -> StoreResult<Option<RecordRow>> {
        Ok(sqlx::query_as(
            "SELECT record_id, record_type, number, owner, owner_epoch, state, job_id, customer_id \
             FROM records WHERE record_id = ?",
        )
        .bind(record_id)
        .fetch_optional(self.conn())
        .await?)
    }

    async fn group_rows(&mut self, record_id: &str) -> StoreResult<Vec<GroupRow>> {
        Ok(sqlx::query_as(
            "SELECT grp, version, vals, contested FROM record_groups WHERE record_id = ?",
        )
        .bind(record_id)
        .fetch_all(self.conn())
        .await?)
    }

    async fn owner_history(&mut self, record_id: &str) -> StoreResult<Vec<(i64, String)>> {
        Ok(
            sqlx::query_as("SELECT epoch, owner FROM owner_history WHERE record_id = ?")
                .bind(record_id)
                .fetch_all(self.conn())
                .await?,
        )
    }

    async fn existing_records(&mut self, ids: &[String]) -> StoreResult<Vec<ExistingRow>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT record_id, job_id FROM records WHERE record_id IN (",
            );
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            query.push(")");
            out.extend(query.build_query_as().fetch_all(self.conn()).await?);
        }
        Ok(out)
    }

    async fn lock_records(&mut self, _ids: &[String]) -> StoreResult<()> {
        // BEGIN IMMEDIATE holds the write lock already.
        Ok(())
    }

    async fn lock_customers(&mut self, _customer_ids: &[String]) -> StoreResult<()> {
        Ok(())
    }

    async fn open_jobs_of_customer(&mut self, customer_id: &str) -> StoreResult<Vec<OpenJobRow>> {
        Ok(sqlx::query_as(
            "SELECT record_id, number, site, window_start, state FROM records \
             WHERE record_type = 'job' AND customer_id = ? \
             AND state NOT IN (SELECT value FROM json_each(?))",
        )
        .bind(customer_id)
        .bind(serde_json::to_string(&finished_job_states())?)
        .fetch_all(self.conn())
        .await?)
    }

    async fn jobs_of_customer_owned(
        &mut self,
        customer_id: &str,
        owners: &[String; 2],
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM records WHERE record_type = 'job' AND customer_id = ? AND owner IN (?, ?)",
        )
        .bind(customer_id)
        .bind(&owners[0])
        .bind(&owners[1])
        .fetch_one(self.conn())
        .await?)
    }

    async fn record_owner(&mut self, record_id: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT owner FROM records WHERE record_id = ?")
                .bind(record_id)
                .fetch_optional(self.conn())
                .await?,
        )
    }

    async fn children(&mut self, job_id: &str) -> StoreResult<Vec<ChildRow>> {
        Ok(sqlx::query_as(
            "SELECT record_id, record_type, owner FROM records WHERE job_id = ? ORDER BY record_id",
        )
        .bind(job_id)
        .fetch_all(self.conn())
        .await?)
    }

    async fn insert_records(&mut self, rows: &[NewRecord]) -> StoreResult<()> {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO records (record_id, record_type, number, owner, owner_epoch, state, job_id, customer_id, site, \
                 window_start, created_at, created_by, updated_at) ",
            );
            query.push_values(chunk, |mut b, r| {
                b.push_bind(&r.record_id)
                    .push_bind(r.record_type)
                    .push_bind(&r.number)
                    .push_bind(&r.owner)
                    .push_bind(r.owner_epoch)
                    .push_bind(&r.state)
                    .push_bind(&r.job_id)
                    .push_bind(&r.customer_id)
                    .push_bind(&r.site)
                    .push_bind(&r.window_start)
                    .push_bind(r.created_at)
                    .push_bind(&r.created_by)
                    .push_bind(r.created_at);
            });
            query.build().execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn upsert_groups(&mut self, rows: &[GroupWrite]) -> StoreResult<()> {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO record_groups (record_id, grp, version, vals, contested) ",
            );
            query.push_values(chunk, |mut b, g| {
                b.push_bind(&g.record_id)
                    .push_bind(g.group)
                    .push_bind(g.version)
                    .push_bind(&g.values)
                    .push_bind(g.contested);
            });
            query.push(
                " ON CONFLICT (record_id, grp) DO UPDATE SET version = excluded.version, vals = excluded.vals, \
                 contested = excluded.contested",
            );
            query.build().execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn update_records(&mut self, rows: &[RecordUpdate]) -> StoreResult<()> {
        for r in rows {
            sqlx::query(
                "UPDATE records SET state = COALESCE(?, state), site = COALESCE(?, site), \
                 window_start = COALESCE(?, window_start), updated_at = ? WHERE record_id = ?",
            )
            .bind(&r.state)
            .bind(&r.site)
            .bind(&r.window_start)
            .bind(r.updated_at)
            .bind(&r.record_id)
            .execute(self.conn())
            .await?;
        }
        Ok(())
    }

    async fn move_owner(
        &mut self,
        ids: &[String],
        to: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        for id in ids {
            sqlx::query(
                "INSERT OR IGNORE INTO owner_history (record_id, epoch, owner) \
                 SELECT record_id, owner_epoch, owner FROM records WHERE record_id = ?",
            )
            .bind(id)
            .execute(self.conn())
            .await?;
            sqlx::query("UPDATE records SET owner = ?, owner_epoch = owner_epoch + 1, updated_at = ? WHERE record_id = ?")
                .bind(to)
                .bind(now)
                .bind(id)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    async fn reserve_numbers(
        &mut self,
        record_type: RecordType,
        count: i64,
    ) -> StoreResult<Vec<i64>> {
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO counters (record_type, last) VALUES (?, ?) \
             ON CONFLICT (record_type) DO UPDATE SET last = last + excluded.last RETURNING last",
        )
        .bind(record_type.as_str())
        .bind(count)
        .fetch_one(self.conn())
        .await?;
        Ok((last - count + 1..=last).collect())
    }

    async fn release_numbers(
        &mut self,
        record_type: RecordType,
        first_unused: i64,
        last_reserved: i64,
    ) -> StoreResult<()> {
        // One writer at a time: nobody took a number since, so the counter goes back and the
        // numbers stay without gaps.
        sqlx::query("UPDATE counters SET last = ? WHERE record_type = ? AND last = ?")
            .bind(first_unused - 1)
            .bind(record_type.as_str())
            .bind(last_reserved)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn claim_seq(&mut self) -> StoreResult<i64> {
        // The write lock of BEGIN IMMEDIATE is held until commit: nothing else adds to the log.
        Ok(self.max_seq().await? + 1)
    }

    async fn max_seq(&mut self) -> StoreResult<i64> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM changes")
            .fetch_one(self.conn())
            .await?;
        Ok(max.unwrap_or(0))
    }

    async fn insert_changes(&mut self, rows: &[NewChange]) -> StoreResult<()> {
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "INSERT INTO changes (seq, change_id, kind, record_type, record_id, grp, op, base_version, vals, owner_epoch, \
                 device_time, author, device_id, server_time, status, version, number, owner, state, scope_job, review_id, code, outcome) ",
            );
            query.push_values(chunk, |mut b, r| {
                b.push_bind(r.seq)
                    .push_bind(&r.change_id)
                    .push_bind(&r.kind)
                    .push_bind(r.record_type)
                    .push_bind(&r.record_id)
                    .push_bind(r.group)
                    .push_bind(r.op)
                    .push_bind(r.base_version)
                    .push_bind(&r.values)
                    .push_bind(r.owner_epoch)
                    .push_bind(r.device_time)
                    .push_bind(&r.author)
                    .push_bind(&r.device_id)
                    .push_bind(r.server_time)
                    .push_bind(r.status)
                    .push_bind(r.version)
                    .push_bind(&r.number)
                    .push_bind(&r.owner)
                    .push_bind(&r.state)
                    .push_bind(&r.scope_job)
                    .push_bind(&r.review_id)
                    .push_bind(&r.code)
                    .push_bind(&r.outcome);
            });
            query.build().execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn stored_outcomes(
        &mut self,
        change_ids: &[String],
    ) -> StoreResult<Vec<(String, String)>> {
        let mut out = Vec::new();
        for chunk in change_ids.chunks(ROWS_PER_STATEMENT) {
            let mut query = QueryBuilder::<Sqlite>::new(
                "SELECT change_id, outcome FROM changes WHERE change_id IN (",
            );
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            query.push(")");
            out.extend(query.build_query_as().fetch_all(self.conn()).await?);
        }
        Ok(out)
    }

    async fn applied_change(
        &mut self,
        record_id: &str,
        group: &str,
        version: i64,
    ) -> StoreResult<Option<AppliedRow>> {
        Ok(sqlx::query_as(
            "SELECT op, vals, author, device_id, server_time, device_time FROM changes \
             WHERE record_id = ? AND status = 'applied' AND version = ? AND (grp = ? OR op = 'create') \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(record_id)
        .bind(version)
        .bind(group)
        .fetch_optional(self.conn())
        .await?)
    }

    async fn device_name(&mut self, device_id: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM devices WHERE device_id = ?")
                .bind(device_id)
                .fetch_optional(self.conn())
                .await?,
        )
    }

    async fn pulled_changes(
        &mut self,
        after: i64,
        upto: i64,
        limit: i64,
        scope: Option<&[String; 2]>,
    ) -> StoreResult<Vec<ChangeRow>> {
        let rows = match scope {
            None => {
                page_of_changes(
                    self.conn(),
                    "WHERE status = 'applied' AND seq > ? AND seq <= ?",
                    None,
                    after,
                    upto,
                    limit,
                )
                .await?
            }
            Some(keys) => {
                // One index seek per job and customer in scope, each at most a page long, then
                // merged: a single query with an OR of two IN lists makes SQLite gather and sort
                // every remaining change in scope for each page, so a catch-up grew with the
                // square of its size.
                let jobs: Vec<String> = sqlx::query_scalar(
                    "SELECT record_id FROM records WHERE record_type = 'job' AND owner IN (?, ?)",
                )
                .bind(&keys[0])
                .bind(&keys[1])
                .fetch_all(self.conn())
                .await?;
                let customers: Vec<String> = sqlx::query_scalar(
                    "SELECT DISTINCT customer_id FROM records WHERE record_type = 'job' AND owner IN (?, ?) \
                     AND customer_id IS NOT NULL",
                )
                .bind(&keys[0])
                .bind(&keys[1])
                .fetch_all(self.conn())
                .await?;
                let mut rows: Vec<ChangeRow> = Vec::new();
                for job in &jobs {
                    rows.extend(
                        page_of_changes(
                            self.conn(),
                            "WHERE scope_job = ? AND seq > ? AND seq <= ? AND status = 'applied' \
                             AND record_type IN ('job', 'job_note', 'part_line', 'photo', 'inspection', 'activity')",
                            Some(job),
                            after,
                            upto,
                            limit,
                        )
                        .await?,
                    );
                }
                for customer in &customers {
                    rows.extend(
                        page_of_changes(
                            self.conn(),
                            "WHERE record_id = ? AND seq > ? AND seq <= ? AND status = 'applied' \
                             AND record_type = 'customer'",
                            Some(customer),
                            after,
                            upto,
                            limit,
                        )
                        .await?,
                    );
                }
                rows.sort_by_key(|r| r.seq);
                rows.dedup_by_key(|r| r.seq);
                rows.truncate(usize::try_from(limit).unwrap_or(0));
                rows
            }
        };
        Ok(rows)
    }

    async fn record_changes(&mut self, record_id: &str) -> StoreResult<Vec<ChangeRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE record_id = ? ORDER BY seq"
        ))
        .bind(record_id)
        .fetch_all(self.conn())
        .await?)
    }

    async fn ownership_moves(&mut self, after: i64, upto: i64) -> StoreResult<Vec<MoveRow>> {
        Ok(sqlx::query_as(
            "SELECT m.seq, m.record_type, m.record_id, m.from_owner, m.to_owner, m.owner_epoch, m.by_user, m.at, r.number \
             FROM ownership_moves m LEFT JOIN records r ON r.record_id = m.record_id WHERE m.seq > ? AND m.seq <= ? ORDER BY m.seq",
        )
        .bind(after)
        .bind(upto)
        .fetch_all(self.conn())
        .await?)
    }

    async fn insert_move(&mut self, m: &NewMove) -> StoreResult<()> {
        sqlx::query("INSERT INTO ownership_moves (seq, record_type, record_id, from_owner, to_owner, owner_epoch, by_user, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(m.seq)
            .bind(m.record_type)
            .bind(&m.record_id)
            .bind(&m.from_owner)
            .bind(&m.to_owner)
            .bind(m.owner_epoch)
            .bind(&m.by_user)
            .bind(m.at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn announce(&mut self, _seq: i64) -> StoreResult<()> {
        // One file, one server: there is no other instance to tell.
        Ok(())
    }

    async fn insert_review(&mut self, r: &NewReview) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO review_items (review_id, kind, record_type, record_id, grp, change_id, change_json, base, current, \
             incoming, matched_record_id, incoming_author, created_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')",
        )
        .bind(&r.review_id)
        .bind(r.kind)
        .bind(r.record_type)
        .bind(&r.record_id)
        .bind(r.group)
        .bind(&r.change_id)
        .bind(&r.change_json)
        .bind(&r.base)
        .bind(&r.current)
        .bind(&r.incoming)
        .bind(&r.matched_record_id)
        .bind(&r.incoming_author)
        .bind(r.created_at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn review_rows(&mut self, filter: &ReviewFilter) -> StoreResult<Vec<ReviewRow>> {
        let open = if filter.all {
            ""
        } else {
            " AND r.state = 'open'"
        };
        let after = if filter.before.is_some() {
            " AND (r.created_at < ? OR (r.created_at = ? AND r.review_id < ?))"
        } else {
            ""
        };
        let sql = format!(
            "{REVIEW_SELECT} WHERE (r.incoming_author = ? \
             OR r.kind IN (SELECT value FROM json_each(?)) \
             OR (r.kind = 'conflict' AND r.record_type || '.' || COALESCE(r.grp, '') \
                 IN (SELECT value FROM json_each(?)))){open}{after} \
             ORDER BY r.created_at DESC, r.review_id DESC LIMIT ?"
        );
        let mut query = sqlx::query_as(&sql)
            .bind(&filter.author)
            .bind(serde_json::to_string(&filter.kinds)?)
            .bind(serde_json::to_string(&filter.conflict_groups)?);
        if let Some((at, id)) = &filter.before {
            query = query.bind(*at).bind(*at).bind(id);
        }
        Ok(query.bind(filter.limit).fetch_all(self.conn()).await?)
    }

    async fn review_row(&mut self, review_id: &str) -> StoreResult<Option<ReviewRow>> {
        Ok(
            sqlx::query_as(&format!("{REVIEW_SELECT} WHERE r.review_id = ?"))
                .bind(review_id)
                .fetch_optional(self.conn())
                .await?,
        )
    }

    async fn mark_resolved(
        &mut self,
        review_id: &str,
        choice: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE review_items SET state = 'resolved', resolution = ?, resolved_by = ?, resolved_at = ? WHERE review_id = ?")
            .bind(choice)
            .bind(by)
            .bind(now)
            .bind(review_id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn open_conflicts(&mut self, record_id: &str, group: &str) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM review_items WHERE record_id = ? AND grp = ? AND kind = 'conflict' AND state = 'open'",
        )
        .bind(record_id)
        .bind(group)
        .fetch_one(self.conn())
        .await?)
    }

    async fn clear_contested(&mut self, record_id: &str, group: &str) -> StoreResult<()> {
        sqlx::query("UPDATE record_groups SET contested = 0 WHERE record_id = ? AND grp = ?")
            .bind(record_id)
            .bind(group)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn open_review_count(&mut self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM review_items WHERE state = 'open'")
                .fetch_one(self.conn())
                .await?,
        )
    }

    async fn report_changes(
        &mut self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        slow_secs: i64,
    ) -> StoreResult<Vec<ReportRow>> {
        // Times are stored as RFC 3339 text in one format, so they compare as text; julianday
        // reads them (with their offset) for the delay. A scan of the period's log: an index on
        // server_time would cost every push another write for a query run once a week.
        Ok(sqlx::query_as(&format!(
            "{REPORT_SELECT} WHERE c.kind = 'change' AND c.server_time >= ? AND c.server_time <= ? \
             AND (c.status <> 'applied' OR c.review_id IS NOT NULL \
             OR (julianday(c.server_time) - julianday(c.device_time)) * 86400.0 >= ?) ORDER BY c.seq"
        ))
        .bind(since)
        .bind(until)
        .bind((slow_secs - 1) as f64)
        .fetch_all(self.conn())
        .await?)
    }

    async fn file_status(&mut self, sha256: &str) -> StoreResult<Option<FileStatus>> {
        let row = sqlx::query_as::<_, (i64, i64, bool, String)>(
            "SELECT length, received, complete, created_by FROM files WHERE sha256 = ?",
        )
        .bind(sha256)
        .fetch_optional(self.conn())
        .await?;
        Ok(
            row.map(|(length, received, complete, created_by)| FileStatus {
                length,
                received,
                complete,
                created_by,
            }),
        )
    }

    async fn insert_file(
        &mut self,
        sha256: &str,
        length: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("INSERT INTO files (sha256, length, received, created_at, created_by) VALUES (?, ?, 0, ?, ?) ON CONFLICT (sha256) DO NOTHING")
            .bind(sha256)
            .bind(length)
            .bind(now)
            .bind(by)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn file_progress(
        &mut self,
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
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn insert_file_refs(&mut self, refs: &[FileRef]) -> StoreResult<()> {
        for chunk in refs.chunks(ROWS_PER_STATEMENT) {
            let mut query =
                QueryBuilder::<Sqlite>::new("INSERT OR IGNORE INTO file_refs (sha256, record_id) ");
            query.push_values(chunk, |mut b, r| {
                b.push_bind(&r.sha256).push_bind(&r.record_id);
            });
            query.build().execute(self.conn()).await?;
        }
        Ok(())
    }

    async fn records_naming_file(&mut self, sha256: &str) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT record_id FROM file_refs WHERE sha256 = ? ORDER BY record_id",
        )
        .bind(sha256)
        .fetch_all(self.conn())
        .await?)
    }
}

/// A page of the change log (`filter` with an optional key, then `seq > after`, `seq <= upto`),
/// oldest first, read as ONE row: SQLite builds the page as a JSON array of rows and serde reads
/// it. sqlx hands each result row from its SQLite thread to the caller on its own, and for a
/// thousand rows a page those hand-overs cost more than the query (a fresh device's catch-up is
/// a hundred such pages).
async fn page_of_changes(
    conn: &mut SqliteConnection,
    filter: &str,
    key: Option<&str>,
    after: i64,
    upto: i64,
    limit: i64,
) -> StoreResult<Vec<ChangeRow>> {
    let sql = format!(
        "SELECT json_group_array(json_array({CHANGE_COLUMNS})) FROM \
         (SELECT {CHANGE_COLUMNS} FROM changes {filter} ORDER BY seq LIMIT ?)"
    );
    let mut query = sqlx::query_scalar::<_, String>(&sql);
    if let Some(key) = key {
        query = query.bind(key);
    }
    let page = query
        .bind(after)
        .bind(upto)
        .bind(limit)
        .fetch_one(conn)
        .await?;
    let mut rows: Vec<ChangeRow> = serde_json::from_str(&page)?;
    // The page is built in seq order; sorting what is already sorted costs nothing and does not
    // lean on how SQLite feeds an aggregate.
    rows.sort_by_key(|r| r.seq);
    Ok(rows)
}
