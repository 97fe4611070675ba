//! The authentication seam: what the transport edge asks of whatever verifies credentials.
//!
//! `toolgate-server`'s HTTP edge calls an [`Authenticator`] once per request, before anything
//! else reads the request, and puts the resulting [`Principal`] into the request's extensions,
//! where [`crate::CallContext`] is built from. `toolgate-auth` implements it (JWTs, token
//! introspection, API keys); tests implement it with fixed tokens. The edge turns a
//! [`Refusal`] into a `401`/`403` with the `WWW-Authenticate` header the MCP authorization
//! specification asks of a resource server.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::context::Principal;

/// Verifies the credential of one HTTP request.
pub trait Authenticator: Send + Sync + 'static {
    /// The caller of `request`, or why it is refused. Reads only the head: credentials come
    /// from the `Authorization` header, never from the query string or a cookie.
    fn authenticate<'a>(
        &'a self,
        request: &'a http::request::Parts,
    ) -> BoxFuture<'a, Result<Arc<Principal>, Refusal>>;
}

/// Why a request was refused, in the terms of RFC 6750 §3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `401` (no or bad credential) or `403` (valid credential, not enough scope).
    pub status: RefusalStatus,
    /// The RFC 6750 error code; `None` when no credential was sent (RFC 6750 §3.1).
    pub error: Option<BearerError>,
    /// What was wrong, in words a person can act on ("expired 3 min ago"); never contains
    /// the credential.
    pub description: String,
    /// Scopes that would be enough, for `WWW-Authenticate: Bearer scope="…"`.
    pub scope: Option<String>,
    /// A bounded label for metrics and audit (`missing`, `expired`, `bad_signature`, …).
    pub reason: &'static str,
}

impl Refusal {
    /// No credential was presented.
    pub fn missing(description: impl Into<String>) -> Self {
        Refusal {
            status: RefusalStatus::Unauthorized,
            error: None,
            description: description.into(),
            scope: None,
            reason: "missing",
        }
    }

    /// A credential was presented and is not acceptable.
    pub fn invalid_token(reason: &'static str, description: impl Into<String>) -> Self {
        Refusal {
            status: RefusalStatus::Unauthorized,
            error: Some(BearerError::InvalidToken),
            description: description.into(),
            scope: None,
            reason,
        }
    }

    /// The request itself is malformed (two credentials, a token in the query string).
    pub fn invalid_request(reason: &'static str, description: impl Into<String>) -> Self {
        Refusal {
            status: RefusalStatus::BadRequest,
            error: Some(BearerError::InvalidRequest),
            description: description.into(),
            scope: None,
            reason,
        }
    }

    /// The credential is valid but lacks `scope`.
    pub fn insufficient_scope(scope: impl Into<String>, description: impl Into<String>) -> Self {
        Refusal {
            status: RefusalStatus::Forbidden,
            error: Some(BearerError::InsufficientScope),
            description: description.into(),
            scope: Some(scope.into()),
            reason: "insufficient_scope",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

/// The HTTP status of a [`Refusal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalStatus {
    /// `400`: the request is malformed (RFC 6750 `invalid_request`).
    BadRequest,
    /// `401`: no credential, or an unacceptable one.
    Unauthorized,
    /// `403`: the credential does not grant enough.
    Forbidden,
}

impl RefusalStatus {
    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            RefusalStatus::BadRequest => 400,
            RefusalStatus::Unauthorized => 401,
            RefusalStatus::Forbidden => 403,
        }
    }
}

/// RFC 6750 §3.1 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_token`.
    InvalidToken,
    /// `insufficient_scope`.
    InsufficientScope,
}

impl BearerError {
    /// The code as written in `WWW-Authenticate`.
    pub fn as_str(self) -> &'static str {
        match self {
            BearerError::InvalidRequest => "invalid_request",
            BearerError::InvalidToken => "invalid_token",
            BearerError::InsufficientScope => "insufficient_scope",
        }
    }
}
