//! Upstream MCP servers as toolgate sources, on rmcp's client side.
//!
//! Each configured server (`kind: mcp`) becomes an [`Upstream`]: a supervised connection
//! (stdio child process or streamable HTTP session) whose tools, resources, templates and
//! prompts are discovered, namespaced, curated and published to the gateway's catalog
//! (`toolgate_core::Assembly`), and whose catalog entries forward every request through the
//! gateway's one pipeline. What the server sends back outside answers (progress, log
//! messages, sampling/elicitation/roots requests, resource updates, list changes) is routed
//! to the client it belongs to.
//!
//! Modules: `config` (the YAML types), `connect` (transports), `stdio` (the stdio transport: its message cap, its line reader and writer), `http_client` (pooling and TLS of HTTP upstreams), `oauth2` (OAuth2 tokens on rmcp's HTTP client), `upstream` (lifecycle and
//! requests; `upstream/lean/`: the lean `tools/call` of 2026-07-28 HTTP upstreams), `decode` (a `tools/call` answer decoded cheaply), `declared` (the client capabilities a 2026-07-28 request declares: its caller's), `discovery` (reading every page of the lists), `entries` (catalog entries and
//! their handlers), `client` and `routing` (what the server sends), `mrtr` (2026-07-28
//! clients' and upstreams' `input_required` rounds), `uris` (served resource URIs), `metrics`. Does not own: the pipeline, policies or transports toward clients, and
//! nothing here knows OpenAPI.

mod client;
pub mod config;
mod connect;
mod declared;
mod decode;
mod discovery;
mod entries;
mod http_client;
pub mod metrics;
mod mrtr;
mod oauth2;
mod ordered;
mod routing;
mod session_client;
mod stdio;
mod upstream;
mod uris;

pub use config::McpSourceConfig;
pub use metrics::UpstreamMetrics;
pub use upstream::{Phase, SetupError, Status, Upstream};
