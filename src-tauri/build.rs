//! Generates the Tauri context (config, assets, capabilities) at build time.
fn main() {
    tauri_build::build()
}
