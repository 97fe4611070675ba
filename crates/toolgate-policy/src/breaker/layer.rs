//! The tower layer applying each source's circuit breaker to every attempt sent to it.
//!
//! It sits inside the retry layer (as in resilience4j's `Retry(CircuitBreaker(call))`): every
//! attempt, first or retried, asks the breaker for leave, so the breaker sees the traffic the
//! backend really gets, a retry stops the moment the circuit opens, and a storm of retries
//! cannot slip past an open circuit. Its refusal is a gateway-made `unavailable` error, which
//! the retry layer never retries.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use toolgate_core::{GatewayError, McpCall, McpResponse};
use tower::{Layer, Service};

use super::{Permit, Verdict, verdict};
use crate::resilience::{Resilience, SourcePolicies, failure_response};

/// Applies the breakers of a [`Resilience`].
#[derive(Clone)]
pub struct BreakerLayer {
    resilience: Arc<Resilience>,
}

impl BreakerLayer {
    /// A layer applying `resilience`'s breakers.
    pub fn new(resilience: Arc<Resilience>) -> Self {
        BreakerLayer { resilience }
    }
}

impl<S> Layer<S> for BreakerLayer {
    type Service = BreakerService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        BreakerService {
            inner,
            resilience: self.resilience.clone(),
        }
    }
}

/// Service produced by [`BreakerLayer`].
#[derive(Clone)]
pub struct BreakerService<S> {
    inner: S,
    resilience: Arc<Resilience>,
}

/// Settles a permit when the attempt ends, or when its future is dropped first (a cancelled
/// attempt gives its probe slot back).
struct Settle {
    policies: Arc<SourcePolicies>,
    permit: Option<Permit>,
}

impl Settle {
    fn record(&mut self, verdict: Verdict) {
        if let (Some(permit), Some(breaker)) = (self.permit.take(), &self.policies.breaker) {
            breaker.record(permit, verdict);
        }
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        self.record(Verdict::Ignored);
    }
}

impl<S> Service<McpCall> for BreakerService<S>
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
        let Some(source) = call.resolved.as_ref().and_then(|r| r.source()) else {
            return Box::pin(self.inner.call(call));
        };
        let policies = self.resilience.for_source(source);
        let Some(breaker) = &policies.breaker else {
            return Box::pin(self.inner.call(call));
        };
        let permit = match breaker.acquire() {
            Ok(permit) => permit,
            Err(err) => {
                return match failure_response(&call.request, err) {
                    Some(response) => Box::pin(std::future::ready(Ok(response))),
                    None => Box::pin(self.inner.call(call)),
                };
            }
        };
        let mut settle = Settle {
            policies: policies.clone(),
            permit: Some(permit),
        };
        let fut = self.inner.call(call);
        Box::pin(async move {
            let result = fut.await;
            settle.record(verdict(&result));
            result
        })
    }
}
