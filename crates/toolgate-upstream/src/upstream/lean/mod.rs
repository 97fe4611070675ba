//! The lean `tools/call` of a 2026-07-28 streamable HTTP upstream: one POST per call, sent
//! from the caller's task on toolgate-http's transport (`http_client.rs`: for an `http://` URL,
//! kept-alive connections that the caller's task drives itself; for an upstream with TLS
//! settings of its own, the session's client), without rmcp's service and transport worker
//! around it (a task hop and a channel each way, one more encode/decode of the message, a
//! progress-token watcher per request) and without rmcp's general decoding of the answer.
//!
//! Why: that machinery cost more than the rest of the call (BENCHMARKS.md, "Upstream MCP
//! servers"). 2026-07-28 is stateless: a call is one POST whose answer is the response (as
//! JSON, or on an SSE stream before which the server may send notifications), so nothing
//! the session machinery does is needed. rmcp's client keeps everything else: sessions
//! (2025-11-25 upstreams), stdio, discovery, every other method, and the calls this path
//! declines (below).
//!
//! A call takes this path only when nothing but the answer can be owed to its client and the
//! request needs no more than rmcp would add ([`Lean::eligible`], [`lean_tool`]):
//! the client speaks 2026-07-28 and asked for neither progress nor log messages (so the
//! request carries no progress token and the server sends nothing the client wants), and
//! the tool's name is a plain header value and its input schema has no `x-mcp-header`
//! annotations (rmcp's transport would add `Mcp-Param-*` headers for those).
//!
//! What is sent is what rmcp's client sends for the same call (an end-to-end test compares
//! them): the body with `_meta`'s protocol version and client info (serialized once per
//! connection, [`Meta`]) and the capabilities of this request's caller (`crate::declared`:
//! rmcp's session requests declare them likewise), and the headers `Accept`, `Content-Type`,
//! `Authorization` (the static bearer token, or an OAuth2 token from the upstream's token
//! source, dropped when the server answers 401), the configured static headers,
//! `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, and the trace context headers. What
//! comes back is read as rmcp's client reads it (`exchange.rs`), and decoded the cheap way
//! for a `tools/call` answer (`crate::decode`). On an SSE answer, notifications before the
//! response are handled as the session's client handler would for such a client: list
//! changes refresh the lists, resource updates go to their subscribers, progress and log
//! messages are dropped (not wanted); a server request (which a 2026-07-28 server never
//! sends: it answers `input_required`) fails the call.
//!
//! Limits: the call timeout (`timeouts.call_ms`; no progress can reset it here), the
//! upstream's concurrency cap (`max_concurrent_requests`, the semaphore the session's POSTs
//! take their permits from too, `session_client.rs`), 16 MiB for a JSON answer (rmcp's cap) and
//! `max_message_bytes` for one SSE event. Cancellation drops the POST (closing its
//! connection, which is how a 2026-07-28 client cancels). A call is sent once: nothing here
//! retries. Does not own: the connection's life (`connect.rs`), metrics and spans
//! (`calls.rs` wraps this).

mod exchange;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};
use rmcp::model::ClientConfig as ClientInfo;
use rmcp::model::{
    ClientCapabilities, ClientRequest, JsonObject, ProtocolVersion, RequestMetaObject, ServerResult,
};
use tokio::sync::Semaphore;
use toolgate_core::{CallContext, ToolError, ToolErrorKind};
use toolgate_http::TokenSource;
use toolgate_http::transport::Transport;

use crate::client::Hub;
use crate::declared::Declared;
use crate::session_client::{TRACEPARENT, TRACESTATE, trace_context};

const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

/// Marks (in its extensions) a `tools/call` whose tool may take the lean path.
#[derive(Clone, Copy)]
pub(crate) struct LeanTool;

/// Whether a tool named `name` with `schema` may be called on the lean path: its name needs
/// no Base64 wrapping as a header value, and its schema asks for no `Mcp-Param-*` headers.
pub(crate) fn lean_tool(name: &str, schema: &JsonObject) -> bool {
    fn annotated(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => {
                map.iter().any(|(k, v)| k == "x-mcp-header" || annotated(v))
            }
            serde_json::Value::Array(items) => items.iter().any(annotated),
            _ => false,
        }
    }
    let plain = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_graphic())
        && !name.starts_with("=?base64?");
    plain
        && !schema
            .iter()
            .any(|(k, v)| k == "x-mcp-header" || annotated(v))
}

/// The `_meta` entries every request of a connection carries: the protocol version and
/// client info (serialized once), and the client capabilities, declared per request
/// ([`Declared`]).
struct Meta {
    /// `"key":value,…` without braces: the protocol version and the client info.
    entries: Vec<u8>,
    /// The keys the gateway sets; a caller's own entries of the same names are not sent.
    keys: Vec<String>,
    /// What the connection declared.
    capabilities: ClientCapabilities,
}

impl Meta {
    fn new(info: &ClientInfo, version: &ProtocolVersion) -> Self {
        let mut meta = RequestMetaObject::default();
        meta.set_protocol_version(version.clone());
        meta.set_client_info(info.client_info.clone());
        // A map of strings and values always serializes.
        let mut entries = serde_json::to_vec(&meta.0.0).unwrap_or_else(|_| b"{}".to_vec());
        entries.pop();
        entries.remove(0);
        meta.set_client_capabilities(info.capabilities.clone());
        let keys = meta.0.0.keys().cloned().collect();
        Meta {
            entries,
            keys,
            capabilities: info.capabilities.clone(),
        }
    }

    /// Writes the entries, the capabilities a request of `client` declares included.
    fn write(&self, body: &mut Vec<u8>, client: Option<&ClientCapabilities>) {
        body.extend_from_slice(&self.entries);
        body.extend_from_slice(br#","io.modelcontextprotocol/clientCapabilities":"#);
        // Options of maps of strings and values: they always serialize.
        let _ = serde_json::to_writer(body, &Declared::per_request(&self.capabilities, client));
    }
}

/// What the lean path of one 2026-07-28 HTTP connection needs (built with the connection).
pub(crate) struct Lean {
    /// How a call reaches the upstream (`http_client.rs`).
    transport: Transport,
    /// The upstream's reqwest client, for its OAuth2 token requests.
    http: reqwest::Client,
    /// Where its OAuth2 tokens come from, if it uses OAuth2.
    tokens: Option<Arc<TokenSource>>,
    url: reqwest::Url,
    /// Every call's headers but `Mcp-Name`, the trace context and an OAuth2 token.
    headers: HeaderMap,
    meta: Meta,
    max_sse_event_size: usize,
    permits: Arc<Semaphore>,
    next_id: AtomicI64,
    hub: Arc<Hub>,
}

/// Everything [`Lean::new`] takes from the connection being made.
pub(crate) struct LeanSettings {
    pub(crate) transport: Transport,
    /// The upstream's reqwest client (the session's).
    pub(crate) http: reqwest::Client,
    pub(crate) tokens: Option<Arc<TokenSource>>,
    pub(crate) url: String,
    /// The configured static headers.
    pub(crate) headers: HashMap<HeaderName, HeaderValue>,
    /// The static bearer token.
    pub(crate) auth: Option<String>,
    pub(crate) info: ClientInfo,
    pub(crate) version: ProtocolVersion,
    pub(crate) max_sse_event_size: usize,
    /// The upstream's concurrency cap, shared with the session (`session_client.rs`).
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) hub: Arc<Hub>,
}

/// Why a lean call failed, before it is given the upstream's name.
#[derive(Debug)]
enum Failure {
    Rpc(rmcp::ErrorData),
    Http(String),
    Protocol(String),
}

impl Lean {
    /// The lean path of a connection that negotiated `settings.version` (2026-07-28 or
    /// later); `None` when its URL or bearer token cannot be sent as they are (the session
    /// serves its calls then; rmcp connected with the same URL, so this does not happen).
    pub(crate) fn new(settings: LeanSettings) -> Option<Self> {
        let LeanSettings {
            transport,
            http,
            tokens,
            url,
            headers: custom,
            auth,
            info,
            version,
            max_sse_event_size,
            permits,
            hub,
        } = settings;
        let url = reqwest::Url::parse(&url).ok()?;
        let mut headers = HeaderMap::with_capacity(custom.len() + 6);
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("text/event-stream, application/json"),
        );
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(token) = auth {
            let mut value = HeaderValue::try_from(format!("Bearer {token}")).ok()?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        headers.extend(custom);
        headers.insert(
            MCP_PROTOCOL_VERSION,
            HeaderValue::from_str(version.as_str()).ok()?,
        );
        headers.insert(MCP_METHOD, HeaderValue::from_static("tools/call"));
        Some(Lean {
            transport,
            http,
            tokens,
            url,
            headers,
            meta: Meta::new(&info, &version),
            max_sse_event_size,
            permits,
            next_id: AtomicI64::new(1),
            hub,
        })
    }

    /// Whether `request` for the caller of `ctx` may take the lean path (module docs).
    pub(crate) fn eligible(ctx: &CallContext, request: &ClientRequest) -> bool {
        let ClientRequest::CallToolRequest(call) = request else {
            return false;
        };
        call.extensions.get::<LeanTool>().is_some()
            && ctx.client.as_ref().is_none_or(|c| {
                c.progress_token().is_none()
                    && c.log_level().is_none()
                    && c.protocol_version()
                        .is_some_and(|v| *v >= ProtocolVersion::V_2026_07_28)
            })
    }

    /// Sends `request` (a `tools/call`) and waits for its answer, within `timeout`, racing
    /// the caller's cancellation. Errors name upstream `name`.
    pub(crate) async fn call(
        &self,
        ctx: &CallContext,
        name: &str,
        request: ClientRequest,
        timeout: Duration,
    ) -> Result<ServerResult, ToolError> {
        // Boxed once, here: the exchange's future is large (the transport's), and unboxed it
        // would be copied into the timeout, the select and every future around this one.
        let exchange = Box::pin(async {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let client = ctx.client.as_ref().and_then(|c| c.capabilities());
            let (body, headers) = self.request(id, request, client)?;
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| Failure::Http("the upstream's client is closed".to_owned()))?;
            self.exchange(id, body, headers).await
        });
        let outcome = tokio::select! {
            r = tokio::time::timeout(timeout, exchange) => r,
            () = ctx.cancel.cancelled() => {
                return Err(ToolError::new(
                    ToolErrorKind::Cancelled,
                    format!("the call to upstream `{name}` was cancelled by the client"),
                ));
            }
        };
        match outcome {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(Failure::Rpc(error))) => Err(ToolError::upstream_rpc(
                format!("upstream `{name}`: {}", error.message),
                error,
            )),
            Ok(Err(Failure::Http(why))) => Err(ToolError::new(
                ToolErrorKind::Transport,
                format!("the request to upstream `{name}` failed: {why}"),
            )),
            Ok(Err(Failure::Protocol(why))) => Err(ToolError::new(
                ToolErrorKind::Protocol,
                format!("upstream `{name}` broke the protocol: {why}"),
            )),
            Err(_) => Err(ToolError::new(
                ToolErrorKind::Timeout,
                format!(
                    "upstream `{name}` did not answer within {} ms (timeouts.call_ms)",
                    timeout.as_millis()
                ),
            )),
        }
    }

    /// The body and headers of `request` (a `tools/call`) as request `id`: what rmcp's client
    /// would send, written directly (module docs).
    fn request(
        &self,
        id: i64,
        request: ClientRequest,
        client: Option<&ClientCapabilities>,
    ) -> Result<(Vec<u8>, HeaderMap), Failure> {
        let ClientRequest::CallToolRequest(call) = request else {
            return Err(Failure::Protocol(
                "only tools/call takes the lean path (a gateway bug: please report it)".to_owned(),
            ));
        };
        let mut params = call.params;
        let meta = params.meta.take();
        let mut headers = self.headers.clone();
        if let Ok(v) = HeaderValue::from_str(&params.name) {
            headers.insert(MCP_NAME, v);
        }
        let mut body = Vec::with_capacity(256 + self.meta.entries.len());
        body.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
        body.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
        body.extend_from_slice(br#","method":"tools/call","params":"#);
        let written = serde_json::to_writer(&mut body, &params).map_err(|e| {
            Failure::Protocol(format!("the call's arguments cannot be serialized: {e}"))
        });
        written?;
        // `params` serialized as an object with at least its name: reopen it for `_meta`.
        body.pop();
        body.extend_from_slice(br#","_meta":{"#);
        self.meta.write(&mut body, client);
        if let Some(meta) = &meta {
            for (key, value) in meta.0.0.iter() {
                if self.meta.keys.contains(key) {
                    continue;
                }
                body.push(b',');
                // Strings and JSON values always serialize.
                let _ = serde_json::to_writer(&mut body, key);
                body.push(b':');
                let _ = serde_json::to_writer(&mut body, value);
            }
            // The trace context as headers too, as the session's client sends it: a server
            // or proxy that reads headers only continues the trace.
            if let Some((traceparent, tracestate)) = trace_context(&meta.0) {
                headers.insert(TRACEPARENT, traceparent);
                if let Some(tracestate) = tracestate {
                    headers.insert(TRACESTATE, tracestate);
                }
            }
        }
        body.extend_from_slice(b"}}}");
        Ok((body, headers))
    }
}
