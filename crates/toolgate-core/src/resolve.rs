//! Resolution: what a call addresses, looked up once in one catalog snapshot before any policy
//! runs.
//!
//! The [`ResolveLayer`] is the outermost layer of the pipeline. It loads the current catalog
//! (one `ArcSwap` load), finds the tool, resource or template the request names, and attaches
//! the result to the call as a [`Resolved`]. Every layer below sees the target (its source,
//! its annotations, later its required scopes and limits) instead of a bare name, and the
//! whole call runs against that one snapshot even if a reload swaps the catalog meanwhile.
//!
//! Resolution never refuses: a name the catalog does not have resolves to
//! [`Target::Missing`], and the dispatcher answers it as an unknown tool or resource, so
//! the call log and metrics still see the call. Does not own: executing the target
//! ([`crate::pipeline::Dispatcher`]) or deciding whether the caller may reach it (policies).

use std::sync::Arc;
use std::task::{Context, Poll};

use rmcp::model::{JsonObject, Reference};
use tower::{Layer, Service};

use crate::catalog::{Catalog, PromptEntry, ResourceLocation, SharedCatalog, ToolEntry};
use crate::handler::ToolHandler;
use crate::meta::MetaTool;
use crate::pipeline::{McpCall, McpRequest};

/// What a request addresses in the catalog: policies match on this kind of target, not on
/// method names (a `completion/complete` for a prompt addresses that prompt; a
/// `resources/subscribe` addresses that resource).
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A listing of the catalog (`tools/list`, `resources/list`, `resources/templates/list`,
    /// `prompts/list`).
    Listing,
    /// The tool at this position of [`Catalog::tools`].
    Tool(usize),
    /// A resource URI served by a fixed resource or a template (`resources/read`,
    /// `resources/subscribe|unsubscribe`, `completion/complete` of a template).
    Resource(ResourceLocation),
    /// The prompt at this position of [`Catalog::prompts`] (`prompts/get`,
    /// `completion/complete` of a prompt).
    Prompt(usize),
    /// The client's own session settings, no catalog entry (`logging/setLevel`).
    Session,
    /// A meta-tool (`search_tools`, `describe_tool`, or a malformed `call_tool`), in a
    /// catalog with tools behind the meta-tools (`crate::meta`).
    Meta(MetaTool),
    /// The named tool, resource or prompt is not in the catalog.
    Missing,
}

/// A request's target in the catalog snapshot the call runs against.
#[derive(Clone)]
pub struct Resolved {
    catalog: Arc<Catalog>,
    target: Target,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("target", &self.target)
            .field("tool", &self.tool().map(|t| t.tool.name.as_ref()))
            .field("source", &self.source())
            .finish()
    }
}

impl Resolved {
    /// Looks `request`'s target up in `catalog`.
    pub fn new(catalog: Arc<Catalog>, request: &McpRequest) -> Self {
        let target = match request {
            McpRequest::ListTools { .. }
            | McpRequest::ListResources { .. }
            | McpRequest::ListResourceTemplates { .. }
            | McpRequest::ListPrompts { .. } => Target::Listing,
            McpRequest::CallTool { name, .. } => match catalog.meta().and(MetaTool::named(name)) {
                Some(meta) => Target::Meta(meta),
                None => catalog
                    .tool_position(name)
                    .map_or(Target::Missing, Target::Tool),
            },
            McpRequest::ReadResource { uri } | McpRequest::Subscribe { uri, .. } => catalog
                .locate_resource(uri)
                .map_or(Target::Missing, Target::Resource),
            McpRequest::GetPrompt { name, .. } => catalog
                .prompt_position(name)
                .map_or(Target::Missing, Target::Prompt),
            McpRequest::Complete { reference, .. } => match reference {
                Reference::Prompt(p) => catalog
                    .prompt_position(&p.name)
                    .map_or(Target::Missing, Target::Prompt),
                Reference::Resource(r) => catalog
                    .locate_template(&r.uri)
                    .map_or(Target::Missing, Target::Resource),
                // rmcp's enum is non-exhaustive: a kind of reference it adds later addresses
                // nothing here.
                _ => Target::Missing,
            },
            McpRequest::SetLogLevel { .. } => Target::Session,
        };
        Resolved { catalog, target }
    }

    /// The catalog snapshot the call runs against.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// What the request addresses.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The called tool, for a `tools/call` of a tool the catalog has.
    pub fn tool(&self) -> Option<&ToolEntry> {
        match self.target {
            Target::Tool(i) => self.catalog.tools().get(i),
            Target::Listing
            | Target::Resource(_)
            | Target::Prompt(_)
            | Target::Session
            | Target::Meta(_)
            | Target::Missing => None,
        }
    }

    /// The meta-tool called, for a `tools/call` of one in meta-tool mode.
    pub fn meta_tool(&self) -> Option<MetaTool> {
        match self.target {
            Target::Meta(m) => Some(m),
            Target::Listing
            | Target::Tool(_)
            | Target::Resource(_)
            | Target::Prompt(_)
            | Target::Session
            | Target::Missing => None,
        }
    }

    /// The addressed prompt, for a `prompts/get` (or a completion) of a prompt the catalog has.
    pub fn prompt(&self) -> Option<&PromptEntry> {
        match self.target {
            Target::Prompt(i) => self.catalog.prompts().get(i),
            Target::Listing
            | Target::Tool(_)
            | Target::Resource(_)
            | Target::Session
            | Target::Meta(_)
            | Target::Missing => None,
        }
    }

    /// The name of the source serving the target (a bounded label), if it is in the catalog.
    pub fn source(&self) -> Option<&Arc<str>> {
        match &self.target {
            Target::Tool(i) => self.catalog.tools().get(*i).map(|e| &e.source),
            Target::Resource(ResourceLocation::Fixed(i)) => {
                self.catalog.resources().get(*i).map(|e| &e.source)
            }
            Target::Resource(ResourceLocation::Template(i, _)) => {
                self.catalog.templates().get(*i).map(|e| &e.source)
            }
            Target::Resource(ResourceLocation::Prefix(i)) => {
                self.catalog.prefixes().get(*i).map(|e| &e.source)
            }
            Target::Prompt(i) => self.catalog.prompts().get(*i).map(|e| &e.source),
            Target::Listing | Target::Session | Target::Meta(_) | Target::Missing => None,
        }
    }

    /// The handler reading a resolved resource URI and the template values bound from it.
    pub(crate) fn resource_reader(&self) -> Option<(&Arc<dyn ToolHandler>, JsonObject)> {
        match &self.target {
            Target::Resource(ResourceLocation::Fixed(i)) => self
                .catalog
                .resources()
                .get(*i)
                .map(|e| (&e.handler, JsonObject::new())),
            Target::Resource(ResourceLocation::Template(i, arguments)) => self
                .catalog
                .templates()
                .get(*i)
                .map(|e| (&e.handler, arguments.clone())),
            Target::Resource(ResourceLocation::Prefix(i)) => self
                .catalog
                .prefixes()
                .get(*i)
                .map(|e| (&e.handler, JsonObject::new())),
            Target::Listing
            | Target::Tool(_)
            | Target::Prompt(_)
            | Target::Session
            | Target::Meta(_)
            | Target::Missing => None,
        }
    }
}

/// Resolves each call's target against the current catalog (see the module docs).
#[derive(Clone)]
pub struct ResolveLayer {
    catalog: SharedCatalog,
}

impl ResolveLayer {
    /// Resolves against `catalog`.
    pub fn new(catalog: SharedCatalog) -> Self {
        ResolveLayer { catalog }
    }
}

impl<S> Layer<S> for ResolveLayer {
    type Service = ResolveService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ResolveService {
            inner,
            catalog: self.catalog.clone(),
        }
    }
}

/// Service produced by [`ResolveLayer`].
#[derive(Clone)]
pub struct ResolveService<S> {
    inner: S,
    catalog: SharedCatalog,
}

impl<S: Service<McpCall>> Service<McpCall> for ResolveService<S> {
    type Response = S::Response;
    type Error = S::Error;
    // No box of its own: resolution is synchronous.
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut call: McpCall) -> Self::Future {
        if call.resolved.is_none() {
            // The catalog of the endpoint the call arrived at (the whole catalog without
            // one): nothing outside it can be resolved, on any path.
            let catalog = crate::endpoint::catalog_for(&call.ctx, &self.catalog);
            // Meta-tool mode: a `call_tool` becomes a call of the tool it names here, before
            // any policy runs, so every layer below sees the real tool.
            if catalog.meta().is_some() {
                crate::meta::unwrap_call(&mut call.request);
            }
            call.resolved = Some(Resolved::new(catalog, &call.request));
        }
        self.inner.call(call)
    }
}
