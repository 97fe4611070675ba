//! MCP over stdin/stdout: nothing but protocol on stdout (logs go to stderr, set up by the
//! binary), exit when the client closes stdin.
//!
//! rmcp's stdio service spawns a task per request, talks to it over channels and serializes
//! rmcp's large message enums, which costs more than the rest of a gateway hop (see
//! BENCHMARKS.md). So, as the HTTP guard does, this module reads the input itself:
//!
//! - a qualifying `tools/call` or `tools/list` (the rules of [`crate::fast_path`]) runs
//!   straight through the pipeline in a task of its own and is answered exactly as rmcp
//!   would answer it;
//! - every other line goes, untouched, to an rmcp service running over an in-memory pipe,
//!   so the rest of the protocol (`initialize`, `ping`, notifications, progress tokens,
//!   malformed input, ...) and its error behaviour stay rmcp's;
//! - one writer owns stdout: fast-path answers and rmcp's lines, each written whole with its
//!   newline, flushed whenever nothing more is waiting (batches under load, no delay alone).
//!
//! A task per call and a writer task, rather than one loop that drives the calls and writes
//! their answers itself: the single loop measured slower (3.0k against 4.2k calls/s at
//! concurrency 1, 20k against 23.5k at 16, on 2 shared cores).
//!
//! What qualifies follows the lifecycle rmcp picked, which this loop tracks ([`Lifecycle`]):
//! nothing before rmcp has seen the message that picks one (so that message reaches it);
//! requests carrying a 2026-07-28 `_meta` afterwards; and, once rmcp has answered
//! `initialize`, requests without `_meta`, answered in the shape of the negotiated revision.
//!
//! Does not own: the protocol itself (rmcp) or what a call does (the pipeline).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::ServiceExt as _;
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, GetMeta as _, JsonRpcMessage,
    ProtocolVersion,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use toolgate_core::Transport;

use crate::fast_path::{self, Envelope, Revision};
use crate::handler::Gateway;

/// Serves `gateway` on stdin/stdout until the client disconnects, with the fast path on.
pub async fn serve_stdio(gateway: Gateway) -> io::Result<()> {
    serve_stdio_with(gateway, true).await
}

/// Serves `gateway` on stdin/stdout until the client disconnects; `fast_path: false` leaves
/// every message to rmcp (same answers, more work).
pub async fn serve_stdio_with(gateway: Gateway, fast_path: bool) -> io::Result<()> {
    // Non-blocking pipe I/O when the client launched us with pipes (the usual case), instead
    // of a hand-off to tokio's blocking pool on every read and write.
    let (read, write) = rmcp::transport::stdio_pipes();
    serve_stdio_streams(gateway, read, write, fast_path).await
}

/// Serves `gateway` over newline-delimited JSON-RPC read from `read` and written to `write`
/// (the stdio transport on any byte streams; tests use in-memory pipes).
pub async fn serve_stdio_streams<R, W>(
    gateway: Gateway,
    read: R,
    write: W,
    fast_path: bool,
) -> io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let gateway = gateway.with_transport(Transport::Stdio);
    if !fast_path {
        return run_rmcp(gateway, read, write).await;
    }
    let (rmcp_end, our_end) = tokio::io::duplex(PIPE_BYTES);
    let (from_rmcp, mut to_rmcp) = tokio::io::split(our_end);
    let (rmcp_read, rmcp_write) = tokio::io::split(rmcp_end);
    let mut rmcp = tokio::spawn(run_rmcp(gateway.clone(), rmcp_read, rmcp_write));

    let (out, out_rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
    let writer = tokio::spawn(write_out(write, out_rx));
    let lifecycle = Arc::new(Mutex::new(Lifecycle::Fresh));
    tokio::spawn(relay_rmcp_output(from_rmcp, out.clone(), lifecycle.clone()));

    let mut reader = Reader {
        gateway: gateway.clone(),
        supported: rmcp::ServerHandler::supported_protocol_versions(&gateway).into_owned(),
        lifecycle,
        calls: Arc::default(),
        next_seq: 0,
        out,
    };
    let mut lines = Lines::new(read);
    let mut ended_early = None;
    loop {
        let step = tokio::select! {
            biased;
            // rmcp stops on its own only when the client broke the protocol before
            // initializing (as before, the process then ends with rmcp's error).
            r = &mut rmcp => {
                ended_early = Some(r);
                break;
            }
            step = lines.next() => step,
        };
        match step {
            Step::Line => {}
            Step::Oversized => {
                tracing::error!(
                    max_line_length = MAX_LINE_BYTES,
                    "Incoming message exceeded the maximum line length, discarding it"
                );
                continue;
            }
            Step::Eof => break,
            Step::Failed(e) => {
                tracing::error!("Error reading from stdin: {e}");
                break;
            }
        }
        let line = lines.line();
        if trim_line(line).is_empty() {
            continue;
        }
        if reader.route(line) == Route::Rmcp && to_rmcp.write_all(line).await.is_err() {
            // rmcp is gone; its task says why.
            break;
        }
    }

    // Stdin closed: close rmcp's input so it drains and ends; the writer ends once rmcp's
    // output is relayed and every fast-path call has answered.
    drop(reader);
    let _ = to_rmcp.shutdown().await;
    let result = match ended_early {
        Some(r) => r,
        None => rmcp.await,
    }
    .unwrap_or_else(|e| Err(io::Error::other(e)));
    if tokio::time::timeout(DRAIN, writer).await.is_err() {
        tracing::warn!("calls still in progress after stdin closed; exiting without their answers");
    }
    result
}

/// rmcp on `read`/`write`; `Ok` also when the client left before initializing.
async fn run_rmcp<R, W>(gateway: Gateway, read: R, write: W) -> io::Result<()>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let running = match gateway.serve((read, write)).await {
        Ok(running) => running,
        // The client went away before initializing (e.g. a probe, or stdin closed): nothing
        // was asked, so nothing failed.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => {
            tracing::info!("stdin closed before the client initialized; exiting");
            return Ok(());
        }
        Err(e) => return Err(io::Error::other(e)),
    };
    running.waiting().await.map_err(io::Error::other)?;
    Ok(())
}

/// Longest accepted line, rmcp's limit (longer ones are dropped with an error, as rmcp does).
const MAX_LINE_BYTES: usize = rmcp::transport::async_rw::DEFAULT_MAX_LINE_LENGTH;
/// Buffer of the in-memory pipe between this loop and rmcp, each way.
const PIPE_BYTES: usize = 256 * 1024;
/// Answers waiting for the writer (back-pressure on calls when stdout is slow).
const OUT_QUEUE: usize = 1024;
/// Largest batch of answers written at once.
const BATCH_BYTES: usize = 256 * 1024;
/// How long answers may still come after stdin closed (rmcp's own drain time).
const DRAIN: Duration = Duration::from_secs(5);

/// Which lifecycle the rmcp service picked, as far as the fast path needs to know (rmcp
/// picks it on the first `initialize` or on the first request with complete 2026-07-28
/// `_meta`; see `serve_server_with_ct_inner` in rmcp's `service/server.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Lifecycle {
    /// rmcp has seen nothing that picks one: every line goes to it.
    Fresh,
    /// `initialize` (this id, as JSON) went to rmcp; its answer is not out yet.
    Initializing(String),
    /// rmcp answered `initialize`: requests without `_meta` get this revision's shape.
    Session(Revision),
    /// The stateless lifecycle, or a session this loop does not follow (a second
    /// `initialize`): only requests carrying their own 2026-07-28 `_meta` qualify.
    Inline,
}

impl Lifecycle {
    /// The revision the fast path would answer `env` in, if any.
    fn revision_for(&self, env: &Envelope) -> Option<Revision> {
        match self {
            Lifecycle::Fresh => None,
            _ if env.names_modern_revision() => Some(Revision::Modern),
            Lifecycle::Session(revision) => Some(*revision),
            Lifecycle::Initializing(_) | Lifecycle::Inline => None,
        }
    }

    /// The lifecycle after rmcp, still fresh, reads `line` (`None`: unchanged).
    fn picked_by(line: &[u8], supported: &[ProtocolVersion]) -> Option<Lifecycle> {
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let Ok(JsonRpcMessage::Request(request)) =
            serde_json::from_slice::<ClientJsonRpcMessage>(trim_line(line))
        else {
            // Unreadable lines are skipped; notifications and responses end rmcp.
            return None;
        };
        match &request.request {
            ClientRequest::InitializeRequest(_) => {
                Some(Lifecycle::Initializing(id_key(&request.id)))
            }
            ClientRequest::PingRequest(_) | ClientRequest::DiscoverRequest(_) => None,
            other => {
                let meta = other.get_meta();
                let complete = meta
                    .missing_required_keys(&ProtocolVersion::V_2026_07_28)
                    .is_empty();
                let supported = meta
                    .protocol_version()
                    .is_some_and(|v| supported.contains(&v));
                (complete && supported).then_some(Lifecycle::Inline)
            }
        }
    }
}

/// Where a line went.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// Served on the fast path, or a cancellation of a fast-path call.
    Handled,
    /// To be handed to rmcp unchanged.
    Rmcp,
}

/// Fast-path calls in progress: id (as JSON) → (sequence number, cancellation).
type Calls = Arc<Mutex<HashMap<String, (u64, CancellationToken)>>>;

/// The input side of the loop: decides per line between the fast path and rmcp.
struct Reader {
    gateway: Gateway,
    supported: Vec<ProtocolVersion>,
    lifecycle: Arc<Mutex<Lifecycle>>,
    calls: Calls,
    next_seq: u64,
    out: mpsc::Sender<Vec<u8>>,
}

impl Reader {
    fn route(&mut self, line: &[u8]) -> Route {
        let text = trim_line(line);
        let mut lifecycle = self.lifecycle.lock().expect("not poisoned");
        if *lifecycle == Lifecycle::Fresh {
            if let Some(next) = Lifecycle::picked_by(text, &self.supported) {
                *lifecycle = next;
            }
            return Route::Rmcp;
        }
        let Some(env) = Envelope::parse(text) else {
            if method_of(text).as_deref() == Some("initialize") {
                *lifecycle = Lifecycle::Inline;
            }
            return Route::Rmcp;
        };
        match env.method() {
            // A second handshake may change what rmcp answers; leave sessions to it.
            "initialize" => {
                *lifecycle = Lifecycle::Inline;
                Route::Rmcp
            }
            "notifications/cancelled" => {
                drop(lifecycle);
                if self.cancel(text) {
                    Route::Handled
                } else {
                    Route::Rmcp
                }
            }
            _ => {
                let Some(revision) = lifecycle.revision_for(&env) else {
                    return Route::Rmcp;
                };
                drop(lifecycle);
                match fast_path::qualify(env, revision) {
                    Some((id, request)) => {
                        self.spawn(id, request, revision);
                        Route::Handled
                    }
                    None => Route::Rmcp,
                }
            }
        }
    }

    /// Runs one fast-path call in a task of its own; its answer goes to the writer unless
    /// the client cancelled it (rmcp drops those answers too).
    fn spawn(&mut self, id: Value, request: toolgate_core::McpRequest, revision: Revision) {
        let key = id_key(&id);
        let seq = self.next_seq;
        self.next_seq += 1;
        let cancel = CancellationToken::new();
        self.calls
            .lock()
            .expect("not poisoned")
            .insert(key.clone(), (seq, cancel.clone()));
        let gateway = self.gateway.clone();
        let calls = self.calls.clone();
        let out = self.out.clone();
        tokio::spawn(async move {
            let ctx = gateway.stdio_context(cancel.clone());
            let answer = fast_path::answer(&gateway, ctx, &id, request, revision).await;
            {
                let mut calls = calls.lock().expect("not poisoned");
                if calls.get(&key).is_some_and(|(s, _)| *s == seq) {
                    calls.remove(&key);
                }
            }
            if cancel.is_cancelled() {
                tracing::debug!(id = %key, "dropping the answer to a cancelled request");
                return;
            }
            let _ = out.send(answer).await;
        });
    }

    /// Cancels the fast-path call a `notifications/cancelled` names; false when it names
    /// none (rmcp gets the notification then).
    fn cancel(&self, text: &[u8]) -> bool {
        if self.calls.lock().expect("not poisoned").is_empty() {
            return false;
        }
        let Ok(JsonRpcMessage::Notification(n)) =
            serde_json::from_slice::<ClientJsonRpcMessage>(text)
        else {
            return false;
        };
        let ClientNotification::CancelledNotification(cancelled) = n.notification else {
            return false;
        };
        let Some(id) = cancelled.params.request_id else {
            return false;
        };
        let key = id_key(&id);
        let Some((_, token)) = self.calls.lock().expect("not poisoned").remove(&key) else {
            return false;
        };
        tracing::info!(id = %key, reason = cancelled.params.reason, "cancelled");
        token.cancel();
        true
    }
}

/// A JSON-RPC id as a map key (its JSON text: `1` and `"1"` differ, as they do to rmcp).
fn id_key(id: &impl Serialize) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

/// `line` without its `\n` and an optional `\r` before it.
fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The `method` of a message whose other fields did not fit an [`Envelope`].
fn method_of(text: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct MethodOnly {
        method: Option<String>,
    }
    serde_json::from_slice::<MethodOnly>(text).ok()?.method
}

/// Relays rmcp's lines to the writer, and learns the negotiated revision from its answer to
/// `initialize`.
async fn relay_rmcp_output<R: AsyncRead + Unpin>(
    from: R,
    out: mpsc::Sender<Vec<u8>>,
    lifecycle: Arc<Mutex<Lifecycle>>,
) {
    let mut from = BufReader::with_capacity(PIPE_BYTES, from);
    loop {
        let mut line = Vec::new();
        match from.read_until(b'\n', &mut line).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::error!("cannot read rmcp's output: {e}");
                return;
            }
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        {
            let mut lifecycle = lifecycle.lock().expect("not poisoned");
            if let Lifecycle::Initializing(id) = &*lifecycle
                && let Some(next) = after_initialize(&line, id)
            {
                *lifecycle = next;
            }
        }
        if out.send(line).await.is_err() {
            return;
        }
    }
}

/// The lifecycle after rmcp's `line`, if it is the answer to `initialize` `id`.
fn after_initialize(line: &[u8], id: &str) -> Option<Lifecycle> {
    #[derive(Deserialize)]
    struct Answer {
        id: Option<Value>,
        result: Option<InitializeResult>,
    }
    #[derive(Deserialize)]
    struct InitializeResult {
        #[serde(rename = "protocolVersion")]
        protocol_version: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(line).ok()?;
    if id_key(answer.id.as_ref()?) != id {
        return None;
    }
    Some(
        match answer.result.and_then(|r| r.protocol_version).as_deref() {
            Some(version) => Lifecycle::Session(fast_path::revision_of(version)),
            // A failed handshake ends rmcp; nothing more to serve.
            None => Lifecycle::Inline,
        },
    )
}

/// Owns the output: writes each message whole with its newline, as many as are waiting at
/// once, and flushes when none is left. Ends when every sender is gone.
async fn write_out<W: AsyncWrite + Unpin>(mut write: W, mut messages: mpsc::Receiver<Vec<u8>>) {
    let mut batch = Vec::with_capacity(16 * 1024);
    let mut broken = false;
    while let Some(message) = messages.recv().await {
        if message.len() >= BATCH_BYTES {
            // A large answer (a big `tools/list`) goes out as it is, its newline written
            // after it: copying it into the batch, or appending to it (a reallocation of a
            // full buffer), would hold it twice.
            let written = async {
                write.write_all(&message).await?;
                write_whole(&mut write, b"\n").await
            };
            if !broken && let Err(e) = written.await {
                tracing::error!("cannot write to stdout: {e}");
                broken = true;
            }
            continue;
        }
        batch.extend_from_slice(&message);
        batch.push(b'\n');
        while batch.len() < BATCH_BYTES
            && let Ok(message) = messages.try_recv()
        {
            batch.extend_from_slice(&message);
            batch.push(b'\n');
        }
        if !broken && let Err(e) = write_whole(&mut write, &batch).await {
            // Keep draining so no call waits on a dead output.
            tracing::error!("cannot write to stdout: {e}");
            broken = true;
        }
        batch.clear();
        if batch.capacity() > 4 * BATCH_BYTES {
            batch = Vec::with_capacity(16 * 1024);
        }
    }
    let _ = write.shutdown().await;
}

/// Writes `bytes` and flushes.
async fn write_whole<W: AsyncWrite + Unpin>(write: &mut W, bytes: &[u8]) -> io::Result<()> {
    write.write_all(bytes).await?;
    write.flush().await
}

/// What reading a line gave.
enum Step {
    /// A whole line is in [`Lines::line`].
    Line,
    /// A line longer than the limit was dropped.
    Oversized,
    /// End of input (an unterminated last line is dropped, as rmcp does).
    Eof,
    /// The input failed.
    Failed(io::Error),
}

/// Newline-delimited input read one line at a time without ever buffering more than
/// [`MAX_LINE_BYTES`] of a line. Cancel-safe: a partial line stays buffered for the next call.
struct Lines<R> {
    read: BufReader<R>,
    line: Vec<u8>,
    complete: bool,
    discarding: bool,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    fn new(read: R) -> Self {
        Lines {
            read: BufReader::with_capacity(64 * 1024, read),
            line: Vec::with_capacity(4 * 1024),
            complete: false,
            discarding: false,
        }
    }

    /// The last whole line, with its newline.
    fn line(&self) -> &[u8] {
        &self.line
    }

    async fn next(&mut self) -> Step {
        if self.complete {
            self.line.clear();
            self.complete = false;
        }
        loop {
            // Decide inside the `fill_buf` borrow, consume after it; no await in between.
            let (consumed, newline, oversized) = {
                let available = match self.read.fill_buf().await {
                    Ok(a) => a,
                    Err(e) => return Step::Failed(e),
                };
                if available.is_empty() {
                    return Step::Eof;
                }
                let newline = available.iter().position(|b| *b == b'\n');
                let take = newline.map_or(available.len(), |i| i + 1);
                let oversized = !self.discarding && self.line.len() + take > MAX_LINE_BYTES;
                if !self.discarding && !oversized {
                    self.line.extend_from_slice(&available[..take]);
                }
                (take, newline.is_some(), oversized)
            };
            self.read.consume(consumed);
            if self.discarding {
                self.discarding = !newline;
            } else if oversized {
                self.line.clear();
                self.discarding = !newline;
                return Step::Oversized;
            } else if newline {
                self.complete = true;
                return Step::Line;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_split_bounded_and_the_unterminated_tail_is_dropped() {
        let mut input = b"one\r\n\ntwo\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        input.extend_from_slice(b"\nthree\ntail");
        let mut lines = Lines::new(&input[..]);
        let mut seen = Vec::new();
        loop {
            match lines.next().await {
                Step::Line => {
                    seen.push(String::from_utf8_lossy(trim_line(lines.line())).into_owned())
                }
                Step::Oversized => seen.push("<oversized>".to_owned()),
                Step::Eof => break,
                Step::Failed(e) => panic!("{e}"),
            }
        }
        assert_eq!(seen, ["one", "", "two", "<oversized>", "three"]);
    }

    #[test]
    fn the_lifecycle_is_picked_as_rmcp_picks_it() {
        let supported = ProtocolVersion::KNOWN_VERSIONS.to_vec();
        let pick = |line: &str| Lifecycle::picked_by(line.as_bytes(), &supported);
        assert_eq!(
            pick(
                r#"{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#
            ),
            Some(Lifecycle::Initializing("7".to_owned()))
        );
        assert_eq!(pick(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), None);
        assert_eq!(pick("not json"), None);
        // Incomplete `_meta`: rmcp answers with an error and stays fresh.
        assert_eq!(
            pick(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#),
            None
        );
        assert_eq!(
            pick(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#
            ),
            Some(Lifecycle::Inline)
        );
        assert_eq!(
            pick(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"1999-01-01","io.modelcontextprotocol/clientCapabilities":{}}}}"#
            ),
            None
        );
    }

    #[test]
    fn the_initialize_answer_gives_the_session_revision() {
        let line = br#"{"jsonrpc":"2.0","id":7,"result":{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"t","version":"1"}}}"#;
        assert_eq!(
            after_initialize(line, "7"),
            Some(Lifecycle::Session(Revision::Legacy))
        );
        assert_eq!(after_initialize(line, "8"), None);
        assert_eq!(
            after_initialize(
                br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"no"}}"#,
                "7"
            ),
            Some(Lifecycle::Inline)
        );
    }
}
