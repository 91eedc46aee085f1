//! `fieldsync-sim`: runs the fleet simulation for one seed (to replay a failure) or for many
//! (the long run), spread over threads; each seed runs on its own single-threaded runtime.
//!
//! ```text
//! cargo run -p fieldsync-sim --release -- --seed 12345
//! cargo run -p fieldsync-sim --release -- --seeds 20000 [--from 0] [--steps 60] [--threads N]
//! ```

use fieldsync_sim::{run_seed, Failure, DEFAULT_STEPS};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

struct Args {
    seed: Option<u64>,
    seeds: u64,
    from: u64,
    steps: usize,
    threads: usize,
    verbose: bool,
    trace: bool,
}

const USAGE: &str = "usage: fieldsync-sim [--seed N | --seeds COUNT [--from FIRST]] [--steps K] [--threads T] [--verbose]
  --seed N      run one seed and print its trace hash and counts (replays a failure exactly)
  --trace       with --seed: print the run's trace
  --seeds COUNT run seeds FIRST..FIRST+COUNT, in parallel over T threads, and report failures
  example: cargo run -p fieldsync-sim --release -- --seeds 20000";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seed: None,
        seeds: 100,
        from: 0,
        steps: DEFAULT_STEPS,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        verbose: false,
        trace: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        let number = |s: String| {
            s.parse::<u64>()
                .map_err(|_| format!("not a number: {s}\n{USAGE}"))
        };
        match flag.as_str() {
            "--seed" => args.seed = Some(number(value("--seed")?)?),
            "--seeds" => args.seeds = number(value("--seeds")?)?,
            "--from" => args.from = number(value("--from")?)?,
            "--steps" => args.steps = number(value("--steps")?)? as usize,
            "--threads" => args.threads = (number(value("--threads")?)? as usize).max(1),
            "--verbose" => args.verbose = true,
            "--trace" => args.trace = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    if let Some(seed) = args.seed {
        match run_seed(seed, args.steps) {
            Ok(summary) => {
                if args.trace {
                    for line in &summary.trace {
                        println!("{line}");
                    }
                }
                println!(
                    "seed {seed}: ok, {} devices, trace {}\n  faults {:?}\n  {:?}",
                    summary.devices, summary.trace_hash, summary.faults, summary.counts
                );
            }
            Err(failure) => {
                if args.trace {
                    for line in &failure.trace {
                        println!("{line}");
                    }
                }
                eprintln!("{failure}");
                std::process::exit(1);
            }
        }
        return;
    }
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(args.from));
    let end = args.from + args.seeds;
    let failures: Arc<Mutex<Vec<Failure>>> = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicU64::new(0));
    let faults = Arc::new(Mutex::new(std::collections::BTreeMap::<String, u64>::new()));
    let mut workers = Vec::new();
    for _ in 0..args.threads {
        let (next, failures, done, faults) =
            (next.clone(), failures.clone(), done.clone(), faults.clone());
        let steps = args.steps;
        let verbose = args.verbose;
        workers.push(std::thread::spawn(move || loop {
            let seed = next.fetch_add(1, Ordering::SeqCst);
            if seed >= end {
                return;
            }
            match run_seed(seed, steps) {
                Ok(summary) => {
                    let mut all = faults.lock().unwrap_or_else(|p| p.into_inner());
                    for (name, n) in summary.faults {
                        *all.entry(name).or_default() += n;
                    }
                }
                Err(failure) => {
                    eprintln!("{failure}\n");
                    failures
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(failure);
                }
            }
            let n = done.fetch_add(1, Ordering::SeqCst) + 1;
            if verbose || n % 500 == 0 {
                eprintln!("{n} seeds run ({:.0?})", started.elapsed());
            }
        }));
    }
    for worker in workers {
        let _ = worker.join();
    }
    let failures = failures.lock().unwrap_or_else(|p| p.into_inner());
    let faults = faults.lock().unwrap_or_else(|p| p.into_inner());
    println!(
        "{} seeds ({}..{}), {} steps each, {} failed, in {:.1?}\nfaults injected: {:?}",
        args.seeds,
        args.from,
        end,
        args.steps,
        failures.len(),
        started.elapsed(),
        *faults
    );
    for failure in failures.iter() {
        println!(
            "  seed {}: {} -> {}",
            failure.seed,
            failure.message,
            failure.replay()
        );
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
