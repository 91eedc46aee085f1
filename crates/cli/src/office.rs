//! `fieldsync app`: the desktop app's command layer served with its UI on loopback, for a
//! headless demo and browser tests (the Tauri shell serves the same commands over IPC).

use anyhow::{Context, Result};
use fieldsync_app::{bridge, App, SignInArgs};
use fieldsync_client::{ClientConfig, HttpTransport, SyncClient, SystemClock};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the built UI is: next to the sources in a checkout.
pub fn default_ui_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist")
}

/// A running office app: its address (with the per-run secret) and its background tasks.
pub struct RunningApp {
    pub url: String,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningApp {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Opens the app's own client (cache and outbox in `data_dir`), optionally signs in, and serves
/// the UI and the commands on `listen`.
pub async fn start(
    server: &str,
    data_dir: &Path,
    listen: SocketAddr,
    ui_dir: &Path,
    sign_in: Option<(&str, &str)>,
    device_name: &str,
) -> Result<RunningApp> {
    std::fs::create_dir_all(data_dir)?;
    let mut config = ClientConfig::new(device_name, &data_dir.join("files"), rand::random());
    // An office desk looks for a server that went away every couple of seconds, so its banner
    // turns "Synced" soon after the server is back, with nobody pressing anything.
    config.reconnect_cap = std::time::Duration::from_secs(2);
    let client = SyncClient::open(
        &data_dir.join("cache.db"),
        Arc::new(HttpTransport::new(server)?),
        Arc::new(SystemClock),
        config,
    )
    .await?;
    let app = Arc::new(App::new(client.clone()));
    // A browser has no save dialog: exports go beside the app's cache, and the page says where.
    app.set_exports_dir(data_dir.join("exports"));
    if let Some((username, password)) = sign_in {
        if app.session().await.is_none() {
            app.sign_in(SignInArgs {
                username: username.into(),
                password: password.into(),
            })
            .await
            .map_err(|e| anyhow::anyhow!("signing in as {username}: {e}"))?;
        }
    }
    if !ui_dir.join("index.html").exists() {
        tracing::warn!(dir = %ui_dir.display(), "the UI is not built (npm run build in ui/); serving the commands only");
    }
    let secret = bridge::new_secret();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let url = format!("http://{}/?s={secret}", listener.local_addr()?);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let router = bridge::router(app.clone(), secret, Some(ui_dir.to_path_buf()));
    let mut http_stop = stop_rx.clone();
    let serve = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await;
    });
    // The app syncs by itself: on its own saves, on the server's pokes, and on its lanes' timers;
    // what each round changed goes to the page as a notice (`GET /api/{secret}/events`).
    let live_stop = stop_rx.clone();
    let sync = tokio::spawn(async move { client.run(stop_rx).await });
    let live = tokio::spawn(async move { app.run_live(live_stop).await });
    Ok(RunningApp {
        url,
        stop,
        tasks: vec![serve, sync, live],
    })
}
