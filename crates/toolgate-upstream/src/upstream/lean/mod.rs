//! The lean `tools/call` of a 2026-07-28 streamable HTTP upstream: one POST per call, sent
//! from the caller's task with rmcp's own HTTP client side (`StreamableHttpClient::
//! post_message_with_max_sse_event_size`, the code rmcp's transport worker runs for each POST:
//! authentication, status handling, the JSON answer's cap, the SSE event cap), but without
//! rmcp's service and transport worker around it (a task hop and a channel each way, one more
//! encode/decode of the message, a progress-token watcher per request).
//!
//! Why: the worker's machinery cost more than the rest of the call (BENCHMARKS.md, "Upstream
//! MCP servers"). 2026-07-28 is stateless: a call is one POST whose answer is the response
//! (as JSON, or on an SSE stream before which the server may send notifications), so nothing
//! the session machinery does is needed. rmcp's client keeps everything else: sessions
//! (2025-11-25 upstreams), stdio, discovery, every other method, and the calls this path
//! declines (below).
//!
//! A call takes this path only when nothing but the answer can be owed to its client and the
//! request needs no more than rmcp would add ([`Lean::eligible`], [`lean_tool`]):
//! the client speaks 2026-07-28 and asked for neither progress nor log messages (so the
//! request carries no progress token and the server sends nothing the client wants), and
//! the tool's name is a plain header value and its input schema has no `x-mcp-header`
//! annotations (rmcp's transport would add `Mcp-Param-*` headers for those). Headers sent:
//! rmcp's `Accept`, `Content-Type` and `Authorization` (bearer or OAuth2, through the same
//! client wrappers as the session), the configured static headers, `MCP-Protocol-Version`,
//! `Mcp-Method`, `Mcp-Name`, and the trace context headers (`trace_headers.rs`). On an SSE
//! answer, notifications before the response are handled as the session's client handler
//! would for such a client: list changes refresh the lists, resource updates go to their
//! subscribers, progress and log messages are dropped (not wanted); a server request (which
//! a 2026-07-28 server never sends: it answers `input_required`) fails the call.
//!
//! Limits: the call timeout (`timeouts.call_ms`; no progress can reset it here) and the
//! upstream's concurrency cap (`max_concurrent_requests`, the semaphore the session's POSTs
//! take their permits from too, `capped.rs`); cancellation drops the POST (closing its connection, which is how a
//! 2026-07-28 client cancels). Does not own: the connection's life (`connect.rs`), metrics
//! and spans (`calls.rs` wraps this).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientConfig as ClientInfo;
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, GetMeta as _, JsonObject, JsonRpcMessage, JsonRpcRequest,
    ProtocolVersion, RequestId, ServerJsonRpcMessage, ServerNotification, ServerResult,
};
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use tokio::sync::Semaphore;
use toolgate_core::{CallContext, ToolError, ToolErrorKind};

use crate::client::Hub;
use crate::oauth2::OAuth2Client;
use crate::trace_headers::TraceHeaders;

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

/// rmcp's HTTP client of the upstream, with the same wrappers as its session.
enum Client {
    Plain(TraceHeaders<reqwest::Client>),
    OAuth2(TraceHeaders<OAuth2Client>),
}

/// What the lean path of one 2026-07-28 HTTP connection needs (built with the connection).
pub(crate) struct Lean {
    client: Client,
    uri: Arc<str>,
    /// The configured static headers and `MCP-Protocol-Version`.
    headers: HashMap<HeaderName, HeaderValue>,
    auth: Option<String>,
    info: ClientInfo,
    version: ProtocolVersion,
    max_sse_event_size: usize,
    permits: Arc<Semaphore>,
    next_id: AtomicI64,
    hub: Arc<Hub>,
}

/// Everything [`Lean::new`] takes from the connection being made.
pub(crate) struct LeanSettings {
    pub(crate) http: reqwest::Client,
    pub(crate) oauth2: Option<OAuth2Client>,
    pub(crate) uri: Arc<str>,
    pub(crate) headers: HashMap<HeaderName, HeaderValue>,
    pub(crate) auth: Option<String>,
    pub(crate) info: ClientInfo,
    pub(crate) version: ProtocolVersion,
    pub(crate) max_sse_event_size: usize,
    /// The upstream's concurrency cap, shared with the session (`capped.rs`).
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) hub: Arc<Hub>,
}

/// Why a lean call failed, before it is given the upstream's name.
enum Failure {
    Rpc(rmcp::ErrorData),
    Http(String),
    Protocol(String),
}

impl Lean {
    /// The lean path of a connection that negotiated `settings.version` (2026-07-28 or later).
    pub(crate) fn new(settings: LeanSettings) -> Self {
        let LeanSettings {
            http,
            oauth2,
            uri,
            mut headers,
            auth,
            info,
            version,
            max_sse_event_size,
            permits,
            hub,
        } = settings;
        if let Ok(v) = HeaderValue::from_str(version.as_str()) {
            headers.insert(MCP_PROTOCOL_VERSION, v);
        }
        let client = match oauth2 {
            Some(c) => Client::OAuth2(TraceHeaders(c)),
            None => Client::Plain(TraceHeaders(http)),
        };
        Lean {
            client,
            uri,
            headers,
            auth,
            info,
            version,
            max_sse_event_size,
            permits,
            next_id: AtomicI64::new(1),
            hub,
        }
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
        mut request: ClientRequest,
        timeout: Duration,
    ) -> Result<ServerResult, ToolError> {
        let tool = match &request {
            ClientRequest::CallToolRequest(r) => r.params.name.to_string(),
            _ => String::new(),
        };
        let meta = request.get_meta_mut();
        meta.set_protocol_version(self.version.clone());
        meta.set_client_info(self.info.client_info.clone());
        meta.set_client_capabilities(self.info.capabilities.clone());
        let id = RequestId::Number(self.next_id.fetch_add(1, Ordering::Relaxed));
        let message = ClientJsonRpcMessage::Request(JsonRpcRequest::new(id.clone(), request));
        let mut headers = self.headers.clone();
        headers.insert(MCP_METHOD, HeaderValue::from_static("tools/call"));
        if let Ok(v) = HeaderValue::from_str(&tool) {
            headers.insert(MCP_NAME, v);
        }
        let exchange = async {
            let _permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| Failure::Http("the upstream's client is closed".to_owned()))?;
            let response = match &self.client {
                Client::Plain(c) => self.post(c, message, headers).await,
                Client::OAuth2(c) => self.post(c, message, headers).await,
            }?;
            self.answer(response, &id).await
        };
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

    async fn post<C: StreamableHttpClient>(
        &self,
        client: &C,
        message: ClientJsonRpcMessage,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Failure> {
        // Boxed once here (rmcp's POST future is large): the futures around it stay small.
        Box::pin(client.post_message_with_max_sse_event_size(
            self.uri.clone(),
            message,
            None,
            self.auth.clone(),
            headers,
            self.max_sse_event_size,
        ))
        .await
        .map_err(|e: StreamableHttpError<C::Error>| Failure::Http(e.to_string()))
    }

    /// The answer with id `id` in `response`, handling what comes before it on a stream.
    async fn answer(
        &self,
        response: StreamableHttpPostResponse,
        id: &RequestId,
    ) -> Result<ServerResult, Failure> {
        match response {
            StreamableHttpPostResponse::Json(message, _) => match self.take(message, id).await? {
                Some(result) => Ok(result),
                None => Err(Failure::Protocol(
                    "its JSON answer is not the response to the request".to_owned(),
                )),
            },
            StreamableHttpPostResponse::Sse(mut events, _) => {
                while let Some(event) = events.next().await {
                    let event = event.map_err(|e| Failure::Http(e.to_string()))?;
                    let Some(data) = event.data.filter(|d| !d.trim().is_empty()) else {
                        // Priming events and keep-alives carry no message.
                        continue;
                    };
                    let message: ServerJsonRpcMessage =
                        serde_json::from_str(&data).map_err(|e| {
                            Failure::Protocol(format!("an SSE event is not a message: {e}"))
                        })?;
                    if let Some(result) = self.take(message, id).await? {
                        return Ok(result);
                    }
                }
                Err(Failure::Http(
                    "the stream ended before the answer (the server may have crashed)".to_owned(),
                ))
            }
            StreamableHttpPostResponse::Accepted => Err(Failure::Protocol(
                "it accepted the request without answering it".to_owned(),
            )),
            // `StreamableHttpPostResponse` is non-exhaustive: a kind of answer rmcp learns later.
            _ => Err(Failure::Protocol(
                "it answered in a way this gateway does not read".to_owned(),
            )),
        }
    }

    /// The result when `message` answers request `id`; `None` after handling a notification.
    async fn take(
        &self,
        message: ServerJsonRpcMessage,
        id: &RequestId,
    ) -> Result<Option<ServerResult>, Failure> {
        match message {
            JsonRpcMessage::Response(r) if r.id == *id => Ok(Some(r.result)),
            JsonRpcMessage::Error(e) if e.id.as_ref() == Some(id) => Err(Failure::Rpc(e.error)),
            JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_) => Err(Failure::Protocol(
                "it answered another request on this request's stream".to_owned(),
            )),
            JsonRpcMessage::Request(_) => Err(Failure::Protocol(
                "it sent a request during a 2026-07-28 call (such a server asks with input_required)"
                    .to_owned(),
            )),
            JsonRpcMessage::Notification(n) => {
                self.notified(n.notification).await;
                Ok(None)
            }
        }
    }

    /// A notification that came before the answer, handled as the session's client handler
    /// handles it for a client that wants neither progress nor log messages.
    async fn notified(&self, notification: ServerNotification) {
        match notification {
            ServerNotification::ToolListChangedNotification(_)
            | ServerNotification::PromptListChangedNotification(_)
            | ServerNotification::ResourceListChangedNotification(_) => {
                self.hub.refresh.notify_one();
            }
            ServerNotification::ResourceUpdatedNotification(n) => {
                self.hub.resource_updated(n.params).await;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema(value: serde_json::Value) -> JsonObject {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn tools_that_need_more_headers_than_the_lean_path_sends_are_declined() {
        let plain = schema(json!({"type": "object", "properties": {"a": {"type": "string"}}}));
        assert!(lean_tool("echo", &plain));
        assert!(!lean_tool("with space", &plain));
        assert!(!lean_tool("é", &plain));
        assert!(!lean_tool("=?base64?x?=", &plain));
        let annotated = schema(json!({
            "type": "object",
            "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}
        }));
        assert!(!lean_tool("echo", &annotated));
    }
}
