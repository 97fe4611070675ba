//! The upstream MCP servers in force: the ones started with the gateway, then those a reload
//! started, stopped or restarted (crate::reload decides which). Stopping the gateway stops
//! whichever are running then, so none is left behind.
//!
//! Does not own: the upstream client and its supervision (toolgate-upstream).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use toolgate_core::{Assembly, Contribution, SourceEntry};
use toolgate_upstream::{McpSourceConfig, Upstream, UpstreamMetrics};

/// The running upstream MCP servers, by source name.
pub struct RunningUpstreams {
    relative_to: PathBuf,
    assembly: Arc<Assembly>,
    metrics: UpstreamMetrics,
    running: Mutex<Vec<Upstream>>,
}

impl RunningUpstreams {
    /// None running yet; upstreams publish into `assembly`, resolve relative paths against
    /// `relative_to` and count into `metrics`.
    pub fn new(relative_to: PathBuf, assembly: Arc<Assembly>, metrics: UpstreamMetrics) -> Self {
        RunningUpstreams {
            relative_to,
            assembly,
            metrics,
            running: Mutex::default(),
        }
    }

    /// An upstream for `config`, not started and not yet counted as running (bad
    /// configuration only fails: a server that does not start is retried once started).
    pub fn create(&self, config: &McpSourceConfig) -> Result<Upstream, String> {
        Upstream::new(
            config.clone(),
            &self.relative_to,
            self.assembly.clone(),
            self.metrics.clone(),
        )
        .map_err(|e| e.to_string())
    }

    /// The running ones.
    pub fn all(&self) -> Vec<Upstream> {
        self.lock().clone()
    }

    /// The running one named `name`.
    pub fn get(&self, name: &str) -> Option<Upstream> {
        self.lock().iter().find(|u| u.name() == name).cloned()
    }

    /// Counts `upstream` as running (replacing one of the same name).
    pub fn add(&self, upstream: Upstream) {
        let mut all = self.lock();
        all.retain(|u| u.name() != upstream.name());
        all.push(upstream);
    }

    /// Stops the running one named `name`, if any, and waits until its processes and
    /// sessions are gone.
    pub async fn stop(&self, name: &str) {
        let stopped = {
            let mut all = self.lock();
            let found = all.iter().position(|u| u.name() == name);
            found.map(|i| all.remove(i))
        };
        if let Some(u) = stopped {
            u.stop().await;
            tracing::info!(source = %name, "upstream MCP source stopped");
        }
    }

    /// Stops every running one and waits until their processes are gone.
    pub async fn stop_all(&self) {
        let all = std::mem::take(&mut *self.lock());
        futures::future::join_all(all.iter().map(Upstream::stop)).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Upstream>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The place of an upstream in the catalog before it has published: empty, not ready.
pub fn placeholder(name: &str) -> Contribution {
    Contribution::empty(SourceEntry {
        name: Arc::from(name),
        probe: Arc::new(Starting),
        control: None,
        capabilities: Default::default(),
    })
}

/// The readiness of an upstream that has not published yet.
struct Starting;

impl toolgate_core::ReadinessProbe for Starting {
    fn check(&self) -> futures::future::BoxFuture<'static, Result<(), String>> {
        Box::pin(std::future::ready(Err("starting".to_owned())))
    }
}
