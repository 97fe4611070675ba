//! What a source implements so its tools and resources can be served.
//!
//! A *source* is where tools come from: a compiled OpenAPI spec (executed over HTTP), an
//! upstream MCP server, or native Rust code. Each catalog entry carries an `Arc<dyn
//! ToolHandler>`; the pipeline never knows which kind of source is behind it, so adding a kind
//! of source touches neither the policies nor the transports.

use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, JsonObject, ResourceContents};

use crate::context::CallContext;
use crate::error::ToolError;

/// Executes one tool (or reads one resource) of a source.
pub trait ToolHandler: Send + Sync + 'static {
    /// Runs the tool with `arguments` (already known to be a JSON object).
    ///
    /// A failure the model should see is `Err(ToolError)`; the pipeline maps it to an
    /// `isError: true` result in one place. `Ok` results may still have `is_error` set when the
    /// source itself produced an error result (an upstream MCP server, for example).
    fn call(
        &self,
        ctx: &CallContext,
        arguments: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, ToolError>>;

    /// Reads the resource at `uri`, whose template variables (if any) were bound into
    /// `arguments`. The default refuses: only handlers registered as resources implement it.
    fn read(
        &self,
        ctx: &CallContext,
        uri: &str,
        arguments: JsonObject,
    ) -> BoxFuture<'static, Result<Vec<ResourceContents>, ToolError>> {
        let _ = (ctx, arguments);
        let uri = uri.to_owned();
        Box::pin(async move {
            Err(ToolError::new(
                crate::error::ToolErrorKind::Internal,
                format!("`{uri}` is not readable as a resource"),
            ))
        })
    }
}

/// Reports whether a source can serve calls now (used by `/readyz`).
pub trait ReadinessProbe: Send + Sync + 'static {
    /// `Ok` when the backend is reachable; `Err` says what is not.
    fn check(&self) -> BoxFuture<'static, Result<(), String>>;
}
