//! An upstream's lists as catalog entries: names namespaced, sanitized and capped with the
//! rules every source shares (`toolgate_core::naming`), curated (allow/deny globs, aliases,
//! descriptions, hidden argument values, annotation hints), resource URIs rewritten when
//! configured; and the handlers those entries carry, which forward each request to the
//! server under its own name and URI and pass the answer through unchanged (all content
//! types, `structuredContent`, `isError`, `_meta`; resource contents' URIs given back in
//! their served form).
//!
//! Does not own: sending requests (`upstream.rs`).

// resources/subscribe is legacy-only (2026-07-28 has subscriptions/listen) but part of
// 2025-11-25, which toolgate passes through.
#![allow(deprecated)]

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use rmcp::model::{
    ArgumentInfo, CallToolRequest, CallToolRequestParams, CallToolResult, ClientRequest,
    CompleteRequest, CompleteRequestParams, CompleteResult, CompletionContext, GetPromptRequest,
    GetPromptRequestParams, GetPromptResult, JsonObject, ReadResourceRequest,
    ReadResourceRequestParams, Reference, ResourceContents, ResultType, ServerResult,
    SubscribeRequest, SubscribeRequestParams, UnsubscribeRequest, UnsubscribeRequestParams,
};
use toolgate_core::catalog::{PrefixEntry, ResourceEntry, TemplateEntry};
use toolgate_core::naming::Namer;
use toolgate_core::uri_template::UriTemplate;
use toolgate_core::{
    CallContext, Contribution, PromptEntry, PromptHandler, ReadinessProbe, SourceCapabilities,
    SourceControl, SourceEntry, ToolEntry, ToolError, ToolErrorKind, ToolHandler,
};

use crate::discovery::Listing;
use crate::mrtr::bridge::{Bridge, MAX_ROUNDS};
use crate::mrtr::{Parking, Start};
use crate::upstream::lean::{LeanTool, lean_tool};
use crate::upstream::{Inner, Phase};
use toolgate_core::InputRetry;
use toolgate_core::curation::{ArgumentValues, Filter, curate_tool, with_hidden};

/// A note when `served` is not `<ns>_<base>` as given: the server's name had characters
/// outside the naming rules or was too long.
fn renamed(
    what: &str,
    original: &str,
    ns: Option<&str>,
    base: &str,
    served: &str,
) -> Option<String> {
    let plain = match ns {
        Some(ns) if !ns.is_empty() => format!("{ns}_{base}"),
        _ => base.to_owned(),
    };
    (plain != served).then(|| {
        format!(
            "{what} `{original}` is served as `{served}` (names keep [A-Za-z0-9_-] and at most max_name_length characters)"
        )
    })
}

/// The catalog contribution of upstream `inner` from `listing`, with its entries when
/// `available`; and warnings about entries left out or renamed.
pub(crate) fn contribution(
    inner: &Arc<Inner>,
    listing: &Listing,
    available: bool,
) -> (Contribution, Vec<String>) {
    let config = &inner.config;
    let caps = &listing.capabilities;
    let source = SourceEntry {
        name: inner.name.clone(),
        probe: Arc::new(Probe(inner.clone())),
        control: Some(Arc::new(Control(inner.clone()))),
        capabilities: SourceCapabilities {
            resources: caps.resources.is_some(),
            subscribe: caps
                .resources
                .as_ref()
                .is_some_and(|r| r.subscribe == Some(true)),
            prompts: caps.prompts.is_some(),
            completions: caps.completions.is_some(),
            logging: caps.logging.is_some(),
            list_changed: true,
        },
    };
    let mut c = Contribution::empty(source);
    let mut warnings = Vec::new();
    if !available {
        return (c, warnings);
    }
    let namespace = config.namespace();
    let mut namer = Namer::new(config.max_name_length);
    let tools = Filter::new(&config.tools.allow, &config.tools.deny);
    for tool in &listing.tools {
        let original = tool.name.to_string();
        if !tools.admits(&original) {
            continue;
        }
        let (base, ns) = match config.tools.aliases.get(&original) {
            Some(alias) => (alias.as_str(), None),
            None => (original.as_str(), namespace),
        };
        let Some((name, why)) = namer.assign(ns, base) else {
            warnings.push(format!(
                "tool `{original}` left out: its name has no usable characters"
            ));
            continue;
        };
        match why {
            Some(why) => warnings.push(format!("tool `{original}`: {why}")),
            None => {
                if let Some(note) = renamed("tool", &original, ns, base, &name) {
                    warnings.push(note);
                }
            }
        }
        let hidden = config
            .tools
            .arguments
            .get(&original)
            .cloned()
            .unwrap_or_default();
        let served = curate_tool(
            tool,
            name,
            config.tools.descriptions.get(&original),
            &hidden,
            config.tools.annotations.get(&original),
        );
        c.tools.push(ToolEntry {
            tool: served,
            source: inner.name.clone(),
            handler: Arc::new(UpstreamTool {
                inner: inner.clone(),
                lean: lean_tool(&original, &tool.input_schema),
                name: original,
                hidden,
            }),
            meta: Default::default(),
        });
    }
    let resources = Filter::of(&config.resources);
    let uris = &inner.hub.uris;
    for r in &listing.resources {
        if !resources.admits(&r.uri) {
            continue;
        }
        let mut served = r.clone();
        served.uri = uris.expose(&r.uri);
        c.resources.push(ResourceEntry {
            resource: served,
            source: inner.name.clone(),
            handler: Arc::new(UpstreamResource(inner.clone())),
        });
    }
    for t in &listing.templates {
        if !resources.admits(&t.uri_template) {
            continue;
        }
        let mut served = t.clone();
        served.uri_template = uris.expose(&t.uri_template);
        let matcher = match UriTemplate::parse(&served.uri_template) {
            Ok(m) => m,
            // Beyond level 1 (`{+path}`, `{?q}`): matched loosely (each expression as one
            // variable); the server itself decides what the URI means.
            Err(_) => match UriTemplate::parse(&loosen(&served.uri_template)) {
                Ok(m) => m,
                Err(e) => {
                    warnings.push(format!("resource template left out: {e}"));
                    continue;
                }
            },
        };
        c.templates.push(TemplateEntry {
            template: served,
            matcher,
            source: inner.name.clone(),
            handler: Arc::new(UpstreamResource(inner.clone())),
        });
    }
    if let Some(prefix) = uris.prefix()
        && caps.resources.is_some()
    {
        c.prefixes.push(PrefixEntry {
            prefix: prefix.to_owned(),
            source: inner.name.clone(),
            handler: Arc::new(UpstreamResource(inner.clone())),
        });
    }
    let prompts = Filter::of(&config.prompts);
    let mut prompt_namer = Namer::new(config.max_name_length);
    for p in &listing.prompts {
        if !prompts.admits(&p.name) {
            continue;
        }
        let Some((name, why)) = prompt_namer.assign(namespace, &p.name) else {
            warnings.push(format!(
                "prompt `{}` left out: its name has no usable characters",
                p.name
            ));
            continue;
        };
        match why {
            Some(why) => warnings.push(format!("prompt `{}`: {why}", p.name)),
            None => {
                if let Some(note) = renamed("prompt", &p.name, namespace, &p.name, &name) {
                    warnings.push(note);
                }
            }
        }
        let mut served = p.clone();
        served.name = name;
        c.prompts.push(PromptEntry {
            prompt: served,
            source: inner.name.clone(),
            handler: Arc::new(UpstreamPrompt {
                inner: inner.clone(),
                name: p.name.clone(),
            }),
        });
    }
    (c, warnings)
}

/// A URI template with every expression made a simple variable (`{+path}` → `{v1}`).
fn loosen(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut n = 0;
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        n += 1;
        out.push_str(&format!("{{v{n}}}"));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// Sends the request `make` builds to the upstream for the caller of `ctx`, for `what`
/// (`tool`, `prompt` or `resource`) `name` (its name or URI on the upstream). A 2026-07-28
/// client goes through the MRTR relay (`mrtr/`), which may answer it `input_required` (an
/// `Err` of kind `InputRequired`); any other caller through the bridge (`mrtr/bridge.rs`),
/// which answers a 2026-07-28 upstream's `input_required` rounds with the client's answers
/// to the real server requests. `make` gets what a retry sends back to the upstream.
async fn send(
    inner: &Arc<Inner>,
    ctx: &CallContext,
    method: &'static str,
    (what, name): (&'static str, String),
    make: impl Fn(InputRetry) -> ClientRequest + Send + 'static,
) -> Result<ServerResult, ToolError> {
    if !Parking::applies(ctx) {
        let bridge = Bridge {
            upstream: &inner.name,
            what,
            name: &name,
            roots: &inner.hub.roots,
            limit: Duration::from_millis(inner.config.timeouts.max_call_ms),
            max_rounds: MAX_ROUNDS,
        };
        return bridge
            .run(ctx, |retry| inner.request(ctx, method, make(retry)))
            .await;
    }
    // The relay binds its requestState to the server's tool name, or `prompt <name>`,
    // `resource <uri>`.
    let target = match what {
        "tool" => name,
        _ => format!("{what} {name}"),
    };
    let sender = inner.clone();
    let start: Start = Box::new(move |ctx, forward| {
        Box::pin(async move { sender.request(&ctx, method, make(forward)).await })
    });
    if inner.stateless(ctx) {
        inner.parking.call_stateless(ctx, &target, start).await
    } else {
        inner.parking.call(ctx, &target, start).await
    }
}

/// An `input_required` that reached a handler: the relay and the bridge turn every one into
/// a result or an error, so this is a bug.
fn unresolved_input(name: &str) -> ToolError {
    ToolError::new(
        ToolErrorKind::Internal,
        format!(
            "upstream `{name}` asked for more input and the gateway did not resolve it (a gateway bug: please report it)"
        ),
    )
}

/// Marks a result of a 2025-11-25 server (which has no `resultType`) as complete: a
/// 2026-07-28 client requires it (rmcp removes it again for older clients).
fn mark_complete(result_type: &mut Option<ResultType>) {
    result_type.get_or_insert(ResultType::COMPLETE);
}

fn unexpected(name: &str, what: &str) -> ToolError {
    ToolError::new(
        ToolErrorKind::Protocol,
        format!("upstream `{name}` answered {what} with another kind of result"),
    )
}

/// A tool of an upstream server.
struct UpstreamTool {
    inner: Arc<Inner>,
    /// The server's name for it.
    name: String,
    hidden: ArgumentValues,
    /// Whether its calls may take the lean path of a 2026-07-28 HTTP upstream
    /// (`upstream/lean/`).
    lean: bool,
}

impl ToolHandler for UpstreamTool {
    fn call(
        &self,
        ctx: &CallContext,
        arguments: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, ToolError>> {
        let inner = self.inner.clone();
        let ctx = ctx.clone();
        let arguments = with_hidden(arguments, &self.hidden);
        let params = CallToolRequestParams::new(self.name.clone()).with_arguments(arguments);
        let tool = self.name.clone();
        let lean = self.lean;
        Box::pin(async move {
            let answer = send(&inner, &ctx, "tools/call", ("tool", tool), move |forward| {
                let mut params = params.clone();
                params.input_responses = forward.input_responses;
                params.request_state = forward.request_state;
                let mut request = CallToolRequest::new(params);
                if lean {
                    request.extensions.insert(LeanTool);
                }
                ClientRequest::CallToolRequest(request)
            })
            .await?;
            match answer {
                ServerResult::CallToolResult(mut r) => {
                    mark_complete(&mut r.result_type);
                    Ok(r)
                }
                ServerResult::InputRequiredResult(_) => Err(unresolved_input(&inner.name)),
                _ => Err(unexpected(&inner.name, "tools/call")),
            }
        })
    }

    fn interactive(&self) -> bool {
        true
    }
}

/// The resources (fixed, templated, or under the source's URI prefix) of an upstream server.
struct UpstreamResource(Arc<Inner>);

impl ToolHandler for UpstreamResource {
    fn call(
        &self,
        _ctx: &CallContext,
        _arguments: JsonObject,
    ) -> BoxFuture<'static, Result<CallToolResult, ToolError>> {
        Box::pin(std::future::ready(Err(ToolError::new(
            ToolErrorKind::Internal,
            "a resource is not a tool",
        ))))
    }

    fn read(
        &self,
        ctx: &CallContext,
        uri: &str,
        _arguments: JsonObject,
    ) -> BoxFuture<'static, Result<Vec<ResourceContents>, ToolError>> {
        let inner = self.0.clone();
        let ctx = ctx.clone();
        let upstream_uri = inner.hub.uris.upstream(uri).to_owned();
        Box::pin(async move {
            let target = ("resource", upstream_uri.clone());
            let answer = send(&inner, &ctx, "resources/read", target, move |forward| {
                let mut params = ReadResourceRequestParams::new(upstream_uri.clone());
                params.input_responses = forward.input_responses;
                params.request_state = forward.request_state;
                ClientRequest::ReadResourceRequest(ReadResourceRequest::new(params))
            })
            .await?;
            match answer {
                ServerResult::ReadResourceResult(r) => Ok(r
                    .contents
                    .into_iter()
                    .map(|c| expose_contents(&inner, c))
                    .collect()),
                ServerResult::InputRequiredResult(_) => Err(unresolved_input(&inner.name)),
                _ => Err(unexpected(&inner.name, "resources/read")),
            }
        })
    }

    fn complete(
        &self,
        ctx: &CallContext,
        uri: &str,
        argument: ArgumentInfo,
        context: Option<CompletionContext>,
    ) -> BoxFuture<'static, Result<CompleteResult, ToolError>> {
        let reference = Reference::for_resource(self.0.hub.uris.upstream(uri).to_owned());
        complete(self.0.clone(), ctx.clone(), reference, argument, context)
    }

    fn subscribe(
        &self,
        ctx: &CallContext,
        uri: &str,
        subscribe: bool,
    ) -> BoxFuture<'static, Result<(), ToolError>> {
        let inner = self.0.clone();
        let ctx = ctx.clone();
        let upstream_uri = inner.hub.uris.upstream(uri).to_owned();
        Box::pin(async move {
            let Some(client) = ctx.client.clone() else {
                return Err(ToolError::new(
                    ToolErrorKind::InvalidArguments,
                    "subscriptions need a client session to send updates to",
                ));
            };
            if !inner.hub.subscribe(&upstream_uri, client, subscribe) {
                // Another client already holds (or still holds) the upstream subscription.
                return Ok(());
            }
            let (request, method) = if subscribe {
                (
                    ClientRequest::SubscribeRequest(SubscribeRequest::new(
                        SubscribeRequestParams::new(upstream_uri),
                    )),
                    "resources/subscribe",
                )
            } else {
                (
                    ClientRequest::UnsubscribeRequest(UnsubscribeRequest::new(
                        UnsubscribeRequestParams::new(upstream_uri),
                    )),
                    "resources/unsubscribe",
                )
            };
            inner.request(&ctx, method, request).await.map(|_| ())
        })
    }
}

/// Resource contents with their URI in served form.
fn expose_contents(inner: &Inner, mut c: ResourceContents) -> ResourceContents {
    match &mut c {
        ResourceContents::TextResourceContents { uri, .. }
        | ResourceContents::BlobResourceContents { uri, .. } => {
            *uri = inner.hub.uris.expose(uri);
        }
        _ => {}
    }
    c
}

fn complete(
    inner: Arc<Inner>,
    ctx: CallContext,
    reference: Reference,
    argument: ArgumentInfo,
    context: Option<CompletionContext>,
) -> BoxFuture<'static, Result<CompleteResult, ToolError>> {
    Box::pin(async move {
        if inner.listing.load().capabilities.completions.is_none() {
            return Ok(CompleteResult::default());
        }
        let mut params = CompleteRequestParams::new(reference, argument);
        params.context = context;
        let request = ClientRequest::CompleteRequest(CompleteRequest::new(params));
        match inner.request(&ctx, "completion/complete", request).await? {
            ServerResult::CompleteResult(mut r) => {
                mark_complete(&mut r.result_type);
                Ok(r)
            }
            _ => Err(unexpected(&inner.name, "completion/complete")),
        }
    })
}

/// A prompt of an upstream server.
struct UpstreamPrompt {
    inner: Arc<Inner>,
    /// The server's name for it.
    name: String,
}

impl PromptHandler for UpstreamPrompt {
    fn get(
        &self,
        ctx: &CallContext,
        arguments: JsonObject,
    ) -> BoxFuture<'static, Result<GetPromptResult, ToolError>> {
        let inner = self.inner.clone();
        let ctx = ctx.clone();
        let mut params = GetPromptRequestParams::new(self.name.clone());
        if !arguments.is_empty() {
            params.arguments = Some(arguments);
        }
        let target = ("prompt", self.name.clone());
        Box::pin(async move {
            let answer = send(&inner, &ctx, "prompts/get", target, move |forward| {
                let mut params = params.clone();
                params.input_responses = forward.input_responses;
                params.request_state = forward.request_state;
                ClientRequest::GetPromptRequest(GetPromptRequest::new(params))
            })
            .await?;
            match answer {
                ServerResult::GetPromptResult(mut r) => {
                    mark_complete(&mut r.result_type);
                    Ok(r)
                }
                ServerResult::InputRequiredResult(_) => Err(unresolved_input(&inner.name)),
                _ => Err(unexpected(&inner.name, "prompts/get")),
            }
        })
    }

    fn complete(
        &self,
        ctx: &CallContext,
        argument: ArgumentInfo,
        context: Option<CompletionContext>,
    ) -> BoxFuture<'static, Result<CompleteResult, ToolError>> {
        let reference = Reference::for_prompt(self.name.clone());
        complete(
            self.inner.clone(),
            ctx.clone(),
            reference,
            argument,
            context,
        )
    }
}

/// `/readyz` for an upstream: ready while connected (or idle, lazily started).
struct Probe(Arc<Inner>);

impl ReadinessProbe for Probe {
    fn check(&self) -> BoxFuture<'static, Result<(), String>> {
        let status = crate::Upstream {
            inner: self.0.clone(),
        }
        .status();
        Box::pin(std::future::ready(match status.phase {
            Phase::Ready | Phase::Idle => Ok(()),
            phase => {
                let mut why = format!(
                    "upstream {} (restarts: {})",
                    phase.as_str(),
                    status.restarts
                );
                if let Some(e) = status.last_error {
                    why.push_str(&format!(": {e}"));
                }
                Err(why)
            }
        }))
    }
}

/// The upstream's log level.
struct Control(Arc<Inner>);

impl SourceControl for Control {
    #[allow(deprecated)] // Logging is deprecated by SEP-2577 but part of 2025-11-25.
    fn set_log_level(
        &self,
        ctx: &CallContext,
        level: rmcp::model::LoggingLevel,
    ) -> BoxFuture<'static, Result<(), ToolError>> {
        let inner = self.0.clone();
        let ctx = ctx.clone();
        Box::pin(async move { inner.set_log_level(&ctx, level).await })
    }
}
