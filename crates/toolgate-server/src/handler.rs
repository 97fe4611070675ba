//! The rmcp `ServerHandler` that puts the call pipeline behind MCP.
//!
//! It translates MCP requests into [`McpCall`]s (building the call context at the edge:
//! correlation id from `X-Request-Id`/`traceparent`, cancellation, incoming headers), runs
//! them through the pipeline and maps the answers back with `toolgate_core::wire`. The same
//! handler serves stdio and streamable HTTP; only the [`Transport`] label differs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use tokio::sync::Notify;
use toolgate_core::wire;
use toolgate_core::{
    CallContext, CorrelationId, GatewayError, McpCall, McpRequest, McpResponse, Pipeline,
    SharedCatalog, Transport,
};
use tower::ServiceExt as _;

use crate::tools_json::ToolsJson;

/// Counts calls in progress so shutdown can wait for them.
#[derive(Default)]
pub struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    /// Calls currently in progress.
    pub fn current(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Resolves once no call is in progress.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.current() == 0 {
                return;
            }
            notified.await;
        }
    }

    fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.clone())
    }
}

struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Identity and instructions the server announces to clients.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    /// `serverInfo.name`.
    pub name: String,
    /// `serverInfo.version`.
    pub version: String,
    /// Optional `instructions` for the model.
    pub instructions: Option<String>,
}

impl Default for ServerIdentity {
    fn default() -> Self {
        ServerIdentity {
            name: "toolgate".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            instructions: None,
        }
    }
}

/// The MCP face of the gateway. Cheap to clone; one per transport.
#[derive(Clone)]
pub struct Gateway {
    pipeline: Pipeline,
    catalog: SharedCatalog,
    info: Arc<ServerConfig>,
    transport: Transport,
    in_flight: Arc<InFlight>,
    fast_path_calls: Arc<AtomicUsize>,
    /// Serialized `tools/list` arrays the fast path reuses.
    tools_json: Arc<ToolsJson>,
    /// Whether calls carry the incoming HTTP headers (only sources that forward headers
    /// need them; copying them on every call costs for nothing otherwise).
    keep_incoming_headers: bool,
}

impl Gateway {
    /// A gateway serving `catalog` through `pipeline` on `transport`.
    pub fn new(
        pipeline: Pipeline,
        catalog: SharedCatalog,
        identity: ServerIdentity,
        transport: Transport,
    ) -> Self {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .build();
        let mut info = ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(identity.name, identity.version));
        if let Some(instructions) = identity.instructions {
            info = info.with_instructions(instructions);
        }
        Gateway {
            pipeline,
            catalog,
            info: Arc::new(info),
            transport,
            in_flight: Arc::new(InFlight::default()),
            fast_path_calls: Arc::new(AtomicUsize::new(0)),
            tools_json: Arc::default(),
            keep_incoming_headers: true,
        }
    }

    /// Whether calls carry the incoming HTTP headers (default true). Turn it off when no
    /// source forwards headers to its backend.
    pub fn with_incoming_headers(mut self, keep: bool) -> Self {
        self.keep_incoming_headers = keep;
        self
    }

    /// The same gateway labelled with another transport (shares the in-flight counter).
    pub fn with_transport(&self, transport: Transport) -> Self {
        Gateway {
            transport,
            ..self.clone()
        }
    }

    /// The catalog being served.
    pub fn catalog(&self) -> &SharedCatalog {
        &self.catalog
    }

    /// Calls in progress across every transport using this gateway.
    pub fn in_flight(&self) -> Arc<InFlight> {
        self.in_flight.clone()
    }

    /// The context of a request that arrived over HTTP with `headers` (fast path).
    pub(crate) fn http_context(&self, headers: &http::HeaderMap) -> CallContext {
        let mut ctx = CallContext::new(CorrelationId::from_headers(headers), Transport::Http);
        if self.keep_incoming_headers {
            ctx.incoming_headers = Some(Arc::new(headers.clone()));
        }
        ctx
    }

    /// The context of a request that arrived over stdio (fast path): a fresh correlation id
    /// (stdio carries none) and the request's cancellation, as rmcp's path builds it.
    pub(crate) fn stdio_context(&self, cancel: tokio_util::sync::CancellationToken) -> CallContext {
        let mut ctx = CallContext::new(CorrelationId::generate(), Transport::Stdio);
        ctx.cancel = cancel;
        ctx
    }

    /// The cache of serialized `tools/list` arrays.
    pub(crate) fn tools_json(&self) -> &ToolsJson {
        &self.tools_json
    }

    /// Requests served by the fast path (HTTP or stdio) so far.
    pub fn fast_path_calls(&self) -> usize {
        self.fast_path_calls.load(Ordering::Relaxed)
    }

    /// Runs `request` through the pipeline, counted as in flight (the fast path).
    pub(crate) async fn run_direct(
        &self,
        ctx: CallContext,
        request: McpRequest,
    ) -> Result<McpResponse, GatewayError> {
        let _guard = self.in_flight.enter();
        self.fast_path_calls.fetch_add(1, Ordering::Relaxed);
        self.pipeline
            .clone()
            .oneshot(McpCall { ctx, request })
            .await
    }

    fn context(&self, cx: &RequestContext<RoleServer>) -> CallContext {
        let parts = cx.extensions.get::<http::request::Parts>();
        let correlation_id = match parts {
            Some(p) => CorrelationId::from_headers(&p.headers),
            None => CorrelationId::generate(),
        };
        let mut ctx = CallContext::new(correlation_id, self.transport);
        ctx.cancel = cx.ct.clone();
        if self.keep_incoming_headers {
            ctx.incoming_headers = parts.map(|p| Arc::new(p.headers.clone()));
        }
        ctx
    }

    async fn run(
        &self,
        cx: &RequestContext<RoleServer>,
        request: McpRequest,
    ) -> Result<McpResponse, ErrorData> {
        let _guard = self.in_flight.enter();
        let call = McpCall {
            ctx: self.context(cx),
            request,
        };
        self.pipeline
            .clone()
            .oneshot(call)
            .await
            .map_err(|e| wire::gateway_error_data(&e))
    }
}

fn unexpected(method: &str) -> ErrorData {
    wire::gateway_error_data(&GatewayError::Internal(format!(
        "pipeline answered {method} with another kind of response"
    )))
}

impl ServerHandler for Gateway {
    fn get_info(&self) -> ServerConfig {
        (*self.info).clone()
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let cursor = request.and_then(|r| r.cursor);
        match self.run(&cx, McpRequest::ListTools { cursor }).await? {
            McpResponse::Tools(r) => Ok(r),
            _ => Err(unexpected("tools/list")),
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
        match self.run(&cx, request).await? {
            McpResponse::ToolResult(Ok(r)) => Ok(r.into()),
            McpResponse::ToolResult(Err(e)) => Ok(wire::tool_error_result(&e).into()),
            _ => Err(unexpected("tools/call")),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let cursor = request.and_then(|r| r.cursor);
        match self.run(&cx, McpRequest::ListResources { cursor }).await? {
            McpResponse::Resources(r) => Ok(r),
            _ => Err(unexpected("resources/list")),
        }
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let cursor = request.and_then(|r| r.cursor);
        match self
            .run(&cx, McpRequest::ListResourceTemplates { cursor })
            .await?
        {
            McpResponse::ResourceTemplates(r) => Ok(r),
            _ => Err(unexpected("resources/templates/list")),
        }
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        match self
            .run(&cx, McpRequest::ReadResource { uri: uri.clone() })
            .await?
        {
            McpResponse::Resource(Ok(r)) => Ok(r.into()),
            McpResponse::Resource(Err(e)) => Err(wire::resource_error_data(&uri, &e)),
            _ => Err(unexpected("resources/read")),
        }
    }
}
