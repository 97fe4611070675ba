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
