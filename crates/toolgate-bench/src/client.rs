//! The load generator's MCP client, for other tools that need its speed (`toolgate replay`):
//! one keep-alive HTTP/1.1 connection per client, stateless 2026-07-28 requests or one legacy
//! session, and the whole JSON-RPC answer handed back (the benchmark itself only classifies
//! answers).

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use serde_json::{Map, Value};

pub use crate::args::HttpMode;
use crate::args::McpMethod;
use crate::calls::{Call, HANDSHAKE_VERSION, Prepared, STATELESS_VERSION};
use crate::http1::Endpoint;
use crate::mcp_http::McpHttpWorker;
pub use crate::rpc::ErrorKind;

/// Where a client connects and how it talks.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The streamable HTTP endpoint (`http://127.0.0.1:8080/mcp`; plain HTTP only).
    pub url: String,
    /// Stateless requests or one session per client.
    pub mode: HttpMode,
    /// The protocol version (default: 2026-07-28 stateless, 2025-11-25 for a session).
    pub protocol_version: Option<String>,
    /// `Authorization` value sent with every request (`Bearer …`; never printed), if any.
    pub authorization: Option<String>,
    /// How long one request may take.
    pub timeout: Duration,
}

/// An endpoint parsed once and shared by every client of a run.
#[derive(Debug, Clone)]
pub struct Target {
    endpoint: Arc<Endpoint>,
    mode: HttpMode,
    version: String,
    timeout: Duration,
}

impl Target {
    /// Parses the options' URL.
    pub fn new(options: &ClientOptions) -> Result<Target, String> {
        let mut endpoint = Endpoint::parse(&options.url)?;
        if let Some(text) = &options.authorization {
            let mut value = HeaderValue::from_str(text)
                .map_err(|_| "the authorization is not a valid header value".to_owned())?;
            value.set_sensitive(true);
            endpoint.authorization = Some(value);
        }
        let version = options.protocol_version.clone().unwrap_or_else(|| {
            match options.mode {
                HttpMode::Stateless => STATELESS_VERSION,
                HttpMode::Session => HANDSHAKE_VERSION,
            }
            .to_owned()
        });
        Ok(Target {
            endpoint: Arc::new(endpoint),
            mode: options.mode,
            version,
            timeout: options.timeout,
        })
    }

    /// Opens a client on a connection of its own (a session runs `initialize` first).
    pub async fn connect(&self) -> Result<McpClient, String> {
        let mut worker = McpHttpWorker::open(
            self.endpoint.clone(),
            self.mode,
            &self.version,
            self.timeout,
        )
        .await?;
        worker.ensure_open().await?;
        Ok(McpClient {
            worker,
            meta_version: (self.mode == HttpMode::Stateless).then(|| self.version.clone()),
        })
    }
}

/// One MCP client: one connection, one request at a time.
pub struct McpClient {
    worker: McpHttpWorker,
    meta_version: Option<String>,
}

impl McpClient {
    /// Calls `name` with `arguments`; returns the JSON-RPC response (with `result` or
    /// `error`), or why none came.
    pub async fn call_tool(
        &mut self,
        name: &str,
        arguments: &Map<String, Value>,
    ) -> Result<Value, (ErrorKind, String)> {
        let call = Call {
            name: name.to_owned(),
            arguments: arguments.clone(),
        };
        let prepared = Prepared::new(
            McpMethod::ToolsCall,
            Some(&call),
            self.meta_version.as_deref(),
        );
        self.worker.call_message(&prepared).await
    }

    /// Ends the session, if there is one.
    pub async fn close(&mut self) {
        self.worker.close().await;
    }
}
