//! The pipeline layer: takes a call's concurrency permits, checks its rate limits, and either
//! passes it on (holding the permits until it finishes) or answers it with the refusal.
//!
//! In memory the decision is synchronous and the call goes on without a task switch; with
//! Redis it is awaited (within the configured budget) before the inner service is called.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use toolgate_core::{GatewayError, McpCall, McpRequest, McpResponse, ToolError};
use tower::{Layer, Service};

use super::RateLimits;
use super::key::Facts;

/// Enforces [`RateLimits`] on every call that reaches a source.
#[derive(Clone)]
pub struct RateLimitLayer {
    limits: Arc<RateLimits>,
}

impl RateLimitLayer {
    /// A layer enforcing `limits`.
    pub fn new(limits: Arc<RateLimits>) -> Self {
        RateLimitLayer { limits }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limits: self.limits.clone(),
        }
    }
}

/// Service produced by [`RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimitService<S> {
    inner: S,
    limits: Arc<RateLimits>,
}

/// The answer to a refused call, in the shape its request expects: a failed tool call
/// (`isError: true`), or for other requests a failure the wire turns into a JSON-RPC error.
fn refused(request: &McpRequest, err: ToolError) -> McpResponse {
    match request {
        McpRequest::CallTool { .. } => McpResponse::ToolResult(Err(err)),
        McpRequest::GetPrompt { .. } => McpResponse::Prompt(Err(err)),
        McpRequest::Complete { .. } => McpResponse::Completion(Err(err)),
        McpRequest::ReadResource { .. } => McpResponse::Resource(Err(err)),
        McpRequest::Subscribe { .. } => McpResponse::Subscribed(Err(err)),
        // Never limited (no facts): see `Facts::of`.
        McpRequest::SetLogLevel { .. } => McpResponse::LogLevelSet(Err(err)),
        McpRequest::ListTools { .. }
        | McpRequest::ListResources { .. }
        | McpRequest::ListResourceTemplates { .. }
        | McpRequest::ListPrompts { .. } => McpResponse::ToolResult(Err(err)),
    }
}

fn answer(response: McpResponse) -> BoxFuture<'static, Result<McpResponse, GatewayError>> {
    Box::pin(std::future::ready(Ok(response)))
}

impl<S> Service<McpCall> for RateLimitService<S>
where
    S: Service<McpCall, Response = McpResponse, Error = GatewayError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = GatewayError;
    type Future = BoxFuture<'static, Result<McpResponse, GatewayError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: McpCall) -> Self::Future {
        let Some(facts) = Facts::of(&call) else {
            return Box::pin(self.inner.call(call));
        };
        let permits = match self.limits.admit(&facts) {
            Ok(p) => p,
            Err(e) => return answer(refused(&call.request, e)),
        };
        if self.limits.is_local() {
            if let Err(e) = self.limits.decide_local(&facts) {
                return answer(refused(&call.request, e));
            }
            let fut = self.inner.call(call);
            if permits.is_empty() {
                return Box::pin(fut);
            }
            return Box::pin(async move {
                let result = fut.await;
                drop(permits);
                result
            });
        }
        // The inner service was made ready by `poll_ready`: take that one, leave a clone.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limits = self.limits.clone();
        Box::pin(async move {
            // The facts borrow the call: read again here, where the call lives now.
            let decided = match Facts::of(&call) {
                Some(facts) => limits.decide(&facts).await,
                None => Ok(()),
            };
            if let Err(e) = decided {
                return Ok(refused(&call.request, e));
            }
            let result = inner.call(call).await;
            drop(permits);
            result
        })
    }
}
