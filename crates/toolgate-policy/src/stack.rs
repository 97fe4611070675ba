//! Assembles the call pipeline: the one place that decides which layers run and in what order.

use std::sync::Arc;

use toolgate_core::{Dispatcher, Pipeline, SharedCatalog};
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;

use crate::call_log::CallLogLayer;
use crate::metrics::{Metrics, MetricsLayer};

/// Builds the pipeline every transport calls, outermost layer first.
///
/// The correlation id is assigned before the pipeline, where the request enters (the
/// transport edge reads `X-Request-Id`/`traceparent`), so every layer already sees it.
pub fn build(catalog: SharedCatalog, metrics: Arc<Metrics>) -> Pipeline {
    let service = ServiceBuilder::new()
        // 1. Call log: outermost so its latency and outcome cover everything below,
        //    including refusals by later policy layers.
        .layer(CallLogLayer)
        // 2. Metrics: counts and latency per method, tool and outcome.
        .layer(MetricsLayer::new(metrics))
        // (Authentication, authorization, rate limits, retries and circuit breakers slot in
        //  here, in that order: cheap refusals before any work, retries closest to the source.)
        // 3. Dispatcher: looks the target up in the current catalog and runs it.
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
        let call = McpCall {
            ctx: CallContext::in_process(),
            request: McpRequest::CallTool {
                name: "attacker-chosen-name".to_owned(),
                arguments: Default::default(),
            },
        };
        let result = pipeline.clone().oneshot(call).await;
        assert!(matches!(result, Err(GatewayError::UnknownTool(_))));
        let list = McpCall {
            ctx: CallContext::in_process(),
            request: McpRequest::ListTools { cursor: None },
        };
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
