//! The session table as rmcp sees it: its `SessionManager` (sessions, their workers, the
//! restore of a hibernating one) and its `SessionStore` (what a restore replays).
//!
//! With a shared store, a new session's record is published here: sealed into its id when
//! rmcp creates it ([`SessionManager::create_session`], from the [`Opening`] the HTTP edge
//! set), or written to Redis when rmcp persists its `initialize` parameters
//! ([`SessionStore::store`]), before the answer carrying the id leaves. A `DELETE` ends it
//! there too ([`SessionStore::delete`]); a worker exiting (hibernation, shutdown) does not.

use std::sync::Arc;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use futures::Stream;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, GetExtensions as _, ServerJsonRpcMessage,
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

use super::shared::{Opening, Record, unix_now};
use super::{Entry, Sessions};

impl SessionManager for Sessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.start_reaper();
        // A store that mints ids (sealed) needs the opening request's `initialize` and caller.
        let minted = self.shared.as_ref().and_then(|shared| {
            let opening = Opening::current()?;
            let record = Record {
                init: opening.init?,
                owner: opening.owner.map(|o| o.to_string()),
                issued: unix_now(),
            };
            Some((shared.mint(&record)?, record))
        });
        let Some((id, record)) = minted else {
            let (id, transport) = self.inner.create_session().await?;
            let entry = Entry::default();
            let now = self.now_ms();
            entry.last_used.store(now, Ordering::Relaxed);
            entry.rmcp_last_used.store(now, Ordering::Relaxed);
            self.write().insert(id.clone(), Arc::new(entry));
            return Ok((id, transport));
        };
        let id = SessionId::from(id);
        let (handle, worker) = create_local_session(id.clone(), self.inner.session_config.clone());
        self.inner.sessions.write().await.insert(id.clone(), handle);
        let entry = self.entry_for(&record);
        entry.published.store(true, Ordering::Relaxed);
        self.write().insert(id.clone(), Arc::new(entry));
        Ok((id, WorkerTransport::spawn(worker)))
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

    /// Keeps the `initialize` parameters (for a restore) and, with a shared store that has
    /// no record of the session yet (Redis), publishes it; rmcp calls this before the answer
    /// carrying the new session's id leaves.
    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let Some(entry) = self.read().get(session_id).cloned() else {
            return Ok(());
        };
        *entry.init.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(state.initialize_params.clone());
        if let Some(shared) = &self.shared
            && !entry.published.load(Ordering::Relaxed)
        {
            let record = Record {
                init: state.initialize_params.clone(),
                owner: Opening::current()
                    .and_then(|o| o.owner)
                    .map(|o| o.to_string()),
                issued: unix_now(),
            };
            if shared.publish(session_id, &record).await {
                entry.published.store(true, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// A `DELETE`: the session ends here and in the shared store.
    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.write().remove(session_id);
        if let Some(shared) = &self.shared {
            shared.delete(session_id).await;
        }
        Ok(())
    }
}
