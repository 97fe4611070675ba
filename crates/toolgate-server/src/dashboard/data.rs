//! The dashboard's JSON snapshot (`GET /admin/dashboard/data`): every tool with its source,
//! calls/s, error rate and p50/p95 over a recent window against its budget; circuit
//! breakers; rate-limit refusals; source health; sessions; the configuration in force.
//!
//! Rates and windowed percentiles come from the per-tool counters of
//! [`toolgate_policy::tool_stats`]: each answer takes a snapshot, keeps one per second in a
//! ring of about [`WINDOW`] seconds (only while someone polls: nothing runs in the
//! background) and subtracts the one [`WINDOW`] ago. Rate-limit refusals are read from the Prometheus registry's own text
//! (the limiters' counters are not otherwise readable), and source health comes from the
//! sources' readiness probes, cached for [`HEALTH_TTL`] so that pollers do not load the
//! backends.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use toolgate_policy::Metrics;
use toolgate_policy::tool_stats::Snapshot;

use super::config::DashboardConfig;
use crate::gateway::Gateway;
use crate::sessions::Sessions;

/// The window of rates and windowed percentiles.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);
/// How long a source health check stands.
pub(crate) const HEALTH_TTL: Duration = Duration::from_secs(5);
/// How long one source's probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Samples kept (one a second at most): enough to reach back one [`WINDOW`]. Each holds
/// every called tool's counters (~1 KB a tool), so only the window's worth is kept; the
/// page keeps its own history for the plots.
const RING: usize = WINDOW.as_secs() as usize + 3;

/// One sample of the tools' counters.
struct Sample {
    at: Instant,
    tools: BTreeMap<String, Snapshot>,
}

/// What the data endpoint keeps between answers.
pub(crate) struct DataSource {
    pub(crate) gateway: Gateway,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) sessions: Option<Arc<Sessions>>,
    pub(crate) config: Arc<DashboardConfig>,
    started: Instant,
    samples: Mutex<VecDeque<Sample>>,
    health: tokio::sync::Mutex<Option<(Instant, Value)>>,
}

impl DataSource {
    pub(crate) fn new(
        gateway: Gateway,
        metrics: Arc<Metrics>,
        sessions: Option<Arc<Sessions>>,
        config: Arc<DashboardConfig>,
    ) -> Self {
        DataSource {
            gateway,
            metrics,
            sessions,
            config,
            started: Instant::now(),
            samples: Mutex::new(VecDeque::with_capacity(RING)),
            health: tokio::sync::Mutex::new(None),
        }
    }

    /// The snapshot answered to the page.
    pub(crate) async fn snapshot(&self) -> Value {
        let now = Instant::now();
        let current: BTreeMap<String, Snapshot> = self.metrics.tool_stats().into_iter().collect();
        let (window_s, earlier) = self.window(now, &current);
        let catalog = self.gateway.served_catalog();
        let mut tools: Vec<Value> = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for entry in catalog.tools() {
            let name = entry.tool.name.as_ref();
            seen.insert(name.to_owned());
            tools.push(self.tool_row(
                name,
                Some(entry.source.as_ref()),
                current.get(name),
                earlier.get(name),
                window_s,
            ));
        }
        // Tools called but not in the catalog now (removed by a reload, or meta-tools).
        for (name, stats) in &current {
            if !seen.contains(name) {
                tools.push(self.tool_row(name, None, Some(stats), earlier.get(name), window_s));
            }
        }
        let metrics_text = self.metrics.encode();
        let config = self
            .gateway
            .readiness_details()
            .iter()
            .find(|(name, _)| *name == "config")
            .map_or(Value::Null, |(_, detail)| detail());
        json!({
            "server": {
                "name": self.gateway.current_info().server_info.name,
                "version": env!("CARGO_PKG_VERSION"),
                "time_ms": unix_ms(SystemTime::now()),
                "uptime_s": self.started.elapsed().as_secs(),
            },
            "window_s": window_s,
            "tools": tools,
            "breakers": self.breakers(),
            "rate_limits": rate_limits(&metrics_text),
            "sources": self.health().await,
            "sessions": {
                "open": self.sessions.as_ref().map(|s| s.len()),
                "in_flight": self.gateway.in_flight().current(),
            },
            "config": config,
        })
    }

    /// Records `current` (once a second at most) and returns the window's length in seconds
    /// and the counters at its start (empty on the first answer: nothing to compare).
    fn window(
        &self,
        now: Instant,
        current: &BTreeMap<String, Snapshot>,
    ) -> (f64, BTreeMap<String, Snapshot>) {
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        if samples
            .back()
            .is_none_or(|last| now.duration_since(last.at) >= Duration::from_millis(900))
        {
            if samples.len() == RING {
                samples.pop_front();
            }
            samples.push_back(Sample {
                at: now,
                tools: current.clone(),
            });
        }
        // The latest sample at least WINDOW old, else the oldest one (a younger window).
        let start = samples
            .iter()
            .rev()
            .find(|s| now.duration_since(s.at) >= WINDOW)
            .or_else(|| samples.front())
            .filter(|s| now.duration_since(s.at) > Duration::ZERO);
        match start {
            Some(s) => (now.duration_since(s.at).as_secs_f64(), s.tools.clone()),
            None => (0.0, BTreeMap::new()),
        }
    }

    fn tool_row(
        &self,
        name: &str,
        source: Option<&str>,
        total: Option<&Snapshot>,
        earlier: Option<&Snapshot>,
        window_s: f64,
    ) -> Value {
        let empty = Snapshot::default();
        let total = total.unwrap_or(&empty);
        let window = total.since(earlier.unwrap_or(&empty));
        let per_s = if window_s > 0.0 {
            window.calls as f64 / window_s
        } else {
            0.0
        };
        let budget = self.config.budgets.of(name);
        let p50 = window.quantile(0.5);
        let p95 = window.quantile(0.95);
        let over = |v: Option<f64>, b: Option<f64>| matches!((v, b), (Some(v), Some(b)) if v > b);
        json!({
            "name": name,
            "source": source,
            "calls_total": total.calls,
            "errors_total": total.errors,
            "calls_per_s": round(per_s, 3),
            "window_calls": window.calls,
            "error_rate": (window.calls > 0).then(|| round(window.errors as f64 / window.calls as f64, 4)),
            "p50_ms": p50.map(|v| round(v, 3)),
            "p95_ms": p95.map(|v| round(v, 3)),
            "p50_total_ms": total.quantile(0.5).map(|v| round(v, 3)),
            "p95_total_ms": total.quantile(0.95).map(|v| round(v, 3)),
            "budget": {"p50_ms": budget.p50_ms, "p95_ms": budget.p95_ms},
            "over_budget": over(p50, budget.p50_ms) || over(p95, budget.p95_ms),
        })
    }

    fn breakers(&self) -> Vec<Value> {
        let Some(resilience) = self.gateway.resilience() else {
            return Vec::new();
        };
        resilience
            .circuits()
            .into_iter()
            .map(|(source, r)| {
                json!({
                    "source": source.to_string(),
                    "state": r.state.as_str(),
                    "window_calls": r.window_calls,
                    "window_failures": r.window_failures,
                    "retry_in_ms": r.retry_in.map(|d| d.as_millis() as u64),
                })
            })
            .collect()
    }

    /// Each source's readiness probe, run at most once per [`HEALTH_TTL`].
    async fn health(&self) -> Value {
        let mut cached = self.health.lock().await;
        if let Some((at, value)) = cached.as_ref()
            && at.elapsed() < HEALTH_TTL
        {
            return value.clone();
        }
        let catalog = self.gateway.catalog().load_full();
        let checks = catalog.sources().iter().map(|s| {
            let name = s.name.to_string();
            let probe = s.probe.check();
            async move {
                match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
                    Ok(Ok(())) => json!({"source": name, "healthy": true}),
                    Ok(Err(e)) => json!({"source": name, "healthy": false, "detail": e}),
                    Err(_) => {
                        json!({"source": name, "healthy": false, "detail": "no answer within 2 s"})
                    }
                }
            }
        });
        let value = Value::Array(futures::future::join_all(checks).await);
        *cached = Some((Instant::now(), value.clone()));
        value
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The refusals of the rate limits and concurrency caps, from the Prometheus text:
/// totals since start and by limit.
pub(crate) fn rate_limits(text: &str) -> Value {
    let mut limited = 0u64;
    let mut unavailable = 0u64;
    let mut by_limit: BTreeMap<String, u64> = BTreeMap::new();
    let mut concurrency = 0u64;
    let mut http = 0u64;
    for (name, labels, value) in text.lines().filter_map(sample_line) {
        match name {
            "toolgate_rate_limit_decisions_total" => {
                let outcome = label(labels, "outcome");
                if outcome == Some("limited") || outcome == Some("unavailable") {
                    if outcome == Some("limited") {
                        limited += value;
                    } else {
                        unavailable += value;
                    }
                    if let Some(limit) = label(labels, "limit") {
                        *by_limit.entry(limit.to_owned()).or_default() += value;
                    }
                }
            }
            "toolgate_concurrency_refusals_total" => concurrency += value,
            "toolgate_http_requests_refused_total" => http += value,
            _ => {}
        }
    }
    json!({
        "refused_total": limited + unavailable + concurrency + http,
        "limited": limited,
        "unavailable": unavailable,
        "concurrency_refusals": concurrency,
        "http_refusals": http,
        "by_limit": by_limit,
    })
}

/// `name{labels} value` of a text exposition line (integer values; others are skipped).
fn sample_line(line: &str) -> Option<(&str, &str, u64)> {
    if line.starts_with('#') {
        return None;
    }
    let (head, value) = line.rsplit_once(' ')?;
    let value = value.parse::<f64>().ok()?;
    let (name, labels) = match head.split_once('{') {
        Some((name, rest)) => (name, rest.trim_end_matches('}')),
        None => (head, ""),
    };
    Some((name, labels, value.max(0.0) as u64))
}

/// The value of label `key` in `a="x",b="y"` (label values here are names from the
/// configuration and fixed words: no escaped quotes).
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split("\",").find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim_start_matches(',') == key).then(|| v.trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_summed_from_the_exposition() {
        let text = "# HELP x\n\
            toolgate_rate_limit_decisions_total{limit=\"per_user\",outcome=\"allowed\"} 40\n\
            toolgate_rate_limit_decisions_total{limit=\"per_user\",outcome=\"limited\"} 3\n\
            toolgate_rate_limit_decisions_total{limit=\"global\",outcome=\"unavailable\"} 1\n\
            toolgate_concurrency_refusals_total{cap=\"per_tool\"} 2\n\
            toolgate_http_requests_refused_total{per=\"client_ip\"} 5\n";
        let v = rate_limits(text);
        assert_eq!(v["refused_total"], 11);
        assert_eq!(v["limited"], 3);
        assert_eq!(v["by_limit"]["per_user"], 3);
        assert_eq!(v["by_limit"]["global"], 1);
        assert_eq!(v["http_refusals"], 5);
    }
}
