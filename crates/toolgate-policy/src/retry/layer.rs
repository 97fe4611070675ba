//! The tower layer retrying failed attempts under the source's [`super::RetryConfig`].
//!
//! It sits closest to the dispatcher, with only the circuit breaker (per attempt) between
//! them, so a retry repeats the backend call alone, not the policies above it (a retry is not
//! a new call for rate limits, metrics or the call log). Every retry is logged with the
//! call's correlation id and counted; the final result says how many attempts were made
//! (`_meta."toolgate/attempts"` of the tool result, `attempts` of the call log line).

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tokio::time::Instant;
use toolgate_core::{GatewayError, McpCall, McpRequest, McpResponse, wire};
use tower::{Layer, Service, ServiceExt as _};

use super::{idempotent, retryable};
use crate::resilience::{Resilience, SourcePolicies};

/// Applies the retry settings of a [`Resilience`].
#[derive(Clone)]
pub struct RetryLayer {
    resilience: Arc<Resilience>,
}

impl RetryLayer {
    /// A layer applying `resilience`'s retry settings.
    pub fn new(resilience: Arc<Resilience>) -> Self {
        RetryLayer { resilience }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = RetryService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RetryService {
            inner,
            resilience: self.resilience.clone(),
        }
    }
}

/// Service produced by [`RetryLayer`].
#[derive(Clone)]
pub struct RetryService<S> {
    inner: S,
    resilience: Arc<Resilience>,
}

/// Whether retrying `request` can make sense at all (it reaches a source and reads or runs
/// something there).
fn may_retry(request: &McpRequest) -> bool {
    matches!(
        request,
        McpRequest::CallTool { .. }
            | McpRequest::ReadResource { .. }
            | McpRequest::GetPrompt { .. }
            | McpRequest::Complete { .. }
    )
}

/// Writes the number of attempts into the final result.
fn annotate(result: &mut Result<McpResponse, GatewayError>, attempts: u32) {
    match result {
        Ok(McpResponse::ToolResult(Ok(r))) => wire::set_attempts(r, attempts),
        Ok(McpResponse::ToolResult(Err(e)))
        | Ok(McpResponse::Resource(Err(e)))
        | Ok(McpResponse::Prompt(Err(e)))
        | Ok(McpResponse::Completion(Err(e))) => e.attempts = attempts,
        _ => {}
    }
}

/// How many attempts the final result of a call says were made (1 when it says nothing).
pub fn attempts(result: &Result<McpResponse, GatewayError>) -> u32 {
    match result {
        Ok(McpResponse::ToolResult(Ok(r))) => wire::attempts_of(r).unwrap_or(1),
        Ok(r) => r.tool_error().map_or(1, |e| e.attempts),
        Err(_) => 1,
    }
}

impl<S> Service<McpCall> for RetryService<S>
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
        let policies = match call.resolved.as_ref().and_then(|r| r.source()) {
            Some(source) if may_retry(&call.request) => self.resilience.for_source(source),
            _ => return Box::pin(self.inner.call(call)),
        };
        if policies
            .retry
            .as_ref()
            .is_none_or(|r| r.config.max_attempts <= 1)
        {
            return Box::pin(self.inner.call(call));
        }
        // The service that was polled ready serves the first attempt; a clone serves later
        // ones (each polled ready again).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(run(inner, call, policies, self.resilience.clone()))
    }
}

/// Sends `call` until it succeeds or may not be retried.
async fn run<S>(
    mut inner: S,
    call: McpCall,
    policies: Arc<SourcePolicies>,
    resilience: Arc<Resilience>,
) -> Result<McpResponse, GatewayError>
where
    S: Service<McpCall, Response = McpResponse, Error = GatewayError>,
{
    let Some(retry) = policies.retry.as_ref() else {
        return inner.call(call).await;
    };
    let config = &retry.config;
    let metrics = resilience.metrics();
    let source = call
        .resolved
        .as_ref()
        .and_then(|r| r.source())
        .cloned()
        .unwrap_or_else(|| Arc::from(""));
    let idempotent = idempotent(&call.request, call.resolved.as_ref());
    retry.budget.deposit();
    let mut attempt = 1u32;
    let mut result = inner.call(call.clone()).await;
    while let Some(err) = result.as_ref().ok().and_then(McpResponse::tool_error) {
        if !retryable(err, idempotent) {
            break;
        }
        if attempt >= config.max_attempts {
            metrics.denied(&source, "attempts");
            break;
        }
        let mut delay = config.backoff(attempt);
        if let Some(after) = err.retry_after {
            if after.as_millis() > u128::from(config.max_retry_after_ms) {
                metrics.denied(&source, "retry_after");
                break;
            }
            delay = delay.max(after);
        }
        if call
            .ctx
            .deadline
            .is_some_and(|deadline| Instant::now() + delay >= deadline)
        {
            metrics.denied(&source, "deadline");
            break;
        }
        if call.ctx.cancel.is_cancelled() {
            metrics.denied(&source, "cancelled");
            break;
        }
        if !retry.budget.withdraw() {
            metrics.denied(&source, "budget");
            tracing::debug!(
                target: "toolgate::retry",
                correlation_id = %call.ctx.correlation_id,
                source = %source,
                "retry budget exhausted: not retrying"
            );
            break;
        }
        tracing::info!(
            target: "toolgate::retry",
            correlation_id = %call.ctx.correlation_id,
            source = %source,
            attempt = attempt + 1,
            delay_ms = delay.as_millis() as u64,
            error = %wire::tool_error_log(err),
            "retrying"
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = call.ctx.cancel.cancelled() => {
                metrics.denied(&source, "cancelled");
                break;
            }
        }
        attempt += 1;
        result = match inner.ready().await {
            Ok(svc) => svc.call(call.clone()).await,
            Err(e) => Err(e),
        };
        let failed = result.as_ref().map_or(true, |r| r.tool_error().is_some());
        metrics.retried(&source, if failed { "failed" } else { "ok" });
    }
    if attempt > 1 {
        annotate(&mut result, attempt);
    }
    result
}
