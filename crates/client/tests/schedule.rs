//! The lanes' retry schedule as a pure function: ceilings that double from the first delay to
//! the cap, delays drawn with full jitter below them, replayable for a seed, `Retry-After`
//! obeyed when it asks for longer.
#![allow(clippy::unwrap_used)]

use fieldsync_client::schedule::{ceiling, delay, next_delay, Lane};
use std::time::Duration;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn ceilings_double_from_the_first_delay_to_the_cap() {
    let rows: &[(Lane, u32, u32, u64)] = &[
        // lane, attempt, stretch, ceiling in seconds
        (Lane::Changes, 1, 1, 2),
        (Lane::Changes, 2, 1, 4),
        (Lane::Changes, 3, 1, 8),
        (Lane::Changes, 4, 1, 16),
        (Lane::Changes, 5, 1, 32),
        (Lane::Changes, 6, 1, 64),
        (Lane::Changes, 7, 1, 128),
        (Lane::Changes, 8, 1, 256),
        (Lane::Changes, 9, 1, 300),
        (Lane::Changes, 10, 1, 300),
        (Lane::Changes, 1000, 1, 300),
        (Lane::Changes, u32::MAX, 1, 300),
        // Attempt 0 is read as the first.
        (Lane::Changes, 0, 1, 2),
        (Lane::Files, 1, 1, 60),
        (Lane::Files, 2, 1, 120),
        (Lane::Files, 3, 1, 240),
        (Lane::Files, 4, 1, 480),
        (Lane::Files, 5, 1, 960),
        (Lane::Files, 6, 1, 1800),
        (Lane::Files, 7, 1, 1800),
        (Lane::Files, u32::MAX, 1, 1800),
        // A constrained device stretches both ends; a stretch of 0 counts as 1.
        (Lane::Files, 1, 4, 240),
        (Lane::Files, 10, 4, 7200),
        (Lane::Changes, 1, 0, 2),
    ];
    for (lane, attempt, stretch, expected) in rows {
        assert_eq!(
            ceiling(*lane, *attempt, *stretch),
            secs(*expected),
            "{lane:?} attempt {attempt} stretch {stretch}"
        );
    }
    assert_eq!(Lane::Changes.bounds(), (secs(2), secs(300)));
    assert_eq!(Lane::Files.bounds(), (secs(60), secs(1800)));
}

#[test]
fn a_delay_is_drawn_below_its_ceiling_and_never_zero() {
    for lane in [Lane::Changes, Lane::Files] {
        for attempt in [1, 2, 3, 5, 8, 12, 40, u32::MAX] {
            for seed in 0..200u64 {
                let d = delay(lane, attempt, 1, seed);
                assert!(
                    d <= ceiling(lane, attempt, 1),
                    "{lane:?} {attempt} {seed}: {d:?}"
                );
                assert!(
                    d >= Duration::from_millis(100),
                    "{lane:?} {attempt} {seed}: {d:?}"
                );
            }
        }
    }
}

#[test]
fn the_same_seed_replays_the_same_schedule_and_another_does_not() {
    let schedule = |seed: u64, lane: Lane| -> Vec<Duration> {
        (1..=12).map(|a| delay(lane, a, 1, seed)).collect()
    };
    for lane in [Lane::Changes, Lane::Files] {
        assert_eq!(schedule(7, lane), schedule(7, lane));
        assert_ne!(schedule(7, lane), schedule(8, lane));
    }
    // The lanes draw apart: the files lane is not the changes lane scaled up.
    let fraction = |lane: Lane, seed: u64| {
        delay(lane, 3, 1, seed).as_secs_f64() / ceiling(lane, 3, 1).as_secs_f64()
    };
    let differ = (0..100u64)
        .filter(|s| (fraction(Lane::Changes, *s) - fraction(Lane::Files, *s)).abs() > 1e-3)
        .count();
    assert!(differ > 90, "{differ}");
}

#[test]
fn the_jitter_is_full_spread_evenly_below_the_ceiling() {
    let top = ceiling(Lane::Changes, 5, 1).as_secs_f64();
    let draws: Vec<f64> = (0..4000u64)
        .map(|seed| delay(Lane::Changes, 5, 1, seed).as_secs_f64() / top)
        .collect();
    let mean = draws.iter().sum::<f64>() / draws.len() as f64;
    assert!((mean - 0.5).abs() < 0.03, "mean {mean}");
    // Every tenth of the range gets its share, so retries of many devices spread out.
    for decile in 0..10 {
        let lo = decile as f64 / 10.0;
        let share = draws.iter().filter(|d| **d > lo && **d <= lo + 0.1).count() as f64
            / draws.len() as f64;
        assert!((share - 0.1).abs() < 0.025, "decile {decile}: {share}");
    }
}

#[test]
fn retry_after_wins_when_it_asks_for_longer() {
    let drawn = delay(Lane::Changes, 1, 1, 42);
    let rows: &[(Option<Duration>, Duration)] = &[
        (None, drawn),
        (Some(secs(120)), secs(120)),
        (Some(Duration::from_millis(1)), drawn),
        (Some(drawn), drawn),
    ];
    for (asked, expected) in rows {
        assert_eq!(
            next_delay(Lane::Changes, 1, 1, 42, *asked),
            *expected,
            "{asked:?}"
        );
    }
    // Past the cap too: the server's word beats the lane's cap.
    assert_eq!(
        next_delay(Lane::Changes, 30, 1, 42, Some(secs(900))),
        secs(900)
    );
}
