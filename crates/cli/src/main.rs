//! The `fieldsync` binary: serve, demo, admin tasks and benchmarks.

/// The server allocates many small, short-lived buffers per change (JSON values, SQL
/// arguments); mimalloc halves the time glibc's allocator spent on them in the push benchmark.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod database;
mod demo;
mod demo_data;
mod field;
mod http;
mod migrate;
mod office;
mod report;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use fieldsync_core::{Group, Policy, RecordType, Role};
use fieldsync_server::auth::hash_password;
use fieldsync_server::store::{AdminAction, NewUser, Store};
use fieldsync_server::{AppState, Limits, SystemClock};
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "fieldsync",
    version,
    about = "Offline-first sync for field service: server, demo and admin tools"
)]
struct Cli {
    /// Log format: plain text or JSON lines.
    #[arg(
        long,
        global = true,
        env = "FIELDSYNC_LOG_FORMAT",
        default_value = "plain"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Plain,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the sync server.
    ///
    /// Example: fieldsync serve --listen 127.0.0.1:8640 --data-dir ./data
    Serve(ServeArgs),
    /// Start the embedded server with demo data and print how to sign in.
    ///
    /// Example: fieldsync demo
    Demo(DemoArgs),
    /// Manage users.
    ///
    /// Example: echo secret | fieldsync user add tom --role technician --team north --password-stdin
    #[command(subcommand)]
    User(UserCommand),
    /// List or revoke devices.
    ///
    /// Example: fieldsync device list
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Check or explain the policy file, offline.
    ///
    /// Example: fieldsync policy explain job status
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Drive one simulated field device through a day's work, going offline and online.
    ///
    /// Example: fieldsync field --user tom --server http://127.0.0.1:8640
    Field(FieldArgs),
    /// Run many simulated field devices at once against a server, with the office colliding.
    ///
    /// Example: fieldsync sim --devices 5
    Sim(SimArgs),
    /// Run the office app's command layer and UI on loopback (prints the address with its secret).
    ///
    /// Example: fieldsync app --server http://127.0.0.1:8640 --user dana
    App(AppArgs),
    /// The weekly sync review: every possible duplicate, conflict, rejection, ownership-moved
    /// hold and slow change of a period, per device and per rule, as tables or CSV. Reads the
    /// store (like `device list`), or asks a running server with --server and --user (the
    /// password from FIELDSYNC_PASSWORD or standard input).
    ///
    /// Example: fieldsync report --since 7d --slow 1h --csv > sync-review.csv
    Report(ReportArgs),
    /// Copy a company's whole store from its SQLite file into an empty PostgreSQL database,
    /// and check the copy (row counts and a checksum per table) before saying done.
    ///
    /// Example: fieldsync migrate-store --from sqlite:./fieldsync-data/fieldsync.db --to postgres://fieldsync@db.example:5432/fieldsync
    MigrateStore(MigrateStoreArgs),
    /// Measure the server.
    ///
    /// Example: fieldsync bench push --devices 50 --batches 4
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

#[derive(Args)]
struct ReportArgs {
    /// The period: a span back from now (7d, 36h, 90m, 2w) or a time (RFC 3339).
    #[arg(long, default_value = "7d")]
    since: String,
    /// A change is slow when it reached the server at least this long after its device saved
    /// it (its device time): 1h, 30m, 2d.
    #[arg(long, default_value = "1h")]
    slow: String,
    /// Print the events as CSV instead of tables.
    #[arg(long)]
    csv: bool,
    /// Ask this running server instead of reading the store, e.g. http://127.0.0.1:8640.
    #[arg(long, requires = "user")]
    server: Option<String>,
    /// The office user to sign in as, with --server.
    #[arg(long, requires = "server")]
    user: Option<String>,
    /// The policy file whose rules name the events (store only; the shipped one by default).
    #[arg(long, env = "FIELDSYNC_POLICY", conflicts_with = "server")]
    policy: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Args)]
struct MigrateStoreArgs {
    /// The store to copy: sqlite:PATH (stop the servers on it first).
    #[arg(long)]
    from: String,
    /// The empty PostgreSQL database to copy into: postgres://USER@HOST:PORT/DATABASE.
    #[arg(long)]
    to: String,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Where the server keeps its SQLite file and uploaded files.
    #[arg(long, env = "FIELDSYNC_DATA_DIR", default_value = "./fieldsync-data")]
    data_dir: PathBuf,
    /// The server's database URL (sqlite:PATH or postgres://...); the default is the SQLite
    /// file in the data dir.
    #[arg(long, env = "FIELDSYNC_DATABASE_URL")]
    database: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    /// A TOML file with any of: listen, data_dir, database, policy. Flags and FIELDSYNC_*
    /// variables win over it.
    #[arg(long, env = "FIELDSYNC_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8640].
    #[arg(long, env = "FIELDSYNC_LISTEN")]
    listen: Option<SocketAddr>,
    /// Where the server keeps its SQLite file and uploaded files [default: ./fieldsync-data].
    #[arg(long, env = "FIELDSYNC_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL; the default is the embedded SQLite file in the data dir.
    #[arg(long, env = "FIELDSYNC_DATABASE_URL")]
    database: Option<String>,
    /// Policy file; the default is the shipped policy/default.toml.
    #[arg(long, env = "FIELDSYNC_POLICY")]
    policy: Option<PathBuf>,
}

/// The server's config file: the same settings as the flags.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    policy: Option<PathBuf>,
}

impl ServeArgs {
    /// Flags and variables first, then the config file, then the defaults.
    fn resolve(self) -> Result<(SocketAddr, PathBuf, Option<String>, Option<PathBuf>)> {
        let config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str::<ServeConfig>(&text)
                    .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?
            }
            None => ServeConfig::default(),
        };
        let listen = self
            .listen
            .or(config.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8640)));
        let data_dir = self
            .data_dir
            .or(config.data_dir)
            .unwrap_or_else(|| PathBuf::from("./fieldsync-data"));
        Ok((
            listen,
            data_dir,
            self.database.or(config.database),
            self.policy.or(config.policy),
        ))
    }
}

#[derive(Args)]
struct DemoArgs {
    /// Address to listen on.
    #[arg(long, env = "FIELDSYNC_LISTEN", default_value = "127.0.0.1:8640")]
    listen: SocketAddr,
    /// Where the demo keeps its data; it is created fresh (an existing demo there is kept).
    #[arg(long, default_value = "./fieldsync-demo")]
    data_dir: PathBuf,
    /// Seed the data and exit instead of serving.
    #[arg(long)]
    seed_only: bool,
    /// Do not start the office app.
    #[arg(long)]
    no_app: bool,
    /// Do not start the simulated field devices.
    #[arg(long)]
    no_devices: bool,
    /// The built UI (ui/dist).
    #[arg(long)]
    ui_dir: Option<PathBuf>,
}

#[derive(Args)]
struct FieldArgs {
    /// The technician to sign in as.
    #[arg(long)]
    user: String,
    #[arg(long, env = "FIELDSYNC_PASSWORD", default_value = demo_data::DEMO_PASSWORD)]
    password: String,
    /// The server's address.
    #[arg(
        long,
        env = "FIELDSYNC_SERVER",
        default_value = "http://127.0.0.1:8640"
    )]
    server: String,
    /// Where the device keeps its cache (kept between runs, like a real device).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Seeds the device's offline schedule and retry jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Chance, at each step, that the radio goes off (or back on).
    #[arg(long, default_value_t = 0.3)]
    offline_chance: f64,
}

#[derive(Args)]
struct AppArgs {
    /// The server's address. Without it the app asks on its first run (checked against the
    /// server's /healthz) and keeps the answer in its data directory; with it, that is fixed.
    #[arg(long, env = "FIELDSYNC_SERVER")]
    server: Option<String>,
    /// Address for the app's loopback service.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where the app keeps its settings and each person's own cache and outbox.
    #[arg(long, default_value = "./fieldsync-office")]
    data_dir: PathBuf,
    /// The built UI (ui/dist).
    #[arg(long)]
    ui_dir: Option<PathBuf>,
    /// The name this device signs in with, what dispatchers see beside its person. By default
    /// it names the data directory ("Office app (office-dana)"): one data directory is one
    /// device, so two apps of one person on two directories never replace each other's sign-in.
    #[arg(long, env = "FIELDSYNC_DEVICE_NAME")]
    device_name: Option<String>,
    /// Sign in as this user at start (with --password).
    #[arg(long)]
    user: Option<String>,
    #[arg(long, env = "FIELDSYNC_PASSWORD", default_value = demo_data::DEMO_PASSWORD)]
    password: String,
}

#[derive(Args)]
struct SimArgs {
    /// How many field devices.
    #[arg(long, default_value_t = 3)]
    devices: usize,
    /// An outside server to use; by default an embedded demo server is started.
    #[arg(long)]
    server: Option<String>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 0.3)]
    offline_chance: f64,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user, reading the password from standard input.
    ///
    /// Example: echo secret | fieldsync user add tom --role technician --team north --password-stdin
    Add {
        name: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        team: Option<String>,
        /// The name shown to people (defaults to NAME).
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List users.
    ///
    /// Example: fieldsync user list
    List {
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// List every device with its user, last seen and reported outbox.
    ///
    /// Example: fieldsync device list --data-dir ./data
    List {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Revoke a device: its token stops working at once.
    ///
    /// Example: fieldsync device revoke 0191c0de-...
    Revoke {
        device_id: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policy file; errors name the line and key.
    ///
    /// Example: fieldsync policy check policy/default.toml
    Check { file: PathBuf },
    /// Say which rule applies to a record type and field group, and why.
    ///
    /// Example: fieldsync policy explain job status
    Explain {
        record_type: String,
        group: String,
        /// Policy file (defaults to the shipped one).
        #[arg(long)]
        policy: Option<PathBuf>,
    },
}

/// Logs to standard error, or to `file` when given (the demo's terminal tells its story, and
/// one line per request would bury it).
fn init_logging(format: LogFormat, file: Option<std::fs::File>) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FIELDSYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match (format, file) {
        (LogFormat::Plain, None) => builder.with_writer(std::io::stderr).init(),
        (LogFormat::Json, None) => builder.json().with_writer(std::io::stderr).init(),
        (LogFormat::Plain, Some(f)) => builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .init(),
        (LogFormat::Json, Some(f)) => builder.json().with_writer(std::sync::Mutex::new(f)).init(),
    }
}

/// Where the demo's log goes: a file in its data directory unless the log was asked for
/// (`FIELDSYNC_LOG` set), then the terminal as for every other command.
fn demo_log(command: &Command) -> Option<(PathBuf, std::fs::File)> {
    let Command::Demo(args) = command else {
        return None;
    };
    if std::env::var_os("FIELDSYNC_LOG").is_some() {
        return None;
    }
    std::fs::create_dir_all(&args.data_dir).ok()?;
    let path = args.data_dir.join("demo.log");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .ok()?;
    Some((path, file))
}

fn load_policy(path: Option<&Path>) -> Result<Policy> {
    match path {
        None => Ok(Policy::default_policy()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read policy file {}", path.display()))?;
            Policy::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
    }
}

/// The store an admin command works on: `--database`, or the SQLite file in the data dir.
async fn open_store(data: &DataArgs) -> Result<Arc<dyn Store>> {
    database::Database::from_url(data.database.as_deref(), &data.data_dir)?
        .open()
        .await
}

/// Starts the server on `listen` over the store in `data_dir`; returns when shut down.
async fn run_server(
    listen: SocketAddr,
    data_dir: &Path,
    store: Arc<dyn Store>,
    policy: Policy,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (is another server running there?)"))?;
    let state = AppState::new(
        store.clone(),
        policy,
        data_dir.join("files"),
        Arc::new(SystemClock),
        Limits::default(),
    );
    tracing::info!(address = %listener.local_addr()?, data_dir = %data_dir.display(), "fieldsync server listening");
    fieldsync_server::serve(listener, state, shutdown_signal()).await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match demo_log(&cli.command) {
        Some((path, file)) => {
            println!(
                "The demo's log goes to {} (set FIELDSYNC_LOG=info to see it here).",
                path.display()
            );
            init_logging(cli.log_format, Some(file));
        }
        None => init_logging(cli.log_format, None),
    }
    match cli.command {
        Command::Serve(args) => {
            let (listen, data_dir, database, policy) = args.resolve()?;
            let policy = load_policy(policy.as_deref())?;
            // Uploaded files live in the data dir whichever database holds the rest: instances
            // on a shared database share it too (a shared volume).
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
            let database = database::Database::from_url(database.as_deref(), &data_dir)?;
            let store = database.open().await?;
            tracing::info!(database = %database.describe(), "store open");
            run_server(listen, &data_dir, store, policy).await
        }
        Command::Demo(args) => {
            let parts = demo::DemoParts {
                seed_only: args.seed_only,
                app: !args.no_app,
                devices: !args.no_devices,
                ui_dir: args.ui_dir.unwrap_or_else(office::default_ui_dir),
            };
            demo::run(args.listen, &args.data_dir, parts).await
        }
        Command::User(UserCommand::Add {
            name,
            role,
            team,
            display_name,
            password_stdin: _,
            data,
        }) => {
            let role = Role::parse(&role).with_context(|| {
                let known: Vec<&str> = Role::ALL.iter().map(Role::as_str).collect();
                format!("unknown role `{role}` (known: {})", known.join(", "))
            })?;
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            // The same rules as the admin page and the API (core's accounts).
            fieldsync_core::accounts::check_user_name(&name)
                .map_err(|r| anyhow::anyhow!(r.message))?;
            fieldsync_core::accounts::check_password(&name, password)
                .map_err(|r| anyhow::anyhow!(r.message))?;
            let hash = hash_password(password)
                .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
            let store = open_store(&data).await?;
            store
                .add_user(
                    NewUser {
                        display_name: display_name.unwrap_or_else(|| name.clone()),
                        name: name.clone(),
                        role,
                        team,
                        password_hash: hash,
                    },
                    chrono::Utc::now(),
                )
                .await?;
            println!("added {name} ({role})");
            Ok(())
        }
        Command::User(UserCommand::List { data }) => {
            let store = open_store(&data).await?;
            for user in store.list_users().await? {
                println!(
                    "{:<16} {:<12} {:<12} {}",
                    user.name,
                    user.role.as_str(),
                    user.team.unwrap_or_default(),
                    user.display_name
                );
            }
            Ok(())
        }
        Command::Device(DeviceCommand::List { data }) => {
            let store = open_store(&data).await?;
            println!(
                "{:<38} {:<12} {:<24} {:<22} {:>6}  revoked",
                "device", "user", "name", "last seen", "outbox"
            );
            for d in store.list_devices().await? {
                println!(
                    "{:<38} {:<12} {:<24} {:<22} {:>6}  {}",
                    d.device_id.to_string(),
                    d.user,
                    d.name,
                    d.last_seen
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_else(|| "never".into()),
                    d.outbox_depth
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into()),
                    if d.revoked_at.is_some() { "yes" } else { "no" }
                );
            }
            Ok(())
        }
        Command::Device(DeviceCommand::Revoke { device_id, data }) => {
            let id = device_id.parse().with_context(|| {
                format!("`{device_id}` is not a device id (see fieldsync device list)")
            })?;
            let store = open_store(&data).await?;
            // Logged in the admin log like a revocation from the app, by the command line.
            let by = fieldsync_core::Author {
                user: "(command line)".into(),
                role: Role::Admin,
                team: None,
            };
            store
                .administer(&by, AdminAction::RevokeDevice(id), chrono::Utc::now())
                .await?;
            println!("revoked {device_id}: its token no longer works");
            Ok(())
        }
        Command::Policy(PolicyCommand::Check { file }) => {
            let policy = load_policy(Some(&file))?;
            let groups: usize = policy.types.values().map(|t| t.groups.len()).sum();
            println!(
                "{}: ok ({} record types, {groups} field groups)",
                file.display(),
                policy.types.len()
            );
            Ok(())
        }
        Command::Policy(PolicyCommand::Explain {
            record_type,
            group,
            policy,
        }) => {
            let policy = load_policy(policy.as_deref())?;
            let t = RecordType::parse(&record_type).with_context(|| {
                let known: Vec<&str> = RecordType::ALL.iter().map(RecordType::as_str).collect();
                format!(
                    "unknown record type `{record_type}` (known: {})",
                    known.join(", ")
                )
            })?;
            let g = Group::parse(&group)
                .filter(|g| t.has_group(*g))
                .with_context(|| {
                    let known: Vec<&str> = t.groups().iter().map(Group::as_str).collect();
                    format!(
                        "a {t} has no field group `{group}` (groups: {})",
                        known.join(", ")
                    )
                })?;
            match policy.explain(t, g) {
                Some(text) => println!("{text}"),
                None => bail!("no rule for {t}.{g}"),
            }
            Ok(())
        }
        Command::Field(args) => {
            let dir = args
                .data_dir
                .unwrap_or_else(|| PathBuf::from(format!("./fieldsync-device-{}", args.user)));
            let result = field::run_device(
                &args.server,
                &args.user,
                &args.password,
                &dir,
                args.seed,
                args.offline_chance,
            )
            .await?;
            field::print(&result);
            Ok(())
        }
        Command::App(args) => {
            let ui = args.ui_dir.unwrap_or_else(office::default_ui_dir);
            let running = office::start(
                args.server.as_deref(),
                &args.data_dir,
                args.listen,
                &ui,
                args.user.as_deref().map(|u| (u, args.password.as_str())),
                args.device_name.as_deref(),
                &{
                    let dir = std::path::absolute(&args.data_dir).unwrap_or(args.data_dir.clone());
                    let name = dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "office".into());
                    format!("Office app ({name})")
                },
            )
            .await?;
            println!("Fieldsync office app: {}", running.url);
            shutdown_signal().await;
            running.stop().await;
            Ok(())
        }
        Command::Sim(args) => {
            field::sim(args.devices, args.seed, args.offline_chance, args.server).await
        }
        Command::Report(args) => {
            let now = chrono::Utc::now();
            let since = report::parse_since(&args.since, now)?;
            let slow_secs = report::parse_span(&args.slow)?.num_seconds();
            if since >= now {
                bail!("--since must be in the past");
            }
            let review = match (&args.server, &args.user) {
                (Some(server), Some(user)) => {
                    let password = report::password_from_env_or_stdin()?;
                    report::fetch(server, user, &password, since, slow_secs).await?
                }
                _ => {
                    let policy = load_policy(args.policy.as_deref())?;
                    let store = open_store(&args.data).await?;
                    store.report(since, now, slow_secs, &policy).await?
                }
            };
            if args.csv {
                print!("{}", report::as_csv(&review)?);
            } else {
                print!("{}", report::table(&review));
            }
            Ok(())
        }
        Command::MigrateStore(args) => migrate::run(&args.from, &args.to).await,
        Command::Bench(cmd) => bench::run(cmd).await,
    }
}
