//! Error types of the call path, with their classification as data.
//!
//! Two families, mirroring MCP's two error channels:
//! - [`ToolError`]: a tool ran (or tried to) and failed: bad arguments, backend said no,
//!   timeout. It reaches the client as a `CallToolResult` with `isError: true`, so the model
//!   can read it and correct itself.
//! - [`GatewayError`]: the request itself cannot be served: unknown tool, bad cursor, missing
//!   resource. It reaches the client as a JSON-RPC error.
//!
//! The mapping of both to the wire lives in one place: [`crate::wire`].

use std::sync::Arc;
use std::time::Duration;

/// What kind of tool failure this is; drives metrics labels, retries and circuit breakers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolErrorKind {
    /// Arguments failed validation against the tool's `inputSchema`, or could not be encoded
    /// into a request (e.g. a CR/LF in a header value).
    InvalidArguments,
    /// The backend answered with a non-2xx status.
    BackendStatus,
    /// The backend did not answer within the timeout.
    Timeout,
    /// The backend could not be reached (refused, DNS, TLS): nothing was sent.
    Connect,
    /// The exchange failed after the request may have been sent (connection reset mid-way, a
    /// malformed response, a redirect loop): the backend may have processed it.
    Transport,
    /// A request or response body exceeded the configured cap.
    TooLarge,
    /// A concurrency cap was full; the call was refused before anything was sent.
    Overloaded,
    /// A policy refused the call (rate limit, open circuit, missing scope).
    Rejected,
    /// The call was cancelled by the client.
    Cancelled,
    /// An upstream MCP server answered with a JSON-RPC error, or broke the protocol (an
    /// unexpected or malformed answer). The upstream's own error, when it sent one, is in
    /// [`ToolError::rpc_error`] and reaches the client with its code.
    Protocol,
    /// The source cannot serve calls now: an upstream MCP server that is down, restarting or
    /// whose circuit is open. Nothing was sent.
    Unavailable,
    /// The call needs input from the client first (MCP 2026-07-28 MRTR): not a failure. The
    /// `input_required` result for the client is in [`ToolError::input_required`]; the edge
    /// answers with it instead of an error (see `toolgate_server`'s handler).
    InputRequired,
    /// An unexpected failure inside the gateway.
    Internal,
}

impl ToolErrorKind {
    /// Snake-case label for metrics and logs (a bounded set).
    pub fn as_str(self) -> &'static str {
        match self {
            ToolErrorKind::InvalidArguments => "invalid_arguments",
            ToolErrorKind::BackendStatus => "backend_status",
            ToolErrorKind::Timeout => "timeout",
            ToolErrorKind::Connect => "connect",
            ToolErrorKind::Transport => "transport",
            ToolErrorKind::TooLarge => "too_large",
            ToolErrorKind::Overloaded => "overloaded",
            ToolErrorKind::Rejected => "rejected",
            ToolErrorKind::Cancelled => "cancelled",
            ToolErrorKind::Protocol => "protocol",
            ToolErrorKind::Unavailable => "unavailable",
            ToolErrorKind::InputRequired => "input_required",
            ToolErrorKind::Internal => "internal",
        }
    }

    /// Where a failure of this kind arises unless a source says otherwise.
    fn default_origin(self) -> ErrorOrigin {
        match self {
            ToolErrorKind::BackendStatus
            | ToolErrorKind::Timeout
            | ToolErrorKind::Connect
            | ToolErrorKind::Transport
            | ToolErrorKind::Protocol
            | ToolErrorKind::Unavailable => ErrorOrigin::Backend,
            ToolErrorKind::InvalidArguments
            | ToolErrorKind::TooLarge
            | ToolErrorKind::Overloaded
            | ToolErrorKind::Rejected
            | ToolErrorKind::Cancelled
            | ToolErrorKind::InputRequired
            | ToolErrorKind::Internal => ErrorOrigin::Gateway,
        }
    }

    /// How far a request got before a failure of this kind, unless a source says otherwise.
    fn default_delivery(self) -> Delivery {
        match self {
            ToolErrorKind::BackendStatus
            | ToolErrorKind::Protocol
            | ToolErrorKind::InputRequired => Delivery::Sent,
            // A timeout or a broken exchange may come after the backend acted on the request;
            // a cancellation may abort a request in flight.
            ToolErrorKind::Timeout | ToolErrorKind::Transport | ToolErrorKind::Cancelled => {
                Delivery::MaybeSent
            }
            ToolErrorKind::InvalidArguments
            | ToolErrorKind::Connect
            | ToolErrorKind::TooLarge
            | ToolErrorKind::Overloaded
            | ToolErrorKind::Rejected
            | ToolErrorKind::Unavailable
            | ToolErrorKind::Internal => Delivery::NotSent,
        }
    }
}

/// Which component a failure came from: what a circuit breaker or an operator blames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorOrigin {
    /// toolgate itself: argument validation, a policy, a size cap, an internal failure.
    Gateway,
    /// The source's backend: the HTTP API or the upstream MCP server.
    Backend,
    /// The service that issues the backend's credentials (an OAuth2 token endpoint): a
    /// failure there says nothing about the backend's health.
    CredentialProvider,
}

impl ErrorOrigin {
    /// Snake-case label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorOrigin::Gateway => "gateway",
            ErrorOrigin::Backend => "backend",
            ErrorOrigin::CredentialProvider => "credential_provider",
        }
    }
}

/// How far the request got before the failure: what a retry policy must know before it
/// sends a request that is not idempotent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Nothing reached the backend: sending again cannot apply the operation twice.
    NotSent,
    /// The request may have reached the backend, which may have acted on it.
    MaybeSent,
    /// The backend received the request and answered.
    Sent,
}

impl Delivery {
    /// Snake-case label for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::NotSent => "not_sent",
            Delivery::MaybeSent => "maybe_sent",
            Delivery::Sent => "sent",
        }
    }
}

/// One argument that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgumentViolation {
    /// JSON pointer into the arguments, e.g. `/tags/2` (`""` for the arguments object itself).
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

/// A tool call that failed; becomes an `isError: true` result.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ToolError {
    /// Classification.
    pub kind: ToolErrorKind,
    /// Which component failed.
    pub origin: ErrorOrigin,
    /// How far the request got: whether the backend may have acted on it.
    pub delivery: Delivery,
    /// A message the model can act on: what failed, where, how to fix it. Never contains
    /// secrets.
    pub message: String,
    /// Backend HTTP status, for `BackendStatus`.
    pub status: Option<u16>,
    /// Every argument violation, for `InvalidArguments`.
    pub violations: Vec<ArgumentViolation>,
    /// Whether trying again unchanged may succeed (timeouts, 502/503/504, 429, connect errors).
    /// Whether it is *safe* to try again is [`ToolError::delivery`] and the operation's
    /// idempotency.
    pub retryable: bool,
    /// How long to wait before retrying, when known (rate limits, `Retry-After`).
    pub retry_after: Option<Duration>,
    /// The JSON-RPC error an upstream MCP server answered with (for `Protocol`): its code and
    /// data are passed through to the client, its message prefixed with the source's name.
    pub rpc_error: Option<Box<rmcp::ErrorData>>,
    /// The `input_required` result the client must answer, for `InputRequired`.
    pub input_required: Option<Box<rmcp::model::InputRequiredResult>>,
    /// How many times the request was sent before this failure was final (1 unless a retry
    /// policy tried again): shown in the result's `_meta` and in the call log.
    pub attempts: u32,
    /// The underlying error, for the log (never shown to the client).
    #[source]
    pub cause: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl ToolError {
    /// A failure of `kind` with `message`; `retryable`, origin and delivery follow from the
    /// kind (override them with the `with_*` methods).
    pub fn new(kind: ToolErrorKind, message: impl Into<String>) -> Self {
        let retryable = matches!(
            kind,
            ToolErrorKind::Timeout
                | ToolErrorKind::Connect
                | ToolErrorKind::Transport
                | ToolErrorKind::Overloaded
                | ToolErrorKind::Unavailable
        );
        ToolError {
            kind,
            origin: kind.default_origin(),
            delivery: kind.default_delivery(),
            message: message.into(),
            status: None,
            violations: Vec::new(),
            retryable,
            retry_after: None,
            rpc_error: None,
            input_required: None,
            attempts: 1,
            cause: None,
        }
    }

    /// An upstream MCP server's JSON-RPC error, passed through with its code; `message` says
    /// which source answered it.
    pub fn upstream_rpc(message: impl Into<String>, error: rmcp::ErrorData) -> Self {
        ToolError {
            rpc_error: Some(Box::new(error)),
            ..ToolError::new(ToolErrorKind::Protocol, message)
        }
    }

    /// Not a failure: the call waits for input from the client, which `result` asks for
    /// (MCP 2026-07-28 MRTR); `message` is what a client that cannot answer it sees.
    pub fn input_required(
        message: impl Into<String>,
        result: rmcp::model::InputRequiredResult,
    ) -> Self {
        ToolError {
            input_required: Some(Box::new(result)),
            ..ToolError::new(ToolErrorKind::InputRequired, message)
        }
    }

    /// Sets which component failed.
    pub fn with_origin(mut self, origin: ErrorOrigin) -> Self {
        self.origin = origin;
        self
    }

    /// Sets how far the request got.
    pub fn with_delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// Keeps the underlying error for the log.
    pub fn with_cause(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Arc::new(cause));
        self
    }

    /// Argument validation failure listing every violation.
    pub fn invalid_arguments(tool: &str, violations: Vec<ArgumentViolation>) -> Self {
        let mut message = format!(
            "invalid arguments for tool `{tool}` ({} problem{}):",
            violations.len(),
            if violations.len() == 1 { "" } else { "s" }
        );
        for v in &violations {
            let at = if v.path.is_empty() {
                "(arguments)"
            } else {
                v.path.as_str()
            };
            message.push_str(&format!("\n- {at}: {}", v.message));
        }
        ToolError {
            violations,
            ..ToolError::new(ToolErrorKind::InvalidArguments, message)
        }
    }

    /// Sets the backend status (and whether it is retryable: 408, 429, 502, 503, 504).
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self.retryable = matches!(status, 408 | 429 | 502 | 503 | 504);
        self
    }
}

/// A request that cannot be served at all; becomes a JSON-RPC error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    /// `tools/call` named a tool the catalog does not have.
    #[error("unknown tool: {0}")]
    UnknownTool(String),
    /// `prompts/get` named a prompt the catalog does not have.
    #[error("unknown prompt: {0}")]
    UnknownPrompt(String),
    /// The method is not served: no source supports it (e.g. `logging/setLevel` when no
    /// source logs).
    #[error("method not supported: {0}")]
    Unsupported(String),
    /// `resources/read` named a URI no resource or template matches.
    #[error("resource not found: {0}")]
    ResourceNotFound(String),
    /// A pagination cursor this server did not issue.
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// The request parameters are malformed.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// The request was refused before reaching a tool (e.g. unauthenticated).
    #[error("{0}")]
    Refused(String),
    /// The gateway failed unexpectedly; details are in the log under the correlation id.
    #[error("internal error (correlation id {0})")]
    Internal(String),
}
