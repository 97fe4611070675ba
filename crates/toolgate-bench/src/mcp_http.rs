//! HTTP targets: an MCP server over streamable HTTP (stateless 2026-07-28 requests, or one
//! legacy session per connection) and the plain-HTTP baseline.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::Full;
use serde_json::{Value, json};

use crate::args::HttpMode;
use crate::calls::Prepared;
use crate::http1::{Conn, Endpoint};
use crate::rpc::{self, ErrorKind};

const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const ACCEPT_BOTH: HeaderValue = HeaderValue::from_static("application/json, text/event-stream");
const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The result of one call: its outcome and the size of the answer.
pub(crate) struct CallResult {
    pub outcome: Result<(), (ErrorKind, String)>,
    pub bytes: usize,
}

/// A worker talking MCP over its own HTTP connection.
pub(crate) struct McpHttpWorker {
    endpoint: Arc<Endpoint>,
    conn: Conn,
    protocol: HeaderValue,
    session: Option<HeaderValue>,
    next_id: u64,
    timeout: Duration,
}

impl McpHttpWorker {
    /// Opens a worker; in session mode this runs `initialize` + `notifications/initialized`.
    pub async fn open(
        endpoint: Arc<Endpoint>,
        mode: HttpMode,
        version: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let conn = Conn::new(&endpoint);
        let mut worker = McpHttpWorker {
            endpoint,
            conn,
            protocol: HeaderValue::from_str(version)
                .map_err(|e| format!("bad protocol version {version:?}: {e}"))?,
            session: None,
            next_id: 1,
            timeout,
        };
        if mode == HttpMode::Session {
            worker.initialize(version).await?;
        }
        Ok(worker)
    }

    fn request(
        &self,
        method: &'static str,
        name: Option<&HeaderValue>,
        body: Bytes,
    ) -> Request<Full<Bytes>> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.endpoint.uri.clone())
            .body(Full::new(body))
            .expect("valid request");
        let h = req.headers_mut();
        h.insert(HOST, self.endpoint.host.clone());
        h.insert(CONTENT_TYPE, JSON);
        h.insert(ACCEPT, ACCEPT_BOTH);
        h.insert(MCP_PROTOCOL_VERSION, self.protocol.clone());
        h.insert(MCP_METHOD, HeaderValue::from_static(method));
        if let Some(name) = name {
            h.insert(MCP_NAME, name.clone());
        }
        if let Some(session) = &self.session {
            h.insert(MCP_SESSION_ID, session.clone());
        }
        if let Some(authorization) = &self.endpoint.authorization {
            h.insert(http::header::AUTHORIZATION, authorization.clone());
        }
        req
    }

    async fn initialize(&mut self, version: &str) -> Result<(), String> {
        let body = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": { "name": "toolgate-bench", "version": env!("CARGO_PKG_VERSION") },
            },
        });
        let req = self.request("initialize", None, Bytes::from(body.to_string()));
        let answer = self
            .conn
            .exchange(req, self.timeout, |buf| {
                rpc::find_response(buf, true, 0).is_some()
            })
            .await
            .map_err(|(_, e)| format!("initialize: {e}"))?;
        if !answer.status.is_success() {
            return Err(format!(
                "initialize: HTTP {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ));
        }
        let sse = is_sse(&answer.headers);
        let result = if sse {
            rpc::sse_data(&answer.body)
                .into_iter()
                .filter_map(|d| serde_json::from_slice::<Value>(&d).ok())
                .find(|v| v.get("id") == Some(&json!(0)))
        } else {
            serde_json::from_slice::<Value>(&answer.body).ok()
        }
        .ok_or_else(|| "initialize: no JSON-RPC response in the answer".to_owned())?;
        if let Some(e) = result.get("error") {
            return Err(format!("initialize refused: {e}"));
        }
        if let Some(v) = result
            .pointer("/result/protocolVersion")
            .and_then(Value::as_str)
        {
            self.protocol = HeaderValue::from_str(v).map_err(|e| e.to_string())?;
        }
        self.session = answer.headers.get(MCP_SESSION_ID).cloned();
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let req = self.request(
            "notifications/initialized",
            None,
            Bytes::from(note.to_string()),
        );
        let answer = self
            .conn
            .exchange(req, self.timeout, |_| true)
            .await
            .map_err(|(_, e)| format!("notifications/initialized: {e}"))?;
        if !answer.status.is_success() {
            return Err(format!("notifications/initialized: HTTP {}", answer.status));
        }
        Ok(())
    }

    /// The session id, if the server gave one.
    pub fn session(&self) -> Option<&HeaderValue> {
        self.session.as_ref()
    }

    /// Makes later requests (and [`Self::close`]) use session `id`.
    pub fn set_session(&mut self, id: HeaderValue) {
        self.session = Some(id);
    }

    /// Ends the session (`DELETE`), if there is one.
    pub async fn close(&mut self) {
        if let Some(session) = self.session.take() {
            let mut req = Request::builder()
                .method(Method::DELETE)
                .uri(self.endpoint.uri.clone())
                .body(Full::new(Bytes::new()))
                .expect("valid request");
            let h = req.headers_mut();
            h.insert(HOST, self.endpoint.host.clone());
            h.insert(MCP_PROTOCOL_VERSION, self.protocol.clone());
            h.insert(MCP_SESSION_ID, session);
            if let Some(authorization) = &self.endpoint.authorization {
                h.insert(http::header::AUTHORIZATION, authorization.clone());
            }
            let _ = self.conn.exchange(req, self.timeout, |_| true).await;
        }
    }

    /// Sends one request and classifies the answer.
    pub async fn call(&mut self, prepared: &Prepared) -> CallResult {
        let id = self.next_id;
        self.next_id += 1;
        let req = self.request(
            prepared.method,
            prepared.name_header.as_ref(),
            prepared.body(id),
        );
        match self
            .conn
            .exchange(req, self.timeout, |buf| {
                rpc::find_response(buf, true, id).is_some()
            })
            .await
        {
            Ok(answer) => {
                let ct = answer
                    .headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                CallResult {
                    outcome: rpc::classify_http(answer.status, ct, &answer.body, id),
                    bytes: answer.body.len(),
                }
            }
            Err(e) => CallResult {
                outcome: Err(e),
                bytes: 0,
            },
        }
    }
}

impl McpHttpWorker {
    /// Opens the connection now (a session's is open already).
    pub async fn ensure_open(&mut self) -> Result<(), String> {
        self.conn.ensure_open().await.map_err(|(_, e)| e)
    }

    /// Sends one request and returns its whole JSON-RPC response (`result` or `error`).
    pub async fn call_message(
        &mut self,
        prepared: &Prepared,
    ) -> Result<Value, (ErrorKind, String)> {
        let id = self.next_id;
        self.next_id += 1;
        let req = self.request(
            prepared.method,
            prepared.name_header.as_ref(),
            prepared.body(id),
        );
        let answer = self
            .conn
            .exchange(req, self.timeout, |buf| {
                rpc::find_response(buf, true, id).is_some()
            })
            .await?;
        if !answer.status.is_success() {
            let text = String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)]);
            return Err((ErrorKind::Http(answer.status.as_u16()), text.into_owned()));
        }
        rpc::find_message(&answer.body, is_sse(&answer.headers), id).ok_or_else(|| {
            (
                ErrorKind::BadResponse,
                format!("no JSON-RPC response to id {id} in the answer"),
            )
        })
    }
}

fn is_sse(headers: &http::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// A worker making plain HTTP requests (the baseline): 2xx is success.
pub(crate) struct DirectWorker {
    endpoint: Arc<Endpoint>,
    conn: Conn,
    body: Option<Bytes>,
    timeout: Duration,
}

impl DirectWorker {
    /// A worker with its own connection; `body` makes it POST instead of GET.
    pub fn new(endpoint: Arc<Endpoint>, body: Option<Bytes>, timeout: Duration) -> Self {
        DirectWorker {
            conn: Conn::new(&endpoint),
            endpoint,
            body,
            timeout,
        }
    }

    /// Sends one request.
    pub async fn call(&mut self) -> CallResult {
        let (method, body) = match &self.body {
            Some(b) => (Method::POST, b.clone()),
            None => (Method::GET, Bytes::new()),
        };
        let mut req = Request::builder()
            .method(method)
            .uri(self.endpoint.uri.clone())
            .body(Full::new(body))
            .expect("valid request");
        req.headers_mut().insert(HOST, self.endpoint.host.clone());
        if self.body.is_some() {
            req.headers_mut().insert(CONTENT_TYPE, JSON);
        }
        match self.conn.exchange(req, self.timeout, |_| false).await {
            Ok(answer) if answer.status.is_success() => CallResult {
                outcome: Ok(()),
                bytes: answer.body.len(),
            },
            Ok(answer) => CallResult {
                outcome: Err((
                    ErrorKind::Http(answer.status.as_u16()),
                    String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
                        .into_owned(),
                )),
                bytes: answer.body.len(),
            },
            Err(e) => CallResult {
                outcome: Err(e),
                bytes: 0,
            },
        }
    }
}
