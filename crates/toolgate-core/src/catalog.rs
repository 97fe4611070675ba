//! The catalog: every tool, resource, resource template and prompt the gateway serves, by
//! name, and the sources they come from.
//!
//! A catalog is built once from compiled sources (at start or on reload), then frozen and
//! shared behind an `ArcSwap` ([`SharedCatalog`]): requests load the current catalog without
//! locking, and a reload swaps in a new one atomically. Nothing is parsed or compiled per
//! request or per session. Sources whose listing changes at runtime (upstream MCP servers)
//! publish a new [`Contribution`] to the [`Assembly`], which rebuilds and swaps the catalog
//! and tells the transports which lists changed (`assembly.rs`).

// Looked up on every call: a fast hash (foldhash), since keys are the catalog's own names.
use hashbrown::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine as _;
use rmcp::model::{Resource, ResourceTemplate, Tool};

use rmcp::model::Prompt;

use crate::error::GatewayError;
use crate::handler::{PromptHandler, ReadinessProbe, SourceControl, ToolHandler};
use crate::uri_template::UriTemplate;

/// A tool and what executes it.
#[derive(Clone)]
pub struct ToolEntry {
    /// The MCP tool definition served by `tools/list`.
    pub tool: Tool,
    /// Name of the source the tool comes from (a bounded label for metrics and logs).
    pub source: Arc<str>,
    /// Executes calls.
    pub handler: Arc<dyn ToolHandler>,
    /// What the tool's source knows about it besides its MCP definition (for policies).
    pub meta: ToolMeta,
}

/// What a source knows about a tool beyond its MCP definition: what authorization rules
/// select tools by (with the source name and the tool's annotations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolMeta {
    /// The operation's tags (OpenAPI `tags`); empty when the source has none.
    pub tags: Arc<[String]>,
    /// The HTTP method of the operation behind the tool (`GET`, `POST`, …), for tools
    /// compiled from OpenAPI; `None` otherwise.
    pub http_method: Option<&'static str>,
    /// The HTTP path template of the operation behind the tool (`/repos/{owner}/{repo}`), for
    /// tools compiled from OpenAPI (searched by `search_tools`); `None` otherwise.
    pub path: Option<Arc<str>>,
}

/// A fixed resource and what reads it.
#[derive(Clone)]
pub struct ResourceEntry {
    /// The MCP resource served by `resources/list`.
    pub resource: Resource,
    /// Name of the source.
    pub source: Arc<str>,
    /// Reads the resource.
    pub handler: Arc<dyn ToolHandler>,
}

/// A resource template, its parsed form and what reads matching URIs.
#[derive(Clone)]
pub struct TemplateEntry {
    /// The MCP template served by `resources/templates/list`.
    pub template: ResourceTemplate,
    /// Parsed template used to match `resources/read` URIs.
    pub matcher: UriTemplate,
    /// Name of the source.
    pub source: Arc<str>,
    /// Reads matching resources.
    pub handler: Arc<dyn ToolHandler>,
}

/// Every resource URI starting with a prefix, served by one source: reads and subscriptions
/// of URIs a source serves without listing them (an upstream MCP server's dynamic resources,
/// under the prefix the gateway gave its URIs).
#[derive(Clone)]
pub struct PrefixEntry {
    /// The URI prefix, e.g. `github+`.
    pub prefix: String,
    /// Name of the source.
    pub source: Arc<str>,
    /// Reads (and subscribes to) the resources.
    pub handler: Arc<dyn ToolHandler>,
}

/// A prompt and what renders it.
#[derive(Clone)]
pub struct PromptEntry {
    /// The MCP prompt served by `prompts/list`.
    pub prompt: Prompt,
    /// Name of the source.
    pub source: Arc<str>,
    /// Renders the prompt and completes its arguments.
    pub handler: Arc<dyn PromptHandler>,
}

/// What a source supports beyond tools, for the capabilities the gateway announces (the
/// union over its sources).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceCapabilities {
    /// Serves resources or resource templates.
    pub resources: bool,
    /// Its resources report updates (`resources/subscribe`).
    pub subscribe: bool,
    /// Serves prompts.
    pub prompts: bool,
    /// Completes prompt or resource template arguments.
    pub completions: bool,
    /// Sends log messages (`logging/setLevel`).
    pub logging: bool,
    /// Its lists may change while the gateway runs (`listChanged`).
    pub list_changed: bool,
}

impl SourceCapabilities {
    /// The capabilities of either.
    pub fn union(self, other: SourceCapabilities) -> SourceCapabilities {
        SourceCapabilities {
            resources: self.resources || other.resources,
            subscribe: self.subscribe || other.subscribe,
            prompts: self.prompts || other.prompts,
            completions: self.completions || other.completions,
            logging: self.logging || other.logging,
            list_changed: self.list_changed || other.list_changed,
        }
    }
}

/// A named source and how to tell whether it is ready.
#[derive(Clone)]
pub struct SourceEntry {
    /// Source name.
    pub name: Arc<str>,
    /// Readiness check for `/readyz`.
    pub probe: Arc<dyn ReadinessProbe>,
    /// What the source does as a whole (its log level), when it has anything to control.
    pub control: Option<Arc<dyn SourceControl>>,
    /// What it supports beyond tools.
    pub capabilities: SourceCapabilities,
}

/// Two components were registered under one name.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "duplicate {kind} `{name}` (from sources `{first}` and `{second}`): give one of them a namespace or a name override"
)]
pub struct DuplicateName {
    /// "tool", "resource", "resource template" or "prompt".
    pub kind: &'static str,
    /// The clashing name or URI.
    pub name: String,
    /// Source registered first.
    pub first: String,
    /// Source registered second.
    pub second: String,
}

/// An immutable set of tools, resources and templates.
#[derive(Clone, Default)]
pub struct Catalog {
    tools: Vec<ToolEntry>,
    tool_index: HashMap<Arc<str>, usize>,
    resources: Vec<ResourceEntry>,
    resource_index: HashMap<String, usize>,
    templates: Vec<TemplateEntry>,
    prefixes: Vec<PrefixEntry>,
    prompts: Vec<PromptEntry>,
    prompt_index: HashMap<Arc<str>, usize>,
    sources: Vec<SourceEntry>,
    page_size: Option<usize>,
    /// What is listed directly in meta-tool mode (`None`: every tool is listed).
    meta: Option<crate::meta::MetaState>,
}

impl Catalog {
    /// Starts an empty catalog builder.
    pub fn builder() -> CatalogBuilder {
        CatalogBuilder::default()
    }

    /// Looks a tool up by name.
    pub fn tool(&self, name: &str) -> Option<&ToolEntry> {
        self.tool_index.get(name).map(|&i| &self.tools[i])
    }

    /// What this catalog lists in meta-tool mode, when some of its tools are behind the
    /// meta-tools (`None`: `tools/list` lists every tool).
    pub fn meta(&self) -> Option<&crate::meta::MetaState> {
        self.meta.as_ref()
    }

    /// The position of tool `name` in [`Catalog::tools`].
    pub fn tool_position(&self, name: &str) -> Option<usize> {
        self.tool_index.get(name).copied()
    }

    /// Where `uri` is served: a fixed resource first, then the first matching template with
    /// the values bound to its variables, then the longest matching prefix.
    pub fn locate_resource(&self, uri: &str) -> Option<ResourceLocation> {
        if let Some(&i) = self.resource_index.get(uri) {
            return Some(ResourceLocation::Fixed(i));
        }
        self.templates
            .iter()
            .enumerate()
            .find_map(|(i, t)| {
                t.matcher
                    .matches(uri)
                    .map(|arguments| ResourceLocation::Template(i, arguments))
            })
            .or_else(|| {
                self.prefixes
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| uri.starts_with(&p.prefix))
                    .max_by_key(|(_, p)| p.prefix.len())
                    .map(|(i, _)| ResourceLocation::Prefix(i))
            })
    }

    /// All prefix routes.
    pub fn prefixes(&self) -> &[PrefixEntry] {
        &self.prefixes
    }

    /// Where a completion's `ref/resource` URI is served: a template with exactly that URI
    /// template, else a fixed resource or a template matching it as a URI.
    pub fn locate_template(&self, uri: &str) -> Option<ResourceLocation> {
        self.templates
            .iter()
            .position(|t| t.template.uri_template == uri)
            .map(|i| ResourceLocation::Template(i, rmcp::model::JsonObject::new()))
            .or_else(|| self.locate_resource(uri))
    }

    /// All tools, in registration order.
    pub fn tools(&self) -> &[ToolEntry] {
        &self.tools
    }

    /// All fixed resources.
    pub fn resources(&self) -> &[ResourceEntry] {
        &self.resources
    }

    /// All resource templates.
    pub fn templates(&self) -> &[TemplateEntry] {
        &self.templates
    }

    /// All prompts.
    pub fn prompts(&self) -> &[PromptEntry] {
        &self.prompts
    }

    /// The position of prompt `name` in [`Catalog::prompts`].
    pub fn prompt_position(&self, name: &str) -> Option<usize> {
        self.prompt_index.get(name).copied()
    }

    /// All sources.
    pub fn sources(&self) -> &[SourceEntry] {
        &self.sources
    }

    /// What the sources support together (tools always; resources also when any resource or
    /// template is served).
    pub fn capabilities(&self) -> SourceCapabilities {
        let own = SourceCapabilities {
            resources: !self.resources.is_empty() || !self.templates.is_empty(),
            prompts: !self.prompts.is_empty(),
            ..SourceCapabilities::default()
        };
        self.sources
            .iter()
            .fold(own, |acc, s| acc.union(s.capabilities))
    }

    /// One page of `items` starting at `cursor`: the items and the next cursor.
    pub fn page<'a, T>(
        &self,
        items: &'a [T],
        cursor: Option<&str>,
    ) -> Result<(&'a [T], Option<String>), GatewayError> {
        let start = match cursor {
            None => 0,
            Some(c) => decode_cursor(c).ok_or_else(|| {
                GatewayError::InvalidCursor(format!(
                    "`{c}` was not issued by this server; omit the cursor to start from the first page"
                ))
            })?,
        };
        if start > items.len() {
            return Err(GatewayError::InvalidCursor(format!(
                "cursor points past the end of the list ({} items); the list changed, start again without a cursor",
                items.len()
            )));
        }
        let Some(size) = self.page_size else {
            return Ok((&items[start..], None));
        };
        let end = (start + size).min(items.len());
        let next = (end < items.len()).then(|| encode_cursor(end));
        Ok((&items[start..end], next))
    }
}

impl Catalog {
    /// The catalog of an endpoint: the entries `selector` selects, in the same order, with
    /// what is listed directly in meta-tool mode decided again by `view` over them (see
    /// `crate::endpoint`). Definitions, schemas and handlers are shared, not copied deeply.
    /// Sources are kept when something of theirs is selected (their capabilities and log
    /// level control then apply to the endpoint).
    pub fn restricted(
        &self,
        selector: &dyn crate::endpoint::Selector,
        view: Option<Arc<crate::meta::ToolView>>,
    ) -> Catalog {
        let tools: Vec<ToolEntry> = self
            .tools
            .iter()
            .filter(|e| selector.tool(e))
            .cloned()
            .collect();
        let resources: Vec<ResourceEntry> = self
            .resources
            .iter()
            .filter(|e| selector.resource(&e.resource.uri, &e.source))
            .cloned()
            .collect();
        let templates: Vec<TemplateEntry> = self
            .templates
            .iter()
            .filter(|e| selector.resource(&e.template.uri_template, &e.source))
            .cloned()
            .collect();
        let prefixes: Vec<PrefixEntry> = self
            .prefixes
            .iter()
            .filter(|e| selector.prefix(&e.prefix, &e.source))
            .cloned()
            .collect();
        let prompts: Vec<PromptEntry> = self
            .prompts
            .iter()
            .filter(|e| selector.prompt(e))
            .cloned()
            .collect();
        let used = |name: &str| {
            tools.iter().any(|e| &*e.source == name)
                || resources.iter().any(|e| &*e.source == name)
                || templates.iter().any(|e| &*e.source == name)
                || prefixes.iter().any(|e| &*e.source == name)
                || prompts.iter().any(|e| &*e.source == name)
        };
        let sources = self
            .sources
            .iter()
            .filter(|s| used(&s.name))
            .cloned()
            .collect();
        let tool_index = tools
            .iter()
            .enumerate()
            .map(|(i, e)| (Arc::from(e.tool.name.as_ref()), i))
            .collect();
        let resource_index = resources
            .iter()
            .enumerate()
            .map(|(i, e)| (e.resource.uri.clone(), i))
            .collect();
        let prompt_index = prompts
            .iter()
            .enumerate()
            .map(|(i, e)| (Arc::from(e.prompt.name.as_str()), i))
            .collect();
        let meta = view.and_then(|v| v.state(&tools));
        Catalog {
            tools,
            tool_index,
            resources,
            resource_index,
            templates,
            prefixes,
            prompts,
            prompt_index,
            sources,
            page_size: self.page_size,
            meta,
        }
    }
}

/// Where a `resources/read` URI is served, by position in the catalog.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceLocation {
    /// The fixed resource at this position of [`Catalog::resources`].
    Fixed(usize),
    /// The template at this position of [`Catalog::templates`], with the values the URI
    /// binds to its variables.
    Template(usize, rmcp::model::JsonObject),
    /// The prefix route at this position of [`Catalog::prefixes`].
    Prefix(usize),
}

fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix('o')?
        .parse()
        .ok()
}

/// Collects components; rejects duplicate names.
#[derive(Default)]
pub struct CatalogBuilder {
    catalog: Catalog,
    view: Option<Arc<crate::meta::ToolView>>,
}

impl CatalogBuilder {
    /// Serve list results in pages of `size` (`None` = everything in one page).
    pub fn page_size(mut self, size: Option<usize>) -> Self {
        self.catalog.page_size = size.filter(|&s| s > 0);
        self
    }

    /// Decide at [`CatalogBuilder::build`] which tools are listed directly (meta-tool mode).
    pub fn tool_view(mut self, view: Option<Arc<crate::meta::ToolView>>) -> Self {
        self.view = view;
        self
    }

    /// Registers a source's readiness probe.
    pub fn add_source(&mut self, name: Arc<str>, probe: Arc<dyn ReadinessProbe>) {
        self.catalog.sources.push(SourceEntry {
            name,
            probe,
            control: None,
            capabilities: SourceCapabilities::default(),
        });
    }

    /// Registers a source with what it controls and supports.
    pub fn add_source_entry(&mut self, entry: SourceEntry) {
        self.catalog.sources.push(entry);
    }

    /// Adds a prefix route; fails if the prefix is taken.
    pub fn add_prefix(&mut self, entry: PrefixEntry) -> Result<(), DuplicateName> {
        if let Some(p) = self
            .catalog
            .prefixes
            .iter()
            .find(|p| p.prefix == entry.prefix)
        {
            return Err(DuplicateName {
                kind: "resource URI prefix",
                name: entry.prefix.clone(),
                first: p.source.to_string(),
                second: entry.source.to_string(),
            });
        }
        self.catalog.prefixes.push(entry);
        Ok(())
    }

    /// Adds a prompt; fails if the name is taken.
    pub fn add_prompt(&mut self, entry: PromptEntry) -> Result<(), DuplicateName> {
        let name: Arc<str> = Arc::from(entry.prompt.name.as_str());
        if let Some(&i) = self.catalog.prompt_index.get(&name) {
            return Err(DuplicateName {
                kind: "prompt",
                name: name.to_string(),
                first: self.catalog.prompts[i].source.to_string(),
                second: entry.source.to_string(),
            });
        }
        self.catalog
            .prompt_index
            .insert(name, self.catalog.prompts.len());
        self.catalog.prompts.push(entry);
        Ok(())
    }

    /// Adds a tool; fails if the name is taken.
    pub fn add_tool(&mut self, entry: ToolEntry) -> Result<(), DuplicateName> {
        let name: Arc<str> = Arc::from(entry.tool.name.as_ref());
        if let Some(&i) = self.catalog.tool_index.get(&name) {
            return Err(DuplicateName {
                kind: "tool",
                name: name.to_string(),
                first: self.catalog.tools[i].source.to_string(),
                second: entry.source.to_string(),
            });
        }
        self.catalog
            .tool_index
            .insert(name, self.catalog.tools.len());
        self.catalog.tools.push(entry);
        Ok(())
    }

    /// Adds a fixed resource; fails if the URI is taken.
    pub fn add_resource(&mut self, entry: ResourceEntry) -> Result<(), DuplicateName> {
        let uri = entry.resource.uri.clone();
        if let Some(&i) = self.catalog.resource_index.get(&uri) {
            return Err(DuplicateName {
                kind: "resource",
                name: uri,
                first: self.catalog.resources[i].source.to_string(),
                second: entry.source.to_string(),
            });
        }
        self.catalog
            .resource_index
            .insert(uri, self.catalog.resources.len());
        self.catalog.resources.push(entry);
        Ok(())
    }

    /// Adds a resource template; fails if the same template is registered twice.
    pub fn add_template(&mut self, entry: TemplateEntry) -> Result<(), DuplicateName> {
        if let Some(t) = self
            .catalog
            .templates
            .iter()
            .find(|t| t.template.uri_template == entry.template.uri_template)
        {
            return Err(DuplicateName {
                kind: "resource template",
                name: entry.template.uri_template.clone(),
                first: t.source.to_string(),
                second: entry.source.to_string(),
            });
        }
        self.catalog.templates.push(entry);
        Ok(())
    }

    /// Freezes the catalog (and decides, once, what it lists in meta-tool mode).
    pub fn build(self) -> Catalog {
        let mut catalog = self.catalog;
        catalog.meta = self.view.and_then(|v| v.state(&catalog.tools));
        catalog
    }
}

/// The current catalog, swappable at runtime without blocking readers.
pub type SharedCatalog = Arc<ArcSwap<Catalog>>;

/// Wraps a catalog for sharing.
pub fn shared(catalog: Catalog) -> SharedCatalog {
    Arc::new(ArcSwap::from_pointee(catalog))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_foreign_values() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("not-a-cursor"), None);
        assert_eq!(decode_cursor(""), None);
    }

    #[test]
    fn pages_cover_every_item_once() {
        let catalog = Catalog::builder().page_size(Some(3)).build();
        let items: Vec<u32> = (0..8).collect();
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = catalog.page(&items, cursor.as_deref()).unwrap();
            seen.extend_from_slice(page);
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    #[test]
    fn a_cursor_past_the_end_is_an_error() {
        let catalog = Catalog::builder().page_size(Some(3)).build();
        let items: Vec<u32> = (0..2).collect();
        assert!(catalog.page(&items, Some(&encode_cursor(5))).is_err());
        assert!(catalog.page(&items, Some("garbage")).is_err());
    }
}
