//! Prometheus metrics of the call pipeline and the layer that records them.
//!
//! Metrics (all labels are bounded: MCP method, a tool name from the catalog or `_none`, an
//! outcome from a fixed set):
//! - `toolgate_calls_total{method, tool, outcome}`: finished calls.
//! - `toolgate_call_duration_seconds{method, tool}`: latency histogram.
//! - `toolgate_calls_in_flight`: calls currently being served.
//! - `toolgate_recording_discarded_total`: recorded calls dropped because the recording's
//!   writer could not keep up (`record`).
//! - `toolgate_edge_calls_total{transport, path}`: calls by transport and by the path that
//!   served them (`fast` or `rmcp`), so an operator (and a test) can see which path runs.
//!
//! A call whose future is dropped before it finishes (the client went away) is settled by a
//! drop guard: the gauge goes back down and the call counts with outcome `dropped`.
//!
//! Beside the Prometheus metrics, each tool called through `tools/call` has a
//! [`crate::tool_stats::ToolStats`] (calls, errors, a latency histogram of atomics) that the
//! live dashboard reads ([`Metrics::tool_stats`]); it is found through the same handle cache,
//! so recording it costs a call three relaxed atomic additions.
//!
//! With traces on ([`Metrics::with_options`]), the latency histogram carries OpenMetrics
//! exemplars: each bucket remembers the trace id (`trace_id`) of its last sampled call, so a
//! dashboard can jump from a slow bucket to a trace. Off, the plain histogram is used and a
//! call pays nothing for it.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use toolgate_core::{GatewayError, McpCall, McpRequest, McpResponse};
use tower::{Layer, Service};

use crate::outcome::outcome_label;
use crate::tool_stats::{Snapshot, ToolStats};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: Cow<'static, str>,
    tool: String,
    outcome: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EdgeLabels {
    transport: &'static str,
    path: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthzLabels {
    /// `allowed` or `denied`.
    outcome: &'static str,
    /// A bounded reason (`rule`, `deny_rule`, `no_rule`, …), never the requested name.
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: Cow<'static, str>,
    tool: String,
}

/// An exemplar's labels: the trace of the call observed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TraceExemplar {
    trace_id: String,
}

/// 100 µs … ~52 s: gateway hops are sub-millisecond, slow backends take seconds.
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 20)
}

fn latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

fn latency_histogram_with_exemplars() -> HistogramWithExemplars<TraceExemplar> {
    HistogramWithExemplars::new(latency_buckets())
}

/// `toolgate_call_duration_seconds`: plain, or with trace exemplars when traces are on.
enum Latency {
    Plain(Family<LatencyLabels, Histogram, fn() -> Histogram>),
    Traced(
        Family<
            LatencyLabels,
            HistogramWithExemplars<TraceExemplar>,
            fn() -> HistogramWithExemplars<TraceExemplar>,
        >,
    ),
}

/// One label set's latency histogram.
#[derive(Clone)]
enum LatencyHandle {
    Plain(Histogram),
    Traced(HistogramWithExemplars<TraceExemplar>),
}

impl LatencyHandle {
    fn observe(&self, seconds: f64, trace_id: Option<String>) {
        match self {
            LatencyHandle::Plain(h) => h.observe(seconds),
            LatencyHandle::Traced(h) => h.observe(
                seconds,
                trace_id.map(|trace_id| TraceExemplar { trace_id }),
                None,
            ),
        }
    }
}

/// The gateway's metrics and the registry they are exported from.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    latency: Latency,
    in_flight: Gauge,
    /// `toolgate_edge_calls_total`'s counters, resolved once: [transport][path] (the label
    /// set is tiny and fixed, so no lookup per call).
    edge: [[Counter; 2]; 3],
    /// Handles of `calls` and `latency` (and the tool's dashboard statistics) by label set.
    handles: RwLock<hashbrown::HashMap<HandleKey, Handles>>,
    /// The dashboard's statistics of each tool called (`tools/call`), by tool name; an entry
    /// is created with the tool's first handles, off the hot path.
    tools: RwLock<std::collections::BTreeMap<Box<str>, Arc<ToolStats>>>,
    /// `toolgate_authz_decisions_total{outcome, reason}`.
    authz: Family<AuthzLabels, Counter>,
    /// Its counter of the usual decision (allowed by a rule), resolved on first use.
    authz_allowed_by_rule: std::sync::OnceLock<Counter>,
    /// `toolgate_recording_discarded_total`: recorded calls dropped because the recording's
    /// writer could not keep up (crate::record).
    recording_discarded: Counter,
}

/// The index of a transport in [`Metrics::edge`].
fn transport_index(t: toolgate_core::Transport) -> usize {
    match t {
        toolgate_core::Transport::Stdio => 0,
        toolgate_core::Transport::Http => 1,
        toolgate_core::Transport::InProcess => 2,
    }
}

/// The index of a path in [`Metrics::edge`].
fn path_index(p: toolgate_core::EdgePath) -> usize {
    match p {
        toolgate_core::EdgePath::Rmcp => 0,
        toolgate_core::EdgePath::Fast => 1,
    }
}

impl Metrics {
    /// Creates the metrics and registers them under the `toolgate` prefix.
    pub fn new() -> Arc<Self> {
        Metrics::with_extra(|_| {})
    }

    /// Creates the metrics, letting `extra` register more under the same prefix (the metrics
    /// of sources, such as upstream MCP servers' states and restarts).
    pub fn with_extra(extra: impl FnOnce(&mut Registry)) -> Arc<Self> {
        Metrics::with_options(false, extra)
    }

    /// [`Metrics::with_extra`], with trace exemplars on the latency histogram when
    /// `exemplars` (traces are on).
    pub fn with_options(exemplars: bool, extra: impl FnOnce(&mut Registry)) -> Arc<Self> {
        let mut registry = Registry::with_prefix("toolgate");
        extra(&mut registry);
        let calls = Family::<CallLabels, Counter>::default();
        let in_flight = Gauge::default();
        let edge_family = Family::<EdgeLabels, Counter>::default();
        let transports = [
            toolgate_core::Transport::Stdio,
            toolgate_core::Transport::Http,
            toolgate_core::Transport::InProcess,
        ];
        let paths = [toolgate_core::EdgePath::Rmcp, toolgate_core::EdgePath::Fast];
        let edge = transports.map(|t| {
            paths.map(|p| {
                edge_family
                    .get_or_create(&EdgeLabels {
                        transport: t.as_str(),
                        path: p.as_str(),
                    })
                    .clone()
            })
        });
        registry.register(
            "calls",
            "MCP calls served, by method, tool and outcome",
            calls.clone(),
        );
        const LATENCY_HELP: &str = "Latency of MCP calls through the pipeline";
        let latency = if exemplars {
            let family = Family::new_with_constructor(
                latency_histogram_with_exemplars as fn() -> HistogramWithExemplars<TraceExemplar>,
            );
            registry.register("call_duration_seconds", LATENCY_HELP, family.clone());
            Latency::Traced(family)
        } else {
            let family = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
            registry.register("call_duration_seconds", LATENCY_HELP, family.clone());
            Latency::Plain(family)
        };
        registry.register(
            "calls_in_flight",
            "MCP calls currently being served",
            in_flight.clone(),
        );
        registry.register(
            "edge_calls",
            "MCP calls by transport and by the path that served them (fast or rmcp)",
            edge_family,
        );
        let authz = Family::<AuthzLabels, Counter>::default();
        registry.register(
            "authz_decisions",
            "Authorization decisions on calls, by outcome and reason",
            authz.clone(),
        );
        let recording_discarded = Counter::default();
        registry.register(
            "recording_discarded",
            "Recorded calls discarded because the recording writer could not keep up",
            recording_discarded.clone(),
        );
        Arc::new(Metrics {
            recording_discarded,
            authz,
            authz_allowed_by_rule: std::sync::OnceLock::new(),
            registry,
            calls,
            latency,
            in_flight,
            edge,
            handles: RwLock::default(),
            tools: RwLock::default(),
        })
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts one recorded call dropped by a full recording queue.
    pub fn recording_discarded(&self) {
        self.recording_discarded.inc();
    }

    /// Counts one authorization decision.
    pub fn record_authz(&self, allowed: bool, reason: &'static str) {
        if allowed && reason == "rule" {
            self.authz_allowed_by_rule
                .get_or_init(|| {
                    self.authz
                        .get_or_create(&AuthzLabels {
                            outcome: "allowed",
                            reason: "rule",
                        })
                        .clone()
                })
                .inc();
            return;
        }
        self.authz
            .get_or_create(&AuthzLabels {
                outcome: if allowed { "allowed" } else { "denied" },
                reason,
            })
            .inc();
    }

    /// A snapshot of each tool's dashboard statistics (tools called through `tools/call`
    /// since start, by name).
    pub fn tool_stats(&self) -> Vec<(String, Snapshot)> {
        self.tools
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, stats)| (name.to_string(), stats.snapshot()))
            .collect()
    }

    /// The dashboard statistics of `tool` (created on first use).
    fn stats_of(&self, tool: &str) -> Arc<ToolStats> {
        if let Some(s) = self
            .tools
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tool)
        {
            return s.clone();
        }
        self.tools
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(tool.into())
            .or_default()
            .clone()
    }

    fn record(
        &self,
        method: &'static str,
        tool: &str,
        outcome: &'static str,
        elapsed: std::time::Duration,
        trace_id: Option<String>,
    ) {
        let query = HandleQuery {
            method,
            tool,
            outcome,
        };
        let cached = self
            .handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&query)
            .cloned();
        let (count, latency, stats) = match cached {
            Some(handles) => handles,
            None => {
                let handles = (
                    self.calls
                        .get_or_create(&CallLabels {
                            method: Cow::Borrowed(method),
                            tool: tool.to_owned(),
                            outcome: Cow::Borrowed(outcome),
                        })
                        .clone(),
                    {
                        let labels = LatencyLabels {
                            method: Cow::Borrowed(method),
                            tool: tool.to_owned(),
                        };
                        match &self.latency {
                            Latency::Plain(f) => {
                                LatencyHandle::Plain(f.get_or_create(&labels).clone())
                            }
                            Latency::Traced(f) => {
                                LatencyHandle::Traced(f.get_or_create(&labels).clone())
                            }
                        }
                    },
                    (method == "tools/call" && tool != "_none").then(|| self.stats_of(tool)),
                );
                self.handles
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(
                        HandleKey {
                            method,
                            tool: tool.into(),
                            outcome,
                        },
                        handles.clone(),
                    );
                handles
            }
        };
        count.inc();
        latency.observe(elapsed.as_secs_f64(), trace_id);
        if let Some(stats) = stats {
            stats.record(elapsed, outcome != "ok");
        }
    }
}

/// The metric handles of one (method, tool, outcome), cached so that recording a call is
/// one lookup with a fast hash instead of two label-set lookups with SipHash and two
/// allocations (the label sets are bounded, so the cache is too).
#[derive(PartialEq, Eq)]
struct HandleKey {
    method: &'static str,
    tool: Box<str>,
    outcome: &'static str,
}

/// A [`HandleKey`] by reference (what a call has), hashed and compared alike.
struct HandleQuery<'a> {
    method: &'static str,
    tool: &'a str,
    outcome: &'static str,
}

impl Hash for HandleKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.method, &*self.tool, self.outcome).hash(state);
    }
}

impl Hash for HandleQuery<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.method, self.tool, self.outcome).hash(state);
    }
}

impl hashbrown::Equivalent<HandleKey> for HandleQuery<'_> {
    fn equivalent(&self, key: &HandleKey) -> bool {
        self.method == key.method && self.tool == &*key.tool && self.outcome == key.outcome
    }
}

type Handles = (Counter, LatencyHandle, Option<Arc<ToolStats>>);

/// Records call counts and latency.
#[derive(Clone)]
pub struct MetricsLayer {
    metrics: Arc<Metrics>,
}

impl MetricsLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        MetricsLayer { metrics }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// Service produced by [`MetricsLayer`].
#[derive(Clone)]
pub struct MetricsService<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

/// Settles one call's metrics: when the call finishes, or when its future is dropped first.
struct CallGuard {
    metrics: Arc<Metrics>,
    method: &'static str,
    /// Where the tool label comes from: a catalog name, never user input.
    tool: ToolLabel,
    started: Instant,
    settled: bool,
    /// The call's trace id, when it is traced and sampled (the latency's exemplar).
    trace_id: Option<String>,
}

/// The `tool` label of a call: the catalog's name of the tool or prompt it resolved to (read
/// from the resolved catalog snapshot, so nothing is copied per call), else `_none`.
enum ToolLabel {
    None,
    /// A meta-tool (`search_tools`, `describe_tool`, a malformed `call_tool`).
    Meta(&'static str),
    Tool(toolgate_core::Resolved),
    Prompt(toolgate_core::Resolved),
}

impl ToolLabel {
    fn as_str(&self) -> &str {
        match self {
            ToolLabel::Tool(r) => r.tool().map_or("_none", |e| e.tool.name.as_ref()),
            ToolLabel::Prompt(r) => r.prompt().map_or("_none", |e| e.prompt.name.as_str()),
            ToolLabel::Meta(name) => name,
            ToolLabel::None => "_none",
        }
    }
}

impl CallGuard {
    fn settle(&mut self, outcome: &'static str) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        self.metrics.in_flight.dec();
        self.metrics.record(
            self.method,
            self.tool.as_str(),
            outcome,
            self.started.elapsed(),
            self.trace_id.take(),
        );
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.settle("dropped");
    }
}

impl<S> Service<McpCall> for MetricsService<S>
where
    S: Service<McpCall, Response = McpResponse, Error = GatewayError>,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = GatewayError;
    type Future = BoxFuture<'static, Result<McpResponse, GatewayError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: McpCall) -> Self::Future {
        let metrics = self.metrics.clone();
        let method = call.request.method();
        // The label is the catalog's name for the tool (or prompt) the call resolved to: an
        // unknown name is user input and must never become a label value.
        let resolved = call.resolved.as_ref();
        let tool = match &call.request {
            McpRequest::CallTool { .. } => match resolved.and_then(|r| r.meta_tool()) {
                Some(meta) => ToolLabel::Meta(meta.name()),
                None => resolved
                    .filter(|r| r.tool().is_some())
                    .map_or(ToolLabel::None, |r| ToolLabel::Tool(r.clone())),
            },
            McpRequest::GetPrompt { .. } => resolved
                .filter(|r| r.prompt().is_some())
                .map_or(ToolLabel::None, |r| ToolLabel::Prompt(r.clone())),
            McpRequest::ListTools { .. }
            | McpRequest::ListResources { .. }
            | McpRequest::ListResourceTemplates { .. }
            | McpRequest::ReadResource { .. }
            | McpRequest::Subscribe { .. }
            | McpRequest::ListPrompts { .. }
            | McpRequest::Complete { .. }
            | McpRequest::SetLogLevel { .. } => ToolLabel::None,
        };
        metrics.edge[transport_index(call.ctx.transport)][path_index(call.ctx.path)].inc();
        let metrics_traced = matches!(metrics.latency, Latency::Traced(_));
        metrics.in_flight.inc();
        let mut guard = CallGuard {
            metrics,
            method,
            tool,
            started: Instant::now(),
            settled: false,
            trace_id: match (metrics_traced, &call.ctx.trace) {
                (true, Some(t)) if t.is_sampled() => Some(t.trace_id()),
                _ => None,
            },
        };
        let fut = self.inner.call(call);
        Box::pin(async move {
            let result = fut.await;
            guard.settle(outcome_label(&result));
            result
        })
    }
}
