//! The session token with no credential store to keep it (a Linux desktop without a session
//! bus or a keyring daemon): the real `keyring` crate is asked and fails, and the token goes to
//! a file only this user can read, and comes back from it; signing out removes it. The path
//! with a store is driven in the real window (ui/e2e-desktop), inside a session bus with an
//! unlocked gnome-keyring.
#![allow(clippy::unwrap_used)]

use fieldsync_app::credentials::KeyringTokens;
use fieldsync_client::TokenStore;

#[test]
fn with_no_session_bus_the_store_is_not_asked_and_the_token_is_kept_in_a_private_file() {
    // No bus named: keyring would start one itself (and a keyring daemon with a prompt); the
    // app does not ask it, and the token is in the file at once.
    std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let tokens = KeyringTokens::new(dir.path(), "sam");
    tokens.save("token-of-sam").unwrap();
    assert_eq!(tokens.load().unwrap(), Some("token-of-sam".into()));
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("session.token")).unwrap(),
        "token-of-sam"
    );
}

#[test]
fn with_no_credential_store_the_token_is_kept_in_a_private_file() {
    // No session bus at all: nothing answers at this address (each test runs in a process of
    // its own under nextest, so no other test sees it).
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/fieldsync-test-bus",
    );
    let dir = tempfile::tempdir().unwrap();
    let tokens = KeyringTokens::new(dir.path(), "dana");
    assert_eq!(tokens.load().unwrap(), None);
    tokens.save("token-of-dana").unwrap();
    assert!(!tokens.in_credential_store());
    let file = dir.path().join("session.token");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "token-of-dana");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // A new start finds it again.
    assert_eq!(
        KeyringTokens::new(dir.path(), "dana").load().unwrap(),
        Some("token-of-dana".into())
    );
    tokens.clear().unwrap();
    assert!(!file.exists());
    assert_eq!(tokens.load().unwrap(), None);
}
