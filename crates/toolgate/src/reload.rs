//! Hot reload of `serve --config`: on SIGHUP (and, unless `--no-watch`, when the
//! configuration file or a local spec file it names changes: [`crate::reload_watch`]) the configuration and its specs
//! are loaded and compiled off the serving path, validated, and the catalog is swapped
//! atomically through [`Assembly::replace`]. Calls in flight finish on the snapshot they
//! resolved; connected sessions get `notifications/*/list_changed` through the assembly's
//! subscribers.
//!
//! What a reload changes: the `sources` (OpenAPI sources are rebuilt from their configuration
//! and specs; sources added or removed take effect) and the pipeline's policies
//! (`authorization`, `rate_limits`, `resilience`, `audit`: built and checked by
//! [`crate::policies`] before anything is swapped, then swapped with the catalog, and back
//! on a rollback). What needs a restart (a warning names the sections, the running values
//! stay): `server`, `http`, `logging`, `limits`, `auth` and `authorization.stdio_principal`,
//! and OpenAPI sources that mint identity tokens (their keys are served at start). Upstream
//! MCP sources added start, removed ones stop, changed ones stop and start again
//! ([`crate::upstreams`]); unchanged ones keep running.
//!
//! A configuration, spec or policy that fails to load keeps the last known good state, and a
//! source added or changed whose readiness probe still fails [`READINESS_GRACE`] after the swap
//! is swapped back out (upstreams started by the reload stop, the ones it stopped start
//! again): the reason is
//! logged, shown in `/readyz` (`config.last_reload`) and counted in
//! `toolgate_config_reloads_total{outcome}`; `toolgate_config_info{hash}` names the active
//! configuration's hash.
//!
//! Does not own: building a source (crate::sources) or telling clients (the gateway).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use toolgate_core::{Assembly, Contribution};

pub use crate::reload_status::{ReloadMetrics, ReloadStatus, hash_of};

use crate::config::{self, Config, SourceConfig};
use crate::reload_diff::{ReloadDiff, same_json};
use crate::sources;

/// Applies the command line's overrides (`--openapi`, `--base-url`…) to a freshly loaded
/// configuration, as at start.
pub type Prepare = Box<dyn Fn(&mut Config) -> Result<(), crate::Failure> + Send + Sync>;

/// Reloads the configuration of a running gateway.
pub struct Reloader {
    path: PathBuf,
    relative_to: PathBuf,
    assembly: Arc<Assembly>,
    policies: Arc<crate::policies::PolicyBuilder>,
    upstreams: Arc<crate::upstreams::RunningUpstreams>,
    prepare: Prepare,
    /// The configuration in force (what later reloads are compared with).
    running: tokio::sync::Mutex<Config>,
    status: Arc<ReloadStatus>,
    /// The watched files and what they held when the configuration in force was loaded: the
    /// file watcher's baseline, so a change made while a reload runs is not taken for the
    /// loaded state.
    loaded: std::sync::Mutex<crate::reload_watch::Contents>,
}

/// The new catalog's sources and what to check after the swap.
struct Plan {
    /// In configuration order.
    entries: Vec<Planned>,
    /// The source configurations in force afterwards.
    kept: Vec<SourceConfig>,
    /// The OpenAPI sources added or changed: they must answer their readiness probe within
    /// [`READINESS_GRACE`] after the swap, or the reload is rolled back.
    probed: Vec<String>,
    /// The sources built (for the schema warnings after the swap).
    built: Vec<sources::BuiltSource>,
    /// Upstream MCP sources added or changed: created, started after the swap.
    start: Vec<toolgate_upstream::Upstream>,
    /// Running upstream MCP sources removed or changed: stopped after the swap.
    stop: Vec<String>,
}

/// How long a source added or changed by a reload has to become ready before the reload is
/// rolled back.
pub const READINESS_GRACE: Duration = Duration::from_secs(5);

/// Where an entry of the new catalog comes from.
enum Planned {
    Fresh(Box<Contribution>),
    Keep(String),
}

impl Reloader {
    /// A reloader of the configuration at `path`, running as `running`.
    pub fn new(
        path: PathBuf,
        assembly: Arc<Assembly>,
        policies: Arc<crate::policies::PolicyBuilder>,
        upstreams: Arc<crate::upstreams::RunningUpstreams>,
        running: Config,
        prepare: Prepare,
        status: Arc<ReloadStatus>,
    ) -> Arc<Self> {
        Arc::new(Reloader {
            relative_to: crate::run::parent_dir(&path),
            path,
            assembly,
            policies,
            upstreams,
            prepare,
            running: tokio::sync::Mutex::new(running),
            status,
            loaded: std::sync::Mutex::new(Default::default()),
        })
    }

    /// The files whose changes trigger a reload, with what they held when the configuration in
    /// force was loaded (before the first reload: when this is first called).
    pub async fn watched(&self) -> crate::reload_watch::Contents {
        let running = self.running.lock().await;
        let mut loaded = self.loaded.lock().expect("not poisoned").clone();
        if loaded.is_empty() {
            loaded = crate::reload_watch::read_contents(&self.files_of(&running)).await;
            *self.loaded.lock().expect("not poisoned") = loaded.clone();
        }
        loaded
    }

    /// The files whose changes trigger a reload of `config`: the configuration and its local
    /// spec files.
    fn files_of(&self, config: &Config) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone()];
        for s in &config.sources {
            if let SourceConfig::OpenApi(s) = s
                && let config::SpecLocation::Location(l) = &s.spec
                && !l.starts_with("http://")
                && !l.starts_with("https://")
            {
                files.push(self.relative_to.join(l));
            }
        }
        files
            .into_iter()
            .map(|f| std::path::absolute(&f).unwrap_or(f))
            .collect()
    }

    /// Reloads once (`trigger` says why, for the log). Returns what changed when the new
    /// configuration is in force; on failure the last known good one stays and the reason is
    /// recorded (and returned).
    pub async fn reload(&self, trigger: &str) -> Result<ReloadDiff, String> {
        let mut running = self.running.lock().await;
        let started = Instant::now();
        tracing::info!(trigger, path = %self.path.display(), "reloading the configuration");
        // Read before loading: a change made while the reload runs differs from this, so the
        // watcher reloads again rather than taking it for what was loaded.
        let before = crate::reload_watch::read_contents(&self.files_of(&running)).await;
        let mut hash = None;
        match self.try_reload(&running, &mut hash).await {
            Ok((config, changed, diff)) => {
                // Files the new configuration names for the first time are read now, before the
                // reload is reported (a change to one of them from here on is seen).
                let mut loaded = crate::reload_watch::Contents::new();
                for file in self.files_of(&config) {
                    let content = match before.get(&file) {
                        Some(c) => *c,
                        None => crate::reload_watch::read_content(&file).await,
                    };
                    loaded.insert(file, content);
                }
                *self.loaded.lock().expect("not poisoned") = loaded;
                let hash = hash.unwrap_or_default();
                let ms = started.elapsed().as_millis();
                tracing::info!(
                    trigger,
                    %hash,
                    tools = self.assembly.catalog().load().tools().len(),
                    tools_changed = changed.tools,
                    resources_changed = changed.resources,
                    prompts_changed = changed.prompts,
                    duration_ms = ms as u64,
                    "configuration reloaded"
                );
                *running = config;
                self.status.succeeded(hash, ms);
                Ok(diff)
            }
            Err(reason) => {
                let ms = started.elapsed().as_millis();
                tracing::error!(
                    trigger,
                    path = %self.path.display(),
                    active_hash = %self.status.active_hash(),
                    "configuration reload failed, keeping the last known good configuration: {reason}"
                );
                // The files stay watched as they were read for this attempt: the watcher reloads
                // when they change again, not before.
                *self.loaded.lock().expect("not poisoned") = before;
                self.status.failed(hash, reason.clone(), ms);
                Err(reason)
            }
        }
    }

    async fn try_reload(
        &self,
        running: &Config,
        hash: &mut Option<String>,
    ) -> Result<(Config, toolgate_core::ListsChanged, ReloadDiff), String> {
        let text = tokio::fs::read_to_string(&self.path).await.map_err(|e| {
            format!(
                "cannot read configuration file {}: {e}",
                self.path.display()
            )
        })?;
        *hash = Some(hash_of(text.as_bytes()));
        let mut config = config::load(
            &text,
            &self.path.display().to_string(),
            &crate::run::process_env(),
        )
        .map_err(|e| e.to_string())?;
        (self.prepare)(&mut config).map_err(|e| e.to_string())?;
        if config.sources.is_empty() {
            return Err(
                "the new configuration lists no source: nothing would be served".to_owned(),
            );
        }
        // Sections a reload does not apply: the running values stay.
        config.http.bind = running.http.bind.clone();
        let diff = crate::reload_diff::diff(running, &config);
        if !diff.restart.is_empty() {
            tracing::warn!(
                sections = %diff.restart.join(", "),
                "these configuration sections changed but need a restart to take effect; the running values stay"
            );
        }
        let plan = self.plan(running, &config).await?;
        // The policies are built and checked before anything is swapped: a policy that does
        // not compile fails the reload with nothing changed.
        let (policies, rebuilt) = self.policies.rebuild(running, &config).await?;
        let mut previous = Vec::new();
        let changed = self
            .assembly
            .replace(|current| {
                previous = current.to_vec();
                let by_name: HashMap<&str, &Contribution> =
                    current.iter().map(|c| (&*c.source.name, c)).collect();
                plan.entries
                    .into_iter()
                    .filter_map(|p| match p {
                        Planned::Fresh(c) => Some(*c),
                        Planned::Keep(name) => by_name.get(name.as_str()).map(|c| (*c).clone()),
                    })
                    .collect()
            })
            .map_err(|dups| {
                dups.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
        // Right after the catalog: the next call sees both (a call in flight keeps the
        // pipeline it loaded, policies included).
        let previous_policies = self.policies.install(policies);
        // The grace period starts once the upstreams removed or changed have stopped (a
        // server slow to exit must not eat the new one's time to start).
        let deadline = self
            .swap_upstreams(&plan.stop, &plan.start, &plan.kept)
            .await;
        if let Err(reason) = self.ready_within_grace(&plan.probed, deadline).await {
            self.policies.restore(previous_policies);
            // The upstreams started stop; the ones stopped start again as they ran.
            for u in &plan.start {
                self.upstreams.stop(u.name()).await;
            }
            let restarted = self.recreate(running, &plan.stop);
            // Back to the sources as they were; the ones kept (upstream MCP servers) with
            // whatever they published meanwhile, the ones restarted in their place.
            let probed = plan.probed;
            let stopped = plan.stop;
            let restored = self.assembly.replace(|current| {
                previous
                    .into_iter()
                    .map(|p| {
                        let name = &*p.source.name;
                        if stopped.iter().any(|n| n == name) {
                            return crate::upstreams::placeholder(name);
                        }
                        match current.iter().find(|c| &*c.source.name == name) {
                            Some(c) if !probed.iter().any(|n| n == name) => c.clone(),
                            _ => p,
                        }
                    })
                    .collect()
            });
            self.start_upstreams(&restarted, Instant::now() + READINESS_GRACE)
                .await;
            if let Err(dups) = restored {
                // Only when an upstream republished a clashing name during the grace period.
                tracing::error!(
                    "the previous sources could not be restored ({}): the reloaded ones stay",
                    dups.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
            return Err(format!(
                "{reason}; the previous sources are served again (rolled back)"
            ));
        }
        crate::run::warn_about_uncompilable_schemas(self.assembly.catalog(), &plan.built);
        if !rebuilt.is_empty() {
            tracing::info!(sections = %rebuilt.join(", "), "policies reloaded");
        }
        let kept = plan.kept;
        // What is in force: the new sources (with the sources kept as they run) and policies.
        let mut applied = running.clone();
        applied.sources = kept;
        applied.rate_limits = config.rate_limits;
        applied.resilience = config.resilience;
        applied.audit = config.audit;
        applied.recording = config.recording;
        applied.authorization = config.authorization;
        // The stdio principal is fixed at start.
        if let Some(a) = &mut applied.authorization {
            a.stdio_principal = running
                .authorization
                .as_ref()
                .and_then(|r| r.stdio_principal.clone());
        }
        Ok((applied, changed, diff))
    }

    /// The new catalog's sources in configuration order, and the source configurations in
    /// force afterwards.
    async fn plan(&self, running: &Config, config: &Config) -> Result<Plan, String> {
        let running_by_name: HashMap<&str, &SourceConfig> =
            running.sources.iter().map(|s| (s.name(), s)).collect();
        let mut plan = Vec::new();
        let mut kept = Vec::new();
        let mut probed = Vec::new();
        let mut fresh = Vec::new();
        let mut start = Vec::new();
        for source in &config.sources {
            let old = running_by_name.get(source.name()).copied();
            match source {
                SourceConfig::OpenApi(s) => {
                    let mut built = sources::build_source(s, &self.relative_to)
                        .await
                        .map_err(|e| e.to_string())?;
                    if built.backend.mints_tokens() {
                        match old {
                            Some(old) => {
                                if !same_json(old, source) {
                                    tracing::warn!(source = %s.name, "a source that mints identity tokens needs a restart to change; it is kept as it runs");
                                }
                                plan.push(Planned::Keep(s.name.clone()));
                                kept.push(old.clone());
                            }
                            None => {
                                tracing::warn!(source = %s.name, "a new source that mints identity tokens needs a restart; it is not added");
                            }
                        }
                        continue;
                    }
                    let contribution =
                        sources::contribution(&mut built).map_err(|e| e.to_string())?;
                    if old.is_none_or(|old| !same_json(old, source)) {
                        probed.push(s.name.clone());
                    }
                    plan.push(Planned::Fresh(Box::new(contribution)));
                    kept.push(source.clone());
                    fresh.push(built);
                }
                SourceConfig::Mcp(s) => match old {
                    Some(old @ SourceConfig::Mcp(_)) if same_json(old, source) => {
                        plan.push(Planned::Keep(s.name.clone()));
                        kept.push(old.clone());
                    }
                    _ => {
                        // Added, changed, or of another kind before: a new upstream, in its
                        // place (empty until it publishes) and started after the swap.
                        start.push(self.upstreams.create(s)?);
                        plan.push(Planned::Fresh(Box::new(crate::upstreams::placeholder(
                            &s.name,
                        ))));
                        kept.push(source.clone());
                        probed.push(s.name.clone());
                    }
                },
            }
        }
        // Running upstreams not kept as they are: removed, changed, or now another kind.
        let stop = running
            .sources
            .iter()
            .filter(|old| matches!(old, SourceConfig::Mcp(_)))
            .filter(|old| !kept.iter().any(|k| same_json(k, *old)))
            .map(|old| old.name().to_owned())
            .collect();
        Ok(Plan {
            entries: plan,
            kept,
            probed,
            built: fresh,
            start,
            stop,
        })
    }
}

impl Reloader {
    /// After the catalog swap: stops the running upstreams named in `stop` (a changed one
    /// stops before its new configuration starts; calls in flight to them end with them),
    /// takes out of the catalog whatever one of them published while stopping, and starts
    /// `start`, waiting for their first start until the end of the readiness grace period
    /// at most. Returns that end ([`READINESS_GRACE`] after the stops).
    async fn swap_upstreams(
        &self,
        stop: &[String],
        start: &[toolgate_upstream::Upstream],
        sources: &[SourceConfig],
    ) -> Instant {
        if stop.is_empty() && start.is_empty() {
            return Instant::now() + READINESS_GRACE;
        }
        futures::future::join_all(stop.iter().map(|name| self.upstreams.stop(name))).await;
        if !stop.is_empty() {
            let removed = |name: &str| !sources.iter().any(|s| s.name() == name);
            let _ = self.assembly.replace(|current| {
                current
                    .iter()
                    .filter(|c| !removed(&c.source.name))
                    .cloned()
                    .collect()
            });
        }
        let deadline = Instant::now() + READINESS_GRACE;
        self.start_upstreams(start, deadline).await;
        deadline
    }

    /// Counts `upstreams` as running and starts them, waiting for their first start until
    /// `deadline` at most (one still starting goes on in the background).
    async fn start_upstreams(&self, upstreams: &[toolgate_upstream::Upstream], deadline: Instant) {
        for u in upstreams {
            self.upstreams.add(u.clone());
            tracing::info!(source = %u.name(), "starting upstream MCP source");
        }
        let starts = futures::future::join_all(upstreams.iter().map(|u| u.start()));
        let _ = tokio::time::timeout_at(deadline.into(), starts).await;
    }

    /// New upstreams for the sources named in `names` as `running` configures them (to start
    /// again after a rollback).
    fn recreate(&self, running: &Config, names: &[String]) -> Vec<toolgate_upstream::Upstream> {
        running
            .sources
            .iter()
            .filter(|s| names.iter().any(|n| n == s.name()))
            .filter_map(|s| match s {
                SourceConfig::Mcp(c) => match self.upstreams.create(c) {
                    Ok(u) => Some(u),
                    Err(e) => {
                        tracing::error!(source = %c.name, "cannot restart the upstream MCP source: {e}");
                        None
                    }
                },
                SourceConfig::OpenApi(_) => None,
            })
            .collect()
    }

    /// Waits until every source in `names` answers its readiness probe, until `deadline`
    /// at most ([`READINESS_GRACE`] after the swap): the first source still failing, with its
    /// probe's reason.
    async fn ready_within_grace(&self, names: &[String], deadline: Instant) -> Result<(), String> {
        for name in names {
            let probe = self
                .assembly
                .catalog()
                .load()
                .sources()
                .iter()
                .find(|s| &*s.name == name)
                .map(|s| s.probe.clone());
            let Some(probe) = probe else { continue };
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let result =
                    tokio::time::timeout(left.max(Duration::from_millis(100)), probe.check())
                        .await
                        .unwrap_or_else(|_| Err("its readiness probe did not answer".to_owned()));
                match result {
                    Ok(()) => break,
                    Err(e) if Instant::now() >= deadline => {
                        return Err(format!(
                            "source `{name}` is not ready {} s after the reload: {e}",
                            READINESS_GRACE.as_secs()
                        ));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
                }
            }
        }
        Ok(())
    }
}

/// What `POST /admin/reload` runs: a reload, answered with its outcome, what it changed and
/// the `/readyz` configuration detail (errors scrubbed of secrets, as there).
pub fn admin_trigger(
    reloader: Arc<Reloader>,
    status: Arc<ReloadStatus>,
) -> toolgate_server::AdminReload {
    Arc::new(move || {
        let reloader = reloader.clone();
        let status = status.clone();
        Box::pin(async move {
            let outcome = reloader.reload("admin endpoint").await;
            let config = status.detail();
            match outcome {
                Ok(diff) => (
                    true,
                    serde_json::json!({
                        "outcome": "success",
                        "changes": diff.to_json(),
                        "config": config,
                    }),
                ),
                Err(_) => (
                    false,
                    serde_json::json!({
                        "outcome": "failure",
                        "error": config["last_reload"]["error"].clone(),
                        "config": config,
                    }),
                ),
            }
        })
    })
}

/// Without `--config` there is nothing to reload: SIGHUP is logged and ignored (instead of
/// ending the process, its default).
pub fn ignore_hangup() {
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::warn!("SIGHUP ignored: hot reload needs `serve --config FILE`");
            }
        });
    }
}

/// Reloads on SIGHUP and, with `watch`, when a watched file changes, one reload at a time,
/// until the process ends.
pub fn spawn(reloader: Arc<Reloader>, watch: bool) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(8);
    #[cfg(unix)]
    {
        let tx = tx.clone();
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(mut hup) => {
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        if tx.send("SIGHUP").await.is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => tracing::warn!("cannot listen for SIGHUP, reload on signal is off: {e}"),
        }
    }
    tokio::spawn(async move {
        let files = if watch {
            let (files_tx, files_rx) = tokio::sync::watch::channel(reloader.watched().await);
            crate::reload_watch::spawn(tx.clone(), files_rx);
            Some(files_tx)
        } else {
            None
        };
        drop(tx);
        while let Some(trigger) = rx.recv().await {
            let _ = reloader.reload(trigger).await;
            if let Some(files) = &files {
                // A reload may name other spec files; and it sets what they held when loaded.
                let _ = files.send(reloader.watched().await);
            }
        }
    });
}
