//! Shared helpers for the end-to-end tests: an in-process Todo API plus gateway on loopback.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio_util::sync::CancellationToken;
use toolgate::config::{self, Config, SessionModeConfig, SourceConfig, SpecLocation};

/// A running Todo API and gateway; both stop when dropped.
pub struct Stack {
    /// `http://127.0.0.1:PORT/mcp`.
    pub mcp_url: String,
    /// Gateway address.
    pub addr: SocketAddr,
    /// Todo API address.
    pub api_addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Configuration serving the Todo API at `api_addr`.
pub fn todo_config(api_addr: SocketAddr, mode: SessionModeConfig) -> Config {
    let mut config = config::load("", "<test>", &Default::default()).unwrap();
    config.http.session_mode = mode;
    config.sources.push(SourceConfig {
        name: "todo".to_owned(),
        spec: SpecLocation::Inline {
            inline: todo_api::openapi(),
        },
        base_url: Some(format!("http://{api_addr}")),
        compile: Default::default(),
        backend: Default::default(),
    });
    config
}

/// Starts the Todo API and a gateway over it, both on `127.0.0.1:0`.
pub async fn start(mode: SessionModeConfig) -> Stack {
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    let stop = CancellationToken::new();
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = todo_api::serve(api) => {}
                () = stop.cancelled() => {}
            }
        });
    }
    let config = todo_config(api_addr, mode);
    let assembled = toolgate::run::assemble(&config, &PathBuf::from("."))
        .await
        .unwrap_or_else(|e| panic!("assemble failed: {e}"));
    let options = toolgate::run::http_options(&config);
    let mcp_shutdown = CancellationToken::new();
    let app = toolgate_server::gateway_app(
        assembled.gateway.clone(),
        &options,
        assembled.metrics.clone(),
        mcp_shutdown.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    {
        let stop = stop.clone();
        let in_flight = assembled.gateway.in_flight();
        tokio::spawn(async move {
            let _ = toolgate_server::serve(
                listener,
                app,
                async move { stop.cancelled().await },
                in_flight,
                std::time::Duration::from_secs(1),
                mcp_shutdown,
            )
            .await;
        });
    }
    Stack {
        mcp_url: format!("http://{addr}/mcp"),
        addr,
        api_addr,
        stop,
    }
}

/// True when running under CI, where missing test dependencies must fail loudly.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Serves `config` over HTTP on a free loopback port: the MCP URL and the gateway.
pub async fn serve_config_with_gateway(
    config: toolgate::config::Config,
) -> (String, toolgate_server::Gateway) {
    let assembled = toolgate::run::assemble(&config, std::path::Path::new("."))
        .await
        .unwrap();
    let gateway = assembled.gateway.clone();
    let app = toolgate_server::gateway_app(
        assembled.gateway.clone(),
        &toolgate::run::http_options(&config),
        assembled.metrics.clone(),
        Default::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/mcp"), gateway)
}

/// A backend whose only operation, `GET /slow` (`operationId: slow`), answers after `delay`:
/// its URL and its OpenAPI document.
pub async fn slow_backend(delay: std::time::Duration) -> (String, serde_json::Value) {
    let backend = axum::Router::new().route(
        "/slow",
        axum::routing::get(move || async move {
            tokio::time::sleep(delay).await;
            axum::Json(serde_json::json!({"done": true}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, backend).await });
    let spec = serde_json::json!({
        "openapi": "3.1.0",
        "info": {"title": "slow", "version": "1"},
        "paths": {"/slow": {"get": {"operationId": "slow", "responses": {"200": {"description": "ok",
            "content": {"application/json": {"schema": {"type": "object"}}}}}}}}
    });
    (format!("http://{addr}"), spec)
}
