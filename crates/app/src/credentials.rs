//! A person's session token in the operating system's credential store (Secret Service on
//! Linux, Keychain on macOS, Credential Manager on Windows, through the `keyring` crate), with a
//! private file as the fallback where there is no such store (a Linux desktop with no session
//! bus or no keyring daemon): the app then still keeps people signed in, never in plain in a
//! cache database.

use fieldsync_client::{FileTokens, TokenStore};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::desk::TokensFor;

/// The entries' service name in the credential store.
const SERVICE: &str = "Fieldsync";

/// The longest a credential store may take to answer: one that asks the person something (a
/// keyring to unlock) or hangs must not hold up signing in or the sync loop; past this the
/// token goes to the file.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether this computer has a credential store to ask. On Linux it is the Secret Service on
/// the session bus: with no bus named, `keyring` would start one itself (`dbus-launch
/// --autolaunch`), which starts a keyring daemon whose unlock prompt nobody may be there to
/// answer, and the bus outlives the app. So no bus, no store.
fn has_store() -> bool {
    if cfg!(target_os = "linux") {
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty())
    } else {
        true
    }
}

/// Runs one credential-store call on a thread of its own, giving up after [`STORE_TIMEOUT`]
/// (the thread finishes on its own; its answer is then not waited for).
fn bounded<T: Send + 'static>(
    call: impl FnOnce() -> keyring::Result<T> + Send + 'static,
) -> Option<keyring::Result<T>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(call());
    });
    rx.recv_timeout(STORE_TIMEOUT).ok()
}

/// One person's token: the credential store first, the file when the store is not there.
pub struct KeyringTokens {
    entry: Option<Arc<keyring::Entry>>,
    fallback: FileTokens,
}

impl KeyringTokens {
    /// The entry is named after the person and the app's data folder, so two installs (or two
    /// test runs) on one account never read each other's tokens.
    pub fn new(folder: &Path, user: &str) -> KeyringTokens {
        let account = format!("{user} ({})", folder.display());
        KeyringTokens {
            entry: has_store()
                .then(|| keyring::Entry::new(SERVICE, &account).ok().map(Arc::new))
                .flatten(),
            fallback: FileTokens::new(&folder.join("session.token")),
        }
    }

    /// The desk's maker of token stores for the desktop.
    pub fn for_desk() -> Box<TokensFor> {
        Box::new(|folder: &Path, user: &str| -> Arc<dyn TokenStore> {
            Arc::new(KeyringTokens::new(folder, user))
        })
    }

    /// Where the token went on the last save: for the tests and the logs.
    pub fn in_credential_store(&self) -> bool {
        self.entry.as_ref().is_some_and(|e| {
            let e = e.clone();
            matches!(bounded(move || e.get_password()), Some(Ok(_)))
        })
    }
}

impl TokenStore for KeyringTokens {
    fn load(&self) -> std::io::Result<Option<String>> {
        if let Some(entry) = self.entry.clone() {
            if let Some(Ok(token)) = bounded(move || entry.get_password()) {
                return Ok(Some(token));
            }
        }
        self.fallback.load()
    }

    fn save(&self, token: &str) -> std::io::Result<()> {
        let stored = self.entry.clone().map(|e| {
            let token = token.to_string();
            bounded(move || e.set_password(&token))
        });
        match stored {
            Some(Some(Ok(()))) => {
                // In the store now: a file from a time without one goes.
                self.fallback.clear()
            }
            Some(Some(Err(e))) => {
                tracing::info!(error = %e, "no credential store; the session token is kept in a private file");
                self.fallback.save(token)
            }
            Some(None) => {
                tracing::info!(
                    "the credential store did not answer; the session token is kept in a private file"
                );
                self.fallback.save(token)
            }
            None => self.fallback.save(token),
        }
    }

    fn clear(&self) -> std::io::Result<()> {
        if let Some(entry) = self.entry.clone() {
            match bounded(move || entry.delete_credential()) {
                Some(Ok(())) | Some(Err(keyring::Error::NoEntry)) => {}
                Some(Err(e)) => {
                    tracing::info!(error = %e, "the credential store could not be cleared")
                }
                None => tracing::info!("the credential store did not answer to clear a token"),
            }
        }
        self.fallback.clear()
    }
}
