//! The soak, short: 100 simulated devices for a minute against a server process; its memory
//! and open descriptors must level off (`fieldsync bench soak` fails otherwise). The long run
//! is `fieldsync bench soak --devices 300 --minutes 5` (README).
#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn a_hundred_devices_for_a_minute_level_off() {
    let out = Command::new(env!("CARGO_BIN_EXE_fieldsync"))
        .args(["bench", "soak", "--devices", "100", "--seconds", "60"])
        .env("FIELDSYNC_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for figure in ["RSS", "open descriptors", "sockets", "PASS"] {
        assert!(stdout.contains(figure), "{figure} missing:\n{stdout}");
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains(" 0 errors"), "{stdout}");
}
