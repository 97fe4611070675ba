//! The call pipeline's request and response types and its innermost service, the dispatcher.
//!
//! Every MCP operation that reaches a source — `tools/list`, `tools/call`, `resources/*` —
//! becomes one [`McpCall`] and passes through the same `tower` stack whatever the transport.
//! Layers (logging, metrics, later auth and rate limits) wrap [`Dispatcher`]; the stack is
//! assembled in `toolgate_policy::stack::build`.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use rmcp::model::{
    CallToolResult, JsonObject, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    ReadResourceResult,
};
use tower::Service;
use tower::util::BoxCloneSyncService;

use crate::catalog::{Catalog, SharedCatalog};
use crate::context::CallContext;
use crate::error::{GatewayError, ToolError, ToolErrorKind};
use crate::resolve::Resolved;

/// One MCP operation.
#[derive(Debug, Clone)]
pub enum McpRequest {
    /// `tools/list`.
    ListTools {
        /// Pagination cursor.
        cursor: Option<String>,
    },
    /// `tools/call`.
    CallTool {
        /// Tool name.
        name: String,
        /// Arguments (absent = `{}`).
        arguments: JsonObject,
    },
    /// `resources/list`.
    ListResources {
        /// Pagination cursor.
        cursor: Option<String>,
    },
    /// `resources/templates/list`.
    ListResourceTemplates {
        /// Pagination cursor.
        cursor: Option<String>,
    },
    /// `resources/read`.
    ReadResource {
        /// The resource URI.
        uri: String,
    },
}

impl McpRequest {
    /// The MCP method name (a bounded label).
    pub fn method(&self) -> &'static str {
        match self {
            McpRequest::ListTools { .. } => "tools/list",
            McpRequest::CallTool { .. } => "tools/call",
            McpRequest::ListResources { .. } => "resources/list",
            McpRequest::ListResourceTemplates { .. } => "resources/templates/list",
            McpRequest::ReadResource { .. } => "resources/read",
        }
    }
}

/// An operation plus its context.
#[derive(Debug, Clone)]
pub struct McpCall {
    /// Who, how, until when.
    pub ctx: CallContext,
    /// What.
    pub request: McpRequest,
    /// What the request addresses, in the catalog snapshot the call runs against: set by the
    /// outermost layer ([`crate::resolve::ResolveLayer`]) before any policy runs.
    pub resolved: Option<Resolved>,
}

impl McpCall {
    /// A call not resolved yet.
    pub fn new(ctx: CallContext, request: McpRequest) -> Self {
        McpCall {
            ctx,
            request,
            resolved: None,
        }
    }
}

/// The outcome of a tool call: a result, or a classified failure (turned into an
/// `isError: true` result by [`crate::wire`]).
pub type ToolOutcome = Result<CallToolResult, ToolError>;

/// The answer to one [`McpRequest`] that reached a source.
#[derive(Debug, Clone)]
pub enum McpResponse {
    /// `tools/list`.
    Tools(ListToolsResult),
    /// `tools/call`.
    ToolResult(ToolOutcome),
    /// `resources/list`.
    Resources(ListResourcesResult),
    /// `resources/templates/list`.
    ResourceTemplates(ListResourceTemplatesResult),
    /// `resources/read`.
    Resource(Result<ReadResourceResult, ToolError>),
}

impl McpResponse {
    /// The tool or resource failure carried by this response, if any.
    pub fn tool_error(&self) -> Option<&ToolError> {
        match self {
            McpResponse::ToolResult(Err(e)) | McpResponse::Resource(Err(e)) => Some(e),
            _ => None,
        }
    }
}

/// The boxed pipeline every transport calls.
pub type Pipeline = BoxCloneSyncService<McpCall, McpResponse, GatewayError>;

/// The innermost service: runs the target the call resolved to (resolving it first if no
/// [`crate::resolve::ResolveLayer`] did).
#[derive(Clone)]
pub struct Dispatcher {
    catalog: SharedCatalog,
}

impl Dispatcher {
    /// A dispatcher over `catalog`.
    pub fn new(catalog: SharedCatalog) -> Self {
        Dispatcher { catalog }
    }
}

/// A page of `items` as `T`, or the cursor's error.
fn listing<E, T>(
    catalog: &Catalog,
    items: &[E],
    cursor: Option<&str>,
    item: impl Fn(&E) -> T,
    wrap: impl FnOnce(Vec<T>, Option<String>) -> McpResponse,
) -> BoxFuture<'static, Result<McpResponse, GatewayError>> {
    let result = catalog
        .page(items, cursor)
        .map(|(page, next)| wrap(page.iter().map(item).collect(), next));
    Box::pin(std::future::ready(result))
}

impl Service<McpCall> for Dispatcher {
    type Response = McpResponse;
    type Error = GatewayError;
    type Future = BoxFuture<'static, Result<McpResponse, GatewayError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: McpCall) -> Self::Future {
        let McpCall {
            ctx,
            request,
            resolved,
        } = call;
        let resolved =
            resolved.unwrap_or_else(|| Resolved::new(self.catalog.load_full(), &request));
        let catalog = resolved.catalog();
        match request {
            McpRequest::ListTools { cursor } => listing(
                catalog,
                catalog.tools(),
                cursor.as_deref(),
                |e| e.tool.clone(),
                |items, next| {
                    let mut r = ListToolsResult::with_all_items(items);
                    r.next_cursor = next;
                    McpResponse::Tools(r)
                },
            ),
            McpRequest::ListResources { cursor } => listing(
                catalog,
                catalog.resources(),
                cursor.as_deref(),
                |e| e.resource.clone(),
                |items, next| {
                    let mut r = ListResourcesResult::with_all_items(items);
                    r.next_cursor = next;
                    McpResponse::Resources(r)
                },
            ),
            McpRequest::ListResourceTemplates { cursor } => listing(
                catalog,
                catalog.templates(),
                cursor.as_deref(),
                |e| e.template.clone(),
                |items, next| {
                    let mut r = ListResourceTemplatesResult::with_all_items(items);
                    r.next_cursor = next;
                    McpResponse::ResourceTemplates(r)
                },
            ),
            McpRequest::CallTool { name, arguments } => match resolved.tool() {
                None => Box::pin(std::future::ready(Err(GatewayError::UnknownTool(name)))),
                Some(entry) => {
                    let fut = entry.handler.call(&ctx, arguments);
                    let cancel = ctx.cancel.clone();
                    Box::pin(async move {
                        let outcome = tokio::select! {
                            r = fut => r,
                            () = cancel.cancelled() => Err(cancelled(&format!("call to `{name}`"))),
                        };
                        Ok(McpResponse::ToolResult(outcome))
                    })
                }
            },
            McpRequest::ReadResource { uri } => match resolved.resource_reader() {
                None => Box::pin(std::future::ready(Err(GatewayError::ResourceNotFound(uri)))),
                Some((handler, arguments)) => {
                    let fut = handler.read(&ctx, &uri, arguments);
                    let cancel = ctx.cancel.clone();
                    Box::pin(async move {
                        let outcome = tokio::select! {
                            r = fut => r,
                            () = cancel.cancelled() => Err(cancelled(&format!("reading `{uri}`"))),
                        };
                        Ok(McpResponse::Resource(outcome.map(ReadResourceResult::new)))
                    })
                }
            },
        }
    }
}

/// The failure of work the client cancelled.
fn cancelled(what: &str) -> ToolError {
    ToolError::new(
        ToolErrorKind::Cancelled,
        format!("{what} was cancelled by the client"),
    )
}
