//! rmcp's door into the pipeline: the `ServerHandler` implementation of [`Gateway`].
//!
//! rmcp serves everything the fast path does not (sessions' other messages, SSE, progress,
//! `initialize`, malformed input). Each catalog method becomes one pipeline call through the
//! same edge as the fast path ([`Gateway::context`], [`Gateway::run`]), and answers are
//! mapped back with `toolgate_core::wire`.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use toolgate_core::{CallContext, EdgePath, GatewayError, McpRequest, McpResponse, wire};

use crate::gateway::{Arrival, Gateway};

impl Gateway {
    /// The context of a request rmcp serves: the HTTP request's head when it came over HTTP
    /// (rmcp puts it in the request's extensions), and rmcp's cancellation of the request.
    fn rmcp_context(&self, cx: &RequestContext<RoleServer>) -> CallContext {
        let arrival = match cx.extensions.get::<http::request::Parts>() {
            Some(parts) => Arrival::Http(parts),
            None => Arrival::Stdio,
        };
        self.context(arrival, EdgePath::Rmcp, cx.ct.clone())
    }

    async fn run_rmcp(
        &self,
        cx: &RequestContext<RoleServer>,
        request: McpRequest,
    ) -> Result<McpResponse, ErrorData> {
        self.run(self.rmcp_context(cx), request)
            .await
            .map_err(|e| wire::gateway_error_data(&e))
    }
}

/// The pipeline answered a request with a response of another kind (a bug).
fn mismatched(method: &str) -> ErrorData {
    wire::gateway_error_data(&GatewayError::Internal(format!(
        "pipeline answered {method} with another kind of response"
    )))
}

impl ServerHandler for Gateway {
    fn get_info(&self) -> ServerConfig {
        self.info().clone()
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let cursor = request.and_then(|r| r.cursor);
        match self.run_rmcp(&cx, McpRequest::ListTools { cursor }).await? {
            McpResponse::Tools(r) => Ok(r),
            McpResponse::ToolResult(_)
            | McpResponse::Resources(_)
            | McpResponse::ResourceTemplates(_)
            | McpResponse::Resource(_) => Err(mismatched("tools/list")),
        }
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let request = McpRequest::CallTool {
            name: request.name.into_owned(),
            arguments: request.arguments.unwrap_or_default(),
        };
        match self.run_rmcp(&cx, request).await? {
            McpResponse::ToolResult(Ok(r)) => Ok(r.into()),
            McpResponse::ToolResult(Err(e)) => Ok(wire::tool_error_result(&e).into()),
            McpResponse::Tools(_)
            | McpResponse::Resources(_)
            | McpResponse::ResourceTemplates(_)
            | McpResponse::Resource(_) => Err(mismatched("tools/call")),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let cursor = request.and_then(|r| r.cursor);
        match self
            .run_rmcp(&cx, McpRequest::ListResources { cursor })
            .await?
        {
            McpResponse::Resources(r) => Ok(r),
            McpResponse::Tools(_)
            | McpResponse::ToolResult(_)
            | McpResponse::ResourceTemplates(_)
            | McpResponse::Resource(_) => Err(mismatched("resources/list")),
        }
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let cursor = request.and_then(|r| r.cursor);
        match self
            .run_rmcp(&cx, McpRequest::ListResourceTemplates { cursor })
            .await?
        {
            McpResponse::ResourceTemplates(r) => Ok(r),
            McpResponse::Tools(_)
            | McpResponse::ToolResult(_)
            | McpResponse::Resources(_)
            | McpResponse::Resource(_) => Err(mismatched("resources/templates/list")),
        }
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        match self
            .run_rmcp(&cx, McpRequest::ReadResource { uri: uri.clone() })
            .await?
        {
            McpResponse::Resource(Ok(r)) => Ok(r.into()),
            McpResponse::Resource(Err(e)) => Err(wire::resource_error_data(&uri, &e)),
            McpResponse::Tools(_)
            | McpResponse::ToolResult(_)
            | McpResponse::Resources(_)
            | McpResponse::ResourceTemplates(_) => Err(mismatched("resources/read")),
        }
    }
}
