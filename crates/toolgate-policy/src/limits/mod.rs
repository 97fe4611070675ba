//! Rate limits and concurrency caps: the `rate_limits` configuration, compiled into
//! [`RateLimits`], and the pipeline layer enforcing them ([`RateLimitLayer`]).
//!
//! - Rate limits are GCRA (cell-rate) limiters keyed by any combination of caller, tool,
//!   source, client address and a global key, kept in memory (`governor`, per process) or in
//!   Redis (shared by every gateway process, see [`redis`]). Both backends run the same
//!   arithmetic, so they decide alike.
//! - With Redis, `on_unavailable` decides what happens when Redis cannot answer within the
//!   budget: `fail_open` decides with this process's in-memory limiter, `fail_closed`
//!   refuses. Either way the gateway keeps trying Redis and is back on it when it answers.
//! - Concurrency caps count calls in flight per caller and per tool in this process.
//! - `sources.<name>.limits` replace a limit of the same name for one source's calls, or add
//!   limits for that source only (compiled as limits named `<limit>@<source>`, confined to
//!   it; the replaced limit skips that source).
//! - A refusal is a tool failure the model can act on ("rate limit for `create_issue`:
//!   60/min per caller and tool; Retry after 12 s.", with `retryAfter` in `_meta`); for
//!   requests other than `tools/call` it becomes a JSON-RPC error (see `toolgate_core::wire`).
//!
//! - HTTP request limits ([`HttpLimits`], `rate_limits.http`) count raw requests per
//!   connection or client address at the HTTP edge, answered 429 with `Retry-After`.
//!
//! Only calls that reach a source are limited (tool calls, resource reads and subscriptions,
//! prompts, completions); listings and unknown names are answered from the catalog. When
//! several limits apply, each is checked (the first refusal in configuration order answers);
//! with Redis they are checked concurrently, so a call refused by one limit may have used a
//! cell of another.

mod concurrency;
pub mod config;
mod http;
mod key;
mod layer;
mod memory;
mod metrics;
mod redis;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use toolgate_core::{ToolError, ToolErrorKind};

pub use config::{Problem, RateLimitsConfig};
pub use http::{HttpLimits, HttpRefusal};
pub use layer::{RateLimitLayer, RateLimitService};
pub use metrics::LimitMetrics;

use config::{BackendConfig, KeyPart, OnUnavailable, Rate};
use key::{Facts, TargetKind};
use memory::{LocalLimiter, Verdict};

/// One compiled limit.
struct Limit {
    name: Arc<str>,
    parts: Vec<KeyPart>,
    /// E.g. `60/min per caller and tool`.
    described: String,
    /// Emission interval and tolerance (GCRA's T and tau).
    t: Duration,
    tau: Duration,
    tools: Option<globset::GlobSet>,
    sources: Vec<String>,
    /// Sources that replace this limit with their own (`rate_limits.sources.<name>`).
    except: Vec<String>,
    /// The in-memory limiter: the limit itself, or with Redis the `fail_open` fallback.
    local: Arc<LocalLimiter>,
    counters: metrics::LimitCounters,
}

impl Limit {
    fn applies(&self, facts: &Facts<'_>) -> bool {
        if let Some(tools) = &self.tools
            && (facts.kind != TargetKind::Tool || !tools.is_match(facts.name))
        {
            return false;
        }
        (self.sources.is_empty() || self.sources.iter().any(|s| **s == *facts.source))
            && !self.except.iter().any(|s| **s == *facts.source)
    }

    fn refusal(&self, facts: &Facts<'_>, wait: Duration) -> ToolError {
        // Whole seconds, rounded up: the text, `_meta.retryAfter` and a client waiting that
        // long all agree, and a call retried after that long conforms.
        let secs = wait.as_micros().div_ceil(1_000_000).max(1) as u64;
        let mut e = ToolError::new(
            ToolErrorKind::Rejected,
            format!(
                "rate limit for `{}`: {} (limit `{}`).",
                facts.name, self.described, self.name
            ),
        );
        e.retryable = true;
        e.retry_after = Some(Duration::from_secs(secs));
        e
    }

    fn unavailable(&self, facts: &Facts<'_>) -> ToolError {
        let mut e = ToolError::new(
            ToolErrorKind::Rejected,
            format!(
                "rate limit for `{}` cannot be checked: the gateway's shared rate limit store is \
                 unavailable and limit `{}` refuses calls until it answers again.",
                facts.name, self.name
            ),
        );
        e.retryable = true;
        e.retry_after = Some(Duration::from_secs(1));
        e
    }

    /// Counts and turns a verdict into the call's fate.
    fn settle(&self, facts: &Facts<'_>, verdict: Verdict) -> Result<(), ToolError> {
        match verdict {
            Verdict::Allow => {
                self.counters.allowed.inc();
                Ok(())
            }
            Verdict::Deny(wait) => {
                self.counters.limited.inc();
                Err(self.refusal(facts, wait))
            }
        }
    }
}

/// A limit about to be compiled.
struct ToCompile<'a> {
    /// Its name in refusals and metrics (`<limit>@<source>` for a source's own).
    name: String,
    config: &'a config::LimitConfig,
    /// Where it is configured (for errors).
    at: String,
    /// The sources it is confined to (none: all).
    sources: Vec<String>,
    /// The sources that replace it with their own.
    except: Vec<String>,
}

enum Backend {
    Memory,
    Redis {
        store: Arc<redis::RedisStore>,
        on_unavailable: OnUnavailable,
    },
}

/// The compiled `rate_limits` section: every limit, its backend and the concurrency caps.
pub struct RateLimits {
    limits: Vec<Limit>,
    backend: Backend,
    /// What `backend` was made from (a reload keeps the Redis connection when it is the same).
    backend_config: BackendConfig,
    per_subject: Option<Arc<concurrency::Cap>>,
    per_tool: Option<Arc<concurrency::Cap>>,
}

/// The permits a call holds while in flight.
pub(crate) struct Permits(Vec<concurrency::Permit>);

impl Permits {
    /// No cap applied to the call: nothing to hold while it runs.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl RateLimits {
    /// Compiles `config`, recording into `metrics`; every problem at once (paths relative to
    /// `rate_limits`). With Redis, connects in the background (needs a tokio runtime).
    pub fn new(
        config: &RateLimitsConfig,
        metrics: &LimitMetrics,
    ) -> Result<Arc<Self>, Vec<Problem>> {
        Self::build(config, metrics, None)
    }

    /// [`RateLimits::new`] for a reload of `previous`, carrying its state over where the
    /// settings did not change: the in-memory cells of each limit with the same name, rate,
    /// burst and key (callers keep what they used of it), the Redis connection when the
    /// backend is the same, and each concurrency cap with the same maximum (calls in flight
    /// keep counting against it). A limit whose rate, burst or key changed starts empty; so
    /// does a cap whose maximum changed (calls in flight then do not count against the new
    /// one). With Redis, the cells live in Redis, keyed by limit name: they survive anyway.
    pub fn reconfigured(
        &self,
        config: &RateLimitsConfig,
        metrics: &LimitMetrics,
    ) -> Result<Arc<Self>, Vec<Problem>> {
        Self::build(config, metrics, Some(self))
    }

    fn build(
        config: &RateLimitsConfig,
        metrics: &LimitMetrics,
        previous: Option<&RateLimits>,
    ) -> Result<Arc<Self>, Vec<Problem>> {
        let mut problems = config.problems();
        if !problems.is_empty() {
            return Err(problems);
        }
        // Every limit to compile: the top-level ones, then each source's.
        let mut all: Vec<ToCompile<'_>> = Vec::new();
        for (i, l) in config.limits.iter().enumerate() {
            all.push(ToCompile {
                name: l.name.clone(),
                config: l,
                at: format!("limits[{i}]"),
                sources: l.applies_to.sources.clone(),
                except: config
                    .sources
                    .iter()
                    .filter(|(_, s)| s.limits.iter().any(|o| o.name == l.name))
                    .map(|(name, _)| name.clone())
                    .collect(),
            });
        }
        for (source, s) in &config.sources {
            for (i, l) in s.limits.iter().enumerate() {
                all.push(ToCompile {
                    name: format!("{}@{source}", l.name),
                    config: l,
                    at: format!("sources.{source}.limits[{i}]"),
                    sources: vec![source.clone()],
                    except: Vec::new(),
                });
            }
        }
        let mut limits = Vec::new();
        for ToCompile {
            name,
            config: l,
            at,
            sources,
            except,
        } in all
        {
            let rate = Rate::parse(&l.rate).map_err(|message| {
                vec![Problem {
                    path: format!("{at}.rate"),
                    message,
                }]
            })?;
            let burst = l
                .burst
                .and_then(NonZeroU32::new)
                .or(NonZeroU32::new(rate.count))
                .unwrap_or(NonZeroU32::MIN);
            let tools = if l.applies_to.tools.is_empty() {
                None
            } else {
                let mut set = globset::GlobSetBuilder::new();
                for g in &l.applies_to.tools {
                    // Checked by `problems`.
                    if let Ok(g) = globset::Glob::new(g) {
                        set.add(g);
                    }
                }
                set.build().ok()
            };
            let t = rate.emission_interval();
            let tau = t * (burst.get() - 1);
            let same = previous.and_then(|p| {
                p.limits
                    .iter()
                    .find(|o| *o.name == *name && o.t == t && o.tau == tau && o.parts == l.per)
            });
            limits.push(Limit {
                parts: l.per.clone(),
                described: format!("{rate} {}", key::describe(&l.per)),
                t,
                tau,
                tools,
                sources,
                except,
                counters: metrics.limit(&name),
                name: Arc::from(name.as_str()),
                local: match same {
                    Some(o) => o.local.clone(),
                    None => LocalLimiter::new(rate, burst),
                },
            });
        }
        let kept_backend = previous
            .filter(|p| p.backend_config == config.backend)
            .and_then(|p| match &p.backend {
                Backend::Memory => None,
                Backend::Redis {
                    store,
                    on_unavailable,
                } => Some(Backend::Redis {
                    store: store.clone(),
                    on_unavailable: *on_unavailable,
                }),
            });
        let backend = match &config.backend {
            BackendConfig::Memory => Backend::Memory,
            BackendConfig::Redis(_) if kept_backend.is_some() => {
                kept_backend.expect("checked just above")
            }
            BackendConfig::Redis(r) => match redis::RedisStore::new(r, metrics.clone()) {
                Ok(store) => Backend::Redis {
                    store: Arc::new(store),
                    on_unavailable: r.on_unavailable,
                },
                Err(message) => {
                    problems.push(Problem {
                        path: "backend.url".to_owned(),
                        message,
                    });
                    return Err(problems);
                }
            },
        };
        let cap = |name, max: Option<u32>, old: Option<&Arc<concurrency::Cap>>| {
            max.map(|m| match old {
                Some(old) if old.max == m => old.clone(),
                _ => concurrency::Cap::new(name, m, metrics.cap_counter(name)),
            })
        };
        Ok(Arc::new(RateLimits {
            limits,
            backend,
            backend_config: config.backend.clone(),
            per_subject: cap(
                "per_subject",
                config.concurrency.per_subject,
                previous.and_then(|p| p.per_subject.as_ref()),
            ),
            per_tool: cap(
                "per_tool",
                config.concurrency.per_tool,
                previous.and_then(|p| p.per_tool.as_ref()),
            ),
        }))
    }

    /// Waits up to `within` for the shared store to be connected: true when it is (or when
    /// limits are kept in memory). Serving does not need it: until then Redis-backed limits
    /// decide per `on_unavailable`.
    pub async fn connected(&self, within: Duration) -> bool {
        match &self.backend {
            Backend::Memory => true,
            Backend::Redis { store, .. } => store.connected(within).await,
        }
    }

    /// Takes the concurrency permits of a call, or refuses it.
    fn admit(&self, facts: &Facts<'_>) -> Result<Permits, ToolError> {
        let mut permits = Vec::new();
        for (cap, key, whose) in [
            (&self.per_subject, None, "this caller"),
            (&self.per_tool, Some(facts.name), "this tool"),
        ] {
            let Some(cap) = cap else { continue };
            let key = match key {
                Some(name) => name.to_string(),
                None => facts.caller_key(),
            };
            match cap.try_acquire(key) {
                Some(p) => permits.push(p),
                None => {
                    let mut e = ToolError::new(
                        ToolErrorKind::Overloaded,
                        format!(
                            "too many calls in flight: {whose} may have {} at once (`rate_limits.concurrency.{}`); call `{}` again when one of them has finished.",
                            cap.max, cap.name, facts.name
                        ),
                    );
                    e.retry_after = Some(Duration::from_secs(1));
                    return Err(e);
                }
            }
        }
        Ok(Permits(permits))
    }

    /// Whether every limit is decided in memory (synchronously).
    fn is_local(&self) -> bool {
        matches!(self.backend, Backend::Memory)
    }

    /// Decides every limit in memory; the first refusal answers.
    fn decide_local(&self, facts: &Facts<'_>) -> Result<(), ToolError> {
        thread_local! {
            /// The key being decided: reused, so a decision allocates nothing.
            static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        for limit in self.limits.iter().filter(|l| l.applies(facts)) {
            let verdict = KEY.with_borrow_mut(|key| {
                key.clear();
                facts.write_key(&limit.parts, key);
                limit.local.check(key)
            });
            limit.settle(facts, verdict)?;
        }
        Ok(())
    }

    /// Decides every limit (in Redis, concurrently, when so configured).
    async fn decide(&self, facts: &Facts<'_>) -> Result<(), ToolError> {
        let Backend::Redis {
            store,
            on_unavailable,
        } = &self.backend
        else {
            return self.decide_local(facts);
        };
        let checks = self
            .limits
            .iter()
            .filter(|l| l.applies(facts))
            .map(|limit| {
                let key = facts.key(&limit.parts);
                async move {
                    match store.decide(&limit.name, &key, limit.t, limit.tau).await {
                        Ok(verdict) => limit.settle(facts, verdict),
                        Err(_failure) => match on_unavailable {
                            OnUnavailable::FailOpen => {
                                limit.counters.fallback.inc();
                                limit.settle(facts, limit.local.check(&key))
                            }
                            OnUnavailable::FailClosed => {
                                limit.counters.unavailable.inc();
                                Err(limit.unavailable(facts))
                            }
                        },
                    }
                }
            });
        futures::future::join_all(checks)
            .await
            .into_iter()
            .collect::<Result<Vec<()>, ToolError>>()
            .map(drop)
    }
}

#[cfg(test)]
mod tests;
