//! The pipeline's policies (`authorization`, `audit`, `recording`, `rate_limits`, `resilience`) built from
//! a configuration, at start and again on each reload, and put in force by swapping the whole
//! pipeline ([`toolgate_policy::live::LivePipeline`]).
//!
//! A reload builds the new policies off the serving path and fails, changing nothing, when
//! one does not compile. A section that did not change is carried over as the very same
//! value (its state with it); one that changed is rebuilt, keeping what its settings allow
//! (see [`toolgate_policy::limits::RateLimits::reconfigured`] and
//! [`toolgate_policy::Resilience::reconfigured`]).
//!
//! Does not own: the layers themselves (toolgate-policy) or when a reload happens
//! (crate::reload).

use std::sync::Arc;
use std::time::Duration;

use toolgate_core::SharedCatalog;
use toolgate_policy::Metrics;
use toolgate_policy::limits::{HttpLimits, LimitMetrics, RateLimits};
use toolgate_policy::live::{Active, LivePipeline};
use toolgate_policy::stack::Policies;

use crate::Failure;
use crate::config::{self, Config, SourceConfig};

/// Builds the policies of a configuration and puts them in force.
pub struct PolicyBuilder {
    catalog: SharedCatalog,
    metrics: Arc<Metrics>,
    limit_metrics: LimitMetrics,
    /// Whether callers are authenticated (the `auth` section, which needs a restart).
    authentication: bool,
    live: LivePipeline,
}

/// The sections whose policies a reload rebuilt.
pub type Rebuilt = Vec<&'static str>;

impl PolicyBuilder {
    /// Builds the policies of `config` at start and the pipeline applying them; `metrics`
    /// must have `limit_metrics` and the returned policies' resilience metrics registered
    /// (see [`crate::run::assemble`]).
    pub fn start(
        catalog: SharedCatalog,
        metrics: Arc<Metrics>,
        limit_metrics: LimitMetrics,
        authentication: bool,
        policies: Policies,
    ) -> Self {
        let pipeline =
            toolgate_policy::stack::build_with(catalog.clone(), metrics.clone(), policies.clone());
        PolicyBuilder {
            catalog,
            metrics,
            limit_metrics,
            authentication,
            live: LivePipeline::new(pipeline, policies),
        }
    }

    /// The pipeline in force (give it to the gateway).
    pub fn live(&self) -> &LivePipeline {
        &self.live
    }

    /// The policies of `config`, reloaded over those in force for `running`: unchanged
    /// sections are carried over as they are. Nothing is put in force. Fails with every
    /// problem of the first section that does not compile.
    pub async fn rebuild(
        &self,
        running: &Config,
        config: &Config,
    ) -> Result<(Policies, Rebuilt), String> {
        let current = self.live.current();
        let current = &current.policies;
        let mut rebuilt = Vec::new();
        let mut next = current.clone();
        if !same_json(&running.authorization, &config.authorization) {
            next.authz = authorization(config, self.authentication, &self.metrics)
                .map_err(|f| f.to_string())?;
            // The meta-tools find and describe by the authorization in force.
            next.meta = meta_tools(config, &next.authz);
            rebuilt.push("authorization");
        }
        if !same_json(&running.audit, &config.audit) {
            next.audit = audit(config).map_err(|f| f.to_string())?;
            rebuilt.push("audit");
        }
        if !same_json(&running.recording, &config.recording) {
            // The previous recorder writes what it has queued when its last pipeline is dropped.
            next.recording = recording(config).map_err(|f| f.to_string())?;
            rebuilt.push("recording");
        }
        if !same_json(&running.rate_limits, &config.rate_limits) {
            next.limits = rate_limits(config, &self.limit_metrics, current.limits.as_deref())
                .await
                .map_err(|f| f.to_string())?;
            next.http_limits =
                http_limits(config, &self.limit_metrics, current.http_limits.as_deref())
                    .map_err(|f| f.to_string())?;
            rebuilt.push("rate_limits");
        }
        let names =
            |c: &Config| -> Vec<String> { c.sources.iter().map(|s| s.name().to_owned()).collect() };
        let resilience_changed = !same_json(&running.resilience, &config.resilience);
        if resilience_changed || names(running) != names(config) {
            let sources = config.sources.iter().map(SourceConfig::name);
            next.resilience = Some(match &current.resilience {
                Some(r) => r.reconfigured(config.resilience.clone(), sources),
                None => toolgate_policy::Resilience::new(config.resilience.clone(), sources),
            });
            if resilience_changed {
                rebuilt.push("resilience");
            }
        }
        Ok((next, rebuilt))
    }

    /// Builds the pipeline applying `policies` and puts it in force; returns what was (for
    /// [`PolicyBuilder::restore`]). Calls in flight finish on the pipeline they started on.
    pub fn install(&self, policies: Policies) -> Arc<Active> {
        let pipeline = toolgate_policy::stack::build_with(
            self.catalog.clone(),
            self.metrics.clone(),
            policies.clone(),
        );
        self.live.replace(Arc::new(Active { pipeline, policies }))
    }

    /// Puts `previous` back in force (a rolled-back reload).
    pub fn restore(&self, previous: Arc<Active>) {
        self.live.replace(previous);
    }
}

fn same_json<T: serde::Serialize>(a: &T, b: &T) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}

/// Whether callers are authenticated (an `auth` section): then authorization denies by
/// default even without an `authorization` section.
pub fn authentication_enabled(config: &Config) -> bool {
    config.auth.is_some()
}

/// The optional policies of the pipeline that need no I/O to build: authorization (when
/// configured or when callers are authenticated) and the audit log.
pub fn policies(
    config: &Config,
    authentication: bool,
    metrics: &Arc<Metrics>,
) -> Result<Policies, Failure> {
    let authz = authorization(config, authentication, metrics)?;
    Ok(Policies {
        meta: meta_tools(config, &authz),
        authz,
        audit: audit(config)?,
        recording: recording(config)?,
        limits: None,
        http_limits: None,
        resilience: None,
    })
}

/// The meta-tools, in meta-tool mode: what callers find is filtered by the same
/// authorization as what they may call.
fn meta_tools(
    config: &Config,
    authz: &Option<Arc<toolgate_policy::authz::Authorization>>,
) -> Option<Arc<toolgate_policy::meta::MetaTools>> {
    // A virtual server may use them while the main endpoint does not.
    (config.tool_view().is_some() || crate::endpoints::may_use_meta(config))
        .then(|| toolgate_policy::meta::MetaTools::new(authz.clone()))
}

/// The compiled `authorization` section (also in force, denying everything not allowed,
/// when callers are authenticated without one).
pub(crate) fn authorization(
    config: &Config,
    authentication: bool,
    metrics: &Arc<Metrics>,
) -> Result<Option<Arc<toolgate_policy::authz::Authorization>>, Failure> {
    let section = match (&config.authorization, authentication) {
        (None, false) => return Ok(None),
        (section, _) => section.clone().unwrap_or_default(),
    };
    if section.rules.is_empty() {
        tracing::warn!(
            "authorization is on but no rule is configured: callers see no tool, \
             resource or prompt; add `authorization.rules` (docs/auth.md)"
        );
    }
    let policy =
        toolgate_policy::authz::Policy::compile(&section, authentication).map_err(|errors| {
            Failure::Input(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?;
    Ok(Some(toolgate_policy::authz::Authorization::new(
        policy,
        Some(metrics.clone()),
    )))
}

/// The audit log the configuration names, opened.
fn audit(config: &Config) -> Result<Option<Arc<toolgate_policy::audit::AuditLog>>, Failure> {
    match config.audit.target() {
        None => Ok(None),
        Some(target) => toolgate_policy::audit::AuditLog::open(&target)
            .map(Some)
            .map_err(|e| Failure::Input(format!("audit.file: {e}"))),
    }
}

/// Problems of the `rate_limits` section (paths relative to it) as one input failure.
fn rate_limit_problems(problems: Vec<toolgate_policy::limits::Problem>) -> Failure {
    Failure::Input(
        config::ConfigErrors {
            origin: "rate_limits".to_owned(),
            issues: problems
                .into_iter()
                .map(|p| config::ConfigIssue {
                    location: format!("rate_limits.{}", p.path),
                    message: p.message,
                })
                .collect(),
        }
        .to_string(),
    )
}

/// The configured HTTP request limits (`rate_limits.http`), if any, reconfiguring `previous`
/// on a reload.
pub fn http_limits(
    config: &Config,
    metrics: &LimitMetrics,
    previous: Option<&HttpLimits>,
) -> Result<Option<Arc<HttpLimits>>, Failure> {
    HttpLimits::new(&config.rate_limits.http, metrics, previous).map_err(rate_limit_problems)
}

/// The call recording the configuration asks for, opened.
pub fn recording(
    config: &Config,
) -> Result<Option<Arc<toolgate_policy::record::Recorder>>, Failure> {
    let Some(section) = &config.recording else {
        return Ok(None);
    };
    let recorder = toolgate_policy::record::Recorder::open(section)
        .map_err(|e| Failure::Input(e.to_string()))?;
    tracing::info!(
        path = %section.path,
        sample = section.sample,
        "recording tool calls"
    );
    Ok(Some(recorder))
}

/// The configured rate limits, if any (reconfiguring `previous` on a reload). With Redis,
/// waits up to a second for the first connection so the first calls are decided by the
/// shared limits; past that the gateway serves anyway (the limits decide per
/// `on_unavailable` until Redis answers).
pub async fn rate_limits(
    config: &Config,
    metrics: &LimitMetrics,
    previous: Option<&RateLimits>,
) -> Result<Option<Arc<RateLimits>>, Failure> {
    let section = &config.rate_limits;
    if !section.is_enabled() {
        return Ok(None);
    }
    let built = match previous {
        Some(previous) => previous.reconfigured(section, metrics),
        None => RateLimits::new(section, metrics),
    };
    let limits = built.map_err(rate_limit_problems)?;
    if !limits.connected(Duration::from_secs(1)).await {
        tracing::warn!(
            "the rate limit store (Redis) is not reachable yet: serving with `on_unavailable` until it is"
        );
    }
    tracing::info!(
        limits = section.limits.len(),
        backend = match section.backend {
            toolgate_policy::limits::config::BackendConfig::Memory => "memory",
            toolgate_policy::limits::config::BackendConfig::Redis(_) => "redis",
        },
        "rate limits enabled"
    );
    Ok(Some(limits))
}
