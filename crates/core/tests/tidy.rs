//! Tidy checks over the whole tree, in the style of rust-analyzer's `xtask/src/tidy.rs`: rules
//! the compiler cannot see, kept by a test that names the file and line that breaks them.
//!
//! - A lifecycle state's name (`"signed_off"`) is written only in `core`: everywhere else takes
//!   [`State`] (the UI through its ts-rs binding), so a rule about states cannot be copied and
//!   drift.
//! - `call_api` (an untyped call of the HTTP API) does not come back: every call of the API is a
//!   typed method of the client's `Transport`, with the types of `core::wire`.

use fieldsync_core::State;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The product's source outside `core`: every crate's `src`, the desktop shell, the simulation
/// (which acts as people do) and the UI, but not the generated TypeScript bindings.
///
/// Tests are left out on purpose: an integration test speaks the wire as a client written by
/// someone else would, so it spells the wire's names (`{"state": "signed_off"}`); that is the
/// contract under test, not a rule copied out of `core`.
fn sources() -> Vec<PathBuf> {
    let root = root();
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = [
        "crates/server/src",
        "crates/client/src",
        "crates/app/src",
        "crates/cli/src",
        "src-tauri/src",
        "tests/sim/src",
        "ui/src",
    ]
    .iter()
    .map(|p| root.join(p))
    .collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() {
                if name != "bindings" {
                    stack.push(path);
                }
            } else if [".rs", ".ts", ".tsx"].iter().any(|e| name.ends_with(e))
                && !name.contains(".test.")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn lifecycle_state_names_live_in_core() {
    let mut found = Vec::new();
    for path in sources() {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for state in State::ALL {
                for quote in ['"', '\''] {
                    let literal = format!("{quote}{}{quote}", state.as_str());
                    if line.contains(&literal) {
                        found.push(format!("{}:{}: {literal}", shown(&path), n + 1));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "a lifecycle state is named outside core (use fieldsync_core::State, or the UI's State binding):\n{}",
        found.join("\n")
    );
}

#[test]
fn no_untyped_api_calls() {
    let me = Path::new(file!()).file_name().map(|n| n.to_os_string());
    let mut found = Vec::new();
    for path in sources() {
        if path.file_name().map(|n| n.to_os_string()) == me {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if line.contains("call_api") {
                found.push(format!("{}:{}", shown(&path), n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "call_api is back: call the API through the client's typed methods instead:\n{}",
        found.join("\n")
    );
}

/// The check can fail: the names it looks for are the ones the wire uses.
#[test]
fn the_check_sees_what_it_looks_for() {
    let line = r#"if record.state == "signed_off" {"#;
    assert!(State::ALL
        .iter()
        .any(|s| line.contains(&format!("\"{}\"", s.as_str()))));
    assert!(sources()
        .iter()
        .any(|p| p.ends_with("crates/server/src/api.rs")));
}
