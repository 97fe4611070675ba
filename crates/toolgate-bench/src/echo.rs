//! A minimal rmcp server with two tools, for the load generator's tests and as the
//! "least an rmcp server can cost" reference: `echo` answers its arguments as text, `fail`
//! answers a tool error (`isError: true`). Unknown tools get a JSON-RPC error.

use std::sync::Arc;

use axum::Router;
use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

/// The echo server's handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoServer;

fn tools() -> Vec<Tool> {
    let mut schema = Map::new();
    schema.insert("type".to_owned(), Value::String("object".to_owned()));
    let schema = Arc::new(schema);
    vec![
        Tool::new(
            "echo",
            "Answers its arguments as JSON text.",
            schema.clone(),
        ),
        Tool::new("fail", "Always answers a tool error.", schema),
    ]
}

impl ServerHandler for EchoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        match request.name.as_ref() {
            "echo" => {
                let args = Value::Object(request.arguments.unwrap_or_default());
                Ok(CallToolResult::success(vec![ContentBlock::text(args.to_string())]).into())
            }
            "fail" => {
                Ok(CallToolResult::error(vec![ContentBlock::text("failed on purpose")]).into())
            }
            other => Err(ErrorData::invalid_params(
                format!("unknown tool {other:?}; this server has echo and fail"),
                None,
            )),
        }
    }
}

/// The echo server over streamable HTTP at `/mcp`: `stateful` gives legacy clients sessions;
/// `json_response` answers plain JSON instead of an SSE stream.
pub fn http_router(stateful: bool, json_response: bool, shutdown: &CancellationToken) -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(stateful)
        .with_json_response(json_response)
        .with_sse_keep_alive(None)
        .with_cancellation_token(shutdown.child_token());
    if stateful {
        let service = StreamableHttpService::new(
            || Ok(EchoServer),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        Router::new().route_service("/mcp", service)
    } else {
        let service = StreamableHttpService::new(
            || Ok(EchoServer),
            Arc::new(NeverSessionManager::default()),
            config,
        );
        Router::new().route_service("/mcp", service)
    }
}

/// Serves the echo server on stdin/stdout until the client closes stdin.
pub async fn serve_stdio() -> std::io::Result<()> {
    use rmcp::ServiceExt as _;
    let running = EchoServer
        .serve(rmcp::transport::stdio())
        .await
        .map_err(std::io::Error::other)?;
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}
