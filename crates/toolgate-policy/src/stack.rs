//! Assembles the call pipeline: the one place that decides which layers run and in what order.

use std::sync::Arc;

use toolgate_core::{Dispatcher, Pipeline, ResolveLayer, SharedCatalog};
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;

use crate::audit::{AuditLayer, AuditLog};
use crate::authz::{Authorization, AuthzLayer};
use crate::cache::CacheLayer;
use crate::call_log::CallLogLayer;
use crate::limits::{RateLimitLayer, RateLimits};
use crate::meta::{MetaLayer, MetaTools};
use crate::metrics::{Metrics, MetricsLayer};
use crate::record::{RecordLayer, Recorder};
use crate::resilience::Resilience;
use crate::retry::AttemptsLayer;
use crate::size::SizeLimitLayer;

/// The optional policies of the pipeline.
#[derive(Default, Clone)]
pub struct Policies {
    /// Authorization rules (absent: everyone may use everything, as without auth).
    pub authz: Option<Arc<Authorization>>,
    /// The audit log (absent: none).
    pub audit: Option<Arc<AuditLog>>,
    /// Rate limits and concurrency caps (`rate_limits`).
    pub limits: Option<Arc<RateLimits>>,
    /// HTTP request limits (`rate_limits.http`): not a layer of the pipeline; the HTTP edge
    /// consults them (through the [`crate::live::LivePipeline`]) before a request is read.
    pub http_limits: Option<Arc<crate::limits::HttpLimits>>,
    /// Retries, circuit breakers, response size limits and caching (`resilience`; a section
    /// that enables none of them adds no layer and costs nothing).
    pub resilience: Option<Arc<Resilience>>,
    /// Meta-tool mode (`server.tool_mode`): serves `tools/list`, `search_tools` and
    /// `describe_tool` when the catalog has tools behind the meta-tools (absent: no layer;
    /// give it whenever the configuration may put tools behind them).
    pub meta: Option<Arc<MetaTools>>,
    /// The call recording (`recording`; absent: none).
    pub recording: Option<Arc<Recorder>>,
}

/// Builds the pipeline every transport calls, outermost layer first.
///
/// The call context (correlation id, principal, cancellation) is built before the pipeline,
/// at the one request edge in `toolgate-server`, so every layer already sees it.
pub fn build(catalog: SharedCatalog, metrics: Arc<Metrics>) -> Pipeline {
    build_with(catalog, metrics, Policies::default())
}

/// [`build`] with the optional policies.
pub fn build_with(catalog: SharedCatalog, metrics: Arc<Metrics>, policies: Policies) -> Pipeline {
    let resilience = policies.resilience;
    let attempts = resilience
        .as_ref()
        .filter(|r| r.config().any_retry() || r.config().any_breaker())
        .map(|r| AttemptsLayer::new(r.clone()));
    let size = resilience
        .as_ref()
        .filter(|r| r.config().responses.any_limit())
        .map(|r| SizeLimitLayer::new(Arc::new(r.config().responses.clone())));
    let cache = resilience
        .as_ref()
        .and_then(|r| r.cache().cloned())
        .map(CacheLayer::new);
    let service = ServiceBuilder::new()
        // 1. Resolve: looks the target up in one catalog snapshot, so every layer below sees
        //    the tool (its source, annotations, later its required scopes) rather than a
        //    name, and the call runs against that snapshot even across a reload. It never
        //    refuses, so the call log and metrics still see unknown names.
        .layer(ResolveLayer::new(catalog.clone()))
        // 2. Call log: outermost of the observing layers, so its latency and outcome cover
        //    everything below, including refusals by later policy layers.
        .layer(CallLogLayer)
        // 2b. Audit (optional): who called what and the decision, as JSON lines.
        .option_layer(policies.audit.map(AuditLayer::new))
        // 2c. Recording (optional): sampled tool calls with redacted arguments and the shape
        //     of their final result (after retries, with the attempts), for `toolgate replay`.
        //     Outside every policy, so refusals are recorded as the caller saw them.
        .option_layer(
            policies
                .recording
                .map(|r| RecordLayer::new(r, metrics.clone())),
        )
        // 3. Metrics: counts and latency per method, tool and outcome (tool labels come from
        //    the resolved catalog entry, never from the request).
        .layer(MetricsLayer::new(metrics))
        // 3b. Meta-tools (optional): answers `tools/list`, `search_tools` and `describe_tool`
        //     in meta-tool mode, filtered by the caller's visible set (the one authorization
        //     computes), so a caller never finds a tool it may not call. Below the observing
        //     layers, which see these calls; above authorization, which would answer the
        //     listing with every visible tool. `call_tool` was turned into a call of the tool
        //     it names by Resolve (1) and goes on down like a direct call.
        .option_layer(policies.meta.map(MetaLayer::new))
        // 4. Authorization (when configured or auth is on): hides what the caller may not
        //    use (refusals answer exactly as unknown names) and filters listings. Who the
        //    caller is was decided at the transport edge. Before rate limits: an
        //    unauthorized call must not use a caller's quota.
        .option_layer(policies.authz.map(|a| AuthzLayer::new(a, catalog.clone())))
        // 5. Rate limits and concurrency caps: after metrics and the call log, so refusals
        //    are counted and logged; before the dispatcher and any retry, so a refused call
        //    costs nothing downstream and a retry is not counted against the caller again.
        //    Every transport and path (fast path included) runs through here.
        .option_layer(policies.limits.map(RateLimitLayer::new))
        // 6. Size limits: above the cache, so a cached result is cut like a fresh one.
        .option_layer(size)
        // 7. Response cache: a hit costs the backend nothing and is served even while its
        //    circuit is open.
        .option_layer(cache)
        // 8. Retries and the circuit breaker, per attempt (one layer, in resilience4j's
        //    order `Retry(CircuitBreaker(call))`): closest to the source, so a retry repeats
        //    the backend call alone (not a new call for rate limits, metrics or the call log),
        //    bounded by attempts, the call's deadline and the source's retry budget; every
        //    attempt, first or retried, needs the breaker's leave, so a retry storm cannot
        //    slip past an open circuit and the breaker sees the traffic the backend really
        //    gets. The breaker's refusal is a gateway error, which is never retried.
        .option_layer(attempts)
        // 9. Dispatcher: runs the resolved target.
        .service(Dispatcher::new(catalog));
    BoxCloneSyncService::new(service)
}

#[cfg(test)]
mod tests {
    use toolgate_core::catalog::{Catalog, shared};
    use toolgate_core::{CallContext, GatewayError, McpCall, McpRequest};
    use tower::ServiceExt as _;

    use super::*;

    #[tokio::test]
    async fn unknown_tool_names_never_become_metric_labels() {
        let metrics = Metrics::new();
        let pipeline = build(shared(Catalog::builder().build()), metrics.clone());
        let call = McpCall::new(
            CallContext::in_process(),
            McpRequest::CallTool {
                name: "attacker-chosen-name".to_owned(),
                arguments: Default::default(),
            },
        );
        let result = pipeline.clone().oneshot(call).await;
        assert!(matches!(result, Err(GatewayError::UnknownTool(_))));
        let list = McpCall::new(
            CallContext::in_process(),
            McpRequest::ListTools { cursor: None },
        );
        assert!(pipeline.oneshot(list).await.is_ok());
        let text = metrics.encode();
        assert!(!text.contains("attacker-chosen-name"), "{text}");
        assert!(
            text.contains(
                r#"toolgate_calls_total{method="tools/call",tool="_none",outcome="unknown_tool"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"toolgate_calls_total{method="tools/list",tool="_none",outcome="ok"} 1"#
            ),
            "{text}"
        );
    }
}
