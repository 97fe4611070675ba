//! Metrics of rate limits and concurrency caps. Labels are bounded: limit names come from the
//! configuration, outcomes and kinds from fixed sets.
//!
//! - `toolgate_rate_limit_decisions_total{limit, outcome}`: `allowed`, `limited`, or
//!   `unavailable` (refused because Redis could not decide and the policy is `fail_closed`).
//! - `toolgate_rate_limit_redis_errors_total{kind}`: `timeout`, `error`, `not_connected`,
//!   `backing_off` (not asked: it failed moments ago).
//! - `toolgate_rate_limit_redis_fallbacks_total{limit}`: decisions made by the local limiter
//!   because Redis could not decide (`fail_open`).
//! - `toolgate_rate_limit_redis_decision_seconds`: latency of decisions Redis answered.
//! - `toolgate_concurrency_refusals_total{cap}`: calls refused by `per_subject`/`per_tool`.
//! - `toolgate_http_requests_refused_total{per}`: HTTP requests refused with 429 by
//!   `rate_limits.http` (`connection`, `client_ip`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    limit: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PerLabels {
    per: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CapLabels {
    cap: &'static str,
}

/// Why Redis could not decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedisFailure {
    /// No answer within the budget.
    Timeout,
    /// Redis answered with an error, or the connection failed.
    Error,
    /// No connection yet (still connecting, or reconnecting).
    NotConnected,
    /// Not asked: Redis failed moments ago (see `redis::BACK_OFF`).
    BackingOff,
}

impl RedisFailure {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RedisFailure::Timeout => "timeout",
            RedisFailure::Error => "error",
            RedisFailure::NotConnected => "not_connected",
            RedisFailure::BackingOff => "backing_off",
        }
    }
}

/// One limit's counters, resolved once so a decision costs no label lookup.
#[derive(Clone)]
pub(crate) struct LimitCounters {
    pub(crate) allowed: Counter,
    pub(crate) limited: Counter,
    pub(crate) unavailable: Counter,
    pub(crate) fallback: Counter,
}

/// Every metric of the limits.
#[derive(Clone)]
pub struct LimitMetrics {
    decisions: Family<DecisionLabels, Counter>,
    fallbacks: Family<LimitLabels, Counter>,
    redis_errors: Family<KindLabels, Counter>,
    pub(crate) redis_latency: Histogram,
    concurrency: Family<CapLabels, Counter>,
    http_refusals: Family<PerLabels, Counter>,
}

impl Default for LimitMetrics {
    fn default() -> Self {
        LimitMetrics {
            decisions: Family::default(),
            fallbacks: Family::default(),
            redis_errors: Family::default(),
            // 50 µs … ~100 ms: a local Redis answers in well under a millisecond.
            redis_latency: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.00005, 2.0, 12),
            ),
            concurrency: Family::default(),
            http_refusals: Family::default(),
        }
    }
}

impl LimitMetrics {
    /// Registers the metrics (under the registry's `toolgate` prefix).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "rate_limit_decisions",
            "Rate limit decisions, by limit and outcome (allowed, limited, unavailable)",
            self.decisions.clone(),
        );
        registry.register(
            "rate_limit_redis_errors",
            "Rate limit decisions Redis could not make, by kind (timeout, error, not_connected, backing_off)",
            self.redis_errors.clone(),
        );
        registry.register(
            "rate_limit_redis_fallbacks",
            "Rate limit decisions made by the local limiter because Redis could not decide (fail_open)",
            self.fallbacks.clone(),
        );
        registry.register(
            "rate_limit_redis_decision_seconds",
            "Latency of rate limit decisions answered by Redis",
            self.redis_latency.clone(),
        );
        registry.register(
            "concurrency_refusals",
            "Calls refused by a concurrency cap (per_subject, per_tool)",
            self.concurrency.clone(),
        );
        registry.register(
            "http_requests_refused",
            "HTTP requests to the MCP endpoint refused with 429 by rate_limits.http (connection, client_ip)",
            self.http_refusals.clone(),
        );
    }

    pub(crate) fn limit(&self, name: &str) -> LimitCounters {
        let decision = |outcome| {
            self.decisions
                .get_or_create(&DecisionLabels {
                    limit: name.to_owned(),
                    outcome,
                })
                .clone()
        };
        LimitCounters {
            allowed: decision("allowed"),
            limited: decision("limited"),
            unavailable: decision("unavailable"),
            fallback: self
                .fallbacks
                .get_or_create(&LimitLabels {
                    limit: name.to_owned(),
                })
                .clone(),
        }
    }

    pub(crate) fn redis_failure(&self, kind: RedisFailure) {
        self.redis_errors
            .get_or_create(&KindLabels {
                kind: kind.as_str(),
            })
            .inc();
    }

    pub(crate) fn http_refusals(&self, per: &'static str) -> Counter {
        self.http_refusals.get_or_create(&PerLabels { per }).clone()
    }

    pub(crate) fn cap_counter(&self, cap: &'static str) -> Counter {
        self.concurrency.get_or_create(&CapLabels { cap }).clone()
    }
}
