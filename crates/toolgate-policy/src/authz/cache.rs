//! What a caller may see, computed once per distinct [`Grant`] and catalog, not per call.
//!
//! Filtering a 1,223-tool catalog against a handful of rules costs microseconds per tool;
//! doing it on every `tools/list` would make listing cost grow with the catalog. The
//! visible set depends only on the catalog and on which rules apply to the caller, so it is
//! keyed by the [`Grant`] (callers to whom the same rules apply share one set) and dropped
//! as a whole when the catalog is replaced (reload, an upstream's `list_changed`): the cache
//! remembers the catalog it was filled for (a `Weak`, so it neither keeps an old catalog's
//! contents alive nor mistakes a new catalog allocated at the same address for it). Several
//! catalogs are live at once when virtual servers are configured (each endpoint's view is a
//! catalog of its own: `toolgate_core::endpoint`), so the sets of up to [`MAX_CATALOGS`] are
//! kept side by side, and those of a catalog no longer alive are dropped.
//!
//! Hand-written rather than `moka`: the invalidation is "a different catalog", which a
//! map and one pointer comparison express directly, and the number of keys is bounded by
//! the distinct rule combinations in use (capped at [`MAX_SETS`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use hashbrown::HashMap;
use toolgate_core::Catalog;

use super::rules::{Grant, Item, Policy};

/// Distinct visible sets kept per catalog; past it the cache starts over (a deployment has
/// a few roles, not thousands).
pub const MAX_SETS: usize = 1024;

/// Catalogs whose sets are kept at once (the main one and each endpoint's view of it).
pub const MAX_CATALOGS: usize = 64;

/// The positions, in the catalog, of what one grant may see (in catalog order, so listings
/// stay deterministic and cursors stay valid).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Visible {
    /// Positions in [`Catalog::tools`].
    pub tools: Vec<usize>,
    /// Positions in [`Catalog::resources`].
    pub resources: Vec<usize>,
    /// Positions in [`Catalog::templates`].
    pub templates: Vec<usize>,
    /// Positions in [`Catalog::prompts`].
    pub prompts: Vec<usize>,
}

impl Visible {
    /// What `grant` may see of `catalog`.
    pub fn compute(policy: &Policy, grant: &Grant, catalog: &Catalog) -> Visible {
        fn keep<T>(items: &[T], allowed: impl Fn(&T) -> bool) -> Vec<usize> {
            items
                .iter()
                .enumerate()
                .filter(|(_, e)| allowed(e))
                .map(|(i, _)| i)
                .collect()
        }
        let ok = |item: Item<'_>| policy.decide(grant, &item).allowed;
        Visible {
            tools: keep(catalog.tools(), |e| ok(Item::Tool(e))),
            resources: keep(catalog.resources(), |e| {
                ok(Item::Resource {
                    uri: &e.resource.uri,
                    source: &e.source,
                })
            }),
            templates: keep(catalog.templates(), |e| {
                ok(Item::Resource {
                    uri: &e.template.uri_template,
                    source: &e.source,
                })
            }),
            prompts: keep(catalog.prompts(), |e| ok(Item::Prompt(e))),
        }
    }
}

struct Slot {
    catalog: Weak<Catalog>,
    sets: HashMap<Grant, Arc<Visible>>,
}

/// One slot per live catalog (a handful: few enough to scan).
struct State {
    slots: Vec<Slot>,
}

/// The visible sets of the current catalog, by grant.
pub struct VisibleCache {
    state: Mutex<State>,
    computations: AtomicU64,
}

impl Default for VisibleCache {
    fn default() -> Self {
        VisibleCache {
            state: Mutex::new(State { slots: Vec::new() }),
            computations: AtomicU64::new(0),
        }
    }
}

impl VisibleCache {
    /// What `grant` may see of `catalog`, computed at most once per catalog and grant.
    pub fn get(&self, policy: &Policy, grant: &Grant, catalog: &Arc<Catalog>) -> Arc<Visible> {
        {
            let state = self.lock();
            if let Some(hit) = state
                .slots
                .iter()
                .find(|s| s.catalog.as_ptr() == Arc::as_ptr(catalog))
                .and_then(|s| s.sets.get(grant))
            {
                return hit.clone();
            }
        }
        // Computed outside the lock: other grants' lookups do not wait for it. Two callers
        // racing on a new grant may both compute it; both get equal sets.
        let visible = Arc::new(Visible::compute(policy, grant, catalog));
        self.computations.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        let at = match state
            .slots
            .iter()
            .position(|s| s.catalog.as_ptr() == Arc::as_ptr(catalog))
        {
            Some(at) => at,
            None => {
                // A catalog nobody holds any more will never be asked for again.
                state.slots.retain(|s| s.catalog.strong_count() > 0);
                if state.slots.len() >= MAX_CATALOGS {
                    state.slots.clear();
                }
                state.slots.push(Slot {
                    catalog: Arc::downgrade(catalog),
                    sets: HashMap::new(),
                });
                state.slots.len() - 1
            }
        };
        let slot = &mut state.slots[at];
        if slot.sets.len() >= MAX_SETS {
            slot.sets.clear();
        }
        slot.sets.insert(grant.clone(), visible.clone());
        visible
    }

    /// How many visible sets were computed so far (for tests and diagnostics).
    pub fn computations(&self) -> u64 {
        self.computations.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Each update is complete before the lock is released: a panic cannot tear it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
