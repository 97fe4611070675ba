//! The call pipeline's request and response types and its innermost service, the dispatcher.
//!
//! Every MCP operation that reaches a source — `tools/*`, `resources/*`, `prompts/*`,
//! `completion/complete`, `logging/setLevel` — becomes one [`McpCall`] and passes through the
//! same `tower` stack whatever the transport.
//! Layers (logging, metrics, later auth and rate limits) wrap [`Dispatcher`]; the stack is
//! assembled in `toolgate_policy::stack::build`.

// Logging, sampling and roots are deprecated by SEP-2577 (2026-07-28) but remain part of
// 2025-11-25, which toolgate serves and passes through.
#![allow(deprecated)]

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use rmcp::model::{
    ArgumentInfo, CallToolResult, CompleteResult, CompletionContext, GetPromptResult, JsonObject,
    ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    LoggingLevel, ReadResourceResult, Reference,
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
    /// `resources/subscribe` (`subscribe: true`) or `resources/unsubscribe`.
    Subscribe {
        /// The resource URI.
        uri: String,
        /// Subscribe, or unsubscribe.
        subscribe: bool,
    },
    /// `prompts/list`.
    ListPrompts {
        /// Pagination cursor.
        cursor: Option<String>,
    },
    /// `prompts/get`.
    GetPrompt {
        /// Prompt name.
        name: String,
        /// Arguments (absent = `{}`).
        arguments: JsonObject,
    },
    /// `completion/complete`.
    Complete {
        /// The prompt or resource template whose argument is completed.
        reference: Reference,
        /// The argument and what the user typed so far.
        argument: ArgumentInfo,
        /// Arguments already resolved.
        context: Option<CompletionContext>,
    },
    /// `logging/setLevel`.
    SetLogLevel {
        /// The lowest level the client wants.
        level: LoggingLevel,
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
            McpRequest::Subscribe {
                subscribe: true, ..
            } => "resources/subscribe",
            McpRequest::Subscribe {
                subscribe: false, ..
            } => "resources/unsubscribe",
            McpRequest::ListPrompts { .. } => "prompts/list",
            McpRequest::GetPrompt { .. } => "prompts/get",
            McpRequest::Complete { .. } => "completion/complete",
            McpRequest::SetLogLevel { .. } => "logging/setLevel",
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
    /// Where the authorization layer records its decision for the observing layers outside
    /// it (call log, audit), which put a slot here when they want to read it.
    pub decision: Option<DecisionSlot>,
}

impl McpCall {
    /// A call not resolved yet.
    pub fn new(ctx: CallContext, request: McpRequest) -> Self {
        McpCall {
            ctx,
            request,
            resolved: None,
            decision: None,
        }
    }
}

/// What the authorization layer decided about one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the caller may use the target.
    pub allowed: bool,
    /// Why, as a bounded label (`rule`, `deny_rule`, `no_rule`, `unauthenticated_allowed`,
    /// `listing`, …): a metric label and an audit field.
    pub reason: &'static str,
    /// The configured rule that decided, if one did (names come from the configuration).
    pub rule: Option<std::sync::Arc<str>>,
}

/// A slot an outer layer hands down and reads back once the call finished.
pub type DecisionSlot = std::sync::Arc<std::sync::OnceLock<Decision>>;

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
    /// `resources/subscribe` or `resources/unsubscribe`.
    Subscribed(Result<(), ToolError>),
    /// `prompts/list`.
    Prompts(ListPromptsResult),
    /// `prompts/get`.
    Prompt(Result<GetPromptResult, ToolError>),
    /// `completion/complete`.
    Completion(Result<CompleteResult, ToolError>),
    /// `logging/setLevel`: the sources that failed to apply it, if any.
    LogLevelSet(Result<(), ToolError>),
}

impl McpResponse {
    /// The tool, resource or prompt failure carried by this response, if any.
    pub fn tool_error(&self) -> Option<&ToolError> {
        match self {
            McpResponse::ToolResult(Err(e))
            | McpResponse::Resource(Err(e))
            | McpResponse::Subscribed(Err(e))
            | McpResponse::Prompt(Err(e))
            | McpResponse::Completion(Err(e))
            | McpResponse::LogLevelSet(Err(e)) => Some(e),
            McpResponse::ToolResult(Ok(_))
            | McpResponse::Resource(Ok(_))
            | McpResponse::Subscribed(Ok(_))
            | McpResponse::Prompt(Ok(_))
            | McpResponse::Completion(Ok(_))
            | McpResponse::LogLevelSet(Ok(_))
            | McpResponse::Tools(_)
            | McpResponse::Resources(_)
            | McpResponse::ResourceTemplates(_)
            | McpResponse::Prompts(_) => None,
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
            decision: _,
        } = call;
        let resolved = resolved.unwrap_or_else(|| {
            Resolved::new(crate::endpoint::catalog_for(&ctx, &self.catalog), &request)
        });
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
                None if resolved.meta_tool().is_some() => {
                    Box::pin(std::future::ready(Err(GatewayError::Internal(format!(
                        "meta-tool `{name}` reached the dispatcher: the pipeline was built without its meta layer"
                    )))))
                }
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
                    let what = format!("reading `{uri}`");
                    cancellable(&ctx, what, fut, |r| {
                        McpResponse::Resource(r.map(ReadResourceResult::new))
                    })
                }
            },
            McpRequest::Subscribe { uri, subscribe } => match resolved.resource_reader() {
                None => Box::pin(std::future::ready(Err(GatewayError::ResourceNotFound(uri)))),
                Some((handler, _)) => {
                    let fut = handler.subscribe(&ctx, &uri, subscribe);
                    cancellable(&ctx, format!("subscribing to `{uri}`"), fut, |r| {
                        McpResponse::Subscribed(r)
                    })
                }
            },
            McpRequest::ListPrompts { cursor } => listing(
                catalog,
                catalog.prompts(),
                cursor.as_deref(),
                |e| e.prompt.clone(),
                |items, next| {
                    let mut r = ListPromptsResult::with_all_items(items);
                    r.next_cursor = next;
                    McpResponse::Prompts(r)
                },
            ),
            McpRequest::GetPrompt { name, arguments } => match resolved.prompt() {
                None => Box::pin(std::future::ready(Err(GatewayError::UnknownPrompt(name)))),
                Some(entry) => {
                    let fut = entry.handler.get(&ctx, arguments);
                    cancellable(&ctx, format!("prompt `{name}`"), fut, McpResponse::Prompt)
                }
            },
            McpRequest::Complete {
                reference,
                argument,
                context,
            } => {
                let fut = match (&reference, resolved.prompt(), resolved.resource_reader()) {
                    (Reference::Prompt(_), Some(entry), _) => {
                        entry.handler.complete(&ctx, argument, context)
                    }
                    (Reference::Resource(r), _, Some((handler, _))) => {
                        handler.complete(&ctx, &r.uri, argument, context)
                    }
                    // Nothing to complete from: no values (what clients expect of a server
                    // without completions for that reference).
                    _ => Box::pin(std::future::ready(Ok(CompleteResult::default()))),
                };
                cancellable(&ctx, "completion".to_owned(), fut, McpResponse::Completion)
            }
            McpRequest::SetLogLevel { level } => {
                let controls: Vec<_> = catalog
                    .sources()
                    .iter()
                    .filter(|s| s.capabilities.logging)
                    .filter_map(|s| s.control.clone())
                    .collect();
                if controls.is_empty() {
                    return Box::pin(std::future::ready(Err(GatewayError::Unsupported(
                        "logging/setLevel: no source of this gateway sends log messages".to_owned(),
                    ))));
                }
                let all = futures::future::join_all(
                    controls.iter().map(|c| c.set_log_level(&ctx, level)),
                );
                Box::pin(async move {
                    // A source that fails to apply it is logged by the call log; the level
                    // still holds for the others.
                    let failed = all.await.into_iter().find_map(Result::err);
                    Ok(McpResponse::LogLevelSet(failed.map_or(Ok(()), Err)))
                })
            }
        }
    }
}

/// Runs a source's future until it finishes or the client cancels the call.
fn cancellable<T: Send + 'static>(
    ctx: &CallContext,
    what: String,
    fut: BoxFuture<'static, Result<T, ToolError>>,
    wrap: impl FnOnce(Result<T, ToolError>) -> McpResponse + Send + 'static,
) -> BoxFuture<'static, Result<McpResponse, GatewayError>> {
    let cancel = ctx.cancel.clone();
    Box::pin(async move {
        let outcome = tokio::select! {
            r = fut => r,
            () = cancel.cancelled() => Err(cancelled(&what)),
        };
        Ok(wrap(outcome))
    })
}

/// The failure of work the client cancelled.
fn cancelled(what: &str) -> ToolError {
    ToolError::new(
        ToolErrorKind::Cancelled,
        format!("{what} was cancelled by the client"),
    )
}
