//! The desktop shell: one Tauri command over the app's command table (`crates/app`), the
//! client's background sync, and the app's change notices forwarded to the window as the Tauri
//! event `fieldsync://changed` (the UI reads again on each; nothing polls). Everything the app
//! does lives in `crates/app`.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use fieldsync_app::{bridge, App, AppError};
use fieldsync_client::{ClientConfig, HttpTransport, SyncClient, SystemClock};
use std::sync::Arc;
use tauri::{Emitter, Manager};

/// Runs one of the app's commands by name, exactly as the loopback bridge does.
#[tauri::command]
async fn call(
    app: tauri::State<'_, Arc<App>>,
    command: String,
    args: Option<serde_json::Value>,
) -> Result<serde_json::Value, AppError> {
    bridge::dispatch(&app, &command, args.unwrap_or(serde_json::Value::Null)).await
}

fn main() {
    let server =
        std::env::var("FIELDSYNC_SERVER").unwrap_or_else(|_| "http://127.0.0.1:8640".into());
    tauri::Builder::default()
        .setup(move |handle| {
            let dir = handle.path().app_data_dir()?;
            std::fs::create_dir_all(&dir)?;
            let transport = HttpTransport::new(&server).map_err(|e| e.to_string())?;
            let mut config =
                ClientConfig::new("Office desktop", &dir.join("files"), rand::random());
            // A desk on mains power looks for a lost server every couple of seconds, so the
            // banner turns "Synced" soon after it is back.
            config.reconnect_cap = std::time::Duration::from_secs(2);
            let client = tauri::async_runtime::block_on(SyncClient::open(
                &dir.join("cache.db"),
                Arc::new(transport),
                Arc::new(SystemClock),
                config,
            ))
            .map_err(|e| e.to_string())?;
            let (stop, stop_rx) = tokio::sync::watch::channel(false);
            let app = Arc::new(App::new(client.clone()));
            let background = client.clone();
            let sync_rx = stop_rx.clone();
            tauri::async_runtime::spawn(async move {
                // Kept alive for the app's lifetime: the sender lives in the task.
                let _keep = stop;
                background.run(sync_rx).await
            });
            let live = app.clone();
            let live_rx = stop_rx.clone();
            tauri::async_runtime::spawn(async move { live.run_live(live_rx).await });
            // Each notice goes to the window as it comes; a window that fell behind gets one
            // "everything" rather than a gap.
            let mut notices = app.changes();
            let window = handle.handle().clone();
            tauri::async_runtime::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    let changed = match notices.recv().await {
                        Ok(changed) => changed,
                        Err(RecvError::Lagged(_)) => fieldsync_app::live::Changed::everything(),
                        Err(RecvError::Closed) => break,
                    };
                    if let Err(e) = window.emit(fieldsync_app::live::TAURI_EVENT, changed) {
                        eprintln!("fieldsync desktop: the window missed a change notice: {e}");
                    }
                }
            });
            handle.manage(app);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![call])
        .run(tauri::generate_context!())
        .map_err(|e| eprintln!("fieldsync desktop stopped: {e}"))
        .ok();
}
