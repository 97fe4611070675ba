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

use crate::catalog::SharedCatalog;
use crate::context::CallContext;
use crate::error::{GatewayError, ToolError};

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

/// The innermost service: looks the target up in the current catalog and runs it.
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

impl Service<McpCall> for Dispatcher {
    type Response = McpResponse;
    type Error = GatewayError;
    type Future = BoxFuture<'static, Result<McpResponse, GatewayError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: McpCall) -> Self::Future {
        let catalog = self.catalog.load_full();
        let McpCall { ctx, request } = call;
        match request {
            McpRequest::ListTools { cursor } => {
                let result =
                    catalog
                        .page(catalog.tools(), cursor.as_deref())
                        .map(|(page, next)| {
                            let mut r = ListToolsResult::with_all_items(
                                page.iter().map(|e| e.tool.clone()).collect(),
                            );
                            r.next_cursor = next;
                            McpResponse::Tools(r)
                        });
                Box::pin(std::future::ready(result))
            }
            McpRequest::ListResources { cursor } => {
                let result =
                    catalog
                        .page(catalog.resources(), cursor.as_deref())
                        .map(|(page, next)| {
                            let mut r = ListResourcesResult::with_all_items(
                                page.iter().map(|e| e.resource.clone()).collect(),
                            );
                            r.next_cursor = next;
                            McpResponse::Resources(r)
                        });
                Box::pin(std::future::ready(result))
            }
            McpRequest::ListResourceTemplates { cursor } => {
                let result =
                    catalog
                        .page(catalog.templates(), cursor.as_deref())
                        .map(|(page, next)| {
                            let mut r = ListResourceTemplatesResult::with_all_items(
                                page.iter().map(|e| e.template.clone()).collect(),
                            );
                            r.next_cursor = next;
                            McpResponse::ResourceTemplates(r)
                        });
                Box::pin(std::future::ready(result))
            }
            McpRequest::CallTool { name, arguments } => match catalog.tool(&name) {
                None => Box::pin(std::future::ready(Err(GatewayError::UnknownTool(name)))),
                Some(entry) => {
                    let fut = entry.handler.call(&ctx, arguments);
                    let cancel = ctx.cancel.clone();
                    Box::pin(async move {
                        let outcome = tokio::select! {
                            r = fut => r,
                            () = cancel.cancelled() => Err(ToolError::new(
                                crate::error::ToolErrorKind::Cancelled,
                                format!("call to `{name}` was cancelled by the client"),
                            )),
                        };
                        Ok(McpResponse::ToolResult(outcome))
                    })
                }
            },
            McpRequest::ReadResource { uri } => match catalog.resolve_resource(&uri) {
                None => Box::pin(std::future::ready(Err(GatewayError::ResourceNotFound(uri)))),
                Some(resolved) => {
                    let fut = resolved.handler.read(&ctx, &uri, resolved.arguments);
                    Box::pin(async move {
                        Ok(McpResponse::Resource(
                            fut.await.map(ReadResourceResult::new),
                        ))
                    })
                }
            },
        }
    }
}
