//! The `resilience` configuration section and the per-source state it creates: retry budgets
//! and circuit breakers, with their metrics.
//!
//! Defaults apply to every source; `sources.<name>` overrides them for one source (an
//! override replaces the whole `retry` or `circuit_breaker` block of that source: fields it
//! omits take the built-in defaults, not the top-level ones). Overrides live here, keyed by
//! source name, rather than in each kind of source's own config type, so that OpenAPI and
//! upstream MCP sources are configured the same way and the source types stay free of
//! policy.
//!
//! Metrics (labels bounded by configured source names and fixed sets):
//! - `toolgate_circuit_state{source}`: 0 closed, 1 open, 2 half-open.
//! - `toolgate_circuit_transitions_total{source, to}`: state changes.
//! - `toolgate_retries_total{source, outcome}`: retries sent, by how they ended (`ok`,
//!   `failed`).
//! - `toolgate_retries_denied_total{source, reason}`: retries a failure called for but that
//!   were not sent (`budget`, `deadline`, `attempts`, `retry_after`, `cancelled`).
//! - `toolgate_cache_lookups_total{tool, result}`: see [`crate::cache`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::breaker::{Breaker, BreakerConfig, BreakerReport, CircuitState};
use crate::retry::RetryConfig;
use crate::size::ResponsesConfig;

/// Retries and circuit breakers for the sources' backends.
///
/// Both are off unless their block is present: `retry: {}` turns retries on with the
/// defaults below for every source, `circuit_breaker: {}` turns the breakers on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ResilienceConfig {
    /// Retries of failed calls, for every source (absent = no retries).
    pub retry: Option<RetryConfig>,
    /// One circuit breaker per source (absent = no breakers).
    pub circuit_breaker: Option<BreakerConfig>,
    /// Per-source overrides, by source name.
    pub sources: BTreeMap<String, SourceResilience>,
    /// Size limits and caching of tool results.
    pub responses: ResponsesConfig,
}

/// The settings of one source, replacing the section's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SourceResilience {
    /// This source's retries (`enabled: false` to turn them off for it).
    pub retry: Option<RetryConfig>,
    /// This source's circuit breaker (`enabled: false` to turn it off for it).
    pub circuit_breaker: Option<BreakerConfig>,
}

impl ResilienceConfig {
    /// The retry settings of `source`, if retries apply to it.
    pub fn retry_for(&self, source: &str) -> Option<&RetryConfig> {
        self.sources
            .get(source)
            .and_then(|s| s.retry.as_ref())
            .or(self.retry.as_ref())
            .filter(|r| r.enabled)
    }

    /// The breaker settings of `source`, if a breaker applies to it.
    pub fn breaker_for(&self, source: &str) -> Option<&BreakerConfig> {
        self.sources
            .get(source)
            .and_then(|s| s.circuit_breaker.as_ref())
            .or(self.circuit_breaker.as_ref())
            .filter(|b| b.enabled)
    }

    /// Whether any source may retry.
    pub fn any_retry(&self) -> bool {
        self.retry.as_ref().is_some_and(|r| r.enabled)
            || self
                .sources
                .values()
                .any(|s| s.retry.as_ref().is_some_and(|r| r.enabled))
    }

    /// Whether any source has a breaker.
    pub fn any_breaker(&self) -> bool {
        self.circuit_breaker.as_ref().is_some_and(|b| b.enabled)
            || self
                .sources
                .values()
                .any(|s| s.circuit_breaker.as_ref().is_some_and(|b| b.enabled))
    }

    /// Every problem with the section, as (path below `resilience`, message) pairs;
    /// `source_names` are the configured sources (an override must name one of them).
    pub fn problems(&self, source_names: &[&str]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let push_retry = |at: &str, r: &RetryConfig, out: &mut Vec<(String, String)>| {
            for (field, msg) in r.problems() {
                out.push((format!("{at}.{field}"), msg));
            }
        };
        if let Some(r) = &self.retry {
            push_retry("retry", r, &mut out);
        }
        if let Some(b) = &self.circuit_breaker {
            for (field, msg) in b.problems() {
                out.push((format!("circuit_breaker.{field}"), msg));
            }
        }
        for (name, s) in &self.sources {
            if !source_names.contains(&name.as_str()) {
                out.push((
                    format!("sources.{name}"),
                    format!(
                        "names no configured source; the sources are: {}",
                        if source_names.is_empty() {
                            "(none)".to_owned()
                        } else {
                            source_names.join(", ")
                        }
                    ),
                ));
            }
            if let Some(r) = &s.retry {
                push_retry(&format!("sources.{name}.retry"), r, &mut out);
            }
            if let Some(b) = &s.circuit_breaker {
                for (field, msg) in b.problems() {
                    out.push((format!("sources.{name}.circuit_breaker.{field}"), msg));
                }
            }
        }
        for (at, msg) in self.responses.problems() {
            out.push((format!("responses.{at}"), msg));
        }
        out
    }
}

/// The retry state of one source.
pub struct SourceRetry {
    /// Its settings.
    pub config: RetryConfig,
    /// Its budget.
    pub budget: crate::retry::budget::RetryBudget,
}

/// The policies of one source.
pub struct SourcePolicies {
    /// Its retries, if any.
    pub retry: Option<SourceRetry>,
    /// Its circuit breaker, if any.
    pub breaker: Option<Breaker>,
}

/// Every source's retry budget and circuit breaker, made once per source on first use (or
/// up front for the sources named at start, so `/readyz` lists their breakers at once).
pub struct Resilience {
    config: ResilienceConfig,
    metrics: ResilienceMetrics,
    cache: Option<Arc<crate::cache::ResponseCache>>,
    /// The cache's lookup counters, registered even while no tool is cached (a reload may
    /// add a cache).
    lookups: crate::cache::Lookups,
    /// Read on every call (once per call, by the attempts layer), written only when a source
    /// is first seen: an `ArcSwap` makes the read a lock-free load that writes no shared
    /// cache line (an `RwLock`'s reader count bounced between the cores at c=16).
    sources: ArcSwap<SourceMap>,
    /// Serializes the rare writers of `sources`.
    grow: Mutex<()>,
}

type SourceMap = hashbrown::HashMap<Arc<str>, Arc<SourcePolicies>>;

impl Resilience {
    /// The state for `config`, with the policies of `sources` made up front.
    pub fn new<'a>(
        config: ResilienceConfig,
        sources: impl IntoIterator<Item = &'a str>,
    ) -> Arc<Self> {
        let lookups = crate::cache::Lookups::default();
        let r = Arc::new(Resilience {
            cache: crate::cache::ResponseCache::counted(&config.responses, lookups.clone()),
            config,
            metrics: ResilienceMetrics::default(),
            lookups,
            sources: ArcSwap::default(),
            grow: Mutex::new(()),
        });
        for s in sources {
            r.for_source(&Arc::from(s));
        }
        r
    }

    /// The state for `config` after a reload, carrying over what did not change: the metrics
    /// (always), each source's retry budget and circuit breaker when that source's settings
    /// are the same (an open circuit stays open), and the response cache, entries included,
    /// when its bounds and cached tools are the same. A source whose settings changed starts
    /// afresh (closed circuit, full budget); so does the cache when its settings changed.
    /// Sources not in `sources` are dropped (their breakers leave `/readyz`).
    pub fn reconfigured<'a>(
        &self,
        config: ResilienceConfig,
        sources: impl IntoIterator<Item = &'a str>,
    ) -> Arc<Self> {
        let sources: Vec<&str> = sources.into_iter().collect();
        let cache = match &self.cache {
            Some(cache) if cache.serves(&config.responses) => Some(cache.clone()),
            _ => crate::cache::ResponseCache::counted(&config.responses, self.lookups.clone()),
        };
        let kept: SourceMap = self
            .sources
            .load()
            .iter()
            .filter(|(name, _)| {
                sources.contains(&&***name)
                    && self.config.retry_for(name) == config.retry_for(name)
                    && self.config.breaker_for(name) == config.breaker_for(name)
            })
            .map(|(name, p)| (name.clone(), p.clone()))
            .collect();
        let r = Arc::new(Resilience {
            cache,
            config,
            metrics: self.metrics.clone(),
            lookups: self.lookups.clone(),
            sources: ArcSwap::from_pointee(kept),
            grow: Mutex::new(()),
        });
        for s in sources {
            r.for_source(&Arc::from(s));
        }
        r
    }

    /// The section in force.
    pub fn config(&self) -> &ResilienceConfig {
        &self.config
    }

    /// The metrics (register them with [`Resilience::register`]).
    pub fn metrics(&self) -> &ResilienceMetrics {
        &self.metrics
    }

    /// The response cache, when a tool is cached.
    pub fn cache(&self) -> Option<&Arc<crate::cache::ResponseCache>> {
        self.cache.as_ref()
    }

    /// Registers every metric of retries, breakers and the cache in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        self.metrics.register(registry);
        crate::cache::register_lookups(registry, &self.lookups);
    }

    /// The policies of `source`.
    pub fn for_source(&self, source: &Arc<str>) -> Arc<SourcePolicies> {
        if let Some(p) = self.sources.load().get(source) {
            return p.clone();
        }
        let _writer = self.grow.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.sources.load_full();
        if let Some(p) = current.get(source) {
            return p.clone();
        }
        let made = Arc::new(SourcePolicies {
            retry: self.config.retry_for(source).map(|c| SourceRetry {
                budget: c.make_budget(),
                config: c.clone(),
            }),
            breaker: self
                .config
                .breaker_for(source)
                .map(|c| Breaker::new(source.clone(), c.clone(), self.metrics.clone())),
        });
        let mut next = SourceMap::clone(&current);
        next.insert(source.clone(), made.clone());
        self.sources.store(Arc::new(next));
        made
    }

    /// A report of every breaker, by source name.
    pub fn circuits(&self) -> Vec<(Arc<str>, BreakerReport)> {
        let all = self.sources.load();
        let mut out: Vec<_> = all
            .iter()
            .filter_map(|(name, p)| p.breaker.as_ref().map(|b| (name.clone(), b.report())))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    source: String,
    to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RetryLabels {
    source: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeniedLabels {
    source: String,
    reason: &'static str,
}

/// The metrics of retries and circuit breakers (see the module docs).
#[derive(Clone, Default)]
pub struct ResilienceMetrics {
    state: Family<SourceLabel, Gauge>,
    transitions: Family<TransitionLabels, Counter>,
    retries: Family<RetryLabels, Counter>,
    denied: Family<DeniedLabels, Counter>,
}

impl ResilienceMetrics {
    /// Registers the metrics in `registry` (the gateway's, prefixed `toolgate`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "circuit_state",
            "State of each source's circuit breaker: 0 closed, 1 open, 2 half-open",
            self.state.clone(),
        );
        registry.register(
            "circuit_transitions",
            "Circuit breaker state changes, by source and new state",
            self.transitions.clone(),
        );
        registry.register(
            "retries",
            "Retries sent to sources' backends, by how they ended",
            self.retries.clone(),
        );
        registry.register(
            "retries_denied",
            "Retries a failure called for but that were not sent, by reason",
            self.denied.clone(),
        );
    }

    pub(crate) fn set_circuit_state(&self, source: &str, state: CircuitState) {
        self.state
            .get_or_create(&SourceLabel {
                source: source.to_owned(),
            })
            .set(state.gauge_value());
    }

    pub(crate) fn circuit_transition(&self, source: &str, to: CircuitState) {
        self.transitions
            .get_or_create(&TransitionLabels {
                source: source.to_owned(),
                to: to.as_str(),
            })
            .inc();
    }

    pub(crate) fn retried(&self, source: &str, outcome: &'static str) {
        self.retries
            .get_or_create(&RetryLabels {
                source: source.to_owned(),
                outcome,
            })
            .inc();
    }

    pub(crate) fn denied(&self, source: &str, reason: &'static str) {
        self.denied
            .get_or_create(&DeniedLabels {
                source: source.to_owned(),
                reason,
            })
            .inc();
    }
}

/// The response carrying `err` for `request`, for a failure a policy decides before anything
/// is sent; `None` for requests that address no source (listings).
pub(crate) fn failure_response(
    request: &toolgate_core::McpRequest,
    err: toolgate_core::ToolError,
) -> Option<toolgate_core::McpResponse> {
    use toolgate_core::{McpRequest, McpResponse};
    Some(match request {
        McpRequest::CallTool { .. } => McpResponse::ToolResult(Err(err)),
        McpRequest::ReadResource { .. } => McpResponse::Resource(Err(err)),
        McpRequest::Subscribe { .. } => McpResponse::Subscribed(Err(err)),
        McpRequest::GetPrompt { .. } => McpResponse::Prompt(Err(err)),
        McpRequest::Complete { .. } => McpResponse::Completion(Err(err)),
        McpRequest::SetLogLevel { .. } => McpResponse::LogLevelSet(Err(err)),
        McpRequest::ListTools { .. }
        | McpRequest::ListResources { .. }
        | McpRequest::ListResourceTemplates { .. }
        | McpRequest::ListPrompts { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::Verdict;

    fn config(open_ms: u64) -> ResilienceConfig {
        serde_json::from_value(serde_json::json!({
            "circuit_breaker": {"minimum_calls": 2, "open_ms": open_ms}
        }))
        .unwrap()
    }

    fn state(r: &Resilience, source: &str) -> CircuitState {
        let p = r.for_source(&Arc::from(source));
        p.breaker.as_ref().unwrap().state()
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_keeps_unchanged_breakers_and_resets_changed_ones() {
        let first = Resilience::new(config(5_000), ["api", "gone"]);
        let api = first.for_source(&Arc::from("api"));
        let breaker = api.breaker.as_ref().unwrap();
        for _ in 0..2 {
            let permit = breaker.acquire().unwrap();
            breaker.record(permit, Verdict::Failure);
        }
        assert_eq!(state(&first, "api"), CircuitState::Open);

        // Same settings: the open circuit stays open; a source no longer configured leaves.
        let second = first.reconfigured(config(5_000), ["api"]);
        assert_eq!(state(&second, "api"), CircuitState::Open);
        let names: Vec<_> = second.circuits().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec![Arc::<str>::from("api")]);

        // Changed settings: a new, closed breaker.
        let third = second.reconfigured(config(6_000), ["api"]);
        assert_eq!(state(&third, "api"), CircuitState::Closed);
    }
}
