//! The stdio transport of an upstream: rmcp's `AsyncRwTransport` (its line framing and
//! JSON-RPC parsing) over the child's stdin/stdout, with two things rmcp's
//! `TokioChildProcess` cannot be told:
//!
//! - a cap on one message (`max_message_bytes`): rmcp's own cap drops an oversized
//!   line and keeps reading, so the request it answered waits for its timeout with no
//!   reason given. Here the stdout reader counts the bytes of the current line and, past
//!   the cap, records why ([`Fault`]) and fails the read: the session ends at once, every
//!   request in flight fails with a message naming the server and the cap, and the
//!   supervisor restarts it (a server that answers more than the cap is broken, and the
//!   rest of an unbounded line cannot be skipped without reading it);
//! - lines on stdout that are not JSON (a server printing its logs to stdout) are counted
//!   and warned about under the server's name (rmcp ignores them at debug level);
//! - the shutdown grace (`timeouts.shutdown_grace_ms`) instead of a fixed 3 s: close stdin,
//!   wait, SIGTERM to the process group, wait, SIGKILL; the child is always reaped.
//!
//! Does not own: spawning the command (`connect.rs`).

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use process_wrap::tokio::ChildWrapper;
use rmcp::RoleClient;
use rmcp::transport::Transport;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::process::{ChildStdin, ChildStdout};

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

/// Reads a child's stdout, failing once one line exceeds `max` bytes.
struct CappedStdout {
    inner: ChildStdout,
    max: usize,
    /// Bytes of the current line so far.
    line: usize,
    /// Whether the current line's first non-blank byte was seen, and was `{` or `[`.
    start: Option<bool>,
    noise_lines: u64,
    name: Arc<str>,
    fault: Arc<Fault>,
}

impl CappedStdout {
    fn scan(&mut self, bytes: &[u8]) -> Result<(), std::io::Error> {
        for &b in bytes {
            if b == b'\n' {
                if self.start == Some(false) {
                    self.noise_lines += 1;
                    // The first few, then every hundredth: a chatty server must not flood
                    // the log.
                    if self.noise_lines <= 3 || self.noise_lines.is_multiple_of(100) {
                        tracing::warn!(
                            upstream = %self.name,
                            lines = self.noise_lines,
                            "the server wrote a line that is not JSON-RPC on stdout (ignored; servers must log to stderr)"
                        );
                    }
                }
                self.line = 0;
                self.start = None;
                continue;
            }
            self.line += 1;
            if self.start.is_none() && !b.is_ascii_whitespace() {
                self.start = Some(b == b'{' || b == b'[');
            }
            if self.line > self.max {
                let reason = format!(
                    "upstream `{}` sent a message larger than {} bytes (max_message_bytes); its session was closed",
                    self.name, self.max
                );
                tracing::warn!(upstream = %self.name, "{reason}");
                self.fault.set(reason.clone());
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, reason));
            }
        }
        Ok(())
    }
}

impl AsyncRead for CappedStdout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(reason) = self.fault.get() {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                reason.to_owned(),
            )));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let filled = &buf.filled()[before..];
                Poll::Ready(this.scan(filled))
            }
            other => other,
        }
    }
}

/// A stdio server as an rmcp client transport.
pub(crate) struct ChildTransport {
    child: Option<Box<dyn ChildWrapper>>,
    rw: AsyncRwTransport<RoleClient, CappedStdout, ChildStdin>,
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
        let reader = CappedStdout {
            inner: stdout,
            max,
            line: 0,
            start: None,
            noise_lines: 0,
            name,
            fault,
        };
        Ok(ChildTransport {
            child: Some(child),
            // The reader enforces the cap (with a reason); rmcp's own one stays above it.
            rw: AsyncRwTransport::new(reader, stdin).with_max_line_length(max.saturating_add(2)),
            grace,
        })
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = self.rw.close().await;
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
        self.rw.send(item)
    }

    fn receive(
        &mut self,
    ) -> impl Future<Output = Option<rmcp::service::RxJsonRpcMessage<RoleClient>>> + Send {
        self.rw.receive()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.shutdown()
    }
}
