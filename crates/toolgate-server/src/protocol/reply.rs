//! The answers toolgate writes itself: a fast-path call's result, shaped exactly as rmcp
//! shapes it for the client's revision, and every JSON-RPC error body the edge writes (the
//! fast path's and the HTTP guard's). What an error *says* is decided in
//! `toolgate_core::wire`; this module only frames it.

use rmcp::ErrorData;
use rmcp::model::{CacheScope, ListToolsResult, ResultType};
use serde::Serialize;
use serde_json::Value;
use toolgate_core::{CallContext, GatewayError, McpRequest, McpResponse, wire};

use super::Revision;
use crate::gateway::Gateway;
use crate::tools_json::ToolsJson;
use crate::trace::RequestEdge;

#[derive(Serialize)]
struct Reply<'a, T: Serialize> {
    jsonrpc: &'static str,
    id: &'a Value,
    result: T,
}

#[derive(Serialize)]
struct ErrorReply<'a> {
    jsonrpc: &'static str,
    /// `null` when the request could not be read far enough to know its id.
    id: Option<&'a Value>,
    error: &'a ErrorData,
}

/// A JSON-RPC error message: the one place such a body is written.
pub(crate) fn error_reply(id: Option<&Value>, error: &ErrorData) -> Vec<u8> {
    serde_json::to_vec(&ErrorReply {
        jsonrpc: "2.0",
        id,
        error,
    })
    // `ErrorData`'s `data` is arbitrary JSON already held as a `Value`: it serializes.
    .unwrap_or_else(|_| {
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}}"#
            .to_vec()
    })
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
/// exactly as rmcp would for a client on `revision` (`edge`: what the request's span reads).
pub(crate) async fn answer(
    gateway: &Gateway,
    ctx: CallContext,
    id: &Value,
    request: McpRequest,
    revision: Revision,
    edge: RequestEdge<'_>,
) -> Vec<u8> {
    let body = match gateway.run(ctx, request, edge).await {
        Ok(McpResponse::ToolResult(result)) => {
            let result = match result {
                // `input_required` is not a failure: the source needs the client's input
                // first (a 2026-07-28 client's call, MRTR); answered as rmcp answers
                // `CallToolResponse::InputRequired`.
                Err(mut e) => match e.input_required.take() {
                    Some(asked) => {
                        return serde_json::to_vec(&Reply {
                            jsonrpc: "2.0",
                            id,
                            result: &*asked,
                        })
                        .unwrap_or_else(|e| unserializable(id, &e));
                    }
                    None => Err(e),
                },
                ok => ok,
            };
            let mut result = match result.map_err(|e| wire::tool_failure(&e)) {
                Ok(r) | Err(Ok(r)) => r,
                Err(Err(error)) => return error_reply(Some(id), &error),
            };
            shape_result_type(&mut result.result_type, revision);
            // Sized up front from the text it carries (JSON-escaped, plus the structured copy
            // and the envelope): one allocation instead of a growing buffer.
            let text: usize = result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.len()))
                .sum();
            let mut out = Vec::with_capacity(2 * text + 256);
            serde_json::to_writer(
                &mut out,
                &Reply {
                    jsonrpc: "2.0",
                    id,
                    result,
                },
            )
            .map(|()| out)
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
        Ok(
            McpResponse::Resources(_)
            | McpResponse::ResourceTemplates(_)
            | McpResponse::Resource(_)
            | McpResponse::Subscribed(_)
            | McpResponse::Prompts(_)
            | McpResponse::Prompt(_)
            | McpResponse::Completion(_)
            | McpResponse::LogLevelSet(_),
        ) => {
            return error_reply(
                Some(id),
                &wire::gateway_error_data(&GatewayError::Internal(
                    "pipeline answered with another kind of response".to_owned(),
                )),
            );
        }
        Err(e) => return error_reply(Some(id), &wire::gateway_error_data(&e)),
    };
    body.unwrap_or_else(|e| unserializable(id, &e))
}

/// The error answer to request `id` whose result could not be serialized.
fn unserializable(id: &Value, e: &serde_json::Error) -> Vec<u8> {
    tracing::error!("cannot serialize a result: {e}");
    error_reply(
        Some(id),
        &wire::gateway_error_data(&GatewayError::Internal(format!(
            "the result could not be serialized ({e})"
        ))),
    )
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
    use rmcp::model::JsonObject;

    use super::*;

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
    fn error_replies_keep_the_id_when_known() {
        let e = ErrorData::internal_error("boom", None);
        let with = String::from_utf8(error_reply(Some(&Value::from(3)), &e)).unwrap();
        assert!(
            with.starts_with(r#"{"jsonrpc":"2.0","id":3,"error":"#),
            "{with}"
        );
        let without = String::from_utf8(error_reply(None, &e)).unwrap();
        assert!(without.contains(r#""id":null"#), "{without}");
    }
}
