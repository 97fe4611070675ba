//! The authorization layer of the pipeline: refuses calls of targets the caller may not use,
//! answering **exactly** as for a target that does not exist (no existence oracle), and
//! serves the listings filtered to what the caller may see.
//!
//! It runs below the call log and metrics (they see its refusals, as unknown names) and
//! above the dispatcher. Listings are answered here, from the cached visible set of the
//! caller's grant, and never reach the dispatcher; calls the caller may make go on down.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready, ready};
use rmcp::model::{
    CompleteResult, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult,
};
use toolgate_core::catalog::ResourceLocation;
use toolgate_core::{
    Catalog, Decision, GatewayError, McpCall, McpRequest, McpResponse, Resolved, SharedCatalog,
    Target,
};
use tower::{Layer, Service};

use super::Authorization;
use super::cache::Visible;
use super::rules::Item;

/// Adds authorization to the pipeline.
#[derive(Clone)]
pub struct AuthzLayer {
    authz: Arc<Authorization>,
    catalog: SharedCatalog,
}

impl AuthzLayer {
    /// Enforces `authz` over calls resolved against `catalog` (which it resolves itself if no
    /// outer `ResolveLayer` did).
    pub fn new(authz: Arc<Authorization>, catalog: SharedCatalog) -> Self {
        AuthzLayer { authz, catalog }
    }
}

impl<S> Layer<S> for AuthzLayer {
    type Service = AuthzService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthzService {
            inner,
            authz: self.authz.clone(),
            catalog: self.catalog.clone(),
        }
    }
}

/// Service produced by [`AuthzLayer`].
#[derive(Clone)]
pub struct AuthzService<S> {
    inner: S,
    authz: Arc<Authorization>,
    catalog: SharedCatalog,
}

type Answer = Ready<Result<McpResponse, GatewayError>>;

impl<S> Service<McpCall> for AuthzService<S>
where
    S: Service<McpCall, Response = McpResponse, Error = GatewayError>,
{
    type Response = McpResponse;
    type Error = GatewayError;
    type Future = Either<Answer, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut call: McpCall) -> Self::Future {
        let resolved = call
            .resolved
            .get_or_insert_with(|| {
                let catalog = toolgate_core::endpoint::catalog_for(&call.ctx, &self.catalog);
                Resolved::new(catalog, &call.request)
            })
            .clone();
        let policy = self.authz.policy();
        let grant = policy.grant(call.ctx.principal.as_deref());
        let catalog = resolved.catalog();
        let item = match resolved.target() {
            Target::Listing => {
                let visible = self.authz.visible(&grant, catalog);
                record(&call, self.authz.listing_decision());
                return Either::Left(ready(listing(catalog, &visible, call.request)));
            }
            Target::Tool(i) => catalog.tools().get(*i).map(Item::Tool),
            Target::Prompt(i) => catalog.prompts().get(*i).map(Item::Prompt),
            Target::Resource(location) => resource_item(catalog, location, &call.request),
            // Session settings concern no catalog entry; a missing target is answered as
            // unknown by the dispatcher, as for everyone.
            // Meta-tools are answered by the meta layer above (their results filtered to
            // what the caller may see); a `call_tool` reached here as the tool it names.
            Target::Session | Target::Meta(_) | Target::Missing => None,
        };
        let Some(item) = item else {
            return Either::Right(self.inner.call(call));
        };
        let decision = policy.decide(&grant, &item);
        self.authz.count(&decision);
        let allowed = decision.allowed;
        record(&call, decision);
        if allowed {
            Either::Right(self.inner.call(call))
        } else {
            Either::Left(ready(as_if_unknown(call.request)))
        }
    }
}

/// Hands the decision to the observing layers outside (call log, audit).
fn record(call: &McpCall, decision: Decision) {
    if let Some(slot) = &call.decision {
        let _ = slot.set(decision);
    }
}

/// The item a resource request addresses: the fixed resource or template it resolved to
/// (so a template's reads are allowed exactly when the template is listed), or the URI
/// itself for a prefix route.
fn resource_item<'a>(
    catalog: &'a Catalog,
    location: &ResourceLocation,
    request: &'a McpRequest,
) -> Option<Item<'a>> {
    match location {
        ResourceLocation::Fixed(i) => catalog.resources().get(*i).map(|e| Item::Resource {
            uri: &e.resource.uri,
            source: &e.source,
        }),
        ResourceLocation::Template(i, _) => catalog.templates().get(*i).map(|e| Item::Resource {
            uri: &e.template.uri_template,
            source: &e.source,
        }),
        ResourceLocation::Prefix(i) => {
            let uri = match request {
                McpRequest::ReadResource { uri } | McpRequest::Subscribe { uri, .. } => uri,
                McpRequest::Complete {
                    reference: rmcp::model::Reference::Resource(r),
                    ..
                } => &r.uri,
                _ => return None,
            };
            catalog.prefixes().get(*i).map(|e| Item::Resource {
                uri,
                source: &e.source,
            })
        }
    }
}

/// The answer the dispatcher gives when `request`'s target is not in the catalog: the same
/// error with the same text, so a hidden target cannot be told from a missing one.
pub fn as_if_unknown(request: McpRequest) -> Result<McpResponse, GatewayError> {
    match request {
        McpRequest::CallTool { name, .. } => Err(GatewayError::UnknownTool(name)),
        McpRequest::ReadResource { uri } | McpRequest::Subscribe { uri, .. } => {
            Err(GatewayError::ResourceNotFound(uri))
        }
        McpRequest::GetPrompt { name, .. } => Err(GatewayError::UnknownPrompt(name)),
        // No values: what the dispatcher answers a completion of an unknown reference.
        McpRequest::Complete { .. } => Ok(McpResponse::Completion(Ok(CompleteResult::default()))),
        McpRequest::ListTools { .. }
        | McpRequest::ListResources { .. }
        | McpRequest::ListResourceTemplates { .. }
        | McpRequest::ListPrompts { .. }
        | McpRequest::SetLogLevel { .. } => Err(GatewayError::Internal(
            "authorization refused a request that addresses no target".to_owned(),
        )),
    }
}

/// One page of what the caller may see, paginated over the visible set (cursors are
/// positions in it, so pages neither skip nor repeat what the caller sees).
fn listing(
    catalog: &Catalog,
    visible: &Visible,
    request: McpRequest,
) -> Result<McpResponse, GatewayError> {
    fn page<T, E>(
        catalog: &Catalog,
        positions: &[usize],
        items: &[E],
        cursor: Option<&str>,
        item: impl Fn(&E) -> T,
    ) -> Result<(Vec<T>, Option<String>), GatewayError> {
        let (page, next) = catalog.page(positions, cursor)?;
        Ok((
            page.iter()
                .filter_map(|&i| items.get(i))
                .map(item)
                .collect(),
            next,
        ))
    }
    match request {
        McpRequest::ListTools { cursor } => {
            let (items, next) = page(
                catalog,
                &visible.tools,
                catalog.tools(),
                cursor.as_deref(),
                |e| e.tool.clone(),
            )?;
            let mut r = ListToolsResult::with_all_items(items);
            r.next_cursor = next;
            Ok(McpResponse::Tools(r))
        }
        McpRequest::ListResources { cursor } => {
            let (items, next) = page(
                catalog,
                &visible.resources,
                catalog.resources(),
                cursor.as_deref(),
                |e| e.resource.clone(),
            )?;
            let mut r = ListResourcesResult::with_all_items(items);
            r.next_cursor = next;
            Ok(McpResponse::Resources(r))
        }
        McpRequest::ListResourceTemplates { cursor } => {
            let (items, next) = page(
                catalog,
                &visible.templates,
                catalog.templates(),
                cursor.as_deref(),
                |e| e.template.clone(),
            )?;
            let mut r = ListResourceTemplatesResult::with_all_items(items);
            r.next_cursor = next;
            Ok(McpResponse::ResourceTemplates(r))
        }
        McpRequest::ListPrompts { cursor } => {
            let (items, next) = page(
                catalog,
                &visible.prompts,
                catalog.prompts(),
                cursor.as_deref(),
                |e| e.prompt.clone(),
            )?;
            let mut r = ListPromptsResult::with_all_items(items);
            r.next_cursor = next;
            Ok(McpResponse::Prompts(r))
        }
        other => Err(GatewayError::Internal(format!(
            "`{}` is not a listing",
            other.method()
        ))),
    }
}
