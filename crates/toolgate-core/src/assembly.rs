//! The catalog as the sum of its sources' contributions, rebuilt when one of them changes.
//!
//! Static sources (compiled OpenAPI specs) contribute once at start; dynamic ones (upstream MCP
//! servers) publish a new [`Contribution`] whenever their listing changes (their
//! `list_changed` notifications, a refresh TTL, a restart) or when they go down and their
//! entries must drop out. The [`Assembly`] keeps the contributions in configuration order,
//! rebuilds the whole [`Catalog`] from them and swaps it into the [`SharedCatalog`], so
//! requests never see a half-built catalog. Name collisions are resolved deterministically:
//! the source configured first keeps the name, the later entry is left out and reported.
//! Subscribers ([`Assembly::subscribe`]) learn which lists changed, to notify clients.
//!
//! Does not own: what a source's entries are (the sources) or telling clients (transports).

use std::sync::{Arc, Mutex, PoisonError};

use crate::meta::ToolView;
use tokio::sync::broadcast;

use crate::catalog::{
    Catalog, DuplicateName, PrefixEntry, PromptEntry, ResourceEntry, SharedCatalog, SourceEntry,
    TemplateEntry, ToolEntry,
};

/// Everything one source serves.
#[derive(Clone)]
pub struct Contribution {
    /// The source, with its probe, control and capabilities.
    pub source: SourceEntry,
    /// Its tools.
    pub tools: Vec<ToolEntry>,
    /// Its fixed resources.
    pub resources: Vec<ResourceEntry>,
    /// Its resource templates.
    pub templates: Vec<TemplateEntry>,
    /// Its URI prefix routes.
    pub prefixes: Vec<PrefixEntry>,
    /// Its prompts.
    pub prompts: Vec<PromptEntry>,
}

impl Contribution {
    /// A source that serves nothing (yet).
    pub fn empty(source: SourceEntry) -> Self {
        Contribution {
            source,
            tools: Vec::new(),
            resources: Vec::new(),
            templates: Vec::new(),
            prefixes: Vec::new(),
            prompts: Vec::new(),
        }
    }
}

/// Which lists changed in a catalog swap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListsChanged {
    /// `tools/list` answers differently.
    pub tools: bool,
    /// `resources/list` or `resources/templates/list` answers differently.
    pub resources: bool,
    /// `prompts/list` answers differently.
    pub prompts: bool,
}

impl ListsChanged {
    /// Whether anything changed.
    pub fn any(self) -> bool {
        self.tools || self.resources || self.prompts
    }
}

/// The contributions of every source and the catalog built from them.
pub struct Assembly {
    catalog: SharedCatalog,
    page_size: Option<usize>,
    view: Option<Arc<ToolView>>,
    contributions: Mutex<Vec<Contribution>>,
    changes: broadcast::Sender<ListsChanged>,
    /// The entries the last build left out because their names were taken.
    duplicates: Mutex<Vec<DuplicateName>>,
}

impl Assembly {
    /// An assembly publishing into `catalog`, paging lists by `page_size`.
    pub fn new(catalog: SharedCatalog, page_size: Option<usize>) -> Arc<Self> {
        Assembly::with_view(catalog, page_size, None)
    }

    /// [`Assembly::new`] whose catalogs decide what they list directly by `view` (meta-tool
    /// mode; `None`: every tool is listed).
    pub fn with_view(
        catalog: SharedCatalog,
        page_size: Option<usize>,
        view: Option<Arc<ToolView>>,
    ) -> Arc<Self> {
        let (changes, _) = broadcast::channel(64);
        Arc::new(Assembly {
            catalog,
            page_size,
            view,
            contributions: Mutex::new(Vec::new()),
            changes,
            duplicates: Mutex::default(),
        })
    }

    /// The catalog this assembly publishes.
    pub fn catalog(&self) -> &SharedCatalog {
        &self.catalog
    }

    /// The entries the current catalog leaves out because another source took their names
    /// first (the same list [`Assembly::publish`] returned last).
    pub fn duplicates(&self) -> Vec<DuplicateName> {
        self.duplicates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Tells which lists change on every later swap.
    pub fn subscribe(&self) -> broadcast::Receiver<ListsChanged> {
        self.changes.subscribe()
    }

    /// Sets or replaces the contribution of `contribution.source.name` (a new source goes
    /// after the ones already there), rebuilds the catalog and swaps it in. Returns the
    /// entries left out because an earlier source has their name.
    pub fn publish(&self, contribution: Contribution) -> Vec<DuplicateName> {
        let mut all = self
            .contributions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let changed = match all
            .iter_mut()
            .find(|c| c.source.name == contribution.source.name)
        {
            Some(slot) => {
                let changed = difference(slot, &contribution);
                *slot = contribution;
                changed
            }
            None => {
                let changed = ListsChanged {
                    tools: !contribution.tools.is_empty(),
                    resources: !contribution.resources.is_empty()
                        || !contribution.templates.is_empty(),
                    prompts: !contribution.prompts.is_empty(),
                };
                all.push(contribution);
                changed
            }
        };
        let (catalog, dropped) = build_with(&all, self.page_size, self.view.clone());
        self.catalog.store(Arc::new(catalog));
        *self
            .duplicates
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = dropped.clone();
        drop(all);
        if changed.any() {
            // No subscriber is not an error.
            let _ = self.changes.send(changed);
        }
        dropped
    }

    /// Replaces every contribution at once (a configuration reload): `next` gets the current
    /// contributions (so a source that is kept keeps its latest listing) and returns the new
    /// list in configuration order. Nothing is swapped when a name of the new list is taken
    /// twice: the entries left out are returned and the current catalog stays. Otherwise the
    /// new catalog is swapped in, subscribers learn which lists changed, and those are returned.
    pub fn replace(
        &self,
        next: impl FnOnce(&[Contribution]) -> Vec<Contribution>,
    ) -> Result<ListsChanged, Vec<DuplicateName>> {
        let mut all = self
            .contributions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let candidate = next(&all);
        let (catalog, dropped) = build_with(&candidate, self.page_size, self.view.clone());
        if !dropped.is_empty() {
            return Err(dropped);
        }
        let old = self.catalog.load_full();
        let changed = ListsChanged {
            tools: !same(old.tools(), catalog.tools(), |a, b| a.tool == b.tool),
            resources: !same(old.resources(), catalog.resources(), |a, b| {
                a.resource == b.resource
            }) || !same(old.templates(), catalog.templates(), |a, b| {
                a.template == b.template
            }),
            prompts: !same(old.prompts(), catalog.prompts(), |a, b| {
                a.prompt == b.prompt
            }),
        };
        self.catalog.store(Arc::new(catalog));
        *all = candidate;
        self.duplicates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        drop(all);
        if changed.any() {
            let _ = self.changes.send(changed);
        }
        Ok(changed)
    }
}

/// Whether two lists hold equal entries in the same order.
fn same<T>(a: &[T], b: &[T], eq: impl Fn(&T, &T) -> bool) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| eq(x, y))
}

/// Which lists differ between two contributions of one source.
fn difference(old: &Contribution, new: &Contribution) -> ListsChanged {
    ListsChanged {
        tools: !same(&old.tools, &new.tools, |a, b| a.tool == b.tool),
        resources: !same(&old.resources, &new.resources, |a, b| {
            a.resource == b.resource
        }) || !same(&old.templates, &new.templates, |a, b| {
            a.template == b.template
        }),
        prompts: !same(&old.prompts, &new.prompts, |a, b| a.prompt == b.prompt),
    }
}

/// The catalog of `contributions` in order, and the entries whose names were taken.
pub fn build(
    contributions: &[Contribution],
    page_size: Option<usize>,
) -> (Catalog, Vec<DuplicateName>) {
    build_with(contributions, page_size, None)
}

/// [`build`] with the meta-tool view its catalog lists by.
pub fn build_with(
    contributions: &[Contribution],
    page_size: Option<usize>,
    view: Option<Arc<ToolView>>,
) -> (Catalog, Vec<DuplicateName>) {
    let mut builder = Catalog::builder().page_size(page_size).tool_view(view);
    let mut dropped = Vec::new();
    for c in contributions {
        builder.add_source_entry(c.source.clone());
        for t in &c.tools {
            if let Err(e) = builder.add_tool(t.clone()) {
                dropped.push(e);
            }
        }
        for r in &c.resources {
            if let Err(e) = builder.add_resource(r.clone()) {
                dropped.push(e);
            }
        }
        for t in &c.templates {
            if let Err(e) = builder.add_template(t.clone()) {
                dropped.push(e);
            }
        }
        for p in &c.prefixes {
            if let Err(e) = builder.add_prefix(p.clone()) {
                dropped.push(e);
            }
        }
        for p in &c.prompts {
            if let Err(e) = builder.add_prompt(p.clone()) {
                dropped.push(e);
            }
        }
    }
    (builder.build(), dropped)
}

#[cfg(test)]
mod tests {
    use futures::future::BoxFuture;
    use rmcp::model::{JsonObject, Tool};

    use super::*;
    use crate::catalog::ToolMeta;

    struct Nothing;
    impl crate::ToolHandler for Nothing {
        fn call(
            &self,
            _: &crate::CallContext,
            _: JsonObject,
        ) -> BoxFuture<'static, crate::ToolOutcome> {
            Box::pin(async { Ok(rmcp::model::CallToolResult::success(vec![])) })
        }
    }
    impl crate::ReadinessProbe for Nothing {
        fn check(&self) -> BoxFuture<'static, Result<(), String>> {
            Box::pin(async { Ok(()) })
        }
    }

    fn source(name: &str, tools: &[&str]) -> Contribution {
        let mut c = Contribution::empty(SourceEntry {
            name: Arc::from(name),
            probe: Arc::new(Nothing),
            control: None,
            capabilities: Default::default(),
        });
        c.tools = tools
            .iter()
            .map(|t| ToolEntry {
                tool: Tool::new(t.to_string(), "d".to_owned(), Arc::new(JsonObject::new())),
                source: Arc::from(name),
                handler: Arc::new(Nothing),
                meta: ToolMeta::default(),
            })
            .collect();
        c
    }

    fn names(assembly: &Assembly) -> Vec<String> {
        assembly
            .catalog()
            .load()
            .tools()
            .iter()
            .map(|t| t.tool.name.to_string())
            .collect()
    }

    #[test]
    fn replace_swaps_every_source_at_once_and_says_what_changed() {
        let assembly = Assembly::new(crate::catalog::shared(Catalog::builder().build()), None);
        assembly.publish(source("a", &["x"]));
        assembly.publish(source("up", &["u"]));
        let mut changes = assembly.subscribe();
        // `a` rebuilt, `up` kept with its current listing, `c` added.
        let changed = assembly
            .replace(|current| {
                let up = current.iter().find(|c| &*c.source.name == "up").unwrap();
                vec![source("a", &["x"]), up.clone(), source("c", &["z"])]
            })
            .unwrap();
        assert!(changed.tools && !changed.resources && !changed.prompts);
        assert_eq!(changes.try_recv().unwrap(), changed);
        assert_eq!(names(&assembly), ["x", "u", "z"]);
        // The same lists again: nothing to tell.
        let same = assembly.replace(|current| current.to_vec()).unwrap();
        assert!(!same.any());
        assert!(changes.try_recv().is_err());
        // A later publish by a kept source still lands in its place.
        assembly.publish(source("up", &["u", "v"]));
        assert_eq!(names(&assembly), ["x", "u", "v", "z"]);
    }

    #[test]
    fn replace_with_a_name_taken_twice_changes_nothing() {
        let assembly = Assembly::new(crate::catalog::shared(Catalog::builder().build()), None);
        assembly.publish(source("a", &["x"]));
        let mut changes = assembly.subscribe();
        let dups = assembly
            .replace(|_| vec![source("a", &["x"]), source("b", &["x"])])
            .unwrap_err();
        assert_eq!(dups.len(), 1);
        assert_eq!(dups[0].name, "x");
        assert_eq!(names(&assembly), ["x"]);
        assert_eq!(assembly.catalog().load().sources().len(), 1);
        assert!(changes.try_recv().is_err());
    }
}
