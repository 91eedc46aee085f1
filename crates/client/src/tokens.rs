//! Where a device keeps its session token. Never in the cache database: a cache is a file anyone
//! with the disk can copy, and on a shared office PC several people's caches sit side by side.
//! The desktop keeps it in the operating system's credential store (the app's `KeyringTokens`),
//! falling back to a [`FileTokens`] only this user can read where there is no such store; every
//! other client (the field simulator, tests) uses a [`FileTokens`] beside its cache.

use std::io::Write;
use std::path::{Path, PathBuf};

/// One person's session token on this device.
pub trait TokenStore: Send + Sync {
    fn load(&self) -> std::io::Result<Option<String>>;
    fn save(&self, token: &str) -> std::io::Result<()>;
    fn clear(&self) -> std::io::Result<()>;
}

/// A token in a file of its own that only the user running the app can read (mode 0600 on
/// Unix; on Windows a file in the user's profile is the user's by its folder's ACL).
#[derive(Debug, Clone)]
pub struct FileTokens {
    path: PathBuf,
}

impl FileTokens {
    pub fn new(path: &Path) -> FileTokens {
        FileTokens {
            path: path.to_path_buf(),
        }
    }

    /// The file beside a cache that the default client keeps its token in.
    pub fn beside(cache_path: &Path) -> FileTokens {
        let mut name = cache_path.file_name().unwrap_or_default().to_os_string();
        name.push(".token");
        FileTokens::new(&cache_path.with_file_name(name))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl TokenStore for FileTokens {
    fn load(&self) -> std::io::Result<Option<String>> {
        match std::fs::read_to_string(&self.path) {
            Ok(token) if !token.trim().is_empty() => Ok(Some(token.trim().to_string())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Written to a new file made private before the token goes in, then renamed over the old
    /// one: a crash leaves the old token or the new one, never half of one, and the token is
    /// never in a file someone else can read, not even for a moment.
    fn save(&self, token: &str) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let fresh = self.path.with_extension("token-new");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&fresh)?;
        #[cfg(unix)]
        {
            // A file left from before with wider rights keeps them through `open`.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(token.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&fresh, &self.path)
    }

    fn clear(&self) -> std::io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_is_private_and_survives_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = FileTokens::beside(&dir.path().join("cache.db"));
        assert_eq!(tokens.load().unwrap(), None);
        tokens.save("secret-1").unwrap();
        tokens.save("secret-2").unwrap();
        assert_eq!(
            FileTokens::beside(&dir.path().join("cache.db"))
                .load()
                .unwrap(),
            Some("secret-2".into())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(tokens.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "only the user may read the token");
        }
        tokens.clear().unwrap();
        tokens.clear().unwrap();
        assert_eq!(tokens.load().unwrap(), None);
    }
}
