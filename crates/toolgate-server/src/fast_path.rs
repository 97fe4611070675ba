//! The fast path: serves well-formed `tools/call` and `tools/list` requests straight through
//! the pipeline, without rmcp's per-request service task, channels and SSE framing (which
//! cost more than the rest of a gateway hop, see BENCHMARKS.md). Two kinds of request
//! qualify:
//!
//! - **modern** (stateless 2026-07-28): version header `2026-07-28`, no session id,
//!   `Mcp-Method`/`Mcp-Name` equal to the body, `_meta` carrying the protocol version and
//!   client capabilities;
//! - **legacy session** (2025-11-25 and older, HTTP session mode): a known older version
//!   header, the id of a live session (checked in [`crate::sessions::Sessions`], which the
//!   call also keeps alive), no `_meta` (so no progress token to honour). The answer is a
//!   plain JSON body, which the transport allows for any POST, instead of rmcp's SSE stream.
//!
//! Both must be JSON-RPC 2.0 requests with an id. The answer is exactly what rmcp would send
//! (differential tests compare the two). Anything else, including every malformed request,
//! is left to rmcp, so error behaviour stays rmcp's.
//!
//! The rules on the message itself ([`Envelope`], [`qualify`]) are shared with the stdio
//! transport (`crate::stdio`), which has no headers and learns the revision from the
//! message's `_meta` or from the `initialize` handshake it watched.

use http::{HeaderMap, HeaderName, header};
use rmcp::model::{
    CacheScope, ClientCapabilities, JsonObject, ListToolsResult, ProtocolVersion, ResultType,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use toolgate_core::{CallContext, GatewayError, McpRequest, McpResponse, wire};

use crate::handler::Gateway;
use crate::sessions::Sessions;
use crate::tools_json::ToolsJson;

/// The stateless protocol revision.
pub(crate) const MODERN: &str = "2026-07-28";

// Header names as constants: looking a header up by `&str` parses the name every time.
const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
const CAPABILITIES_KEY: &str = "io.modelcontextprotocol/clientCapabilities";

/// The result shape an answer takes, after the revision the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revision {
    /// 2026-07-28: `resultType: "complete"` and caching hints on every result.
    Modern,
    /// 2025-11-25 and older: neither (rmcp strips them for such peers).
    Legacy,
}

/// A JSON-RPC request envelope, parsed in one pass (arguments stay a map).
#[derive(Deserialize)]
pub(crate) struct Envelope {
    jsonrpc: String,
    id: Option<Value>,
    method: String,
    #[serde(default, deserialize_with = "params_object")]
    params: Option<Params>,
}

/// `params` only as an object (derived structs also accept arrays, which rmcp refuses).
fn params_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Params>, D::Error> {
    struct Object;
    impl<'de> serde::de::Visitor<'de> for Object {
        type Value = Option<Params>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Params::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_map(Object)
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
    meta: Option<Meta>,
}

/// What the fast path reads of `params._meta`: the protocol version, the client capabilities
/// (kept as JSON: rmcp refuses a request whose capabilities do not decode, so the fast path
/// must tell "absent" from "undecodable") and how many entries it has. Read without building
/// a map of it.
#[derive(Default)]
struct Meta {
    version: Option<Value>,
    capabilities: Option<Value>,
    entries: usize,
}

impl<'de> Deserialize<'de> for Meta {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Meta, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = Meta;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Meta, A::Error> {
                let mut meta = Meta::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    meta.entries += 1;
                    match key.as_ref() {
                        VERSION_KEY => meta.version = Some(map.next_value()?),
                        CAPABILITIES_KEY => meta.capabilities = Some(map.next_value()?),
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(meta)
            }
        }
        d.deserialize_map(Entries)
    }
}

impl Envelope {
    /// Parses one JSON-RPC message object (`None` for anything else, arrays included).
    pub(crate) fn parse(bytes: &[u8]) -> Option<Envelope> {
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(bytes).ok()
    }

    /// The JSON-RPC method.
    pub(crate) fn method(&self) -> &str {
        &self.method
    }

    /// Whether `_meta` names the stateless revision as the request's protocol version.
    pub(crate) fn names_modern_revision(&self) -> bool {
        self.params
            .as_ref()
            .and_then(|p| p.meta.as_ref())
            .and_then(|m| m.version.as_ref())
            .and_then(Value::as_str)
            == Some(MODERN)
    }
}

/// The result shape rmcp gives a session that negotiated `version` at `initialize`.
pub(crate) fn revision_of(version: &str) -> Revision {
    // rmcp compares revisions as ISO dates, lexically.
    if version >= MODERN {
        Revision::Modern
    } else {
        Revision::Legacy
    }
}

/// Which kind of fast-path request the headers announce, if any (checked before parsing).
pub(crate) fn headers_qualify(headers: &HeaderMap) -> Option<Revision> {
    let h = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let transport_ok = h(header::CONTENT_TYPE).is_some_and(|c| c.starts_with("application/json"))
        && h(header::ACCEPT)
            .is_some_and(|a| a.contains("application/json") && a.contains("text/event-stream"));
    if !transport_ok {
        return None;
    }
    let version = h(MCP_PROTOCOL_VERSION)?;
    if version == MODERN {
        let qualifies = matches!(h(MCP_METHOD), Some("tools/call" | "tools/list"))
            && !headers.contains_key(MCP_SESSION_ID)
            && !headers.keys().any(|k| k.as_str().starts_with("mcp-param-"));
        return qualifies.then_some(Revision::Modern);
    }
    // Older revisions: rmcp ignores the standard `Mcp-*` request headers for them.
    let known = ProtocolVersion::KNOWN_VERSIONS
        .iter()
        .any(|v| v.as_str() == version);
    (known && headers.contains_key(MCP_SESSION_ID)).then_some(Revision::Legacy)
}

/// The request the fast path will run, if the envelope and the HTTP headers satisfy every
/// rule of `revision` (for modern requests, `Mcp-Method`/`Mcp-Name` must match the body).
fn qualify_http(
    headers: &HeaderMap,
    env: Envelope,
    revision: Revision,
) -> Option<(Value, McpRequest)> {
    let h = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if revision == Revision::Modern && h(MCP_METHOD) != Some(env.method.as_str()) {
        return None;
    }
    let (id, request) = qualify(env, revision)?;
    if revision == Revision::Modern
        && let McpRequest::CallTool { name, .. } = &request
        && h(MCP_NAME) != Some(name.as_str())
    {
        return None;
    }
    Some((id, request))
}

/// The request the fast path will run, if the message satisfies every rule of `revision`:
/// JSON-RPC 2.0 with a string or integer id; `tools/call` with a name and an arguments object
/// (or none), or `tools/list` with an optional cursor; for modern requests a `_meta` naming
/// 2026-07-28 and carrying client capabilities (what rmcp checks), for legacy ones no `_meta`
/// at all (a progress token or a per-request version needs rmcp).
pub(crate) fn qualify(env: Envelope, revision: Revision) -> Option<(Value, McpRequest)> {
    if env.jsonrpc != "2.0" {
        return None;
    }
    let id = env
        .id
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64())?;
    let params = match (revision, env.params) {
        (_, Some(params)) => params,
        (Revision::Legacy, None) if env.method == "tools/list" => Params {
            name: None,
            arguments: None,
            cursor: None,
            meta: None,
        },
        (_, None) => return None,
    };
    match revision {
        Revision::Modern => {
            let meta = params.meta.as_ref()?;
            let version_ok = meta.version.as_ref().and_then(Value::as_str) == Some(MODERN);
            // rmcp decodes the capabilities and refuses the request when they do not decode.
            let caps_ok = meta
                .capabilities
                .as_ref()
                .is_some_and(|c| c.is_object() && ClientCapabilities::deserialize(c).is_ok());
            if !version_ok || !caps_ok {
                return None;
            }
        }
        Revision::Legacy => {
            if params.meta.as_ref().is_some_and(|m| m.entries > 0) {
                return None;
            }
        }
    }
    let request = match env.method.as_str() {
        "tools/call" => {
            let name = params.name?;
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

/// Serves the HTTP request when it qualifies; `None` hands it to rmcp unchanged.
pub(crate) async fn serve(
    gateway: &Gateway,
    sessions: Option<&Sessions>,
    revision: Revision,
    headers: &HeaderMap,
    bytes: &[u8],
) -> Option<axum::response::Response> {
    let envelope = Envelope::parse(bytes)?;
    let (id, request) = qualify_http(headers, envelope, revision)?;
    if revision == Revision::Legacy {
        // An unknown or ended session is rmcp's to answer (404).
        let session = headers.get(MCP_SESSION_ID)?.to_str().ok()?;
        if !sessions?.touch(session) {
            return None;
        }
    }
    let ctx = gateway.http_context(headers);
    Some(json_response(
        answer(gateway, ctx, &id, request, revision).await,
    ))
}

/// `resultType` as rmcp sends it to a client on `revision`: `"complete"` for 2026-07-28,
/// absent (when complete) for older revisions.
fn shape_result_type(result_type: &mut Option<ResultType>, revision: Revision) {
    match revision {
        Revision::Modern => {
            result_type.get_or_insert(ResultType::COMPLETE);
        }
        Revision::Legacy => {
            result_type.take_if(|t| t.is_complete());
        }
    }
}

/// Runs `request` (JSON-RPC id `id`) through the pipeline and serializes the JSON-RPC answer
/// exactly as rmcp would for a client on `revision`.
pub(crate) async fn answer(
    gateway: &Gateway,
    ctx: CallContext,
    id: &Value,
    request: McpRequest,
    revision: Revision,
) -> Vec<u8> {
    let outcome = gateway.run_direct(ctx, request).await;
    let body = match outcome {
        Ok(McpResponse::ToolResult(result)) => {
            let mut result = match result {
                Ok(r) => r,
                Err(e) => wire::tool_error_result(&e),
            };
            shape_result_type(&mut result.result_type, revision);
            serde_json::to_vec(&Reply {
                jsonrpc: "2.0",
                id,
                result,
            })
        }
        Ok(McpResponse::Tools(mut result)) => {
            shape_result_type(&mut result.result_type, revision);
            if revision == Revision::Modern {
                // 2026-07-28 requires caching hints on a complete `tools/list`.
                result.ttl_ms.get_or_insert(0);
                result.cache_scope.get_or_insert(CacheScope::Private);
            }
            tools_list_reply(gateway.tools_json(), id, result)
        }
        Ok(_) => serde_json::to_vec(&ErrorReply {
            jsonrpc: "2.0",
            id,
            error: wire::gateway_error_data(&GatewayError::Internal(
                "pipeline answered with another kind of response".to_owned(),
            )),
        }),
        Err(e) => serde_json::to_vec(&ErrorReply {
            jsonrpc: "2.0",
            id,
            error: wire::gateway_error_data(&e),
        }),
    };
    body.unwrap_or_else(|e| {
        format!(
            r#"{{"jsonrpc":"2.0","id":null,"error":{{"code":-32603,"message":"cannot serialize the result: {}"}}}}"#,
            e.to_string().replace('"', "'")
        )
        .into_bytes()
    })
}

/// The JSON-RPC answer to a `tools/list`, with the `tools` array taken from the gateway's
/// cache of serialized lists (the same bytes serde would write for it).
fn tools_list_reply(
    cache: &ToolsJson,
    id: &Value,
    mut result: ListToolsResult,
) -> serde_json::Result<Vec<u8>> {
    // `tools` is the last field of the result, so the answer without it ends in `[]}}`.
    const EMPTY_TAIL: &[u8] = b"\"tools\":[]}}";
    let tools = std::mem::take(&mut result.tools);
    let mut reply = serde_json::to_vec(&Reply {
        jsonrpc: "2.0",
        id,
        result: &result,
    })?;
    if !reply.ends_with(EMPTY_TAIL) {
        // Not the layout this relies on (an rmcp upgrade?): serialize it all.
        result.tools = tools;
        return serde_json::to_vec(&Reply {
            jsonrpc: "2.0",
            id,
            result,
        });
    }
    let array = cache.serialize(tools)?;
    reply.truncate(reply.len() - b"[]}}".len());
    reply.reserve_exact(array.len() + 2);
    reply.extend_from_slice(&array);
    reply.extend_from_slice(b"}}");
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

    fn qualifies(text: &str, revision: Revision) -> bool {
        Envelope::parse(text.as_bytes()).is_some_and(|env| qualify(env, revision).is_some())
    }

    #[test]
    fn a_legacy_tools_list_qualifies_with_or_without_params() {
        assert!(qualifies(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            Revision::Legacy
        ));
        assert!(qualifies(
            r#" {"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"cursor":"x"}}"#,
            Revision::Legacy
        ));
        assert!(qualifies(
            &format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t",{META}}}}}"#
            ),
            Revision::Modern
        ));
    }

    /// rmcp refuses these; the fast path used to answer them (serde's derived structs also
    /// read JSON arrays).
    #[test]
    fn arrays_for_the_message_or_its_params_do_not_qualify() {
        assert!(!qualifies(r#"["2.0",1,"tools/list"]"#, Revision::Legacy));
        assert!(!qualifies(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[]}"#,
            Revision::Legacy
        ));
        assert!(!qualifies(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":null}"#,
            Revision::Legacy
        ));
    }

    #[test]
    fn client_capabilities_that_rmcp_cannot_decode_do_not_qualify() {
        let bad = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"roots":5}}}}"#;
        assert!(!qualifies(bad, Revision::Modern));
    }

    #[test]
    fn a_tools_list_reply_is_what_serde_writes_for_the_whole_result() {
        let cache = ToolsJson::default();
        let tool = |name: &str| {
            rmcp::model::Tool::new(
                name.to_owned(),
                "d \"quoted\"".to_owned(),
                std::sync::Arc::new(JsonObject::new()),
            )
        };
        let mut result = ListToolsResult::with_all_items(vec![tool("a"), tool("b")]);
        result.next_cursor = Some("c".to_owned());
        result.ttl_ms = Some(0);
        for id in [Value::from(7), Value::from("x\"tools\":[]}}")] {
            for _ in 0..2 {
                let spliced = tools_list_reply(&cache, &id, result.clone()).unwrap();
                let whole = serde_json::to_vec(&Reply {
                    jsonrpc: "2.0",
                    id: &id,
                    result: result.clone(),
                })
                .unwrap();
                assert_eq!(
                    String::from_utf8(spliced).unwrap(),
                    String::from_utf8(whole).unwrap()
                );
            }
        }
        let empty = ListToolsResult::with_all_items(vec![]);
        let id = Value::from(1);
        assert_eq!(
            tools_list_reply(&cache, &id, empty.clone()).unwrap(),
            serde_json::to_vec(&Reply {
                jsonrpc: "2.0",
                id: &id,
                result: empty
            })
            .unwrap()
        );
    }

    #[test]
    fn revisions_compare_as_dates() {
        assert_eq!(revision_of("2025-11-25"), Revision::Legacy);
        assert_eq!(revision_of("2026-07-28"), Revision::Modern);
    }
}
