//! Counters of authentication decisions, JWKS fetches, cache use and signature checks, all with
//! bounded labels (the method, a fixed outcome and a `reason` from a fixed set), registered by
//! the server into its `/metrics` registry.
//!
//! - `toolgate_auth_decisions_total{method, outcome, reason}`: one per authenticated request.
//! - `toolgate_auth_jwks_fetches_total{outcome}`: discovery and JWKS requests (`ok`, `error`).
//! - `toolgate_auth_token_cache_total{result}`: verified-token cache lookups (`hit`, `miss`).
//! - `toolgate_auth_signature_checks_total`: JWT signatures actually verified.
//! - `toolgate_auth_introspections_total{outcome}`: requests to the introspection endpoint.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    method: &'static str,
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// The counters (cheap to clone: each is an `Arc`).
#[derive(Clone)]
pub(crate) struct AuthMetrics {
    decisions: Family<DecisionLabels, Counter>,
    jwks_fetches: Family<OutcomeLabels, Counter>,
    cache: Family<ResultLabels, Counter>,
    signature_checks: Counter,
    introspections: Family<OutcomeLabels, Counter>,
    /// The counters every request with a reused token increments, resolved once (a family
    /// lookup hashes its labels under a lock on every call).
    hot: HotCounters,
}

#[derive(Clone)]
struct HotCounters {
    cache_hit: Counter,
    cached_jwt: Counter,
    cached_introspection: Counter,
}

impl Default for AuthMetrics {
    fn default() -> Self {
        let decisions = Family::<DecisionLabels, Counter>::default();
        let cache = Family::<ResultLabels, Counter>::default();
        let cached = |method| {
            decisions
                .get_or_create(&DecisionLabels {
                    method,
                    outcome: "accepted",
                    reason: "cached",
                })
                .clone()
        };
        let hot = HotCounters {
            cache_hit: cache.get_or_create(&ResultLabels { result: "hit" }).clone(),
            cached_jwt: cached("jwt"),
            cached_introspection: cached("introspection"),
        };
        AuthMetrics {
            decisions,
            jwks_fetches: Family::default(),
            cache,
            signature_checks: Counter::default(),
            introspections: Family::default(),
            hot,
        }
    }
}

impl AuthMetrics {
    /// A request authenticated from the verified-token cache: one cache hit and one
    /// `accepted`/`cached` decision, through counters resolved at construction.
    pub fn cached(&self, method: toolgate_core::AuthMethod) {
        self.hot.cache_hit.inc();
        match method {
            toolgate_core::AuthMethod::Jwt => {
                self.hot.cached_jwt.inc();
            }
            toolgate_core::AuthMethod::Introspection => {
                self.hot.cached_introspection.inc();
            }
            other @ (toolgate_core::AuthMethod::ApiKey | toolgate_core::AuthMethod::Configured) => {
                self.decision(other.as_str(), "accepted", "cached");
            }
        }
    }

    pub fn decision(&self, method: &'static str, outcome: &'static str, reason: &'static str) {
        self.decisions
            .get_or_create(&DecisionLabels {
                method,
                outcome,
                reason,
            })
            .inc();
    }

    pub fn jwks_fetch(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.jwks_fetches
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn cache(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.cache.get_or_create(&ResultLabels { result }).inc();
    }

    pub fn signature_check(&self) {
        self.signature_checks.inc();
    }

    pub fn introspection(&self, outcome: &'static str) {
        self.introspections
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// How many signatures were verified so far (tests and the cost example read it).
    pub fn signature_checks(&self) -> u64 {
        self.signature_checks.get()
    }

    /// How many JWKS or discovery fetches were made so far.
    pub fn jwks_fetches(&self) -> u64 {
        ["ok", "error"]
            .into_iter()
            .map(|outcome| {
                self.jwks_fetches
                    .get_or_create(&OutcomeLabels { outcome })
                    .get()
            })
            .sum()
    }

    pub fn register(&self, registry: &mut Registry) {
        let auth = registry.sub_registry_with_prefix("toolgate_auth");
        auth.register(
            "decisions",
            "Authentication decisions by method, outcome and reason",
            self.decisions.clone(),
        );
        auth.register(
            "jwks_fetches",
            "Requests for OIDC discovery documents and JWKS, by outcome",
            self.jwks_fetches.clone(),
        );
        auth.register(
            "token_cache",
            "Verified-token cache lookups, by result",
            self.cache.clone(),
        );
        auth.register(
            "signature_checks",
            "JWT signatures verified (cache misses that reached the crypto)",
            self.signature_checks.clone(),
        );
        auth.register(
            "introspections",
            "Requests to the RFC 7662 introspection endpoint, by outcome",
            self.introspections.clone(),
        );
    }
}
