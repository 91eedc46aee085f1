//! Which store a command opens: the embedded SQLite file in the data dir, `sqlite:PATH`, or a
//! PostgreSQL database shared by several server instances (`postgres://…`).

use anyhow::{bail, Context, Result};
use fieldsync_server::store::postgres::redacted;
use fieldsync_server::store::Store;
use fieldsync_server::{PgStore, SqliteStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A store named by a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Database {
    /// The store a URL names; without one, the SQLite file in `data_dir`.
    pub fn from_url(url: Option<&str>, data_dir: &Path) -> Result<Database> {
        match url {
            None => Ok(Database::Sqlite(data_dir.join("fieldsync.db"))),
            Some(url) if url.starts_with("sqlite:") => Ok(Database::Sqlite(PathBuf::from(
                url.trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:"),
            ))),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Database::Postgres(url.to_string()))
            }
            Some(url) => bail!(
                "unsupported database URL `{}`: use sqlite:PATH or postgres://USER@HOST:PORT/DATABASE",
                redacted(url)
            ),
        }
    }

    /// How the store is named in messages (without a password).
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite:{}", path.display()),
            Database::Postgres(url) => redacted(url),
        }
    }

    /// Opens the store (creating the SQLite file, or bringing the PostgreSQL schema up to date).
    pub async fn open(&self) -> Result<Arc<dyn Store>> {
        match self {
            Database::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create data dir {}", dir.display()))?;
                }
                let store = SqliteStore::open(path)
                    .await
                    .with_context(|| format!("cannot open the store in {}", path.display()))?;
                Ok(Arc::new(store))
            }
            Database::Postgres(url) => {
                let store = PgStore::connect(url).await.with_context(|| {
                    format!("cannot open the PostgreSQL store at {}", redacted(url))
                })?;
                Ok(Arc::new(store))
            }
        }
    }
}
