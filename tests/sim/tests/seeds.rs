//! The simulation in CI: a few hundred seeds with small fleets, and a check that a seed replays
//! exactly. `FIELDSYNC_SIM_SEED=N` runs only seed N (a failure's replay); `FIELDSYNC_SIM_SEEDS`
//! and `FIELDSYNC_SIM_STEPS` size the run.

use fieldsync_sim::{run_seed, DEFAULT_STEPS};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Seeds CI runs by default.
const CI_SEEDS: u64 = 300;

#[test]
fn seeds_keep_every_invariant() {
    let steps = env_number("FIELDSYNC_SIM_STEPS").map_or(DEFAULT_STEPS, |s| s as usize);
    let (first, count) = match env_number("FIELDSYNC_SIM_SEED") {
        Some(seed) => (seed, 1),
        None => (0, env_number("FIELDSYNC_SIM_SEEDS").unwrap_or(CI_SEEDS)),
    };
    let next = Arc::new(AtomicU64::new(first));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (next, failures) = (next.clone(), failures.clone());
            std::thread::spawn(move || loop {
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= first + count {
                    return;
                }
                if let Err(failure) = run_seed(seed, steps) {
                    failures.lock().expect("failures").push(failure);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a simulation thread panicked");
    }
    let failures = failures.lock().expect("failures");
    for failure in failures.iter() {
        eprintln!("{failure}\n");
    }
    assert!(
        failures.is_empty(),
        "{} of {count} seeds failed; first: {}",
        failures.len(),
        failures[0].replay()
    );
}

#[test]
fn a_seed_replays_exactly() {
    // Long runs with everything in them (held changes, resolutions, kills, crashes), so a trace
    // line that carried anything random would show.
    let seeds = match env_number("FIELDSYNC_SIM_SEED") {
        Some(seed) => vec![seed],
        None => vec![7, 6006],
    };
    for seed in seeds {
        let first = run_seed(seed, 200).expect("the seed runs");
        let second = run_seed(seed, 200).expect("the seed runs again");
        assert_eq!(
            first.trace_hash, second.trace_hash,
            "seed {seed} ran two ways: replay it with --trace twice and compare"
        );
        assert!(
            first.counts.held > 0 && first.counts.app_restarts > 0,
            "seed {seed} is too tame to show anything: {:?}",
            first.counts
        );
        assert_ne!(
            first.trace_hash,
            run_seed(seed + 1, 200)
                .expect("the next seed runs")
                .trace_hash,
            "two seeds ran the same way: the seed drives nothing"
        );
    }
}
