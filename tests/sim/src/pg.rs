//! PostgreSQL for a share of seeds: each such run gets a database of its own on the local
//! server (`FIELDSYNC_TEST_PG`, else `postgres://postgres@127.0.0.1:5432`, as the server's own
//! tests), served by two server instances, and dropped when the run ends.
//!
//! Why two instances: a deployment behind a load balancer has devices talking to different
//! processes over one database, so the sequence numbers, the review inbox and the ownership
//! epochs must hold across instances, not only within one process's memory.

use sqlx::{Connection, Executor, PgConnection};

use crate::Failure;

pub struct PgDatabase {
    pub name: String,
    server: String,
}

fn pg_server() -> String {
    std::env::var("FIELDSYNC_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

impl PgDatabase {
    /// A fresh database for the run (its name carries the seed and a random part, never in the
    /// trace: two runs of a seed at once must not share one).
    pub async fn create(seed: u64) -> Result<PgDatabase, Failure> {
        let server = pg_server();
        let name = format!("fieldsync_sim_{seed}_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&format!("{server}/postgres"))
            .await
            .map_err(|e| {
                Failure::setup(format!(
                    "seed {seed} runs on PostgreSQL, which is not reachable at {server} ({e}); start it: \
                     pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
                ))
            })?;
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .map_err(|e| Failure::setup(format!("create the database {name}: {e}")))?;
        let _ = admin.close().await;
        Ok(PgDatabase { name, server })
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    /// Drops the run's database (its instances' connections are closed first, or forced out).
    pub async fn drop_database(&self) {
        if let Ok(mut admin) = PgConnection::connect(&format!("{}/postgres", self.server)).await {
            let _ = admin
                .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
                .await;
            let _ = admin.close().await;
        }
    }
}
