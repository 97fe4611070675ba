//! An optional cache of tool results, for read-only tools configured with a `cache` block
//! (`resilience.responses.tools.<name>.cache`).
//!
//! - Only tools annotated `readOnlyHint: true` are cached (for OpenAPI sources GET, HEAD and
//!   OPTIONS operations; mark another tool read-only with the source's `compile.overrides`).
//! - The key is the tool, its arguments in canonical form (object keys sorted) and the
//!   caller's partition: the authenticated subject by default, so one caller never sees
//!   another's answer. A call without an authenticated subject is not cached unless the tool's
//!   cache is `shared: true` (one partition for everyone: only for public data).
//! - Only successful results are stored, never a result its backend marked
//!   `Cache-Control: no-store` or `private` (seen as `_meta."toolgate/no-store"`) unless
//!   `ignore_cache_control: true`.
//! - Each entry lives `ttl_ms`; the cache holds at most `max_entries` entries and `max_bytes`
//!   bytes of results (`moka`, evicting the least useful entries first: an entry weighs its
//!   size, and at least `max_bytes / max_entries`, which bounds both).
//!
//! Metrics: `toolgate_cache_lookups_total{tool, result}` with `hit`, `miss` or `bypass` (a
//! call that could not be cached: no subject, or not read-only).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rmcp::model::{CallToolResult, JsonObject};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use toolgate_core::{GatewayError, McpCall, McpRequest, McpResponse, wire};
use tower::{Layer, Service};

use crate::size::{ResponsesConfig, result_size};

/// Bounds of the response cache (shared by every cached tool).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Most results kept.
    pub max_entries: u64,
    /// Most bytes of results kept.
    pub max_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 10_000,
            max_bytes: 64 << 20,
        }
    }
}

impl CacheConfig {
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.max_entries == 0 {
            out.push(("max_entries", "must be at least 1".to_owned()));
        }
        if self.max_bytes < 1024 {
            out.push(("max_bytes", "must be at least 1024".to_owned()));
        }
        out
    }
}

/// Caching of one tool's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ToolCacheConfig {
    /// How long a result is served from the cache, in milliseconds.
    pub ttl_ms: u64,
    /// One cache for every caller (public data only); by default each authenticated
    /// subject has its own, and calls without a subject are not cached.
    pub shared: bool,
    /// Cache results even when the backend said `Cache-Control: no-store` or `private`.
    pub ignore_cache_control: bool,
}

impl Default for ToolCacheConfig {
    fn default() -> Self {
        ToolCacheConfig {
            ttl_ms: 30_000,
            shared: false,
            ignore_cache_control: false,
        }
    }
}

impl ToolCacheConfig {
    pub(crate) fn problems(&self) -> Vec<(&'static str, String)> {
        if self.ttl_ms == 0 {
            vec![("ttl_ms", "must be at least 1 ms".to_owned())]
        } else {
            Vec::new()
        }
    }
}

struct Entry {
    result: CallToolResult,
    ttl: Duration,
    size: usize,
}

struct PerEntryTtl;

impl moka::Expiry<String, Arc<Entry>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Arc<Entry>,
        _now: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct LookupLabels {
    tool: String,
    result: &'static str,
}

/// The lookup counters of the response cache (registered once, shared by the caches a
/// reload makes).
pub(crate) type Lookups = Family<LookupLabels, Counter>;

/// The response cache and the tools it serves.
pub struct ResponseCache {
    cache: moka::sync::Cache<String, Arc<Entry>>,
    tools: BTreeMap<String, ToolCacheConfig>,
    /// What it was made from (a reload keeps the cache when this did not change).
    bounds: CacheConfig,
    lookups: Lookups,
}

impl ResponseCache {
    /// The cache `config` describes, or `None` when no tool is cached.
    pub fn new(config: &ResponsesConfig) -> Option<Arc<Self>> {
        Self::counted(config, Lookups::default())
    }

    /// [`ResponseCache::new`], counting lookups in `lookups`.
    pub(crate) fn counted(config: &ResponsesConfig, lookups: Lookups) -> Option<Arc<Self>> {
        let tools: BTreeMap<String, ToolCacheConfig> = config
            .tools
            .iter()
            .filter_map(|(name, t)| t.cache.clone().map(|c| (name.clone(), c)))
            .collect();
        if tools.is_empty() {
            return None;
        }
        let bounds = &config.cache;
        let floor = (bounds.max_bytes / bounds.max_entries.max(1)).max(1);
        let cache = moka::sync::Cache::builder()
            .max_capacity(bounds.max_bytes)
            .weigher(move |_k: &String, v: &Arc<Entry>| {
                u32::try_from((v.size as u64).max(floor)).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Some(Arc::new(ResponseCache {
            cache,
            tools,
            bounds: bounds.clone(),
            lookups,
        }))
    }

    /// Whether `config` describes this very cache (same bounds, same cached tools with the
    /// same settings): a reload then keeps it, entries included.
    pub fn serves(&self, config: &ResponsesConfig) -> bool {
        self.bounds == config.cache
            && config
                .tools
                .iter()
                .filter_map(|(name, t)| t.cache.as_ref().map(|c| (name, c)))
                .eq(self.tools.iter())
    }

    /// Registers the metrics in `registry` (the gateway's, prefixed `toolgate`).
    pub fn register(&self, registry: &mut Registry) {
        register_lookups(registry, &self.lookups);
    }

    fn count(&self, tool: &str, result: &'static str) {
        self.lookups
            .get_or_create(&LookupLabels {
                tool: tool.to_owned(),
                result,
            })
            .inc();
    }
}

/// Registers `lookups` as `toolgate_cache_lookups_total`.
pub(crate) fn register_lookups(registry: &mut Registry, lookups: &Lookups) {
    registry.register(
        "cache_lookups",
        "Response cache lookups, by tool and result (hit, miss, bypass)",
        lookups.clone(),
    );
}

/// `value` as JSON with every object's keys sorted.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => canonical_object(map, out),
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn canonical_object(map: &JsonObject, out: &mut String) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    out.push('{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::String(k.clone()).to_string());
        out.push(':');
        canonical(&map[k], out);
    }
    out.push('}');
}

/// The cache key of a call, or why it cannot be cached.
fn key(tool: &str, arguments: &JsonObject, partition: &str) -> String {
    let mut key = String::with_capacity(64);
    key.push_str(tool);
    key.push('\0');
    key.push_str(partition);
    key.push('\0');
    canonical_object(arguments, &mut key);
    key
}

/// Serves cached results of the tools a [`ResponseCache`] caches.
#[derive(Clone)]
pub struct CacheLayer {
    cache: Arc<ResponseCache>,
}

impl CacheLayer {
    /// A layer serving from `cache`.
    pub fn new(cache: Arc<ResponseCache>) -> Self {
        CacheLayer { cache }
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = CacheService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CacheService {
            inner,
            cache: self.cache.clone(),
        }
    }
}

/// Service produced by [`CacheLayer`].
#[derive(Clone)]
pub struct CacheService<S> {
    inner: S,
    cache: Arc<ResponseCache>,
}

impl<S> Service<McpCall> for CacheService<S>
where
    S: Service<McpCall, Response = McpResponse, Error = GatewayError>,
    S::Future: Send + 'static,
{
    type Response = McpResponse;
    type Error = GatewayError;
    type Future = BoxFuture<'static, Result<McpResponse, GatewayError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: McpCall) -> Self::Future {
        let (McpRequest::CallTool { arguments, .. }, Some(entry)) =
            (&call.request, call.resolved.as_ref().and_then(|r| r.tool()))
        else {
            return Box::pin(self.inner.call(call));
        };
        let name = entry.tool.name.as_ref();
        let Some(config) = self.cache.tools.get(name) else {
            return Box::pin(self.inner.call(call));
        };
        let read_only = entry
            .tool
            .annotations
            .as_ref()
            .is_some_and(|a| a.read_only_hint == Some(true));
        let partition = if config.shared {
            Some("")
        } else {
            call.ctx.principal.as_ref().map(|p| p.subject.as_str())
        };
        let (true, Some(partition)) = (read_only, partition) else {
            self.cache.count(name, "bypass");
            return Box::pin(self.inner.call(call));
        };
        let key = key(name, arguments, partition);
        if let Some(hit) = self.cache.cache.get(&key) {
            self.cache.count(name, "hit");
            return Box::pin(std::future::ready(Ok(McpResponse::ToolResult(Ok(hit
                .result
                .clone())))));
        }
        self.cache.count(name, "miss");
        let (ttl, honour) = (
            Duration::from_millis(config.ttl_ms),
            !config.ignore_cache_control,
        );
        let cache = self.cache.clone();
        let fut = self.inner.call(call);
        Box::pin(async move {
            let result = fut.await;
            if let Ok(McpResponse::ToolResult(Ok(r))) = &result
                && r.is_error != Some(true)
                && !(honour && wire::is_no_store(r))
            {
                let size = result_size(r) + key.len();
                cache.cache.insert(
                    key,
                    Arc::new(Entry {
                        result: r.clone(),
                        ttl,
                        size,
                    }),
                );
            }
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_do_not_depend_on_argument_order() {
        let a: JsonObject =
            serde_json::from_value(json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": "s"}}))
                .unwrap();
        let b: JsonObject =
            serde_json::from_value(json!({"a": {"x": "s", "y": [1, {"c": 3, "d": 2}]}, "b": 1}))
                .unwrap();
        assert_eq!(key("t", &a, "alice"), key("t", &b, "alice"));
        assert_ne!(key("t", &a, "alice"), key("t", &a, "bob"));
        assert_ne!(key("t", &a, "alice"), key("u", &a, "alice"));
    }
}
