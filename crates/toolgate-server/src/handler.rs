//! rmcp's door into the pipeline: the `ServerHandler` implementation of [`Gateway`].
//!
//! rmcp serves everything the fast path does not (sessions' other messages, SSE, progress,
//! `initialize`, malformed input, and every call of a tool whose source talks back to the
//! client). Each catalog method becomes one pipeline call through the same edge as the fast
//! path ([`Gateway::context`], [`Gateway::run`]), with the channel back to the client
//! ([`PeerChannel`]) in its context, and answers are mapped back with `toolgate_core::wire`.

// Logging is deprecated by SEP-2577 (2026-07-28) but remains part of 2025-11-25.
#![allow(deprecated)]

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerConfig, SetLevelRequestParams, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use toolgate_core::{
    CallContext, CorrelationId, EdgePath, GatewayError, InputRetry, McpRequest, McpResponse, wire,
};

use crate::gateway::{Arrival, Gateway};
use crate::peer::PeerChannel;
use crate::trace::{RequestEdge, RpcId};

const MCP_SESSION_ID: http::HeaderName = http::HeaderName::from_static("mcp-session-id");

impl Gateway {
    /// The client session a request belongs to: its legacy HTTP session, the stdio
    /// connection, or (stateless 2026-07-28) the request itself.
    fn session_key(&self, cx: &RequestContext<RoleServer>) -> Arc<str> {
        match cx.extensions.get::<http::request::Parts>() {
            Some(parts) => match parts
                .headers
                .get(MCP_SESSION_ID)
                .and_then(|v| v.to_str().ok())
            {
                Some(id) => Arc::from(format!("http:{id}")),
                None => Arc::from(format!("request:{}", CorrelationId::generate())),
            },
            None => Arc::from("stdio"),
        }
    }

    /// The context of a request rmcp serves: the HTTP request's head when it came over HTTP
    /// (rmcp puts it in the request's extensions), rmcp's cancellation of the request, and
    /// the channel back to its client.
    fn rmcp_context(&self, cx: &RequestContext<RoleServer>, retry: InputRetry) -> CallContext {
        let session = self.session_key(cx);
        self.clients().seen(session.clone(), &cx.peer);
        let client = Arc::new(PeerChannel::new(cx, session, self.log_levels()).with_retry(retry));
        let arrival = match cx.extensions.get::<http::request::Parts>() {
            Some(parts) => Arrival::Http(parts),
            None => Arrival::Stdio,
        };
        self.context_with_client(arrival, EdgePath::Rmcp, cx.ct.clone(), Some(client))
    }

    async fn run_rmcp(
        &self,
        cx: &RequestContext<RoleServer>,
        request: McpRequest,
    ) -> Result<McpResponse, ErrorData> {
        self.run_rmcp_retry(cx, request, InputRetry::default())
            .await
    }

    /// [`Self::run_rmcp`] for a request that may retry one answered `input_required`.
    async fn run_rmcp_retry(
        &self,
        cx: &RequestContext<RoleServer>,
        request: McpRequest,
        retry: InputRetry,
    ) -> Result<McpResponse, ErrorData> {
        let mut edge = RequestEdge::new(RpcId::Rmcp(&cx.id));
        if self.traced() {
            edge.head = cx.extensions.get::<http::request::Parts>();
            edge.meta = Some(&cx.meta.0.0);
        }
        self.run(self.rmcp_context(cx, retry), request, edge)
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

/// The name of a response's kind, to report a mismatch.
fn kind_of(response: &McpResponse) -> &'static str {
    match response {
        McpResponse::Tools(_) => "tools/list",
        McpResponse::ToolResult(_) => "tools/call",
        McpResponse::Resources(_) => "resources/list",
        McpResponse::ResourceTemplates(_) => "resources/templates/list",
        McpResponse::Resource(_) => "resources/read",
        McpResponse::Subscribed(_) => "resources/subscribe",
        McpResponse::Prompts(_) => "prompts/list",
        McpResponse::Prompt(_) => "prompts/get",
        McpResponse::Completion(_) => "completion/complete",
        McpResponse::LogLevelSet(_) => "logging/setLevel",
    }
}

impl ServerHandler for Gateway {
    fn get_info(&self) -> ServerConfig {
        // The sources' capabilities may have changed since start (an upstream that came up
        // later): each `initialize` announces the current union.
        self.current_info()
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let session = match context.extensions.get::<http::request::Parts>() {
            Some(parts) => parts
                .headers
                .get(MCP_SESSION_ID)
                .and_then(|v| v.to_str().ok())
                .map(|id| Arc::from(format!("http:{id}"))),
            None => Some(Arc::from("stdio")),
        };
        if let Some(session) = session {
            self.clients().seen(session, &context.peer);
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let cursor = request.and_then(|r| r.cursor);
        match self.run_rmcp(&cx, McpRequest::ListTools { cursor }).await? {
            McpResponse::Tools(r) => Ok(r),
            other => Err(mismatched(kind_of(&other))),
        }
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // A 2026-07-28 retry of a request answered `input_required` (MRTR; also for
        // `prompts/get` and `resources/read`): its answers and state go to the source that
        // asked, through the request's client channel.
        let retry = InputRetry {
            input_responses: request.input_responses,
            request_state: request.request_state,
        };
        let request = McpRequest::CallTool {
            name: request.name.into_owned(),
            arguments: request.arguments.unwrap_or_default(),
        };
        match self.run_rmcp_retry(&cx, request, retry).await? {
            McpResponse::ToolResult(Ok(r)) => Ok(r.into()),
            // `input_required` is not a failure: the source needs input from the client first
            // (only a client that speaks 2026-07-28 is ever asked; rmcp refuses the result
            // for others).
            McpResponse::ToolResult(Err(mut e)) => match e.input_required.take() {
                Some(result) => Ok(CallToolResponse::InputRequired(*result)),
                None => wire::tool_failure(&e).map(Into::into),
            },
            other => Err(mismatched(kind_of(&other))),
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
            other => Err(mismatched(kind_of(&other))),
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
            other => Err(mismatched(kind_of(&other))),
        }
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let retry = InputRetry {
            input_responses: request.input_responses,
            request_state: request.request_state,
        };
        let uri = request.uri;
        match self
            .run_rmcp_retry(&cx, McpRequest::ReadResource { uri: uri.clone() }, retry)
            .await?
        {
            McpResponse::Resource(Ok(r)) => Ok(r.into()),
            McpResponse::Resource(Err(mut e)) => match e.input_required.take() {
                Some(result) => Ok(ReadResourceResponse::InputRequired(*result)),
                None => Err(wire::resource_error_data(&uri, &e)),
            },
            other => Err(mismatched(kind_of(&other))),
        }
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let request = McpRequest::Subscribe {
            uri: request.uri,
            subscribe: true,
        };
        match self.run_rmcp(&cx, request).await? {
            McpResponse::Subscribed(r) => {
                r.map_err(|e| wire::request_error_data("resources/subscribe", &e))
            }
            other => Err(mismatched(kind_of(&other))),
        }
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let request = McpRequest::Subscribe {
            uri: request.uri,
            subscribe: false,
        };
        match self.run_rmcp(&cx, request).await? {
            McpResponse::Subscribed(r) => {
                r.map_err(|e| wire::request_error_data("resources/unsubscribe", &e))
            }
            other => Err(mismatched(kind_of(&other))),
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let cursor = request.and_then(|r| r.cursor);
        match self
            .run_rmcp(&cx, McpRequest::ListPrompts { cursor })
            .await?
        {
            McpResponse::Prompts(r) => Ok(r),
            other => Err(mismatched(kind_of(&other))),
        }
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let retry = InputRetry {
            input_responses: request.input_responses,
            request_state: request.request_state,
        };
        let request = McpRequest::GetPrompt {
            name: request.name,
            arguments: request.arguments.unwrap_or_default(),
        };
        match self.run_rmcp_retry(&cx, request, retry).await? {
            McpResponse::Prompt(Ok(r)) => Ok(r.into()),
            McpResponse::Prompt(Err(mut e)) => match e.input_required.take() {
                Some(result) => Ok(GetPromptResponse::InputRequired(*result)),
                None => Err(wire::request_error_data("prompts/get", &e)),
            },
            other => Err(mismatched(kind_of(&other))),
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let request = McpRequest::Complete {
            reference: request.r#ref,
            argument: request.argument,
            context: request.context,
        };
        match self.run_rmcp(&cx, request).await? {
            McpResponse::Completion(r) => {
                r.map_err(|e| wire::request_error_data("completion/complete", &e))
            }
            other => Err(mismatched(kind_of(&other))),
        }
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if self.current_info().capabilities.logging.is_none() {
            return Err(ErrorData::method_not_found::<
                rmcp::model::SetLevelRequestMethod,
            >());
        }
        self.log_levels().set(self.session_key(&cx), request.level);
        match self
            .run_rmcp(
                &cx,
                McpRequest::SetLogLevel {
                    level: request.level,
                },
            )
            .await?
        {
            McpResponse::LogLevelSet(r) => {
                r.map_err(|e| wire::request_error_data("logging/setLevel", &e))
            }
            other => Err(mismatched(kind_of(&other))),
        }
    }
}
