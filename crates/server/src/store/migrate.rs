//! Moving a company's store from its SQLite file to PostgreSQL (`fieldsync migrate-store`):
//! every table copied in one PostgreSQL transaction, from one consistent read of the file,
//! then counted and checksummed on both sides before the copy is committed.
//!
//! The tables are described once ([`TABLES`]): one copier and one checksum serve them all.
//! Timestamps are compared at microsecond precision, PostgreSQL's; everything else exactly.

use chrono::{DateTime, SubsecRound, Utc};
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgRow;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow};
use sqlx::{Connection, PgConnection, Row, SqliteConnection};
use std::path::{Path, PathBuf};

use fieldsync_core::RecordType;

use super::postgres::{redacted, PgStore};
use super::sqlite::SqliteStore;
use super::{Store, StoreError};

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("there is no store at {0}")]
    NoSource(PathBuf),
    #[error("the target database already holds a store ({0}); migrate into an empty database")]
    TargetNotEmpty(String),
    #[error("the copy of {table} does not match the original: {detail}")]
    Mismatch { table: String, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for MigrateError {
    fn from(e: sqlx::Error) -> MigrateError {
        MigrateError::Store(e.into())
    }
}

/// What a column holds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Int,
    Bool,
    Time,
}

/// A table to copy, its columns in order, and the key its rows are read in.
struct Table {
    name: &'static str,
    key: &'static str,
    columns: &'static [(&'static str, Kind)],
}

use Kind::{Bool, Int, Text, Time};

/// Every table of the store, parents before children.
const TABLES: &[Table] = &[
    Table {
        name: "users",
        key: "name",
        columns: &[
            ("name", Text),
            ("display_name", Text),
            ("role", Text),
            ("team", Text),
            ("password_hash", Text),
            ("created_at", Time),
            ("disabled_at", Time),
            ("must_change_password", Bool),
        ],
    },
    Table {
        name: "devices",
        key: "device_id",
        columns: &[
            ("device_id", Text),
            ("user_name", Text),
            ("name", Text),
            ("token_hash", Text),
            ("created_at", Time),
            ("last_seen", Time),
            ("revoked_at", Time),
            ("outbox_depth", Int),
            ("oldest_pending", Time),
            ("last_pull_seq", Int),
        ],
    },
    Table {
        name: "records",
        key: "record_id",
        columns: &[
            ("record_id", Text),
            ("record_type", Text),
            ("number", Text),
            ("owner", Text),
            ("owner_epoch", Int),
            ("state", Text),
            ("job_id", Text),
            ("customer_id", Text),
            ("site", Text),
            ("window_start", Text),
            ("created_at", Time),
            ("created_by", Text),
            ("updated_at", Time),
        ],
    },
    Table {
        name: "record_groups",
        key: "record_id, grp",
        columns: &[
            ("record_id", Text),
            ("grp", Text),
            ("version", Int),
            ("vals", Text),
            ("contested", Bool),
        ],
    },
    Table {
        name: "admin_log",
        key: "id",
        columns: &[
            ("id", Text),
            ("at", Time),
            ("by_user", Text),
            ("action", Text),
            ("target", Text),
            ("detail", Text),
        ],
    },
    Table {
        name: "owner_history",
        key: "record_id, epoch",
        columns: &[("record_id", Text), ("epoch", Int), ("owner", Text)],
    },
    Table {
        name: "changes",
        key: "seq",
        columns: &[
            ("seq", Int),
            ("change_id", Text),
            ("kind", Text),
            ("record_type", Text),
            ("record_id", Text),
            ("grp", Text),
            ("op", Text),
            ("base_version", Int),
            ("vals", Text),
            ("owner_epoch", Int),
            ("device_time", Time),
            ("author", Text),
            ("device_id", Text),
            ("server_time", Time),
            ("status", Text),
            ("version", Int),
            ("number", Text),
            ("owner", Text),
            ("state", Text),
            ("scope_job", Text),
            ("review_id", Text),
            ("code", Text),
            ("outcome", Text),
        ],
    },
    Table {
        name: "ownership_moves",
        key: "seq",
        columns: &[
            ("seq", Int),
            ("record_type", Text),
            ("record_id", Text),
            ("from_owner", Text),
            ("to_owner", Text),
            ("owner_epoch", Int),
            ("by_user", Text),
            ("at", Time),
        ],
    },
    Table {
        name: "review_items",
        key: "review_id",
        columns: &[
            ("review_id", Text),
            ("kind", Text),
            ("record_type", Text),
            ("record_id", Text),
            ("grp", Text),
            ("change_id", Text),
            ("change_json", Text),
            ("base", Text),
            ("current", Text),
            ("incoming", Text),
            ("matched_record_id", Text),
            ("incoming_author", Text),
            ("created_at", Time),
            ("state", Text),
            ("resolution", Text),
            ("resolved_by", Text),
            ("resolved_at", Time),
        ],
    },
    Table {
        name: "files",
        key: "sha256",
        columns: &[
            ("sha256", Text),
            ("length", Int),
            ("received", Int),
            ("complete", Bool),
            ("created_at", Time),
            ("created_by", Text),
            ("completed_at", Time),
        ],
    },
    Table {
        name: "file_refs",
        key: "sha256, record_id",
        columns: &[("sha256", Text), ("record_id", Text)],
    },
];

/// Rows per INSERT on the target.
const CHUNK: usize = 1000;

/// One value of a row, as both databases read it.
#[derive(Debug, Clone)]
enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Time(Option<DateTime<Utc>>),
}

impl Cell {
    /// Feeds the value to a checksum: a tag, then the value (times at microseconds).
    fn hash(&self, hasher: &mut Sha256) {
        match self {
            Cell::Text(None) | Cell::Int(None) | Cell::Bool(None) | Cell::Time(None) => {
                hasher.update(b"N")
            }
            Cell::Text(Some(s)) => {
                hasher.update(b"S");
                hasher.update((s.len() as u64).to_be_bytes());
                hasher.update(s.as_bytes());
            }
            Cell::Int(Some(i)) => {
                hasher.update(b"I");
                hasher.update(i.to_be_bytes());
            }
            Cell::Bool(Some(b)) => hasher.update(if *b { b"T" } else { b"F" }),
            Cell::Time(Some(t)) => {
                hasher.update(b"D");
                hasher.update(t.trunc_subsecs(6).timestamp_micros().to_be_bytes());
            }
        }
    }
}

macro_rules! read_cell {
    ($row:expr, $i:expr, $kind:expr) => {
        match $kind {
            Text => Cell::Text($row.try_get($i)?),
            Int => Cell::Int($row.try_get($i)?),
            Bool => Cell::Bool($row.try_get($i)?),
            Time => Cell::Time($row.try_get($i)?),
        }
    };
}

fn sqlite_cells(row: &SqliteRow, table: &Table) -> Result<Vec<Cell>, sqlx::Error> {
    let mut cells = Vec::with_capacity(table.columns.len());
    for (i, (_, kind)) in table.columns.iter().enumerate() {
        cells.push(read_cell!(row, i, kind));
    }
    Ok(cells)
}

fn pg_cells(row: &PgRow, table: &Table) -> Result<Vec<Cell>, sqlx::Error> {
    let mut cells = Vec::with_capacity(table.columns.len());
    for (i, (_, kind)) in table.columns.iter().enumerate() {
        cells.push(read_cell!(row, i, kind));
    }
    Ok(cells)
}

fn select(table: &Table) -> String {
    let columns: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        columns.join(", "),
        table.name,
        table.key
    )
}

/// Writes rows into a table in one statement, a column per array.
async fn insert(
    conn: &mut PgConnection,
    table: &Table,
    rows: &[Vec<Cell>],
) -> Result<(), sqlx::Error> {
    let names: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    let arrays: Vec<String> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| {
            let array = match kind {
                Text => "text[]",
                Int => "bigint[]",
                Bool => "boolean[]",
                Time => "timestamptz[]",
            };
            format!("${}::{array}", i + 1)
        })
        .collect();
    let sql = format!(
        "INSERT INTO {} ({}) SELECT * FROM UNNEST({})",
        table.name,
        names.join(", "),
        arrays.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for (i, (_, kind)) in table.columns.iter().enumerate() {
        let column = rows.iter().map(|row| row.get(i).cloned());
        query = match kind {
            Text => query.bind(
                column
                    .map(|c| match c {
                        Some(Cell::Text(v)) => v,
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Int => query.bind(
                column
                    .map(|c| match c {
                        Some(Cell::Int(v)) => v,
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Bool => query.bind(
                column
                    .map(|c| match c {
                        Some(Cell::Bool(v)) => v,
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Time => query.bind(
                column
                    .map(|c| match c {
                        Some(Cell::Time(v)) => v,
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
        };
    }
    query.execute(conn).await?;
    Ok(())
}

/// A table's row count and checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: String,
    pub rows: u64,
    pub checksum: String,
}

/// What a migration copied and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    pub tables: Vec<TableCopy>,
    /// The last human number given per record type, carried over.
    pub counters: Vec<(String, i64)>,
}

/// Running counts and checksums of the rows of one table.
struct Tally {
    rows: u64,
    hasher: Sha256,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            rows: 0,
            hasher: Sha256::new(),
        }
    }

    fn add(&mut self, cells: &[Cell]) {
        self.rows += 1;
        for cell in cells {
            cell.hash(&mut self.hasher);
        }
    }

    fn finish(self, table: &str) -> TableCopy {
        TableCopy {
            table: table.to_string(),
            rows: self.rows,
            checksum: hex::encode(self.hasher.finalize()),
        }
    }
}

/// Copies the SQLite store at `from` into the empty PostgreSQL database at `to`, and checks
/// the copy (row counts and a checksum per table, and the number counters) before committing
/// it. `progress` hears a line per step. Stop the servers on the file first: the copy is of
/// the file as it stood when the copy began.
pub async fn sqlite_to_postgres(
    from: &Path,
    to: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<MigrationReport, MigrateError> {
    if !from.is_file() {
        return Err(MigrateError::NoSource(from.to_path_buf()));
    }
    // Opening it as the server would brings its schema up to date first.
    let source = SqliteStore::open(from).await?;
    source.close().await;
    let target = PgStore::connect(to).await?;
    target.close().await;

    let reader = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(from).read_only(true))
        .await?;
    let mut src = reader.acquire().await?;
    let mut dst = PgConnection::connect(to).await?;
    let result = copy(&mut src, &mut dst, to, progress).await;
    drop(src);
    reader.close().await;
    let _ = dst.close().await;
    result
}

async fn copy(
    src: &mut SqliteConnection,
    dst: &mut PgConnection,
    to: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<MigrationReport, MigrateError> {
    let mut held = Vec::new();
    for table in TABLES {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name))
            .fetch_one(&mut *dst)
            .await?;
        if n > 0 {
            held.push(format!("{n} {}", table.name));
        }
    }
    if !held.is_empty() {
        return Err(MigrateError::TargetNotEmpty(format!(
            "{} in {}",
            held.join(", "),
            redacted(to)
        )));
    }

    // One read transaction on the file: every table as of the same moment.
    let mut read = src.begin().await?;
    let mut write = dst.begin().await?;
    let mut tables = Vec::new();
    for table in TABLES {
        let mut tally = Tally::new();
        let mut chunk: Vec<Vec<Cell>> = Vec::with_capacity(CHUNK);
        {
            let sql = select(table);
            let mut rows = sqlx::query(&sql).fetch(&mut *read);
            while let Some(row) = rows.try_next().await? {
                if row.columns().len() != table.columns.len() {
                    return Err(MigrateError::Mismatch {
                        table: table.name.to_string(),
                        detail: "the file's table has other columns".into(),
                    });
                }
                let cells = sqlite_cells(&row, table)?;
                tally.add(&cells);
                chunk.push(cells);
                if chunk.len() == CHUNK {
                    insert(&mut write, table, &chunk).await?;
                    chunk.clear();
                }
            }
        }
        if !chunk.is_empty() {
            insert(&mut write, table, &chunk).await?;
        }
        let copied = tally.finish(table.name);
        progress(&format!(
            "copied {:<16} {:>9} rows",
            table.name, copied.rows
        ));
        tables.push(copied);
    }
    let mut counters: Vec<(RecordType, i64)> = Vec::new();
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT record_type, last FROM counters ORDER BY record_type")
            .fetch_all(&mut *read)
            .await?;
    for (record_type, last) in rows {
        let known = RecordType::parse(&record_type).ok_or_else(|| MigrateError::Mismatch {
            table: "counters".into(),
            detail: format!("unknown record type {record_type}"),
        })?;
        if last > 0 {
            sqlx::query("SELECT setval($1::regclass, $2)")
                .bind(format!("numbers_{}", known.as_str()))
                .bind(last)
                .execute(&mut *write)
                .await?;
        }
        counters.push((known, last));
    }
    read.commit().await?;

    // Read the copy back inside its own transaction and compare, before anything is committed.
    for (table, copied) in TABLES.iter().zip(&tables) {
        let mut tally = Tally::new();
        let sql = select(table);
        let mut rows = sqlx::query(&sql).fetch(&mut *write);
        while let Some(row) = rows.try_next().await? {
            tally.add(&pg_cells(&row, table)?);
        }
        let check = tally.finish(table.name);
        if check.rows != copied.rows {
            return Err(MigrateError::Mismatch {
                table: table.name.to_string(),
                detail: format!("{} rows in the file, {} copied", copied.rows, check.rows),
            });
        }
        if check.checksum != copied.checksum {
            return Err(MigrateError::Mismatch {
                table: table.name.to_string(),
                detail: format!(
                    "checksum {} in the file, {} in the copy",
                    copied.checksum, check.checksum
                ),
            });
        }
        progress(&format!(
            "checked {:<16} {:>9} rows  sha256 {}",
            table.name,
            check.rows,
            &check.checksum[..16]
        ));
    }
    for (record_type, last) in &counters {
        // The name is one of the record types' own, never text from the file.
        let (value, called): (i64, bool) = sqlx::query_as(&format!(
            "SELECT last_value, is_called FROM numbers_{}",
            record_type.as_str()
        ))
        .fetch_one(&mut *write)
        .await?;
        let carried = if called { value } else { 0 };
        if carried != *last {
            return Err(MigrateError::Mismatch {
                table: "counters".into(),
                detail: format!("{record_type}: {last} in the file, {carried} in the copy"),
            });
        }
    }
    progress("checked counters: the next human numbers follow on");
    write.commit().await?;
    Ok(MigrationReport {
        tables,
        counters: counters
            .into_iter()
            .map(|(t, last)| (t.as_str().to_string(), last))
            .collect(),
    })
}
