//! Replays every saved fuzz input through the function its fuzz target calls (`fuzz/harness.rs`),
//! on stable and without cargo-fuzz: the seeds in `fuzz/seeds/<target>/` and every crash once
//! found, kept in `fuzz/regressions/<target>/`. A panic here names the file.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../../../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_seed_and_every_crash_once_found_runs_clean() {
    let mut replayed = 0;
    for (target, run) in harness::TARGETS {
        let seeds = inputs("seeds", target);
        assert!(!seeds.is_empty(), "fuzz/seeds/{target} has no inputs");
        for path in seeds.iter().chain(&inputs("regressions", target)) {
            let data = std::fs::read(path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(
                outcome.is_ok(),
                "fuzz target `{target}` fails on {}; reproduce with: \
                 cargo +nightly fuzz run {target} {}",
                path.display(),
                path.display()
            );
            replayed += 1;
        }
    }
    eprintln!("{replayed} fuzz inputs replayed");
}

/// The judge's invariants hold on cases built from a spread of byte patterns as well, so the
/// harness is exercised even before the fuzzer has saved anything.
#[test]
fn the_judge_harness_holds_on_patterned_bytes() {
    for seed in 0u32..2_000 {
        let bytes: Vec<u8> = (0..256u32)
            .map(|i| (seed.wrapping_mul(2_654_435_761).wrapping_add(i * 97) >> (i % 24)) as u8)
            .collect();
        harness::judge_bytes(&bytes);
    }
}
