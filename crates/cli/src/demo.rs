//! `fieldsync demo`: the embedded server with the demo data of `demo_data.rs` (a user for every
//! role, teams, customers, jobs in every lifecycle state, invoices, and a status conflict in the
//! inbox), with the office app and simulated field devices beside it.

use anyhow::{Context, Result};
use fieldsync_core::Policy;
use fieldsync_server::store::Store;
use fieldsync_server::{AppState, Limits, SqliteStore, SystemClock};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::demo_data::{add_users, seed, DEMO_PASSWORD, DEMO_USERS};

/// What the demo starts besides the server.
pub struct DemoParts {
    pub seed_only: bool,
    /// The office app on loopback, signed in as the dispatcher.
    pub app: bool,
    /// Simulated field devices that go offline and collide with the office.
    pub devices: bool,
    pub ui_dir: std::path::PathBuf,
}

/// Written in the data directory once the demo data is complete; a store without it is a seed
/// that stopped half-way.
const SEEDED: &str = "demo-seeded";

pub async fn run(listen: SocketAddr, data_dir: &Path, parts: DemoParts) -> Result<()> {
    let seed_only = parts.seed_only;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    // Seeding only needs a server for a moment, on any free loopback port: `--seed-only` works
    // while another demo holds 8640.
    let listen = if seed_only {
        SocketAddr::from(([127, 0, 0, 1], 0))
    } else {
        listen
    };
    // The port first: a run that cannot listen stops before it writes anything.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (is another server running there? try --listen 127.0.0.1:0)"))?;
    let address = listener.local_addr()?;
    let database = data_dir.join("fieldsync.db");
    let marker = data_dir.join(SEEDED);
    // A store without the marker was left half-seeded by a run that stopped (a crash, Ctrl-C
    // mid-seed): it is set aside, never deleted, and the demo seeds afresh, so no later run takes
    // an empty board for a seeded demo.
    if database.exists() && !marker.exists() {
        let aside = data_dir.join(format!(
            "fieldsync.db.incomplete-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S")
        ));
        for suffix in ["", "-wal", "-shm"] {
            let from = data_dir.join(format!("fieldsync.db{suffix}"));
            if from.exists() {
                let to = aside.with_file_name(format!(
                    "{}{suffix}",
                    aside.file_name().unwrap_or_default().to_string_lossy()
                ));
                std::fs::rename(&from, &to).with_context(|| {
                    format!("cannot set aside the half-seeded {}", from.display())
                })?;
            }
        }
        println!(
            "A demo store that was never fully seeded is kept as {} and the demo starts afresh.",
            aside.display()
        );
    }
    let store = SqliteStore::open(&database).await?;
    let fresh = !marker.exists();
    if fresh {
        add_users(&store).await?;
    }
    let state = AppState::new(
        Arc::new(store.clone()),
        Policy::default_policy(),
        data_dir.join("files"),
        Arc::new(SystemClock),
        Limits::default(),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fieldsync_server::serve(listener, state, async move {
        tokio::select! { _ = crate::shutdown_signal() => {}, _ = stop_rx => {} }
    }));
    let base = format!("http://{address}");
    if fresh {
        seed(&base).await.context("seeding the demo data")?;
        std::fs::write(&marker, "the demo data is complete\n")
            .with_context(|| format!("cannot write {}", marker.display()))?;
    }
    println!(
        "Fieldsync demo server: {base}  (data in {})",
        data_dir.display()
    );
    println!("Sign in: POST {base}/api/v1/auth/login with {{\"username\", \"password\": \"{DEMO_PASSWORD}\", \"device_name\"}}");
    for (name, display, role, team) in DEMO_USERS {
        println!(
            "  {name:<8} {display:<16} {:<11} team {team}",
            role.as_str()
        );
    }
    println!("API description: {base}/api/v1/openapi.json   Health: {base}/healthz   Metrics: {base}/metrics");
    let mut office = None;
    if !seed_only && parts.app {
        let running = crate::office::start(
            Some(&base),
            &data_dir.join("office"),
            "127.0.0.1:0".parse()?,
            &parts.ui_dir,
            Some(("dana", DEMO_PASSWORD)),
            Some("Dispatch desktop"),
            "Dispatch desktop",
        )
        .await
        .context("starting the office app")?;
        println!(
            "Office app (signed in as dana, the dispatcher): {}",
            running.url
        );
        println!("  (the desktop shell serves the same app; with no display it is served here on loopback)");
        office = Some(running);
    }
    if !seed_only && parts.devices && fresh {
        let devices_base = base.clone();
        tokio::spawn(async move {
            println!("Simulated field devices start: they go offline, work, and collide with the office.");
            if let Err(e) = crate::field::sim(3, 1, 0.4, Some(devices_base)).await {
                eprintln!("the simulated devices stopped: {e:#}");
            }
        });
    }
    if seed_only {
        let _ = stop_tx.send(());
    } else {
        println!("Press Ctrl-C to stop.");
    }
    server.await.context("server task")??;
    if let Some(office) = office {
        office.stop().await;
    }
    store.close().await;
    Ok(())
}
