//! `fieldsync app`: the desktop app's command layer served with its UI on loopback, for a
//! headless demo and browser tests (the Tauri shell serves the same commands over IPC).

use anyhow::{Context, Result};
use fieldsync_app::desk::{Desk, DeskPreset};
use fieldsync_app::{bridge, App, SignInArgs};
use fieldsync_client::SystemClock;
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

/// Opens the app on a desk in `data_dir` (each person's own cache and outbox in a folder of
/// their own; with `server` given there is no first run),
/// optionally signs in, and serves the UI and the commands on `listen`.
pub async fn start(
    server: Option<&str>,
    data_dir: &Path,
    listen: SocketAddr,
    ui_dir: &Path,
    sign_in: Option<(&str, &str)>,
    device_name: Option<&str>,
    default_device_name: &str,
) -> Result<RunningApp> {
    std::fs::create_dir_all(data_dir)?;
    // A browser on loopback has no credential store to ask: tokens in private files.
    let desk = Desk::open(
        data_dir,
        DeskPreset {
            server: server.map(str::to_string),
            computer_name: device_name.map(str::to_string),
            default_computer_name: Some(default_device_name.to_string()),
        },
        Desk::file_tokens(),
        Arc::new(SystemClock),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let app = Arc::new(App::on_desk(desk).await);
    // A browser has no save dialog: exports go beside the app's cache, and the page says where.
    app.set_exports_dir(data_dir.join("exports"));
    if let Some((username, password)) = sign_in {
        if app.session().await.is_none_or(|s| s.user != username) {
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
    let background = tokio::spawn(async move { app.run(stop_rx).await });
    Ok(RunningApp {
        url,
        stop,
        tasks: vec![serve, background],
    })
}
