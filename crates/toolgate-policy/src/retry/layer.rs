//! The tower layer that sends each call's attempts to its source: the source's circuit
//! breaker admits every attempt, and a failed attempt is retried under the source's
//! [`super::RetryConfig`].
//!
//! One layer does both, in the order resilience4j composes them (`Retry(CircuitBreaker(call))`):
//! every attempt, first or retried, asks the breaker for leave, so the breaker sees the
//! traffic the backend really gets, a retry stops the moment the circuit opens, and a storm of
//! retries cannot slip past an open circuit (its refusal is a gateway-made `unavailable` error,
//! which is never retried). Being one layer, a call looks its source's policies up once and
//! pays for one boxed future; the retry loop itself is only built when a first attempt failed
//! in a way that may be retried.
//!
//! It sits closest to the dispatcher, so a retry repeats the backend call alone, not the
//! policies above it (a retry is not a new call for rate limits, metrics or the call log).
//! Every retry is logged with the call's correlation id and counted; the final result says how
//! many attempts were made (`_meta."toolgate/attempts"` of the tool result, `attempts` of the
//! call log line).

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{BoxFuture, Either};
use tokio::time::Instant;
use toolgate_core::{GatewayError, McpCall, McpRequest, McpResponse, wire};
use tower::{Layer, Service, ServiceExt as _};

use super::{idempotent, retryable};
use crate::breaker::{Permit, Verdict, verdict};
use crate::resilience::{Resilience, SourcePolicies, failure_response};

/// Applies the retry settings and circuit breakers of a [`Resilience`].
#[derive(Clone)]
pub struct AttemptsLayer {
    resilience: Arc<Resilience>,
}

impl AttemptsLayer {
    /// A layer applying `resilience`'s retries and breakers.
    pub fn new(resilience: Arc<Resilience>) -> Self {
        AttemptsLayer { resilience }
    }
}

impl<S> Layer<S> for AttemptsLayer {
    type Service = AttemptsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AttemptsService {
            inner,
            resilience: self.resilience.clone(),
        }
    }
}

/// Service produced by [`AttemptsLayer`].
#[derive(Clone)]
pub struct AttemptsService<S> {
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

/// One attempt's leave from the breaker: settled with the attempt's outcome when it ends, or
/// as ignored when its future is dropped first (a cancelled attempt gives its probe slot
/// back).
struct Admission {
    policies: Arc<SourcePolicies>,
    permit: Option<Permit>,
}

impl Admission {
    fn settle(&mut self, verdict: Verdict) {
        if let (Some(permit), Some(breaker)) = (self.permit.take(), &self.policies.breaker) {
            breaker.record(permit, verdict);
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.settle(Verdict::Ignored);
    }
}

/// The breaker's answer to one attempt.
enum Leave {
    /// Go on, settling the admission (none without a breaker) with the outcome.
    Go(Option<Admission>),
    /// The circuit is open: the answer to give.
    Refused(Box<McpResponse>),
}

/// Asks `policies`' breaker (if any) to admit one attempt of `request` (a request the breaker
/// has no answer shape for goes on unadmitted).
fn admit(policies: &Arc<SourcePolicies>, request: &McpRequest) -> Leave {
    let Some(breaker) = &policies.breaker else {
        return Leave::Go(None);
    };
    match breaker.acquire() {
        Ok(permit) => Leave::Go(Some(Admission {
            policies: policies.clone(),
            permit: Some(permit),
        })),
        Err(err) => match failure_response(request, err) {
            Some(refusal) => Leave::Refused(Box::new(refusal)),
            None => Leave::Go(None),
        },
    }
}

impl<S> Service<McpCall> for AttemptsService<S>
where
    S: Service<McpCall, Response = McpResponse, Error = GatewayError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = GatewayError;
    type Future = Either<S::Future, BoxFuture<'static, Result<McpResponse, GatewayError>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: McpCall) -> Self::Future {
        let Some(source) = call.resolved.as_ref().and_then(|r| r.source()) else {
            return Either::Left(self.inner.call(call));
        };
        let policies = self.resilience.for_source(source);
        let mut admission = match admit(&policies, &call.request) {
            Leave::Go(admission) => admission,
            Leave::Refused(refusal) => {
                return Either::Right(Box::pin(std::future::ready(Ok(*refusal))));
            }
        };
        let retries = may_retry(&call.request)
            && policies
                .retry
                .as_ref()
                .is_some_and(|r| r.config.max_attempts > 1);
        if !retries {
            let Some(mut admission) = admission else {
                return Either::Left(self.inner.call(call));
            };
            let fut = self.inner.call(call);
            return Either::Right(Box::pin(async move {
                let result = fut.await;
                admission.settle(verdict(&result));
                result
            }));
        }
        if let Some(retry) = &policies.retry {
            retry.budget.deposit();
        }
        // The first attempt goes to the service that was polled ready; a copy of the call and
        // a clone of the service wait for a retry (each later attempt polls it ready again).
        let copy = call.clone();
        let fut = self.inner.call(call);
        let inner = self.inner.clone();
        let resilience = self.resilience.clone();
        Either::Right(Box::pin(async move {
            let result = fut.await;
            if let Some(admission) = &mut admission {
                admission.settle(verdict(&result));
            }
            drop(admission);
            let Some(err) = result.as_ref().ok().and_then(McpResponse::tool_error) else {
                return result;
            };
            let idempotent = idempotent(&copy.request, copy.resolved.as_ref());
            if !retryable(err, idempotent) {
                return result;
            }
            // Boxed: the retry loop's state (timers, the copy) is only paid for here.
            Box::pin(retry(inner, copy, policies, resilience, result, idempotent)).await
        }))
    }
}

/// Sends one more attempt of `call`, through the breaker.
async fn attempt<S>(
    inner: &mut S,
    call: McpCall,
    policies: &Arc<SourcePolicies>,
) -> Result<McpResponse, GatewayError>
where
    S: Service<McpCall, Response = McpResponse, Error = GatewayError>,
{
    let mut admission = match admit(policies, &call.request) {
        Leave::Go(admission) => admission,
        Leave::Refused(refusal) => return Ok(*refusal),
    };
    let result = match inner.ready().await {
        Ok(svc) => svc.call(call).await,
        Err(e) => Err(e),
    };
    if let Some(admission) = &mut admission {
        admission.settle(verdict(&result));
    }
    result
}

/// Retries `call`, whose first attempt answered `result`, until an attempt succeeds or may
/// not be retried.
async fn retry<S>(
    mut inner: S,
    call: McpCall,
    policies: Arc<SourcePolicies>,
    resilience: Arc<Resilience>,
    mut result: Result<McpResponse, GatewayError>,
    idempotent: bool,
) -> Result<McpResponse, GatewayError>
where
    S: Service<McpCall, Response = McpResponse, Error = GatewayError>,
{
    let Some(retry) = policies.retry.as_ref() else {
        return result;
    };
    let config = &retry.config;
    let metrics = resilience.metrics();
    let source = call
        .resolved
        .as_ref()
        .and_then(|r| r.source())
        .cloned()
        .unwrap_or_else(|| Arc::from(""));
    let mut attempt_no = 1u32;
    while let Some(err) = result.as_ref().ok().and_then(McpResponse::tool_error) {
        if !retryable(err, idempotent) {
            break;
        }
        if attempt_no >= config.max_attempts {
            metrics.denied(&source, "attempts");
            break;
        }
        let mut delay = config.backoff(attempt_no);
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
            attempt = attempt_no + 1,
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
        attempt_no += 1;
        result = attempt(&mut inner, call.clone(), &policies).await;
        let failed = result.as_ref().map_or(true, |r| r.tool_error().is_some());
        metrics.retried(&source, if failed { "failed" } else { "ok" });
    }
    if attempt_no > 1 {
        annotate(&mut result, attempt_no);
    }
    result
}
