//! The pipeline in force and the policies it applies, swapped whole when the policies change
//! (a configuration reload).
//!
//! Every path into the pipeline (rmcp's handler, the HTTP fast path, stdio) goes through one
//! [`LivePipeline`], and a call loads it **once**, at its start: one atomic load (`arc-swap`)
//! on top of the pipeline clone every call already made. The call then runs to its end on
//! the pipeline it loaded, so a call in flight finishes with the policies it started with and
//! the next call sees the new ones. Policies that did not change are carried into the new
//! pipeline as the same `Arc`s (their state survives: rate limit cells, breakers, caches);
//! deciding what to carry over is the builder's job ([`crate::stack::build_with`] takes
//! whatever [`Policies`] it is given), not this module's.

use std::sync::Arc;

use arc_swap::ArcSwap;
use toolgate_core::Pipeline;

use crate::stack::Policies;

/// A built pipeline with the policies it was built from (the edge consults the policies too:
/// authorization, to route a hidden tool as an unknown one; resilience, for `/readyz`).
pub struct Active {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// What it applies.
    pub policies: Policies,
}

/// The pipeline in force, shared by every path and every clone of the gateway.
#[derive(Clone)]
pub struct LivePipeline {
    current: Arc<ArcSwap<Active>>,
}

impl LivePipeline {
    /// `pipeline`, applying `policies`, in force.
    pub fn new(pipeline: Pipeline, policies: Policies) -> Self {
        LivePipeline {
            current: Arc::new(ArcSwap::from_pointee(Active { pipeline, policies })),
        }
    }

    /// The pipeline in force, for one call (hold the guard briefly: clone what you keep).
    #[inline]
    pub fn load(&self) -> arc_swap::Guard<Arc<Active>> {
        self.current.load()
    }

    /// The pipeline in force, to keep.
    pub fn current(&self) -> Arc<Active> {
        self.current.load_full()
    }

    /// Puts `next` in force; returns what was (to put back on a rollback). Calls already
    /// running keep the pipeline they loaded.
    pub fn replace(&self, next: Arc<Active>) -> Arc<Active> {
        self.current.swap(next)
    }

    /// Keeps the pipeline, with the edge told of other policies: for wiring that builds the
    /// pipeline and the gateway apart (the pipeline itself is unchanged).
    pub fn set_policies(&self, update: impl FnOnce(&mut Policies)) {
        let current = self.current();
        let mut policies = current.policies.clone();
        update(&mut policies);
        self.replace(Arc::new(Active {
            pipeline: current.pipeline.clone(),
            policies,
        }));
    }
}

impl From<Pipeline> for LivePipeline {
    fn from(pipeline: Pipeline) -> Self {
        LivePipeline::new(pipeline, Policies::default())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use toolgate_core::catalog::{Catalog, shared};
    use toolgate_core::{CallContext, McpCall, McpRequest, McpResponse};
    use tower::ServiceExt as _;

    use super::*;
    use crate::Metrics;
    use crate::authz::{AuthorizationConfig, Policy};
    use crate::stack::build_with;

    fn list() -> McpCall {
        McpCall::new(
            CallContext::in_process(),
            McpRequest::ListTools { cursor: None },
        )
    }

    #[tokio::test]
    async fn a_replaced_pipeline_serves_the_next_call_and_the_previous_comes_back() {
        let catalog = shared(Catalog::builder().build());
        let metrics = Metrics::new();
        let open = build_with(catalog.clone(), metrics.clone(), Policies::default());
        let live = LivePipeline::new(open, Policies::default());
        let denied = Policy::compile(&AuthorizationConfig::default(), true).unwrap();
        let policies = Policies {
            authz: Some(crate::authz::Authorization::new(denied, None)),
            ..Policies::default()
        };
        let closed = build_with(catalog.clone(), metrics.clone(), policies.clone());
        let previous = live.replace(Arc::new(Active {
            pipeline: closed,
            policies,
        }));
        assert!(previous.policies.authz.is_none());
        assert!(live.load().policies.authz.is_some());
        let answer = live.load().pipeline.clone().oneshot(list()).await.unwrap();
        assert!(matches!(answer, McpResponse::Tools(_)));
        live.replace(previous);
        assert!(live.load().policies.authz.is_none());
    }
}
