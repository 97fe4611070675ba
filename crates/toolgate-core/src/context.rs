//! The call context: everything a layer or a source may need to know about one MCP request.
//!
//! A context is created once per request at the transport edge (stdio line, HTTP POST,
//! in-process call) and travels with the request through every layer of the pipeline into
//! the source that serves it. It is cheap to clone (a few `Arc`s).

use std::fmt;
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
        CorrelationId(Arc::from(uuid::Uuid::new_v4().simple().to_string()))
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

/// The authenticated caller, once authentication exists (filled by the auth layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Subject (`sub` claim or API key id).
    pub subject: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
}

/// Everything known about one MCP request besides its payload.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// Correlation id for logs and backend requests.
    pub correlation_id: CorrelationId,
    /// Transport the request came in on.
    pub transport: Transport,
    /// The authenticated caller, if any.
    pub principal: Option<Principal>,
    /// When the caller stops waiting; sources should not start work past it.
    pub deadline: Option<Instant>,
    /// Cancelled when the client cancels the request or goes away.
    pub cancel: CancellationToken,
    /// Headers of the incoming HTTP request (HTTP transport only). Sources forward only the
    /// names their configuration allowlists.
    pub incoming_headers: Option<Arc<http::HeaderMap>>,
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
            principal: None,
            deadline: None,
            cancel: CancellationToken::new(),
            incoming_headers: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
