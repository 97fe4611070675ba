//! One structured log line per call: method, tool, source, subject, authorization decision
//! (and the rule that made it), outcome, latency, correlation id, transport and the path that
//! served it.
//!
//! Arguments and results are never logged (they may hold personal data or secrets). Nor is the
//! message a failed call shows the model (it quotes argument values and the backend's answer):
//! the line at `warn` carries what `toolgate_core::wire::tool_error_log` keeps of a failure —
//! its classification, status, violated argument paths and cause chain (the backend's reply
//! summarized, bounded and escaped). A call whose future is dropped before it finishes (the
//! client went away) still gets its line, with outcome `dropped`.

use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use toolgate_core::{CorrelationId, GatewayError, McpCall, McpRequest, McpResponse, wire};
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

/// The tool or prompt a call names: read from the resolved catalog entry when there is one
/// (nothing copied per call), else the name as the client sent it.
enum Named {
    Tool(toolgate_core::Resolved),
    Prompt(toolgate_core::Resolved),
    Requested(String),
}

impl Named {
    fn as_str(&self) -> &str {
        match self {
            Named::Tool(r) => r.tool().map_or("", |e| e.tool.name.as_ref()),
            Named::Prompt(r) => r.prompt().map_or("", |e| e.prompt.name.as_str()),
            Named::Requested(name) => name,
        }
    }

    /// The catalog's entry for a call to tool `name`, or `name` itself.
    fn tool(resolved: Option<&toolgate_core::Resolved>, name: &str) -> Named {
        match resolved.filter(|r| r.tool().is_some()) {
            Some(r) => Named::Tool(r.clone()),
            None => Named::Requested(name.to_owned()),
        }
    }

    /// The catalog's entry for prompt `name`, or `name` itself.
    fn prompt(resolved: Option<&toolgate_core::Resolved>, name: &str) -> Named {
        match resolved.filter(|r| r.prompt().is_some()) {
            Some(r) => Named::Prompt(r.clone()),
            None => Named::Requested(name.to_owned()),
        }
    }
}

/// What the line of one call says besides its outcome.
struct LogLine {
    correlation_id: CorrelationId,
    transport: &'static str,
    path: &'static str,
    method: &'static str,
    /// The tool (or prompt) the client named (written with escapes: it may be user input).
    tool: Option<Named>,
    uri: Option<String>,
    source: Option<std::sync::Arc<str>>,
    principal: Option<std::sync::Arc<toolgate_core::Principal>>,
    /// Where the authorization layer (if any) records its decision.
    decision: toolgate_core::DecisionSlot,
    started: Instant,
    written: bool,
}

impl LogLine {
    fn write(&mut self, outcome: &'static str, error: Option<&str>, attempts: u32) {
        if std::mem::replace(&mut self.written, true) {
            return;
        }
        // Only a retried call says how many times it was sent.
        let attempts = (attempts > 1).then_some(attempts);
        let latency_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let latency_ms = format_args!("{latency_ms:.3}");
        let tool = self
            .tool
            .as_ref()
            .map(|t| tracing::field::debug(t.as_str()));
        let uri = self.uri.as_deref().map(tracing::field::debug);
        let source = self.source.as_deref();
        let subject = self
            .principal
            .as_ref()
            .map(|p| tracing::field::debug(p.subject.as_str()));
        let decision = self.decision.get();
        let rule = decision.and_then(|d| d.rule.as_deref());
        let decision = decision.map(|d| if d.allowed { "allowed" } else { "denied" });
        match error {
            None => tracing::info!(
                target: "toolgate::call",
                correlation_id = %self.correlation_id,
                transport = self.transport,
                path = self.path,
                method = self.method,
                tool,
                uri,
                source,
                subject,
                decision,
                rule,
                outcome,
                latency_ms,
                attempts,
                "call finished"
            ),
            Some(error) => tracing::warn!(
                target: "toolgate::call",
                correlation_id = %self.correlation_id,
                transport = self.transport,
                path = self.path,
                method = self.method,
                tool,
                uri,
                source,
                subject,
                decision,
                rule,
                outcome,
                latency_ms,
                attempts,
                error,
                "call failed"
            ),
        }
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if !self.written {
            self.write(
                "dropped",
                Some("the client went away before the call finished"),
                1,
            );
        }
    }
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

    fn call(&mut self, mut call: McpCall) -> Self::Future {
        let decision = call.decision.get_or_insert_with(Default::default).clone();
        let resolved = call.resolved.as_ref();
        let (tool, uri) = match &call.request {
            McpRequest::CallTool { name, .. } => (Some(Named::tool(resolved, name)), None),
            McpRequest::GetPrompt { name, .. } => (Some(Named::prompt(resolved, name)), None),
            McpRequest::ReadResource { uri } | McpRequest::Subscribe { uri, .. } => {
                (None, Some(uri.clone()))
            }
            McpRequest::Complete { reference, .. } => match reference {
                rmcp::model::Reference::Prompt(p) => (Some(Named::Requested(p.name.clone())), None),
                rmcp::model::Reference::Resource(r) => (None, Some(r.uri.clone())),
                // rmcp's enum is non-exhaustive.
                _ => (None, None),
            },
            McpRequest::ListTools { .. }
            | McpRequest::ListResources { .. }
            | McpRequest::ListResourceTemplates { .. }
            | McpRequest::ListPrompts { .. }
            | McpRequest::SetLogLevel { .. } => (None, None),
        };
        let mut line = LogLine {
            correlation_id: call.ctx.correlation_id.clone(),
            transport: call.ctx.transport.as_str(),
            path: call.ctx.path.as_str(),
            method: call.request.method(),
            tool,
            uri,
            source: call.resolved.as_ref().and_then(|r| r.source()).cloned(),
            principal: call.ctx.principal.clone(),
            decision,
            started: Instant::now(),
            written: false,
        };
        let fut = self.inner.call(call);
        Box::pin(async move {
            let result = fut.await;
            let outcome = outcome_label(&result);
            let attempts = crate::retry::layer::attempts(&result);
            match &result {
                Ok(r) => match r.tool_error() {
                    Some(e) => line.write(
                        outcome,
                        Some(&wire::tool_error_log(e).to_string()),
                        attempts,
                    ),
                    None => line.write(outcome, None, attempts),
                },
                Err(e) => line.write(outcome, Some(&e.to_string()), attempts),
            }
            result
        })
    }
}
