//! The MCP endpoint as axum routes to it: a guard in front of rmcp's streamable HTTP service.
//!
//! Every request to the MCP path passes the [`Guard`] first, which is where "who may talk to
//! us at all" is decided for HTTP: a foreign `Host`/`Origin` is refused before anything else,
//! then the caller is authenticated ([`EdgeAuth::admit`]), a legacy session id unknown here is
//! looked up in the replicas' shared session store, and a legacy session id is checked
//! against the caller that opened the session, all before the fast path branches off and
//! before rmcp sees the request (POST, GET streams and DELETE alike), so no path reaches the
//! pipeline around it.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use toolgate_core::wire;
use tower::ServiceExt as _;

use super::auth::{EdgeAuth, owner_key};
use super::busy_poll::BusyPoll;
use super::fast::{FastPath, json_response};
use crate::origin::OriginPolicy;
use crate::protocol::reply;
use crate::sessions::{Adoption, OPENING, Opening, Sessions};
use toolgate_policy::limits::HttpRefusal;
use toolgate_policy::live::LivePipeline;

const MCP_SESSION_ID: http::HeaderName = http::HeaderName::from_static("mcp-session-id");

/// The guard, then rmcp's service. A tower service rather than an axum middleware because
/// axum clones a route's service for every request, and rmcp's (its configuration included)
/// is not cheap to clone: here both halves sit behind `Arc`s, and rmcp's service is cloned
/// only for the requests it serves.
pub(crate) struct Endpoint<S> {
    guard: Arc<Guard>,
    rmcp: Arc<S>,
}

impl<S> Endpoint<S> {
    pub(crate) fn new(guard: Arc<Guard>, rmcp: S) -> Self {
        Endpoint {
            guard,
            rmcp: Arc::new(rmcp),
        }
    }
}

impl<S> Clone for Endpoint<S> {
    fn clone(&self) -> Self {
        Endpoint {
            guard: self.guard.clone(),
            rmcp: self.rmcp.clone(),
        }
    }
}

/// What rmcp's streamable HTTP service answers.
pub(crate) type RmcpResponse =
    http::Response<http_body_util::combinators::BoxBody<bytes::Bytes, Infallible>>;

impl<S> tower::Service<axum::extract::Request> for Endpoint<S>
where
    S: tower::Service<axum::extract::Request, Response = RmcpResponse, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        let guard = self.guard.clone();
        let rmcp = self.rmcp.clone();
        Box::pin(async move {
            let next = |req: axum::extract::Request| async move {
                let Ok(response) = S::clone(&rmcp).oneshot(req).await;
                response.map(axum::body::Body::new)
            };
            Ok(guard.run(req, next).await)
        })
    }
}

/// What runs in front of rmcp on the MCP endpoint.
pub(crate) struct Guard {
    /// Largest accepted body.
    pub(crate) limit: usize,
    /// Host/Origin allowlists.
    pub(crate) policy: OriginPolicy,
    /// The fast path, when on.
    pub(crate) fast_path: Option<FastPath>,
    /// Whether and how callers are authenticated.
    pub(crate) auth: EdgeAuth,
    /// The legacy session table (session mode only), whose sessions are bound to callers.
    pub(crate) sessions: Option<Arc<Sessions>>,
    /// The policies in force, for the HTTP request limits (`rate_limits.http`), which a
    /// reload may change.
    pub(crate) live: LivePipeline,
    /// Who may use this endpoint, when it is a virtual server with rules of its own.
    pub(crate) access: Option<Arc<toolgate_core::EndpointAccess>>,
    /// Polling instead of sleeping around calls while few are in flight
    /// (`http.busy_poll_us`), when on.
    pub(crate) busy_poll: Option<BusyPoll>,
}

/// A JSON-RPC error response without an id (the request could not be read far enough to
/// know it), as the specification prescribes for parse errors and invalid requests.
fn json_rpc_error(status: StatusCode, error: &rmcp::ErrorData) -> Response {
    json_response(status, reply::error_reply(None, error))
}

/// What a request is answered with when the shared session store cannot say whether its
/// session exists (or cannot take a new one): 503, so the client retries.
fn session_store_unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(http::header::RETRY_AFTER, "1")],
        "Service Unavailable: the session store is not answering; retry",
    )
        .into_response()
}

/// The caller opening a session (authentication on), for a shared session store.
#[derive(Clone)]
struct SessionOwner(Arc<str>);

/// What a session id nobody may use here is answered with: what rmcp answers for a session
/// that does not exist, so a stranger learns nothing about other callers' sessions.
fn session_not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response()
}

/// `429 Too Many Requests` for a request over the HTTP request limits: `Retry-After` in whole
/// seconds (rounded up) and a JSON-RPC error without an id (the request was not read), whose
/// `data` carries the same delay as the call limits' refusals do.
fn too_many_requests(refusal: &HttpRefusal) -> Response {
    let seconds = wire::retry_after_secs(refusal.retry_after);
    let error = rmcp::ErrorData::new(
        rmcp::model::ErrorCode::INTERNAL_ERROR,
        refusal.message.clone(),
        Some(serde_json::json!({ "kind": "rejected", "retryAfter": seconds })),
    );
    let mut response = json_rpc_error(StatusCode::TOO_MANY_REQUESTS, &error);
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
    response
}

impl Guard {
    /// In order:
    /// 1. refuses a foreign `Host`/`Origin` (403), then a request over the HTTP request
    ///    limits (429 with `Retry-After`), before anything is verified or read;
    /// 2. authenticates the caller (401/403/400 with a challenge when refused), the one place
    ///    an HTTP request's principal is established;
    /// 3. with sessions shared by replicas, enters a session this replica does not know but
    ///    the shared store does ([`Sessions::adopt`]; 503 when the store does not answer);
    /// 4. refuses a legacy session id opened by another caller (404, as an unknown session);
    /// 5. the rest ([`Guard::serve`]); a session it opens is bound to the caller (and, with a
    ///    shared store that could not take it, dropped and answered 503).
    pub(crate) async fn run<F, Fut>(&self, req: axum::extract::Request, next: F) -> Response
    where
        F: FnOnce(axum::extract::Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        if let Err(reason) = self.policy.check(req.uri(), req.headers()) {
            return (StatusCode::FORBIDDEN, reason).into_response();
        }
        if let Some(limits) = &self.live.load().policies.http_limits {
            let peer = req
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0);
            if let Err(refusal) = limits.check(peer) {
                return too_many_requests(&refusal);
            }
        }
        let (mut parts, body) = req.into_parts();
        let principal = match self.auth.admit_at(&mut parts, self.access.as_deref()).await {
            Ok(p) => p,
            Err(challenge) => return challenge,
        };
        // Sessions shared by a fleet: a session id this replica does not know is looked up in
        // the shared store first, so every path below (owner check, fast path, rmcp's POST,
        // GET and DELETE) sees it as a local session.
        if let Some(sessions) = self.sessions.as_ref().filter(|s| s.is_shared())
            && let Some(id) = parts.headers.get(MCP_SESSION_ID)
            && sessions.adopt(id.to_str().unwrap_or_default()).await == Adoption::Unavailable
        {
            return session_store_unavailable();
        }
        // An anonymous caller at an endpoint open to them while authentication is on may not
        // use a session some authenticated caller opened.
        if principal.is_none()
            && self.auth.is_on()
            && let (Some(sessions), Some(id)) = (&self.sessions, parts.headers.get(MCP_SESSION_ID))
            && matches!(
                sessions.owner(id.to_str().unwrap_or_default()),
                Some(Some(_))
            )
        {
            return session_not_found();
        }
        // Without a session table (stateless mode) or authentication there is nothing to bind
        // or check, and the owner key (an allocation) is not computed.
        let owner = match (&principal, &self.sessions) {
            (Some(principal), Some(_)) => Some(owner_key(principal)),
            _ => None,
        };
        let has_session_id = parts.headers.contains_key(MCP_SESSION_ID);
        if let (Some(owner), Some(sessions), Some(id)) =
            (&owner, &self.sessions, parts.headers.get(MCP_SESSION_ID))
        {
            let id = id.to_str().unwrap_or_default();
            // An unknown session is rmcp's to answer; one bound to someone else, or to nobody
            // (opened while no caller was known), is refused as if it did not exist.
            if let Some(bound) = sessions.owner(id)
                && bound.as_deref() != Some(&**owner)
            {
                tracing::warn!(
                    subject = %principal.as_ref().map(|p| p.subject.as_str()).unwrap_or_default(),
                    "refused a session id opened by another caller"
                );
                return session_not_found();
            }
        }
        if let Some(owner) = &owner
            && !has_session_id
        {
            // For a shared store, which records the caller opening a session.
            parts.extensions.insert(SessionOwner(owner.clone()));
        }
        let response = self
            .serve(axum::extract::Request::from_parts(parts, body), next)
            .await;
        if !has_session_id
            && let Some(sessions) = &self.sessions
            && let Some(id) = response
                .headers()
                .get(MCP_SESSION_ID)
                .and_then(|v| v.to_str().ok())
        {
            // A new session: its id reaches the client only with this response, so nobody
            // can use it before it is bound, nor reach another replica before the shared
            // store has it.
            if !sessions.is_published(id) {
                sessions.abandon(id).await;
                return session_store_unavailable();
            }
            if let Some(owner) = owner {
                sessions.bind(id, owner);
            }
        }
        response
    }

    /// After admission:
    /// 1. answers DELETE with 204 where rmcp says 202;
    /// 2. serves qualifying calls on the fast path;
    /// 3. rejects POST bodies that are not one JSON-RPC message with a JSON-RPC error
    ///    (`-32700`, `-32600`) instead of a bare status;
    /// 4. hands everything else to rmcp unchanged.
    async fn serve<F, Fut>(&self, req: axum::extract::Request, next: F) -> Response
    where
        F: FnOnce(axum::extract::Request) -> Fut,
        Fut: Future<Output = Response>,
    {
        if req.method() == axum::http::Method::DELETE {
            // rmcp acknowledges a session termination with 202; MCP clients (the Python SDK
            // among them) expect 200 or 204 and warn otherwise.
            let mut response = next(req).await;
            if response.status() == StatusCode::ACCEPTED {
                *response.status_mut() = StatusCode::NO_CONTENT;
            }
            return response;
        }
        if req.method() != axum::http::Method::POST {
            return next(req).await;
        }
        let _in_flight = self.busy_poll.as_ref().map(BusyPoll::enter);
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, self.limit).await {
            Ok(b) => b,
            Err(_) => {
                return json_rpc_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &wire::invalid_request(format_args!(
                        "the request body exceeds the limit of {} bytes",
                        self.limit
                    )),
                );
            }
        };
        if let Some(fast) = &self.fast_path
            && let Some(response) = fast.serve(&parts, &bytes).await
        {
            return response;
        }
        // A request that may open a session shared by a fleet: the store records its caller
        // and `initialize` parameters (rmcp creates and persists the session in this task).
        let opening = self
            .sessions
            .as_ref()
            .filter(|s| s.is_shared() && !parts.headers.contains_key(MCP_SESSION_ID))
            .map(|_| {
                let owner = parts.extensions.get::<SessionOwner>().map(|o| o.0.clone());
                Opening::of(owner, &bytes)
            });
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
            return json_rpc_error(StatusCode::BAD_REQUEST, &wire::parse_error(e));
        }
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => {}
            Some(b'[') => {
                return json_rpc_error(
                    StatusCode::BAD_REQUEST,
                    &wire::invalid_request(
                        "JSON-RPC batches are not supported; send one message per POST",
                    ),
                );
            }
            _ => {
                return json_rpc_error(
                    StatusCode::BAD_REQUEST,
                    &wire::invalid_request("the body must be a JSON-RPC message object"),
                );
            }
        }
        let rmcp = next(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        ));
        match opening {
            Some(opening) => OPENING.scope(opening, rmcp).await,
            None => rmcp.await,
        }
    }
}
