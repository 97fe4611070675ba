//! The stdio transport of an upstream: newline-delimited JSON-RPC over the child's
//! stdin/stdout, read and written as rmcp's `AsyncRwTransport` does (its line rules, its
//! treatment of lines that are not messages, the bytes of its JSON-RPC codec), with what
//! rmcp's `TokioChildProcess` cannot be told:
//!
//! - a cap on one message (`max_message_bytes`): rmcp's own cap drops an oversized
//!   line and keeps reading, so the request it answered waits for its timeout with no
//!   reason given. Here the reader fails once the current line is longer than the cap and
//!   records why ([`Fault`]): the session ends at once, every request in flight fails with
//!   a message naming the server and the cap, and the supervisor restarts it (a server that
//!   answers more than the cap is broken, and the rest of an unbounded line cannot be
//!   skipped without reading it);
//! - lines on stdout that are not JSON (a server printing its logs to stdout) are counted
//!   and warned about under the server's name (rmcp ignores them at debug level);
//! - the answer to a `tools/call` is decoded as a call result first (`decode.rs`): the
//!   transport knows which of its requests are calls still unanswered, rmcp's decoding does
//!   not and tries 15 other kinds of result first; and a first `tools/call` is written
//!   without rmcp's round trip of its params through a `serde_json::Value` ([`ClientCodec`],
//!   the same bytes);
//! - the shutdown grace (`timeouts.shutdown_grace_ms`) instead of a fixed 3 s: close stdin,
//!   wait, SIGTERM to the process group, wait, SIGKILL; the child is always reaped.
//!
//! Does not own: spawning the command (`connect.rs`), decoding one message (`decode.rs`).

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use process_wrap::tokio::ChildWrapper;
use rmcp::RoleClient;
use rmcp::model::{
    CallToolRequest, ClientJsonRpcMessage, ClientNotification, ClientRequest, ErrorData,
    Extensions, JsonObject, JsonRpcMessage, JsonRpcRequest, MetaObject, RequestId,
    RequestMetaObject, ServerJsonRpcMessage,
};
use rmcp::transport::Transport;
use rmcp::transport::async_rw::{JsonRpcMessageCodec, JsonRpcMessageCodecError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::process::{ChildStdin, ChildStdout};
use tokio_util::bytes::{Buf as _, BufMut as _, BytesMut};
use tokio_util::codec::{Decoder, Encoder, FramedRead, FramedWrite};

use crate::decode;

/// Why a session was ended by the gateway (a broken message), shared between the transport
/// and the requests that fail because of it.
#[derive(Default)]
pub(crate) struct Fault(OnceLock<String>);

impl Fault {
    /// The reason, once one was recorded.
    pub(crate) fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }

    pub(crate) fn set(&self, reason: String) {
        let _ = self.0.set(reason);
    }
}

/// Most `tools/call` ids remembered at once. Each is forgotten when its answer or its
/// cancellation passes, so only calls whose handle was dropped without a cancellation and
/// that the server never answers stay: past this many, the oldest is forgotten (its answer,
/// should it come, is then decoded rmcp's way, with the same outcome, only slower).
const MAX_PENDING_CALLS: usize = 1024;

/// The ids of the session's `tools/call` requests not answered yet, oldest first. A few at
/// a time (one per call in flight), so a list searched from the oldest, which is the one
/// answered first most of the time, costs less than hashing.
#[derive(Default)]
struct PendingCalls(Vec<RequestId>);

impl PendingCalls {
    fn sent(&mut self, id: RequestId) {
        if self.0.len() == MAX_PENDING_CALLS {
            self.0.remove(0);
        }
        self.0.push(id);
    }

    /// Forgets `id`; whether it was a pending call.
    fn settled(&mut self, id: &RequestId) -> bool {
        match self.0.iter().position(|pending| pending == id) {
            Some(at) => {
                self.0.remove(at);
                true
            }
            None => false,
        }
    }
}

/// A UTF-8 byte order mark, which rmcp skips at the start of a line (RFC 8259 §8.1).
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Splits a child's stdout into lines and decodes each as rmcp's `AsyncRwTransport` does
/// (`\n` ends a line, one `\r` before it is dropped, blank lines and lines that are not JSON
/// are skipped), failing once a line exceeds `max` bytes.
struct StdoutCodec {
    max: usize,
    /// How much of the buffered, unterminated line was already searched for its `\n`.
    searched: usize,
    noise_lines: u64,
    name: Arc<str>,
    fault: Arc<Fault>,
    calls: PendingCalls,
}

/// A line of stdout that is not skipped.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "moved once per line, never stored: a box would be an allocation per message"
)]
enum Line {
    Message(ServerJsonRpcMessage),
    /// Well-formed JSON that is not a message: rmcp answers it with "Invalid request".
    Invalid,
}

impl StdoutCodec {
    fn new(max: usize, name: Arc<str>, fault: Arc<Fault>) -> Self {
        StdoutCodec {
            max,
            searched: 0,
            noise_lines: 0,
            name,
            fault,
            calls: PendingCalls::default(),
        }
    }

    /// Records that a line exceeded the cap; the error ends the session.
    fn oversized(&self) -> std::io::Error {
        let reason = format!(
            "upstream `{}` sent a message larger than {} bytes (max_message_bytes); its session was closed",
            self.name, self.max
        );
        tracing::warn!(upstream = %self.name, "{reason}");
        self.fault.set(reason.clone());
        std::io::Error::new(std::io::ErrorKind::InvalidData, reason)
    }

    /// Counts (and warns about) a line whose first non-blank byte cannot start JSON-RPC.
    fn count_noise(&mut self, line: &[u8]) {
        let Some(&first) = line.iter().find(|b| !b.is_ascii_whitespace()) else {
            return;
        };
        if first == b'{' || first == b'[' {
            return;
        }
        self.noise_lines += 1;
        // The first few, then every hundredth: a chatty server must not flood the log.
        if self.noise_lines <= 3 || self.noise_lines.is_multiple_of(100) {
            tracing::warn!(
                upstream = %self.name,
                lines = self.noise_lines,
                "the server wrote a line that is not JSON-RPC on stdout (ignored; servers must log to stderr)"
            );
        }
    }

    /// What the line `raw` (its `\n` included) holds; `None` for a line that is skipped.
    fn line(&mut self, raw: &[u8]) -> Result<Option<Line>, std::io::Error> {
        let line = &raw[..raw.len() - 1];
        self.count_noise(line.strip_prefix(UTF8_BOM).unwrap_or(line));
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Ok(None);
        }
        let json = line.strip_prefix(UTF8_BOM).unwrap_or(line);
        let calls = &mut self.calls;
        let mut asked = false;
        let decoded = decode::server_message(json, |id| {
            asked = true;
            calls.settled(id)
        });
        let message = match decoded {
            Ok(message) => message,
            Err(_) => match rmcp_verdict(raw)? {
                Some(Line::Message(message)) => message,
                other => return Ok(other),
            },
        };
        if !asked {
            // An answer the cheap way did not look at (an error, or an odd response).
            match &message {
                JsonRpcMessage::Response(r) => {
                    calls.settled(&r.id);
                }
                JsonRpcMessage::Error(e) => {
                    if let Some(id) = &e.id {
                        calls.settled(id);
                    }
                }
                JsonRpcMessage::Request(_) | JsonRpcMessage::Notification(_) => {}
            }
        }
        Ok(Some(Line::Message(message)))
    }
}

/// What rmcp's transport does with the line `raw` (its `\n` included) that is not a message
/// `decode.rs` accepts: its own codec decides (the notifications it ignores for
/// compatibility, JSON that is not a message, input that is not JSON).
fn rmcp_verdict(raw: &[u8]) -> Result<Option<Line>, std::io::Error> {
    let mut codec = JsonRpcMessageCodec::<ServerJsonRpcMessage>::default();
    match codec.decode(&mut BytesMut::from(raw)) {
        Ok(Some(message)) => Ok(Some(Line::Message(message))),
        Ok(None) => Ok(None),
        Err(JsonRpcMessageCodecError::Serde(e)) => match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                tracing::debug!("Ignoring unparsable incoming message: {e}");
                Ok(None)
            }
            serde_json::error::Category::Data | serde_json::error::Category::Io => {
                tracing::debug!("Protocol error on incoming message: {e}");
                Ok(Some(Line::Invalid))
            }
        },
        Err(e) => Err(e.into()),
    }
}

impl Decoder for StdoutCodec {
    type Item = Line;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, std::io::Error> {
        loop {
            let Some(at) = memchr::memchr(b'\n', &buf[self.searched..]) else {
                if buf.len() > self.max {
                    return Err(self.oversized());
                }
                self.searched = buf.len();
                return Ok(None);
            };
            let end = self.searched + at;
            self.searched = 0;
            if end > self.max {
                return Err(self.oversized());
            }
            let line = self.line(&buf[..=end]);
            buf.advance(end + 1);
            if let Some(line) = line? {
                return Ok(Some(line));
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, std::io::Error> {
        let line = self.decode(buf)?;
        if line.is_none() {
            // An unterminated last line is not a message (rmcp drops it too).
            buf.clear();
            self.searched = 0;
        }
        Ok(line)
    }
}

/// Encodes what the gateway sends as rmcp's codec does (the JSON, then `\n`), writing a first
/// `tools/call` directly: rmcp serializes a request's params into a `serde_json::Value`, takes
/// `_meta` out of it, and serializes the map again, a third of the instructions of a call's
/// way out. Each part (`jsonrpc`, `id`, `method`, `_meta`, `name`, `arguments`) is serialized
/// by serde as rmcp's types do, in rmcp's order, so the bytes are the same (tests compare
/// them); a call with params `_meta`, `inputResponses` or `requestState` (whose order or
/// number formatting the `Value` round trip may change) goes through rmcp's codec.
#[derive(Default)]
struct ClientCodec(JsonRpcMessageCodec<ClientJsonRpcMessage>);

impl Encoder<ClientJsonRpcMessage> for ClientCodec {
    type Error = JsonRpcMessageCodecError;

    fn encode(
        &mut self,
        item: ClientJsonRpcMessage,
        buf: &mut BytesMut,
    ) -> Result<(), JsonRpcMessageCodecError> {
        if let Some((r, call)) = direct_call(&item) {
            let mut w = buf.writer();
            w.write_all(b"{\"jsonrpc\":")?;
            serde_json::to_writer(&mut w, &r.jsonrpc)?;
            w.write_all(b",\"id\":")?;
            serde_json::to_writer(&mut w, &r.id)?;
            w.write_all(b",\"method\":")?;
            serde_json::to_writer(&mut w, &call.method)?;
            w.write_all(b",\"params\":{")?;
            if let Some(meta) = request_meta(&call.extensions) {
                w.write_all(b"\"_meta\":")?;
                serde_json::to_writer(&mut w, &*meta)?;
                w.write_all(b",")?;
            }
            w.write_all(b"\"name\":")?;
            serde_json::to_writer(&mut w, &call.params.name)?;
            if let Some(arguments) = &call.params.arguments {
                w.write_all(b",\"arguments\":")?;
                serde_json::to_writer(&mut w, arguments)?;
            }
            w.write_all(b"}}\n")?;
            return Ok(());
        }
        self.0.encode(item, buf)
    }
}

/// The request and its `tools/call` when `message` is a call [`ClientCodec`] writes itself.
fn direct_call(
    message: &ClientJsonRpcMessage,
) -> Option<(&JsonRpcRequest<ClientRequest>, &CallToolRequest)> {
    if let JsonRpcMessage::Request(r) = message
        && let ClientRequest::CallToolRequest(call) = &r.request
        && call.params.meta.is_none()
        && call.params.input_responses.is_none()
        && call.params.request_state.is_none()
    {
        return Some((r, call));
    }
    None
}

/// A request's `_meta` as rmcp serializes it: the typed one, over the legacy one if both are
/// in the extensions (rmcp's `request_meta`).
fn request_meta(extensions: &Extensions) -> Option<Cow<'_, JsonObject>> {
    let typed = extensions.get::<RequestMetaObject>().map(|meta| &meta.0.0);
    let legacy = extensions.get::<MetaObject>().map(|meta| &meta.0);
    match (typed, legacy) {
        (Some(typed), None) => Some(Cow::Borrowed(typed)),
        (None, Some(legacy)) => Some(Cow::Borrowed(legacy)),
        (Some(typed), Some(legacy)) => {
            let mut merged = legacy.clone();
            merged.extend(typed.iter().map(|(k, v)| (k.clone(), v.clone())));
            Some(Cow::Owned(merged))
        }
        (None, None) => None,
    }
}

/// Writes messages as rmcp does: serialized, then `\n`, then flushed.
type Writer<W> = Arc<tokio::sync::Mutex<Option<FramedWrite<W, ClientCodec>>>>;

/// The "Invalid request" answer to a line that is JSON but not a message, kept across a
/// cancelled `receive` (rmcp's service polls it in a `select!`) until it is flushed.
enum InvalidReply {
    Queued,
    Written,
}

/// Newline-delimited JSON-RPC over a reader and a writer: the stdio transport without the
/// child.
struct Lines<R, W> {
    read: FramedRead<R, StdoutCodec>,
    write: Writer<W>,
    invalid_reply: Option<InvalidReply>,
}

impl<R, W> Lines<R, W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    fn new(read: R, write: W, codec: StdoutCodec) -> Self {
        Lines {
            read: FramedRead::new(read, codec),
            write: Arc::new(tokio::sync::Mutex::new(Some(FramedWrite::new(
                write,
                ClientCodec::default(),
            )))),
            invalid_reply: None,
        }
    }

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = std::io::Result<()>> + Send + 'static {
        // Called in the order the messages are sent, before they are written: a call's id
        // is known before its answer can come.
        match &item {
            JsonRpcMessage::Request(r)
                if matches!(r.request, ClientRequest::CallToolRequest(_)) =>
            {
                self.read.decoder_mut().calls.sent(r.id.clone());
            }
            JsonRpcMessage::Notification(n) => {
                if let ClientNotification::CancelledNotification(c) = &n.notification
                    && let Some(id) = &c.params.request_id
                {
                    self.read.decoder_mut().calls.settled(id);
                }
            }
            _ => {}
        }
        let write = self.write.clone();
        async move {
            match write.lock().await.as_mut() {
                Some(write) => write.send(item).await.map_err(Into::into),
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "Transport is closed",
                )),
            }
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        loop {
            if let Some(state) = self.invalid_reply.as_mut() {
                let mut write = self.write.lock().await;
                let framed = write.as_mut()?;
                if matches!(state, InvalidReply::Queued) {
                    let reply = ClientJsonRpcMessage::error(
                        ErrorData::invalid_request("Invalid request", None),
                        None,
                    );
                    if framed.feed(reply).await.is_err() {
                        return None;
                    }
                    *state = InvalidReply::Written;
                }
                if framed.flush().await.is_err() {
                    return None;
                }
                self.invalid_reply = None;
            }
            match self.read.next().await? {
                Ok(Line::Message(message)) => return Some(message),
                Ok(Line::Invalid) => self.invalid_reply = Some(InvalidReply::Queued),
                Err(e) => {
                    tracing::error!("Error reading from stream: {}", e);
                    return None;
                }
            }
        }
    }

    /// Closes the writer (the child's stdin).
    async fn close(&mut self) {
        drop(self.write.lock().await.take());
    }
}

/// A stdio server as an rmcp client transport.
pub(crate) struct ChildTransport {
    child: Option<Box<dyn ChildWrapper>>,
    lines: Lines<ChildStdout, ChildStdin>,
    grace: Duration,
}

impl ChildTransport {
    /// Wraps a spawned child (stdin and stdout piped) whose messages may be at most `max`
    /// bytes.
    pub(crate) fn new(
        mut child: Box<dyn ChildWrapper>,
        name: Arc<str>,
        max: usize,
        grace: Duration,
        fault: Arc<Fault>,
    ) -> std::io::Result<Self> {
        let stdin = child
            .inner_mut()
            .stdin()
            .take()
            .ok_or_else(|| std::io::Error::other("the child's stdin is not piped"))?;
        let stdout = child
            .inner_mut()
            .stdout()
            .take()
            .ok_or_else(|| std::io::Error::other("the child's stdout is not piped"))?;
        Ok(ChildTransport {
            child: Some(child),
            lines: Lines::new(stdout, stdin, StdoutCodec::new(max, name, fault)),
            grace,
        })
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        self.lines.close().await;
        if let Ok(Ok(_)) = tokio::time::timeout(self.grace, child.wait()).await {
            return Ok(());
        }
        #[cfg(unix)]
        if child.signal(libc::SIGTERM).is_ok()
            && let Ok(Ok(_)) = tokio::time::timeout(self.grace, child.wait()).await
        {
            return Ok(());
        }
        Box::into_pin(child.kill()).await
    }
}

impl Drop for ChildTransport {
    fn drop(&mut self) {
        // Never a zombie: a transport dropped without closing still kills and reaps.
        if let Some(mut child) = self.child.take()
            && let Ok(handle) = tokio::runtime::Handle::try_current()
        {
            handle.spawn(async move {
                let _ = Box::into_pin(child.kill()).await;
            });
        }
    }
}

impl Transport<RoleClient> for ChildTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: rmcp::service::TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.lines.send(item)
    }

    fn receive(
        &mut self,
    ) -> impl Future<Output = Option<rmcp::service::RxJsonRpcMessage<RoleClient>>> + Send {
        self.lines.receive()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.shutdown()
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{JsonRpcResponse, ServerResult};
    use serde_json::json;
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, DuplexStream};

    use super::*;

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
        w.send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}}))
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
}
