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
//! Files: `reader.rs` (the stdout codec: lines, the cap, the cheap decoding of call answers),
//! `writer.rs` (the stdin codec), `tests.rs`. Does not own: spawning the command (`connect.rs`), decoding one message (`decode.rs`).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use process_wrap::tokio::ChildWrapper;
use rmcp::RoleClient;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, ErrorData, JsonRpcMessage,
    ServerJsonRpcMessage,
};
use rmcp::transport::Transport;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::process::{ChildStdin, ChildStdout};
use tokio_util::codec::{FramedRead, FramedWrite};

mod reader;
#[cfg(test)]
mod tests;
mod writer;

use reader::{Line, StdoutCodec};
use writer::ClientCodec;

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
