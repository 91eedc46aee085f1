//! The desktop shell: one Tauri command over the app's command table (`crates/app`), the
//! client's background sync, and the app's change notices forwarded to the window as the Tauri
//! event `fieldsync://changed` (the UI reads again on each; nothing polls). Around it, what a
//! desktop app does, with Tauri's own plugins: one instance (a second launch focuses the
//! window), the window's size and place remembered, the save dialog (the UI asks it for a path;
//! the app writes the file), a notification for each new review item, and a menu with the usual
//! shortcuts (its choices reach the UI as the event `fieldsync://menu`). Everything the app does
//! lives in `crates/app`.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use fieldsync_app::credentials::KeyringTokens;
use fieldsync_app::desk::{Desk, DeskPreset};
use fieldsync_app::{bridge, App, AppError};
use fieldsync_client::SystemClock;
use std::sync::Arc;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::{Emitter, Manager};
use tauri_plugin_notification::NotificationExt;

/// The window event a menu choice becomes; its payload is the choice's id.
const MENU_EVENT: &str = "fieldsync://menu";

/// The menu: the app's own choices with their shortcuts, and the platform's usual ones.
fn menu(handle: &tauri::AppHandle) -> tauri::Result<Menu<tauri::Wry>> {
    let item =
        |id: &str, text: &str, accel: &str| MenuItem::with_id(handle, id, text, true, Some(accel));
    let app = Submenu::with_items(
        handle,
        "Fieldsync",
        true,
        &[
            &item("sync-now", "Sync now", "CmdOrCtrl+R")?,
            &item("settings", "Settings…", "CmdOrCtrl+,")?,
            &item("password", "Change password…", "CmdOrCtrl+Shift+P")?,
            &PredefinedMenuItem::separator(handle)?,
            &PredefinedMenuItem::about(handle, Some("About Fieldsync"), None)?,
            &PredefinedMenuItem::separator(handle)?,
            &PredefinedMenuItem::quit(handle, Some("Quit Fieldsync"))?,
        ],
    )?;
    let edit = Submenu::with_items(
        handle,
        "Edit",
        true,
        &[
            &PredefinedMenuItem::undo(handle, None)?,
            &PredefinedMenuItem::redo(handle, None)?,
            &PredefinedMenuItem::separator(handle)?,
            &PredefinedMenuItem::cut(handle, None)?,
            &PredefinedMenuItem::copy(handle, None)?,
            &PredefinedMenuItem::paste(handle, None)?,
            &PredefinedMenuItem::select_all(handle, None)?,
            &PredefinedMenuItem::separator(handle)?,
            &item("find", "Find job…", "CmdOrCtrl+F")?,
        ],
    )?;
    let go = Submenu::with_items(
        handle,
        "Go",
        true,
        &[
            &item("board", "Board", "CmdOrCtrl+1")?,
            &item("inbox", "Review inbox", "CmdOrCtrl+2")?,
        ],
    )?;
    Menu::with_items(handle, &[&app, &edit, &go])
}

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
    // The demo and the tests name the server; an installed app asks on its first run.
    let preset = DeskPreset {
        server: std::env::var("FIELDSYNC_SERVER").ok(),
        computer_name: std::env::var("FIELDSYNC_DEVICE_NAME").ok(),
        default_computer_name: None,
    };
    tauri::Builder::default()
        // First: a second launch hands over to this one (and exits) before it opens anything.
        .plugin(tauri_plugin_single_instance::init(|handle, _args, _cwd| {
            if let Some(window) = handle.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.show();
                let _ = window.set_focus();
            }
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .menu(menu)
        .on_menu_event(|handle, event| {
            let _ = handle.emit(MENU_EVENT, event.id().as_ref());
        })
        .setup(move |handle| {
            let dir = handle.path().app_data_dir()?;
            std::fs::create_dir_all(&dir)?;
            // The computer's settings and each person's own cache, outbox and files under the
            // app's data folder; their tokens in the credential store.
            let desk = Desk::open(
                &dir,
                preset.clone(),
                KeyringTokens::for_desk(),
                Arc::new(SystemClock),
            )
            .map_err(|e| e.to_string())?;
            let app = Arc::new(tauri::async_runtime::block_on(App::on_desk(desk)));
            let (stop, stop_rx) = tokio::sync::watch::channel(false);
            // Where an export goes if the person gives no place (the UI asks the save dialog
            // first; this is only the fallback, and where its dialog opens). A desktop with no
            // Downloads folder configured gets the home folder.
            if let Ok(place) = handle
                .path()
                .download_dir()
                .or_else(|_| handle.path().home_dir())
            {
                app.set_exports_dir(place);
            }
            let background = app.clone();
            tauri::async_runtime::spawn(async move {
                // Kept alive for the app's lifetime: the sender lives in the task.
                let _keep = stop;
                background.run(stop_rx).await
            });
            // Each notice goes to the window as it comes; a window that fell behind gets one
            // "everything" rather than a gap.
            let mut notices = app.changes();
            let window = handle.handle().clone();
            let alerts = app.clone();
            tauri::async_runtime::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                // The first look remembers what already waits, so only new items are announced.
                let _ = alerts.new_review_alerts().await;
                loop {
                    let changed = match notices.recv().await {
                        Ok(changed) => changed,
                        Err(RecvError::Lagged(_)) => fieldsync_app::live::Changed::everything(),
                        Err(RecvError::Closed) => break,
                    };
                    if let Err(e) = window.emit(fieldsync_app::live::TAURI_EVENT, changed) {
                        eprintln!("fieldsync desktop: the window missed a change notice: {e}");
                    }
                    if changed.reviews {
                        for alert in alerts.new_review_alerts().await.unwrap_or_default() {
                            let shown = window
                                .notification()
                                .builder()
                                .title(&alert.title)
                                .body(&alert.body)
                                .show();
                            if let Err(e) = shown {
                                eprintln!(
                                    "fieldsync desktop: a notification could not be shown: {e}"
                                );
                            }
                        }
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
