//! What an operator's `fieldsync` keeps safe, measured on the real binary (its allocator, its
//! store): a password given to `user add` is stored only as its argon2 hash, and a burst of
//! sign-ins cannot take the server's memory (each check holds 19 MiB).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn add_user(data: &str, name: &str, password: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args([
            "user",
            "add",
            name,
            "--role",
            "dispatcher",
            "--password-stdin",
            "--data-dir",
            data,
        ])
        .env("FIELDSYNC_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{password}").unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// Every byte the store keeps: the SQLite file and its write-ahead log.
fn stored_bytes(data: &str) -> String {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(data).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("fieldsync.db"))
        {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(!all.is_empty(), "no store in {data}");
    String::from_utf8_lossy(&all).into_owned()
}

#[test]
fn a_password_given_to_user_add_is_stored_as_its_argon2_hash_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let password = "plain-text-would-be-a-leak-7f3a";
    add_user(data, "dana", password);
    let stored = stored_bytes(data);
    assert!(
        !stored.contains(password),
        "the password is stored in plain"
    );
    assert!(
        stored.contains("$argon2id$"),
        "the password's hash is stored"
    );
}

/// A server process of its own on a free port, answering.
fn serve(data: &str) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            data,
        ])
        .env("FIELDSYNC_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the server did not listen within 30 s"
        );
        std::thread::yield_now();
    }
    (child, format!("http://127.0.0.1:{port}"))
}

/// The most memory the process has held at once, in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap()
        / 1024
}

/// Guesses at many names at once pass the per-name limit; before the checks took turns, 48 of
/// them held 48 x 19 MiB at once (900 MiB and more).
#[test]
fn a_burst_of_sign_ins_waits_its_turn_instead_of_taking_the_memory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    add_user(data, "dana", "the right one");
    let (mut server, base) = serve(data);
    let before = peak_rss_mib(server.id());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let statuses = runtime.block_on(async {
        let http = reqwest::Client::new();
        let burst = (0..48).map(|i| {
            http.post(format!("{base}/api/v1/auth/login"))
                .json(&serde_json::json!({"username": format!("guess{i}"),
                                          "password": "guess", "device_name": "desk"}))
                .send()
        });
        futures::future::join_all(burst).await
    });
    let after = peak_rss_mib(server.id());
    server.kill().unwrap();
    server.wait().unwrap();
    for status in statuses {
        assert_eq!(status.unwrap().status().as_u16(), 401);
    }
    assert!(
        after < before + 200,
        "48 sign-ins at once took the server from {before} MiB to {after} MiB"
    );
}
