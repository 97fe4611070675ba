//! One upstream MCP server under supervision: started at gateway start or lazily, its lists
//! discovered and published to the catalog, refreshed (on its `list_changed`
//! notifications, on a TTL, after each restart), pinged, restarted with exponential backoff
//! when it dies, stopped gracefully with the gateway. The door every request to it goes
//! through (the connection for the caller, timeouts, cancellation, errors that name the
//! server) is `calls.rs`.
//!
//! Does not own: what its entries look like in the catalog (`entries.rs`) or routing what
//! the server sends (`client.rs`, `routing.rs`).

// Logging is deprecated by SEP-2577 (2026-07-28) but remains part of 2025-11-25.
#![allow(deprecated)]

mod calls;
pub(crate) mod lean;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use rmcp::model::{
    ClientCapabilities, ClientConfig as ClientInfo, ClientRequest, Implementation, LoggingLevel,
    PingRequest, ProtocolVersion, Root, SetLevelRequest, SetLevelRequestParams,
};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use toolgate_core::Assembly;

use crate::client::Hub;
use crate::config::{FailureMode, McpSourceConfig, StartMode, Transport};
use crate::connect::{self, ConnectError, Connection};
use crate::discovery::{self, Listing};
use crate::entries;
use crate::http_client::{self, HttpUpstream};
use crate::metrics::UpstreamMetrics;
use crate::uris::UriMap;

/// Where an upstream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Starting or connecting (first time or after a restart wait).
    Starting,
    /// Connected and serving.
    Ready,
    /// Not running (lazy start): its lists are known, it starts on first use.
    Idle,
    /// Down: died or could not start; waiting to restart.
    Down,
    /// Stopped with the gateway.
    Stopped,
}

impl Phase {
    /// Lower-case name for `/readyz` and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Idle => "idle",
            Phase::Down => "down",
            Phase::Stopped => "stopped",
        }
    }
}

/// What `/readyz` and `inspect` show of an upstream.
#[derive(Debug, Clone)]
pub struct Status {
    /// Its phase.
    pub phase: Phase,
    /// Times it was started again after dying.
    pub restarts: u64,
    /// Why it last failed, if it did.
    pub last_error: Option<String>,
    /// When it will be started again (phase `Down`).
    pub retry_in: Option<Duration>,
}

/// Per-client upstream sessions (`session: per_client`).
#[derive(Default)]
struct Pool {
    sessions: HashMap<Arc<str>, (Arc<Connection>, Instant)>,
}

pub(crate) struct Inner {
    pub(crate) name: Arc<str>,
    pub(crate) config: McpSourceConfig,
    base_dir: PathBuf,
    pub(crate) hub: Arc<Hub>,
    http: Option<HttpUpstream>,
    assembly: Arc<Assembly>,
    pub(crate) metrics: UpstreamMetrics,
    shared: ArcSwapOption<Connection>,
    status: Mutex<Status>,
    phase: watch::Sender<Phase>,
    wake: Notify,
    pool: tokio::sync::Mutex<Pool>,
    pub(crate) listing: ArcSwap<Listing>,
    shutdown: CancellationToken,
    log_level: Mutex<Option<LoggingLevel>>,
    /// What the last publication left out or renamed.
    report: Mutex<Vec<String>>,
    /// Calls of 2026-07-28 clients waiting for their input (MRTR).
    pub(crate) parking: Arc<crate::mrtr::Parking>,
}

/// One configured upstream MCP server (cheap to clone).
#[derive(Clone)]
pub struct Upstream {
    pub(crate) inner: Arc<Inner>,
}

/// Why an upstream could not be set up (bad configuration only: a server that does not start
/// is retried, never fatal).
#[derive(Debug, thiserror::Error)]
#[error("source `{source_name}`: {reason}")]
pub struct SetupError {
    /// The source.
    pub source_name: String,
    /// What is wrong.
    pub reason: String,
}

impl Upstream {
    /// An upstream for `config` (relative paths resolved against `base_dir`) publishing into
    /// `assembly`. Nothing starts until [`Upstream::start`].
    pub fn new(
        config: McpSourceConfig,
        base_dir: &Path,
        assembly: Arc<Assembly>,
        metrics: UpstreamMetrics,
    ) -> Result<Self, SetupError> {
        let name: Arc<str> = Arc::from(config.name.as_str());
        let http = match &config.transport {
            Transport::Http {
                url,
                ca_file,
                tls,
                oauth2,
                ..
            } => Some(
                http_client::build(
                    &config.name,
                    url,
                    ca_file.as_deref(),
                    tls,
                    oauth2.as_deref(),
                    base_dir,
                )
                .map_err(|reason| SetupError {
                    source_name: config.name.clone(),
                    reason,
                })?,
            ),
            Transport::Stdio { .. } => None,
        };
        let roots = config
            .roots
            .iter()
            .map(|r| {
                let root = Root::new(r.uri.clone());
                match &r.name {
                    Some(n) => root.with_name(n.clone()),
                    None => root,
                }
            })
            .collect();
        let hub = Arc::new(Hub::new(
            name.clone(),
            UriMap::new(&config.name, config.rewrite_resource_uris),
            roots,
        ));
        let (phase, _) = watch::channel(Phase::Starting);
        Ok(Upstream {
            inner: Arc::new(Inner {
                parking: Arc::new(crate::mrtr::Parking::new(name.clone())),
                name,
                base_dir: base_dir.to_path_buf(),
                hub,
                http,
                assembly,
                metrics,
                shared: ArcSwapOption::empty(),
                status: Mutex::new(Status {
                    phase: Phase::Starting,
                    restarts: 0,
                    last_error: None,
                    retry_in: None,
                }),
                phase,
                wake: Notify::new(),
                pool: tokio::sync::Mutex::default(),
                listing: ArcSwap::default(),
                shutdown: CancellationToken::new(),
                log_level: Mutex::new(None),
                report: Mutex::default(),
                config,
            }),
        })
    }

    /// The source name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Its current status.
    pub fn status(&self) -> Status {
        self.inner
            .status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What it serves, as last discovered: tools, resources, templates, prompts.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let l = self.inner.listing.load();
        (
            l.tools.len(),
            l.resources.len(),
            l.templates.len(),
            l.prompts.len(),
        )
    }

    /// What its last publication left out or renamed, and why (invalid or too long names,
    /// names another source serves already): the same lines as the warnings in the log.
    pub fn report(&self) -> Vec<String> {
        let own = self
            .inner
            .report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Collisions as of now (another source may have published since).
        let name = &self.inner.name;
        own.into_iter()
            .filter(|w| !w.starts_with("collision: "))
            .chain(duplicate_notes(name, &self.inner.assembly.duplicates()))
            .collect()
    }

    /// The process id of the shared session's server (stdio), for tests and `inspect`.
    pub fn pid(&self) -> Option<u32> {
        self.inner.shared.load().as_ref().and_then(|c| c.pid)
    }

    /// Publishes its (empty) place in the catalog, then starts supervising it. Resolves once
    /// the first start finished (ready, idle or failed), so the gateway starts with its
    /// lists; a server that fails to start is retried in the background.
    pub async fn start(&self) {
        self.inner.publish(false);
        let mut phase = self.inner.phase.subscribe();
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.supervise().await });
        let _ = phase
            .wait_for(|p| matches!(p, Phase::Ready | Phase::Idle | Phase::Down | Phase::Stopped))
            .await;
    }

    /// Stops it (and every per-client session) and waits until its processes are gone.
    pub async fn stop(&self) {
        self.inner.shutdown.cancel();
        let mut phase = self.inner.phase.subscribe();
        let _ = phase.wait_for(|p| *p == Phase::Stopped).await;
        let sessions: Vec<_> = self.inner.pool.lock().await.sessions.drain().collect();
        for (_, (conn, _)) in sessions {
            conn.stop().await;
        }
    }
}

/// The collisions `source` takes part in, as notes for it.
fn duplicate_notes(
    source: &str,
    duplicates: &[toolgate_core::catalog::DuplicateName],
) -> Vec<String> {
    duplicates
        .iter()
        .filter_map(|d| {
            if d.second == source {
                Some(format!(
                    "collision: {} `{}` left out: source `{}` serves that name already (the first configured source keeps it; set `namespace` or `tools.aliases`)",
                    d.kind, d.name, d.first
                ))
            } else if d.first == source {
                Some(format!(
                    "collision: {} `{}` is also offered by source `{}`, which leaves it out",
                    d.kind, d.name, d.second
                ))
            } else {
                None
            }
        })
        .collect()
}

/// What the gateway declares to a server: the configured features (shared session), or what
/// the client declared (its own session).
fn client_info(capabilities: ClientCapabilities) -> ClientInfo {
    ClientInfo::new(
        capabilities,
        Implementation::new("toolgate", env!("CARGO_PKG_VERSION")),
    )
}

fn shared_capabilities(config: &McpSourceConfig) -> ClientCapabilities {
    let mut c = ClientCapabilities::default();
    let f = &config.client_capabilities;
    if f.sampling {
        c.sampling = Some(Default::default());
    }
    if f.elicitation {
        c.elicitation = Some(Default::default());
    }
    if f.roots {
        c.roots = Some(Default::default());
    }
    c
}

impl Inner {
    fn set_phase(&self, phase: Phase, error: Option<String>, retry_in: Option<Duration>) {
        {
            let mut s = self.status.lock().unwrap_or_else(PoisonError::into_inner);
            s.phase = phase;
            if error.is_some() {
                s.last_error = error;
            }
            s.retry_in = retry_in;
        }
        self.metrics.set_up(&self.name, phase == Phase::Ready);
        self.phase.send_replace(phase);
    }

    /// Publishes the entries of the last listing (`available`), or its empty place.
    fn publish(self: &Arc<Self>, available: bool) {
        let listing = self.listing.load_full();
        let keep = available || self.config.failure_mode == FailureMode::FailClosed;
        let (contribution, mut warnings) = entries::contribution(self, &listing, keep);
        let duplicates = self.assembly.publish(contribution);
        warnings.extend(duplicate_notes(&self.name, &duplicates));
        for w in &warnings {
            tracing::warn!(upstream = %self.name, "{w}");
        }
        if keep {
            *self.report.lock().unwrap_or_else(PoisonError::into_inner) = warnings;
        }
    }

    async fn connect(
        &self,
        capabilities: ClientCapabilities,
    ) -> Result<Arc<Connection>, ConnectError> {
        let timeout = Duration::from_millis(self.config.timeouts.connect_ms);
        let target = connect::Target {
            transport: &self.config.transport,
            base_dir: &self.base_dir,
            http: self.http.as_ref(),
            max_message_bytes: self.config.max_message_bytes,
            shutdown_grace: Duration::from_millis(self.config.timeouts.shutdown_grace_ms),
        };
        let connecting = connect::connect(self.hub.clone(), target, client_info(capabilities));
        match tokio::time::timeout(timeout, connecting).await {
            Ok(r) => r,
            Err(_) => Err(ConnectError::Handshake(format!(
                "no answer within {} ms (timeouts.connect_ms)",
                self.config.timeouts.connect_ms
            ))),
        }
    }

    /// Connects the shared session and reads its lists.
    async fn start_once(self: &Arc<Self>) -> Result<Arc<Connection>, String> {
        let conn = self
            .connect(shared_capabilities(&self.config))
            .await
            .map_err(|e| e.to_string())?;
        let timeout = Duration::from_millis(self.config.timeouts.connect_ms);
        match tokio::time::timeout(
            timeout,
            discovery::discover(&self.name, &conn.peer, &conn.capabilities),
        )
        .await
        {
            Ok(Ok(listing)) => {
                self.listing.store(Arc::new(listing));
                Ok(conn)
            }
            Ok(Err(e)) => {
                conn.stop().await;
                Err(format!("reading its lists failed: {e}"))
            }
            Err(_) => {
                conn.stop().await;
                Err(format!(
                    "reading its lists took longer than {} ms (timeouts.connect_ms)",
                    self.config.timeouts.connect_ms
                ))
            }
        }
    }

    async fn supervise(self: Arc<Self>) {
        let restart = &self.config.restart;
        let mut backoff = Duration::from_millis(restart.initial_backoff_ms);
        let mut first = true;
        loop {
            if self.shutdown.is_cancelled() {
                break;
            }
            self.set_phase(Phase::Starting, None, None);
            let started = Instant::now();
            match self.start_once().await {
                Ok(conn) => {
                    if first && self.config.start == StartMode::Lazy {
                        // Lists known; the server runs once something needs it.
                        conn.stop().await;
                        self.publish(true);
                        self.set_phase(Phase::Idle, None, None);
                        tracing::info!(upstream = %self.name, "upstream listed; it starts on first use");
                        tokio::select! {
                            () = self.wake.notified() => {}
                            () = self.shutdown.cancelled() => break,
                        }
                        first = false;
                        continue;
                    }
                    first = false;
                    self.apply_log_level(&conn).await;
                    self.shared.store(Some(conn.clone()));
                    self.publish(true);
                    self.set_phase(Phase::Ready, None, None);
                    let (tools, resources, templates, prompts) = {
                        let l = self.listing.load();
                        (
                            l.tools.len(),
                            l.resources.len(),
                            l.templates.len(),
                            l.prompts.len(),
                        )
                    };
                    tracing::info!(upstream = %self.name, pid = ?conn.pid, tools, resources, templates, prompts, "upstream ready");
                    let ended = self.serve(&conn).await;
                    self.shared.store(None);
                    if !ended {
                        conn.stop().await;
                        break;
                    }
                    conn.stop().await;
                    if started.elapsed() >= Duration::from_millis(restart.reset_after_ms) {
                        backoff = Duration::from_millis(restart.initial_backoff_ms);
                    }
                    let reason = conn.fault.get().map_or_else(
                        || "the upstream ended the session (exited or disconnected)".to_owned(),
                        str::to_owned,
                    );
                    self.record_restart(reason, backoff);
                }
                Err(e) => {
                    first = false;
                    self.record_restart(e, backoff);
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = self.shutdown.cancelled() => break,
            }
            backoff = (backoff * 2).min(Duration::from_millis(restart.max_backoff_ms));
        }
        self.set_phase(Phase::Stopped, None, None);
    }

    fn record_restart(self: &Arc<Self>, reason: String, wait: Duration) {
        tracing::warn!(upstream = %self.name, retry_in_ms = wait.as_millis() as u64, "upstream down: {reason}");
        {
            let mut s = self.status.lock().unwrap_or_else(PoisonError::into_inner);
            s.restarts += 1;
        }
        self.metrics.restarted(&self.name);
        self.set_phase(Phase::Down, Some(reason), Some(wait));
        self.publish(false);
    }

    /// Serves one shared session until it ends (true) or the gateway stops (false):
    /// refreshes its lists and pings it meanwhile.
    async fn serve(self: &Arc<Self>, conn: &Arc<Connection>) -> bool {
        let refresh_every = self.config.refresh_seconds;
        let mut refresh = tokio::time::interval(Duration::from_secs(refresh_every.max(1)));
        refresh.reset();
        let ping_every = self.config.ping_seconds;
        let mut ping = tokio::time::interval(Duration::from_secs(ping_every.max(1)));
        ping.reset();
        let modern = conn
            .peer
            .peer_info()
            .is_some_and(|i| i.protocol_version >= ProtocolVersion::V_2026_07_28);
        loop {
            tokio::select! {
                () = conn.ended() => return true,
                () = self.shutdown.cancelled() => return false,
                () = self.hub.refresh.notified() => self.refresh(conn).await,
                _ = refresh.tick(), if refresh_every > 0 => self.refresh(conn).await,
                // 2026-07-28 has no ping.
                _ = ping.tick(), if ping_every > 0 && !modern => {
                    let request = ClientRequest::PingRequest(PingRequest {
                        method: Default::default(),
                        extensions: Default::default(),
                    });
                    let wait = Duration::from_millis(self.config.timeouts.call_ms.min(10_000));
                    let answered = tokio::time::timeout(wait, conn.peer.send_request(request)).await;
                    if !matches!(answered, Ok(Ok(_))) {
                        tracing::warn!(upstream = %self.name, "no answer to ping within {} ms; restarting it", wait.as_millis());
                        return true;
                    }
                }
            }
        }
    }

    async fn refresh(self: &Arc<Self>, conn: &Arc<Connection>) {
        let timeout = Duration::from_millis(self.config.timeouts.connect_ms);
        match tokio::time::timeout(
            timeout,
            discovery::discover(&self.name, &conn.peer, &conn.capabilities),
        )
        .await
        {
            Ok(Ok(listing)) => {
                self.listing.store(Arc::new(listing));
                self.publish(true);
            }
            Ok(Err(e)) => tracing::warn!(upstream = %self.name, "refreshing its lists failed: {e}"),
            Err(_) => tracing::warn!(upstream = %self.name, "refreshing its lists timed out"),
        }
    }

    async fn apply_log_level(&self, conn: &Connection) {
        let level = *self
            .log_level
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(level) = level
            && conn.capabilities.logging.is_some()
        {
            let request = ClientRequest::SetLevelRequest(SetLevelRequest::new(
                SetLevelRequestParams::new(level),
            ));
            let _ = conn.peer.send_request(request).await;
        }
    }
}
