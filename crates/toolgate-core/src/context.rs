//! The call context: everything a layer or a source may need to know about one MCP request.
//!
//! A context is created once per request at the transport edge (stdio line, HTTP POST,
//! in-process call) and travels with the request through every layer of the pipeline into
//! the source that serves it. It is cheap to clone (a few `Arc`s).

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The id that ties the log lines, metrics exemplars and backend requests of one call together.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CorrelationId(Arc<str>);

impl CorrelationId {
    /// Longest id accepted from a client; longer ones are replaced by a fresh id.
    pub const MAX_LEN: usize = 128;

    /// A fresh random id (UUID v4, simple form).
    pub fn generate() -> Self {
        let mut text = [0u8; uuid::fmt::Simple::LENGTH];
        CorrelationId(Arc::from(
            &*uuid::Uuid::new_v4().simple().encode_lower(&mut text),
        ))
    }

    /// Takes a client-supplied id if it is short and made only of visible ASCII without
    /// spaces (so it is safe to log and to forward as a header); otherwise `None`.
    pub fn from_client(value: &str) -> Option<Self> {
        let ok = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| CorrelationId(Arc::from(value)))
    }

    /// Derives the id from incoming HTTP headers: `X-Request-Id` first, then the trace id of a
    /// W3C `traceparent`; a fresh id when neither is usable.
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");
        const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");
        // Header names as constants: a `&str` lookup parses the name on every request.
        if let Some(id) = headers
            .get(X_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .and_then(CorrelationId::from_client)
        {
            return id;
        }
        if let Some(trace_id) = headers
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(trace_id_of)
        {
            return CorrelationId(Arc::from(trace_id));
        }
        CorrelationId::generate()
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Extracts the 32-hex-digit trace id of a `traceparent` header (`00-<trace>-<span>-<flags>`).
fn trace_id_of(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let _version = parts.next()?;
    let trace = parts.next()?;
    let valid = trace.len() == 32
        && trace.bytes().all(|b| b.is_ascii_hexdigit())
        && trace.bytes().any(|b| b != b'0');
    valid.then_some(trace)
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CorrelationId({})", self.0)
    }
}

/// Which transport a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// MCP over stdin/stdout.
    Stdio,
    /// MCP over streamable HTTP.
    Http,
    /// Called in-process (embedding, tests).
    InProcess,
}

impl Transport {
    /// Lower-case name, used as a metric label and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Stdio => "stdio",
            Transport::Http => "http",
            Transport::InProcess => "in_process",
        }
    }
}

/// Which path through the server a request took: the fast path (served by toolgate's own
/// edge, see `toolgate-server`) or rmcp's general path. A label for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EdgePath {
    /// rmcp's request handling (or an in-process call).
    #[default]
    Rmcp,
    /// toolgate's fast path.
    Fast,
}

impl EdgePath {
    /// Lower-case name, used as a metric label and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgePath::Rmcp => "rmcp",
            EdgePath::Fast => "fast",
        }
    }
}

/// The authenticated caller (established once per request at the transport edge: from the
/// HTTP request's authentication, or from configuration on stdio).
///
/// Built by `toolgate-auth` (or the stdio configuration); read by the authorization layer
/// (scopes, roles, claims), the call log and audit (subject), rate limits (subject) and
/// sources that pass the caller's identity to their backend (claims, credential).
#[derive(Clone, PartialEq, Eq)]
pub struct Principal {
    /// Subject (`sub` claim, API key id, or the configured stdio subject).
    pub subject: String,
    /// Granted scopes (`scope`/`scp` claims, the API key's scopes, or configured).
    pub scopes: Vec<String>,
    /// Roles read from the configured claim path (e.g. `realm_access.roles`).
    pub roles: Vec<String>,
    /// How the caller was authenticated.
    pub method: AuthMethod,
    /// The token's claims (JWT payload or introspection answer), for authorization rules on
    /// claims and for claim → header mapping. Empty for API keys and configured principals.
    pub claims: Arc<serde_json::Map<String, serde_json::Value>>,
    /// The credential the caller presented, kept only for sources configured to forward or
    /// exchange it. Never printed.
    pub credential: Option<Credential>,
}

impl Principal {
    /// A principal with only a subject and scopes (configured callers, tests).
    pub fn new(subject: impl Into<String>, scopes: Vec<String>, method: AuthMethod) -> Self {
        Principal {
            subject: subject.into(),
            scopes,
            roles: Vec::new(),
            method,
            claims: Arc::default(),
            credential: None,
        }
    }

    /// Whether the caller holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether the caller holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Written by hand: the credential never prints.
impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.subject)
            .field("scopes", &self.scopes)
            .field("roles", &self.roles)
            .field("method", &self.method)
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// How a [`Principal`] was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// A signed JWT verified against the issuer's keys.
    Jwt,
    /// An opaque token accepted by RFC 7662 introspection.
    Introspection,
    /// A static API key from the configuration.
    ApiKey,
    /// Configured for the transport (stdio): no credential was presented.
    Configured,
}

impl AuthMethod {
    /// Lower-case name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::Introspection => "introspection",
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Configured => "configured",
        }
    }
}

/// A bearer credential as the caller presented it. `Debug` and `Display` never show it; read
/// it with [`Credential::expose`] only to put it on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(Arc<str>);

impl Credential {
    /// Wraps a presented credential.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Credential(value.into())
    }

    /// The credential itself, to send it where the configuration says so.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential(<redacted>)")
    }
}

/// Everything known about one MCP request besides its payload.
#[derive(Clone)]
pub struct CallContext {
    /// Correlation id for logs and backend requests.
    pub correlation_id: CorrelationId,
    /// Transport the request came in on.
    pub transport: Transport,
    /// The path through the server that serves it.
    pub path: EdgePath,
    /// The authenticated caller, if any.
    pub principal: Option<Arc<Principal>>,
    /// The client's network address (HTTP), when known.
    pub peer: Option<SocketAddr>,
    /// When the caller stops waiting; sources should not start work past it.
    pub deadline: Option<Instant>,
    /// Cancelled when the client cancels the request or goes away.
    pub cancel: CancellationToken,
    /// Headers of the incoming HTTP request (HTTP transport only). Sources forward only the
    /// names their configuration allowlists.
    pub incoming_headers: Option<Arc<http::HeaderMap>>,
    /// The channel back to the client (progress, logs, sampling/elicitation/roots requests):
    /// present on rmcp's path and, for tools that talk back, in a 2026-07-28 fast-path call;
    /// absent otherwise on the fast path and in-process.
    pub client: Option<Arc<dyn crate::client::ClientChannel>>,
    /// The request's span, when traces are on (set at the edge); sources start their client
    /// spans under it and propagate it to their backends.
    pub trace: Option<crate::trace::CallTrace>,
    /// The endpoint (virtual server) the request arrived at, whose view of the catalog the
    /// call runs against (`crate::endpoint::catalog_for`); `None`: the whole catalog.
    pub view: Option<Arc<crate::endpoint::EndpointView>>,
}

/// Written by hand: the incoming headers may hold the client's credentials, so only their
/// names are shown.
impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("correlation_id", &self.correlation_id)
            .field("transport", &self.transport)
            .field("path", &self.path)
            .field("principal", &self.principal.as_ref().map(|p| &p.subject))
            .field("peer", &self.peer)
            .field("deadline", &self.deadline)
            .field("cancelled", &self.cancel.is_cancelled())
            .field(
                "incoming_headers",
                &self
                    .incoming_headers
                    .as_ref()
                    .map(|h| h.keys().map(|k| k.as_str()).collect::<Vec<_>>()),
            )
            .field("client", &self.client.as_ref().map(|c| c.session_key()))
            .field("trace", &self.trace)
            .field("endpoint", &self.view.as_ref().map(|v| v.name()))
            .finish()
    }
}

impl CallContext {
    /// A context for an in-process call with a fresh correlation id and no deadline.
    pub fn in_process() -> Self {
        CallContext::new(CorrelationId::generate(), Transport::InProcess)
    }

    /// A context for `transport` with the given id, no principal, no deadline.
    pub fn new(correlation_id: CorrelationId, transport: Transport) -> Self {
        CallContext {
            correlation_id,
            transport,
            path: EdgePath::Rmcp,
            principal: None,
            peer: None,
            deadline: None,
            cancel: CancellationToken::new(),
            incoming_headers: None,
            client: None,
            trace: None,
            view: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_header_values() {
        let mut ctx = CallContext::in_process();
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", "Bearer canary-secret".parse().unwrap());
        ctx.incoming_headers = Some(Arc::new(headers));
        let text = format!("{ctx:?}");
        assert!(text.contains("authorization"), "{text}");
        assert!(!text.contains("canary-secret"), "{text}");
    }

    #[test]
    fn client_ids_are_taken_only_when_safe() {
        assert_eq!(
            CorrelationId::from_client("abc-123").unwrap().as_str(),
            "abc-123"
        );
        assert!(CorrelationId::from_client("").is_none());
        assert!(CorrelationId::from_client("has space").is_none());
        assert!(CorrelationId::from_client("line\nbreak").is_none());
        assert!(CorrelationId::from_client(&"x".repeat(129)).is_none());
    }

    #[test]
    fn request_id_header_wins_over_traceparent() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            CorrelationId::from_headers(&h).as_str(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        h.insert("x-request-id", "req-1".parse().unwrap());
        assert_eq!(CorrelationId::from_headers(&h).as_str(), "req-1");
    }

    #[test]
    fn invalid_traceparent_gets_a_fresh_id() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "traceparent",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let id = CorrelationId::from_headers(&h);
        assert_eq!(id.as_str().len(), 32);
        assert_ne!(id.as_str(), "00000000000000000000000000000000");
    }
}
