//! Building a gateway in-process, for Rust services that mount MCP into their own axum app.
//!
//! ```no_run
//! # async fn demo() -> Result<(), toolgate::Failure> {
//! let spec = serde_json::json!({"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": {}});
//! let assembled = toolgate::embed::openapi_gateway("api", spec, "http://127.0.0.1:8000").await?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! let app = axum::Router::new().merge(toolgate_server::mcp_router(
//!     assembled.gateway,
//!     &toolgate_server::HttpOptions::default(),
//!     toolgate_server::EdgeAuth::Off,
//!     shutdown,
//! ));
//! # let _ = app; Ok(()) }
//! ```

use std::path::Path;

use crate::Failure;
use crate::config::{self, Config, OpenApiSourceConfig, SourceConfig, SpecLocation};
use crate::run::{self, Assembled};

/// A gateway serving one OpenAPI document (already in memory) whose API is at `base_url`.
pub async fn openapi_gateway(
    name: &str,
    spec: serde_json::Value,
    base_url: &str,
) -> Result<Assembled, Failure> {
    let mut config = config::load("", "<embedded>", &Default::default())
        .map_err(|e| Failure::Input(e.to_string()))?;
    config.sources.push(SourceConfig::from(OpenApiSourceConfig {
        name: name.to_owned(),
        spec: SpecLocation::Inline { inline: spec },
        base_url: Some(base_url.to_owned()),
        compile: Default::default(),
        backend: Default::default(),
        tools: Default::default(),
        tool_mode: None,
    }));
    gateway_from_config(&config).await
}

/// A gateway built from a full configuration (relative spec paths resolve against the
/// current directory).
pub async fn gateway_from_config(config: &Config) -> Result<Assembled, Failure> {
    run::assemble(config, Path::new(".")).await
}
