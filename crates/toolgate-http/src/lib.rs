//! Executes compiled OpenAPI operations against HTTP backends.
//!
//! This crate owns everything between "a tool was called with these arguments" and "here is
//! the MCP result": argument validation against the tool's input schema, request building
//! exactly per the OpenAPI parameter style rules, request bodies, backend credentials
//! (static headers, API keys, bearer, basic, OAuth2 client-credentials and password grants,
//! several at once), the caller's identity at the backend (claims as headers, minted JWTs,
//! RFC 8693 token exchange; [`identity`]), one pooled HTTP
//! client per backend with timeouts and a concurrency cap, and mapping responses (JSON, text,
//! images, audio, binary, errors) to MCP content. It does not compile specs
//! (`toolgate-openapi`), apply gateway policies (`toolgate-policy`) or speak MCP
//! (`toolgate-server`): failures are returned as [`toolgate_core::error::ToolError`]s and
//! mapped to the wire elsewhere.
//!
//! Entry points: [`HttpBackend::new`], [`HttpBackend::tool_handler`],
//! [`HttpBackend::readiness_probe`].

mod auth;
mod backend;
mod body;
mod client;
pub mod identity;
pub mod options;
mod request;
mod response;
mod serialize;
mod validate;

/// The OAuth2 token client (grants, cache, refresh, backoff), also used by upstream MCP
/// servers behind the gateway (`toolgate-upstream`).
pub use auth::{ClientAuth, Grant, TokenSource};

/// The transport under an OpenAPI tool call, for other sources that speak HTTP (the lean
/// `tools/call` of an upstream MCP server): for `http://` origins, connections driven by the
/// calling task (`client/inline.rs`), else hyper-util's pooled client used directly (reqwest's
/// layers re-parse the URL twice per request); same-origin redirects, a lost request resent
/// only when that is safe, reqwest for origins behind a proxy (`client.rs`), and reading a
/// body under a cap (`response.rs`).
pub mod transport {
    pub use crate::client::{
        BackendClients, DirectBody, DirectClients, InlineBody, InlinePool, Outgoing, ResponseBody,
        SendError, SendErrorKind, Transport,
    };
    pub use crate::response::read_capped;
}
pub use backend::{HttpBackend, HttpConfigError};
pub use client::ProxyEnv;
pub use options::{
    ApiKeyLocation, BackendAuth, ClientAuthMethod, Credentials, HttpSourceOptions, IdentityOptions,
    MintAlgorithm, MintOptions, Secret, TokenExchangeOptions, UnknownArguments,
};
pub use response::BackendReply;
pub use validate::{SchemaProblem, check_input_schema, check_input_schemas};
