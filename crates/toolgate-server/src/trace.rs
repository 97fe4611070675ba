//! The span of each MCP request, started and ended at the one request edge
//! ([`crate::gateway::Gateway::run`]) whatever the transport and path, per OpenTelemetry's MCP
//! semantic conventions: a server span named `{mcp.method.name} {target}`, child of the trace
//! context the client sent (the `traceparent` header over HTTP, else `params._meta`).
//!
//! Read only when traces are on (the gateway holds a [`Tracing`]); nothing here runs
//! otherwise. Attributes are bounded or the request's own names and ids: never arguments,
//! results, headers or credentials.

use rmcp::model::{JsonObject, RequestId};
use serde_json::Value;
use toolgate_core::trace::{Attribute, CallTrace, SpanContext, Tracing};
use toolgate_core::{CallContext, GatewayError, McpRequest, McpResponse, SharedCatalog, Transport};

const MCP_SESSION_ID: http::HeaderName = http::HeaderName::from_static("mcp-session-id");

/// A JSON-RPC request id as the edge received it.
#[derive(Clone, Copy)]
pub(crate) enum RpcId<'a> {
    /// Parsed by the fast path.
    Json(&'a Value),
    /// Parsed by rmcp.
    Rmcp(&'a RequestId),
}

impl RpcId<'_> {
    fn text(self) -> String {
        match self {
            RpcId::Json(Value::String(s)) => s.clone(),
            RpcId::Json(v) => v.to_string(),
            RpcId::Rmcp(id) => id.to_string(),
        }
    }
}

/// What the edge knows of a request besides its context, read for its span.
#[derive(Clone, Copy)]
pub(crate) struct RequestEdge<'a> {
    /// The JSON-RPC id.
    pub(crate) id: RpcId<'a>,
    /// The HTTP request's head (its `traceparent` and session id), when it came over HTTP.
    pub(crate) head: Option<&'a http::request::Parts>,
    /// The request's `params._meta`, when the edge has it as a map (rmcp's path).
    pub(crate) meta: Option<&'a JsonObject>,
    /// The trace context the fast path read from `params._meta` (see
    /// `protocol::Envelope::trace_context`).
    pub(crate) meta_parent: Option<&'a SpanContext>,
}

impl<'a> RequestEdge<'a> {
    /// A request with the given id and nothing else known.
    pub(crate) fn new(id: RpcId<'a>) -> Self {
        RequestEdge {
            id,
            head: None,
            meta: None,
            meta_parent: None,
        }
    }

    /// The trace context the client sent: the HTTP `traceparent` header first (what every
    /// HTTP hop before us continued), else `params._meta` (SEP-414; stdio's only way).
    fn parent(&self) -> Option<SpanContext> {
        self.head
            .and_then(|h| toolgate_core::trace::from_headers(&h.headers))
            .or_else(|| self.meta_parent.cloned())
            .or_else(|| self.meta.and_then(toolgate_core::trace::from_meta))
    }
}

/// The span name and target attribute of `request` (the convention's `{mcp.method.name}
/// {target}`, the target being the tool or prompt named).
fn name_and_target(request: &McpRequest) -> (String, Option<Attribute>) {
    let method = request.method();
    match request {
        McpRequest::CallTool { name, .. } => (
            format!("{method} {name}"),
            Some(Attribute::new("gen_ai.tool.name", name.clone())),
        ),
        McpRequest::GetPrompt { name, .. } => (
            format!("{method} {name}"),
            Some(Attribute::new("gen_ai.prompt.name", name.clone())),
        ),
        McpRequest::ReadResource { uri } | McpRequest::Subscribe { uri, .. } => (
            method.to_owned(),
            Some(Attribute::new("mcp.resource.uri", uri.clone())),
        ),
        _ => (method.to_owned(), None),
    }
}

/// Starts the request span of `request`.
pub(crate) fn start(
    tracing: &Tracing,
    catalog: &SharedCatalog,
    ctx: &CallContext,
    request: &McpRequest,
    edge: &RequestEdge<'_>,
) -> CallTrace {
    let (name, target) = name_and_target(request);
    let mut attributes = Vec::with_capacity(12);
    attributes.push(Attribute::new("mcp.method.name", request.method()));
    if let McpRequest::CallTool { name, .. } = request {
        attributes.push(Attribute::new("gen_ai.operation.name", "execute_tool"));
        if let Some(tool) = catalog.load().tool(name) {
            attributes.push(Attribute::new("toolgate.source", tool.source.to_string()));
        }
    }
    attributes.extend(target);
    attributes.push(Attribute::new("jsonrpc.request.id", edge.id.text()));
    attributes.push(Attribute::new("jsonrpc.protocol.version", "2.0"));
    let (transport, protocol) = match ctx.transport {
        Transport::Http => ("tcp", Some("http")),
        Transport::Stdio => ("pipe", None),
        Transport::InProcess => ("inproc", None),
    };
    attributes.push(Attribute::new("network.transport", transport));
    if let Some(p) = protocol {
        attributes.push(Attribute::new("network.protocol.name", p));
    }
    if let Some(session) = edge
        .head
        .and_then(|h| h.headers.get(MCP_SESSION_ID))
        .and_then(|v| v.to_str().ok())
    {
        attributes.push(Attribute::new("mcp.session.id", session.to_owned()));
    }
    if let Some(peer) = ctx.peer {
        attributes.push(Attribute::new("client.address", peer.ip().to_string()));
    }
    attributes.push(Attribute::new("toolgate.path", ctx.path.as_str()));
    attributes.push(Attribute::new(
        "toolgate.correlation_id",
        ctx.correlation_id.as_str().to_owned(),
    ));
    tracing.request(name, edge.parent(), attributes)
}

/// Records how the call ended (outcome, error type, retries) and ends the span.
pub(crate) fn finish(trace: &CallTrace, result: &Result<McpResponse, GatewayError>) {
    let outcome = toolgate_policy::outcome_label(result);
    let attempts = toolgate_policy::retry::layer::attempts(result);
    trace.set_attributes([
        Attribute::new("toolgate.outcome", outcome),
        Attribute::new("toolgate.retries", i64::from(attempts.saturating_sub(1))),
    ]);
    if outcome != "ok" {
        trace.fail(outcome);
    }
    trace.end();
}
