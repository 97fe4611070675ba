//! The stdio transport against in-memory pipes: lines, the cap, decoding, writing.

use rmcp::model::{JsonRpcResponse, ServerResult};
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, DuplexStream};

use super::reader::{MAX_PENDING_CALLS, PendingCalls, UTF8_BOM};
use super::writer::{ClientCodec, direct_call};
use super::*;
use rmcp::model::RequestId;
use rmcp::model::{JsonObject, MetaObject, RequestMetaObject};
use rmcp::transport::async_rw::JsonRpcMessageCodec;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::Encoder as _;

/// The transport, the server's ends of its stdout and stdin, and its fault.
struct Wire {
    lines: Lines<DuplexStream, DuplexStream>,
    stdout: DuplexStream,
    stdin: BufReader<DuplexStream>,
    fault: Arc<Fault>,
}

fn wire(max: usize) -> Wire {
    let (read, stdout) = tokio::io::duplex(1 << 16);
    let (write, stdin) = tokio::io::duplex(1 << 16);
    let fault = Arc::new(Fault::default());
    let codec = StdoutCodec::new(max, Arc::from("srv"), fault.clone());
    Wire {
        lines: Lines::new(read, write, codec),
        stdout,
        stdin: BufReader::new(stdin),
        fault,
    }
}

impl Wire {
    async fn send(&mut self, message: serde_json::Value) {
        let message = serde_json::from_value::<ClientJsonRpcMessage>(message).unwrap();
        self.lines.send(message).await.unwrap();
    }

    /// The next line the server reads, parsed.
    async fn sent(&mut self) -> serde_json::Value {
        let mut line = String::new();
        self.stdin.read_line(&mut line).await.unwrap();
        assert!(line.ends_with('\n'), "{line:?}");
        serde_json::from_str(&line).unwrap()
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.stdout.write_all(bytes).await.unwrap();
    }

    fn pending(&self) -> &[RequestId] {
        &self.lines.read.decoder().calls.0
    }
}

fn call(id: u32) -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "echo"}})
}

/// `bytes` as rmcp decodes them, as JSON (rmcp's messages have no `PartialEq`).
fn as_rmcp_decodes(bytes: &[u8]) -> serde_json::Value {
    let message: ServerJsonRpcMessage = serde_json::from_slice(bytes).unwrap();
    serde_json::to_value(message).unwrap()
}

fn as_json(message: &ServerJsonRpcMessage) -> serde_json::Value {
    serde_json::to_value(message).unwrap()
}

#[tokio::test]
async fn the_answer_to_a_pending_call_is_decoded_as_a_call_result_and_as_rmcp_would() {
    let mut w = wire(1 << 20);
    w.send(call(1)).await;
    assert_eq!(w.sent().await, call(1));
    assert_eq!(w.pending(), [RequestId::Number(1)]);
    let answer = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}],"isError":false}}"#;
    w.write(answer).await;
    w.write(b"\n").await;
    let got = w.lines.receive().await.unwrap();
    assert_eq!(as_json(&got), as_rmcp_decodes(answer));
    assert!(matches!(
        got,
        JsonRpcMessage::Response(JsonRpcResponse {
            result: ServerResult::CallToolResult(_),
            ..
        })
    ));
    assert!(w.pending().is_empty(), "answered calls are forgotten");
}

#[tokio::test]
async fn only_pending_calls_take_the_call_result_way() {
    // `{"tools": [], "isError": false}` is also a call result with no content: only
    // rmcp's order tells it is a tool list, so which way a line took shows.
    let mut w = wire(1 << 20);
    w.send(call(1)).await;
    w.send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await;
    for id in [2, 1] {
        let answer =
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"tools":[],"isError":false}}}}"#);
        w.write(answer.as_bytes()).await;
        w.write(b"\n").await;
    }
    let list = w.lines.receive().await.unwrap();
    assert!(matches!(
        list,
        JsonRpcMessage::Response(JsonRpcResponse {
            result: ServerResult::ListToolsResult(_),
            ..
        })
    ));
    let answer = w.lines.receive().await.unwrap();
    assert!(matches!(
        answer,
        JsonRpcMessage::Response(JsonRpcResponse {
            result: ServerResult::CallToolResult(_),
            ..
        })
    ));
}

#[tokio::test]
async fn errors_and_cancellations_settle_pending_calls() {
    let mut w = wire(1 << 20);
    for id in 1..=3 {
        w.send(call(id)).await;
    }
    w.send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}}),
    )
    .await;
    assert_eq!(w.pending(), [RequestId::Number(1), RequestId::Number(3)]);
    let error = br#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"bad"}}"#;
    w.write(error).await;
    w.write(b"\n").await;
    assert_eq!(
        as_json(&w.lines.receive().await.unwrap()),
        as_rmcp_decodes(error)
    );
    assert_eq!(w.pending(), [RequestId::Number(1)]);
}

#[test]
fn pending_calls_are_bounded_forgetting_the_oldest() {
    let mut calls = PendingCalls::default();
    for id in 0..MAX_PENDING_CALLS as i64 + 5 {
        calls.sent(RequestId::Number(id));
    }
    assert_eq!(calls.0.len(), MAX_PENDING_CALLS);
    assert!(!calls.settled(&RequestId::Number(4)));
    assert!(calls.settled(&RequestId::Number(5)));
}

#[tokio::test]
async fn blank_lines_noise_crlf_and_a_byte_order_mark_are_read_as_rmcp_reads_them() {
    let mut w = wire(1 << 20);
    let ping = br#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#;
    w.write(b"\n\r\n   \n").await;
    w.write(b"starting server on stdout\nDEBUG: {\"a\":1}\n")
        .await;
    w.write(ping).await;
    w.write(b"\r\n").await;
    w.write(UTF8_BOM).await;
    w.write(ping).await;
    w.write(b"\n").await;
    let first = w.lines.receive().await.unwrap();
    assert_eq!(as_json(&first), as_rmcp_decodes(ping));
    assert_eq!(
        as_json(&w.lines.receive().await.unwrap()),
        as_rmcp_decodes(ping)
    );
    assert_eq!(w.lines.read.decoder().noise_lines, 2);
    // Nothing was answered to the noise.
    w.lines.close().await;
    let mut rest = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut w.stdin, &mut rest)
        .await
        .unwrap();
    assert_eq!(rest, "");
}

#[tokio::test]
async fn json_that_is_not_a_message_is_answered_and_unknown_notifications_are_not() {
    let mut w = wire(1 << 20);
    w.write(b"{\"foo\":\"bar\"}\n").await;
    // Not a message, but a notification rmcp ignores for compatibility.
    w.write(b"{\"method\":\"notifications/stderr\",\"params\":{\"content\":\"x\"}}\n")
        .await;
    w.write(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n")
        .await;
    let next = w.lines.receive().await.unwrap();
    assert_eq!(
        serde_json::to_value(&next).unwrap()["method"],
        "notifications/tools/list_changed"
    );
    assert_eq!(
        w.sent().await,
        json!({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid request"}})
    );
    w.lines.close().await;
    let mut rest = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut w.stdin, &mut rest)
        .await
        .unwrap();
    assert_eq!(
        rest, "",
        "one answer, for the one line that was not a message"
    );
}

#[tokio::test]
async fn a_line_over_the_cap_ends_the_session_with_the_reason() {
    let mut w = wire(64);
    let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    // At the cap exactly, `\r` included: read.
    let mut at_cap = ping.to_vec();
    at_cap.resize(63, b' ');
    at_cap.extend_from_slice(b"\r\n");
    w.write(&at_cap).await;
    assert_eq!(
        as_json(&w.lines.receive().await.unwrap()),
        as_rmcp_decodes(ping)
    );
    assert!(w.fault.get().is_none());
    // One byte over, before its end arrived: the session ends.
    w.write(&[b' '; 65]).await;
    assert!(w.lines.receive().await.is_none());
    assert_eq!(
        w.fault.get(),
        Some(
            "upstream `srv` sent a message larger than 64 bytes (max_message_bytes); its session was closed"
        )
    );
    assert!(w.lines.receive().await.is_none(), "ended for good");
}

#[tokio::test]
async fn a_whole_line_over_the_cap_ends_the_session_too() {
    let mut w = wire(64);
    let mut line = vec![b'x'; 65];
    line.extend_from_slice(b"\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n");
    w.write(&line).await;
    assert!(w.lines.receive().await.is_none());
    assert!(w.fault.get().is_some());
}

#[tokio::test]
async fn end_of_file_ends_the_session_and_drops_an_unterminated_line() {
    let mut w = wire(1 << 20);
    let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    w.write(ping).await;
    w.write(b"\n").await;
    w.write(ping).await;
    drop(w.stdout);
    assert_eq!(
        as_json(&w.lines.receive().await.unwrap()),
        as_rmcp_decodes(ping)
    );
    assert!(w.lines.receive().await.is_none());
    assert!(w.fault.get().is_none());
}

#[tokio::test]
async fn a_cancelled_receive_loses_no_part_of_a_line() {
    let mut w = wire(1 << 20);
    let ping = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    w.write(&ping[..10]).await;
    {
        let mut receive = Box::pin(w.lines.receive());
        assert!(futures::poll!(&mut receive).is_pending());
    }
    w.write(&ping[10..]).await;
    w.write(b"\n").await;
    assert_eq!(
        as_json(&w.lines.receive().await.unwrap()),
        as_rmcp_decodes(ping)
    );
}

#[tokio::test]
async fn messages_are_written_as_rmcp_writes_them_and_not_after_close() {
    let mut w = wire(1 << 20);
    let message = serde_json::from_value::<ClientJsonRpcMessage>(call(7)).unwrap();
    let mut by_rmcp = serde_json::to_vec(&message).unwrap();
    by_rmcp.push(b'\n');
    w.lines.send(message).await.unwrap();
    let mut line = Vec::new();
    w.stdin.read_until(b'\n', &mut line).await.unwrap();
    assert_eq!(line, by_rmcp);
    w.lines.close().await;
    let closed = w.lines.send(serde_json::from_value(call(8)).unwrap()).await;
    assert_eq!(closed.unwrap_err().kind(), std::io::ErrorKind::NotConnected);
}

/// `message` as rmcp's codec and as [`ClientCodec`] encode it.
fn both_encodings(message: &ClientJsonRpcMessage) -> (String, String) {
    let mut by_rmcp = BytesMut::new();
    JsonRpcMessageCodec::<ClientJsonRpcMessage>::default()
        .encode(message.clone(), &mut by_rmcp)
        .unwrap();
    let mut here = BytesMut::new();
    ClientCodec::default()
        .encode(message.clone(), &mut here)
        .unwrap();
    let text = |b: BytesMut| String::from_utf8(b.to_vec()).unwrap();
    (text(by_rmcp), text(here))
}

#[test]
fn calls_are_written_byte_for_byte_as_rmcp_writes_them() {
    let arguments = [
        None,
        Some(json!({})),
        Some(json!({"id": 42})),
        Some(json!({
            "s": "quote \" backslash \\ newline \n tab \t nul \u{0} \u{2028} é 😀",
            "floats": [0.1, 1e300, -0.0, 2.5e-8, 1.0, 123456789012345678.0],
            "ints": [0, -1, 9007199254740993i64, u64::MAX],
            "nested": {"z": 1, "a": [null, true, false, {"k": []}]},
            "": "empty key",
        })),
    ];
    let metas = [
        None,
        Some(json!({})),
        Some(json!({"progressToken": 7})),
        Some(json!({"progressToken": "tok", "traceparent": "00-ab-cd-01", "x": {"y": 0.5}})),
    ];
    for (n, arguments) in arguments.iter().enumerate() {
        for meta in &metas {
            for id in [json!(1), json!(4_294_967_296u64), json!("id-\"1\"")] {
                let mut params = json!({"name": format!("tool_{n}/\"x\"")});
                if let Some(a) = arguments {
                    params["arguments"] = a.clone();
                }
                if let Some(m) = meta {
                    params["_meta"] = m.clone();
                }
                let message: ClientJsonRpcMessage = serde_json::from_value(json!({
                    "jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params,
                }))
                .unwrap();
                assert!(direct_call(&message).is_some());
                let (by_rmcp, here) = both_encodings(&message);
                assert_eq!(here, by_rmcp);
                assert!(here.ends_with("}\n"));
            }
        }
    }
}

#[test]
fn calls_with_legacy_or_params_meta_or_retry_fields_are_written_as_rmcp_writes_them() {
    let call = |params: serde_json::Value| -> ClientJsonRpcMessage {
        serde_json::from_value(json!({
            "jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params,
        }))
        .unwrap()
    };
    let with = |mut message: ClientJsonRpcMessage,
                edit: &dyn Fn(&mut rmcp::model::CallToolRequest)|
     -> ClientJsonRpcMessage {
        if let JsonRpcMessage::Request(r) = &mut message
            && let ClientRequest::CallToolRequest(c) = &mut r.request
        {
            edit(c);
        }
        message
    };
    let legacy = || {
        let mut m = JsonObject::new();
        m.insert("progressToken".into(), json!("legacy"));
        m.insert("old".into(), json!(1));
        MetaObject(m)
    };
    let cases = [
        // Legacy `_meta` alone, and under the typed one (merged: legacy's order first).
        with(call(json!({"name": "t", "arguments": {"a": 1}})), &|c| {
            c.extensions.insert(legacy());
        }),
        with(
            call(json!({"name": "t", "_meta": {"progressToken": 1, "new": 2}})),
            &|c| {
                c.extensions.insert(legacy());
            },
        ),
        // Params-level `_meta`, retry fields: rmcp's codec writes them.
        with(call(json!({"name": "t", "arguments": {"a": 1}})), &|c| {
            let mut m = JsonObject::new();
            m.insert("p".into(), json!(0.1));
            c.params.meta = Some(RequestMetaObject(MetaObject(m)));
        }),
        call(json!({"name": "t", "requestState": "s", "arguments": {"f": 0.1}})),
        call(json!({"name": "t", "inputResponses": {"k": {"action": "decline"}}})),
    ];
    for (n, message) in cases.iter().enumerate() {
        assert_eq!(direct_call(message).is_some(), n < 2, "case {n}");
        let (by_rmcp, here) = both_encodings(message);
        assert_eq!(here, by_rmcp, "case {n}");
    }
}

#[test]
fn other_messages_are_written_by_rmcp() {
    for message in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}
        }}),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1, "reason": "r"}}),
        json!({"jsonrpc": "2.0", "id": 5, "result": {}}),
        json!({"jsonrpc": "2.0", "id": 6, "error": {"code": -32600, "message": "m"}}),
    ] {
        let message: ClientJsonRpcMessage = serde_json::from_value(message).unwrap();
        let (by_rmcp, here) = both_encodings(&message);
        assert_eq!(here, by_rmcp);
    }
}
