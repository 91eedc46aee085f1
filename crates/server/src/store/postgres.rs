//! The shared store: PostgreSQL, for several stateless server instances on one database.
//!
//! # What keeps concurrent instances right
//!
//! Write transactions run at READ COMMITTED (named explicitly at BEGIN, whatever the server's
//! default), and the database decides every race with locks that last until commit:
//!
//! - **Records**: a write first locks, with `SELECT … ORDER BY record_id FOR UPDATE` in one
//!   statement, every existing record it will judge against together with the jobs they hang
//!   off (a note on a signed-off job is refused, so the job must not change under it). Every
//!   writer of a record's groups, state or owner does so before reading it (`lock_records`),
//!   and locks are taken in id order, so two writers never both judge against the same
//!   version: the second waits, and at READ COMMITTED each of its later statements sees what
//!   the first committed. This is what makes two colliding manual-review changes come out as
//!   one `applied` and one `held`, and two last-write-wins changes as two applied in order.
//! - **New records and change ids** cannot be locked before they exist; their primary keys and
//!   `changes.change_id UNIQUE` decide instead. A transaction that meets a key another one
//!   took meanwhile fails with a unique violation, and the store runs it again from the start
//!   (`engine.rs`, `retrying`): the second attempt finds the stored outcome and answers it,
//!   marked `replayed`, so the same change sent to two instances is applied once and both
//!   answers agree.
//! - **Possible duplicates**: two new jobs for one customer must see each other, so a batch
//!   takes a transaction-level advisory lock per customer it creates jobs for (sorted).
//! - **`seq`**: see [`Tx::claim_seq`] below: a transaction-level advisory lock on the end of the
//!   change log, held until commit, so commit order is seq order and a pull that read the
//!   newest seq never misses a change that commits later with a lower one.
//! - **Human numbers** come from one sequence per record type: never twice, never waiting.
//!
//! Lock order, the same in every transaction so they cannot wait on each other in a circle:
//! device row → review item → records (by id) → customers (by id) → the log's end. A deadlock
//! PostgreSQL still finds (a key wait across two batches) is broken by it and retried.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fieldsync_core::RecordType;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use super::backend::{Backend, PokeFn, Tx};
use super::rows::{
    finished_job_states, AccountRow, AdminEventRow, AppliedRow, ChangeRow, ChildRow, DeviceRow,
    ExistingRow, FileRef, GroupRow, GroupWrite, MoveRow, NewChange, NewMove, NewRecord, NewReview,
    OpenJobRow, RecordRow, RecordUpdate, ReportRow, ReviewFilter, ReviewRow, TokenRow, UserRow,
    CHANGE_COLUMNS, REPORT_SELECT, REVIEW_SELECT,
};
use super::{DeviceReport, FileStatus, NewUser, StoreError, StoreResult};

/// The channel on which instances announce that the change log grew.
const POKE_CHANNEL: &str = "fieldsync_poke";

/// The advisory lock (single 64-bit key) on the end of the change log.
const LOG_TAIL_LOCK: i64 = 0x6669_656c_6473_7971; // "fieldsyq"

/// The class of the advisory locks (two 32-bit keys) on one customer's job creates.
const CUSTOMER_LOCK_CLASS: i32 = 0x6673_6375; // "fscu"

/// How the store connects.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Most connections this instance holds.
    pub max_connections: u32,
    /// How long a request waits for a connection before it is answered 503: also how long a
    /// request takes to fail while the database is away.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> PgOptions {
        PgOptions {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// This instance's name in its announcements, so it does not poke its devices twice.
    instance: Arc<str>,
}

/// A database URL with its password left out, for messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

impl PgStore {
    /// Connects with the default options and brings the schema up to date.
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        PgStore::connect_with(url, PgOptions::default()).await
    }

    /// Connects and runs the migrations (several instances starting at once take turns: the
    /// migrator holds an advisory lock).
    pub async fn connect_with(url: &str, options: PgOptions) -> StoreResult<PgStore> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(StoreError::Database)?
            .application_name("fieldsync");
        // One plain connection first: a pool would keep trying until its timeout and then say
        // only that it timed out, where this says why (refused, no such database, password).
        let probe = PgConnection::connect_with(&connect).await?;
        probe.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(StoreError::Unavailable)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::from(sqlx::Error::from(e)))?;
        Ok(PgStore {
            pool,
            instance: uuid::Uuid::now_v7().to_string().into(),
        })
    }

    async fn listen(&self) -> StoreResult<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(POKE_CHANNEL).await?;
        Ok(listener)
    }
}

/// A write transaction, or a connection for reading.
pub(crate) struct PgTx {
    conn: PgConn,
    instance: Arc<str>,
}

enum PgConn {
    Write(Transaction<'static, Postgres>),
    Read(PoolConnection<Postgres>),
}

impl PgTx {
    fn conn(&mut self) -> &mut PgConnection {
        match &mut self.conn {
            PgConn::Write(tx) => tx,
            PgConn::Read(conn) => conn,
        }
    }

    /// A row lock for a write; nothing for a read.
    fn for_update(&self) -> &'static str {
        match self.conn {
            PgConn::Write(_) => " FOR UPDATE",
            PgConn::Read(_) => "",
        }
    }
}

#[async_trait]
impl Backend for PgStore {
    type Tx = PgTx;

    async fn write(&self) -> StoreResult<PgTx> {
        // READ COMMITTED: each statement sees what committed before it began, so after a
        // lock is granted the next statement reads what its holder wrote. The locks, not the
        // isolation level, make the judging safe (see the module's documentation);
        // SERIALIZABLE would fail every two pushes that both read MAX(seq).
        let tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await?;
        Ok(PgTx {
            conn: PgConn::Write(tx),
            instance: self.instance.clone(),
        })
    }

    async fn read(&self) -> StoreResult<PgTx> {
        Ok(PgTx {
            conn: PgConn::Read(self.pool.acquire().await?),
            instance: self.instance.clone(),
        })
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    /// Listens for other instances' announcements. A lost connection is opened again (with a
    /// growing pause while the database is away), and then every device here is poked: what
    /// was announced meanwhile was not heard.
    async fn relay_pokes(&self, poke: PokeFn, mut closing: watch::Receiver<bool>) {
        const FIRST_PAUSE: Duration = Duration::from_millis(100);
        const LONGEST_PAUSE: Duration = Duration::from_secs(5);
        let mut pause = FIRST_PAUSE;
        // Whether this instance listened before: then the connection was lost, not new.
        let mut listened = false;
        loop {
            let connected = tokio::select! {
                _ = closing.wait_for(|c| *c) => return,
                listener = self.listen() => listener,
            };
            let mut listener = match connected {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other instances' changes; trying again");
                    tokio::select! {
                        _ = closing.wait_for(|c| *c) => return,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(LONGEST_PAUSE);
                    continue;
                }
            };
            if listened {
                let newest = match self.read().await {
                    Ok(mut tx) => tx.max_seq().await,
                    Err(e) => Err(e),
                };
                match newest {
                    Ok(seq) => {
                        tracing::info!(
                            seq,
                            "listening again for other instances' changes; poking devices"
                        );
                        poke(seq);
                        pause = FIRST_PAUSE;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the newest seq after reconnecting");
                        continue;
                    }
                }
            } else {
                pause = FIRST_PAUSE;
            }
            listened = true;
            loop {
                let received = tokio::select! {
                    _ = closing.wait_for(|c| *c) => return,
                    received = listener.try_recv() => received,
                };
                match received {
                    Ok(Some(notice)) => {
                        let mut parts = notice.payload().split(' ');
                        let instance = parts.next().unwrap_or_default();
                        let seq = parts.next().and_then(|s| s.parse::<i64>().ok());
                        match seq {
                            Some(seq) if instance != &*self.instance => poke(seq),
                            Some(_) => {}
                            None => tracing::warn!(payload = notice.payload(), "unreadable poke"),
                        }
                    }
                    Ok(None) => {
                        tracing::warn!(
                            "lost the connection that listens for other instances' changes"
                        );
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for other instances' changes failed");
                        break;
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Tx for PgTx {
    async fn commit(self) -> StoreResult<()> {
        if let PgConn::Write(tx) = self.conn {
            tx.commit().await?;
        }
        Ok(())
    }

    async fn insert_user(&mut self, user: &NewUser, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("INSERT INTO users (name, display_name, role, team, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
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
            "SELECT name, display_name, role, team, password_hash FROM users WHERE name = $1 AND disabled_at IS NULL",
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
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM users WHERE name = $1 AND disabled_at IS NULL)",
        )
        .bind(name)
        .fetch_one(self.conn())
        .await?)
    }

    async fn device_named(
        &mut self,
        user: &str,
        name: &str,
    ) -> StoreResult<Option<(String, Option<DateTime<Utc>>)>> {
        // Two sign-ins of one device at once: the second waits here for the first's token.
        let lock = self.for_update();
        Ok(sqlx::query_as(&format!(
            "SELECT device_id, revoked_at FROM devices WHERE user_name = $1 AND name = $2{lock}"
        ))
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
        sqlx::query("UPDATE devices SET token_hash = $1, last_seen = $2, revoked_at = NULL WHERE device_id = $3")
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
        sqlx::query("INSERT INTO devices (device_id, user_name, name, token_hash, created_at, last_seen) VALUES ($1, $2, $3, $4, $5, $5)")
            .bind(device_id)
            .bind(user)
            .bind(name)
            .bind(token_hash)
            .bind(now)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn device_by_token(&mut self, token_hash: &str) -> StoreResult<Option<TokenRow>> {
        Ok(sqlx::query_as(
            "SELECT d.device_id, d.name AS device_name, u.name AS user_name, u.role, u.team FROM devices d \
             JOIN users u ON u.name = d.user_name \
             WHERE d.token_hash = $1 AND d.revoked_at IS NULL AND u.disabled_at IS NULL",
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
            "UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE device_id = $2",
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
            "SELECT name, display_name, role, team, created_at, disabled_at, must_change_password FROM users WHERE name = $1 FOR UPDATE",
        )
        .bind(name)
        .fetch_optional(self.conn())
        .await?)
    }

    async fn update_account(&mut self, row: &AccountRow) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET display_name = $1, role = $2, team = $3, disabled_at = $4, must_change_password = $5 WHERE name = $6",
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
        sqlx::query(
            "UPDATE users SET password_hash = $1, must_change_password = $2 WHERE name = $3",
        )
        .bind(hash)
        .bind(must_change)
        .bind(name)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn insert_admin_event(&mut self, event: &AdminEventRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO admin_log (id, at, by_user, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
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
        sqlx::query("UPDATE devices SET last_seen = $1 WHERE device_id = $2")
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
        // See the SQLite store: a catch-up's pages are not each a write.
        sqlx::query(
            "UPDATE devices SET last_seen = $1, outbox_depth = $2, oldest_pending = $3, last_pull_seq = $4 \
             WHERE device_id = $5 AND NOT (last_seen IS NOT NULL AND last_seen > $6 \
             AND outbox_depth IS NOT DISTINCT FROM $2 AND oldest_pending IS NOT DISTINCT FROM $3)",
        )
            .bind(now)
            .bind(report.outbox_depth)
            .bind(report.oldest_pending)
            .bind(after)
            .bind(device_id)
            .bind(now - super::SEEN_AGAIN_AFTER)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn record_row(&mut self, record_id: &str) -> StoreResult<Option<RecordRow>> {
        Ok(sqlx::query_as(
            "SELECT record_id, record_type, number, owner, owner_epoch, state, job_id, customer_id \
             FROM records WHERE record_id = $1",
        )
        .bind(record_id)
        .fetch_optional(self.conn())
        .await?)
    }

    async fn group_rows(&mut self, record_id: &str) -> StoreResult<Vec<GroupRow>> {
        Ok(sqlx::query_as(
            "SELECT grp, version, vals, contested FROM record_groups WHERE record_id = $1",
        )
        .bind(record_id)
        .fetch_all(self.conn())
        .await?)
    }

    async fn owner_history(&mut self, record_id: &str) -> StoreResult<Vec<(i64, String)>> {
        Ok(
            sqlx::query_as("SELECT epoch, owner FROM owner_history WHERE record_id = $1")
                .bind(record_id)
                .fetch_all(self.conn())
                .await?,
        )
    }

    async fn existing_records(&mut self, ids: &[String]) -> StoreResult<Vec<ExistingRow>> {
        Ok(
            sqlx::query_as("SELECT record_id, job_id FROM records WHERE record_id = ANY($1)")
                .bind(ids)
                .fetch_all(self.conn())
                .await?,
        )
    }

    async fn lock_records(&mut self, ids: &[String]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        // One statement, rows locked in id order (the lock is taken above the sort), so two
        // writers wanting overlapping records queue up rather than deadlock.
        sqlx::query(
            "SELECT record_id FROM records WHERE record_id = ANY($1) ORDER BY record_id FOR UPDATE",
        )
        .bind(ids)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn lock_customers(&mut self, customer_ids: &[String]) -> StoreResult<()> {
        // One statement per customer, in the (sorted) order given: a batch seldom creates
        // jobs for more than a few customers.
        for customer in customer_ids {
            sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                .bind(CUSTOMER_LOCK_CLASS)
                .bind(customer)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    async fn open_jobs_of_customer(&mut self, customer_id: &str) -> StoreResult<Vec<OpenJobRow>> {
        Ok(sqlx::query_as(
            "SELECT record_id, number, site, window_start, state FROM records \
             WHERE record_type = 'job' AND customer_id = $1 AND state <> ALL($2)",
        )
        .bind(customer_id)
        .bind(finished_job_states())
        .fetch_all(self.conn())
        .await?)
    }

    async fn jobs_of_customer_owned(
        &mut self,
        customer_id: &str,
        owners: &[String; 2],
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM records WHERE record_type = 'job' AND customer_id = $1 AND owner IN ($2, $3)",
        )
        .bind(customer_id)
        .bind(&owners[0])
        .bind(&owners[1])
        .fetch_one(self.conn())
        .await?)
    }

    async fn record_owner(&mut self, record_id: &str) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT owner FROM records WHERE record_id = $1")
                .bind(record_id)
                .fetch_optional(self.conn())
                .await?,
        )
    }

    async fn children(&mut self, job_id: &str) -> StoreResult<Vec<ChildRow>> {
        Ok(sqlx::query_as(
            "SELECT record_id, record_type, owner FROM records WHERE job_id = $1 ORDER BY record_id",
        )
        .bind(job_id)
        .fetch_all(self.conn())
        .await?)
    }

    async fn insert_records(&mut self, rows: &[NewRecord]) -> StoreResult<()> {
        // One statement with a column per array: its text is the same for any number of rows,
        // so it is prepared once.
        sqlx::query(
            "INSERT INTO records (record_id, record_type, number, owner, owner_epoch, state, job_id, customer_id, site, \
             window_start, created_at, created_by, updated_at) \
             SELECT r.*, r.created_at FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[]) \
               AS r(record_id, record_type, number, owner, owner_epoch, state, job_id, customer_id, site, window_start, \
               created_at, created_by)",
        )
        .bind(rows.iter().map(|r| r.record_id.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record_type).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.number.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.owner.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.owner_epoch).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.state.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.job_id.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.customer_id.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.site.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.window_start.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.created_by.as_str()).collect::<Vec<_>>())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn upsert_groups(&mut self, rows: &[GroupWrite]) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO record_groups (record_id, grp, version, vals, contested) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::boolean[]) \
             ON CONFLICT (record_id, grp) DO UPDATE SET version = excluded.version, vals = excluded.vals, \
             contested = excluded.contested",
        )
        .bind(rows.iter().map(|g| g.record_id.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|g| g.group).collect::<Vec<_>>())
        .bind(rows.iter().map(|g| g.version).collect::<Vec<_>>())
        .bind(rows.iter().map(|g| g.values.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|g| g.contested).collect::<Vec<_>>())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn update_records(&mut self, rows: &[RecordUpdate]) -> StoreResult<()> {
        sqlx::query(
            "UPDATE records r SET state = COALESCE(u.state, r.state), site = COALESCE(u.site, r.site), \
             window_start = COALESCE(u.window_start, r.window_start), updated_at = u.updated_at \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) \
               AS u(record_id, state, site, window_start, updated_at) \
             WHERE r.record_id = u.record_id",
        )
        .bind(rows.iter().map(|r| r.record_id.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.state.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.site.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.window_start.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn move_owner(
        &mut self,
        ids: &[String],
        to: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO owner_history (record_id, epoch, owner) \
             SELECT record_id, owner_epoch, owner FROM records WHERE record_id = ANY($1) \
             ON CONFLICT (record_id, epoch) DO NOTHING",
        )
        .bind(ids)
        .execute(self.conn())
        .await?;
        sqlx::query(
            "UPDATE records SET owner = $1, owner_epoch = owner_epoch + 1, updated_at = $2 WHERE record_id = ANY($3)",
        )
        .bind(to)
        .bind(now)
        .bind(ids)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn reserve_numbers(
        &mut self,
        record_type: RecordType,
        count: i64,
    ) -> StoreResult<Vec<i64>> {
        let mut numbers: Vec<i64> =
            sqlx::query_scalar("SELECT nextval($1::regclass) FROM generate_series(1, $2)")
                .bind(format!("numbers_{}", record_type.as_str()))
                .bind(count)
                .fetch_all(self.conn())
                .await?;
        numbers.sort_unstable();
        Ok(numbers)
    }

    async fn release_numbers(
        &mut self,
        _record_type: RecordType,
        _first_unused: i64,
        _last_reserved: i64,
    ) -> StoreResult<()> {
        // A sequence never takes a number back (another instance may have taken the next
        // already): the unused ones are a gap.
        Ok(())
    }

    /// The end of the change log is this transaction's until it commits: a transaction-level
    /// advisory lock, then `MAX(seq) + 1`.
    ///
    /// Why a lock rather than a sequence: a sequence hands out numbers in the order
    /// transactions ask, not the order they commit, so a change with seq 7 could commit after
    /// a pull had read up to 8 and be skipped for ever. Under this lock the seqs a
    /// transaction writes are above every committed seq and below every seq of a later
    /// holder, and it is released only once the commit is visible: commit order is seq order,
    /// and a pull that pages up to the newest committed seq misses nothing. Only the end of a
    /// push waits on it (a batch takes it when it writes its log rows, after judging).
    ///
    /// The MAX is read in its own statement after the lock is granted: at READ COMMITTED that
    /// statement's snapshot includes the commit of the previous holder.
    async fn claim_seq(&mut self) -> StoreResult<i64> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOG_TAIL_LOCK)
            .execute(self.conn())
            .await?;
        Ok(self.max_seq().await? + 1)
    }

    async fn max_seq(&mut self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0)::bigint FROM changes")
                .fetch_one(self.conn())
                .await?,
        )
    }

    async fn insert_changes(&mut self, rows: &[NewChange]) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO changes (seq, change_id, kind, record_type, record_id, grp, op, base_version, vals, owner_epoch, \
             device_time, author, device_id, server_time, status, version, number, owner, state, scope_job, review_id, code, outcome) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
             $8::bigint[], $9::text[], $10::bigint[], $11::timestamptz[], $12::text[], $13::text[], $14::timestamptz[], \
             $15::text[], $16::bigint[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[])",
        )
        .bind(rows.iter().map(|r| r.seq).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.change_id.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record_type).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.record_id.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.group).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.op).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.base_version).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.values.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.owner_epoch).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.device_time).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.author.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.device_id.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.server_time).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.status).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.number.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.owner.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.state.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.scope_job.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.review_id.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.code.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn stored_outcomes(
        &mut self,
        change_ids: &[String],
    ) -> StoreResult<Vec<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT change_id, outcome FROM changes WHERE change_id = ANY($1)")
                .bind(change_ids)
                .fetch_all(self.conn())
                .await?,
        )
    }

    async fn applied_change(
        &mut self,
        record_id: &str,
        group: &str,
        version: i64,
    ) -> StoreResult<Option<AppliedRow>> {
        Ok(sqlx::query_as(
            "SELECT op, vals, author, device_id, server_time, device_time FROM changes \
             WHERE record_id = $1 AND status = 'applied' AND version = $2 AND (grp = $3 OR op = 'create') \
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
            sqlx::query_scalar("SELECT name FROM devices WHERE device_id = $1")
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
                sqlx::query_as(&format!(
                    "SELECT {CHANGE_COLUMNS} FROM changes WHERE status = 'applied' AND seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
                ))
                .bind(after)
                .bind(upto)
                .bind(limit)
                .fetch_all(self.conn())
                .await?
            }
            Some(keys) => {
                sqlx::query_as(&format!(
                    "SELECT {CHANGE_COLUMNS} FROM changes WHERE status = 'applied' AND seq > $1 AND seq <= $2 AND ( \
                       (record_type IN ('job', 'job_note', 'part_line', 'photo', 'inspection', 'activity') AND scope_job IN \
                          (SELECT record_id FROM records WHERE record_type = 'job' AND owner IN ($3, $4))) \
                       OR (record_type = 'customer' AND record_id IN \
                          (SELECT customer_id FROM records WHERE record_type = 'job' AND owner IN ($3, $4)))) \
                     ORDER BY seq LIMIT $5"
                ))
                .bind(after)
                .bind(upto)
                .bind(&keys[0])
                .bind(&keys[1])
                .bind(limit)
                .fetch_all(self.conn())
                .await?
            }
        };
        Ok(rows)
    }

    async fn record_changes(&mut self, record_id: &str) -> StoreResult<Vec<ChangeRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE record_id = $1 ORDER BY seq"
        ))
        .bind(record_id)
        .fetch_all(self.conn())
        .await?)
    }

    async fn ownership_moves(&mut self, after: i64, upto: i64) -> StoreResult<Vec<MoveRow>> {
        Ok(sqlx::query_as(
            "SELECT m.seq, m.record_type, m.record_id, m.from_owner, m.to_owner, m.owner_epoch, m.by_user, m.at, r.number \
             FROM ownership_moves m LEFT JOIN records r ON r.record_id = m.record_id WHERE m.seq > $1 AND m.seq <= $2 ORDER BY m.seq",
        )
        .bind(after)
        .bind(upto)
        .fetch_all(self.conn())
        .await?)
    }

    async fn insert_move(&mut self, m: &NewMove) -> StoreResult<()> {
        sqlx::query("INSERT INTO ownership_moves (seq, record_type, record_id, from_owner, to_owner, owner_epoch, by_user, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
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

    async fn announce(&mut self, seq: i64) -> StoreResult<()> {
        // NOTIFY is transactional: delivered when (and only if) this transaction commits, so
        // another instance's devices pull exactly when the change is there to pull.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(POKE_CHANNEL)
            .bind(format!("{} {seq}", self.instance))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn insert_review(&mut self, r: &NewReview) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO review_items (review_id, kind, record_type, record_id, grp, change_id, change_json, base, current, \
             incoming, matched_record_id, incoming_author, created_at, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'open')",
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
        let (after, limit) = if filter.before.is_some() {
            (
                " AND (r.created_at < $4 OR (r.created_at = $4 AND r.review_id < $5))",
                "$6",
            )
        } else {
            ("", "$4")
        };
        let sql = format!(
            "{REVIEW_SELECT} WHERE (r.incoming_author = $1 OR r.kind = ANY($2) \
             OR (r.kind = 'conflict' AND r.record_type || '.' || COALESCE(r.grp, '') = ANY($3))){open}{after} \
             ORDER BY r.created_at DESC, r.review_id DESC LIMIT {limit}"
        );
        let mut query = sqlx::query_as(&sql)
            .bind(&filter.author)
            .bind(&filter.kinds)
            .bind(&filter.conflict_groups);
        if let Some((at, id)) = &filter.before {
            query = query.bind(*at).bind(id);
        }
        Ok(query.bind(filter.limit).fetch_all(self.conn()).await?)
    }

    async fn review_row(&mut self, review_id: &str) -> StoreResult<Option<ReviewRow>> {
        // A resolution locks its item: a second resolver waits, then finds it resolved.
        let lock = match self.for_update() {
            "" => "",
            _ => " FOR UPDATE OF r",
        };
        Ok(
            sqlx::query_as(&format!("{REVIEW_SELECT} WHERE r.review_id = $1{lock}"))
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
        sqlx::query("UPDATE review_items SET state = 'resolved', resolution = $1, resolved_by = $2, resolved_at = $3 WHERE review_id = $4")
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
            "SELECT COUNT(*) FROM review_items WHERE record_id = $1 AND grp = $2 AND kind = 'conflict' AND state = 'open'",
        )
        .bind(record_id)
        .bind(group)
        .fetch_one(self.conn())
        .await?)
    }

    async fn clear_contested(&mut self, record_id: &str, group: &str) -> StoreResult<()> {
        sqlx::query("UPDATE record_groups SET contested = FALSE WHERE record_id = $1 AND grp = $2")
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
        // A scan of the period's log: an index on server_time would cost every push another
        // write for a query run once a week.
        Ok(sqlx::query_as(&format!(
            "{REPORT_SELECT} WHERE c.kind = 'change' AND c.server_time >= $1 AND c.server_time <= $2 \
             AND (c.status <> 'applied' OR c.review_id IS NOT NULL \
             OR EXTRACT(EPOCH FROM (c.server_time - c.device_time)) >= $3) ORDER BY c.seq"
        ))
        .bind(since)
        .bind(until)
        .bind((slow_secs - 1) as f64)
        .fetch_all(self.conn())
        .await?)
    }

    async fn file_status(&mut self, sha256: &str) -> StoreResult<Option<FileStatus>> {
        let row = sqlx::query_as::<_, (i64, i64, bool, String)>(
            "SELECT length, received, complete, created_by FROM files WHERE sha256 = $1",
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
        sqlx::query("INSERT INTO files (sha256, length, received, created_at, created_by) VALUES ($1, $2, 0, $3, $4) ON CONFLICT (sha256) DO NOTHING")
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
        sqlx::query("UPDATE files SET received = $1, complete = $2, completed_at = CASE WHEN $2 THEN $3 ELSE completed_at END WHERE sha256 = $4")
            .bind(received)
            .bind(complete)
            .bind(now)
            .bind(sha256)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    async fn insert_file_refs(&mut self, refs: &[FileRef]) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO file_refs (sha256, record_id) \
             SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(refs.iter().map(|r| r.sha256.as_str()).collect::<Vec<_>>())
        .bind(
            refs.iter()
                .map(|r| r.record_id.as_str())
                .collect::<Vec<_>>(),
        )
        .execute(self.conn())
        .await?;
        Ok(())
    }

    async fn records_naming_file(&mut self, sha256: &str) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT record_id FROM file_refs WHERE sha256 = $1 ORDER BY record_id",
        )
        .bind(sha256)
        .fetch_all(self.conn())
        .await?)
    }
}
