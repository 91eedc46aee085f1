//! A person's session token in the operating system's credential store (Secret Service on
//! Linux, Keychain on macOS, Credential Manager on Windows, through the `keyring` crate), with a
//! private file as the fallback where there is no such store (a Linux desktop with no session
//! bus or no keyring daemon): the app then still keeps people signed in, never in plain in a
//! cache database.

use fieldsync_client::{FileTokens, TokenStore};
use std::path::Path;
use std::sync::Arc;

use crate::desk::TokensFor;

/// The entries' service name in the credential store.
const SERVICE: &str = "Fieldsync";

/// One person's token: the credential store first, the file when the store is not there.
pub struct KeyringTokens {
    entry: Option<keyring::Entry>,
    fallback: FileTokens,
}

impl KeyringTokens {
    /// The entry is named after the person and the app's data folder, so two installs (or two
    /// test runs) on one account never read each other's tokens.
    pub fn new(folder: &Path, user: &str) -> KeyringTokens {
        let account = format!("{user} ({})", folder.display());
        KeyringTokens {
            entry: keyring::Entry::new(SERVICE, &account).ok(),
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
        self.entry
            .as_ref()
            .is_some_and(|e| e.get_password().is_ok())
    }
}

impl TokenStore for KeyringTokens {
    fn load(&self) -> std::io::Result<Option<String>> {
        if let Some(entry) = &self.entry {
            if let Ok(token) = entry.get_password() {
                return Ok(Some(token));
            }
        }
        self.fallback.load()
    }

    fn save(&self, token: &str) -> std::io::Result<()> {
        match self.entry.as_ref().map(|e| e.set_password(token)) {
            Some(Ok(())) => {
                // In the store now: a file from a time without one goes.
                self.fallback.clear()
            }
            Some(Err(e)) => {
                tracing::info!(error = %e, "no credential store; the session token is kept in a private file");
                self.fallback.save(token)
            }
            None => self.fallback.save(token),
        }
    }

    fn clear(&self) -> std::io::Result<()> {
        if let Some(entry) = &self.entry {
            match entry.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => {}
                Err(e) => tracing::info!(error = %e, "the credential store could not be cleared"),
            }
        }
        self.fallback.clear()
    }
}
