//! Authorization: who may call and see which tools, resources and prompts.
//!
//! - `config`: the `authorization:` section (serde + JSON Schema types, the reference);
//! - `rules`: the compiled rules and the one implementation of matching
//!   ([`Policy::grant`], [`Policy::decide`]);
//! - `cache`: the visible set per distinct grant, computed once per catalog;
//! - `selection`: what a virtual server (`endpoints:`) serves, in the rules' vocabulary;
//! - `layer`: the pipeline layer that enforces it (refusals look exactly like unknown names;
//!   listings are filtered).
//!
//! `toolgate access` uses the same [`Policy`] to print what a caller gets, and why.

pub mod cache;
pub mod config;
pub mod layer;
pub mod rules;
pub mod selection;

use std::sync::Arc;

use toolgate_core::{Catalog, Decision};

pub use cache::{Visible, VisibleCache};
pub use config::AuthorizationConfig;
pub use layer::AuthzLayer;
pub use rules::{Grant, Item, Policy, Rule, RuleError};
pub use selection::{EndpointSelect, Selection};

use crate::Metrics;

/// A compiled policy with its visible-set cache and its decision counters: what the layer
/// shares between all calls.
pub struct Authorization {
    policy: Policy,
    cache: VisibleCache,
    metrics: Option<Arc<Metrics>>,
}

impl Authorization {
    /// Enforces `policy`; decisions are counted in `metrics` when given.
    pub fn new(policy: Policy, metrics: Option<Arc<Metrics>>) -> Arc<Self> {
        Arc::new(Authorization {
            policy,
            cache: VisibleCache::default(),
            metrics,
        })
    }

    /// The compiled rules.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// What `grant` may see of `catalog` (cached per catalog and grant).
    pub fn visible(&self, grant: &Grant, catalog: &Arc<Catalog>) -> Arc<Visible> {
        self.cache.get(&self.policy, grant, catalog)
    }

    /// How many visible sets were computed so far.
    pub fn visible_computations(&self) -> u64 {
        self.cache.computations()
    }

    /// The decision recorded for a listing (filtered, never refused).
    fn listing_decision(&self) -> Decision {
        Decision {
            allowed: true,
            reason: "listing",
            rule: None,
        }
    }

    fn count(&self, decision: &Decision) {
        if let Some(m) = &self.metrics {
            m.record_authz(decision.allowed, decision.reason);
        }
    }
}
