//! One structured log line per call: method, tool, outcome, latency, correlation id.
//!
//! Arguments and results are never logged (they may hold personal data or secrets); the
//! full error message of a failed call is, at `warn` level, because it is what an operator
//! needs and it is written by the gateway itself, not copied from credentials.

use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use toolgate_core::{GatewayError, McpCall, McpRequest, McpResponse};
use tower::{Layer, Service};

use crate::outcome::outcome_label;

/// Logs every call once when it finishes.
#[derive(Clone, Copy, Default)]
pub struct CallLogLayer;

impl<S> Layer<S> for CallLogLayer {
    type Service = CallLogService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CallLogService { inner }
    }
}

/// Service produced by [`CallLogLayer`].
#[derive(Clone)]
pub struct CallLogService<S> {
    inner: S,
}

impl<S> Service<McpCall> for CallLogService<S>
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
        let method = call.request.method();
        let (tool, uri) = match &call.request {
            McpRequest::CallTool { name, .. } => (Some(name.clone()), None),
            McpRequest::ReadResource { uri } => (None, Some(uri.clone())),
            McpRequest::ListTools { .. }
            | McpRequest::ListResources { .. }
            | McpRequest::ListResourceTemplates { .. } => (None, None),
        };
        let correlation_id = call.ctx.correlation_id.clone();
        let transport = call.ctx.transport.as_str();
        let fut = self.inner.call(call);
        let started = Instant::now();
        Box::pin(async move {
            let result = fut.await;
            let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
            let outcome = outcome_label(&result);
            let error = match &result {
                Ok(r) => r.tool_error().map(|e| e.message.clone()),
                Err(e) => Some(e.to_string()),
            };
            match error {
                None => tracing::info!(
                    target: "toolgate::call",
                    correlation_id = %correlation_id,
                    transport,
                    method,
                    tool = tool.as_deref(),
                    uri = uri.as_deref(),
                    outcome,
                    latency_ms = format_args!("{latency_ms:.3}"),
                    "call finished"
                ),
                Some(error) => tracing::warn!(
                    target: "toolgate::call",
                    correlation_id = %correlation_id,
                    transport,
                    method,
                    tool = tool.as_deref(),
                    uri = uri.as_deref(),
                    outcome,
                    latency_ms = format_args!("{latency_ms:.3}"),
                    error = ?error,
                    "call failed"
                ),
            }
            result
        })
    }
}
