//! Architecture Invariant checks for the core: it knows nothing of HTTP, SQL, time or
//! randomness. Its declared dependencies come from `cargo metadata`; its calls from its source.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Crates that do I/O, speak HTTP or SQL, run an async runtime, or draw random numbers.
/// A name matches exactly or as a prefix followed by `-` or `_` (`tokio-util`, `rand_core`).
const FORBIDDEN: &[&str] = &[
    // HTTP and async runtimes.
    "axum",
    "hyper",
    "tower",
    "reqwest",
    "ureq",
    "curl",
    "actix-web",
    "warp",
    "tokio",
    "async-std",
    "smol",
    "mio",
    "socket2",
    // SQL.
    "sqlx",
    "rusqlite",
    "postgres",
    "diesel",
    "sea-orm",
    // The desktop shell.
    "tauri",
    // Randomness.
    "rand",
    "getrandom",
    "fastrand",
    // Files, processes and the machine.
    "tempfile",
    "walkdir",
    "notify",
    "dirs",
    "directories",
    "fs-err",
    "memmap2",
    "libc",
];

fn forbidden(name: &str) -> Option<&'static str> {
    FORBIDDEN.iter().copied().find(|f| {
        name == *f
            || name
                .strip_prefix(f)
                .is_some_and(|rest| rest.starts_with('-') || rest.starts_with('_'))
    })
}

/// `cargo metadata` for this workspace, without resolving anything.
fn metadata() -> Value {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The core's dependencies that ship with it (normal and build, not dev), by package name.
fn core_dependencies() -> Vec<String> {
    let metadata = metadata();
    let core = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "fieldsync-core")
        .expect("fieldsync-core is a workspace member");
    core["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"].as_str() != Some("dev"))
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_forbidden_list_matches_what_it_should() {
    assert_eq!(forbidden("tokio"), Some("tokio"));
    assert_eq!(forbidden("tokio-util"), Some("tokio"));
    assert_eq!(forbidden("rand_core"), Some("rand"));
    assert_eq!(forbidden("tauri-build"), Some("tauri"));
    assert_eq!(forbidden("serde"), None);
    assert_eq!(forbidden("randomize"), None);
    assert_eq!(forbidden("towel"), None);
}

#[test]
fn core_depends_on_no_http_sql_runtime_or_randomness() {
    let dependencies = core_dependencies();
    // The list is read for real: the core's own parsing and serialising crates are in it.
    assert!(
        dependencies.iter().any(|d| d == "serde_json"),
        "{dependencies:?}"
    );
    assert!(
        dependencies.iter().any(|d| d == "toml_edit"),
        "{dependencies:?}"
    );
    let bad: Vec<(&str, &str)> = dependencies
        .iter()
        .filter_map(|d| forbidden(d).map(|f| (d.as_str(), f)))
        .collect();
    assert!(
        bad.is_empty(),
        "fieldsync-core must know nothing of HTTP, SQL, time or randomness, but depends on {bad:?}"
    );
}

/// Calls that read the clock, draw random numbers or touch the machine.
const FORBIDDEN_CALLS: &[&str] = &[
    "Utc::now",
    "Local::now",
    "SystemTime",
    "Instant::now",
    "new_v4",
    "new_v7",
    "now_v7",
    "thread_rng",
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "std::thread",
    "std::io::stdin",
    "println!",
    "eprintln!",
];

#[test]
fn core_source_reads_no_clock_and_draws_no_random_numbers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = 0;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            for call in FORBIDDEN_CALLS.iter().copied() {
                if line.contains(call) {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        files >= 5,
        "found only {files} source files in {}",
        src.display()
    );
    assert!(
        found.is_empty(),
        "time, randomness and I/O come in from outside the core:\n{}",
        found.join("\n")
    );
}
