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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use hashbrown::HashMap;
use rmcp::model::{ProgressToken, RequestId};
use rmcp::service::InboundStreamOrigin;
use tokio::sync::Notify;
use toolgate_core::ClientChannel;

/// One in-flight request's way back to its client, owned by the call that sent it (for as
/// long as the call runs); the table only refers to it.
pub(crate) struct Route {
    client: Arc<dyn ClientChannel>,
    forwards: Forwards,
}

/// Marks a request (in its extensions) with the route of the call that sends it, so the
/// transport registers the request before its bytes leave ([`Routes::sending`]): an answer
/// or a progress notification can never arrive for a request not yet registered.
#[derive(Clone)]
pub(crate) struct RouteMarker(pub(crate) Weak<Route>);

/// One in-flight request in the table.
struct Entry {
    seq: u64,
    token: ProgressToken,
    route: Weak<Route>,
}

/// Notifications of one request being passed to its client. rmcp hands each notification
/// to a task of its own, which may run after the task that received the request's answer:
/// the answer waits for them, since a client ignores progress after the answer. A progress
/// notification is counted when the transport receives it ([`Routes::received_progress`]),
/// in the order the server sent it, so every one sent before the answer is waited for.
#[derive(Default)]
struct Forwards {
    pending: AtomicUsize,
    done: Notify,
}

/// One notification being passed on (until dropped).
pub(crate) struct Forwarding(Arc<Route>);

impl Drop for Forwarding {
    fn drop(&mut self) {
        let forwards = &self.0.forwards;
        // Never below zero, even for a notification that was not counted on arrival.
        let before = forwards
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        if matches!(before, Ok(1) | Err(0)) {
            forwards.done.notify_waiters();
        }
    }
}

/// Longest an answer waits for its request's notifications to be passed on.
const SETTLE: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Table {
    next: u64,
    /// Looked up three times a request (sent, registered, settled): foldhash, not SipHash.
    by_request: HashMap<RequestId, Entry>,
    owner: Option<Arc<dyn ClientChannel>>,
}

impl Table {
    /// The live entries (a call that ended may leave an entry whose route is gone).
    fn live(&self) -> impl Iterator<Item = (&Entry, Arc<Route>)> {
        self.by_request
            .values()
            .filter_map(|e| e.route.upgrade().map(|r| (e, r)))
    }
}

/// The in-flight requests of one upstream connection.
#[derive(Default)]
pub(crate) struct Routes(Mutex<Table>);

/// Keeps a request registered until dropped.
pub(crate) struct Registration {
    routes: Arc<Routes>,
    id: RequestId,
    route: Arc<Route>,
}

impl Registration {
    /// Waits (briefly) until the notifications the server sent before its answer have been
    /// passed to the client: called once the answer arrived, before it is returned.
    pub(crate) async fn settle(&self) {
        let forwards = &self.route.forwards;
        // Nothing in flight (most answers): no timer to start.
        if forwards.pending.load(Ordering::Acquire) == 0 {
            return;
        }
        let _ = tokio::time::timeout(SETTLE, async {
            loop {
                let done = forwards.done.notified();
                if forwards.pending.load(Ordering::Acquire) == 0 {
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

impl Route {
    /// The route back to `client` of one call.
    pub(crate) fn new(client: Arc<dyn ClientChannel>) -> Arc<Route> {
        Arc::new(Route {
            client,
            forwards: Forwards::default(),
        })
    }
}

impl Routes {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers upstream request `id` (progress token `token`) on its way out, if the call
    /// that sends it is still running (the transport calls this before sending it).
    pub(crate) fn sending(&self, id: RequestId, token: ProgressToken, marker: &RouteMarker) {
        if marker.0.strong_count() == 0 {
            return;
        }
        let mut t = self.lock();
        // Entries of calls that ended between this check and their removal.
        t.by_request.retain(|_, e| e.route.strong_count() > 0);
        t.next += 1;
        let seq = t.next;
        t.by_request.entry(id).or_insert(Entry {
            seq,
            token,
            route: marker.0.clone(),
        });
    }

    /// Registers upstream request `id` (with progress token `token`) of the call that owns
    /// `route`, if the transport did not already, for as long as the registration is held.
    pub(crate) fn register(
        self: &Arc<Self>,
        id: RequestId,
        token: ProgressToken,
        route: Arc<Route>,
    ) -> Registration {
        {
            let mut t = self.lock();
            // Usually there already: the transport registers a request before sending it.
            if !t.by_request.contains_key(&id) {
                t.next += 1;
                let entry = Entry {
                    seq: t.next,
                    token,
                    route: Arc::downgrade(&route),
                };
                t.by_request.insert(id.clone(), entry);
            }
        }
        Registration {
            routes: self.clone(),
            id,
            route,
        }
    }

    /// Counts a progress notification for `token` as it arrives, before anything after it
    /// (the answer) is handled: the answer of its request waits until it is passed on.
    pub(crate) fn received_progress(&self, token: &ProgressToken) {
        let t = self.lock();
        if let Some((_, route)) = t.live().find(|(e, _)| &e.token == token) {
            route.forwards.pending.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Makes `client` the owner of this connection (`session: per_client`), replacing the
    /// channel of an earlier request of the same session.
    pub(crate) fn set_owner(&self, client: Arc<dyn ClientChannel>) {
        self.lock().owner = Some(client);
    }

    /// The client of the request with progress token `token`, with the guard that releases
    /// its answer once the notification is passed on (the notification was counted when it
    /// arrived: [`Routes::received_progress`]).
    pub(crate) fn by_token(
        &self,
        token: &ProgressToken,
    ) -> Option<(Arc<dyn ClientChannel>, Forwarding)> {
        let t = self.lock();
        t.live()
            .find(|(e, _)| &e.token == token)
            .map(|(_, route)| (route.client.clone(), Forwarding(route)))
    }

    /// [`Routes::client_for`], for a notification: with the guard that holds the answer of
    /// the request it belongs to until it is passed on.
    pub(crate) fn notification_client(
        &self,
    ) -> Option<(Arc<dyn ClientChannel>, Option<Forwarding>)> {
        let client = self.client_for(None)?;
        let t = self.lock();
        let guard = t
            .live()
            .filter(|(_, r)| r.client.session_key() == client.session_key())
            .max_by_key(|(e, _)| e.seq)
            .map(|(_, route)| forwarding(route));
        Some((client, guard))
    }

    /// The client a server request or notification belongs to (rules 2–4 of the module docs).
    pub(crate) fn client_for(
        &self,
        origin: Option<&InboundStreamOrigin>,
    ) -> Option<Arc<dyn ClientChannel>> {
        let t = self.lock();
        if let Some(InboundStreamOrigin::OutboundRequest(id)) = origin
            && let Some(route) = t.by_request.get(id).and_then(|e| e.route.upgrade())
        {
            return Some(route.client.clone());
        }
        if let Some(owner) = &t.owner {
            // The latest request of the owner's session, whose stream is open, if any.
            let latest = t
                .live()
                .filter(|(_, r)| r.client.session_key() == owner.session_key())
                .max_by_key(|(e, _)| e.seq);
            return Some(latest.map_or_else(|| owner.clone(), |(_, r)| r.client.clone()));
        }
        let mut latest: Option<(&Entry, Arc<Route>)> = None;
        for (e, r) in t.live() {
            match &latest {
                Some((_, lr)) if lr.client.session_key() != r.client.session_key() => return None,
                Some((l, _)) if l.seq > e.seq => {}
                _ => latest = Some((e, r)),
            }
        }
        latest.map(|(_, r)| r.client.clone())
    }

    /// Whether any request is in flight.
    pub(crate) fn busy(&self) -> bool {
        self.lock().live().next().is_some()
    }
}

/// A guard for a notification not counted on arrival (it counts itself).
fn forwarding(route: Arc<Route>) -> Forwarding {
    route.forwards.pending.fetch_add(1, Ordering::AcqRel);
    Forwarding(route)
}

#[cfg(test)]
// The channel trait still carries 2025-11-25's logging (deprecated by SEP-2577).
#[allow(deprecated)]
mod tests {
    use super::*;
    use futures::future::BoxFuture;
    use rmcp::ErrorData;
    use rmcp::model::{
        ClientCapabilities, ClientResult, LoggingLevel, LoggingMessageNotificationParam,
        NumberOrString, ProgressNotificationParam, ProtocolVersion, ServerNotification,
        ServerRequest,
    };

    struct Silent(Arc<str>);

    impl ClientChannel for Silent {
        fn session_key(&self) -> &Arc<str> {
            &self.0
        }
        fn capabilities(&self) -> Option<&ClientCapabilities> {
            None
        }
        fn protocol_version(&self) -> Option<&ProtocolVersion> {
            None
        }
        fn accepts_requests(&self) -> bool {
            false
        }
        fn progress_token(&self) -> Option<&ProgressToken> {
            None
        }
        fn log_level(&self) -> Option<LoggingLevel> {
            None
        }
        fn notify_progress(&self, _: ProgressNotificationParam) -> BoxFuture<'static, ()> {
            Box::pin(async {})
        }
        fn log(&self, _: LoggingMessageNotificationParam) -> BoxFuture<'static, ()> {
            Box::pin(async {})
        }
        fn request(&self, _: ServerRequest) -> BoxFuture<'static, Result<ClientResult, ErrorData>> {
            Box::pin(async { Err(ErrorData::internal_error("none", None)) })
        }
        fn notify(&self, _: ServerNotification) -> BoxFuture<'static, ()> {
            Box::pin(async {})
        }
        fn is_closed(&self) -> bool {
            false
        }
    }

    fn token(n: i64) -> ProgressToken {
        ProgressToken(NumberOrString::Number(n))
    }

    /// The transport registered the request as it left and counted a progress notification
    /// as it arrived, before rmcp's task for it ran: the answer waits for that task.
    #[tokio::test(start_paused = true)]
    async fn progress_counted_on_arrival_holds_the_answer_until_passed_on() {
        let routes = Arc::new(Routes::default());
        let route = Route::new(Arc::new(Silent("a".into())));
        let id = RequestId::Number(1);
        routes.sending(id.clone(), token(7), &RouteMarker(Arc::downgrade(&route)));
        routes.received_progress(&token(7));
        let registration = routes.register(id, token(7), route);
        // rmcp's notification task has not run yet: the answer must wait.
        let settled = tokio::time::timeout(Duration::from_millis(50), registration.settle());
        assert!(settled.await.is_err(), "the answer did not wait");
        let (_, forwarding) = routes.by_token(&token(7)).expect("routed");
        let waiting = tokio::spawn(async move { registration.settle().await });
        tokio::task::yield_now().await;
        drop(forwarding);
        tokio::time::timeout(Duration::from_millis(10), waiting)
            .await
            .expect("released once passed on")
            .unwrap();
    }

    /// A call that ended leaves nothing routable, even if its request is sent afterwards.
    #[test]
    fn a_request_of_an_ended_call_is_not_registered() {
        let routes = Arc::new(Routes::default());
        let route = Route::new(Arc::new(Silent("a".into())));
        let marker = RouteMarker(Arc::downgrade(&route));
        drop(route);
        routes.sending(RequestId::Number(1), token(1), &marker);
        assert!(!routes.busy());
        assert!(routes.by_token(&token(1)).is_none());
    }
}
