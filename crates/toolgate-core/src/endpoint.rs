//! Virtual servers: one endpoint's view of the catalog.
//!
//! An endpoint (`endpoints:` in the configuration, served at `/mcp/{name}` or over stdio with
//! `serve --endpoint`) serves a selection of the catalog's tools, resources and prompts, with
//! its own meta-tool settings. The catalog is still compiled once: an [`EndpointView`] derives
//! the endpoint's catalog from the shared one (a filtered copy of its entries: definitions and
//! handlers are shared `Arc`s), once per catalog version, and keeps it until a reload swaps
//! the shared catalog, when the next call derives it again. So reloads reach every endpoint,
//! and everything downstream — resolution, the dispatcher, listings, authorization's visible
//! sets, the meta-tools' search index — runs against the endpoint's catalog unchanged, and
//! cannot find what it does not hold.
//!
//! **The choke point** is [`catalog_for`]: the catalog a call runs against is the one its
//! context's view derives, and the pipeline's Resolve step (the outermost layer, on every
//! transport and path) is where it is taken. `toolgate-server`'s gateway puts its view into
//! every context it builds (its one request edge), so no path reaches a tool outside it.
//!
//! Does not own: what a selection matches (a [`Selector`]; `toolgate-policy` compiles the
//! configured one with the authorization rules' vocabulary), who may use an endpoint
//! ([`EndpointAccess`] is checked at the transport), or routing (`toolgate-server`).

use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::catalog::{Catalog, PromptEntry, SharedCatalog, ToolEntry};
use crate::context::{CallContext, Principal};
use crate::meta::ToolView;

/// What an endpoint serves of the catalog, entry by entry.
pub trait Selector: Send + Sync {
    /// Whether the endpoint serves this tool.
    fn tool(&self, entry: &ToolEntry) -> bool;
    /// Whether it serves the resource with this URI (or the template with this URI
    /// template), served by `source`.
    fn resource(&self, uri: &str, source: &str) -> bool;
    /// Whether it serves the URIs starting with `prefix` that `source` serves without listing
    /// them (an upstream's dynamic resources).
    fn prefix(&self, prefix: &str, source: &str) -> bool;
    /// Whether it serves this prompt.
    fn prompt(&self, entry: &PromptEntry) -> bool;
}

/// Everything: the selector of an endpoint without a selection.
pub struct All;

impl Selector for All {
    fn tool(&self, _: &ToolEntry) -> bool {
        true
    }
    fn resource(&self, _: &str, _: &str) -> bool {
        true
    }
    fn prefix(&self, _: &str, _: &str) -> bool {
        true
    }
    fn prompt(&self, _: &PromptEntry) -> bool {
        true
    }
}

/// Who may use an endpoint, checked when a request arrives (before the pipeline, whose
/// authorization rules still apply on top: deny by default stays deny by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointAccess {
    /// Callers without a credential are let in (as anonymous callers) while authentication
    /// is on; a caller presenting one is still verified.
    pub anonymous: bool,
    /// Scopes the caller must all hold.
    pub scopes: Vec<String>,
    /// Roles of which the caller must hold at least one (none: any).
    pub roles: Vec<String>,
}

impl EndpointAccess {
    /// Whether it asks anything of the caller.
    pub fn is_open(&self) -> bool {
        self.scopes.is_empty() && self.roles.is_empty()
    }

    /// Why `principal` may not use the endpoint (`None`: it may). A caller without a principal
    /// passes only an endpoint that asks nothing.
    pub fn refusal(&self, principal: Option<&Principal>) -> Option<String> {
        if self.is_open() {
            return None;
        }
        let Some(p) = principal else {
            return Some("this endpoint requires an authenticated caller".to_owned());
        };
        let missing: Vec<&str> = self
            .scopes
            .iter()
            .filter(|s| !p.scopes.contains(s))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Some(format!(
                "this endpoint requires the scope(s) {}",
                missing.join(" ")
            ));
        }
        if !self.roles.is_empty() && !self.roles.iter().any(|r| p.roles.contains(r)) {
            return Some(format!(
                "this endpoint requires one of the roles {}",
                self.roles.join(", ")
            ));
        }
        None
    }
}

/// One endpoint's view of the shared catalog (see the module docs). Cheap to share; one per
/// configured endpoint.
pub struct EndpointView {
    name: Arc<str>,
    selector: Arc<dyn Selector>,
    tool_view: Option<Arc<ToolView>>,
    /// The catalog derived from the shared catalog it remembers (a `Weak`: it neither keeps an
    /// old catalog alive nor mistakes a new one allocated at the same address for it).
    derived: Mutex<(Weak<Catalog>, Option<Arc<Catalog>>)>,
}

impl std::fmt::Debug for EndpointView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointView")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl EndpointView {
    /// The view of endpoint `name`: what `selector` selects, listed as `tool_view` says
    /// (`None`: every selected tool is listed).
    pub fn new(
        name: impl Into<Arc<str>>,
        selector: Arc<dyn Selector>,
        tool_view: Option<Arc<ToolView>>,
    ) -> Arc<Self> {
        Arc::new(EndpointView {
            name: name.into(),
            selector,
            tool_view,
            derived: Mutex::new((Weak::new(), None)),
        })
    }

    /// The endpoint's name (from the configuration).
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The endpoint's catalog derived from `base`: computed once per `base`.
    pub fn catalog(&self, base: &Arc<Catalog>) -> Arc<Catalog> {
        {
            let cached = self.lock();
            if cached.0.as_ptr() == Arc::as_ptr(base)
                && let Some(derived) = &cached.1
            {
                return derived.clone();
            }
        }
        // Derived outside the lock; two first calls racing may both derive it (equal results).
        let derived = Arc::new(base.restricted(&*self.selector, self.tool_view.clone()));
        *self.lock() = (Arc::downgrade(base), Some(derived.clone()));
        derived
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Weak<Catalog>, Option<Arc<Catalog>>)> {
        // Replaced whole under the lock: a panic cannot tear it.
        self.derived.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// **The choke point**: the catalog a call with `ctx` runs against — the shared catalog, or
/// its context's endpoint's view of it.
pub fn catalog_for(ctx: &CallContext, shared: &SharedCatalog) -> Arc<Catalog> {
    let base = shared.load_full();
    match &ctx.view {
        Some(view) => view.catalog(&base),
        None => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ToolMeta;
    use crate::context::AuthMethod;
    use crate::error::ToolError;
    use crate::handler::ToolHandler;
    use crate::meta::ToolMode;
    use futures::future::BoxFuture;
    use rmcp::model::{JsonObject, Tool, ToolAnnotations};

    struct Echo;
    impl ToolHandler for Echo {
        fn call(
            &self,
            _: &CallContext,
            _: JsonObject,
        ) -> BoxFuture<'static, Result<rmcp::model::CallToolResult, ToolError>> {
            Box::pin(async { Ok(rmcp::model::CallToolResult::success(vec![])) })
        }
    }

    fn tool(name: &str, source: &str, read_only: bool) -> ToolEntry {
        let t = Tool::new(name.to_owned(), "d", Arc::new(JsonObject::new()))
            .with_annotations(ToolAnnotations::new().read_only(read_only));
        ToolEntry {
            tool: t,
            source: Arc::from(source),
            handler: Arc::new(Echo),
            meta: ToolMeta::default(),
        }
    }

    struct ReadOnly;
    impl Selector for ReadOnly {
        fn tool(&self, e: &ToolEntry) -> bool {
            e.tool.annotations.as_ref().and_then(|a| a.read_only_hint) == Some(true)
        }
        fn resource(&self, _: &str, _: &str) -> bool {
            false
        }
        fn prefix(&self, _: &str, _: &str) -> bool {
            false
        }
        fn prompt(&self, _: &PromptEntry) -> bool {
            false
        }
    }

    fn catalog(tools: &[(&str, bool)]) -> Arc<Catalog> {
        let mut b = Catalog::builder();
        for (n, ro) in tools {
            b.add_tool(tool(n, "todo", *ro)).unwrap();
        }
        Arc::new(b.build())
    }

    #[test]
    fn a_view_holds_only_what_its_selector_selects() {
        let base = catalog(&[("list", true), ("delete", false), ("get", true)]);
        let view = EndpointView::new("ro", Arc::new(ReadOnly), None);
        let derived = view.catalog(&base);
        let names: Vec<_> = derived
            .tools()
            .iter()
            .map(|t| t.tool.name.to_string())
            .collect();
        assert_eq!(names, ["list", "get"]);
        assert!(derived.tool("delete").is_none());
        assert!(derived.meta().is_none());
    }

    #[test]
    fn a_view_is_derived_once_per_catalog_and_again_after_a_swap() {
        let shared = crate::catalog::shared((*catalog(&[("list", true)])).clone());
        let view = EndpointView::new("ro", Arc::new(ReadOnly), None);
        let mut ctx = CallContext::in_process();
        ctx.view = Some(view.clone());
        let a = catalog_for(&ctx, &shared);
        let b = catalog_for(&ctx, &shared);
        assert!(Arc::ptr_eq(&a, &b), "derived once");
        shared.store(catalog(&[("list", true), ("get", true), ("rm", false)]));
        let c = catalog_for(&ctx, &shared);
        assert_eq!(c.tools().len(), 2, "a reload reaches the view");
        ctx.view = None;
        assert_eq!(catalog_for(&ctx, &shared).tools().len(), 3);
    }

    #[test]
    fn a_view_applies_its_own_tool_mode() {
        let base = catalog(&[("list", true), ("get", true), ("rm", false)]);
        let view = EndpointView::new(
            "meta",
            Arc::new(All),
            Some(Arc::new(ToolView {
                mode: ToolMode::Meta,
                pinned: vec!["get".into()],
                ..ToolView::default()
            })),
        );
        let derived = view.catalog(&base);
        let state = derived.meta().expect("meta mode");
        assert_eq!(state.direct, [1], "only the pinned tool is listed directly");
        assert!(base.meta().is_none(), "the shared catalog is untouched");
    }

    #[test]
    fn access_requires_every_scope_and_one_role() {
        let access = EndpointAccess {
            anonymous: false,
            scopes: vec!["todo:write".into()],
            roles: vec!["admin".into(), "ops".into()],
        };
        assert!(access.refusal(None).is_some());
        let mut p = Principal::new("u", vec!["todo:write".into()], AuthMethod::Jwt);
        assert!(
            access
                .refusal(Some(&p))
                .unwrap()
                .contains("roles admin, ops")
        );
        p.roles = vec!["ops".into()];
        assert_eq!(access.refusal(Some(&p)), None);
        p.scopes.clear();
        assert!(access.refusal(Some(&p)).unwrap().contains("todo:write"));
        assert_eq!(EndpointAccess::default().refusal(None), None);
    }
}
