//! Prometheus metrics of upstream servers (labels bounded: configured source names, a fixed
//! set of states, methods and outcomes):
//! - `toolgate_upstream_up{upstream}`: 1 while the server is connected and serving.
//! - `toolgate_upstream_restarts_total{upstream}`: times it was started again after dying.
//! - `toolgate_upstream_requests_total{upstream, method, outcome}`: requests forwarded to it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabel {
    upstream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    upstream: String,
    method: &'static str,
    outcome: &'static str,
}

/// The metrics of every upstream.
#[derive(Default, Clone)]
pub struct UpstreamMetrics {
    up: Family<UpstreamLabel, Gauge>,
    restarts: Family<UpstreamLabel, Counter>,
    requests: Family<RequestLabels, Counter>,
}

impl UpstreamMetrics {
    /// Registers the metrics in `registry` (the gateway's, prefixed `toolgate`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "upstream_up",
            "1 while the upstream MCP server is connected and serving",
            self.up.clone(),
        );
        registry.register(
            "upstream_restarts",
            "Times an upstream MCP server was started again after it died or was lost",
            self.restarts.clone(),
        );
        registry.register(
            "upstream_requests",
            "Requests forwarded to upstream MCP servers, by method and outcome",
            self.requests.clone(),
        );
    }

    pub(crate) fn set_up(&self, upstream: &str, up: bool) {
        self.up
            .get_or_create(&UpstreamLabel {
                upstream: upstream.to_owned(),
            })
            .set(i64::from(up));
    }

    pub(crate) fn restarted(&self, upstream: &str) {
        self.restarts
            .get_or_create(&UpstreamLabel {
                upstream: upstream.to_owned(),
            })
            .inc();
    }

    pub(crate) fn request(&self, upstream: &str, method: &'static str, outcome: &'static str) {
        self.requests
            .get_or_create(&RequestLabels {
                upstream: upstream.to_owned(),
                method,
                outcome,
            })
            .inc();
    }
}
