//! The MCP server of toolgate: the [`Gateway`] (the MCP face of the call pipeline and the
//! one request edge every transport goes through), the stdio and streamable HTTP transports,
//! and the mountable axum router.
//!
//! Does not own: what tools exist (the catalog, built by the binary from sources) or policies
//! (the pipeline, built by `toolgate_policy::stack`).

pub mod dashboard;
mod gateway;
mod handler;
pub mod http;
pub mod origin;
mod peer;
mod protocol;
pub mod sessions;
pub mod stdio;
mod tools_json;
mod trace;

pub use dashboard::{DashboardConfig, LatencyBudget, LatencyBudgets};
pub use gateway::{AdminReload, Gateway, InFlight, ReadinessDetail, ServerIdentity};
pub use http::{
    ADMIN_ROLE, ADMIN_SCOPE, AuthSettings, EdgeAuth, HttpOptions, MetricsAccess, SessionMode,
    endpoint_router, gateway_app, mcp_router, mcp_router_with_sessions, serve,
};
pub use sessions::{RedisSessionsConfig, SealedSessionsConfig, Sessions, SessionsConfig};
pub use stdio::{serve_stdio, serve_stdio_streams, serve_stdio_with};
