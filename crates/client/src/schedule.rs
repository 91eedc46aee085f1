//! The retry schedule of the two lanes: a pure function of the lane, the attempt number, the
//! device hint and a seed.
//!
//! backon gives the doubling-with-a-cap ceiling; the delay is then drawn uniformly below it
//! ("full jitter"), which backon's own jitter (which adds up to one more ceiling on top) does not
//! do. The draw comes from a seeded generator, so a schedule replays exactly.

use backon::{BackoffBuilder, ExponentialBuilder};
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// The two lanes: small changes, and files that must never hold them up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lane {
    Changes,
    Files,
}

impl Lane {
    pub fn as_str(&self) -> &'static str {
        match self {
            Lane::Changes => "changes",
            Lane::Files => "files",
        }
    }

    pub fn parse(s: &str) -> Option<Lane> {
        match s {
            "changes" => Some(Lane::Changes),
            "files" => Some(Lane::Files),
            _ => None,
        }
    }

    /// The first ceiling and the cap: about 2 s and 5 min for changes, 1 min and 30 min for files.
    pub fn bounds(&self) -> (Duration, Duration) {
        match self {
            Lane::Changes => (Duration::from_secs(2), Duration::from_secs(5 * 60)),
            Lane::Files => (Duration::from_secs(60), Duration::from_secs(30 * 60)),
        }
    }
}

/// The ceiling of the `attempt`-th retry (1 = the first), doubling from the lane's first delay up
/// to its cap; `stretch` multiplies both (a poor link or a low battery waits longer between files).
pub fn ceiling(lane: Lane, attempt: u32, stretch: u32) -> Duration {
    let (first, cap) = lane.bounds();
    let stretch = stretch.max(1);
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(first * stretch)
        .with_max_delay(cap * stretch)
        .with_factor(2.0)
        .without_max_times()
        .build();
    let index = attempt.saturating_sub(1).min(64) as usize;
    backoff.nth(index).unwrap_or(cap * stretch)
}

/// The delay before the `attempt`-th retry: uniform in (0, ceiling], drawn from `seed` mixed with
/// the lane and attempt so each is independent yet replayable.
pub fn delay(lane: Lane, attempt: u32, stretch: u32, seed: u64) -> Duration {
    let top = ceiling(lane, attempt, stretch);
    let mix = seed
        ^ (u64::from(attempt) << 32)
        ^ if lane == Lane::Files {
            0x9e37_79b9_7f4a_7c15
        } else {
            0
        };
    let mut rng = rand::rngs::StdRng::seed_from_u64(mix);
    let fraction: f64 = rng.gen_range(0.0..1.0);
    // Never zero: a retry in the same instant would hammer a server that just said no.
    let millis = ((top.as_millis() as f64) * (1.0 - fraction)).max(100.0);
    Duration::from_millis(millis as u64)
}

/// The delay before the next attempt, obeying the server's `Retry-After` when it asks for longer.
pub fn next_delay(
    lane: Lane,
    attempt: u32,
    stretch: u32,
    seed: u64,
    retry_after: Option<Duration>,
) -> Duration {
    let drawn = delay(lane, attempt, stretch, seed);
    match retry_after {
        Some(asked) if asked > drawn => asked,
        _ => drawn,
    }
}
