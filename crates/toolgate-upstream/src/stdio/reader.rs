//! The stdout side of a stdio upstream: a `tokio_util` codec that splits lines as rmcp's
//! does, enforces `max_message_bytes` (recording the [`Fault`]), counts lines that are not
//! JSON, and decodes the answer of a `tools/call` still unanswered the cheap way
//! (`crate::decode`); anything else goes to rmcp's own codec. Does not own: the transport
//! around it (`mod.rs`).

use std::sync::Arc;

use rmcp::model::{JsonRpcMessage, RequestId, ServerJsonRpcMessage};
use rmcp::transport::async_rw::{JsonRpcMessageCodec, JsonRpcMessageCodecError};
use tokio_util::bytes::{Buf as _, BytesMut};
use tokio_util::codec::Decoder;

use super::Fault;
use crate::decode;

/// Most `tools/call` ids remembered at once. Each is forgotten when its answer or its
/// cancellation passes, so only calls whose handle was dropped without a cancellation and
/// that the server never answers stay: past this many, the oldest is forgotten (its answer,
/// should it come, is then decoded rmcp's way, with the same outcome, only slower).
pub(super) const MAX_PENDING_CALLS: usize = 1024;

/// The ids of the session's `tools/call` requests not answered yet, oldest first. A few at
/// a time (one per call in flight), so a list searched from the oldest, which is the one
/// answered first most of the time, costs less than hashing.
#[derive(Default)]
pub(super) struct PendingCalls(pub(super) Vec<RequestId>);

impl PendingCalls {
    pub(super) fn sent(&mut self, id: RequestId) {
        if self.0.len() == MAX_PENDING_CALLS {
            self.0.remove(0);
        }
        self.0.push(id);
    }

    /// Forgets `id`; whether it was a pending call.
    pub(super) fn settled(&mut self, id: &RequestId) -> bool {
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
pub(super) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Splits a child's stdout into lines and decodes each as rmcp's `AsyncRwTransport` does
/// (`\n` ends a line, one `\r` before it is dropped, blank lines and lines that are not JSON
/// are skipped), failing once a line exceeds `max` bytes.
pub(super) struct StdoutCodec {
    max: usize,
    /// How much of the buffered, unterminated line was already searched for its `\n`.
    searched: usize,
    pub(super) noise_lines: u64,
    name: Arc<str>,
    fault: Arc<Fault>,
    pub(super) calls: PendingCalls,
}

/// A line of stdout that is not skipped.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "moved once per line, never stored: a box would be an allocation per message"
)]
pub(super) enum Line {
    Message(ServerJsonRpcMessage),
    /// Well-formed JSON that is not a message: rmcp answers it with "Invalid request".
    Invalid,
}

impl StdoutCodec {
    pub(super) fn new(max: usize, name: Arc<str>, fault: Arc<Fault>) -> Self {
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
