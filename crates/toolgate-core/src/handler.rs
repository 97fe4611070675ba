//! What a source implements so its tools, resources and prompts can be served.
//!
//! A *source* is where tools come from: a compiled OpenAPI spec (executed over HTTP), an
//! upstream MCP server, or native Rust code. Each catalog entry carries an `Arc<dyn
//! ToolHandler>` (tools, resources, templates) or an `Arc<dyn PromptHandler>` (prompts); the
//! pipeline never knows which kind of source is behind it, so adding a kind of source touches
//! neither the policies nor the transports. What concerns a source as a whole (its log level,
//! its readiness) is a [`SourceControl`] and a [`ReadinessProbe`].

// Logging, sampling and roots are deprecated by SEP-2577 (2026-07-28) but remain part of
// 2025-11-25, which toolgate serves and passes through.
#![allow(deprecated)]

use futures::future::BoxFuture;
use rmcp::model::{
    ArgumentInfo, CallToolResult, CompleteResult, CompletionContext, GetPromptResult, JsonObject,
    LoggingLevel, ResourceContents,
};

use crate::context::CallContext;
use crate::error::{ToolError, ToolErrorKind};

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
                ToolErrorKind::Internal,
                format!("`{uri}` is not readable as a resource"),
            ))
        })
    }

    /// Completes an argument of the resource template this handler reads (`completion/complete`
    /// with a `ref/resource`). The default offers no values.
    fn complete(
        &self,
        ctx: &CallContext,
        uri: &str,
        argument: ArgumentInfo,
        context: Option<CompletionContext>,
    ) -> BoxFuture<'static, Result<CompleteResult, ToolError>> {
        let _ = (ctx, uri, argument, context);
        Box::pin(std::future::ready(Ok(CompleteResult::default())))
    }

    /// Starts (`subscribe: true`) or stops sending the client `notifications/resources/updated`
    /// for `uri`. The default refuses: only sources whose resources change say when.
    fn subscribe(
        &self,
        ctx: &CallContext,
        uri: &str,
        subscribe: bool,
    ) -> BoxFuture<'static, Result<(), ToolError>> {
        let _ = (ctx, subscribe);
        let uri = uri.to_owned();
        Box::pin(async move {
            Err(ToolError::new(
                ToolErrorKind::InvalidArguments,
                format!("`{uri}` does not support subscriptions: its source never reports updates"),
            ))
        })
    }

    /// Whether this handler may talk to the client during a call (progress, logs, sampling,
    /// elicitation): the fast path serves such tools only in 2026-07-28 requests owed nothing
    /// but their answer (its channel back takes no server requests and sends nothing).
    fn interactive(&self) -> bool {
        false
    }
}

/// Renders the prompts of a source.
pub trait PromptHandler: Send + Sync + 'static {
    /// `prompts/get`: renders `name` (the catalog's name) with `arguments`.
    fn get(
        &self,
        ctx: &CallContext,
        arguments: JsonObject,
    ) -> BoxFuture<'static, Result<GetPromptResult, ToolError>>;

    /// `completion/complete` with a `ref/prompt` naming this prompt. The default offers no
    /// values.
    fn complete(
        &self,
        ctx: &CallContext,
        argument: ArgumentInfo,
        context: Option<CompletionContext>,
    ) -> BoxFuture<'static, Result<CompleteResult, ToolError>> {
        let _ = (ctx, argument, context);
        Box::pin(std::future::ready(Ok(CompleteResult::default())))
    }
}

/// What a source does as a whole, beside serving its entries.
pub trait SourceControl: Send + Sync + 'static {
    /// `logging/setLevel` from the client of `ctx`: from now on, log messages of this source
    /// reach that client at `level` and above.
    fn set_log_level(
        &self,
        ctx: &CallContext,
        level: LoggingLevel,
    ) -> BoxFuture<'static, Result<(), ToolError>>;
}

/// Reports whether a source can serve calls now (used by `/readyz`).
pub trait ReadinessProbe: Send + Sync + 'static {
    /// `Ok` when the backend is reachable; `Err` says what is not.
    fn check(&self) -> BoxFuture<'static, Result<(), String>>;
}
