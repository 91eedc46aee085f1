//! The desktop shell: one Tauri command over the app's command table (`crates/app`), and the
//! client's background sync. Everything the app does lives in `crates/app`.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use fieldsync_app::{bridge, App, AppError};
use fieldsync_client::{ClientConfig, HttpTransport, SyncClient, SystemClock};
use std::sync::Arc;
use tauri::Manager;

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
            let config = ClientConfig::new("Office desktop", &dir.join("files"), rand::random());
            let client = tauri::async_runtime::block_on(SyncClient::open(
                &dir.join("cache.db"),
                Arc::new(transport),
                Arc::new(SystemClock),
                config,
            ))
            .map_err(|e| e.to_string())?;
            let (_stop, stop_rx) = tokio::sync::watch::channel(false);
            let background = client.clone();
            tauri::async_runtime::spawn(async move {
                // Kept alive for the app's lifetime: the sender lives in the task.
                let _keep = _stop;
                background.run(stop_rx).await
            });
            handle.manage(Arc::new(App::new(client)));
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![call])
        .run(tauri::generate_context!())
        .map_err(|e| eprintln!("fieldsync desktop stopped: {e}"))
        .ok();
}
