//! The computer the app runs on, shared by everyone who signs in on it (a shared office PC).
//! It holds what belongs to the computer, not to a person: the server's address and the name
//! dispatchers see for this computer (its settings, asked for on the first run), and one folder
//! per person with their own cache, outbox and files, so the next person to sign in sees none
//! of the last one's records and never sends their changes under the wrong name (the server
//! takes the author from the token, and each person's outbox only ever goes with their own).
//! Tokens are not in the caches: each person's lives in a [`TokenStore`] the desk makes for
//! them (the desktop's credential store, or a private file).

use fieldsync_client::{ClientConfig, Clock, FileTokens, HttpTransport, SyncClient, TokenStore};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ts_rs::TS;

use crate::AppError;

/// What this computer is set up with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DeskSettings {
    /// The sync server's address (`https://sync.example.com`); none on a first run.
    pub server: Option<String>,
    /// What dispatchers see as this device ("Front desk PC"); the hostname by default.
    pub computer_name: String,
}

/// The settings screen, and the first run's.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DeskView {
    pub settings: DeskSettings,
    /// No server address yet: the app opens on the first-run screen.
    pub first_run: bool,
    /// What the computer calls itself, offered as the computer's name.
    pub hostname: String,
    /// People whose changes wait on this computer until they sign in again.
    pub waiting: Vec<WaitingWork>,
    /// The settings come from whoever started the app (the demo, a command line) and cannot be
    /// changed from here.
    pub fixed: bool,
}

/// One person's unsynced work left on this computer, as it stood when they signed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct WaitingWork {
    pub user: String,
    pub display_name: String,
    pub changes: u32,
}

/// The answer to "is this the server?".
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ServerCheck {
    /// The address as it will be used (trimmed, no trailing slash).
    pub server: String,
    pub ok: bool,
    pub message: String,
}

/// "Is this the server?" about an address typed in.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ServerArgs {
    pub server: String,
}

/// The settings the desk was started with: a first run asks for the rest.
#[derive(Debug, Clone, Default)]
pub struct DeskPreset {
    /// A server address given by whoever started the app; it wins over the saved one.
    pub server: Option<String>,
    pub computer_name: Option<String>,
    /// The computer's name when none was given or saved (instead of the hostname).
    pub default_computer_name: Option<String>,
}

/// How a person's token is kept: chosen by the shell (the desktop asks the credential store).
pub type TokensFor = dyn Fn(&Path, &str) -> Arc<dyn TokenStore> + Send + Sync;

/// The computer: its settings file and its people's folders under one data folder.
pub struct Desk {
    dir: PathBuf,
    settings: Mutex<DeskSettings>,
    fixed: bool,
    tokens: Box<TokensFor>,
    clock: Arc<dyn Clock>,
    /// The longest wait between tries to reach a lost server (see [`ClientConfig`]).
    reconnect_cap: Duration,
}

/// What is kept per person besides their cache: the last sign-out's unsynced count.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PersonFile {
    display_name: String,
    unsynced: u32,
}

/// How long "is this the server?" waits: a person is looking at the form.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

impl Desk {
    /// Opens the computer's data folder. Its settings are read from `settings.json`, then the
    /// preset's values laid over them.
    pub fn open(
        dir: &Path,
        preset: DeskPreset,
        tokens: Box<TokensFor>,
        clock: Arc<dyn Clock>,
    ) -> Result<Desk, AppError> {
        std::fs::create_dir_all(dir.join("people")).map_err(io)?;
        let mut settings: DeskSettings = match std::fs::read(dir.join("settings.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(_) => DeskSettings::default(),
        };
        let fixed = preset.server.is_some();
        if let Some(server) = preset.server {
            settings.server = Some(normalise(&server));
        }
        if let Some(name) = preset.computer_name {
            settings.computer_name = name;
        }
        if settings.computer_name.trim().is_empty() {
            settings.computer_name = preset.default_computer_name.unwrap_or_else(hostname);
        }
        Ok(Desk {
            dir: dir.to_path_buf(),
            settings: Mutex::new(settings),
            fixed,
            tokens,
            clock,
            reconnect_cap: Duration::from_secs(2),
        })
    }

    /// Each person's token in a private file in their own folder: for a shell with no
    /// credential store (a browser on loopback, tests).
    pub fn file_tokens() -> Box<TokensFor> {
        Box::new(|folder: &Path, _user: &str| -> Arc<dyn TokenStore> {
            Arc::new(FileTokens::new(&folder.join("session.token")))
        })
    }

    pub fn settings(&self) -> DeskSettings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn view(&self) -> DeskView {
        let settings = self.settings();
        DeskView {
            first_run: settings.server.is_none(),
            settings,
            hostname: hostname(),
            waiting: self.waiting(),
            fixed: self.fixed,
        }
    }

    /// Checks the address, then keeps both settings. A wrong or silent address is refused with
    /// the check's sentence: nothing is saved that cannot work.
    pub async fn save(&self, wanted: DeskSettings) -> Result<DeskView, AppError> {
        if self.fixed {
            return Err(AppError::new(
                "fixed_settings",
                "This app was started with its server address given, so it is not changed here.",
            ));
        }
        let name = wanted.computer_name.trim();
        if name.is_empty() || name.chars().count() > 60 {
            return Err(AppError::new(
                "invalid",
                "Give this computer a name of 1 to 60 characters: it is what dispatchers see as the device.",
            ));
        }
        let Some(server) = wanted.server.as_deref() else {
            return Err(AppError::new("invalid", "Give the sync server's address."));
        };
        let check = check_server(server).await;
        if !check.ok {
            return Err(AppError::new("server_check", check.message));
        }
        let settings = DeskSettings {
            server: Some(check.server),
            computer_name: name.to_string(),
        };
        let bytes = serde_json::to_vec_pretty(&settings)
            .map_err(|e| AppError::new("internal", e.to_string()))?;
        let fresh = self.dir.join("settings.json.new");
        std::fs::write(&fresh, bytes).map_err(io)?;
        std::fs::rename(&fresh, self.dir.join("settings.json")).map_err(io)?;
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings;
        Ok(self.view())
    }

    /// The folder of `user`'s own cache, outbox and files.
    fn folder(&self, user: &str) -> PathBuf {
        self.dir.join("people").join(user)
    }

    /// Opens `user`'s own client: their cache, their outbox, their token. `user` is checked by
    /// the same rule the server names people by, so it is always a plain folder name.
    pub async fn open_client(&self, user: &str, seed: u64) -> Result<SyncClient, AppError> {
        fieldsync_core::accounts::check_user_name(user).map_err(|_| {
            // The server's own answer to a name it does not know.
            AppError::new("invalid_credentials", "the user name or password is wrong")
        })?;
        let settings = self.settings();
        let Some(server) = settings.server else {
            return Err(AppError::new(
                "not_configured",
                "Give the sync server's address in Settings first.",
            ));
        };
        let folder = self.folder(user);
        std::fs::create_dir_all(&folder).map_err(io)?;
        let transport =
            HttpTransport::new(&server).map_err(|e| AppError::new("invalid", e.to_string()))?;
        let mut config = ClientConfig::new(&settings.computer_name, &folder.join("files"), seed);
        // A desk on mains power looks for a lost server every couple of seconds, so the banner
        // turns "Synced" soon after it is back, with nobody pressing anything.
        config.reconnect_cap = self.reconnect_cap;
        let tokens = (self.tokens)(&folder, user);
        Ok(SyncClient::open_with_tokens(
            &folder.join("cache.db"),
            Arc::new(transport),
            self.clock.clone(),
            config,
            tokens,
        )
        .await?)
    }

    /// Whether `user` has anything on this computer (a folder from an earlier sign-in).
    pub fn knows(&self, user: &str) -> bool {
        fieldsync_core::accounts::check_user_name(user).is_ok()
            && self.folder(user).join("cache.db").exists()
    }

    /// Removes the folder a failed first sign-in made: nobody's data is in it.
    pub fn forget_new(&self, user: &str) {
        if fieldsync_core::accounts::check_user_name(user).is_ok() {
            let _ = std::fs::remove_dir_all(self.folder(user));
        }
    }

    /// The person who was signed in when the app last closed, to open on their screens again.
    pub fn last_user(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("last-user"))
            .ok()
            .map(|u| u.trim().to_string())
            .filter(|u| fieldsync_core::accounts::check_user_name(u).is_ok())
    }

    pub fn set_last_user(&self, user: Option<&str>) {
        let path = self.dir.join("last-user");
        let _ = match user {
            Some(user) => std::fs::write(path, user),
            None => std::fs::remove_file(path),
        };
    }

    /// Notes how much of `user`'s work waits on this computer (shown on the sign-in screen).
    pub fn note_unsynced(&self, user: &str, display_name: &str, unsynced: u32) {
        let file = PersonFile {
            display_name: display_name.to_string(),
            unsynced,
        };
        if let Ok(bytes) = serde_json::to_vec(&file) {
            let _ = std::fs::write(self.folder(user).join("person.json"), bytes);
        }
    }

    fn waiting(&self) -> Vec<WaitingWork> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("people")) else {
            return Vec::new();
        };
        let mut waiting: Vec<WaitingWork> = entries
            .flatten()
            .filter_map(|entry| {
                let user = entry.file_name().to_string_lossy().to_string();
                let bytes = std::fs::read(entry.path().join("person.json")).ok()?;
                let file: PersonFile = serde_json::from_slice(&bytes).ok()?;
                (file.unsynced > 0).then_some(WaitingWork {
                    user,
                    display_name: file.display_name,
                    changes: file.unsynced,
                })
            })
            .collect();
        waiting.sort_by(|a, b| a.user.cmp(&b.user));
        waiting
    }
}

/// "3 of Dana's changes are not synced yet; ...": what signing out leaves behind, in words.
pub fn unsynced_sentence(display_name: &str, changes: u32) -> Option<String> {
    let first = display_name
        .split_whitespace()
        .next()
        .unwrap_or(display_name);
    match changes {
        0 => None,
        1 => Some(format!(
            "1 of {first}'s changes is not synced yet; it is sent when {first} signs in again on this computer."
        )),
        n => Some(format!(
            "{n} of {first}'s changes are not synced yet; they are sent when {first} signs in again on this computer."
        )),
    }
}

/// The address as the app will use it: trimmed, without a trailing slash, and with a scheme
/// when a person typed none ("192.168.1.20:8640" is a server on the office network, spoken to
/// over plain HTTP; a bare name such as "sync.example.com" is taken as HTTPS).
fn normalise(server: &str) -> String {
    let server = server.trim().trim_end_matches('/');
    if server.is_empty() || server.contains("://") {
        return server.to_string();
    }
    let host = server.split(['/', ':']).next().unwrap_or_default();
    let local = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok();
    if local || server.contains(':') {
        format!("http://{server}")
    } else {
        format!("https://{server}")
    }
}

/// What the computer calls itself; "Office PC" when it will not say.
pub fn hostname() -> String {
    whoami::fallible::hostname()
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "Office PC".into())
}

/// Asks `server` for its `/healthz`, and says in a sentence what came back.
pub async fn check_server(server: &str) -> ServerCheck {
    let typed = server.trim().to_string();
    let server = normalise(server);
    let answer = |ok: bool, message: String| ServerCheck {
        server: server.clone(),
        ok,
        message,
    };
    // Joined as text: a server under a path (behind a proxy) has its /healthz under that path.
    let url = match reqwest::Url::parse(&format!("{server}/healthz")) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => url,
        _ => {
            return answer(
                false,
                format!(
                    "\"{typed}\" is not a web address. It looks like https://sync.example.com or http://192.168.1.20:8640."
                ),
            );
        }
    };
    let Ok(http) = reqwest::Client::builder().timeout(CHECK_TIMEOUT).build() else {
        return answer(false, "This computer cannot make web requests.".into());
    };
    match http.get(url).send().await {
        Err(e) if e.is_timeout() => answer(
            false,
            format!(
                "{server} did not answer within {} seconds. Check the address, and that this computer can reach the server.",
                CHECK_TIMEOUT.as_secs()
            ),
        ),
        Err(_) => answer(
            false,
            format!(
                "Nothing answered at {server}. Check the address and the port, and that the sync server is running."
            ),
        ),
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            if status.is_success() && body.trim() == "ok" {
                answer(
                    true,
                    format!("{server} is a Fieldsync server and it is up."),
                )
            } else if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                answer(
                    false,
                    format!(
                        "{server} is a Fieldsync server, but its database is not answering. Try again in a moment, or tell whoever runs the server."
                    ),
                )
            } else {
                answer(
                    false,
                    format!(
                        "{server} answered, but it is not a Fieldsync sync server (it said {status}). Check the address and the port."
                    ),
                )
            }
        }
    }
}

fn io(e: std::io::Error) -> AppError {
    AppError::new(
        "internal",
        format!("This computer's app folder cannot be written: {e}"),
    )
}
