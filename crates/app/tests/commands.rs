//! `ui/src/bindings/commands.ts` is the command table of `bridge::dispatch` as TypeScript: this
//! test writes it (with the ts-rs bindings, when `cargo test -p fieldsync-app` runs) and fails
//! when the committed file differed, so the UI's list of commands cannot drift from the app's.
#![allow(clippy::unwrap_used)]

use fieldsync_app::bridge;
use std::path::Path;

#[test]
fn the_committed_command_table_is_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/bindings/commands.ts");
    let generated = bridge::commands_typescript();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        std::fs::write(&path, &generated).unwrap();
    }
    assert!(
        committed == generated,
        "ui/src/bindings/commands.ts was not the command table of bridge::dispatch; it is \
         rewritten now: check the difference and commit it"
    );
}

#[test]
fn every_command_names_its_types_and_each_name_is_there_once() {
    let commands = bridge::commands();
    let mut names: Vec<&str> = commands.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        commands.len(),
        "a command is in the table twice"
    );
    let by_name = |name: &str| commands.iter().find(|c| c.name == name).unwrap();
    let board = by_name("board");
    assert_eq!(
        (board.args.as_str(), board.result.as_str()),
        ("BoardFilter", "Array<JobCard>")
    );
    assert_eq!(
        board.types.keys().collect::<Vec<_>>(),
        ["BoardFilter", "JobCard"]
    );
    let session = by_name("session");
    assert_eq!(
        (session.args.as_str(), session.result.as_str()),
        ("null", "SessionInfo | null")
    );
    let new_action_id = by_name("new_action_id");
    assert_eq!(
        (new_action_id.args.as_str(), new_action_id.result.as_str()),
        ("null", "ActionId")
    );
}

#[tokio::test]
async fn a_name_outside_the_table_is_no_command() {
    let dir = tempfile::tempdir().unwrap();
    let client = fieldsync_client::SyncClient::open(
        &dir.path().join("cache.db"),
        std::sync::Arc::new(fieldsync_client::HttpTransport::new("http://127.0.0.1:9").unwrap()),
        std::sync::Arc::new(fieldsync_client::SystemClock),
        fieldsync_client::ClientConfig::new("office desk", &dir.path().join("files"), 7),
    )
    .await
    .unwrap();
    let app = fieldsync_app::App::new(client);
    assert!(bridge::commands()
        .iter()
        .all(|c| c.name != "delete_everything"));
    let error = bridge::dispatch(&app, "delete_everything", serde_json::Value::Null)
        .await
        .unwrap_err();
    assert_eq!(error.code, "not_found");
    assert_eq!(error.message, "no command `delete_everything`");
}
