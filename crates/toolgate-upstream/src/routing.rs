//! Which client a message from an upstream server belongs to.
//!
//! Every request toolgate forwards to an upstream is registered here, for as long as it is in
//! flight, with the channel back to the client that caused it, under the upstream request's
//! id and progress token. A message the server sends back is routed by, first to last:
//!
//! 1. its progress token (progress notifications);
//! 2. the stream it arrived on (HTTP upstreams: a server request on the SSE stream of one of
//!    our POSTs belongs to that request's client, SEP-2260);
//! 3. the session's owner (`session: per_client`: the upstream session serves one client);
//! 4. the only client session with requests in flight on this connection (a stdio upstream
//!    under `session: shared` cannot say which call a message belongs to: when calls of
//!    several clients are in flight, nobody gets it, rather than the wrong client).
//!
//! Does not own: sending (the client channel) or what to do with unroutable messages (the
//! handler in `client.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use rmcp::model::{ProgressToken, RequestId};
use rmcp::service::InboundStreamOrigin;
use toolgate_core::ClientChannel;

/// One in-flight request and its client.
struct Entry {
    seq: u64,
    token: ProgressToken,
    client: Arc<dyn ClientChannel>,
    forwards: Arc<Forwards>,
}

/// Notifications of one request being passed to its client. rmcp hands each notification
/// to a task of its own, which may run after the task that received the request's answer:
/// the answer waits for them, since a client ignores progress after the answer.
#[derive(Default)]
pub(crate) struct Forwards {
    pending: AtomicUsize,
    done: Notify,
}

/// One notification being passed on (until dropped).
pub(crate) struct Forwarding(Arc<Forwards>);

impl Drop for Forwarding {
    fn drop(&mut self) {
        if self.0.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.done.notify_waiters();
        }
    }
}

/// Longest an answer waits for its request's notifications to be passed on.
const SETTLE: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Table {
    next: u64,
    by_request: HashMap<RequestId, Entry>,
    owner: Option<Arc<dyn ClientChannel>>,
}

/// The in-flight requests of one upstream connection.
#[derive(Default)]
pub(crate) struct Routes(Mutex<Table>);

/// Keeps a request registered until dropped.
pub(crate) struct Registration {
    routes: Arc<Routes>,
    id: RequestId,
    forwards: Arc<Forwards>,
}

impl Registration {
    /// Waits (briefly) until the notifications the server sent before its answer have been
    /// passed to the client: called once the answer arrived, before it is returned.
    pub(crate) async fn settle(&self) {
        // Let rmcp's notification tasks, queued before this task woke, start.
        tokio::task::yield_now().await;
        let _ = tokio::time::timeout(SETTLE, async {
            loop {
                let done = self.forwards.done.notified();
                if self.forwards.pending.load(Ordering::Acquire) == 0 {
                    return;
                }
                done.await;
            }
        })
        .await;
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.routes.lock().by_request.remove(&self.id);
    }
}

impl Routes {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers upstream request `id` (with progress token `token`) of `client`.
    pub(crate) fn register(
        self: &Arc<Self>,
        id: RequestId,
        token: ProgressToken,
        client: Arc<dyn ClientChannel>,
    ) -> Registration {
        let mut t = self.lock();
        t.next += 1;
        let seq = t.next;
        let forwards = Arc::new(Forwards::default());
        t.by_request.insert(
            id.clone(),
            Entry {
                seq,
                token,
                client,
                forwards: forwards.clone(),
            },
        );
        Registration {
            routes: self.clone(),
            id,
            forwards,
        }
    }

    /// Makes `client` the owner of this connection (`session: per_client`), replacing the
    /// channel of an earlier request of the same session.
    pub(crate) fn set_owner(&self, client: Arc<dyn ClientChannel>) {
        self.lock().owner = Some(client);
    }

    /// The client of the request with progress token `token`, with the guard that holds its
    /// answer until the notification is passed on.
    pub(crate) fn by_token(
        &self,
        token: &ProgressToken,
    ) -> Option<(Arc<dyn ClientChannel>, Forwarding)> {
        self.lock()
            .by_request
            .values()
            .find(|e| &e.token == token)
            .map(|e| (e.client.clone(), forwarding(&e.forwards)))
    }

    /// [`Routes::client_for`], for a notification: with the guard that holds the answer of
    /// the request it belongs to until it is passed on.
    pub(crate) fn notification_client(
        &self,
    ) -> Option<(Arc<dyn ClientChannel>, Option<Forwarding>)> {
        let client = self.client_for(None)?;
        let t = self.lock();
        let guard = t
            .by_request
            .values()
            .filter(|e| e.client.session_key() == client.session_key())
            .max_by_key(|e| e.seq)
            .map(|e| forwarding(&e.forwards));
        Some((client, guard))
    }

    /// The client a server request or notification belongs to (rules 2–4 of the module docs).
    pub(crate) fn client_for(
        &self,
        origin: Option<&InboundStreamOrigin>,
    ) -> Option<Arc<dyn ClientChannel>> {
        let t = self.lock();
        if let Some(InboundStreamOrigin::OutboundRequest(id)) = origin
            && let Some(e) = t.by_request.get(id)
        {
            return Some(e.client.clone());
        }
        if let Some(owner) = &t.owner {
            // The latest request of the owner's session, whose stream is open, if any.
            let latest = t
                .by_request
                .values()
                .filter(|e| e.client.session_key() == owner.session_key())
                .max_by_key(|e| e.seq);
            return Some(latest.map_or_else(|| owner.clone(), |e| e.client.clone()));
        }
        let mut latest: Option<&Entry> = None;
        for e in t.by_request.values() {
            match latest {
                Some(l) if l.client.session_key() != e.client.session_key() => return None,
                Some(l) if l.seq > e.seq => {}
                _ => latest = Some(e),
            }
        }
        latest.map(|e| e.client.clone())
    }

    /// Whether any request is in flight.
    pub(crate) fn busy(&self) -> bool {
        !self.lock().by_request.is_empty()
    }
}

fn forwarding(forwards: &Arc<Forwards>) -> Forwarding {
    forwards.pending.fetch_add(1, Ordering::AcqRel);
    Forwarding(forwards.clone())
}
