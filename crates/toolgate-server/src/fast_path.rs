//! The stateless fast path: serves well-formed 2026-07-28 `tools/call` and `tools/list`
//! requests straight through the pipeline, without rmcp's per-request service task and
//! channels (which cost more than the rest of a gateway hop, see BENCHMARKS.md).
//!
//! It takes a request only when every protocol rule is already satisfied — version header
//! `2026-07-28`, no session id, `Mcp-Method`/`Mcp-Name` equal to the body, `_meta` carrying the
//! protocol version and client capabilities, JSON-RPC 2.0 with an id — and answers exactly
//! as rmcp would (a differential test compares the two). Anything else, including every
//! malformed request, is left to rmcp, so error behaviour stays rmcp's.

use http::HeaderMap;
use rmcp::model::{CacheScope, JsonObject, ResultType};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use toolgate_core::{GatewayError, McpRequest, McpResponse, wire};

use crate::handler::Gateway;

/// The protocol revision served by the fast path.
const MODERN: &str = "2026-07-28";

/// A JSON-RPC request envelope, parsed in one pass (arguments stay a map).
#[derive(Deserialize)]
pub(crate) struct Envelope {
    jsonrpc: String,
    id: Option<Value>,
    method: String,
    #[serde(default)]
    params: Option<Params>,
}

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(rename = "_meta", default)]
    meta: Option<JsonObject>,
}

/// Whether the headers announce a request the fast path may serve (checked before parsing).
pub(crate) fn headers_qualify(headers: &HeaderMap) -> bool {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    h("mcp-protocol-version") == Some(MODERN)
        && matches!(h("mcp-method"), Some("tools/call" | "tools/list"))
        && headers.get("mcp-session-id").is_none()
        && h("content-type").is_some_and(|c| c.starts_with("application/json"))
        && h("accept")
            .is_some_and(|a| a.contains("application/json") && a.contains("text/event-stream"))
        && !headers.keys().any(|k| k.as_str().starts_with("mcp-param-"))
}

/// The request the fast path will run, if the envelope satisfies every rule.
fn qualify(headers: &HeaderMap, env: Envelope) -> Option<(Value, McpRequest)> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if env.jsonrpc != "2.0" || h("mcp-method") != Some(env.method.as_str()) {
        return None;
    }
    let id = env
        .id
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64())?;
    let params = env.params?;
    let meta = params.meta.as_ref()?;
    let version_ok = meta
        .get("io.modelcontextprotocol/protocolVersion")
        .and_then(Value::as_str)
        == Some(MODERN);
    let caps_ok = meta
        .get("io.modelcontextprotocol/clientCapabilities")
        .is_some_and(Value::is_object);
    if !version_ok || !caps_ok {
        return None;
    }
    let request = match env.method.as_str() {
        "tools/call" => {
            let name = params.name?;
            if h("mcp-name") != Some(name.as_str()) {
                return None;
            }
            let arguments = match params.arguments {
                None => JsonObject::new(),
                Some(Value::Object(map)) => map,
                Some(_) => return None,
            };
            McpRequest::CallTool { name, arguments }
        }
        "tools/list" => McpRequest::ListTools {
            cursor: params.cursor,
        },
        _ => return None,
    };
    Some((id, request))
}

#[derive(Serialize)]
struct Reply<'a, T: Serialize> {
    jsonrpc: &'static str,
    id: &'a Value,
    result: T,
}

#[derive(Serialize)]
struct ErrorReply<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    error: rmcp::ErrorData,
}

fn json_response(body: Vec<u8>) -> axum::response::Response {
    let mut response = axum::response::Response::new(axum::body::Body::from(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Serves the request when it qualifies; `None` hands it to rmcp unchanged.
pub(crate) async fn serve(
    gateway: &Gateway,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Option<axum::response::Response> {
    let envelope: Envelope = serde_json::from_slice(bytes).ok()?;
    let (id, request) = qualify(headers, envelope)?;
    let ctx = gateway.http_context(headers);
    let outcome = gateway.run_direct(ctx, request).await;
    let body = match outcome {
        Ok(McpResponse::ToolResult(result)) => {
            let mut result = match result {
                Ok(r) => r,
                Err(e) => wire::tool_error_result(&e),
            };
            result.result_type.get_or_insert(ResultType::COMPLETE);
            serde_json::to_vec(&Reply {
                jsonrpc: "2.0",
                id: &id,
                result,
            })
        }
        Ok(McpResponse::Tools(mut result)) => {
            result.result_type.get_or_insert(ResultType::COMPLETE);
            result.ttl_ms.get_or_insert(0);
            result.cache_scope.get_or_insert(CacheScope::Private);
            serde_json::to_vec(&Reply {
                jsonrpc: "2.0",
                id: &id,
                result,
            })
        }
        Ok(_) => serde_json::to_vec(&ErrorReply {
            jsonrpc: "2.0",
            id: &id,
            error: wire::gateway_error_data(&GatewayError::Internal(
                "pipeline answered with another kind of response".to_owned(),
            )),
        }),
        Err(e) => serde_json::to_vec(&ErrorReply {
            jsonrpc: "2.0",
            id: &id,
            error: wire::gateway_error_data(&e),
        }),
    };
    Some(match body {
        Ok(body) => json_response(body),
        Err(e) => json_response(
            format!(
                r#"{{"jsonrpc":"2.0","id":null,"error":{{"code":-32603,"message":"cannot serialize the result: {}"}}}}"#,
                e.to_string().replace('"', "'")
            )
            .into_bytes(),
        ),
    })
}
