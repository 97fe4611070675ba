//! The HTTP side of the fast path: which HTTP requests may take it (the header rules), and
//! serving them through the one edge with the client's disconnect as cancellation.
//!
//! Two kinds of request qualify, besides the message rules of [`crate::protocol`]:
//!
//! - **modern** (stateless 2026-07-28): version header `2026-07-28`, no session id, no
//!   `Mcp-Param-*` headers, `Mcp-Method`/`Mcp-Name` equal to the body's method and tool;
//! - **legacy session** (2025-11-25 and older, session mode): a known older version header
//!   and the id of a live session (checked in [`Sessions`], which the call also keeps alive).
//!   The answer is a plain JSON body, which the transport allows for any POST, instead of
//!   rmcp's SSE stream.
//!
//! Cancellation: a modern client cancels by closing the connection, which drops the request's
//! future; a guard then cancels the call's token, so the source stops its backend work. A
//! legacy client sends `notifications/cancelled` in its session: one naming a fast-path call
//! in progress cancels it here, and one arriving while the session's rmcp worker hibernates
//! (so no rmcp request can be running) is acknowledged here without waking the worker.

use std::sync::Arc;

use http::{HeaderMap, HeaderName, StatusCode, header};
use rmcp::model::ProtocolVersion;
use tokio_util::sync::CancellationToken;
use toolgate_core::{EdgePath, McpRequest};

use crate::gateway::{Arrival, Gateway};
use crate::protocol::channel::ModernChannel;
use crate::protocol::{self, Cancellations, Envelope, MODERN, Revision, reply};
use crate::sessions::Sessions;
use crate::trace::{RequestEdge, RpcId};

// Header names as constants: looking a header up by `&str` parses the name every time.
const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");

/// The fast path of one MCP endpoint.
pub(crate) struct FastPath {
    gateway: Gateway,
    /// The legacy session table (session mode only).
    sessions: Option<Arc<Sessions>>,
    /// Legacy fast-path calls in progress, by session and request id.
    cancellations: Arc<Cancellations>,
}

impl FastPath {
    pub(crate) fn new(gateway: Gateway, sessions: Option<Arc<Sessions>>) -> Self {
        FastPath {
            gateway,
            sessions,
            cancellations: Arc::default(),
        }
    }

    /// Serves the request when it qualifies; `None` hands it to rmcp unchanged.
    pub(crate) async fn serve(
        &self,
        parts: &http::request::Parts,
        bytes: &[u8],
    ) -> Option<axum::response::Response> {
        let revision = headers_qualify(&parts.headers)?;
        let envelope = Envelope::parse(bytes)?;
        let session = match revision {
            Revision::Modern => None,
            Revision::Legacy => {
                let id: Arc<str> = Arc::from(parts.headers.get(MCP_SESSION_ID)?.to_str().ok()?);
                // An unknown or ended session is rmcp's to answer (404).
                if !self.sessions.as_ref()?.touch(&id) {
                    return None;
                }
                if envelope.method() == "notifications/cancelled" {
                    return self.cancel(&id, &envelope).await;
                }
                Some(id)
            }
        };
        let meta_parent = if self.gateway.traced() {
            envelope.trace_context()
        } else {
            None
        };
        let protocol::Qualified {
            id,
            request,
            client,
        } = qualify_http(&parts.headers, envelope, revision)?;
        let cancel = CancellationToken::new();
        let mut ctx = self
            .gateway
            .context(Arrival::Http(parts), EdgePath::Fast, cancel.clone());
        // A tool whose source talks back to the client (progress, sampling, ...) needs a
        // channel: the fast path has one only for a 2026-07-28 request owed nothing but its
        // answer; anything else takes rmcp's.
        if self
            .gateway
            .needs_client_channel(&request, ctx.principal.as_deref())
        {
            let channel = ModernChannel::http(client?)?;
            ctx.client = Some(Arc::new(channel));
        }
        // The client going away drops this future: the guard then cancels the call.
        let on_drop = cancel.clone().drop_guard();
        let _registered = session.map(|s| self.cancellations.register(s, &id, cancel.clone()));
        let edge = RequestEdge {
            head: Some(parts),
            meta_parent: meta_parent.as_ref(),
            ..RequestEdge::new(RpcId::Json(&id))
        };
        let body = reply::answer(&self.gateway, ctx, &id, request, revision, edge).await;
        on_drop.disarm();
        Some(json_response(StatusCode::OK, body))
    }

    /// Handles a legacy `notifications/cancelled` when it concerns a fast-path call or a
    /// hibernating session; `None` leaves it to rmcp.
    async fn cancel(
        &self,
        session: &Arc<str>,
        envelope: &Envelope<'_>,
    ) -> Option<axum::response::Response> {
        let request = envelope.cancelled_request()?;
        let cancelled = self.cancellations.cancel(session, request);
        if cancelled {
            tracing::info!(session = %session, id = %protocol::id_key(request), "cancelled");
        }
        if cancelled || self.sessions.as_ref()?.is_hibernating(session).await {
            // What rmcp answers a notification with.
            return Some(
                http::Response::builder()
                    .status(StatusCode::ACCEPTED)
                    .body(axum::body::Body::empty())
                    .expect("a valid response"),
            );
        }
        None
    }
}

/// An `application/json` response.
pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> axum::response::Response {
    let mut response = axum::response::Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Which kind of fast-path request the headers announce, if any (checked before parsing).
pub(crate) fn headers_qualify(headers: &HeaderMap) -> Option<Revision> {
    let h = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let transport_ok = h(header::CONTENT_TYPE).is_some_and(|c| c.starts_with("application/json"))
        && h(header::ACCEPT)
            .is_some_and(|a| a.contains("application/json") && a.contains("text/event-stream"));
    if !transport_ok {
        return None;
    }
    let version = h(MCP_PROTOCOL_VERSION)?;
    if version == MODERN {
        let qualifies = matches!(h(MCP_METHOD), Some("tools/call" | "tools/list"))
            && !headers.contains_key(MCP_SESSION_ID)
            && !headers.keys().any(|k| k.as_str().starts_with("mcp-param-"));
        return qualifies.then_some(Revision::Modern);
    }
    // Older revisions: rmcp ignores the standard `Mcp-*` request headers for them.
    let known = ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .any(|v| v.as_str() == version);
    (known && headers.contains_key(MCP_SESSION_ID)).then_some(Revision::Legacy)
}

/// The request the fast path will run, if the envelope and the HTTP headers satisfy every
/// rule of `revision` (for modern requests, `Mcp-Method`/`Mcp-Name` must match the body).
fn qualify_http(
    headers: &HeaderMap,
    env: Envelope<'_>,
    revision: Revision,
) -> Option<protocol::Qualified> {
    let h = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if revision == Revision::Modern && h(MCP_METHOD) != Some(env.method()) {
        return None;
    }
    let qualified = protocol::qualify(env, revision)?;
    if revision == Revision::Modern
        && let McpRequest::CallTool { name, .. } = &qualified.request
        && h(MCP_NAME) != Some(name.as_str())
    {
        return None;
    }
    Some(qualified)
}
