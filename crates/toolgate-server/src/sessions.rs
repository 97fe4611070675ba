//! The session table of legacy (2025-11-25 and older) clients over streamable HTTP.
//!
//! rmcp's `LocalSessionManager` runs each session; [`Sessions`] wraps it to know, without
//! asking rmcp's worker, which sessions are live and when each was last used. The fast path
//! serves session-mode `tools/call`/`tools/list` itself, so rmcp's own idle timer would not
//! see those calls and would end a busy session: here rmcp's timer is off and this table
//! closes sessions that nobody (rmcp or the fast path) used for the idle timeout.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use futures::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::common::server_side_http::{ServerSseMessage, SessionId};
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use tokio_util::sync::CancellationToken;

/// Live sessions, their last use, and the idle reaper.
pub struct Sessions {
    inner: LocalSessionManager,
    /// Session id → milliseconds since `epoch` at its last use.
    last_used: RwLock<HashMap<SessionId, AtomicU64>>,
    epoch: Instant,
    idle_timeout: Duration,
    reaper_started: AtomicBool,
    shutdown: CancellationToken,
    this: Weak<Sessions>,
}

impl Sessions {
    /// A table closing sessions idle for longer than `idle_timeout`; its reaper stops when
    /// `shutdown` is cancelled or the table is dropped.
    pub fn new(idle_timeout: Duration, shutdown: CancellationToken) -> Arc<Self> {
        let mut inner = LocalSessionManager::default();
        // Idle sessions are closed here, where fast-path calls count as use.
        inner.session_config.keep_alive = None;
        Arc::new_cyclic(|this| Sessions {
            inner,
            last_used: RwLock::new(HashMap::new()),
            epoch: Instant::now(),
            idle_timeout,
            reaper_started: AtomicBool::new(false),
            shutdown,
            this: this.clone(),
        })
    }

    /// Sessions currently open.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks session `id` as used now; false if no such session is open.
    pub(crate) fn touch(&self, id: &str) -> bool {
        let now = self.now_ms();
        match self.read().get(id) {
            Some(last) => {
                last.store(now, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<SessionId, AtomicU64>> {
        self.last_used
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SessionId, AtomicU64>> {
        self.last_used
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts the reaper on first use (inside the runtime serving requests).
    fn start_reaper(&self) {
        if self.reaper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.this.clone();
        let shutdown = self.shutdown.clone();
        let period =
            (self.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(30));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(sessions) = this.upgrade() else {
                    return;
                };
                sessions.close_idle().await;
            }
        });
    }

    /// Closes every session unused for longer than the idle timeout.
    async fn close_idle(&self) {
        let limit = u64::try_from(self.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        let now = self.now_ms();
        let idle: Vec<SessionId> = self
            .read()
            .iter()
            .filter(|(_, last)| now.saturating_sub(last.load(Ordering::Relaxed)) > limit)
            .map(|(id, _)| id.clone())
            .collect();
        for id in idle {
            tracing::debug!(session = %id, "closing idle MCP session");
            self.write().remove(&id);
            if let Err(e) = self.inner.close_session(&id).await {
                tracing::warn!(session = %id, error = %e, "closing an idle MCP session failed");
            }
        }
    }
}

impl SessionManager for Sessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.start_reaper();
        let (id, transport) = self.inner.create_session().await?;
        self.write()
            .insert(id.clone(), AtomicU64::new(self.now_ms()));
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.touch(id);
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.touch(id))
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.write().remove(id);
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.touch(id);
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        self.inner.resume(id, last_event_id).await
    }
}
