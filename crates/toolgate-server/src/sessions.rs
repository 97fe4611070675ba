//! The session table of legacy (2025-11-25 and older) clients over streamable HTTP.
//!
//! rmcp's `LocalSessionManager` runs a session as a worker task plus a service task with
//! several channels (~60–140 KB each, depending on the allocator). [`Sessions`] wraps it and
//! keeps, per session, only what the protocol needs between requests: when it was last used
//! and the client's `initialize` parameters. On top of that:
//!
//! - **fast-path use**: the fast path serves session-mode `tools/call`/`tools/list` itself
//!   and asks [`Sessions::touch`] whether the session is live; rmcp's idle timer would not
//!   see those calls, so it is off and this table closes sessions nobody used for the idle
//!   timeout;
//! - **hibernation**: a session's rmcp worker is stopped as soon as the handshake is done
//!   (`notifications/initialized`) and, once woken, whenever it has had nothing to do for
//!   [`HIBERNATE_AFTER`] by default (no open stream, no request through rmcp); the session
//!   stays open.
//!   The next request that needs rmcp re-creates the worker through rmcp's own restore path
//!   (this table is also its [`SessionStore`]), which replays the client's `initialize` — so
//!   an idle session costs a table entry (a few KB), not a worker, and a client that only
//!   lists and calls tools (the fast path) never wakes it. A client holding a GET stream
//!   open keeps its worker.
//! - **owners**: with authentication on, the HTTP edge binds each new session to the caller
//!   that opened it ([`Sessions::bind`]) and refuses the session id to anyone else
//!   ([`Sessions::owner`]); a session never authenticates a request by itself.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use futures::Stream;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, GetExtensions as _, InitializeRequestParams,
    ServerJsonRpcMessage,
};
use rmcp::transport::WorkerTransport;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, create_local_session,
};
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionState, SessionStore, SessionStoreError,
};
use rmcp::transport::streamable_http_server::{
    RestoreOutcome, SessionId, SessionManager, SessionRestoreMarker,
};
use tokio_util::sync::CancellationToken;

/// How long a session's rmcp worker may sit unused (no stream open) before it is stopped, by
/// default.
pub const HIBERNATE_AFTER: Duration = Duration::from_secs(2);

/// What is kept of one open session.
#[derive(Default)]
struct Entry {
    /// Milliseconds since the table's epoch at the last use by anyone.
    last_used: AtomicU64,
    /// Milliseconds since the table's epoch at the last use through rmcp.
    rmcp_last_used: AtomicU64,
    /// Uses through rmcp so far: a request that found the worker running changes it, so a
    /// hibernation decided before that request leaves the worker alone.
    rmcp_uses: AtomicU64,
    /// rmcp is re-creating the worker (replaying `initialize`); until it is done, other
    /// requests must wait for that restore instead of reaching the half-started worker.
    restoring: AtomicBool,
    /// rmcp streams open for this session (requests being answered, GET streams).
    open_streams: AtomicUsize,
    /// The client's `initialize` parameters, replayed when the worker is re-created.
    init: Mutex<Option<InitializeRequestParams>>,
    /// Worker exits this table caused; rmcp reports each as a `close_session` that must not
    /// end the session.
    hibernations: AtomicUsize,
    /// The caller that opened the session (authentication on), set once by the HTTP edge.
    owner: OnceLock<Arc<str>>,
}

/// Live sessions, their last use, and the reaper that hibernates and closes them.
pub struct Sessions {
    inner: LocalSessionManager,
    table: RwLock<HashMap<SessionId, Arc<Entry>>>,
    /// Time zero of the table's millisecond clock (tokio's clock, so tests can pause it).
    epoch: Instant,
    idle_timeout: Duration,
    hibernate_after: Duration,
    reaper_started: AtomicBool,
    shutdown: CancellationToken,
    this: Weak<Sessions>,
}

impl Sessions {
    /// A table closing sessions idle for longer than `idle_timeout`; its reaper stops when
    /// `shutdown` is cancelled or the table is dropped.
    pub fn new(idle_timeout: Duration, shutdown: CancellationToken) -> Arc<Self> {
        Self::with_hibernate_after(idle_timeout, HIBERNATE_AFTER, shutdown)
    }

    /// A table whose idle workers stop after `after` unused instead of [`HIBERNATE_AFTER`].
    pub fn with_hibernate_after(
        idle_timeout: Duration,
        after: Duration,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let mut inner = LocalSessionManager::default();
        // Idle sessions are closed here, where fast-path calls count as use.
        inner.session_config.keep_alive = None;
        Arc::new_cyclic(|this| Sessions {
            inner,
            table: RwLock::new(HashMap::new()),
            epoch: Instant::now(),
            idle_timeout,
            hibernate_after: after,
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

    /// Sessions whose rmcp worker is running (the others are hibernating).
    pub async fn running_workers(&self) -> usize {
        self.inner.sessions.read().await.len()
    }

    /// Whether session `id` is open with its rmcp worker stopped (so no request of it is
    /// running in rmcp).
    pub(crate) async fn is_hibernating(&self, id: &str) -> bool {
        let Some(entry) = self.read().get(id).cloned() else {
            return false;
        };
        !entry.restoring.load(Ordering::Acquire)
            && !self.inner.sessions.read().await.contains_key(id)
    }

    /// Binds session `id` to the caller `owner` that opened it; false if no such session is
    /// open or it is already bound to someone else.
    pub(crate) fn bind(&self, id: &str, owner: Arc<str>) -> bool {
        match self.read().get(id) {
            Some(entry) => {
                let bound = entry.owner.get_or_init(|| owner.clone());
                **bound == *owner
            }
            None => false,
        }
    }

    /// The owner of session `id`: `None` if no such session is open, `Some(None)` if it is
    /// open and bound to nobody (authentication off when it was opened).
    pub(crate) fn owner(&self, id: &str) -> Option<Option<Arc<str>>> {
        self.read().get(id).map(|entry| entry.owner.get().cloned())
    }

    /// Marks session `id` as used now (by the fast path); false if no such session is open.
    pub(crate) fn touch(&self, id: &str) -> bool {
        match self.read().get(id) {
            Some(entry) => {
                entry.last_used.store(self.now_ms(), Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Marks session `id` as used through rmcp now: the entry and its use count after this use.
    fn touch_rmcp(&self, id: &str) -> Option<(Arc<Entry>, u64)> {
        let entry = self.read().get(id).cloned()?;
        let now = self.now_ms();
        entry.last_used.store(now, Ordering::Relaxed);
        entry.rmcp_last_used.store(now, Ordering::Relaxed);
        let uses = entry.rmcp_uses.fetch_add(1, Ordering::AcqRel) + 1;
        Some((entry, uses))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<SessionId, Arc<Entry>>> {
        self.table.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SessionId, Arc<Entry>>> {
        self.table.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the reaper on first use (inside the runtime serving requests).
    fn start_reaper(&self) {
        if self.reaper_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.this.clone();
        let shutdown = self.shutdown.clone();
        let period =
            (self.idle_timeout / 4).clamp(Duration::from_millis(10), self.hibernate_after / 2);
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
                sessions.sweep().await;
            }
        });
    }

    /// Closes sessions unused for the idle timeout and hibernates idle workers.
    async fn sweep(&self) {
        let idle_limit = u64::try_from(self.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        let hibernate_limit = u64::try_from(self.hibernate_after.as_millis()).unwrap_or(u64::MAX);
        let now = self.now_ms();
        let mut to_close = Vec::new();
        let mut to_hibernate = Vec::new();
        for (id, entry) in self.read().iter() {
            if now.saturating_sub(entry.last_used.load(Ordering::Relaxed)) > idle_limit {
                to_close.push(id.clone());
            } else if Self::worker_idle(entry, now, Some(hibernate_limit)) {
                let uses = entry.rmcp_uses.load(Ordering::Acquire);
                to_hibernate.push((id.clone(), entry.clone(), uses));
            }
        }
        for id in to_close {
            tracing::debug!(session = %id, "closing idle MCP session");
            self.write().remove(&id);
            if let Err(e) = self.inner.close_session(&id).await {
                tracing::warn!(session = %id, error = %e, "closing an idle MCP session failed");
            }
        }
        for (id, entry, uses) in to_hibernate {
            self.hibernate(&id, &entry, Some(hibernate_limit), uses)
                .await;
        }
    }

    /// Whether the session's worker has nothing to do (and has not for `limit` ms, if given)
    /// and the session can be restored.
    fn worker_idle(entry: &Entry, now: u64, limit: Option<u64>) -> bool {
        entry.open_streams.load(Ordering::Acquire) == 0
            && !entry.restoring.load(Ordering::Acquire)
            && limit.is_none_or(|limit| {
                now.saturating_sub(entry.rmcp_last_used.load(Ordering::Acquire)) > limit
            })
            && entry
                .init
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some()
    }

    /// Stops the session's rmcp worker, keeping the session, unless rmcp was used since the
    /// use count was `uses`.
    async fn hibernate(&self, id: &SessionId, entry: &Entry, limit: Option<u64>, uses: u64) {
        let handle = {
            let mut workers = self.inner.sessions.write().await;
            // Checked again under the lock: a request that found the worker (has_session)
            // counted its use before taking the read side of this lock.
            if entry.rmcp_uses.load(Ordering::Acquire) != uses
                || !Self::worker_idle(entry, self.now_ms(), limit)
            {
                return;
            }
            let Some(handle) = workers.remove(id) else {
                return;
            };
            entry.hibernations.fetch_add(1, Ordering::AcqRel);
            handle
        };
        tracing::debug!(session = %id, "MCP session worker idle; hibernating it");
        if handle.close().await.is_err() {
            // The worker had already stopped; its exit was reported (or will be) as usual.
            entry.hibernations.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Wraps an rmcp stream so the session counts it as open until it is dropped.
    fn track<S>(entry: Option<Arc<Entry>>, stream: S) -> Tracked<S> {
        if let Some(entry) = &entry {
            entry.open_streams.fetch_add(1, Ordering::AcqRel);
        }
        Tracked {
            stream: Box::pin(stream),
            entry,
        }
    }
}

/// An rmcp stream counted as open on its session while it lives.
struct Tracked<S> {
    stream: Pin<Box<S>>,
    entry: Option<Arc<Entry>>,
}

impl<S: Stream> Stream for Tracked<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.stream.as_mut().poll_next(cx)
    }
}

impl<S> Drop for Tracked<S> {
    fn drop(&mut self) {
        if let Some(entry) = &self.entry {
            entry.open_streams.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl SessionManager for Sessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.start_reaper();
        let (id, transport) = self.inner.create_session().await?;
        let entry = Entry::default();
        let now = self.now_ms();
        entry.last_used.store(now, Ordering::Relaxed);
        entry.rmcp_last_used.store(now, Ordering::Relaxed);
        self.write().insert(id.clone(), Arc::new(entry));
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.touch_rmcp(id);
        self.inner.initialize_session(id, message).await
    }

    /// Whether the session's worker is running (a hibernating session answers false, and
    /// rmcp restores it from this table as its session store).
    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        match self.touch_rmcp(id) {
            None => return Ok(false),
            // rmcp then waits for the restore in progress (its restores are serialized).
            Some((entry, _)) if entry.restoring.load(Ordering::Acquire) => return Ok(false),
            Some(_) => {}
        }
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let caused_by_hibernation = self.read().get(id).is_some_and(|entry| {
            entry
                .hibernations
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
        });
        if caused_by_hibernation {
            // A worker this table stopped has exited; the session lives on.
            return Ok(());
        }
        self.write().remove(id);
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let entry = self.touch_rmcp(id).map(|(entry, _)| entry);
        let stream = self.inner.create_stream(id, message).await?;
        Ok(Self::track(entry, stream))
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        // `initialized` ends a handshake. The client's own leaves the worker nothing to do
        // until a request needs it; the one rmcp replays when waking a session ends the
        // restore (requests after it queue behind it in the worker).
        let initialized = match &message {
            ClientJsonRpcMessage::Notification(n) => matches!(
                n.notification,
                ClientNotification::InitializedNotification(_)
            )
            .then(|| {
                n.notification
                    .extensions()
                    .get::<SessionRestoreMarker>()
                    .is_some()
            }),
            _ => None,
        };
        let touched = self.touch_rmcp(id);
        self.inner.accept_message(id, message).await?;
        match (initialized, touched) {
            (Some(false), Some((entry, uses))) => self.hibernate(id, &entry, None, uses).await,
            (Some(true), Some((entry, _))) => entry.restoring.store(false, Ordering::Release),
            _ => {}
        }
        Ok(())
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let entry = self.touch_rmcp(id).map(|(entry, _)| entry);
        let stream = self.inner.create_standalone_stream(id).await?;
        Ok(Self::track(entry, stream))
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let entry = self.touch_rmcp(id).map(|(entry, _)| entry);
        let stream = self.inner.resume(id, last_event_id).await?;
        Ok(Self::track(entry, stream))
    }

    /// Re-creates the worker of a hibernating session (rmcp then replays `initialize`).
    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        let Some((entry, _)) = self.touch_rmcp(&id) else {
            return Ok(RestoreOutcome::NotSupported);
        };
        let mut workers = self.inner.sessions.write().await;
        if workers.contains_key(&id) {
            return Ok(RestoreOutcome::AlreadyPresent);
        }
        entry.restoring.store(true, Ordering::Release);
        tracing::debug!(session = %id, "waking a hibernating MCP session");
        let (handle, worker) = create_local_session(id.clone(), self.inner.session_config.clone());
        workers.insert(id, handle);
        Ok(RestoreOutcome::Restored(WorkerTransport::spawn(worker)))
    }
}

/// The table is rmcp's session store: what a hibernating session needs to be restored.
#[async_trait::async_trait]
impl SessionStore for Sessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let Some(entry) = self.read().get(session_id).cloned() else {
            return Ok(None);
        };
        let init = entry
            .init
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Ok(init.map(SessionState::new))
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        if let Some(entry) = self.read().get(session_id) {
            *entry.init.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(state.initialize_params.clone());
        }
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.write().remove(session_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    /// The reaper on tokio's paused clock: a session used (by the fast path) stays open past
    /// the idle timeout; one nobody uses is closed once the timeout has passed, not before.
    #[tokio::test(start_paused = true)]
    async fn idle_sessions_close_and_used_ones_stay_open() {
        let sessions = Sessions::new(Duration::from_secs(60), CancellationToken::new());
        let (busy, _busy) = sessions.create_session().await.unwrap();
        let (idle, _idle) = sessions.create_session().await.unwrap();
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(15)).await;
            settle().await;
            assert!(sessions.touch(&busy));
        }
        assert_eq!(sessions.len(), 2, "45 s idle is under the timeout");
        for _ in 0..2 {
            tokio::time::advance(Duration::from_secs(15)).await;
            settle().await;
            assert!(sessions.touch(&busy));
        }
        settle().await;
        assert!(
            !sessions.read().contains_key(idle.as_ref()),
            "closed after 75 s idle"
        );
        assert!(sessions.read().contains_key(busy.as_ref()));
        tokio::time::advance(Duration::from_secs(90)).await;
        settle().await;
        assert!(sessions.is_empty());
        assert!(!sessions.touch(&busy));
    }
}
