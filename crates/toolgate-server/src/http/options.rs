//! The settings of the streamable HTTP transport: one type, which is both the `http` section
//! of toolgate's YAML configuration (serde and JSON Schema; its `///` docs are the user
//! reference) and what [`super::mcp_router`] and [`super::gateway_app`] take.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::sessions::SessionsConfig;

/// Whether 2025-11-25 (and older) clients get protocol sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionMode {
    /// `initialize` creates a session (`Mcp-Session-Id`); GET streams and server-to-client
    /// messages work. 2026-07-28 requests are served statelessly regardless.
    #[default]
    Stateful,
    /// Every request stands alone: no session ids, any replica can serve any request.
    Stateless,
}

/// Streamable HTTP transport settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpOptions {
    /// Address to listen on. Loopback by default; binding elsewhere requires `allowed_hosts`.
    pub bind: String,
    /// Path of the MCP endpoint.
    pub path: String,
    /// Accepted `Host` header values (`name` or `name:port`); loopback names by default, which
    /// refuses DNS-rebinding attacks. Set to your public host names when exposing the server.
    /// An empty list accepts any host (not recommended).
    pub allowed_hosts: Option<Vec<String>>,
    /// Accepted browser `Origin` values (`scheme://host[:port|:*]`); loopback by default.
    /// Requests without `Origin` (non-browser clients) are not affected.
    pub allowed_origins: Option<Vec<String>>,
    /// `stateful`: 2025-11-25 clients get sessions (`Mcp-Session-Id`). `stateless`: no
    /// sessions; any replica serves any request. 2026-07-28 clients are always stateless.
    pub session_mode: SessionMode,
    /// Answer simple requests with `application/json` rather than an SSE stream.
    pub json_response: bool,
    /// Largest accepted request body, in bytes.
    pub max_request_body_bytes: usize,
    /// How long calls in progress may run after SIGINT/SIGTERM before they are cut off.
    pub shutdown_grace_seconds: u64,
    /// Serve well-formed `tools/call` and `tools/list` requests (stateless 2026-07-28 ones,
    /// and session-mode ones of older clients; over stdio too) on toolgate's lean fast path
    /// (same answers as the general path, a fraction of the work). Turn off only to rule it
    /// out when debugging.
    pub fast_path: bool,
    /// Microseconds the gateway keeps polling its sockets instead of sleeping after an HTTP
    /// call starts or ends, while at most 4 calls are in flight (0: never). Saves the
    /// wake-ups of a hop at low concurrency, above all in VMs, for CPU time: up to the window
    /// after each call, plus the time calls wait within it (README, "Performance";
    /// BENCHMARKS.md, "Busy polling"). Needs the default single worker thread.
    pub busy_poll_us: u64,
    /// Seconds after which a legacy session nobody used is closed (its client then gets 404
    /// and starts a new session).
    pub session_idle_timeout_seconds: u64,
    /// Seconds between keep-alive comments on SSE streams (0: none).
    pub sse_keep_alive_seconds: u64,
    /// Where legacy sessions are kept: `{store: memory}` (the default: this process), or
    /// shared by replicas behind a load balancer, `{store: redis, url: …}` or
    /// `{store: sealed, secret: …}` (see docs/fleet.md).
    pub sessions: SessionsConfig,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            bind: "127.0.0.1:8080".to_owned(),
            path: "/mcp".to_owned(),
            allowed_hosts: None,
            allowed_origins: None,
            session_mode: SessionMode::Stateful,
            json_response: true,
            max_request_body_bytes: 4 * 1024 * 1024,
            shutdown_grace_seconds: 10,
            fast_path: true,
            busy_poll_us: 0,
            session_idle_timeout_seconds: 300,
            sse_keep_alive_seconds: 15,
            sessions: SessionsConfig::Memory,
        }
    }
}

impl HttpOptions {
    /// The `Host` allowlist in force: the configured one, else loopback names.
    pub fn effective_allowed_hosts(&self) -> Vec<String> {
        self.allowed_hosts
            .clone()
            .unwrap_or_else(default_allowed_hosts)
    }

    /// The `Origin` allowlist in force: the configured one, else loopback origins.
    pub fn effective_allowed_origins(&self) -> Vec<String> {
        self.allowed_origins
            .clone()
            .unwrap_or_else(default_allowed_origins)
    }

    /// How long a legacy session may sit unused.
    pub fn session_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.session_idle_timeout_seconds)
    }

    /// How long calls may finish after a shutdown signal.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }

    /// The SSE keep-alive interval, if any.
    pub fn sse_keep_alive(&self) -> Option<Duration> {
        (self.sse_keep_alive_seconds > 0).then(|| Duration::from_secs(self.sse_keep_alive_seconds))
    }
}

/// Loopback host names: the default `Host` allowlist (defeats DNS rebinding).
pub fn default_allowed_hosts() -> Vec<String> {
    ["localhost", "127.0.0.1", "::1", "[::1]"]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Loopback origins on any port: the default `Origin` allowlist.
pub fn default_allowed_origins() -> Vec<String> {
    [
        "http://localhost:*",
        "http://127.0.0.1:*",
        "http://[::1]:*",
        "https://localhost:*",
        "https://127.0.0.1:*",
        "https://[::1]:*",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}
