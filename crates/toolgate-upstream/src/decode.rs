//! Decoding what an upstream server sends as rmcp's [`ServerJsonRpcMessage`], cheaply when
//! it is the answer to a `tools/call`, the one message on every call's path.
//!
//! rmcp decodes a message by buffering it, checking its shape, and then trying each kind of
//! result in its untagged `ServerResult` in turn: a `CallToolResult` is the 16th, so the
//! answer to every call first fails 15 other decodings (an error value built for each).
//! Callgrind put that at about a fifth of the instructions of a call through an upstream
//! (BENCHMARKS.md, "Upstream MCP servers"). Here the envelope is read once with the result
//! left as raw JSON and, when the caller says the id is one of its `tools/call` requests,
//! the result is decoded as the two kinds a `tools/call` can answer with
//! ([`CallToolResult`], then [`InputRequiredResult`]).
//!
//! Anything else, or anything odd (no `jsonrpc: "2.0"`, a duplicate or stray key, a result
//! that is neither kind), is decoded by rmcp exactly as before, so the outcome never depends
//! on which way was taken; the tests compare both ways on every kind of message.
//!
//! Does not own: framing (the stdio line reader, the HTTP body and SSE readers) or what is
//! done with the message.

use rmcp::model::{
    CallToolResult, InputRequiredResult, JsonRpcMessage, JsonRpcResponse, JsonRpcVersion2_0,
    RequestId, ServerJsonRpcMessage, ServerResult,
};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The keys that tell the kind of a JSON-RPC message, with the result kept raw.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[allow(
        dead_code,
        reason = "checked by its type while decoding: `\"2.0\"` only"
    )]
    jsonrpc: JsonRpcVersion2_0,
    id: Option<RequestId>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
}

/// `bytes` as a server's message; `is_call` says whether a response id answers one of the
/// reader's `tools/call` requests (only then is the result decoded the cheap way).
pub(crate) fn server_message(
    bytes: &[u8],
    is_call: impl FnOnce(&RequestId) -> bool,
) -> serde_json::Result<ServerJsonRpcMessage> {
    if let Ok(Envelope {
        id: Some(id),
        result: Some(result),
        ..
    }) = serde_json::from_slice::<Envelope>(bytes)
        && is_call(&id)
        && let Some(result) = call_result(result)
    {
        return Ok(JsonRpcMessage::Response(JsonRpcResponse {
            jsonrpc: JsonRpcVersion2_0,
            id,
            result,
        }));
    }
    serde_json::from_slice(bytes)
}

/// The result of a `tools/call` when it is one of the two kinds such a call answers with;
/// `None` leaves the choice to rmcp's decoding of the whole message.
fn call_result(raw: &RawValue) -> Option<ServerResult> {
    // Neither decoding accepts what the other does: a `CallToolResult` refuses any
    // `resultType` but `complete`, an `InputRequiredResult` requires `input_required`.
    if let Ok(r) = serde_json::from_str::<CallToolResult>(raw.get()) {
        return Some(ServerResult::CallToolResult(r));
    }
    serde_json::from_str::<InputRequiredResult>(raw.get())
        .ok()
        .map(ServerResult::InputRequiredResult)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Every kind of message a server sends, as rmcp decodes it and as it is decoded here
    /// with its id taken for a `tools/call`: both must agree.
    fn same_both_ways(message: serde_json::Value) {
        let bytes = serde_json::to_vec(&message).unwrap();
        let by_rmcp = serde_json::from_slice::<ServerJsonRpcMessage>(&bytes);
        let here = server_message(&bytes, |_| true);
        match (by_rmcp, here) {
            // rmcp's messages have no `PartialEq`; `Debug` shows every variant and field.
            (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{message}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{message}"),
            (a, b) => panic!("{message}: rmcp {a:?}, here {b:?}"),
        }
    }

    #[test]
    fn call_results_of_every_shape_decode_as_rmcp_decodes_them() {
        let results = [
            json!({"content": [{"type": "text", "text": "hi"}]}),
            json!({"content": [], "isError": true}),
            json!({"resultType": "complete", "content": [{"type": "text", "text": "x", "annotations": {"priority": 0.5}}]}),
            json!({"content": [
                {"type": "image", "data": "aGk=", "mimeType": "image/png"},
                {"type": "audio", "data": "aGk=", "mimeType": "audio/wav"},
                {"type": "resource_link", "uri": "file:///a", "name": "a"},
                {"type": "resource", "resource": {"uri": "file:///b", "text": "b"}},
            ]}),
            json!({"structuredContent": null}),
            json!({"structuredContent": {"a": [1, 2, {"b": null}]}, "content": []}),
            json!({"isError": false, "_meta": {"x": 1}}),
            json!({"content": [{"type": "text", "text": "\u{2028}é\"\\"}], "extra": 1}),
            // Not a call result: rmcp's decoding decides.
            json!({}),
            json!({"_meta": {"only": true}}),
            json!({"tools": []}),
            json!({"resultType": "input_required", "requestState": "s", "inputRequests": {
                "a": {"method": "elicitation/create", "params": {"message": "m", "requestedSchema": {"type": "object", "properties": {}}}}
            }}),
            json!({"resultType": "input_required"}),
            json!({"resultType": "task", "task": {"taskId": "t"}}),
            json!({"content": "not a list"}),
            json!({"content": [{"type": "unknown"}]}),
            json!(null),
            json!([1]),
            json!("text"),
        ];
        for result in results {
            same_both_ways(json!({"jsonrpc": "2.0", "id": 7, "result": result.clone()}));
            same_both_ways(json!({"jsonrpc": "2.0", "id": "s-1", "result": result}));
        }
    }

    #[test]
    fn the_answer_to_a_call_takes_the_cheap_way() {
        let bytes = br#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}],"isError":false}}"#;
        let envelope = serde_json::from_slice::<Envelope>(bytes).unwrap();
        assert_eq!(envelope.id, Some(RequestId::Number(7)));
        assert!(matches!(
            call_result(envelope.result.unwrap()),
            Some(ServerResult::CallToolResult(_))
        ));
        let input = br#"{"jsonrpc":"2.0","id":"a","result":{"resultType":"input_required","requestState":"s"}}"#;
        let envelope = serde_json::from_slice::<Envelope>(input).unwrap();
        assert!(matches!(
            call_result(envelope.result.unwrap()),
            Some(ServerResult::InputRequiredResult(_))
        ));
        // Keys that make it another kind of message leave it to rmcp.
        for other in [
            &br#"{"jsonrpc":"2.0","id":7,"method":"x","result":{}}"#[..],
            br#"{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"m"}}"#,
        ] {
            assert!(serde_json::from_slice::<Envelope>(other).is_err());
        }
    }

    #[test]
    fn other_messages_and_broken_ones_decode_as_rmcp_decodes_them() {
        let messages = [
            json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "bad"}}),
            json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": "parse"}}),
            json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": 0.5}}),
            json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
            json!({"jsonrpc": "2.0", "id": 9, "method": "roots/list"}),
            json!({"jsonrpc": "2.0", "id": 9, "method": "ping", "result": {}}),
            json!({"jsonrpc": "2.0", "id": 9, "result": {"content": []}, "error": {"code": 1, "message": "m"}}),
            json!({"jsonrpc": "1.0", "id": 9, "result": {"content": []}}),
            json!({"id": 9, "result": {"content": []}}),
            json!({"jsonrpc": "2.0", "result": {"content": []}}),
            json!({"jsonrpc": "2.0", "id": null, "result": {"content": []}}),
            json!({"jsonrpc": "2.0", "id": 1.5, "result": {"content": []}}),
            json!({"jsonrpc": "2.0", "id": 9, "result": {"content": []}, "extra": true}),
            json!([{"jsonrpc": "2.0", "id": 9, "result": {"content": []}}]),
        ];
        for message in messages {
            same_both_ways(message);
        }
        for bytes in [
            &b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]},\"result\":{}}"[..],
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[]}",
            b"",
            b"not json",
        ] {
            let by_rmcp = serde_json::from_slice::<ServerJsonRpcMessage>(bytes);
            let here = server_message(bytes, |_| true);
            assert_eq!(
                format!("{by_rmcp:?}"),
                format!("{here:?}"),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn a_response_to_another_request_is_left_to_rmcp() {
        // `tools` decodes as a `CallToolResult` (no required field is missing) only because
        // of the lenient defaults; for an id that is not a call, rmcp's order decides.
        let bytes = br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[],"isError":false}}"#;
        let by_rmcp = serde_json::from_slice::<ServerJsonRpcMessage>(bytes).unwrap();
        let here = server_message(bytes, |id| *id == RequestId::Number(4)).unwrap();
        assert_eq!(format!("{here:?}"), format!("{by_rmcp:?}"));
        assert!(matches!(
            by_rmcp,
            JsonRpcMessage::Response(JsonRpcResponse {
                result: ServerResult::ListToolsResult(_),
                ..
            })
        ));
    }
}
