//! Fieldsync's deterministic fleet simulation: one seed drives a whole fleet of real sync
//! clients against the real server, in-process, over a simulated network and clock, and the
//! invariants of DESIGN.md are checked once the fleet goes quiet.
//!
//! In the style of FoundationDB's and TigerBeetle's simulators: the code under test is the real
//! code (`fieldsync_core`'s judge, `fieldsync_server`'s router and SQLite store,
//! `fieldsync_client`'s outbox, lanes and cache); only the network ([`net`]) and the clocks are
//! simulated, and both draw from the seed. The same seed runs the same way every time (a test
//! checks it with the trace's hash), so a failing seed is a bug report with its own replay.
//!
//! What is not deterministic, and why the run does not depend on it: the server makes review
//! ids, device ids and tokens from global randomness (they only name things, and the trace
//! leaves them out); its rate limiters read the wall clock (the simulation sets them out of
//! reach). The server's time is the simulated one, injected through its `Clock`.

pub mod check;
pub mod fleet;
pub mod kills;
pub mod net;
pub mod office;
pub mod pg;
pub mod screens;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use fleet::Counts;

/// Steps per seed when nothing says otherwise: sized so that CI's few hundred seeds finish in
/// a few minutes on two slow cores in a debug build.
pub const DEFAULT_STEPS: usize = 100;

/// How many "Sync now" rounds the fleet gets to settle on a healed network.
pub const SETTLE_ROUNDS: usize = 12;

/// Why a run failed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub message: String,
    /// Whether a rule of the system broke (as opposed to the simulation failing to start).
    pub invariant: bool,
    /// The last lines of the run's trace.
    pub tail: Vec<String>,
    /// The whole trace (its last few thousand lines), for `--trace`.
    pub trace: Vec<String>,
    pub seed: u64,
    pub steps: usize,
}

impl Failure {
    pub fn invariant(message: String) -> Failure {
        Failure {
            message,
            invariant: true,
            tail: Vec::new(),
            trace: Vec::new(),
            seed: 0,
            steps: 0,
        }
    }

    pub fn setup(message: String) -> Failure {
        Failure {
            invariant: false,
            ..Failure::invariant(message)
        }
    }

    /// The one command that replays this run exactly.
    pub fn replay(&self) -> String {
        replay_command(self.seed, self.steps)
    }
}

pub fn replay_command(seed: u64, steps: usize) -> String {
    format!("cargo run -p fieldsync-sim --release -- --seed {seed} --steps {steps}")
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "seed {} failed: {}", self.seed, self.message)?;
        if !self.tail.is_empty() {
            writeln!(f, "last steps:")?;
            for line in &self.tail {
                writeln!(f, "  {line}")?;
            }
        }
        write!(f, "replay: {}", self.replay())
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub seed: u64,
    pub steps: usize,
    /// The hash of the whole trace: the same seed gives the same hash.
    pub trace_hash: String,
    /// How many times each network fault struck.
    pub faults: BTreeMap<String, u64>,
    pub counts: Counts,
    pub devices: usize,
    /// The trace's last lines (all of a short run), for `--trace`.
    pub trace: Vec<String>,
}

/// Where runs keep their files: memory-backed when the host has it (every save is an fsync).
fn scratch() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() && tempfile::tempdir_in(&shm).is_ok() {
        shm
    } else {
        std::env::temp_dir()
    }
}

/// Runs one seed to the end and checks the invariants, on a runtime of its own (one thread, so
/// the fleet's calls happen in one order).
pub fn run_seed(seed: u64, steps: usize) -> Result<RunSummary, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::setup(format!("start a runtime: {e}")))?;
    let dir = tempfile::tempdir_in(scratch())
        .map_err(|e| Failure::setup(format!("make a directory: {e}")))?;
    let result = runtime.block_on(async {
        let mut world = match fleet::World::new(seed, steps, dir.path()).await {
            Ok(world) => world,
            Err(e) => return Err(e),
        };
        let outcome = async {
            world.run().await?;
            world.settle(SETTLE_ROUNDS).await?;
            check::check(&world).await
        }
        .await;
        world.crash_server().await;
        if let Some(db) = &world.pg {
            db.drop_database().await;
        }
        match outcome {
            Ok(()) => Ok(world.summary()),
            Err(mut failure) => {
                let from = world.trace.len().saturating_sub(60);
                failure.tail = world.trace[from..].to_vec();
                failure.trace = world.trace.clone();
                Err(failure)
            }
        }
    });
    result.map_err(|mut failure| {
        failure.seed = seed;
        failure.steps = steps;
        failure
    })
}
