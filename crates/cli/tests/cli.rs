//! The `fieldsync` binary as an operator meets it: policy check and explain, refusing to serve
//! on a bad policy, user and device admin, every subcommand's help, the demo's seed, and the
//! sync review (`report`) from the store and from a running server.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn fieldsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args(args)
        .env("FIELDSYNC_LOG", "warn")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn default_policy() -> String {
    format!("{}/../../policy/default.toml", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn policy_check_accepts_the_shipped_file() {
    let out = fieldsync(&["policy", "check", &default_policy()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("ok (8 record types, 14 field groups)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn policy_check_names_the_line_and_key_of_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(default_policy()).unwrap();
    let broken = shipped.replacen(
        "[job.status]\npolicy = \"manual_review\"",
        "[job.status]\npolcy = \"manual_review\"",
        1,
    );
    assert_ne!(broken, shipped, "the test's edit must hit the file");
    let line = broken.lines().position(|l| l.starts_with("polcy")).unwrap() + 1;
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, &broken).unwrap();
    let out = fieldsync(&["policy", "check", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&format!("line {line}")), "{err}");
    assert!(err.contains("job.status.polcy"), "{err}");
}

#[test]
fn serve_refuses_to_start_on_a_bad_policy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[job]\nowner = \"assignee\"\n").unwrap();
    let data = dir.path().join("data");
    let out = fieldsync(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--policy",
        path.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("line") && err.contains("job.schedule"),
        "{err}"
    );
}

#[test]
fn policy_explain_says_the_rule_in_plain_words() {
    let out = fieldsync(&["policy", "explain", "job", "status"]);
    assert!(out.status.success());
    let said = text(&out.stdout);
    assert!(said.contains("manual review"), "{said}");
    assert!(said.contains("Review resolved by: supervisor"), "{said}");
    assert!(said.contains("closed"), "{said}");
    let out = fieldsync(&["policy", "explain", "job", "billing"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("a job has no field group `billing`"));
}

#[test]
fn user_add_reads_the_password_from_stdin_and_lists_users() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args([
            "user",
            "add",
            "tom",
            "--role",
            "technician",
            "--team",
            "north",
            "--password-stdin",
            "--data-dir",
            data,
        ])
        .env("FIELDSYNC_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse battery\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = fieldsync(&["user", "list", "--data-dir", data]);
    let listed = text(&out.stdout);
    assert!(
        listed.contains("tom") && listed.contains("technician") && listed.contains("north"),
        "{listed}"
    );
    let out = fieldsync(&[
        "user",
        "add",
        "x",
        "--role",
        "wizard",
        "--password-stdin",
        "--data-dir",
        data,
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("unknown role `wizard`"));
    let out = fieldsync(&["device", "list", "--data-dir", data]);
    assert!(out.status.success());
    let out = fieldsync(&["device", "revoke", "not-a-uuid", "--data-dir", data]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is not a device id"));
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for args in [
        vec!["serve"],
        vec!["demo"],
        vec!["user", "add"],
        vec!["user", "list"],
        vec!["device", "list"],
        vec!["device", "revoke"],
        vec!["policy", "check"],
        vec!["policy", "explain"],
        vec!["bench", "push"],
        vec!["migrate-store"],
        vec!["report"],
    ] {
        let mut full = args.clone();
        full.push("--help");
        let out = fieldsync(&full);
        assert!(out.status.success(), "{args:?}");
        let help = text(&out.stdout);
        let example = help.lines().find(|l| l.starts_with("Example:"));
        assert!(
            example.is_some_and(|l| l.contains("fieldsync")),
            "{args:?} help has no example"
        );
    }
}

#[test]
fn demo_seeds_every_role_and_every_job_state() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = fieldsync(&[
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--seed-only",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    for role in [
        "dispatcher",
        "supervisor",
        "finance",
        "office",
        "technician",
        "admin",
    ] {
        assert!(said.contains(role), "no {role} in {said}");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", data.join("fieldsync.db").display())).await.unwrap();
        let states: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT state FROM records WHERE record_type = 'job' ORDER BY state")
                .fetch_all(&pool)
                .await
                .unwrap();
        for state in ["archived", "assigned", "closed", "in_progress", "opened", "paused", "reopened", "signed_off", "voided"] {
            assert!(states.iter().any(|s| s == state), "no job {state}: {states:?}");
        }
        let invoices: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT state FROM records WHERE record_type = 'invoice' ORDER BY state")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(invoices, ["draft", "paid", "sent"]);
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM review_items WHERE state = 'open' AND kind = 'conflict'")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(open, 1, "the demo's status conflict waits in the inbox");
        let duplicates: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM review_items WHERE state = 'open' AND kind = 'possible_duplicate'")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(duplicates, 1, "the demo's possible duplicate waits in the inbox");
    });
}

#[test]
fn the_push_benchmark_runs_and_prints_its_figures() {
    let out = fieldsync(&[
        "bench",
        "push",
        "--devices",
        "2",
        "--batches",
        "2",
        "--batch-size",
        "10",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    for figure in [
        "server push rate:",
        "batch latency:",
        "raw SQLite insert rate:",
        "ratio server / raw:",
        "server CPU per change:",
    ] {
        assert!(said.contains(figure), "no `{figure}` in {said}");
    }
    assert!(said.contains("40 changes"), "{said}");
}

#[test]
fn serve_reads_its_config_file_and_names_a_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fieldsync.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nlisen = \"oops\"\n").unwrap();
    let out = fieldsync(&["serve", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unknown field `lisen`"),
        "{}",
        text(&out.stderr)
    );

    // A setting from the file takes effect: its policy file is the one the server refuses.
    let policy = dir.path().join("missing-policy.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\npolicy = \"{}\"\n",
            dir.path().join("data").display(),
            policy.display()
        ),
    )
    .unwrap();
    let out = fieldsync(&["serve", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("missing-policy.toml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_simulator_runs_a_fleet_that_collides_with_the_office_and_settles() {
    let out = fieldsync(&["sim", "--devices", "4", "--seed", "7"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("office: office paused"), "{said}");
    assert!(said.contains("office: dispatch reassigned"), "{said}");
    for user in ["tom", "rita", "kai", "tech4"] {
        assert!(
            said.contains(&format!("== {user} ==")),
            "no {user} in {said}"
        );
    }
    let fleet = said.lines().find(|l| l.starts_with("fleet:")).unwrap();
    assert!(
        fleet.contains("4 devices") && fleet.ends_with("0 still pending"),
        "{fleet}"
    );
    assert!(
        said.contains("needs review because someone changed it in the office"),
        "{said}"
    );
}

/// The demo's data in a fresh directory (its seed has a status conflict and a possible duplicate).
fn seeded_demo() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = fieldsync(&[
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--seed-only",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    (dir, data)
}

#[test]
fn report_reads_the_store_as_tables_and_as_csv() {
    let (_dir, data) = seeded_demo();
    let data = data.to_str().unwrap();
    let out = fieldsync(&["report", "--since", "7d", "--data-dir", data]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let per_device = table.find("Per device").expect("a per-device section");
    let per_rule = table.find("Per rule").expect("a per-rule section");
    let events = table
        .find("Events (newest first)")
        .expect("an events section");
    assert!(per_device < per_rule && per_rule < events, "{table}");
    for expected in [
        "Conflict",
        "Possible duplicate",
        "manual_review",
        "duplicate_match",
        "Tom's tablet",
    ] {
        assert!(table.contains(expected), "no {expected} in\n{table}");
    }

    let out = fieldsync(&["report", "--since", "7d", "--csv", "--data-dir", data]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[..3], ["kind", "cause", "rule"], "{csv}");
    let kind = header.iter().position(|c| *c == "kind").unwrap();
    let kinds: Vec<String> = lines
        .map(|l| l.split(',').nth(kind).unwrap().to_string())
        .collect();
    assert!(kinds.iter().any(|k| k == "conflict"), "{csv}");
    assert!(kinds.iter().any(|k| k == "possible_duplicate"), "{csv}");

    // A period that ended before the demo was seeded has nothing in it.
    let out = fieldsync(&[
        "report",
        "--since",
        "2001-01-01T00:00:00Z",
        "--data-dir",
        data,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = fieldsync(&["report", "--since", "soon", "--data-dir", data]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("7d"), "{}", text(&out.stderr));
}

#[test]
fn report_asks_a_running_server_as_an_office_user() {
    let (_dir, data) = seeded_demo();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .env("FIELDSYNC_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not listen within 30 s"
        );
        std::thread::yield_now();
    }
    let report = |user: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fieldsync"))
            .args(["report", "--server", &base, "--user", user])
            .args(extra)
            .env("FIELDSYNC_LOG", "warn")
            .env("FIELDSYNC_PASSWORD", "fieldsync-demo")
            .output()
            .unwrap()
    };
    let office = report("dana", &["--csv"]);
    let technician = report("tom", &[]);
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(office.status.success(), "{}", text(&office.stderr));
    assert!(
        text(&office.stdout).starts_with("kind,cause,rule,"),
        "{}",
        text(&office.stdout)
    );
    assert!(
        text(&office.stdout).contains("conflict,conflict_rule,manual_review"),
        "{}",
        text(&office.stdout)
    );
    assert!(!technician.status.success());
    assert!(
        text(&technician.stderr).contains("forbidden"),
        "{}",
        text(&technician.stderr)
    );
}

/// A demo that cannot listen writes nothing, so the next run seeds; `--seed-only` needs no port
/// at all; a store a stopped run left half-seeded (no `demo-seeded` marker) is set aside, kept,
/// and seeded afresh instead of being served as an empty board.
#[test]
fn a_demo_that_stops_half_way_is_never_taken_for_a_seeded_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().to_string();
    let out = fieldsync(&[
        "demo",
        "--listen",
        &port,
        "--data-dir",
        data.to_str().unwrap(),
        "--no-app",
        "--no-devices",
    ]);
    assert!(!out.status.success(), "a busy port stops the demo");
    assert!(
        text(&out.stderr).contains("cannot listen on"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !data.join("fieldsync.db").exists(),
        "nothing was written before the port was known"
    );

    // Seeding only: the busy port does not matter.
    let out = fieldsync(&[
        "demo",
        "--listen",
        &port,
        "--data-dir",
        data.to_str().unwrap(),
        "--seed-only",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(data.join("demo-seeded").exists());

    // A run that stopped mid-seed leaves no marker: the next one keeps that store aside and seeds.
    std::fs::remove_file(data.join("demo-seeded")).unwrap();
    let out = fieldsync(&[
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--seed-only",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("never fully seeded"),
        "{}",
        text(&out.stdout)
    );
    let aside: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("fieldsync.db.incomplete-"))
        .collect();
    assert!(!aside.is_empty(), "the half-seeded store is kept");
    assert!(data.join("demo-seeded").exists());
    drop(busy);
}
