//! Prometheus metrics: pushes, outcomes by status, review-queue depth, pull lag, file-lane bytes.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

pub struct Metrics {
    registry: Registry,
    pub pushes: Counter,
    pub outcomes: Family<StatusLabel, Counter>,
    pub review_queue: Gauge,
    pub pull_lag: Histogram,
    pub file_bytes: Counter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("fieldsync");
        let pushes = Counter::default();
        let outcomes = Family::<StatusLabel, Counter>::default();
        let review_queue = Gauge::default();
        let pull_lag = Histogram::new([0.0, 1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0]);
        let file_bytes = Counter::default();
        registry.register("pushes", "Push requests judged", pushes.clone());
        registry.register(
            "changes",
            "Changes judged, by outcome status",
            outcomes.clone(),
        );
        registry.register(
            "review_queue_depth",
            "Open items in the review inbox",
            review_queue.clone(),
        );
        registry.register(
            "pull_lag_changes",
            "How many changes behind the newest a device was when it pulled",
            pull_lag.clone(),
        );
        registry.register(
            "file_lane_bytes",
            "Bytes received by the file lane",
            file_bytes.clone(),
        );
        Metrics {
            registry,
            pushes,
            outcomes,
            review_queue,
            pull_lag,
            file_bytes,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}
