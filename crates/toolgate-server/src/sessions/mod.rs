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
//!   (this table is also its
//!   [`SessionStore`](rmcp::transport::streamable_http_server::session::SessionStore), `manager.rs`), which replays the client's
//!   `initialize` — so an idle session costs a table entry (a few KB), not a worker, and a
//!   client that only lists and calls tools (the fast path) never wakes it. A client holding
//!   a GET stream open keeps its worker.
//! - **owners**: with authentication on, the HTTP edge binds each new session to the caller
//!   that opened it ([`Sessions::bind`]) and refuses the session id to anyone else
//!   ([`Sessions::owner`]); a session never authenticates a request by itself.
//! - **replicas** (`http.sessions`, [`SessionsConfig`]): with a shared store (`shared.rs`:
//!   Redis in `redis.rs`, or the record sealed into the session id in `sealed.rs`), the HTTP
//!   edge asks [`Sessions::adopt`] about every session id before anything else looks at it;
//!   a session this replica does not know but the store does is entered here as a
//!   hibernating session, which every path then serves as it serves a local one (the fast
//!   path at once, rmcp after waking the worker by replaying `initialize`).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use futures::Stream;
use rmcp::model::InitializeRequestParams;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{SessionId, SessionManager};
use tokio_util::sync::CancellationToken;

mod config;
mod manager;
mod redis;
mod sealed;
mod shared;

pub use self::config::{RedisSessionsConfig, SealedSessionsConfig, SessionsConfig};
use self::shared::{Lookup, Record, Shared, unix_now};
pub(crate) use self::shared::{OPENING, Opening};

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
    /// The shared store has the session's record (written here or found there): a sync
    /// keeps it alive there and drops the session here once it is gone there.
    published: AtomicBool,
    /// When the session ends whatever its use (sealed ids), in Unix seconds; 0: never.
    expires: AtomicU64,
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
    /// Where the fleet shares its sessions (`None`: this process only).
    shared: Option<Shared>,
    /// The table's millisecond clock at the last sync with the shared store.
    last_sync_ms: AtomicU64,
}

/// What [`Sessions::adopt`] found for a session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Adoption {
    /// Known here (or no shared store: whatever this table says stands).
    Local,
    /// Unknown here, known to the shared store: entered here now.
    Adopted,
    /// Unknown here and there.
    Unknown,
    /// Unknown here, and the shared store could not answer.
    Unavailable,
}

/// How often the table syncs with a shared store at most.
const SYNC_EVERY: Duration = Duration::from_secs(1);

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
        Self::build(idle_timeout, after, shutdown, None)
    }

    /// A table keeping its sessions where `config` says (`http.sessions`), so that replicas
    /// sharing that store serve each other's sessions; errs when the store cannot be used.
    /// Call inside the runtime (a Redis store connects in the background).
    pub fn with_store(
        idle_timeout: Duration,
        config: &SessionsConfig,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, String> {
        let shared = Shared::from_config(config, idle_timeout)?;
        Ok(Self::build(idle_timeout, HIBERNATE_AFTER, shutdown, shared))
    }

    fn build(
        idle_timeout: Duration,
        after: Duration,
        shutdown: CancellationToken,
        shared: Option<Shared>,
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
            shared,
            last_sync_ms: AtomicU64::new(0),
        })
    }

    /// Whether sessions are shared with other replicas (so ids unknown here must be looked
    /// up with [`Sessions::adopt`]).
    pub(crate) fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Makes sure session `id` is in this table if the shared store knows it: called by the
    /// HTTP edge for every request carrying a session id, before the owner check, the fast
    /// path and rmcp (POST, GET and DELETE alike). An adopted session enters hibernating: the
    /// fast path serves it as it is, and rmcp wakes its worker (replaying `initialize`) from
    /// this table as its session store.
    pub(crate) async fn adopt(&self, id: &str) -> Adoption {
        let Some(shared) = &self.shared else {
            return Adoption::Local;
        };
        if self.read().contains_key(id) {
            return Adoption::Local;
        }
        let record = match shared.lookup(id).await {
            Lookup::Found(record) => record,
            Lookup::Missing => return Adoption::Unknown,
            Lookup::Unavailable => return Adoption::Unavailable,
        };
        self.start_reaper();
        let entry = self.entry_for(&record);
        entry.published.store(true, Ordering::Relaxed);
        // Another request may have adopted it meanwhile: the first entry stays.
        self.write()
            .entry(SessionId::from(id))
            .or_insert(Arc::new(entry));
        tracing::debug!("adopted an MCP session from the shared session store");
        Adoption::Adopted
    }

    /// Whether new session `id` reached the shared store (always, without one).
    pub(crate) fn is_published(&self, id: &str) -> bool {
        self.shared.is_none()
            || self
                .read()
                .get(id)
                .is_some_and(|e| e.published.load(Ordering::Relaxed))
    }

    /// Ends session `id` on this replica alone (a new session the shared store did not
    /// take).
    pub(crate) async fn abandon(&self, id: &str) {
        self.close_here(&SessionId::from(id)).await;
    }

    /// A fresh entry (used now) for a session with `record`.
    fn entry_for(&self, record: &Record) -> Entry {
        let entry = Entry::default();
        let now = self.now_ms();
        entry.last_used.store(now, Ordering::Relaxed);
        entry.rmcp_last_used.store(now, Ordering::Relaxed);
        *entry.init.lock().unwrap_or_else(PoisonError::into_inner) = Some(record.init.clone());
        if let Some(owner) = &record.owner {
            let _ = entry.owner.set(Arc::from(owner.as_str()));
        }
        if let Some(expires) = self.shared.as_ref().and_then(|s| s.expires(record.issued)) {
            entry.expires.store(expires, Ordering::Relaxed);
        }
        entry
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
        let unix = unix_now();
        for (id, entry) in self.read().iter() {
            let expires = entry.expires.load(Ordering::Relaxed);
            if now.saturating_sub(entry.last_used.load(Ordering::Relaxed)) > idle_limit
                || (expires != 0 && expires <= unix)
            {
                to_close.push(id.clone());
            } else if Self::worker_idle(entry, now, Some(hibernate_limit)) {
                let uses = entry.rmcp_uses.load(Ordering::Acquire);
                to_hibernate.push((id.clone(), entry.clone(), uses));
            }
        }
        for id in to_close {
            tracing::debug!("closing an idle MCP session");
            // Here only: in a shared store it lives on while other replicas use it.
            self.close_here(&id).await;
        }
        for (id, entry, uses) in to_hibernate {
            self.hibernate(&id, &entry, Some(hibernate_limit), uses)
                .await;
        }
        self.sync(now).await;
    }

    /// Drops session `id` from this replica (its worker too, if running).
    async fn close_here(&self, id: &SessionId) {
        self.write().remove(id);
        if let Err(e) = self.inner.close_session(id).await {
            tracing::warn!(error = %e, "closing an MCP session's worker failed");
        }
    }

    /// With a shared store, at most every [`SYNC_EVERY`]: Redis keeps the sessions used here
    /// since the last sync alive for the fleet, and the sessions gone there (deleted or
    /// expired elsewhere) are dropped here; sealed ids forget expired revocations.
    async fn sync(&self, now: u64) {
        let Some(shared) = &self.shared else {
            return;
        };
        let last = self.last_sync_ms.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < SYNC_EVERY.as_millis() as u64 {
            return;
        }
        self.last_sync_ms.store(now.max(1), Ordering::Relaxed);
        let redis = match shared {
            Shared::Redis(redis) => redis,
            Shared::Sealed(sealer) => {
                sealer.prune();
                return;
            }
        };
        let (mut used, mut held) = (Vec::new(), Vec::new());
        for (id, entry) in self.read().iter() {
            if !entry.published.load(Ordering::Relaxed) {
                continue;
            }
            if entry.last_used.load(Ordering::Relaxed) >= last {
                used.push(id.to_string());
            } else {
                held.push(id.to_string());
            }
        }
        let Some(gone) = redis.sync(&used, &held).await else {
            return;
        };
        for id in gone {
            tracing::debug!("an MCP session ended elsewhere in the fleet; dropping it here");
            self.close_here(&SessionId::from(id)).await;
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
