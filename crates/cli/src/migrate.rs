//! `fieldsync migrate-store`: a company's whole store copied from its SQLite file into an empty
//! PostgreSQL database, counted and checksummed on both sides before it says done.

use anyhow::{bail, Context, Result};
use fieldsync_server::store::migrate::sqlite_to_postgres;

use crate::database::Database;

pub async fn run(from: &str, to: &str) -> Result<()> {
    let here = std::path::Path::new(".");
    let Database::Sqlite(path) = Database::from_url(Some(from), here)? else {
        bail!("--from names the SQLite store to copy: sqlite:PATH");
    };
    let target = Database::from_url(Some(to), here)?;
    let Database::Postgres(url) = &target else {
        bail!(
            "--to names the PostgreSQL database to copy into: postgres://USER@HOST:PORT/DATABASE"
        );
    };
    println!(
        "copying {} into {} (stop the servers on the file first)",
        path.display(),
        target.describe()
    );
    let report = sqlite_to_postgres(&path, url, &|line| println!("  {line}"))
        .await
        .with_context(|| format!("migrating {} to {}", path.display(), target.describe()))?;
    let rows: u64 = report.tables.iter().map(|t| t.rows).sum();
    let counters: Vec<String> = report
        .counters
        .iter()
        .map(|(t, last)| format!("{t} {last}"))
        .collect();
    println!(
        "done: {rows} rows in {} tables copied and checked (counts and SHA-256 match); \
         numbers carried over ({}); devices keep their tokens",
        report.tables.len(),
        if counters.is_empty() {
            "none yet".to_string()
        } else {
            counters.join(", ")
        }
    );
    println!(
        "serve it with: fieldsync serve --database {} (keep --data-dir for the uploaded files)",
        target.describe()
    );
    Ok(())
}
